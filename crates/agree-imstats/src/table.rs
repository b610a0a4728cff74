//! Rows of the `stats` and `spectra` tables (schemas/stats.toml, schemas/spectra.toml)
//! accumulated per batch and turned into Arrow record batches.

use std::sync::Arc;

use agree_schema::{ContractError, Table};
use arrow::{
    array::{ArrayRef, Float64Array, Float64Builder, Int64Array, ListBuilder, RecordBatch, StringArray},
    datatypes::{DataType, Field, SchemaRef},
};

use crate::{
    image_stats::ImageStats,
    spectrum::BINS,
    statistic::{Selection, Statistic},
};

/// One batch worth of `stats`/`spectra` rows for a selection of statistics.
#[derive(Debug)]
pub struct StatsRows {
    selection: Selection,
    columns: Vec<&'static str>,
    sample_id: Vec<i64>,
    values: Vec<Vec<Option<f64>>>,
    error: Vec<Option<String>>,
    spectra: Vec<Option<[f64; BINS]>>,
}

impl StatsRows {
    /// Empty rows for `selection`.
    pub fn new(selection: Selection) -> Self {
        let columns: Vec<&'static str> = selection.columns().collect();
        StatsRows {
            selection,
            values: vec![Vec::new(); columns.len()],
            columns,
            sample_id: Vec::new(),
            error: Vec::new(),
            spectra: Vec::new(),
        }
    }

    /// The `stats` schema of `selection`: sample_id, the selected columns, error.
    pub fn stats_schema(selection: Selection) -> Result<SchemaRef, ContractError> {
        let contract = Table::Stats.contract();
        let fields: Vec<Field> = selection
            .columns()
            .filter_map(|c| contract.column(c).map(|c| c.field()))
            .collect();
        contract.schema_with(&fields)
    }

    /// The `spectra` schema.
    pub fn spectra_schema() -> Result<SchemaRef, ContractError> {
        Ok(Table::Spectra.contract().schema())
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.sample_id.len()
    }

    /// Whether no rows are held.
    pub fn is_empty(&self) -> bool {
        self.sample_id.is_empty()
    }

    /// Appends one sample's statistics, or nulls and the reason it has none.
    pub fn push(&mut self, sample_id: i64, result: Result<&ImageStats, String>) {
        self.sample_id.push(sample_id);
        match result {
            Ok(stats) => {
                for (column, values) in self.columns.iter().zip(&mut self.values) {
                    values.push(stats.column(column));
                }
                self.error.push(None);
                self.spectra.push(stats.spectrum);
            }
            Err(reason) => {
                for values in &mut self.values {
                    values.push(None);
                }
                self.error.push(Some(reason));
                self.spectra.push(None);
            }
        }
    }

    /// Drains the rows into a `stats` batch and, when the spectrum is selected, a
    /// `spectra` batch, both laid out by column name by their contracts. A column
    /// the contract types as an integer (`segment_count`) is written as one.
    pub fn take_batches(&mut self) -> Result<(RecordBatch, Option<RecordBatch>), ContractError> {
        let stats_contract = Table::Stats.contract();
        let ids: ArrayRef = Arc::new(Int64Array::from(std::mem::take(&mut self.sample_id)));
        let mut columns: Vec<(&str, ArrayRef)> = vec![("sample_id", ids.clone())];
        for (&column, values) in self.columns.iter().zip(&mut self.values) {
            let values = std::mem::take(values);
            let integer = stats_contract
                .column(column)
                .is_some_and(|c| c.data_type == DataType::Int64);
            let array: ArrayRef = if integer {
                // Whole counts, exact in f64 (ImageStats::column widened them).
                Arc::new(values.into_iter().map(|v| v.map(|v| v as i64)).collect::<Int64Array>())
            } else {
                Arc::new(Float64Array::from(values))
            };
            columns.push((column, array));
        }
        columns.push(("error", Arc::new(StringArray::from(std::mem::take(&mut self.error)))));
        let stats = stats_contract.batch(columns)?;
        let spectra_rows = std::mem::take(&mut self.spectra);
        if !self.selection.contains(Statistic::Spectrum) {
            return Ok((stats, None));
        }
        let mut power = ListBuilder::new(Float64Builder::with_capacity(spectra_rows.len() * BINS));
        for row in &spectra_rows {
            match row {
                Some(p) => {
                    power.values().append_slice(p);
                    power.append(true);
                }
                None => power.append(false),
            }
        }
        let power: ArrayRef = Arc::new(power.finish());
        let spectra = Table::Spectra
            .contract()
            .batch([("sample_id", ids), ("power", power)])?;
        Ok((stats, Some(spectra)))
    }
}
