//! Command-line options of `agree analyze` and `agree sql`, and their thin drivers.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use agree_schema::{AtomicPath, ExperimentDir};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::prelude::SessionContext;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::analysis::{AnalysisOptions, analyze, run_one_step};
use crate::analysis_sql::export_sql;
use crate::engine::SessionArgs;
use crate::error::SqlError;
use crate::query::{OutputFormat, describe_tables, run_query, write_batches};
use crate::session::open_session_with;

/// `agree analyze <dir>`: compute the result tables of SPEC §5 into `<dir>/results/`.
#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// The experiment directory (predictions/, stats.parquet, attributes.parquet, scores/, …).
    pub dir: PathBuf,
    /// Parameters and SQL of the analysis.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    /// Write the built-in SQL files and their manifest steps.toml into DIR (to read or edit them) and exit.
    #[arg(long, value_name = "DIR")]
    pub export_sql: Option<PathBuf>,
    /// Engine, memory limit and spill directory.
    #[command(flatten)]
    pub session: SessionArgs,
}

/// The parameters and SQL of an analysis, shared by `agree analyze` and `agree sql --step`.
#[derive(clap::Args, Debug, Clone)]
pub struct AnalysisArgs {
    /// Quantile bins per statistic in agreement_by_quantile.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub bins: u32,
    /// Bootstrap resamples behind each confidence interval of statistic_correlation and score_correlation
    /// (time grows linearly with it: at 200, score_correlation's ~2,000 intervals on 60,000 CIFAR-10
    /// samples and 6 networks took 21 minutes of a 2-core debug build; use 1000+ for final figures).
    #[arg(long, default_value_t = 200)]
    pub bootstrap: u32,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The epoch sample_dynamics reads EL2N at (default: the analysed epoch closest
    /// to 10% of the last, at least 1).
    #[arg(long, value_name = "EPOCH")]
    pub el2n_epoch: Option<i32>,
    /// Directory of edited SQL files: each `<step>.sql` there replaces the built-in step.
    #[arg(long, value_name = "DIR")]
    pub sql_dir: Option<PathBuf>,
}

impl AnalysisArgs {
    fn options(&self, session: &SessionArgs) -> AnalysisOptions {
        AnalysisOptions {
            quantile_bins: self.bins,
            bootstrap_replicates: self.bootstrap,
            bootstrap_seed: self.seed,
            el2n_epoch: self.el2n_epoch,
            sql_dir: self.sql_dir.clone(),
            session: session.settings(),
            step_table_memory: None,
        }
    }
}

/// `agree sql <dir> [query]`: read-only SQL over every table of an experiment directory.
#[derive(clap::Args, Debug)]
pub struct SqlArgs {
    /// The experiment directory.
    pub dir: PathBuf,
    /// The query. Without one (and without --file), a prompt when the input is a
    /// terminal, else the query is read from standard input.
    pub query: Option<String>,
    /// Read the query from this file.
    #[arg(long, short = 'f', value_name = "FILE", conflicts_with = "query")]
    pub file: Option<PathBuf>,
    /// Output format (default: from --out's extension, else table).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Write the result to this file instead of standard output; never a path
    /// inside the experiment directory, nor an existing file unless --force.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Let --out replace an existing file (outside the experiment directory).
    #[arg(long, requires = "out")]
    pub force: bool,
    /// List the tables, their columns and types.
    #[arg(long)]
    pub schema: bool,
    /// Run the analysis step NAME (crates/agree-sql/sql/steps.toml) exactly as
    /// `agree analyze` does — after the earlier steps it reads, with --sql-dir's
    /// files where they replace a step — and print its result instead of writing it.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["query", "file", "schema"])]
    pub step: Option<String>,
    /// Parameters and SQL of the analysis (with --step).
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    /// Engine, memory limit and spill directory.
    #[command(flatten)]
    pub session: SessionArgs,
}

/// Stack of the threads that plan and run queries. Planning and evaluation
/// recurse over expressions; with this stack every query that passes
/// [`crate::query::check_read_only`]'s depth limit fits (reserved address space,
/// touched only as deep as a query goes).
const QUERY_STACK_BYTES: usize = 256 << 20;

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, SqlError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(QUERY_STACK_BYTES)
        .build()
        .map_err(|source| SqlError::Io {
            path: PathBuf::from("<tokio runtime>"),
            source,
        })
}

