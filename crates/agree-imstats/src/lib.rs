//! Image statistics of SPEC §3 — the x-axis of the study — on decoded images, and the
//! `agree stats` stage that computes them for every row of `samples.parquet`.
//!
//! The library works on in-memory images ([`ImageView`]): one function per statistic
//! in its own module, and [`Workspace::compute`] / [`compute_stats`] for any selection
//! at once, sharing the luma plane and reusing buffers and FFT/DCT plans. The stage
//! ([`stage`], [`cli`]) is a thin layer that streams Parquet in and out.
//!
//! This crate trains nothing and joins nothing; it only measures images.
//!
//! ```
//! use agree_imstats::{ImageView, Selection, StatsParams, Statistic, compute_stats};
//!
//! // A 32×32 RGB image: black left half, white right half.
//! let pixels: Vec<u8> = (0..32 * 32).flat_map(|i| if i % 32 < 16 { [0; 3] } else { [255; 3] }).collect();
//! let image = ImageView::rgb(32, 32, &pixels).expect("32·32·3 bytes");
//! let stats = compute_stats(&image, Selection::all(), &StatsParams::default());
//! // Two grey levels in equal shares: one bit of global entropy.
//! assert!((stats.entropy_global.unwrap() - 1.0).abs() < 1e-12);
//! // One selected statistic computes only its own columns.
//! let only = compute_stats(&image, Selection::only(Statistic::RmsContrast), &StatsParams::default());
//! assert!(only.rms_contrast.is_some() && only.entropy_global.is_none());
//! ```

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

pub use error::{Error, MeasureError};
pub use image::{DecodedImage, ImageError, ImageView};
pub use image_stats::{
    ImageStats, StatsParams, Workspace, compute_stats, image_compress_ratio, image_dct, image_edge_density,
    image_entropy_global, image_entropy_local, image_gradient_mean, image_rms_contrast, image_segment_count,
};
pub use statistic::{Selection, Statistic};
pub use summary::{ColumnSummary, StatsSummary};
pub use table::StatsRows;
