//! The streaming pass shared by every format, as named phases: stream the image bytes
//! in the source's order while validating them in parallel and writing `samples`;
//! settle which samples were kept (and so the dataset's identity); write the side
//! tables `attributes` and `rejects`; write the manifest. Every table appears
//! atomically.

use std::{collections::BTreeMap, path::PathBuf, sync::mpsc, time::Instant};

pub use agree_schema::OnError;
use agree_schema::{
    ExperimentDir,
    identity::{self, FingerprintBuilder},
};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::{
    Catalog, IngestError, Result,
    catalog::ClaimedSize,
    catalog::Rejected,
    inspect::{DEFAULT_MAX_PIXELS, ImageInfo, inspect_encoded, inspect_rgb8},
    manifest::{Manifest, SourceInfo},
    samples_table::{SampleRow, SamplesWriter},
    side_tables::{write_attributes_or_remove, write_rejects_or_remove},
    tree::DEFAULT_MAX_MEMBER_BYTES,
};

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
    if catalog.is_empty() {
        return Err(IngestError::Dataset {
            path: source_name(sources, 0).into(),
            reason: "no images found".into(),
        });
    }
    let mut samples = SamplesWriter::create(out)?;
    let streamed = stream_samples(catalog, sources, produce, &mut samples, opts)?;
    let kept = settle(catalog, sources, streamed, opts.on_error)?;
    let removed = make_room(out, &kept.fingerprint, &kept.samples_digest, opts.force)?;
    let mut written = vec![samples.finish(out, &kept.dropped, &kept.fingerprint)?];
    written.extend(write_attributes_or_remove(catalog, &kept, out)?);
    let rejects = all_rejects(catalog, sources, &kept);
    written.extend(write_rejects_or_remove(&rejects, out)?);
    let manifest = manifest_of(catalog, sources, &kept, rejects.len(), opts);
    written.push(manifest.write(&out.manifest())?);
    Ok(IngestSummary {
        manifest,
        seconds: start.elapsed().as_secs_f64(),
        written,
        removed,
    })
}

/// The name of input `i` as rejects and errors give it (empty when there is none).
fn source_name(sources: &[SourceInfo], i: usize) -> String {
    sources.get(i).map(|s| s.path.clone()).unwrap_or_default()
}

/// What the stream learnt about the catalogue's entries.
struct Streamed {
    /// Whether each entry's bytes arrived.
    seen: Vec<bool>,
    /// Entries whose bytes were unusable, with the reason.
    rejects: Vec<(usize, String)>,
    /// The order-independent sum of the accepted samples' digests (`samples_digest`).
    digest: [u64; 4],
    /// Each accepted sample's digest of (key, bytes).
    sample_digests: Vec<[u8; 32]>,
}

impl Streamed {
    fn new(len: usize) -> Self {
        Streamed {
            seen: vec![false; len],
            rejects: Vec::new(),
            digest: [0; 4],
            sample_digests: vec![[0; 32]; len],
        }
    }
}

/// The stream phase: `produce` runs on its own thread and hands over chunks of items;
/// each chunk is validated in parallel, then its samples are written in order of
/// arrival. The consumer's error explains a cancelled producer, so it comes first.
fn stream_samples<P>(
    catalog: &Catalog,
    sources: &[SourceInfo],
    produce: P,
    samples: &mut SamplesWriter,
    opts: &IngestOptions,
) -> Result<Streamed>
where
    P: FnOnce(&mut dyn FnMut(Item) -> Result<()>) -> Result<()> + Send,
{
    let progress = progress_bar(catalog.len(), opts.quiet);
    let mut streamed = Streamed::new(catalog.len());
    let (tx, rx) = mpsc::sync_channel::<Vec<Item>>(2);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || produce_chunks(produce, tx));
        let consumed: Result<()> = rx.iter().try_for_each(|chunk| {
            for checked in check_chunk(catalog, chunk, opts.max_pixels) {
                streamed.accept(catalog, sources, checked, samples, opts.on_error)?;
                progress.inc(1);
            }
            Ok(())
        });
        drop(rx);
        let produced = reader.join().unwrap_or_else(|_| Err(cancelled()));
        consumed?;
        produced
    })?;
    samples.write_batch()?;
    progress.finish_and_clear();
    Ok(streamed)
}

