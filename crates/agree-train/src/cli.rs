//! `agree train <dir>`: options and the glue to [`crate::train_study`].

use std::path::PathBuf;

use agree_schema::sample_image::DEFAULT_MAX_PIXELS;
use clap::value_parser;

use agree_schema::Shard;

use crate::{
    Arch, Devices, Normalize, OptimizerConfig, OptimizerKind, RuntimeOptions, Schedule, TrainConfig, TrainError,
    TransformConfig,
};

/// The largest `--resize`/`--crop` side accepted.
pub const MAX_IMAGE_SIDE: i64 = 8192;

/// A finite number within `lo..=hi` (a clap value parser: NaN and ±inf are refused).
fn finite_in(text: &str, lo: f64, hi: f64) -> Result<f64, String> {
    let value: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number"))?;
    if !value.is_finite() || !(lo..=hi).contains(&value) {
        return Err(format!("`{text}` must be a finite number in {lo}..={hi}"));
    }
    Ok(value)
}

/// A finite number within `lo..hi` (`hi` excluded).
fn finite_below(text: &str, lo: f64, hi: f64) -> Result<f64, String> {
    let value = finite_in(text, lo, hi)?;
    if value >= hi {
        return Err(format!(
            "`{text}` must be a finite number in {lo}..{hi} ({hi} excluded)"
        ));
    }
    Ok(value)
}

/// A positive finite number up to `hi`.
fn positive_up_to(text: &str, hi: f64) -> Result<f64, String> {
    let value = finite_in(text, 0.0, hi)?;
    if value == 0.0 {
        return Err(format!("`{text}` must be a positive number"));
    }
    Ok(value)
}

/// The message of a train option error, without the `invalid option` prefix clap adds its own of.
fn option_message(e: TrainError) -> String {
    match e {
        TrainError::BadOption { message, .. } => message,
        other => other.to_string(),
    }
}

fn parse_arch(text: &str) -> Result<Arch, String> {
    text.parse().map_err(option_message)
}

