//! The one font graphs use: `DejaVu Sans`, embedded in the binary (licence in
//! `assets/fonts/LICENSE-DejaVu.txt`) and drawn with `ab_glyph`, so no system font is needed.
//!
//! Sizes are em sizes in pixels, as cairo's `set_font_size`. `ab_glyph` scales by the font's
//! height (ascender − descender), so [`scale`] converts. Layout uses the metrics cairo
//! reports for graphite-web with hinting on (whole pixels, from the font's `hhea` values:
//! units per em 2048, ascender 1901, descender −483, no line gap), so text takes the room it
//! takes in graphite; glyphs are placed at those hinted advances (with their own side
//! bearings) and drawn unhinted.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};

/// The name SVG output asks for.
pub const SVG_FAMILY: &str = "DejaVu Sans, Verdana, sans-serif";

/// The embedded font (`DejaVu Sans`, graphite's "Sans"), also given to the PDF writer.
pub(super) static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const UNITS_PER_EM: f64 = 2048.0;
const ASCENDER: f64 = 1901.0;
const DESCENDER: f64 = 483.0;

/// The parsed embedded font; `None` only if the embedded bytes were not a font.
fn face() -> Option<&'static FontRef<'static>> {
    static FACE: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FACE.get_or_init(|| FontRef::try_from_slice(FONT).ok())
        .as_ref()
}

/// True when the embedded font is usable.
pub fn ensure() -> bool {
    face().is_some()
}

/// The `ab_glyph` scale (font height in pixels) for an em size.
pub fn scale(size: f64) -> f64 {
    size * (ASCENDER + DESCENDER) / UNITS_PER_EM
}

/// The whole pixels per em the metrics are hinted at (`FreeType` rounds the size).
fn ppem(size: f64) -> f64 {
    size.round().max(1.0)
}

/// Height above the baseline of the tallest glyphs, in whole pixels as cairo reports it
/// with hinted metrics (`FreeType` rounds the ascender up).
pub fn ascent(size: f64) -> f64 {
    (ASCENDER * ppem(size) / UNITS_PER_EM).ceil()
}

/// Depth below the baseline of the lowest glyphs (rounded up, as `ascent`).
pub fn descent(size: f64) -> f64 {
    (DESCENDER * ppem(size) / UNITS_PER_EM).ceil()
}

/// Line height (cairo's `font_extents` height: the font height, rounded).
pub fn height(size: f64) -> f64 {
    ((ASCENDER + DESCENDER) * ppem(size) / UNITS_PER_EM).round()
}

/// The hinted advance of one character in whole pixels, as cairo measures it for graphite:
/// the advance rounded to 1/64 pixel, then to a whole pixel.
fn advance(font: &FontRef<'_>, c: char, ppem: f64) -> f64 {
    let units = f64::from(font.h_advance_unscaled(font.glyph_id(c)));
    let fixed = (units * ppem * 64.0 / UNITS_PER_EM).round();
    ((fixed + 32.0) / 64.0).floor()
}

/// The advance width of `text` in pixels with hinted metrics, as cairo measures it for
/// graphite: each glyph's advance rounded to 1/64 pixel, then to a whole pixel; no kerning.
/// (`FreeType`'s hinting moves a few glyphs by a pixel more, depending on what cairo's
/// font cache did before, so graphite's own widths vary by a pixel or so.)
pub fn width(text: &str, size: f64) -> f64 {
    let Some(font) = face() else {
        return 0.0;
    };
    let ppem = ppem(size);
    text.chars().map(|c| advance(font, c, ppem)).sum()
}

/// Rasterises `text` at em size `size` with the left end of its baseline at the origin:
/// `each(dx, dy, coverage)` for every pixel a glyph touches (`dy` < 0 above the baseline).
/// Glyphs advance by [`width`]'s hinted advances, so drawn text fills the measured box.
pub fn raster(text: &str, size: f64, mut each: impl FnMut(i32, i32, f32)) {
    let Some(font) = face() else {
        return;
    };
    let scaled = font.as_scaled(PxScale::from(scale(size) as f32));
    let ppem = ppem(size);
    let mut caret = 0.0;
    for c in text.chars() {
        let glyph = scaled
            .glyph_id(c)
            .with_scale_and_position(scaled.scale(), ab_glyph::point(caret as f32, 0.0));
        if let Some(outline) = scaled.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            let (x0, y0) = (bounds.min.x as i32, bounds.min.y as i32);
            outline.draw(|x, y, coverage| each(x0 + x as i32, y0 + y as i32, coverage));
        }
        caret += advance(font, c, ppem);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_text() {
        assert!(ensure());
        // cairo's hinted advances for DejaVu Sans (graphite's "Sans"), where it rounds.
        assert!((width("20.0 ", 10.0) - 24.0).abs() < 1e-9);
        assert!((width("00:20", 11.3) - 32.0).abs() < 1e-9);
        assert!((width("é", 10.0) - 6.0).abs() < 1e-9);
        assert_eq!(
            (ascent(10.0), descent(10.0), height(10.0)),
            (10.0, 3.0, 12.0)
        );
        assert_eq!(
            (ascent(14.0), descent(14.0), height(14.0)),
            (13.0, 4.0, 16.0)
        );
        assert!(width("", 10.0).abs() < 1e-9);
    }

    #[test]
    fn glyphs_sit_on_the_baseline() {
        // A full stop is drawn just above the baseline, right of the origin (its left
        // bearing), and within the advance of the text.
        let (mut min_x, mut max_x, mut min_y, mut max_y) = (i32::MAX, i32::MIN, i32::MAX, i32::MIN);
        raster(".", 20.0, |x, y, c| {
            if c > 0.5 {
                min_x = min_x.min(x);
                max_x = max_x.max(x);
                min_y = min_y.min(y);
                max_y = max_y.max(y);
            }
        });
        assert!(
            min_x > 0 && f64::from(max_x) < width(".", 20.0),
            "{min_x}..{max_x}"
        );
        assert!(min_y > -5 && max_y <= 0, "{min_y}..{max_y}");
        // A capital reaches up to about the cap height.
        let mut top = 0;
        raster("H", 20.0, |_, y, c| {
            if c > 0.5 {
                top = top.min(y);
            }
        });
        assert!((-16..=-13).contains(&top), "{top}");
    }
}
