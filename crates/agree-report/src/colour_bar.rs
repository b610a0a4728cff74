//! A colour bar: the legend of a continuous colour scale, drawn beside a chart.

use plotters::{
    coord::Shift,
    prelude::*,
    style::{
        RGBColor,
        text_anchor::{HPos, Pos, VPos},
    },
};

use crate::{font::FAMILY, line_panel::tick_label};

/// Width of the gradient in pixels.
const BAR_WIDTH: i32 = 14;
/// Space a colour bar takes beside its chart, in pixels (bar, ticks and their labels).
pub const COLOUR_BAR_SPACE: u32 = 86;

/// A continuous colour scale from `low` (bottom) to `high` (top) and how it is labelled.
pub struct ColourBar<'a> {
    /// What the colour stands for, written above the bar.
    pub label: &'a str,
    /// The value at the bottom of the bar.
    pub low: f64,
    /// The value at the top of the bar.
    pub high: f64,
    /// Values marked with a tick and their number.
    pub ticks: &'a [f64],
    /// The scale.
    pub colour: &'a dyn Fn(f64) -> RGBColor,
}

impl ColourBar<'_> {
    /// Draws the bar into `area` (in its pixels): the label at (`left`, `top`), the
    /// gradient below it down to `bottom`, ticks to its right. A bar under 8 pixels
    /// high draws nothing but its label.
    pub fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        left: i32,
        top: i32,
        bottom: i32,
    ) -> Result<(), String> {
        let text = RGBColor(40, 40, 40);
        let label_style = TextStyle::from((FAMILY, 12).into_font())
            .color(&text)
            .pos(Pos::new(HPos::Left, VPos::Top));
        area.draw(&Text::new(self.label.to_string(), (left, top), label_style))
            .map_err(|e| e.to_string())?;
        let bar_top = top + 22;
        let height = bottom - bar_top;
        let span = self.high - self.low;
        if height < 8 || !span.is_finite() || span <= 0.0 {
            return Ok(());
        }
        let steps = (height / 2).clamp(1, 64);
        for k in 0..steps {
            let y0 = bar_top + height * k / steps;
            // Each step overlaps the next by a pixel so no seam shows between them.
            let y1 = (bar_top + height * (k + 1) / steps + 1).min(bar_top + height);
            if y1 <= y0 {
                continue;
            }
            let t = 1.0 - (f64::from(k) + 0.5) / f64::from(steps);
            let colour = (self.colour)(self.low + span * t);
            area.draw(&Rectangle::new([(left, y0), (left + BAR_WIDTH, y1)], colour.filled()))
                .map_err(|e| e.to_string())?;
        }
        area.draw(&Rectangle::new(
            [(left, bar_top), (left + BAR_WIDTH, bar_top + height)],
            RGBColor(160, 160, 160).stroke_width(1),
        ))
        .map_err(|e| e.to_string())?;
        let tick_style = TextStyle::from((FAMILY, 12).into_font())
            .color(&text)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for &v in self.ticks.iter().filter(|v| **v >= self.low && **v <= self.high) {
            let y = bar_top + ((self.high - v) / span * f64::from(height)).round() as i32;
            let x = left + BAR_WIDTH;
            area.draw(&PathElement::new(vec![(x, y), (x + 4, y)], text.stroke_width(1)))
                .map_err(|e| e.to_string())?;
            area.draw(&Text::new(tick_label(v), (x + 7, y), tick_style.clone()))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
