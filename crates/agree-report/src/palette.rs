//! Colours of the figures: a qualitative palette for groups and series, and a
//! sequential one for ordered quantile bins (low → high reads light → dark).

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

/// Colour of bin `i` of `n` ordered bins, from light yellow-green to dark blue (viridis-like).
pub fn sequential(i: usize, n: usize) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    // Bin 0 (smallest values) gets the light end so "low statistic" stands out as bright.
    let t = if n <= 1 { 0.0 } else { 1.0 - i as f64 / (n - 1) as f64 };
    let pos = t * (STOPS.len() - 1) as f64;
    let k = (pos.floor() as usize).min(STOPS.len() - 2);
    let f = pos - k as f64;
    let lerp = |a: f64, b: f64| (a + (b - a) * f).round().clamp(0.0, 255.0) as u8;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
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
}
