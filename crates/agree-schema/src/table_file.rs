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
    Io { path: PathBuf, source: io::Error },
    /// Parquet or Arrow error.
    #[error("{path}: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    /// The data does not follow the table's contract.
    #[error("{path}: {source}")]
    Contract { path: PathBuf, source: ContractError },
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
    /// Prepares a temporary path for `dest`, creating its parent directory.
    pub fn new(dest: impl Into<PathBuf>) -> Result<Self, TableFileError> {
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
        let tmp = dest.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
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
    use crate::contract;

    #[test]
    fn unfinished_writes_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("rejects.parquet");
        let c = contract("rejects").unwrap();
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
    fn a_schema_off_contract_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let c = contract("rejects").unwrap();
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
