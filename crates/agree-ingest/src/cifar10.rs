//! CIFAR-10 as distributed: the binary archive `cifar-10-binary.tar.gz` (or its
//! extracted folder) of records of 1 label byte + 3072 bytes of R, G, B planes
//! (32×32), `data_batch_1..5.bin` = train, `test_batch.bin` = test. A tree without
//! batch files is read as an ImageFolder of PNG/JPEG files instead.
//!
//! Records are stored as raw interleaved RGB (`format = rgb8`) under the key
//! `<batch file>#<record index, 5 digits>`, so `sample_id` follows the official order.

use std::path::{Path, PathBuf};

use crate::{
    Catalog, CatalogEntry, CatalogParts, IngestError, Result, Split,
    catalog::Rejected,
    dataset::{self, Catalogued, DatasetReader, scan_source},
    imagefolder,
    manifest::SourceInfo,
    pipeline::{IngestOptions, IngestSummary, Item, OnError, Payload},
    tree::InputTree,
};

/// Bytes of one CIFAR-10 binary record.
pub const RECORD_BYTES: usize = 1 + 3 * 32 * 32;

/// The official class names, used when `batches.meta.txt` is absent.
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

fn batch_split(name: &str) -> Option<Split> {
    let file = name.rsplit('/').next().unwrap_or(name);
    if file == "test_batch.bin" {
        Some(Split::Test)
    } else if file.starts_with("data_batch_") && file.ends_with(".bin") {
        Some(Split::Train)
    } else {
        None
    }
}

/// Converts one record's planar R, G, B bytes into interleaved RGB.
pub fn planar_to_interleaved(planes: &[u8]) -> Vec<u8> {
    let n = planes.len() / 3;
    let mut out = vec![0u8; n * 3];
    for (i, px) in out.chunks_exact_mut(3).enumerate() {
        px[0] = planes[i];
        px[1] = planes[n + i];
        px[2] = planes[2 * n + i];
    }
    out
}

/// A batch file read whole during cataloguing.
struct Batch {
    source: usize,
    member: String,
    bytes: Vec<u8>,
}

/// `batches.meta.txt`: (input, member, class names).
type ClassList = (String, String, Vec<String>);

/// CIFAR-10 as a dataset: binary batch files, or an ImageFolder of PNG/JPEG files
/// when the inputs hold none.
struct Cifar10 {
    trees: Vec<InputTree>,
    /// The batch files, read by [`DatasetReader::catalogue`].
    batches: Vec<Batch>,
}

impl DatasetReader for Cifar10 {
    fn catalogue(&mut self, on_error: OnError) -> Result<Catalogued> {
        let mut rejected = Vec::new();
        let (sources, meta) = self.read_batches(&mut rejected, on_error)?;
        if self.batches.is_empty() {
            // The other distributed layout: an ImageFolder of PNG/JPEG files.
            return imagefolder::catalog("cifar10", &self.trees, on_error);
        }
        let classes = class_names(meta)?;
        let entries = record_entries(&self.batches, &sources, &classes, &mut rejected, on_error)?;
        let parts = CatalogParts {
            dataset: "cifar10".into(),
            classes,
            multi_label: false,
            attribute_names: vec![],
            entries,
            rejected,
            on_duplicate: on_error,
        };
        Catalogued::new(parts, sources)
    }

    fn stream(&self, catalog: &Catalog, push: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
        if self.batches.is_empty() {
            return imagefolder::stream_trees(catalog, &self.trees, push);
        }
        for b in &self.batches {
            for (r, record) in b.bytes.chunks_exact(RECORD_BYTES).enumerate() {
                if let Some(index) = catalog.index_of(b.source, &format!("{}#{r:05}", b.member)) {
                    let pixels = planar_to_interleaved(&record[1..]);
                    push(Item {
                        index,
                        payload: Payload::Rgb8 {
                            width: 32,
                            height: 32,
                            pixels,
                        },
                    })?;
                }
            }
        }
        Ok(())
    }
}

