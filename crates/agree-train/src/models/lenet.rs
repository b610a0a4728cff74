//! LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, for any input size.

use tch::nn;

use super::{conv, linear};
use crate::transform::Geometry;

/// Two 5×5 convolutions (6, 16 channels) each followed by 2×2 max pooling, then fully
/// connected layers of 120 and 84 units.
pub fn lenet5(p: &nn::Path, classes: i64, g: Geometry) -> nn::FuncT<'static> {
    let side = |s: usize| (((s as i64 - 4) / 2) - 4) / 2;
    let flat = 16 * side(g.height) * side(g.width);
    let conv1 = conv(p / "conv1", 3, 6, 5, 1, 0, true);
    let conv2 = conv(p / "conv2", 6, 16, 5, 1, 0, true);
    let fc1 = linear(p / "fc1", flat, 120);
    let fc2 = linear(p / "fc2", 120, 84);
    let fc3 = linear(p / "fc3", 84, classes);
    nn::func_t(move |xs, _train| {
        xs.apply(&conv1)
            .relu()
            .max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
            .apply(&conv2)
            .relu()
            .max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
            .flat_view()
            .apply(&fc1)
            .relu()
            .apply(&fc2)
            .relu()
            .apply(&fc3)
    })
}
