//! Image statistics of SPEC §3 — the x-axis of the study — on decoded images, and the
//! `agree stats` stage that computes them for every row of `samples.parquet`.
//!
//! The library works on in-memory images ([`ImageView`]): one function per statistic
//! in its own module, and [`Workspace::compute`] / [`compute_stats`] for any selection
//! at once, sharing the luma plane and reusing buffers and FFT/DCT plans. The stage
//! ([`stage`], [`cli`]) is a thin layer that streams Parquet in and out.
//!
//! This crate trains nothing and joins nothing; it only measures images.

pub mod canny;
pub mod cli;
pub mod colour;
pub mod compress;
pub mod dct;
pub mod entropy;
mod error;
pub mod gaussian;
pub mod gradient;
pub mod image;
mod image_stats;
pub mod luma;
pub mod segment;
pub mod spectrum;
pub mod stage;
mod statistic;
mod summary;
mod table;

pub use error::Error;
pub use image::{DecodedImage, ImageError, ImageView};
pub use image_stats::{
    ImageStats, StatsParams, Workspace, compute_stats, image_compress_ratio, image_dct, image_edge_density,
    image_entropy_global, image_entropy_local, image_gradient_mean, image_rms_contrast, image_segment_count,
};
pub use statistic::{Selection, Statistic};
pub use summary::{ColumnSummary, StatsSummary};
pub use table::StatsRows;
