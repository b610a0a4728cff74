//! The experiment directory's tables as plain rows: the thin file layer of the report.
//!
//! Every table is checked against its contract in `schemas/` before use, so a
//! malformed file fails here with its path rather than as a wrong figure later.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use agree_schema::{CheckedTable, ExperimentDir, Manifest, Table};
use arrow::{
    array::{Array, ArrayRef, AsArray},
    datatypes::{DataType, Float64Type, Int64Type},
};

use crate::{
    error::Error,
    shaping::{DataMapCollector, DataMapSplit},
};

/// One group of networks on one split: the unit every agreement figure is drawn for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Group {
    /// `same_arch` or `cross_arch`.
    pub kind: String,
    /// Architecture or `s<index>`.
    pub name: String,
    /// `train` or `test`.
    pub split: String,
}

impl Group {
    /// Human-readable label, e.g. `lenet5 (same arch), train`.
    pub fn label(&self) -> String {
        format!("{}, {}", self.networks(), self.split)
    }

    /// The networks without the split, e.g. `lenet5 (same arch)`.
    pub fn networks(&self) -> String {
        format!("{} ({})", self.name, self.kind.replace('_', " "))
    }
}

/// A row of `results/agreement.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct AgreementRow {
    /// The group and split.
    pub group: Group,
    /// Epoch number.
    pub epoch: i32,
    /// Networks in the group.
    pub n_networks: i32,
    /// Samples evaluated.
    pub n_samples: i64,
    /// |all correct| / |some correct|.
    pub agreement: f64,
    /// |all correct| / |X|.
    pub tpa: f64,
    /// 1 − min(Σ(1 − acc_i), 1).
    pub lower_bound: f64,
    /// Π acc_i.
    pub independent: f64,
    /// Mean accuracy of the networks.
    pub mean_accuracy: f64,
    /// Population std of the accuracies.
    pub std_accuracy: f64,
}

/// A row of `results/agreement_by_statistic.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatisticSubsetRow {
    /// The group and split.
    pub group: Group,
    /// Epoch number.
    pub epoch: i32,
    /// Statistic name.
    pub statistic: String,
    /// `agreed` or `rest`.
    pub subset: String,
    /// Mean of the statistic over the subset.
    pub mean: Option<f64>,
}

/// A row of `results/agreement_by_quantile.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileRow {
    /// The group and split.
    pub group: Group,
    /// Epoch number.
    pub epoch: i32,
    /// Statistic name.
    pub statistic: String,
    /// Quantile bin, ascending in the statistic.
    pub bin: i32,
    /// Smallest value in the bin.
    pub bin_low: f64,
    /// Largest value in the bin.
    pub bin_high: f64,
    /// Agreement within the bin.
    pub agreement: f64,
}

/// A row of `results/learning_order.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct LearningOrderRow {
    /// The group and split.
    pub group: Group,
    /// Sample id.
    pub sample_id: i64,
    /// First epoch from which all networks stay correct; `None` if never.
    pub learned_epoch: Option<i32>,
    /// Mean probability given to the label.
    pub confidence: Option<f64>,
}

/// A row of `results/statistic_correlation.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationRow {
    /// The group and split.
    pub group: Group,
    /// Statistic name.
    pub statistic: String,
    /// Samples with a value.
    pub n: i64,
    /// Spearman ρ between learned_epoch and the statistic.
    pub spearman_rho: Option<f64>,
    /// Bootstrap 95% CI, lower end.
    pub spearman_ci_low: Option<f64>,
    /// Bootstrap 95% CI, upper end.
    pub spearman_ci_high: Option<f64>,
    /// Kendall τ-b.
    pub kendall_tau: Option<f64>,
}

/// A row of `results/score_correlation.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreCorrelationRow {
    /// The group and split.
    pub group: Group,
    /// The per-sample score (`learned_epoch`, `aum`, …).
    pub score: String,
    /// `statistic` or `score`: what [`ScoreCorrelationRow::versus`] names.
    pub versus_kind: String,
    /// The statistic's name or the other score's.
    pub versus: String,
    /// Samples where both sides have a value.
    pub n: i64,
    /// Spearman ρ.
    pub spearman_rho: Option<f64>,
    /// Bootstrap 95% CI, lower end.
    pub spearman_ci_low: Option<f64>,
    /// Bootstrap 95% CI, upper end.
    pub spearman_ci_high: Option<f64>,
}

