//! Rank correlations (Spearman ρ with averaged ties, Kendall τ-b) on paired samples,
//! optionally with integer weights — a bootstrap resample is the original sample
//! with each point repeated `w_i` times, so one pre-sorted order serves every
//! replicate and a replicate costs O(n) (Spearman) or O(n log k) (Kendall) instead
//! of a fresh sort.

/// Indices of `v` in ascending order (total order on f64; callers pass no NaN).
pub fn ascending_order(v: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    order
}

/// Dense tie-group index of every point (0 for the smallest value), and the number of groups.
fn dense_ranks(v: &[f64], order: &[usize]) -> (Vec<usize>, usize) {
    let mut dense = vec![0usize; v.len()];
    let mut group = 0usize;
    for (pos, &i) in order.iter().enumerate() {
        if pos > 0 && v[i] != v[order[pos - 1]] {
            group += 1;
        }
        dense[i] = group;
    }
    (dense, if v.is_empty() { 0 } else { group + 1 })
}

/// Average ranks (1-based) of the points, each point counted `w_i` times; points
/// with weight 0 get rank 0 and must be ignored by the caller.
fn weighted_average_ranks(v: &[f64], order: &[usize], weights: &[u32]) -> Vec<f64> {
    let mut ranks = vec![0.0; v.len()];
    let mut start = 0usize;
    let mut below = 0.0f64;
    while start < order.len() {
        let mut end = start;
        let mut group_weight = 0.0f64;
        while end < order.len() && v[order[end]] == v[order[start]] {
            group_weight += f64::from(weights[order[end]]);
            end += 1;
        }
        // A tie group occupying positions below+1 ..= below+W shares their mean.
        let rank = below + (group_weight + 1.0) / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        below += group_weight;
        start = end;
    }
    ranks
}

/// Weighted Pearson correlation; `None` when either side has no variance.
fn weighted_pearson(a: &[f64], b: &[f64], weights: &[u32]) -> Option<f64> {
    let (mut n, mut sa, mut sb) = (0.0f64, 0.0f64, 0.0f64);
    for ((&x, &y), &w) in a.iter().zip(b).zip(weights) {
        let w = f64::from(w);
        n += w;
        sa += w * x;
        sb += w * y;
    }
    if n < 2.0 {
        return None;
    }
    let (ma, mb) = (sa / n, sb / n);
    let (mut saa, mut sbb, mut sab) = (0.0f64, 0.0f64, 0.0f64);
    for ((&x, &y), &w) in a.iter().zip(b).zip(weights) {
        let w = f64::from(w);
        let (dx, dy) = (x - ma, y - mb);
        saa += w * dx * dx;
        sbb += w * dy * dy;
        sab += w * dx * dy;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        return None;
    }
    Some((sab / (saa.sqrt() * sbb.sqrt())).clamp(-1.0, 1.0))
}

/// Paired samples prepared once (sort orders, tie groups) for repeated weighted evaluation.
#[derive(Debug, Clone)]
pub struct RankedPairs {
    x: Vec<f64>,
    y: Vec<f64>,
    order_x: Vec<usize>,
    order_y: Vec<usize>,
    /// Points sorted by (y, x): Kendall walks y tie groups and queries x ranks.
    order_yx: Vec<usize>,
    dense_x: Vec<usize>,
    groups_x: usize,
}

