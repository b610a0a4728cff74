//! Rank correlations (Spearman ρ with averaged ties, Kendall τ-b) on paired samples,
//! optionally with integer weights — a bootstrap resample is the original sample
//! with each point repeated `w_i` times, so one pre-sorted order serves every
//! replicate and a replicate costs O(n) (Spearman) or O(n log k) (Kendall, k x tie
//! groups) instead of a fresh sort.
//!
//! The pairs are laid out once in *walk order* — ascending y, ties broken by x — as
//! the dense x tie group of each position (and the y tie-group ends when y has ties),
//! so a weighted evaluation reads two sequential arrays. Every count and rank sum is
//! an exact integer (ranks are doubled, so average ranks stay integral); floating
//! point enters only in the final division.

/// Maps `v` to a key whose unsigned order is `f64::total_cmp` order, with −0.0 folded
/// onto +0.0 first so the two zeros tie (as `==` says). Callers pass no NaN.
fn order_key(v: f64) -> u64 {
    let bits = (v + 0.0).to_bits();
    if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
}

/// `t (t − 1) / 2`: the number of pairs among `t` tied points.
fn pairs_among(t: u64) -> u128 {
    u128::from(t) * u128::from(t.saturating_sub(1)) / 2
}

/// `t³ − t`: a tie group's deficit in the sum of squared ranks (times 12).
fn cube_excess(t: u64) -> u128 {
    u128::from(t) * u128::from(t * t).saturating_sub(1)
}

/// Paired samples prepared once (walk order, tie groups) for repeated weighted evaluation.
#[derive(Debug, Clone)]
pub struct RankedPairs {
    /// Walk position of every input point.
    position: Vec<u32>,
    /// Dense x tie group (0 = smallest x) of the point at each walk position.
    x_group: Vec<u32>,
    /// Number of x tie groups.
    groups_x: usize,
    /// Bits needed to number the x tie groups (depth of Kendall's tree).
    levels: u32,
    /// Exclusive end of every y tie group along the walk; empty when all y differ,
    /// which lets the hot loops treat each position as its own group.
    y_ends: Vec<u32>,
}

impl RankedPairs {
    /// Prepares the pairs `(x_i, y_i)`; pairs where either side is NaN must be removed first.
    ///
    /// # Panics
    /// When `x` and `y` differ in length or hold more than `u32::MAX` pairs (callers check).
    pub fn new(x: Vec<f64>, y: Vec<f64>) -> Self {
        assert_eq!(x.len(), y.len(), "RankedPairs: x and y differ in length");
        assert!(u32::try_from(x.len()).is_ok(), "RankedPairs: more than u32::MAX pairs");
        let x_keys: Vec<u64> = x.iter().map(|&v| order_key(v)).collect();
        let mut distinct = x_keys.clone();
        distinct.sort_unstable();
        distinct.dedup();
        // One sort of (y, x group, index) keys gives the walk; the index makes keys unique.
        let mut keys: Vec<u128> = x_keys
            .iter()
            .zip(&y)
            .enumerate()
            .map(|(i, (&xk, &yv))| {
                let group = distinct.partition_point(|&d| d < xk) as u128;
                (u128::from(order_key(yv)) << 64) | (group << 32) | i as u128
            })
            .collect();
        keys.sort_unstable();
        let mut position = vec![0u32; keys.len()];
        let mut x_group = Vec::with_capacity(keys.len());
        let mut ties_in_y = false;
        for (pos, &key) in keys.iter().enumerate() {
            position[(key as u32) as usize] = pos as u32;
            x_group.push((key >> 32) as u32);
            ties_in_y |= pos > 0 && (keys[pos - 1] >> 64) == (key >> 64);
        }
        let mut y_ends = Vec::new();
        if ties_in_y {
            for pos in 1..keys.len() {
                if (keys[pos - 1] >> 64) != (keys[pos] >> 64) {
                    y_ends.push(pos as u32);
                }
            }
            y_ends.push(keys.len() as u32);
        }
        RankedPairs {
            position,
            x_group,
            groups_x: distinct.len(),
            levels: usize::BITS - distinct.len().saturating_sub(1).leading_zeros(),
            y_ends,
        }
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.position.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.position.is_empty()
    }

