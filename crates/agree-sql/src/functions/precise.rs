//! `precise_sum(x)`, `precise_avg(x)`, `precise_stddev_pop(x)`: sums, means and
//! population standard deviations whose result does not depend on the order in
//! which rows arrive — so not on the thread count, the partitioning, the file
//! layout or the engine (local or a cluster).
//!
//! DataFusion's `sum`, `avg` and `stddev_pop` add in f64 in arrival order and
//! merge partial states in the order partitions finish, so a rerun can differ in
//! the last bits. Here every sum is kept in double-double arithmetic (≈ 106
//! significant bits; squares enter exactly, split by a fused multiply-add), and
//! only the final value is rounded to f64. Two orders of the same rows then give
//! sums within ~n·2⁻¹⁰⁶ of each other, so their f64 results agree unless the exact
//! value lies that close to a rounding boundary. The results are also more
//! accurate than f64 accumulation: the variance is taken as E[x²] − E[x]² in
//! double-double, which keeps ~90 bits even when the spread is 10⁻⁷ of the mean.
//!
//! Nulls are skipped; an empty group gives null. A non-finite input makes the sum
//! and mean what IEEE addition of the non-finite inputs gives (±∞ or NaN) and the
//! standard deviation NaN, as the built-in functions do.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility};

use super::row_selected;

/// An unevaluated sum `hi + lo` with |lo| ≤ ulp(hi)/2.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DoubleDouble {
    hi: f64,
    lo: f64,
}

impl DoubleDouble {
    /// `a + b` exactly (Knuth's two-sum).
    fn two_sum(a: f64, b: f64) -> Self {
        let s = a + b;
        let bb = s - a;
        DoubleDouble {
            hi: s,
            lo: (a - (s - bb)) + (b - bb),
        }
    }

    /// `a + b` exactly when |a| ≥ |b|.
    fn quick_two_sum(a: f64, b: f64) -> Self {
        let s = a + b;
        DoubleDouble { hi: s, lo: b - (s - a) }
    }

    /// `a · b` exactly (a fused multiply-add gives the rounding error).
    fn product(a: f64, b: f64) -> Self {
        let p = a * b;
        DoubleDouble {
            hi: p,
            lo: a.mul_add(b, -p),
        }
    }

    fn add(self, other: Self) -> Self {
        if !self.hi.is_finite() || !other.hi.is_finite() {
            return DoubleDouble {
                hi: self.hi + other.hi,
                lo: 0.0,
            };
        }
        let s = Self::two_sum(self.hi, other.hi);
        if !s.hi.is_finite() {
            // Overflow: the error terms are meaningless.
            return DoubleDouble { hi: s.hi, lo: 0.0 };
        }
        let t = Self::two_sum(self.lo, other.lo);
        let u = Self::quick_two_sum(s.hi, s.lo + t.hi);
        let v = Self::quick_two_sum(u.hi, u.lo + t.lo);
        if v.hi.is_finite() {
            v
        } else {
            DoubleDouble { hi: v.hi, lo: 0.0 }
        }
    }

    fn neg(self) -> Self {
        DoubleDouble {
            hi: -self.hi,
            lo: -self.lo,
        }
    }

    fn mul(self, other: Self) -> Self {
        let p = Self::product(self.hi, other.hi);
        Self::quick_two_sum(p.hi, p.lo + (self.hi * other.lo + self.lo * other.hi))
    }

    /// `self / d` for a positive count `d`.
    fn div_count(self, d: f64) -> Self {
        let q1 = self.hi / d;
        let r = self.add(Self::product(q1, d).neg());
        let q2 = r.hi / d;
        let r = r.add(Self::product(q2, d).neg());
        let q3 = r.hi / d;
        Self::quick_two_sum(q1, q2).add(DoubleDouble { hi: q3, lo: 0.0 })
    }

    /// The value rounded to f64.
    pub fn value(self) -> f64 {
        self.hi + self.lo
    }

