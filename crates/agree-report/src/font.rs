//! The one typeface of every figure: DejaVu Sans, embedded from the `dejavu` crate.
//!
//! plotters' `ab_glyph` text needs font bytes registered under a family name; embedding
//! them keeps PNG figures identical on machines without system fonts. SVG figures name
//! the same family (`sans-serif`), which every browser resolves on its own.

use std::sync::OnceLock;

use plotters::style::FontStyle;

/// Family name the figures use; registered with the embedded font.
pub const FAMILY: &str = "sans-serif";

/// Registers DejaVu Sans (regular and bold) under [`FAMILY`] once per process.
pub fn ensure_registered() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular())
                .map_err(|_| "the embedded DejaVu Sans font could not be parsed".to_string())?;
            plotters::style::register_font(FAMILY, FontStyle::Bold, dejavu::sans::bold())
                .map_err(|_| "the embedded DejaVu Sans Bold font could not be parsed".to_string())
        })
        .clone()
}
