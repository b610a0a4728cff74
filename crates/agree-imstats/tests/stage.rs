//! The stats stage on a small samples.parquet with every kind of awkward input.

use std::{io::Cursor, sync::Arc};

use agree_imstats::{
    DecodedImage, Error, Selection, StatsParams, compute_stats,
    stage::{OnError, StatsJob, run_stats},
};
use agree_schema::{ExperimentDir, TableWriter, read_table};
use arrow::{
    array::{
        Array, ArrayRef, AsArray, BinaryArray, Int32Array, Int32Builder, Int64Array, ListBuilder, RecordBatch,
        StringArray,
    },
    datatypes::{Float64Type, Int64Type},
};
use image::{DynamicImage, ImageFormat};
use indicatif::ProgressBar;

struct Sample {
    key: &'static str,
    format: &'static str,
    width: i32,
    height: i32,
    bytes: Vec<u8>,
}

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn gradient_rgb(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x * y) % 256) as u8])
    })
}

fn samples(bad: bool) -> Vec<Sample> {
    let rgb = gradient_rgb(32, 32);
    let mut v = vec![
        Sample {
            key: "train/a/jpeg.jpg",
            format: "jpeg",
            width: 32,
            height: 32,
            bytes: encode(rgb.clone().into(), ImageFormat::Jpeg),
        },
        Sample {
            key: "train/a/png.png",
            format: "png",
            width: 32,
            height: 32,
            bytes: encode(rgb.clone().into(), ImageFormat::Png),
        },
        Sample {
            key: "train/a/raw.bin",
            format: "rgb8",
            width: 32,
            height: 32,
            bytes: rgb.clone().into_raw(),
        },
        Sample {
            key: "train/b/grey.png",
            format: "png",
            width: 20,
            height: 12,
            bytes: encode(
                image::GrayImage::from_fn(20, 12, |x, _| image::Luma([(x * 10) as u8])).into(),
                ImageFormat::Png,
            ),
        },
        Sample {
            key: "train/b/rgba16.png",
            format: "png",
            width: 9,
            height: 7,
            bytes: encode(
                DynamicImage::ImageRgba16(image::ImageBuffer::from_fn(9, 7, |x, y| {
                    image::Rgba([(x * 7000) as u16, (y * 9000) as u16, 30000, 65535])
                })),
                ImageFormat::Png,
            ),
        },
        Sample {
            key: "train/b/one.png",
            format: "png",
            width: 1,
            height: 1,
            bytes: encode(
                image::RgbImage::from_raw(1, 1, vec![1, 2, 3]).unwrap().into(),
                ImageFormat::Png,
            ),
        },
        Sample {
            key: "train/b/constant.bin",
            format: "rgb8",
            width: 16,
            height: 16,
            bytes: vec![90; 16 * 16 * 3],
        },
    ];
    if bad {
        v.push(Sample {
            key: "test/c/broken.jpg",
            format: "jpeg",
            width: 32,
            height: 32,
            bytes: b"\xff\xd8 definitely not a jpeg".to_vec(),
        });
        v.push(Sample {
            key: "test/c/empty.bin",
            format: "rgb8",
            width: 0,
            height: 4,
            bytes: Vec::new(),
        });
    }
    v
}

fn write_samples(dir: &ExperimentDir, samples: &[Sample]) {
    write_samples_with_ids(dir, samples, &(0..samples.len() as i64).collect::<Vec<_>>());
}

fn write_samples_with_ids(dir: &ExperimentDir, samples: &[Sample], ids: &[i64]) {
    let c = agree_schema::Table::Samples.contract();
    let n = samples.len();
    let mut labels = ListBuilder::new(Int32Builder::new());
    for _ in 0..n {
        labels.values().append_value(0);
        labels.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.to_vec())),
        Arc::new(StringArray::from_iter_values(
            samples.iter().map(|s| s.key.split('/').next().unwrap()),
        )),
        Arc::new(StringArray::from_iter_values(samples.iter().map(|s| s.key))),
        Arc::new(Int32Array::from(vec![Some(0); n])),
        Arc::new(labels.finish()),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n("a", n))),
        Arc::new(Int32Array::from_iter_values(samples.iter().map(|s| s.width))),
        Arc::new(Int32Array::from_iter_values(samples.iter().map(|s| s.height))),
        Arc::new(Int32Array::from_iter_values(std::iter::repeat_n(3, n))),
        Arc::new(Int32Array::from_iter_values(std::iter::repeat_n(8, n))),
        Arc::new(StringArray::from_iter_values(samples.iter().map(|s| s.format))),
        Arc::new(BinaryArray::from_iter_values(
            samples.iter().map(|s| s.bytes.as_slice()),
        )),
    ];
    let batch = RecordBatch::try_new(c.schema(), columns).unwrap();
    let mut w = TableWriter::create(dir.samples(), c, c.schema()).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
}

