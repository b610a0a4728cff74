//! Per-sample predictions: scoring a batch of logits on the device (loss, predicted
//! class, correctness, probabilities). The definitions, the score columns and the
//! rows of `schemas/predictions.toml` live in `agree-predictions`, shared with the
//! Python Recorder; this module is their libtorch evaluation (the loss stays on the
//! graph for the backward pass).

pub use agree_predictions::{BatchScores, PredictionColumns};
use tch::{Device, Kind, Reduction, TchError, Tensor};

/// What a batch is judged against.
pub enum Targets {
    /// Class index per sample (int64, N).
    Single(Tensor),
    /// Multi-hot label sets (float, N×K).
    Multi(Tensor),
}

/// The score columns stacked on the device, in the order they are read back.
const COLUMNS: usize = 8;

/// Row-wise Euclidean norm of an N×K tensor, in float32.
fn l2_norm(t: &Tensor) -> Result<Tensor, TchError> {
    t.f_square()?.f_sum_dim_intlist(1, false, Kind::Float)?.f_sqrt()
}

/// Scores `logits` against `targets`. Returns the per-sample loss tensor (still
/// attached to the graph, for the backward pass) and the scores copied to the CPU.
pub fn score(
    logits: &Tensor,
    targets: &Targets,
    label_smoothing: f64,
    with_probs: bool,
) -> Result<(Tensor, BatchScores), TchError> {
    let n = logits.size().first().copied().unwrap_or(0) as usize;
    let (loss, columns, probs) = match targets {
        Targets::Single(y) => {
            let loss = logits.f_cross_entropy_loss::<Tensor>(y, None, Reduction::None, -100, label_smoothing)?;
            let _guard = tch::no_grad_guard();
            let probs = logits.f_softmax(-1, Kind::Float)?;
            let (p_max, predicted) = probs.f_max_dim(1, false)?;
            let index = y.f_unsqueeze(1)?;
            let p_label = probs.f_gather(1, &index, false)?.f_squeeze_dim(1)?;
            let (p_other, _) = probs.f_scatter_value(1, &index, -1.0)?.f_max_dim(1, false)?;
            let correct = predicted.f_eq_tensor(y)?;
            let x = logits.detach().to_kind(Kind::Float);
            let x_label = x.f_gather(1, &index, false)?.f_squeeze_dim(1)?;
            let (x_other, _) = x.f_scatter_value(1, &index, f64::NEG_INFINITY)?.f_max_dim(1, false)?;
            // One class: no other logit, so no margin (−inf becomes null).
            let logit_margin = (&x_label - x_other).f_nan_to_num(Some(f64::NAN), Some(f64::NAN), Some(f64::NAN))?;
            let one_hot = probs.f_zeros_like()?.f_scatter_value(1, &index, 1.0)?;
            let el2n = l2_norm(&(&probs - one_hot))?;
            let columns = Tensor::f_stack(
                &[
                    loss.detach(),
                    predicted.to_kind(Kind::Float),
                    correct.to_kind(Kind::Float),
                    p_label.shallow_clone(),
                    p_max,
                    &p_label - p_other,
                    logit_margin,
                    el2n,
                ],
                1,
            )?;
            (loss, columns, probs)
        }
        Targets::Multi(y) => {
            let loss = logits
                .f_binary_cross_entropy_with_logits::<Tensor>(y, None, None, Reduction::None)?
                .f_sum_dim_intlist(1, false, Kind::Float)?;
            let _guard = tch::no_grad_guard();
            let probs = logits.f_sigmoid()?.to_kind(Kind::Float);
            let predicted = probs.f_gt(0.5)?.to_kind(Kind::Float);
            let correct = predicted.f_eq_tensor(y)?.f_all_dim(1, false)?;
            let count = y.f_sum_dim_intlist(1, false, Kind::Float)?;
            let p_label = (&probs * y).f_sum_dim_intlist(1, false, Kind::Float)? / &count;
            let (p_max, _) = probs.f_max_dim(1, false)?;
            let nan = Tensor::full([n as i64], f64::NAN, (Kind::Float, probs.device()));
            let el2n = l2_norm(&(&probs - y.to_kind(Kind::Float)))?;
            let columns = Tensor::f_stack(
                &[
                    loss.detach(),
                    nan.shallow_clone(),
                    correct.to_kind(Kind::Float),
                    p_label,
                    p_max,
                    nan.shallow_clone(),
                    nan,
                    el2n,
                ],
                1,
            )?;
            (loss, columns, probs)
        }
    };
    let flat: Vec<f32> = Vec::try_from(&columns.f_to_device(Device::Cpu)?.f_reshape([-1])?)?;
    let mut s = BatchScores::default();
    let opt = |v: f32| (!v.is_nan()).then_some(v);
    for row in flat.chunks_exact(COLUMNS) {
        s.loss.push(row[0]);
        s.predicted.push(opt(row[1]).map(|v| v as i32));
        s.correct.push(row[2] > 0.5);
        s.p_label.push(opt(row[3]));
        s.p_max.push(row[4]);
        s.margin.push(opt(row[5]));
        s.logit_margin.push(opt(row[6]));
        s.el2n.push(opt(row[7]));
    }
    if with_probs {
        let k = probs.size().get(1).copied().unwrap_or(0) as usize;
        let all: Vec<f32> = Vec::try_from(&probs.f_to_device(Device::Cpu)?.f_reshape([-1])?)?;
        s.probs = Some(all.chunks(k.max(1)).map(<[f32]>::to_vec).collect());
    }
    debug_assert_eq!(s.loss.len(), n);
    Ok((loss, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_label_scores_match_hand_values() {
        // Logits ln(1), ln(2), ln(1): softmax = 0.25, 0.5, 0.25.
        let logits = Tensor::from_slice(&[0f32, 2f32.ln(), 0.0, 0.0, 0.0, 3f32.ln()]).view([2, 3]);
        let y = Tensor::from_slice(&[1i64, 0]);
        let (_, s) = score(&logits, &Targets::Single(y), 0.0, true).unwrap();
        assert_eq!(s.predicted, vec![Some(1), Some(2)]);
        assert_eq!(s.correct, vec![true, false]);
        let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
        // Row 0: p_label 0.5, margin 0.5 - 0.25; loss -ln 0.5.
        assert!(close(s.p_label[0].unwrap(), 0.5) && close(s.margin[0].unwrap(), 0.25));
        assert!(close(s.loss[0], 2f32.ln()));
        // Row 1: softmax 0.2, 0.2, 0.6; label 0 → margin 0.2 - 0.6.
        assert!(close(s.p_max[1], 0.6) && close(s.margin[1].unwrap(), -0.4));
        // logit_margin: ln 2 − 0, then 0 − ln 3; el2n: √0.375, √1.04.
        assert!(close(s.logit_margin[0].unwrap(), 2f32.ln()) && close(s.logit_margin[1].unwrap(), -(3f32.ln())));
        assert!(close(s.el2n[0].unwrap(), 0.375f32.sqrt()) && close(s.el2n[1].unwrap(), 1.04f32.sqrt()));
        assert_eq!(s.probs.unwrap()[1].len(), 3);
    }

    #[test]
    fn one_class_has_no_logit_margin() {
        let logits = Tensor::from_slice(&[3f32]).view([1, 1]);
        let (_, s) = score(&logits, &Targets::Single(Tensor::from_slice(&[0i64])), 0.0, false).unwrap();
        assert_eq!(s.logit_margin, vec![None]);
        assert_eq!(s.el2n, vec![Some(0.0)]);
    }

    #[test]
    fn multi_label_correct_is_exact_set_match() {
        // Sigmoids: (>0.5, <0.5), (>0.5, >0.5).
        let logits = Tensor::from_slice(&[2f32, -2.0, 2.0, 2.0]).view([2, 2]);
        let y = Tensor::from_slice(&[1f32, 0.0, 1.0, 0.0]).view([2, 2]);
        let (_, s) = score(&logits, &Targets::Multi(y), 0.0, false).unwrap();
        assert_eq!(s.correct, vec![true, false]);
        assert_eq!(s.predicted, vec![None, None]);
        let sig2 = 1.0 / (1.0 + (-2f32).exp());
        assert!((s.p_label[1].unwrap() - sig2).abs() < 1e-5);
        // BCE summed over classes: 2·(-ln σ(2)) for row 0.
        assert!((s.loss[0] + 2.0 * sig2.ln()).abs() < 1e-5);
    }

    /// Pseudo-random logits in −8..8 (a fixed LCG, so the test is reproducible).
    fn logits(n: usize, k: usize) -> Vec<f32> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..n * k)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 16.0 - 8.0
            })
            .collect()
    }

    fn assert_same_scores(torch: &BatchScores, cpu: &BatchScores) {
        let ulps = |a: f32, b: f32| (a - b).abs() <= 4.0 * f32::EPSILON * a.abs().max(b.abs()).max(1e-3);
        let opt = |a: Option<f32>, b: Option<f32>| match (a, b) {
            (Some(a), Some(b)) => ulps(a, b),
            (a, b) => a == b,
        };
        assert_eq!(torch.predicted, cpu.predicted);
        assert_eq!(torch.correct, cpu.correct);
        for i in 0..torch.loss.len() {
            // libtorch takes log-softmax in f32: its error is a few ulps of the logits
            // (here up to 8 in magnitude), absolute, however small the loss.
            let loss_close = (torch.loss[i] - cpu.loss[i]).abs()
                <= 4.0 * f32::EPSILON * (torch.loss[i].abs().max(cpu.loss[i].abs()) + 16.0);
            assert!(loss_close, "loss {i}: {} vs {}", torch.loss[i], cpu.loss[i]);
            assert!(ulps(torch.p_max[i], cpu.p_max[i]), "p_max {i}");
            assert!(opt(torch.p_label[i], cpu.p_label[i]), "p_label {i}");
            // A margin is a difference of probabilities (≤ 1): its rounding error is
            // absolute, a few ulps of 1, however small the margin itself.
            let close = match (torch.margin[i], cpu.margin[i]) {
                (Some(a), Some(b)) => (a - b).abs() <= 4.0 * f32::EPSILON,
                (a, b) => a == b,
            };
            assert!(close, "margin {i}: {:?} vs {:?}", torch.margin[i], cpu.margin[i]);
            // A logit difference: a few ulps of the logits (up to 8 in magnitude).
            let close = match (torch.logit_margin[i], cpu.logit_margin[i]) {
                (Some(a), Some(b)) => (a - b).abs() <= 4.0 * f32::EPSILON * 16.0,
                (a, b) => a == b,
            };
            assert!(
                close,
                "logit_margin {i}: {:?} vs {:?}",
                torch.logit_margin[i], cpu.logit_margin[i]
            );
            // A norm of probability differences (≤ √2): absolute, a few ulps of 1.
            let close = match (torch.el2n[i], cpu.el2n[i]) {
                (Some(a), Some(b)) => (a - b).abs() <= 8.0 * f32::EPSILON,
                (a, b) => a == b,
            };
            assert!(close, "el2n {i}: {:?} vs {:?}", torch.el2n[i], cpu.el2n[i]);
        }
    }

    #[test]
    fn libtorch_scores_follow_the_shared_definitions() {
        let (n, k) = (512, 10);
        let x = logits(n, k);
        let y: Vec<i64> = (0..n as i64).map(|i| (i * 7) % k as i64).collect();
        let t = Tensor::from_slice(&x).view([n as i64, k as i64]);
        let (_, torch) = score(&t, &Targets::Single(Tensor::from_slice(&y)), 0.0, false).unwrap();
        let cpu = agree_predictions::score_logits(&x, k, agree_predictions::Labels::Single(&y), false).unwrap();
        assert_same_scores(&torch, &cpu);
        let sets: Vec<f32> = (0..n * k).map(|i| f32::from(u8::from((i * 13) % 5 < 2))).collect();
        let target = Tensor::from_slice(&sets).view([n as i64, k as i64]);
        let (_, torch) = score(&t, &Targets::Multi(target), 0.0, false).unwrap();
        let cpu = agree_predictions::score_logits(&x, k, agree_predictions::Labels::Multi(&sets), false).unwrap();
        assert_same_scores(&torch, &cpu);
    }
}
