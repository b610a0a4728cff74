//! The training configuration: everything that decides what a network learns. It is
//! recorded as JSON in `runs.config` and must match for a checkpoint to be resumed.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::TrainError;

/// A network architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Arch {
    /// LeNet-5 (two 5×5 convolutions, three fully connected layers; ReLU, max pooling).
    Lenet5,
    /// VGG-16 with batch normalisation.
    Vgg16,
    /// ResNet-18 (basic blocks).
    Resnet18,
    /// ResNet-50 (bottleneck blocks).
    Resnet50,
    /// The CIFAR ResNet-depth of He et al. 2016 §4.2 (depth = 6n+2: three stages of n
    /// basic blocks with 16/32/64 filters, parameter-free option A shortcuts);
    /// `resnet20` is depth 20.
    ResnetCifar {
        /// Depth (layers): 6n+2.
        depth: u32,
    },
    /// DenseNet-121 (growth 32, blocks 6-12-24-16).
    Densenet121,
    /// Wide ResNet WRN-depth-width (pre-activation blocks).
    Wrn {
        /// Depth (layers).
        depth: u32,
        /// Width multiplier.
        width: u32,
    },
}

impl Arch {
    /// Every architecture name understood, for error messages.
    pub const NAMES: &'static str = "lenet5, vgg16, resnet18, resnet50, resnet20, resnet-cifar-N (N = 6n+2, e.g. resnet-cifar-56), densenet121, \
         wrn-D-W (e.g. wrn-16-4)";
}

impl FromStr for Arch {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase().replace('_', "-");
        let arch = match name.as_str() {
            "lenet5" | "lenet-5" | "lenet" => Arch::Lenet5,
            "vgg16" | "vgg-16" | "vgg16-bn" => Arch::Vgg16,
            "resnet18" | "resnet-18" => Arch::Resnet18,
            "resnet50" | "resnet-50" => Arch::Resnet50,
            "densenet121" | "densenet-121" => Arch::Densenet121,
            "resnet20" | "resnet-20" => Arch::ResnetCifar { depth: 20 },
            other if other.starts_with("resnet-cifar") => parse_resnet_cifar(s, other)?,
            other => {
                let wrn = other
                    .strip_prefix("wrn-")
                    .or_else(|| other.strip_prefix("wrn"))
                    .and_then(|rest| rest.split_once('-'))
                    .and_then(|(d, w)| Some((d.parse::<u32>().ok()?, w.parse::<u32>().ok()?)));
                match wrn {
                    Some((depth, width)) if depth >= 10 && (depth - 4) % 6 == 0 && width >= 1 => {
                        Arch::Wrn { depth, width }
                    }
                    Some((depth, _)) => {
                        return Err(TrainError::option(
                            "--arch",
                            format!("`{s}`: WRN depth must be 6n+4 (10, 16, 22, 28, …), got {depth}"),
                        ));
                    }
                    None => {
                        return Err(TrainError::option(
                            "--arch",
                            format!("unknown architecture `{s}`; known: {}", Arch::NAMES),
                        ));
                    }
                }
            }
        };
        Ok(arch)
    }
}

/// `resnet-cifar-N` (`name` normalised, `s` as given): N must be 6n+2.
fn parse_resnet_cifar(s: &str, name: &str) -> Result<Arch, TrainError> {
    let digits = name.trim_start_matches("resnet-cifar").trim_start_matches('-');
    let depth: u32 = digits.parse().map_err(|_| {
        TrainError::option(
            "--arch",
            format!("`{s}`: expected resnet-cifar-N with a depth N = 6n+2 (e.g. resnet-cifar-20)"),
        )
    })?;
    crate::models::blocks_per_stage(depth)
        .map_err(|problem| TrainError::option("--arch", format!("`{s}`: {problem}")))?;
    Ok(Arch::ResnetCifar { depth })
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arch::Lenet5 => f.write_str("lenet5"),
            Arch::Vgg16 => f.write_str("vgg16"),
            Arch::Resnet18 => f.write_str("resnet18"),
            Arch::Resnet50 => f.write_str("resnet50"),
            Arch::Densenet121 => f.write_str("densenet121"),
            Arch::ResnetCifar { depth: 20 } => f.write_str("resnet20"),
            Arch::ResnetCifar { depth } => write!(f, "resnet-cifar-{depth}"),
            Arch::Wrn { depth, width } => write!(f, "wrn-{depth}-{width}"),
        }
    }
}

