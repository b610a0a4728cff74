//! The radially averaged power spectrum of `Y − mean(Y)` (the `spectra` table), the
//! power-law fit through it, and the high-frequency share of power.

use std::sync::Arc;

use rustfft::{Fft, FftPlanner, num_complex::Complex};

/// Number of radial-frequency bins over [0, 0.5] cycles/pixel.
pub const BINS: usize = 16;

/// Radial frequency above which power counts as high (cycles/pixel).
const HIGH_FREQUENCY: f64 = 0.25;

/// Spectral statistics of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectrumStats {
    /// Mean |F|² per bin, normalised to sum 1 (all zeros for a constant image).
    pub power: [f64; BINS],
    /// α of P(f) ∝ f^−α, fitted over bins 1.. that hold power.
    pub slope: f64,
    /// Natural-log intercept of the same fit.
    pub intercept: f64,
    /// Share of power (DC excluded) at radial frequency > 0.25 cycles/pixel.
    pub high_freq_ratio: f64,
}

/// Where each frequency of one image size falls: cached per size.
#[derive(Debug, Clone)]
struct RadialPlan {
    width: usize,
    height: usize,
    /// Per frequency in transposed (x-major) order: bin 0..16, `OUTSIDE` beyond 0.5,
    /// and `HIGH` set when above 0.25.
    code: Vec<u8>,
    /// Frequencies per bin.
    count: [u32; BINS],
}

const OUTSIDE: u8 = 0x20;
const HIGH: u8 = 0x40;
const DC: u8 = 0x80;

/// numpy's `fftfreq(n)[k]`.
fn fftfreq(k: usize, n: usize) -> f64 {
    if k < n.div_ceil(2) {
        k as f64 / n as f64
    } else {
        (k as f64 - n as f64) / n as f64
    }
}

impl RadialPlan {
    fn new(width: usize, height: usize) -> Self {
        let mut code = Vec::with_capacity(width * height);
        let mut count = [0u32; BINS];
        for x in 0..width {
            let fx = fftfreq(x, width);
            for y in 0..height {
                let fy = fftfreq(y, height);
                let r = (fx * fx + fy * fy).sqrt();
                let mut c = if r > 0.5 {
                    OUTSIDE
                } else {
                    let bin = ((r * 2.0 * BINS as f64).floor() as usize).min(BINS - 1);
                    count[bin] += 1;
                    bin as u8
                };
                if r > HIGH_FREQUENCY {
                    c |= HIGH;
                }
                if x == 0 && y == 0 {
                    c |= DC;
                }
                code.push(c);
            }
        }
        RadialPlan {
            width,
            height,
            code,
            count,
        }
    }
}

/// Per-thread FFT plans (cached per length), radial plans (cached per size) and buffers.
pub struct SpectrumScratch {
    planner: FftPlanner<f64>,
    rows: Option<(usize, Arc<dyn Fft<f64>>)>,
    cols: Option<(usize, Arc<dyn Fft<f64>>)>,
    radial: Option<RadialPlan>,
    plane: Vec<Complex<f64>>,
    transposed: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
}

impl Default for SpectrumScratch {
    fn default() -> Self {
        SpectrumScratch {
            planner: FftPlanner::new(),
            rows: None,
            cols: None,
            radial: None,
            plane: Vec::new(),
            transposed: Vec::new(),
            scratch: Vec::new(),
        }
    }
}

impl std::fmt::Debug for SpectrumScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpectrumScratch").finish_non_exhaustive()
    }
}

fn plan(planner: &mut FftPlanner<f64>, slot: &mut Option<(usize, Arc<dyn Fft<f64>>)>, len: usize) -> Arc<dyn Fft<f64>> {
    match slot {
        Some((l, p)) if *l == len => p.clone(),
        _ => {
            let p = planner.plan_fft_forward(len);
            *slot = Some((len, p.clone()));
            p
        }
    }
}

