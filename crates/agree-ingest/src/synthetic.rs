//! The embedded default dataset: ten classes carried by a shape or pattern, rendered
//! deterministically from a seed, with a per-sample latent `difficulty` in [0, 1]
//! that scales the nuisances — clutter (1/f noise), contrast loss, occluders and
//! jitter of position, size and angle. Easy samples are clean, centred, high-contrast
//! shapes; hard ones are faint, displaced and partly hidden, so difficulty orders
//! learning while every class stays learnable.
//!
//! Each sample is rendered from its own RNG stream seeded by (seed, split, index), so
//! generation is parallel and any sample can be regenerated alone.

use std::{io::Cursor, path::Path};

use image::{ImageFormat, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::{
    Attribute, Catalog, CatalogEntry, CatalogParts, IngestError, Result, Split,
    dataset::{self, Catalogued, DatasetReader},
    manifest::SourceInfo,
    pipeline::{IngestOptions, IngestSummary, Item, OnError, Payload},
};

/// Class names in label order (sorted, as folder names would be).
pub const CLASSES: [&str; 10] = [
    "checker", "cross", "diagonal", "disk", "hstripes", "ring", "square", "triangle", "two_dots", "vstripes",
];

/// Generator settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyntheticConfig {
    /// Master seed.
    pub seed: u64,
    /// Training samples.
    pub train: usize,
    /// Test samples.
    pub test: usize,
    /// Image side in pixels.
    pub size: u32,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            seed: 0,
            train: 5000,
            test: 1000,
            size: 32,
        }
    }
}

/// One generated sample.
#[derive(Debug, Clone)]
pub struct SyntheticSample {
    /// The image.
    pub image: RgbImage,
    /// Class index into [`CLASSES`].
    pub label: usize,
    /// Latent nuisance level in [0, 1].
    pub difficulty: f64,
}

