//! Building the report: read the tables, shape them, draw every figure, write the page.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

use agree_schema::{ExperimentDir, Table};

use crate::{
    error::Error,
    figure::{Figure, PANEL_SIZE, Panel, Section, render_panels},
    heat_map_panel::{HeatCell, HeatMapPanel},
    histogram_panel::HistogramPanel,
    line_panel::{Curve, LinePanel},
    page,
    palette::{self, ColourScale},
    scatter_panel::{Anchor, Annotation, ScatterPanel},
    shaping::{self, DataMapSplit, LearnedEpochBin, MatrixCell},
    tables::{self, *},
    thumbnail,
};

/// Thumbnails per grid figure, and per row of it.
const THUMBS: usize = 48;
const THUMB_COLUMNS: u32 = 12;
/// Figures of per-statistic panels put this many panels in a row.
const STAT_COLUMNS: usize = 4;
/// Bins of the statistic histograms.
const HISTOGRAM_BINS: usize = 30;
/// Most samples the data map draws per split (a uniform subset beyond that), so an
/// ImageNet-sized split still makes an SVG of a few hundred kilobytes.
pub const DATA_MAP_POINTS: usize = 4000;
/// Size of one data-map panel in pixels.
const DATA_MAP_PANEL: (u32, u32) = (560, 440);

/// Everything the report reads from an experiment directory; only `agreement` is required.
#[derive(Debug, Clone, Default)]
pub struct ReportInputs {
    /// `results/agreement.parquet`.
    pub agreement: Vec<AgreementRow>,
    /// `results/agreement_by_statistic.parquet`.
    pub by_statistic: Option<Vec<StatisticSubsetRow>>,
    /// `results/agreement_by_quantile.parquet`.
    pub by_quantile: Option<Vec<QuantileRow>>,
    /// `results/learning_order.parquet`.
    pub learning_order: Option<Vec<LearningOrderRow>>,
    /// `results/statistic_correlation.parquet`.
    pub correlation: Option<Vec<CorrelationRow>>,
    /// The focus group's data map (every split) from `results/sample_dynamics.parquet`.
    pub data_map: Option<Vec<DataMapSplit>>,
    /// `results/score_correlation.parquet`.
    pub score_correlation: Option<Vec<ScoreCorrelationRow>>,
    /// Numeric columns of `stats.parquet` and `attributes.parquet`.
    pub statistics: Option<SampleStatistics>,
    /// Counts and thumbnails' images from `samples.parquet`.
    pub samples: Option<SampleCatalog>,
    /// Each network's last epoch from `epochs`.
    pub networks: Option<Vec<NetworkFinal>>,
    /// `manifest.json`.
    pub manifest: Option<agree_schema::Manifest>,
}

/// A built report: its figures, the page and what was left out and why.
#[derive(Debug, Clone)]
pub struct Report {
    /// Every figure, in page order.
    pub figures: Vec<Figure>,
    /// Why figures or numbers are missing (absent tables, undecodable images…).
    pub notes: Vec<String>,
    /// The self-contained HTML page.
    pub html: String,
}

/// Reads every table the report uses from `dir`.
pub fn load(dir: &ExperimentDir) -> Result<ReportInputs, Error> {
    tables::check_one_analysis(dir)?;
    let agreement = tables::read_agreement(dir)?;
    let learning_order = tables::read_learning_order(dir)?;
    let groups = shaping::groups(&agreement);
    let focus = shaping::focus_group(&groups);
    let mut wanted = BTreeSet::new();
    if let (Some(order), Some(focus)) = (&learning_order, &focus) {
        wanted.extend(
            shaping::earliest_learned(order, focus, THUMBS)
                .iter()
                .map(|r| r.sample_id),
        );
        wanted.extend(
            shaping::latest_learned(order, focus, THUMBS)
                .iter()
                .map(|r| r.sample_id),
        );
    }
    Ok(ReportInputs {
        by_statistic: tables::read_agreement_by_statistic(dir)?,
        by_quantile: tables::read_agreement_by_quantile(dir)?,
        correlation: tables::read_statistic_correlation(dir)?,
        data_map: match &focus {
            Some(focus) => tables::read_data_map(dir, focus, DATA_MAP_POINTS)?,
            None => None,
        },
        score_correlation: tables::read_score_correlation(dir)?,
        statistics: tables::read_sample_statistics(dir)?,
        samples: tables::read_samples(dir, &wanted)?,
        networks: tables::read_network_finals(dir)?,
        manifest: tables::read_manifest(dir)?,
        agreement,
        learning_order,
    })
}

