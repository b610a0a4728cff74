//! ResNet-18 and ResNet-50 (He et al. 2016), torchvision's layout (stride on the 3×3
//! convolution of bottlenecks), with a CIFAR-style or ImageNet stem.

use tch::{
    Tensor,
    nn::{self, ModuleT},
};

use super::{Stem, batch_norm, conv, linear};

/// 1×1 projection of the shortcut when the shape changes.
fn shortcut(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> Option<nn::SequentialT> {
    (stride != 1 || c_in != c_out).then(|| {
        nn::seq_t()
            .add(conv(&p / "0", c_in, c_out, 1, stride, 0, false))
            .add(batch_norm(&p / "1", c_out))
    })
}

/// `relu(shortcut(x) + body(x))`: the residual connection both block kinds share.
fn residual(
    down: Option<nn::SequentialT>,
    body: impl Fn(&Tensor, bool) -> Tensor + Send + 'static,
) -> nn::FuncT<'static> {
    nn::func_t(move |xs, train| {
        let skip = down
            .as_ref()
            .map_or_else(|| xs.shallow_clone(), |d| d.forward_t(xs, train));
        (skip + body(xs, train)).relu()
    })
}

/// The body of a residual block: `conv<k>` then `bn<k>` for each `(c_in, c_out,
/// kernel, stride, padding)` of `layers` (k from 1, parameters created in that
/// order), with a ReLU between consecutive pairs.
fn conv_bn_chain(
    p: &nn::Path,
    layers: &[(i64, i64, i64, i64, i64)],
) -> impl Fn(&Tensor, bool) -> Tensor + Send + 'static {
    let layers: Vec<(nn::Conv2D, nn::BatchNorm)> = layers
        .iter()
        .enumerate()
        .map(|(i, &(c_in, c_out, k, stride, pad))| {
            let conv = conv(p / format!("conv{}", i + 1), c_in, c_out, k, stride, pad, false);
            (conv, batch_norm(p / format!("bn{}", i + 1), c_out))
        })
        .collect();
    move |xs, train| {
        let Some(((conv1, bn1), rest)) = layers.split_first() else {
            return xs.shallow_clone();
        };
        rest.iter().fold(xs.apply(conv1).apply_t(bn1, train), |ys, (conv, bn)| {
            ys.relu().apply(conv).apply_t(bn, train)
        })
    }
}

fn basic_block(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> nn::FuncT<'static> {
    // The body's parameters are created before the shortcut's (initialisation order).
    let body = conv_bn_chain(&p, &[(c_in, c_out, 3, stride, 1), (c_out, c_out, 3, 1, 1)]);
    residual(shortcut(&p / "downsample", c_in, c_out, stride), body)
}

fn bottleneck(p: nn::Path, c_in: i64, width: i64, stride: i64) -> nn::FuncT<'static> {
    let c_out = width * 4;
    let body = conv_bn_chain(
        &p,
        &[
            (c_in, width, 1, 1, 0),
            (width, width, 3, stride, 1),
            (width, c_out, 1, 1, 0),
        ],
    );
    residual(shortcut(&p / "downsample", c_in, c_out, stride), body)
}

/// Which residual block a ResNet is made of.
#[derive(Clone, Copy)]
enum Block {
    Basic,
    Bottleneck,
}

fn resnet(p: &nn::Path, classes: i64, stem: Stem, block: Block, counts: [i64; 4]) -> nn::FuncT<'static> {
    let (k, stride, pad) = match stem {
        Stem::Cifar => (3, 1, 1),
        Stem::Imagenet => (7, 2, 3),
    };
    let conv1 = conv(p / "conv1", 3, 64, k, stride, pad, false);
    let bn1 = batch_norm(p / "bn1", 64);
    let mut layers = nn::seq_t();
    let mut c_in = 64;
    for (i, (&count, width)) in counts.iter().zip([64, 128, 256, 512]).enumerate() {
        let lp = p / format!("layer{}", i + 1);
        for j in 0..count {
            let s = if j == 0 && i > 0 { 2 } else { 1 };
            let (b, c_out) = match block {
                Block::Basic => (basic_block(&lp / j, c_in, width, s), width),
                Block::Bottleneck => (bottleneck(&lp / j, c_in, width, s), width * 4),
            };
            c_in = c_out;
            layers = layers.add(b);
        }
    }
    let fc = linear(p / "fc", c_in, classes);
    nn::func_t(move |xs, train| {
        let ys = xs.apply(&conv1).apply_t(&bn1, train).relu();
        let ys = match stem {
            Stem::Cifar => ys,
            Stem::Imagenet => ys.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false),
        };
        ys.apply_t(&layers, train)
            .adaptive_avg_pool2d([1, 1])
            .flat_view()
            .apply(&fc)
    })
}

/// ResNet-18: basic blocks 2-2-2-2.
pub fn resnet18(p: &nn::Path, classes: i64, stem: Stem) -> nn::FuncT<'static> {
    resnet(p, classes, stem, Block::Basic, [2, 2, 2, 2])
}

/// ResNet-50: bottleneck blocks 3-4-6-3.
pub fn resnet50(p: &nn::Path, classes: i64, stem: Stem) -> nn::FuncT<'static> {
    resnet(p, classes, stem, Block::Bottleneck, [3, 4, 6, 3])
}
