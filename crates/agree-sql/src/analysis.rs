//! `agree analyze`: runs the analysis SQL over an experiment directory and writes
//! the result tables of SPEC §5 into `results/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use agree_schema::{ExperimentDir, TableContract};
use arrow::array::{Array, ArrayRef, AsArray, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use indicatif::ProgressBar;

use crate::analysis_sql::{ANALYSIS_STEPS, step_sql};
use crate::consistency::check_inputs;
use crate::engine::SessionSettings;
use crate::error::SqlError;
use crate::predictions::{RunState, list_prediction_runs, plan_epochs};
use crate::session::{open_session_with, register_batches};
use crate::staging::{AnalysisInputs, ResultsStaging};
use crate::statistics::{expand_each_statistic, uses_each_statistic};
use crate::step_tables::{ResultSink, StepTables};

/// Settings of one analysis.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// Quantile bins per statistic in `agreement_by_quantile`.
    pub quantile_bins: u32,
    /// Bootstrap resamples behind each confidence interval.
    pub bootstrap_replicates: u32,
    /// Seed of the bootstrap resampling.
    pub bootstrap_seed: u64,
    /// A directory whose `<step>.sql` files replace the embedded ones.
    pub sql_dir: Option<PathBuf>,
    /// Memory limit and spill directory of the session (default: no limit).
    pub session: SessionSettings,
    /// Bytes of step tables (what one step hands to the next) held in memory; the
    /// rest go to Parquet files in a work folder beside the run. Default: a quarter
    /// of the memory limit (all, without a limit).
    pub step_table_memory: Option<u64>,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            quantile_bins: 5,
            bootstrap_replicates: 200,
            bootstrap_seed: 0,
            sql_dir: None,
            session: SessionSettings::default(),
            step_table_memory: None,
        }
    }
}

/// One result table written.
#[derive(Debug, Clone)]
pub struct WrittenTable {
    /// Table name.
    pub name: String,
    /// Where it was written.
    pub path: PathBuf,
    /// Rows.
    pub rows: usize,
    /// Seconds the step took.
    pub seconds: f64,
}

/// What an analysis did.
#[derive(Debug, Clone, Default)]
pub struct AnalysisReport {
    /// Things the user should know (partial runs, degenerate groups, missing inputs).
    pub notes: Vec<String>,
    /// Every step with its time; result tables with their file.
    pub steps: Vec<WrittenTable>,
    /// Networks analysed.
    pub networks: usize,
    /// Epochs analysed.
    pub epochs: usize,
    /// Statistics found.
    pub statistics: usize,
}

/// Reads `runs.parquet` (when present) for the status of each network.
fn read_run_states(path: &Path) -> Result<HashMap<String, RunState>, SqlError> {
    let mut states = HashMap::new();
    if !path.is_file() {
        return Ok(states);
    }
    let (_, batches) = agree_schema::read_table(path)?;
    let input = |message: String| SqlError::Input {
        path: path.to_path_buf(),
        message,
    };
    for batch in batches {
        let column = |name: &str, ty: &DataType| -> Result<ArrayRef, SqlError> {
            let c = batch
                .column_by_name(name)
                .ok_or_else(|| input(format!("no column `{name}`")))?;
            arrow::compute::cast(c, ty).map_err(|e| input(format!("column `{name}`: {e}")))
        };
        let run_id = column("run_id", &DataType::Utf8)?;
        let status = column("status", &DataType::Utf8)?;
        let planned = column("epochs_planned", &DataType::Int32)?;
        let (run_id, status) = (run_id.as_string::<i32>(), status.as_string::<i32>());
        let planned = planned.as_primitive::<arrow::datatypes::Int32Type>();
        for i in 0..batch.num_rows() {
            if run_id.is_valid(i) && status.is_valid(i) && planned.is_valid(i) {
                let state = RunState {
                    status: status.value(i).to_string(),
                    epochs_planned: planned.value(i),
                };
                states.insert(run_id.value(i).to_string(), state);
            }
        }
    }
    Ok(states)
}

/// The `dataset` field of manifest.json, if there is one.
fn read_dataset_name(path: &Path) -> Result<Option<String>, SqlError> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|source| SqlError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| SqlError::Input {
        path: path.to_path_buf(),
        message: format!("not JSON: {e}"),
    })?;
    Ok(json.get("dataset").and_then(|d| d.as_str()).map(str::to_string))
}

