//! The one-screen summary of a study: agreement against its bounds at the last epoch,
//! and the statistics whose rank correlation with learning order is strongest.

use std::path::Path;

use agree_schema::{ExperimentDir, read_table};
use arrow::{
    array::{Array, AsArray, RecordBatch},
    compute::concat_batches,
    datatypes::{DataType, Float64Type, Int64Type},
};
use serde::Serialize;

use crate::PipelineError;

/// Agreement of one group at its last epoch.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FinalAgreement {
    /// `same_arch` or `cross_arch`.
    pub group_kind: String,
    /// Group name.
    pub group_name: String,
    /// Split.
    pub split: String,
    /// Last epoch.
    pub epoch: i64,
    /// Networks in the group.
    pub n_networks: i64,
    /// True-positive agreement.
    pub agreement: f64,
    /// Lower bound given the accuracies.
    pub lower_bound: f64,
    /// Agreement expected under independent errors.
    pub independent: f64,
    /// Mean accuracy.
    pub mean_accuracy: f64,
}

/// One statistic's correlation with learning order.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Correlation {
    /// Group name.
    pub group_name: String,
    /// Split.
    pub split: String,
    /// Statistic.
    pub statistic: String,
    /// Spearman ρ.
    pub rho: f64,
    /// 95% CI low.
    pub ci_low: Option<f64>,
    /// 95% CI high.
    pub ci_high: Option<f64>,
    /// Samples.
    pub n: i64,
}

/// Key numbers of a study.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StudySummary {
    /// Final-epoch agreement per group and split.
    pub agreement: Vec<FinalAgreement>,
    /// The strongest correlations (same-architecture groups), by |ρ|.
    pub correlations: Vec<Correlation>,
    /// The report page, if written.
    pub report: Option<String>,
}

fn load(path: &Path) -> Result<RecordBatch, PipelineError> {
    let io = |message: String| PipelineError::Io {
        path: path.to_path_buf(),
        message,
    };
    let (schema, batches) = read_table(path).map_err(|e| io(e.to_string()))?;
    concat_batches(&schema, &batches).map_err(|e| io(e.to_string()))
}

fn text(b: &RecordBatch, col: &str, row: usize) -> String {
    b.column_by_name(col)
        .and_then(|c| arrow::compute::cast(c, &DataType::Utf8).ok())
        .map(|c| c.as_string::<i32>().value(row).to_string())
        .unwrap_or_default()
}

fn float(b: &RecordBatch, col: &str, row: usize) -> Option<f64> {
    let c = arrow::compute::cast(b.column_by_name(col)?, &DataType::Float64).ok()?;
    let c = c.as_primitive::<Float64Type>();
    (!c.is_null(row)).then(|| c.value(row))
}

fn int(b: &RecordBatch, col: &str, row: usize) -> i64 {
    b.column_by_name(col)
        .and_then(|c| arrow::compute::cast(c, &DataType::Int64).ok())
        .map(|c| c.as_primitive::<Int64Type>().value(row))
        .unwrap_or(0)
}

/// Reads the summary from an experiment directory's `results/`.
pub fn summarise(dir: &Path) -> Result<StudySummary, PipelineError> {
    let exp = ExperimentDir::new(dir);
    let a = load(&exp.table("agreement"))?;
    let mut last: std::collections::BTreeMap<(String, String, String), usize> = Default::default();
    for row in 0..a.num_rows() {
        let key = (
            text(&a, "group_kind", row),
            text(&a, "group_name", row),
            text(&a, "split", row),
        );
        let keep = match last.get(&key) {
            Some(&r) => int(&a, "epoch", row) > int(&a, "epoch", r),
            None => true,
        };
        if keep {
            last.insert(key, row);
        }
    }
    let agreement = last
        .into_iter()
        .map(|((group_kind, group_name, split), row)| FinalAgreement {
            group_kind,
            group_name,
            split,
            epoch: int(&a, "epoch", row),
            n_networks: int(&a, "n_networks", row),
            agreement: float(&a, "agreement", row).unwrap_or(f64::NAN),
            lower_bound: float(&a, "lower_bound", row).unwrap_or(f64::NAN),
            independent: float(&a, "independent", row).unwrap_or(f64::NAN),
            mean_accuracy: float(&a, "mean_accuracy", row).unwrap_or(f64::NAN),
        })
        .collect();
    let mut correlations = Vec::new();
    if let Ok(c) = load(&exp.table("statistic_correlation")) {
        for row in 0..c.num_rows() {
            if text(&c, "group_kind", row) != "same_arch" {
                continue;
            }
            if let Some(rho) = float(&c, "spearman_rho", row) {
                correlations.push(Correlation {
                    group_name: text(&c, "group_name", row),
                    split: text(&c, "split", row),
                    statistic: text(&c, "statistic", row),
                    rho,
                    ci_low: float(&c, "spearman_ci_low", row),
                    ci_high: float(&c, "spearman_ci_high", row),
                    n: int(&c, "n", row),
                });
            }
        }
        correlations.sort_by(|x, y| y.rho.abs().total_cmp(&x.rho.abs()));
        correlations.truncate(8);
    }
    let report = exp.report_dir().join("index.html");
    Ok(StudySummary {
        agreement,
        correlations,
        report: report.exists().then(|| report.display().to_string()),
    })
}

impl StudySummary {
    /// The one-screen text form.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("agreement at the last epoch (fractions)\n");
        out.push_str(&format!(
            "  {:<10} {:<12} {:<6} {:>5} {:>4} {:>9} {:>11} {:>11} {:>9}\n",
            "group", "name", "split", "epoch", "n", "agreement", "lower_bound", "independent", "accuracy"
        ));
        for g in &self.agreement {
            out.push_str(&format!(
                "  {:<10} {:<12} {:<6} {:>5} {:>4} {:>9.4} {:>11.4} {:>11.4} {:>9.4}\n",
                g.group_kind,
                g.group_name,
                g.split,
                g.epoch,
                g.n_networks,
                g.agreement,
                g.lower_bound,
                g.independent,
                g.mean_accuracy
            ));
        }
        if !self.correlations.is_empty() {
            out.push_str("strongest Spearman correlations of learned_epoch with a statistic (95% bootstrap CI)\n");
            for c in &self.correlations {
                let ci = match (c.ci_low, c.ci_high) {
                    (Some(l), Some(h)) => format!("[{l:+.3}, {h:+.3}]"),
                    _ => "[n/a]".into(),
                };
                out.push_str(&format!(
                    "  {:<12} {:<6} {:<34} rho {:+.3} {ci}  n={}\n",
                    c.group_name, c.split, c.statistic, c.rho, c.n
                ));
            }
        }
        if let Some(r) = &self.report {
            out.push_str(&format!("report: {r}\n"));
        }
        out
    }
}