    /// √value, rounded to f64 (one Newton step from the f64 root); 0 for values ≤ 0.
    fn sqrt(self) -> f64 {
        if self.hi <= 0.0 {
            return 0.0;
        }
        let s = self.hi.sqrt();
        let residual = (-s).mul_add(s, self.hi) + self.lo;
        s + residual / (2.0 * s)
    }
}

/// Count, sum and sum of squares of a group's values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    n: i64,
    sum: DoubleDouble,
    squares: DoubleDouble,
    /// IEEE sum of the non-finite values seen; 0 when there were none.
    non_finite: f64,
    /// Smallest and largest finite value (+∞/−∞ before the first): a constant group's
    /// spread is exactly 0, and no spread exceeds half the range.
    min: f64,
    max: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments {
            n: 0,
            sum: DoubleDouble::default(),
            squares: DoubleDouble::default(),
            non_finite: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Moments {
    /// Adds one value.
    pub fn add(&mut self, x: f64) {
        self.n += 1;
        if x.is_finite() {
            self.sum = self.sum.add(DoubleDouble { hi: x, lo: 0.0 });
            self.squares = self.squares.add(DoubleDouble::product(x, x));
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        } else {
            self.non_finite += x;
        }
    }

    /// Adds the values another group saw.
    pub fn merge(&mut self, other: &Moments) {
        self.n += other.n;
        self.sum = self.sum.add(other.sum);
        self.squares = self.squares.add(other.squares);
        self.non_finite += other.non_finite;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    fn has_non_finite(&self) -> bool {
        self.non_finite != 0.0
    }

    /// Σx; `None` for no values.
    pub fn sum(&self) -> Option<f64> {
        match self.n {
            0 => None,
            _ if self.has_non_finite() => Some(self.non_finite),
            _ => Some(self.sum.value()),
        }
    }

    /// Σx / n; `None` for no values.
    pub fn mean(&self) -> Option<f64> {
        match self.n {
            0 => None,
            _ if self.has_non_finite() => Some(self.non_finite),
            n => Some(self.sum.div_count(n as f64).value()),
        }
    }

    /// √(Σx²/n − (Σx/n)²), within [0, (max − min)/2]; `None` for no values.
    pub fn std_pop(&self) -> Option<f64> {
        match self.n {
            0 => None,
            _ if self.has_non_finite() => Some(f64::NAN),
            n => {
                let mean = self.sum.div_count(n as f64);
                let variance = self.squares.div_count(n as f64).add(mean.mul(mean).neg());
                Some(variance.sqrt().min((self.max - self.min) / 2.0))
            }
        }
    }
}

/// Which of the three results a function gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Sum,
    Avg,
    StddevPop,
}

impl Kind {
    fn result(self, m: &Moments) -> Option<f64> {
        match self {
            Kind::Sum => m.sum(),
            Kind::Avg => m.mean(),
            Kind::StddevPop => m.std_pop(),
        }
    }
}

/// `precise_sum`, `precise_avg` or `precise_stddev_pop`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Precise {
    kind: Kind,
    signature: Signature,
}

impl Precise {
    fn new(kind: Kind) -> Self {
        Precise {
            kind,
            signature: Signature::numeric(1, Volatility::Immutable),
        }
    }

    /// `precise_sum(x) -> DOUBLE`.
    pub fn sum() -> Self {
        Self::new(Kind::Sum)
    }

    /// `precise_avg(x) -> DOUBLE`.
    pub fn avg() -> Self {
        Self::new(Kind::Avg)
    }

    /// `precise_stddev_pop(x) -> DOUBLE`.
    pub fn stddev_pop() -> Self {
        Self::new(Kind::StddevPop)
    }
}

impl AggregateUDFImpl for Precise {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Sum => "precise_sum",
            Kind::Avg => "precise_avg",
            Kind::StddevPop => "precise_stddev_pop",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(PreciseAccumulator {
            kind: self.kind,
            moments: Moments::default(),
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let name = args.name;
        let f64_field = |part: &str| Arc::new(Field::new(format!("{name}[{part}]"), DataType::Float64, true));
        Ok(vec![
            Arc::new(Field::new(format!("{name}[n]"), DataType::Int64, true)),
            f64_field("sum_hi"),
            f64_field("sum_lo"),
            f64_field("squares_hi"),
            f64_field("squares_lo"),
            f64_field("non_finite"),
            f64_field("min"),
            f64_field("max"),
        ])
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(PreciseGroups {
            kind: self.kind,
            groups: Vec::new(),
        }))
    }
}

