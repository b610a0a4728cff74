//! Helpers the ingest tests share: fixture images and trees, options, and reading
//! a table back.
#![allow(dead_code)] // each test file uses a different part

use std::{io::Cursor, path::Path};

use agree_ingest::{IngestOptions, OnError};
use agree_schema::read_table;
use arrow::{
    array::{RecordBatch, StringArray},
    compute::concat_batches,
};
use image::{ImageFormat, RgbImage};

/// Ingest options with this bad-input policy, the rest default.
pub fn opts(on_error: OnError) -> IngestOptions {
    IngestOptions {
        on_error,
        ..Default::default()
    }
}

/// A `w × h` RGB image whose pixels depend on `seed`, encoded as `format`.
pub fn encoded(w: u32, h: u32, seed: u8, format: ImageFormat) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8 ^ seed, y as u8, seed]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// [`encoded`] as PNG.
pub fn png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    encoded(w, h, seed, ImageFormat::Png)
}

/// Writes `files` (path, bytes) under `root`.
pub fn write_tree(root: &Path, files: &[(&str, Vec<u8>)]) {
    for (path, bytes) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

/// The whole table at `path` as one batch.
pub fn table(path: &Path) -> RecordBatch {
    let (schema, batches) = read_table(path).unwrap();
    concat_batches(&schema, &batches).unwrap()
}

/// Column `col` of `b` as strings (null as empty).
pub fn strings(b: &RecordBatch, col: &str) -> Vec<String> {
    let a = b
        .column_by_name(col)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    a.iter().map(|v| v.unwrap_or("").to_string()).collect()
}
