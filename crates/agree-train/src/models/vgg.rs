//! VGG-16 with batch normalisation (Simonyan & Zisserman 2015; Ioffe & Szegedy 2015).

use tch::nn::{self, ModuleT};

use super::{Stem, batch_norm, conv, linear, seeded_dropout};
use crate::seeds::RandomStream;

/// Channels of the 13 convolutions; 0 marks a 2×2 max pool.
const LAYERS: [i64; 18] = [
    64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
];

/// VGG-16-BN. Small inputs: global average pooling and one linear layer (the usual
/// CIFAR variant); large inputs: 7×7 adaptive pooling and the 4096-4096 classifier
/// with dropout 0.5 (masks from `stream`).
pub fn vgg16(p: &nn::Path, classes: i64, stem: Stem, stream: RandomStream) -> nn::FuncT<'static> {
    let f = p / "features";
    let mut features = nn::seq_t();
    let mut c_in = 3;
    for (i, &c) in LAYERS.iter().enumerate() {
        if c == 0 {
            features = features.add_fn(|xs| xs.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false));
        } else {
            features = features
                .add(conv(&f / format!("conv{i}"), c_in, c, 3, 1, 1, true))
                .add(batch_norm(&f / format!("bn{i}"), c))
                .add_fn(|xs| xs.relu());
            c_in = c;
        }
    }
    match stem {
        Stem::Cifar => {
            let fc = linear(p / "classifier", 512, classes);
            nn::func_t(move |xs, train| {
                xs.apply_t(&features, train)
                    .adaptive_avg_pool2d([1, 1])
                    .flat_view()
                    .apply(&fc)
            })
        }
        Stem::Imagenet => {
            let fc1 = linear(p / "fc1", 512 * 7 * 7, 4096);
            let fc2 = linear(p / "fc2", 4096, 4096);
            let fc3 = linear(p / "fc3", 4096, classes);
            nn::func_t(move |xs, train| {
                let x = features
                    .forward_t(xs, train)
                    .adaptive_avg_pool2d([7, 7])
                    .flat_view()
                    .apply(&fc1)
                    .relu();
                let x = seeded_dropout(&x, 0.5, train, &stream).apply(&fc2).relu();
                seeded_dropout(&x, 0.5, train, &stream).apply(&fc3)
            })
        }
    }
}
