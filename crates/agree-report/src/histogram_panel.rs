//! One histogram chart: the distribution of a statistic, bars as percentages of samples.

use plotters::{coord::Shift, prelude::*, style::RGBColor};

use crate::{
    line_panel::{chart_frame, style_mesh, tick_label},
    shaping::Histogram,
};

/// A histogram with its title and axis description.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramPanel {
    /// Title above the chart.
    pub title: String,
    /// X axis description (the statistic and its unit).
    pub x_label: String,
    /// Bar colour.
    pub colour: RGBColor,
    /// The counts.
    pub histogram: Histogram,
}

impl HistogramPanel {
    /// Draws the chart into `area`.
    pub fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let h = &self.histogram;
        let total = h.total().max(1) as f64;
        let shares: Vec<f64> = h.counts.iter().map(|&c| 100.0 * c as f64 / total).collect();
        let top = shares.iter().copied().fold(0.0, f64::max).max(1e-9) * 1.1;
        let visible = top / 200.0;
        let x0 = h.low;
        let x1 = h.low + h.width * h.counts.len() as f64;
        // Ticks at a rounding error from zero read as zero.
        let zero = (x1 - x0).abs() * 1e-9;
        let mut chart = chart_frame(area, &self.title)
            .build_cartesian_2d(x0..x1, 0.0..top)
            .map_err(|e| e.to_string())?;
        style_mesh(&mut chart.configure_mesh())
            .x_desc(&self.x_label)
            .y_desc("samples (%)")
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|x| tick_label(if x.abs() < zero { 0.0 } else { *x }))
            .y_label_formatter(&|y| format!("{}%", tick_label(*y)))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            // Bins under a pixel high draw nothing: a zero-height rectangle is invalid SVG.
            .draw_series(shares.iter().enumerate().filter(|(_, s)| **s > visible).map(|(i, &s)| {
                let left = h.low + h.width * i as f64;
                Rectangle::new([(left, 0.0), (left + h.width, s)], self.colour.mix(0.8).filled())
            }))
            .map_err(|e| e.to_string())?;
        chart
            // Bins under a pixel high draw nothing: a zero-height rectangle is invalid SVG.
            .draw_series(shares.iter().enumerate().filter(|(_, s)| **s > visible).map(|(i, &s)| {
                let left = h.low + h.width * i as f64;
                Rectangle::new([(left, 0.0), (left + h.width, s)], WHITE.stroke_width(1))
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}
