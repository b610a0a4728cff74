//! `agree._agree._Recorder`: the native side of `agree.Recorder`. The Python class
//! hands it C-contiguous NumPy arrays (float32 logits, int64 ids and labels or a
//! float32 0/1 label matrix) and the device the logits came from.

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::{
    arrays::dense,
    error::refuse,
    record::{BatchLabels, RecorderConfig, Recording},
    run_tables::RunKey,
};

/// Native recorder; use `agree.Recorder`.
#[pyclass(name = "_Recorder", module = "agree._agree")]
pub struct NativeRecorder {
    inner: Recording,
}

fn labels_of(labels: &Bound<'_, PyAny>) -> PyResult<(BatchLabels, Vec<usize>)> {
    if let Ok(y) = dense::<i64>(labels, "labels", "int64") {
        return Ok((BatchLabels::Single(y.values), y.shape));
    }
    let y = dense::<f32>(labels, "labels", "int64 class indices or a float32 0/1 matrix")?;
    Ok((BatchLabels::Multi(y.values), y.shape))
}

#[pymethods]
impl NativeRecorder {
    #[new]
    #[pyo3(signature = (dir, run_id, arch, network, allow_partial, save_probs, seed, label_noise, label_noise_seed, epochs, config_json, torch_version))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        dir: PathBuf,
        run_id: String,
        arch: String,
        network: i32,
        allow_partial: bool,
        save_probs: bool,
        seed: i64,
        label_noise: f64,
        label_noise_seed: i64,
        epochs: Option<i32>,
        config_json: String,
        torch_version: String,
    ) -> PyResult<Self> {
        if run_id.is_empty() || run_id.contains(['/', '\\']) || run_id.starts_with('.') {
            return Err(refuse(format!("run_id `{run_id}` must be a plain folder name")));
        }
        if epochs.is_some_and(|e| e < 1) {
            return Err(refuse("epochs must be at least 1"));
        }
        let user_config = serde_json::from_str(&config_json).map_err(|e| refuse(format!("config: {e}")))?;
        let cfg = RecorderConfig {
            dir,
            key: RunKey { run_id, arch, network },
            allow_partial,
            save_probs,
            seed,
            label_noise,
            label_noise_seed,
            epochs_planned: epochs,
            user_config,
            torch_version,
        };
        let inner = py.detach(|| Recording::open(cfg)).map_err(refuse)?;
        Ok(NativeRecorder { inner })
    }

    /// Records one batch of pass `split`.
    fn record(
        &mut self,
        epoch: i32,
        split: &str,
        sample_ids: &Bound<'_, PyAny>,
        logits: &Bound<'_, PyAny>,
        labels: &Bound<'_, PyAny>,
        device: &str,
    ) -> PyResult<()> {
        let ids = dense::<i64>(sample_ids, "sample_ids", "int64")?;
        if ids.shape.len() != 1 {
            return Err(refuse(format!(
                "sample_ids must be one-dimensional, got shape {:?}",
                ids.shape
            )));
        }
        let x = dense::<f32>(logits, "logits", "float32")?;
        let (y, y_shape) = labels_of(labels)?;
        self.inner
            .record(epoch, split, &ids.values, &x.values, &x.shape, y, &y_shape, device)
            .map_err(refuse)
    }

    /// Closes an epoch; returns the prediction file written.
    #[pyo3(signature = (epoch, learning_rate=None))]
    fn end_epoch(&mut self, py: Python<'_>, epoch: i32, learning_rate: Option<f64>) -> PyResult<PathBuf> {
        let inner = &mut self.inner;
        py.detach(|| inner.end_epoch(epoch, learning_rate)).map_err(refuse)
    }

    /// Marks the run finished (or failed) in `runs`.
    fn finish(&mut self, failed: bool) -> PyResult<()> {
        self.inner.finish(failed).map_err(refuse)
    }
}
