//! Experiment identity: which dataset an experiment directory's tables were computed
//! on. Ingest records a *dataset fingerprint* — SHA-256 over the ordered
//! `(sample_id, split, key, labels, image digest)` of every sample — in
//! `manifest.json` and in the key-value metadata of `samples.parquet`; every later
//! stage records the fingerprint it was computed on (Parquet metadata of its tables,
//! or a `dataset.json` stamp in its folders) and refuses to add to, or resume from,
//! outputs made on other data.

use std::{
    collections::BTreeMap,
    fs::File,
    path::{Path, PathBuf},
};

use parquet::file::{metadata::KeyValue, reader::FileReader, serialized_reader::SerializedFileReader};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{AtomicPath, ExperimentDir, TableFileError};

/// Key of the dataset fingerprint in a Parquet file's key-value metadata.
pub const FINGERPRINT_KEY: &str = "agree.dataset_fingerprint";

/// File name of the fingerprint stamp a stage leaves in an output folder.
pub const STAMP_FILE: &str = "dataset.json";

/// Why an identity check could not be made, or failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A manifest, stamp or table footer is not what it should be.
    #[error("{path}: {message}")]
    Malformed {
        /// The file or folder concerned.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Writing a file atomically failed.
    #[error(transparent)]
    Table(#[from] TableFileError),
    /// Outputs already in the directory were computed on another dataset.
    #[error(
        "{dir}: {what} was computed on dataset {recorded}, but samples.parquet now holds dataset {current}; {remedy}"
    )]
    OtherDataset {
        /// The folder concerned.
        dir: PathBuf,
        /// What was recorded.
        what: String,
        /// The recorded value.
        recorded: String,
        /// The current value.
        current: String,
        /// How to fix it.
        remedy: String,
    },
}

/// One input of an ingest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceInfo {
    /// The path as given.
    pub path: String,
    /// SHA-256 of the file (archives and single files; null for directories).
    pub sha256: Option<String>,
    /// Where it was downloaded from, if it was.
    pub url: Option<String>,
}

/// `manifest.json`: what was ingested, from where, and how many of each.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Dataset name (`cifar10`, `imagefolder`, `kth-tips2b`, `voc`, `synthetic`).
    pub dataset: String,
    /// Tool and version that wrote it.
    pub tool: String,
    /// When it was written (seconds since the Unix epoch).
    pub created_unix_s: u64,
    /// Inputs with their checksums.
    pub sources: Vec<SourceInfo>,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Whether samples have label sets.
    pub multi_label: bool,
    /// Samples written.
    pub samples: u64,
    /// Inputs rejected (see `rejects.parquet`).
    pub rejected: u64,
    /// Samples per split and class (a multi-label sample counts once per class).
    pub counts: BTreeMap<String, BTreeMap<String, u64>>,
    /// Order-independent digest of every sample's key and bytes, for change detection.
    pub samples_digest: String,
    /// The dataset fingerprint (see [`FingerprintBuilder`]); absent in manifests
    /// written before it existed.
    #[serde(default)]
    pub dataset_fingerprint: Option<String>,
    /// Format-specific options of the ingest.
    pub options: serde_json::Value,
}

impl Manifest {
    /// Writes the manifest atomically.
    pub fn write(&self, path: &Path) -> Result<PathBuf, IdentityError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| IdentityError::Malformed {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        write_atomic(path, &(text + "\n"))
    }

    /// Reads a manifest.
    pub fn read(path: &Path) -> Result<Self, IdentityError> {
        let text = std::fs::read_to_string(path).map_err(|source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| IdentityError::Malformed {
            path: path.to_path_buf(),
            message: format!("malformed manifest: {e}"),
        })
    }

    /// The manifest of an experiment directory, if it has one.
    pub fn read_in(dir: &ExperimentDir) -> Result<Option<Self>, IdentityError> {
        let path = dir.manifest();
        if !path.exists() {
            return Ok(None);
        }
        Self::read(&path).map(Some)
    }
}

