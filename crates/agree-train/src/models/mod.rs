//! Architectures as plain functions that build a `tch` module into a var store, in
//! the style of `tch::vision`. Small inputs get the CIFAR-style stem (no early
//! down-sampling), larger ones the ImageNet stem. Every convolution and linear layer
//! starts from kaiming-normal weights and zero biases; batch norms from 1 and 0.

mod densenet;
mod lenet;
mod resnet;
mod resnet_cifar;
mod vgg;
mod wrn;

use tch::nn;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

pub use resnet_cifar::blocks_per_stage;

use crate::{TrainError, config::Arch, seeds::RandomStream, transform::Geometry};

/// Inputs whose shorter side is at most this many pixels use the CIFAR-style stem.
pub const SMALL_INPUT_MAX: usize = 64;

/// Which first layers a network gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stem {
    /// 3×3 stride-1 convolution, no pooling (32×32-like inputs).
    Cifar,
    /// 7×7 stride-2 convolution and max pooling (ImageNet-like inputs).
    Imagenet,
}

impl Stem {
    /// The stem for an input size.
    pub fn for_input(geometry: Geometry) -> Self {
        if geometry.height.min(geometry.width) <= SMALL_INPUT_MAX {
            Stem::Cifar
        } else {
            Stem::Imagenet
        }
    }
}

/// The smallest input side the architecture can take with this stem.
pub fn min_input_side(arch: Arch, stem: Stem) -> usize {
    match (arch, stem) {
        // conv5, pool2, conv5, pool2 must leave at least one pixel.
        (Arch::Lenet5, _) => 16,
        // Five 2×2 max pools.
        (Arch::Vgg16, _) => 32,
        (Arch::Resnet18 | Arch::Resnet50, Stem::Cifar) => 8,
        (Arch::Densenet121, Stem::Cifar) => 8,
        (Arch::Resnet18 | Arch::Resnet50 | Arch::Densenet121, Stem::Imagenet) => 32,
        // Two stride-2 stages; a CIFAR ResNet has no ImageNet stem.
        (Arch::Wrn { .. } | Arch::ResnetCifar { .. }, _) => 4,
    }
}

/// Checks that `arch` can take inputs of `geometry` and predict `classes` classes.
pub fn check_input(arch: Arch, classes: i64, geometry: Geometry) -> Result<(), TrainError> {
    let stem = Stem::for_input(geometry);
    let min = min_input_side(arch, stem);
    let side = geometry.height.min(geometry.width);
    if side < min {
        return Err(TrainError::option(
            "--arch",
            format!(
                "{arch} needs inputs of at least {min}×{min} pixels, the data gives {}×{} (use --resize)",
                geometry.width, geometry.height
            ),
        ));
    }
    if classes < 1 {
        return Err(TrainError::option("--arch", "the dataset names no classes"));
    }
    Ok(())
}

/// Builds `arch` for `classes` outputs and inputs of `geometry` under `vs`; draws made
/// while training (dropout masks) come from `stream`.
pub fn build(
    arch: Arch,
    vs: &nn::Path,
    classes: i64,
    geometry: Geometry,
    stream: &RandomStream,
) -> Result<nn::FuncT<'static>, TrainError> {
    check_input(arch, classes, geometry)?;
    let stem = Stem::for_input(geometry);
    Ok(match arch {
        Arch::Lenet5 => lenet::lenet5(vs, classes, geometry),
        Arch::Vgg16 => vgg::vgg16(vs, classes, stem, stream.clone()),
        Arch::Resnet18 => resnet::resnet18(vs, classes, stem),
        Arch::Resnet50 => resnet::resnet50(vs, classes, stem),
        Arch::Densenet121 => densenet::densenet121(vs, classes, stem),
        Arch::Wrn { depth, width } => wrn::wrn(vs, classes, depth as i64, width as i64),
        Arch::ResnetCifar { depth } => {
            let n = blocks_per_stage(depth).map_err(|problem| TrainError::option("--arch", problem))?;
            resnet_cifar::resnet_cifar(vs, classes, n)
        }
    })
}