impl TryFrom<String> for Arch {
    type Error = TrainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Arch> for String {
    fn from(a: Arch) -> String {
        a.to_string()
    }
}

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Stochastic gradient descent with momentum (PyTorch's `SGD`, dampening 0).
    Sgd,
    /// Adam with L2 weight decay added to the gradient (PyTorch's `Adam`).
    Adam,
    /// Adam with decoupled weight decay (PyTorch's `AdamW`).
    Adamw,
}

/// Optimiser settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    /// Update rule.
    pub kind: OptimizerKind,
    /// Base (for one-cycle: peak) learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// SGD Nesterov momentum.
    pub nesterov: bool,
    /// Weight decay.
    pub weight_decay: f64,
    /// Adam β₁, β₂.
    pub betas: (f64, f64),
    /// Adam ε.
    pub eps: f64,
}

/// Learning-rate schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Cosine annealing to 0 over the planned epochs, stepped per epoch (PyTorch's
    /// `CosineAnnealingLR(T_max=epochs)`).
    Cosine,
    /// Multiply by `gamma` every `every` epochs (PyTorch's `StepLR`).
    Step {
        /// Epochs between decays.
        every: u32,
        /// Decay factor.
        gamma: f64,
    },
    /// One cycle over all steps, stepped per batch (PyTorch's `OneCycleLR` defaults:
    /// 30% warm-up from lr/25, cosine annealing down to lr/25/10⁴).
    Onecycle,
}

/// Input pipeline: SPEC §4's resize, crop and flips, then normalisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformConfig {
    /// Resize the shorter side to this many pixels first (aspect ratio kept).
    pub resize: Option<u32>,
    /// Square crop size: random position for train, centre for test.
    pub crop: Option<u32>,
    /// Random horizontal flips of training images.
    pub hflip: bool,
    /// Per-channel normalisation.
    pub normalize: Normalize,
}

/// Where the per-channel mean and standard deviation come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    /// Measured on the training split (on up to 10,000 evenly spaced images).
    Train,
    /// The ImageNet constants (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225).
    Imagenet,
    /// Pixels scaled to 0..1 only.
    None,
}

/// Everything that decides what the networks learn (device and threads excluded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Architecture.
    pub arch: Arch,
    /// Number of networks (seed indices 0..N-1).
    pub networks: u32,
    /// Seed of network 0; network i uses `seed + i`.
    pub seed: u64,
    /// Epochs to train.
    pub epochs: u32,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Optimiser.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Label smoothing of the cross-entropy (0 = off).
    pub label_smoothing: f64,
    /// Probability of replacing a training label by a uniformly random class.
    pub label_noise: f64,
    /// Seed fixing the randomised labels (the reference used 12345).
    pub label_noise_seed: u64,
    /// Input pipeline.
    pub transform: TransformConfig,
    /// Use at most this many training samples (a seeded random subset; 0 = all).
    pub train_limit: usize,
    /// Use at most this many test samples (a seeded random subset; 0 = all).
    pub test_limit: usize,
    /// Also write a clean eval-mode pass over the training split (`train_eval`).
    pub train_eval: bool,
    /// Store the full probability vector of each prediction.
    pub save_probs: bool,
}

impl TrainConfig {
    /// The CIFAR-10 reference recipe (SPEC §4) for an architecture: batch 128, SGD lr
    /// 0.1 momentum 0.9 wd 5e-4, cosine annealing, 60 epochs, no augmentation.
    pub fn reference(arch: Arch) -> Self {
        TrainConfig {
            arch,
            networks: 5,
            seed: 0,
            epochs: 60,
            batch_size: 128,
            optimizer: OptimizerConfig {
                kind: OptimizerKind::Sgd,
                lr: 0.1,
                momentum: 0.9,
                nesterov: false,
                weight_decay: 5e-4,
                betas: (0.9, 0.999),
                eps: 1e-8,
            },
            schedule: Schedule::Cosine,
            label_smoothing: 0.0,
            label_noise: 0.0,
            label_noise_seed: 12345,
            transform: TransformConfig {
                resize: None,
                crop: None,
                hflip: false,
                normalize: Normalize::Train,
            },
            train_limit: 0,
            test_limit: 0,
            train_eval: false,
            save_probs: false,
        }
    }

