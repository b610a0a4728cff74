//! The streaming pass shared by every format: read image bytes in the source's
//! order, validate them in parallel, and write `samples`, `attributes`, `rejects` and
//! the manifest atomically.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, mpsc},
    time::Instant,
};

use agree_schema::{
    ExperimentDir, TableWriter, contract,
    identity::{self, FingerprintBuilder},
    read_table, writer_properties,
};
use arrow::{
    array::{
        Array, ArrayRef, BinaryBuilder, Float64Builder, Int32Builder, Int64Array, Int64Builder, ListBuilder,
        RecordBatch, StringBuilder,
    },
    datatypes::{DataType, Field},
};
use indicatif::{ProgressBar, ProgressStyle};
use parquet::{
    basic::Compression,
    file::properties::{EnabledStatistics, WriterProperties},
    schema::types::ColumnPath,
};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::{
    Attribute, Catalog, IngestError, Result,
    catalog::ClaimedSize,
    catalog::Rejected,
    inspect::{DEFAULT_MAX_PIXELS, ImageInfo, inspect_encoded, inspect_rgb8},
    manifest::{Manifest, SourceInfo},
    tree::DEFAULT_MAX_MEMBER_BYTES,
};

/// What to do with a bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnError {
    /// Stop with an error naming the input; write nothing.
    #[default]
    Fail,
    /// Leave the input out, record it in `rejects.parquet`, and go on.
    Skip,
}

/// Options of the streaming pass.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Bad-input policy.
    pub on_error: OnError,
    /// Hide the progress bar.
    pub quiet: bool,
    /// Options to record in the manifest (format-specific settings).
    pub recorded_options: serde_json::Value,
    /// Files and archive members larger than this are rejected without being read.
    pub max_member_bytes: u64,
    /// Images of more pixels than this are rejected from their header, undecoded.
    pub max_pixels: u64,
    /// Replace an experiment of other data, removing its downstream tables.
    pub force: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            on_error: OnError::Fail,
            quiet: true,
            recorded_options: serde_json::Value::Null,
            max_member_bytes: DEFAULT_MAX_MEMBER_BYTES,
            max_pixels: DEFAULT_MAX_PIXELS,
            force: false,
        }
    }
}

/// Image bytes handed to the pipeline by a format reader.
#[derive(Debug)]
pub enum Payload {
    /// An encoded file (JPEG, PNG, …), kept as it is.
    Encoded(Vec<u8>),
    /// Raw interleaved RGB pixels.
    Rgb8 {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// `width * height * 3` bytes.
        pixels: Vec<u8>,
    },
    /// The reader found the input unusable (e.g. a short record), for this reason.
    Invalid(String),
}

/// One catalog entry's bytes.
#[derive(Debug)]
pub struct Item {
    /// Index into the catalog.
    pub index: usize,
    /// The bytes.
    pub payload: Payload,
}

/// What an ingest wrote.
#[derive(Debug, Clone)]
pub struct IngestSummary {
    /// The manifest as written.
    pub manifest: Manifest,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Tables written.
    pub written: Vec<PathBuf>,
    /// Stale tables of another dataset removed under `--force`.
    pub removed: Vec<PathBuf>,
}

const CHUNK_ITEMS: usize = 512;
const CHUNK_BYTES: usize = 32 << 20;
const BATCH_ROWS: usize = 2048;
const BATCH_BYTES: usize = 32 << 20;
const ROW_GROUP_BYTES: usize = 256 << 20;

