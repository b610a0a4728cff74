//! Colour moments (Stricker & Orengo 1995) and Hasler–Süsstrunk colourfulness,
//! computed exactly from per-channel histograms (one pass over the pixels, then
//! 256–1021 bins instead of H·W values).

use crate::image::ImageView;

/// Mean, standard deviation and cube-rooted third central moment of one channel on 0..1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ChannelMoments {
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// ∛(E[(x − μ)³]).
    pub skew: f64,
}

/// Colour moments of the R, G and B channels plus colourfulness.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ColourStats {
    /// Per channel R, G, B.
    pub moments: [ChannelMoments; 3],
    /// √(σ_rg² + σ_yb²) + 0.3·√(μ_rg² + μ_yb²) on 0..255 values.
    pub colorfulness: f64,
}

/// Mean, variance and third central moment of a histogram whose bin `i` holds the
/// integer value `i − offset`, from exact integer power sums: `N·Σv² − (Σv)²` and
/// `N²·Σv³ − 3N·Σv·Σv² + 2(Σv)³` are computed in i128 and rounded once each.
fn histogram_moments(hist: &[u32], offset: i64) -> (f64, f64, f64) {
    let (mut n, mut s1, mut s2, mut s3) = (0i64, 0i64, 0i128, 0i128);
    for (i, &c) in hist.iter().enumerate() {
        let (c, v) = (i64::from(c), i as i64 - offset);
        n += c;
        s1 += c * v;
        s2 += i128::from(c * v * v);
        s3 += i128::from(c * v * v) * i128::from(v);
    }
    if n == 0 {
        return (0.0, 0.0, 0.0);
    }
    let (n, s1) = (i128::from(n), i128::from(s1));
    let nf = n as f64;
    let mean = s1 as f64 / nf;
    let var = (n * s2 - s1 * s1) as f64 / (nf * nf);
    let third = (n * n * s3 - 3 * n * s1 * s2 + 2 * s1 * s1 * s1) as f64 / (nf * nf * nf);
    (mean, var, third)
}

/// Colour moments and colourfulness of `image` (grey: R = G = B).
pub fn colour_stats(image: &ImageView) -> ColourStats {
    let mut channel = [[0u32; 256]; 3];
    // rg = R − G ∈ −255..255 and 2·yb = R + G − 2B ∈ −510..510, offset to be indices.
    let mut rg = [0u32; 511];
    let mut yb2 = [0u32; 1021];
    if image.channels == 1 {
        for &v in image.pixels {
            channel[0][usize::from(v)] += 1;
        }
        channel[1] = channel[0];
        channel[2] = channel[0];
        rg[255] = image.pixels.len() as u32;
        yb2[510] = image.pixels.len() as u32;
    } else {
        for p in image.pixels.chunks_exact(3) {
            let (r, g, b) = (usize::from(p[0]), usize::from(p[1]), usize::from(p[2]));
            channel[0][r] += 1;
            channel[1][g] += 1;
            channel[2][b] += 1;
            rg[r + 255 - g] += 1;
            yb2[r + g + 510 - 2 * b] += 1;
        }
    }
    let mut moments = [ChannelMoments::default(); 3];
    for (m, hist) in moments.iter_mut().zip(&channel) {
        // On 0..1: the 0..255 moments over 255, 255², 255³.
        let (mean, var, third) = histogram_moments(hist, 0);
        *m = ChannelMoments {
            mean: mean / 255.0,
            std: var.sqrt() / 255.0,
            skew: third.cbrt() / 255.0,
        };
    }
    let (mu_rg, var_rg, _) = histogram_moments(&rg, 255);
    // yb = (2·yb)/2.
    let (mu_yb2, var_yb2, _) = histogram_moments(&yb2, 510);
    let (mu_yb, var_yb) = (mu_yb2 / 2.0, var_yb2 / 4.0);
    let colorfulness = (var_rg + var_yb).sqrt() + 0.3 * (mu_rg * mu_rg + mu_yb * mu_yb).sqrt();
    ColourStats { moments, colorfulness }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_of_a_two_pixel_image() {
        // R = {0, 255}: mean 0.5, std 0.5, symmetric → skew 0. G = {255, 255}: std 0.
        // B = {0, 0, ..} skewed: see below.
        let px = [0u8, 255, 0, 255, 255, 0];
        let st = colour_stats(&ImageView::rgb(2, 1, &px).unwrap());
        assert!((st.moments[0].mean - 0.5).abs() < 1e-15 && (st.moments[0].std - 0.5).abs() < 1e-15);
        assert_eq!(st.moments[0].skew, 0.0);
        assert_eq!((st.moments[1].mean, st.moments[1].std), (1.0, 0.0));
        // rg = {−255, 0}: μ −127.5, σ 127.5; yb = {127.5, 255}: μ 191.25, σ 63.75.
        let expect = (127.5f64.powi(2) + 63.75f64.powi(2)).sqrt() + 0.3 * (127.5f64.powi(2) + 191.25f64.powi(2)).sqrt();
        assert!((st.colorfulness - expect).abs() < 1e-9, "{}", st.colorfulness);
    }

    #[test]
    fn skew_is_the_cube_root_of_the_third_moment() {
        // Values {0, 0, 0, 1} on 0..1: μ = 1/4, E[(x−μ)³] = (3·(−1/4)³ + (3/4)³)/4 = 3/32.
        let px = [0u8, 0, 0, 255];
        let st = colour_stats(&ImageView::grey(4, 1, &px).unwrap());
        assert!((st.moments[2].skew - (3.0f64 / 32.0).cbrt()).abs() < 1e-12);
    }

    #[test]
    fn moments_match_a_two_pass_computation_on_noise() {
        let mut state = 99u32;
        let px: Vec<u8> = (0..3 * 37 * 29)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8 / 2 + 40
            })
            .collect();
        let st = colour_stats(&ImageView::rgb(37, 29, &px).unwrap());
        let moments = |v: Vec<f64>| {
            let n = v.len() as f64;
            let mean = v.iter().sum::<f64>() / n;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
            let third = v.iter().map(|x| (x - mean).powi(3)).sum::<f64>() / n;
            (mean, var, third)
        };
        for c in 0..3 {
            let (mean, var, third) = moments(px.iter().skip(c).step_by(3).map(|&v| f64::from(v) / 255.0).collect());
            let m = st.moments[c];
            assert!((m.mean - mean).abs() < 1e-14 && (m.std - var.sqrt()).abs() < 1e-14);
            assert!((m.skew - third.cbrt()).abs() < 1e-12, "{} vs {}", m.skew, third.cbrt());
        }
        let rg = moments(px.chunks(3).map(|p| f64::from(p[0]) - f64::from(p[1])).collect());
        let yb = moments(
            px.chunks(3)
                .map(|p| (f64::from(p[0]) + f64::from(p[1])) / 2.0 - f64::from(p[2]))
                .collect(),
        );
        let expect = (rg.1 + yb.1).sqrt() + 0.3 * (rg.0 * rg.0 + yb.0 * yb.0).sqrt();
        assert!(
            (st.colorfulness - expect).abs() < 1e-10,
            "{} vs {expect}",
            st.colorfulness
        );
    }

    #[test]
    fn grey_images_have_no_colour() {
        let st = colour_stats(&ImageView::grey(3, 1, &[10, 20, 200]).unwrap());
        assert_eq!(st.colorfulness, 0.0);
        assert_eq!(st.moments[0], st.moments[2]);
    }
}
