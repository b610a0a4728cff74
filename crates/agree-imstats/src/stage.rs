//! The file layer of `agree stats`: stream `samples.parquet` batch by batch (row groups
//! are read one at a time), measure the images in parallel, and write `stats.parquet`
//! and `spectra.parquet` — or, for one shard of N (`--shard I/N`: the samples with
//! `sample_id` mod N = I), `stats/part-I-of-N.parquet` and `spectra/part-I-of-N.parquet`.

use std::{
    cell::RefCell,
    collections::HashMap,
    fs::File,
    path::{Path, PathBuf},
};

pub use agree_schema::OnError;
use agree_schema::{ExperimentDir, Shard, Table, TableWriter, table_files::check_shard_count};
use arrow::{
    array::{Array, AsArray, BooleanArray, RecordBatch},
    compute::filter_record_batch,
    datatypes::{DataType, Int32Type, Int64Type},
};
/// The progress bar `run_stats` advances (re-exported so callers need no indicatif).
pub use indicatif::ProgressBar;
use parquet::arrow::{ProjectionMask, arrow_reader::ParquetRecordBatchReaderBuilder};
use rayon::prelude::*;

use crate::{
    error::{Error, MeasureError},
    image::{DEFAULT_MAX_PIXELS, DecodedImage},
    image_stats::{ImageStats, StatsParams, compute_stats},
    statistic::{Selection, Statistic},
    summary::StatsSummary,
    table::StatsRows,
};

/// One run of the statistics stage.
#[derive(Debug, Clone)]
pub struct StatsJob {
    /// Input `samples.parquet`.
    pub samples: PathBuf,
    /// Output `stats.parquet`.
    pub stats: PathBuf,
    /// Output `spectra.parquet` (written when the spectrum is selected).
    pub spectra: PathBuf,
    /// Statistics to compute.
    pub selection: Selection,
    /// Their parameters.
    pub params: StatsParams,
    /// Resize every image to (width, height) first.
    pub resize: Option<(usize, usize)>,
    /// Failure policy per image.
    pub on_error: OnError,
    /// Largest image measured, in pixels (checked from the header before decoding).
    pub max_pixels: u64,
    /// Rows per batch (bounds memory together with the input's row-group size).
    pub batch_rows: usize,
    /// The share of the samples measured: `sample_id` mod N = I (`0/1`: all).
    pub shard: Shard,
}

impl StatsJob {
    /// A job over an experiment directory's `samples.parquet`, writing next to it.
    pub fn in_dir(dir: &agree_schema::ExperimentDir) -> Self {
        StatsJob {
            samples: dir.samples(),
            stats: dir.stats(),
            spectra: dir.spectra(),
            selection: Selection::all(),
            params: StatsParams::default(),
            resize: None,
            on_error: OnError::Fail,
            max_pixels: DEFAULT_MAX_PIXELS,
            batch_rows: 2048,
            shard: Shard::WHOLE,
        }
    }

    /// A job over one shard of an experiment directory's samples, writing
    /// `stats/part-I-of-N.parquet` and `spectra/part-I-of-N.parquet` (for `0/1`, the
    /// unsharded `stats.parquet` and `spectra.parquet`).
    pub fn in_dir_shard(dir: &ExperimentDir, shard: Shard) -> Self {
        let mut job = Self::in_dir(dir);
        if !shard.is_whole() {
            job.stats = dir.shard_table(Table::Stats, shard);
            job.spectra = dir.shard_table(Table::Spectra, shard);
        }
        job.shard = shard;
        job
    }
}

/// Before a shard of the statistics is computed into `dir`: refuses when `stats/` or
/// `spectra/` hold shards of another N, naming them.
pub fn check_shard_layout(dir: &ExperimentDir, shard: Shard) -> Result<(), Error> {
    if !shard.is_whole() {
        check_shard_count(dir, Table::Stats, shard)?;
        check_shard_count(dir, Table::Spectra, shard)?;
    }
    Ok(())
}

/// After a run wrote its tables: removes what the other layout held of them, so one
/// layout is left — the shards' folders after an unsharded run, the unsharded files
/// after a shard (the table is then whole once every shard has run). `spectra` only
/// when the run wrote it. Returns what was removed.
pub fn retire_other_layout(dir: &ExperimentDir, shard: Shard, wrote_spectra: bool) -> Result<Vec<PathBuf>, Error> {
    let mut tables = vec![Table::Stats];
    if wrote_spectra {
        tables.push(Table::Spectra);
    }
    let mut removed = Vec::new();
    for table in tables {
        let (path, gone) = if shard.is_whole() {
            let folder = dir.shards_dir(table);
            (folder.clone(), std::fs::remove_dir_all(&folder))
        } else {
            let file = dir.table(table);
            (file.clone(), std::fs::remove_file(&file))
        };
        match gone {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Io { path, source }),
        }
    }
    Ok(removed)
}

