//! Turning result rows into the series the figures draw: pure functions on in-memory
//! rows, so every figure's numbers are unit-tested without drawing anything.

use std::collections::{BTreeMap, BTreeSet};

use crate::tables::{AgreementRow, CorrelationRow, Group, LearningOrderRow, QuantileRow, StatisticSubsetRow};

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
}
