//! Typed ids of the contract tables: one variant per file of `schemas/`, so a
//! misspelt table name is a compile error, not a run-time lookup that fails.

use std::fmt;

use crate::contract::{TableContract, contracts};

/// A table of `schemas/` (a unit test checks that every contract file has exactly
/// one variant and every variant a contract file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `samples.parquet`: images and labels (ingest).
    Samples,
    /// `attributes.parquet`: dataset-provided per-sample attributes (ingest).
    Attributes,
    /// `rejects.parquet`: inputs skipped under `--on-error skip` (ingest).
    Rejects,
    /// `scores/<name>.parquet`: imported per-sample scores (ingest).
    Scores,
    /// `stats.parquet`: image statistics (stats).
    Stats,
    /// `spectra.parquet`: radially averaged power spectra (stats).
    Spectra,
    /// `predictions/<run>/epoch=<E>.parquet`: per-sample predictions (train).
    Predictions,
    /// `epochs/<run_id>.parquet`: one row per network and epoch (train).
    Epochs,
    /// `runs/<run_id>.parquet`: one row per network (train).
    Runs,
    /// `results/agreement.parquet` (analyze).
    Agreement,
    /// `results/agreement_by_statistic.parquet` (analyze).
    AgreementByStatistic,
    /// `results/agreement_by_quantile.parquet` (analyze).
    AgreementByQuantile,
    /// `results/learning_order.parquet` (analyze).
    LearningOrder,
    /// `results/sample_dynamics.parquet` (analyze).
    SampleDynamics,
    /// `results/statistic_correlation.parquet` (analyze).
    StatisticCorrelation,
    /// `results/score_correlation.parquet` (analyze).
    ScoreCorrelation,
    /// `results/dataset_summary.parquet` (analyze).
    DatasetSummary,
}

impl Table {
    /// Every table, in the order of the pipeline.
    pub const ALL: [Table; 17] = [
        Table::Samples,
        Table::Attributes,
        Table::Rejects,
        Table::Scores,
        Table::Stats,
        Table::Spectra,
        Table::Predictions,
        Table::Epochs,
        Table::Runs,
        Table::Agreement,
        Table::AgreementByStatistic,
        Table::AgreementByQuantile,
        Table::LearningOrder,
        Table::SampleDynamics,
        Table::StatisticCorrelation,
        Table::ScoreCorrelation,
        Table::DatasetSummary,
    ];

    /// The table's name: its contract file's stem and its SQL name.
    pub const fn name(self) -> &'static str {
        match self {
            Table::Samples => "samples",
            Table::Attributes => "attributes",
            Table::Rejects => "rejects",
            Table::Scores => "scores",
            Table::Stats => "stats",
            Table::Spectra => "spectra",
            Table::Predictions => "predictions",
            Table::Epochs => "epochs",
            Table::Runs => "runs",
            Table::Agreement => "agreement",
            Table::AgreementByStatistic => "agreement_by_statistic",
            Table::AgreementByQuantile => "agreement_by_quantile",
            Table::LearningOrder => "learning_order",
            Table::SampleDynamics => "sample_dynamics",
            Table::StatisticCorrelation => "statistic_correlation",
            Table::ScoreCorrelation => "score_correlation",
            Table::DatasetSummary => "dataset_summary",
        }
    }

    /// The table called `name`, if it is one of `schemas/`.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Its contract.
    pub fn contract(self) -> &'static TableContract {
        // `every_table_has_its_contract_and_back` below proves the lookup total.
        contracts()
            .iter()
            .find(|c| c.name == self.name())
            .unwrap_or_else(|| panic!("schemas/{}.toml is not embedded", self.name()))
    }

    /// Whether the analysis writes it (`results/`).
    pub fn is_result(self) -> bool {
        self.contract().file.starts_with("results/")
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_its_contract_and_back() {
        for t in Table::ALL {
            assert_eq!(t.contract().name, t.name());
            assert_eq!(Table::from_name(t.name()), Some(t));
        }
        for c in contracts() {
            assert!(
                Table::from_name(&c.name).is_some(),
                "schemas/{}.toml has no Table",
                c.name
            );
        }
        assert_eq!(contracts().len(), Table::ALL.len());
        assert_eq!(Table::from_name("nope"), None);
        assert!(Table::LearningOrder.is_result() && !Table::Stats.is_result());
    }
}
