//! `agree train <dir>`: options and the glue to [`crate::train_study`].

use std::path::PathBuf;

use crate::{
    Arch, DeviceChoice, Normalize, OptimizerConfig, OptimizerKind, RuntimeOptions, Schedule, TrainConfig, TrainError,
    TransformConfig,
};

/// Schedule names on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleName {
    /// Constant learning rate.
    Constant,
    /// Cosine annealing per epoch.
    Cosine,
    /// Multiply by --step-gamma every --step-every epochs.
    Step,
    /// One-cycle per batch.
    Onecycle,
}

/// Train N networks per architecture on an experiment directory's samples and write
/// their per-epoch predictions, epoch summaries and run records.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Experiment directory holding samples.parquet.
    pub dir: PathBuf,
    /// Architectures, comma separated: lenet5, vgg16, resnet18, resnet50, densenet121, wrn-D-W.
    #[arg(long, value_delimiter = ',', default_value = "resnet18")]
    pub arch: Vec<String>,
    /// Networks per architecture (differing only by seed).
    #[arg(long, short = 'n', default_value_t = 5)]
    pub networks: u32,
    /// Seed of network 0; network i uses seed + i.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Epochs.
    #[arg(long, default_value_t = 60)]
    pub epochs: u32,
    /// Mini-batch size.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Optimiser.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Sgd)]
    pub optimizer: OptimizerKind,
    /// Learning rate (peak rate for one-cycle).
    #[arg(long, default_value_t = 0.1)]
    pub lr: f64,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// SGD Nesterov momentum.
    #[arg(long)]
    pub nesterov: bool,
    /// Weight decay.
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    /// Adam β₁.
    #[arg(long, default_value_t = 0.9)]
    pub beta1: f64,
    /// Adam β₂.
    #[arg(long, default_value_t = 0.999)]
    pub beta2: f64,
    /// Learning-rate schedule.
    #[arg(long, value_enum, default_value_t = ScheduleName::Cosine)]
    pub schedule: ScheduleName,
    /// Step schedule: epochs between decays.
    #[arg(long, default_value_t = 30)]
    pub step_every: u32,
    /// Step schedule: decay factor.
    #[arg(long, default_value_t = 0.1)]
    pub step_gamma: f64,
    /// Label smoothing (0 = off).
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f64,
    /// Probability of replacing each training label by a random class.
    #[arg(long, default_value_t = 0.0)]
    pub label_noise: f64,
    /// Seed of the label randomisation.
    #[arg(long, default_value_t = 12345)]
    pub label_noise_seed: u64,
    /// Resize the shorter image side to this many pixels.
    #[arg(long)]
    pub resize: Option<u32>,
    /// Square crop: random position for training, centred for testing.
    #[arg(long)]
    pub crop: Option<u32>,
    /// Random horizontal flips of training images.
    #[arg(long)]
    pub hflip: bool,
    /// Normalisation statistics.
    #[arg(long, value_enum, default_value_t = Normalize::Train)]
    pub normalize: Normalize,
    /// Train on a seeded random subset of this many training samples (0 = all).
    #[arg(long, default_value_t = 0)]
    pub train_limit: usize,
    /// Evaluate on a seeded random subset of this many test samples (0 = all).
    #[arg(long, default_value_t = 0)]
    pub test_limit: usize,
    /// Also write a clean eval-mode pass over the training set (split `train_eval`).
    #[arg(long)]
    pub train_eval: bool,
    /// Store the full probability vector of every prediction.
    #[arg(long)]
    pub save_probs: bool,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Networks trained at the same time.
    #[arg(long, default_value_t = 1)]
    pub parallel: usize,
    /// libtorch CPU threads (default: libtorch's choice).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Reproducible mode: one network at a time, cuDNN autotuning off.
    #[arg(long)]
    pub deterministic: bool,
    /// Memory for caching decoded pixels, in MiB (above it, images are decoded per batch).
    #[arg(long, default_value_t = 4096)]
    pub cache_mb: usize,
    /// Batches prepared ahead of the training step (0: each when the step asks for it).
    #[arg(long, default_value_t = 4)]
    pub prefetch: usize,
    /// Do not write checkpoints (a rerun then starts over).
    #[arg(long)]
    pub no_checkpoints: bool,
    /// Stop after this epoch, leaving the runs resumable.
    #[arg(long)]
    pub stop_after: Option<u32>,
}

impl TrainArgs {
    /// The training configurations, one per architecture.
    pub fn configs(&self) -> Result<Vec<TrainConfig>, TrainError> {
        let schedule = match self.schedule {
            ScheduleName::Constant => Schedule::Constant,
            ScheduleName::Cosine => Schedule::Cosine,
            ScheduleName::Step => Schedule::Step {
                every: self.step_every,
                gamma: self.step_gamma,
            },
            ScheduleName::Onecycle => Schedule::Onecycle,
        };
        let mut seen: Vec<Arch> = Vec::new();
        self.arch
            .iter()
            .map(|name| {
                let arch: Arch = name.parse()?;
                if seen.contains(&arch) {
                    return Err(TrainError::option("--arch", format!("`{arch}` is listed twice")));
                }
                seen.push(arch);
                Ok(TrainConfig {
                    arch,
                    networks: self.networks,
                    seed: self.seed,
                    epochs: self.epochs,
                    batch_size: self.batch_size,
                    optimizer: OptimizerConfig {
                        kind: self.optimizer,
                        lr: self.lr,
                        momentum: self.momentum,
                        nesterov: self.nesterov,
                        weight_decay: self.weight_decay,
                        betas: (self.beta1, self.beta2),
                        eps: 1e-8,
                    },
                    schedule: schedule.clone(),
                    label_smoothing: self.label_smoothing,
                    label_noise: self.label_noise,
                    label_noise_seed: self.label_noise_seed,
                    transform: TransformConfig {
                        resize: self.resize,
                        crop: self.crop,
                        hflip: self.hflip,
                        normalize: self.normalize,
                    },
                    train_limit: self.train_limit,
                    test_limit: self.test_limit,
                    train_eval: self.train_eval,
                    save_probs: self.save_probs,
                })
            })
            .collect()
    }

    /// How to run them.
    pub fn runtime(&self, quiet: bool) -> Result<RuntimeOptions, TrainError> {
        Ok(RuntimeOptions {
            device: self.device.parse::<DeviceChoice>()?,
            parallel: self.parallel,
            threads: self.threads,
            deterministic: self.deterministic,
            cache_mb: self.cache_mb,
            prefetch: self.prefetch,
            quiet,
            checkpoints: !self.no_checkpoints,
            stop_after_epoch: self.stop_after,
        })
    }
}

/// Runs `agree train`.
pub fn run(args: &TrainArgs, quiet: bool) -> Result<(), TrainError> {
    let configs = args.configs()?;
    let rt = args.runtime(quiet)?;
    crate::train_study(&args.dir, &configs, &rt)?;
    Ok(())
}