/// Runs `agree analyze`.
pub fn run_analyze(args: &AnalyzeArgs, quiet: bool) -> Result<(), SqlError> {
    if let Some(dir) = &args.export_sql {
        for path in export_sql(dir)? {
            if !quiet {
                eprintln!("wrote {}", path.display());
            }
        }
        return Ok(());
    }
    let options = args.analysis.options(&args.session);
    let progress = ProgressBar::new(0);
    if quiet {
        progress.set_draw_target(ProgressDrawTarget::hidden());
    } else if let Ok(style) = ProgressStyle::with_template("{spinner} analyze [{bar:30}] {pos}/{len} {msg} {elapsed}") {
        progress.set_style(style);
    }
    progress.enable_steady_tick(std::time::Duration::from_millis(200));
    let started = Instant::now();
    let dir = experiment_dir(&args.dir)?;
    let report = runtime()?.block_on(analyze(&dir, &options, &progress));
    progress.finish_and_clear();
    let report = report?;
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    if !quiet {
        eprintln!(
            "analysed {} networks × {} epochs with {} statistics in {:.1} s",
            report.networks,
            report.epochs,
            report.statistics,
            started.elapsed().as_secs_f64()
        );
        for step in report.steps.iter().filter(|s| !s.path.as_os_str().is_empty()) {
            eprintln!(
                "  {:<24} {:>9} rows  {:>6.2} s  {}",
                step.name,
                step.rows,
                step.seconds,
                step.path.display()
            );
        }
    }
    Ok(())
}

/// The experiment directory at `path`, which must exist.
fn experiment_dir(path: &Path) -> Result<ExperimentDir, SqlError> {
    if !path.is_dir() {
        return Err(SqlError::Input {
            path: path.to_path_buf(),
            message: "no such experiment directory".into(),
        });
    }
    Ok(ExperimentDir::new(path))
}

/// Refuses an `--out` path inside the experiment directory (symbolic links
/// followed), and an existing file unless `force`.
fn check_out_path(out: &Path, dir: &Path, force: bool) -> Result<(), SqlError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SqlError::Io { path, source }
    };
    let root = dir.canonicalize().map_err(io(dir))?;
    let name = out.file_name().ok_or_else(|| SqlError::Input {
        path: out.to_path_buf(),
        message: "--out needs a file name".into(),
    })?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let resolved = match out.canonicalize() {
        Ok(existing) => existing,
        Err(_) => resolve_missing(parent).join(name),
    };
    if resolved.starts_with(&root) {
        return Err(refused_out(
            out,
            "it is inside the experiment directory, which `agree sql` never writes",
        ));
    }
    if !parent.is_dir() {
        return Err(refused_out(out, "its folder does not exist"));
    }
    if out.symlink_metadata().is_ok() && !force {
        return Err(refused_out(out, "the file exists (--force replaces it)"));
    }
    if resolved.is_dir() {
        return Err(refused_out(out, "it is a directory"));
    }
    Ok(())
}

