//! `forgetting_events(epoch, correct)`: how often a network forgot a sample —
//! correct at one epoch, incorrect at the next present epoch (Toneva et al. 2019).
//!
//! The analysis groups ~18 M prediction rows into one group per (network, sample),
//! so the function has a `GroupsAccumulator`: DataFusion's adapter for plain
//! accumulators would call into one boxed accumulator per group per batch.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility};

use super::row_selected;

/// Correct→incorrect transitions in observations coded `epoch * 2 + correct`.
/// Each epoch counts once (the first observation of a duplicated epoch).
pub fn count_forgetting(codes: &mut [i64]) -> i64 {
    codes.sort_unstable();
    let mut events = 0;
    let mut previous: Option<i64> = None;
    for &code in codes.iter() {
        let epoch = code >> 1;
        match previous {
            Some(p) if p >> 1 == epoch => continue,
            Some(p) if p & 1 == 1 && code & 1 == 0 => events += 1,
            _ => {}
        }
        previous = Some(code);
    }
    events
}

fn code(epoch: i64, correct: bool) -> i64 {
    epoch * 2 + i64::from(correct)
}

fn code_list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)))
}

/// The `forgetting_events` aggregate.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ForgettingEvents {
    signature: Signature,
}

impl ForgettingEvents {
    /// `forgetting_events(epoch BIGINT, correct BOOLEAN) -> BIGINT`.
    pub fn new() -> Self {
        ForgettingEvents {
            signature: Signature::exact(vec![DataType::Int64, DataType::Boolean], Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for ForgettingEvents {
    fn name(&self) -> &str {
        "forgetting_events"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ForgettingAccumulator(Vec::new())))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[codes]", args.name),
            code_list_type(),
            true,
        ))])
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(ForgettingGroups {
            codes: Vec::new(),
            stored: 0,
        }))
    }
}

/// Codes of every row of the batch that passes the filter, with its row index.
fn batch_codes<'a>(
    values: &'a [ArrayRef],
    opt_filter: Option<&'a BooleanArray>,
) -> impl Iterator<Item = (usize, i64)> + 'a {
    let epoch = values[0].as_primitive::<Int64Type>();
    let correct = values[1].as_boolean();
    (0..epoch.len())
        .filter(move |&i| row_selected(opt_filter, i) && epoch.is_valid(i) && correct.is_valid(i))
        .map(move |i| (i, code(epoch.value(i), correct.value(i))))
}

fn codes_to_list(groups: Vec<Vec<i64>>) -> ListArray {
    let offsets = OffsetBuffer::from_lengths(groups.iter().map(Vec::len));
    let values: Int64Array = groups.into_iter().flatten().collect();
    ListArray::new(
        Arc::new(Field::new_list_field(DataType::Int64, true)),
        offsets,
        Arc::new(values),
        None,
    )
}

#[derive(Debug)]
struct ForgettingAccumulator(Vec<i64>);

impl Accumulator for ForgettingAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.0.extend(batch_codes(values, None).map(|(_, c)| c));
        Ok(())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                self.0
                    .extend(lists.value(i).as_primitive::<Int64Type>().values().iter());
            }
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::List(Arc::new(codes_to_list(vec![self.0.clone()])))])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(count_forgetting(&mut self.0))))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.0.capacity() * 8
    }
}

/// Codes per group index; `stored` tracks the element count so `size` is O(1).
#[derive(Debug)]
struct ForgettingGroups {
    codes: Vec<Vec<i64>>,
    stored: usize,
}

impl ForgettingGroups {
    fn resize(&mut self, total_num_groups: usize) {
        if self.codes.len() < total_num_groups {
            self.codes.resize_with(total_num_groups, Vec::new);
        }
    }
    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<i64>> {
        let taken = emit_to.take_needed(&mut self.codes);
        self.stored -= taken.iter().map(Vec::len).sum::<usize>();
        taken
    }
}

impl GroupsAccumulator for ForgettingGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        for (row, c) in batch_codes(values, opt_filter) {
            self.codes[group_indices[row]].push(c);
            self.stored += 1;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let counts: Int64Array = self
            .take(emit_to)
            .into_iter()
            .map(|mut c| Some(count_forgetting(&mut c)))
            .collect();
        Ok(Arc::new(counts))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![Arc::new(codes_to_list(self.take(emit_to)))])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.resize(total_num_groups);
        let lists = values[0].as_list::<i32>();
        for (row, &group) in group_indices.iter().enumerate() {
            if lists.is_valid(row) {
                let v = lists.value(row);
                let v = v.as_primitive::<Int64Type>();
                self.codes[group].extend(v.values().iter());
                self.stored += v.len();
            }
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let mut rows: Vec<Vec<i64>> = vec![Vec::new(); values[0].len()];
        for (row, c) in batch_codes(values, opt_filter) {
            rows[row].push(c);
        }
        Ok(vec![Arc::new(codes_to_list(rows))])
    }

    fn size(&self) -> usize {
        self.codes.capacity() * std::mem::size_of::<Vec<i64>>() + self.stored * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_correct_to_incorrect_transitions_in_epoch_order() {
        // Epochs 1..6 correct = 1,0,1,1,0,0 given out of order: forgotten at 2 and 5.
        let mut codes = vec![
            code(3, true),
            code(1, true),
            code(6, false),
            code(2, false),
            code(5, false),
            code(4, true),
        ];
        assert_eq!(count_forgetting(&mut codes), 2);
        let mut never_forgotten = vec![code(1, false), code(2, true), code(3, true)];
        assert_eq!(count_forgetting(&mut never_forgotten), 0);
        assert_eq!(count_forgetting(&mut []), 0);
    }
}
