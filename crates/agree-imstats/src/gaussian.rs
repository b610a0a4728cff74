//! Separable Gaussian smoothing with clamped borders, as in the Felzenszwalb–Huttenlocher
//! C++ code (`filter.h`); shared by the segmentation and the Canny detector.

/// The largest σ smoothed with (401 taps); larger values, and +∞, are clamped to it.
pub const MAX_SIGMA: f32 = 100.0;

/// The C++ code's `make_fgauss` + `normalize`: ⌈4σ⌉+1 taps of exp(−(i/σ)²/2), in f32,
/// scaled so that g[0] + 2Σ_{i≥1} g[i] = 1. σ is taken within 0.01..=[`MAX_SIGMA`]
/// (NaN as 0.01), so the tap count is bounded whatever the caller passes.
pub fn gaussian_taps(sigma: f32) -> Vec<f32> {
    let sigma = if sigma.is_nan() {
        0.01
    } else {
        sigma.clamp(0.01, MAX_SIGMA)
    };
    let len = (sigma * 4.0).ceil() as usize + 1;
    let mut mask: Vec<f32> = (0..len)
        .map(|i| {
            let q = i as f32 / sigma;
            (-0.5 * f64::from(q * q)).exp() as f32
        })
        .collect();
    let sum = 2.0 * mask[1..].iter().map(|v| v.abs()).sum::<f32>() + mask[0].abs();
    for v in &mut mask {
        *v /= sum;
    }
    mask
}

/// Gaussian taps cached for the last σ, so steady-state smoothing allocates nothing.
#[derive(Debug, Default, Clone)]
pub struct CachedTaps {
    sigma: Option<f32>,
    taps: Vec<f32>,
}

impl CachedTaps {
    /// The taps of `sigma` (computed on first use or when σ changes).
    pub fn get(&mut self, sigma: f32) -> &[f32] {
        if self.sigma != Some(sigma) {
            self.taps = gaussian_taps(sigma);
            self.sigma = Some(sigma);
        }
        &self.taps
    }
}

/// Smooths `src` (`width × height`, row-major) with the symmetric half-kernel `mask`
/// along rows into `tmp`, then along columns into `dst`: the C++ `convolve_even`
/// twice, per pixel the same f32 operations in the same order, borders clamped.
pub fn smooth(src: &[f32], tmp: &mut Vec<f32>, dst: &mut Vec<f32>, width: usize, height: usize, mask: &[f32]) {
    let n = width * height;
    tmp.resize(n, 0.0);
    dst.resize(n, 0.0);
    convolve_rows(src, tmp, width, mask);
    convolve_cols(tmp, dst, width, height, mask);
}

fn convolve_rows(src: &[f32], dst: &mut [f32], width: usize, mask: &[f32]) {
    let len = mask.len();
    for (srow, drow) in src.chunks_exact(width).zip(dst.chunks_exact_mut(width)) {
        // The interior needs no clamping: a plain loop the compiler vectorises.
        let inner = len..width.saturating_sub(len);
        for x in (0..width).filter(|x| !inner.contains(x)) {
            let mut sum = mask[0] * srow[x];
            for (i, &m) in mask.iter().enumerate().skip(1) {
                sum += m * (srow[x.saturating_sub(i)] + srow[(x + i).min(width - 1)]);
            }
            drow[x] = sum;
        }
        if !inner.is_empty() {
            // Tap by tap over the whole interior (each pixel still sums m0·s[x], then
            // m1·(…), m2·(…) in that order): the x loop is innermost and vectorises.
            let (lo, hi) = (inner.start, inner.end);
            let d = &mut drow[lo..hi];
            for (d, &c) in d.iter_mut().zip(&srow[lo..hi]) {
                *d = mask[0] * c;
            }
            for (i, &m) in mask.iter().enumerate().skip(1) {
                let (left, right) = (&srow[lo - i..hi - i], &srow[lo + i..hi + i]);
                for ((d, &a), &b) in d.iter_mut().zip(left).zip(right) {
                    *d += m * (a + b);
                }
            }
        }
    }
}

/// Column pass written row by row so the inner loop runs over contiguous memory.
fn convolve_cols(src: &[f32], dst: &mut [f32], width: usize, height: usize, mask: &[f32]) {
    for (y, drow) in dst.chunks_exact_mut(width).enumerate() {
        let row = |yy: usize| &src[yy * width..(yy + 1) * width];
        for (d, &c) in drow.iter_mut().zip(row(y)) {
            *d = mask[0] * c;
        }
        for (i, &m) in mask.iter().enumerate().skip(1) {
            let up = row(y.saturating_sub(i));
            let down = row((y + i).min(height - 1));
            for ((d, &a), &b) in drow.iter_mut().zip(up).zip(down) {
                *d += m * (a + b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_follow_the_cpp_code() {
        let g = gaussian_taps(0.5);
        let raw = [1.0f64, (-2.0f64).exp(), (-8.0f64).exp()];
        let sum = raw[0] + 2.0 * (raw[1] + raw[2]);
        assert_eq!(g.len(), 3);
        for (a, b) in g.iter().zip(raw) {
            assert!((f64::from(*a) - b / sum).abs() < 1e-7);
        }
        assert_eq!(gaussian_taps(1.0).len(), 5);
    }

    #[test]
    fn any_sigma_gives_a_bounded_normalised_kernel() {
        for sigma in [f32::INFINITY, f32::NAN, f32::NEG_INFINITY, f32::MAX, 1e9, -3.0] {
            let g = gaussian_taps(sigma);
            assert!(g.len() <= 401, "σ {sigma}: {} taps", g.len());
            let sum = g[0] + 2.0 * g[1..].iter().sum::<f32>();
            assert!((sum - 1.0).abs() < 1e-4, "σ {sigma}: sum {sum}");
        }
    }

    #[test]
    fn smoothing_keeps_constants_and_clamps_borders() {
        let mask = gaussian_taps(1.0);
        let (mut tmp, mut dst) = (Vec::new(), Vec::new());
        smooth(&[3.0; 12 * 7], &mut tmp, &mut dst, 12, 7, &mask);
        assert!(dst.iter().all(|&v| (v - 3.0).abs() < 1e-5));
        // A single bright column at the left border: clamping repeats it outward, so
        // the border pixel keeps more than the kernel centre.
        let src: Vec<f32> = (0..12 * 7).map(|i| if i % 12 == 0 { 1.0 } else { 0.0 }).collect();
        smooth(&src, &mut tmp, &mut dst, 12, 7, &mask);
        let expect_border = mask[0] + mask[1] + mask[2] + mask[3] + mask[4];
        assert!((dst[0] - expect_border).abs() < 1e-6, "{}", dst[0]);
        assert!((dst[1] - (mask[1] + mask[2] + mask[3] + mask[4])).abs() < 1e-6);
    }
}
