//! Turning result rows into the series the figures draw: pure functions on in-memory
//! rows, so every figure's numbers are unit-tested without drawing anything.

use std::collections::{BTreeMap, BTreeSet};

use crate::tables::{
    AgreementRow, CorrelationRow, Group, LearningOrderRow, QuantileRow, ScoreCorrelationRow, StatisticSubsetRow,
};

/// Every group in the agreement table, same-architecture groups first, train before test.
pub fn groups(rows: &[AgreementRow]) -> Vec<Group> {
    let set: BTreeSet<Group> = rows.iter().map(|r| r.group.clone()).collect();
    let mut groups: Vec<Group> = set.into_iter().collect();
    groups.sort_by_key(|g| {
        (
            g.kind != "same_arch",
            g.name.clone(),
            g.split != "train",
            g.split.clone(),
        )
    });
    groups
}

/// The group the per-statistic figures are drawn for: the first same-architecture group
/// on the train split (the paper's learning order is over training images), else the first.
pub fn focus_group(groups: &[Group]) -> Option<Group> {
    groups
        .iter()
        .find(|g| g.kind == "same_arch" && g.split == "train")
        .or_else(|| groups.first())
        .cloned()
}

/// One group's agreement rows in epoch order.
pub fn curve<'a>(rows: &'a [AgreementRow], group: &Group) -> Vec<&'a AgreementRow> {
    let mut out: Vec<&AgreementRow> = rows.iter().filter(|r| &r.group == group).collect();
    out.sort_by_key(|r| r.epoch);
    out
}

/// Each group's last epoch: the report's headline numbers.
pub fn final_epochs(rows: &[AgreementRow]) -> Vec<&AgreementRow> {
    groups(rows)
        .iter()
        .filter_map(|g| curve(rows, g).last().copied())
        .collect()
}

/// The statistic's mean over `subset` (`agreed` or `rest`) per epoch, for one group.
pub fn statistic_mean_series(
    rows: &[StatisticSubsetRow],
    group: &Group,
    statistic: &str,
    subset: &str,
) -> Vec<(i32, f64)> {
    let mut out: Vec<(i32, f64)> = rows
        .iter()
        .filter(|r| &r.group == group && r.statistic == statistic && r.subset == subset)
        .filter_map(|r| r.mean.filter(|m| m.is_finite()).map(|m| (r.epoch, m)))
        .collect();
    out.sort_by_key(|p| p.0);
    out
}

/// One quantile bin's agreement over epochs, with the bin's value range (at the last epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileBinSeries {
    /// Bin index, ascending in the statistic.
    pub bin: i32,
    /// Smallest statistic value in the bin.
    pub low: f64,
    /// Largest statistic value in the bin.
    pub high: f64,
    /// (epoch, agreement) in epoch order.
    pub points: Vec<(i32, f64)>,
}

/// Agreement per quantile bin of `statistic` over epochs, bins in ascending order.
pub fn quantile_series(rows: &[QuantileRow], group: &Group, statistic: &str) -> Vec<QuantileBinSeries> {
    let mut bins: BTreeMap<i32, QuantileBinSeries> = BTreeMap::new();
    let mut last_epoch: BTreeMap<i32, i32> = BTreeMap::new();
    for r in rows.iter().filter(|r| &r.group == group && r.statistic == statistic) {
        let s = bins.entry(r.bin).or_insert_with(|| QuantileBinSeries {
            bin: r.bin,
            low: r.bin_low,
            high: r.bin_high,
            points: Vec::new(),
        });
        s.points.push((r.epoch, r.agreement));
        let last = last_epoch.entry(r.bin).or_insert(i32::MIN);
        if r.epoch >= *last {
            *last = r.epoch;
            s.low = r.bin_low;
            s.high = r.bin_high;
        }
    }
    bins.into_values()
        .map(|mut s| {
            s.points.sort_by_key(|p| p.0);
            s
        })
        .collect()
}

