//! Percentile bootstrap confidence intervals of rank correlations.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::correlation::{RankedPairs, Resample};

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

    fn evaluate(self, resample: &mut Resample<'_>) -> Option<f64> {
        match self {
            RankMethod::Spearman => resample.spearman(),
            RankMethod::Kendall => resample.kendall(),
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
/// pairs with replacement; replicate r draws its `n` indices from ChaCha8 seeded with
/// `seed` on stream r (as `n` calls of `random_range(0..n)`, see `IndexDraws`), so the
/// interval is reproducible and independent of how many threads share the replicates.
/// An index names a pair by its position in ascending (y, x) order — not by its arrival
/// order, which a parallel aggregation may shuffle — so the interval depends only on
/// the multiset of pairs. Both methods see the same resamples. Replicates where the
/// correlation is undefined (a resample with a constant side) are left out; `None`
/// when none is defined. (Until 2026-11 one stream fed all replicates and an index
/// named the arrival position, so intervals from before then differ slightly.)
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
    let range = u32::try_from(n).ok()?;
    // Replicates are independent; the query engine may leave cores idle while one
    // group's intervals run, so they are shared out over the available threads.
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(replicates);
    let per_thread = replicates.div_ceil(threads);
    let run = |first: usize| {
        let mut resample = pairs.resample();
        let mut values = Vec::with_capacity(per_thread);
        for replicate in first..(first + per_thread).min(replicates) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(replicate as u64);
            let mut draws = IndexDraws::new(rng, range);
            resample.clear();
            for _ in 0..n {
                resample.add_at(draws.next_index());
            }
            values.extend(method.evaluate(&mut resample));
        }
        values
    };
    let mut values: Vec<f64> = std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads).map(|t| scope.spawn(move || run(t * per_thread))).collect();
        let mut values = run(0);
        for other in others {
            values.extend(other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        values
    });
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some((quantile_sorted(&values, tail)?, quantile_sorted(&values, 1.0 - tail)?))
}

/// Uniform indices in `0..range`, value for value what `rng.random_range(0..range)`
/// returns (rand 0.9, ranges below 2³²: a u32 word widened-multiplied by the range,
/// plus a second word in the rare biased zone), but reading the ChaCha words 64 at a
/// time instead of one call per index — the draw was half of a bootstrap replicate.
struct IndexDraws {
    rng: ChaCha8Rng,
    range: u32,
    words: [u32; 64],
    next: usize,
}

impl IndexDraws {
    fn new(rng: ChaCha8Rng, range: u32) -> Self {
        IndexDraws {
            rng,
            range,
            words: [0; 64],
            next: 64,
        }
    }

    #[inline]
    fn word(&mut self) -> u32 {
        if self.next == self.words.len() {
            // `fill` reads the same little-endian word stream as repeated `next_u32`.
            self.rng.fill(&mut self.words[..]);
            self.next = 0;
        }
        let word = self.words[self.next];
        self.next += 1;
        word
    }

    #[inline]
    fn next_index(&mut self) -> usize {
        let product = u64::from(self.word()) * u64::from(self.range);
        let (mut index, low) = ((product >> 32) as u32, product as u32);
        if low > self.range.wrapping_neg() {
            let extra = ((u64::from(self.word()) * u64::from(self.range)) >> 32) as u32;
            index += u32::from(low.checked_add(extra).is_none());
        }
        index as usize
    }
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
    fn index_draws_match_random_range() {
        // Ranges near 2³² make the biased zone (second word) common enough to be exercised.
        for (seed, range) in [(1u64, 2u32), (7, 50_000), (9, 3_000_000_019), (3, u32::MAX - 5)] {
            let mut reference = ChaCha8Rng::seed_from_u64(seed);
            let mut draws = IndexDraws::new(ChaCha8Rng::seed_from_u64(seed), range);
            for i in 0..20_000 {
                let expected: usize = reference.random_range(0..range as usize);
                assert_eq!(draws.next_index(), expected, "seed {seed} range {range} draw {i}");
            }
        }
    }

    #[test]
    fn interval_brackets_the_estimate_and_is_reproducible() {
        let x: Vec<f64> = (0..200).map(|i| f64::from(i % 17)).collect();
        let y: Vec<f64> = (0..200)
            .map(|i| f64::from(i % 17) + f64::from((i * 7919) % 13))
            .collect();
        let pairs = RankedPairs::new(x, y);
        for method in [RankMethod::Spearman, RankMethod::Kendall] {
            let estimate = match method {
                RankMethod::Spearman => pairs.spearman(),
                RankMethod::Kendall => pairs.kendall(),
            }
            .unwrap();
            let (lo, hi) = bootstrap_ci(&pairs, method, 300, 7, 0.95).unwrap();
            assert!(lo < estimate && estimate < hi, "{method:?}: {lo} {estimate} {hi}");
            assert_eq!(bootstrap_ci(&pairs, method, 300, 7, 0.95), Some((lo, hi)));
        }
    }
}