/// Runs the streaming pass over `catalog`: `produce` is called once, on its own
/// thread, and must hand every entry's bytes to its callback (in any order).
pub fn ingest_catalog<P>(
    catalog: &Catalog,
    sources: &[SourceInfo],
    produce: P,
    out: &ExperimentDir,
    opts: &IngestOptions,
) -> Result<IngestSummary>
where
    P: FnOnce(&mut dyn FnMut(Item) -> Result<()>) -> Result<()> + Send,
{
    let start = Instant::now();
    let source_name = |i: usize| sources.get(i).map(|s| s.path.clone()).unwrap_or_default();
    if catalog.is_empty() {
        let where_ = sources.first().map(|s| s.path.clone()).unwrap_or_default();
        return Err(IngestError::Dataset {
            path: where_.into(),
            reason: "no images found".into(),
        });
    }
    let samples_contract = contract("samples").map_err(|e| IngestError::Dataset {
        path: out.samples(),
        reason: e.to_string(),
    })?;
    let schema = samples_contract.schema();
    let mut writer = TableWriter::create_with(out.samples(), samples_contract, schema.clone(), samples_properties())?;

    let progress = if opts.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(catalog.len() as u64)
    };
    progress.set_style(
        ProgressStyle::with_template("ingest {bar:40} {pos}/{len} images  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let mut seen = vec![false; catalog.len()];
    let mut stream_rejects: Vec<(usize, String)> = Vec::new();
    let mut digest = [0u64; 4];
    let mut sample_digests = vec![[0u8; 32]; catalog.len()];
    let mut builder = SampleBatch::default();

    let (tx, rx) = mpsc::sync_channel::<Vec<Item>>(2);
    let result: Result<()> = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut chunk = Vec::with_capacity(CHUNK_ITEMS);
            let mut bytes = 0usize;
            let mut push = |item: Item| -> Result<()> {
                bytes += match &item.payload {
                    Payload::Encoded(b) => b.len(),
                    Payload::Rgb8 { pixels, .. } => pixels.len(),
                    Payload::Invalid(_) => 0,
                };
                chunk.push(item);
                if chunk.len() >= CHUNK_ITEMS || bytes >= CHUNK_BYTES {
                    bytes = 0;
                    tx.send(std::mem::take(&mut chunk)).map_err(|_| cancelled())?;
                }
                Ok(())
            };
            produce(&mut push)?;
            if !chunk.is_empty() {
                tx.send(chunk).map_err(|_| cancelled())?;
            }
            Ok(())
        });
        let consumed: Result<()> = (|| {
            for chunk in rx.iter() {
                let checked: Vec<(Item, std::result::Result<ImageInfo, String>, [u8; 32])> = chunk
                    .into_par_iter()
                    .map(|item| {
                        let entry = &catalog.entries[item.index];
                        let info = match &item.payload {
                            Payload::Encoded(b) => inspect_encoded(b, opts.max_pixels),
                            Payload::Rgb8 { width, height, pixels } => inspect_rgb8(*width, *height, pixels),
                            Payload::Invalid(reason) => Err(reason.clone()),
                        }
                        .and_then(|info| check_claimed_size(entry.claimed_size.as_ref(), info));
                        let d = sample_digest(&entry.key, payload_bytes(&item.payload));
                        (item, info, d)
                    })
                    .collect();
                for (item, info, d) in checked {
                    let entry = &catalog.entries[item.index];
                    if std::mem::replace(&mut seen[item.index], true) {
                        return Err(IngestError::bad(
                            source_name(entry.source),
                            Some(&entry.member),
                            "the same member appears twice",
                        ));
                    }
                    match info {
                        Ok(info) => {
                            for (acc, x) in digest.iter_mut().zip(digest_lanes(&d)) {
                                *acc = acc.wrapping_add(x);
                            }
                            sample_digests[item.index] = d;
                            builder.append(
                                item.index as i64,
                                entry,
                                catalog.multi_label,
                                &catalog.class_name(entry),
                                &info,
                                item.payload,
                            );
                            if builder.rows >= BATCH_ROWS || builder.bytes >= BATCH_BYTES {
                                writer.write(&builder.finish(&schema)?)?;
                                if writer.in_progress_size() >= ROW_GROUP_BYTES {
                                    writer.flush()?;
                                }
                            }
                        }
                        Err(reason) => {
                            if opts.on_error == OnError::Fail {
                                return Err(IngestError::bad(source_name(entry.source), Some(&entry.member), reason));
                            }
                            stream_rejects.push((item.index, reason));
                        }
                    }
                    progress.inc(1);
                }
            }
            Ok(())
        })();
        drop(rx);
        let produced = reader.join().unwrap_or_else(|_| Err(cancelled()));
        // The consumer's error explains a cancelled producer, so it comes first.
        consumed?;
        produced
    });
    result?;
    if builder.rows > 0 {
        writer.write(&builder.finish(&schema)?)?;
    }
    progress.finish_and_clear();

    for (i, was_seen) in seen.iter().enumerate() {
        if !was_seen {
            let entry = &catalog.entries[i];
            let reason = "listed in the dataset's index but its image was not found".to_string();
            if opts.on_error == OnError::Fail {
                return Err(IngestError::bad(source_name(entry.source), Some(&entry.member), reason));
            }
            stream_rejects.push((i, reason));
        }
    }
    stream_rejects.sort_by_key(|(i, _)| *i);
    let dropped: Vec<usize> = stream_rejects.iter().map(|(i, _)| *i).collect();
    let final_id = |old: usize| old - dropped.partition_point(|&d| d < old);
    let kept: Vec<usize> = (0..catalog.len())
        .filter(|i| dropped.binary_search(i).is_err())
        .collect();
    let fingerprint = dataset_fingerprint(catalog, &kept, &final_id, &sample_digests);
    let mut digest_bytes = Vec::with_capacity(32);
    for x in digest {
        digest_bytes.extend_from_slice(&x.to_le_bytes());
    }
    let samples_digest = hex::encode(digest_bytes);
    let removed = make_room(out, &fingerprint, &samples_digest, opts.force)?;

    let mut written = Vec::new();
    writer.record_dataset(&fingerprint);
    let samples_path = if dropped.is_empty() {
        writer.finish()?
    } else {
        // Ids must stay dense: rewrite the (already bounded) row groups with new ids.
        // A temporary name of this process: a killed run's is removed by the next.
        let tmp_name = agree_schema::temporary_name("samples.unnumbered.parquet", std::process::id());
        let tmp_path = out.root().join(tmp_name);
        let staged = writer.finish_to(&tmp_path)?;
        let renumbered = renumber(&staged, out, &dropped, &fingerprint);
        let _ = std::fs::remove_file(&staged);
        renumbered?
    };
    written.push(samples_path);

    let attributes_path = out.attributes();
    if catalog.attribute_names.is_empty() {
        remove_stale(&attributes_path)?;
    } else {
        written.push(write_attributes(catalog, &kept, &final_id, out)?);
    }

    let mut rejects: Vec<Rejected> = catalog.rejected.clone();
    rejects.extend(stream_rejects.iter().map(|(i, reason)| {
        let e = &catalog.entries[*i];
        Rejected {
            source: source_name(e.source),
            member: Some(e.member.clone()),
            reason: reason.clone(),
        }
    }));
    if rejects.is_empty() {
        remove_stale(&out.rejects())?;
    } else {
        written.push(write_rejects(&rejects, out)?);
    }

    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for &i in &kept {
        let e = &catalog.entries[i];
        let per_class = counts.entry(e.split.as_str().to_string()).or_default();
        for &l in &e.labels {
            let name = catalog.classes.get(l as usize).cloned().unwrap_or_default();
            *per_class.entry(name).or_default() += 1;
        }
    }
    let manifest = Manifest {
        dataset: catalog.dataset.clone(),
        tool: format!("agree {}", env!("CARGO_PKG_VERSION")),
        created_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        sources: sources.to_vec(),
        classes: catalog.classes.clone(),
        multi_label: catalog.multi_label,
        samples: kept.len() as u64,
        rejected: rejects.len() as u64,
        counts,
        samples_digest,
        dataset_fingerprint: Some(fingerprint),
        options: opts.recorded_options.clone(),
    };
    written.push(manifest.write(&out.manifest())?);
    Ok(IngestSummary {
        manifest,
        seconds: start.elapsed().as_secs_f64(),
        written,
        removed,
    })
}

