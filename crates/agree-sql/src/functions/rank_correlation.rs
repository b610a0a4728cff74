//! `spearman`, `kendall_tau` and `bootstrap_ci`: aggregates that collect the
//! (x, y) pairs of a group and rank them once at the end.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

use crate::bootstrap::{RankMethod, bootstrap_ci};
use crate::correlation::RankedPairs;

/// What the aggregate returns from the collected pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Output {
    Spearman,
    Kendall,
    /// `[low, high]` of a 95% percentile bootstrap.
    Bootstrap,
}

/// One of the rank-correlation aggregates (see the module table in `functions`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RankCorrelation {
    output: Output,
    signature: Signature,
}

impl RankCorrelation {
    /// `spearman(x, y)`.
    pub fn spearman() -> Self {
        Self::pairwise(Output::Spearman)
    }
    /// `kendall_tau(x, y)`.
    pub fn kendall() -> Self {
        Self::pairwise(Output::Kendall)
    }
    /// `bootstrap_ci(x, y, method, replicates, seed)`.
    pub fn bootstrap() -> Self {
        let types = vec![
            DataType::Float64,
            DataType::Float64,
            DataType::Utf8,
            DataType::Int64,
            DataType::Int64,
        ];
        RankCorrelation {
            output: Output::Bootstrap,
            signature: Signature::exact(types, Volatility::Immutable),
        }
    }
    fn pairwise(output: Output) -> Self {
        let types = vec![DataType::Float64, DataType::Float64];
        RankCorrelation {
            output,
            signature: Signature::exact(types, Volatility::Immutable),
        }
    }
}

fn float_list() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

impl AggregateUDFImpl for RankCorrelation {
    fn name(&self) -> &str {
        match self.output {
            Output::Spearman => "spearman",
            Output::Kendall => "kendall_tau",
            Output::Bootstrap => "bootstrap_ci",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.output {
            Output::Bootstrap => float_list(),
            Output::Spearman | Output::Kendall => DataType::Float64,
        })
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(PairedValues {
            output: self.output,
            x: Vec::new(),
            y: Vec::new(),
            method: None,
            replicates: None,
            seed: None,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let name = args.name;
        let mut fields = vec![
            Field::new(format!("{name}[x]"), float_list(), true),
            Field::new(format!("{name}[y]"), float_list(), true),
        ];
        if self.output == Output::Bootstrap {
            fields.push(Field::new(format!("{name}[method]"), DataType::Utf8, true));
            fields.push(Field::new(format!("{name}[replicates]"), DataType::Int64, true));
            fields.push(Field::new(format!("{name}[seed]"), DataType::Int64, true));
        }
        Ok(fields.into_iter().map(Arc::new).collect())
    }
}

/// The pairs of one group, plus the bootstrap settings (constant per group; taken
/// from the first row, and carried in the state so partial aggregates merge).
#[derive(Debug)]
struct PairedValues {
    output: Output,
    x: Vec<f64>,
    y: Vec<f64>,
    method: Option<String>,
    replicates: Option<i64>,
    seed: Option<i64>,
}

fn list_of(values: &[f64]) -> ScalarValue {
    let list = ListArray::from_iter_primitive::<Float64Type, _, _>([Some(values.iter().map(|v| Some(*v)))]);
    ScalarValue::List(Arc::new(list))
}

impl PairedValues {
    fn push(&mut self, x: &Float64Array, y: &Float64Array) {
        for i in 0..x.len() {
            if x.is_valid(i) && y.is_valid(i) {
                let (a, b) = (x.value(i), y.value(i));
                if !a.is_nan() && !b.is_nan() {
                    self.x.push(a);
                    self.y.push(b);
                }
            }
        }
    }

    fn take_settings(&mut self, method: &ArrayRef, replicates: &ArrayRef, seed: &ArrayRef) {
        let method = method.as_string::<i32>();
        let replicates = replicates.as_primitive::<Int64Type>();
        let seed = seed.as_primitive::<Int64Type>();
        for i in 0..method.len() {
            if self.method.is_none() && method.is_valid(i) {
                self.method = Some(method.value(i).to_string());
            }
            if self.replicates.is_none() && replicates.is_valid(i) {
                self.replicates = Some(replicates.value(i));
            }
            if self.seed.is_none() && seed.is_valid(i) {
                self.seed = Some(seed.value(i));
            }
        }
    }
}

impl Accumulator for PairedValues {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let x = values[0].as_primitive::<Float64Type>();
        let y = values[1].as_primitive::<Float64Type>();
        self.push(x, y);
        if self.output == Output::Bootstrap {
            self.take_settings(&values[2], &values[3], &values[4]);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let xs = states[0].as_list::<i32>();
        let ys = states[1].as_list::<i32>();
        for i in 0..xs.len() {
            if xs.is_valid(i) && ys.is_valid(i) {
                let x = xs.value(i);
                let y = ys.value(i);
                self.push(x.as_primitive::<Float64Type>(), y.as_primitive::<Float64Type>());
            }
        }
        if self.output == Output::Bootstrap {
            self.take_settings(&states[2], &states[3], &states[4]);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut state = vec![list_of(&self.x), list_of(&self.y)];
        if self.output == Output::Bootstrap {
            state.push(ScalarValue::Utf8(self.method.clone()));
            state.push(ScalarValue::Int64(self.replicates));
            state.push(ScalarValue::Int64(self.seed));
        }
        Ok(state)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let pairs = RankedPairs::new(std::mem::take(&mut self.x), std::mem::take(&mut self.y));
        match self.output {
            Output::Spearman => Ok(ScalarValue::Float64(pairs.spearman())),
            Output::Kendall => Ok(ScalarValue::Float64(pairs.kendall())),
            Output::Bootstrap => {
                let name = self.method.as_deref().unwrap_or("spearman");
                let Some(method) = RankMethod::parse(name) else {
                    return exec_err!("bootstrap_ci: method must be 'spearman' or 'kendall', not '{name}'");
                };
                let replicates = self.replicates.unwrap_or(1000);
                if replicates < 0 {
                    return exec_err!("bootstrap_ci: replicates must be ≥ 0, got {replicates}");
                }
                let seed = self.seed.unwrap_or(0) as u64;
                match bootstrap_ci(&pairs, method, replicates as usize, seed, 0.95) {
                    Some((low, high)) => Ok(list_of(&[low, high])),
                    None => Ok(ScalarValue::List(Arc::new(ListArray::new_null(
                        Arc::new(Field::new_list_field(DataType::Float64, true)),
                        1,
                    )))),
                }
            }
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + (self.x.capacity() + self.y.capacity()) * std::mem::size_of::<f64>()
    }
}
