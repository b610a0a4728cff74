//! Scoring logits on the CPU with the definitions of `schemas/predictions.toml`.
//!
//! Single-label (softmax over the K classes, label y):
//! `loss = logsumexp(x) − x_y` (cross-entropy), `p = softmax(x)`,
//! `predicted = argmax p` (first of equal maxima), `correct = predicted == y`,
//! `p_label = p_y`, `p_max = max p`, `margin = p_y − max_{i≠y} p_i` (−1 stands for
//! the missing other class when K = 1, as in libtorch's scatter-then-max),
//! `logit_margin = x_y − max_{i≠y} x_i` (null when K = 1),
//! `el2n = ‖p − e_y‖₂` (e_y the label's one-hot vector).
//!
//! Multi-label (a 0/1 label set per sample): `p = sigmoid(x)`,
//! `loss = Σ_c max(x_c, 0) − x_c·y_c + ln(1 + e^−|x_c|)` (BCE with logits, summed over
//! classes), `correct` when `{c : p_c > 0.5}` equals the label set,
//! `p_label = Σ p_c·y_c / Σ y_c` (null for an empty set), `p_max = max p`;
//! `el2n = ‖p − y‖₂`; `predicted`, `margin` and `logit_margin` are null.
//!
//! Exponentials and sums are taken in f64 and every value is rounded once to f32;
//! probabilities are rounded before the argmax and the margin, as libtorch computes
//! them in float32. agree-train's libtorch kernels give the same classes and values
//! within a few float32 ulps (its tests compare the two).

use crate::BatchScores;

/// The labels of a batch of N samples.
#[derive(Debug, Clone, Copy)]
pub enum Labels<'a> {
    /// One class index per sample.
    Single(&'a [i64]),
    /// An N×K row-major 0/1 matrix: the label set of each sample.
    Multi(&'a [f32]),
}

/// Why a batch cannot be scored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScoreError {
    /// The logits are not an N×K matrix with K ≥ 1 matching the labels.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A class index outside 0..K.
    #[error("label {label} of row {row} is outside 0..{classes} (the logits have {classes} classes)")]
    LabelOutOfRange {
        /// Row in the table (from 0).
        row: usize,
        /// The label found.
        label: i64,
        /// Number of classes.
        classes: usize,
    },
    /// A multi-label entry that is neither 0 nor 1.
    #[error("multi-label entry ({row}, {class}) is {value}; label sets must be 0/1")]
    NotBinary {
        /// Row in the table (from 0).
        row: usize,
        /// The class index.
        class: usize,
        /// The value found.
        value: f32,
    },
    /// Rows whose logits hold NaN or ±inf.
    #[error("{} of the batch's rows have NaN or infinite logits (rows {rows:?})", rows.len())]
    NonFinite {
        /// The rows concerned (from 0).
        rows: Vec<usize>,
    },
}

/// Rows of an N×`classes` logits matrix holding a NaN or an infinity.
pub fn non_finite_rows(logits: &[f32], classes: usize) -> Vec<usize> {
    logits
        .chunks(classes.max(1))
        .enumerate()
        .filter(|(_, row)| row.iter().any(|v| !v.is_finite()))
        .map(|(i, _)| i)
        .collect()
}

/// Scores a batch: `logits` is N×`classes` row-major; `labels` has N entries
/// (single-label) or N×`classes` (multi-label).
pub fn score_logits(
    logits: &[f32],
    classes: usize,
    labels: Labels<'_>,
    with_probs: bool,
) -> Result<BatchScores, ScoreError> {
    let n = check_shape(logits, classes, labels)?;
    let bad = non_finite_rows(logits, classes);
    if !bad.is_empty() {
        return Err(ScoreError::NonFinite { rows: bad });
    }
    let mut s = BatchScores::default();
    let mut probs = with_probs.then(|| Vec::with_capacity(n));
    let mut p = vec![0f32; classes];
    for (row, x) in logits.chunks_exact(classes).enumerate() {
        match labels {
            Labels::Single(y) => score_single(x, y[row], &mut p, &mut s),
            Labels::Multi(y) => score_multi(x, &y[row * classes..(row + 1) * classes], &mut p, &mut s),
        }
        if let Some(all) = probs.as_mut() {
            all.push(p.clone());
        }
    }
    s.probs = probs;
    Ok(s)
}

