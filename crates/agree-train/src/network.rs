//! Training one network: the epoch loop, its train-pass and test-pass predictions,
//! checkpoints and resumption.

use std::{
    path::PathBuf,
    sync::Mutex,
    time::{Duration, Instant},
};

use indicatif::ProgressBar;
use rand::{SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor, nn, nn::ModuleT};

use crate::{
    TrainError,
    checkpoint::{self, CheckpointMeta},
    config::TrainConfig,
    device::device_name,
    loader::{Augment, InputPipeline, batch_bounds, mix},
    models,
    optimizer::Optimizer,
    predictions::{PredictionColumns, Targets, score},
    samples::SampleTable,
    schedule::learning_rate,
    tables::EpochRecord,
};

/// The data every network of a study trains and is evaluated on.
pub struct TrainingData<'a> {
    /// The samples.
    pub table: &'a SampleTable,
    /// Pixels to network inputs.
    pub pipeline: InputPipeline<'a>,
    /// Training rows of `table`.
    pub train_rows: Vec<usize>,
    /// The labels trained on (after randomisation), aligned with `train_rows`.
    pub train_labels: Vec<Vec<i32>>,
    /// Test rows of `table`.
    pub test_rows: Vec<usize>,
    /// Test labels, aligned with `test_rows`.
    pub test_labels: Vec<Vec<i32>>,
    /// Number of classes.
    pub classes: usize,
}

impl TrainingData<'_> {
    fn targets(&self, labels: &[Vec<i32>], positions: &[usize], device: Device) -> Targets {
        if self.table.multi_label {
            let k = self.classes;
            let mut hot = vec![0f32; positions.len() * k];
            for (i, &p) in positions.iter().enumerate() {
                for &l in &labels[p] {
                    hot[i * k + l as usize] = 1.0;
                }
            }
            Targets::Multi(
                Tensor::from_slice(&hot)
                    .view([positions.len() as i64, k as i64])
                    .to_device(device),
            )
        } else {
            let y: Vec<i64> = positions.iter().map(|&p| i64::from(labels[p][0])).collect();
            Targets::Single(Tensor::from_slice(&y).to_device(device))
        }
    }

    fn label_column(&self, labels: &[Vec<i32>], positions: &[usize]) -> Vec<Option<i32>> {
        positions
            .iter()
            .map(|&p| (!self.table.multi_label).then(|| labels[p][0]))
            .collect()
    }
}

/// One network of a study.
#[derive(Debug, Clone)]
pub struct NetworkJob {
    /// Seed index within its architecture.
    pub index: u32,
    /// Seed of initialisation and batch order.
    pub seed: u64,
    /// `<arch>-s<index>`.
    pub run_id: String,
}

/// How a network is run (not part of what it learns).
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// Where tensors live.
    pub device: Device,
    /// Batches assembled ahead of the training step (0: on demand).
    pub prefetch: usize,
    /// Checkpoint directory of this network; `None` trains without checkpoints.
    pub checkpoints: Option<PathBuf>,
    /// Stop after this epoch as if killed (the run stays resumable).
    pub stop_after_epoch: Option<u32>,
    /// Progress display.
    pub progress: ProgressBar,
}

/// Where a network's per-epoch output goes.
pub trait EpochSink: Sync {
    /// Stores the prediction rows of one epoch (`train`, `test`, optionally `train_eval`).
    fn predictions(
        &self,
        job: &NetworkJob,
        epoch: u32,
        splits: &[(&str, &PredictionColumns)],
    ) -> Result<(), TrainError>;
    /// Whether the prediction rows of `epoch` are stored (a resume redoes lost ones).
    fn has_predictions(&self, job: &NetworkJob, epoch: u32) -> bool;
    /// Records the network's epoch rows so far; `finished` after the last planned epoch.
    fn epoch_done(&self, job: &NetworkJob, epochs: &[EpochRecord], finished: bool) -> Result<(), TrainError>;
}

