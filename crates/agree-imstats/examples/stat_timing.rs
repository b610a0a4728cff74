//! Single-thread timing (CPU time of the thread) of each statistic on the first N images of a samples.parquet,
//! plus a digest of every value (to check that an optimisation changes no result).
//!
//! `cargo run --release -p agree-imstats --example stat_timing -- SAMPLES.parquet [N] [REPEAT] [NAME]`
//! (NAME: only the rows whose name contains it); `DUMP=FILE` also writes every stats
//! column of every image as f64 for comparison with a stats.parquet.

use std::fs::File;

use agree_imstats::{DecodedImage, ImageView, Selection, Statistic, StatsParams, compute_stats};
use arrow::array::AsArray;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// CPU time of this thread (ns), so that other processes on the machine do not count.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// The first `limit` images of a samples.parquet, decoded to RGB.
fn read_images(path: &str, limit: usize) -> Vec<(usize, usize, Vec<u8>)> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).expect("open"))
        .expect("parquet")
        .with_batch_size(4096)
        .build()
        .expect("reader");
    let mut images: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    let mut decoded = DecodedImage::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let bytes = batch.column_by_name("image").expect("image").as_binary::<i32>();
        let formats = batch.column_by_name("format").expect("format").as_string::<i32>();
        for i in 0..batch.num_rows() {
            decoded.decode(bytes.value(i), formats.value(i), 0, 0).expect("decode");
            let v = decoded.view();
            assert_eq!(v.channels, 3);
            images.push((v.width, v.height, v.pixels.to_vec()));
            if images.len() == limit {
                return images;
            }
        }
    }
    images
}

/// DUMP=FILE: every stats column of every image (f64 LE, row-major, columns in
/// Selection::all() order), to compare with a stats.parquet.
fn dump(file: &str, images: &[(usize, usize, Vec<u8>)], params: &StatsParams) {
    let sel = Selection::all();
    let bytes: Vec<u8> = images
        .iter()
        .flat_map(|(w, h, px)| {
            let view = ImageView::rgb(*w, *h, px).expect("rgb");
            let s = compute_stats(&view, sel, params);
            sel.columns()
                .flat_map(|c| s.column(c).unwrap_or(f64::NAN).to_le_bytes())
                .collect::<Vec<u8>>()
        })
        .collect();
    std::fs::write(file, bytes).expect("dump");
}

/// Best-of-`repeat` CPU seconds for `selection` over every image, and a digest of
/// every value computed.
fn time_selection(
    images: &[(usize, usize, Vec<u8>)],
    selection: Selection,
    params: &StatsParams,
    repeat: usize,
) -> (f64, u64) {
    let mut best = f64::INFINITY;
    let mut digest = 0u64;
    for _ in 0..repeat {
        digest = 0;
        let start = cpu_ns();
        for (w, h, px) in images {
            let view = ImageView::rgb(*w, *h, px).expect("rgb");
            let s = compute_stats(&view, selection, params);
            for c in selection.columns() {
                let v = s.column(c).unwrap_or(f64::NAN).to_bits();
                digest = digest.rotate_left(5) ^ v;
            }
            if let Some(p) = s.spectrum {
                for v in p {
                    digest = digest.rotate_left(5) ^ v.to_bits();
                }
            }
        }
        best = best.min((cpu_ns() - start) as f64 * 1e-9);
    }
    (best, digest)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: stat_timing SAMPLES.parquet [N] [REPEAT]");
    let limit: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(5000);
    let repeat: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(3);
    let images = read_images(path, limit);
    let n = images.len();
    let params = StatsParams::default();
    let mut rows: Vec<(String, Selection)> = Statistic::ALL
        .iter()
        .map(|&s| (s.name().to_string(), Selection::only(s)))
        .collect();
    rows.push(("all".into(), Selection::all()));
    // A fourth argument keeps only the rows whose name contains it (for profiling).
    if let Some(only) = args.get(4) {
        rows.retain(|(name, _)| name.contains(only.as_str()));
    }
    if let Ok(file) = std::env::var("DUMP") {
        dump(&file, &images, &params);
    }
    for (name, selection) in rows {
        let (best, digest) = time_selection(&images, selection, &params, repeat);
        println!(
            "{name:<16} {:>9.2} µs/img {:>9.0} img/s  digest {digest:016x}",
            best / n as f64 * 1e6,
            n as f64 / best
        );
    }
}
