//! A pipeline file with a bad value in any stage is refused before the first stage
//! runs: nothing is ingested, no directory is made, and the error names the file,
//! the line, the section and the value.

use std::path::Path;

use agree_pipeline::PipelineFile;

fn pipeline(out: &Path, stats: &str, train: &str) -> String {
    format!(
        "[pipeline]\nname = \"bad\"\nout = \"{}\"\n\n[ingest]\nformat = \"synthetic\"\ntrain = 20\ntest = 10\n\n[stats]\n{stats}\n\n[train]\n{train}\n",
        out.display()
    )
}

/// Runs `agree pipeline -c <dir>/bad.toml` on `text`; its error, after checking that
/// the experiment directory `out` was not created.
fn refused(dir: &Path, out: &Path, text: &str) -> String {
    let file = dir.join("bad.toml");
    std::fs::write(&file, text).unwrap();
    let args = agree_pipeline::cli::PipelineArgs {
        config: file,
        out: None,
        force: Vec::new(),
        json: false,
    };
    let err = agree_pipeline::cli::run(&args, true)
        .err()
        .unwrap_or_else(|| panic!("accepted:\n{text}"))
        .to_string();
    assert!(!out.exists(), "{} was created for:\n{text}\n{err}", out.display());
    err
}

#[test]
fn a_typo_in_train_arch_fails_before_ingest_creates_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("exp");
    let stats = "stats = \"entropy_global\"";
    let err = refused(tmp.path(), &out, &pipeline(&out, stats, "arch = \"resnt18\""));
    for needed in ["bad.toml:14:", "[train]", "`arch`", "resnt18", "resnet18", "wrn-D-W"] {
        assert!(err.contains(needed), "no {needed:?} in: {err}");
    }
    for (train, expect) in [
        ("arch = [\"lenet5\", \"wrn-15-4\"]", "WRN depth must be 6n+4"),
        ("device = \"tpu\"", "`tpu` is not auto, cpu, cuda or cuda:N"),
        ("epochs = 0", "`epochs`"),
        ("lr = nan", "`lr`"),
        ("optimizer = \"adma\"", "[possible values: sgd, adam, adamw]"),
    ] {
        let err = refused(tmp.path(), &out, &pipeline(&out, stats, train));
        assert!(
            err.contains("bad.toml:14:") && err.contains("[train]") && err.contains(expect),
            "{train}: {err}"
        );
    }
    // Options that only fail together are found before anything runs too.
    let err = refused(tmp.path(), &out, &pipeline(&out, stats, "resize = 32\ncrop = 40"));
    assert!(err.contains("bad.toml:13:") && err.contains("--resize 32"), "{err}");
    // The same file with good values is accepted.
    std::fs::write(
        tmp.path().join("good.toml"),
        pipeline(&out, stats, "arch = \"wrn-16-4\""),
    )
    .unwrap();
    let good = PipelineFile::read(&tmp.path().join("good.toml")).unwrap();
    assert_eq!(good.stages.len(), 3);
}

#[test]
fn an_unknown_key_fails_naming_it_and_the_allowed_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("exp");
    let err = refused(tmp.path(), &out, &pipeline(&out, "", "epocs = 3"));
    for needed in ["bad.toml:14:", "[train]", "unknown key `epocs`", "epochs", "batch_size"] {
        assert!(err.contains(needed), "no {needed:?} in: {err}");
    }
    let err = refused(tmp.path(), &out, &pipeline(&out, "stat = \"dct\"", ""));
    assert!(
        err.contains("bad.toml:11:") && err.contains("[stats] unknown key `stat`"),
        "{err}"
    );
}

#[test]
fn a_bad_stats_value_fails_before_ingest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("exp");
    for (stats, expect) in [
        ("stats = \"entropy_lcoal\"", "unknown statistic `entropy_lcoal`"),
        ("resize = \"0x3\"", "`0x3`"),
        ("on_error = \"ignore\"", "ignore"),
        ("segment_sigma = inf", "`segment_sigma`"),
    ] {
        let err = refused(tmp.path(), &out, &pipeline(&out, stats, ""));
        assert!(
            err.contains("bad.toml:11:") && err.contains("[stats]") && err.contains(expect),
            "{stats}: {err}"
        );
    }
    // The named statistics are listed with the unknown one.
    let err = refused(tmp.path(), &out, &pipeline(&out, "stats = \"entropy_lcoal\"", ""));
    assert!(err.contains("entropy_local") && err.contains("colorfulness"), "{err}");
}

#[test]
fn an_ingest_section_that_cannot_run_fails_before_anything_is_made() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("exp");
    let text = pipeline(&out, "", "").replace("format = \"synthetic\"", "format = \"imagefolder\"");
    let err = refused(tmp.path(), &out, &text);
    assert!(
        err.contains("bad.toml:5:") && err.contains("[ingest]") && err.contains("needs an input folder"),
        "{err}"
    );
}
