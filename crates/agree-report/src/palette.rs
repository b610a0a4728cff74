//! Colours of the figures: a qualitative palette for groups and series, a sequential
//! one for ordered quantile bins (low → high reads light → dark) and continuous values
//! (viridis), and a diverging one for correlations (blue − … white 0 … red +).

use plotters::style::RGBColor;

/// Tableau-10 colours, readable on white and distinguishable in print.
const QUALITATIVE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The `i`-th qualitative colour (cycling).
pub fn qualitative(i: usize) -> RGBColor {
    QUALITATIVE[i % QUALITATIVE.len()]
}

/// A continuous colour scale, read at 0 … 1 by [`ColourScale::at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourScale {
    /// [`viridis`]: sequential, dark purple to light yellow.
    Viridis,
    /// [`diverging`]: blue through white to red (0 … 1 stands for −1 … 1).
    Diverging,
}

impl ColourScale {
    /// The colour at `t` in 0 … 1 (clamped).
    pub fn at(self, t: f64) -> RGBColor {
        match self {
            ColourScale::Viridis => viridis(t),
            ColourScale::Diverging => diverging(2.0 * t - 1.0),
        }
    }
}

/// Viridis from dark purple (`t` = 0) to light yellow (`t` = 1); `t` is clamped to
/// 0 … 1 and a NaN reads as 0.
pub fn viridis(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    interpolate(&STOPS, if t.is_nan() { 0.0 } else { t })
}

/// Colour of bin `i` of `n` ordered bins, from light yellow-green to dark blue (viridis-like).
pub fn sequential(i: usize, n: usize) -> RGBColor {
    // Bin 0 (smallest values) gets the light end so "low statistic" stands out as bright.
    let t = if n <= 1 { 0.0 } else { 1.0 - i as f64 / (n - 1) as f64 };
    viridis(t)
}

/// A diverging scale for correlations: blue (`v` = −1) through near-white (0) to red
/// (+1), ColorBrewer's RdBu; `v` is clamped to −1 … 1 and a NaN is mid grey.
pub fn diverging(v: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 7] = [
        (33.0, 102.0, 172.0),
        (103.0, 169.0, 207.0),
        (209.0, 229.0, 240.0),
        (247.0, 247.0, 247.0),
        (253.0, 219.0, 199.0),
        (239.0, 138.0, 98.0),
        (178.0, 24.0, 43.0),
    ];
    if v.is_nan() {
        return RGBColor(150, 150, 150);
    }
    interpolate(&STOPS, (v + 1.0) / 2.0)
}

/// The colour at `t` (clamped to 0 … 1) of evenly spaced `stops`, linearly interpolated.
fn interpolate(stops: &[(f64, f64, f64)], t: f64) -> RGBColor {
    if stops.len() < 2 {
        // Fewer than two stops is no scale: black (the callers pass five or seven).
        return RGBColor(0, 0, 0);
    }
    let pos = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let k = (pos.floor() as usize).min(stops.len() - 2);
    let f = pos - k as f64;
    let lerp = |a: f64, b: f64| (a + (b - a) * f).round().clamp(0.0, 255.0) as u8;
    let (a, b) = (stops[k], stops[k + 1]);
    RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

/// Whether dark text is readable on `background` (by its perceived lightness).
pub fn is_light(background: RGBColor) -> bool {
    let RGBColor(r, g, b) = background;
    0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b) > 150.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_runs_from_light_to_dark_end() {
        assert_eq!(sequential(0, 5), RGBColor(253, 231, 37));
        assert_eq!(sequential(4, 5), RGBColor(68, 1, 84));
        assert_eq!(sequential(2, 5), RGBColor(33, 145, 140));
        assert_eq!(sequential(0, 1), RGBColor(68, 1, 84));
        assert_eq!(qualitative(10), qualitative(0));
    }

    #[test]
    fn continuous_scales_clamp_and_meet_their_ends() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(2.0), viridis(1.0));
        assert_eq!(viridis(f64::NAN), viridis(0.0));
        assert_eq!(diverging(-1.0), RGBColor(33, 102, 172));
        assert_eq!(diverging(0.0), RGBColor(247, 247, 247));
        assert_eq!(diverging(1.0), RGBColor(178, 24, 43));
        assert_eq!(diverging(-5.0), diverging(-1.0));
        assert_eq!(diverging(f64::NAN), RGBColor(150, 150, 150));
        assert!(is_light(diverging(0.1)) && !is_light(diverging(0.95)) && !is_light(viridis(0.0)));
    }
}
