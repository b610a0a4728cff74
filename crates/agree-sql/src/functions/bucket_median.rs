//! Exact medians in bounded memory, in two passes over the same rows.
//!
//! An exact `median(x)` keeps every value of its group until the end: on the
//! analysis of an ImageNet-size run that is every statistic of every sample for
//! every epoch, held at once. Here each value comes with its *rank bucket*
//! (`statistic_buckets`: the sample's rank among all samples by value, then
//! `sample_id`, divided by a width of about √(n/2)), so buckets hold equally many
//! samples and order the values:
//!
//! 1. `median_window(bucket)` counts a group's rows per bucket and returns where
//!    its middle lies: `[lo, hi, below, n]` — the buckets of the 0-based positions
//!    ⌊(n−1)/2⌋ and ⌊n/2⌋ of the sorted group, and how many of its rows lie in
//!    buckets before `lo`. State: one count per bucket.
//! 2. `window_median(value, bucket, window)` keeps only the values whose bucket
//!    lies in `[lo, hi]` (at most two buckets' worth) and returns the mean of the
//!    values at those positions — `median(value)` exactly, the same bits as
//!    DataFusion's `median` (`(a + b) / 2` for an even count).
//!
//! Both skip rows whose value or bucket is null, as SQL aggregates do, so both
//! passes see the same rows when given the same ones. A group without rows gives
//! null.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, ListArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int32Type, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility};

use super::row_selected;

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, true)))
}

fn int64_lists(groups: impl IntoIterator<Item = Option<Vec<i64>>>) -> ListArray {
    let groups: Vec<Option<Vec<i64>>> = groups.into_iter().collect();
    let offsets = OffsetBuffer::from_lengths(groups.iter().map(|g| g.as_ref().map_or(0, Vec::len)));
    let nulls = groups.iter().map(Option::is_some).collect::<Vec<_>>();
    let values: Int64Array = groups.into_iter().flatten().flatten().collect();
    let nulls = nulls.iter().any(|v| !v).then(|| nulls.into());
    ListArray::new(
        Arc::new(Field::new_list_field(DataType::Int64, true)),
        offsets,
        Arc::new(values),
        nulls,
    )
}

fn float64_lists(groups: Vec<Vec<f64>>) -> ListArray {
    let offsets = OffsetBuffer::from_lengths(groups.iter().map(Vec::len));
    let values: Float64Array = groups.into_iter().flatten().collect();
    ListArray::new(
        Arc::new(Field::new_list_field(DataType::Float64, true)),
        offsets,
        Arc::new(values),
        None,
    )
}

/// Where the middle of a group with `counts` rows per bucket lies:
/// `[lo, hi, below, n]`, or `None` without rows.
pub fn middle_window(counts: &[i64]) -> Option<[i64; 4]> {
    let n: i64 = counts.iter().sum();
    if n == 0 {
        return None;
    }
    let (first, second) = ((n - 1) / 2, n / 2);
    let mut seen = 0;
    let mut lo = None;
    let mut below = 0;
    for (bucket, &count) in counts.iter().enumerate() {
        if lo.is_none() && seen + count > first {
            lo = Some(bucket as i64);
            below = seen;
        }
        if seen + count > second {
            return Some([lo.unwrap_or(bucket as i64), bucket as i64, below, n]);
        }
        seen += count;
    }
    None
}

/// The median of a group from the values of its window (any order) and the window.
pub fn window_median(values: &mut [f64], window: [i64; 4]) -> Option<f64> {
    let [_, _, below, n] = window;
    let first = usize::try_from((n - 1) / 2 - below).ok()?;
    let second = usize::try_from(n / 2 - below).ok()?;
    if second >= values.len() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    Some(if first == second {
        values[first]
    } else {
        (values[first] + values[second]) / 2.0
    })
}

/// The `median_window(bucket INT) -> LIST<BIGINT>` aggregate (pass 1).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MedianWindow {
    signature: Signature,
}

