//! A finished figure (SVG text and PNG bytes) and the rendering of a grid of panels:
//! drawn once as SVG by plotters, rasterised to PNG by resvg.

use std::{
    io::Cursor,
    sync::{Arc, OnceLock},
};

use plotters::{coord::Shift, prelude::*};

use crate::{
    error::Error, font, heat_map_panel::HeatMapPanel, histogram_panel::HistogramPanel, line_panel::LinePanel,
    scatter_panel::ScatterPanel,
};

/// A figure of the report in both formats.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// File stem under `report/figures/` (ASCII, no spaces).
    pub name: String,
    /// Heading shown on the page.
    pub title: String,
    /// What the figure shows and how to read it.
    pub caption: String,
    /// Width in CSS pixels (the PNG has [`PNG_SCALE`] times as many).
    pub width: u32,
    /// Height in CSS pixels.
    pub height: u32,
    /// The SVG document.
    pub svg: String,
    /// The PNG file bytes.
    pub png: Vec<u8>,
    /// The part of the page it is shown in.
    pub section: Section,
}

/// The part of the report page a figure is shown in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Section {
    /// The page's main list of figures: agreement, per-statistic figures, image grids.
    #[default]
    Figures,
    /// Per-sample learning dynamics: the data map and the score correlations.
    SampleDynamics,
}

/// One chart of a figure.
#[derive(Debug, Clone, PartialEq)]
pub enum Panel {
    /// Lines over an ordered x.
    Line(LinePanel),
    /// A histogram.
    Histogram(HistogramPanel),
    /// Dots coloured by a value, with a colour bar.
    Scatter(ScatterPanel),
    /// A grid of values on a diverging scale, with a colour bar.
    HeatMap(HeatMapPanel),
}

impl Panel {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        match self {
            Panel::Line(p) => p.draw(area),
            Panel::Histogram(p) => p.draw(area),
            Panel::Scatter(p) => p.draw(area),
            Panel::HeatMap(p) => p.draw(area),
        }
    }
}

/// Size of one panel in pixels.
pub const PANEL_SIZE: (u32, u32) = (440, 320);

/// Lays `panels` out in rows of `columns` under `heading` and renders SVG and PNG.
pub fn render_panels(
    name: &str,
    title: &str,
    caption: &str,
    heading: &str,
    panels: &[Panel],
    columns: usize,
    panel_size: (u32, u32),
) -> Result<Figure, Error> {
    let fail = |message: String| Error::Figure {
        figure: name.to_string(),
        message,
    };
    font::ensure_registered().map_err(fail)?;
    let columns = columns.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(columns).max(1);
    let heading_px = if heading.is_empty() { 0 } else { 40 };
    let width = panel_size.0 * columns as u32;
    let height = panel_size.1 * rows as u32 + heading_px;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        draw_grid(&root, heading, panels, rows, columns).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    let png = rasterise(&svg, PNG_SCALE).map_err(fail)?;
    Ok(Figure {
        name: name.to_string(),
        title: title.to_string(),
        caption: caption.to_string(),
        width,
        height,
        svg,
        png,
        section: Section::Figures,
    })
}

fn draw_grid<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    heading: &str,
    panels: &[Panel],
    rows: usize,
    columns: usize,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let body = if heading.is_empty() {
        root.clone()
    } else {
        root.titled(heading, (font::FAMILY, 20).into_font().style(FontStyle::Bold))
            .map_err(|e| e.to_string())?
    };
    let cells = body.split_evenly((rows, columns));
    for (panel, cell) in panels.iter().zip(&cells) {
        panel.draw(cell)?;
    }
    Ok(())
}

/// PNG pixels per SVG pixel: crisper figures on high-density screens and in print.
pub const PNG_SCALE: f32 = 1.5;

/// Rasterises an SVG document to PNG with resvg, on white, text in the embedded DejaVu Sans.
///
/// One drawing routine (plotters' SVG backend) then gives both formats, identical up to
/// pixels, with anti-aliased lines and properly kerned text.
pub fn rasterise(svg: &str, scale: f32) -> Result<Vec<u8>, String> {
    use resvg::{tiny_skia, usvg};
    static FONTS: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    let fonts = FONTS.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(dejavu::sans::regular().to_vec());
        db.load_font_data(dejavu::sans::bold().to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        Arc::new(db)
    });
    let options = usvg::Options {
        font_family: "DejaVu Sans".into(),
        fontdb: fonts.clone(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| format!("SVG not readable: {e}"))?;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(scale)
        .ok_or("figure size out of range")?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("figure has no pixels")?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    // Opaque pixels only: drop the alpha channel the page never needs.
    let rgb: Vec<u8> = pixmap
        .pixels()
        .iter()
        .flat_map(|p| [p.red(), p.green(), p.blue()])
        .collect();
    encode_png(size.width(), size.height(), rgb)
}

/// Encodes an RGB8 buffer as PNG with the workspace's `image` crate.
pub fn encode_png(width: u32, height: u32, rgb: Vec<u8>) -> Result<Vec<u8>, String> {
    let img = image::RgbImage::from_raw(width, height, rgb).ok_or("RGB buffer size does not match the figure")?;
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}
