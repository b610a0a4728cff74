//! Writing Parquet tables atomically (temporary name, then rename) and reading them back.

use std::{
    fs::{self, File},
    io,
    path::{Path, PathBuf},
};

use arrow::{array::RecordBatch, datatypes::SchemaRef};
use parquet::{
    arrow::{ArrowWriter, arrow_reader::ParquetRecordBatchReaderBuilder},
    basic::{Compression, ZstdLevel},
    file::properties::{WriterProperties, WriterPropertiesBuilder},
};

use crate::{ContractError, TableContract};

/// Failure to write or read a table file; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum TableFileError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Parquet or Arrow error.
    #[error("{path}: {source}")]
    Parquet {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: parquet::errors::ParquetError,
    },
    /// The data does not follow the table's contract.
    #[error("{path}: {source}")]
    Contract {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: ContractError,
    },
}

/// A file being written under a temporary name next to its destination. `commit`
/// renames it into place; dropping it uncommitted removes the temporary file, so a
/// failed or interrupted write never leaves a partial table under the real name.
#[derive(Debug)]
pub struct AtomicPath {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl AtomicPath {
    /// Prepares a temporary path for `dest`, creating its parent directory and
    /// removing there what killed writers left ([`remove_stale_temporaries`]).
    pub fn new(dest: impl Into<PathBuf>) -> Result<Self, TableFileError> {
        let path = Self::beside(dest)?;
        if let Some(parent) = path.dest.parent() {
            remove_stale_temporaries(parent).map_err(|source| TableFileError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        Ok(path)
    }

    /// Like [`AtomicPath::new`] but touches nothing else in the folder: for a file
    /// outside an experiment directory (a query's `--out`), where other programs'
    /// files live.
    pub fn beside(dest: impl Into<PathBuf>) -> Result<Self, TableFileError> {
        let dest = dest.into();
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|source| TableFileError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dest.with_file_name(temporary_name(&name, std::process::id()));
        Ok(AtomicPath {
            tmp,
            dest,
            committed: false,
        })
    }
    /// The temporary path to write to.
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }
    /// The final path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }
    /// Moves the temporary file into place.
    pub fn commit(mut self) -> Result<PathBuf, TableFileError> {
        fs::rename(&self.tmp, &self.dest).map_err(|source| TableFileError::Io {
            path: self.dest.clone(),
            source,
        })?;
        self.committed = true;
        Ok(self.dest.clone())
    }
}

impl Drop for AtomicPath {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// This machine's host name as temporary names carry it (characters other than ASCII
/// letters, digits and `_` as `_`); `None` where it cannot be read.
fn host_tag() -> Option<&'static str> {
    static HOST: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let name = fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
        let tag: String = name
            .trim()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
            .collect();
        (!tag.is_empty()).then_some(tag)
    })
    .as_deref()
}

/// The hidden temporary name `.<name>.<pid>-<host>.tmp` under which process `pid` of
/// this machine writes `name` (`.<name>.<pid>.tmp` where the host name is unknown).
/// The host tells writers on other machines sharing the folder (the shards of a
/// study) that the process is not theirs to judge.
pub fn temporary_name(name: &str, pid: u32) -> String {
    match host_tag() {
        Some(host) => format!(".{name}.{pid}-{host}.tmp"),
        None => format!(".{name}.{pid}.tmp"),
    }
}

/// The process id and host in a temporary name made by [`temporary_name`], if it is one.
fn temporary_owner(file_name: &str) -> Option<(u32, Option<&str>)> {
    let inner = file_name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (name, owner) = inner.rsplit_once('.')?;
    if name.is_empty() {
        return None;
    }
    match owner.split_once('-') {
        Some((pid, host)) if !host.is_empty() => Some((pid.parse().ok()?, Some(host))),
        Some(_) => None,
        None => Some((owner.parse().ok()?, None)),
    }
}