/// The argument as f64 values (any numeric type is cast).
fn as_f64(values: &ArrayRef) -> Result<Float64Array> {
    let cast = arrow::compute::cast(values, &DataType::Float64)?;
    Ok(cast.as_primitive::<Float64Type>().clone())
}

/// The eight state columns, as arrays of equal length.
struct StateColumns<'a> {
    n: &'a Int64Array,
    parts: [&'a Float64Array; 7],
}

impl<'a> StateColumns<'a> {
    fn of(states: &'a [ArrayRef]) -> Self {
        StateColumns {
            n: states[0].as_primitive::<Int64Type>(),
            parts: std::array::from_fn(|i| states[i + 1].as_primitive::<Float64Type>()),
        }
    }

    fn row(&self, i: usize) -> Moments {
        let p = |k: usize| {
            if self.parts[k].is_valid(i) {
                self.parts[k].value(i)
            } else {
                0.0
            }
        };
        if !self.n.is_valid(i) || self.n.value(i) == 0 {
            return Moments::default();
        }
        Moments {
            n: self.n.value(i),
            sum: DoubleDouble { hi: p(0), lo: p(1) },
            squares: DoubleDouble { hi: p(2), lo: p(3) },
            non_finite: p(4),
            min: p(5),
            max: p(6),
        }
    }
}

fn state_arrays(moments: &[Moments]) -> Vec<ArrayRef> {
    let column =
        |f: fn(&Moments) -> f64| -> ArrayRef { Arc::new(Float64Array::from_iter_values(moments.iter().map(f))) };
    vec![
        Arc::new(Int64Array::from_iter_values(moments.iter().map(|m| m.n))),
        column(|m| m.sum.hi),
        column(|m| m.sum.lo),
        column(|m| m.squares.hi),
        column(|m| m.squares.lo),
        column(|m| m.non_finite),
        column(|m| m.min),
        column(|m| m.max),
    ]
}

#[derive(Debug)]
struct PreciseAccumulator {
    kind: Kind,
    moments: Moments,
}

