//! One DataFusion session over an experiment directory: every table registered
//! by name, the prediction folders as one `predictions` table, the statistics as
//! the long `statistic_values` view and the wide `statistic_wide` view (with
//! `statistic_index` naming its columns' positions), and this crate's aggregate
//! functions.

use std::collections::BTreeSet;
use std::sync::Arc;

use agree_schema::ExperimentDir;
use arrow::array::{Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::catalog::{TableFile, experiment_tables};
use crate::engine::{SessionSettings, context, is_distributed, session_config};
use crate::error::SqlError;
use crate::functions::register_functions;
use crate::predictions::{PredictionRun, list_prediction_runs};
use crate::statistics::{
    StatisticColumn, bucket_width, discover_statistics, statistic_buckets_sql, statistic_index_sql,
    statistic_table_rows, statistic_values_sql, statistic_wide_sql,
};

/// A session over one experiment directory, and what was found in it.
pub struct ExperimentSession {
    /// The DataFusion context; query it with `ctx.sql(…)`.
    pub ctx: SessionContext,
    /// The Parquet tables registered by name.
    pub tables: Vec<TableFile>,
    /// The networks with prediction files.
    pub runs: Vec<PredictionRun>,
    /// The statistics found in stats, attributes and score tables.
    pub statistics: Vec<StatisticColumn>,
    /// The epochs registered in `predictions` (all present, or those chosen).
    pub epochs: Vec<i32>,
    /// Optional columns of `predictions` that no file has (written before them):
    /// they read as nulls.
    pub missing_prediction_columns: Vec<String>,
}

impl std::fmt::Debug for ExperimentSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExperimentSession")
            .field("tables", &self.tables)
            .field("runs", &self.runs.len())
            .field("statistics", &self.statistics.len())
            .finish()
    }
}

/// A new context with the crate's functions and `information_schema` (for `SHOW TABLES`).
pub fn new_context() -> SessionContext {
    let ctx = SessionContext::new_with_config(session_config());
    register_functions(&ctx);
    ctx
}

/// Registers an in-memory table under `name`, replacing any table of that name;
/// batches are spread over the session's partitions so scans run in parallel.
/// On a Ballista context, whose plans cannot carry an in-memory table, the rows
/// become a `VALUES` view instead (meant for the few rows of a session's own
/// tables: `networks`, `analysis_epochs`, `analysis_parameters`).
pub fn register_batches(
    ctx: &SessionContext,
    name: &str,
    schema: Arc<Schema>,
    batches: Vec<RecordBatch>,
) -> Result<(), SqlError> {
    if is_distributed(ctx) {
        return register_values(ctx, name, &schema, &batches);
    }
    let parts = ctx.state().config().target_partitions().max(1);
    let mut partitions: Vec<Vec<RecordBatch>> = vec![Vec::new(); parts];
    for (i, b) in batches.into_iter().enumerate() {
        partitions[i % parts].push(b);
    }
    let table = MemTable::try_new(schema, partitions).map_err(|e| SqlError::datafusion(name, e))?;
    ctx.deregister_table(name).map_err(|e| SqlError::datafusion(name, e))?;
    ctx.register_table(name, Arc::new(table))
        .map_err(|e| SqlError::datafusion(name, e))?;
    Ok(())
}

/// The rows of `batches` as a `VALUES` view named `name` with `schema`'s column
/// names and types. No rows: one row of typed nulls that a filter no optimizer
/// folds away drops again (an empty relation would lose its schema on the way to
/// the executors).
fn register_values(ctx: &SessionContext, name: &str, schema: &Schema, batches: &[RecordBatch]) -> Result<(), SqlError> {
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, col, lit};
    let at = |e| SqlError::datafusion(format!("registering {name}"), e);
    let mut rows: Vec<Vec<Expr>> = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let values = batch
                .columns()
                .iter()
                .map(|c| ScalarValue::try_from_array(c, row).map(lit))
                .collect::<Result<Vec<_>, _>>()
                .map_err(at)?;
            rows.push(values);
        }
    }
    let empty = rows.is_empty();
    if empty {
        let nulls = schema
            .fields()
            .iter()
            .map(|f| ScalarValue::try_from(f.data_type()).map(lit));
        rows.push(nulls.collect::<Result<Vec<_>, _>>().map_err(at)?);
    }
    let mut plan = LogicalPlanBuilder::values(rows).map_err(at)?;
    if empty {
        plan = plan.filter(col("column1").is_not_null()).map_err(at)?;
    }
    let columns = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| cast(col(format!("column{}", i + 1)), f.data_type().clone()).alias(f.name()));
    let plan = plan.project(columns).map_err(at)?.build().map_err(at)?;
    let view = datafusion::dataframe::DataFrame::new(ctx.state(), plan).into_view();
    ctx.deregister_table(name).map_err(at)?;
    ctx.register_table(name, view).map_err(at)?;
    Ok(())
}

/// Opens `dir`: registers every table; `predictions` holds the files of `epochs`
/// only (all epochs when `None`), so an analysis never sees an epoch that only
/// some networks have written.
pub async fn open_session(dir: &ExperimentDir, epochs: Option<&[i32]>) -> Result<ExperimentSession, SqlError> {
    open_session_with(dir, epochs, &SessionSettings::default()).await
}