impl RankedPairs {
    /// Prepares the pairs `(x_i, y_i)`; pairs where either side is NaN must be removed first.
    pub fn new(x: Vec<f64>, y: Vec<f64>) -> Self {
        let order_x = ascending_order(&x);
        let order_y = ascending_order(&y);
        let (dense_x, groups_x) = dense_ranks(&x, &order_x);
        let mut order_yx: Vec<usize> = (0..x.len()).collect();
        order_yx.sort_by(|&a, &b| y[a].total_cmp(&y[b]).then(x[a].total_cmp(&x[b])));
        RankedPairs {
            x,
            y,
            order_x,
            order_y,
            order_yx,
            dense_x,
            groups_x,
        }
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Spearman ρ of the sample where point i appears `weights[i]` times.
    pub fn spearman_weighted(&self, weights: &[u32]) -> Option<f64> {
        let rx = weighted_average_ranks(&self.x, &self.order_x, weights);
        let ry = weighted_average_ranks(&self.y, &self.order_y, weights);
        weighted_pearson(&rx, &ry, weights)
    }

    /// Spearman ρ (Pearson correlation of average ranks, as `scipy.stats.spearmanr`).
    pub fn spearman(&self) -> Option<f64> {
        self.spearman_weighted(&vec![1; self.len()])
    }

    /// Kendall τ-b of the sample where point i appears `weights[i]` times.
    ///
    /// τ_b = (n_c − n_d) / √((n_0 − n_x)(n_0 − n_y)); with the points walked in (y, x)
    /// order, n_d is the weight of earlier points (smaller y) with larger x, counted
    /// by a Fenwick tree over the x tie groups.
    pub fn kendall_weighted(&self, weights: &[u32]) -> Option<f64> {
        let mut tree = Fenwick::new(self.groups_x);
        let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
        let pairs = |t: f64| t * (t - 1.0) / 2.0;
        let n0 = pairs(total);
        let (mut ties_y, mut ties_xy, mut discordant, mut inserted) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let order = &self.order_yx;
        let mut start = 0usize;
        while start < order.len() {
            let mut end = start;
            let mut group_weight = 0.0f64;
            // Joint (x, y) ties are consecutive inside a y group because of the (y, x) order.
            let mut joint_weight = 0.0f64;
            while end < order.len() && self.y[order[end]] == self.y[order[start]] {
                let i = order[end];
                let w = f64::from(weights[i]);
                if end > start && self.x[i] != self.x[order[end - 1]] {
                    ties_xy += pairs(joint_weight);
                    joint_weight = 0.0;
                }
                joint_weight += w;
                group_weight += w;
                if w > 0.0 {
                    // Earlier y groups only: the tree holds no point of this y group yet.
                    let not_greater = tree.prefix(self.dense_x[i]);
                    discordant += w * (inserted - not_greater);
                }
                end += 1;
            }
            ties_xy += pairs(joint_weight);
            ties_y += pairs(group_weight);
            for &i in &order[start..end] {
                tree.add(self.dense_x[i], f64::from(weights[i]));
            }
            inserted += group_weight;
            start = end;
        }
        let mut ties_x = 0.0f64;
        let mut group_weights = vec![0.0f64; self.groups_x];
        for (i, &g) in self.dense_x.iter().enumerate() {
            group_weights[g] += f64::from(weights[i]);
        }
        for t in group_weights {
            ties_x += pairs(t);
        }
        // Pairs tied in x but not in y are neither concordant nor discordant.
        let concordant = n0 - ties_x - ties_y + ties_xy - discordant;
        let denominator = ((n0 - ties_x) * (n0 - ties_y)).sqrt();
        if denominator.is_nan() || denominator <= 0.0 {
            return None;
        }
        Some(((concordant - discordant) / denominator).clamp(-1.0, 1.0))
    }

    /// Kendall τ-b (as `scipy.stats.kendalltau`, variant b).
    pub fn kendall(&self) -> Option<f64> {
        self.kendall_weighted(&vec![1; self.len()])
    }
}

/// Fenwick (binary indexed) tree of f64 weights over positions 0..n.
struct Fenwick {
    tree: Vec<f64>,
}

impl Fenwick {
    fn new(n: usize) -> Self {
        Fenwick { tree: vec![0.0; n + 1] }
    }
    fn add(&mut self, pos: usize, w: f64) {
        let mut i = pos + 1;
        while i < self.tree.len() {
            self.tree[i] += w;
            i += i & i.wrapping_neg();
        }
    }
    /// Sum of weights at positions 0..=pos.
    fn prefix(&self, pos: usize) -> f64 {
        let mut i = pos + 1;
        let mut s = 0.0;
        while i > 0 {
            s += self.tree[i];
            i -= i & i.wrapping_neg();
        }
        s
    }
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

    #[test]
    fn constant_side_is_undefined() {
        let p = pairs(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]);
        assert_eq!(p.spearman(), None);
        assert_eq!(p.kendall(), None);
    }
}
