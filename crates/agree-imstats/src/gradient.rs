//! Sobel gradients of the luma plane (borders clamped) and `gradient_mean`.

/// Reusable planes of the gradient computation.
#[derive(Debug, Default, Clone)]
pub struct GradientScratch {
    padded: Vec<f32>,
    /// Horizontal derivative (x increasing), `width × height`.
    pub gx: Vec<f32>,
    /// Vertical derivative (y increasing), `width × height`.
    pub gy: Vec<f32>,
}

/// Fills `scratch.gx`/`scratch.gy` with the 3×3 Sobel derivatives of `plane`
/// (`width × height`), replicating the border pixels outward.
pub fn sobel(plane: &[f32], width: usize, height: usize, scratch: &mut GradientScratch) {
    let (pw, n) = (width + 2, width * height);
    let padded = &mut scratch.padded;
    padded.clear();
    // A one-pixel replicated frame makes the inner loops branch-free, so they vectorise.
    for yy in 0..height + 2 {
        let row = &plane[yy.saturating_sub(1).min(height - 1) * width..][..width];
        padded.push(row[0]);
        padded.extend_from_slice(row);
        padded.push(row[width - 1]);
    }
    scratch.gx.resize(n, 0.0);
    scratch.gy.resize(n, 0.0);
    for y in 0..height {
        let top = &padded[y * pw..(y + 1) * pw];
        let mid = &padded[(y + 1) * pw..(y + 2) * pw];
        let bot = &padded[(y + 2) * pw..(y + 3) * pw];
        let gx = &mut scratch.gx[y * width..(y + 1) * width];
        let gy = &mut scratch.gy[y * width..(y + 1) * width];
        for x in 0..width {
            gx[x] = (top[x + 2] - top[x]) + 2.0 * (mid[x + 2] - mid[x]) + (bot[x + 2] - bot[x]);
            gy[x] = (bot[x] + 2.0 * bot[x + 1] + bot[x + 2]) - (top[x] + 2.0 * top[x + 1] + top[x + 2]);
        }
    }
}

/// Mean Sobel gradient magnitude √(gx² + gy²) of `plane` (0..255 luma).
pub fn gradient_mean(plane: &[f32], width: usize, height: usize, scratch: &mut GradientScratch) -> f64 {
    let n = width * height;
    if n == 0 {
        return 0.0;
    }
    sobel(plane, width, height, scratch);
    let sum: f64 = scratch
        .gx
        .iter()
        .zip(&scratch.gy)
        .map(|(&a, &b)| f64::from((a * a + b * b).sqrt()))
        .sum();
    sum / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ramp_has_the_sobel_gain_of_eight() {
        // Y = 3x: gx = 3·2·(1+2+1) = 24 inside; at the clamped borders one side is
        // missing, so 12. gy = 0.
        let plane: Vec<f32> = (0..5 * 4).map(|i| 3.0 * (i % 5) as f32).collect();
        let mut s = GradientScratch::default();
        sobel(&plane, 5, 4, &mut s);
        assert_eq!(&s.gx[5..10], &[12.0, 24.0, 24.0, 24.0, 12.0]);
        assert!(s.gy.iter().all(|&v| v == 0.0));
        let mean = gradient_mean(&plane, 5, 4, &mut s);
        assert!((mean - (3.0 * 24.0 + 2.0 * 12.0) / 5.0).abs() < 1e-12);
        assert_eq!(gradient_mean(&[9.0; 6], 3, 2, &mut s), 0.0);
    }
}
