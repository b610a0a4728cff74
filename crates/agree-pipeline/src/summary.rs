//! The one-screen summary of a study: agreement against its bounds at the last epoch,
//! and the statistics whose rank correlation with learning order is strongest.

use std::{collections::BTreeMap, path::Path};

use agree_schema::{CheckedTable, ExperimentDir, Table};
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

/// Key numbers of a study, read from its `results/` tables (what `agree pipeline`
/// prints at the end; not agree-train's `StudySummary`, what one `agree train` study did).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResultsSummary {
    /// Final-epoch agreement per group and split.
    pub agreement: Vec<FinalAgreement>,
    /// The strongest correlations (same-architecture groups), by |ρ|; `None` when
    /// `results/statistic_correlation.parquet` does not exist.
    pub correlations: Option<Vec<Correlation>>,
    /// The report page, if written.
    pub report: Option<String>,
}

/// Reads `results/<table>.parquet`, checked against its contract; `None` when the
/// file does not exist. Every error names the table's file, and the column (and
/// row) at fault.
fn read_result(exp: &ExperimentDir, table: Table) -> Result<Option<CheckedTable>, PipelineError> {
    Ok(CheckedTable::read_if_exists(&exp.table(table), table)?)
}

/// Reads the summary from an experiment directory's `results/`; `None` when there
/// are no results (the pipeline has no `[analyze]` stage).
pub fn summarise(dir: &Path) -> Result<Option<ResultsSummary>, PipelineError> {
    let exp = ExperimentDir::new(dir);
    let Some(agreement) = read_result(&exp, Table::Agreement)? else {
        return Ok(None);
    };
    let correlations = match read_result(&exp, Table::StatisticCorrelation)? {
        Some(table) => Some(strongest_correlations(&table)?),
        None => None,
    };
    let report = exp.report_dir().join("index.html");
    Ok(Some(ResultsSummary {
        agreement: final_agreement(&agreement)?,
        correlations,
        report: report.exists().then(|| report.display().to_string()),
    }))
}

/// The (group_kind, group_name, split) columns of a result table, none null.
type GroupColumns = (Vec<String>, Vec<String>, Vec<String>);

/// The group and split of every row of a result table.
fn group_columns(t: &CheckedTable) -> Result<GroupColumns, PipelineError> {
    Ok((
        t.req_strings("group_kind")?,
        t.req_strings("group_name")?,
        t.req_strings("split")?,
    ))
}

/// Each group's and split's row at its last epoch, ordered by group and split.
fn final_agreement(a: &CheckedTable) -> Result<Vec<FinalAgreement>, PipelineError> {
    let (kind, name, split) = group_columns(a)?;
    let epoch = a.req_i64s("epoch")?;
    let mut last: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for row in 0..a.rows() {
        let at = last.entry((&kind[row], &name[row], &split[row])).or_insert(row);
        if epoch[row] > epoch[*at] {
            *at = row;
        }
    }
    let n_networks = a.req_i64s("n_networks")?;
    let agreement = a.req_f64s("agreement")?;
    let lower_bound = a.req_f64s("lower_bound")?;
    let independent = a.req_f64s("independent")?;
    let mean_accuracy = a.req_f64s("mean_accuracy")?;
    Ok(last
        .into_iter()
        .map(|((group_kind, group_name, split), row)| FinalAgreement {
            group_kind: group_kind.to_string(),
            group_name: group_name.to_string(),
            split: split.to_string(),
            epoch: epoch[row],
            n_networks: n_networks[row],
            agreement: agreement[row],
            lower_bound: lower_bound[row],
            independent: independent[row],
            mean_accuracy: mean_accuracy[row],
        })
        .collect())
}

/// The strongest correlations of same-architecture groups, by |ρ| (rows without a ρ
/// left out).
fn strongest_correlations(c: &CheckedTable) -> Result<Vec<Correlation>, PipelineError> {
    let (kind, name, split) = group_columns(c)?;
    let statistic = c.req_strings("statistic")?;
    let n = c.req_i64s("n")?;
    let rho = c.f64s("spearman_rho")?;
    let ci_low = c.f64s("spearman_ci_low")?;
    let ci_high = c.f64s("spearman_ci_high")?;
    let mut out: Vec<Correlation> = (0..c.rows())
        .filter(|&row| kind[row] == "same_arch")
        .filter_map(|row| {
            Some(Correlation {
                group_name: name[row].clone(),
                split: split[row].clone(),
                statistic: statistic[row].clone(),
                rho: rho[row]?,
                ci_low: ci_low[row],
                ci_high: ci_high[row],
                n: n[row],
            })
        })
        .collect();
    out.sort_by(|x, y| y.rho.abs().total_cmp(&x.rho.abs()));
    out.truncate(8);
    Ok(out)
}