/// Trainable parameters of `arch` for `classes` outputs and inputs of `geometry`.
pub fn parameter_count(arch: Arch, classes: i64, geometry: Geometry) -> Result<usize, TrainError> {
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let _model = build(arch, &vs.root(), classes, geometry, &RandomStream::default())?;
    Ok(vs.trainable_variables().iter().map(|t| t.numel()).sum())
}

/// Inverted dropout (zeroes each element with probability `p`, scales the others by
/// 1/(1−p)) with its mask drawn from the network's own `stream` rather than libtorch's
/// global generator, so networks trained side by side (`--parallel`) draw the same
/// masks as networks trained alone. Identity when not training.
pub fn seeded_dropout(xs: &Tensor, p: f64, train: bool, stream: &RandomStream) -> Tensor {
    if !train || p <= 0.0 {
        return xs.shallow_clone();
    }
    if p >= 1.0 {
        return xs.zeros_like();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(stream.next_key());
    // Keep an element when a uniform 32-bit draw falls below (1 − p)·2³².
    let threshold = ((1.0 - p) * 4_294_967_296.0) as u64;
    let scale = (1.0 / (1.0 - p)) as f32;
    let mask: Vec<f32> = (0..xs.numel())
        .map(|_| {
            if u64::from(rng.next_u32()) < threshold {
                scale
            } else {
                0.0
            }
        })
        .collect();
    let mask = Tensor::from_slice(&mask)
        .view(xs.size().as_slice())
        .to_kind(xs.kind())
        .to_device(xs.device());
    xs * mask
}

/// Kaiming-normal (fan-out, ReLU gain) as torchvision initialises convolutions.
const CONV_INIT: nn::Init = nn::Init::Kaiming {
    dist: nn::init::NormalOrUniform::Normal,
    fan: nn::init::FanInOut::FanOut,
    non_linearity: nn::init::NonLinearity::ReLU,
};

/// A convolution with kaiming-normal weights.
fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, padding: i64, bias: bool) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding,
        bias,
        ws_init: CONV_INIT,
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    nn::conv2d(p, c_in, c_out, k, cfg)
}

/// A linear layer with kaiming-normal (fan-in) weights and zero bias.
fn linear(p: nn::Path, c_in: i64, c_out: i64) -> nn::Linear {
    let cfg = nn::LinearConfig {
        ws_init: nn::init::DEFAULT_KAIMING_NORMAL,
        bs_init: Some(nn::Init::Const(0.0)),
        bias: true,
    };
    nn::linear(p, c_in, c_out, cfg)
}

