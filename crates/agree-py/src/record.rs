//! The Recorder's bookkeeping, free of Python: which samples exist in which split,
//! what each pass of an open epoch has recorded, and closing an epoch into
//! `predictions/<run_id>/epoch=<E>.parquet` plus its `epochs` and `runs` rows.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::Instant,
};

use agree_predictions::{BatchScores, Labels, PredictionColumns, ScoreError, score_logits};
use agree_schema::{
    ExperimentDir, Table, TableWriter,
    run_tables::{EpochRecord, RunRecord, now_us},
};

use crate::{
    ids::read_sample_keys,
    run_tables::{self, RunKey},
};

/// How a Recorder was configured (its `runs` row).
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    pub dir: PathBuf,
    pub key: RunKey,
    pub allow_partial: bool,
    pub save_probs: bool,
    pub seed: i64,
    pub label_noise: f64,
    pub label_noise_seed: i64,
    pub epochs_planned: Option<i32>,
    pub user_config: serde_json::Value,
    pub torch_version: String,
}

/// Which split each sample belongs to (`sample_id` is dense 0..n-1).
struct SampleSplits {
    names: Vec<String>,
    of: Vec<usize>,
    counts: Vec<usize>,
}

impl SampleSplits {
    fn index(&self, split: &str) -> Option<usize> {
        self.names.iter().position(|s| s == split)
    }
}

/// Labels of one batch, owned.
pub enum BatchLabels {
    Single(Vec<i64>),
    Multi(Vec<f32>),
}

/// One pass (split) of an open epoch.
#[derive(Default)]
struct Pass {
    columns: PredictionColumns,
    seen: Vec<bool>,
}

struct OpenEpoch {
    passes: BTreeMap<String, Pass>,
    last_train: Option<Instant>,
}

/// A recording network.
pub struct Recording {
    cfg: RecorderConfig,
    samples: SampleSplits,
    open: BTreeMap<i32, OpenEpoch>,
    closed: BTreeSet<i32>,
    classes: Option<(usize, bool)>,
    device: Option<String>,
    started_at: i64,
    epoch_start: Instant,
    partial: BTreeMap<i32, BTreeMap<String, usize>>,
    status: String,
}

/// The samples split a pass is judged over: `train_eval` is a pass over `train`.
fn split_of_pass(pass: &str) -> &str {
    if pass == "train_eval" { "train" } else { pass }
}

fn some_ids(ids: impl IntoIterator<Item = i64>) -> String {
    let ids: Vec<i64> = ids.into_iter().collect();
    let shown: Vec<String> = ids.iter().take(8).map(i64::to_string).collect();
    let more = if ids.len() > 8 { ", …" } else { "" };
    format!("sample_id {}{more}", shown.join(", "))
}

impl Recording {
    /// Starts (or continues) recording run `cfg.key.run_id` in `cfg.dir`.
    pub fn open(cfg: RecorderConfig) -> Result<Self, String> {
        let keys = read_sample_keys(&cfg.dir)?;
        let samples = sample_splits(&cfg.dir, keys.sample_id, keys.split)?;
        let layout = ExperimentDir::new(&cfg.dir);
        let run_dir = layout.predictions_dir().join(&cfg.key.run_id);
        let closed = existing_epochs(&run_dir)?;
        let started_at = run_tables::started_at(&cfg.dir, &cfg.key.run_id)?.unwrap_or_else(now_us);
        Ok(Recording {
            cfg,
            samples,
            open: BTreeMap::new(),
            closed,
            classes: None,
            device: None,
            started_at,
            epoch_start: Instant::now(),
            partial: BTreeMap::new(),
            status: "running".into(),
        })
    }

    fn run_id(&self) -> &str {
        &self.cfg.key.run_id
    }

    fn check_open(&self, epoch: i32) -> Result<(), String> {
        if epoch < 1 {
            return Err(format!("epoch {epoch}: epochs are numbered from 1"));
        }
        if self.closed.contains(&epoch) {
            return Err(format!(
                "epoch {epoch} of run `{}` is already closed ({})",
                self.run_id(),
                ExperimentDir::new(&self.cfg.dir)
                    .predictions(self.run_id(), epoch as u32)
                    .display()
            ));
        }
        Ok(())
    }