/// Every statistic the report draws, in a stable order: the stats and attribute columns
/// as stored, then any further statistic named only in the result tables.
pub fn statistic_names(inputs: &ReportInputs) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut push = |n: &str| {
        if !names.iter().any(|m| m == n) {
            names.push(n.to_string());
        }
    };
    if let Some(s) = &inputs.statistics {
        s.columns.iter().for_each(|(n, _)| push(n));
    }
    if let Some(rows) = &inputs.by_statistic {
        rows.iter().for_each(|r| push(&r.statistic));
    }
    if let Some(rows) = &inputs.by_quantile {
        rows.iter().for_each(|r| push(&r.statistic));
    }
    if let Some(rows) = &inputs.correlation {
        rows.iter().for_each(|r| push(&r.statistic));
    }
    names
}

/// Axis description of a statistic (`<table>.<column>`): its column name and, from the
/// contracts, its unit.
pub fn statistic_label(name: &str) -> String {
    let column = name.split_once('.').map_or(name, |(_, c)| c);
    let unit = [Table::Stats, Table::Attributes, Table::Scores]
        .into_iter()
        .find_map(|t| t.contract().column(column).map(|col| col.unit.clone()))
        .unwrap_or_default();
    match unit.as_str() {
        "" | "count" | "fraction" => column.to_string(),
        "percent" => format!("{column} (%)"),
        u => format!("{column} ({u})"),
    }
}

/// Builds every figure and the page; `tick` is called after each figure. Thumbnails
/// of images above `max_pixels` (read from their headers) are left out with a note.
pub fn build(inputs: &ReportInputs, max_pixels: u64, mut tick: impl FnMut(&str)) -> Result<Report, Error> {
    let mut built = Built::default();
    let groups = shaping::groups(&inputs.agreement);
    built.figures.push(agreement_figure(inputs, &groups)?);
    tick("agreement");
    let Some(focus) = shaping::focus_group(&groups) else {
        built
            .notes
            .push("the agreement table names no group: per-statistic figures skipped".into());
        return Ok(built.finish(inputs, None));
    };
    statistic_figures(inputs, &focus, &mut built, &mut tick)?;
    image_grids(inputs, &focus, max_pixels, &mut built, &mut tick)?;
    dynamics_figures(inputs, &focus, &mut built, &mut tick)?;
    Ok(built.finish(inputs, Some(&focus)))
}

/// Figures and notes as they are built, in page order.
#[derive(Default)]
struct Built {
    figures: Vec<Figure>,
    notes: Vec<String>,
}

impl Built {
    /// Adds `figure`, or the note saying why there is none.
    fn add(&mut self, figure: Option<Figure>, none: impl FnOnce() -> String) {
        match figure {
            Some(f) => self.figures.push(f),
            None => self.notes.push(none()),
        }
    }

    /// The report: these figures and notes, and the page showing them.
    fn finish(self, inputs: &ReportInputs, focus: Option<&Group>) -> Report {
        let html = page::render(inputs, &self.figures, &self.notes, focus);
        Report {
            figures: self.figures,
            notes: self.notes,
            html,
        }
    }
}