/// Casts string columns to dictionaries: intermediate tables repeat a handful of
/// group and split names millions of times, and joins copy dictionary keys
/// instead of strings.
pub(crate) fn dictionary_encode(
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let is_string = |t: &DataType| matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8);
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if is_string(f.data_type()) {
                f.as_ref().clone().with_data_type(dictionary.clone())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let encoded_schema = Arc::new(Schema::new(fields));
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let columns = batch
            .columns()
            .iter()
            .zip(encoded_schema.fields())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() {
                    Ok(c.clone())
                } else {
                    let utf8 = arrow::compute::cast(c, &DataType::Utf8)?;
                    arrow::compute::cast(&utf8, f.data_type())
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SqlError::datafusion("encoding strings", e.into()))?;
        out.push(
            RecordBatch::try_new(encoded_schema.clone(), columns)
                .map_err(|e| SqlError::datafusion("encoding strings", e.into()))?,
        );
    }
    Ok((encoded_schema, out))
}

/// Brings a step's output into its contract's schema: columns by name in
/// contract order, cast to the contract's types; a missing or extra column, or a
/// null in a non-nullable column, is an error naming the step.
pub fn conform(step: &str, contract: &TableContract, batches: &[RecordBatch]) -> Result<Vec<RecordBatch>, SqlError> {
    let schema = contract.schema();
    let fail = |message: String| SqlError::Result {
        step: format!("{step}.sql"),
        message,
    };
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        for f in batch.schema().fields() {
            if contract.column(f.name()).is_none() {
                return Err(fail(format!(
                    "column `{}` is not in schemas/{}.toml",
                    f.name(),
                    contract.name
                )));
            }
        }
        let mut columns = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let column = batch.column_by_name(field.name()).ok_or_else(|| {
                fail(format!(
                    "the query returns no column `{}` (schemas/{}.toml)",
                    field.name(),
                    contract.name
                ))
            })?;
            let cast = arrow::compute::cast(column, field.data_type())
                .map_err(|e| fail(format!("column `{}` to {}: {e}", field.name(), field.data_type())))?;
            if !field.is_nullable() && cast.null_count() > 0 {
                return Err(fail(format!(
                    "column `{}` has nulls but schemas/ says it has none",
                    field.name()
                )));
            }
            columns.push(cast);
        }
        out.push(RecordBatch::try_new(schema.clone(), columns).map_err(|e| fail(e.to_string()))?);
    }
    Ok(out)
}

fn parameters_batch(options: &AnalysisOptions, dataset: &str) -> Result<(SchemaRef, RecordBatch), SqlError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("quantile_bins", DataType::Int32, false),
        Field::new("bootstrap_replicates", DataType::Int64, false),
        Field::new("bootstrap_seed", DataType::Int64, false),
        Field::new("dataset", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from(vec![options.quantile_bins.max(1) as i32])),
        Arc::new(Int64Array::from(vec![i64::from(options.bootstrap_replicates)])),
        Arc::new(Int64Array::from(vec![options.bootstrap_seed as i64])),
        Arc::new(StringArray::from(vec![dataset])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| SqlError::datafusion("analysis_parameters", e.into()))?;
    Ok((schema, batch))
}

/// Refuses statistics or predictions computed on another dataset than the one
/// `samples.parquet` holds now (see `agree_schema::identity`).
fn check_same_dataset(dir: &ExperimentDir) -> Result<(), SqlError> {
    use agree_schema::identity;
    let current = identity::current_fingerprint(dir)?;
    let remedy = "rerun `agree stats` / `agree train` on this data, or `agree ingest … --force` to start afresh";
    for (what, recorded) in [
        ("stats.parquet", identity::table_fingerprint(&dir.stats())?),
        ("spectra.parquet", identity::table_fingerprint(&dir.spectra())?),
        ("predictions/", identity::read_stamp(&dir.predictions_dir())?),
    ] {
        identity::require_same_dataset(dir.root(), what, recorded.as_deref(), current.as_deref(), remedy)?;
    }
    Ok(())
}

/// Analyses `dir`: every step of [`ANALYSIS_STEPS`] in order, result tables
/// written atomically to `results/`. `progress` advances once per step. A step
/// that needs more memory than `options.session` allows fails with
/// [`SqlError::MemoryLimit`], naming the step and the limit.
pub async fn analyze(
    dir: &ExperimentDir,
    options: &AnalysisOptions,
    progress: &ProgressBar,
) -> Result<AnalysisReport, SqlError> {
    analyze_steps(dir, options, progress)
        .await
        .map_err(|e| e.within_limit(options.session.memory_limit))
}

