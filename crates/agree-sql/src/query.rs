//! `agree sql`: read-only ad-hoc queries over an experiment session, and their output.

use std::io::Write;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use crate::error::SqlError;

/// How query results are printed or saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// Comma-separated values with a header.
    Csv,
    /// One JSON object per line.
    Json,
    /// A Parquet file (needs `--out`).
    Parquet,
}

/// Where in the query an error points: (line, column), both from 1.
fn error_location(error: &DataFusionError) -> Option<(u64, u64)> {
    for e in error.iter() {
        if let Some(span) = e.diagnostic().and_then(|d| d.span)
            && span.start.line > 0
        {
            return Some((span.start.line, span.start.column));
        }
    }
    // The SQL parser reports "… at Line: L, Column: C" in its message.
    let text = error.to_string();
    let at = text.rfind("Line: ")?;
    let rest = &text[at + 6..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

/// DataFusion's message, and when it knows the place, the query line with a caret under it.
pub fn explain_error(sql: &str, error: &DataFusionError) -> String {
    let mut out = error.to_string();
    if let Some((line, column)) = error_location(error)
        && let Some(text) = sql.lines().nth(line.saturating_sub(1) as usize)
    {
        let pad = " ".repeat(column.saturating_sub(1) as usize);
        out.push_str(&format!(
            "\n  --> line {line}, column {column}\n   | {text}\n   | {pad}^"
        ));
    }
    out
}

fn refuse(plan: &LogicalPlan) -> Option<String> {
    let what = match plan {
        LogicalPlan::Ddl(ddl) => format!("{} (DDL)", ddl.name()),
        LogicalPlan::Dml(dml) => format!("{} (DML)", dml.op),
        LogicalPlan::Copy(_) => "COPY".to_string(),
        LogicalPlan::Statement(s) => s.name().to_string(),
        _ => return None,
    };
    Some(format!(
        "{what}: `agree sql` only reads; it never creates, changes or writes tables \
         (use --out to save a query's result)"
    ))
}

/// Plans one query without running it, refusing DDL, DML, COPY and session
/// statements; parse and planning errors carry their position. `agree sql`'s
/// read-only check (the fuzz target `sql_readonly` drives it).
pub async fn plan_read_only(ctx: &SessionContext, sql: &str) -> Result<LogicalPlan, SqlError> {
    let plan = ctx
        .state()
        .create_logical_plan(sql)
        .await
        .map_err(|e| SqlError::Query(explain_error(sql, &e)))?;
    if let Some(reason) = refuse(&plan) {
        return Err(SqlError::ReadOnly(reason));
    }
    Ok(plan)
}

/// Plans and runs one read-only query ([`plan_read_only`]): nothing runs unless the
/// check accepts the plan.
pub async fn run_query(ctx: &SessionContext, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
    let plan = plan_read_only(ctx, sql).await?;
    let frame = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(|e| SqlError::Query(explain_error(sql, &e)))?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame
        .collect()
        .await
        .map_err(|e| SqlError::Query(explain_error(sql, &e)))?;
    Ok((schema, batches))
}

/// Tables, columns and types of the session: one row per column.
pub async fn describe_tables(ctx: &SessionContext) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
    run_query(
        ctx,
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns \
         WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    )
    .await
}

/// Dictionary and view columns as plain strings and bytes: text writers print
/// values, not keys, and plain types read everywhere (older pyarrow, pandas).
fn decode_dictionaries(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, value) => f.as_ref().clone().with_data_type(value.as_ref().clone()),
            DataType::Utf8View => f.as_ref().clone().with_data_type(DataType::Utf8),
            DataType::BinaryView => f.as_ref().clone().with_data_type(DataType::Binary),
            _ => f.as_ref().clone(),
        })
        .collect();
    let plain = Arc::new(Schema::new(fields));
    let out = batches
        .iter()
        .map(|b| {
            let columns = b
                .columns()
                .iter()
                .zip(plain.fields())
                .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
                .collect::<Result<Vec<_>, _>>()?;
            RecordBatch::try_new(plain.clone(), columns)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SqlError::Output(e.to_string()))?;
    Ok((plain, out))
}

/// Writes `batches` in `format` to `out`. Parquet needs a seekable file, so it
/// goes through `parquet_path` instead of `out`.
pub fn write_batches(
    format: OutputFormat,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    out: &mut dyn Write,
    parquet_path: Option<&std::path::Path>,
) -> Result<(), SqlError> {
    let fail = |e: &dyn std::fmt::Display| SqlError::Output(e.to_string());
    let (schema, batches) = decode_dictionaries(schema, batches)?;
    match format {
        OutputFormat::Table => {
            let text = arrow::util::pretty::pretty_format_batches(&batches).map_err(|e| fail(&e))?;
            writeln!(out, "{text}").map_err(|e| fail(&e))?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" }).map_err(|e| fail(&e))?;
        }
        OutputFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(out);
            if batches.is_empty() {
                writer
                    .write(&RecordBatch::new_empty(schema.clone()))
                    .map_err(|e| fail(&e))?;
            }
            for b in &batches {
                writer.write(b).map_err(|e| fail(&e))?;
            }
        }
        OutputFormat::Json => {
            let mut writer = arrow::json::LineDelimitedWriter::new(out);
            for b in &batches {
                writer.write(b).map_err(|e| fail(&e))?;
            }
            writer.finish().map_err(|e| fail(&e))?;
        }
        OutputFormat::Parquet => {
            let Some(path) = parquet_path else {
                return Err(SqlError::Output("Parquet output needs --out <file>".into()));
            };
            let file = std::fs::File::create(path).map_err(|source| SqlError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None).map_err(|e| fail(&e))?;
            for b in &batches {
                writer.write(b).map_err(|e| fail(&e))?;
            }
            writer.close().map_err(|e| fail(&e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_are_refused_and_errors_point_at_the_query() {
        let ctx = crate::session::new_context();
        let err = run_query(&ctx, "CREATE TABLE t AS SELECT 1").await.unwrap_err();
        assert!(matches!(err, SqlError::ReadOnly(_)), "{err}");
        let err = run_query(&ctx, "SELECT 1 AS a\nFROM nowhere")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("nowhere"), "{err}");
        let err = run_query(&ctx, "SELEC 1").await.unwrap_err().to_string();
        assert!(err.contains("line 1, column 1"), "{err}");
        let (_, batches) = run_query(&ctx, "SELECT fleiss_kappa(k, 2) FROM (VALUES (2), (0), (1)) AS t(k)")
            .await
            .unwrap();
        let v = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .unwrap()
            .value(0);
        assert!((v - 1.0 / 3.0).abs() < 1e-15);
    }
}