/// Where the training passes spent their time, summed over batches (seconds). On
/// CUDA the phases after `forward` absorb queued work and are only indicative.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepPhases {
    /// Batches trained.
    pub batches: u64,
    /// Waiting for the next input batch (and moving it to the device).
    pub data_wait: f64,
    /// Model forward pass.
    pub forward: f64,
    /// Loss and per-sample predictions (copied to the CPU).
    pub scoring: f64,
    /// Zeroing gradients and the backward pass.
    pub backward: f64,
    /// Optimiser update.
    pub optimizer: f64,
    /// Collecting prediction rows and progress display.
    pub bookkeeping: f64,
}

/// What training one network did.
#[derive(Debug, Clone)]
pub struct NetworkOutcome {
    /// All epoch rows of the network (including those of earlier invocations).
    pub epochs: Vec<EpochRecord>,
    /// The epoch a checkpoint resumed from.
    pub resumed_from: Option<u32>,
    /// Time of the training passes of this invocation (`phases.data_wait` of it spent
    /// waiting for input batches).
    pub train_s: f64,
    /// The training passes of this invocation, phase by phase.
    pub phases: StepPhases,
}

/// Serialises model construction: initialisation draws from libtorch's global
/// generator, which must be seeded and used by one network at a time.
static INIT: Mutex<()> = Mutex::new(());

/// Configurations equal up to the number of networks (adding networks later must
/// not invalidate the checkpoints of the first ones).
fn same_recipe(a: &TrainConfig, b: &TrainConfig) -> bool {
    TrainConfig {
        networks: 0,
        ..a.clone()
    } == TrainConfig {
        networks: 0,
        ..b.clone()
    }
}

