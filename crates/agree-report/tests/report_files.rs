//! `agree report` on a hand-made experiment directory: every figure is written as a valid
//! PNG and SVG, the page references and inlines every figure with the key numbers, missing
//! optional tables are noted, and a missing or malformed agreement table fails naming the file.

mod fixture;

use std::{fs, sync::Arc};

use agree_schema::ExperimentDir;
use arrow::array::{ArrayRef, StringArray};
use fixture::report;

const ALL_FIGURES: [&str; 9] = [
    "agreement",
    "statistic_agreed_mean",
    "agreement_by_quantile",
    "learned_epoch_vs_statistic",
    "statistic_histograms",
    "earliest_learned",
    "latest_learned",
    "data_map",
    "score_correlation",
];

/// The figures of the first analysis (before the per-sample scores).
const FIRST_FIGURES: [&str; 7] = [
    "agreement",
    "statistic_agreed_mean",
    "agreement_by_quantile",
    "learned_epoch_vs_statistic",
    "statistic_histograms",
    "earliest_learned",
    "latest_learned",
];

/// The text of a written figure's SVG.
fn svg(dir: &ExperimentDir, name: &str) -> String {
    let path = dir.report_dir().join("figures").join(format!("{name}.svg"));
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The texts of an SVG's `<text>` elements that read as a value with two decimals.
fn printed_values(svg: &str) -> Vec<String> {
    svg.split("</text>")
        .filter_map(|chunk| chunk.rsplit_once('>').map(|(_, t)| t.trim().to_string()))
        .filter(|t| {
            let digits = t.strip_prefix('-').unwrap_or(t);
            digits.len() == 4
                && digits.as_bytes()[1] == b'.'
                && digits.chars().filter(char::is_ascii_digit).count() == 3
        })
        .collect()
}

/// How a value is printed in a heat-map cell.
fn printed(rho: f64) -> String {
    let s = format!("{rho:.2}");
    if s == "-0.00" { "0.00".into() } else { s }
}

/// Decodes a PNG and parses an SVG, returning their sizes.
fn check_figure(dir: &ExperimentDir, name: &str) -> ((u32, u32), (f32, f32)) {
    let figures = dir.report_dir().join("figures");
    let png_bytes = fs::read(figures.join(format!("{name}.png"))).unwrap_or_else(|e| panic!("{name}.png: {e}"));
    assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}.png signature");
    let png = image::load_from_memory_with_format(&png_bytes, image::ImageFormat::Png)
        .unwrap_or_else(|e| panic!("{name}.png does not decode: {e}"));
    let svg = fs::read_to_string(figures.join(format!("{name}.svg"))).unwrap_or_else(|e| panic!("{name}.svg: {e}"));
    assert!(svg.contains("<svg"), "{name}.svg has no <svg> element");
    let tree = resvg::usvg::Tree::from_str(&svg, &resvg::usvg::Options::default())
        .unwrap_or_else(|e| panic!("{name}.svg is not valid SVG: {e}"));
    ((png.width(), png.height()), (tree.size().width(), tree.size().height()))
}

#[test]
fn every_figure_is_written_as_png_and_svg_and_the_page_inlines_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = fixture::complete(tmp.path());
    report(&dir).expect("report");

    for name in ALL_FIGURES {
        let ((pw, ph), (sw, sh)) = check_figure(&dir, name);
        assert!(pw >= 200 && ph >= 100, "{name}.png is only {pw}×{ph}");
        // The PNG is the SVG rasterised (charts at 1.5×, image grids at 1×).
        let scale = pw as f32 / sw;
        assert!(
            (scale - 1.5).abs() < 0.01 || (scale - 1.0).abs() < 0.01,
            "{name}: PNG/SVG scale {scale}"
        );
        assert!(
            (ph as f32 / sh - scale).abs() < 0.01,
            "{name}: aspect differs between PNG and SVG"
        );
    }
    let html = fs::read_to_string(dir.report_dir().join("index.html")).expect("index.html");
    for name in ALL_FIGURES {
        assert!(
            html.contains(&format!("href=\"figures/{name}.png\"")),
            "page lacks a link to {name}.png"
        );
        assert!(
            html.contains(&format!("href=\"figures/{name}.svg\"")),
            "page lacks a link to {name}.svg"
        );
        assert!(
            html.contains(&format!("data-figure=\"{name}\"")),
            "page does not show {name}"
        );
    }
    // Self-contained: every image is inlined, nothing is fetched.
    assert_eq!(html.matches("<img ").count(), ALL_FIGURES.len());
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), ALL_FIGURES.len());
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "page refers to the network"
    );
    // Key numbers: last-epoch agreement of the focus group (fixture: acc 0.9, agreement 1.0,
    // lower bound 0.8, independent 0.81), the strongest correlation and the counts.
    let (acc, lower, indep, agreement) = fixture::agreement_at(0, fixture::EPOCHS);
    assert!(
        html.contains(&format!("<b>{:.1}%</b>", 100.0 * agreement)),
        "final agreement missing"
    );
    assert!(html.contains(&format!("{:.1}%", 100.0 * lower)));
    assert!(html.contains(&format!("{:.1}%", 100.0 * indep)));
    assert!(html.contains(&format!("{:.1}% ± 2.0%", 100.0 * acc)));
    assert!(
        html.contains("<b>+0.800</b>") && html.contains("[+0.700, +0.900]"),
        "top correlation missing"
    );
    let first_corr = html.find("stats.entropy_local</td>").expect("entropy row");
    let second_corr = html.find("attributes.difficulty</td>").expect("difficulty row");
    assert!(first_corr < second_corr, "correlations are not ordered by |ρ|");
    assert!(
        html.contains("<td>train</td><td>20</td><td>2</td>"),
        "dataset counts missing"
    );
    assert!(!html.contains("Left out"), "complete fixture should leave nothing out");
}