async fn analyze_steps(
    dir: &ExperimentDir,
    options: &AnalysisOptions,
    progress: &ProgressBar,
) -> Result<AnalysisReport, SqlError> {
    check_same_dataset(dir)?;
    let runs = list_prediction_runs(&dir.predictions_dir())?;
    let states = read_run_states(&dir.table("runs"))?;
    let plan = plan_epochs(&dir.predictions_dir(), &runs, &states)?;
    let mut report = AnalysisReport {
        notes: plan.notes.clone(),
        ..AnalysisReport::default()
    };
    let inputs = AnalysisInputs::read(dir, &runs, &plan.epochs)?;
    check_inputs(dir, &inputs.predictions, &inputs.tables)?;
    let session = open_session_with(dir, Some(&plan.epochs), &options.session).await?;
    let ctx = &session.ctx;
    let staging = ResultsStaging::create(dir, inputs.analysis_id(dir, options)?)?;
    report.networks = session.runs.len();
    report.epochs = plan.epochs.len();
    report.statistics = session.statistics.len();

    let dataset = match read_dataset_name(&dir.manifest())? {
        Some(name) => name,
        None => {
            report.notes.push(format!(
                "{}: no dataset name; dataset_summary says `unknown`",
                dir.manifest().display()
            ));
            "unknown".to_string()
        }
    };
    let (schema, batch) = parameters_batch(options, &dataset)?;
    register_batches(ctx, "analysis_parameters", schema, vec![batch])?;

    let mut archs: HashMap<&str, usize> = HashMap::new();
    for r in &session.runs {
        *archs.entry(r.arch.as_str()).or_default() += 1;
    }
    if archs.values().all(|&n| n == 1) {
        report.notes.push(
            "every architecture has a single network: same-architecture agreement is that network's accuracy \
             and Fleiss' κ is undefined (null)"
                .into(),
        );
    }
    if archs.len() == 1 {
        report
            .notes
            .push("one architecture: no cross-architecture groups".into());
    }
    if session.statistics.is_empty() {
        report.notes.push(
            "no statistics found (stats.parquet, attributes.parquet, scores/*.parquet): the statistic tables are empty"
                .into(),
        );
    }

    // Both forms of the statistics are read by several steps: computed once. Step
    // tables too large for their share of the memory limit go to Parquet files.
    let in_memory = options
        .step_table_memory
        .or_else(|| options.session.memory_limit.map(|l| l / 4));
    let mut steps = StepTables::create(dir.root(), in_memory)?;
    for name in ["statistic_values", "statistic_wide"] {
        let started = Instant::now();
        steps
            .run(ctx, name, name, &format!("SELECT * FROM {name}"), None)
            .await?;
        report.steps.push(WrittenTable {
            name: name.into(),
            path: PathBuf::new(),
            rows: 0,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    progress.set_length(ANALYSIS_STEPS.len() as u64);

    for step in &ANALYSIS_STEPS {
        progress.set_message(step.name);
        let started = Instant::now();
        let sql = step_sql(step, options.sql_dir.as_deref())?;
        let file = format!("{}.sql", step.name);
        let mut path = PathBuf::new();
        let rows = if uses_each_statistic(&sql) && session.statistics.is_empty() {
            // Nothing to repeat over: a result table is empty (the note above says why),
            // an intermediate one is not needed.
            if !step.result {
                progress.inc(1);
                continue;
            }
            let contract = agree_schema::contract(step.name)?;
            staging.writer(step.name, contract)?.finish()?;
            register_batches(ctx, step.name, contract.schema(), Vec::new())?;
            path = dir.table(step.name);
            0
        } else {
            let sql = expand_each_statistic(&sql, &session.statistics).map_err(|message| SqlError::Result {
                step: file.clone(),
                message,
            })?;
            if step.result {
                let contract = agree_schema::contract(step.name)?;
                let mut writer = staging.writer(step.name, contract)?;
                let sink = ResultSink {
                    contract,
                    writer: &mut writer,
                };
                let rows = steps.run(ctx, &file, step.name, &sql, Some(sink)).await?;
                writer.finish()?;
                path = dir.table(step.name);
                rows
            } else {
                steps.run(ctx, &file, step.name, &sql, None).await?
            }
        };
        report.steps.push(WrittenTable {
            name: step.name.into(),
            path,
            rows,
            seconds: started.elapsed().as_secs_f64(),
        });
        progress.inc(1);
    }
    staging.commit()?;
    Ok(report)
}