fn check_shape(logits: &[f32], classes: usize, labels: Labels<'_>) -> Result<usize, ScoreError> {
    if classes == 0 || !logits.len().is_multiple_of(classes) {
        return Err(ScoreError::Shape(format!(
            "{} logits do not form rows of {classes} classes",
            logits.len()
        )));
    }
    let n = logits.len() / classes;
    match labels {
        Labels::Single(y) => {
            if y.len() != n {
                return Err(ScoreError::Shape(format!(
                    "logits have {n} rows but labels have {}",
                    y.len()
                )));
            }
            if let Some((row, &label)) = y.iter().enumerate().find(|&(_, &l)| l < 0 || l >= classes as i64) {
                return Err(ScoreError::LabelOutOfRange { row, label, classes });
            }
        }
        Labels::Multi(y) => {
            if y.len() != n * classes {
                return Err(ScoreError::Shape(format!(
                    "logits are {n}×{classes} but the label matrix has {} entries (expected {})",
                    y.len(),
                    n * classes
                )));
            }
            if let Some((i, &value)) = y.iter().enumerate().find(|&(_, &v)| v != 0.0 && v != 1.0) {
                return Err(ScoreError::NotBinary {
                    row: i / classes,
                    class: i % classes,
                    value,
                });
            }
        }
    }
    Ok(n)
}

/// First index of the largest value.
fn argmax(p: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = i;
        }
    }
    best
}