    /// A resample with every point at weight 0, to be filled with [`Resample::add`].
    pub fn resample(&self) -> Resample<'_> {
        Resample {
            pairs: self,
            weights: vec![0; self.len()],
            per_group: vec![[0; 2]; self.groups_x],
            tree: vec![0; 1usize << self.levels],
            table: [0; SMALL_GROUPS + 8],
            wide: false,
        }
    }

    /// The sample where point i appears `weights[i]` times (`weights` in input order).
    fn weighted(&self, weights: &[u32]) -> Resample<'_> {
        let mut resample = self.resample();
        for (&pos, &w) in self.position.iter().zip(weights) {
            resample.weights[pos as usize] = w;
        }
        resample.wide = weights.iter().map(|&w| u64::from(w)).sum::<u64>() > u64::from(u32::MAX);
        resample
    }

    /// Spearman ρ of the sample where point i appears `weights[i]` times.
    /// The total weight must stay below 2⁴⁰.
    pub fn spearman_weighted(&self, weights: &[u32]) -> Option<f64> {
        self.weighted(weights).spearman()
    }

    /// Spearman ρ (Pearson correlation of average ranks, as `scipy.stats.spearmanr`).
    pub fn spearman(&self) -> Option<f64> {
        self.spearman_weighted(&vec![1; self.len()])
    }

    /// Kendall τ-b of the sample where point i appears `weights[i]` times.
    /// The total weight must stay below 2⁴⁰.
    pub fn kendall_weighted(&self, weights: &[u32]) -> Option<f64> {
        self.weighted(weights).kendall()
    }

    /// Kendall τ-b (as `scipy.stats.kendalltau`, variant b).
    pub fn kendall(&self) -> Option<f64> {
        self.kendall_weighted(&vec![1; self.len()])
    }
}

/// Integer weights over the points of a [`RankedPairs`], kept in walk order, plus the
/// buffers an evaluation needs — a bootstrap reuses one across all replicates, so a
/// replicate allocates nothing.
#[derive(Debug, Clone)]
pub struct Resample<'a> {
    pairs: &'a RankedPairs,
    /// Weight of the point at each walk position.
    weights: Vec<u32>,
    /// Per x tie group: (weight, Σ weight · doubled y rank) — Spearman's group sums.
    per_group: Vec<[u64; 2]>,
    /// Kendall's tree of inserted weights over x tie groups (see `query_insert`).
    tree: Vec<u64>,
    /// Kendall's suffix-sum table when there are few x groups (see `small_insert`).
    table: [u32; SMALL_GROUPS + 8],
    /// The total weight may reach 2³², too much for `table`'s u32 counts.
    wide: bool,
}