    /// Checks values that make no sense on any data.
    pub fn validate(&self) -> Result<(), TrainError> {
        if self.networks == 0 {
            return Err(TrainError::option("--networks", "must be at least 1"));
        }
        if self.epochs == 0 {
            return Err(TrainError::option("--epochs", "must be at least 1"));
        }
        if self.batch_size < 2 {
            return Err(TrainError::option("--batch-size", "must be at least 2 (batch norm)"));
        }
        if !(self.optimizer.lr > 0.0 && self.optimizer.lr.is_finite()) {
            return Err(TrainError::option("--lr", "must be a positive number"));
        }
        if !(0.0..=1.0).contains(&self.label_noise) {
            return Err(TrainError::option("--label-noise", "must lie in 0..1"));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(TrainError::option("--label-smoothing", "must lie in 0..1 (exclusive)"));
        }
        if let Schedule::Step { every, .. } = self.schedule
            && every == 0
        {
            return Err(TrainError::option("--step-every", "must be at least 1"));
        }
        if self.transform.crop == Some(0) || self.transform.resize == Some(0) {
            return Err(TrainError::option("--crop/--resize", "must be at least 1 pixel"));
        }
        if let (Some(crop), Some(resize)) = (self.transform.crop, self.transform.resize)
            && crop > resize
        {
            return Err(TrainError::option(
                "--crop",
                format!("{crop} is larger than --resize {resize}, the shorter side of every resized image"),
            ));
        }
        Ok(())
    }

    /// The seed of network `index`.
    pub fn network_seed(&self, index: u32) -> u64 {
        crate::seeds::network_seed(self.seed, index)
    }

    /// Identifier of network `index`: `<arch>-s<index>`.
    pub fn run_id(&self, index: u32) -> String {
        format!("{}-s{index}", self.arch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names_round_trip() {
        for name in [
            "lenet5",
            "vgg16",
            "resnet18",
            "resnet50",
            "densenet121",
            "wrn-16-4",
            "wrn-28-10",
            "resnet20",
            "resnet-cifar-8",
            "resnet-cifar-56",
            "resnet-cifar-110",
        ] {
            assert_eq!(name.parse::<Arch>().unwrap().to_string(), name);
        }
        assert_eq!("WRN16-4".parse::<Arch>().unwrap(), Arch::Wrn { depth: 16, width: 4 });
        assert_eq!("ResNet-20".parse::<Arch>().unwrap(), Arch::ResnetCifar { depth: 20 });
        assert_eq!("resnet-cifar-20".parse::<Arch>().unwrap().to_string(), "resnet20");
        assert_eq!(
            "resnet_cifar_32".parse::<Arch>().unwrap(),
            Arch::ResnetCifar { depth: 32 }
        );
    }

    #[test]
    fn cifar_resnet_depths_other_than_6n_plus_2_are_refused_by_name() {
        for bad in ["resnet-cifar-21", "resnet-cifar-18", "resnet-cifar-2", "resnet-cifar-0"] {
            let err = bad.parse::<Arch>().unwrap_err().to_string();
            assert!(
                err.contains(bad) && err.contains("6n+2") && err.contains("--arch"),
                "{err}"
            );
        }
        let err = "resnet-cifar-x".parse::<Arch>().unwrap_err().to_string();
        assert!(err.contains("resnet-cifar-x") && err.contains("6n+2"), "{err}");
        let err = "resnet-cifar".parse::<Arch>().unwrap_err().to_string();
        assert!(err.contains("resnet-cifar-N"), "{err}");
    }

    #[test]
    fn unknown_architectures_are_named_in_the_error() {
        let err = "alexnet".parse::<Arch>().unwrap_err().to_string();
        assert!(err.contains("alexnet") && err.contains("resnet18"), "{err}");
        assert!("wrn-15-4".parse::<Arch>().is_err(), "depth must be 6n+4");
    }

    #[test]
    fn a_crop_larger_than_the_resized_side_is_refused() {
        let mut c = TrainConfig::reference(Arch::Lenet5);
        c.transform.resize = Some(32);
        c.transform.crop = Some(32);
        c.validate().unwrap();
        c.transform.crop = Some(33);
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("--crop") && err.contains("33") && err.contains("--resize 32"),
            "{err}"
        );
        c.transform.resize = None;
        c.validate().unwrap();
    }

    #[test]
    fn config_survives_json() {
        let mut c = TrainConfig::reference(Arch::Wrn { depth: 16, width: 4 });
        c.schedule = Schedule::Step { every: 30, gamma: 0.3 };
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"wrn-16-4\""), "{json}");
        assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), c);
    }
}