/// The per-statistic figures of the focus group (each, or a note why it is missing).
fn statistic_figures(
    inputs: &ReportInputs,
    focus: &Group,
    built: &mut Built,
    tick: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    let statistics = statistic_names(inputs);
    let no_rows = |table: &'static str| move || format!("{table} has no rows for {}", focus.label());
    match &inputs.by_statistic {
        Some(rows) => built.add(statistic_mean_figure(rows, focus, &statistics)?, no_rows("agreement_by_statistic")),
        None => built.notes.push(
            "results/agreement_by_statistic.parquet is absent: no statistic-over-agreed-set figure (run `agree stats` then `agree analyze`)".into(),
        ),
    }
    tick("statistic_agreed_mean");

    match &inputs.by_quantile {
        Some(rows) => built.add(
            quantile_figure(rows, focus, &statistics)?,
            no_rows("agreement_by_quantile"),
        ),
        None => built
            .notes
            .push("results/agreement_by_quantile.parquet is absent: no per-quantile agreement figure".into()),
    }
    tick("agreement_by_quantile");

    let last_epoch = shaping::curve(&inputs.agreement, focus).last().map_or(1, |r| r.epoch);
    match (&inputs.learning_order, &inputs.statistics) {
        (Some(order), Some(stats)) => built.add(
            learned_epoch_figure(order, stats, inputs.correlation.as_deref(), focus, last_epoch)?,
            || format!("no sample of {} has both a learned epoch and a statistic", focus.label()),
        ),
        (None, _) => built.notes.push("results/learning_order.parquet is absent: no learned-epoch figures or image grids".into()),
        (_, None) => built.notes.push("stats.parquet and attributes.parquet are absent: no learned-epoch-versus-statistic figure and no histograms".into()),
    }
    tick("learned_epoch_vs_statistic");

    if let Some(stats) = &inputs.statistics {
        built.add(histogram_figure(stats)?, || {
            "the statistics tables hold no numeric value: no histograms".into()
        });
    }
    tick("statistic_histograms");
    Ok(())
}

/// The grids of the focus group's earliest- and latest-learned images.
fn image_grids(
    inputs: &ReportInputs,
    focus: &Group,
    max_pixels: u64,
    built: &mut Built,
    tick: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    let (order, samples) = match (&inputs.learning_order, &inputs.samples) {
        (Some(order), Some(samples)) => (order, samples),
        (_, None) => {
            built.notes.push("samples.parquet is absent: no image grids".into());
            return Ok(());
        }
        _ => return Ok(()),
    };
    let earliest = shaping::earliest_learned(order, focus, THUMBS);
    let latest = shaping::latest_learned(order, focus, THUMBS);
    for (name, title, rows, how) in [
        (
            "earliest_learned",
            "Earliest-learned images",
            earliest,
            "smallest learned_epoch first, ties by higher confidence",
        ),
        (
            "latest_learned",
            "Latest-learned images",
            latest,
            "never-learned first, then largest learned_epoch, ties by lower confidence",
        ),
    ] {
        let source = ThumbnailSource { samples, max_pixels };
        let figure = image_grid_figure(name, title, how, &rows, &source, focus, &mut built.notes)?;
        built.add(figure, || {
            format!("{title}: no image of {} could be shown", focus.label())
        });
        tick(name);
    }
    Ok(())
}

/// The per-sample learning-dynamics figures of the focus group's networks: the data
/// map and the score-correlation heat map (each, or a note why it is missing).
fn dynamics_figures(
    inputs: &ReportInputs,
    focus: &Group,
    built: &mut Built,
    tick: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    match &inputs.data_map {
        Some(splits) => built.add(data_map_figure(splits, focus)?, || {
            format!(
                "sample_dynamics has no sample of {} with both a confidence and a variability: no data map",
                focus.networks()
            )
        }),
        None => built.notes.push(
            "results/sample_dynamics.parquet is absent (an analysis from before the per-sample scores): no data map"
                .into(),
        ),
    }
    tick("data_map");
    match &inputs.score_correlation {
        Some(rows) => built.add(score_correlation_figure(rows, focus, &statistic_names(inputs))?, || {
            format!(
                "score_correlation has no rows for {}: no score-correlation heat map",
                focus.networks()
            )
        }),
        None => built.notes.push(
            "results/score_correlation.parquet is absent (an analysis from before the per-sample scores): no \
             score-correlation heat map"
                .into(),
        ),
    }
    tick("score_correlation");
    Ok(())
}