/// The writer settings of `samples.parquet`, the same for every format and for the
/// renumbering rewrite. The `image` column holds files that are already compressed
/// (PNG, JPEG) or raw pixels nobody filters on: compressing them again only costs
/// time, a dictionary of them never repeats, and min/max statistics of image bytes
/// (with the column index they feed) answer no query and only grow the footer.
fn samples_properties() -> WriterProperties {
    let image = || ColumnPath::from("image");
    writer_properties()
        .set_column_compression(image(), Compression::UNCOMPRESSED)
        .set_column_dictionary_enabled(image(), false)
        .set_column_statistics_enabled(image(), EnabledStatistics::None)
        .build()
}

fn cancelled() -> IngestError {
    IngestError::Dataset {
        path: PathBuf::new(),
        reason: "ingest cancelled".into(),
    }
}

fn payload_bytes(p: &Payload) -> &[u8] {
    match p {
        Payload::Encoded(b) => b,
        Payload::Rgb8 { pixels, .. } => pixels,
        Payload::Invalid(_) => &[],
    }
}

/// SHA-256 of (key, bytes).
fn sample_digest(key: &str, bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

/// A sample digest folded to four lanes, which the manifest's `samples_digest` sums
/// order-independently.
fn digest_lanes(d: &[u8; 32]) -> [u64; 4] {
    let mut lanes = [0u64; 4];
    for (lane, c) in lanes.iter_mut().zip(d.chunks_exact(8)) {
        *lane = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
    }
    lanes
}

/// The dataset fingerprint of the kept samples in final `sample_id` order.
fn dataset_fingerprint(
    catalog: &Catalog,
    kept: &[usize],
    final_id: &dyn Fn(usize) -> usize,
    digests: &[[u8; 32]],
) -> String {
    let mut b = FingerprintBuilder::new();
    for &i in kept {
        let e = &catalog.entries[i];
        b.add(final_id(i) as i64, e.split.as_str(), &e.key, &e.labels, &digests[i]);
    }
    b.finish()
}

/// An image whose real size differs from what the dataset's metadata states.
fn check_claimed_size(claimed: Option<&ClaimedSize>, info: ImageInfo) -> std::result::Result<ImageInfo, String> {
    match claimed {
        Some(c) if (c.width, c.height) != (info.width, info.height) => Err(format!(
            "{} states a size of {}x{}, but the image is {}x{}",
            c.by, c.width, c.height, info.width, info.height
        )),
        _ => Ok(info),
    }
}

/// Checks that `out` holds no experiment of other data before its samples are
/// replaced; under `force`, removes the other experiment's downstream outputs and
/// returns what it removed.
fn make_room(out: &ExperimentDir, fingerprint: &str, samples_digest: &str, force: bool) -> Result<Vec<PathBuf>> {
    let existing = match identity::current_fingerprint(out)? {
        Some(fp) if fp == fingerprint => return Ok(Vec::new()),
        Some(fp) => fp,
        // A manifest written before fingerprints: its digest of keys and bytes decides.
        None => match identity::manifest_field(out, "samples_digest")? {
            Some(d) if d == samples_digest => return Ok(Vec::new()),
            Some(d) => format!("unknown, samples_digest {d}"),
            None => return Ok(Vec::new()),
        },
    };
    if !force {
        return Err(IngestError::Dataset {
            path: out.root().to_path_buf(),
            reason: format!(
                "already holds an experiment on other data (dataset fingerprint {existing}); this ingest is \
                 dataset {fingerprint}. Refusing to mix them: use another --out, or --force to start afresh \
                 (removes its stats, predictions, checkpoints, results, report and scores)"
            ),
        });
    }
    Ok(identity::remove_downstream(out)?)
}

fn remove_stale(path: &std::path::Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(IngestError::io(path, e)),
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
    fn append(
        &mut self,
        id: i64,
        entry: &crate::CatalogEntry,
        multi_label: bool,
        class_name: &str,
        info: &ImageInfo,
        payload: Payload,
    ) {
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

    fn finish(&mut self, schema: &arrow::datatypes::SchemaRef) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.sample_id.finish()),
            Arc::new(self.split.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.label.finish()),
            Arc::new(self.labels.finish()),
            Arc::new(self.class_name.finish()),
            Arc::new(self.width.finish()),
            Arc::new(self.height.finish()),
            Arc::new(self.channels.finish()),
            Arc::new(self.bit_depth.finish()),
            Arc::new(self.format.finish()),
            Arc::new(self.image.finish()),
        ];
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(schema.clone(), columns).map_err(|source| IngestError::Arrow {
            table: "samples",
            source,
        })
    }
}