#[test]
fn missing_optional_tables_are_noted_and_their_figures_skipped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = ExperimentDir::new(tmp.path());
    fixture::write_agreement(&dir);
    report(&dir).expect("report with only the agreement table");
    check_figure(&dir, "agreement");
    let figures: Vec<_> = fs::read_dir(dir.report_dir().join("figures"))
        .expect("figures")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(figures.len(), 2, "only the agreement figure expected: {figures:?}");
    let html = fs::read_to_string(dir.report_dir().join("index.html")).expect("index.html");
    assert!(html.contains("Left out"));
    assert!(html.contains("agreement_by_statistic.parquet is absent"));
    assert!(
        html.contains("stats.parquet and attributes.parquet are absent")
            || html.contains("learning_order.parquet is absent")
    );
    assert!(html.contains("samples.parquet is absent"));
}

#[test]
fn missing_agreement_fails_naming_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = ExperimentDir::new(tmp.path());
    fixture::write_stats(&dir);
    let err = report(&dir).expect_err("no agreement table").to_string();
    assert!(err.contains("results/agreement.parquet"), "{err}");
    assert!(err.contains("missing"), "{err}");
    assert!(!dir.report_dir().join("index.html").exists());
}

#[test]
fn malformed_agreement_fails_naming_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = ExperimentDir::new(tmp.path());
    // Not Parquet at all.
    fs::create_dir_all(dir.results_dir()).expect("results");
    fs::write(dir.table(agree_schema::Table::Agreement), b"not parquet").expect("write");
    let err = report(&dir).expect_err("garbage agreement").to_string();
    assert_eq!(err.matches("agreement.parquet").count(), 1, "{err}");

    // Parquet, but a different table's columns (written under the agreement file name).
    let path = dir.table(agree_schema::Table::Agreement);
    fs::remove_file(&path).expect("remove");
    let reason: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
    let member: ArrayRef = Arc::new(StringArray::from(vec![None::<&str>]));
    fixture::write_table_at(
        &path,
        agree_schema::Table::Rejects,
        vec![("source", reason.clone()), ("member", member), ("reason", reason)],
    );
    let err = report(&dir).expect_err("wrong columns").to_string();
    assert!(err.contains("agreement.parquet"), "{err}");
    assert!(err.contains("required column `group_kind` is missing"), "{err}");
}

#[test]
fn a_malformed_manifest_fails_naming_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = fixture::complete(tmp.path());
    // Valid JSON, but not a manifest: the typed reader refuses it.
    fs::write(dir.manifest(), r#"{"dataset":"fixture","samples":24}"#).expect("write");
    let err = report(&dir).expect_err("partial manifest").to_string();
    assert!(
        err.contains("manifest.json") && err.contains("malformed manifest"),
        "{err}"
    );
    fs::write(dir.manifest(), "not json").expect("write");
    let err = report(&dir).expect_err("not JSON").to_string();
    assert!(
        err.contains("manifest.json") && err.contains("malformed manifest"),
        "{err}"
    );
    assert!(!dir.report_dir().join("index.html").exists());
}

#[test]
fn the_manifest_names_the_dataset_on_the_page() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = fixture::complete(tmp.path());
    report(&dir).expect("report");
    let html = fs::read_to_string(dir.report_dir().join("index.html")).expect("index.html");
    assert!(
        html.contains("<title>agree report: fixture</title>"),
        "dataset name missing"
    );
    assert!(
        html.contains("<p>24 samples, 2 classes (manifest.json).</p>"),
        "manifest counts missing"
    );
}