    /// Records one batch of `pass` (`train`, `test`, `train_eval`, …). `logits` is
    /// N×`classes`; nothing is recorded when anything is refused.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        epoch: i32,
        pass: &str,
        ids: &[i64],
        logits: &[f32],
        logits_shape: &[usize],
        labels: BatchLabels,
        labels_shape: &[usize],
        device: &str,
    ) -> Result<(), String> {
        self.check_open(epoch)?;
        let multi = matches!(labels, BatchLabels::Multi(_));
        let (n, classes) = self.batch_shape(ids, logits_shape, multi, labels_shape)?;
        self.check_ids(epoch, pass, ids)?;
        let (labels_ref, row_labels): (Labels<'_>, Vec<Option<i32>>) = match &labels {
            BatchLabels::Single(y) => (Labels::Single(y), y.iter().map(|&l| Some(l as i32)).collect()),
            BatchLabels::Multi(y) => (Labels::Multi(y), vec![None; n]),
        };
        let scores = score_logits(logits, classes, labels_ref, self.cfg.save_probs).map_err(|e| match e {
            ScoreError::NonFinite { rows } => format!(
                "logits of {} samples are NaN or infinite ({}); nothing of this batch was recorded",
                rows.len(),
                some_ids(rows.iter().map(|&r| ids[r]))
            ),
            other => other.to_string(),
        })?;
        self.classes = Some((classes, multi));
        self.device.get_or_insert_with(|| device.to_string());
        self.append(epoch, pass, ids, &row_labels, scores);
        Ok(())
    }

    /// The batch's (N, K): logits N×K with one id per row, labels N class indices or
    /// an N×K matrix, and the run's K and kind of labels unchanged.
    fn batch_shape(
        &self,
        ids: &[i64],
        logits_shape: &[usize],
        multi: bool,
        labels_shape: &[usize],
    ) -> Result<(usize, usize), String> {
        let (n, classes) = match *logits_shape {
            [n, k] if k > 0 => (n, k),
            _ => {
                return Err(format!(
                    "logits must be N×K (samples × classes), got shape {logits_shape:?}"
                ));
            }
        };
        if ids.len() != n {
            return Err(format!(
                "shape mismatch: {} sample ids for {n} rows of logits",
                ids.len()
            ));
        }
        let expected: &[usize] = if multi { &[n, classes] } else { &[n] };
        if labels_shape != expected {
            return Err(format!(
                "shape mismatch: logits are {n}×{classes} but labels have shape {labels_shape:?} \
                 (expected [{n}] class indices or an [{n}, {classes}] 0/1 matrix)"
            ));
        }
        match self.classes {
            Some((k, m)) if (k, m) != (classes, multi) => {
                let kind = |m: bool| if m { "multi-label" } else { "single-label" };
                Err(format!(
                    "this run records {k} classes, {}; this batch has {classes} classes, {}",
                    kind(m),
                    kind(multi)
                ))
            }
            _ => Ok((n, classes)),
        }
    }

    /// Adds a scored batch to `pass` of the open `epoch`, marking its ids seen.
    fn append(&mut self, epoch: i32, pass: &str, ids: &[i64], labels: &[Option<i32>], scores: BatchScores) {
        let total = self.samples.of.len();
        let open = self.open.entry(epoch).or_insert_with(|| OpenEpoch {
            passes: BTreeMap::new(),
            last_train: None,
        });
        let p = open.passes.entry(pass.to_string()).or_default();
        if p.seen.is_empty() {
            p.seen = vec![false; total];
        }
        for &id in ids {
            p.seen[id as usize] = true;
        }
        p.columns.extend(ids, labels, scores);
        if pass == "train" {
            open.last_train = Some(Instant::now());
        }
    }

    /// Every id must be a sample of the pass's split, once per pass.
    fn check_ids(&self, epoch: i32, pass: &str, ids: &[i64]) -> Result<(), String> {
        let samples_file = ExperimentDir::new(&self.cfg.dir).table(Table::Samples);
        let want = split_of_pass(pass);
        let split = self.samples.index(want).ok_or_else(|| {
            format!(
                "{}: no sample has split `{want}` (splits: {})",
                samples_file.display(),
                self.samples.names.join(", ")
            )
        })?;
        let total = self.samples.of.len() as i64;
        let unknown: Vec<i64> = ids.iter().copied().filter(|&id| id < 0 || id >= total).collect();
        if !unknown.is_empty() {
            return Err(format!(
                "{} of the batch's ids are not in {} (0..{total}): {}",
                unknown.len(),
                samples_file.display(),
                some_ids(unknown)
            ));
        }
        let foreign: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|&id| self.samples.of[id as usize] != split)
            .collect();
        if !foreign.is_empty() {
            return Err(format!(
                "{} of the batch's samples are not in split `{want}` of {}: {}",
                foreign.len(),
                samples_file.display(),
                some_ids(foreign)
            ));
        }
        let mut in_batch = BTreeSet::new();
        let earlier = self.open.get(&epoch).and_then(|o| o.passes.get(pass));
        let twice: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|&id| !in_batch.insert(id) || earlier.is_some_and(|p| p.seen.get(id as usize) == Some(&true)))
            .collect();
        if !twice.is_empty() {
            return Err(format!(
                "{} samples recorded twice in the `{pass}` pass: {}",
                twice.len(),
                some_ids(twice)
            ));
        }
        Ok(())
    }

    /// The passes an epoch must hold: `train`, `test` when the dataset has a test
    /// split, and whatever else was recorded; each over every sample of its split.
    /// Returns, per incomplete pass, how many samples it lacks and a few of their ids.
    fn missing(&self, open: &OpenEpoch) -> BTreeMap<String, (usize, Vec<i64>)> {
        let mut passes: BTreeSet<&str> = open.passes.keys().map(String::as_str).collect();
        passes.insert("train");
        if self.samples.index("test").is_some() {
            passes.insert("test");
        }
        let mut missing = BTreeMap::new();
        for pass in passes {
            let Some(split) = self.samples.index(split_of_pass(pass)) else {
                continue;
            };
            let seen = open.passes.get(pass).map(|p| p.seen.as_slice()).unwrap_or_default();
            let lacking: Vec<i64> = (0..self.samples.of.len())
                .filter(|&i| self.samples.of[i] == split && !seen.get(i).copied().unwrap_or(false))
                .map(|i| i as i64)
                .collect();
            if !lacking.is_empty() {
                missing.insert(pass.to_string(), (lacking.len(), lacking.into_iter().take(8).collect()));
            }
        }
        missing
    }

    /// Closes `epoch`: writes its prediction file, then its `epochs` row and the
    /// run's `runs` row. Nothing is written when it is refused.
    pub fn end_epoch(&mut self, epoch: i32, learning_rate: Option<f64>) -> Result<PathBuf, String> {
        self.check_open(epoch)?;
        let open = self
            .open
            .get(&epoch)
            .ok_or_else(|| format!("epoch {epoch} of run `{}` has no recorded batches", self.run_id()))?;
        let missing = self.missing(open);
        if !open.passes.contains_key("train") {
            return Err(format!(
                "epoch {epoch} of run `{}` has no `train` pass (call train_batch during training)",
                self.run_id()
            ));
        }
        if !missing.is_empty() && !self.cfg.allow_partial {
            let parts: Vec<String> = missing
                .iter()
                .map(|(pass, (n, some))| {
                    let total = self
                        .samples
                        .index(split_of_pass(pass))
                        .map_or(0, |s| self.samples.counts[s]);
                    format!(
                        "`{pass}` lacks {n} of {total} samples ({})",
                        some_ids(some.iter().copied())
                    )
                })
                .collect();
            return Err(format!(
                "epoch {epoch} of run `{}` is incomplete: {}; record every sample, or make the Recorder with \
                 allow_partial=True",
                self.run_id(),
                parts.join("; ")
            ));
        }
        let path = self.write_predictions(epoch, open)?;
        let row = self.epoch_row(epoch, open, learning_rate);
        if !missing.is_empty() {
            self.partial
                .insert(epoch, missing.into_iter().map(|(pass, (n, _))| (pass, n)).collect());
        }
        self.open.remove(&epoch);
        self.closed.insert(epoch);
        if self.cfg.epochs_planned.is_some_and(|p| self.closed.len() as i32 >= p) {
            self.status = "finished".into();
        }
        run_tables::record(&self.cfg.dir, Some(&row), &self.run_row())?;
        self.epoch_start = Instant::now();
        Ok(path)
    }

    /// Ends the run: `finished` (or `failed`) in `runs`.
    pub fn finish(&mut self, failed: bool) -> Result<(), String> {
        self.status = if failed { "failed" } else { "finished" }.into();
        if self.closed.is_empty() && !failed {
            return Ok(());
        }
        run_tables::record(&self.cfg.dir, None, &self.run_row())
    }

    fn write_predictions(&self, epoch: i32, open: &OpenEpoch) -> Result<PathBuf, String> {
        let c = Table::Predictions.contract();
        let path = ExperimentDir::new(&self.cfg.dir).predictions(self.run_id(), epoch as u32);
        let mut w = TableWriter::create(&path, c, c.schema()).map_err(|e| e.to_string())?;
        let order = |pass: &str| match pass {
            "train" => 0,
            "test" => 1,
            "train_eval" => 2,
            _ => 3,
        };
        let mut passes: Vec<(&String, &Pass)> = open.passes.iter().collect();
        passes.sort_by_key(|(name, _)| (order(name), name.as_str()));
        let key = &self.cfg.key;
        for (pass, p) in passes {
            let batch = p
                .columns
                .to_record_batch(&key.run_id, &key.arch, key.network, epoch, pass)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            w.write(&batch).map_err(|e| e.to_string())?;
        }
        w.finish().map_err(|e| e.to_string())
    }

    fn epoch_row(&self, epoch: i32, open: &OpenEpoch, learning_rate: Option<f64>) -> EpochRecord {
        let train = &open.passes["train"].columns;
        let test = open.passes.get("test").map(|p| &p.columns);
        let train_s = open
            .last_train
            .map_or(0.0, |t| t.duration_since(self.epoch_start).as_secs_f64());
        EpochRecord {
            run_id: self.cfg.key.run_id.clone(),
            arch: self.cfg.key.arch.clone(),
            network: self.cfg.key.network,
            epoch,
            train_accuracy: train.accuracy(),
            train_loss: train.mean_loss(),
            test_accuracy: test.map(PredictionColumns::accuracy),
            test_loss: test.map(PredictionColumns::mean_loss),
            learning_rate: learning_rate.unwrap_or(f64::NAN),
            images_per_s: train.len() as f64 / train_s.max(1e-9),
            wall_s: self.epoch_start.elapsed().as_secs_f64(),
            device: self.device.clone().unwrap_or_else(|| "cpu".into()),
        }
    }

    fn run_row(&self) -> RunRecord {
        let completed = self.closed.len() as i32;
        let partial: serde_json::Map<String, serde_json::Value> = self
            .partial
            .iter()
            .map(|(e, m)| (e.to_string(), serde_json::json!(m)))
            .collect();
        let config = serde_json::json!({
            "source": "agree.Recorder",
            "allow_partial": self.cfg.allow_partial,
            "save_probs": self.cfg.save_probs,
            "classes": self.classes.map(|c| c.0),
            "multi_label": self.classes.map(|c| c.1),
            "partial_epochs": partial,
            "user": self.cfg.user_config,
        });
        RunRecord {
            run_id: self.cfg.key.run_id.clone(),
            arch: self.cfg.key.arch.clone(),
            network: self.cfg.key.network,
            seed: self.cfg.seed,
            label_noise: self.cfg.label_noise,
            label_noise_seed: self.cfg.label_noise_seed,
            epochs_planned: self.cfg.epochs_planned.unwrap_or(completed).max(completed),
            epochs_completed: completed,
            status: self.status.clone(),
            device: self.device.clone().unwrap_or_else(|| "cpu".into()),
            config: config.to_string(),
            torch_version: self.cfg.torch_version.clone(),
            agree_version: env!("CARGO_PKG_VERSION").into(),
            started_at: self.started_at,
            updated_at: now_us(),
        }
    }
}

