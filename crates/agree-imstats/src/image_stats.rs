//! All statistics of one image, computed together so shared work (the luma plane, its
//! rounded levels) is done once, in a per-thread workspace whose buffers and
//! FFT/DCT plans are reused from image to image.

use std::cell::RefCell;

use crate::{
    canny::{CannyParams, CannyScratch, edge_density},
    colour::colour_stats,
    compress::{CompressScratch, compress_ratio},
    dct::{DEFAULT_NORM_SHARE, DctScratch, dct_stats},
    entropy::{DEFAULT_WINDOW, LocalEntropyScratch, entropy_global, entropy_local},
    error::MeasureError,
    gradient::{GradientScratch, gradient_mean},
    image::ImageView,
    luma::{luma, luma_levels, rms_contrast, round_levels},
    segment::{SegmentParams, SegmentScratch, segment_count},
    spectrum::{BINS, SpectrumScratch, spectrum_stats},
    statistic::{Selection, Statistic},
};

/// Parameters of the statistics; the defaults are SPEC §3's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatsParams {
    /// Side of the `entropy_local` window.
    pub entropy_window: usize,
    /// Share of the DCT L2 norm for `dct_energy_pct`.
    pub dct_norm_share: f64,
    /// Felzenszwalb–Huttenlocher parameters.
    pub segment: SegmentParams,
    /// Canny parameters.
    pub canny: CannyParams,
}

impl Default for StatsParams {
    fn default() -> Self {
        StatsParams {
            entropy_window: DEFAULT_WINDOW,
            dct_norm_share: DEFAULT_NORM_SHARE,
            segment: SegmentParams::default(),
            canny: CannyParams::default(),
        }
    }
}

/// The statistics of one image; a field is `None` when its statistic was not selected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageStats {
    /// Mean 10×10-window entropy (bits).
    pub entropy_local: Option<f64>,
    /// Whole-image entropy (bits).
    pub entropy_global: Option<f64>,
    /// Percentage of DCT coefficients holding 0.9998 of the norm.
    pub dct_energy_pct: Option<f64>,
    /// Largest |DCT coefficient|.
    pub dct_max_coeff: Option<f64>,
    /// Felzenszwalb–Huttenlocher regions.
    pub segment_count: Option<i64>,
    /// Fraction of Canny edge pixels.
    pub edge_density: Option<f64>,
    /// Mean Sobel magnitude.
    pub gradient_mean: Option<f64>,
    /// α of P(f) ∝ f^−α.
    pub spectral_slope: Option<f64>,
    /// ln-intercept of the spectral fit.
    pub spectral_intercept: Option<f64>,
    /// Power share above 0.25 cycles/pixel.
    pub high_freq_ratio: Option<f64>,
    /// R, G, B means on 0..1.
    pub mean: Option<[f64; 3]>,
    /// R, G, B standard deviations on 0..1.
    pub std: Option<[f64; 3]>,
    /// R, G, B cube-rooted third central moments on 0..1.
    pub skew: Option<[f64; 3]>,
    /// Hasler–Süsstrunk colourfulness.
    pub colorfulness: Option<f64>,
    /// Standard deviation of Y/255.
    pub rms_contrast: Option<f64>,
    /// PNG size / raw size.
    pub compress_ratio: Option<f64>,
    /// The 16-bin normalised radial power spectrum (the `spectra` row).
    pub spectrum: Option<[f64; BINS]>,
}

