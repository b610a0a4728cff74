//! Luma `Y = 0.2989 R + 0.5870 G + 0.1140 B` (SPEC §3) and its rounded 256-level form.

use crate::image::ImageView;

/// `LUMA_PRODUCTS[c][v] = COEFFICIENT[c] · v` for every channel value `v`.
static LUMA_PRODUCTS: [[f64; 256]; 3] = {
    let coefficients = [0.2989, 0.5870, 0.1140];
    let mut table = [[0.0; 256]; 3];
    let mut c = 0;
    while c < 3 {
        let mut v = 0;
        while v < 256 {
            table[c][v] = coefficients[c] * v as f64;
            v += 1;
        }
        c += 1;
    }
    table
};

/// The luma of one RGB pixel, `0.2989·R + 0.5870·G + 0.1140·B` evaluated left to right.
#[inline(always)]
fn luma_of(p: &[u8]) -> f64 {
    let [r, g, b] = &LUMA_PRODUCTS;
    r[usize::from(p[0])] + g[usize::from(p[1])] + b[usize::from(p[2])]
}

/// Fills `y` with the luma of every pixel on 0..255 (grey images: the value), in f64.
pub fn luma(image: &ImageView, y: &mut Vec<f64>) {
    y.clear();
    if image.channels == 1 {
        y.extend(image.pixels.iter().map(|&v| f64::from(v)));
    } else {
        // Same evaluation order as numpy's `0.2989*r + 0.5870*g + 0.1140*b`, so the
        // rounded levels agree bit for bit with a numpy cross-check; the products come
        // from tables (the same IEEE products, computed once at compile time).
        y.extend(image.pixels.chunks_exact(3).map(luma_of));
    }
}

/// Fills `levels` with the rounded luma of every pixel straight from the pixels:
/// the same values as [`luma`] then [`round_levels`], without the f64 plane.
pub fn luma_levels(image: &ImageView, levels: &mut Vec<u8>) {
    levels.clear();
    if image.channels == 1 {
        levels.extend_from_slice(image.pixels);
    } else {
        // The rounding of `round_levels`.
        levels.extend(image.pixels.chunks_exact(3).map(|p| (luma_of(p) + 0.5) as u8));
    }
}

/// Fills `levels` with `round(Y) = ⌊Y + ½⌋`, clamped to 0..255.
pub fn round_levels(y: &[f64], levels: &mut Vec<u8>) {
    levels.clear();
    // `as u8` truncates toward zero and saturates (NaN → 0), which for `v + ½` is
    // `floor(v + ½).clamp(0, 255)` for every input, without a libm `floor` call per
    // pixel (x86-64's baseline has no rounding instruction).
    levels.extend(y.iter().map(|&v| (v + 0.5) as u8));
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
        // The saturating cast is floor-then-clamp everywhere, out of range and NaN included.
        let odd = [
            -7.0,
            -0.5,
            -0.51,
            -1e-300,
            0.49999,
            254.5,
            255.49,
            300.0,
            f64::NAN,
            f64::INFINITY,
        ];
        round_levels(&odd, &mut levels);
        let reference: Vec<u8> = odd.iter().map(|&v| (v + 0.5).floor().clamp(0.0, 255.0) as u8).collect();
        assert_eq!(levels, reference);
    }

    #[test]
    fn tabled_products_are_the_computed_ones() {
        for v in 0..=255u8 {
            let px = [v, 255 - v, v / 3];
            let mut y = Vec::new();
            luma(&ImageView::rgb(1, 1, &px).unwrap(), &mut y);
            let direct = 0.2989 * f64::from(px[0]) + 0.5870 * f64::from(px[1]) + 0.1140 * f64::from(px[2]);
            assert_eq!(y[0].to_bits(), direct.to_bits(), "pixel {px:?}");
        }
    }

    #[test]
    fn direct_levels_equal_the_rounded_luma_for_every_colour() {
        let mut px = Vec::with_capacity(3 * 256 * 256);
        let (mut y, mut from_y, mut direct) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..=255u8 {
            px.clear();
            for g in 0..=255u8 {
                for b in 0..=255u8 {
                    px.extend([r, g, b]);
                }
            }
            let view = ImageView::rgb(256, 256, &px).unwrap();
            luma(&view, &mut y);
            round_levels(&y, &mut from_y);
            luma_levels(&view, &mut direct);
            assert_eq!(direct, from_y, "red {r}");
        }
    }

    #[test]
    fn rms_contrast_of_two_levels() {
        // Y ∈ {0, 255} in equal numbers: std = 127.5 / 255 = 0.5.
        assert!((rms_contrast(&[0.0, 255.0, 0.0, 255.0]) - 0.5).abs() < 1e-15);
        assert_eq!(rms_contrast(&[7.0; 9]), 0.0);
    }
}