impl MedianWindow {
    /// `median_window(bucket INT)`.
    pub fn new() -> Self {
        MedianWindow {
            signature: Signature::exact(vec![DataType::Int32], Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for MedianWindow {
    fn name(&self) -> &str {
        "median_window"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_of(DataType::Int64))
    }
    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(WindowAccumulator(Vec::new())))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[counts]", args.name),
            list_of(DataType::Int64),
            true,
        ))])
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(WindowGroups::default()))
    }
}

/// The buckets of the rows of `values[0]` that pass the filter, with their row index.
fn buckets<'a>(
    values: &'a [ArrayRef],
    opt_filter: Option<&'a BooleanArray>,
) -> impl Iterator<Item = Result<(usize, usize)>> + 'a {
    let bucket = values[0].as_primitive::<Int32Type>();
    (0..bucket.len())
        .filter(move |&i| row_selected(opt_filter, i) && bucket.is_valid(i))
        .map(move |i| match usize::try_from(bucket.value(i)) {
            Ok(b) => Ok((i, b)),
            Err(_) => exec_err!("median_window: a bucket is never negative (got {})", bucket.value(i)),
        })
}

fn count_into(counts: &mut Vec<i64>, bucket: usize, by: i64) {
    if counts.len() <= bucket {
        counts.resize(bucket + 1, 0);
    }
    counts[bucket] += by;
}

/// Adds the count lists of `states` (row `row`) into `counts`.
fn merge_counts(counts: &mut Vec<i64>, lists: &ListArray, row: usize) {
    if lists.is_valid(row) {
        let v = lists.value(row);
        for (bucket, &c) in v.as_primitive::<Int64Type>().values().iter().enumerate() {
            count_into(counts, bucket, c);
        }
    }
}

#[derive(Debug)]
struct WindowAccumulator(Vec<i64>);

impl Accumulator for WindowAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for item in buckets(values, None) {
            count_into(&mut self.0, item?.1, 1);
        }
        Ok(())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for row in 0..lists.len() {
            merge_counts(&mut self.0, lists, row);
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::List(Arc::new(int64_lists([Some(self.0.clone())])))])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        let window = middle_window(&self.0).map(|w| w.to_vec());
        Ok(ScalarValue::List(Arc::new(int64_lists([window]))))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.0.capacity() * 8
    }
}

/// Counts per bucket, per group; `stored` tracks their number so `size` is O(1).
#[derive(Debug, Default)]
struct WindowGroups {
    counts: Vec<Vec<i64>>,
    stored: usize,
}

impl WindowGroups {
    fn resize(&mut self, total_num_groups: usize) {
        if self.counts.len() < total_num_groups {
            self.counts.resize_with(total_num_groups, Vec::new);
        }
    }
    fn add(&mut self, group: usize, bucket: usize, by: i64) {
        let counts = &mut self.counts[group];
        let before = counts.len();
        count_into(counts, bucket, by);
        self.stored += counts.len() - before;
    }
    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<i64>> {
        let taken = emit_to.take_needed(&mut self.counts);
        self.stored -= taken.iter().map(Vec::len).sum::<usize>();
        taken
    }
}

impl GroupsAccumulator for WindowGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        for item in buckets(values, opt_filter) {
            let (row, bucket) = item?;
            self.add(group_indices[row], bucket, 1);
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let windows = self
            .take(emit_to)
            .into_iter()
            .map(|c| middle_window(&c).map(|w| w.to_vec()));
        Ok(Arc::new(int64_lists(windows)))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![Arc::new(int64_lists(self.take(emit_to).into_iter().map(Some)))])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.resize(total_num_groups);
        let lists = values[0].as_list::<i32>();
        for (row, &group) in group_indices.iter().enumerate() {
            if lists.is_valid(row) {
                let v = lists.value(row);
                for (bucket, &c) in v.as_primitive::<Int64Type>().values().iter().enumerate() {
                    if c != 0 {
                        self.add(group, bucket, c);
                    }
                }
            }
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let mut rows: Vec<Vec<i64>> = vec![Vec::new(); values[0].len()];
        for item in buckets(values, opt_filter) {
            let (row, bucket) = item?;
            count_into(&mut rows[row], bucket, 1);
        }
        Ok(vec![Arc::new(int64_lists(rows.into_iter().map(Some)))])
    }

    fn size(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<Vec<i64>>() + self.stored * 8
    }
}