/// The statistic over the samples learned in one epoch (or never).
#[derive(Debug, Clone, PartialEq)]
pub struct LearnedEpochBin {
    /// The learned epoch; `None` for never learned.
    pub learned_epoch: Option<i32>,
    /// Samples in the bin with a value of the statistic.
    pub n: usize,
    /// Mean of the statistic.
    pub mean: f64,
    /// Population standard deviation of the statistic.
    pub std: f64,
}

/// The statistic grouped by `learned_epoch` for one group: epochs ascending, never last.
pub fn learned_epoch_profile(
    order: &[LearningOrderRow],
    group: &Group,
    statistic: &BTreeMap<i64, f64>,
) -> Vec<LearnedEpochBin> {
    // `None` sorts first in an Option key, but "never" belongs after the last epoch.
    let mut by_epoch: BTreeMap<(bool, i32), Vec<f64>> = BTreeMap::new();
    for r in order.iter().filter(|r| &r.group == group) {
        if let Some(&v) = statistic.get(&r.sample_id) {
            let key = (r.learned_epoch.is_none(), r.learned_epoch.unwrap_or(0));
            by_epoch.entry(key).or_default().push(v);
        }
    }
    by_epoch
        .into_iter()
        .map(|((never, epoch), values)| {
            let n = values.len();
            let mean = values.iter().sum::<f64>() / n as f64;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            LearnedEpochBin {
                learned_epoch: (!never).then_some(epoch),
                n,
                mean,
                std: var.sqrt(),
            }
        })
        .collect()
}

/// Equal-width histogram of a statistic.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Left edge of the first bin.
    pub low: f64,
    /// Width of each bin (1 when all values are equal).
    pub width: f64,
    /// Samples per bin.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// Total samples counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Histogram of the finite `values` in `bins` equal-width bins over [min, max]; `None` when empty.
pub fn histogram(values: impl IntoIterator<Item = f64>, bins: usize) -> Option<Histogram> {
    let values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    let bins = bins.max(1);
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.is_empty() {
        return None;
    }
    if high <= low {
        // A constant statistic: one bin of unit width centred on the value.
        return Some(Histogram {
            low: low - 0.5,
            width: 1.0,
            counts: vec![values.len() as u64],
        });
    }
    let width = (high - low) / bins as f64;
    let mut counts = vec![0u64; bins];
    for v in values {
        // The maximum belongs to the last bin, not one past it.
        let i = (((v - low) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    Some(Histogram { low, width, counts })
}

/// The `k` earliest-learned samples of a group: smallest learned_epoch, ties broken by
/// higher confidence, then sample id.
pub fn earliest_learned(order: &[LearningOrderRow], group: &Group, k: usize) -> Vec<LearningOrderRow> {
    let mut rows: Vec<&LearningOrderRow> = order
        .iter()
        .filter(|r| &r.group == group && r.learned_epoch.is_some())
        .collect();
    rows.sort_by(|a, b| {
        a.learned_epoch
            .cmp(&b.learned_epoch)
            .then(b.confidence.unwrap_or(0.0).total_cmp(&a.confidence.unwrap_or(0.0)))
            .then(a.sample_id.cmp(&b.sample_id))
    });
    rows.into_iter().take(k).cloned().collect()
}

/// The `k` latest-learned samples of a group: never-learned first, then largest
/// learned_epoch, ties broken by lower confidence, then sample id.
pub fn latest_learned(order: &[LearningOrderRow], group: &Group, k: usize) -> Vec<LearningOrderRow> {
    let mut rows: Vec<&LearningOrderRow> = order.iter().filter(|r| &r.group == group).collect();
    rows.sort_by(|a, b| {
        let ka = a.learned_epoch.map_or(i64::MAX, i64::from);
        let kb = b.learned_epoch.map_or(i64::MAX, i64::from);
        kb.cmp(&ka)
            .then(a.confidence.unwrap_or(0.0).total_cmp(&b.confidence.unwrap_or(0.0)))
            .then(a.sample_id.cmp(&b.sample_id))
    });
    rows.into_iter().take(k).cloned().collect()
}

/// The `k` statistics most strongly rank-correlated with learned_epoch for a group
/// (largest |ρ| first; rows without ρ left out).
pub fn top_correlations<'a>(rows: &'a [CorrelationRow], group: &Group, k: usize) -> Vec<&'a CorrelationRow> {
    let mut out: Vec<&CorrelationRow> = rows
        .iter()
        .filter(|r| &r.group == group && r.spearman_rho.is_some_and(f64::is_finite))
        .collect();
    out.sort_by(|a, b| {
        let ra = a.spearman_rho.unwrap_or(0.0).abs();
        let rb = b.spearman_rho.unwrap_or(0.0).abs();
        rb.total_cmp(&ra).then(a.statistic.cmp(&b.statistic))
    });
    out.truncate(k);
    out
}

/// One sample's place on the data map (Swayamdipta et al. 2020).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataMapPoint {
    /// Sample id.
    pub sample_id: i64,
    /// Standard deviation over epochs of p_label (x).
    pub variability: f64,
    /// Mean p_label (y).
    pub confidence: f64,
    /// Fraction of epochs correct (colour).
    pub correctness: f64,
}

