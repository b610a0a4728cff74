//! Definitions checked on whole images: hand-computed cases, symmetry, and random
//! images (proptest) for ranges, finiteness and determinism.

use agree_imstats::{ImageStats, ImageView, Selection, StatsParams, Workspace, compute_stats};
use proptest::prelude::*;

fn all(view: &ImageView) -> ImageStats {
    compute_stats(view, Selection::all(), &StatsParams::default())
}

#[test]
fn a_constant_image() {
    let px = vec![200u8; 3 * 24 * 40];
    let s = all(&ImageView::rgb(40, 24, &px).unwrap());
    assert_eq!(s.entropy_local, Some(0.0));
    assert_eq!(s.entropy_global, Some(0.0));
    assert_eq!(s.dct_energy_pct, Some(100.0 / (24.0 * 40.0)));
    assert_eq!(s.colorfulness, Some(0.0));
    assert_eq!(s.segment_count, Some(1));
    assert_eq!(
        (s.edge_density, s.gradient_mean, s.rms_contrast),
        (Some(0.0), Some(0.0), Some(0.0))
    );
    assert_eq!(s.spectrum, Some([0.0; 16]));
    assert_eq!(s.std, Some([0.0; 3]));
    assert_eq!(s.skew, Some([0.0; 3]));
}

#[test]
fn a_two_level_checkerboard_has_one_bit() {
    let px: Vec<u8> = (0..32 * 32)
        .map(|i| if (i / 32 + i % 32) % 2 == 0 { 10 } else { 240 })
        .collect();
    let s = all(&ImageView::grey(32, 32, &px).unwrap());
    assert!((s.entropy_global.unwrap() - 1.0).abs() < 1e-15);
    // Every 10×10 window holds 50 of each level.
    assert!((s.entropy_local.unwrap() - 1.0).abs() < 1e-12);
    // All power at (0.5, 0.5): beyond the 0.5 radius, so the spectra row is empty,
    // but it is high-frequency power.
    assert_eq!(s.high_freq_ratio, Some(1.0));
}

fn transform(px: &[u8], w: usize, h: usize, op: u8) -> (Vec<u8>, usize, usize) {
    // op 0: mirror left-right, 1: flip up-down, 2: rotate 90°.
    let (ow, oh) = if op == 2 { (h, w) } else { (w, h) };
    let mut out = vec![0u8; px.len()];
    for y in 0..h {
        for x in 0..w {
            let (nx, ny) = match op {
                0 => (w - 1 - x, y),
                1 => (x, h - 1 - y),
                _ => (h - 1 - y, x),
            };
            out[(ny * ow + nx) * 3..][..3].copy_from_slice(&px[(y * w + x) * 3..][..3]);
        }
    }
    (out, ow, oh)
}

#[test]
fn flips_and_rotations_leave_invariant_statistics_unchanged() {
    let (w, h) = (37, 29);
    let px: Vec<u8> = (0..w * h * 3)
        .map(|i| ((i * 2654435761usize) >> 13) as u8 / 3 + (i % (w * 3)) as u8 / 2)
        .collect();
    let base = all(&ImageView::rgb(w, h, &px).unwrap());
    for op in 0..3 {
        let (t, tw, th) = transform(&px, w, h, op);
        let s = all(&ImageView::rgb(tw, th, &t).unwrap());
        let close = |a: Option<f64>, b: Option<f64>, what: &str| {
            let (a, b) = (a.unwrap(), b.unwrap());
            // Gradients are f32 arithmetic, summed in a different order once transformed.
            let tol = if what == "gradient_mean" { 1e-6 } else { 1e-9 };
            assert!((a - b).abs() <= tol * a.abs().max(1.0), "op {op} {what}: {a} vs {b}");
        };
        for col in [
            "entropy_local",
            "entropy_global",
            "dct_energy_pct",
            "dct_max_coeff",
            "gradient_mean",
            "spectral_slope",
            "spectral_intercept",
            "high_freq_ratio",
            "mean_r",
            "std_g",
            "skew_b",
            "colorfulness",
            "rms_contrast",
        ] {
            close(base.column(col), s.column(col), col);
        }
        for (a, b) in base.spectrum.unwrap().iter().zip(s.spectrum.unwrap()) {
            assert!((a - b).abs() < 1e-12, "op {op} spectrum");
        }
    }
}

#[test]
fn flat_colour_blocks_are_one_segment_each() {
    // k blocks of 10×16 = 160 px in far-apart colours.
    let colours = [
        [0u8, 0, 0],
        [250, 10, 10],
        [10, 250, 10],
        [10, 10, 250],
        [250, 250, 250],
        [128, 0, 128],
    ];
    for k in 1..=colours.len() {
        let w = 10 * k;
        let px: Vec<u8> = (0..16 * w).flat_map(|i| colours[(i % w) / 10]).collect();
        assert_eq!(all(&ImageView::rgb(w, 16, &px).unwrap()).segment_count, Some(k as i64));
    }
}

fn image_strategy() -> impl Strategy<Value = (usize, usize, usize, Vec<u8>)> {
    (1usize..40, 1usize..40, prop_oneof![Just(1usize), Just(3usize)]).prop_flat_map(|(w, h, c)| {
        (
            Just(w),
            Just(h),
            Just(c),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), w * h * c),
                (any::<u8>(), 0u8..4).prop_map(move |(v, spread)| (0..w * h * c)
                    .map(|i| v.wrapping_add((i % 3) as u8 * spread))
                    .collect()),
            ],
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_statistic_is_finite_in_range_and_deterministic((w, h, c, px) in image_strategy()) {
        let view = ImageView { width: w, height: h, channels: c, pixels: &px };
        let s = all(&view);
        prop_assert!(s.check_finite(Selection::all()).is_ok());
        let mut fresh = Workspace::new();
        prop_assert_eq!(&s, &fresh.compute(&view, Selection::all(), &StatsParams::default()));
        let e = s.entropy_local.unwrap();
        prop_assert!((0.0..=100f64.log2() + 1e-9).contains(&e));
        let g = s.entropy_global.unwrap();
        prop_assert!((0.0..=8.0 + 1e-12).contains(&g) && g <= ((w * h) as f64).log2() + 1e-9);
        let d = s.dct_energy_pct.unwrap();
        prop_assert!((0.0..=100.0).contains(&d));
        let n = s.segment_count.unwrap();
        prop_assert!(n >= 1 && n as usize <= w * h);
        prop_assert!((0.0..=1.0).contains(&s.edge_density.unwrap()));
        prop_assert!((0.0..=1.0).contains(&s.high_freq_ratio.unwrap()));
        prop_assert!((0.0..=0.5).contains(&s.rms_contrast.unwrap()));
        for v in s.mean.unwrap().iter().chain(&s.std.unwrap()) {
            prop_assert!((0.0..=1.0).contains(v));
        }
        for v in s.skew.unwrap() {
            prop_assert!((-1.0..=1.0).contains(&v));
        }
        let power = s.spectrum.unwrap();
        let sum: f64 = power.iter().sum();
        prop_assert!(power.iter().all(|&p| p >= 0.0) && (sum == 0.0 || (sum - 1.0).abs() < 1e-9));
        prop_assert!(s.compress_ratio.unwrap() > 0.0);
    }
}
