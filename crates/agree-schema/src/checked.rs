//! The one by-name reader: a Parquet table read whole, checked against its
//! contract, and its columns taken by name as plain values; every error names the
//! file, and the column and row at fault.

use std::path::{Path, PathBuf};

use arrow::{
    array::{ArrayRef, AsArray, RecordBatch},
    compute::cast,
    datatypes::{DataType, Float64Type, Int64Type, SchemaRef},
};

use crate::{ExperimentDir, Table, TableContract, TableFileError, read_table};

/// Why a table could not be read by column name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct TableReadError {
    /// The table's file.
    pub path: PathBuf,
    /// What is wrong, naming the column and row when one is at fault.
    pub problem: String,
}

/// A table read whole and checked against its contract: column types and
/// nullability are the contract's, so every column it names can be taken by name.
#[derive(Debug, Clone)]
pub struct CheckedTable {
    path: PathBuf,
    contract: &'static TableContract,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl CheckedTable {
    /// Reads `path` as `table`.
    pub fn read(path: &Path, table: Table) -> Result<Self, TableReadError> {
        Self::read_as(path, table.contract())
    }

    /// Reads `path` as `table`; `None` when there is no such file.
    pub fn read_if_exists(path: &Path, table: Table) -> Result<Option<Self>, TableReadError> {
        if !path.exists() {
            return Ok(None);
        }
        Self::read(path, table).map(Some)
    }

    /// Reads `table` of `dir` from every file that holds it
    /// ([`table_files`](crate::table_files): one per network or shard, or one file) as
    /// one table; `None` when it is absent. Every file must have the same columns; the
    /// table's path (for later messages) is its file, or its folder when there are several.
    pub fn read_in(dir: &ExperimentDir, table: Table) -> Result<Option<Self>, TableReadError> {
        let files = crate::table_files(dir, table).map_err(|e| TableReadError {
            path: e.path,
            problem: e.problem,
        })?;
        let Some(first) = files.first() else {
            return Ok(None);
        };
        if files.len() == 1 {
            return Self::read(first, table).map(Some);
        }
        let mut whole = Self::read(first, table)?;
        whole.path = match table {
            Table::Stats | Table::Spectra => dir.shards_dir(table),
            _ => dir.table(table),
        };
        for file in &files[1..] {
            let part = Self::read(file, table)?;
            let columns = |t: &CheckedTable| -> Vec<(String, DataType)> {
                t.schema
                    .fields()
                    .iter()
                    .map(|f| (f.name().clone(), f.data_type().clone()))
                    .collect()
            };
            if columns(&part) != columns(&whole) {
                let names = |t: &CheckedTable| columns(t).into_iter().map(|(n, _)| n).collect::<Vec<_>>().join(", ");
                return Err(TableReadError {
                    path: file.clone(),
                    problem: format!(
                        "its columns ({}) differ from those of {} ({}): the files of `{table}` must make one table",
                        names(&part),
                        first.display(),
                        names(&whole)
                    ),
                });
            }
            // Same columns; the footers' metadata may differ, so batches take the first schema.
            for b in part.batches {
                let b =
                    RecordBatch::try_new(whole.schema.clone(), b.columns().to_vec()).map_err(|e| TableReadError {
                        path: file.clone(),
                        problem: e.to_string(),
                    })?;
                whole.batches.push(b);
            }
        }
        Ok(Some(whole))
    }

    /// Reads `path` and checks it against `contract`.
    pub fn read_as(path: &Path, contract: &'static TableContract) -> Result<Self, TableReadError> {
        let (schema, batches) = read_table(path).map_err(|e| TableReadError {
            path: path.to_path_buf(),
            // The error names the file already; the problem is what it wraps.
            problem: match e {
                TableFileError::Io { source, .. } => source.to_string(),
                TableFileError::Parquet { source, .. } => source.to_string(),
                TableFileError::Contract { source, .. } => source.to_string(),
            },
        })?;
        Self::from_batches(path, contract, schema, batches)
    }

