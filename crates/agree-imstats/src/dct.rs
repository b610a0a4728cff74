//! DCT compactness: how few orthonormal DCT-II coefficients of `Y/255` hold 0.9998 of
//! the L2 norm (`dct_energy_pct`), and the largest coefficient (`dct_max_coeff`).

use std::sync::Arc;

use rustdct::{DctPlanner, TransformType2And3};

/// The share of the L2 norm the kept coefficients must reach (SPEC §3).
pub const DEFAULT_NORM_SHARE: f64 = 0.9998;

/// The two DCT statistics of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DctStats {
    /// `100·k/(H·W)`, k the fewest coefficients with ‖top-k‖₂/‖all‖₂ ≥ the share.
    pub energy_pct: f64,
    /// Largest |coefficient|.
    pub max_coeff: f64,
}

/// Per-thread DCT plans (cached per length by the planner) and buffers.
pub struct DctScratch {
    planner: DctPlanner<f64>,
    rows: Option<(usize, Arc<dyn TransformType2And3<f64>>)>,
    cols: Option<(usize, Arc<dyn TransformType2And3<f64>>)>,
    plane: Vec<f64>,
    transposed: Vec<f64>,
    scratch: Vec<f64>,
    keys: Vec<u64>,
    cums: Vec<f64>,
}

impl Default for DctScratch {
    fn default() -> Self {
        DctScratch {
            planner: DctPlanner::new(),
            rows: None,
            cols: None,
            plane: Vec::new(),
            transposed: Vec::new(),
            scratch: Vec::new(),
            keys: Vec::new(),
            cums: Vec::new(),
        }
    }
}

impl std::fmt::Debug for DctScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DctScratch").finish_non_exhaustive()
    }
}

fn plan(
    planner: &mut DctPlanner<f64>,
    slot: &mut Option<(usize, Arc<dyn TransformType2And3<f64>>)>,
    len: usize,
) -> Arc<dyn TransformType2And3<f64>> {
    match slot {
        Some((l, p)) if *l == len => p.clone(),
        _ => {
            let p = planner.plan_dct2(len);
            *slot = Some((len, p.clone()));
            p
        }
    }
}

/// Orthonormal DCT-II along each row of `data` (rows of `len`), in place.
fn dct_rows(data: &mut [f64], len: usize, dct: &dyn TransformType2And3<f64>, scratch: &mut Vec<f64>) {
    scratch.resize(dct.get_scratch_len().max(1), 0.0);
    // rustdct's DCT-II is unnormalised: X_k = Σ x_n cos(π(n+½)k/N).
    let scale = (2.0 / len as f64).sqrt();
    let scale0 = scale * std::f64::consts::FRAC_1_SQRT_2;
    for row in data.chunks_exact_mut(len) {
        dct.process_dct2_with_scratch(row, scratch);
        row[0] *= scale0;
        for v in &mut row[1..] {
            *v *= scale;
        }
    }
}

/// Fills the scratch plane with the orthonormal 2-D DCT-II of `y/255` (`y` row-major
/// `width × height`, on 0..255), stored transposed (column-major), and returns it.
pub fn dct2_ortho<'a>(y: &[f64], width: usize, height: usize, scratch: &'a mut DctScratch) -> &'a [f64] {
    let n = width * height;
    scratch.plane.clear();
    scratch.plane.extend(y.iter().map(|&v| v / 255.0));
    let rows = plan(&mut scratch.planner, &mut scratch.rows, width);
    dct_rows(&mut scratch.plane, width, rows.as_ref(), &mut scratch.scratch);
    scratch.transposed.resize(n, 0.0);
    for (yy, row) in scratch.plane.chunks_exact(width).enumerate() {
        for (x, &v) in row.iter().enumerate() {
            scratch.transposed[x * height + yy] = v;
        }
    }
    let cols = plan(&mut scratch.planner, &mut scratch.cols, height);
    dct_rows(&mut scratch.transposed, height, cols.as_ref(), &mut scratch.scratch);
    &scratch.transposed
}

