//! PDF output (`format=pdf`): the SVG document [`super::svg`] writes for a drawing, turned
//! into a one-page PDF by `svg2pdf` (paths stay vector paths, text stays text in the
//! embedded `DejaVu Sans`, subset into the file). No system cairo and no system fonts: the
//! font database holds only the embedded font, which every family name resolves to.
//!
//! The page is the image's size with a pixel as a point (the SVG at 72 dpi). graphite-web
//! 1.1.10's own PDF (cairo's `PDFSurface`) shrinks the page to `width / 300 × 72` points but
//! lays the graph out in that small page at the usual font size, so its text overlaps;
//! docs/graph.md says so.

use std::sync::{Arc, OnceLock};

use svg2pdf::usvg::{self, fontdb};
use svg2pdf::{ConversionOptions, PageOptions};

use super::draw::Drawing;
use super::{font, GraphError};

/// The font database: the embedded font, and every generic family pointing at it.
fn fonts() -> Arc<fontdb::Database> {
    static DB: OnceLock<Arc<fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = fontdb::Database::new();
        db.load_font_data(font::FONT.to_vec());
        let family = db
            .faces()
            .next()
            .and_then(|f| f.families.first().map(|(name, _)| name.clone()))
            .unwrap_or_else(|| "DejaVu Sans".to_string());
        db.set_sans_serif_family(family.clone());
        db.set_serif_family(family.clone());
        db.set_monospace_family(family.clone());
        db.set_cursive_family(family.clone());
        db.set_fantasy_family(family);
        Arc::new(db)
    })
    .clone()
}

/// Writes `d` as a one-page PDF.
pub fn write(d: &Drawing) -> Result<Vec<u8>, GraphError> {
    let svg = super::svg::write(d);
    let options = usvg::Options {
        fontdb: fonts(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_data(&svg, &options)
        .map_err(|e| GraphError::Draw(format!("PDF: the drawing's SVG did not parse: {e}")))?;
    svg2pdf::to_pdf(&tree, ConversionOptions::default(), PageOptions::default())
        .map_err(|e| GraphError::Draw(format!("PDF: {e}")))
}