/// Least-squares line through (ln f_i, ln P_i) over bins 1.. with power; returns
/// (α, intercept) with P ∝ f^−α. Fewer than two usable bins: (0, 0).
pub fn power_law_fit(power: &[f64; BINS]) -> (f64, f64) {
    let (mut n, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (i, &p) in power.iter().enumerate().skip(1) {
        if p > 0.0 {
            n += 1.0;
            sx += ((i as f64 + 0.5) / (2.0 * BINS as f64)).ln();
            sy += p.ln();
        }
    }
    if n < 2.0 {
        return (0.0, 0.0);
    }
    let (mx, my) = (sx / n, sy / n);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (i, &p) in power.iter().enumerate().skip(1) {
        if p > 0.0 {
            let dx = ((i as f64 + 0.5) / (2.0 * BINS as f64)).ln() - mx;
            sxx += dx * dx;
            sxy += dx * (p.ln() - my);
        }
    }
    let b = sxy / sxx;
    (-b, my - b * mx)
}

/// The spectrum statistics of a luma plane (row-major `width × height`, any scale).
pub fn spectrum_stats(y: &[f64], width: usize, height: usize, scratch: &mut SpectrumScratch) -> SpectrumStats {
    let n = width * height;
    let mut power = [0.0; BINS];
    if n == 0 {
        return SpectrumStats {
            power,
            slope: 0.0,
            intercept: 0.0,
            high_freq_ratio: 0.0,
        };
    }
    // Centred via the first value, so a constant plane becomes exactly zero (no
    // rounding residue for the normalisation to blow up).
    let shift = y[0];
    let mean = y.iter().map(|&v| v - shift).sum::<f64>() / n as f64;
    scratch.plane.clear();
    scratch
        .plane
        .extend(y.iter().map(|&v| Complex::new((v - shift) - mean, 0.0)));
    let rows = plan(&mut scratch.planner, &mut scratch.rows, width);
    let cols = plan(&mut scratch.planner, &mut scratch.cols, height);
    let need = rows.get_inplace_scratch_len().max(cols.get_inplace_scratch_len());
    scratch.scratch.resize(need, Complex::new(0.0, 0.0));
    // rustfft transforms every `len`-chunk of the buffer: all rows in one call.
    rows.process_with_scratch(&mut scratch.plane, &mut scratch.scratch);
    scratch.transposed.resize(n, Complex::new(0.0, 0.0));
    for (yy, row) in scratch.plane.chunks_exact(width).enumerate() {
        for (x, &v) in row.iter().enumerate() {
            scratch.transposed[x * height + yy] = v;
        }
    }
    cols.process_with_scratch(&mut scratch.transposed, &mut scratch.scratch);
    if !matches!(&scratch.radial, Some(p) if p.width == width && p.height == height) {
        scratch.radial = Some(RadialPlan::new(width, height));
    }
    let Some(radial) = scratch.radial.as_ref() else {
        unreachable!("radial plan set above")
    };
    let (mut all, mut high) = (0.0, 0.0);
    for (f, &code) in scratch.transposed.iter().zip(&radial.code) {
        let p = f.norm_sqr();
        if code & DC != 0 {
            continue;
        }
        all += p;
        if code & HIGH != 0 {
            high += p;
        }
        if code & OUTSIDE == 0 {
            power[usize::from(code & 0x1f)] += p;
        }
    }
    // DC is in bin 0 by definition; with the mean removed its power is ~0, and it
    // only changes bin 0, which the fit skips.
    for (p, &c) in power.iter_mut().zip(&radial.count) {
        if c > 0 {
            *p /= f64::from(c);
        }
    }
    let sum: f64 = power.iter().sum();
    if sum > 0.0 {
        for p in &mut power {
            *p /= sum;
        }
    }
    let (slope, intercept) = power_law_fit(&power);
    SpectrumStats {
        power,
        slope,
        intercept,
        high_freq_ratio: if all > 0.0 { high / all } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Real noise with power spectrum ∝ f^−α (random phases, inverse FFT).
    fn noise(alpha: f64, size: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut planner = FftPlanner::<f64>::new();
        let mut buf: Vec<Complex<f64>> = (0..size * size)
            .map(|i| {
                let (fx, fy) = (fftfreq(i % size, size), fftfreq(i / size, size));
                let r = (fx * fx + fy * fy).sqrt();
                let amp = if r == 0.0 { 0.0 } else { r.powf(-alpha / 2.0) };
                let phase = rng.random::<f64>() * std::f64::consts::TAU;
                Complex::from_polar(amp, phase)
            })
            .collect();
        let inv = planner.plan_fft_inverse(size);
        inv.process(&mut buf);
        let mut t = vec![Complex::new(0.0, 0.0); size * size];
        for y in 0..size {
            for x in 0..size {
                t[x * size + y] = buf[y * size + x];
            }
        }
        inv.process(&mut t);
        t.iter().map(|c| c.re).collect()
    }

    #[test]
    fn one_over_f_noise_recovers_its_exponent() {
        let mut s = SpectrumScratch::default();
        for alpha in [1.0, 2.0, 3.0] {
            let y = noise(alpha, 256, alpha as u64);
            let st = spectrum_stats(&y, 256, 256, &mut s);
            assert!((st.slope - alpha).abs() < 0.1, "α = {alpha}: fitted {}", st.slope);
            assert!((st.power.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn constant_image_has_an_all_zero_spectrum() {
        let mut s = SpectrumScratch::default();
        let st = spectrum_stats(&[42.0; 64], 8, 8, &mut s);
        assert_eq!(st.power, [0.0; BINS]);
        assert_eq!((st.slope, st.intercept, st.high_freq_ratio), (0.0, 0.0, 0.0));
    }

    #[test]
    fn bins_follow_the_radial_frequency() {
        // 32×32: frequency (1/32, 0) is bin 1; corners (r > 0.5) are left out;
        // the Nyquist row (0.5, 0) falls in the last bin.
        let plan = RadialPlan::new(32, 32);
        assert_eq!(plan.code[32] & 0x1f, 1);
        assert_eq!(plan.count[0], 1);
        assert_eq!(plan.code[16 * 32] & 0x1f, 15);
        assert!(plan.code[16 * 32 + 16] & OUTSIDE != 0);
        // A pure horizontal cosine at 0.375 cycles/pixel: all power in bin 12, all high.
        let y: Vec<f64> = (0..32 * 32)
            .map(|i| (std::f64::consts::TAU * 0.375 * (i % 32) as f64).cos())
            .collect();
        let mut s = SpectrumScratch::default();
        let st = spectrum_stats(&y, 32, 32, &mut s);
        assert!((st.power[12] - 1.0).abs() < 1e-12, "{:?}", st.power);
        assert!((st.high_freq_ratio - 1.0).abs() < 1e-12);
    }

    #[test]
    fn exact_power_law_is_fitted_exactly() {
        let mut p = [0.0; BINS];
        for (i, v) in p.iter_mut().enumerate().skip(1) {
            *v = 3.0 * ((i as f64 + 0.5) / 32.0).powf(-2.5);
        }
        let (a, b) = power_law_fit(&p);
        assert!((a - 2.5).abs() < 1e-12 && (b - 3f64.ln()).abs() < 1e-12);
    }
}