fn job(dir: &ExperimentDir) -> StatsJob {
    let mut job = StatsJob::in_dir(dir);
    job.batch_rows = 3; // several batches even on a small file
    job
}

#[test]
fn every_kind_of_valid_image_gets_finite_statistics_that_match_the_library() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    let samples = samples(false);
    write_samples(&dir, &samples);
    let summary = run_stats(&job(&dir), &ProgressBar::hidden()).unwrap();
    assert_eq!((summary.rows, summary.errors), (samples.len() as u64, 0));

    let (schema, batches) = read_table(&dir.stats()).unwrap();
    agree_schema::Table::Stats.contract().check(&schema).unwrap();
    let stats = arrow::compute::concat_batches(&schema, &batches).unwrap();
    assert_eq!(stats.num_rows(), samples.len());
    for field in schema.fields() {
        let col = stats.column_by_name(field.name()).unwrap();
        if field.name() == "error" {
            assert_eq!(col.null_count(), samples.len());
        } else if let Some(f) = col.as_primitive_opt::<Float64Type>() {
            assert_eq!(f.null_count(), 0, "{}", field.name());
            assert!(f.values().iter().all(|v| v.is_finite()), "{}", field.name());
        }
    }
    // Row by row the table holds what the library computes on the decoded pixels.
    let entropy = stats
        .column_by_name("entropy_global")
        .unwrap()
        .as_primitive::<Float64Type>();
    let segments = stats
        .column_by_name("segment_count")
        .unwrap()
        .as_primitive::<Int64Type>();
    let mut decoded = DecodedImage::new();
    for (i, s) in samples.iter().enumerate() {
        decoded
            .decode(&s.bytes, s.format, s.width as usize, s.height as usize)
            .unwrap();
        let expect = compute_stats(&decoded.view(), Selection::all(), &StatsParams::default());
        assert_eq!(Some(entropy.value(i)), expect.entropy_global, "{}", s.key);
        assert_eq!(Some(segments.value(i)), expect.segment_count, "{}", s.key);
    }
    // The lossless encodings of one image give identical statistics.
    let dct = stats
        .column_by_name("dct_energy_pct")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(dct.value(1), dct.value(2));
    // Constant 16×16: one DCT coefficient, no entropy, one segment.
    assert_eq!(dct.value(6), 100.0 / 256.0);
    assert_eq!(entropy.value(6), 0.0);
    assert_eq!(segments.value(6), 1);

    let (sschema, sbatches) = read_table(&dir.spectra()).unwrap();
    agree_schema::Table::Spectra.contract().check(&sschema).unwrap();
    let spectra = arrow::compute::concat_batches(&sschema, &sbatches).unwrap();
    let power = spectra.column(1).as_list::<i32>();
    for i in 0..samples.len() {
        let row = power.value(i);
        let row = row.as_primitive::<Float64Type>();
        assert_eq!(row.len(), 16);
        let sum: f64 = row.values().iter().sum();
        // Constant and 1×1 images have an all-zero spectrum; others sum to 1.
        assert!(
            (sum - 1.0).abs() < 1e-9 || (sum == 0.0 && (i == 5 || i == 6)),
            "row {i}: {sum}"
        );
    }
}

#[test]
fn a_bad_image_fails_naming_its_sample_unless_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    let samples = samples(true);
    write_samples(&dir, &samples);
    let err = run_stats(&job(&dir), &ProgressBar::hidden()).unwrap_err();
    assert!(matches!(err, Error::Image { sample_id: 7, .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("test/c/broken.jpg") && text.contains("samples.parquet"),
        "{text}"
    );
    assert!(!dir.stats().exists(), "no partial table on failure");

    let mut skip = job(&dir);
    skip.on_error = OnError::Skip;
    skip.selection = Selection::parse("entropy_local,segment_count").unwrap();
    let summary = run_stats(&skip, &ProgressBar::hidden()).unwrap();
    assert_eq!(summary.errors, 2);
    let (schema, batches) = read_table(&dir.stats()).unwrap();
    let stats = arrow::compute::concat_batches(&schema, &batches).unwrap();
    let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, vec!["sample_id", "entropy_local", "segment_count", "error"]);
    let error = stats.column(3).as_string::<i32>();
    assert!(error.value(7).contains("undecodable jpeg"), "{}", error.value(7));
    assert!(error.value(8).contains("zero-sized"), "{}", error.value(8));
    assert!(stats.column(1).is_null(7) && stats.column(2).is_null(8) && !stats.column(1).is_null(6));
    assert!(!dir.spectra().exists(), "spectra only when the spectrum is selected");
}

