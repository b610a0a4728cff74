//! Canny edge detection on the luma plane and `edge_density`.
//!
//! The stand-in SPEC §3 names for the reference's crisp-boundary edge strength. Chosen
//! to match `skimage.feature.canny(Y/255)` defaults: Gaussian σ = 1 (⌈4σ⌉ taps each
//! side, borders clamped), Sobel derivatives, non-maximum suppression along the
//! gradient direction quantised to 0°/45°/90°/135°, hysteresis with low/high
//! thresholds 0.1/0.2 of the 0..1 scale (25.5/51 on 0..255 luma), 8-connected; the
//! one-pixel image frame is never an edge (skimage masks it the same way).

use crate::{
    gaussian::{CachedTaps, smooth},
    gradient::{GradientScratch, sobel},
};

/// Canny parameters on the 0..255 luma scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CannyParams {
    /// Gaussian σ before differentiation (pixels).
    pub sigma: f32,
    /// Weak-edge threshold on the Sobel magnitude.
    pub low: f32,
    /// Strong-edge threshold on the Sobel magnitude.
    pub high: f32,
}

impl Default for CannyParams {
    fn default() -> Self {
        CannyParams {
            sigma: 1.0,
            low: 25.5,
            high: 51.0,
        }
    }
}

/// Reusable planes of the edge detector.
#[derive(Debug, Default, Clone)]
pub struct CannyScratch {
    taps: CachedTaps,
    tmp: Vec<f32>,
    smoothed: Vec<f32>,
    gradient: GradientScratch,
    magnitude: Vec<f32>,
    /// 0 none, 1 weak, 2 strong, 3 strong and visited.
    class: Vec<u8>,
    stack: Vec<u32>,
}

/// Fraction of pixels of `plane` (`width × height`, 0..255) that are Canny edges.
pub fn edge_density(
    plane: &[f32],
    width: usize,
    height: usize,
    params: &CannyParams,
    scratch: &mut CannyScratch,
) -> f64 {
    let n = width * height;
    if width < 3 || height < 3 {
        return 0.0;
    }
    let mask = scratch.taps.get(params.sigma);
    smooth(plane, &mut scratch.tmp, &mut scratch.smoothed, width, height, mask);
    sobel(&scratch.smoothed, width, height, &mut scratch.gradient);
    let (gx, gy) = (&scratch.gradient.gx, &scratch.gradient.gy);
    scratch.magnitude.clear();
    scratch
        .magnitude
        .extend(gx.iter().zip(gy).map(|(&a, &b)| (a * a + b * b).sqrt()));
    let mag = &scratch.magnitude[..];
    let (gx, gy) = (&gx[..], &gy[..]);
    scratch.class.clear();
    scratch.class.resize(n, 0);
    let class = &mut scratch.class[..];
    suppress_non_maxima(mag, gx, gy, width, height, params, class);
    let edges = hysteresis(class, width, &mut scratch.stack);
    edges as f64 / n as f64
}

/// The non-maximum suppression phase: an interior pixel whose magnitude is at least
/// `params.low` and at least its two neighbours' along the gradient is classed 1
/// (weak) or, from `params.high` on, 2 (strong).
fn suppress_non_maxima(
    mag: &[f32],
    gx: &[f32],
    gy: &[f32],
    width: usize,
    height: usize,
    params: &CannyParams,
    class: &mut [u8],
) {
    // tan(22.5°): below it the gradient is horizontal-ish, above tan(67.5°) vertical-ish.
    const TAN_22_5: f32 = 0.414_213_57;
    for y in 1..height - 1 {
        for p in y * width + 1..(y + 1) * width - 1 {
            let m = mag[p];
            if m < params.low {
                continue;
            }
            let (ax, ay) = (gx[p].abs(), gy[p].abs());
            // Neighbours across the edge, i.e. along the gradient: p ± step.
            let step = if ay <= TAN_22_5 * ax {
                1
            } else if ax <= TAN_22_5 * ay {
                width
            } else if (gx[p] > 0.0) == (gy[p] > 0.0) {
                width + 1
            } else {
                width - 1
            };
            if m >= mag[p - step] && m >= mag[p + step] {
                class[p] = if m >= params.high { 2 } else { 1 };
            }
        }
    }
}

/// The hysteresis phase: every strong pixel and the weak ones connected to it
/// (8-connectivity) become edges (class 3); returns how many.
fn hysteresis(class: &mut [u8], width: usize, stack: &mut Vec<u32>) -> usize {
    let n = class.len();
    // Hysteresis. Only interior pixels are ever classed, so every neighbour of a
    // classed pixel lies inside the image (and the frame's class is 0).
    let around = [
        width + 1,
        width,
        width - 1,
        1,
        usize::MAX, // −1 (wrapping)
        (width - 1).wrapping_neg(),
        width.wrapping_neg(),
        (width + 1).wrapping_neg(),
    ];
    stack.clear();
    let mut edges = 0usize;
    for start in 0..n {
        if class[start] != 2 {
            continue;
        }
        class[start] = 3;
        edges += 1;
        stack.push(start as u32);
        while let Some(p) = stack.pop() {
            for &d in &around {
                let q = (p as usize).wrapping_add(d);
                if class[q] == 1 || class[q] == 2 {
                    class[q] = 3;
                    edges += 1;
                    stack.push(q as u32);
                }
            }
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_edge_is_one_line_of_edge_pixels() {
        // 20×20, left half 0 and right half 200: the step is one column of edges
        // (the suppression keeps one of the two equal maxima per row, or both when
        // they tie exactly), over the 18 non-frame rows.
        let (w, h) = (20, 20);
        let plane: Vec<f32> = (0..w * h).map(|i| if i % w < 10 { 0.0 } else { 200.0 }).collect();
        let mut s = CannyScratch::default();
        let d = edge_density(&plane, w, h, &CannyParams::default(), &mut s);
        let edges = (d * (w * h) as f64).round() as usize;
        assert!(edges == 18 || edges == 36, "{edges} edge pixels");
        assert_eq!(edge_density(&[50.0; 400], w, h, &CannyParams::default(), &mut s), 0.0);
        assert_eq!(edge_density(&[1.0, 2.0], 2, 1, &CannyParams::default(), &mut s), 0.0);
    }

    #[test]
    fn a_faint_step_is_no_edge() {
        let (w, h) = (20, 20);
        let plane: Vec<f32> = (0..w * h).map(|i| if i % w < 10 { 100.0 } else { 104.0 }).collect();
        let mut s = CannyScratch::default();
        assert_eq!(edge_density(&plane, w, h, &CannyParams::default(), &mut s), 0.0);
    }
}