/// [`open_session`] in a context made for `settings` (memory limit, spill directory).
pub async fn open_session_with(
    dir: &ExperimentDir,
    epochs: Option<&[i32]>,
    settings: &SessionSettings,
) -> Result<ExperimentSession, SqlError> {
    let ctx = context(settings).await?;
    let tables = experiment_tables(dir)?;
    for t in &tables {
        register_table_files(&ctx, t).await?;
    }
    let runs = list_prediction_runs(&dir.predictions_dir())?;
    let chosen: BTreeSet<i32> = match epochs {
        Some(e) => e.iter().copied().collect(),
        None => runs.iter().flat_map(|r| r.epochs.keys().copied()).collect(),
    };
    let files: Vec<&std::path::PathBuf> = runs
        .iter()
        .flat_map(|r| r.epochs.iter().filter(|(e, _)| chosen.contains(e)).map(|(_, p)| p))
        .collect();
    let missing_prediction_columns = if files.is_empty() {
        Vec::new()
    } else {
        register_predictions(&ctx, &files).await?
    };
    register_networks(&ctx, &runs, &chosen)?;
    let statistics = discover_statistics(&tables)?;
    for (name, sql) in [
        ("statistic_values", statistic_values_sql(&statistics)),
        ("statistic_wide", statistic_wide_sql(&statistics)),
        (
            "statistic_buckets",
            statistic_buckets_sql(&statistics, bucket_width(statistic_table_rows(&tables)?)),
        ),
        ("statistic_index", statistic_index_sql(&statistics)),
    ] {
        let view = ctx
            .sql(&sql)
            .await
            .map_err(|e| SqlError::datafusion(name, e))?
            .into_view();
        ctx.register_table(name, view)
            .map_err(|e| SqlError::datafusion(name, e))?;
    }
    Ok(ExperimentSession {
        ctx,
        tables,
        runs,
        statistics,
        epochs: chosen.into_iter().collect(),
        missing_prediction_columns,
    })
}

/// Registers one table of the directory under its name: its one file, or all its
/// files (one per network or shard) as one listing table.
async fn register_table_files(ctx: &SessionContext, t: &crate::catalog::TableFile) -> Result<(), SqlError> {
    let step = format!("registering {}", t.path.display());
    if let [one] = t.files.as_slice() {
        return ctx
            .register_parquet(
                t.name.as_str(),
                one.to_string_lossy().as_ref(),
                ParquetReadOptions::default(),
            )
            .await
            .map_err(|e| SqlError::datafusion(step, e));
    }
    let urls = t
        .files
        .iter()
        .map(|p| ListingTableUrl::parse(p.to_string_lossy()).map_err(|e| SqlError::datafusion(&step, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .infer_schema(&ctx.state())
        .await
        .map_err(|e| SqlError::datafusion(&step, e))?;
    let table = ListingTable::try_new(config).map_err(|e| SqlError::datafusion(&step, e))?;
    ctx.register_table(t.name.as_str(), Arc::new(table))
        .map_err(|e| SqlError::datafusion(&step, e))?;
    Ok(())
}

/// Registers `predictions` over `files`; returns the optional contract columns
/// none of them has, registered as null columns.
async fn register_predictions(ctx: &SessionContext, files: &[&std::path::PathBuf]) -> Result<Vec<String>, SqlError> {
    let step = "registering predictions/";
    let urls = files
        .iter()
        .map(|p| ListingTableUrl::parse(p.to_string_lossy()).map_err(|e| SqlError::datafusion(step, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let inferred = ListingTableConfig::new_with_multi_paths(urls.clone())
        .with_listing_options(options.clone())
        .infer_schema(&ctx.state())
        .await
        .map_err(|e| SqlError::datafusion(step, e))?;
    let schema = inferred
        .file_schema
        .clone()
        .ok_or_else(|| SqlError::Query("predictions/: no schema could be inferred".into()))?;
    // Columns the contract added later (optional, nullable) read as nulls from the
    // files written before them, so every SQL can name them.
    let contract = agree_schema::Table::Predictions.contract();
    let missing: Vec<Field> = contract
        .columns
        .iter()
        .filter(|c| c.optional && c.nullable && schema.index_of(&c.name).is_err())
        .map(|c| c.field())
        .collect();
    let names: Vec<String> = missing.iter().map(|f| f.name().clone()).collect();
    let config = if missing.is_empty() {
        inferred
    } else {
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(missing);
        ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())))
    };
    let table = ListingTable::try_new(config).map_err(|e| SqlError::datafusion(step, e))?;
    ctx.register_table("predictions", Arc::new(table))
        .map_err(|e| SqlError::datafusion(step, e))?;
    Ok(names)
}

/// `networks(run_id, arch, network, epochs)` and `analysis_epochs(epoch)`, from the file listing.
fn register_networks(ctx: &SessionContext, runs: &[PredictionRun], epochs: &BTreeSet<i32>) -> Result<(), SqlError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("arch", DataType::Utf8, false),
        Field::new("network", DataType::Int32, false),
        Field::new("epochs", DataType::Int32, false),
    ]));
    let present = |r: &PredictionRun| r.epochs.keys().filter(|e| epochs.contains(e)).count() as i32;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(runs.iter().map(|r| r.run_id.as_str()))),
            Arc::new(StringArray::from_iter_values(runs.iter().map(|r| r.arch.as_str()))),
            Arc::new(Int32Array::from_iter_values(runs.iter().map(|r| r.network))),
            Arc::new(Int32Array::from_iter_values(runs.iter().map(present))),
        ],
    )
    .map_err(|e| SqlError::datafusion("networks", e.into()))?;
    register_batches(ctx, "networks", schema, vec![batch])?;
    let schema = Arc::new(Schema::new(vec![Field::new("epoch", DataType::Int32, false)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Int32Array::from_iter_values(epochs.iter().copied()))],
    )
    .map_err(|e| SqlError::datafusion("analysis_epochs", e.into()))?;
    register_batches(ctx, "analysis_epochs", schema, vec![batch])
}
