//! `agree sql`: read-only ad-hoc queries over an experiment session, and their output.

use std::io::Write;
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{self, SetExpr, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

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

/// The deepest expression nesting a query may have. Planning, optimising and
/// evaluating recurse over expressions; past this depth the query is refused
/// with an error instead of risking the stack (2,000 chained `+` are refused).
pub const MAX_EXPRESSION_DEPTH: usize = 500;

/// The most SQL tokens one query may have: bounds the parsed tree whatever its
/// shape (the tree is dropped recursively), so the check itself fits any stack.
pub const MAX_QUERY_TOKENS: usize = 20_000;

/// How nested the parser may go (subqueries, parentheses), as DataFusion's default.
const PARSER_RECURSION_LIMIT: usize = 50;

fn refused(what: impl std::fmt::Display) -> SqlError {
    SqlError::ReadOnly(format!(
        "{what}: `agree sql` only reads; it never creates, changes or writes tables or files \
         (use --out to save a query's result)"
    ))
}

/// Walks a parsed statement: refuses any nested statement (an `INSERT` inside a
/// CTE, say) and `SELECT … INTO`, and measures the expression depth.
#[derive(Default)]
struct ReadOnlyVisitor {
    statements: usize,
    depth: usize,
}

enum Refusal {
    Writes(String),
    TooDeep,
}

impl Visitor for ReadOnlyVisitor {
    type Break = Refusal;
    fn pre_visit_statement(&mut self, statement: &ast::Statement) -> ControlFlow<Refusal> {
        self.statements += 1;
        if self.statements > 1 {
            return ControlFlow::Break(Refusal::Writes(statement_name(statement)));
        }
        ControlFlow::Continue(())
    }
    fn pre_visit_query(&mut self, query: &ast::Query) -> ControlFlow<Refusal> {
        match query.body.as_ref() {
            SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) => {
                ControlFlow::Break(Refusal::Writes(statement_name(s)))
            }
            _ => ControlFlow::Continue(()),
        }
    }
    fn pre_visit_select(&mut self, select: &ast::Select) -> ControlFlow<Refusal> {
        if select.into.is_some() {
            return ControlFlow::Break(Refusal::Writes("SELECT … INTO".into()));
        }
        ControlFlow::Continue(())
    }
    fn pre_visit_expr(&mut self, _expr: &ast::Expr) -> ControlFlow<Refusal> {
        self.depth += 1;
        if self.depth > MAX_EXPRESSION_DEPTH {
            return ControlFlow::Break(Refusal::TooDeep);
        }
        ControlFlow::Continue(())
    }
    fn post_visit_expr(&mut self, _expr: &ast::Expr) -> ControlFlow<Refusal> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

/// The statement's leading keywords (`INSERT`, `CREATE TABLE`), for a refusal.
fn statement_name(statement: &ast::Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.as_slice() {
        [first, second] if ["CREATE", "DROP", "ALTER"].contains(&first.to_ascii_uppercase().as_str()) => {
            format!("{first} {second}")
        }
        [first, ..] => first.to_string(),
        [] => "an empty statement".into(),
    }
}

/// Statements that only read: queries, `SHOW …`, `DESCRIBE`.
fn check_sql_statement(statement: &ast::Statement) -> Result<(), SqlError> {
    use ast::Statement as S;
    match statement {
        S::Query(_)
        | S::ShowTables { .. }
        | S::ShowColumns { .. }
        | S::ShowVariable { .. }
        | S::ShowFunctions { .. }
        | S::ExplainTable { .. } => {}
        other => return Err(refused(statement_name(other))),
    }
    let mut visitor = ReadOnlyVisitor::default();
    match statement.visit(&mut visitor) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(Refusal::Writes(what)) => Err(refused(what)),
        ControlFlow::Break(Refusal::TooDeep) => Err(SqlError::Query(format!(
            "the query nests expressions more than {MAX_EXPRESSION_DEPTH} deep; \
             split it (a CTE per part) or use IN (…) instead of long OR/+ chains"
        ))),
    }
}