impl Accumulator for PreciseAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for x in as_f64(&values[0])?.iter().flatten() {
            self.moments.add(x);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let columns = StateColumns::of(states);
        for i in 0..columns.n.len() {
            self.moments.merge(&columns.row(i));
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let m = self.moments;
        Ok(vec![
            ScalarValue::Int64(Some(m.n)),
            ScalarValue::Float64(Some(m.sum.hi)),
            ScalarValue::Float64(Some(m.sum.lo)),
            ScalarValue::Float64(Some(m.squares.hi)),
            ScalarValue::Float64(Some(m.squares.lo)),
            ScalarValue::Float64(Some(m.non_finite)),
            ScalarValue::Float64(Some(m.min)),
            ScalarValue::Float64(Some(m.max)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.kind.result(&self.moments)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// The same, for many groups at once (DataFusion's fast path for GROUP BY).
#[derive(Debug)]
struct PreciseGroups {
    kind: Kind,
    groups: Vec<Moments>,
}

impl GroupsAccumulator for PreciseGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize(total_num_groups, Moments::default());
        let values = as_f64(&values[0])?;
        for (i, &g) in group_indices.iter().enumerate() {
            if values.is_valid(i) && row_selected(opt_filter, i) {
                self.groups[g].add(values.value(i));
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.groups.resize(total_num_groups, Moments::default());
        let columns = StateColumns::of(values);
        for (i, &g) in group_indices.iter().enumerate() {
            self.groups[g].merge(&columns.row(i));
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = emit_to.take_needed(&mut self.groups);
        Ok(Arc::new(
            groups.iter().map(|m| self.kind.result(m)).collect::<Float64Array>(),
        ))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(state_arrays(&emit_to.take_needed(&mut self.groups)))
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let values = as_f64(&values[0])?;
        let rows: Vec<Moments> = (0..values.len())
            .map(|i| {
                let mut m = Moments::default();
                if values.is_valid(i) && row_selected(opt_filter, i) {
                    m.add(values.value(i));
                }
                m
            })
            .collect();
        Ok(state_arrays(&rows))
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<Moments>() + std::mem::size_of_val(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(values: &[f64]) -> Moments {
        let mut m = Moments::default();
        values.iter().for_each(|&x| m.add(x));
        m
    }

    /// A reproducible stream of values in [0, 1) with a long tail towards 0.
    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                u * u * u
            })
            .collect()
    }

    #[test]
    fn any_order_and_any_split_gives_the_same_bits() {
        let xs = values(10_000, 7);
        let whole = moments(&xs);
        let mut reversed = xs.clone();
        reversed.reverse();
        // Merged from uneven chunks in a scrambled order, as partitions finish.
        let mut merged = Moments::default();
        let chunks: Vec<&[f64]> = xs.chunks(337).collect();
        for k in (0..chunks.len()).map(|i| (i * 7) % chunks.len()) {
            merged.merge(&moments(chunks[k]));
        }
        for other in [moments(&reversed), merged] {
            assert_eq!(other.sum().unwrap().to_bits(), whole.sum().unwrap().to_bits());
            assert_eq!(other.mean().unwrap().to_bits(), whole.mean().unwrap().to_bits());
            assert_eq!(other.std_pop().unwrap().to_bits(), whole.std_pop().unwrap().to_bits());
        }
    }

    #[test]
    fn sums_are_correctly_rounded_where_f64_accumulation_is_not() {
        // 1 + 1e-16 + … (10⁴ times): plain f64 addition loses every small term.
        let mut xs = vec![1.0];
        xs.extend(std::iter::repeat_n(1e-16, 10_000));
        assert_eq!(moments(&xs).sum(), Some(1.0 + 1e-12));
        assert_eq!(xs.iter().sum::<f64>(), 1.0);
        assert_eq!(moments(&[1e100, 1.0, -1e100]).sum(), Some(1.0));
    }

    #[test]
    fn small_spread_around_a_large_mean() {
        // 1 ± 2⁻³⁰ (exact in f64): mean 1, population std 2⁻³⁰, both exactly.
        let d = 2f64.powi(-30);
        let m = moments(&[1.0 + d, 1.0 - d, 1.0 + d, 1.0 - d]);
        assert_eq!(m.mean(), Some(1.0));
        assert_eq!(m.std_pop(), Some(d));
    }

    #[test]
    fn matches_a_two_pass_reference() {
        let xs = values(1_000, 3);
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let std = (xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
        let m = moments(&xs);
        assert!((m.mean().unwrap() - mean).abs() < 1e-15);
        assert!((m.std_pop().unwrap() - std).abs() < 1e-15);
    }

    #[test]
    fn empty_constant_and_non_finite_groups() {
        let empty = Moments::default();
        assert_eq!((empty.sum(), empty.mean(), empty.std_pop()), (None, None, None));
        assert_eq!(moments(&[0.3; 7]).std_pop(), Some(0.0));
        assert_eq!(moments(&[0.1, 0.1, 0.7]).std_pop().unwrap().to_bits(), {
            let m = moments(&[0.7, 0.1, 0.1]);
            m.std_pop().unwrap().to_bits()
        });
        assert_eq!(moments(&[0.3; 7]).mean(), Some(0.3));
        let inf = moments(&[1.0, f64::INFINITY]);
        assert_eq!(inf.sum(), Some(f64::INFINITY));
        assert!(inf.std_pop().unwrap().is_nan());
        assert!(moments(&[f64::INFINITY, f64::NEG_INFINITY]).mean().unwrap().is_nan());
        assert!(moments(&[f64::NAN, 2.0]).sum().unwrap().is_nan());
        assert_eq!(moments(&[f64::MAX, f64::MAX]).sum(), Some(f64::INFINITY));
    }
}