/// One split of a group's data map: every sample counted, at most a cap of them drawn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataMapSplit {
    /// The split.
    pub split: String,
    /// Samples of the split.
    pub samples: u64,
    /// Samples per `data_map_region`, over all samples of the split.
    pub regions: BTreeMap<String, u64>,
    /// Samples with a finite confidence, variability and correctness (the ones that can be placed).
    pub placed: u64,
    /// The samples drawn: a uniform, deterministic subset of the placed ones (see [`subsample`]).
    pub drawn: Vec<DataMapPoint>,
}

/// Gathers one group's `sample_dynamics` rows split by split, then keeps a drawable
/// subset of each split ([`DataMapCollector::finish`]).
#[derive(Debug, Clone, Default)]
pub struct DataMapCollector {
    splits: BTreeMap<String, (DataMapSplit, Vec<DataMapPoint>)>,
}

impl DataMapCollector {
    /// Counts one sample of `split` in `region` and keeps it for drawing when its
    /// confidence, variability and correctness are all finite.
    pub fn add(
        &mut self,
        split: &str,
        region: &str,
        sample_id: i64,
        correctness: f64,
        confidence: Option<f64>,
        variability: Option<f64>,
    ) {
        if !self.splits.contains_key(split) {
            let empty = DataMapSplit {
                split: split.to_string(),
                ..DataMapSplit::default()
            };
            self.splits.insert(split.to_string(), (empty, Vec::new()));
        }
        let Some((counts, points)) = self.splits.get_mut(split) else {
            return;
        };
        counts.samples += 1;
        match counts.regions.get_mut(region) {
            Some(n) => *n += 1,
            None => {
                counts.regions.insert(region.to_string(), 1);
            }
        }
        if let (Some(confidence), Some(variability)) = (confidence, variability)
            && [confidence, variability, correctness].iter().all(|v| v.is_finite())
        {
            counts.placed += 1;
            points.push(DataMapPoint {
                sample_id,
                variability,
                confidence,
                correctness,
            });
        }
    }

    /// Every split seen (train first, then test, then the others by name), each with at
    /// most `cap` samples to draw.
    pub fn finish(self, cap: usize) -> Vec<DataMapSplit> {
        let mut out: Vec<DataMapSplit> = self
            .splits
            .into_values()
            .map(|(mut split, points)| {
                split.drawn = subsample(points, cap);
                split
            })
            .collect();
        out.sort_by(|a, b| split_key(&a.split).cmp(&split_key(&b.split)));
        out
    }
}

/// Sort key of a split: train, then test, then the others by name.
fn split_key(split: &str) -> (bool, bool, &str) {
    (split != "train", split != "test", split)
}

