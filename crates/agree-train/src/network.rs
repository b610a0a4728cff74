//! Training one network: the epoch loop, its train-pass and test-pass predictions,
//! checkpoints and resumption.

use std::{
    cell::Cell,
    collections::HashMap,
    path::{Path, PathBuf},
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
    loader::{Augment, InputPipeline, batch_bounds},
    models,
    optimizer::Optimizer,
    predictions::{BatchScores, PredictionColumns, Targets, score},
    samples::SampleTable,
    schedule::learning_rate,
    seeds::{self, RandomStream},
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
    /// The device it trains on (one of `--device`'s, dealt round-robin).
    pub device: Device,
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

/// Trains (or resumes) one network, handing each epoch's output to `sink`: resume →
/// per epoch (train pass → eval passes → record → checkpoint).
pub fn train_network(
    data: &TrainingData<'_>,
    config: &TrainConfig,
    job: &NetworkJob,
    opts: &NetworkOptions,
    sink: &dyn EpochSink,
) -> Result<NetworkOutcome, TrainError> {
    let mut net = Network::build(data, config, job, opts.device)?;
    // Resume after the last checkpoint, unless predictions of an epoch it covers were
    // lost: then from the newest checkpoint before that epoch (or from scratch).
    let first_missing = (1..=config.epochs).find(|&e| !sink.has_predictions(job, e));
    let (mut records, resumed_from) = match &opts.checkpoints {
        Some(dir) => net.resume(dir, first_missing, config)?,
        None => (Vec::new(), None),
    };
    let mut outcome = NetworkOutcome {
        epochs: Vec::new(),
        resumed_from,
        train_s: 0.0,
        phases: StepPhases::default(),
    };
    let start = resumed_from.map_or(1, |e| e + 1);
    if start > config.epochs {
        sink.epoch_done(job, &records, true)?;
        outcome.epochs = records;
        return Ok(outcome);
    }
    let plan = EpochPlan::new(data.train_rows.len(), config);
    for epoch in start..=config.epochs {
        if opts.stop_after_epoch.is_some_and(|k| epoch > k) {
            break;
        }
        let epoch_start = Instant::now();
        let pass = net.train_pass(data, config, job, opts, &plan, epoch, &mut outcome.phases)?;
        outcome.train_s += pass.seconds;
        let test = evaluate(&net.model, data, &data.test_rows, &data.test_labels, config, opts)?;
        let train_eval = if config.train_eval {
            Some(evaluate(
                &net.model,
                data,
                &data.train_rows,
                &data.train_labels,
                config,
                opts,
            )?)
        } else {
            None
        };
        records.push(epoch_record(job, config, epoch, &pass, &test, epoch_start, opts.device));
        let mut splits: Vec<(&str, &PredictionColumns)> = vec![("train", &pass.columns), ("test", &test)];
        if let Some(te) = &train_eval {
            splits.push(("train_eval", te));
        }
        sink.predictions(job, epoch, &splits)?;
        if let Some(dir) = &opts.checkpoints {
            net.checkpoint(dir, job, epoch, config, &records)?;
        }
        sink.epoch_done(job, &records, epoch == config.epochs)?;
    }
    outcome.epochs = records;
    Ok(outcome)
}

/// The batches of every training epoch and the schedule's step count.
struct EpochPlan {
    samples: usize,
    bounds: Vec<(usize, usize)>,
    total_steps: u64,
}

impl EpochPlan {
    fn new(samples: usize, config: &TrainConfig) -> Self {
        let bounds = batch_bounds(samples, config.batch_size, true);
        let total_steps = bounds.len() as u64 * u64::from(config.epochs);
        EpochPlan {
            samples,
            bounds,
            total_steps,
        }
    }
}

/// What one training pass produced.
struct TrainPass {
    /// The prediction rows of the pass (made before each batch's update).
    columns: PredictionColumns,
    /// The learning rate of the last step.
    lr: f64,
    /// Duration of the pass.
    seconds: f64,
}

/// A network being trained: weights, optimiser state and its random stream.
struct Network {
    vs: nn::VarStore,
    model: nn::FuncT<'static>,
    opt: Optimizer,
    stream: RandomStream,
}

impl Network {
    /// Builds the model with weights drawn from the network's seed.
    fn build(
        data: &TrainingData<'_>,
        config: &TrainConfig,
        job: &NetworkJob,
        device: Device,
    ) -> Result<Self, TrainError> {
        let stream = RandomStream::default();
        let (vs, model) = {
            let _init = INIT
                .lock()
                .map_err(|_| TrainError::Worker("model construction panicked".into()))?;
            tch::manual_seed(seeds::init_seed(job.seed));
            let vs = nn::VarStore::new(device);
            let geometry = data.pipeline.geometry;
            let model = models::build(config.arch, &vs.root(), data.classes as i64, geometry, &stream)?;
            (vs, model)
        };
        let opt = Optimizer::new(&vs, &config.optimizer);
        Ok(Network { vs, model, opt, stream })
    }

    /// Loads the newest usable checkpoint of `dir` (before the epoch `first_missing`,
    /// whose predictions are lost); returns the epoch rows it carries and its epoch.
    fn resume(
        &mut self,
        dir: &Path,
        first_missing: Option<u32>,
        config: &TrainConfig,
    ) -> Result<(Vec<EpochRecord>, Option<u32>), TrainError> {
        let Some((path, meta)) = checkpoint::latest(dir, first_missing)? else {
            return Ok((Vec::new(), None));
        };
        let bad = |message: String| TrainError::Checkpoint {
            path: path.clone(),
            message,
        };
        if !same_recipe(&meta.config, config) {
            return Err(bad("was written with a different training configuration; \
                            train into a new directory or delete this run's checkpoints and predictions"
                .into()));
        }
        let saved = checkpoint::load_tensors(&path)?;
        self.load_weights(&saved).map_err(bad)?;
        let opt_state = saved
            .iter()
            .filter_map(|(k, t)| Some((k.strip_prefix("opt/")?.to_string(), t.shallow_clone())))
            .collect();
        self.opt.load_state(&opt_state, meta.steps).map_err(bad)?;
        Ok((meta.epochs, Some(meta.epoch)))
    }

    /// Copies the `model/…` tensors of a checkpoint into the weights.
    fn load_weights(&self, saved: &HashMap<String, Tensor>) -> Result<(), String> {
        let _guard = tch::no_grad_guard();
        for (name, mut var) in self.vs.variables() {
            let src = saved
                .get(&format!("model/{name}"))
                .ok_or_else(|| format!("weights `{name}` missing"))?;
            if src.size() != var.size() {
                return Err(format!(
                    "weights `{name}` have shape {:?}, expected {:?}",
                    src.size(),
                    var.size()
                ));
            }
            var.copy_(src);
        }
        Ok(())
    }

    /// One pass over the training samples in the epoch's order, one optimiser step per
    /// batch, recording each batch's predictions before its update.
    #[allow(clippy::too_many_arguments)]
    fn train_pass(
        &mut self,
        data: &TrainingData<'_>,
        config: &TrainConfig,
        job: &NetworkJob,
        opts: &NetworkOptions,
        plan: &EpochPlan,
        epoch: u32,
        phases: &mut StepPhases,
    ) -> Result<TrainPass, TrainError> {
        self.stream.restart(seeds::dropout_stream(job.seed, epoch));
        let mut order: Vec<usize> = (0..plan.samples).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seeds::epoch_order(job.seed, epoch)));
        let rows: Vec<usize> = order.iter().map(|&p| data.train_rows[p]).collect();
        let augment = Augment {
            seed: job.seed,
            epoch,
            hflip: config.transform.hflip,
        };
        let lr_at = |step: u64| {
            let lr = config.optimizer.lr;
            learning_rate(&config.schedule, lr, epoch - 1, config.epochs, step, plan.total_steps)
        };
        let mut lr = lr_at(self.opt.steps());
        let mut columns = PredictionColumns::default();
        let progress = Progress::new(&opts.progress, plan.samples, epoch, config.epochs);
        let pass_start = Instant::now();
        std::thread::scope(|s| -> Result<(), TrainError> {
            let bounds = plan.bounds.clone();
            let batches = data
                .pipeline
                .batches(s, rows.clone(), bounds, Some(augment), opts.prefetch);
            let mut wait_start = Instant::now();
            for batch in batches {
                let batch = batch?;
                let positions = &order[batch.start..batch.start + batch.len];
                let x = batch.images.to_device(opts.device);
                let targets = data.targets(&data.train_labels, positions, opts.device);
                let t_data = Instant::now();
                phases.data_wait += (t_data - wait_start).as_secs_f64();
                lr = lr_at(self.opt.steps());
                let scores = self.train_step(&x, &targets, config, lr, phases)?;
                let t_step = Instant::now();
                let ids: Vec<i64> = rows[batch.start..batch.start + batch.len]
                    .iter()
                    .map(|&r| data.table.sample_id[r])
                    .collect();
                columns.extend(&ids, &data.label_column(&data.train_labels, positions), scores);
                progress.batch_done(batch.len, &columns, pass_start);
                wait_start = Instant::now();
                phases.batches += 1;
                phases.bookkeeping += (wait_start - t_step).as_secs_f64();
            }
            Ok(())
        })?;
        if columns.len() != plan.samples {
            return Err(TrainError::Worker(format!(
                "{}: epoch {epoch} saw {} of {} training samples",
                job.run_id,
                columns.len(),
                plan.samples
            )));
        }
        Ok(TrainPass {
            columns,
            lr,
            seconds: pass_start.elapsed().as_secs_f64(),
        })
    }

    /// Forward, per-sample scores, backward and one optimiser step at `lr`.
    fn train_step(
        &mut self,
        x: &Tensor,
        targets: &Targets,
        config: &TrainConfig,
        lr: f64,
        phases: &mut StepPhases,
    ) -> Result<BatchScores, TrainError> {
        let t0 = Instant::now();
        let logits = self.model.forward_t(x, true);
        let t_forward = Instant::now();
        let (loss_per_sample, scores) = score(&logits, targets, config.label_smoothing, config.save_probs)?;
        let t_scoring = Instant::now();
        self.opt.zero_grad();
        loss_per_sample.mean(Kind::Float).backward();
        let t_backward = Instant::now();
        self.opt.step(lr);
        let t_optimizer = Instant::now();
        phases.forward += (t_forward - t0).as_secs_f64();
        phases.scoring += (t_scoring - t_forward).as_secs_f64();
        phases.backward += (t_backward - t_scoring).as_secs_f64();
        phases.optimizer += (t_optimizer - t_backward).as_secs_f64();
        Ok(scores)
    }

    /// Saves weights, optimiser state and the epoch rows so far.
    fn checkpoint(
        &self,
        dir: &Path,
        job: &NetworkJob,
        epoch: u32,
        config: &TrainConfig,
        records: &[EpochRecord],
    ) -> Result<(), TrainError> {
        let mut tensors: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .map(|(n, t)| (format!("model/{n}"), t))
            .collect();
        tensors.extend(
            self.opt
                .state_tensors()
                .into_iter()
                .map(|(n, t)| (format!("opt/{n}"), t)),
        );
        let meta = CheckpointMeta {
            run_id: job.run_id.clone(),
            epoch,
            steps: self.opt.steps(),
            config: config.clone(),
            epochs: records.to_vec(),
        };
        checkpoint::save(dir, &meta, &tensors)?;
        Ok(())
    }
}

