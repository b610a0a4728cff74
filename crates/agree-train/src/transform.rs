//! SPEC §4's input transforms on decoded pixels: crop (random for training, centred
//! for evaluation), optional horizontal flip, per-channel normalisation, written
//! straight into a batch buffer in CHW order.

use serde::{Deserialize, Serialize};

use crate::{
    TrainError,
    config::{Normalize, TransformConfig},
    decode::{RgbPixels, resized_size},
    pixels::PixelStore,
    samples::SampleTable,
};

/// Height and width of the network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geometry {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

/// Per-channel mean and standard deviation on the 0..1 scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Channel means.
    pub mean: [f32; 3],
    /// Channel standard deviations.
    pub std: [f32; 3],
}

/// How one sample is cropped and flipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Centre crop, no flip (evaluation).
    Centre,
    /// Crop position and flip drawn from these random bits (training).
    Random { bits: u64, flip: bool },
}

/// The network input size for these rows, checking that every image can provide it.
pub fn input_geometry(
    table: &SampleTable,
    rows: &[usize],
    transform: &TransformConfig,
) -> Result<Geometry, TrainError> {
    let mut first: Option<(usize, (u32, u32))> = None;
    for &r in rows {
        let (w, h) = resized_size(table.size[r].0, table.size[r].1, transform.resize);
        let bad = |message: String| TrainError::BadSample {
            path: table.path.clone(),
            row: r,
            sample_id: table.sample_id[r],
            message,
        };
        match (transform.crop, first) {
            (Some(c), _) if w < c || h < c => {
                return Err(bad(format!(
                    "image is {w}×{h} after resizing, smaller than the {c}×{c} crop"
                )));
            }
            (Some(_), _) => {}
            (None, None) => first = Some((r, (w, h))),
            (None, Some((r0, size0))) if size0 != (w, h) => {
                return Err(bad(format!(
                    "image is {w}×{h} after resizing but row {r0} is {}×{}; set --resize/--crop to give all images one size",
                    size0.0, size0.1
                )));
            }
            (None, Some(_)) => {}
        }
    }
    Ok(match (transform.crop, first) {
        (Some(c), _) => Geometry {
            height: c as usize,
            width: c as usize,
        },
        (None, Some((_, (w, h)))) => Geometry {
            height: h as usize,
            width: w as usize,
        },
        (None, None) => Geometry { height: 0, width: 0 },
    })
}

/// Mean and standard deviation per channel, as configured; `Train` measures them on
/// up to 10,000 evenly spaced training images (whole images, before cropping).
pub fn normalization(
    normalize: Normalize,
    store: &PixelStore<'_>,
    train_rows: &[usize],
) -> Result<Normalization, TrainError> {
    match normalize {
        Normalize::None => Ok(Normalization {
            mean: [0.0; 3],
            std: [1.0; 3],
        }),
        Normalize::Imagenet => Ok(Normalization {
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }),
        Normalize::Train => {
            let step = train_rows.len().div_ceil(10_000).max(1);
            let mut sum = [0f64; 3];
            let mut sq = [0f64; 3];
            let mut n = 0f64;
            for &r in train_rows.iter().step_by(step) {
                let img = store.get(r)?;
                for px in img.rgb.chunks_exact(3) {
                    for c in 0..3 {
                        let v = f64::from(px[c]) / 255.0;
                        sum[c] += v;
                        sq[c] += v * v;
                    }
                }
                n += (img.width * img.height) as f64;
            }
            let mut out = Normalization {
                mean: [0.0; 3],
                std: [1.0; 3],
            };
            if n > 0.0 {
                for c in 0..3 {
                    let mean = sum[c] / n;
                    let var = (sq[c] / n - mean * mean).max(0.0);
                    out.mean[c] = mean as f32;
                    // A constant channel would divide by zero; leave it unscaled.
                    out.std[c] = if var > 1e-12 { var.sqrt() as f32 } else { 1.0 };
                }
            }
            Ok(out)
        }
    }
}

