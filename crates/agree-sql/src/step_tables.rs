//! The tables one analysis step hands to the next, registered under the step's name.
//! A step's rows stay in memory while they fit a quarter of the memory limit (all
//! step tables together, `AnalysisOptions::step_table_memory` to choose, and
//! reserved in the session's memory pool, so operators see what is left); past that the step streams, batch by batch, into a Parquet
//! file of a work folder beside the run (`.analysis-steps.<pid>.tmp`, removed when
//! the analysis ends, and by the next analysis if this one was killed). So what an
//! analysis holds stays inside the limit whatever the size of the run: the
//! per-sample tables (`sample_agreement`, `learning_order`, …) grow with samples ×
//! epochs × groups. Without a limit every step table stays in memory. On a Ballista
//! cluster every step table is a file, as executors cannot read this process's
//! memory: the work folder must then be on storage every executor sees at the same
//! path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agree_schema::{TableWriter, remove_stale_temporaries, temporary_name};
use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::analysis::{conform_result, dictionary_encode};
use crate::analysis_sql::OutputContract;
use crate::engine::is_distributed;
use crate::error::SqlError;
use crate::query::read_only_options;
use crate::session::register_batches;

/// The step tables of one analysis: its work folder, and the memory reserved for
/// the tables held in memory.
#[derive(Debug)]
pub struct StepTables {
    dir: PathBuf,
    budget: usize,
    held: HashMap<String, MemoryReservation>,
}

