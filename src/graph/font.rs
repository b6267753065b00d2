//! The one font graphs use: `DejaVu Sans`, embedded in the binary (licence in
//! `assets/fonts/LICENSE-DejaVu.txt`) and registered with plotters' `ab_glyph` text support,
//! so no system font is needed.
//!
//! Sizes are em sizes in pixels, as cairo's `set_font_size`. `ab_glyph` scales by the font's
//! height (ascender − descender), so [`scale`] converts. The vertical metrics are the font's
//! `hhea` values (units per em 2048, ascender 1901, descender −483, no line gap).

use std::sync::OnceLock;

use plotters::style::{FontDesc, FontFamily, FontStyle};

/// The family name the font is registered under.
pub const FAMILY: &str = "lonsdaleite-dejavu-sans";
/// The name SVG output asks for.
pub const SVG_FAMILY: &str = "DejaVu Sans, Verdana, sans-serif";

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const UNITS_PER_EM: f64 = 2048.0;
const ASCENDER: f64 = 1901.0;
const DESCENDER: f64 = 483.0;

/// Registers the embedded font once; true when it is usable.
pub fn ensure() -> bool {
    static DONE: OnceLock<bool> = OnceLock::new();
    *DONE.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok())
}

/// The `ab_glyph` scale (font height in pixels) for an em size.
pub fn scale(size: f64) -> f64 {
    size * (ASCENDER + DESCENDER) / UNITS_PER_EM
}

/// Height above the baseline of the tallest glyphs.
pub fn ascent(size: f64) -> f64 {
    size * ASCENDER / UNITS_PER_EM
}

/// Depth below the baseline of the lowest glyphs.
pub fn descent(size: f64) -> f64 {
    size * DESCENDER / UNITS_PER_EM
}

/// Line height (cairo's `font_extents` height).
pub fn height(size: f64) -> f64 {
    ascent(size) + descent(size)
}

/// The plotters font at an em size.
pub fn desc(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), scale(size), FontStyle::Normal)
}

/// The advance width of `text` in pixels.
pub fn width(text: &str, size: f64) -> f64 {
    if !ensure() {
        return 0.0;
    }
    desc(size).box_size(text).map_or(0.0, |(w, _)| f64::from(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_text() {
        assert!(ensure());
        let a = width("No Data", 10.0);
        let b = width("No Data", 20.0);
        assert!(a > 20.0 && a < 60.0, "{a}");
        assert!((b / a - 2.0).abs() < 0.1, "{a} {b}");
        assert!(width("", 10.0).abs() < 1e-9);
    }
}