/// Batch norm with weight 1 and bias 0.
fn batch_norm(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, c, Default::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_masks_come_from_the_network_stream_alone() {
        let xs = Tensor::ones([64, 256], (tch::Kind::Float, tch::Device::Cpu));
        let stream = RandomStream::default();
        let masks = |key: u64| {
            stream.restart(key);
            // Reseeding libtorch's global generator in between (as another network's
            // thread could) must change nothing.
            tch::manual_seed(1);
            let a = seeded_dropout(&xs, 0.5, true, &stream);
            tch::manual_seed(2);
            let b = seeded_dropout(&xs, 0.5, true, &stream);
            (a, b)
        };
        let (a1, b1) = masks(42);
        let (a2, b2) = masks(42);
        assert!(a1.equal(&a2) && b1.equal(&b2));
        // Successive draws of an epoch differ; the kept elements are scaled by 2.
        assert!(!a1.equal(&b1));
        let kept = a1.gt(0.0).sum(tch::Kind::Int64).int64_value(&[]);
        assert!((7_500..8_900).contains(&kept), "{kept} of 16384 kept");
        assert_eq!(a1.max().double_value(&[]), 2.0);
        // Two networks on two threads at once draw what each draws alone.
        let alone: Vec<Tensor> = [7u64, 8].iter().map(|&k| masks(k).0).collect();
        let together: Vec<Tensor> = std::thread::scope(|s| {
            let handles: Vec<_> = [7u64, 8]
                .iter()
                .map(|&k| {
                    let xs = xs.shallow_clone();
                    s.spawn(move || {
                        let own = RandomStream::default();
                        let mut last = None;
                        for _ in 0..20 {
                            own.restart(k);
                            tch::manual_seed(k as i64);
                            last = Some(seeded_dropout(&xs, 0.5, true, &own));
                        }
                        last.unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(alone[0].equal(&together[0]) && alone[1].equal(&together[1]));
        // Not training: the identity, and no key is used.
        stream.restart(5);
        assert!(seeded_dropout(&xs, 0.5, false, &stream).equal(&xs));
        assert_eq!(stream.next_key(), 5);
    }

    use tch::{Device, Kind, Tensor, nn::ModuleT};

    fn logits_shape(arch: &str, side: usize, classes: i64) -> Vec<i64> {
        let vs = nn::VarStore::new(Device::Cpu);
        let g = Geometry {
            height: side,
            width: side,
        };
        let net = build(arch.parse().unwrap(), &vs.root(), classes, g, &RandomStream::default()).unwrap();
        let x = Tensor::zeros([2, 3, side as i64, side as i64], (Kind::Float, Device::Cpu));
        net.forward_t(&x, true).size()
    }

    #[test]
    fn small_architectures_give_one_logit_per_class() {
        assert_eq!(logits_shape("lenet5", 32, 10), vec![2, 10]);
        assert_eq!(logits_shape("lenet5", 16, 3), vec![2, 3]);
        assert_eq!(logits_shape("wrn-10-1", 12, 7), vec![2, 7]);
        assert_eq!(logits_shape("resnet18", 8, 4), vec![2, 4]);
        assert_eq!(logits_shape("resnet20", 32, 10), vec![2, 10]);
        // Odd sides: the subsampled shortcut and the stride-2 convolution agree (⌈s/2⌉).
        assert_eq!(logits_shape("resnet-cifar-8", 13, 3), vec![2, 3]);
    }

    #[test]
    fn too_small_inputs_are_refused_before_building() {
        let vs = nn::VarStore::new(Device::Cpu);
        let g = Geometry { height: 8, width: 8 };
        let err = build(Arch::Lenet5, &vs.root(), 10, g, &RandomStream::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 16×16") && err.contains("8×8"), "{err}");
        let g16 = Geometry { height: 16, width: 16 };
        assert!(build(Arch::Vgg16, &vs.root(), 10, g16, &RandomStream::default()).is_err());
        // A CIFAR ResNet depth that is not 6n+2 (only constructible in code) is refused.
        let g32 = Geometry { height: 32, width: 32 };
        let bad = Arch::ResnetCifar { depth: 21 };
        let err = build(bad, &vs.root(), 10, g32, &RandomStream::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("6n+2") && err.contains("21"), "{err}");
    }

    #[test]
    fn parameter_counts_match_the_published_architectures() {
        let count = |arch: &str, side: usize, classes: i64| {
            let g = Geometry {
                height: side,
                width: side,
            };
            parameter_count(arch.parse().unwrap(), classes, g).unwrap()
        };
        // torchvision resnet18(num_classes=1000): 11,689,512 parameters.
        assert_eq!(count("resnet18", 224, 1000), 11_689_512);
        // torchvision resnet50: 25,557,032.
        assert_eq!(count("resnet50", 224, 1000), 25_557_032);
        // torchvision densenet121: 7,978,856.
        assert_eq!(count("densenet121", 224, 1000), 7_978_856);
        // WRN-16-4 on CIFAR-10: 2,748,890 (Zagoruyko & Komodakis report 2.7M).
        assert_eq!(count("wrn-16-4", 32, 10), 2_748_890);
        // ResNet-20, option A (He et al. 2016 report 0.27M): conv1 432 + bn 32; stage 1
        // 3 × (2 × 2,304 + 2 × 32); stage 2 (4,608 + 9,216 + 128) + 2 × (2 × 9,216 + 128);
        // stage 3 (18,432 + 36,864 + 256) + 2 × (2 × 36,864 + 256); fc 650.
        assert_eq!(count("resnet20", 32, 10), 269_722);
        // ResNet-56 and -110: 0.85M and 1.7M in the paper.
        assert_eq!(count("resnet-cifar-56", 32, 10), 853_018);
        assert_eq!(count("resnet-cifar-110", 32, 10), 1_727_962);
        // LeNet-5 on 32×32 RGB, 10 classes: 456 + 2,416 + 48,120 + 10,164 + 850.
        assert_eq!(count("lenet5", 32, 10), 62_006);
    }
}
