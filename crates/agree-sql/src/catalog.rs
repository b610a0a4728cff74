//! The Parquet tables of an experiment directory, by the name queries use.

use std::path::PathBuf;

use agree_schema::{ExperimentDir, Table};

use crate::error::SqlError;

/// Where a table comes from, which decides whether its columns are statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// A table of schemas/ written by a stage (`samples`, `stats`, `runs`, …).
    Stage,
    /// An imported score table `scores/<name>.parquet`.
    Score,
    /// An analysis result `results/<table>.parquet`.
    Result,
}

/// One Parquet table of the directory, held by one file or several (`epochs` and
/// `runs` one per network, `stats` and `spectra` one per shard).
#[derive(Debug, Clone, PartialEq)]
pub struct TableFile {
    /// The name to query it by.
    pub name: String,
    /// Where it lives, for messages: its file, or the folder of its files.
    pub path: PathBuf,
    /// The files that hold it (at least one), read as one table.
    pub files: Vec<PathBuf>,
    /// Where it comes from.
    pub kind: TableKind,
}

/// Tables written by the stages, registered under their contract names.
pub const STAGE_TABLES: [Table; 7] = [
    Table::Samples,
    Table::Attributes,
    Table::Rejects,
    Table::Stats,
    Table::Spectra,
    Table::Runs,
    Table::Epochs,
];

fn parquet_files_in(dir: &std::path::Path) -> Result<Vec<PathBuf>, SqlError> {
    agree_schema::table_files::parquet_files(dir).map_err(layout_error)
}

fn layout_error(e: agree_schema::LayoutError) -> SqlError {
    SqlError::Input {
        path: e.path,
        message: e.problem,
    }
}

/// Refuses files of one table whose columns (names and types, from the footers) differ,
/// naming the first that differs from the first file.
fn same_columns(files: &[PathBuf]) -> Result<(), SqlError> {
    let columns = |path: &PathBuf| -> Result<Vec<(String, String)>, SqlError> {
        let file = std::fs::File::open(path).map_err(|source| SqlError::Io {
            path: path.clone(),
            source,
        })?;
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
            SqlError::Input {
                path: path.clone(),
                message: e.to_string(),
            }
        })?;
        Ok(builder
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().to_string()))
            .collect())
    };
    let [first, rest @ ..] = files else {
        return Ok(());
    };
    let expected = columns(first)?;
    for path in rest {
        let found = columns(path)?;
        if found != expected {
            let names =
                |c: &[(String, String)]| c.iter().map(|(n, t)| format!("{n} {t}")).collect::<Vec<_>>().join(", ");
            return Err(SqlError::Input {
                path: path.clone(),
                message: format!(
                    "its columns ({}) differ from those of {} ({}): the files of one table must have the same columns",
                    names(&found),
                    first.display(),
                    names(&expected)
                ),
            });
        }
    }
    Ok(())
}

/// Every table present in `dir` (prediction folders excepted: see `predictions`).
/// Score tables are named by their file stem, which must be a lower-case SQL
/// identifier distinct from the stage tables.
pub fn experiment_tables(dir: &ExperimentDir) -> Result<Vec<TableFile>, SqlError> {
    let mut tables = Vec::new();
    for table in STAGE_TABLES {
        let files = agree_schema::table_files(dir, table).map_err(layout_error)?;
        let path = match files.as_slice() {
            [] => continue,
            [one] => one.clone(),
            _ if matches!(table, Table::Stats | Table::Spectra) => dir.shards_dir(table),
            _ => dir.table(table),
        };
        same_columns(&files)?;
        tables.push(TableFile {
            name: table.name().to_string(),
            path,
            files,
            kind: TableKind::Stage,
        });
    }
    for path in parquet_files_in(&dir.scores_dir())? {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !agree_schema::is_table_identifier(&name) {
            return Err(SqlError::Input {
                path,
                message: "a score table's file name must be a lower-case SQL identifier ([a-z_][a-z0-9_]*)".into(),
            });
        }
        if let Some(holder) = crate::analysis_sql::reserved_by(&name) {
            return Err(SqlError::Input {
                path,
                message: format!(
                    "the score table `{name}` would be shadowed by {holder}; rename the file \
                     (`agree ingest scores --name`)"
                ),
            });
        }
        tables.push(TableFile {
            name,
            files: vec![path.clone()],
            path,
            kind: TableKind::Score,
        });
    }
    for path in parquet_files_in(&dir.results_dir())? {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if agree_schema::is_table_identifier(&name) && !tables.iter().any(|t| t.name == name) {
            tables.push(TableFile {
                name,
                files: vec![path.clone()],
                path,
                kind: TableKind::Result,
            });
        }
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_score_table_named_like_a_step_is_refused_naming_the_step() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ExperimentDir::new(tmp.path());
        std::fs::create_dir_all(dir.scores_dir()).unwrap();
        std::fs::write(dir.scores_dir().join("cifar10h.parquet"), b"").unwrap();
        assert_eq!(experiment_tables(&dir).unwrap().len(), 1);
        for (name, holder) in [
            ("sample_bins", "intermediate analysis step `sample_bins`"),
            ("agreement", "result analysis step `agreement`"),
            ("statistic_wide", "session table `statistic_wide`"),
            ("samples", "schemas/samples.toml"),
        ] {
            let path = dir.scores_dir().join(format!("{name}.parquet"));
            std::fs::write(&path, b"").unwrap();
            let err = experiment_tables(&dir).unwrap_err().to_string();
            assert!(
                err.contains(&format!("`{name}` would be shadowed by")) && err.contains(holder),
                "{err}"
            );
            assert!(err.contains(&path.display().to_string()), "{err}");
            std::fs::remove_file(path).unwrap();
        }
    }

    fn write_stats(path: &std::path::Path, with_entropy: bool) {
        use std::sync::Arc;

        use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
        let mut columns: Vec<(&str, ArrayRef)> = vec![
            ("sample_id", Arc::new(Int64Array::from(vec![0]))),
            ("error", Arc::new(StringArray::from(vec![None::<&str>]))),
        ];
        if with_entropy {
            columns.push(("entropy_global", Arc::new(Float64Array::from(vec![1.0]))));
        }
        let batch = Table::Stats.contract().batch(columns).unwrap();
        let mut w = agree_schema::TableWriter::create(path, Table::Stats.contract(), batch.schema()).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
    }

    #[test]
    fn a_table_of_several_files_is_one_table_whose_files_share_their_columns() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ExperimentDir::new(tmp.path());
        let part = |i| dir.shard_table(Table::Stats, agree_schema::Shard::new(i, 2).unwrap());
        write_stats(&part(0), true);
        write_stats(&part(1), true);
        let tables = experiment_tables(&dir).unwrap();
        assert_eq!(tables.len(), 1);
        assert_eq!((tables[0].name.as_str(), tables[0].files.len()), ("stats", 2));
        assert_eq!(tables[0].path, dir.shards_dir(Table::Stats));
        write_stats(&part(1), false);
        let err = experiment_tables(&dir).unwrap_err().to_string();
        assert!(
            err.contains("part-1-of-2.parquet") && err.contains("entropy_global"),
            "{err}"
        );
        std::fs::remove_file(part(1)).unwrap();
        let err = experiment_tables(&dir).unwrap_err().to_string();
        assert!(err.contains("part-1-of-2.parquet") && err.contains("missing"), "{err}");
    }
}