/// The `window_median(value DOUBLE, bucket INT, window LIST<BIGINT>) -> DOUBLE`
/// aggregate (pass 2).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WindowMedian {
    signature: Signature,
}

impl WindowMedian {
    /// `window_median(value DOUBLE, bucket INT, window LIST<BIGINT>)`.
    pub fn new() -> Self {
        WindowMedian {
            signature: Signature::exact(
                vec![DataType::Float64, DataType::Int32, list_of(DataType::Int64)],
                Volatility::Immutable,
            ),
        }
    }
}

impl AggregateUDFImpl for WindowMedian {
    fn name(&self) -> &str {
        "window_median"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(MedianAccumulator(Kept::default())))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[values]", args.name),
                list_of(DataType::Float64),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[window]", args.name),
                list_of(DataType::Int64),
                true,
            )),
        ])
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(MedianGroups::default()))
    }
}

/// A window as the state and the argument carry it.
fn read_window(lists: &ListArray, row: usize) -> Result<Option<[i64; 4]>> {
    if !lists.is_valid(row) {
        return Ok(None);
    }
    let v = lists.value(row);
    match v.as_primitive::<Int64Type>().values().as_ref() {
        &[lo, hi, below, n] => Ok(Some([lo, hi, below, n])),
        other => exec_err!(
            "window_median: a window is [lo, hi, below, n] (got {} values)",
            other.len()
        ),
    }
}

/// One group of pass 2: its window and the values inside it.
#[derive(Debug, Default, Clone)]
struct Kept {
    window: Option<[i64; 4]>,
    values: Vec<f64>,
}

impl Kept {
    /// Keeps `value` when `bucket` lies in the window (taking `window` as the
    /// group's if it has none yet); returns whether it was kept.
    fn offer(&mut self, value: f64, bucket: i64, window: Option<[i64; 4]>) -> bool {
        if self.window.is_none() {
            self.window = window;
        }
        match self.window {
            Some([lo, hi, ..]) if (lo..=hi).contains(&bucket) => {
                self.values.push(value);
                true
            }
            _ => false,
        }
    }
    fn median(mut self) -> Option<f64> {
        window_median(&mut self.values, self.window?)
    }
}

/// Each row of the batch that passes the filter: (row, value, bucket, window).
fn offers<'a>(
    values: &'a [ArrayRef],
    opt_filter: Option<&'a BooleanArray>,
) -> impl Iterator<Item = Result<(usize, f64, i64, Option<[i64; 4]>)>> + 'a {
    let value = values[0].as_primitive::<Float64Type>();
    let bucket = values[1].as_primitive::<Int32Type>();
    let window = values[2].as_list::<i32>();
    (0..value.len())
        .filter(move |&i| row_selected(opt_filter, i) && value.is_valid(i) && bucket.is_valid(i))
        .map(move |i| Ok((i, value.value(i), i64::from(bucket.value(i)), read_window(window, i)?)))
}

fn kept_state(groups: Vec<Kept>) -> Vec<ArrayRef> {
    let windows = int64_lists(groups.iter().map(|k| k.window.map(|w| w.to_vec())));
    let values = float64_lists(groups.into_iter().map(|k| k.values).collect());
    vec![Arc::new(values), Arc::new(windows)]
}

/// Merges row `row` of a pass-2 state into `kept`; returns how many values it added.
fn merge_kept(kept: &mut Kept, states: &[ArrayRef], row: usize) -> Result<usize> {
    let values = states[0].as_list::<i32>();
    let window = read_window(states[1].as_list::<i32>(), row)?;
    if kept.window.is_none() {
        kept.window = window;
    }
    if !values.is_valid(row) {
        return Ok(0);
    }
    let v = values.value(row);
    let v = v.as_primitive::<Float64Type>();
    kept.values.extend(v.values().iter());
    Ok(v.len())
}

#[derive(Debug)]
struct MedianAccumulator(Kept);

