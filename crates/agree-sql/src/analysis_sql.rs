//! The analysis as SQL files kept in the repository (`crates/agree-sql/sql/`),
//! embedded in the binary and overridable file by file from a user directory.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::error::SqlError;

/// One step of the analysis: a query whose result is registered under `name`
/// for the steps after it, and written to `results/<name>.parquet` when it is a
/// result table of schemas/.
#[derive(Debug, Clone, Copy)]
pub struct AnalysisStep {
    /// Table name (and file stem `<name>.sql`).
    pub name: &'static str,
    /// The embedded SQL.
    pub sql: &'static str,
    /// Whether this is a result table written to `results/`.
    pub result: bool,
}

macro_rules! step {
    ($name:literal, $result:expr) => {
        AnalysisStep {
            name: $name,
            sql: include_str!(concat!("../sql/", $name, ".sql")),
            result: $result,
        }
    };
}

/// The steps in execution order; each may use every table registered before it.
pub const ANALYSIS_STEPS: [AnalysisStep; 11] = [
    step!("group_members", false),
    step!("sample_agreement", false),
    step!("network_accuracy", false),
    step!("agreement", true),
    step!("learning_order", true),
    step!("agreement_by_statistic", true),
    step!("statistic_bins", false),
    step!("sample_bins", false),
    step!("agreement_by_quantile", true),
    step!("statistic_correlation", true),
    step!("dataset_summary", true),
];

/// The SQL of `step`: `<sql_dir>/<name>.sql` when that file exists, else the embedded one.
pub fn step_sql(step: &AnalysisStep, sql_dir: Option<&Path>) -> Result<Cow<'static, str>, SqlError> {
    if let Some(dir) = sql_dir {
        let path = dir.join(format!("{}.sql", step.name));
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|source| SqlError::Io { path, source })?;
            return Ok(Cow::Owned(text));
        }
    }
    Ok(Cow::Borrowed(step.sql))
}

/// Writes the embedded SQL files into `dir` (created) for editing; returns their paths.
pub fn export_sql(dir: &Path) -> Result<Vec<PathBuf>, SqlError> {
    std::fs::create_dir_all(dir).map_err(|source| SqlError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for step in &ANALYSIS_STEPS {
        let path = dir.join(format!("{}.sql", step.name));
        std::fs::write(&path, step.sql).map_err(|source| SqlError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_replaces_only_present_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("agreement.sql"), "SELECT 1").unwrap();
        let agreement = ANALYSIS_STEPS.iter().find(|s| s.name == "agreement").unwrap();
        let tpa = ANALYSIS_STEPS.iter().find(|s| s.name == "learning_order").unwrap();
        assert_eq!(step_sql(agreement, Some(dir.path())).unwrap(), "SELECT 1");
        assert_eq!(step_sql(tpa, Some(dir.path())).unwrap(), tpa.sql);
    }

    #[test]
    fn every_result_table_has_a_contract() {
        for step in ANALYSIS_STEPS.iter().filter(|s| s.result) {
            assert!(agree_schema::contract(step.name).is_ok(), "{}", step.name);
        }
    }
}
