//! The one font graphs use: `DejaVu Sans`, embedded in the binary (licence in
//! `assets/fonts/LICENSE-DejaVu.txt`) and registered with plotters' `ab_glyph` text support,
//! so no system font is needed.
//!
//! Sizes are em sizes in pixels, as cairo's `set_font_size`. `ab_glyph` scales by the font's
//! height (ascender − descender), so [`scale`] converts. Layout uses the metrics cairo
//! reports for graphite-web with hinting on (whole pixels, from the font's `hhea` values:
//! units per em 2048, ascender 1901, descender −483, no line gap), so text takes the room it
//! takes in graphite; glyphs themselves are drawn unhinted.

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

/// The plotters font at an em size.
pub fn desc(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), scale(size), FontStyle::Normal)
}

/// The advance of one character in font units: measured at the scale where a unit is a
/// pixel (plotters reports whole pixels).
fn advance_units(c: char) -> f64 {
    let mut buf = [0u8; 4];
    FontDesc::new(
        FontFamily::Name(FAMILY),
        ASCENDER + DESCENDER,
        FontStyle::Normal,
    )
    .box_size(c.encode_utf8(&mut buf))
    .map_or(0.0, |(w, _)| f64::from(w))
}

/// The advance width of `text` in pixels with hinted metrics, as cairo measures it for
/// graphite: each glyph's advance rounded to 1/64 pixel, then to a whole pixel; no kerning.
/// (`FreeType`'s hinting moves a few glyphs by a pixel more, depending on what cairo's
/// font cache did before, so graphite's own widths vary by a pixel or so.)
pub fn width(text: &str, size: f64) -> f64 {
    if !ensure() {
        return 0.0;
    }
    let ppem = ppem(size);
    text.chars()
        .map(|c| {
            let fixed = (advance_units(c) * ppem * 64.0 / UNITS_PER_EM).round();
            ((fixed + 32.0) / 64.0).floor()
        })
        .sum()
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
}