#[test]
fn the_heat_map_prints_each_cell_and_fills_symmetric_pairs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = fixture::complete(tmp.path());
    report(&dir).expect("report");
    let svg = svg(&dir, "score_correlation");
    let values = printed_values(&svg);
    let count = |v: &str| values.iter().filter(|p| *p == v).count();
    for (s, split) in ["train", "test"].into_iter().enumerate() {
        for (score, kind, versus, rho) in fixture::score_correlation_rows(s) {
            let Some(rho) = rho else { continue };
            // Each stored value is unique in the fixture: once for a statistic's cell, in
            // both symmetric cells for a pair of scores.
            let expected = if kind == "score" { 2 } else { 1 };
            assert_eq!(
                count(&printed(rho)),
                expected,
                "{split}: {score} versus {versus} (ρ {rho}) printed {} times",
                count(&printed(rho))
            );
        }
    }
    // Every value cell and nothing else: 7 scores × 3 statistics plus 21 pairs twice per
    // split, less the null (variability, attributes.difficulty) on test.
    assert_eq!(values.len(), 2 * (7 * 3 + 2 * 21) - 1, "{values:?}");
    // A score the analysis lacks gets no row; labels are readable and escaped.
    assert!(!svg.contains("forgetting_events"));
    assert!(
        svg.contains(">\nentropy_local (bit)\n</text>") && svg.contains(">\ndifficulty\n</text>"),
        "statistic labels missing"
    );
    assert!(svg.contains(">\naum\n</text>") && svg.contains(">\nfirst_learned_epoch\n</text>"));
    // Cells whose interval includes 0 are printed in grey, the others in black or white.
    let rows = fixture::score_correlation_rows(0);
    let faint = rows
        .iter()
        .filter_map(|r| r.3)
        .find(|r| r.abs() < 0.1)
        .expect("the fixture has a ρ near 0");
    assert!(
        svg.contains(&format!("fill=\"#8C8C8C\">\n{}\n</text>", printed(faint))),
        "ρ {faint} is not grey"
    );
    let strong = rows
        .iter()
        .filter_map(|r| r.3)
        .find(|r| r.abs() > 0.3 && r.abs() < 0.5)
        .expect("a clear ρ");
    assert!(
        svg.contains(&format!("fill=\"#141414\">\n{}\n</text>", printed(strong))),
        "ρ {strong} is not in black"
    );
    let html = fs::read_to_string(dir.report_dir().join("index.html")).expect("index.html");
    assert!(html.contains("Per-sample learning dynamics — lenet5 (same arch)</h2>"));
    assert!(html.contains("the bootstrap 95% interval includes 0"));
}

#[test]
fn the_data_map_draws_every_sample_of_a_small_split_and_counts_the_regions() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = fixture::complete(tmp.path());
    report(&dir).expect("report");
    // 19 of the 20 train samples have a place (the 20th has no confidence), and all 4 test ones.
    assert_eq!(svg(&dir, "data_map").matches("<circle").count(), 19 + 4);
    let html = fs::read_to_string(dir.report_dir().join("index.html")).expect("index.html");
    // The cross-architecture group's rows are not the focus group's: not counted.
    assert!(
        html.contains(
            "train: 19 of 19 samples drawn (1 without a confidence or variability cannot be placed); regions over \
             all 20: easy 6, hard 6, ambiguous 6, other 2."
        ),
        "train counts missing"
    );
    assert!(html.contains("test: 4 of 4 samples drawn; regions over all 4: easy 4."));
    assert!(html.contains("Easy-to-learn samples sit top left"));
}

#[test]
fn a_large_split_draws_at_most_the_cap_and_says_so() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = fixture::complete(tmp.path());
    fixture::write_sample_dynamics(&dir, 5000);
    report(&dir).expect("report");
    let cap = agree_report::report::DATA_MAP_POINTS;
    assert_eq!(cap, 4000);
    let svg = svg(&dir, "data_map");
    assert_eq!(svg.matches("<circle").count(), cap + 4, "train capped, test whole");
    assert!(svg.contains("train: 4,000 of 4,750 samples"), "panel title");
    let html = fs::read_to_string(dir.report_dir().join("index.html")).expect("index.html");
    assert!(
        html.contains(
            "train: 4,000 of 4,750 samples drawn (250 without a confidence or variability cannot be placed); \
             regions over all 5,000: easy 1,500, hard 1,500, ambiguous 1,500, other 500."
        ),
        "caption lacks drawn/total"
    );
    // The same samples on every run.
    let again = tempfile::tempdir().expect("tempdir");
    let dir2 = fixture::complete(again.path());
    fixture::write_sample_dynamics(&dir2, 5000);
    report(&dir2).expect("report");
    assert_eq!(self::svg(&dir2, "data_map"), svg);
}

#[test]
fn an_analysis_without_the_per_sample_scores_renders_the_rest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = fixture::complete(tmp.path());
    fs::remove_file(dir.table(agree_schema::Table::SampleDynamics)).expect("remove");
    fs::remove_file(dir.table(agree_schema::Table::ScoreCorrelation)).expect("remove");
    report(&dir).expect("report of an older analysis");
    for name in FIRST_FIGURES {
        check_figure(&dir, name);
    }
    let figures = dir.report_dir().join("figures");
    assert!(!figures.join("data_map.svg").exists() && !figures.join("score_correlation.png").exists());
    let html = fs::read_to_string(dir.report_dir().join("index.html")).expect("index.html");
    assert_eq!(html.matches("<img ").count(), FIRST_FIGURES.len());
    assert!(!html.contains("Per-sample learning dynamics"));
    assert!(html.contains("results/sample_dynamics.parquet is absent"));
    assert!(html.contains("results/score_correlation.parquet is absent"));
}