/// Whether process `pid` is running. Without `/proc` (not Linux) every process
/// counts as running, so nothing is removed that might still be written.
fn process_is_running(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Removes the temporary files and folders in `dir` (named by [`temporary_name`])
/// whose writing process is no longer running — what a killed stage left behind.
/// Only this machine's processes are judged: another host's temporaries are kept.
/// Every [`AtomicPath`] (so every [`TableWriter`]) does this in the folder it
/// writes to, so the next run of a stage cleans up after an interrupted one.
/// Returns what was removed; a missing `dir` has nothing to remove.
pub fn remove_stale_temporaries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some((pid, host)) = file_name.to_str().and_then(temporary_owner) else {
            continue;
        };
        if host.is_some_and(|h| Some(h) != host_tag()) {
            continue;
        }
        if pid == std::process::id() || process_is_running(pid) {
            continue;
        }
        let path = entry.path();
        let gone = if entry.file_type()?.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        match gone {
            Ok(()) => removed.push(path),
            // Another process cleaned it up first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// Streams record batches of one table into a Parquet file, checked against its
/// contract, and makes the file appear only on [`TableWriter::finish`].
pub struct TableWriter {
    writer: ArrowWriter<File>,
    path: AtomicPath,
    schema: SchemaRef,
    rows: usize,
}

impl TableWriter {
    /// Starts writing `dest` with `schema`, which must follow `contract`, using
    /// [`writer_properties`].
    pub fn create(
        dest: impl Into<PathBuf>,
        contract: &TableContract,
        schema: SchemaRef,
    ) -> Result<Self, TableFileError> {
        Self::create_with(dest, contract, schema, writer_properties().build())
    }

    /// Like [`TableWriter::create`], recording `metadata` as the file's Parquet
    /// key-value metadata (e.g. [`ANALYSIS_ID_KEY`]).
    pub fn create_with_metadata(
        dest: impl Into<PathBuf>,
        contract: &TableContract,
        schema: SchemaRef,
        metadata: &[(&str, &str)],
    ) -> Result<Self, TableFileError> {
        let metadata = metadata
            .iter()
            .map(|(k, v)| parquet::file::metadata::KeyValue::new(k.to_string(), v.to_string()))
            .collect();
        let props = writer_properties().set_key_value_metadata(Some(metadata)).build();
        Self::create_with(dest, contract, schema, props)
    }

    /// Like [`TableWriter::create`] with explicit Parquet writer properties.
    pub fn create_with(
        dest: impl Into<PathBuf>,
        contract: &TableContract,
        schema: SchemaRef,
        props: WriterProperties,
    ) -> Result<Self, TableFileError> {
        let path = AtomicPath::new(dest)?;
        contract.check(&schema).map_err(|source| TableFileError::Contract {
            path: path.dest().to_path_buf(),
            source,
        })?;
        let file = File::create(path.tmp()).map_err(|source| TableFileError::Io {
            path: path.tmp().to_path_buf(),
            source,
        })?;
        let writer =
            ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|source| TableFileError::Parquet {
                path: path.dest().to_path_buf(),
                source,
            })?;
        Ok(TableWriter {
            writer,
            path,
            schema,
            rows: 0,
        })
    }

    /// The schema every batch must have.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Appends a batch; batches are flushed as row groups once large enough.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), TableFileError> {
        self.rows += batch.num_rows();
        self.writer.write(batch).map_err(|source| TableFileError::Parquet {
            path: self.path.dest().to_path_buf(),
            source,
        })
    }

    /// Ends the current row group now (bounds memory when rows are large, e.g. images).
    pub fn flush(&mut self) -> Result<(), TableFileError> {
        self.writer.flush().map_err(|source| TableFileError::Parquet {
            path: self.path.dest().to_path_buf(),
            source,
        })
    }

    /// Bytes buffered in the open row group.
    pub fn in_progress_size(&self) -> usize {
        self.writer.in_progress_size()
    }

    /// Records in the file's footer the fingerprint of the dataset this table was
    /// computed on (see [`crate::identity`]).
    pub fn record_dataset(&mut self, fingerprint: &str) {
        self.writer
            .append_key_value_metadata(crate::identity::fingerprint_metadata(fingerprint));
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Closes the file and renames it to `elsewhere` instead of its destination (for a
    /// staging file that a later step rewrites).
    pub fn finish_to(self, elsewhere: &Path) -> Result<PathBuf, TableFileError> {
        let TableWriter { writer, path, .. } = self;
        writer.close().map_err(|source| TableFileError::Parquet {
            path: path.dest().to_path_buf(),
            source,
        })?;
        let staged = AtomicPath {
            tmp: path.tmp.clone(),
            dest: elsewhere.to_path_buf(),
            committed: false,
        };
        let mut path = path;
        path.committed = true; // ownership of the temporary file moves to `staged`
        staged.commit()
    }

    /// Closes the file and moves it into place only if nothing is there yet (a hard
    /// link, which never replaces): `false`, and no file written, when another writer
    /// was first.
    pub fn finish_unless_present(self) -> Result<bool, TableFileError> {
        let TableWriter { writer, path, .. } = self;
        writer.close().map_err(|source| TableFileError::Parquet {
            path: path.dest().to_path_buf(),
            source,
        })?;
        match fs::hard_link(path.tmp(), path.dest()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(source) => Err(TableFileError::Io {
                path: path.dest().to_path_buf(),
                source,
            }),
        }
        // Dropping `path` uncommitted removes the temporary name.
    }

    /// Closes the file and renames it into place.
    pub fn finish(self) -> Result<PathBuf, TableFileError> {
        let TableWriter { writer, path, .. } = self;
        writer.close().map_err(|source| TableFileError::Parquet {
            path: path.dest().to_path_buf(),
            source,
        })?;
        path.commit()
    }
}

/// The project's default Parquet settings: zstd level 1, row groups of at most 64 Ki rows.
pub fn writer_properties() -> WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level 1 is valid")))
        .set_max_row_group_row_count(Some(64 * 1024))
}

/// The Parquet key-value metadata key under which `agree analyze` records, in
/// every result table, the id of the analysis that wrote it.
pub const ANALYSIS_ID_KEY: &str = "agree.analysis_id";

/// The value of `key` in the Parquet key-value metadata of the file at `path`
/// (`None` when the file has no such key). Reads the footer only.
pub fn read_key_value(path: &Path, key: &str) -> Result<Option<String>, TableFileError> {
    let file = File::open(path).map_err(|source| TableFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|source| TableFileError::Parquet {
            path: path.to_path_buf(),
            source,
        })?;
    let value = metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|e| e.key == key))
        .and_then(|e| e.value.clone());
    Ok(value)
}

