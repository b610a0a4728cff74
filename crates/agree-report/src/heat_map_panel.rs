//! One heat map: a grid of correlations coloured on a diverging scale from −1 (blue)
//! to +1 (red), each value printed in its cell when the cells are wide enough, column
//! blocks drawn apart, and a colour bar at the right.

use plotters::{
    coord::Shift,
    prelude::*,
    style::{
        FontTransform, RGBColor,
        text_anchor::{HPos, Pos, VPos},
    },
};

use crate::{
    colour_bar::{COLOUR_BAR_SPACE, ColourBar},
    font::{self, FAMILY},
    palette,
};

/// Height of the title line in pixels.
const TITLE_HEIGHT: i32 = 30;
/// Height of the line of column-block headers.
const BLOCK_HEIGHT: i32 = 20;
/// Height of a row of cells.
const CELL_HEIGHT: i32 = 24;
/// Width of a cell while there are at most [`WIDE_COLUMNS`] columns.
const CELL_WIDTH: i32 = 44;
/// Columns up to which cells keep [`CELL_WIDTH`]; more share [`GRID_WIDTH`].
const WIDE_COLUMNS: usize = 40;
/// Width the cells of a map with more than [`WIDE_COLUMNS`] columns share.
const GRID_WIDTH: i32 = CELL_WIDTH * WIDE_COLUMNS as i32;
/// The narrowest cell.
const MIN_CELL_WIDTH: i32 = 6;
/// Cells narrower than this show colour only (no printed value).
const TEXT_CELL_WIDTH: i32 = 34;
/// Space between column blocks.
const BLOCK_GAP: i32 = 8;
/// Outer margin.
const MARGIN: i32 = 8;
/// Font size of labels.
const LABEL_SIZE: f64 = 12.0;
/// The colour bar needs this much grid height to be legible.
const MIN_GRID_HEIGHT: i32 = 130;

/// One cell of a [`HeatMapPanel`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HeatCell {
    /// No value: an outlined empty cell.
    Blank,
    /// A row's own column (a score against itself): grey, no value.
    Diagonal,
    /// A value in −1 … 1.
    Value {
        /// The value (coloured and printed with two decimals).
        value: f64,
        /// Printed in grey (hatched when too narrow to print): its interval includes 0.
        faint: bool,
    },
}

/// A heat map with its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatMapPanel {
    /// Title above the map.
    pub title: String,
    /// One label per row, left of the grid.
    pub row_labels: Vec<String>,
    /// One label per column, above the grid (written upwards).
    pub column_labels: Vec<String>,
    /// Headers over consecutive blocks of columns, as (header, columns in the block);
    /// blocks are drawn apart. Columns beyond the blocks form one more, unheaded.
    pub column_blocks: Vec<(String, usize)>,
    /// The cells, `[row][column]`; missing ones are blank.
    pub cells: Vec<Vec<HeatCell>>,
    /// What the colour stands for (the colour bar's label).
    pub colour_label: String,
}

/// Where everything of a heat map goes, in pixels from its top left.
#[derive(Debug, Clone, PartialEq)]
struct Layout {
    /// Width of one cell.
    cell_width: i32,
    /// Left edge of the grid.
    grid_left: i32,
    /// Top edge of the grid.
    grid_top: i32,
    /// Left edge of each column.
    column_left: Vec<i32>,
    /// Right edge of the last column.
    grid_right: i32,
    /// Bottom edge of the last row.
    grid_bottom: i32,
    /// The whole panel's size.
    size: (u32, u32),
}

/// Width of `text` in pixels at `size` in the figures' font (an estimate when the font
/// cannot measure it).
fn text_width(text: &str, size: f64) -> i32 {
    let measured = font::ensure_registered()
        .ok()
        .and_then(|()| (FAMILY, size).into_font().box_size(text).ok());
    match measured {
        Some((w, _)) => i32::try_from(w).unwrap_or(i32::MAX),
        None => (text.chars().count() as f64 * size * 0.62).ceil() as i32,
    }
}

