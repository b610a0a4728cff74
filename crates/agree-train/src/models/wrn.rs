//! Wide ResNet WRN-d-k (Zagoruyko & Komodakis 2016): pre-activation basic blocks,
//! (d-4)/6 per group, widths 16k, 32k, 64k, no dropout.

use tch::nn::{self, ModuleT};

use super::{batch_norm, conv, linear};

fn block(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> nn::FuncT<'static> {
    let bn1 = batch_norm(&p / "bn1", c_in);
    let conv1 = conv(&p / "conv1", c_in, c_out, 3, stride, 1, false);
    let bn2 = batch_norm(&p / "bn2", c_out);
    let conv2 = conv(&p / "conv2", c_out, c_out, 3, 1, 1, false);
    let shortcut = (c_in != c_out || stride != 1).then(|| conv(&p / "shortcut", c_in, c_out, 1, stride, 0, false));
    nn::func_t(move |xs, train| {
        let pre = xs.apply_t(&bn1, train).relu();
        let ys = pre.apply(&conv1).apply_t(&bn2, train).relu().apply(&conv2);
        // As in the reference implementation, a projected shortcut starts from the
        // pre-activated input, an identity shortcut from the raw input.
        match &shortcut {
            Some(s) => pre.apply(s) + ys,
            None => xs + ys,
        }
    })
}

/// WRN-`depth`-`width` (depth = 6n + 4), CIFAR layout.
pub fn wrn(p: &nn::Path, classes: i64, depth: i64, width: i64) -> nn::FuncT<'static> {
    let n = (depth - 4) / 6;
    let conv1 = conv(p / "conv1", 3, 16, 3, 1, 1, false);
    let mut body = nn::seq_t();
    let mut c_in = 16;
    for (g, (c, stride)) in [(16 * width, 1), (32 * width, 2), (64 * width, 2)]
        .into_iter()
        .enumerate()
    {
        for j in 0..n {
            body = body.add(block(
                p / format!("block{}", g + 1) / j,
                c_in,
                c,
                if j == 0 { stride } else { 1 },
            ));
            c_in = c;
        }
    }
    let bn = batch_norm(p / "bn", c_in);
    let fc = linear(p / "fc", c_in, classes);
    nn::func_t(move |xs, train| {
        body.forward_t(&xs.apply(&conv1), train)
            .apply_t(&bn, train)
            .relu()
            .adaptive_avg_pool2d([1, 1])
            .flat_view()
            .apply(&fc)
    })
}