impl Resample<'_> {
    /// Sets every weight back to 0.
    pub fn clear(&mut self) {
        self.weights.fill(0);
    }

    /// Adds one copy of the point at walk position `position` (`< pairs.len()`, and at
    /// most `u32::MAX` copies in all between two `clear`s): the
    /// points in ascending (y, x) order, so a position names a pair by its values, not
    /// by the order the pairs arrived in.
    #[inline]
    pub fn add_at(&mut self, position: usize) {
        self.weights[position] += 1;
    }

    /// Spearman ρ of the weighted sample.
    ///
    /// With doubled average ranks a (x) and b (y), which are integers, and
    /// T = Σ over tie groups of (t³ − t), Pearson's r reduces to
    /// ρ = 3 (Σ w·a·b − N (N + 1)²) / √((N³ − N − T_x)(N³ − N − T_y)).
    /// a depends only on the x group, so Σ w·a·b = Σ_g a_g · Σ_{i ∈ g} w_i·b_i.
    pub fn spearman(&mut self) -> Option<f64> {
        let pairs = self.pairs;
        let per_group = &mut self.per_group;
        per_group.fill([0; 2]);
        let mut below = 0u64;
        let mut ties_y = 0u128;
        if pairs.y_ends.is_empty() {
            for (&w, &g) in self.weights.iter().zip(&pairs.x_group) {
                let w = u64::from(w);
                // Doubled average rank of the w copies at ranks below+1 ..= below+w.
                let b = 2 * below + w + 1;
                let slot = &mut per_group[g as usize];
                slot[0] += w;
                slot[1] += w * b;
                ties_y += cube_excess(w);
                below += w;
            }
        } else {
            let mut start = 0usize;
            for &end in &pairs.y_ends {
                let end = end as usize;
                let weights = &self.weights[start..end];
                let t: u64 = weights.iter().map(|&w| u64::from(w)).sum();
                let b = 2 * below + t + 1;
                for (&w, &g) in weights.iter().zip(&pairs.x_group[start..end]) {
                    let w = u64::from(w);
                    let slot = &mut per_group[g as usize];
                    slot[0] += w;
                    slot[1] += w * b;
                }
                ties_y += cube_excess(t);
                below += t;
                start = end;
            }
        }
        let n = below;
        if n < 2 {
            return None;
        }
        let (mut below_x, mut ties_x, mut sum_ab) = (0u64, 0u128, 0u128);
        for &[t, sum_b] in per_group.iter() {
            let a = 2 * below_x + t + 1;
            sum_ab += u128::from(a) * u128::from(sum_b);
            ties_x += cube_excess(t);
            below_x += t;
        }
        let n = u128::from(n);
        let spread = n * n * n - n;
        let (dx, dy) = (spread - ties_x, spread - ties_y);
        if dx == 0 || dy == 0 {
            return None;
        }
        let numerator = 3 * (sum_ab as i128 - (n * (n + 1) * (n + 1)) as i128);
        Some((numerator as f64 / ((dx as f64) * (dy as f64)).sqrt()).clamp(-1.0, 1.0))
    }

    /// Kendall τ-b of the weighted sample.
    ///
    /// τ_b = (n_c − n_d) / √((n_0 − n_x)(n_0 − n_y)); walking in (y, x) order, n_d is
    /// the weight of earlier points (smaller y) with larger x, counted by a binary
    /// tree over the x tie groups. All counts are exact integers, so the result is the
    /// same whatever the walk.
    pub fn kendall(&mut self) -> Option<f64> {
        self.tree.fill(0);
        self.table.fill(0);
        self.per_group.fill([0; 2]);
        let small = self.pairs.groups_x <= SMALL_GROUPS && !self.wide;
        let counts = match (self.pairs.y_ends.is_empty(), small) {
            (true, true) => self.kendall_distinct_y_few_groups(),
            (true, false) => self.kendall_distinct_y(),
            (false, _) => self.kendall_tied_y(small),
        };
        let KendallCounts {
            ties_y,
            ties_xy,
            discordant,
            inserted,
        } = counts;
        let ties_x: u128 = self.per_group.iter().map(|&[t, _]| pairs_among(t)).sum();
        let n0 = pairs_among(inserted);
        // Pairs tied in x but not in y are neither concordant nor discordant.
        let score = n0 as i128 - ties_x as i128 - ties_y as i128 + ties_xy as i128 - 2 * discordant as i128;
        let denominator = ((n0 - ties_x) as f64 * (n0 - ties_y) as f64).sqrt();
        if denominator.is_nan() || denominator <= 0.0 {
            return None;
        }
        Some((score as f64 / denominator).clamp(-1.0, 1.0))
    }

    /// Kendall's walk when every y is distinct and there are few x groups: the
    /// points in stretches (see [`kendall_stretches`]), their counts combined.
    fn kendall_distinct_y_few_groups(&mut self) -> KendallCounts {
        let pairs = self.pairs;
        let mut counts = KendallCounts::default();
        // Each position is its own y group: its copies tie with each other in x and y.
        let stretches = kendall_stretches(&self.weights, &pairs.x_group);
        let mut earlier = [0u64; SMALL_GROUPS];
        for stretch in &stretches {
            counts.discordant += stretch.discordant;
            counts.ties_y += stretch.ties;
            // Pairs across stretches: an earlier stretch's point with a larger x group.
            let mut above = 0u64;
            for g in (0..SMALL_GROUPS).rev() {
                counts.discordant += u128::from(stretch.weight[g]) * u128::from(above);
                above += earlier[g];
            }
            for (total, &w) in earlier.iter_mut().zip(&stretch.weight) {
                *total += w;
            }
        }
        for (slot, &w) in self.per_group.iter_mut().zip(&earlier) {
            slot[0] = w;
        }
        counts.inserted = earlier.iter().sum();
        counts.ties_xy = counts.ties_y;
        counts
    }

    /// Kendall's walk when every y is distinct: each point counted against the
    /// tree of the points before it.
    fn kendall_distinct_y(&mut self) -> KendallCounts {
        let pairs = self.pairs;
        let mut counts = KendallCounts::default();
        for (&w, &g) in self.weights.iter().zip(&pairs.x_group) {
            let w = u64::from(w);
            counts.discordant += u128::from(w) * u128::from(query_insert(&mut self.tree, pairs.levels, g, w));
            counts.ties_y += pairs_among(w);
            self.per_group[g as usize][0] += w;
            counts.inserted += w;
        }
        counts.ties_xy = counts.ties_y;
        counts
    }

    /// Kendall's walk over y tie groups: each group's points counted against the
    /// earlier groups only (in the suffix-sum table when `small`, else the tree),
    /// then inserted.
    fn kendall_tied_y(&mut self, small: bool) -> KendallCounts {
        let pairs = self.pairs;
        let (tree, table) = (&mut self.tree, &mut self.table);
        let mut counts = KendallCounts::default();
        let mut start = 0usize;
        for &end in &pairs.y_ends {
            let end = end as usize;
            let weights = &self.weights[start..end];
            let groups = &pairs.x_group[start..end];
            let (mut t, mut joint) = (0u64, 0u64);
            let mut previous = groups[0];
            for (&w, &g) in weights.iter().zip(groups) {
                let w = u64::from(w);
                // Joint (x, y) ties are consecutive inside a y group because of the (y, x) order.
                if g != previous {
                    counts.ties_xy += pairs_among(joint);
                    joint = 0;
                    previous = g;
                }
                joint += w;
                t += w;
                // Earlier y groups only: the tree holds no point of this y group yet.
                let greater = if small {
                    small_greater(table, g)
                } else {
                    query_insert(tree, pairs.levels, g, 0)
                };
                counts.discordant += u128::from(w) * u128::from(greater);
            }
            counts.ties_xy += pairs_among(joint);
            counts.ties_y += pairs_among(t);
            for (&w, &g) in weights.iter().zip(groups) {
                let w = u64::from(w);
                if small {
                    small_insert(table, g, w as u32);
                } else {
                    query_insert(tree, pairs.levels, g, w);
                }
                self.per_group[g as usize][0] += w;
            }
            counts.inserted += t;
            start = end;
        }
        counts
    }
}

