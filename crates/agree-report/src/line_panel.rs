//! One chart of lines over epochs (or another ordered x), with optional shaded bands
//! and error bars: the building block of every curve figure.

use plotters::{
    chart::{ChartContext, MeshStyle},
    coord::{Shift, types::RangedCoordf64},
    prelude::*,
    style::{RGBColor, ShapeStyle},
};

use crate::font::FAMILY;

/// One line of a [`LinePanel`].
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Legend label.
    pub label: String,
    /// Line colour.
    pub colour: RGBColor,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// Draw a marker at every point.
    pub markers: bool,
    /// (x, y) in x order.
    pub points: Vec<(f64, f64)>,
    /// Shaded band (x, low, high), e.g. mean ± std.
    pub band: Vec<(f64, f64, f64)>,
    /// Vertical error bars (x, low, high).
    pub error_bars: Vec<(f64, f64, f64)>,
}

impl Curve {
    /// A solid line with markers and no band.
    pub fn new(label: impl Into<String>, colour: RGBColor, points: Vec<(f64, f64)>) -> Self {
        Curve {
            label: label.into(),
            colour,
            dashed: false,
            markers: true,
            points,
            band: Vec::new(),
            error_bars: Vec::new(),
        }
    }
}

/// One chart: title, axis descriptions and curves.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePanel {
    /// Title above the chart.
    pub title: String,
    /// X axis description.
    pub x_label: String,
    /// Y axis description.
    pub y_label: String,
    /// Y values are percentages: the axis runs 0–100 and ticks end in `%`.
    pub percent: bool,
    /// X position that stands for "never" (drawn as that word on the axis).
    pub x_never: Option<f64>,
    /// The lines.
    pub curves: Vec<Curve>,
    /// Where the legend goes; `None` picks the corner the data leaves emptiest.
    pub legend: Option<SeriesLabelPosition>,
}