fn stream_seed(seed: u64, split: Split, index: usize) -> u64 {
    // SplitMix64 finaliser over (seed, split, index): independent streams per sample.
    let mut z = seed ^ ((split == Split::Test) as u64) << 63 ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether the unit-square point (u, v) ∈ [-1, 1]² lies on the class's shape, after
/// the sample's rotation has been applied to (u, v).
fn on_shape(class: usize, u: f64, v: f64, phase: f64) -> bool {
    let r = (u * u + v * v).sqrt();
    match class {
        0 => ((u * 2.0 + phase).floor() as i64 + (v * 2.0 + phase).floor() as i64).rem_euclid(2) == 0 && r < 1.0,
        1 => (u.abs() < 0.25 && v.abs() < 0.9) || (v.abs() < 0.25 && u.abs() < 0.9),
        2 => (((u + v) * 2.2 + phase).rem_euclid(2.0) < 1.0) && r < 1.0,
        3 => r < 0.75,
        4 => ((v * 2.5 + phase).rem_euclid(2.0) < 1.0) && r < 1.0,
        5 => (0.45..0.85).contains(&r),
        6 => u.abs() < 0.7 && v.abs() < 0.7,
        7 => v > -0.65 && v < 0.75 && u.abs() < (0.75 - v) * 0.6,
        8 => ((u - 0.45).powi(2) + v * v).sqrt() < 0.35 || ((u + 0.45).powi(2) + v * v).sqrt() < 0.35,
        _ => ((u * 2.5 + phase).rem_euclid(2.0) < 1.0) && r < 1.0,
    }
}

/// Background and foreground colours: they differ in luminance by a contrast that
/// the difficulty `d` erodes.
fn palette(rng: &mut ChaCha8Rng, d: f64) -> ([f64; 3], [f64; 3]) {
    let bg_level = rng.random_range(0.2..0.8);
    let contrast = 0.55 * (1.0 - 0.6 * d) + 0.07;
    let sign = if bg_level + contrast <= 1.0 && (bg_level - contrast < 0.0 || rng.random::<bool>()) {
        1.0
    } else {
        -1.0
    };
    let tint = |rng: &mut ChaCha8Rng| {
        [
            rng.random_range(-0.1..0.1),
            rng.random_range(-0.1..0.1),
            rng.random_range(-0.1..0.1),
        ]
    };
    let bg_tint = tint(rng);
    let fg_tint = tint(rng);
    let bg = std::array::from_fn(|c| bg_level + bg_tint[c]);
    let fg = std::array::from_fn(|c| bg_level + sign * contrast + fg_tint[c]);
    (bg, fg)
}

/// Where the shape sits: centre, radius and rotation, jittered more with difficulty.
struct Pose {
    cx: f64,
    cy: f64,
    radius: f64,
    sin_a: f64,
    cos_a: f64,
    /// Phase of the striped and checked patterns.
    phase: f64,
}

fn pose(rng: &mut ChaCha8Rng, d: f64, sf: f64) -> Pose {
    let shift = (0.04 + 0.12 * d) * sf;
    let cx = sf / 2.0 + rng.random_range(-shift..=shift);
    let cy = sf / 2.0 + rng.random_range(-shift..=shift);
    let radius = sf * 0.34 * (1.0 + rng.random_range(-0.25..=0.25) * d);
    let angle = rng.random_range(-1.0..=1.0) * d * std::f64::consts::FRAC_PI_6;
    let (sin_a, cos_a) = angle.sin_cos();
    let phase = rng.random_range(0.0..1.0);
    Pose {
        cx,
        cy,
        radius,
        sin_a,
        cos_a,
        phase,
    }
}

/// Clutter of `s`×`s` pixels: a sum of random gratings with amplitude ∝ 1/f (pink
/// noise), evaluated separably through sin(a + b) = sin a cos b + cos a sin b.
fn clutter(rng: &mut ChaCha8Rng, d: f64, s: usize) -> Vec<f64> {
    let sf = s as f64;
    let noise_amp = 0.35 * d;
    let mut noise = vec![0.0f64; s * s];
    if noise_amp <= 0.0 {
        return noise;
    }
    let mut total = 0.0;
    for _ in 0..12 {
        let f = rng.random_range(1.0..sf / 2.0);
        let theta = rng.random_range(0.0..std::f64::consts::TAU);
        let ph = rng.random_range(0.0..std::f64::consts::TAU);
        let (fx, fy) = (f * theta.cos() / sf, f * theta.sin() / sf);
        let amp = 1.0 / f;
        total += amp;
        let xs: Vec<(f64, f64)> = (0..s)
            .map(|x| (std::f64::consts::TAU * fx * x as f64 + ph).sin_cos())
            .collect();
        let ys: Vec<(f64, f64)> = (0..s)
            .map(|y| (std::f64::consts::TAU * fy * y as f64).sin_cos())
            .collect();
        for (y, &(sy, cy_)) in ys.iter().enumerate() {
            for (x, &(sx, cx_)) in xs.iter().enumerate() {
                noise[y * s + x] += amp * (sx * cy_ + cx_ * sy);
            }
        }
    }
    let scale = noise_amp / total.max(1e-9) * 2.0;
    noise.iter_mut().for_each(|v| *v *= scale);
    noise
}

/// A rectangle of one colour hiding part of the image: (x0, y0, width, height, colour).
type Occluder = (f64, f64, f64, f64, [f64; 3]);

/// Up to two occluders of random colour, more with difficulty.
fn occluders(rng: &mut ChaCha8Rng, d: f64, sf: f64) -> Vec<Occluder> {
    let n_occ = (d * 2.9 * rng.random::<f64>()).floor() as usize;
    (0..n_occ)
        .map(|_| {
            let w = rng.random_range(0.12..0.26) * sf;
            let h = rng.random_range(0.12..0.26) * sf;
            let x0 = rng.random_range(0.0..sf - w);
            let y0 = rng.random_range(0.0..sf - h);
            (x0, y0, w, h, [rng.random(), rng.random(), rng.random()])
        })
        .collect()
}

/// Renders sample `index` of `split`.
pub fn render(config: &SyntheticConfig, split: Split, index: usize) -> SyntheticSample {
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(config.seed, split, index));
    let s = config.size as usize;
    let sf = s as f64;
    let label = index % CLASSES.len();
    // The draws keep this order: every sample's stream must give the same image.
    let d: f64 = rng.random::<f64>();
    let (bg, fg) = palette(&mut rng, d);
    let pose = pose(&mut rng, d, sf);
    let noise = clutter(&mut rng, d, s);
    let occluders = occluders(&mut rng, d, sf);

    let mut image = RgbImage::new(config.size, config.size);
    for (x, y, px) in image.enumerate_pixels_mut() {
        let cover = coverage(label, &pose, x, y);
        let n = noise[y as usize * s + x as usize];
        let mut rgb: [f64; 3] = std::array::from_fn(|c| bg[c] * (1.0 - cover) + fg[c] * cover + n);
        for (x0, y0, w, h, col) in &occluders {
            let (xf, yf) = (x as f64 + 0.5, y as f64 + 0.5);
            if xf >= *x0 && xf < x0 + w && yf >= *y0 && yf < y0 + h {
                rgb = *col;
            }
        }
        *px = image::Rgb(rgb.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8));
    }
    SyntheticSample {
        image,
        label,
        difficulty: d,
    }
}