fn score_single(x: &[f32], label: i64, p: &mut [f32], s: &mut BatchScores) {
    let y = label as usize;
    let m = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let sum: f64 = x.iter().map(|&v| (f64::from(v) - m).exp()).sum();
    for (pi, &v) in p.iter_mut().zip(x) {
        *pi = ((f64::from(v) - m).exp() / sum) as f32;
    }
    let predicted = argmax(p);
    let p_other = p
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != y)
        .fold(-1f32, |acc, (_, &v)| acc.max(v));
    s.loss.push((m + sum.ln() - f64::from(x[y])) as f32);
    s.predicted.push(Some(predicted as i32));
    s.correct.push(predicted == y);
    s.p_label.push(Some(p[y]));
    s.p_max.push(p[predicted]);
    s.margin.push(Some(p[y] - p_other));
    let x_other = x
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != y)
        .map(|(_, &v)| v)
        .reduce(f32::max);
    s.logit_margin
        .push(x_other.map(|o| (f64::from(x[y]) - f64::from(o)) as f32));
    let squares: f64 = p
        .iter()
        .enumerate()
        .map(|(i, &v)| (f64::from(v) - if i == y { 1.0 } else { 0.0 }).powi(2))
        .sum();
    s.el2n.push(Some(squares.sqrt() as f32));
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn score_multi(x: &[f32], y: &[f32], p: &mut [f32], s: &mut BatchScores) {
    let mut loss = 0f64;
    let (mut hit, mut count) = (0f64, 0f64);
    let mut correct = true;
    let mut squares = 0f64;
    for ((pi, &v), &t) in p.iter_mut().zip(x).zip(y) {
        let (v, t) = (f64::from(v), f64::from(t));
        let sig = sigmoid(v);
        *pi = sig as f32;
        loss += v.max(0.0) - v * t + (-v.abs()).exp().ln_1p();
        hit += f64::from(*pi) * t;
        count += t;
        correct &= (*pi > 0.5) == (t == 1.0);
        squares += (f64::from(*pi) - t).powi(2);
    }
    s.loss.push(loss as f32);
    s.predicted.push(None);
    s.correct.push(correct);
    s.p_label.push((count > 0.0).then(|| (hit / count) as f32));
    s.p_max.push(p.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)));
    s.margin.push(None);
    s.logit_margin.push(None);
    s.el2n.push(Some(squares.sqrt() as f32));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn single_label_scores_match_hand_values() {
        // Logits ln(1), ln(2), ln(1): softmax = 0.25, 0.5, 0.25; then 0, 0, ln 3: 0.2, 0.2, 0.6.
        let logits = [0f32, 2f32.ln(), 0.0, 0.0, 0.0, 3f32.ln()];
        let s = score_logits(&logits, 3, Labels::Single(&[1, 0]), true).unwrap();
        assert_eq!(s.predicted, vec![Some(1), Some(2)]);
        assert_eq!(s.correct, vec![true, false]);
        assert!(close(s.p_label[0].unwrap(), 0.5) && close(s.margin[0].unwrap(), 0.25));
        assert!(close(s.loss[0], 2f32.ln()));
        assert!(close(s.p_max[1], 0.6) && close(s.margin[1].unwrap(), -0.4));
        assert!(close(s.loss[1], 5f32.ln()));
        // logit_margin: ln 2 − 0; then 0 − ln 3.
        assert!(close(s.logit_margin[0].unwrap(), 2f32.ln()));
        assert!(close(s.logit_margin[1].unwrap(), -(3f32.ln())));
        // el2n: ‖(0.25, −0.5, 0.25)‖ = √0.375; ‖(−0.8, 0.2, 0.6)‖ = √1.04.
        assert!(close(s.el2n[0].unwrap(), 0.375f32.sqrt()));
        assert!(close(s.el2n[1].unwrap(), 1.04f32.sqrt()));
        assert_eq!(s.probs.unwrap()[1].len(), 3);
    }

    #[test]
    fn one_class_has_no_logit_margin() {
        let s = score_logits(&[3.0], 1, Labels::Single(&[0]), false).unwrap();
        assert_eq!(s.logit_margin, vec![None]);
        assert_eq!(s.el2n, vec![Some(0.0)]);
    }

    #[test]
    fn loss_is_stable_for_large_logits() {
        let s = score_logits(&[1000.0, 0.0], 2, Labels::Single(&[1]), false).unwrap();
        assert_eq!(s.loss, vec![1000.0]);
        assert_eq!(s.p_label, vec![Some(0.0)]);
    }

    #[test]
    fn ties_predict_the_first_class() {
        let s = score_logits(&[1.0, 1.0, 0.0], 3, Labels::Single(&[1]), false).unwrap();
        assert_eq!(s.predicted, vec![Some(0)]);
        assert!(!s.correct[0] && s.margin[0] == Some(0.0));
    }

    #[test]
    fn multi_label_correct_is_exact_set_match() {
        let logits = [2f32, -2.0, 2.0, 2.0];
        let s = score_logits(&logits, 2, Labels::Multi(&[1.0, 0.0, 1.0, 0.0]), false).unwrap();
        assert_eq!(s.correct, vec![true, false]);
        assert_eq!(s.predicted, vec![None, None]);
        let sig2 = 1.0 / (1.0 + (-2f32).exp());
        assert!(close(s.p_label[1].unwrap(), sig2));
        assert!(close(s.loss[0], -2.0 * sig2.ln()));
        // el2n: ‖(σ(2) − 1, σ(−2))‖ = √2·(1 − σ(2)); the second row ‖(σ(2) − 1, σ(2))‖.
        assert!(close(s.el2n[0].unwrap(), 2f32.sqrt() * (1.0 - sig2)));
        assert!(close(s.el2n[1].unwrap(), ((1.0 - sig2).powi(2) + sig2 * sig2).sqrt()));
        assert_eq!(s.logit_margin, vec![None, None]);
        let empty = score_logits(&[0.0, 0.0], 2, Labels::Multi(&[0.0, 0.0]), false).unwrap();
        assert_eq!(empty.p_label, vec![None]);
    }

    #[test]
    fn bad_batches_are_refused() {
        let shape = score_logits(&[0.0; 6], 3, Labels::Single(&[0]), false).unwrap_err();
        assert!(shape.to_string().contains("2 rows but labels have 1"), "{shape}");
        let range = score_logits(&[0.0; 3], 3, Labels::Single(&[3]), false).unwrap_err();
        assert_eq!(
            range,
            ScoreError::LabelOutOfRange {
                row: 0,
                label: 3,
                classes: 3
            }
        );
        let nan = score_logits(
            &[0.0, f32::NAN, 0.0, 0.0, f32::INFINITY, 0.0],
            2,
            Labels::Single(&[0, 0, 0]),
            false,
        )
        .unwrap_err();
        assert_eq!(nan, ScoreError::NonFinite { rows: vec![0, 2] });
        let binary = score_logits(&[0.0, 0.0], 2, Labels::Multi(&[0.5, 1.0]), false).unwrap_err();
        assert!(matches!(binary, ScoreError::NotBinary { row: 0, class: 0, .. }));
        assert!(score_logits(&[0.0; 5], 2, Labels::Single(&[0, 0]), false).is_err());
    }
}