/// Rewrites the staged samples file with dense ids after rejections.
fn renumber(staged: &std::path::Path, out: &ExperimentDir, dropped: &[usize], fingerprint: &str) -> Result<PathBuf> {
    let samples_contract = contract("samples").map_err(|e| IngestError::Dataset {
        path: out.samples(),
        reason: e.to_string(),
    })?;
    let file = std::fs::File::open(staged).map_err(|e| IngestError::io(staged, e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(BATCH_ROWS).build())
        .map_err(|e| IngestError::bad(staged, None, e.to_string()))?;
    let schema = samples_contract.schema();
    let mut writer = TableWriter::create_with(out.samples(), samples_contract, schema.clone(), samples_properties())?;
    writer.record_dataset(fingerprint);
    for batch in reader {
        let batch = batch.map_err(|e| IngestError::bad(staged, None, e.to_string()))?;
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| IngestError::bad(staged, None, "sample_id is not int64"))?;
        let renumbered: Int64Array = ids
            .iter()
            .map(|v| v.map(|old| old - dropped.partition_point(|&d| (d as i64) < old) as i64))
            .collect();
        let mut columns = batch.columns().to_vec();
        columns[0] = Arc::new(renumbered);
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|source| IngestError::Arrow {
            table: "samples",
            source,
        })?;
        writer.write(&batch)?;
        if writer.in_progress_size() >= ROW_GROUP_BYTES {
            writer.flush()?;
        }
    }
    Ok(writer.finish()?)
}