/// A drawing error as text.
fn message(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A value as printed in its cell: two decimals, never "-0.00".
pub fn cell_text(value: f64) -> String {
    let s = format!("{value:.2}");
    if s == "-0.00" { "0.00".into() } else { s }
}

impl HeatMapPanel {
    /// The columns' blocks as (header, first column, columns), covering every column.
    fn blocks(&self) -> Vec<(&str, usize, usize)> {
        let mut out = Vec::new();
        let mut start = 0;
        for (header, n) in &self.column_blocks {
            let n = (*n).min(self.column_labels.len().saturating_sub(start));
            if n > 0 {
                out.push((header.as_str(), start, n));
            }
            start += n;
        }
        if start < self.column_labels.len() {
            out.push(("", start, self.column_labels.len() - start));
        }
        out
    }

    /// Where the grid and labels go: cell width from the number of columns, label
    /// areas from the longest labels.
    fn layout(&self) -> Layout {
        let columns = self.column_labels.len();
        let cell_width = if columns <= WIDE_COLUMNS {
            CELL_WIDTH
        } else {
            (GRID_WIDTH / columns.max(1) as i32).max(MIN_CELL_WIDTH)
        };
        let widest = |labels: &[String]| labels.iter().map(|l| text_width(l, LABEL_SIZE)).max().unwrap_or(0);
        let grid_left = MARGIN + widest(&self.row_labels) + 10;
        let grid_top = TITLE_HEIGHT + BLOCK_HEIGHT + widest(&self.column_labels) + 10;
        let mut column_left = vec![0; columns];
        let mut x = grid_left;
        for (b, (_, first, n)) in self.blocks().into_iter().enumerate() {
            if b > 0 {
                x += BLOCK_GAP;
            }
            for left in column_left.iter_mut().skip(first).take(n) {
                *left = x;
                x += cell_width;
            }
        }
        let grid_right = x;
        let grid_bottom = grid_top + CELL_HEIGHT * self.row_labels.len() as i32;
        let title_right = 2 * MARGIN + text_width(&self.title, 16.0);
        let width = (grid_right + 10 + COLOUR_BAR_SPACE as i32 + MARGIN).max(title_right);
        let height = grid_top + (grid_bottom - grid_top).max(MIN_GRID_HEIGHT) + 2 * MARGIN;
        Layout {
            cell_width,
            grid_left,
            grid_top,
            column_left,
            grid_right,
            grid_bottom,
            size: (width.max(1) as u32, height.max(1) as u32),
        }
    }

    /// The size the map needs in pixels, to give it a figure of its own size.
    pub fn size(&self) -> (u32, u32) {
        self.layout().size
    }

    /// Draws the map into `area` (of at least [`HeatMapPanel::size`]).
    pub fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let l = self.layout();
        let ink = RGBColor(40, 40, 40);
        let font = |size: f64| (FAMILY, size).into_font();
        let (width, _) = area.dim_in_pixel();
        area.draw(&Text::new(
            self.title.clone(),
            (width as i32 / 2, 8),
            font(16.0).color(&ink).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(message)?;
        // Block headers, each centred over its columns and underlined.
        for (header, first, n) in self.blocks() {
            let (Some(&x0), Some(&last)) = (l.column_left.get(first), l.column_left.get(first + n - 1)) else {
                continue;
            };
            let x1 = last + l.cell_width;
            if header.is_empty() {
                continue;
            }
            let y = TITLE_HEIGHT + BLOCK_HEIGHT - 4;
            area.draw(&Text::new(
                header.to_string(),
                ((x0 + x1) / 2, y - 3),
                font(LABEL_SIZE)
                    .style(FontStyle::Bold)
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            ))
            .map_err(message)?;
            area.draw(&PathElement::new(
                vec![(x0, y), (x1, y)],
                RGBColor(170, 170, 170).stroke_width(1),
            ))
            .map_err(message)?;
        }
        let column_style = font(LABEL_SIZE)
            .transform(FontTransform::Rotate270)
            .color(&ink)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (label, &x) in self.column_labels.iter().zip(&l.column_left) {
            area.draw(&Text::new(
                label.clone(),
                (x + l.cell_width / 2, l.grid_top - 6),
                column_style.clone(),
            ))
            .map_err(message)?;
        }
        let row_style = font(LABEL_SIZE).color(&ink).pos(Pos::new(HPos::Right, VPos::Center));
        for (r, label) in self.row_labels.iter().enumerate() {
            let y = l.grid_top + CELL_HEIGHT * r as i32 + CELL_HEIGHT / 2;
            area.draw(&Text::new(label.clone(), (l.grid_left - 6, y), row_style.clone()))
                .map_err(message)?;
        }
        for r in 0..self.row_labels.len() {
            let y = l.grid_top + CELL_HEIGHT * r as i32;
            for (c, &x) in l.column_left.iter().enumerate() {
                let cell = self
                    .cells
                    .get(r)
                    .and_then(|row| row.get(c))
                    .copied()
                    .unwrap_or(HeatCell::Blank);
                self.draw_cell(area, cell, (x, y), l.cell_width)?;
            }
        }
        let scale = |v: f64| palette::diverging(v);
        ColourBar {
            label: &self.colour_label,
            low: -1.0,
            high: 1.0,
            ticks: &[-1.0, -0.5, 0.0, 0.5, 1.0],
            colour: &scale,
        }
        .draw(
            area,
            l.grid_right + 16,
            l.grid_top - 22,
            l.grid_top + (l.grid_bottom - l.grid_top).max(MIN_GRID_HEIGHT),
        )
    }

    /// One cell with its top left at `(x, y)`, a pixel of white between cells.
    fn draw_cell<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        cell: HeatCell,
        (x, y): (i32, i32),
        cell_width: i32,
    ) -> Result<(), String> {
        let (x0, y0, x1, y1) = (x + 1, y + 1, x + cell_width - 1, y + CELL_HEIGHT - 1);
        match cell {
            HeatCell::Blank => area
                .draw(&Rectangle::new(
                    [(x0, y0), (x1, y1)],
                    RGBColor(225, 225, 225).stroke_width(1),
                ))
                .map_err(message),
            HeatCell::Diagonal => area
                .draw(&Rectangle::new([(x0, y0), (x1, y1)], RGBColor(215, 215, 215).filled()))
                .map_err(message),
            HeatCell::Value { value, faint } => {
                let fill = palette::diverging(value);
                area.draw(&Rectangle::new([(x0, y0), (x1, y1)], fill.filled()))
                    .map_err(message)?;
                let light = palette::is_light(fill);
                if cell_width >= TEXT_CELL_WIDTH {
                    let colour = match (faint, light) {
                        (true, true) => RGBColor(140, 140, 140),
                        (true, false) => RGBColor(215, 215, 215),
                        (false, true) => RGBColor(20, 20, 20),
                        (false, false) => RGBColor(255, 255, 255),
                    };
                    let style = (FAMILY, 11.0)
                        .into_font()
                        .color(&colour)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    area.draw(&Text::new(cell_text(value), ((x0 + x1) / 2, (y0 + y1) / 2), style))
                        .map_err(message)
                } else if faint {
                    let hatch = if light {
                        RGBColor(120, 120, 120)
                    } else {
                        RGBColor(230, 230, 230)
                    };
                    area.draw(&PathElement::new(vec![(x0, y1), (x1, y0)], hatch.stroke_width(1)))
                        .map_err(message)
                } else {
                    Ok(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(columns: usize, blocks: Vec<(String, usize)>) -> HeatMapPanel {
        HeatMapPanel {
            title: "t".into(),
            row_labels: vec!["a".into(), "b".into()],
            column_labels: (0..columns).map(|i| format!("c{i}")).collect(),
            column_blocks: blocks,
            cells: Vec::new(),
            colour_label: "ρ".into(),
        }
    }

    #[test]
    fn values_print_with_two_decimals_and_no_negative_zero() {
        assert_eq!(cell_text(0.456), "0.46");
        assert_eq!(cell_text(-0.454), "-0.45");
        assert_eq!(cell_text(-0.001), "0.00");
        assert_eq!(cell_text(1.0), "1.00");
    }

    #[test]
    fn the_map_grows_with_its_columns_and_blocks_cover_every_column() {
        let small = panel(3, vec![("statistics".into(), 2)]);
        assert_eq!(small.blocks(), vec![("statistics", 0, 2), ("", 2, 1)]);
        let l = small.layout();
        assert_eq!(l.column_left[1] - l.column_left[0], CELL_WIDTH);
        assert_eq!(l.column_left[2] - l.column_left[1], CELL_WIDTH + BLOCK_GAP);
        let wide = panel(30, vec![("statistics".into(), 25), ("scores".into(), 5)]);
        assert!(wide.size().0 > small.size().0 + 26 * CELL_WIDTH as u32);
        // Beyond WIDE_COLUMNS the cells narrow so the map stays a sensible width.
        let huge = panel(400, Vec::new());
        assert_eq!(huge.layout().cell_width, MIN_CELL_WIDTH);
        assert!(huge.layout().cell_width < TEXT_CELL_WIDTH);
        let many = panel(80, Vec::new());
        assert_eq!(many.layout().cell_width, GRID_WIDTH / 80);
        // A block longer than the columns left is cut to them.
        assert_eq!(panel(2, vec![("x".into(), 5)]).blocks(), vec![("x", 0, 2)]);
    }
}
