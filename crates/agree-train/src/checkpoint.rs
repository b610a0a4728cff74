//! Checkpoints: after each epoch, the weights, batch-norm statistics, optimiser
//! state and the bookkeeping needed to go on (epoch, step, epoch rows) are written
//! into `checkpoints/<run_id>/epoch=<E>/` under a temporary name and renamed into
//! place, so a directory under the real name is always complete.
//!
//! Random state needs no saving: batch order, crops and flips and libtorch's seed
//! are derived from (network seed, epoch) at the start of every epoch, so the
//! sampler position is fully given by the epoch number.

use std::{
    cell::RefCell,
    collections::HashMap,
    fs,
    io::Write,
    path::{Path, PathBuf},
    rc::Rc,
};

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::{TrainError, config::TrainConfig, tables::EpochRecord};

/// What a checkpoint records besides tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// `<arch>-s<network>`.
    pub run_id: String,
    /// Last completed epoch.
    pub epoch: u32,
    /// Optimiser steps taken.
    pub steps: u64,
    /// Configuration trained with.
    pub config: TrainConfig,
    /// The network's epoch rows so far.
    pub epochs: Vec<EpochRecord>,
}

const TENSORS: &str = "state.ot";
const META: &str = "meta.json";

fn io(path: &Path) -> impl Fn(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the checkpoint of `meta.epoch` into `dir` and removes all but it and the
/// one before: the previous epoch's checkpoint lets a run whose last predictions
/// were lost redo that epoch exactly.
pub fn save(dir: &Path, meta: &CheckpointMeta, tensors: &[(String, Tensor)]) -> Result<PathBuf, TrainError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let dest = dir.join(format!("epoch={}", meta.epoch));
    let tmp = dir.join(format!(".epoch={}.{}.tmp", meta.epoch, std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    // Tensors may live on the GPU; the file is device-independent. Sorted by name:
    // the variable store hands them out in hash order, which differs between
    // processes, and the same state must give the same bytes.
    let mut cpu: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.to_device(tch::Device::Cpu)))
        .collect();
    cpu.sort_by(|a, b| a.0.cmp(&b.0));
    let result = write_contents(&tmp, meta, &cpu);
    if result.is_err() {
        // A full disk: free what the attempt took, keep the previous checkpoints.
        let _ = fs::remove_dir_all(&tmp);
    }
    result?;
    if dest.exists() {
        fs::remove_dir_all(&dest).map_err(io(&dest))?;
    }
    fs::rename(&tmp, &dest).map_err(io(&dest))?;
    for entry in fs::read_dir(dir).map_err(io(dir))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let older = epoch_of(&name).is_some_and(|e| e + 1 < meta.epoch);
        let stale = name.starts_with('.') && name.ends_with(".tmp");
        if older || stale {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    Ok(dest)
}

/// Writes the tensors and `meta.json` into the (temporary) checkpoint directory `tmp`.
fn write_contents(tmp: &Path, meta: &CheckpointMeta, tensors: &[(String, Tensor)]) -> Result<(), TrainError> {
    let json = serde_json::to_vec_pretty(meta).map_err(|e| TrainError::Checkpoint {
        path: tmp.to_path_buf(),
        message: e.to_string(),
    })?;
    write_synced(&tmp.join(TENSORS), &serialise(tensors)?)?;
    write_synced(&tmp.join(META), &json)
}

/// A `Write` into memory that the caller still holds after handing it to libtorch
/// (which takes its writer by value and frees it).
#[derive(Clone, Default)]
struct SharedBuffer(Rc<RefCell<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The tensors in libtorch's archive format, serialised in memory: libtorch never
/// touches the file system, so a failed write is Rust's error to report instead of a
/// C++ exception thrown (from a destructor) through the FFI, which aborts.
fn serialise(tensors: &[(String, Tensor)]) -> Result<Vec<u8>, TrainError> {
    let buffer = SharedBuffer::default();
    Tensor::save_multi_to_stream(tensors, buffer.clone())?;
    Ok(buffer.0.take())
}

/// Writes `bytes` to `path` and flushes them to the disk.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let mut file = fs::File::create(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

fn epoch_of(name: &str) -> Option<u32> {
    name.strip_prefix("epoch=")?.parse().ok()
}

/// The most recent complete checkpoint in `dir` of an epoch before `before` (any
/// epoch when `None`), if any.
pub fn latest(dir: &Path, before: Option<u32>) -> Result<Option<(PathBuf, CheckpointMeta)>, TrainError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(None);
    };
    let best = entries
        .flatten()
        .filter_map(|e| Some((epoch_of(&e.file_name().to_string_lossy())?, e.path())))
        .filter(|(e, p)| before.is_none_or(|b| *e < b) && p.join(TENSORS).is_file() && p.join(META).is_file())
        .max_by_key(|(e, _)| *e);
    let Some((_, path)) = best else {
        return Ok(None);
    };
    let text = fs::read(path.join(META)).map_err(io(&path))?;
    let meta: CheckpointMeta = serde_json::from_slice(&text).map_err(|e| TrainError::Checkpoint {
        path: path.clone(),
        message: format!("{META}: {e}"),
    })?;
    Ok(Some((path, meta)))
}

/// The tensors of a checkpoint, by name, on the CPU.
pub fn load_tensors(path: &Path) -> Result<HashMap<String, Tensor>, TrainError> {
    Ok(Tensor::load_multi(path.join(TENSORS))?.into_iter().collect())
}