/// A fixed pseudo-random 64-bit number for a sample id (the splitmix64 finaliser): the
/// same on every machine and run, well mixed for consecutive ids.
pub fn sample_hash(sample_id: i64) -> u64 {
    let mut z = (sample_id as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// At most `cap` of `points`: the ones whose [`sample_hash`] is smallest (ties by sample
/// id), i.e. a uniform random subset that depends only on the sample ids, not on the
/// rows' order; in hash order, so overlapping dots are stacked in no systematic order.
pub fn subsample(mut points: Vec<DataMapPoint>, cap: usize) -> Vec<DataMapPoint> {
    let key = |p: &DataMapPoint| (sample_hash(p.sample_id), p.sample_id);
    if cap == 0 {
        return Vec::new();
    }
    if points.len() > cap {
        points.select_nth_unstable_by_key(cap - 1, key);
        points.truncate(cap);
    }
    points.sort_by_key(key);
    points
}

/// The per-sample scores of `score_correlation`, in the contract's order.
pub const SCORES: [&str; 8] = [
    "learned_epoch",
    "aum",
    "el2n",
    "cumulative_accuracy",
    "forgetting_events",
    "first_learned_epoch",
    "confidence",
    "variability",
];

/// One cell of a score-correlation matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MatrixCell {
    /// No value: the pair is not in the table, or its ρ is null or not finite.
    Blank,
    /// A score against itself.
    Diagonal,
    /// Spearman ρ, and whether its bootstrap 95% interval includes 0 (false when
    /// there is no interval).
    Rho {
        /// The correlation.
        rho: f64,
        /// The interval includes 0: the sign is not established.
        ci_includes_zero: bool,
    },
}

/// The rows and columns of a group's score-correlation matrices, shared by its splits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CorrelationAxes {
    /// The scores present: the rows, and the columns after the statistics. Known
    /// scores in [`SCORES`] order, then any other in order of appearance.
    pub scores: Vec<String>,
    /// The statistics present: those of `statistic_order` first, in that order, then
    /// any other in order of appearance.
    pub statistics: Vec<String>,
}