/// `dct_energy_pct` and `dct_max_coeff` of a luma plane on 0..255.
///
/// The squared coefficients are sorted descending and summed from the top; the total
/// is that same sum, so `k` is found with exactly the arithmetic a numpy
/// `cumsum` over the sorted squares performs. All-zero image: both 0.
pub fn dct_stats(y: &[f64], width: usize, height: usize, norm_share: f64, scratch: &mut DctScratch) -> DctStats {
    let n = width * height;
    if n == 0 {
        return DctStats {
            energy_pct: 0.0,
            max_coeff: 0.0,
        };
    }
    dct2_ortho(y, width, height, scratch);
    let DctScratch {
        transposed, keys, cums, ..
    } = scratch;
    // Squares are ≥ 0, so their IEEE bit patterns sort like the values.
    keys.clear();
    keys.extend(transposed.iter().map(|&c| (c * c).to_bits()));
    keys.sort_unstable();
    let max_coeff = f64::from_bits(keys[n - 1]).sqrt();
    // The running sums from the top; the last is the total.
    cums.clear();
    let mut cum = 0.0;
    cums.extend(keys.iter().rev().map(|&key| {
        cum += f64::from_bits(key);
        cum
    }));
    let total = cums[n - 1];
    if total == 0.0 {
        return DctStats {
            energy_pct: 0.0,
            max_coeff,
        };
    }
    let total_norm = total.sqrt();
    // The test `√cum / ‖all‖ ≥ share` is monotone in `cum` (each step a rounded
    // monotone function), so the first sum passing it is found by bisection with
    // exactly the arithmetic of a linear scan.
    let passes = |c: f64| c.sqrt() / total_norm >= norm_share;
    let first = cums.partition_point(|&c| !passes(c));
    let k = if first < n { first + 1 } else { n };
    DctStats {
        energy_pct: 100.0 * k as f64 / n as f64,
        max_coeff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The orthonormal DCT-II by its definition.
    fn naive_dct2(x: &[f64], w: usize, h: usize) -> Vec<f64> {
        let alpha = |k: usize, n: usize| {
            if k == 0 {
                (1.0 / n as f64).sqrt()
            } else {
                (2.0 / n as f64).sqrt()
            }
        };
        let pi = std::f64::consts::PI;
        let mut out = vec![0.0; w * h];
        for v in 0..h {
            for u in 0..w {
                let mut s = 0.0;
                for y in 0..h {
                    for xx in 0..w {
                        s += x[y * w + xx]
                            * (pi * (xx as f64 + 0.5) * u as f64 / w as f64).cos()
                            * (pi * (y as f64 + 0.5) * v as f64 / h as f64).cos();
                    }
                }
                out[u * h + v] = alpha(u, w) * alpha(v, h) * s;
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_on_a_non_square_plane() {
        let (w, h) = (5, 3);
        let y: Vec<f64> = (0..w * h).map(|i| ((i * 37) % 11) as f64 * 20.0).collect();
        let mut s = DctScratch::default();
        let fast = dct2_ortho(&y, w, h, &mut s).to_vec();
        let x: Vec<f64> = y.iter().map(|v| v / 255.0).collect();
        for (a, b) in fast.iter().zip(naive_dct2(&x, w, h)) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn constant_image_needs_one_coefficient() {
        let mut s = DctScratch::default();
        let st = dct_stats(&[255.0; 32 * 32], 32, 32, DEFAULT_NORM_SHARE, &mut s);
        assert_eq!(st.energy_pct, 100.0 / 1024.0);
        // DC of an orthonormal DCT of ones = √(H·W) = 32.
        assert!((st.max_coeff - 32.0).abs() < 1e-12);
        let zero = dct_stats(&[0.0; 12], 4, 3, DEFAULT_NORM_SHARE, &mut s);
        assert_eq!((zero.energy_pct, zero.max_coeff), (0.0, 0.0));
    }

    #[test]
    fn two_equal_coefficients_need_both() {
        // A 2×1 image [a, 0]: coefficients (a/√2, a/√2); one holds only 0.707 of the norm.
        let mut s = DctScratch::default();
        let st = dct_stats(&[255.0, 0.0], 2, 1, DEFAULT_NORM_SHARE, &mut s);
        assert_eq!(st.energy_pct, 100.0);
        assert!((st.max_coeff - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
    }
}