impl ResultsSummary {
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
        if self.correlations.is_none() {
            out.push_str("statistic correlations: not available (no results/statistic_correlation.parquet)\n");
        }
        if let Some(correlations) = self.correlations.as_ref().filter(|c| !c.is_empty()) {
            out.push_str("strongest Spearman correlations of learned_epoch with a statistic (95% bootstrap CI)\n");
            for c in correlations {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::{
        array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray},
        datatypes::{DataType, Field, Schema},
    };

    use super::*;

    /// Writes `results/<table>.parquet` with `rows` rows: the contract's columns (less
    /// `without`), each from `given` or else a constant.
    fn write(dir: &Path, table: Table, rows: usize, given: &[(&str, ArrayRef)], without: &str) {
        let mut fields = Vec::new();
        let mut columns = Vec::new();
        for c in table.contract().columns.iter().filter(|c| c.name != without) {
            let column: ArrayRef = match given.iter().find(|(name, _)| *name == c.name) {
                Some((_, a)) => a.clone(),
                None => match c.data_type {
                    DataType::Utf8 => Arc::new(StringArray::from(vec!["x"; rows])),
                    DataType::Int32 => Arc::new(Int32Array::from(vec![3; rows])),
                    DataType::Int64 => Arc::new(Int64Array::from(vec![3; rows])),
                    DataType::Float64 => Arc::new(Float64Array::from(vec![0.5; rows])),
                    ref other => panic!("no constant for {other}"),
                },
            };
            fields.push(Field::new(&c.name, column.data_type().clone(), c.nullable));
            columns.push(column);
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let path = ExperimentDir::new(dir).table(table);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    fn strings(v: &[&str]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }

    fn agreement(dir: &Path, without: &str) {
        write(
            dir,
            Table::Agreement,
            3,
            &[
                ("group_kind", strings(&["same_arch"; 3])),
                ("group_name", strings(&["lenet5"; 3])),
                ("split", strings(&["test"; 3])),
                ("epoch", Arc::new(Int32Array::from(vec![1, 3, 2]))),
                ("agreement", Arc::new(Float64Array::from(vec![0.1, 0.3, 0.2]))),
            ],
            without,
        );
    }

    #[test]
    fn the_last_epoch_of_each_group_is_summarised() {
        let tmp = tempfile::tempdir().unwrap();
        agreement(tmp.path(), "");
        let s = summarise(tmp.path()).unwrap().unwrap();
        assert_eq!(s.agreement.len(), 1);
        let g = &s.agreement[0];
        assert_eq!((g.epoch, g.agreement, g.n_networks, g.lower_bound), (3, 0.3, 3, 0.5));
        assert_eq!(s.correlations, None);
        assert!(
            s.render().contains("statistic correlations: not available"),
            "{}",
            s.render()
        );
    }

    #[test]
    fn no_results_is_no_summary() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(summarise(tmp.path()).unwrap(), None);
    }

    #[test]
    fn a_missing_column_is_an_error_naming_the_table_and_column() {
        let tmp = tempfile::tempdir().unwrap();
        agreement(tmp.path(), "lower_bound");
        let e = summarise(tmp.path()).unwrap_err().to_string();
        assert!(
            e.contains("results/agreement.parquet") && e.contains("`lower_bound`") && e.contains("missing"),
            "{e}"
        );
        agreement(tmp.path(), "");
        write(tmp.path(), Table::StatisticCorrelation, 1, &[], "n");
        let e = summarise(tmp.path()).unwrap_err().to_string();
        assert!(
            e.contains("results/statistic_correlation.parquet") && e.contains("`n`"),
            "{e}"
        );
    }

    #[test]
    fn correlations_are_the_strongest_same_architecture_ones() {
        let tmp = tempfile::tempdir().unwrap();
        agreement(tmp.path(), "");
        write(
            tmp.path(),
            Table::StatisticCorrelation,
            4,
            &[
                (
                    "group_kind",
                    strings(&["same_arch", "cross_arch", "same_arch", "same_arch"]),
                ),
                ("statistic", strings(&["weak", "cross", "strong", "undefined"])),
                (
                    "spearman_rho",
                    Arc::new(Float64Array::from(vec![Some(0.1), Some(0.9), Some(-0.6), None])),
                ),
            ],
            "",
        );
        let s = summarise(tmp.path()).unwrap().unwrap();
        let names: Vec<(&str, f64)> = s
            .correlations
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| (c.statistic.as_str(), c.rho))
            .collect();
        assert_eq!(names, [("strong", -0.6), ("weak", 0.1)]);
        assert!(!s.render().contains("not available"));
    }
}
