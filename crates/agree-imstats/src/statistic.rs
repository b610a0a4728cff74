//! The selectable statistics, the `stats` columns each one fills, and a selection of them.

use std::fmt;

/// One unit of computation of SPEC §3; some fill several columns (the DCT pair, the
/// spectrum fit, the nine colour moments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Statistic {
    /// `entropy_local`.
    EntropyLocal,
    /// `entropy_global`.
    EntropyGlobal,
    /// `dct_energy_pct`, `dct_max_coeff`.
    Dct,
    /// `segment_count`.
    SegmentCount,
    /// `edge_density`.
    EdgeDensity,
    /// `gradient_mean`.
    GradientMean,
    /// `spectral_slope`, `spectral_intercept`, `high_freq_ratio` and the `spectra` table.
    Spectrum,
    /// `mean_{r,g,b}`, `std_{r,g,b}`, `skew_{r,g,b}`.
    ColourMoments,
    /// `colorfulness`.
    Colorfulness,
    /// `rms_contrast`.
    RmsContrast,
    /// `compress_ratio`.
    CompressRatio,
}

impl Statistic {
    /// Every statistic, in `stats` column order.
    pub const ALL: [Statistic; 11] = [
        Statistic::EntropyLocal,
        Statistic::EntropyGlobal,
        Statistic::Dct,
        Statistic::SegmentCount,
        Statistic::EdgeDensity,
        Statistic::GradientMean,
        Statistic::Spectrum,
        Statistic::ColourMoments,
        Statistic::Colorfulness,
        Statistic::RmsContrast,
        Statistic::CompressRatio,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Statistic::EntropyLocal => "entropy_local",
            Statistic::EntropyGlobal => "entropy_global",
            Statistic::Dct => "dct",
            Statistic::SegmentCount => "segment_count",
            Statistic::EdgeDensity => "edge_density",
            Statistic::GradientMean => "gradient_mean",
            Statistic::Spectrum => "spectrum",
            Statistic::ColourMoments => "colour_moments",
            Statistic::Colorfulness => "colorfulness",
            Statistic::RmsContrast => "rms_contrast",
            Statistic::CompressRatio => "compress_ratio",
        }
    }

    /// The `stats` columns this statistic fills, in contract order: read from
    /// schemas/stats.toml (the one list of the names), by [`Statistic::of_column`].
    pub fn columns(self) -> impl Iterator<Item = &'static str> {
        statistic_columns().filter(move |&c| Statistic::of_column(c) == Some(self))
    }

    /// The statistic that fills `stats` column `column` (`None` for `sample_id`,
    /// `error` and unknown names): a column is named after its statistic, or is one
    /// of the DCT pair (`dct_*`), the spectrum fit (`spectral_*`, `high_freq_*`) or
    /// the colour moments (`mean_*`, `std_*`, `skew_*`).
    pub fn of_column(column: &str) -> Option<Statistic> {
        let family = |prefixes: &[&str]| prefixes.iter().any(|p| column.starts_with(p));
        if family(&["dct_"]) {
            Some(Statistic::Dct)
        } else if family(&["spectral_", "high_freq_"]) {
            Some(Statistic::Spectrum)
        } else if family(&["mean_", "std_", "skew_"]) {
            Some(Statistic::ColourMoments)
        } else {
            Statistic::ALL.into_iter().find(|s| s.name() == column)
        }
    }

    /// The statistic named `name`, by its own name or by any column it fills.
    pub fn parse(name: &str) -> Option<Statistic> {
        let name = name.trim();
        Statistic::ALL.into_iter().find(|s| {
            s.name() == name || s.columns().any(|c| c == name) || (name == "spectra" && *s == Statistic::Spectrum)
        })
    }

    fn bit(self) -> u16 {
        1 << Statistic::ALL.iter().position(|&s| s == self).unwrap_or(0)
    }
}

impl fmt::Display for Statistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of statistics to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection(u16);