/// The fraction of pixel (x, y) the class's shape covers, from 2×2 supersampling
/// (which keeps edges smooth at small sizes).
fn coverage(label: usize, pose: &Pose, x: u32, y: u32) -> f64 {
    let mut cover = 0.0;
    for (ox, oy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
        let px_ = (x as f64 + ox - pose.cx) / pose.radius;
        let py_ = (y as f64 + oy - pose.cy) / pose.radius;
        let (u, v) = (
            pose.cos_a * px_ + pose.sin_a * py_,
            -pose.sin_a * px_ + pose.cos_a * py_,
        );
        if on_shape(label, u, v, pose.phase) {
            cover += 0.25;
        }
    }
    cover
}

/// The catalog key of a sample.
fn key(split: Split, label: usize, index: usize) -> String {
    format!("{}/{}/{index:06}.png", split.as_str(), CLASSES[label])
}

/// The synthetic dataset of one configuration.
struct Synthetic<'a> {
    config: &'a SyntheticConfig,
}

impl DatasetReader for Synthetic<'_> {
    fn catalogue(&mut self, _on_error: OnError) -> Result<Catalogued> {
        let config = self.config;
        // The difficulty is needed in the catalog before rendering: draw it exactly as
        // `render` does (first draw of the sample's stream).
        let mut entries = Vec::with_capacity(config.train + config.test);
        for (split, n) in [(Split::Train, config.train), (Split::Test, config.test)] {
            for i in 0..n {
                let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(config.seed, split, i));
                let d: f64 = rng.random::<f64>();
                let label = i % CLASSES.len();
                let k = key(split, label, i);
                entries.push(CatalogEntry {
                    split,
                    key: k.clone(),
                    labels: vec![label as i32],
                    source: 0,
                    member: k,
                    attributes: vec![Some(Attribute::Float(d))],
                    claimed_size: None,
                });
            }
        }
        let sources = vec![SourceInfo {
            path: format!("synthetic:seed={}", config.seed),
            sha256: None,
            url: None,
        }];
        let parts = CatalogParts {
            dataset: "synthetic".into(),
            classes: CLASSES.iter().map(|s| s.to_string()).collect(),
            multi_label: false,
            attribute_names: vec!["difficulty".into()],
            entries,
            rejected: vec![],
            on_duplicate: OnError::Fail,
        };
        Catalogued::new(parts, sources)
    }

    /// Renders in catalog (`sample_id`) order, so the table's rows are in id order.
    fn stream(&self, catalog: &Catalog, push: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
        let order: Vec<(Split, usize)> = catalog
            .entries
            .iter()
            .map(|e| {
                let index = e
                    .key
                    .rsplit('/')
                    .next()
                    .and_then(|f| f.trim_end_matches(".png").parse().ok())
                    .unwrap_or(0);
                (e.split, index)
            })
            .collect();
        for (chunk_no, chunk) in order.chunks(1024).enumerate() {
            let rendered: Vec<std::result::Result<Vec<u8>, String>> = chunk
                .par_iter()
                .map(|&(split, i)| {
                    let mut png = Cursor::new(Vec::new());
                    render(self.config, split, i)
                        .image
                        .write_to(&mut png, ImageFormat::Png)
                        .map_err(|e| e.to_string())?;
                    Ok(png.into_inner())
                })
                .collect();
            for (j, png) in rendered.into_iter().enumerate() {
                let payload = match png {
                    Ok(bytes) => Payload::Encoded(bytes),
                    Err(e) => Payload::Invalid(format!("PNG encoding failed: {e}")),
                };
                push(Item {
                    index: chunk_no * 1024 + j,
                    payload,
                })?;
            }
        }
        Ok(())
    }

    fn recorded_options(&self) -> Option<serde_json::Value> {
        Some(serde_json::to_value(self.config).unwrap_or_default())
    }
}

