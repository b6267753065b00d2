//! Colours as graphite names them: its alias table (`red` is 200,0,50, not pure red), and
//! hex `rrggbb` or `rrggbbaa`, with or without a leading `#` or `%23`.

/// An sRGB colour with opacity (`a` in 0..=1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rgba {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
    /// Opacity, 0 (none) to 1.
    pub a: f64,
}

impl Rgba {
    /// An opaque colour.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Rgba { r, g, b, a: 1.0 }
    }

    /// The same colour with opacity `a`.
    #[must_use]
    pub fn with_alpha(self, a: f64) -> Self {
        Rgba { a, ..self }
    }

    /// `#rrggbb`, for SVG.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

/// graphite's colour aliases (`render/glyph.py` `colorAliases`).
const ALIASES: [(&str, Rgba); 22] = [
    ("black", Rgba::rgb(0, 0, 0)),
    ("white", Rgba::rgb(255, 255, 255)),
    ("blue", Rgba::rgb(100, 100, 255)),
    ("green", Rgba::rgb(0, 200, 0)),
    ("red", Rgba::rgb(200, 0, 50)),
    ("yellow", Rgba::rgb(255, 255, 0)),
    ("orange", Rgba::rgb(255, 165, 0)),
    ("purple", Rgba::rgb(200, 100, 255)),
    ("brown", Rgba::rgb(150, 100, 50)),
    ("cyan", Rgba::rgb(0, 255, 255)),
    ("aqua", Rgba::rgb(0, 150, 150)),
    ("gray", Rgba::rgb(175, 175, 175)),
    ("grey", Rgba::rgb(175, 175, 175)),
    ("magenta", Rgba::rgb(255, 0, 255)),
    ("pink", Rgba::rgb(255, 100, 100)),
    ("gold", Rgba::rgb(200, 200, 0)),
    ("rose", Rgba::rgb(200, 150, 200)),
    ("darkblue", Rgba::rgb(0, 0, 255)),
    ("darkgreen", Rgba::rgb(0, 255, 0)),
    ("darkred", Rgba::rgb(255, 0, 0)),
    ("darkgray", Rgba::rgb(111, 111, 111)),
    ("darkgrey", Rgba::rgb(111, 111, 111)),
];

/// graphite's default `colorList` (its `linecolors` template default).
pub const DEFAULT_COLOR_LIST: &str =
    "blue,green,red,purple,brown,yellow,aqua,grey,magenta,pink,gold,rose";

/// Parses a colour the way graphite's `setColor` does: an alias (case-sensitive, as in
/// graphite), else at least six hex digits after an optional `#` or `%23`; an eighth
/// pair of digits is the opacity. Anything else is `None`.
pub fn parse(value: &str) -> Option<Rgba> {
    if let Some((_, c)) = ALIASES.iter().find(|(name, _)| *name == value) {
        return Some(*c);
    }
    if value.len() < 6 {
        return None;
    }
    let s = value.strip_prefix('#').unwrap_or(value);
    let s = s.strip_prefix("%23").unwrap_or(s);
    let pair = |i: usize| {
        s.get(i..i + 2)
            .filter(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|p| u8::from_str_radix(p, 16).ok())
    };
    let mut c = Rgba::rgb(pair(0)?, pair(2)?, pair(4)?);
    if s.len() == 8 {
        c.a = f64::from(pair(6)?) / 255.0;
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_hex() {
        assert_eq!(parse("red"), Some(Rgba::rgb(200, 0, 50)));
        assert_eq!(parse("ff0000"), Some(Rgba::rgb(255, 0, 0)));
        assert_eq!(parse("#00ff00"), Some(Rgba::rgb(0, 255, 0)));
        assert_eq!(parse("%230000ff"), Some(Rgba::rgb(0, 0, 255)));
        let half = parse("ff000080").expect("rgba");
        assert!((half.a - 128.0 / 255.0).abs() < 1e-9);
        assert_eq!(parse("nocolour"), None);
        assert_eq!(parse("zzzzzz"), None);
        assert_eq!(parse("abc"), None);
        for name in DEFAULT_COLOR_LIST.split(',') {
            assert!(parse(name).is_some(), "{name}");
        }
    }
}