fn check_statement(statement: &DFStatement) -> Result<(), SqlError> {
    match statement {
        DFStatement::Statement(s) => check_sql_statement(s),
        // EXPLAIN [ANALYZE] is as read-only as what it explains.
        DFStatement::Explain(explain) => check_statement(&explain.statement),
        DFStatement::CopyTo(_) => Err(refused("COPY")),
        DFStatement::CreateExternalTable(_) => Err(refused("CREATE EXTERNAL TABLE")),
        DFStatement::Reset(_) => Err(refused("RESET")),
    }
}

/// The refusal check of `agree sql`, on the SQL text alone: one statement that
/// only reads (a query, `EXPLAIN [ANALYZE]` of one, `SHOW …`, `DESCRIBE`), with
/// no write nested anywhere in it (`COPY`, `INSERT`, `CREATE …`, `SET`,
/// `SELECT … INTO`, data-modifying CTEs), at most [`MAX_QUERY_TOKENS`] tokens and
/// expressions at most [`MAX_EXPRESSION_DEPTH`] deep. Never panics on any input.
/// [`plan_read_only`] adds DataFusion's own check over the whole plan.
pub fn check_read_only(sql: &str) -> Result<(), SqlError> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize()
        .map_err(|e| SqlError::Query(format!("SQL error: {e}")))?;
    let significant = tokens.iter().filter(|t| !matches!(t, Token::Whitespace(_))).count();
    if significant > MAX_QUERY_TOKENS {
        return Err(SqlError::Query(format!(
            "the query has {significant} tokens; at most {MAX_QUERY_TOKENS} are accepted"
        )));
    }
    let statements = DFParserBuilder::new(sql)
        .with_recursion_limit(PARSER_RECURSION_LIMIT)
        .build()
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|e| SqlError::Query(explain_error(sql, &e)))?;
    match statements.len() {
        0 => Err(SqlError::Query("no SQL statement given".into())),
        1 => check_statement(&statements[0]),
        n => Err(SqlError::Query(format!(
            "{n} statements given; `agree sql` runs one at a time"
        ))),
    }
}

/// What `agree sql` allows DataFusion to plan: no DDL, no DML (which includes
/// COPY), no statements (SET, transactions, PREPARE).
pub fn read_only_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Plans `sql` if it only reads: [`check_read_only`] on the text, then
/// DataFusion's [`SQLOptions::verify_plan`] over the whole logical plan (every
/// node and subquery, the plan under EXPLAIN and EXPLAIN ANALYZE included).
pub async fn plan_read_only(ctx: &SessionContext, sql: &str) -> Result<LogicalPlan, SqlError> {
    check_read_only(sql)?;
    let plan = ctx
        .state()
        .create_logical_plan(sql)
        .await
        .map_err(|e| SqlError::Query(explain_error(sql, &e)))?;
    read_only_options()
        .verify_plan(&plan)
        .map_err(|e| refused(e.strip_backtrace()))?;
    Ok(plan)
}

/// Plans and runs one read-only query ([`plan_read_only`]): nothing that writes
/// is run; parse and planning errors carry their position.
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