    /// Rows already read from `path` (for messages), checked against `contract`.
    pub fn from_batches(
        path: &Path,
        contract: &'static TableContract,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<Self, TableReadError> {
        contract.check(&schema).map_err(|e| TableReadError {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })?;
        Ok(CheckedTable {
            path: path.to_path_buf(),
            contract,
            schema,
            batches,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its contract.
    pub fn contract(&self) -> &'static TableContract {
        self.contract
    }

    /// Its schema, as stored.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The batches as read.
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// Row count.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Whether the table has column `name` (an optional or, in an open table, an
    /// extra column may be absent).
    pub fn has(&self, name: &str) -> bool {
        self.schema.column_with_name(name).is_some()
    }

    /// An error about this table (callers add what their reading found wrong).
    pub fn error(&self, problem: impl Into<String>) -> TableReadError {
        TableReadError {
            path: self.path.clone(),
            problem: problem.into(),
        }
    }

    /// Column `name` of each batch, cast to `to`.
    pub fn column(&self, name: &str, to: &DataType) -> Result<Vec<ArrayRef>, TableReadError> {
        if !self.has(name) {
            return Err(self.error(format!("column `{name}` is missing")));
        }
        self.batches
            .iter()
            .map(|b| {
                let c = b
                    .column_by_name(name)
                    .ok_or_else(|| self.error(format!("column `{name}` is missing")))?;
                cast(c, to).map_err(|e| self.error(format!("column `{name}` cannot be read as {to}: {e}")))
            })
            .collect()
    }

    /// Column `name` as floats (nulls as `None`).
    pub fn f64s(&self, name: &str) -> Result<Vec<Option<f64>>, TableReadError> {
        let mut out = Vec::with_capacity(self.rows());
        for a in self.column(name, &DataType::Float64)? {
            out.extend(a.as_primitive::<Float64Type>().iter());
        }
        Ok(out)
    }

    /// Column `name` as integers (nulls as `None`).
    pub fn i64s(&self, name: &str) -> Result<Vec<Option<i64>>, TableReadError> {
        let mut out = Vec::with_capacity(self.rows());
        for a in self.column(name, &DataType::Int64)? {
            out.extend(a.as_primitive::<Int64Type>().iter());
        }
        Ok(out)
    }

    /// Column `name` as strings (nulls as `None`).
    pub fn strings(&self, name: &str) -> Result<Vec<Option<String>>, TableReadError> {
        let mut out = Vec::with_capacity(self.rows());
        for a in self.column(name, &DataType::Utf8)? {
            out.extend(a.as_string::<i32>().iter().map(|s| s.map(str::to_owned)));
        }
        Ok(out)
    }

    /// Column `name` as booleans (nulls as `None`).
    pub fn bools(&self, name: &str) -> Result<Vec<Option<bool>>, TableReadError> {
        let mut out = Vec::with_capacity(self.rows());
        for a in self.column(name, &DataType::Boolean)? {
            out.extend(a.as_boolean().iter());
        }
        Ok(out)
    }

    /// `values` of column `name`, which must hold no null: the first null names its row.
    pub fn required<T>(&self, name: &str, values: Vec<Option<T>>) -> Result<Vec<T>, TableReadError> {
        values
            .into_iter()
            .enumerate()
            .map(|(row, v)| v.ok_or_else(|| self.error(format!("column `{name}` is null in row {row}"))))
            .collect()
    }

    /// Column `name` as floats, none null.
    pub fn req_f64s(&self, name: &str) -> Result<Vec<f64>, TableReadError> {
        self.required(name, self.f64s(name)?)
    }

    /// Column `name` as integers, none null.
    pub fn req_i64s(&self, name: &str) -> Result<Vec<i64>, TableReadError> {
        self.required(name, self.i64s(name)?)
    }

    /// Column `name` as strings, none null.
    pub fn req_strings(&self, name: &str) -> Result<Vec<String>, TableReadError> {
        self.required(name, self.strings(name)?)
    }

    /// Column `name` as booleans, none null.
    pub fn req_bools(&self, name: &str) -> Result<Vec<bool>, TableReadError> {
        self.required(name, self.bools(name)?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};

    use super::*;
    use crate::{ExperimentDir, TableWriter};

    #[test]
    fn columns_come_by_name_and_errors_name_file_column_and_row() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ExperimentDir::new(tmp.path());
        let path = dir.table(Table::StatisticCorrelation);
        let contract = Table::StatisticCorrelation.contract();
        // Every column null except the non-null ones, which hold one valid row.
        let columns: Vec<(&str, ArrayRef)> = contract
            .columns
            .iter()
            .map(|c| {
                let values: ArrayRef = match (&c.data_type, c.nullable) {
                    (_, true) => arrow::array::new_null_array(&c.data_type, 1),
                    (DataType::Utf8, false) => Arc::new(StringArray::from(vec!["x"])),
                    (other, false) => cast(&(Arc::new(Int64Array::from(vec![1])) as ArrayRef), other).unwrap(),
                };
                (c.name.as_str(), values)
            })
            .collect();
        let batch = contract.batch(columns).unwrap();
        let mut w = TableWriter::create(&path, contract, batch.schema()).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();

        let t = CheckedTable::read(&path, Table::StatisticCorrelation).unwrap();
        assert_eq!(t.rows(), 1);
        let nullable = contract.columns.iter().find(|c| c.nullable).unwrap();
        let msg = t.req_f64s(&nullable.name).unwrap_err().to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(&format!("`{}` is null in row 0", nullable.name)), "{msg}");
        let msg = t.i64s("nope").unwrap_err().to_string();
        assert!(msg.contains("column `nope` is missing"), "{msg}");
        assert!(
            CheckedTable::read_if_exists(&dir.table(Table::Agreement), Table::Agreement)
                .unwrap()
                .is_none()
        );
        // A file that is not Parquet: named once, with what is wrong.
        let junk = tmp.path().join("junk.parquet");
        std::fs::write(&junk, b"not parquet").unwrap();
        let msg = CheckedTable::read(&junk, Table::Stats).unwrap_err().to_string();
        assert_eq!(msg.matches("junk.parquet").count(), 1, "{msg}");
        // The wrong contract is refused, naming the file.
        let msg = CheckedTable::read(&path, Table::Agreement).unwrap_err().to_string();
        assert!(
            msg.contains("statistic_correlation.parquet") && msg.contains("does not follow"),
            "{msg}"
        );
    }

    fn write_stats(path: &Path, ids: &[i64], with_entropy: bool) {
        let mut columns: Vec<(&str, ArrayRef)> = vec![
            ("sample_id", Arc::new(Int64Array::from(ids.to_vec()))),
            ("error", Arc::new(StringArray::from(vec![None::<&str>; ids.len()]))),
        ];
        if with_entropy {
            columns.push((
                "entropy_global",
                Arc::new(arrow::array::Float64Array::from(vec![1.5; ids.len()])),
            ));
        }
        let batch = Table::Stats.contract().batch(columns).unwrap();
        let mut w = TableWriter::create(path, Table::Stats.contract(), batch.schema()).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
    }

    #[test]
    fn shards_read_as_one_table_and_must_have_the_same_columns() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ExperimentDir::new(tmp.path());
        assert!(CheckedTable::read_in(&dir, Table::Stats).unwrap().is_none());
        let part = |i| dir.shard_table(Table::Stats, crate::Shard::new(i, 2).unwrap());
        write_stats(&part(0), &[0, 2], true);
        write_stats(&part(1), &[1], true);
        let t = CheckedTable::read_in(&dir, Table::Stats).unwrap().unwrap();
        assert_eq!(t.req_i64s("sample_id").unwrap(), vec![0, 2, 1]);
        assert_eq!(t.path(), dir.shards_dir(Table::Stats));
        write_stats(&part(1), &[1], false);
        let msg = CheckedTable::read_in(&dir, Table::Stats).unwrap_err().to_string();
        assert!(
            msg.contains("part-1-of-2.parquet") && msg.contains("differ from those of"),
            "{msg}"
        );
    }
}