/// CRC-32 (ISO 3309) of a PNG chunk's type and data.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose header announces `width × height` RGBA 16-bit pixels (8 bytes each)
/// followed by a few bytes of image data: decoding it whole would need w·h·8 bytes.
fn huge_png(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let body: Vec<u8> = kind.iter().chain(data).copied().collect();
        png.extend_from_slice(&body);
        png.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[16, 6, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x63, 0x00, 0x00]);
    chunk(b"IEND", &[]);
    png
}

fn with_huge(width: i32, height: i32) -> Vec<Sample> {
    let mut v = samples(false);
    v.push(Sample {
        key: "test/c/huge.png",
        format: "png",
        width,
        height,
        bytes: huge_png(60_000, 60_000),
    });
    v
}

#[test]
fn an_image_above_the_pixel_budget_is_refused_from_its_header() {
    // 60000² RGBA16 is 28.8 GB decoded: before the budget this aborted the process.
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    let samples = with_huge(60_000, 60_000);
    let huge_id = samples.len() as i64 - 1;
    write_samples(&dir, &samples);
    let err = run_stats(&job(&dir), &ProgressBar::hidden()).unwrap_err();
    assert!(
        matches!(err, Error::Image { sample_id, .. } if sample_id == huge_id),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("test/c/huge.png") && text.contains("60000×60000") && text.contains("64000000"),
        "{text}"
    );
    assert!(!dir.stats().exists(), "no partial table on failure");

    // The stored size may lie: the header decides.
    write_samples(&dir, &with_huge(32, 32));
    let mut skip = job(&dir);
    skip.on_error = OnError::Skip;
    let summary = run_stats(&skip, &ProgressBar::hidden()).unwrap();
    assert_eq!((summary.rows, summary.errors), (samples.len() as u64, 1));
    let (schema, batches) = read_table(&dir.stats()).unwrap();
    let stats = arrow::compute::concat_batches(&schema, &batches).unwrap();
    let error = stats.column_by_name("error").unwrap().as_string::<i32>();
    let reason = error.value(huge_id as usize);
    assert!(reason.contains("60000×60000") && reason.contains("budget"), "{reason}");
    assert_eq!(error.null_count(), samples.len() - 1);
}

#[test]
fn the_pixel_budget_is_a_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    write_samples(&dir, &samples(false));
    let mut small = job(&dir);
    small.max_pixels = 32 * 32 - 1;
    let err = run_stats(&small, &ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("32×32 = 1024 pixels exceeds the budget of 1023"), "{err}");
    small.max_pixels = 32 * 32;
    run_stats(&small, &ProgressBar::hidden()).unwrap();
}

#[test]
fn a_repeated_sample_id_is_refused_naming_file_and_row() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    let samples = samples(false);
    let mut ids: Vec<i64> = (0..samples.len() as i64).collect();
    ids[4] = 1;
    write_samples_with_ids(&dir, &samples, &ids);
    let err = run_stats(&job(&dir), &ProgressBar::hidden()).unwrap_err().to_string();
    assert!(
        err.contains("samples.parquet") && err.contains("row 4: sample_id 1 appears again (first in row 1)"),
        "{err}"
    );
    assert!(!dir.stats().exists());
}

#[test]
fn the_tables_record_the_dataset_they_were_computed_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    write_samples(&dir, &samples(false));
    // The same rows, now with the dataset fingerprint ingest records in the footer.
    let (schema, batches) = read_table(&dir.samples()).unwrap();
    let schema = Arc::new(schema.as_ref().clone().with_metadata(Default::default()));
    let c = agree_schema::Table::Samples.contract();
    let mut w = TableWriter::create(dir.samples(), c, schema.clone()).unwrap();
    w.record_dataset("f00d");
    for b in batches {
        w.write(&RecordBatch::try_new(schema.clone(), b.columns().to_vec()).unwrap())
            .unwrap();
    }
    w.finish().unwrap();
    run_stats(&job(&dir), &ProgressBar::hidden()).unwrap();
    for table in [dir.stats(), dir.spectra()] {
        assert_eq!(
            agree_schema::identity::table_fingerprint(&table).unwrap().as_deref(),
            Some("f00d"),
            "{}",
            table.display()
        );
    }
}