/// Trains (or resumes) one network, handing each epoch's output to `sink`.
pub fn train_network(
    data: &TrainingData<'_>,
    config: &TrainConfig,
    job: &NetworkJob,
    opts: &NetworkOptions,
    sink: &dyn EpochSink,
) -> Result<NetworkOutcome, TrainError> {
    let device = opts.device;
    let geometry = data.pipeline.geometry;
    let (vs, model) = {
        let _init = INIT
            .lock()
            .map_err(|_| TrainError::Worker("model construction panicked".into()))?;
        tch::manual_seed(job.seed as i64);
        let vs = nn::VarStore::new(device);
        let model = models::build(config.arch, &vs.root(), data.classes as i64, geometry)?;
        (vs, model)
    };
    let mut opt = Optimizer::new(&vs, &config.optimizer);
    let mut records: Vec<EpochRecord> = Vec::new();
    let mut resumed_from = None;
    // Resume after the last checkpoint, unless predictions of an epoch it covers were
    // lost: then from the newest checkpoint before that epoch (or from scratch).
    let first_missing = (1..=config.epochs).find(|&e| !sink.has_predictions(job, e));
    if let Some(dir) = &opts.checkpoints
        && let Some((path, meta)) = checkpoint::latest(dir, first_missing)?
    {
        if !same_recipe(&meta.config, config) {
            return Err(TrainError::Checkpoint {
                path,
                message: "was written with a different training configuration; \
                          train into a new directory or delete this run's checkpoints and predictions"
                    .into(),
            });
        }
        let saved = checkpoint::load_tensors(&path)?;
        let bad = |message: String| TrainError::Checkpoint {
            path: path.clone(),
            message,
        };
        {
            let _guard = tch::no_grad_guard();
            for (name, mut var) in vs.variables() {
                let src = saved
                    .get(&format!("model/{name}"))
                    .ok_or_else(|| bad(format!("weights `{name}` missing")))?;
                if src.size() != var.size() {
                    return Err(bad(format!(
                        "weights `{name}` have shape {:?}, expected {:?}",
                        src.size(),
                        var.size()
                    )));
                }
                var.copy_(src);
            }
        }
        let opt_state = saved
            .iter()
            .filter_map(|(k, t)| Some((k.strip_prefix("opt/")?.to_string(), t.shallow_clone())))
            .collect();
        opt.load_state(&opt_state, meta.steps).map_err(bad)?;
        records = meta.epochs;
        resumed_from = Some(meta.epoch);
    }
    let start = resumed_from.map_or(1, |e| e + 1);
    if start > config.epochs {
        sink.epoch_done(job, &records, true)?;
        return Ok(NetworkOutcome {
            epochs: records,
            resumed_from,
            train_s: 0.0,
            phases: StepPhases::default(),
        });
    }

    let n_train = data.train_rows.len();
    let train_bounds = batch_bounds(n_train, config.batch_size, true);
    let total_steps = train_bounds.len() as u64 * u64::from(config.epochs);
    let mut step = opt.steps();
    let mut train_time = Duration::ZERO;
    let mut phases = StepPhases::default();
    let bar = &opts.progress;
    for epoch in start..=config.epochs {
        if opts.stop_after_epoch.is_some_and(|k| epoch > k) {
            break;
        }
        let epoch_start = Instant::now();
        // Everything random in an epoch derives from (seed, epoch): resuming needs no RNG state.
        tch::manual_seed((mix(job.seed ^ 0x7e57_5eed) ^ u64::from(epoch)) as i64);
        let mut order: Vec<usize> = (0..n_train).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(job.seed) ^ u64::from(epoch)));
        let rows: Vec<usize> = order.iter().map(|&p| data.train_rows[p]).collect();
        let augment = Augment {
            seed: job.seed,
            epoch,
            hflip: config.transform.hflip,
        };
        bar.set_length(n_train as u64);
        bar.set_position(0);
        let mut train_cols = PredictionColumns::default();
        let mut lr = learning_rate(
            &config.schedule,
            config.optimizer.lr,
            epoch - 1,
            config.epochs,
            step,
            total_steps,
        );
        let pass_start = Instant::now();
        std::thread::scope(|s| -> Result<(), TrainError> {
            let mut batches =
                data.pipeline
                    .batches(s, rows.clone(), train_bounds.clone(), Some(augment), opts.prefetch);
            let mut shown = Instant::now();
            loop {
                let wait_start = Instant::now();
                let Some(batch) = batches.next() else { break };
                let batch = batch?;
                let positions = &order[batch.start..batch.start + batch.len];
                let x = batch.images.to_device(device);
                let targets = data.targets(&data.train_labels, positions, device);
                let t_data = Instant::now();
                lr = learning_rate(
                    &config.schedule,
                    config.optimizer.lr,
                    epoch - 1,
                    config.epochs,
                    step,
                    total_steps,
                );
                let logits = model.forward_t(&x, true);
                let t_forward = Instant::now();
                let (loss_per_sample, scores) = score(&logits, &targets, config.label_smoothing, config.save_probs)?;
                let t_scoring = Instant::now();
                opt.zero_grad();
                loss_per_sample.mean(Kind::Float).backward();
                let t_backward = Instant::now();
                opt.step(lr);
                step += 1;
                let t_optimizer = Instant::now();
                let ids: Vec<i64> = rows[batch.start..batch.start + batch.len]
                    .iter()
                    .map(|&r| data.table.sample_id[r])
                    .collect();
                train_cols.extend(&ids, &data.label_column(&data.train_labels, positions), scores);
                bar.inc(batch.len as u64);
                let t_done = Instant::now();
                // The message sums every row so far; a few updates a second are plenty.
                if t_done - shown >= Duration::from_millis(250) {
                    shown = t_done;
                    let secs = (t_done - pass_start).as_secs_f64().max(1e-9);
                    bar.set_message(format!(
                        "epoch {epoch}/{} loss {:.3} acc {:.1}% {:.0} img/s",
                        config.epochs,
                        train_cols.mean_loss(),
                        100.0 * train_cols.accuracy(),
                        train_cols.len() as f64 / secs
                    ));
                }
                phases.batches += 1;
                phases.data_wait += (t_data - wait_start).as_secs_f64();
                phases.forward += (t_forward - t_data).as_secs_f64();
                phases.scoring += (t_scoring - t_forward).as_secs_f64();
                phases.backward += (t_backward - t_scoring).as_secs_f64();
                phases.optimizer += (t_optimizer - t_backward).as_secs_f64();
                phases.bookkeeping += (t_done - t_optimizer).as_secs_f64();
            }
            Ok(())
        })?;
        let pass = pass_start.elapsed();
        train_time += pass;
        if train_cols.len() != n_train {
            return Err(TrainError::Worker(format!(
                "{}: epoch {epoch} saw {} of {n_train} training samples",
                job.run_id,
                train_cols.len()
            )));
        }
        let test_cols = evaluate(
            &model,
            data,
            &data.test_rows,
            &data.test_labels,
            config,
            device,
            opts.prefetch,
        )?;
        let train_eval = if config.train_eval {
            Some(evaluate(
                &model,
                data,
                &data.train_rows,
                &data.train_labels,
                config,
                device,
                opts.prefetch,
            )?)
        } else {
            None
        };
        let has_test = !test_cols.is_empty();
        records.push(EpochRecord {
            run_id: job.run_id.clone(),
            arch: config.arch.to_string(),
            network: job.index as i32,
            epoch: epoch as i32,
            train_accuracy: train_cols.accuracy(),
            train_loss: train_cols.mean_loss(),
            test_accuracy: has_test.then(|| test_cols.accuracy()),
            test_loss: has_test.then(|| test_cols.mean_loss()),
            learning_rate: lr,
            images_per_s: n_train as f64 / pass.as_secs_f64().max(1e-9),
            wall_s: epoch_start.elapsed().as_secs_f64(),
            device: device_name(device),
        });
        let mut splits: Vec<(&str, &PredictionColumns)> = vec![("train", &train_cols), ("test", &test_cols)];
        if let Some(te) = &train_eval {
            splits.push(("train_eval", te));
        }
        sink.predictions(job, epoch, &splits)?;
        if let Some(dir) = &opts.checkpoints {
            let mut tensors: Vec<(String, Tensor)> = vs
                .variables()
                .into_iter()
                .map(|(n, t)| (format!("model/{n}"), t))
                .collect();
            tensors.extend(opt.state_tensors().into_iter().map(|(n, t)| (format!("opt/{n}"), t)));
            let meta = CheckpointMeta {
                run_id: job.run_id.clone(),
                epoch,
                steps: opt.steps(),
                config: config.clone(),
                epochs: records.clone(),
            };
            checkpoint::save(dir, &meta, &tensors)?;
        }
        sink.epoch_done(job, &records, epoch == config.epochs)?;
    }
    Ok(NetworkOutcome {
        epochs: records,
        resumed_from,
        train_s: train_time.as_secs_f64(),
        phases,
    })
}

/// An eval-mode pass (no gradients, centre crops) over `rows`.
fn evaluate(
    model: &nn::FuncT<'static>,
    data: &TrainingData<'_>,
    rows: &[usize],
    labels: &[Vec<i32>],
    config: &TrainConfig,
    device: Device,
    prefetch: usize,
) -> Result<PredictionColumns, TrainError> {
    let _guard = tch::no_grad_guard();
    let mut cols = PredictionColumns::default();
    let bounds = batch_bounds(rows.len(), config.batch_size, false);
    std::thread::scope(|s| -> Result<(), TrainError> {
        for batch in data.pipeline.batches(s, rows.to_vec(), bounds, None, prefetch) {
            let batch = batch?;
            let positions: Vec<usize> = (batch.start..batch.start + batch.len).collect();
            let logits = model.forward_t(&batch.images.to_device(device), false);
            let targets = data.targets(labels, &positions, device);
            let (_, scores) = score(&logits, &targets, config.label_smoothing, config.save_probs)?;
            let ids: Vec<i64> = positions.iter().map(|&p| data.table.sample_id[rows[p]]).collect();
            cols.extend(&ids, &data.label_column(labels, &positions), scores);
        }
        Ok(())
    })?;
    Ok(cols)
}