fn parse_devices(text: &str) -> Result<Devices, String> {
    text.parse().map_err(option_message)
}

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
    /// Architectures, comma separated: lenet5, vgg16, resnet18, resnet50, resnet20, resnet-cifar-N (N = 6n+2),
    /// densenet121, wrn-D-W.
    #[arg(long, value_delimiter = ',', default_value = "resnet18", value_parser = parse_arch)]
    pub arch: Vec<Arch>,
    /// Networks per architecture (differing only by seed).
    #[arg(long, short = 'n', default_value_t = 5, value_parser = value_parser!(u32).range(1..=100_000))]
    pub networks: u32,
    /// Seed of network 0; network i uses seed + i.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Epochs.
    #[arg(long, default_value_t = 60, value_parser = value_parser!(u32).range(1..=1_000_000))]
    pub epochs: u32,
    /// Mini-batch size.
    #[arg(long, default_value_t = 128, value_parser = value_parser!(u32).range(2..=1 << 20))]
    pub batch_size: u32,
    /// Optimiser.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Sgd)]
    pub optimizer: OptimizerKind,
    /// Learning rate (peak rate for one-cycle).
    #[arg(long, default_value_t = 0.1, value_parser = |s: &str| positive_up_to(s, 1e3))]
    pub lr: f64,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9, value_parser = |s: &str| finite_below(s, 0.0, 1.0))]
    pub momentum: f64,
    /// SGD Nesterov momentum.
    #[arg(long)]
    pub nesterov: bool,
    /// Weight decay.
    #[arg(long, default_value_t = 5e-4, value_parser = |s: &str| finite_in(s, 0.0, 1.0))]
    pub weight_decay: f64,
    /// Adam β₁.
    #[arg(long, default_value_t = 0.9, value_parser = |s: &str| finite_below(s, 0.0, 1.0))]
    pub beta1: f64,
    /// Adam β₂.
    #[arg(long, default_value_t = 0.999, value_parser = |s: &str| finite_below(s, 0.0, 1.0))]
    pub beta2: f64,
    /// Learning-rate schedule.
    #[arg(long, value_enum, default_value_t = ScheduleName::Cosine)]
    pub schedule: ScheduleName,
    /// Step schedule: epochs between decays.
    #[arg(long, default_value_t = 30, value_parser = value_parser!(u32).range(1..))]
    pub step_every: u32,
    /// Step schedule: decay factor.
    #[arg(long, default_value_t = 0.1, value_parser = |s: &str| positive_up_to(s, 1.0))]
    pub step_gamma: f64,
    /// Label smoothing (0 = off).
    #[arg(long, default_value_t = 0.0, value_parser = |s: &str| finite_below(s, 0.0, 1.0))]
    pub label_smoothing: f64,
    /// Probability of replacing each training label by a random class.
    #[arg(long, default_value_t = 0.0, value_parser = |s: &str| finite_in(s, 0.0, 1.0))]
    pub label_noise: f64,
    /// Seed of the label randomisation.
    #[arg(long, default_value_t = 12345)]
    pub label_noise_seed: u64,
    /// Resize the shorter image side to this many pixels.
    #[arg(long, value_parser = value_parser!(u32).range(1..=MAX_IMAGE_SIDE))]
    pub resize: Option<u32>,
    /// Square crop: random position for training, centred for testing.
    #[arg(long, value_parser = value_parser!(u32).range(1..=MAX_IMAGE_SIDE))]
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
    /// Device: auto, cpu, cuda or cuda:N; or a list of CUDA devices (cuda:0,cuda:1,…): the
    /// networks are then dealt round-robin to them (the k-th network of each architecture
    /// this invocation trains goes to device k mod the list's length) and the devices
    /// train concurrently, --parallel networks at a time on each (one network at a time
    /// in all under --deterministic).
    #[arg(long, default_value = "auto", value_parser = parse_devices)]
    pub device: Devices,
    /// Train only this share of the networks: network indices n with n mod N = I (e.g.
    /// 1/4 trains networks 1, 5, 9, … of every architecture of the study). N invocations
    /// with I = 0..N-1, on as many machines, fill one experiment directory together:
    /// each writes only its networks' files (predictions/<run>/, epochs/<run>.parquet,
    /// runs/<run>.parquet, checkpoints/<run>/), with the same options otherwise.
    #[arg(long, default_value = "0/1", value_name = "I/N", value_parser = |s: &str| s.parse::<Shard>())]
    pub shard: Shard,
    /// Networks trained at the same time (on each device).
    #[arg(long, default_value_t = 1, value_parser = value_parser!(u16).range(1..=256))]
    pub parallel: u16,
    /// libtorch CPU threads (default: libtorch's choice).
    #[arg(long, value_parser = value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Reproducible mode: one network at a time, cuDNN autotuning off.
    #[arg(long)]
    pub deterministic: bool,
    /// Memory for caching decoded pixels, in MiB (above it, images are decoded per batch).
    #[arg(long, default_value_t = 4096, value_parser = value_parser!(u32).range(0..=1 << 30))]
    pub cache_mb: u32,
    /// Batches prepared ahead of the training step (0: each when the step asks for it).
    #[arg(long, default_value_t = 4, value_parser = value_parser!(u16).range(0..=256))]
    pub prefetch: u16,
    /// Do not write checkpoints (a rerun then starts over).
    #[arg(long)]
    pub no_checkpoints: bool,
    /// Stop after this epoch, leaving the runs resumable.
    #[arg(long, value_parser = value_parser!(u32).range(1..))]
    pub stop_after: Option<u32>,
    /// Largest image decoded, in pixels (width × height, read from the header first).
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS, value_parser = value_parser!(u64).range(1..))]
    pub max_pixels: u64,
}

impl TrainArgs {
    /// The training configurations, one per architecture, each validated.
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
            .map(|&arch| {
                if seen.contains(&arch) {
                    return Err(TrainError::option("--arch", format!("`{arch}` is listed twice")));
                }
                seen.push(arch);
                let config = TrainConfig {
                    arch,
                    networks: self.networks,
                    seed: self.seed,
                    epochs: self.epochs,
                    batch_size: self.batch_size as usize,
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
                };
                config.validate()?;
                Ok(config)
            })
            .collect()
    }

    /// How to run them.
    pub fn runtime(&self, quiet: bool) -> Result<RuntimeOptions, TrainError> {
        Ok(RuntimeOptions {
            device: self.device.clone(),
            shard: self.shard,
            parallel: usize::from(self.parallel),
            threads: self.threads.map(usize::from),
            deterministic: self.deterministic,
            cache_mb: self.cache_mb as usize,
            prefetch: usize::from(self.prefetch),
            max_pixels: self.max_pixels,
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
