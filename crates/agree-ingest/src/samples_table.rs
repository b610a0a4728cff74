//! `samples.parquet`: rows built batch by batch as the stream validates images, row
//! groups bounded in bytes, one set of writer settings for every format, and the
//! rewrite that keeps `sample_id`s dense after samples were rejected.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use agree_schema::{ExperimentDir, Table, TableWriter, read_table, writer_properties};
use arrow::{
    array::{
        Array, ArrayRef, BinaryBuilder, Int32Builder, Int64Array, Int64Builder, ListBuilder, RecordBatch, StringArray,
        StringBuilder,
    },
    datatypes::{DataType, Field},
};
use parquet::{
    basic::Compression,
    file::properties::{EnabledStatistics, WriterProperties},
    schema::types::ColumnPath,
};

use crate::{CatalogEntry, IngestError, Result, inspect::ImageInfo, pipeline::Payload};

const BATCH_ROWS: usize = 2048;
const BATCH_BYTES: usize = 32 << 20;
const ROW_GROUP_BYTES: usize = 256 << 20;

/// The writer settings of `samples.parquet`, the same for every format and for the
/// renumbering rewrite. The `image` column holds files that are already compressed
/// (PNG, JPEG) or raw pixels nobody filters on: compressing them again only costs
/// time, a dictionary of them never repeats, and min/max statistics of image bytes
/// (with the column index they feed) answer no query and only grow the footer.
pub(crate) fn samples_properties() -> WriterProperties {
    let image = || ColumnPath::from("image");
    writer_properties()
        .set_column_compression(image(), Compression::UNCOMPRESSED)
        .set_column_dictionary_enabled(image(), false)
        .set_column_statistics_enabled(image(), EnabledStatistics::None)
        .build()
}

/// `samples.parquet` being written: rows are appended one by one and written in
/// batches of bounded rows and bytes.
pub(crate) struct SamplesWriter {
    writer: TableWriter,
    /// The table's final path (errors name it).
    path: PathBuf,
    batch: SampleBatch,
}

/// One sample's row, as [`SamplesWriter::append`] takes it.
pub(crate) struct SampleRow<'a> {
    /// The provisional `sample_id` (its catalogue index).
    pub id: i64,
    /// Its catalogue entry.
    pub entry: &'a CatalogEntry,
    /// Whether the dataset is multi-label (then `label` is null).
    pub multi_label: bool,
    /// `class_name`.
    pub class_name: &'a str,
    /// What the image's header says.
    pub info: &'a ImageInfo,
}

impl SamplesWriter {
    /// Starts writing `out`'s samples table under a temporary name.
    pub(crate) fn create(out: &ExperimentDir) -> Result<Self> {
        let samples_contract = Table::Samples.contract();
        let writer = TableWriter::create_with(
            out.samples(),
            samples_contract,
            samples_contract.schema(),
            samples_properties(),
        )?;
        Ok(SamplesWriter {
            writer,
            path: out.samples(),
            batch: SampleBatch::default(),
        })
    }

    /// Appends one row, writing the batch once it is full.
    pub(crate) fn append(&mut self, row: SampleRow<'_>, payload: Payload) -> Result<()> {
        self.batch.append(row, payload);
        if self.batch.rows >= BATCH_ROWS || self.batch.bytes >= BATCH_BYTES {
            self.write_batch()?;
        }
        Ok(())
    }

    /// Writes the rows appended since the last batch.
    pub(crate) fn write_batch(&mut self) -> Result<()> {
        if self.batch.rows > 0 {
            self.writer.write(&self.batch.finish(&self.path)?)?;
            if self.writer.in_progress_size() >= ROW_GROUP_BYTES {
                self.writer.flush()?;
            }
        }
        Ok(())
    }

    /// Finishes the table as `out`'s samples, recording the dataset `fingerprint`.
    /// With `dropped` catalogue indices (rejected samples), the rows are rewritten
    /// with dense ids.
    pub(crate) fn finish(mut self, out: &ExperimentDir, dropped: &[usize], fingerprint: &str) -> Result<PathBuf> {
        self.writer.record_dataset(fingerprint);
        if dropped.is_empty() {
            return Ok(self.writer.finish()?);
        }
        // Ids must stay dense: rewrite the (already bounded) row groups with new ids.
        // A temporary name of this process: a killed run's is removed by the next.
        let tmp_name = agree_schema::temporary_name("samples.unnumbered.parquet", std::process::id());
        let tmp_path = out.root().join(tmp_name);
        let staged = self.writer.finish_to(&tmp_path)?;
        let renumbered = renumber(&staged, out, dropped, fingerprint);
        let _ = std::fs::remove_file(&staged);
        renumbered
    }
}

/// Column builders for a batch of `samples` rows.
struct SampleBatch {
    sample_id: Int64Builder,
    split: StringBuilder,
    key: StringBuilder,
    label: Int32Builder,
    labels: ListBuilder<Int32Builder>,
    class_name: StringBuilder,
    width: Int32Builder,
    height: Int32Builder,
    channels: Int32Builder,
    bit_depth: Int32Builder,
    format: StringBuilder,
    image: BinaryBuilder,
    rows: usize,
    bytes: usize,
}

impl Default for SampleBatch {
    fn default() -> Self {
        SampleBatch {
            sample_id: Int64Builder::new(),
            split: StringBuilder::new(),
            key: StringBuilder::new(),
            label: Int32Builder::new(),
            labels: ListBuilder::new(Int32Builder::new())
                .with_field(Arc::new(Field::new_list_field(DataType::Int32, true))),
            class_name: StringBuilder::new(),
            width: Int32Builder::new(),
            height: Int32Builder::new(),
            channels: Int32Builder::new(),
            bit_depth: Int32Builder::new(),
            format: StringBuilder::new(),
            image: BinaryBuilder::new(),
            rows: 0,
            bytes: 0,
        }
    }
}

