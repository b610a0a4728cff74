//! Rows of the `stats` and `spectra` tables (schemas/stats.toml, schemas/spectra.toml)
//! accumulated per batch and turned into Arrow record batches.

use std::sync::Arc;

use arrow::{
    array::{ArrayRef, Float64Array, Float64Builder, Int64Array, ListBuilder, RecordBatch, StringArray},
    datatypes::{DataType, Field, SchemaRef},
    error::ArrowError,
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
    segment_count: Vec<Option<i64>>,
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
            segment_count: Vec::new(),
            error: Vec::new(),
            spectra: Vec::new(),
        }
    }

    /// The `stats` schema of `selection`: sample_id, the selected columns, error.
    pub fn stats_schema(selection: Selection) -> Result<SchemaRef, agree_schema::ContractError> {
        let contract = agree_schema::Table::Stats.contract();
        let fields: Vec<Field> = selection
            .columns()
            .map(|c| {
                let t = if c == "segment_count" {
                    DataType::Int64
                } else {
                    DataType::Float64
                };
                Field::new(c, t, true)
            })
            .collect();
        contract.schema_with(&fields)
    }

    /// The `spectra` schema.
    pub fn spectra_schema() -> Result<SchemaRef, agree_schema::ContractError> {
        Ok(agree_schema::Table::Spectra.contract().schema())
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
                self.segment_count.push(stats.segment_count);
                self.error.push(None);
                self.spectra.push(stats.spectrum);
            }
            Err(reason) => {
                for values in &mut self.values {
                    values.push(None);
                }
                self.segment_count.push(None);
                self.error.push(Some(reason));
                self.spectra.push(None);
            }
        }
    }

    /// Drains the rows into a `stats` batch and, when the spectrum is selected, a
    /// `spectra` batch.
    pub fn take_batches(
        &mut self,
        stats_schema: &SchemaRef,
        spectra_schema: &SchemaRef,
    ) -> Result<(RecordBatch, Option<RecordBatch>), ArrowError> {
        let ids: ArrayRef = Arc::new(Int64Array::from(std::mem::take(&mut self.sample_id)));
        let mut arrays: Vec<ArrayRef> = vec![ids.clone()];
        let segment_count = std::mem::take(&mut self.segment_count);
        for (column, values) in self.columns.iter().zip(&mut self.values) {
            let values = std::mem::take(values);
            if *column == "segment_count" {
                arrays.push(Arc::new(Int64Array::from(segment_count.clone())));
            } else {
                arrays.push(Arc::new(Float64Array::from(values)));
            }
        }
        arrays.push(Arc::new(StringArray::from(std::mem::take(&mut self.error))));
        let stats = RecordBatch::try_new(stats_schema.clone(), arrays)?;
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
        let spectra = RecordBatch::try_new(spectra_schema.clone(), vec![ids, Arc::new(power.finish())])?;
        Ok((stats, Some(spectra)))
    }
}