impl LinePanel {
    /// The data's x and y extents (including bands and bars), padded so nothing touches the frame.
    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let xs = self
            .curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.0).chain(c.band.iter().map(|b| b.0)));
        let (mut x0, mut x1) = extent(xs).unwrap_or((0.0, 1.0));
        if x1 - x0 < 1e-9 {
            x0 -= 0.5;
            x1 += 0.5;
        }
        let pad_x = (x1 - x0) * 0.03;
        if self.percent {
            return ((x0 - pad_x, x1 + pad_x), (0.0, 100.0));
        }
        let ys = self.curves.iter().flat_map(|c| {
            c.points
                .iter()
                .map(|p| p.1)
                .chain(c.band.iter().flat_map(|b| [b.1, b.2]))
                .chain(c.error_bars.iter().flat_map(|b| [b.1, b.2]))
        });
        let (mut y0, mut y1) = extent(ys).unwrap_or((0.0, 1.0));
        if y1 - y0 < 1e-12 {
            let d = if y0.abs() > 0.0 { y0.abs() * 0.05 } else { 0.5 };
            y0 -= d;
            y1 += d;
        }
        let pad_y = (y1 - y0) * 0.08;
        ((x0 - pad_x, x1 + pad_x), (y0 - pad_y, y1 + pad_y))
    }

    /// The corner whose legend-sized box (40% of the width, a tenth of the height per
    /// entry) covers the fewest data points, so the legend hides as little as possible.
    fn emptiest_corner(&self, (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> SeriesLabelPosition {
        let entries = self.curves.iter().filter(|c| !c.label.is_empty()).count().max(1) as f64;
        let w = 0.4 * (x1 - x0);
        let h = ((0.1 * entries + 0.05) * (y1 - y0)).min(y1 - y0);
        let points: Vec<(f64, f64)> = self
            .curves
            .iter()
            .flat_map(|c| {
                c.points
                    .iter()
                    .copied()
                    .chain(c.band.iter().flat_map(|b| [(b.0, b.1), (b.0, b.2)]))
                    .chain(c.error_bars.iter().flat_map(|b| [(b.0, b.1), (b.0, b.2)]))
            })
            .collect();
        let covered = |left: bool, upper: bool| {
            let (bx0, bx1) = if left { (x0, x0 + w) } else { (x1 - w, x1) };
            let (by0, by1) = if upper { (y1 - h, y1) } else { (y0, y0 + h) };
            // Lines between points cross the box too: count sampled segment points as well.
            points
                .windows(2)
                .flat_map(|p| {
                    (0..=8).map(move |k| {
                        let t = f64::from(k) / 8.0;
                        (p[0].0 + t * (p[1].0 - p[0].0), p[0].1 + t * (p[1].1 - p[0].1))
                    })
                })
                .chain(points.iter().copied())
                .filter(|&(x, y)| x >= bx0 && x <= bx1 && y >= by0 && y <= by1)
                .count()
        };
        [
            (SeriesLabelPosition::UpperLeft, covered(true, true)),
            (SeriesLabelPosition::UpperRight, covered(false, true)),
            (SeriesLabelPosition::LowerRight, covered(false, false)),
            (SeriesLabelPosition::LowerLeft, covered(true, false)),
        ]
        .into_iter()
        .min_by_key(|(_, n)| *n)
        .map_or(SeriesLabelPosition::UpperLeft, |(p, _)| p)
    }

    /// Draws the chart into `area`: frame and axes, the bands under every line, each
    /// curve, then the legend.
    pub fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let ((x0, x1), (y0, y1)) = self.ranges();
        let mut chart = chart_frame(area, &self.title)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        self.draw_axes(&mut chart, (x0, x1), (y0, y1))?;
        for c in &self.curves {
            draw_band(&mut chart, c)?;
        }
        for c in &self.curves {
            draw_curve(&mut chart, c, y1 - y0)?;
        }
        if self.curves.iter().any(|c| !c.label.is_empty()) {
            let corner = self
                .legend
                .clone()
                .unwrap_or_else(|| self.emptiest_corner((x0, x1), (y0, y1)));
            chart
                .configure_series_labels()
                .position(corner)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(190, 190, 190))
                .label_font((FAMILY, 12))
                .draw()
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The grid, ticks and axis descriptions: integer x ticks ("never" at
    /// [`LinePanel::x_never`]), y ticks in percent or as compact numbers.
    fn draw_axes<DB: DrawingBackend>(
        &self,
        chart: &mut Chart<'_, DB>,
        (x0, x1): (f64, f64),
        (y0, y1): (f64, f64),
    ) -> Result<(), String> {
        let never = self.x_never;
        let x_fmt = move |x: &f64| {
            if never.is_some_and(|n| (x - n).abs() < 1e-6) {
                "never".to_string()
            } else if (x - x.round()).abs() < 1e-6 {
                format!("{}", x.round() as i64)
            } else {
                String::new()
            }
        };
        let percent = self.percent;
        // Ticks at a rounding error from zero (e.g. -1.4e-17) read as zero.
        let zero = (y1 - y0).abs() * 1e-9;
        let y_fmt = move |y: &f64| {
            let y = if y.abs() < zero { 0.0 } else { *y };
            if percent { format!("{y:.0}%") } else { tick_label(y) }
        };
        // Integer x ticks only: one label per epoch when they fit, otherwise plotters' spacing.
        let span = (x1 - x0).round() as usize + 1;
        style_mesh(&mut chart.configure_mesh())
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_labels(span.clamp(2, 12))
            .y_labels(6)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .draw()
            .map_err(|e| e.to_string())
    }
}

/// A chart over (f64, f64) as the panels draw it.
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The frame every panel shares: its title as caption, margins and label areas.
pub(crate) fn chart_frame<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &'b str,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(title, (FAMILY, 16))
        .margin(8)
        .margin_right(16)
        .x_label_area_size(42)
        .y_label_area_size(62);
    builder
}

/// The grid and label styles every panel shares.
pub(crate) fn style_mesh<'m, 'a, 'b, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, RangedCoordf64, RangedCoordf64, DB>,
) -> &'m mut MeshStyle<'a, 'b, RangedCoordf64, RangedCoordf64, DB> {
    mesh.axis_desc_style((FAMILY, 14))
        .label_style((FAMILY, 12))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(RGBColor(245, 245, 245))
}

