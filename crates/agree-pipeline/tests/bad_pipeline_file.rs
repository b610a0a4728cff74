//! A pipeline file with a bad value in a late stage is refused before the first stage
//! runs: nothing is ingested, no directory is made.

use agree_pipeline::PipelineFile;

fn pipeline(out: &std::path::Path, train: &str) -> String {
    format!(
        "[pipeline]\nname = \"bad\"\nout = \"{}\"\n\n[ingest]\nformat = \"synthetic\"\ntrain = 20\ntest = 10\n\n[stats]\nstats = \"entropy_global\"\n\n[train]\n{train}\n",
        out.display()
    )
}

#[test]
fn a_bad_train_value_fails_before_ingest_creates_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("exp");
    for (train, expect) in [
        ("arch = \"resnt18\"", "unknown architecture `resnt18`"),
        ("epochs = 0", "`epochs`"),
        ("lr = nan", "`lr`"),
    ] {
        let file = tmp.path().join("bad.toml");
        std::fs::write(&file, pipeline(&out, train)).unwrap();
        let args = agree_pipeline::cli::PipelineArgs {
            config: file.clone(),
            out: None,
            force: Vec::new(),
            json: false,
        };
        let err = agree_pipeline::cli::run(&args, true).unwrap_err().to_string();
        assert!(err.contains("bad.toml:14:") && err.contains(expect), "{train}: {err}");
        assert!(!out.exists(), "{train}: {} was created", out.display());
    }
    // The same file with a good value is accepted.
    std::fs::write(tmp.path().join("good.toml"), pipeline(&out, "arch = \"lenet5\"")).unwrap();
    let good = PipelineFile::read(&tmp.path().join("good.toml")).unwrap();
    assert_eq!(good.stages.len(), 3);
}