/// Per-sample numeric statistics (from `stats` and `attributes`), column by column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampleStatistics {
    /// Statistic name (`<table>.<column>`, as in the result tables) and its value per sample id.
    pub columns: Vec<(String, BTreeMap<i64, f64>)>,
}

impl SampleStatistics {
    /// The values of one statistic by sample id.
    pub fn column(&self, name: &str) -> Option<&BTreeMap<i64, f64>> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// A sample's stored image, as read from `samples.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleImage {
    /// Sample id.
    pub sample_id: i64,
    /// Class name.
    pub class_name: String,
    /// Encoding: `jpeg`, `png`, … or `rgb8`.
    pub format: String,
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// The stored bytes.
    pub bytes: Vec<u8>,
}

/// What `samples.parquet` tells the report: counts and the few images it shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampleCatalog {
    /// Samples per split and class name.
    pub counts: BTreeMap<String, BTreeMap<String, u64>>,
    /// The requested images, by sample id.
    pub images: BTreeMap<i64, SampleImage>,
}

/// One network's last epoch from `epochs`.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkFinal {
    /// Run id `<arch>-s<network>`.
    pub run_id: String,
    /// Last epoch recorded.
    pub epoch: i32,
    /// Training accuracy in that epoch.
    pub train_accuracy: f64,
    /// Test accuracy after that epoch.
    pub test_accuracy: Option<f64>,
    /// Training wall time summed over the epochs.
    pub wall_s: f64,
}

/// Reads `path` as `table`, checked against its contract (a file that is not
/// Parquet is [`Error::Table`], whose message names the file once).
fn read(path: &Path, table: Table) -> Result<CheckedTable, Error> {
    let (schema, batches) = agree_schema::read_table(path)?;
    Ok(CheckedTable::from_batches(path, table.contract(), schema, batches)?)
}

/// The group (kind, name, split) of every row.
fn groups(t: &CheckedTable) -> Result<Vec<Group>, Error> {
    let kind = t.req_strings("group_kind")?;
    let name = t.req_strings("group_name")?;
    let split = t.req_strings("split")?;
    Ok(kind
        .into_iter()
        .zip(name)
        .zip(split)
        .map(|((kind, name), split)| Group { kind, name, split })
        .collect())
}

/// Column `name` as 32-bit integers (nulls as `None`); a value out of range names its row.
fn opt_i32s(t: &CheckedTable, name: &str) -> Result<Vec<Option<i32>>, Error> {
    t.i64s(name)?
        .into_iter()
        .enumerate()
        .map(|(row, v)| {
            v.map(|e| {
                i32::try_from(e).map_err(|_| t.error(format!("column `{name}`: {e} in row {row} is out of range")))
            })
            .transpose()
        })
        .collect::<Result<_, _>>()
        .map_err(Error::from)
}

/// Column `name` as 32-bit integers, none null.
fn i32s(t: &CheckedTable, name: &str) -> Result<Vec<i32>, Error> {
    Ok(t.required(name, opt_i32s(t, name)?)?)
}