/// Epoch numbers already written for this run.
fn existing_epochs(run_dir: &std::path::Path) -> Result<BTreeSet<i32>, String> {
    let mut epochs = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return Ok(epochs);
    };
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", run_dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(e) = name.strip_prefix("epoch=").and_then(|s| s.strip_suffix(".parquet")) {
            let e = e
                .parse::<i32>()
                .map_err(|_| format!("{}: not epoch=<integer>.parquet", entry.path().display()))?;
            epochs.insert(e);
        }
    }
    Ok(epochs)
}

fn sample_splits(dir: &std::path::Path, ids: Vec<i64>, splits: Vec<String>) -> Result<SampleSplits, String> {
    let path = ExperimentDir::new(dir).table(Table::Samples);
    let n = ids.len();
    let names: Vec<String> = splits.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let mut of = vec![usize::MAX; n];
    let mut counts = vec![0; names.len()];
    for (id, split) in ids.iter().zip(&splits) {
        let slot = usize::try_from(*id)
            .ok()
            .filter(|&i| i < n && of[i] == usize::MAX)
            .ok_or_else(|| {
                format!(
                    "{}: sample_id must be dense 0..{n} without repeats, found {id}",
                    path.display()
                )
            })?;
        let s = names.iter().position(|x| x == split).unwrap_or(0);
        of[slot] = s;
        counts[s] += 1;
    }
    Ok(SampleSplits { names, of, counts })
}
