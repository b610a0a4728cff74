//! CIFAR-10 as distributed: the binary archive `cifar-10-binary.tar.gz` (or its
//! extracted folder) of records of 1 label byte + 3072 bytes of R, G, B planes
//! (32×32), `data_batch_1..5.bin` = train, `test_batch.bin` = test. A tree without
//! batch files is read as an ImageFolder of PNG/JPEG files instead.
//!
//! Records are stored as raw interleaved RGB (`format = rgb8`) under the key
//! `<batch file>#<record index, 5 digits>`, so `sample_id` follows the official order.

use std::path::{Path, PathBuf};

use agree_schema::ExperimentDir;

use crate::{
    Catalog, CatalogEntry, IngestError, Result, Split, imagefolder,
    manifest::SourceInfo,
    pipeline::{IngestOptions, IngestSummary, Item, OnError, Payload, ingest_catalog},
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

/// Ingests CIFAR-10 from binary archives/folders (or ImageFolder trees) into `out`.
pub fn ingest(inputs: &[PathBuf], out: &Path, opts: &IngestOptions) -> Result<IngestSummary> {
    let trees = inputs.iter().map(|p| InputTree::open(p)).collect::<Result<Vec<_>>>()?;
    let mut sources = Vec::new();
    let mut batches = Vec::new();
    let mut meta: Option<Vec<String>> = None;
    for (t, tree) in trees.iter().enumerate() {
        let (entries, sha256) = tree.scan(|p| batch_split(p).is_some() || p.ends_with("batches.meta.txt"))?;
        sources.push(SourceInfo {
            path: tree.path().display().to_string(),
            sha256,
            url: None,
        });
        for e in entries {
            let Some(content) = e.content else { continue };
            if e.path.ends_with("batches.meta.txt") {
                let names: Vec<String> = String::from_utf8_lossy(&content)
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect();
                if names.is_empty() {
                    return Err(IngestError::bad(
                        tree.path(),
                        Some(&e.path),
                        "batches.meta.txt lists no class names",
                    ));
                }
                meta = Some(names);
            } else {
                batches.push(Batch {
                    source: t,
                    member: e.path,
                    bytes: content,
                });
            }
        }
    }
    if batches.is_empty() {
        // The other distributed layout: an ImageFolder of PNG/JPEG files.
        let (catalog, sources) = imagefolder::catalog("cifar10", &trees, opts.on_error)?;
        return ingest_catalog(
            &catalog,
            &sources,
            |push| imagefolder::stream_trees(&catalog, &trees, push),
            &ExperimentDir::new(out),
            opts,
        );
    }
    let classes = meta.unwrap_or_else(|| CLASSES.iter().map(|s| s.to_string()).collect());
    let mut entries = Vec::new();
    let mut rejected = Vec::new();
    for b in &batches {
        let source_name = &sources[b.source].path;
        let Some(split) = batch_split(&b.member) else { continue };
        let file = b.member.rsplit('/').next().unwrap_or(&b.member);
        let whole = b.bytes.len() / RECORD_BYTES;
        if b.bytes.len() % RECORD_BYTES != 0 {
            let reason = format!(
                "short record {whole}: {} bytes where a record has {RECORD_BYTES}",
                b.bytes.len() % RECORD_BYTES
            );
            imagefolder::reject(
                &mut rejected,
                opts.on_error,
                source_name,
                &format!("{}#{whole:05}", b.member),
                reason,
            )?;
        }
        for r in 0..whole {
            let label = b.bytes[r * RECORD_BYTES];
            let member = format!("{}#{r:05}", b.member);
            if label as usize >= classes.len() {
                let reason = format!("label byte {label} is not a class (0..{})", classes.len() - 1);
                imagefolder::reject(&mut rejected, opts.on_error, source_name, &member, reason)?;
                continue;
            }
            entries.push(CatalogEntry {
                split,
                key: format!("{file}#{r:05}"),
                labels: vec![label as i32],
                source: b.source,
                member,
                attributes: vec![],
            });
        }
    }
    let names: Vec<String> = sources.iter().map(|s| s.path.clone()).collect();
    let catalog = Catalog::new(
        "cifar10",
        classes,
        false,
        vec![],
        entries,
        rejected,
        &names,
        opts.on_error == OnError::Skip,
    )?;
    let produce = |push: &mut dyn FnMut(Item) -> Result<()>| -> Result<()> {
        for b in &batches {
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
    };
    ingest_catalog(&catalog, &sources, produce, &ExperimentDir::new(out), opts)
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
    fn an_empty_class_list_is_an_error_not_a_panic() {
        // Found by fuzz target cifar10_batch: an empty batches.meta.txt beside a batch
        // whose first record has label byte 0xc7 (the crash input's first bytes).
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("in/cifar-10-batches-bin");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("batches.meta.txt"), b"").unwrap();
        let mut batch = vec![0xc7, 0x0a];
        batch.resize(RECORD_BYTES + 317, 0xb1);
        std::fs::write(dir.join("data_batch_1.bin"), batch).unwrap();
        let opts = IngestOptions {
            on_error: OnError::Skip,
            quiet: true,
            recorded_options: serde_json::Value::Null,
        };
        let err = ingest(&[tmp.path().join("in")], &tmp.path().join("out"), &opts)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("batches.meta.txt") && err.contains("no class names"),
            "{err}"
        );
    }

    #[test]
    fn batch_files_map_to_splits() {
        assert_eq!(batch_split("cifar-10-batches-bin/data_batch_3.bin"), Some(Split::Train));
        assert_eq!(batch_split("test_batch.bin"), Some(Split::Test));
        assert_eq!(batch_split("readme.html"), None);
    }
}
