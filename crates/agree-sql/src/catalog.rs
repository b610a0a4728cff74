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

/// One Parquet table of the directory.
#[derive(Debug, Clone, PartialEq)]
pub struct TableFile {
    /// The name to query it by.
    pub name: String,
    /// The file.
    pub path: PathBuf,
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
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|source| SqlError::Io {
        path: dir.to_path_buf(),
        source,
    })? {
        let path = entry
            .map_err(|source| SqlError::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        let visible = path.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.'));
        if visible && path.extension().is_some_and(|e| e == "parquet") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Every table present in `dir` (prediction folders excepted: see `predictions`).
/// Score tables are named by their file stem, which must be a lower-case SQL
/// identifier distinct from the stage tables.
pub fn experiment_tables(dir: &ExperimentDir) -> Result<Vec<TableFile>, SqlError> {
    let mut tables = Vec::new();
    for table in STAGE_TABLES {
        let path = dir.table(table);
        if path.is_file() {
            tables.push(TableFile {
                name: table.name().to_string(),
                path,
                kind: TableKind::Stage,
            });
        }
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
}