impl CorrelationAxes {
    /// Whether there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

/// Whether `row` belongs to `group`'s kind and name, whatever its split.
fn same_networks(row: &ScoreCorrelationRow, group: &Group) -> bool {
    row.group.kind == group.kind && row.group.name == group.name
}

/// The axes of `group`'s kind and name (every split): which scores and statistics
/// `rows` holds for them.
pub fn correlation_axes(rows: &[ScoreCorrelationRow], group: &Group, statistic_order: &[String]) -> CorrelationAxes {
    let mut scores: Vec<String> = Vec::new();
    let mut statistics: Vec<String> = Vec::new();
    let push = |list: &mut Vec<String>, name: &str| {
        if !list.iter().any(|n| n == name) {
            list.push(name.to_string());
        }
    };
    for r in rows.iter().filter(|r| same_networks(r, group)) {
        push(&mut scores, &r.score);
        match r.versus_kind.as_str() {
            "score" => push(&mut scores, &r.versus),
            "statistic" => push(&mut statistics, &r.versus),
            _ => {}
        }
    }
    let rank = |name: &String, order: &[&str]| order.iter().position(|o| o == name).unwrap_or(order.len());
    // A stable sort keeps unknown names in order of appearance after the known ones.
    scores.sort_by_key(|s| rank(s, &SCORES));
    let order: Vec<&str> = statistic_order.iter().map(String::as_str).collect();
    statistics.sort_by_key(|s| rank(s, &order));
    CorrelationAxes { scores, statistics }
}

/// The splits `rows` holds for `group`'s kind and name: train, then test, then the others.
pub fn correlation_splits(rows: &[ScoreCorrelationRow], group: &Group) -> Vec<String> {
    let mut splits: Vec<String> = rows
        .iter()
        .filter(|r| same_networks(r, group))
        .map(|r| r.group.split.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    splits.sort_by(|a, b| split_key(a).cmp(&split_key(b)));
    splits
}

/// One split's matrix (`group`'s kind, name and split): a row per score of `axes`,
/// columns its statistics then its scores. Each pair of scores is stored once; its ρ
/// fills both symmetric cells (a pair stored both ways keeps each way's own value).
pub fn correlation_matrix(rows: &[ScoreCorrelationRow], group: &Group, axes: &CorrelationAxes) -> Vec<Vec<MatrixCell>> {
    let n_stats = axes.statistics.len();
    let mut cells = vec![vec![MatrixCell::Blank; n_stats + axes.scores.len()]; axes.scores.len()];
    for (i, row) in cells.iter_mut().enumerate() {
        row[n_stats + i] = MatrixCell::Diagonal;
    }
    let score_index = |name: &str| axes.scores.iter().position(|s| s == name);
    let value = |r: &ScoreCorrelationRow| match r.spearman_rho.filter(|v| v.is_finite()) {
        None => MatrixCell::Blank,
        Some(rho) => MatrixCell::Rho {
            rho,
            ci_includes_zero: matches!((r.spearman_ci_low, r.spearman_ci_high), (Some(lo), Some(hi)) if lo <= 0.0 && hi >= 0.0),
        },
    };
    let ours: Vec<&ScoreCorrelationRow> = rows.iter().filter(|r| &r.group == group).collect();
    // Mirrored cells first, so a value stored for the cell itself overwrites them.
    for direct in [false, true] {
        for r in &ours {
            let Some(i) = score_index(&r.score) else { continue };
            let target = match r.versus_kind.as_str() {
                "statistic" if direct => axes.statistics.iter().position(|s| s == &r.versus).map(|j| (i, j)),
                "score" => score_index(&r.versus)
                    .filter(|&j| j != i)
                    .map(|j| if direct { (i, n_stats + j) } else { (j, n_stats + i) }),
                _ => None,
            };
            if let Some((i, j)) = target {
                cells[i][j] = value(r);
            }
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(kind: &str, name: &str, split: &str) -> Group {
        Group {
            kind: kind.into(),
            name: name.into(),
            split: split.into(),
        }
    }

    fn agreement(g: &Group, epoch: i32, agreement: f64) -> AgreementRow {
        AgreementRow {
            group: g.clone(),
            epoch,
            n_networks: 2,
            n_samples: 10,
            agreement,
            tpa: 0.0,
            lower_bound: 0.0,
            independent: 0.0,
            mean_accuracy: 0.0,
            std_accuracy: 0.0,
        }
    }

    fn order(g: &Group, id: i64, learned: Option<i32>, confidence: f64) -> LearningOrderRow {
        LearningOrderRow {
            group: g.clone(),
            sample_id: id,
            learned_epoch: learned,
            confidence: Some(confidence),
        }
    }

    #[test]
    fn groups_put_same_arch_train_first_and_curves_sort_by_epoch() {
        let cross = group("cross_arch", "s0", "train");
        let test = group("same_arch", "lenet5", "test");
        let train = group("same_arch", "lenet5", "train");
        let rows = vec![
            agreement(&cross, 1, 0.1),
            agreement(&test, 2, 0.4),
            agreement(&train, 2, 0.6),
            agreement(&train, 1, 0.5),
            agreement(&test, 1, 0.3),
        ];
        assert_eq!(groups(&rows), vec![train.clone(), test.clone(), cross.clone()]);
        assert_eq!(focus_group(&groups(&rows)), Some(train.clone()));
        let c: Vec<i32> = curve(&rows, &train).iter().map(|r| r.epoch).collect();
        assert_eq!(c, vec![1, 2]);
        let last: Vec<f64> = final_epochs(&rows).iter().map(|r| r.agreement).collect();
        assert_eq!(last, vec![0.6, 0.4, 0.1]);
    }

    #[test]
    fn focus_falls_back_to_the_first_group() {
        let cross = group("cross_arch", "s0", "test");
        assert_eq!(focus_group(std::slice::from_ref(&cross)), Some(cross));
        assert_eq!(focus_group(&[]), None);
    }

    #[test]
    fn statistic_means_keep_the_subset_and_skip_nulls() {
        let g = group("same_arch", "a", "train");
        let row = |epoch, subset: &str, mean| StatisticSubsetRow {
            group: g.clone(),
            epoch,
            statistic: "entropy_local".into(),
            subset: subset.into(),
            mean,
        };
        let rows = vec![
            row(2, "agreed", Some(4.0)),
            row(1, "agreed", Some(3.0)),
            row(3, "agreed", None),
            row(1, "rest", Some(5.0)),
        ];
        assert_eq!(
            statistic_mean_series(&rows, &g, "entropy_local", "agreed"),
            vec![(1, 3.0), (2, 4.0)]
        );
        assert_eq!(
            statistic_mean_series(&rows, &g, "entropy_local", "rest"),
            vec![(1, 5.0)]
        );
        assert!(statistic_mean_series(&rows, &g, "other", "agreed").is_empty());
    }

    #[test]
    fn quantile_series_groups_bins_and_takes_ranges_from_the_last_epoch() {
        let g = group("same_arch", "a", "train");
        let row = |epoch, bin, low, agreement| QuantileRow {
            group: g.clone(),
            epoch,
            statistic: "s".into(),
            bin,
            bin_low: low,
            bin_high: low + 1.0,
            agreement,
        };
        let rows = vec![
            row(2, 1, 10.0, 0.4),
            row(1, 1, 9.0, 0.2),
            row(1, 0, 0.0, 0.5),
            row(2, 0, 0.0, 0.7),
        ];
        let s = quantile_series(&rows, &g, "s");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].bin, 0);
        assert_eq!(s[0].points, vec![(1, 0.5), (2, 0.7)]);
        assert_eq!(s[1].points, vec![(1, 0.2), (2, 0.4)]);
        assert_eq!((s[1].low, s[1].high), (10.0, 11.0));
    }

    #[test]
    fn learned_epoch_profile_puts_never_last_with_mean_and_population_std() {
        let g = group("same_arch", "a", "train");
        let other = group("same_arch", "b", "train");
        let rows = vec![
            order(&g, 0, Some(2), 0.9),
            order(&g, 1, Some(2), 0.9),
            order(&g, 2, None, 0.1),
            order(&g, 3, Some(1), 0.9),
            order(&g, 4, Some(1), 0.9), // no statistic value: left out
            order(&other, 0, Some(1), 0.9),
        ];
        let stat: BTreeMap<i64, f64> = [(0, 1.0), (1, 3.0), (2, 10.0), (3, 5.0)].into_iter().collect();
        let p = learned_epoch_profile(&rows, &g, &stat);
        assert_eq!(
            p,
            vec![
                LearnedEpochBin {
                    learned_epoch: Some(1),
                    n: 1,
                    mean: 5.0,
                    std: 0.0
                },
                LearnedEpochBin {
                    learned_epoch: Some(2),
                    n: 2,
                    mean: 2.0,
                    std: 1.0
                },
                LearnedEpochBin {
                    learned_epoch: None,
                    n: 1,
                    mean: 10.0,
                    std: 0.0
                },
            ]
        );
    }

    #[test]
    fn histogram_counts_the_maximum_in_the_last_bin() {
        let h = histogram([0.0, 1.0, 2.0, 3.0, 4.0, f64::NAN], 4).expect("values");
        assert_eq!(h.low, 0.0);
        assert_eq!(h.width, 1.0);
        assert_eq!(h.counts, vec![1, 1, 1, 2]);
        assert_eq!(h.total(), 5);
        let constant = histogram([2.0, 2.0], 10).expect("values");
        assert_eq!((constant.low, constant.width, constant.counts), (1.5, 1.0, vec![2]));
        assert_eq!(histogram([], 3), None);
    }

    #[test]
    fn earliest_and_latest_learned_order_by_epoch_then_confidence() {
        let g = group("same_arch", "a", "train");
        let rows = vec![
            order(&g, 0, Some(1), 0.5),
            order(&g, 1, Some(1), 0.9),
            order(&g, 2, Some(3), 0.4),
            order(&g, 3, None, 0.3),
            order(&g, 4, None, 0.1),
        ];
        let ids = |v: Vec<LearningOrderRow>| v.iter().map(|r| r.sample_id).collect::<Vec<_>>();
        assert_eq!(ids(earliest_learned(&rows, &g, 3)), vec![1, 0, 2]);
        assert_eq!(ids(latest_learned(&rows, &g, 4)), vec![4, 3, 2, 0]);
    }

    #[test]
    fn top_correlations_rank_by_absolute_rho() {
        let g = group("same_arch", "a", "train");
        let row = |statistic: &str, rho: Option<f64>| CorrelationRow {
            group: g.clone(),
            statistic: statistic.into(),
            n: 10,
            spearman_rho: rho,
            spearman_ci_low: None,
            spearman_ci_high: None,
            kendall_tau: None,
        };
        let rows = vec![
            row("a", Some(0.1)),
            row("b", Some(-0.5)),
            row("c", None),
            row("d", Some(0.3)),
        ];
        let top: Vec<&str> = top_correlations(&rows, &g, 2)
            .iter()
            .map(|r| r.statistic.as_str())
            .collect();
        assert_eq!(top, vec!["b", "d"]);
    }

    fn point(id: i64) -> DataMapPoint {
        DataMapPoint {
            sample_id: id,
            variability: 0.1,
            confidence: 0.5,
            correctness: 0.5,
        }
    }

    #[test]
    fn subsample_is_capped_uniform_and_independent_of_row_order() {
        let ids = |v: &[DataMapPoint]| v.iter().map(|p| p.sample_id).collect::<Vec<_>>();
        let all: Vec<DataMapPoint> = (0..100_000).map(point).collect();
        let drawn = subsample(all.clone(), 1000);
        assert_eq!(drawn.len(), 1000);
        let unique: BTreeSet<i64> = ids(&drawn).into_iter().collect();
        assert_eq!(unique.len(), 1000, "a sample is drawn at most once");
        // The same samples whatever order the rows come in.
        let mut reversed = all.clone();
        reversed.reverse();
        assert_eq!(ids(&subsample(reversed, 1000)), ids(&drawn));
        // Uniform: every tenth of the id range gets about a tenth of the draws.
        let mut deciles = [0usize; 10];
        for p in &drawn {
            deciles[(p.sample_id / 10_000) as usize] += 1;
        }
        assert!(deciles.iter().all(|&n| (60..=140).contains(&n)), "{deciles:?}");
        // Fewer points than the cap: all of them; a cap of 0: none.
        let few = subsample((0..10).map(point).collect(), 1000);
        assert_eq!(ids(&few).into_iter().collect::<BTreeSet<_>>(), (0..10).collect());
        assert!(subsample(all, 0).is_empty());
        // A smaller cap draws a subset of a larger one's samples (the smallest hashes).
        let small: BTreeSet<i64> = ids(&subsample((0..5000).map(point).collect(), 100))
            .into_iter()
            .collect();
        let large: BTreeSet<i64> = ids(&subsample((0..5000).map(point).collect(), 400))
            .into_iter()
            .collect();
        assert!(small.is_subset(&large));
    }

    #[test]
    fn the_data_map_counts_every_sample_and_draws_the_placed_ones() {
        let mut c = DataMapCollector::default();
        for id in 0..10 {
            let region = if id < 4 { "easy" } else { "hard" };
            c.add("train", region, id, 0.5, Some(0.8), Some(0.1));
        }
        c.add("train", "other", 10, 0.0, None, Some(0.1));
        c.add("train", "other", 11, 0.0, Some(f64::NAN), Some(0.1));
        c.add("test", "ambiguous", 20, 1.0, Some(0.5), Some(0.3));
        c.add("eval", "easy", 30, 1.0, Some(0.5), Some(0.3));
        let splits = c.finish(3);
        let names: Vec<&str> = splits.iter().map(|s| s.split.as_str()).collect();
        assert_eq!(names, ["train", "test", "eval"]);
        let train = &splits[0];
        assert_eq!((train.samples, train.placed, train.drawn.len()), (12, 10, 3));
        assert_eq!(train.regions["easy"], 4);
        assert_eq!(train.regions["hard"], 6);
        assert_eq!(train.regions["other"], 2);
        assert!(train.drawn.iter().all(|p| p.sample_id < 10));
        assert_eq!(
            splits[1].drawn,
            vec![DataMapPoint {
                sample_id: 20,
                variability: 0.3,
                confidence: 0.5,
                correctness: 1.0
            }]
        );
    }

    fn correlation(split: &str, score: &str, kind: &str, versus: &str, rho: Option<f64>) -> ScoreCorrelationRow {
        ScoreCorrelationRow {
            group: group("same_arch", "a", split),
            score: score.into(),
            versus_kind: kind.into(),
            versus: versus.into(),
            n: 10,
            spearman_rho: rho,
            spearman_ci_low: rho.map(|r| r - 0.2),
            spearman_ci_high: rho.map(|r| r + 0.2),
        }
    }

    #[test]
    fn correlation_axes_follow_the_contract_and_the_statistic_order() {
        let rows = vec![
            correlation("train", "variability", "statistic", "stats.b", Some(0.1)),
            correlation("train", "aum", "score", "variability", Some(0.2)),
            correlation("train", "aum", "statistic", "scores.x", Some(0.3)),
            correlation("test", "aum", "statistic", "stats.a", Some(0.3)),
            correlation("train", "learned_epoch", "score", "aum", Some(0.4)),
            correlation("train", "new_score", "statistic", "stats.a", Some(0.5)),
            ScoreCorrelationRow {
                group: group("cross_arch", "s0", "train"),
                ..correlation("train", "el2n", "statistic", "stats.c", Some(0.5))
            },
        ];
        let order = vec!["stats.a".to_string(), "stats.b".to_string()];
        let axes = correlation_axes(&rows, &group("same_arch", "a", "train"), &order);
        assert_eq!(axes.scores, ["learned_epoch", "aum", "variability", "new_score"]);
        assert_eq!(axes.statistics, ["stats.a", "stats.b", "scores.x"]);
        assert_eq!(
            correlation_splits(&rows, &group("same_arch", "a", "test")),
            ["train", "test"]
        );
        assert!(correlation_axes(&rows, &group("same_arch", "b", "train"), &order).is_empty());
    }

    #[test]
    fn the_matrix_fills_both_cells_of_a_pair_stored_once() {
        let rows = vec![
            correlation("train", "learned_epoch", "statistic", "s", Some(0.5)),
            correlation("train", "learned_epoch", "score", "aum", Some(-0.7)),
            correlation("train", "learned_epoch", "score", "el2n", Some(0.05)),
            correlation("train", "aum", "score", "el2n", None),
            correlation("train", "aum", "statistic", "s", Some(f64::NAN)),
            correlation("test", "aum", "statistic", "s", Some(0.9)),
        ];
        let g = group("same_arch", "a", "train");
        let axes = correlation_axes(&rows, &g, &[]);
        assert_eq!(axes.scores, ["learned_epoch", "aum", "el2n"]);
        let m = correlation_matrix(&rows, &g, &axes);
        let rho = |rho: f64, ci_includes_zero: bool| MatrixCell::Rho { rho, ci_includes_zero };
        use MatrixCell::{Blank, Diagonal};
        // Columns: s, then learned_epoch, aum, el2n.
        assert_eq!(m[0], vec![rho(0.5, false), Diagonal, rho(-0.7, false), rho(0.05, true)]);
        assert_eq!(m[1], vec![Blank, rho(-0.7, false), Diagonal, Blank]);
        assert_eq!(m[2], vec![Blank, rho(0.05, true), Blank, Diagonal]);
        // The other split's own values.
        let t = group("same_arch", "a", "test");
        assert_eq!(correlation_matrix(&rows, &t, &axes)[1][0], rho(0.9, false));
        // A pair stored both ways keeps each way's own value.
        let both = vec![
            correlation("train", "aum", "score", "el2n", Some(0.3)),
            correlation("train", "el2n", "score", "aum", Some(0.4)),
        ];
        let axes = correlation_axes(&both, &g, &[]);
        let m = correlation_matrix(&both, &g, &axes);
        assert_eq!((m[0][1], m[1][0]), (rho(0.3, false), rho(0.4, false)));
    }
}