fn write_attributes(
    catalog: &Catalog,
    kept: &[usize],
    final_id: &dyn Fn(usize) -> usize,
    out: &ExperimentDir,
) -> Result<PathBuf> {
    let attrs_contract = contract("attributes").map_err(|e| IngestError::Dataset {
        path: out.attributes(),
        reason: e.to_string(),
    })?;
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut ids = Int64Builder::with_capacity(kept.len());
    for &i in kept {
        ids.append_value(final_id(i) as i64);
    }
    columns.push(Arc::new(ids.finish()));
    for (col, name) in catalog.attribute_names.iter().enumerate() {
        let values = kept
            .iter()
            .map(|&i| catalog.entries[i].attributes.get(col).and_then(Option::as_ref));
        let first = values.clone().flatten().next();
        // With no value at all (every sample rejected) the contract's type decides.
        let declared = attrs_contract.column(name).map(|c| c.data_type.clone());
        let (array, dtype): (ArrayRef, DataType) = match (first, declared) {
            (Some(Attribute::Int(_)), _) | (None, Some(DataType::Int32)) => {
                let mut b = Int32Builder::new();
                for v in values {
                    b.append_option(if let Some(Attribute::Int(x)) = v {
                        Some(*x)
                    } else {
                        None
                    });
                }
                (Arc::new(b.finish()), DataType::Int32)
            }
            (Some(Attribute::Text(_)), _) | (None, Some(DataType::Utf8)) => {
                let mut b = StringBuilder::new();
                for v in values {
                    b.append_option(if let Some(Attribute::Text(x)) = v {
                        Some(x.as_str())
                    } else {
                        None
                    });
                }
                (Arc::new(b.finish()), DataType::Utf8)
            }
            _ => {
                let mut b = Float64Builder::new();
                for v in values {
                    b.append_option(match v {
                        Some(Attribute::Float(x)) => Some(*x),
                        Some(Attribute::Int(x)) => Some(*x as f64),
                        _ => None,
                    });
                }
                (Arc::new(b.finish()), DataType::Float64)
            }
        };
        let nullable = array.null_count() > 0 || attrs_contract.column(name).is_some_and(|c| c.nullable);
        fields.push(Field::new(name, dtype, nullable));
        columns.push(array);
    }
    let schema = attrs_contract.schema_with(&fields).map_err(|e| IngestError::Dataset {
        path: out.attributes(),
        reason: e.to_string(),
    })?;
    // schema_with orders contract columns first; reorder the arrays to match.
    let ordered: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.name() == "sample_id" {
                columns[0].clone()
            } else {
                let pos = catalog.attribute_names.iter().position(|n| n == f.name()).unwrap_or(0);
                columns[pos + 1].clone()
            }
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), ordered).map_err(|source| IngestError::Arrow {
        table: "attributes",
        source,
    })?;
    let mut writer = TableWriter::create(out.attributes(), attrs_contract, schema)?;
    writer.write(&batch)?;
    Ok(writer.finish()?)
}

fn write_rejects(rejects: &[Rejected], out: &ExperimentDir) -> Result<PathBuf> {
    let c = contract("rejects").map_err(|e| IngestError::Dataset {
        path: out.rejects(),
        reason: e.to_string(),
    })?;
    let mut source = StringBuilder::new();
    let mut member = StringBuilder::new();
    let mut reason = StringBuilder::new();
    for r in rejects {
        source.append_value(&r.source);
        member.append_option(r.member.as_deref());
        reason.append_value(&r.reason);
    }
    let batch = RecordBatch::try_new(
        c.schema(),
        vec![
            Arc::new(source.finish()),
            Arc::new(member.finish()),
            Arc::new(reason.finish()),
        ],
    )
    .map_err(|source| IngestError::Arrow {
        table: "rejects",
        source,
    })?;
    let mut writer = TableWriter::create(out.rejects(), c, c.schema())?;
    writer.write(&batch)?;
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
        let splits = splits.as_any().downcast_ref::<arrow::array::StringArray>().cloned();
        let keys = keys.as_any().downcast_ref::<arrow::array::StringArray>().cloned();
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