/// Kendall's pair counts over one walk: pairs tied in y, pairs tied in both x
/// and y, discordant pairs, and the total weight inserted (the pairs tied in x
/// follow from the per-group weights).
#[derive(Debug, Default, Clone, Copy)]
struct KendallCounts {
    ties_y: u128,
    ties_xy: u128,
    discordant: u128,
    inserted: u64,
}

/// Kendall's counts over one stretch of the walk (≤ 64 x groups, all y distinct).
#[derive(Debug, Clone, Copy)]
struct Stretch {
    /// Suffix-sum table of `small_insert`.
    table: [u32; SMALL_GROUPS + 8],
    /// Weight per x group.
    weight: [u64; SMALL_GROUPS],
    /// Discordant pairs within the stretch.
    discordant: u128,
    /// Pairs among the copies of one point (tied in x and y).
    ties: u128,
}

impl Stretch {
    #[inline]
    fn step(&mut self, w: u32, g: u32) {
        let greater = small_greater(&self.table, g);
        small_insert(&mut self.table, g, w);
        let w = u64::from(w);
        self.discordant += u128::from(w) * u128::from(greater);
        self.ties += pairs_among(w);
        self.weight[g as usize] += w;
    }
}

/// Kendall's walk cut into 4 stretches advanced in lockstep: each insert depends on
/// the previous one through the table, so one walk runs at the latency of that chain;
/// four independent chains keep the core busy. The caller adds the cross-stretch pairs.
fn kendall_stretches(weights: &[u32], groups: &[u32]) -> [Stretch; 4] {
    let empty = Stretch {
        table: [0; SMALL_GROUPS + 8],
        weight: [0; SMALL_GROUPS],
        discordant: 0,
        ties: 0,
    };
    let mut stretches = [empty; 4];
    let n = weights.len();
    let bounds = [0, n / 4, n / 2, 3 * n / 4, n];
    let shortest = (0..4).map(|k| bounds[k + 1] - bounds[k]).min().unwrap_or(0);
    for i in 0..shortest {
        for (k, stretch) in stretches.iter_mut().enumerate() {
            let p = bounds[k] + i;
            stretch.step(weights[p], groups[p]);
        }
    }
    for (k, stretch) in stretches.iter_mut().enumerate() {
        for p in bounds[k] + shortest..bounds[k + 1] {
            stretch.step(weights[p], groups[p]);
        }
    }
    stretches
}

/// Up to this many x groups, Kendall uses the two-level suffix sums of `small_insert`.
const SMALL_GROUPS: usize = 64;

