//! Ingest: datasets as they are distributed — CIFAR-10 binary archives, ImageFolder
//! trees and tarballs (ImageNet's layout among them), KTH-TIPS2-b, Pascal VOC
//! 2007+2012, the embedded synthetic dataset, and per-sample score files — into the
//! `samples`, `attributes` and `scores` tables of an experiment directory.
//!
//! Every format is read in two passes: a cheap pass over names and metadata builds the
//! [`Catalog`] (which samples exist, their split, labels and dense `sample_id`s in
//! lexicographic order of `(split, key)`), then a streaming pass reads the image bytes
//! in the source's natural order, validates them by decoding in parallel, and writes
//! row groups as it goes, so memory stays bounded whatever the dataset size.
//!
//! It is not a data loader: images are stored as their original encoded bytes and
//! decoded by the later stages.

pub mod catalog;
pub mod cifar10;
pub mod cli;
mod dataset;
pub mod download;
mod error;
pub mod imagefolder;
pub mod inspect;
pub mod kth_tips2b;
pub mod manifest;
mod pipeline;
mod samples_table;
pub mod scores;
mod side_tables;
pub mod synthetic;
pub mod tree;
pub mod voc;

pub use catalog::{Attribute, Catalog, CatalogEntry, CatalogParts, ClaimedSize, Split};
pub use error::{IngestError, Result};
pub use pipeline::{IngestOptions, IngestSummary, OnError, ingest_catalog};
