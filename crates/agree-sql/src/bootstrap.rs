//! Percentile bootstrap confidence intervals of rank correlations.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::correlation::RankedPairs;

/// Which rank correlation a bootstrap resamples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankMethod {
    /// Spearman ρ.
    Spearman,
    /// Kendall τ-b.
    Kendall,
}

impl RankMethod {
    /// Parses `spearman` or `kendall` (case-insensitive).
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "spearman" => Some(RankMethod::Spearman),
            "kendall" | "kendall_tau" => Some(RankMethod::Kendall),
            _ => None,
        }
    }

    fn evaluate(self, pairs: &RankedPairs, weights: &[u32]) -> Option<f64> {
        match self {
            RankMethod::Spearman => pairs.spearman_weighted(weights),
            RankMethod::Kendall => pairs.kendall_weighted(weights),
        }
    }
}

/// Linear-interpolation quantile of ascending `sorted` values (numpy's default).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

/// Percentile bootstrap CI at `level` (e.g. 0.95): `replicates` resamples of the
/// pairs with replacement, drawn from a ChaCha8 stream seeded with `seed` so the
/// interval is reproducible. Replicates where the correlation is undefined (a
/// resample with a constant side) are left out; `None` when none is defined.
pub fn bootstrap_ci(
    pairs: &RankedPairs,
    method: RankMethod,
    replicates: usize,
    seed: u64,
    level: f64,
) -> Option<(f64, f64)> {
    let n = pairs.len();
    if n < 2 || replicates == 0 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut weights = vec![0u32; n];
    let mut values = Vec::with_capacity(replicates);
    for _ in 0..replicates {
        weights.iter_mut().for_each(|w| *w = 0);
        for _ in 0..n {
            weights[rng.random_range(0..n)] += 1;
        }
        if let Some(v) = method.evaluate(pairs, &weights) {
            values.push(v);
        }
    }
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some((quantile_sorted(&values, tail)?, quantile_sorted(&values, 1.0 - tail)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_like_numpy() {
        // numpy.quantile([1, 2, 3, 4], 0.25) = 1.75
        assert_eq!(quantile_sorted(&[1.0, 2.0, 3.0, 4.0], 0.25), Some(1.75));
        assert_eq!(quantile_sorted(&[5.0], 0.9), Some(5.0));
        assert_eq!(quantile_sorted(&[], 0.5), None);
    }

    #[test]
    fn interval_brackets_the_estimate_and_is_reproducible() {
        let x: Vec<f64> = (0..200).map(|i| f64::from(i % 17)).collect();
        let y: Vec<f64> = (0..200)
            .map(|i| f64::from(i % 17) + f64::from((i * 7919) % 13))
            .collect();
        let pairs = RankedPairs::new(x, y);
        for method in [RankMethod::Spearman, RankMethod::Kendall] {
            let estimate = method.evaluate(&pairs, &vec![1; pairs.len()]).unwrap();
            let (lo, hi) = bootstrap_ci(&pairs, method, 300, 7, 0.95).unwrap();
            assert!(lo < estimate && estimate < hi, "{method:?}: {lo} {estimate} {hi}");
            assert_eq!(bootstrap_ci(&pairs, method, 300, 7, 0.95), Some((lo, hi)));
        }
    }
}
