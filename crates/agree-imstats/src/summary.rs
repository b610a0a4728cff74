//! A streaming summary of each statistic's distribution (count, mean, std, min, max),
//! in constant memory whatever the dataset size.

use std::fmt;

use crate::{image_stats::ImageStats, statistic::Selection};

/// Running moments of one `stats` column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSummary {
    /// Column name.
    pub name: &'static str,
    /// Non-null values seen.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    m2: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl ColumnSummary {
    /// Population standard deviation.
    pub fn std(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            (self.m2 / self.count as f64).sqrt()
        }
    }

    fn observe(&mut self, v: f64) {
        // Welford's update: stable for long runs.
        self.count += 1;
        let d = v - self.mean;
        self.mean += d / self.count as f64;
        self.m2 += d * (v - self.mean);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }
}

/// The distribution of every computed column and the number of rejected images.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsSummary {
    /// Per column, in `stats` order.
    pub columns: Vec<ColumnSummary>,
    /// Rows written.
    pub rows: u64,
    /// Rows written with nulls and an `error` (under `--on-error skip`).
    pub errors: u64,
}

impl StatsSummary {
    /// An empty summary of `selection`'s columns.
    pub fn new(selection: Selection) -> Self {
        StatsSummary {
            columns: selection
                .columns()
                .map(|name| ColumnSummary {
                    name,
                    count: 0,
                    mean: 0.0,
                    m2: 0.0,
                    min: f64::INFINITY,
                    max: f64::NEG_INFINITY,
                })
                .collect(),
            rows: 0,
            errors: 0,
        }
    }

    /// Adds one image's statistics.
    pub fn observe(&mut self, stats: &ImageStats) {
        self.rows += 1;
        for c in &mut self.columns {
            if let Some(v) = stats.column(c.name) {
                c.observe(v);
            }
        }
    }

    /// Counts one rejected image.
    pub fn observe_error(&mut self) {
        self.rows += 1;
        self.errors += 1;
    }

    /// The summary of column `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnSummary> {
        self.columns.iter().find(|c| c.name == name)
    }
}

impl fmt::Display for StatsSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} images, {} rejected", self.rows, self.errors)?;
        writeln!(
            f,
            "{:<20} {:>9} {:>12} {:>12} {:>12} {:>12}",
            "column", "n", "mean", "std", "min", "max"
        )?;
        for c in &self.columns {
            if c.count == 0 {
                writeln!(f, "{:<20} {:>9}", c.name, 0)?;
            } else {
                writeln!(
                    f,
                    "{:<20} {:>9} {:>12.5} {:>12.5} {:>12.5} {:>12.5}",
                    c.name,
                    c.count,
                    c.mean,
                    c.std(),
                    c.min,
                    c.max
                )?;
            }
        }
        Ok(())
    }
}