impl SampleBatch {
    fn append(&mut self, row: SampleRow<'_>, payload: Payload) {
        let SampleRow {
            id,
            entry,
            multi_label,
            class_name,
            info,
        } = row;
        let bytes = match payload {
            Payload::Encoded(b) => b,
            Payload::Rgb8 { pixels, .. } => pixels,
            Payload::Invalid(_) => Vec::new(),
        };
        self.sample_id.append_value(id);
        self.split.append_value(entry.split.as_str());
        self.key.append_value(&entry.key);
        match entry.labels.as_slice() {
            [single] if !multi_label => self.label.append_value(*single),
            _ => self.label.append_null(),
        }
        self.labels.values().append_slice(&entry.labels);
        self.labels.append(true);
        self.class_name.append_value(class_name);
        self.width.append_value(info.width as i32);
        self.height.append_value(info.height as i32);
        self.channels.append_value(info.channels as i32);
        self.bit_depth.append_value(info.bit_depth as i32);
        self.format.append_value(info.format);
        self.bytes += bytes.len();
        self.image.append_value(&bytes);
        self.rows += 1;
    }

    /// The rows appended so far as a `samples` batch, laid out by column name.
    fn finish(&mut self, path: &Path) -> Result<RecordBatch> {
        let columns: [(&str, ArrayRef); 12] = [
            ("sample_id", Arc::new(self.sample_id.finish())),
            ("split", Arc::new(self.split.finish())),
            ("key", Arc::new(self.key.finish())),
            ("label", Arc::new(self.label.finish())),
            ("labels", Arc::new(self.labels.finish())),
            ("class_name", Arc::new(self.class_name.finish())),
            ("width", Arc::new(self.width.finish())),
            ("height", Arc::new(self.height.finish())),
            ("channels", Arc::new(self.channels.finish())),
            ("bit_depth", Arc::new(self.bit_depth.finish())),
            ("format", Arc::new(self.format.finish())),
            ("image", Arc::new(self.image.finish())),
        ];
        self.rows = 0;
        self.bytes = 0;
        Table::Samples
            .contract()
            .batch(columns)
            .map_err(|e| contract_error(path, e))
    }
}

/// A batch that does not follow its contract (a bug), naming the table's file.
pub(crate) fn contract_error(path: &Path, e: agree_schema::ContractError) -> IngestError {
    IngestError::Dataset {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Rewrites the staged samples file with dense ids after rejections.
fn renumber(staged: &Path, out: &ExperimentDir, dropped: &[usize], fingerprint: &str) -> Result<PathBuf> {
    let samples_contract = Table::Samples.contract();
    let file = std::fs::File::open(staged).map_err(|e| IngestError::io(staged, e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(BATCH_ROWS).build())
        .map_err(|e| IngestError::bad(staged, None, e.to_string()))?;
    let mut writer = TableWriter::create_with(
        out.samples(),
        samples_contract,
        samples_contract.schema(),
        samples_properties(),
    )?;
    writer.record_dataset(fingerprint);
    for batch in reader {
        let batch = batch.map_err(|e| IngestError::bad(staged, None, e.to_string()))?;
        let ids = batch
            .column_by_name("sample_id")
            .ok_or_else(|| IngestError::bad(staged, None, "no sample_id column"))?
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| IngestError::bad(staged, None, "sample_id is not int64"))?;
        let renumbered: Int64Array = ids
            .iter()
            .map(|v| v.map(|old| old - dropped.partition_point(|&d| (d as i64) < old) as i64))
            .collect();
        let schema = batch.schema();
        let columns = schema.fields().iter().zip(batch.columns()).map(|(f, c)| {
            let values = if f.name() == "sample_id" {
                Arc::new(renumbered.clone()) as ArrayRef
            } else {
                c.clone()
            };
            (f.name().as_str(), values)
        });
        let batch = samples_contract.batch(columns).map_err(|e| contract_error(staged, e))?;
        writer.write(&batch)?;
        if writer.in_progress_size() >= ROW_GROUP_BYTES {
            writer.flush()?;
        }
    }
    Ok(writer.finish()?)
}

/// Reads `samples.parquet` keys and ids (for tests and score import).
pub(crate) fn read_sample_keys(out: &ExperimentDir) -> Result<Vec<(i64, String, String)>> {
    let (_, batches) = read_table(&out.samples())?;
    let mut rows = Vec::new();
    for b in batches {
        let col = |name: &str| b.column_by_name(name).cloned();
        let (Some(ids), Some(splits), Some(keys)) = (col("sample_id"), col("split"), col("key")) else {
            return Err(IngestError::bad(
                out.samples(),
                None,
                "missing sample_id/split/key columns",
            ));
        };
        let ids = ids.as_any().downcast_ref::<Int64Array>().cloned();
        let splits = splits.as_any().downcast_ref::<StringArray>().cloned();
        let keys = keys.as_any().downcast_ref::<StringArray>().cloned();
        let (Some(ids), Some(splits), Some(keys)) = (ids, splits, keys) else {
            return Err(IngestError::bad(
                out.samples(),
                None,
                "sample_id/split/key have unexpected types",
            ));
        };
        for i in 0..b.num_rows() {
            rows.push((ids.value(i), splits.value(i).to_string(), keys.value(i).to_string()));
        }
    }
    Ok(rows)
}
