//! `fleiss_kappa(n_positive, n_raters)`: Fleiss' κ of raters who each judge every
//! subject positive or negative (here: networks judging a sample correct/incorrect),
//! one row per subject.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

/// Running sums from which κ follows.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct FleissSums {
    /// Σ_i P_i, the per-subject agreement among pairs of raters.
    pub agreement: f64,
    /// Subjects seen.
    pub subjects: i64,
    /// Positive ratings Σ_i k_i.
    pub positives: i64,
    /// Ratings Σ_i n_i.
    pub ratings: i64,
    /// A subject had fewer than two raters (κ undefined).
    pub degenerate: bool,
}

impl FleissSums {
    /// Adds a subject rated positive by `positive` of `raters` raters.
    pub fn add(&mut self, positive: i64, raters: i64) {
        if raters < 2 || positive < 0 || positive > raters {
            self.degenerate = true;
            return;
        }
        let (k, n) = (positive as f64, raters as f64);
        self.agreement += (k * (k - 1.0) + (n - k) * (n - k - 1.0)) / (n * (n - 1.0));
        self.subjects += 1;
        self.positives += positive;
        self.ratings += raters;
    }

    /// κ = (P̄ − P_e)/(1 − P_e); `None` when undefined (no subjects, a subject with
    /// fewer than two raters, or every rating in one category so that P_e = 1).
    pub fn kappa(&self) -> Option<f64> {
        if self.degenerate || self.subjects == 0 {
            return None;
        }
        let p_bar = self.agreement / self.subjects as f64;
        let p_pos = self.positives as f64 / self.ratings as f64;
        let p_e = p_pos * p_pos + (1.0 - p_pos) * (1.0 - p_pos);
        if 1.0 - p_e <= f64::EPSILON {
            return None;
        }
        Some((p_bar - p_e) / (1.0 - p_e))
    }
}

/// Fleiss' κ of subjects given as (positive ratings, raters) pairs.
pub fn fleiss_kappa(subjects: impl IntoIterator<Item = (i64, i64)>) -> Option<f64> {
    let mut sums = FleissSums::default();
    for (k, n) in subjects {
        sums.add(k, n);
    }
    sums.kappa()
}

/// The `fleiss_kappa` aggregate.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FleissKappa {
    signature: Signature,
}

impl FleissKappa {
    /// `fleiss_kappa(n_positive BIGINT, n_raters BIGINT) -> DOUBLE`.
    pub fn new() -> Self {
        FleissKappa {
            signature: Signature::exact(vec![DataType::Int64, DataType::Int64], Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for FleissKappa {
    fn name(&self) -> &str {
        "fleiss_kappa"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(FleissAccumulator(FleissSums::default())))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let name = args.name;
        Ok(vec![
            Arc::new(Field::new(format!("{name}[agreement]"), DataType::Float64, true)),
            Arc::new(Field::new(format!("{name}[subjects]"), DataType::Int64, true)),
            Arc::new(Field::new(format!("{name}[positives]"), DataType::Int64, true)),
            Arc::new(Field::new(format!("{name}[ratings]"), DataType::Int64, true)),
            Arc::new(Field::new(format!("{name}[degenerate]"), DataType::Boolean, true)),
        ])
    }
}

#[derive(Debug)]
struct FleissAccumulator(FleissSums);

impl Accumulator for FleissAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let k = values[0].as_primitive::<Int64Type>();
        let n = values[1].as_primitive::<Int64Type>();
        for i in 0..k.len() {
            if k.is_valid(i) && n.is_valid(i) {
                self.0.add(k.value(i), n.value(i));
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let agreement = states[0].as_primitive::<Float64Type>();
        let subjects = states[1].as_primitive::<Int64Type>();
        let positives = states[2].as_primitive::<Int64Type>();
        let ratings = states[3].as_primitive::<Int64Type>();
        let degenerate = states[4].as_boolean();
        for i in 0..agreement.len() {
            self.0.agreement += agreement.value(i);
            self.0.subjects += subjects.value(i);
            self.0.positives += positives.value(i);
            self.0.ratings += ratings.value(i);
            self.0.degenerate |= degenerate.is_valid(i) && degenerate.value(i);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let s = self.0;
        Ok(vec![
            ScalarValue::Float64(Some(s.agreement)),
            ScalarValue::Int64(Some(s.subjects)),
            ScalarValue::Int64(Some(s.positives)),
            ScalarValue::Int64(Some(s.ratings)),
            ScalarValue::Boolean(Some(s.degenerate)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.0.kappa()))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_kappa() {
        // Two raters, three subjects with k = 2, 0, 1: P_i = 1, 1, 0 → P̄ = 2/3;
        // p = 3/6 → P_e = 1/2 → κ = (2/3 − 1/2)/(1/2) = 1/3.
        let k = fleiss_kappa([(2, 2), (0, 2), (1, 2)]).unwrap();
        assert!((k - 1.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn perfect_and_chance_agreement() {
        assert!((fleiss_kappa([(3, 3), (0, 3)]).unwrap() - 1.0).abs() < 1e-15);
        // Every subject split 1:1 by two raters: P̄ = 0, P_e = 1/2 → κ = −1.
        assert!((fleiss_kappa([(1, 2), (1, 2)]).unwrap() + 1.0).abs() < 1e-15);
    }

    #[test]
    fn undefined_cases() {
        assert_eq!(fleiss_kappa([(3, 3), (3, 3)]), None, "all positive: P_e = 1");
        assert_eq!(fleiss_kappa([(1, 1), (0, 1)]), None, "one rater");
        assert_eq!(fleiss_kappa([]), None);
    }
}
