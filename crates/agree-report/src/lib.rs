//! The `agree report` stage: reads an experiment directory's result tables (and, when
//! present, its stats, attributes, samples, epochs and manifest) and writes
//! `report/index.html`, one self-contained page, with every figure as PNG and SVG in
//! `report/figures/`.
//!
//! Figures are drawn once per format by the same plotters routine (SVG backend and an
//! in-memory bitmap encoded with the workspace's `image`), with DejaVu Sans embedded
//! from crates.io so PNG text needs no system font. Only `results/agreement.parquet`
//! is required; a missing optional table leaves its figures out with a note on the page.
//!
//! This crate computes no statistic of its own beyond what a figure needs to draw
//! (histogram bins, per-epoch means, the data map's drawn subset); the numbers come
//! from `agree analyze`.

pub mod cli;
mod colour_bar;
mod error;
pub mod figure;
mod font;
pub mod heat_map_panel;
pub mod histogram_panel;
pub mod line_panel;
pub mod page;
pub mod palette;
pub mod report;
pub mod scatter_panel;
pub mod shaping;
pub mod tables;
pub mod thumbnail;

pub use error::Error;
pub use figure::Figure;
pub use report::{Report, ReportInputs, build, load, write};