impl Cifar10 {
    /// Scans every input, keeping its batch files and `batches.meta.txt`.
    fn read_batches(
        &mut self,
        rejected: &mut Vec<Rejected>,
        on_error: OnError,
    ) -> Result<(Vec<SourceInfo>, Option<ClassList>)> {
        let mut sources = Vec::new();
        let mut meta = None;
        for (t, tree) in self.trees.iter().enumerate() {
            let wanted = |p: &str| batch_split(p).is_some() || p.ends_with("batches.meta.txt");
            let (source, entries) = scan_source(tree, wanted, rejected, on_error)?;
            for e in entries {
                let Some(content) = e.content else { continue };
                if e.path.ends_with("batches.meta.txt") {
                    let names: Vec<String> = String::from_utf8_lossy(&content)
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_string)
                        .collect();
                    meta = Some((source.path.clone(), e.path, names));
                } else {
                    self.batches.push(Batch {
                        source: t,
                        member: e.path,
                        bytes: content,
                    });
                }
            }
            sources.push(source);
        }
        Ok((sources, meta))
    }
}

/// The class names: `batches.meta.txt`'s (which must name some), or the official ones.
fn class_names(meta: Option<ClassList>) -> Result<Vec<String>> {
    match meta {
        Some((source, member, names)) if names.is_empty() => Err(IngestError::bad(
            source,
            Some(&member),
            "names no classes (the file is empty)",
        )),
        Some((_, _, names)) => Ok(names),
        None => Ok(CLASSES.iter().map(|s| s.to_string()).collect()),
    }
}

/// One entry per whole record of every batch file; a short trailing record or a
/// label byte that names no class is rejected.
fn record_entries(
    batches: &[Batch],
    sources: &[SourceInfo],
    classes: &[String],
    rejected: &mut Vec<Rejected>,
    on_error: OnError,
) -> Result<Vec<CatalogEntry>> {
    let mut entries = Vec::new();
    for b in batches {
        let source_name = &sources[b.source].path;
        let Some(split) = batch_split(&b.member) else { continue };
        let file = b.member.rsplit('/').next().unwrap_or(&b.member);
        let whole = b.bytes.len() / RECORD_BYTES;
        if b.bytes.len() % RECORD_BYTES != 0 {
            let reason = format!(
                "short record {whole}: {} bytes where a record has {RECORD_BYTES}",
                b.bytes.len() % RECORD_BYTES
            );
            let member = format!("{}#{whole:05}", b.member);
            imagefolder::reject(rejected, on_error, source_name, &member, reason)?;
        }
        for r in 0..whole {
            let label = b.bytes[r * RECORD_BYTES];
            let member = format!("{}#{r:05}", b.member);
            if label as usize >= classes.len() {
                let reason = format!("label byte {label} is not a class (0..{})", classes.len() - 1);
                imagefolder::reject(rejected, on_error, source_name, &member, reason)?;
                continue;
            }
            entries.push(CatalogEntry {
                split,
                key: format!("{file}#{r:05}"),
                labels: vec![label as i32],
                source: b.source,
                member,
                attributes: vec![],
                claimed_size: None,
            });
        }
    }
    Ok(entries)
}

/// Ingests CIFAR-10 from binary archives/folders (or ImageFolder trees) into `out`.
pub fn ingest(inputs: &[PathBuf], out: &Path, opts: &IngestOptions) -> Result<IngestSummary> {
    let mut reader = Cifar10 {
        trees: InputTree::open_all(inputs, opts.max_member_bytes)?,
        batches: Vec::new(),
    };
    dataset::ingest(&mut reader, out, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_become_pixels() {
        // 2 pixels: R plane [1,2], G plane [3,4], B plane [5,6].
        assert_eq!(planar_to_interleaved(&[1, 2, 3, 4, 5, 6]), vec![1, 3, 5, 2, 4, 6]);
    }

    #[test]
    fn batch_files_map_to_splits() {
        assert_eq!(batch_split("cifar-10-batches-bin/data_batch_3.bin"), Some(Split::Train));
        assert_eq!(batch_split("test_batch.bin"), Some(Split::Test));
        assert_eq!(batch_split("readme.html"), None);
    }
}
