//! The CIFAR ResNets of He et al. 2016 (arXiv 1512.03385, §4.2): ResNet-N with
//! N = 6n + 2 — a 3×3 convolution to 16 filters, three stages of n basic blocks with
//! 16, 32 and 64 filters on 32×32, 16×16 and 8×8 maps (stride 2 on the first
//! convolution of stages 2 and 3), global average pooling and a fully connected layer.
//! ResNet-20 (n = 3) has 269,722 parameters for 10 classes.
//!
//! Shortcuts are the paper's **option A**, used for all its CIFAR results: identity,
//! and where a block halves the map and doubles the filters, the input subsampled
//! (every other row and column) and zero-padded in channels — parameter-free. The
//! padding goes half before and half after the input's channels, as in the widely
//! reproduced PyTorch version (akamaster/pytorch_resnet_cifar10), which the bench peer
//! (`benches/python/train.py`) mirrors.

use tch::{Tensor, nn};

use super::{batch_norm, conv, linear};

/// Filters of the three stages.
const WIDTHS: [i64; 3] = [16, 32, 64];

/// Option A shortcut: `x` when the shape is kept, else `x[:, :, ::2, ::2]` with
/// `(c_out − c_in) / 2` zero channels before and after it (`stride` 2).
fn option_a_shortcut(xs: &Tensor, c_in: i64, c_out: i64, stride: i64) -> Tensor {
    if stride == 1 && c_in == c_out {
        return xs.shallow_clone();
    }
    let sub = xs.slice(2, 0, None, stride).slice(3, 0, None, stride);
    let before = (c_out - c_in) / 2;
    let after = c_out - c_in - before;
    sub.constant_pad_nd([0, 0, 0, 0, before, after])
}

/// `relu(shortcut(x) + bn2(conv2(relu(bn1(conv1(x))))))` with 3×3 convolutions.
fn basic_block(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> nn::FuncT<'static> {
    let conv1 = conv(&p / "conv1", c_in, c_out, 3, stride, 1, false);
    let bn1 = batch_norm(&p / "bn1", c_out);
    let conv2 = conv(&p / "conv2", c_out, c_out, 3, 1, 1, false);
    let bn2 = batch_norm(&p / "bn2", c_out);
    nn::func_t(move |xs, train| {
        let body = xs
            .apply(&conv1)
            .apply_t(&bn1, train)
            .relu()
            .apply(&conv2)
            .apply_t(&bn2, train);
        (option_a_shortcut(xs, c_in, c_out, stride) + body).relu()
    })
}

/// The number of blocks per stage of ResNet-`depth`, or why `depth` is not 6n + 2.
pub fn blocks_per_stage(depth: u32) -> Result<u32, String> {
    if depth >= 8 && (depth - 2).is_multiple_of(6) {
        Ok((depth - 2) / 6)
    } else {
        Err(format!(
            "CIFAR ResNet depth must be 6n+2 with n ≥ 1 (8, 14, 20, 32, 44, 56, 110, …), got {depth}"
        ))
    }
}

/// The CIFAR ResNet of `n` basic blocks per stage (ResNet-(6n + 2); see
/// [`blocks_per_stage`]).
pub fn resnet_cifar(p: &nn::Path, classes: i64, n: u32) -> nn::FuncT<'static> {
    let conv1 = conv(p / "conv1", 3, WIDTHS[0], 3, 1, 1, false);
    let bn1 = batch_norm(p / "bn1", WIDTHS[0]);
    let mut stages = nn::seq_t();
    let mut c_in = WIDTHS[0];
    for (i, width) in WIDTHS.into_iter().enumerate() {
        let sp = p / format!("layer{}", i + 1);
        for j in 0..i64::from(n) {
            let stride = if j == 0 && i > 0 { 2 } else { 1 };
            stages = stages.add(basic_block(&sp / j, c_in, width, stride));
            c_in = width;
        }
    }
    let fc = linear(p / "fc", c_in, classes);
    nn::func_t(move |xs, train| {
        xs.apply(&conv1)
            .apply_t(&bn1, train)
            .relu()
            .apply_t(&stages, train)
            .adaptive_avg_pool2d([1, 1])
            .flat_view()
            .apply(&fc)
    })
}