impl Accumulator for MedianAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for item in offers(values, None) {
            let (_, value, bucket, window) = item?;
            self.0.offer(value, bucket, window);
        }
        Ok(())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for row in 0..states[0].len() {
            merge_kept(&mut self.0, states, row)?;
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        kept_state(vec![self.0.clone()])
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(std::mem::take(&mut self.0).median()))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.0.values.capacity() * 8
    }
}

/// Pass-2 groups; `stored` tracks the kept values so `size` is O(1).
#[derive(Debug, Default)]
struct MedianGroups {
    groups: Vec<Kept>,
    stored: usize,
}

impl MedianGroups {
    fn resize(&mut self, total_num_groups: usize) {
        if self.groups.len() < total_num_groups {
            self.groups.resize_with(total_num_groups, Kept::default);
        }
    }
    fn take(&mut self, emit_to: EmitTo) -> Vec<Kept> {
        let taken = emit_to.take_needed(&mut self.groups);
        self.stored -= taken.iter().map(|k| k.values.len()).sum::<usize>();
        taken
    }
}

impl GroupsAccumulator for MedianGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        for item in offers(values, opt_filter) {
            let (row, value, bucket, window) = item?;
            if self.groups[group_indices[row]].offer(value, bucket, window) {
                self.stored += 1;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let medians: Float64Array = self.take(emit_to).into_iter().map(Kept::median).collect();
        Ok(Arc::new(medians))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(kept_state(self.take(emit_to)))
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.resize(total_num_groups);
        for (row, &group) in group_indices.iter().enumerate() {
            self.stored += merge_kept(&mut self.groups[group], values, row)?;
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let mut rows: Vec<Kept> = vec![Kept::default(); values[0].len()];
        for item in offers(values, opt_filter) {
            let (row, value, bucket, window) = item?;
            rows[row].offer(value, bucket, window);
        }
        Ok(kept_state(rows))
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<Kept>() + self.stored * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The median the slow way: sort everything.
    fn full_median(values: &[f64]) -> Option<f64> {
        let mut v = values.to_vec();
        v.sort_unstable_by(f64::total_cmp);
        let n = v.len();
        (n > 0).then(|| {
            if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            }
        })
    }

    /// Both passes over `values` with buckets of `width` by rank (ties by position).
    fn two_pass(values: &[f64], members: &[bool], width: usize) -> Option<f64> {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
        let mut bucket = vec![0i64; values.len()];
        for (rank, &i) in order.iter().enumerate() {
            bucket[i] = (rank / width) as i64;
        }
        let mut counts = Vec::new();
        for i in (0..values.len()).filter(|&i| members[i]) {
            count_into(&mut counts, bucket[i] as usize, 1);
        }
        let window = middle_window(&counts);
        let mut kept = Kept::default();
        for i in (0..values.len()).filter(|&i| members[i]) {
            kept.offer(values[i], bucket[i], window);
        }
        assert!(
            kept.values.len() <= 2 * width,
            "kept {} of width {width}",
            kept.values.len()
        );
        kept.median()
    }

    #[test]
    fn two_passes_give_the_exact_median_of_any_subset() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..400 {
            let n = 1 + (next() % 300) as usize;
            // Few distinct values in some cases, so ties cross bucket boundaries.
            let distinct = if case % 3 == 0 { 4 } else { 1_000_000 };
            let values: Vec<f64> = (0..n).map(|_| (next() % distinct) as f64 / 7.0).collect();
            let members: Vec<bool> = (0..n).map(|_| next() % 3 != 0).collect();
            let width = 1 + (next() % 20) as usize;
            let chosen: Vec<f64> = (0..n).filter(|&i| members[i]).map(|i| values[i]).collect();
            let want = full_median(&chosen);
            let got = two_pass(&values, &members, width);
            assert_eq!(
                got.map(f64::to_bits),
                want.map(f64::to_bits),
                "case {case}: n {n}, width {width}"
            );
        }
    }

    #[test]
    fn an_empty_group_has_no_window() {
        assert_eq!(middle_window(&[]), None);
        assert_eq!(middle_window(&[0, 0]), None);
        assert_eq!(middle_window(&[0, 3, 1]), Some([1, 1, 0, 4]));
        assert_eq!(middle_window(&[2, 0, 2]), Some([0, 2, 0, 4]));
    }
}
