//! A tiny learnable dataset for the training tests: 16×16 noisy images whose class
//! (0..3) is the quadrant that is bright. Every other image is PNG, the rest raw rgb8.

#![allow(dead_code)]

use std::{path::Path, sync::Arc};

use agree_schema::{ExperimentDir, Table, TableWriter};
use arrow::{
    array::{ArrayRef, BinaryArray, Int32Array, Int32Builder, Int64Array, ListBuilder, StringArray},
    datatypes::Field,
};

/// Image side.
pub const SIDE: u32 = 16;
/// Class names, indexed by class.
pub const CLASSES: [&str; 4] = ["bottom_left", "bottom_right", "top_left", "top_right"];

fn lcg(state: &mut u64) -> u8 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*state >> 56) as u8
}

/// Raw pixels of sample `i` of class `class`.
pub fn pixels(i: u64, class: i32) -> Vec<u8> {
    let mut state = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let half = SIDE / 2;
    let mut rgb = Vec::with_capacity((SIDE * SIDE * 3) as usize);
    for y in 0..SIDE {
        for x in 0..SIDE {
            let quadrant = match (y < half, x < half) {
                (false, true) => 0,
                (false, false) => 1,
                (true, true) => 2,
                (true, false) => 3,
            };
            for _ in 0..3 {
                let noise = lcg(&mut state) / 3;
                rgb.push(if quadrant == class { 150 + noise / 2 } else { noise });
            }
        }
    }
    rgb
}

/// One sample row: (split, label, format, bytes).
pub struct Row {
    pub split: &'static str,
    pub label: i32,
    pub class_name: String,
    pub format: &'static str,
    pub image: Vec<u8>,
    pub width: i32,
    pub height: i32,
}

/// The rows of a dataset with `train` and `test` samples.
pub fn rows(train: usize, test: usize) -> Vec<Row> {
    let mut out = Vec::new();
    for (split, n, offset) in [("test", test, 1_000_000u64), ("train", train, 0)] {
        for i in 0..n {
            let label = (i % 4) as i32;
            let raw = pixels(offset + i as u64, label);
            let (format, image) = if i % 2 == 0 {
                let mut png = Vec::new();
                image::codecs::png::PngEncoder::new(&mut png)
                    .write_image_pixels(&raw)
                    .unwrap();
                ("png", png)
            } else {
                ("rgb8", raw)
            };
            out.push(Row {
                split,
                label,
                class_name: CLASSES[label as usize].to_string(),
                format,
                image,
                width: SIDE as i32,
                height: SIDE as i32,
            });
        }
    }
    out
}

trait PngPixels {
    fn write_image_pixels(self, raw: &[u8]) -> image::ImageResult<()>;
}

impl<W: std::io::Write> PngPixels for image::codecs::png::PngEncoder<W> {
    fn write_image_pixels(self, raw: &[u8]) -> image::ImageResult<()> {
        use image::ImageEncoder;
        self.write_image(raw, SIDE, SIDE, image::ExtendedColorType::Rgb8)
    }
}

/// Writes `rows` as `samples.parquet` into `dir` (ids in (split, key) order).
pub fn write_samples(dir: &Path, rows: &[Row]) {
    write_samples_with_ids(dir, rows, &(0..rows.len() as i64).collect::<Vec<_>>());
}

/// Writes `rows` as `samples.parquet` with the given `sample_id`s.
pub fn write_samples_with_ids(dir: &Path, rows: &[Row], ids: &[i64]) {
    let c = Table::Samples.contract();
    let mut w = TableWriter::create(ExperimentDir::new(dir).table(Table::Samples), c, c.schema()).unwrap();
    let mut labels = ListBuilder::new(Int32Builder::new())
        .with_field(Field::new_list_field(arrow::datatypes::DataType::Int32, true));
    for r in rows {
        labels.values().append_value(r.label);
        labels.append(true);
    }
    let batch = c
        .batch([
            ("sample_id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef),
            (
                "split",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.split))),
            ),
            (
                "key",
                Arc::new(StringArray::from_iter_values(
                    rows.iter()
                        .enumerate()
                        .map(|(i, r)| format!("{}/{:05}.img", r.split, i)),
                )),
            ),
            (
                "label",
                Arc::new(Int32Array::from_iter(rows.iter().map(|r| Some(r.label)))),
            ),
            ("labels", Arc::new(labels.finish())),
            (
                "class_name",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.class_name.clone()))),
            ),
            (
                "width",
                Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.width))),
            ),
            (
                "height",
                Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.height))),
            ),
            (
                "channels",
                Arc::new(Int32Array::from_iter_values(rows.iter().map(|_| 3))),
            ),
            (
                "bit_depth",
                Arc::new(Int32Array::from_iter_values(rows.iter().map(|_| 8))),
            ),
            (
                "format",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.format))),
            ),
            (
                "image",
                Arc::new(BinaryArray::from_iter_values(rows.iter().map(|r| r.image.as_slice()))),
            ),
        ])
        .unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
}

/// A fast LeNet-5 recipe for the quadrant data.
pub fn config(networks: u32, epochs: u32) -> agree_train::TrainConfig {
    let mut c = agree_train::TrainConfig::reference(agree_train::Arch::Lenet5);
    c.networks = networks;
    c.epochs = epochs;
    c.batch_size = 32;
    c.optimizer.lr = 0.05;
    c
}