/// Refuses result tables written by different analyses: every table in
/// `results/` must carry the same analysis id (Parquet key-value metadata
/// [`agree_schema::ANALYSIS_ID_KEY`]). Tables with no id at all (written by hand
/// or by an older agree) are accepted only when none has one.
pub fn check_one_analysis(dir: &ExperimentDir) -> Result<(), Error> {
    let results = dir.results_dir();
    let Ok(entries) = std::fs::read_dir(&results) else {
        return Ok(());
    };
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(table) = name.strip_suffix(".parquet").filter(|t| !t.starts_with('.')) else {
            continue;
        };
        let id = agree_schema::read_key_value(&path, agree_schema::ANALYSIS_ID_KEY)?;
        by_id
            .entry(id.unwrap_or_else(|| "none".into()))
            .or_default()
            .push(table.to_string());
    }
    if by_id.len() <= 1 {
        return Ok(());
    }
    let tables = by_id
        .iter_mut()
        .map(|(id, tables)| {
            tables.sort();
            format!("{} from analysis {id}", tables.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(Error::MixedResults { dir: results, tables })
}

/// Reads `results/agreement.parquet`; it is required.
pub fn read_agreement(dir: &ExperimentDir) -> Result<Vec<AgreementRow>, Error> {
    let path = dir.table(Table::Agreement);
    if !path.exists() {
        return Err(Error::MissingTable {
            table: Table::Agreement.name().into(),
            path,
        });
    }
    let t = read(&path, Table::Agreement)?;
    let groups = groups(&t)?;
    let epoch = i32s(&t, "epoch")?;
    let n_networks = i32s(&t, "n_networks")?;
    let n_samples = t.req_i64s("n_samples")?;
    let agreement = t.req_f64s("agreement")?;
    let tpa = t.req_f64s("tpa")?;
    let lower_bound = t.req_f64s("lower_bound")?;
    let independent = t.req_f64s("independent")?;
    let mean_accuracy = t.req_f64s("mean_accuracy")?;
    let std_accuracy = t.req_f64s("std_accuracy")?;
    let rows: Vec<AgreementRow> = groups
        .into_iter()
        .enumerate()
        .map(|(i, group)| AgreementRow {
            group,
            epoch: epoch[i],
            n_networks: n_networks[i],
            n_samples: n_samples[i],
            agreement: agreement[i],
            tpa: tpa[i],
            lower_bound: lower_bound[i],
            independent: independent[i],
            mean_accuracy: mean_accuracy[i],
            std_accuracy: std_accuracy[i],
        })
        .collect();
    if rows.is_empty() {
        return Err(t.error("the table has no rows: nothing to report").into());
    }
    Ok(rows)
}

/// Reads an optional table, or `None` when it is absent.
/// Reads `table` of `dir` if present, from every file that holds it (one per network
/// or shard, or one file) as one table.
fn read_optional(dir: &ExperimentDir, table: Table) -> Result<Option<CheckedTable>, Error> {
    Ok(CheckedTable::read_in(dir, table)?)
}

/// Reads `results/agreement_by_statistic.parquet` if present.
pub fn read_agreement_by_statistic(dir: &ExperimentDir) -> Result<Option<Vec<StatisticSubsetRow>>, Error> {
    let Some(t) = read_optional(dir, Table::AgreementByStatistic)? else {
        return Ok(None);
    };
    let groups = groups(&t)?;
    let epoch = i32s(&t, "epoch")?;
    let statistic = t.req_strings("statistic")?;
    let subset = t.req_strings("subset")?;
    let mean = t.f64s("mean")?;
    Ok(Some(
        groups
            .into_iter()
            .zip(epoch)
            .zip(statistic)
            .zip(subset)
            .zip(mean)
            .map(|((((group, epoch), statistic), subset), mean)| StatisticSubsetRow {
                group,
                epoch,
                statistic,
                subset,
                mean,
            })
            .collect(),
    ))
}

/// Reads `results/agreement_by_quantile.parquet` if present.
pub fn read_agreement_by_quantile(dir: &ExperimentDir) -> Result<Option<Vec<QuantileRow>>, Error> {
    let Some(t) = read_optional(dir, Table::AgreementByQuantile)? else {
        return Ok(None);
    };
    let groups = groups(&t)?;
    let epoch = i32s(&t, "epoch")?;
    let statistic = t.req_strings("statistic")?;
    let bin = i32s(&t, "bin")?;
    let bin_low = t.req_f64s("bin_low")?;
    let bin_high = t.req_f64s("bin_high")?;
    let agreement = t.req_f64s("agreement")?;
    Ok(Some(
        groups
            .into_iter()
            .enumerate()
            .map(|(i, group)| QuantileRow {
                group,
                epoch: epoch[i],
                statistic: statistic[i].clone(),
                bin: bin[i],
                bin_low: bin_low[i],
                bin_high: bin_high[i],
                agreement: agreement[i],
            })
            .collect(),
    ))
}

/// Reads `results/learning_order.parquet` if present.
pub fn read_learning_order(dir: &ExperimentDir) -> Result<Option<Vec<LearningOrderRow>>, Error> {
    let Some(t) = read_optional(dir, Table::LearningOrder)? else {
        return Ok(None);
    };
    let groups = groups(&t)?;
    let sample_id = t.req_i64s("sample_id")?;
    let learned = opt_i32s(&t, "learned_epoch")?;
    let confidence = t.f64s("confidence")?;
    Ok(Some(
        groups
            .into_iter()
            .enumerate()
            .map(|(i, group)| LearningOrderRow {
                group,
                sample_id: sample_id[i],
                learned_epoch: learned[i],
                confidence: confidence[i],
            })
            .collect(),
    ))
}

/// Reads `results/statistic_correlation.parquet` if present.
pub fn read_statistic_correlation(dir: &ExperimentDir) -> Result<Option<Vec<CorrelationRow>>, Error> {
    let Some(t) = read_optional(dir, Table::StatisticCorrelation)? else {
        return Ok(None);
    };
    let groups = groups(&t)?;
    let statistic = t.req_strings("statistic")?;
    let n = t.req_i64s("n")?;
    let rho = t.f64s("spearman_rho")?;
    let lo = t.f64s("spearman_ci_low")?;
    let hi = t.f64s("spearman_ci_high")?;
    let tau = t.f64s("kendall_tau")?;
    Ok(Some(
        groups
            .into_iter()
            .enumerate()
            .map(|(i, group)| CorrelationRow {
                group,
                statistic: statistic[i].clone(),
                n: n[i],
                spearman_rho: rho[i],
                spearman_ci_low: lo[i],
                spearman_ci_high: hi[i],
                kendall_tau: tau[i],
            })
            .collect(),
    ))
}

/// Reads `results/score_correlation.parquet` if present (absent: an analysis from
/// before the per-sample scores).
pub fn read_score_correlation(dir: &ExperimentDir) -> Result<Option<Vec<ScoreCorrelationRow>>, Error> {
    let Some(t) = read_optional(dir, Table::ScoreCorrelation)? else {
        return Ok(None);
    };
    let groups = groups(&t)?;
    let score = t.req_strings("score")?;
    let versus_kind = t.req_strings("versus_kind")?;
    let versus = t.req_strings("versus")?;
    let n = t.req_i64s("n")?;
    let rho = t.f64s("spearman_rho")?;
    let lo = t.f64s("spearman_ci_low")?;
    let hi = t.f64s("spearman_ci_high")?;
    Ok(Some(
        groups
            .into_iter()
            .enumerate()
            .map(|(i, group)| ScoreCorrelationRow {
                group,
                score: score[i].clone(),
                versus_kind: versus_kind[i].clone(),
                versus: versus[i].clone(),
                n: n[i],
                spearman_rho: rho[i],
                spearman_ci_low: lo[i],
                spearman_ci_high: hi[i],
            })
            .collect(),
    ))
}

/// Reads the data map of `focus`'s group (its kind and name, every split) from
/// `results/sample_dynamics.parquet` if present: per split, every sample counted by
/// region and at most `cap` of them kept to draw (see [`DataMapCollector`]).
///
/// The table holds a row per group, split and sample (millions for ImageNet), so it
/// is read batch by batch and only the focus group's rows are kept.
pub fn read_data_map(dir: &ExperimentDir, focus: &Group, cap: usize) -> Result<Option<Vec<DataMapSplit>>, Error> {
    let Some(t) = read_optional(dir, Table::SampleDynamics)? else {
        return Ok(None);
    };
    let utf8 = |name: &str| t.column(name, &DataType::Utf8);
    let float = |name: &str| t.column(name, &DataType::Float64);
    let (kind, name, split, region) = (
        utf8("group_kind")?,
        utf8("group_name")?,
        utf8("split")?,
        utf8("data_map_region")?,
    );
    let ids = t.column("sample_id", &DataType::Int64)?;
    let (correctness, confidence, variability) = (float("correctness")?, float("confidence")?, float("variability")?);
    let mut collector = DataMapCollector::default();
    let mut first_row = 0;
    for b in 0..kind.len() {
        let column = |c: &[ArrayRef]| {
            c.get(b)
                .cloned()
                .ok_or_else(|| t.error("a column has fewer batches than the others"))
        };
        let (kind, name, split, region) = (column(&kind)?, column(&name)?, column(&split)?, column(&region)?);
        let (kind, name, split, region) = (
            kind.as_string::<i32>(),
            name.as_string::<i32>(),
            split.as_string::<i32>(),
            region.as_string::<i32>(),
        );
        let ids = column(&ids)?;
        let ids = ids.as_primitive::<Int64Type>();
        let (correctness, confidence, variability) =
            (column(&correctness)?, column(&confidence)?, column(&variability)?);
        let (correctness, confidence, variability) = (
            correctness.as_primitive::<Float64Type>(),
            confidence.as_primitive::<Float64Type>(),
            variability.as_primitive::<Float64Type>(),
        );
        for i in 0..kind.len() {
            let row = first_row + i;
            let null = |column: &str| t.error(format!("column `{column}` is null in row {row}"));
            if kind.is_null(i) || name.is_null(i) {
                return Err(null(if kind.is_null(i) { "group_kind" } else { "group_name" }).into());
            }
            if kind.value(i) != focus.kind || name.value(i) != focus.name {
                continue;
            }
            for (column, is_null) in [
                ("split", split.is_null(i)),
                ("data_map_region", region.is_null(i)),
                ("sample_id", ids.is_null(i)),
                ("correctness", correctness.is_null(i)),
            ] {
                if is_null {
                    return Err(null(column).into());
                }
            }
            let optional = |a: &arrow::array::Float64Array| a.is_valid(i).then(|| a.value(i));
            collector.add(
                split.value(i),
                region.value(i),
                ids.value(i),
                correctness.value(i),
                optional(confidence),
                optional(variability),
            );
        }
        first_row += kind.len();
    }
    Ok(Some(collector.finish(cap)))
}

/// The tables per-sample statistics come from, as (name in statistic names, table,
/// file; `None` for `stats` and `attributes`, read through their layout): `stats`,
/// `attributes` and each `scores/<name>.parquet`, those present.
fn statistic_sources(dir: &ExperimentDir) -> Result<Vec<(String, Table, Option<PathBuf>)>, Error> {
    let mut sources: Vec<(String, Table, Option<PathBuf>)> = Vec::new();
    for t in [Table::Stats, Table::Attributes] {
        let files = agree_schema::table_files(dir, t).map_err(|e| agree_schema::TableReadError {
            path: e.path,
            problem: e.problem,
        })?;
        if !files.is_empty() {
            sources.push((t.to_string(), t, None));
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir.scores_dir()) {
        let mut scores: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        scores.sort();
        for p in scores {
            if let Some(stem) = p.file_stem().map(|s| s.to_string_lossy().into_owned()) {
                sources.push((stem, Table::Scores, Some(p)));
            }
        }
    }
    Ok(sources)
}

/// Reads every numeric column of `stats.parquet`, `attributes.parquet` and each
/// `scores/<name>.parquet` (those present) as per-sample statistics named
/// `<table>.<column>`, as the analysis names them (SPEC §3: no hard-coded list).
pub fn read_sample_statistics(dir: &ExperimentDir) -> Result<Option<SampleStatistics>, Error> {
    let sources = statistic_sources(dir)?;
    if sources.is_empty() {
        return Ok(None);
    }
    let mut out = SampleStatistics::default();
    for (name, table, path) in sources {
        let t = match path {
            Some(path) => read(&path, table)?,
            None => match read_optional(dir, table)? {
                Some(t) => t,
                None => continue,
            },
        };
        let ids = t.req_i64s("sample_id")?;
        if t.batches().is_empty() {
            continue;
        }
        for field in t.schema().fields() {
            if field.name() == "sample_id" || !field.data_type().is_numeric() {
                continue;
            }
            let values = t.f64s(field.name())?;
            let column: BTreeMap<i64, f64> = ids
                .iter()
                .zip(values)
                .filter_map(|(&id, v)| v.filter(|v| v.is_finite()).map(|v| (id, v)))
                .collect();
            out.columns.push((format!("{name}.{}", field.name()), column));
        }
    }
    Ok(Some(out))
}

/// Reads `samples.parquet` if present: counts per split and class, and the images of `wanted`.
pub fn read_samples(dir: &ExperimentDir, wanted: &BTreeSet<i64>) -> Result<Option<SampleCatalog>, Error> {
    let Some(t) = read_optional(dir, Table::Samples)? else {
        return Ok(None);
    };
    let mut catalog = SampleCatalog::default();
    let ids = t.req_i64s("sample_id")?;
    let split = t.req_strings("split")?;
    let class = t.req_strings("class_name")?;
    for (s, c) in split.iter().zip(&class) {
        *catalog
            .counts
            .entry(s.clone())
            .or_default()
            .entry(c.clone())
            .or_default() += 1;
    }
    if !ids.iter().any(|id| wanted.contains(id)) {
        return Ok(Some(catalog));
    }
    let format = t.req_strings("format")?;
    let width = i32s(&t, "width")?;
    let height = i32s(&t, "height")?;
    // Only the few wanted images' bytes are copied out, batch by batch.
    let mut row = 0;
    for image in t.column("image", &DataType::Binary)? {
        let image = image.as_binary::<i32>();
        for i in 0..image.len() {
            let id = ids[row];
            if wanted.contains(&id) && !image.is_null(i) {
                catalog.images.insert(
                    id,
                    SampleImage {
                        sample_id: id,
                        class_name: class[row].clone(),
                        format: format[row].clone(),
                        width: width[row],
                        height: height[row],
                        bytes: image.value(i).to_vec(),
                    },
                );
            }
            row += 1;
        }
    }
    Ok(Some(catalog))
}

/// Reads `epochs` if present (every network's file, or an older directory's
/// `epochs.parquet`): each network's last epoch and total wall time.
pub fn read_network_finals(dir: &ExperimentDir) -> Result<Option<Vec<NetworkFinal>>, Error> {
    let Some(t) = read_optional(dir, Table::Epochs)? else {
        return Ok(None);
    };
    let run = t.req_strings("run_id")?;
    let epoch = i32s(&t, "epoch")?;
    let train = t.req_f64s("train_accuracy")?;
    let test = if t.has("test_accuracy") {
        t.f64s("test_accuracy")?
    } else {
        vec![None; run.len()]
    };
    let wall = t.req_f64s("wall_s")?;
    let mut finals: BTreeMap<String, NetworkFinal> = BTreeMap::new();
    for i in 0..run.len() {
        let entry = finals.entry(run[i].clone()).or_insert_with(|| NetworkFinal {
            run_id: run[i].clone(),
            epoch: i32::MIN,
            train_accuracy: 0.0,
            test_accuracy: None,
            wall_s: 0.0,
        });
        entry.wall_s += wall[i];
        if epoch[i] > entry.epoch {
            entry.epoch = epoch[i];
            entry.train_accuracy = train[i];
            entry.test_accuracy = test[i];
        }
    }
    Ok(Some(finals.into_values().collect()))
}

/// Reads `manifest.json` if present; a malformed manifest is an error naming it.
pub fn read_manifest(dir: &ExperimentDir) -> Result<Option<Manifest>, Error> {
    Ok(Manifest::read_in(dir)?)
}

#[cfg(test)]
mod analysis_id_tests {
    use agree_schema::{ANALYSIS_ID_KEY, Table, TableWriter};

    use super::*;

    fn write(dir: &ExperimentDir, table: Table, id: Option<&str>) {
        let c = table.contract();
        let metadata: Vec<(&str, &str)> = id.map(|id| (ANALYSIS_ID_KEY, id)).into_iter().collect();
        TableWriter::create_with_metadata(dir.table(table), c, c.schema(), &metadata)
            .unwrap()
            .finish()
            .unwrap();
    }

    #[test]
    fn tables_of_different_analyses_are_refused_naming_them() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ExperimentDir::new(tmp.path());
        write(&dir, Table::Agreement, Some("aaaa"));
        write(&dir, Table::LearningOrder, Some("aaaa"));
        check_one_analysis(&dir).unwrap();
        write(&dir, Table::AgreementByQuantile, Some("bbbb"));
        let err = check_one_analysis(&dir).unwrap_err().to_string();
        assert!(
            err.contains("agreement, learning_order from analysis aaaa")
                && err.contains("agreement_by_quantile from analysis bbbb"),
            "{err}"
        );
        let err = crate::report::load(&dir).err().unwrap().to_string();
        assert!(err.contains("different analyses"), "{err}");
        // A table without an id among tables with one is a mix too.
        write(&dir, Table::AgreementByQuantile, None);
        assert!(
            check_one_analysis(&dir)
                .unwrap_err()
                .to_string()
                .contains("from analysis none")
        );
    }

    #[test]
    fn tables_without_ids_are_read_as_before() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ExperimentDir::new(tmp.path());
        write(&dir, Table::Agreement, None);
        write(&dir, Table::LearningOrder, None);
        check_one_analysis(&dir).unwrap();
    }
}