/// Weight inserted at an x group larger than `g` (< 64) in the two-level table of `small_insert`.
#[inline]
fn small_greater(table: &[u32; SMALL_GROUPS + 8], g: u32) -> u64 {
    u64::from(table[SMALL_GROUPS + (g >> 3) as usize] + table[g as usize])
}

/// Inserts weight `w` at x group `g` (< 64) into a table of suffix sums:
/// `table[h]` = weight at larger groups within h's block of 8, `table[64 + b]` = weight
/// in blocks after b. A query is two loads; an insert is 16 masked adds the compiler
/// vectorises.
#[inline]
fn small_insert(table: &mut [u32; SMALL_GROUPS + 8], g: u32, w: u32) {
    let (block, lane) = ((g >> 3) as usize, (g & 7) as usize);
    masked_add(&mut table[SMALL_GROUPS..SMALL_GROUPS + 8], &FIRST_LANES[block], w);
    masked_add(&mut table[block * 8..block * 8 + 8], &FIRST_LANES[lane], w);
}

/// `FIRST_LANES[k]`: all-ones in the first k of 8 lanes — a branch-free "j < k" that
/// the compiler turns into vector ands.
const FIRST_LANES: [[u32; 8]; 8] = {
    let mut masks = [[0u32; 8]; 8];
    let mut k = 0;
    while k < 8 {
        let mut j = 0;
        while j < k {
            masks[k][j] = u32::MAX;
            j += 1;
        }
        k += 1;
    }
    masks
};

/// `counts[j] += w` where `mask[j]` is all-ones.
#[inline]
fn masked_add(counts: &mut [u32], mask: &[u32; 8], w: u32) {
    for (count, &m) in counts.iter_mut().zip(mask) {
        *count += w & m;
    }
}