thread_local! {
    static DECODED: RefCell<DecodedImage> = RefCell::new(DecodedImage::new());
}

/// One stored image as `samples.parquet` holds it.
#[derive(Debug, Clone, Copy)]
pub struct EncodedImage<'a> {
    /// The encoded bytes (`samples.image`).
    pub bytes: &'a [u8],
    /// `samples.format`: `jpeg`, `png`, … or `rgb8`.
    pub format: &'a str,
    /// Stored width (only `rgb8` relies on it).
    pub width: usize,
    /// Stored height (only `rgb8` relies on it).
    pub height: usize,
}

/// How every image of a run is measured.
#[derive(Debug, Clone, Copy)]
pub struct Measurement<'a> {
    /// Statistics to compute.
    pub selection: Selection,
    /// Their parameters.
    pub params: &'a StatsParams,
    /// Resize to (width, height) first.
    pub resize: Option<(usize, usize)>,
    /// Largest image decoded, in pixels, read from the header before decoding.
    pub max_pixels: u64,
}

/// Checks the pixel budget from the header, decodes and measures one encoded image in
/// this thread's buffers: never more than `how.max_pixels` pixels are decoded.
pub fn measure_encoded(image: &EncodedImage<'_>, how: &Measurement<'_>) -> Result<ImageStats, MeasureError> {
    DECODED.with(|cell| {
        let mut owned;
        let mut borrowed = cell.try_borrow_mut();
        let decoded: &mut DecodedImage = match borrowed.as_deref_mut() {
            Ok(d) => d,
            Err(_) => {
                owned = DecodedImage::new();
                &mut owned
            }
        };
        decoded.decode_within(image.bytes, image.format, image.width, image.height, how.max_pixels)?;
        if let Some((w, h)) = how.resize {
            decoded.resize(w, h)?;
        }
        let stats = compute_stats(&decoded.view(), how.selection, how.params);
        stats.check_finite(how.selection)?;
        Ok(stats)
    })
}

/// Runs the stage; returns the distribution summary. Nothing appears under the output
/// names unless the whole run succeeds.
pub fn run_stats(job: &StatsJob, progress: &ProgressBar) -> Result<StatsSummary, Error> {
    let path = &job.samples;
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let pq = |source| Error::Parquet {
        path: path.clone(),
        source,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
    let needed = ["sample_id", "key", "format", "width", "height", "image"];
    for column in needed {
        if builder.schema().field_with_name(column).is_err() {
            return Err(Error::Column {
                path: path.clone(),
                column: column.into(),
                problem: "is missing".into(),
            });
        }
    }
    check_unique_ids(path)?;
    let total = builder.metadata().file_metadata().num_rows();
    progress.set_length(u64::try_from(total).unwrap_or(0));
    let mask = ProjectionMask::columns(builder.parquet_schema(), needed);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(job.batch_rows.max(1))
        .build()
        .map_err(pq)?;

    let stats_schema = StatsRows::stats_schema(job.selection)?;
    let spectra_schema = StatsRows::spectra_schema()?;
    let mut stats_out = TableWriter::create(&job.stats, agree_schema::Table::Stats.contract(), stats_schema.clone())?;
    let mut spectra_out = if job.selection.contains(Statistic::Spectrum) {
        Some(TableWriter::create(
            &job.spectra,
            agree_schema::Table::Spectra.contract(),
            spectra_schema.clone(),
        )?)
    } else {
        None
    };
    // The tables record which dataset they were computed on, for `agree analyze`.
    if let Some(fp) = agree_schema::identity::table_fingerprint(&job.samples)? {
        stats_out.record_dataset(&fp);
        if let Some(out) = spectra_out.as_mut() {
            out.record_dataset(&fp);
        }
    }
    let mut summary = StatsSummary::new(job.selection);
    let mut rows = StatsRows::new(job.selection);
    for batch in reader {
        let batch = batch.map_err(|source| Error::Arrow {
            path: path.clone(),
            source,
        })?;
        let seen = batch.num_rows() as u64;
        let batch = if job.shard.is_whole() {
            batch
        } else {
            shard_rows(job, &batch)?
        };
        measure_batch(job, &batch, &mut rows, &mut summary)?;
        let (stats, spectra) = rows.take_batches()?;
        stats_out.write(&stats)?;
        if let (Some(out), Some(spectra)) = (spectra_out.as_mut(), spectra) {
            out.write(&spectra)?;
        }
        progress.inc(seen);
    }
    stats_out.finish()?;
    if let Some(out) = spectra_out {
        out.finish()?;
    }
    Ok(summary)
}

/// Refuses a samples file in which a `sample_id` appears twice (its statistics would
/// be written twice), naming the first repeated row; reads only the `sample_id` column.
fn check_unique_ids(path: &Path) -> Result<(), Error> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let pq = |source| Error::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["sample_id"]);
    let mut first_row: HashMap<i64, usize> = HashMap::new();
    for batch in builder.with_projection(mask).build().map_err(pq)? {
        let batch = batch.map_err(|source| Error::Arrow {
            path: path.to_path_buf(),
            source,
        })?;
        let ids = batch.column(0);
        let ids = ids.as_primitive_opt::<Int64Type>().ok_or_else(|| Error::Column {
            path: path.to_path_buf(),
            column: "sample_id".into(),
            problem: format!("has type {}", ids.data_type()),
        })?;
        for id in ids.iter() {
            let row = first_row.len();
            let Some(id) = id else {
                return Err(Error::Column {
                    path: path.to_path_buf(),
                    column: "sample_id".into(),
                    problem: format!("is null in row {row}"),
                });
            };
            if let Some(&first) = first_row.get(&id) {
                return Err(Error::DuplicateSample {
                    path: path.to_path_buf(),
                    row,
                    sample_id: id,
                    first,
                });
            }
            first_row.insert(id, row);
        }
    }
    Ok(())
}