/// Generates the dataset into `out` (PNG-encoded images, `difficulty` attribute).
pub fn ingest(config: &SyntheticConfig, out: &Path, opts: &IngestOptions) -> Result<IngestSummary> {
    if config.size < 8 {
        return Err(IngestError::Dataset {
            path: out.to_path_buf(),
            reason: format!("--size {} is below 8 pixels", config.size),
        });
    }
    if config.train + config.test == 0 {
        return Err(IngestError::Dataset {
            path: out.to_path_buf(),
            reason: "no samples requested".into(),
        });
    }
    dataset::ingest(&mut Synthetic { config }, out, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_is_deterministic_and_seed_dependent() {
        let c = SyntheticConfig {
            seed: 7,
            train: 10,
            test: 10,
            size: 32,
        };
        let a = render(&c, Split::Train, 3);
        let b = render(&c, Split::Train, 3);
        assert_eq!(a.image, b.image);
        assert_eq!(a.difficulty, b.difficulty);
        let other = render(&SyntheticConfig { seed: 8, ..c }, Split::Train, 3);
        assert_ne!(a.image, other.image);
        assert_ne!(render(&c, Split::Test, 3).image, a.image);
    }

    #[test]
    fn classes_are_balanced_and_difficulty_in_range() {
        let c = SyntheticConfig {
            seed: 1,
            train: 200,
            test: 0,
            size: 32,
        };
        let mut counts = [0usize; 10];
        for i in 0..200 {
            let s = render(&c, Split::Train, i);
            counts[s.label] += 1;
            assert!((0.0..1.0).contains(&s.difficulty));
        }
        assert_eq!(counts, [20; 10]);
    }

    #[test]
    fn easy_samples_show_their_shape_with_contrast() {
        // The easiest disks are clean: a clear luminance spread between shape and ground.
        let c = SyntheticConfig {
            seed: 3,
            train: 400,
            test: 0,
            size: 32,
        };
        let spread = |img: &RgbImage| {
            let ys: Vec<f64> = img
                .pixels()
                .map(|p| p[0] as f64 * 0.299 + p[1] as f64 * 0.587 + p[2] as f64 * 0.114)
                .collect();
            let m = ys.iter().sum::<f64>() / ys.len() as f64;
            (ys.iter().map(|y| (y - m).powi(2)).sum::<f64>() / ys.len() as f64).sqrt()
        };
        let easy: Vec<f64> = (0..400)
            .map(|i| render(&c, Split::Train, i))
            .filter(|s| s.label == 3 && s.difficulty < 0.2)
            .map(|s| spread(&s.image))
            .collect();
        assert!(!easy.is_empty());
        let mean = easy.iter().sum::<f64>() / easy.len() as f64;
        assert!(mean > 25.0, "easy disks are clearly visible: {mean}");
    }
}
