//! `agree report` on a hand-made experiment directory: every figure is written as a valid
//! PNG and SVG, the page references and inlines every figure with the key numbers, missing
//! optional tables are noted, and a missing or malformed agreement table fails naming the file.

mod fixture;

use std::{fs, sync::Arc};

use agree_schema::ExperimentDir;
use arrow::array::{ArrayRef, StringArray};
use fixture::report;

const ALL_FIGURES: [&str; 7] = [
    "agreement",
    "statistic_agreed_mean",
    "agreement_by_quantile",
    "learned_epoch_vs_statistic",
    "statistic_histograms",
    "earliest_learned",
    "latest_learned",
];

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