impl Selection {
    /// Every statistic.
    pub fn all() -> Self {
        Statistic::ALL.into_iter().collect()
    }

    /// Just one statistic.
    pub fn only(statistic: Statistic) -> Self {
        Selection(statistic.bit())
    }

    /// Whether `statistic` is selected.
    pub fn contains(self, statistic: Statistic) -> bool {
        self.0 & statistic.bit() != 0
    }

    /// The selected statistics in column order.
    pub fn iter(self) -> impl Iterator<Item = Statistic> {
        Statistic::ALL.into_iter().filter(move |&s| self.contains(s))
    }

    /// The selected `stats` columns in contract order.
    pub fn columns(self) -> impl Iterator<Item = &'static str> {
        statistic_columns().filter(move |&c| Statistic::of_column(c).is_some_and(|s| self.contains(s)))
    }

    /// Parses a comma-separated list of statistic or column names (`all` for all).
    pub fn parse(list: &str) -> Result<Self, String> {
        if list.trim() == "all" {
            return Ok(Selection::all());
        }
        let mut out = Selection(0);
        for name in list.split(',').filter(|s| !s.trim().is_empty()) {
            let s = Statistic::parse(name).ok_or_else(|| {
                let known: Vec<_> = Statistic::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "unknown statistic `{}` (known: {}, or any stats column)",
                    name.trim(),
                    known.join(", ")
                )
            })?;
            out.0 |= s.bit();
        }
        if out.0 == 0 {
            return Err("no statistic selected".into());
        }
        Ok(out)
    }
}

/// The statistic columns of schemas/stats.toml (every column but the key and
/// `error`), in contract order.
fn statistic_columns() -> impl Iterator<Item = &'static str> {
    agree_schema::Table::Stats
        .contract()
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .filter(|&n| n != "sample_id" && n != "error")
}

impl FromIterator<Statistic> for Selection {
    fn from_iter<I: IntoIterator<Item = Statistic>>(iter: I) -> Self {
        Selection(iter.into_iter().fold(0, |acc, s| acc | s.bit()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_parse_names_and_columns() {
        let s = Selection::parse("entropy_local, dct_max_coeff,skew_b").unwrap();
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![Statistic::EntropyLocal, Statistic::Dct, Statistic::ColourMoments]
        );
        assert_eq!(s.columns().count(), 1 + 2 + 9);
        assert!(Selection::parse("entropy,dct").is_err());
        assert_eq!(Selection::parse("all").unwrap().columns().count(), 22);
    }

    #[test]
    fn every_stats_column_has_exactly_one_statistic_and_back() {
        for column in statistic_columns() {
            let owners: Vec<_> = Statistic::ALL
                .into_iter()
                .filter(|s| s.columns().any(|c| c == column))
                .collect();
            assert_eq!(
                owners.len(),
                1,
                "schemas/stats.toml column `{column}` is filled by {owners:?}"
            );
        }
        for s in Statistic::ALL {
            assert!(
                s.columns().count() > 0,
                "statistic {s} fills no column of schemas/stats.toml"
            );
        }
        assert_eq!(
            Statistic::ColourMoments.columns().collect::<Vec<_>>(),
            [
                "mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b", "skew_r", "skew_g", "skew_b"
            ]
        );
        assert_eq!(Statistic::of_column("sample_id"), None);
        assert_eq!(Statistic::of_column("error"), None);
        // Every statistic column has its value in a fully computed ImageStats.
        let pixels: Vec<u8> = (0..32 * 32 * 3).map(|i| (i * 7 % 251) as u8).collect();
        let image = crate::ImageView::rgb(32, 32, &pixels).expect("32·32·3 bytes");
        let stats = crate::compute_stats(&image, Selection::all(), &crate::StatsParams::default());
        for column in statistic_columns() {
            assert!(stats.column(column).is_some(), "ImageStats has no value for `{column}`");
        }
    }
}
