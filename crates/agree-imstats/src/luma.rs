//! Luma `Y = 0.2989 R + 0.5870 G + 0.1140 B` (SPEC §3) and its rounded 256-level form.

use crate::image::ImageView;

/// Fills `y` with the luma of every pixel on 0..255 (grey images: the value), in f64.
pub fn luma(image: &ImageView, y: &mut Vec<f64>) {
    y.clear();
    if image.channels == 1 {
        y.extend(image.pixels.iter().map(|&v| f64::from(v)));
    } else {
        // Same evaluation order as numpy's `0.2989*r + 0.5870*g + 0.1140*b`, so the
        // rounded levels agree bit for bit with a numpy cross-check.
        y.extend(
            image
                .pixels
                .chunks_exact(3)
                .map(|p| 0.2989 * f64::from(p[0]) + 0.5870 * f64::from(p[1]) + 0.1140 * f64::from(p[2])),
        );
    }
}

/// Fills `levels` with `round(Y) = ⌊Y + ½⌋`, clamped to 0..255.
pub fn round_levels(y: &[f64], levels: &mut Vec<u8>) {
    levels.clear();
    levels.extend(y.iter().map(|&v| (v + 0.5).floor().clamp(0.0, 255.0) as u8));
}

/// Standard deviation of `Y/255` (population), the `rms_contrast` column.
pub fn rms_contrast(y: &[f64]) -> f64 {
    if y.is_empty() {
        return 0.0;
    }
    // Shifted by the first value: a constant plane gives exactly 0, and the sums stay small.
    let n = y.len() as f64;
    let shift = y[0];
    let mean = y.iter().map(|&v| v - shift).sum::<f64>() / n;
    let var = y.iter().map(|&v| (v - shift - mean) * (v - shift - mean)).sum::<f64>() / n;
    var.sqrt() / 255.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_uses_the_spec_coefficients_and_rounds_half_up() {
        let px = [255u8, 0, 0, 0, 255, 0, 0, 0, 255, 100, 100, 100];
        let view = ImageView::rgb(4, 1, &px).unwrap();
        let mut y = Vec::new();
        luma(&view, &mut y);
        assert!((y[0] - 76.2195).abs() < 1e-12 && (y[1] - 149.685).abs() < 1e-12 && (y[2] - 29.07).abs() < 1e-12);
        // 100 · 0.9999 = 99.99 rounds to 100.
        let mut levels = Vec::new();
        round_levels(&y, &mut levels);
        assert_eq!(levels, vec![76, 150, 29, 100]);
        round_levels(&[2.5, 3.4999], &mut levels);
        assert_eq!(levels, vec![3, 3]);
    }

    #[test]
    fn rms_contrast_of_two_levels() {
        // Y ∈ {0, 255} in equal numbers: std = 127.5 / 255 = 0.5.
        assert!((rms_contrast(&[0.0, 255.0, 0.0, 255.0]) - 0.5).abs() < 1e-15);
        assert_eq!(rms_contrast(&[7.0; 9]), 0.0);
    }
}
