//! Per-sample predictions: scoring a batch of logits (loss, predicted class,
//! correctness, probabilities) and assembling the rows of `schemas/predictions.toml`.

use std::sync::Arc;

use arrow::{
    array::{
        ArrayRef, BooleanArray, Float32Array, Float32Builder, Int32Array, Int64Array, ListBuilder, RecordBatch,
        StringArray,
    },
    datatypes::SchemaRef,
};
use tch::{Device, Kind, Reduction, TchError, Tensor};

/// What a batch is judged against.
pub enum Targets {
    /// Class index per sample (int64, N).
    Single(Tensor),
    /// Multi-hot label sets (float, N×K).
    Multi(Tensor),
}

/// Scores of one batch, per sample, on the CPU.
#[derive(Debug, Default, Clone)]
pub struct BatchScores {
    /// Per-sample loss.
    pub loss: Vec<f32>,
    /// Argmax class (single-label only).
    pub predicted: Vec<Option<i32>>,
    /// Whether the prediction is right.
    pub correct: Vec<bool>,
    /// Probability of the label (mean sigmoid over the label set for multi-label).
    pub p_label: Vec<Option<f32>>,
    /// Largest class probability.
    pub p_max: Vec<f32>,
    /// p_label minus the largest other probability (single-label only).
    pub margin: Vec<Option<f32>>,
    /// Full probability vectors, when requested.
    pub probs: Option<Vec<Vec<f32>>>,
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
            let columns = Tensor::f_stack(
                &[
                    loss.detach(),
                    predicted.to_kind(Kind::Float),
                    correct.to_kind(Kind::Float),
                    p_label.shallow_clone(),
                    p_max,
                    &p_label - p_other,
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
            let columns = Tensor::f_stack(
                &[
                    loss.detach(),
                    nan.shallow_clone(),
                    correct.to_kind(Kind::Float),
                    p_label,
                    p_max,
                    nan,
                ],
                1,
            )?;
            (loss, columns, probs)
        }
    };
    let flat: Vec<f32> = Vec::try_from(&columns.f_to_device(Device::Cpu)?.f_reshape([-1])?)?;
    let mut s = BatchScores::default();
    let opt = |v: f32| (!v.is_nan()).then_some(v);
    for row in flat.chunks_exact(6) {
        s.loss.push(row[0]);
        s.predicted.push(opt(row[1]).map(|v| v as i32));
        s.correct.push(row[2] > 0.5);
        s.p_label.push(opt(row[3]));
        s.p_max.push(row[4]);
        s.margin.push(opt(row[5]));
    }
    if with_probs {
        let k = probs.size().get(1).copied().unwrap_or(0) as usize;
        let all: Vec<f32> = Vec::try_from(&probs.f_to_device(Device::Cpu)?.f_reshape([-1])?)?;
        s.probs = Some(all.chunks(k.max(1)).map(<[f32]>::to_vec).collect());
    }
    debug_assert_eq!(s.loss.len(), n);
    Ok((loss, s))
}

/// Prediction rows of one (network, epoch, split), collected batch by batch.
#[derive(Debug, Default, Clone)]
pub struct PredictionColumns {
    /// Sample id per row.
    pub sample_id: Vec<i64>,
    /// Label judged against (single-label).
    pub label: Vec<Option<i32>>,
    /// The scores.
    pub scores: BatchScores,
}

impl PredictionColumns {
    /// Appends a scored batch.
    pub fn extend(&mut self, sample_ids: &[i64], labels: &[Option<i32>], scores: BatchScores) {
        self.sample_id.extend_from_slice(sample_ids);
        self.label.extend_from_slice(labels);
        let s = &mut self.scores;
        s.loss.extend(scores.loss);
        s.predicted.extend(scores.predicted);
        s.correct.extend(scores.correct);
        s.p_label.extend(scores.p_label);
        s.p_max.extend(scores.p_max);
        s.margin.extend(scores.margin);
        if let Some(p) = scores.probs {
            s.probs.get_or_insert_with(Vec::new).extend(p);
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.sample_id.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.sample_id.is_empty()
    }

    /// Fraction of correct rows (0 when empty).
    pub fn accuracy(&self) -> f64 {
        let n = self.scores.correct.len();
        if n == 0 {
            return 0.0;
        }
        self.scores.correct.iter().filter(|&&c| c).count() as f64 / n as f64
    }

    /// Mean per-sample loss (0 when empty).
    pub fn mean_loss(&self) -> f64 {
        let n = self.scores.loss.len();
        if n == 0 {
            return 0.0;
        }
        self.scores.loss.iter().map(|&l| f64::from(l)).sum::<f64>() / n as f64
    }

    /// The rows as a batch of the predictions table, ordered by sample id.
    pub fn to_record_batch(
        &self,
        schema: SchemaRef,
        run_id: &str,
        arch: &str,
        network: i32,
        epoch: i32,
        split: &str,
    ) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&i| self.sample_id[i]);
        let n = order.len();
        let s = &self.scores;
        let pick_f32 = |v: &[f32]| Float32Array::from_iter_values(order.iter().map(|&i| v[i]));
        let pick_opt_f32 = |v: &[Option<f32>]| order.iter().map(|&i| v[i]).collect::<Float32Array>();
        let mut probs = ListBuilder::new(Float32Builder::new());
        for &i in &order {
            match s.probs.as_ref().and_then(|p| p.get(i)) {
                Some(p) => {
                    probs.values().append_slice(p);
                    probs.append(true);
                }
                None => probs.append(false),
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![run_id; n])),
            Arc::new(StringArray::from(vec![arch; n])),
            Arc::new(Int32Array::from(vec![network; n])),
            Arc::new(Int32Array::from(vec![epoch; n])),
            Arc::new(StringArray::from(vec![split; n])),
            Arc::new(Int64Array::from_iter_values(order.iter().map(|&i| self.sample_id[i]))),
            Arc::new(order.iter().map(|&i| self.label[i]).collect::<Int32Array>()),
            Arc::new(order.iter().map(|&i| s.predicted[i]).collect::<Int32Array>()),
            Arc::new(order.iter().map(|&i| Some(s.correct[i])).collect::<BooleanArray>()),
            Arc::new(pick_f32(&s.loss)),
            Arc::new(pick_opt_f32(&s.p_label)),
            Arc::new(pick_f32(&s.p_max)),
            Arc::new(pick_opt_f32(&s.margin)),
            Arc::new(probs.finish()),
        ];
        RecordBatch::try_new(schema, columns)
    }
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
        assert_eq!(s.probs.unwrap()[1].len(), 3);
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
}
