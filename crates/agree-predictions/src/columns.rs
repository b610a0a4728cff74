//! Per-sample scores of a batch and the prediction rows of one (network, epoch, split).

use std::sync::Arc;

use agree_schema::{ContractError, Table};
use arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Float32Builder, Int32Array, Int64Array, ListBuilder, RecordBatch, StringArray,
};

/// Scores of one batch, per sample, on the CPU.
#[derive(Debug, Default, Clone, PartialEq)]
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
    /// Logit of the label minus the largest other logit (single-label with two or
    /// more classes only).
    pub logit_margin: Vec<Option<f32>>,
    /// L2 norm of the probabilities minus the label's one-hot (or multi-hot) vector.
    pub el2n: Vec<Option<f32>>,
    /// Full probability vectors, when requested.
    pub probs: Option<Vec<Vec<f32>>>,
}

impl BatchScores {
    /// Number of scored samples.
    pub fn len(&self) -> usize {
        self.loss.len()
    }

    /// Whether no sample was scored.
    pub fn is_empty(&self) -> bool {
        self.loss.is_empty()
    }
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
        s.logit_margin.extend(scores.logit_margin);
        s.el2n.extend(scores.el2n);
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

    /// The rows as a batch of the predictions table (`schemas/predictions.toml`),
    /// ordered by sample id; the columns are given by name and laid out by the contract.
    pub fn to_record_batch(
        &self,
        run_id: &str,
        arch: &str,
        network: i32,
        epoch: i32,
        split: &str,
    ) -> Result<RecordBatch, ContractError> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&i| self.sample_id[i]);
        let n = order.len();
        let s = &self.scores;
        let pick_f32 =
            |v: &[f32]| -> ArrayRef { Arc::new(Float32Array::from_iter_values(order.iter().map(|&i| v[i]))) };
        let pick_opt_f32 =
            |v: &[Option<f32>]| -> ArrayRef { Arc::new(order.iter().map(|&i| v[i]).collect::<Float32Array>()) };
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
        Table::Predictions.contract().batch([
            ("run_id", Arc::new(StringArray::from(vec![run_id; n])) as ArrayRef),
            ("arch", Arc::new(StringArray::from(vec![arch; n]))),
            ("network", Arc::new(Int32Array::from(vec![network; n]))),
            ("epoch", Arc::new(Int32Array::from(vec![epoch; n]))),
            ("split", Arc::new(StringArray::from(vec![split; n]))),
            (
                "sample_id",
                Arc::new(Int64Array::from_iter_values(order.iter().map(|&i| self.sample_id[i]))),
            ),
            (
                "label",
                Arc::new(order.iter().map(|&i| self.label[i]).collect::<Int32Array>()),
            ),
            (
                "predicted",
                Arc::new(order.iter().map(|&i| s.predicted[i]).collect::<Int32Array>()),
            ),
            (
                "correct",
                Arc::new(order.iter().map(|&i| Some(s.correct[i])).collect::<BooleanArray>()),
            ),
            ("loss", pick_f32(&s.loss)),
            ("p_label", pick_opt_f32(&s.p_label)),
            ("p_max", pick_f32(&s.p_max)),
            ("margin", pick_opt_f32(&s.margin)),
            ("logit_margin", pick_opt_f32(&s.logit_margin)),
            ("el2n", pick_opt_f32(&s.el2n)),
            ("probs", Arc::new(probs.finish())),
        ])
    }
}

#[cfg(test)]
mod tests {
    use arrow::{
        array::AsArray,
        datatypes::{Float32Type, Int64Type},
    };

    use super::*;

    #[test]
    fn rows_are_laid_out_as_the_contract_says_and_ordered_by_sample_id() {
        let mut cols = PredictionColumns::default();
        let scores = BatchScores {
            loss: vec![0.5, 0.25],
            predicted: vec![Some(1), Some(0)],
            correct: vec![true, false],
            p_label: vec![Some(0.75), Some(0.5)],
            p_max: vec![0.75, 0.5],
            margin: vec![Some(0.5), None],
            logit_margin: vec![Some(1.25), None],
            el2n: vec![Some(0.25), Some(1.0)],
            probs: None,
        };
        cols.extend(&[9, 4], &[Some(1), Some(2)], scores);
        let batch = cols.to_record_batch("lenet5-s0", "lenet5", 0, 3, "test").unwrap();
        assert_eq!(batch.schema(), Table::Predictions.contract().schema());
        let ids = batch.column_by_name("sample_id").unwrap();
        assert_eq!(ids.as_primitive::<Int64Type>(), &Int64Array::from(vec![4, 9]));
        let loss = batch.column_by_name("loss").unwrap();
        assert_eq!(loss.as_primitive::<Float32Type>().values(), &[0.25, 0.5]);
        assert_eq!(batch.column_by_name("probs").unwrap().null_count(), 2);
        let logit_margin = batch
            .column_by_name("logit_margin")
            .unwrap()
            .as_primitive::<Float32Type>();
        assert_eq!(logit_margin.iter().collect::<Vec<_>>(), vec![None, Some(1.25)]);
        let el2n = batch.column_by_name("el2n").unwrap().as_primitive::<Float32Type>();
        assert_eq!(el2n.values(), &[1.0, 0.25]);
    }
}