fn write_atomic(path: &Path, text: &str) -> Result<PathBuf, IdentityError> {
    let tmp = AtomicPath::new(path)?;
    std::fs::write(tmp.tmp(), text).map_err(|source| IdentityError::Io {
        path: tmp.tmp().to_path_buf(),
        source,
    })?;
    Ok(tmp.commit()?)
}

/// Builds a dataset fingerprint from the samples in `sample_id` order.
#[derive(Clone, Default)]
pub struct FingerprintBuilder {
    hasher: Sha256,
}

impl FingerprintBuilder {
    /// An empty fingerprint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next sample; `image_digest` is a digest of its stored bytes.
    pub fn add(&mut self, sample_id: i64, split: &str, key: &str, labels: &[i32], image_digest: &[u8]) {
        let h = &mut self.hasher;
        h.update(sample_id.to_le_bytes());
        for text in [split, key] {
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
        h.update((labels.len() as u64).to_le_bytes());
        for l in labels {
            h.update(l.to_le_bytes());
        }
        h.update((image_digest.len() as u64).to_le_bytes());
        h.update(image_digest);
    }

    /// The fingerprint as 64 lowercase hex digits.
    pub fn finish(self) -> String {
        self.hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The key-value entry that records `fingerprint` in a Parquet footer.
pub fn fingerprint_metadata(fingerprint: &str) -> KeyValue {
    KeyValue::new(FINGERPRINT_KEY.to_string(), fingerprint.to_string())
}

/// The fingerprint recorded in a Parquet table's footer; `None` when the file does not
/// exist or records none (tables written before fingerprints, or by hand).
pub fn table_fingerprint(path: &Path) -> Result<Option<String>, IdentityError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(IdentityError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let reader = SerializedFileReader::new(file).map_err(|e| IdentityError::Malformed {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let found = reader.metadata().file_metadata().key_value_metadata().and_then(|kv| {
        kv.iter()
            .find(|e| e.key == FINGERPRINT_KEY)
            .and_then(|e| e.value.clone())
    });
    Ok(found)
}

/// The fingerprint of the dataset an experiment directory holds now: that of its
/// `samples.parquet`, or failing that of its `manifest.json`.
pub fn current_fingerprint(dir: &ExperimentDir) -> Result<Option<String>, IdentityError> {
    if let Some(fp) = table_fingerprint(&dir.samples())? {
        return Ok(Some(fp));
    }
    manifest_field(dir, "dataset_fingerprint")
}

/// One text field of `manifest.json`, read leniently (hand-written manifests of
/// tests and older tools hold only some fields); `None` without a manifest.
pub fn manifest_field(dir: &ExperimentDir, field: &str) -> Result<Option<String>, IdentityError> {
    let path = dir.manifest();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(IdentityError::Io { path, source }),
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| IdentityError::Malformed {
        path: path.clone(),
        message: format!("malformed manifest: {e}"),
    })?;
    Ok(value.get(field).and_then(|v| v.as_str()).map(str::to_string))
}

#[derive(Debug, Serialize, Deserialize)]
struct Stamp {
    dataset_fingerprint: String,
}

/// The fingerprint stamped on an output folder, if any.
pub fn read_stamp(folder: &Path) -> Result<Option<String>, IdentityError> {
    let path = folder.join(STAMP_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(IdentityError::Io { path, source }),
    };
    let stamp: Stamp = serde_json::from_str(&text).map_err(|e| IdentityError::Malformed {
        path: path.clone(),
        message: format!("malformed fingerprint stamp: {e}"),
    })?;
    Ok(Some(stamp.dataset_fingerprint))
}

/// Refuses when `recorded` (what an existing output was computed on) and `current`
/// (the dataset now) are both known and differ. `what` names the output.
pub fn require_same_dataset(
    dir: &Path,
    what: &str,
    recorded: Option<&str>,
    current: Option<&str>,
    remedy: &str,
) -> Result<(), IdentityError> {
    match (recorded, current) {
        (Some(r), Some(c)) if r != c => Err(IdentityError::OtherDataset {
            dir: dir.to_path_buf(),
            what: what.to_string(),
            recorded: r.to_string(),
            current: c.to_string(),
            remedy: remedy.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Checks that no output folder of `folders` (path, name for messages) holds anything
/// made on another dataset than `current`, then stamps each with `current` (creating
/// it), so that later runs can check in turn. Stamps nothing when any check fails, or
/// when the current dataset has no fingerprint.
pub fn claim_folders(folders: &[(&Path, &str)], current: Option<&str>, remedy: &str) -> Result<(), IdentityError> {
    let Some(current) = current else { return Ok(()) };
    let mut unstamped = Vec::new();
    for (folder, what) in folders {
        let recorded = read_stamp(folder)?;
        require_same_dataset(folder, what, recorded.as_deref(), Some(current), remedy)?;
        if recorded.is_none() {
            unstamped.push(*folder);
        }
    }
    let text = serde_json::to_string_pretty(&Stamp {
        dataset_fingerprint: current.to_string(),
    })
    .unwrap_or_default();
    for folder in unstamped {
        write_atomic(&folder.join(STAMP_FILE), &(text.clone() + "\n"))?;
    }
    Ok(())
}

/// Removes every output computed from the samples of `dir` (see
/// [`ExperimentDir::downstream_of_samples`]); returns the paths that were there.
pub fn remove_downstream(dir: &ExperimentDir) -> Result<Vec<PathBuf>, IdentityError> {
    let mut removed = Vec::new();
    for path in dir.downstream_of_samples() {
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match result {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(IdentityError::Io { path, source }),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (sample_id, split, key, labels, image digest) of one sample.
    type SampleRow<'a> = (i64, &'a str, &'a str, &'a [i32], &'a [u8]);

    fn fp(samples: &[SampleRow]) -> String {
        let mut b = FingerprintBuilder::new();
        for (id, split, key, labels, digest) in samples {
            b.add(*id, split, key, labels, digest);
        }
        b.finish()
    }

    #[test]
    fn the_fingerprint_sees_every_field_and_the_order() {
        let base = fp(&[(0, "train", "a", &[1], b"x"), (1, "test", "b", &[2], b"y")]);
        assert_eq!(base.len(), 64);
        assert_eq!(base, fp(&[(0, "train", "a", &[1], b"x"), (1, "test", "b", &[2], b"y")]));
        for other in [
            fp(&[(1, "test", "b", &[2], b"y"), (0, "train", "a", &[1], b"x")]),
            fp(&[(0, "test", "a", &[1], b"x"), (1, "test", "b", &[2], b"y")]),
            fp(&[(0, "train", "a", &[3], b"x"), (1, "test", "b", &[2], b"y")]),
            fp(&[(0, "train", "a", &[1], b"z"), (1, "test", "b", &[2], b"y")]),
            fp(&[(0, "train", "ab", &[1], b""), (1, "test", "", &[2], b"y")]),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn a_folder_claimed_for_one_dataset_refuses_another() {
        let dir = tempfile::tempdir().unwrap();
        let (p, c) = (dir.path().join("predictions"), dir.path().join("checkpoints"));
        let folders = [(p.as_path(), "predictions/"), (c.as_path(), "checkpoints/")];
        claim_folders(&folders, None, "x").unwrap();
        assert!(!p.exists(), "nothing to record without a fingerprint");
        claim_folders(&folders[..1], Some("aaaa"), "x").unwrap();
        assert_eq!(read_stamp(&p).unwrap().as_deref(), Some("aaaa"));
        claim_folders(&folders[..1], Some("aaaa"), "x").unwrap();
        let err = claim_folders(&folders, Some("bbbb"), "use --force")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("predictions/") && err.contains("aaaa") && err.contains("bbbb") && err.contains("--force"),
            "{err}"
        );
        assert!(!c.exists(), "a failed claim stamps nothing");
    }
}