/// Where a result step's rows go besides its step table: the contract they are
/// brought into and the writer of the result file.
pub struct ResultSink<'a> {
    /// The result table's contract.
    pub contract: &'static agree_schema::TableContract,
    /// The writer of the staged result file.
    pub writer: &'a mut TableWriter,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SqlError + '_ {
    move |source| SqlError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl StepTables {
    /// A fresh work folder in `root` (first removing those of analyses that were
    /// killed); step tables are held in memory up to `in_memory` bytes together
    /// (no bound when `None`).
    pub fn create(root: &Path, in_memory: Option<u64>) -> Result<Self, SqlError> {
        remove_stale_temporaries(root).map_err(io(root))?;
        Self::beside(root, in_memory)
    }

    /// A fresh work folder in `parent`, leaving whatever else is there alone (for
    /// `agree sql --step`, which never writes into the experiment directory).
    pub fn beside(parent: &Path, in_memory: Option<u64>) -> Result<Self, SqlError> {
        let dir = parent.join(temporary_name("analysis-steps", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let budget = in_memory.map_or(usize::MAX, |b| usize::try_from(b).unwrap_or(usize::MAX));
        Ok(StepTables {
            dir,
            budget,
            held: HashMap::new(),
        })
    }

    /// Runs `queries` (the step `step`, a name for errors; queries only, nothing
    /// that writes) one after the other and streams their rows, in that order, into
    /// the step table `name`, checked against `contract` when there is one, and,
    /// for a result step, through its contract into `sink`. Every query must
    /// return the first one's columns. Returns the number of rows.
    pub async fn run(
        &mut self,
        ctx: &SessionContext,
        step: &str,
        name: &str,
        queries: &[String],
        contract: Option<&OutputContract>,
        mut sink: Option<ResultSink<'_>>,
    ) -> Result<usize, SqlError> {
        let at = |e| SqlError::datafusion(step, e);
        let Some((first, rest)) = queries.split_first() else {
            return Err(SqlError::Result {
                step: step.into(),
                message: "no query to run".into(),
            });
        };
        let frame = ctx.sql_with_options(first, read_only_options()).await.map_err(at)?;
        let mut schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        if let Some(contract) = contract {
            contract.check_schema(&schema)?;
        }
        // The queries of a repeated step may differ in nullability: their rows
        // are kept under one schema with every column nullable.
        let repeated = !rest.is_empty();
        if repeated {
            schema = Arc::new(nullable(&schema));
        }
        let mut stream = frame.execute_stream().await.map_err(at)?;
        let mut rest = rest.iter();
        // A Ballista cluster reads every step table from its file.
        let distributed = is_distributed(ctx);
        // This step replaces a table of the same name: its memory is free again.
        self.held.remove(name);
        let mut in_memory: usize = self.held.values().map(MemoryReservation::size).sum();
        let reservation = MemoryConsumer::new(format!("step table {name}")).register(&ctx.runtime_env().memory_pool);
        let mut batches = Vec::new();
        let mut file: Option<StepFile> = None;
        let mut rows = 0;
        loop {
            let batch = match stream.next().await {
                Some(batch) => batch.map_err(at)?,
                None => {
                    // The next query of a repeated step, if any: its rows follow.
                    let Some(sql) = rest.next() else { break };
                    let frame = ctx.sql_with_options(sql, read_only_options()).await.map_err(at)?;
                    let next: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
                    if !same_columns(&schema, &next) {
                        return Err(SqlError::Result {
                            step: step.into(),
                            message: format!(
                                "its queries return different columns: {} and {}",
                                column_list(&schema),
                                column_list(&next)
                            ),
                        });
                    }
                    stream = frame.execute_stream().await.map_err(at)?;
                    continue;
                }
            };
            let batch = if !repeated || batch.schema() == schema {
                batch
            } else {
                RecordBatch::try_new_with_options(
                    schema.clone(),
                    batch.columns().to_vec(),
                    &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
                )
                .map_err(|e| SqlError::Output(format!("{step}: {e}")))?
            };
            rows += batch.num_rows();
            if let Some(contract) = contract {
                contract.check_batch(&batch)?;
            }
            if let Some(sink) = sink.as_mut() {
                sink.writer.write(&conform_result(name, sink.contract, &batch)?)?;
            }
            if file.is_none() {
                let size = batch.get_array_memory_size();
                let fits =
                    !distributed && in_memory.saturating_add(size) <= self.budget && reservation.try_grow(size).is_ok();
                if fits {
                    in_memory += size;
                    batches.push(batch);
                    continue;
                }
                let mut f = StepFile::create(&self.dir, name, &schema)?;
                for b in batches.drain(..) {
                    f.write(&b)?;
                }
                reservation.free();
                file = Some(f);
            }
            if let Some(f) = file.as_mut() {
                f.write(&batch)?;
            }
        }
        drop(stream);
        if distributed && file.is_none() {
            file = Some(StepFile::create(&self.dir, name, &schema)?);
        }
        match file {
            Some(f) => {
                let path = f.finish()?;
                // Ballista's shuffles mix dictionary and plain strings of one column:
                // a cluster reads the file's dictionaries as the plain strings they encode.
                let plain = distributed.then(|| nullable(&schema));
                self.register(ctx, name, &path, plain.as_ref()).await?;
            }
            None => {
                let (schema, batches) = dictionary_encode(&schema, batches)?;
                register_batches(ctx, name, schema, batches)?;
                self.held.insert(name.to_string(), reservation);
            }
        }
        Ok(rows)
    }

    /// Registers a finished step file as table `name`, replacing an earlier one.
    async fn register(
        &self,
        ctx: &SessionContext,
        name: &str,
        path: &Path,
        schema: Option<&Schema>,
    ) -> Result<(), SqlError> {
        let at = |e| SqlError::datafusion(format!("registering {}", path.display()), e);
        ctx.deregister_table(name).map_err(at)?;
        let mut options = ParquetReadOptions::default();
        if let Some(schema) = schema {
            options = options.schema(schema);
        }
        ctx.register_parquet(name, path.to_string_lossy().as_ref(), options)
            .await
            .map_err(at)
    }
}

impl Drop for StepTables {
    fn drop(&mut self) {
        // Best effort: a folder left behind (say, by a kill) is removed by the next
        // analysis, as its name carries this process's id.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether two queries return the same columns (names and types; nullability aside).
fn same_columns(a: &Schema, b: &Schema) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields()
            .iter()
            .zip(b.fields())
            .all(|(x, y)| x.name() == y.name() && x.data_type() == y.data_type())
}

/// `name TYPE, …` of a schema, for an error.
fn column_list(schema: &Schema) -> String {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect();
    format!("({})", columns.join(", "))
}

/// `schema` with every field nullable, as step files store it.
fn nullable(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    Schema::new(fields)
}

/// One step's Parquet file while it is written (`<name>.parquet.part`, renamed when
/// complete). Strings become dictionaries: the step tables repeat a handful of group
/// and split names millions of times.
struct StepFile {
    writer: ArrowWriter<std::fs::File>,
    schema: SchemaRef,
    part: PathBuf,
    path: PathBuf,
}

impl StepFile {
    fn create(dir: &Path, name: &str, schema: &SchemaRef) -> Result<Self, SqlError> {
        let path = dir.join(format!("{name}.parquet"));
        let part = dir.join(format!("{name}.parquet.part"));
        let file = std::fs::File::create(&part).map_err(io(&part))?;
        let (encoded, _) = dictionary_encode(schema, Vec::new())?;
        // Nullable throughout: a stream's batches may differ from the plan's schema
        // in nullability alone.
        let fields: Vec<Field> = encoded
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let encoded = Arc::new(Schema::new(fields));
        // Written once and read a few times within minutes: fast compression; row
        // groups small enough that the writer's buffer stays a few MiB.
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(1 << 16))
            .build();
        let writer = ArrowWriter::try_new(file, encoded.clone(), Some(properties))
            .map_err(|e| SqlError::Output(format!("{}: {e}", part.display())))?;
        Ok(StepFile {
            writer,
            schema: encoded,
            part,
            path,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), SqlError> {
        let fail = |e: &dyn std::fmt::Display| SqlError::Output(format!("{}: {e}", self.part.display()));
        let (_, encoded) = dictionary_encode(&batch.schema(), vec![batch.clone()])?;
        for b in encoded {
            let b = RecordBatch::try_new(self.schema.clone(), b.columns().to_vec()).map_err(|e| fail(&e))?;
            self.writer.write(&b).map_err(|e| fail(&e))?;
        }
        Ok(())
    }

    fn finish(self) -> Result<PathBuf, SqlError> {
        self.writer
            .close()
            .map_err(|e| SqlError::Output(format!("{}: {e}", self.part.display())))?;
        std::fs::rename(&self.part, &self.path).map_err(io(&self.path))?;
        Ok(self.path)
    }
}
