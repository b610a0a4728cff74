//! One scatter chart: a dot per point, coloured by a third value on a continuous scale
//! with its colour bar beside the chart (the data map).

use plotters::{
    coord::Shift,
    prelude::*,
    style::{
        RGBColor,
        text_anchor::{HPos, Pos, VPos},
    },
};

use crate::{
    colour_bar::{COLOUR_BAR_SPACE, ColourBar},
    font::FAMILY,
    line_panel::{chart_frame, style_mesh, tick_label},
    palette::ColourScale,
};

/// Radius of a dot in pixels.
const DOT_RADIUS: u32 = 2;

/// Which point of an [`Annotation`]'s text sits at its coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The text's top left corner.
    TopLeft,
    /// Its bottom left corner.
    BottomLeft,
    /// Its top right corner.
    TopRight,
    /// Its bottom right corner.
    BottomRight,
    /// Its centre.
    Centre,
}

impl Anchor {
    /// As plotters' text position.
    fn pos(self) -> Pos {
        let (h, v) = match self {
            Anchor::TopLeft => (HPos::Left, VPos::Top),
            Anchor::BottomLeft => (HPos::Left, VPos::Bottom),
            Anchor::TopRight => (HPos::Right, VPos::Top),
            Anchor::BottomRight => (HPos::Right, VPos::Bottom),
            Anchor::Centre => (HPos::Center, VPos::Center),
        };
        Pos::new(h, v)
    }
}

/// A text written into the chart at data coordinates (e.g. a region's name).
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// X in data coordinates.
    pub x: f64,
    /// Y in data coordinates.
    pub y: f64,
    /// The text.
    pub text: String,
    /// Which point of the text sits at (x, y).
    pub anchor: Anchor,
}

/// A scatter chart with its axes, colour scale and annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterPanel {
    /// Title above the chart.
    pub title: String,
    /// X axis description.
    pub x_label: String,
    /// Y axis description.
    pub y_label: String,
    /// The x axis's extent; points outside it are not drawn.
    pub x_range: (f64, f64),
    /// The y axis's extent; points outside it are not drawn.
    pub y_range: (f64, f64),
    /// (x, y, colour value) per dot, drawn in this order (later dots on top).
    pub points: Vec<(f64, f64, f64)>,
    /// What the colour stands for (the colour bar's label).
    pub colour_label: String,
    /// The values at the two ends of the colour scale.
    pub colour_range: (f64, f64),
    /// The colour scale, `colour_range` mapped onto its ends.
    pub colour: ColourScale,
    /// Texts in the chart.
    pub annotations: Vec<Annotation>,
}

impl ScatterPanel {
    /// The colour of `value` on the panel's scale.
    fn colour_of(&self, value: f64) -> RGBColor {
        let (lo, hi) = self.colour_range;
        let t = if hi > lo { (value - lo) / (hi - lo) } else { 0.0 };
        self.colour.at(t)
    }

    /// Draws the chart into `area`, its colour bar at the right.
    pub fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (width, height) = area.dim_in_pixel();
        let (chart_area, bar_area) = area.split_horizontally(width.saturating_sub(COLOUR_BAR_SPACE));
        let (x0, x1) = widen(self.x_range);
        let (y0, y1) = widen(self.y_range);
        let mut chart = chart_frame(&chart_area, &self.title)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        style_mesh(&mut chart.configure_mesh())
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|x| tick_label(*x))
            .y_label_formatter(&|y| tick_label(*y))
            .draw()
            .map_err(|e| e.to_string())?;
        let inside = |x: f64, y: f64| (x0..=x1).contains(&x) && (y0..=y1).contains(&y);
        chart
            .draw_series(
                self.points
                    .iter()
                    .filter(|p| inside(p.0, p.1) && p.2.is_finite())
                    .map(|&(x, y, c)| Circle::new((x, y), DOT_RADIUS, self.colour_of(c).mix(0.75).filled())),
            )
            .map_err(|e| e.to_string())?;
        let note = RGBColor(70, 70, 70);
        for a in self.annotations.iter().filter(|a| inside(a.x, a.y)) {
            let style = TextStyle::from((FAMILY, 13).into_font())
                .color(&note)
                .pos(a.anchor.pos());
            chart
                .draw_series(std::iter::once(Text::new(a.text.clone(), (a.x, a.y), style)))
                .map_err(|e| e.to_string())?;
        }
        let scale = |v: f64| self.colour_of(v);
        let (lo, hi) = self.colour_range;
        let ticks = [
            lo,
            lo + 0.25 * (hi - lo),
            lo + 0.5 * (hi - lo),
            lo + 0.75 * (hi - lo),
            hi,
        ];
        ColourBar {
            label: &self.colour_label,
            low: lo,
            high: hi,
            ticks: &ticks,
            colour: &scale,
        }
        // Level with the chart's plotting area: under the caption, above the x labels.
        .draw(&bar_area, 6, 36, height as i32 - 52)
    }
}

/// An axis extent with room: empty or reversed ranges become a unit around their start.
fn widen((lo, hi): (f64, f64)) -> (f64, f64) {
    if lo.is_finite() && hi.is_finite() && hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 0.5, lo + 0.5)
    } else {
        (0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_reversed_ranges_are_widened() {
        assert_eq!(widen((0.0, 2.0)), (0.0, 2.0));
        assert_eq!(widen((1.0, 1.0)), (0.5, 1.5));
        assert_eq!(widen((f64::NAN, 1.0)), (0.0, 1.0));
    }
}