/// Writes one image into `out` (3×H×W floats, CHW) cropped, flipped and normalised.
pub fn write_input(
    img: &RgbPixels,
    geometry: Geometry,
    placement: Placement,
    norm: &Normalization,
    out: &mut [f32],
) -> Result<(), String> {
    let (gh, gw) = (geometry.height, geometry.width);
    if img.height < gh || img.width < gw {
        return Err(format!(
            "decoded image is {}×{}, smaller than the {gw}×{gh} input",
            img.width, img.height
        ));
    }
    let (dy, dx) = (img.height - gh, img.width - gw);
    let (top, left, flip) = match placement {
        // torchvision's CenterCrop rounds the offset.
        Placement::Centre => (
            (dy as f64 / 2.0).round() as usize,
            (dx as f64 / 2.0).round() as usize,
            false,
        ),
        Placement::Random { bits, flip } => (
            ((bits >> 32) % (dy as u64 + 1)) as usize,
            ((bits & 0xffff_ffff) % (dx as u64 + 1)) as usize,
            flip,
        ),
    };
    let plane = gh * gw;
    let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / (255.0 * norm.std[c]));
    let shift: [f32; 3] = std::array::from_fn(|c| -norm.mean[c] / norm.std[c]);
    for y in 0..gh {
        let src_row = &img.rgb[((top + y) * img.width + left) * 3..][..gw * 3];
        for x in 0..gw {
            let sx = if flip { gw - 1 - x } else { x };
            let px = &src_row[sx * 3..sx * 3 + 3];
            for c in 0..3 {
                out[c * plane + y * gw + x] = f32::from(px[c]) * scale[c] + shift[c];
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(width: usize, height: usize) -> RgbPixels {
        // Red = column, green = row, blue = 255.
        let mut rgb = Vec::new();
        for y in 0..height {
            for x in 0..width {
                rgb.extend_from_slice(&[x as u8, y as u8, 255]);
            }
        }
        RgbPixels { width, height, rgb }
    }

    const RAW: Normalization = Normalization {
        mean: [0.0; 3],
        std: [1.0 / 255.0; 3],
    };

    #[test]
    fn centre_crop_takes_the_middle() {
        let img = ramp(6, 5);
        let g = Geometry { height: 3, width: 2 };
        let mut out = vec![0.0; 3 * 6];
        write_input(&img, g, Placement::Centre, &RAW, &mut out).unwrap();
        // dy = 2 → top 1; dx = 4 → left 2.
        assert_eq!(&out[0..6], &[2.0, 3.0, 2.0, 3.0, 2.0, 3.0], "red = column");
        assert_eq!(&out[6..12], &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0], "green = row");
        assert!(out[12..].iter().all(|&v| v == 255.0));
    }

    #[test]
    fn random_placement_flips_and_stays_inside() {
        let img = ramp(4, 4);
        let g = Geometry { height: 2, width: 2 };
        let mut out = vec![0.0; 12];
        // bits: top = 3 % 3 = 0, left = 5 % 3 = 2; flipped: columns 3, 2.
        write_input(
            &img,
            g,
            Placement::Random {
                bits: (3 << 32) | 5,
                flip: true,
            },
            &RAW,
            &mut out,
        )
        .unwrap();
        assert_eq!(&out[0..4], &[3.0, 2.0, 3.0, 2.0]);
        assert_eq!(&out[4..8], &[0.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn normalisation_maps_mean_to_zero() {
        let img = RgbPixels {
            width: 1,
            height: 1,
            rgb: vec![51, 102, 255],
        };
        let norm = Normalization {
            mean: [0.2, 0.4, 0.5],
            std: [0.5, 0.5, 0.5],
        };
        let mut out = vec![0.0; 3];
        write_input(
            &img,
            Geometry { height: 1, width: 1 },
            Placement::Centre,
            &norm,
            &mut out,
        )
        .unwrap();
        assert!(
            out[0].abs() < 1e-6 && out[1].abs() < 1e-6 && (out[2] - 1.0).abs() < 1e-6,
            "{out:?}"
        );
    }
}
