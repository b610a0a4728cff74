//! DenseNet-121 (Huang et al. 2017): growth 32, bottleneck width 4×32, blocks
//! 6-12-24-16, compression 0.5.

use tch::{
    Tensor,
    nn::{self, ModuleT},
};

use super::{Stem, batch_norm, conv, linear};

const GROWTH: i64 = 32;
const BLOCKS: [i64; 4] = [6, 12, 24, 16];

fn dense_layer(p: nn::Path, c_in: i64) -> nn::FuncT<'static> {
    let bn1 = batch_norm(&p / "norm1", c_in);
    let conv1 = conv(&p / "conv1", c_in, 4 * GROWTH, 1, 1, 0, false);
    let bn2 = batch_norm(&p / "norm2", 4 * GROWTH);
    let conv2 = conv(&p / "conv2", 4 * GROWTH, GROWTH, 3, 1, 1, false);
    nn::func_t(move |xs, train| {
        let ys = xs
            .apply_t(&bn1, train)
            .relu()
            .apply(&conv1)
            .apply_t(&bn2, train)
            .relu()
            .apply(&conv2);
        Tensor::cat(&[xs, &ys], 1)
    })
}

fn transition(p: nn::Path, c_in: i64, c_out: i64) -> nn::FuncT<'static> {
    let bn = batch_norm(&p / "norm", c_in);
    let cv = conv(&p / "conv", c_in, c_out, 1, 1, 0, false);
    nn::func_t(move |xs, train| {
        xs.apply_t(&bn, train)
            .relu()
            .apply(&cv)
            .avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None)
    })
}

/// DenseNet-121; the CIFAR stem is one 3×3 convolution to 64 channels.
pub fn densenet121(p: &nn::Path, classes: i64, stem: Stem) -> nn::FuncT<'static> {
    let f = p / "features";
    let c0 = 2 * GROWTH;
    let (k, stride, pad) = match stem {
        Stem::Cifar => (3, 1, 1),
        Stem::Imagenet => (7, 2, 3),
    };
    let conv0 = conv(&f / "conv0", 3, c0, k, stride, pad, false);
    let bn0 = batch_norm(&f / "norm0", c0);
    let mut body = nn::seq_t();
    let mut c = c0;
    for (i, &n) in BLOCKS.iter().enumerate() {
        for j in 0..n {
            body = body.add(dense_layer(
                &f / format!("denseblock{}", i + 1) / format!("denselayer{}", j + 1),
                c,
            ));
            c += GROWTH;
        }
        if i + 1 < BLOCKS.len() {
            body = body.add(transition(&f / format!("transition{}", i + 1), c, c / 2));
            c /= 2;
        }
    }
    let bn_final = batch_norm(&f / "norm5", c);
    let fc = linear(p / "classifier", c, classes);
    nn::func_t(move |xs, train| {
        let ys = xs.apply(&conv0).apply_t(&bn0, train).relu();
        let ys = match stem {
            Stem::Cifar => ys,
            Stem::Imagenet => ys.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false),
        };
        body.forward_t(&ys, train)
            .apply_t(&bn_final, train)
            .relu()
            .adaptive_avg_pool2d([1, 1])
            .flat_view()
            .apply(&fc)
    })
}
