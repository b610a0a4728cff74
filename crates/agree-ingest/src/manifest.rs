//! `manifest.json`: what was ingested, from where, and how many of each.

use std::{collections::BTreeMap, path::Path};

use agree_schema::AtomicPath;
use serde::{Deserialize, Serialize};

use crate::{IngestError, Result};

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

/// The ingest manifest.
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
    /// Format-specific options of the ingest.
    pub options: serde_json::Value,
}

impl Manifest {
    /// Writes the manifest atomically.
    pub fn write(&self, path: &Path) -> Result<std::path::PathBuf> {
        let tmp = AtomicPath::new(path)?;
        let text = serde_json::to_string_pretty(self).map_err(|e| IngestError::bad(path, None, e.to_string()))?;
        std::fs::write(tmp.tmp(), text + "\n").map_err(|e| IngestError::io(tmp.tmp(), e))?;
        Ok(tmp.commit()?)
    }

    /// Reads a manifest.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| IngestError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| IngestError::bad(path, None, format!("malformed manifest: {e}")))
    }
}