/// A curve's shaded band (needs two points or more).
fn draw_band<DB: DrawingBackend>(chart: &mut Chart<'_, DB>, c: &Curve) -> Result<(), String> {
    if c.band.len() < 2 {
        return Ok(());
    }
    let mut outline: Vec<(f64, f64)> = c.band.iter().map(|b| (b.0, b.2)).collect();
    outline.extend(c.band.iter().rev().map(|b| (b.0, b.1)));
    chart
        .draw_series(std::iter::once(Polygon::new(outline, c.colour.mix(0.18).filled())))
        .map(drop)
        .map_err(|e| e.to_string())
}

/// A curve's line (with its legend entry), markers and error bars; `y_span` is the
/// y axis's extent (bars shorter than a rounding error of it are not drawn).
fn draw_curve<'a, DB: DrawingBackend + 'a>(chart: &mut Chart<'a, DB>, c: &'a Curve, y_span: f64) -> Result<(), String> {
    let style = ShapeStyle::from(c.colour).stroke_width(2);
    let legend_style = style;
    let dashed = c.dashed;
    let anno = if c.dashed {
        chart.draw_series(DashedLineSeries::new(c.points.iter().copied(), 7, 5, style))
    } else {
        chart.draw_series(LineSeries::new(c.points.iter().copied(), style))
    }
    .map_err(|e| e.to_string())?;
    if !c.label.is_empty() {
        anno.label(&c.label).legend(move |(x, y)| {
            // A dashed series gets a dashed sample: two strokes with a gap.
            let first_end = if dashed { 8 } else { 10 };
            let second_start = if dashed { 12 } else { 10 };
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (first_end, 0)], legend_style)
                + PathElement::new(vec![(second_start, 0), (20, 0)], legend_style)
        });
    }
    if c.markers {
        chart
            .draw_series(c.points.iter().map(|&p| Circle::new(p, 3, c.colour.filled())))
            .map_err(|e| e.to_string())?;
    }
    // A bar of zero length (std 0) has nothing to stroke.
    for &(x, lo, hi) in c.error_bars.iter().filter(|b| b.2 - b.1 > 1e-12 * y_span) {
        chart
            .draw_series(std::iter::once(PathElement::new(vec![(x, lo), (x, hi)], style)))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Smallest and largest finite value.
fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// A compact tick label: at most 4 significant digits, no trailing zeros.
pub fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(2.5), "2.5");
        assert_eq!(tick_label(1234.5678), "1235");
        assert_eq!(tick_label(0.012346), "0.01235");
        assert_eq!(tick_label(-3.0), "-3");
        assert_eq!(tick_label(250000.0), "2.5e5");
    }

    #[test]
    fn ranges_pad_the_data_and_fix_percent_axes() {
        let mut p = LinePanel {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            percent: false,
            x_never: None,
            curves: vec![Curve::new("a", RGBColor(0, 0, 0), vec![(1.0, 2.0), (3.0, 4.0)])],
            legend: None,
        };
        let ((x0, x1), (y0, y1)) = p.ranges();
        assert!(x0 < 1.0 && x1 > 3.0 && y0 < 2.0 && y1 > 4.0);
        p.percent = true;
        assert_eq!(p.ranges().1, (0.0, 100.0));
    }

    #[test]
    fn legend_goes_where_the_data_is_not() {
        let panel = |points: Vec<(f64, f64)>| LinePanel {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            percent: true,
            x_never: None,
            curves: vec![Curve::new("a", RGBColor(0, 0, 0), points)],
            legend: None,
        };
        let ranges = ((0.0, 10.0), (0.0, 100.0));
        // A rising line leaves the upper left empty.
        let rising = panel((0..=10).map(|i| (f64::from(i), 10.0 * f64::from(i))).collect());
        assert!(matches!(
            rising.emptiest_corner(ranges.0, ranges.1),
            SeriesLabelPosition::UpperLeft
        ));
        // A falling line from the top left leaves the upper right empty.
        let falling = panel((0..=10).map(|i| (f64::from(i), 100.0 - 10.0 * f64::from(i))).collect());
        assert!(matches!(
            falling.emptiest_corner(ranges.0, ranges.1),
            SeriesLabelPosition::UpperRight
        ));
        // A line along the top leaves both lower corners empty; the first listed (lower right) wins.
        let top = panel((0..=10).map(|i| (f64::from(i), 95.0)).collect());
        assert!(matches!(
            top.emptiest_corner(ranges.0, ranges.1),
            SeriesLabelPosition::LowerRight
        ));
    }
}