impl ImageStats {
    /// The value of `stats` column `name` as f64 (`segment_count` converted).
    pub fn column(&self, name: &str) -> Option<f64> {
        let rgb = |a: Option<[f64; 3]>, i: usize| a.map(|v| v[i]);
        match name {
            "entropy_local" => self.entropy_local,
            "entropy_global" => self.entropy_global,
            "dct_energy_pct" => self.dct_energy_pct,
            "dct_max_coeff" => self.dct_max_coeff,
            "segment_count" => self.segment_count.map(|v| v as f64),
            "edge_density" => self.edge_density,
            "gradient_mean" => self.gradient_mean,
            "spectral_slope" => self.spectral_slope,
            "spectral_intercept" => self.spectral_intercept,
            "high_freq_ratio" => self.high_freq_ratio,
            "mean_r" => rgb(self.mean, 0),
            "mean_g" => rgb(self.mean, 1),
            "mean_b" => rgb(self.mean, 2),
            "std_r" => rgb(self.std, 0),
            "std_g" => rgb(self.std, 1),
            "std_b" => rgb(self.std, 2),
            "skew_r" => rgb(self.skew, 0),
            "skew_g" => rgb(self.skew, 1),
            "skew_b" => rgb(self.skew, 2),
            "colorfulness" => self.colorfulness,
            "rms_contrast" => self.rms_contrast,
            "compress_ratio" => self.compress_ratio,
            _ => None,
        }
    }

    /// Fails naming the first statistic that is NaN or infinite (none should be).
    pub fn check_finite(&self, selection: Selection) -> Result<(), MeasureError> {
        for column in selection.columns() {
            if self.column(column).is_some_and(|v| !v.is_finite()) {
                return Err(MeasureError::NonFinite(column));
            }
        }
        if self.spectrum.is_some_and(|p| p.iter().any(|v| !v.is_finite())) {
            return Err(MeasureError::NonFinite("spectra.power"));
        }
        Ok(())
    }
}

/// Per-thread buffers and plans; reusing one across images of a size allocates nothing.
#[derive(Debug, Default)]
pub struct Workspace {
    y: Vec<f64>,
    y32: Vec<f32>,
    levels: Vec<u8>,
    local: LocalEntropyScratch,
    dct: DctScratch,
    spectrum: SpectrumScratch,
    segment: SegmentScratch,
    gradient: GradientScratch,
    canny: CannyScratch,
    png: CompressScratch,
}

impl Workspace {
    /// An empty workspace (buffers grow to the first image's size).
    pub fn new() -> Self {
        Self::default()
    }

    /// Computes the selected statistics of `image`.
    pub fn compute(&mut self, image: &ImageView, selection: Selection, params: &StatsParams) -> ImageStats {
        let (w, h) = (image.width, image.height);
        let mut out = ImageStats::default();
        let needs_luma = [
            Statistic::Dct,
            Statistic::EdgeDensity,
            Statistic::GradientMean,
            Statistic::Spectrum,
            Statistic::RmsContrast,
        ]
        .into_iter()
        .any(|s| selection.contains(s));
        let needs_levels = selection.contains(Statistic::EntropyLocal) || selection.contains(Statistic::EntropyGlobal);
        if needs_luma {
            luma(image, &mut self.y);
            if needs_levels {
                round_levels(&self.y, &mut self.levels);
            }
        } else if needs_levels {
            luma_levels(image, &mut self.levels);
        }
        if selection.contains(Statistic::EdgeDensity) || selection.contains(Statistic::GradientMean) {
            self.y32.clear();
            self.y32.extend(self.y.iter().map(|&v| v as f32));
        }
        for statistic in selection.iter() {
            match statistic {
                Statistic::EntropyLocal => {
                    out.entropy_local = Some(entropy_local(
                        &self.levels,
                        w,
                        h,
                        params.entropy_window,
                        &mut self.local,
                    ));
                }
                Statistic::EntropyGlobal => out.entropy_global = Some(entropy_global(&self.levels)),
                Statistic::Dct => {
                    let d = dct_stats(&self.y, w, h, params.dct_norm_share, &mut self.dct);
                    out.dct_energy_pct = Some(d.energy_pct);
                    out.dct_max_coeff = Some(d.max_coeff);
                }
                Statistic::SegmentCount => {
                    out.segment_count = Some(segment_count(image, &params.segment, &mut self.segment) as i64);
                }
                Statistic::EdgeDensity => {
                    out.edge_density = Some(edge_density(&self.y32, w, h, &params.canny, &mut self.canny));
                }
                Statistic::GradientMean => out.gradient_mean = Some(gradient_mean(&self.y32, w, h, &mut self.gradient)),
                Statistic::Spectrum => {
                    let s = spectrum_stats(&self.y, w, h, &mut self.spectrum);
                    out.spectral_slope = Some(s.slope);
                    out.spectral_intercept = Some(s.intercept);
                    out.high_freq_ratio = Some(s.high_freq_ratio);
                    out.spectrum = Some(s.power);
                }
                Statistic::ColourMoments | Statistic::Colorfulness => {
                    if out.mean.is_none() && out.colorfulness.is_none() {
                        let c = colour_stats(image);
                        if selection.contains(Statistic::ColourMoments) {
                            out.mean = Some(c.moments.map(|m| m.mean));
                            out.std = Some(c.moments.map(|m| m.std));
                            out.skew = Some(c.moments.map(|m| m.skew));
                        }
                        if selection.contains(Statistic::Colorfulness) {
                            out.colorfulness = Some(c.colorfulness);
                        }
                    }
                }
                Statistic::RmsContrast => out.rms_contrast = Some(rms_contrast(&self.y)),
                Statistic::CompressRatio => out.compress_ratio = Some(compress_ratio(image, &mut self.png)),
            }
        }
        out
    }
}

