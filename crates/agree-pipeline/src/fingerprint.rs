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

/// What the pipeline does with one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Recorded complete with this fingerprint and its outputs unchanged: not run.
    Skip,
    /// Recorded with this fingerprint but interrupted, or its outputs changed since:
    /// run again over what is there (training resumes from its checkpoints).
    Resume,
    /// Forced, never run, or run with other arguments, inputs or tool version: its
    /// outputs are cleared and it runs from scratch, so nothing made for other
    /// settings is resumed.
    Fresh,
}

/// The decision for a stage: `forced` by `--force`, `fingerprint` of running it now,
/// `recorded` its manifest from the last run, `outputs_now` the signatures of its
/// outputs as they are on disk. Reads nothing.
pub fn decide(
    forced: bool,
    fingerprint: &str,
    recorded: Option<&StageManifest>,
    outputs_now: &[FileSignature],
) -> Decision {
    match recorded {
        _ if forced => Decision::Fresh,
        Some(m) if m.fingerprint == fingerprint => {
            if m.complete && !m.outputs.is_empty() && m.outputs == outputs_now {
                Decision::Skip
            } else {
                Decision::Resume
            }
        }
        _ => Decision::Fresh,
    }
}

/// [`decide`] over the stage's manifest and outputs in `dir`.
pub fn decide_in(dir: &Path, stage: Stage, fingerprint: &str, forced: bool) -> Decision {
    let recorded = read_manifest(dir, stage);
    let outputs_now = signatures(dir, &existing_outputs(stage, dir));
    decide(forced, fingerprint, recorded.as_ref(), &outputs_now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(path: &str, size: u64) -> FileSignature {
        FileSignature {
            path: path.into(),
            size,
            mtime_ns: 7,
        }
    }

    fn record(fingerprint: &str, complete: bool, outputs: Vec<FileSignature>) -> StageManifest {
        StageManifest {
            stage: "stats".into(),
            fingerprint: fingerprint.into(),
            argv: Vec::new(),
            tool: "agree test".into(),
            complete,
            outputs,
        }
    }

    #[test]
    fn decisions_follow_the_record_and_the_outputs() {
        let now = vec![sig("stats.parquet", 10)];
        let done = record("f", true, now.clone());
        assert_eq!(decide(false, "f", Some(&done), &now), Decision::Skip);
        assert_eq!(decide(true, "f", Some(&done), &now), Decision::Fresh, "--force");
        assert_eq!(decide(false, "g", Some(&done), &now), Decision::Fresh, "other settings");
        assert_eq!(decide(false, "f", None, &now), Decision::Fresh, "never recorded");
        assert_eq!(
            decide(false, "f", Some(&done), &[]),
            Decision::Resume,
            "outputs deleted"
        );
        let changed = [sig("stats.parquet", 11)];
        assert_eq!(
            decide(false, "f", Some(&done), &changed),
            Decision::Resume,
            "outputs changed"
        );
        let extra = [sig("stats.parquet", 10), sig("spectra.parquet", 3)];
        assert_eq!(
            decide(false, "f", Some(&done), &extra),
            Decision::Resume,
            "an output appeared"
        );
        let interrupted = record("f", false, now.clone());
        assert_eq!(decide(false, "f", Some(&interrupted), &now), Decision::Resume);
        assert_eq!(decide(false, "g", Some(&interrupted), &now), Decision::Fresh);
        let wrote_nothing = record("f", true, Vec::new());
        assert_eq!(decide(false, "f", Some(&wrote_nothing), &[]), Decision::Resume);
    }

    #[test]
    fn fingerprints_change_with_arguments_tool_and_upstream_records() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let base = fingerprint(dir, Stage::Train, &argv(&["--epochs", "2"]), "agree 1");
        assert_eq!(
            base,
            fingerprint(dir, Stage::Train, &argv(&["--epochs", "2"]), "agree 1")
        );
        assert_ne!(
            base,
            fingerprint(dir, Stage::Train, &argv(&["--epochs", "3"]), "agree 1")
        );
        assert_ne!(base, fingerprint(dir, Stage::Train, &argv(&["--epochs2"]), "agree 1"));
        assert_ne!(
            base,
            fingerprint(dir, Stage::Train, &argv(&["--epochs", "2"]), "agree 2")
        );
        assert_ne!(
            base,
            fingerprint(dir, Stage::Stats, &argv(&["--epochs", "2"]), "agree 1")
        );
        let mut ingest = record("i1", true, vec![sig("samples.parquet", 5)]);
        ingest.stage = "ingest".into();
        write_manifest(dir, &ingest).unwrap();
        let after_ingest = fingerprint(dir, Stage::Train, &argv(&["--epochs", "2"]), "agree 1");
        assert_ne!(base, after_ingest, "upstream recorded");
        ingest.outputs[0].size = 6;
        write_manifest(dir, &ingest).unwrap();
        assert_ne!(
            after_ingest,
            fingerprint(dir, Stage::Train, &argv(&["--epochs", "2"]), "agree 1"),
            "upstream outputs changed"
        );
        // Analysis does not read the report: its record is not part of the fingerprint.
        let analyze = fingerprint(dir, Stage::Analyze, &[], "agree 1");
        let mut report = record("r", true, vec![sig("report/index.html", 1)]);
        report.stage = "report".into();
        write_manifest(dir, &report).unwrap();
        assert_eq!(analyze, fingerprint(dir, Stage::Analyze, &[], "agree 1"));
    }

    #[test]
    fn signatures_leave_out_temporary_files_and_are_relative_and_sorted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir_all(dir.join("results")).unwrap();
        std::fs::write(dir.join("results/b.parquet"), "bb").unwrap();
        std::fs::write(dir.join("results/a.parquet"), "a").unwrap();
        std::fs::write(dir.join("results/.b.parquet.tmp"), "partial").unwrap();
        let s = signatures(dir, &[dir.join("results")]);
        let names: Vec<(&str, u64)> = s.iter().map(|s| (s.path.as_str(), s.size)).collect();
        assert_eq!(names, [("results/a.parquet", 1), ("results/b.parquet", 2)]);
    }
}