/// Reads a whole (small) Parquet table into memory.
pub fn read_table(path: &Path) -> Result<(SchemaRef, Vec<RecordBatch>), TableFileError> {
    let file = File::open(path).map_err(|source| TableFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let pq = |source| TableFileError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(pq)?
        .build()
        .map_err(pq)?;
    let schema = arrow::array::RecordBatchReader::schema(&reader);
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TableFileError::Parquet {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
    Ok((schema, batches))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::StringArray;

    use super::*;
    use crate::Table;

    #[test]
    fn unfinished_writes_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("rejects.parquet");
        let c = Table::Rejects.contract();
        {
            let mut w = TableWriter::create(&dest, c, c.schema()).unwrap();
            let batch = RecordBatch::try_new(
                c.schema(),
                vec![
                    Arc::new(StringArray::from(vec!["a.tar"])),
                    Arc::new(StringArray::from(vec![Some("x.jpg")])),
                    Arc::new(StringArray::from(vec!["truncated"])),
                ],
            )
            .unwrap();
            w.write(&batch).unwrap();
        }
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "temporary file removed, nothing committed"
        );
    }

    #[test]
    fn temporaries_of_dead_processes_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // A process id that cannot be running: above the kernel's pid_max (4194304 at most).
        let dead = 4_194_305;
        let stale_file = dir.path().join(temporary_name("stats.parquet", dead));
        let stale_dir = dir.path().join(temporary_name("results", dead));
        let mine = dir.path().join(temporary_name("samples.parquet", std::process::id()));
        let table = dir.path().join("stats.parquet");
        let lookalike = dir.path().join(".notes.txt");
        // A temporary of another machine writing into a shared folder: not ours to judge.
        let elsewhere = dir.path().join(format!(".epochs.parquet.{dead}-otherhost.tmp"));
        for f in [&stale_file, &mine, &table, &lookalike, &elsewhere] {
            fs::write(f, b"x").unwrap();
        }
        fs::create_dir_all(stale_dir.join("inner")).unwrap();
        let c = Table::Rejects.contract();
        // Any write into the folder cleans it.
        let w = TableWriter::create(dir.path().join("rejects.parquet"), c, c.schema()).unwrap();
        w.finish().unwrap();
        assert!(!stale_file.exists() && !stale_dir.exists(), "stale temporaries removed");
        assert!(
            mine.exists() && table.exists() && lookalike.exists() && elsewhere.exists(),
            "everything else kept"
        );
        assert_eq!(temporary_owner(".x.parquet.12.tmp"), Some((12, None)));
        assert_eq!(temporary_owner(".x.parquet.12-node_7.tmp"), Some((12, Some("node_7"))));
        assert_eq!(temporary_owner(".x.parquet.12-.tmp"), None);
        assert_eq!(temporary_owner(".x.parquet.tmp"), None);
        assert_eq!(temporary_owner("..12.tmp"), None);
        let name = temporary_name("runs.parquet", 12);
        assert_eq!(temporary_owner(&name).map(|(pid, _)| pid), Some(12), "{name}");
    }

    #[test]
    fn key_value_metadata_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("rejects.parquet");
        let c = Table::Rejects.contract();
        TableWriter::create_with_metadata(&dest, c, c.schema(), &[("agree.test", "abc")])
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(read_key_value(&dest, "agree.test").unwrap().as_deref(), Some("abc"));
        assert_eq!(read_key_value(&dest, "other").unwrap(), None);
    }

    #[test]
    fn a_schema_off_contract_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let c = Table::Rejects.contract();
        let bad = Arc::new(arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(
            "source",
            arrow::datatypes::DataType::Int64,
            false,
        )]));
        let err = TableWriter::create(dir.path().join("rejects.parquet"), c, bad)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("rejects.parquet") && err.contains("`source` is Int64"),
            "{err}"
        );
    }
}