/// A count with thousands separators: `1281167` → `1,281,167`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A split's samples per data-map region, easy, hard, ambiguous and other first.
fn region_counts(split: &DataMapSplit) -> String {
    const KNOWN: [&str; 4] = ["easy", "hard", "ambiguous", "other"];
    let mut regions: Vec<(&String, &u64)> = split.regions.iter().collect();
    regions.sort_by_key(|(r, _)| KNOWN.iter().position(|k| k == r).unwrap_or(KNOWN.len()));
    regions
        .iter()
        .map(|(r, n)| format!("{r} {}", thousands(**n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The data map (Swayamdipta et al. 2020) of the focus group's networks: per split,
/// confidence against variability, coloured by correctness, at most
/// [`DATA_MAP_POINTS`] samples drawn; `None` when no sample can be placed.
fn data_map_figure(splits: &[DataMapSplit], focus: &Group) -> Result<Option<Figure>, Error> {
    let shown: Vec<&DataMapSplit> = splits.iter().filter(|s| !s.drawn.is_empty()).collect();
    if shown.is_empty() {
        return Ok(None);
    }
    let points = || shown.iter().flat_map(|s| s.drawn.iter());
    // One x range for every split, so the panels compare at a glance.
    let max_variability = points().map(|p| p.variability).fold(0.0, f64::max);
    let x_range = (0.0, (max_variability * 1.08).max(0.05));
    let y_range = (
        points().map(|p| p.confidence).fold(0.0, f64::min),
        points().map(|p| p.confidence).fold(1.0, f64::max),
    );
    let (w, h) = (x_range.1 - x_range.0, y_range.1 - y_range.0);
    let note = |x: f64, y: f64, text: &str, anchor: Anchor| Annotation {
        x,
        y,
        text: text.into(),
        anchor,
    };
    let panels: Vec<Panel> = shown
        .iter()
        .map(|s| {
            Panel::Scatter(ScatterPanel {
                title: format!(
                    "{}: {} of {} samples",
                    s.split,
                    thousands(s.drawn.len() as u64),
                    thousands(s.placed)
                ),
                x_label: "variability (std of p_label over epochs)".into(),
                y_label: "confidence (mean p_label)".into(),
                x_range,
                y_range,
                points: s
                    .drawn
                    .iter()
                    .map(|p| (p.variability, p.confidence, p.correctness))
                    .collect(),
                colour_label: "correctness".into(),
                colour_range: (0.0, 1.0),
                colour: ColourScale::Viridis,
                annotations: vec![
                    note(
                        x_range.0 + 0.02 * w,
                        y_range.1 - 0.02 * h,
                        "easy-to-learn",
                        Anchor::TopLeft,
                    ),
                    note(
                        x_range.0 + 0.02 * w,
                        y_range.0 + 0.02 * h,
                        "hard-to-learn",
                        Anchor::BottomLeft,
                    ),
                    // High variability with high confidence cannot happen: the top right stays empty.
                    note(
                        x_range.1 - 0.02 * w,
                        y_range.1 - 0.02 * h,
                        "ambiguous",
                        Anchor::TopRight,
                    ),
                ],
            })
        })
        .collect();
    let per_split = splits
        .iter()
        .map(|s| {
            let unplaced = s.samples - s.placed.min(s.samples);
            let unplaced = if unplaced > 0 {
                format!(
                    " ({} without a confidence or variability cannot be placed)",
                    thousands(unplaced)
                )
            } else {
                String::new()
            };
            format!(
                "{}: {} of {} samples drawn{unplaced}; regions over all {}: {}.",
                s.split,
                thousands(s.drawn.len() as u64),
                thousands(s.placed),
                thousands(s.samples),
                region_counts(s)
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let caption = format!(
        "{}: the data map (dataset cartography, Swayamdipta et al. 2020) from results/sample_dynamics.parquet. \
         Each dot is a sample: x = variability (standard deviation over epochs of the probability given to its \
         label, averaged over networks), y = confidence (that probability's mean over epochs and networks), colour \
         = correctness (fraction of epochs correct, 0 … 1, scale at the right). Easy-to-learn samples sit top left \
         (confidently right throughout training), hard-to-learn ones bottom left (confidently wrong; often \
         mislabelled), ambiguous ones to the right (the networks keep changing their minds). Beyond {} samples a \
         split shows a uniform subset, chosen by a hash of sample_id (the same on every run). {per_split}",
        focus.networks(),
        thousands(DATA_MAP_POINTS as u64),
    );
    let columns = panels.len().min(2);
    let figure = render_panels(
        "data_map",
        "Data map: confidence against variability",
        &caption,
        "",
        &panels,
        columns,
        DATA_MAP_PANEL,
    )?;
    Ok(Some(Figure {
        section: Section::SampleDynamics,
        ..figure
    }))
}

/// Column labels of the statistics: [`statistic_label`], or the full name where two
/// statistics would share a label.
fn statistic_column_labels(statistics: &[String]) -> Vec<String> {
    let labels: Vec<String> = statistics.iter().map(|s| statistic_label(s)).collect();
    labels
        .iter()
        .zip(statistics)
        .map(|(label, name)| {
            if labels.iter().filter(|l| *l == label).count() > 1 {
                name.clone()
            } else {
                label.clone()
            }
        })
        .collect()
}

/// The score-correlation heat map of the focus group's networks: per split, Spearman ρ
/// of every score with every statistic and every other score; `None` without rows.
fn score_correlation_figure(
    rows: &[ScoreCorrelationRow],
    focus: &Group,
    statistic_order: &[String],
) -> Result<Option<Figure>, Error> {
    let axes = shaping::correlation_axes(rows, focus, statistic_order);
    if axes.is_empty() {
        return Ok(None);
    }
    let mut column_labels = statistic_column_labels(&axes.statistics);
    column_labels.extend(axes.scores.iter().cloned());
    let mut blocks = Vec::new();
    if !axes.statistics.is_empty() {
        blocks.push(("statistics".to_string(), axes.statistics.len()));
    }
    blocks.push(("scores".to_string(), axes.scores.len()));
    let panels: Vec<HeatMapPanel> = shaping::correlation_splits(rows, focus)
        .into_iter()
        .map(|split| {
            let group = Group { split, ..focus.clone() };
            let cells = shaping::correlation_matrix(rows, &group, &axes)
                .into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|cell| match cell {
                            MatrixCell::Blank => HeatCell::Blank,
                            MatrixCell::Diagonal => HeatCell::Diagonal,
                            MatrixCell::Rho { rho, ci_includes_zero } => HeatCell::Value {
                                value: rho,
                                faint: ci_includes_zero,
                            },
                        })
                        .collect()
                })
                .collect();
            HeatMapPanel {
                title: group.label(),
                row_labels: axes.scores.clone(),
                column_labels: column_labels.clone(),
                column_blocks: blocks.clone(),
                cells,
                colour_label: "Spearman ρ".into(),
            }
        })
        .collect();
    let size = panels
        .iter()
        .map(HeatMapPanel::size)
        .fold((1, 1), |a, b| (a.0.max(b.0), a.1.max(b.1)));
    let caption = format!(
        "{}: Spearman ρ of each per-sample score (rows) with each image statistic (left block) and with each other \
         score (right block; each pair is computed once and shown in both of its cells), per split, from \
         results/score_correlation.parquet. Red: the score rises with the column's value; blue: it falls. Values in \
         grey (a hatch where cells are too narrow to print them): the bootstrap 95% interval includes 0. Blank cells \
         have no value (a null ρ or a pair not computed); the grey diagonal is each score against itself. \
         learned_epoch and first_learned_epoch rank never-learned samples last. AUM, confidence and cumulative \
         accuracy are high for easy samples, learned epochs, EL2N and forgetting events for hard ones: two notions \
         of difficulty that agree correlate negatively across these two sets.",
        focus.networks()
    );
    let panels: Vec<Panel> = panels.into_iter().map(Panel::HeatMap).collect();
    let figure = render_panels(
        "score_correlation",
        "Correlations of the per-sample scores",
        &caption,
        "",
        &panels,
        1,
        size,
    )?;
    Ok(Some(Figure {
        section: Section::SampleDynamics,
        ..figure
    }))
}

/// The paper's main figure: per group, agreement against mean accuracy ± std, the lower
/// bound and the independence baseline, in percent over epochs.
fn agreement_figure(inputs: &ReportInputs, groups: &[Group]) -> Result<Figure, Error> {
    let pct = |v: f64| 100.0 * v;
    let panels: Vec<Panel> = groups
        .iter()
        .map(|g| {
            let rows = shaping::curve(&inputs.agreement, g);
            let xy = |f: &dyn Fn(&AgreementRow) -> f64| rows.iter().map(|r| (f64::from(r.epoch), pct(f(r)))).collect();
            let mut accuracy = Curve::new("mean accuracy ± std", palette::qualitative(1), xy(&|r| r.mean_accuracy));
            accuracy.band = rows
                .iter()
                .map(|r| {
                    let e = f64::from(r.epoch);
                    (
                        e,
                        pct(r.mean_accuracy - r.std_accuracy),
                        pct(r.mean_accuracy + r.std_accuracy),
                    )
                })
                .collect();
            let mut lower = Curve::new("lower bound", palette::qualitative(7), xy(&|r| r.lower_bound));
            lower.dashed = true;
            lower.markers = false;
            let mut independent = Curve::new("independent errors", palette::qualitative(2), xy(&|r| r.independent));
            independent.dashed = true;
            independent.markers = false;
            let n = rows.first().map_or(0, |r| r.n_networks);
            epoch_panel(
                format!("{} ({} networks)", g.label(), n),
                "share of samples (%)".into(),
                true,
                vec![
                    Curve::new("agreement", palette::qualitative(0), xy(&|r| r.agreement)),
                    accuracy,
                    independent,
                    lower,
                ],
            )
        })
        .collect();
    render_panels(
        "agreement",
        "Agreement of independently trained networks",
        "Agreement (|all networks correct| / |some network correct|) per epoch, with the networks' mean accuracy \
         ± one standard deviation (band), the least all-correct share their accuracies allow (lower bound) and the \
         all-correct share if they erred independently (product of accuracies). Agreement well above both baselines \
         means the networks get the same samples right.",
        "",
        &panels,
        2,
        (560, 380),
    )
}

/// For each statistic, its mean over the agreed set (and the rest) per epoch.
fn statistic_mean_figure(
    rows: &[StatisticSubsetRow],
    focus: &Group,
    statistics: &[String],
) -> Result<Option<Figure>, Error> {
    let to_xy = |s: Vec<(i32, f64)>| s.into_iter().map(|(e, v)| (f64::from(e), v)).collect::<Vec<_>>();
    let panels: Vec<Panel> = statistics
        .iter()
        .filter_map(|stat| {
            let agreed = to_xy(shaping::statistic_mean_series(rows, focus, stat, "agreed"));
            let rest = to_xy(shaping::statistic_mean_series(rows, focus, stat, "rest"));
            if agreed.is_empty() && rest.is_empty() {
                return None;
            }
            let mut rest = Curve::new("rest", palette::qualitative(1), rest);
            rest.dashed = true;
            Some(epoch_panel(
                stat.clone(),
                format!("mean {}", statistic_label(stat)),
                false,
                vec![Curve::new("agreed", palette::qualitative(0), agreed), rest],
            ))
        })
        .collect();
    statistic_figure(
        "statistic_agreed_mean",
        "Statistics of the agreed set over epochs",
        &format!(
            "{}: each statistic's mean over the samples all networks classify correctly (agreed, solid) and over the \
             rest (dashed), per epoch. If simple images are learned first, the agreed set's mean starts low \
             (for complexity measures) and rises as harder images join it.",
            focus.label()
        ),
        &panels,
    )
}

/// Agreement within each quantile bin of each statistic, over epochs.
fn quantile_figure(rows: &[QuantileRow], focus: &Group, statistics: &[String]) -> Result<Option<Figure>, Error> {
    let panels: Vec<Panel> = statistics
        .iter()
        .filter_map(|stat| {
            let bins = shaping::quantile_series(rows, focus, stat);
            if bins.is_empty() {
                return None;
            }
            let n = bins.len();
            let curves = bins
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let label = format!(
                        "Q{} [{}, {}]",
                        b.bin + 1,
                        crate::line_panel::tick_label(b.low),
                        crate::line_panel::tick_label(b.high)
                    );
                    let points = b.points.iter().map(|&(e, a)| (f64::from(e), 100.0 * a)).collect();
                    Curve::new(label, palette::sequential(i, n), points)
                })
                .collect();
            Some(epoch_panel(stat.clone(), "agreement in bin (%)".into(), true, curves))
        })
        .collect();
    statistic_figure(
        "agreement_by_quantile",
        "Agreement per quantile bin of each statistic",
        &format!(
            "{}: samples split into quantile bins of each statistic (Q1 = smallest values, light; bin ranges in the \
             legend); agreement within each bin per epoch. Separated, ordered curves mean the statistic orders what \
             the networks agree on.",
            focus.label()
        ),
        &panels,
    )
}

/// For each statistic, its mean ± std over the samples learned at each epoch (never last).
fn learned_epoch_figure(
    order: &[LearningOrderRow],
    stats: &SampleStatistics,
    correlation: Option<&[CorrelationRow]>,
    focus: &Group,
    last_epoch: i32,
) -> Result<Option<Figure>, Error> {
    let never_x = f64::from(last_epoch + 1);
    let x_of = |b: &LearnedEpochBin| b.learned_epoch.map_or(never_x, f64::from);
    let panels: Vec<Panel> = stats
        .columns
        .iter()
        .filter_map(|(name, values)| {
            let profile = shaping::learned_epoch_profile(order, focus, values);
            if profile.is_empty() {
                return None;
            }
            let rho = correlation
                .and_then(|rows| rows.iter().find(|r| &r.group == focus && &r.statistic == name))
                .and_then(|r| {
                    r.spearman_rho.map(|rho| match (r.spearman_ci_low, r.spearman_ci_high) {
                        (Some(lo), Some(hi)) => format!("  ρ = {rho:.2} [{lo:.2}, {hi:.2}]"),
                        _ => format!("  ρ = {rho:.2}"),
                    })
                })
                .unwrap_or_default();
            let mut curve = Curve::new(
                "",
                palette::qualitative(0),
                profile.iter().map(|b| (x_of(b), b.mean)).collect(),
            );
            curve.error_bars = profile
                .iter()
                .map(|b| (x_of(b), b.mean - b.std, b.mean + b.std))
                .collect();
            Some(Panel::Line(LinePanel {
                title: format!("{name}{rho}"),
                x_label: "learned epoch".into(),
                y_label: format!("{} (mean ± std)", statistic_label(name)),
                percent: false,
                x_never: Some(never_x),
                curves: vec![curve],
                legend: None,
            }))
        })
        .collect();
    statistic_figure(
        "learned_epoch_vs_statistic",
        "Learned epoch versus each statistic",
        &format!(
            "{}: samples grouped by learned_epoch (the first epoch from which all networks stay correct; \"never\" \
             = not learned by the last epoch); each statistic's mean ± one standard deviation per group. ρ is the \
             Spearman correlation of learned_epoch with the statistic, with its bootstrap 95% interval.",
            focus.label()
        ),
        &panels,
    )
}

/// The distribution of every statistic over all samples.
fn histogram_figure(stats: &SampleStatistics) -> Result<Option<Figure>, Error> {
    let panels: Vec<Panel> = stats
        .columns
        .iter()
        .filter_map(|(name, values)| {
            shaping::histogram(values.values().copied(), HISTOGRAM_BINS).map(|h| {
                Panel::Histogram(HistogramPanel {
                    title: format!("{name} (n = {})", h.total()),
                    x_label: statistic_label(name),
                    colour: palette::qualitative(0),
                    histogram: h,
                })
            })
        })
        .collect();
    statistic_figure(
        "statistic_histograms",
        "Distributions of the statistics",
        "Histogram of each statistic over every sample with a value (30 equal-width bins), as a share of samples.",
        &panels,
    )
}

/// A figure of per-statistic panels, [`STAT_COLUMNS`] to a row; `None` without panels.
fn statistic_figure(name: &str, title: &str, caption: &str, panels: &[Panel]) -> Result<Option<Figure>, Error> {
    if panels.is_empty() {
        return Ok(None);
    }
    render_panels(name, title, caption, "", panels, STAT_COLUMNS, PANEL_SIZE).map(Some)
}

/// A panel of curves over epochs, legend where the data leaves room.
fn epoch_panel(title: String, y_label: String, percent: bool, curves: Vec<Curve>) -> Panel {
    Panel::Line(LinePanel {
        title,
        x_label: "epoch".into(),
        y_label,
        percent,
        x_never: None,
        curves,
        legend: None,
    })
}

/// Where thumbnails come from: the stored images, decoded within a pixel budget.
struct ThumbnailSource<'a> {
    samples: &'a SampleCatalog,
    max_pixels: u64,
}

/// A grid of the given samples' thumbnails; images that cannot be decoded are noted and left out.
fn image_grid_figure(
    name: &str,
    title: &str,
    how: &str,
    rows: &[LearningOrderRow],
    source: &ThumbnailSource<'_>,
    focus: &Group,
    notes: &mut Vec<String>,
) -> Result<Option<Figure>, Error> {
    let mut thumbs = Vec::new();
    let mut classes: Vec<(String, usize)> = Vec::new();
    let mut epochs = Vec::new();
    for r in rows {
        let Some(sample) = source.samples.images.get(&r.sample_id) else {
            notes.push(format!("{title}: sample {} is not in samples.parquet", r.sample_id));
            continue;
        };
        match thumbnail::decode(sample, source.max_pixels) {
            Ok(img) => {
                thumbs.push(thumbnail::thumbnail(&img));
                match classes.iter_mut().find(|(c, _)| c == &sample.class_name) {
                    Some((_, n)) => *n += 1,
                    None => classes.push((sample.class_name.clone(), 1)),
                }
                epochs.push(r.learned_epoch);
            }
            Err(e) => notes.push(format!("{title}: sample {}: {e}", r.sample_id)),
        }
    }
    if thumbs.is_empty() {
        return Ok(None);
    }
    classes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let class_list = classes
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let fmt_epoch = |e: Option<i32>| e.map_or("never".to_string(), |e| e.to_string());
    let span = match (epochs.first(), epochs.last()) {
        (Some(a), Some(b)) if a == b => fmt_epoch(*a),
        (Some(a), Some(b)) => format!("{} to {}", fmt_epoch(*a), fmt_epoch(*b)),
        _ => String::new(),
    };
    let canvas = thumbnail::grid(&thumbs, THUMB_COLUMNS);
    let (width, height, png, svg) = thumbnail::encode(canvas).map_err(|message| Error::Figure {
        figure: name.to_string(),
        message,
    })?;
    Ok(Some(Figure {
        name: name.to_string(),
        title: title.to_string(),
        caption: format!(
            "{}: {} images, row by row, {how}; learned epochs {span}. Classes: {class_list}.",
            focus.label(),
            thumbs.len()
        ),
        width,
        height,
        svg,
        png,
        section: Section::Figures,
    }))
}

/// Writes `report/index.html` and `report/figures/<name>.{png,svg}`; returns the page's path.
pub fn write(report_dir: &Path, report: &Report) -> Result<PathBuf, Error> {
    let figures_dir = report_dir.join("figures");
    fs::create_dir_all(&figures_dir).map_err(|source| Error::Io {
        path: figures_dir.clone(),
        source,
    })?;
    for f in &report.figures {
        write_file(&figures_dir.join(format!("{}.png", f.name)), &f.png)?;
        write_file(&figures_dir.join(format!("{}.svg", f.name)), f.svg.as_bytes())?;
    }
    let index = report_dir.join("index.html");
    write_file(&index, report.html.as_bytes())?;
    Ok(index)
}

/// Writes under a temporary name and renames, so a reader never sees half a file.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    // AtomicPath also removes what a killed report left behind in the folder.
    let tmp = agree_schema::AtomicPath::new(path)?;
    fs::write(tmp.tmp(), bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    tmp.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_281_167), "1,281,167");
    }

    #[test]
    fn regions_list_the_known_ones_first() {
        let split = DataMapSplit {
            regions: [("other", 1), ("ambiguous", 3), ("easy", 2000), ("odd", 4)]
                .into_iter()
                .map(|(r, n)| (r.to_string(), n))
                .collect(),
            ..DataMapSplit::default()
        };
        assert_eq!(region_counts(&split), "easy 2,000, ambiguous 3, other 1, odd 4");
    }

    #[test]
    fn colliding_statistic_labels_fall_back_to_full_names() {
        let names = vec!["stats.entropy_local".to_string(), "a.x".to_string(), "b.x".to_string()];
        let labels = statistic_column_labels(&names);
        assert_eq!(labels[1..], ["a.x".to_string(), "b.x".to_string()]);
        assert!(labels[0].starts_with("entropy_local"), "{}", labels[0]);
    }
}