/// `path` with its longest existing prefix resolved (links followed) and the
/// missing rest appended as written, so a path under a folder that does not
/// exist yet is still placed where it would land.
fn resolve_missing(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut prefix = path;
    loop {
        if let Ok(real) = prefix.canonicalize() {
            return rest.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (prefix.parent(), prefix.file_name()) {
            (Some(up), Some(last)) => {
                rest.push(last.to_os_string());
                prefix = if up.as_os_str().is_empty() { Path::new(".") } else { up };
            }
            _ => return path.to_path_buf(),
        }
    }
}

fn refused_out(out: &Path, why: &str) -> SqlError {
    SqlError::ReadOnly(format!("--out {}: {why}", out.display()))
}

fn output_format(args: &SqlArgs) -> OutputFormat {
    if let Some(f) = args.format {
        return f;
    }
    match args.out.as_deref().and_then(Path::extension).and_then(|e| e.to_str()) {
        Some("parquet") => OutputFormat::Parquet,
        Some("csv") => OutputFormat::Csv,
        Some("json" | "jsonl" | "ndjson") => OutputFormat::Json,
        _ => OutputFormat::Table,
    }
}

async fn answer(ctx: &SessionContext, sql: Option<&str>, args: &SqlArgs) -> Result<(), SqlError> {
    if let Some(path) = &args.out {
        check_out_path(path, &args.dir, args.force)?;
    }
    let (schema, batches) = match sql {
        Some(sql) => run_query(ctx, sql).await?,
        None => describe_tables(ctx).await?,
    };
    emit(&schema, &batches, args)
}

/// Prints the result, or writes it to `--out` (through a temporary name).
fn emit(schema: &SchemaRef, batches: &[RecordBatch], args: &SqlArgs) -> Result<(), SqlError> {
    let format = output_format(args);
    let Some(path) = &args.out else {
        return write_batches(format, schema, batches, &mut std::io::stdout().lock(), None);
    };
    let tmp = AtomicPath::beside(path)?;
    let io = |source| SqlError::Io {
        path: tmp.tmp().to_path_buf(),
        source,
    };
    if format == OutputFormat::Parquet {
        write_batches(format, schema, batches, &mut std::io::sink(), Some(tmp.tmp()))?;
    } else {
        let mut file = std::io::BufWriter::new(std::fs::File::create(tmp.tmp()).map_err(io)?);
        write_batches(format, schema, batches, &mut file, None)?;
        file.flush().map_err(io)?;
    }
    tmp.commit()?;
    Ok(())
}

/// Runs `agree sql`, on a thread with a stack of [`QUERY_STACK_BYTES`].
pub fn run_sql(args: &SqlArgs, quiet: bool) -> Result<(), SqlError> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("agree-sql".into())
            .stack_size(QUERY_STACK_BYTES)
            .spawn_scoped(scope, || answer_sql(args, quiet))
            .map_err(|source| SqlError::Io {
                path: PathBuf::from("<query thread>"),
                source,
            })?;
        worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// `agree sql --step NAME`: the step run as the analysis runs it, its result printed.
fn answer_step(rt: &tokio::runtime::Runtime, dir: &ExperimentDir, name: &str, args: &SqlArgs) -> Result<(), SqlError> {
    if let Some(path) = &args.out {
        check_out_path(path, &args.dir, args.force)?;
    }
    let options = args.analysis.options(&args.session);
    let work = options.session.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
    let output = rt
        .block_on(run_one_step(dir, &options, name, &work))
        .map_err(|e| e.within_limit(options.session.memory_limit))?;
    for note in &output.notes {
        eprintln!("note: {note}");
    }
    emit(&output.schema, &output.batches, args)
}

fn answer_sql(args: &SqlArgs, quiet: bool) -> Result<(), SqlError> {
    let rt = runtime()?;
    let dir = experiment_dir(&args.dir)?;
    if let Some(name) = &args.step {
        return answer_step(&rt, &dir, name, args);
    }
    let settings = args.session.settings();
    let session = rt.block_on(open_session_with(&dir, None, &settings))?;
    let ctx = &session.ctx;
    if args.schema {
        return rt.block_on(answer(ctx, None, args));
    }
    let query = match (&args.query, &args.file) {
        (Some(q), _) => Some(q.clone()),
        (None, Some(path)) => Some(std::fs::read_to_string(path).map_err(|source| SqlError::Io {
            path: path.clone(),
            source,
        })?),
        (None, None) if std::io::stdin().is_terminal() => None,
        (None, None) => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| SqlError::Io {
                    path: PathBuf::from("<stdin>"),
                    source,
                })?;
            Some(text)
        }
    };
    match query {
        Some(q) => rt
            .block_on(answer(ctx, Some(&q), args))
            .map_err(|e| e.within_limit(settings.memory_limit)),
        None => prompt(&rt, ctx, args, quiet),
    }
}

/// The interactive prompt: statements end with `;`; `\d` lists the tables, `\q` quits.
/// History persists in `~/.agree_sql_history`.
fn prompt(rt: &tokio::runtime::Runtime, ctx: &SessionContext, args: &SqlArgs, quiet: bool) -> Result<(), SqlError> {
    use rustyline::error::ReadlineError;
    let fail = |e: ReadlineError| SqlError::Output(format!("prompt: {e}"));
    let mut editor = rustyline::DefaultEditor::new().map_err(fail)?;
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".agree_sql_history"));
    if let Some(h) = &history {
        // A missing history file just means a first session.
        let _ = editor.load_history(h);
    }
    if !quiet {
        eprintln!(
            "agree sql on {} — end statements with ';', \\d lists tables, \\q quits",
            args.dir.display()
        );
    }
    let mut buffer = String::new();
    loop {
        let line = match editor.readline(if buffer.is_empty() { "agree> " } else { "   ..> " }) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(fail(e)),
        };
        let trimmed = line.trim();
        if buffer.is_empty() && (trimmed == "\\q" || trimmed == "quit" || trimmed == "exit") {
            break;
        }
        if buffer.is_empty() && trimmed == "\\d" {
            let _ = editor.add_history_entry(trimmed);
            if let Err(e) = rt.block_on(answer(ctx, None, args)) {
                eprintln!("{e}");
            }
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if trimmed.ends_with(';') {
            let statement = std::mem::take(&mut buffer);
            let _ = editor.add_history_entry(statement.trim());
            if let Err(e) = rt.block_on(answer(ctx, Some(statement.trim().trim_end_matches(';')), args)) {
                eprintln!("{}", e.within_limit(args.session.settings().memory_limit));
            }
        }
    }
    if let Some(h) = &history {
        // Losing history is not worth failing a session over.
        let _ = editor.save_history(h);
    }
    Ok(())
}