/// The progress bar of one training pass.
struct Progress<'a> {
    bar: &'a ProgressBar,
    epoch: u32,
    epochs: u32,
    shown: Cell<Instant>,
}

impl<'a> Progress<'a> {
    fn new(bar: &'a ProgressBar, samples: usize, epoch: u32, epochs: u32) -> Self {
        bar.set_length(samples as u64);
        bar.set_position(0);
        Progress {
            bar,
            epoch,
            epochs,
            shown: Cell::new(Instant::now()),
        }
    }

    fn batch_done(&self, len: usize, columns: &PredictionColumns, pass_start: Instant) {
        self.bar.inc(len as u64);
        let now = Instant::now();
        // The message sums every row so far; a few updates a second are plenty.
        if now - self.shown.get() >= Duration::from_millis(250) {
            self.shown.set(now);
            let secs = (now - pass_start).as_secs_f64().max(1e-9);
            self.bar.set_message(format!(
                "epoch {}/{} loss {:.3} acc {:.1}% {:.0} img/s",
                self.epoch,
                self.epochs,
                columns.mean_loss(),
                100.0 * columns.accuracy(),
                columns.len() as f64 / secs
            ));
        }
    }
}

/// The `epochs` row of one finished epoch.
fn epoch_record(
    job: &NetworkJob,
    config: &TrainConfig,
    epoch: u32,
    pass: &TrainPass,
    test: &PredictionColumns,
    epoch_start: Instant,
    device: Device,
) -> EpochRecord {
    let has_test = !test.is_empty();
    EpochRecord {
        run_id: job.run_id.clone(),
        arch: config.arch.to_string(),
        network: job.index as i32,
        epoch: epoch as i32,
        train_accuracy: pass.columns.accuracy(),
        train_loss: pass.columns.mean_loss(),
        test_accuracy: has_test.then(|| test.accuracy()),
        test_loss: has_test.then(|| test.mean_loss()),
        learning_rate: pass.lr,
        images_per_s: pass.columns.len() as f64 / pass.seconds.max(1e-9),
        wall_s: epoch_start.elapsed().as_secs_f64(),
        device: device_name(device),
    }
}

/// An eval-mode pass (no gradients, centre crops) over `rows`.
fn evaluate(
    model: &nn::FuncT<'static>,
    data: &TrainingData<'_>,
    rows: &[usize],
    labels: &[Vec<i32>],
    config: &TrainConfig,
    opts: &NetworkOptions,
) -> Result<PredictionColumns, TrainError> {
    let (device, prefetch) = (opts.device, opts.prefetch);
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
