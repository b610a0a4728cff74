//! Per-sample scores of a batch and the prediction rows of one (network, epoch, split).

use std::sync::Arc;

use arrow::{
    array::{
        ArrayRef, BooleanArray, Float32Array, Float32Builder, Int32Array, Int64Array, ListBuilder, RecordBatch,
        StringArray,
    },
    datatypes::SchemaRef,
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