/// List, struct and map columns as text (`[1.0, 2.0]`, as the table format prints
/// them): CSV has no nested values, and failing after the header was printed
/// would leave half an output.
fn nested_as_text(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.data_type().is_nested() {
                Field::new(f.name(), DataType::Utf8, true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let text_schema = Arc::new(Schema::new(fields));
    let options = arrow::util::display::FormatOptions::default();
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut columns = Vec::with_capacity(batch.num_columns());
        for column in batch.columns() {
            if !column.data_type().is_nested() {
                columns.push(column.clone());
                continue;
            }
            let formatter = arrow::util::display::ArrayFormatter::try_new(column.as_ref(), &options)
                .map_err(|e| SqlError::Output(e.to_string()))?;
            let text: arrow::array::StringArray = (0..column.len())
                .map(|i| column.is_valid(i).then(|| formatter.value(i).to_string()))
                .collect();
            columns.push(Arc::new(text) as arrow::array::ArrayRef);
        }
        out.push(RecordBatch::try_new(text_schema.clone(), columns).map_err(|e| SqlError::Output(e.to_string()))?);
    }
    Ok((text_schema, out))
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
            let (schema, batches) = nested_as_text(&schema, &batches)?;
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

    /// Every way to write that DataFusion's SQL offers, alone and nested.
    const WRITES: [&str; 22] = [
        "COPY (SELECT 1) TO '/tmp/x.parquet' STORED AS PARQUET",
        "COPY t TO '/tmp/x.csv'",
        "EXPLAIN COPY (SELECT 1) TO '/tmp/x.parquet'",
        "EXPLAIN ANALYZE COPY (SELECT 1 AS a) TO '/tmp/x.parquet' STORED AS PARQUET",
        "EXPLAIN VERBOSE COPY (SELECT 1) TO '/tmp/x.parquet'",
        "EXPLAIN ANALYZE EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/x.parquet'",
        "INSERT INTO t VALUES (1)",
        "EXPLAIN ANALYZE INSERT INTO t VALUES (1)",
        "INSERT INTO t SELECT * FROM t",
        "CREATE TABLE u AS SELECT 1",
        "CREATE TABLE u (a INT)",
        "CREATE VIEW v AS SELECT 1",
        "CREATE EXTERNAL TABLE e (a INT) STORED AS CSV LOCATION '/tmp/x.csv'",
        "EXPLAIN CREATE EXTERNAL TABLE e (a INT) STORED AS CSV LOCATION '/tmp/x.csv'",
        "DROP TABLE t",
        "SET datafusion.execution.batch_size = 1",
        "RESET datafusion.execution.batch_size",
        "SELECT 1 INTO u",
        "WITH w AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM w",
        "DELETE FROM t",
        "UPDATE t SET a = 2",
        "PREPARE p AS SELECT 1",
    ];

    async fn context_with_t() -> SessionContext {
        let ctx = crate::session::new_context();
        ctx.sql("CREATE TABLE t AS SELECT 1 AS a")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        ctx
    }

    #[tokio::test]
    async fn every_write_form_is_refused_by_the_text_and_by_the_plan() {
        let ctx = context_with_t().await;
        for sql in WRITES {
            let text = check_read_only(sql);
            assert!(matches!(text, Err(SqlError::ReadOnly(_))), "{sql}: {text:?}");
            let run = run_query(&ctx, sql).await;
            assert!(matches!(run, Err(SqlError::ReadOnly(_))), "{sql}: {run:?}");
        }
        // Two statements are never run, whatever the first one is.
        assert!(check_read_only("SELECT 1; COPY t TO '/tmp/x.csv'").is_err());
        // The plan check alone (what verify_plan sees, below EXPLAIN ANALYZE too).
        for sql in [
            "EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/x.parquet'",
            "INSERT INTO t VALUES (2)",
        ] {
            let plan = ctx.state().create_logical_plan(sql).await.unwrap();
            assert!(read_only_options().verify_plan(&plan).is_err(), "{sql}");
        }
        let (_, batches) = run_query(&ctx, "SELECT count(*) FROM t").await.unwrap();
        assert_eq!(batches[0].num_rows(), 1, "t was not changed by the refused writes");
    }

    #[tokio::test]
    async fn reads_and_explains_of_reads_run() {
        let ctx = context_with_t().await;
        for sql in [
            "SELECT a FROM t",
            "WITH w AS (SELECT a FROM t) SELECT * FROM w",
            "EXPLAIN SELECT a FROM t",
            "EXPLAIN ANALYZE SELECT a FROM t",
            "SHOW TABLES",
            "SHOW COLUMNS FROM t",
            "DESCRIBE t",
            "SELECT * FROM t UNION ALL SELECT 2",
        ] {
            check_read_only(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            run_query(&ctx, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    #[test]
    fn deep_or_long_expressions_are_an_error_not_a_stack_overflow() {
        let sum = |terms: usize| format!("SELECT {}", vec!["1"; terms].join(" + "));
        let ors = |terms: usize| format!("SELECT 1 WHERE {}", vec!["true"; terms].join(" OR "));
        // 9,999 terms: just under the token limit, the deepest tree the check parses.
        for sql in [sum(2_000), ors(2_000), sum(9_999), sum(100_000)] {
            let err = check_read_only(&sql).unwrap_err().to_string();
            assert!(err.contains("deep") || err.contains("tokens"), "{err}");
        }
        let nested = format!("SELECT {}1{}", "(".repeat(5_000), ")".repeat(5_000));
        assert!(check_read_only(&nested).is_err());
        check_read_only(&sum(MAX_EXPRESSION_DEPTH - 1)).unwrap();
    }

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
