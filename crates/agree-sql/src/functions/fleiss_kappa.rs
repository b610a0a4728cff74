//! `fleiss_kappa(n_positive, n_raters)`: Fleiss' κ of raters who each judge every
//! subject positive or negative (here: networks judging a sample correct/incorrect),
//! one row per subject.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

/// Running sums from which κ follows. The per-subject agreement P_i is summed
/// exactly, as agreeing pairs of raters, over the subjects that have as many raters
/// as the first one (all of them in an analysis), so κ does not depend on the order
/// in which rows and partial sums arrive.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct FleissSums {
    /// Σ k(k − 1) + (n − k)(n − k − 1) over the subjects with `raters` raters.
    pub agreeing_pairs: i64,
    /// The raters of the subjects in `agreeing_pairs` (0 before the first subject).
    pub raters: i64,
    /// Σ_i P_i of subjects with another number of raters.
    pub other_agreement: f64,
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
        if self.raters == 0 {
            self.raters = raters;
        }
        let pairs = positive * (positive - 1) + (raters - positive) * (raters - positive - 1);
        if raters == self.raters {
            self.agreeing_pairs += pairs;
        } else {
            self.other_agreement += pairs as f64 / (raters * (raters - 1)) as f64;
        }
        self.subjects += 1;
        self.positives += positive;
        self.ratings += raters;
    }

    /// Adds the sums of other subjects.
    fn merge(&mut self, other: &FleissSums) {
        if self.raters == 0 {
            self.raters = other.raters;
        }
        if other.raters == self.raters {
            self.agreeing_pairs += other.agreeing_pairs;
        } else {
            self.other_agreement += other.agreement();
        }
        self.other_agreement += other.other_agreement;
        self.subjects += other.subjects;
        self.positives += other.positives;
        self.ratings += other.ratings;
        self.degenerate |= other.degenerate;
    }

    /// Σ_i P_i of the subjects in `agreeing_pairs`.
    fn agreement(&self) -> f64 {
        if self.raters < 2 {
            return 0.0;
        }
        self.agreeing_pairs as f64 / (self.raters * (self.raters - 1)) as f64
    }

    /// κ = (P̄ − P_e)/(1 − P_e); `None` when undefined (no subjects, a subject with
    /// fewer than two raters, or every rating in one category so that P_e = 1).
    pub fn kappa(&self) -> Option<f64> {
        if self.degenerate || self.subjects == 0 {
            return None;
        }
        let p_bar = (self.agreement() + self.other_agreement) / self.subjects as f64;
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
            Arc::new(Field::new(format!("{name}[agreeing_pairs]"), DataType::Int64, true)),
            Arc::new(Field::new(format!("{name}[raters]"), DataType::Int64, true)),
            Arc::new(Field::new(format!("{name}[other_agreement]"), DataType::Float64, true)),
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
        let int = |i: usize| states[i].as_primitive::<Int64Type>();
        let (pairs, raters, subjects, positives, ratings) = (int(0), int(1), int(3), int(4), int(5));
        let other = states[2].as_primitive::<Float64Type>();
        let degenerate = states[6].as_boolean();
        for i in 0..pairs.len() {
            self.0.merge(&FleissSums {
                agreeing_pairs: pairs.value(i),
                raters: raters.value(i),
                other_agreement: other.value(i),
                subjects: subjects.value(i),
                positives: positives.value(i),
                ratings: ratings.value(i),
                degenerate: degenerate.is_valid(i) && degenerate.value(i),
            });
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let s = self.0;
        Ok(vec![
            ScalarValue::Int64(Some(s.agreeing_pairs)),
            ScalarValue::Int64(Some(s.raters)),
            ScalarValue::Float64(Some(s.other_agreement)),
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
    fn the_order_of_subjects_and_partial_sums_does_not_change_a_bit() {
        // 1/3-agreement subjects (three raters, one dissenting) among unanimous
        // ones: summed as f64 fractions, orders differ in the last bits.
        let subjects: Vec<(i64, i64)> = (0..300).map(|i| if i % 7 < 4 { (2, 3) } else { (3, 3) }).collect();
        let whole = fleiss_kappa(subjects.iter().copied()).unwrap();
        let reversed = fleiss_kappa(subjects.iter().rev().copied()).unwrap();
        let mut parts = [FleissSums::default(), FleissSums::default(), FleissSums::default()];
        for (i, &(k, n)) in subjects.iter().enumerate() {
            parts[(i * 7919) % 3].add(k, n);
        }
        let mut merged = FleissSums::default();
        for p in parts.iter().rev() {
            merged.merge(p);
        }
        assert_eq!(whole.to_bits(), reversed.to_bits());
        assert_eq!(whole.to_bits(), merged.kappa().unwrap().to_bits());
        // Mixed rater counts still give κ.
        assert!(
            (fleiss_kappa([(2, 2), (0, 3), (1, 2)]).unwrap() - fleiss_kappa([(1, 2), (0, 3), (2, 2)]).unwrap()).abs()
                < 1e-15
        );
    }

    #[test]
    fn undefined_cases() {
        assert_eq!(fleiss_kappa([(3, 3), (3, 3)]), None, "all positive: P_e = 1");
        assert_eq!(fleiss_kappa([(1, 1), (0, 1)]), None, "one rater");
        assert_eq!(fleiss_kappa([]), None);
    }
}