thread_local! {
    static WORKSPACE: RefCell<Workspace> = RefCell::new(Workspace::new());
}

/// Computes the selected statistics of `image` in this thread's workspace.
pub fn compute_stats(image: &ImageView, selection: Selection, params: &StatsParams) -> ImageStats {
    WORKSPACE.with(|ws| match ws.try_borrow_mut() {
        Ok(mut ws) => ws.compute(image, selection, params),
        // Re-entered from inside a computation (not done here): use a fresh workspace.
        Err(_) => Workspace::new().compute(image, selection, params),
    })
}

fn one(image: &ImageView, statistic: Statistic) -> ImageStats {
    compute_stats(image, Selection::only(statistic), &StatsParams::default())
}

/// `entropy_local` of `image` with the SPEC's 10×10 window.
pub fn image_entropy_local(image: &ImageView) -> f64 {
    one(image, Statistic::EntropyLocal).entropy_local.unwrap_or_default()
}

/// `entropy_global` of `image`.
pub fn image_entropy_global(image: &ImageView) -> f64 {
    one(image, Statistic::EntropyGlobal).entropy_global.unwrap_or_default()
}

/// (`dct_energy_pct`, `dct_max_coeff`) of `image`.
pub fn image_dct(image: &ImageView) -> (f64, f64) {
    let s = one(image, Statistic::Dct);
    (
        s.dct_energy_pct.unwrap_or_default(),
        s.dct_max_coeff.unwrap_or_default(),
    )
}

/// `segment_count` of `image` with σ=0.5, k=500, min_size=20.
pub fn image_segment_count(image: &ImageView) -> i64 {
    one(image, Statistic::SegmentCount).segment_count.unwrap_or_default()
}

/// `edge_density` of `image`.
pub fn image_edge_density(image: &ImageView) -> f64 {
    one(image, Statistic::EdgeDensity).edge_density.unwrap_or_default()
}

/// `gradient_mean` of `image`.
pub fn image_gradient_mean(image: &ImageView) -> f64 {
    one(image, Statistic::GradientMean).gradient_mean.unwrap_or_default()
}

/// `rms_contrast` of `image`.
pub fn image_rms_contrast(image: &ImageView) -> f64 {
    one(image, Statistic::RmsContrast).rms_contrast.unwrap_or_default()
}

/// `compress_ratio` of `image`.
pub fn image_compress_ratio(image: &ImageView) -> f64 {
    one(image, Statistic::CompressRatio).compress_ratio.unwrap_or_default()
}