fn progress_bar(len: usize, quiet: bool) -> ProgressBar {
    let progress = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(len as u64)
    };
    progress.set_style(
        ProgressStyle::with_template("ingest {bar:40} {pos}/{len} images  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress
}

/// The producer's side of the stream: runs `produce`, sending its items in chunks of
/// bounded count and bytes.
fn produce_chunks<P>(produce: P, tx: mpsc::SyncSender<Vec<Item>>) -> Result<()>
where
    P: FnOnce(&mut dyn FnMut(Item) -> Result<()>) -> Result<()>,
{
    let mut chunk = Vec::with_capacity(CHUNK_ITEMS);
    let mut bytes = 0usize;
    let mut push = |item: Item| -> Result<()> {
        bytes += payload_bytes(&item.payload).len();
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
}

/// An item with what its validation found: the image's header information (or why
/// it is unusable) and the digest of (key, bytes).
type Checked = (Item, std::result::Result<ImageInfo, String>, [u8; 32]);

/// Validates a chunk of items in parallel, keeping their order.
fn check_chunk(catalog: &Catalog, chunk: Vec<Item>, max_pixels: u64) -> Vec<Checked> {
    chunk
        .into_par_iter()
        .map(|item| {
            let entry = &catalog.entries[item.index];
            let info = match &item.payload {
                Payload::Encoded(b) => inspect_encoded(b, max_pixels),
                Payload::Rgb8 { width, height, pixels } => inspect_rgb8(*width, *height, pixels),
                Payload::Invalid(reason) => Err(reason.clone()),
            }
            .and_then(|info| check_claimed_size(entry.claimed_size.as_ref(), info));
            let d = sample_digest(&entry.key, payload_bytes(&item.payload));
            (item, info, d)
        })
        .collect()
}

impl Streamed {
    /// Takes one checked item: writes its row, or records (or, failing, returns) why
    /// it is rejected. An entry whose bytes arrive twice is an error.
    fn accept(
        &mut self,
        catalog: &Catalog,
        sources: &[SourceInfo],
        (item, info, digest): Checked,
        samples: &mut SamplesWriter,
        on_error: OnError,
    ) -> Result<()> {
        let entry = &catalog.entries[item.index];
        let bad = |reason: String| IngestError::bad(source_name(sources, entry.source), Some(&entry.member), reason);
        if std::mem::replace(&mut self.seen[item.index], true) {
            return Err(bad("the same member appears twice".into()));
        }
        let info = match info {
            Ok(info) => info,
            Err(reason) if on_error == OnError::Fail => return Err(bad(reason)),
            Err(reason) => {
                self.rejects.push((item.index, reason));
                return Ok(());
            }
        };
        for (acc, x) in self.digest.iter_mut().zip(digest_lanes(&digest)) {
            *acc = acc.wrapping_add(x);
        }
        self.sample_digests[item.index] = digest;
        let row = SampleRow {
            id: item.index as i64,
            entry,
            multi_label: catalog.multi_label,
            class_name: &catalog.class_name(entry),
            info: &info,
        };
        samples.append(row, item.payload)
    }
}

/// Which catalogue entries became samples, under which final ids, and the identity
/// of the dataset they make.
pub(crate) struct Kept {
    /// Catalogue indices rejected while streaming, with the reason, in index order.
    rejects: Vec<(usize, String)>,
    /// The rejected catalogue indices, sorted.
    dropped: Vec<usize>,
    /// The kept catalogue indices, sorted.
    kept: Vec<usize>,
    /// The dataset fingerprint of the kept samples.
    fingerprint: String,
    /// The order-independent digest of the kept samples' keys and bytes.
    samples_digest: String,
}

impl Kept {
    /// The kept catalogue indices, in `sample_id` order.
    pub(crate) fn indices(&self) -> &[usize] {
        &self.kept
    }

    /// The final (dense) `sample_id` of kept catalogue index `old`.
    pub(crate) fn final_id(&self, old: usize) -> usize {
        old - self.dropped.partition_point(|&d| d < old)
    }
}

/// The settle phase: entries whose bytes never arrived are rejected (or fail the
/// ingest), and the kept samples get dense ids and the dataset its fingerprint.
fn settle(catalog: &Catalog, sources: &[SourceInfo], streamed: Streamed, on_error: OnError) -> Result<Kept> {
    let Streamed {
        seen,
        mut rejects,
        digest,
        sample_digests,
    } = streamed;
    for (i, was_seen) in seen.iter().enumerate() {
        if !was_seen {
            let entry = &catalog.entries[i];
            let reason = "listed in the dataset's index but its image was not found".to_string();
            if on_error == OnError::Fail {
                return Err(IngestError::bad(
                    source_name(sources, entry.source),
                    Some(&entry.member),
                    reason,
                ));
            }
            rejects.push((i, reason));
        }
    }
    rejects.sort_by_key(|(i, _)| *i);
    let dropped: Vec<usize> = rejects.iter().map(|(i, _)| *i).collect();
    let kept = (0..catalog.len())
        .filter(|i| dropped.binary_search(i).is_err())
        .collect();
    let mut result = Kept {
        rejects,
        dropped,
        kept,
        fingerprint: String::new(),
        samples_digest: hex::encode(digest.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()),
    };
    result.fingerprint = dataset_fingerprint(catalog, &result, &sample_digests);
    Ok(result)
}

/// Every rejected input: the catalogue's, then the stream's in catalogue order.
fn all_rejects(catalog: &Catalog, sources: &[SourceInfo], kept: &Kept) -> Vec<Rejected> {
    let mut rejects: Vec<Rejected> = catalog.rejected.clone();
    rejects.extend(kept.rejects.iter().map(|(i, reason)| {
        let e = &catalog.entries[*i];
        Rejected {
            source: source_name(sources, e.source),
            member: Some(e.member.clone()),
            reason: reason.clone(),
        }
    }));
    rejects
}

/// The manifest phase: what was ingested, from where, and how many of each class.
fn manifest_of(
    catalog: &Catalog,
    sources: &[SourceInfo],
    kept: &Kept,
    rejected: usize,
    opts: &IngestOptions,
) -> Manifest {
    Manifest {
        dataset: catalog.dataset.clone(),
        tool: format!("agree {}", env!("CARGO_PKG_VERSION")),
        created_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        sources: sources.to_vec(),
        classes: catalog.classes.clone(),
        multi_label: catalog.multi_label,
        samples: kept.kept.len() as u64,
        rejected: rejected as u64,
        counts: class_counts(catalog, kept),
        samples_digest: kept.samples_digest.clone(),
        dataset_fingerprint: Some(kept.fingerprint.clone()),
        options: opts.recorded_options.clone(),
    }
}

/// Kept samples per split and class (a multi-label sample counts once per class).
fn class_counts(catalog: &Catalog, kept: &Kept) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for &i in &kept.kept {
        let e = &catalog.entries[i];
        let per_class = counts.entry(e.split.as_str().to_string()).or_default();
        for &l in &e.labels {
            let name = catalog.classes.get(l as usize).cloned().unwrap_or_default();
            *per_class.entry(name).or_default() += 1;
        }
    }
    counts
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
fn dataset_fingerprint(catalog: &Catalog, kept: &Kept, digests: &[[u8; 32]]) -> String {
    let mut b = FingerprintBuilder::new();
    for &i in kept.indices() {
        let e = &catalog.entries[i];
        b.add(
            kept.final_id(i) as i64,
            e.split.as_str(),
            &e.key,
            &e.labels,
            &digests[i],
        );
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