/// The columns of one input batch, typed.
fn column<'a>(job: &StatsJob, batch: &'a RecordBatch, name: &str) -> Result<&'a dyn Array, Error> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| Error::Column {
            path: job.samples.clone(),
            column: name.into(),
            problem: "is missing".into(),
        })
}

fn wrong_type(job: &StatsJob, name: &str, t: &DataType) -> Error {
    Error::Column {
        path: job.samples.clone(),
        column: name.into(),
        problem: format!("has type {t}"),
    }
}

/// The rows of `batch` whose `sample_id` is in the job's shard.
fn shard_rows(job: &StatsJob, batch: &RecordBatch) -> Result<RecordBatch, Error> {
    let ids_col = column(job, batch, "sample_id")?;
    let ids = ids_col
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| wrong_type(job, "sample_id", ids_col.data_type()))?;
    let mask: BooleanArray = ids
        .iter()
        .map(|id| Some(id.is_some_and(|id| job.shard.contains(id))))
        .collect();
    filter_record_batch(batch, &mask).map_err(|source| Error::Arrow {
        path: job.samples.clone(),
        source,
    })
}

fn measure_batch(
    job: &StatsJob,
    batch: &RecordBatch,
    rows: &mut StatsRows,
    summary: &mut StatsSummary,
) -> Result<(), Error> {
    let ids_col = column(job, batch, "sample_id")?;
    let ids = ids_col
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| wrong_type(job, "sample_id", ids_col.data_type()))?;
    let keys_col = column(job, batch, "key")?;
    let keys = keys_col
        .as_string_opt::<i32>()
        .ok_or_else(|| wrong_type(job, "key", keys_col.data_type()))?;
    let formats_col = column(job, batch, "format")?;
    let formats = formats_col
        .as_string_opt::<i32>()
        .ok_or_else(|| wrong_type(job, "format", formats_col.data_type()))?;
    let widths_col = column(job, batch, "width")?;
    let widths = widths_col
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(|| wrong_type(job, "width", widths_col.data_type()))?;
    let heights_col = column(job, batch, "height")?;
    let heights = heights_col
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(|| wrong_type(job, "height", heights_col.data_type()))?;
    let images_col = column(job, batch, "image")?;
    let images = images_col
        .as_binary_opt::<i32>()
        .ok_or_else(|| wrong_type(job, "image", images_col.data_type()))?;

    let how = Measurement {
        selection: job.selection,
        params: &job.params,
        resize: job.resize,
        max_pixels: job.max_pixels,
    };
    let results: Vec<Result<ImageStats, MeasureError>> = (0..batch.num_rows())
        .into_par_iter()
        .map(|i| {
            let dim = |v: i32| usize::try_from(v).unwrap_or(0);
            let image = EncodedImage {
                bytes: images.value(i),
                format: formats.value(i),
                width: dim(widths.value(i)),
                height: dim(heights.value(i)),
            };
            measure_encoded(&image, &how)
        })
        .collect();
    for (i, result) in results.into_iter().enumerate() {
        let sample_id = ids.value(i);
        match result {
            Ok(stats) => {
                summary.observe(&stats);
                rows.push(sample_id, Ok(&stats));
            }
            Err(source) if job.on_error == OnError::Fail => {
                return Err(Error::Image {
                    path: job.samples.clone(),
                    sample_id,
                    key: keys.value(i).to_string(),
                    source,
                });
            }
            Err(reason) => {
                summary.observe_error();
                rows.push(sample_id, Err(reason.to_string()));
            }
        }
    }
    Ok(())
}
