//! `agree analyze`: runs the analysis SQL over an experiment directory and writes
//! the result tables of SPEC §5 into `results/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use agree_schema::{CheckedTable, ExperimentDir, Manifest, Table, TableContract};
use arrow::array::{Array, ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use indicatif::ProgressBar;

use crate::analysis_sql::{AnalysisStep, OutputContract, analysis_steps, find_step, step_sql};
use crate::consistency::check_inputs;
use crate::engine::SessionSettings;
use crate::error::SqlError;
use crate::predictions::{RunState, list_prediction_runs, plan_epochs};
use crate::query::read_only_options;
use crate::session::{ExperimentSession, open_session_with, register_batches};
use crate::staging::{AnalysisInputs, ResultsStaging};
use crate::statistics::{StatisticColumn, expand_each_statistic, uses_each_statistic};
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
    /// The epoch `sample_dynamics.el2n` is read at (`None`: the analysed epoch
    /// closest to 10 % of the last one, at least 1; see [`el2n_epoch`]).
    pub el2n_epoch: Option<i32>,
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
            el2n_epoch: None,
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

/// Reads `runs` (every network's file, or an older directory's `runs.parquet`;
/// when present, checked against its contract) for the status of each network.
fn read_run_states(dir: &ExperimentDir) -> Result<HashMap<String, RunState>, SqlError> {
    let Some(runs) = CheckedTable::read_in(dir, Table::Runs)? else {
        return Ok(HashMap::new());
    };
    let run_ids = runs.req_strings("run_id")?;
    let statuses = runs.req_strings("status")?;
    let planned = runs.req_i64s("epochs_planned")?;
    let mut states = HashMap::with_capacity(run_ids.len());
    for (row, ((run_id, status), planned)) in run_ids.into_iter().zip(statuses).zip(planned).enumerate() {
        let epochs_planned = i32::try_from(planned)
            .map_err(|_| runs.error(format!("column `epochs_planned` is {planned} in row {row}")))?;
        states.insert(run_id, RunState { status, epochs_planned });
    }
    Ok(states)
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

/// A result step's rows laid out as its table by [`TableContract::conform`]
/// (columns by name in contract order, strict casts to the contract's types); a
/// missing or extra column, or a null in a non-nullable column, is an error
/// naming the step's SQL file.
pub(crate) fn conform_result(
    step: &str,
    contract: &TableContract,
    batch: &RecordBatch,
) -> Result<RecordBatch, SqlError> {
    contract.conform(batch).map_err(|e| SqlError::Result {
        step: format!("{step}.sql"),
        message: e.to_string(),
    })
}

/// A step's rows as the analysis keeps them: a result step's laid out as its
/// table ([`conform_result`], with the contract's schema), an intermediate step's
/// checked against its contract in steps.toml (with one column per statistic
/// where it has them) and returned as they are.
pub fn step_output(
    step: &AnalysisStep,
    statistics: &[StatisticColumn],
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
    if let Some(table) = step.result {
        let contract = table.contract();
        let batches = batches
            .iter()
            .map(|b| conform_result(&step.name, contract, b))
            .collect::<Result<_, _>>()?;
        return Ok((contract.schema(), batches));
    }
    let contract = OutputContract::new(step, statistics);
    contract.check_schema(&schema)?;
    for b in &batches {
        contract.check_batch(b)?;
    }
    Ok((schema, batches))
}

/// The epoch EL2N is read at: `asked` when it is one of the analysed `epochs`
/// (an error naming them otherwise), else the analysed epoch closest to 10 % of
/// the last one and at least 1 (Paul et al. score early in training), the earlier
/// of two equally close.
pub fn el2n_epoch(asked: Option<i32>, epochs: &[i32]) -> Result<i32, SqlError> {
    let Some(&last) = epochs.iter().max() else {
        // No predictions: there is no EL2N to read at any epoch.
        return Ok(asked.unwrap_or(1));
    };
    if let Some(e) = asked {
        if epochs.contains(&e) {
            return Ok(e);
        }
        return Err(SqlError::Query(format!(
            "--el2n-epoch {e} is not an analysed epoch (the analysis has epochs {})",
            epochs.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
        )));
    }
    let target = (0.1 * f64::from(last)).max(1.0);
    let mut best = epochs[0];
    for &e in epochs {
        let (d, b) = ((f64::from(e) - target).abs(), (f64::from(best) - target).abs());
        if d < b || (d == b && e < best) {
            best = e;
        }
    }
    Ok(best)
}

fn parameters_batch(
    options: &AnalysisOptions,
    dataset: &str,
    epochs: &[i32],
) -> Result<(SchemaRef, RecordBatch), SqlError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("quantile_bins", DataType::Int32, false),
        Field::new("bootstrap_replicates", DataType::Int64, false),
        Field::new("bootstrap_seed", DataType::Int64, false),
        Field::new("dataset", DataType::Utf8, false),
        Field::new("el2n_epoch", DataType::Int32, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from(vec![options.quantile_bins.max(1) as i32])),
        Arc::new(Int64Array::from(vec![i64::from(options.bootstrap_replicates)])),
        Arc::new(Int64Array::from(vec![options.bootstrap_seed as i64])),
        Arc::new(StringArray::from(vec![dataset])),
        Arc::new(Int32Array::from(vec![el2n_epoch(options.el2n_epoch, epochs)?])),
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
    for table in [Table::Stats, Table::Spectra] {
        let files = agree_schema::table_files(dir, table).map_err(|e| SqlError::Input {
            path: e.path,
            message: e.problem,
        })?;
        for file in files {
            let what = file.strip_prefix(dir.root()).unwrap_or(&file).display().to_string();
            let recorded = identity::table_fingerprint(&file)?;
            identity::require_same_dataset(dir.root(), &what, recorded.as_deref(), current.as_deref(), remedy)?;
        }
    }
    let recorded = identity::read_stamp(&dir.predictions_dir())?;
    identity::require_same_dataset(
        dir.root(),
        "predictions/",
        recorded.as_deref(),
        current.as_deref(),
        remedy,
    )?;
    Ok(())
}

/// An analysis ready to run its steps: the session with every input and
/// parameter table registered, the statistics materialised, and the notes so far.
pub(crate) struct PreparedAnalysis {
    /// The session over the experiment.
    pub session: ExperimentSession,
    /// Where the step tables go.
    pub steps: StepTables,
    /// What the analysis read (for its id).
    pub inputs: AnalysisInputs,
    /// Notes and the times of the statistic tables.
    pub report: AnalysisReport,
}

/// Where the step tables of an analysis are kept when they do not fit in memory.
pub(crate) enum WorkFolder<'a> {
    /// In the experiment directory (`agree analyze`, which writes there anyway).
    Experiment,
    /// In this folder (`agree sql --step`, which never writes into the experiment).
    Elsewhere(&'a Path),
}

/// The dataset name for `dataset_summary` (from the typed manifest.json; a
/// malformed one is an error naming it), with a note when there is no manifest.
fn dataset_name(dir: &ExperimentDir, notes: &mut Vec<String>) -> Result<String, SqlError> {
    Ok(match Manifest::read_in(dir)? {
        Some(manifest) => manifest.dataset,
        None => {
            notes.push(format!(
                "{}: no manifest, so no dataset name; dataset_summary says `unknown`",
                dir.manifest().display()
            ));
            "unknown".to_string()
        }
    })
}

/// What the groups and statistics of `session` leave undefined or empty.
fn session_notes(session: &ExperimentSession) -> Vec<String> {
    let mut notes = Vec::new();
    let mut archs: HashMap<&str, usize> = HashMap::new();
    for r in &session.runs {
        *archs.entry(r.arch.as_str()).or_default() += 1;
    }
    if archs.values().all(|&n| n == 1) {
        notes.push(
            "every architecture has a single network: same-architecture agreement is that network's accuracy \
             and Fleiss' κ is undefined (null)"
                .into(),
        );
    }
    if archs.len() == 1 {
        notes.push("one architecture: no cross-architecture groups".into());
    }
    if !session.missing_prediction_columns.is_empty() {
        notes.push(format!(
            "the prediction files have no `{}` (written before these columns existed): sample_dynamics' aum and \
             el2n are null",
            session.missing_prediction_columns.join("`, `")
        ));
    }
    if session.statistics.is_empty() {
        notes.push(
            "no statistics found (stats.parquet, attributes.parquet, scores/*.parquet): the statistic tables are empty"
                .into(),
        );
    }
    notes
}

/// Both forms of the statistics are read by several steps: computed once, as step tables.
async fn materialise_statistics(
    ctx: &SessionContext,
    steps: &mut StepTables,
    report: &mut AnalysisReport,
) -> Result<(), SqlError> {
    for name in ["statistic_values", "statistic_wide", "statistic_buckets"] {
        let started = Instant::now();
        steps
            .run(ctx, name, name, &[format!("SELECT * FROM {name}")], None, None)
            .await?;
        report.steps.push(WrittenTable {
            name: name.into(),
            path: PathBuf::new(),
            rows: 0,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(())
}

/// The queries `step` runs in this analysis: its file (or `--sql-dir`'s) with
/// `{each statistic: …}` expanded, once or once per value of its `repeat`;
/// `None` when it repeats over statistics and there are none (the step is then
/// skipped, or its result table empty).
fn expanded_sql(
    step: &AnalysisStep,
    options: &AnalysisOptions,
    statistics: &[StatisticColumn],
) -> Result<Option<Vec<String>>, SqlError> {
    let sql = step_sql(step, options.sql_dir.as_deref())?;
    if uses_each_statistic(&sql) && statistics.is_empty() {
        return Ok(None);
    }
    expand_each_statistic(&sql, statistics)
        .map(|sql| Some(step.instances(&sql)))
        .map_err(|message| SqlError::Result {
            step: format!("{}.sql", step.name),
            message,
        })
}

/// Checks, before any step runs, that every step reads only the tables the
/// manifest lists for it (so that an edited step cannot read a table that is
/// not yet there, and `agree sql --step` computes every input it needs).
fn check_step_reads(
    ctx: &SessionContext,
    options: &AnalysisOptions,
    statistics: &[StatisticColumn],
) -> Result<(), SqlError> {
    let state = ctx.state();
    for step in analysis_steps()? {
        let Some(queries) = expanded_sql(step, options, statistics)? else {
            continue;
        };
        let file = format!("{}.sql", step.name);
        for sql in queries {
            let statement = state
                .sql_to_statement(&sql, &datafusion::config::Dialect::Generic)
                .map_err(|e| SqlError::datafusion(&file, e))?;
            let tables = state
                .resolve_table_references(&statement)
                .map_err(|e| SqlError::datafusion(&file, e))?;
            if let Some(table) = tables.iter().find(|t| !step.reads.iter().any(|r| r == t.table())) {
                return Err(SqlError::Result {
                    step: file,
                    message: format!(
                        "reads `{}`, which crates/agree-sql/sql/steps.toml does not list among its `reads`",
                        table.table()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Opens the analysis of `dir`: the inputs checked, the session with its
/// parameter table, the statistics materialised, the steps' reads checked.
pub(crate) async fn prepare(
    dir: &ExperimentDir,
    options: &AnalysisOptions,
    work: WorkFolder<'_>,
) -> Result<PreparedAnalysis, SqlError> {
    check_same_dataset(dir)?;
    let runs = list_prediction_runs(&dir.predictions_dir())?;
    let states = read_run_states(dir)?;
    let plan = plan_epochs(&dir.predictions_dir(), &runs, &states)?;
    let inputs = AnalysisInputs::read(dir, &runs, &plan.epochs)?;
    check_inputs(dir, &inputs.predictions, &inputs.tables)?;
    let session = open_session_with(dir, Some(&plan.epochs), &options.session).await?;
    let mut report = AnalysisReport {
        notes: plan.notes.clone(),
        networks: session.runs.len(),
        epochs: plan.epochs.len(),
        statistics: session.statistics.len(),
        ..AnalysisReport::default()
    };
    let dataset = dataset_name(dir, &mut report.notes)?;
    let (schema, batch) = parameters_batch(options, &dataset, &plan.epochs)?;
    register_batches(&session.ctx, "analysis_parameters", schema, vec![batch])?;
    report.notes.extend(session_notes(&session));
    check_step_reads(&session.ctx, options, &session.statistics)?;
    // Step tables too large for their share of the memory limit go to Parquet files.
    let in_memory = options
        .step_table_memory
        .or_else(|| options.session.memory_limit.map(|l| l / 4));
    let mut steps = match work {
        WorkFolder::Experiment => StepTables::create(dir.root(), in_memory)?,
        WorkFolder::Elsewhere(parent) => StepTables::beside(parent, in_memory)?,
    };
    materialise_statistics(&session.ctx, &mut steps, &mut report).await?;
    Ok(PreparedAnalysis {
        session,
        steps,
        inputs,
        report,
    })
}

/// Runs `step` as the analysis does: its rows become the step table `step.name`
/// (checked against its contract) and, with `staging`, a result step's rows are
/// written to its result file. `None` when the step is skipped (it repeats over
/// statistics and there are none, and it is not a result table).
///
/// Hash joins are the fast choice but cannot spill (DataFusion 55): a step whose
/// join runs out of memory is run again with sort-merge joins, whose sorts spill,
/// and the rest of the analysis keeps them (a note says so). Either join gives the
/// same rows; every step orders what it writes.
async fn run_step(
    prepared: &mut PreparedAnalysis,
    step: &AnalysisStep,
    options: &AnalysisOptions,
    staging: Option<&ResultsStaging>,
) -> Result<Option<usize>, SqlError> {
    match run_step_once(prepared, step, options, staging).await {
        Err(SqlError::DataFusion { step: file, source })
            if is_hash_join_out_of_memory(&source) && prefers_hash_join(&prepared.session.ctx) =>
        {
            use_sort_merge_joins(&prepared.session.ctx).await?;
            prepared.report.notes.push(format!(
                "{file}: its hash join did not fit in the memory limit, so it and the later steps \
                 use sort-merge joins, which spill to disk ({})",
                source.find_root()
            ));
            run_step_once(prepared, step, options, staging).await
        }
        other => other,
    }
}

/// Whether the memory pool ran out while a hash join held its build side (the
/// one operator of the analysis that cannot spill): it failed itself, or starved
/// a spilling operator beside it (the error lists the largest consumers).
fn is_hash_join_out_of_memory(e: &datafusion::error::DataFusionError) -> bool {
    crate::engine::is_memory_exhausted(e) && e.find_root().to_string().contains("HashJoinInput")
}

/// Whether the session plans equi-joins as hash joins.
fn prefers_hash_join(ctx: &SessionContext) -> bool {
    ctx.state().config().options().optimizer.prefer_hash_join
}

/// Makes the session plan equi-joins as sort-merge joins from now on.
async fn use_sort_merge_joins(ctx: &SessionContext) -> Result<(), SqlError> {
    let step = "switching to sort-merge joins";
    ctx.sql("SET datafusion.optimizer.prefer_hash_join = false")
        .await
        .map_err(|e| SqlError::datafusion(step, e))?
        .collect()
        .await
        .map_err(|e| SqlError::datafusion(step, e))?;
    Ok(())
}

async fn run_step_once(
    prepared: &mut PreparedAnalysis,
    step: &AnalysisStep,
    options: &AnalysisOptions,
    staging: Option<&ResultsStaging>,
) -> Result<Option<usize>, SqlError> {
    let ctx = &prepared.session.ctx;
    let statistics = &prepared.session.statistics;
    let file = format!("{}.sql", step.name);
    let Some(queries) = expanded_sql(step, options, statistics)? else {
        // Nothing to repeat over: a result table is empty (a note says why), an
        // intermediate one is not needed.
        let Some(table) = step.result else {
            return Ok(None);
        };
        let contract = table.contract();
        if let Some(staging) = staging {
            staging.writer(table)?.finish()?;
        }
        register_batches(ctx, &step.name, contract.schema(), Vec::new())?;
        return Ok(Some(0));
    };
    let steps = &mut prepared.steps;
    let Some(table) = step.result else {
        let contract = OutputContract::new(step, statistics);
        return Ok(Some(
            steps
                .run(ctx, &file, &step.name, &queries, Some(&contract), None)
                .await?,
        ));
    };
    let Some(staging) = staging else {
        return Ok(Some(steps.run(ctx, &file, &step.name, &queries, None, None).await?));
    };
    let contract = table.contract();
    let mut writer = staging.writer(table)?;
    let sink = ResultSink {
        contract,
        writer: &mut writer,
    };
    let rows = steps.run(ctx, &file, &step.name, &queries, None, Some(sink)).await?;
    writer.finish()?;
    Ok(Some(rows))
}

/// Analyses `dir`: every step of the manifest ([`analysis_steps`]) in order,
/// result tables written atomically to `results/`. `progress` advances once per
/// step. A step that needs more memory than `options.session` allows fails with
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
    let steps = analysis_steps()?;
    let mut prepared = prepare(dir, options, WorkFolder::Experiment).await?;
    let staging = ResultsStaging::create(dir, prepared.inputs.analysis_id(dir, options)?)?;
    progress.set_length(steps.len() as u64);
    for step in steps {
        progress.set_message(step.name.as_str());
        let started = Instant::now();
        if let Some(rows) = run_step(&mut prepared, step, options, Some(&staging)).await? {
            let path = step.result.map(|t| dir.table(t)).unwrap_or_default();
            prepared.report.steps.push(WrittenTable {
                name: step.name.clone(),
                path,
                rows,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        progress.inc(1);
    }
    staging.commit()?;
    Ok(prepared.report)
}

/// The output of one step run alone ([`run_one_step`]).
#[derive(Debug)]
pub struct StepOutput {
    /// Its schema: a result step's contract, else what the query returns.
    pub schema: SchemaRef,
    /// Its rows, as the analysis computes them (a result step's as written to results/).
    pub batches: Vec<RecordBatch>,
    /// The analysis's notes.
    pub notes: Vec<String>,
}

/// The steps `target` needs, directly or through others, in manifest order.
fn steps_needed(target: &AnalysisStep) -> Result<Vec<&'static AnalysisStep>, SqlError> {
    let steps = analysis_steps()?;
    let mut needed: Vec<&str> = target.reads.iter().map(String::as_str).collect();
    let mut chosen = Vec::new();
    for step in steps.iter().rev() {
        if needed.contains(&step.name.as_str()) {
            needed.extend(step.reads.iter().map(String::as_str));
            chosen.push(step);
        }
    }
    chosen.reverse();
    Ok(chosen)
}

/// Runs the step `name` alone, exactly as `agree analyze` runs it: the same
/// session, parameter tables and expansion, after the earlier steps it reads
/// (directly or not), computed as the analysis computes them — with the SQL of
/// `options.sql_dir` where it has a step. Step tables that do not fit in memory
/// go to a work folder in `work` (never the experiment directory); nothing is written.
pub async fn run_one_step(
    dir: &ExperimentDir,
    options: &AnalysisOptions,
    name: &str,
    work: &Path,
) -> Result<StepOutput, SqlError> {
    let target = find_step(name)?;
    let mut prepared = prepare(dir, options, WorkFolder::Elsewhere(work)).await?;
    for step in steps_needed(target)? {
        run_step(&mut prepared, step, options, None).await?;
    }
    let statistics = &prepared.session.statistics;
    let file = format!("{name}.sql");
    let Some(queries) = expanded_sql(target, options, statistics)? else {
        return Err(SqlError::Result {
            step: file,
            message: "it repeats over the statistics and this experiment has none: the analysis skips it".into(),
        });
    };
    let mut schema: Option<SchemaRef> = None;
    let mut batches = Vec::new();
    for sql in &queries {
        let frame = prepared
            .session
            .ctx
            .sql_with_options(sql, read_only_options())
            .await
            .map_err(|e| SqlError::datafusion(&file, e))?;
        schema.get_or_insert_with(|| Arc::new(frame.schema().as_arrow().clone()));
        batches.extend(frame.collect().await.map_err(|e| SqlError::datafusion(&file, e))?);
    }
    let schema = schema.expect("a step has at least one query");
    let (schema, batches) = step_output(target, statistics, schema, batches)?;
    Ok(StepOutput {
        schema,
        batches,
        notes: prepared.report.notes,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use datafusion::error::DataFusionError;

    #[test]
    fn a_hash_join_short_of_memory_is_told_from_other_memory_errors() {
        let exhausted = |m: &str| DataFusionError::ResourcesExhausted(m.to_string());
        // DataFusion 55's words: the hash join itself refused, or a spilling operator
        // starved while hash joins held the pool.
        let join = exhausted(
            "Additional allocation failed for HashJoinInput[1] with top memory consumers (across reservations) \
             as:\n  HashJoinInput[1]#12(can spill: false) consumed 1.9 GB",
        );
        let starved = exhausted(
            "Additional allocation failed for PartialHashAggregateStream[1] with top memory consumers (across \
             reservations) as:\n  HashJoinInput[0]#361(can spill: false) consumed 25.1 MB",
        );
        let sort = exhausted(
            "Additional allocation failed for ExternalSorter[0] with top memory consumers (across reservations) \
             as:\n  ExternalSorterMerge[0]#299(can spill: false) consumed 10.0 MB",
        );
        assert!(is_hash_join_out_of_memory(&join));
        assert!(is_hash_join_out_of_memory(&DataFusionError::Context(
            "step".into(),
            Box::new(starved)
        )));
        assert!(!is_hash_join_out_of_memory(&sort));
        assert!(!is_hash_join_out_of_memory(&DataFusionError::Plan(
            "HashJoinInput".into()
        )));
    }

    #[test]
    fn el2n_is_read_near_a_tenth_of_training_unless_asked() {
        let all: Vec<i32> = (1..=90).collect();
        assert_eq!(el2n_epoch(None, &all).unwrap(), 9);
        assert_eq!(el2n_epoch(None, &[1, 2, 3, 4, 5]).unwrap(), 1, "at least epoch 1");
        // 10 % of 20 is 2: of 1 and 3, equally close, the earlier.
        assert_eq!(el2n_epoch(None, &[1, 3, 20]).unwrap(), 1);
        assert_eq!(el2n_epoch(None, &[5, 10, 50]).unwrap(), 5);
        assert_eq!(el2n_epoch(Some(3), &[1, 3, 20]).unwrap(), 3);
        let err = el2n_epoch(Some(4), &[1, 3, 20]).unwrap_err().to_string();
        assert!(err.contains("--el2n-epoch 4") && err.contains("1, 3, 20"), "{err}");
    }
    use crate::analysis_sql::SESSION_TABLES;
    use crate::synthetic_run::{SyntheticRun, write_sample_table};

    /// Every table of the session's catalogs (`information_schema` aside).
    fn registered_tables(ctx: &SessionContext) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for catalog in ctx.catalog_names() {
            let Some(catalog) = ctx.catalog(&catalog) else { continue };
            for schema in catalog.schema_names() {
                if schema == "information_schema" {
                    continue;
                }
                if let Some(schema) = catalog.schema(&schema) {
                    names.extend(schema.table_names());
                }
            }
        }
        names
    }

    fn names<'a>(items: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        items.into_iter().map(str::to_string).collect()
    }

    /// agree-schema's `SESSION_TABLES` (kept by hand, so that ingest can refuse a
    /// score table that a session table would shadow) is exactly what an analysis
    /// registers itself: the tables the session defines before the first step
    /// (agree-sql's `SESSION_TABLES`) and the intermediate steps of steps.toml,
    /// neither more nor less; and agree-sql's list is exactly what the session
    /// registers besides the experiment's files.
    #[tokio::test]
    async fn session_tables_are_what_the_session_registers_and_the_intermediate_steps() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ExperimentDir::new(tmp.path().join("run"));
        let run = SyntheticRun {
            archs: vec!["a".into(), "b".into()],
            networks: 2,
            epochs: 3,
            n_test: 20,
            n_train: 20,
            seed: 3,
        };
        run.write(&dir).unwrap();
        let ids: Vec<i64> = (0..40).collect();
        let x = ids.iter().map(|&i| Some(i as f64)).collect();
        write_sample_table(&dir.scores("hand"), Table::Scores, &ids, &[("x", x)]).unwrap();
        let options = AnalysisOptions {
            bootstrap_replicates: 2,
            ..AnalysisOptions::default()
        };
        let mut prepared = prepare(&dir, &options, WorkFolder::Elsewhere(tmp.path()))
            .await
            .unwrap();
        let files = names(prepared.session.tables.iter().map(|t| t.name.as_str()));
        assert!(files.contains("hand") && files.contains("stats"), "{files:?}");
        let own: BTreeSet<String> = &registered_tables(&prepared.session.ctx) - &files;
        assert_eq!(
            own,
            names(SESSION_TABLES),
            "agree-sql's SESSION_TABLES against what the session registers before the first step"
        );

        let steps = analysis_steps().unwrap();
        for step in steps {
            assert!(run_step(&mut prepared, step, &options, None).await.unwrap().is_some());
        }
        let results = names(steps.iter().filter(|s| s.result.is_some()).map(|s| s.name.as_str()));
        let intermediate = names(steps.iter().filter(|s| s.result.is_none()).map(|s| s.name.as_str()));
        let defined = &(&registered_tables(&prepared.session.ctx) - &files) - &results;
        assert_eq!(&defined, &(&own | &intermediate));
        assert_eq!(
            names(agree_schema::SESSION_TABLES),
            defined,
            "agree_schema::SESSION_TABLES against the tables an analysis defines itself"
        );
    }
}
