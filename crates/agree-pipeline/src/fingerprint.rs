//! Stage manifests: what a finished stage was run with and what it wrote, so a rerun
//! can tell up-to-date stages from stale ones.

use std::{
    path::{Path, PathBuf},
    time::UNIX_EPOCH,
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{PipelineError, Stage, stage::existing_outputs};

/// One file's signature: path relative to the experiment directory, size, mtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSignature {
    /// Relative path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: u128,
}

/// The record a finished stage leaves in `<dir>/.agree/<stage>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageManifest {
    /// Stage name.
    pub stage: String,
    /// Hash of the stage's arguments, tool version and input signatures.
    pub fingerprint: String,
    /// The arguments the stage ran with.
    pub argv: Vec<String>,
    /// Tool version.
    pub tool: String,
    /// Whether the stage finished (false while it runs or after it was interrupted).
    pub complete: bool,
    /// Signatures of every output file.
    pub outputs: Vec<FileSignature>,
}

/// Signatures of every file under `paths` (folders walked), relative to `base`, sorted.
pub fn signatures(base: &Path, paths: &[PathBuf]) -> Vec<FileSignature> {
    let mut out = Vec::new();
    for p in paths {
        for entry in walkdir::WalkDir::new(p)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
        {
            if !entry.file_type().is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy();
            // Temporary files of an interrupted write are not outputs.
            if name.starts_with('.') && name.ends_with(".tmp") {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let rel = entry
                .path()
                .strip_prefix(base)
                .unwrap_or(entry.path())
                .display()
                .to_string();
            out.push(FileSignature {
                path: rel,
                size: meta.len(),
                mtime_ns,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn manifest_path(dir: &Path, stage: Stage) -> PathBuf {
    dir.join(".agree").join(format!("{}.json", stage.name()))
}

/// The stage's recorded manifest, if any.
pub fn read_manifest(dir: &Path, stage: Stage) -> Option<StageManifest> {
    let text = std::fs::read_to_string(manifest_path(dir, stage)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes the stage's manifest atomically.
pub fn write_manifest(dir: &Path, m: &StageManifest) -> Result<(), PipelineError> {
    let stage = Stage::from_name(&m.stage).unwrap_or(Stage::Ingest);
    let path = manifest_path(dir, stage);
    let io = |e: String| PipelineError::Io {
        path: path.clone(),
        message: e,
    };
    let tmp = agree_schema::AtomicPath::new(&path).map_err(|e| io(e.to_string()))?;
    let text = serde_json::to_string_pretty(m).map_err(|e| io(e.to_string()))?;
    std::fs::write(tmp.tmp(), text).map_err(|e| io(e.to_string()))?;
    tmp.commit().map_err(|e| io(e.to_string()))?;
    Ok(())
}

/// The fingerprint of running `stage` with `argv` now: its arguments, the tool
/// version, the signatures of its inputs (files named in `argv` for ingest, the
/// recorded outputs of upstream stages otherwise).
pub fn fingerprint(dir: &Path, stage: Stage, argv: &[String], tool: &str) -> String {
    let mut h = Sha256::new();
    h.update(stage.name());
    h.update([0]);
    h.update(tool);
    for a in argv {
        h.update([0]);
        h.update(a);
    }
    if stage == Stage::Ingest {
        // Input files and folders named on the command line.
        for a in argv.iter().filter(|a| !a.starts_with("--")) {
            let p = Path::new(a);
            if p.exists() {
                for s in signatures(p, &[p.to_path_buf()]) {
                    h.update(format!("{}:{}:{}", s.path, s.size, s.mtime_ns));
                }
            }
        }
    }
    for up in stage.upstream() {
        match read_manifest(dir, *up) {
            Some(m) => {
                h.update(&m.fingerprint);
                for s in &m.outputs {
                    h.update(format!("{}:{}:{}", s.path, s.size, s.mtime_ns));
                }
            }
            None => h.update(format!("{}:absent", up.name())),
        }
    }
    hex::encode(h.finalize())
}

/// Whether `stage` is up to date: recorded with this fingerprint and its outputs unchanged.
pub fn up_to_date(dir: &Path, stage: Stage, fingerprint: &str) -> bool {
    match read_manifest(dir, stage) {
        Some(m) => {
            m.fingerprint == fingerprint
                && !m.outputs.is_empty()
                && signatures(dir, &existing_outputs(stage, dir)) == m.outputs
        }
        None => false,
    }
}