/// Inserts weight `w` at x group `g` into `tree` and returns the weight inserted
/// before at a larger x group.
///
/// `tree` is a complete binary tree over the `2^levels` group slots, stored level by
/// level from the bottom: a node counts the weight inserted in its right half. A
/// larger group differs from `g` first at some bit where `g` has 0 — the node at
/// that level holds exactly those groups, so summing the nodes where `g`'s bit is 0
/// counts each once. Branch-free and a fixed number of steps, so no mispredictions.
#[inline]
fn query_insert(tree: &mut [u64], levels: u32, g: u32, w: u64) -> u64 {
    let mut greater = 0u64;
    let mut base = 0usize;
    for level in 0..levels {
        let node = base + (g >> (level + 1)) as usize;
        let bit = u64::from((g >> level) & 1);
        let count = tree[node];
        greater += count & bit.wrapping_sub(1);
        tree[node] = count + (w & bit.wrapping_neg());
        base += 1 << (levels - level - 1);
    }
    greater
}
#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(x: &[f64], y: &[f64]) -> RankedPairs {
        RankedPairs::new(x.to_vec(), y.to_vec())
    }

    #[test]
    fn spearman_of_monotone_data_is_one() {
        let p = pairs(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 25.0, 100.0]);
        assert!((p.spearman().unwrap() - 1.0).abs() < 1e-15);
        let q = pairs(&[1.0, 2.0, 3.0, 4.0], &[4.0, 3.0, 2.0, 1.0]);
        assert!((q.spearman().unwrap() + 1.0).abs() < 1e-15);
    }

    #[test]
    fn spearman_averages_ties() {
        // x ranks (1, 2.5, 2.5, 4), y ranks (1, 2, 3, 4):
        // mean 2.5; dx = (-1.5, 0, 0, 1.5), dy = (-1.5, -.5, .5, 1.5);
        // Σdxdy = 4.5, Σdx² = 4.5, Σdy² = 5 → ρ = 4.5 / √22.5 = 0.9486832980505138.
        let p = pairs(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]);
        assert!((p.spearman().unwrap() - 4.5 / 22.5f64.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn kendall_tau_b_with_ties() {
        // x = (1, 2, 2, 3), y = (1, 3, 2, 4): pairs: (0,1)c (0,2)c (0,3)c (1,2) x-tie
        // (1,3)c (2,3)c → n_c = 5, n_d = 0, n0 = 6, n_x = 1, n_y = 0 → τ_b = 5/√(5·6).
        let p = pairs(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]);
        assert!((p.kendall().unwrap() - 5.0 / 30f64.sqrt()).abs() < 1e-15);
        // One discordant pair: x = (1,2,3), y = (1,3,2): n_c = 2, n_d = 1 → τ = 1/3.
        let q = pairs(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]);
        assert!((q.kendall().unwrap() - 1.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn weights_equal_repeated_points() {
        let x = [1.0, 2.0, 2.0, 5.0, 3.0];
        let y = [0.5, 0.1, 0.9, 0.3, 0.3];
        let w = [2u32, 0, 1, 3, 1];
        let mut rx = Vec::new();
        let mut ry = Vec::new();
        for i in 0..x.len() {
            for _ in 0..w[i] {
                rx.push(x[i]);
                ry.push(y[i]);
            }
        }
        let expanded = RankedPairs::new(rx, ry);
        let weighted = pairs(&x, &y);
        let (a, b) = (expanded.spearman().unwrap(), weighted.spearman_weighted(&w).unwrap());
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        let (a, b) = (expanded.kendall().unwrap(), weighted.kendall_weighted(&w).unwrap());
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    /// Average ranks (1-based) of `v`, the textbook way.
    fn naive_ranks(v: &[f64]) -> Vec<f64> {
        v.iter()
            .map(|&a| {
                let below = v.iter().filter(|&&b| b < a).count() as f64;
                let tied = v.iter().filter(|&&b| b == a).count() as f64;
                below + (tied + 1.0) / 2.0
            })
            .collect()
    }

    /// Spearman ρ and Kendall τ-b by their definitions, O(n²).
    fn naive(x: &[f64], y: &[f64]) -> (f64, f64) {
        let (rx, ry) = (naive_ranks(x), naive_ranks(y));
        let n = x.len() as f64;
        let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
        let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
        for (a, b) in rx.iter().zip(&ry) {
            sxy += (a - mx) * (b - my);
            sxx += (a - mx) * (a - mx);
            syy += (b - my) * (b - my);
        }
        let (mut score, mut untied_x, mut untied_y) = (0.0, 0.0, 0.0);
        for i in 0..x.len() {
            for j in 0..i {
                let (dx, dy) = ((x[i] - x[j]).signum(), (y[i] - y[j]).signum());
                score += if x[i] == x[j] || y[i] == y[j] { 0.0 } else { dx * dy };
                untied_x += f64::from(x[i] != x[j]);
                untied_y += f64::from(y[i] != y[j]);
            }
        }
        (sxy / (sxx * syy).sqrt(), score / (untied_x * untied_y).sqrt())
    }

    #[test]
    fn weighted_walk_matches_the_definitions() {
        // Few x groups (the two-level table) and many (the binary tree), with and
        // without y ties, with −0.0 and +0.0 tying; weights include 0 and repeats.
        let mut state = 12345u64;
        let mut next = move |m: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % m
        };
        // y_values 0: all y distinct (a permutation).
        for (x_values, y_values) in [(7, 0), (7, 9), (200, 0), (200, 13), (64, 5), (65, 5), (64, 0)] {
            let n = 301;
            let x: Vec<f64> = (0..n).map(|_| next(x_values) as f64 - 3.0).collect();
            let y: Vec<f64> = (0..n)
                .map(|i| match (y_values, next(y_values.max(1))) {
                    (0, _) => ((i * 7919) % 1009) as f64 / 7.0,
                    (_, 0) => -0.0,
                    (_, v) => v as f64 * 0.25,
                })
                .collect();
            let w: Vec<u32> = (0..n).map(|_| next(4) as u32).collect();
            let (mut ex, mut ey) = (Vec::new(), Vec::new());
            for i in 0..n {
                for _ in 0..w[i] {
                    ex.push(x[i]);
                    ey.push(y[i]);
                }
            }
            let (rho, tau) = naive(&ex, &ey);
            let p = pairs(&x, &y);
            let (a, b) = (p.spearman_weighted(&w).unwrap(), p.kendall_weighted(&w).unwrap());
            assert!((a - rho).abs() < 1e-12, "{x_values} {y_values}: ρ {a} vs {rho}");
            assert!((b - tau).abs() < 1e-12, "{x_values} {y_values}: τ {b} vs {tau}");
            let (rho, tau) = naive(&x, &y);
            let (a, b) = (p.spearman().unwrap(), p.kendall().unwrap());
            assert!((a - rho).abs() < 1e-12, "{x_values} {y_values}: ρ {a} vs {rho}");
            assert!((b - tau).abs() < 1e-12, "{x_values} {y_values}: τ {b} vs {tau}");
        }
    }

    #[test]
    fn constant_side_is_undefined() {
        let p = pairs(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]);
        assert_eq!(p.spearman(), None);
        assert_eq!(p.kendall(), None);
    }
}
