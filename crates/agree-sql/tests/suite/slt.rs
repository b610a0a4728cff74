//! The `.slt` files of `tests/slt/` (sqllogictest, the format DataFusion tests its
//! SQL with), run against a session with this crate's functions: the aggregate
//! functions, and each analysis step on small hand-written tables with results
//! worked out by hand. Besides SQL, a record may say
//! - `statistics stats.a, stats.b`: the statistics `{each statistic: …}` repeats over;
//! - `step NAME`: runs the embedded step NAME as the analysis does (expanded,
//!   checked against its contract), registers its output as table NAME for the
//!   steps after it, and returns its rows (a result step's brought into its
//!   contract, as written to results/).
//!
//! Floats are printed rounded to 10 decimals (trailing zeros dropped), lists as
//! `[a, b]`, nulls as `NULL`. Any mismatch in any file fails the test.

use std::path::Path;
use std::sync::Arc;

use agree_sql::{StatisticColumn, expand_each_statistic, find_step, new_context, register_batches, step_output};
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use sqllogictest::{DBOutput, DefaultColumnType};

struct Session {
    ctx: SessionContext,
    rt: Arc<tokio::runtime::Runtime>,
    statistics: Vec<StatisticColumn>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failure(String);

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure(e.to_string())
}

/// A float as the .slt files write it: rounded to 10 decimals, trailing zeros dropped.
fn float(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = format!("{v:.10}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

fn cell(column: &ArrayRef, row: usize) -> Result<String, Failure> {
    if column.is_null(row) {
        return Ok("NULL".into());
    }
    match column.data_type() {
        DataType::Float64 => Ok(float(column.as_primitive::<Float64Type>().value(row))),
        DataType::Float32 => Ok(float(f64::from(
            column.as_primitive::<arrow::datatypes::Float32Type>().value(row),
        ))),
        DataType::List(_) => {
            let items = column.as_list::<i32>().value(row);
            let cells = (0..items.len())
                .map(|i| cell(&items, i))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(format!("[{}]", cells.join(", ")))
        }
        _ => {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default()).map_err(fail)?;
            Ok(formatter.value(row).to_string())
        }
    }
}

fn column_type(t: &DataType) -> DefaultColumnType {
    if t.is_integer() {
        DefaultColumnType::Integer
    } else if t.is_floating() {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

fn rows(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<DBOutput<DefaultColumnType>, Failure> {
    let mut rows = Vec::new();
    for batch in batches {
        for r in 0..batch.num_rows() {
            rows.push(batch.columns().iter().map(|c| cell(c, r)).collect::<Result<_, _>>()?);
        }
    }
    let types = schema.fields().iter().map(|f| column_type(f.data_type())).collect();
    Ok(DBOutput::Rows { types, rows })
}

impl Session {
    async fn sql(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), Failure> {
        let frame = self.ctx.sql(sql).await.map_err(fail)?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        Ok((schema, frame.collect().await.map_err(fail)?))
    }

    /// `step NAME`, as described at the top of this file.
    async fn step(&self, name: &str) -> Result<DBOutput<DefaultColumnType>, Failure> {
        let step = find_step(name).map_err(fail)?;
        let sql = expand_each_statistic(step.sql, &self.statistics).map_err(Failure)?;
        // A repeated step's queries, their rows one after the other.
        let mut schema = None;
        let mut batches = Vec::new();
        for query in step.instances(&sql) {
            let (s, b) = self.sql(&query).await?;
            schema.get_or_insert(s);
            batches.extend(b);
        }
        let schema = schema.ok_or_else(|| Failure(format!("step {name} has no query")))?;
        let registered = batches.first().map_or_else(|| schema.clone(), RecordBatch::schema);
        register_batches(&self.ctx, name, registered, batches.clone()).map_err(fail)?;
        let (schema, batches) = step_output(step, &self.statistics, schema, batches).map_err(fail)?;
        rows(&schema, &batches)
    }

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Failure> {
        let text = sql.trim();
        if let Some(list) = text.strip_prefix("statistics ") {
            self.statistics = list
                .split(',')
                .map(|s| {
                    let (table, column) = s
                        .trim()
                        .split_once('.')
                        .ok_or_else(|| fail(format!("`{s}`: TABLE.COLUMN")))?;
                    Ok(StatisticColumn {
                        table: table.into(),
                        column: column.into(),
                    })
                })
                .collect::<Result<_, Failure>>()?;
            return Ok(DBOutput::StatementComplete(0));
        }
        if let Some(name) = text.strip_prefix("step ") {
            return self.step(name.trim()).await;
        }
        let (schema, batches) = self.sql(text).await?;
        let is_query = ["select", "with", "values"]
            .iter()
            .any(|k| text.get(..k.len()).is_some_and(|p| p.eq_ignore_ascii_case(k)));
        if is_query {
            rows(&schema, &batches)
        } else {
            Ok(DBOutput::StatementComplete(0))
        }
    }
}

impl sqllogictest::DB for Session {
    type Error = Failure;
    type ColumnType = DefaultColumnType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Failure> {
        let rt = self.rt.clone();
        rt.block_on(Session::run(self, sql))
    }
}

fn session() -> Result<Session, Failure> {
    Ok(Session {
        ctx: new_context(),
        rt: Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(fail)?,
        ),
        statistics: Vec::new(),
    })
}

#[test]
fn slt_files_give_the_hand_worked_results() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "no .slt files in {}", dir.display());
    let mut failures = Vec::new();
    for file in &files {
        let mut runner = sqllogictest::Runner::new(|| async { session() });
        if let Err(e) = runner.run_file(file) {
            failures.push(format!("{}: {e}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
