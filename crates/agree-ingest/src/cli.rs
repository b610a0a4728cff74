//! `agree ingest`: options and the one-screen summary.

use std::path::{Path, PathBuf};

use crate::{
    IngestError, Result, cifar10,
    download::{self, remotes},
    imagefolder,
    inspect::DEFAULT_MAX_PIXELS,
    kth_tips2b,
    manifest::SourceInfo,
    pipeline::{IngestOptions, IngestSummary, OnError},
    scores::{self, NonFinite},
    synthetic::{self, SyntheticConfig},
    tree::DEFAULT_MAX_MEMBER_BYTES,
    voc,
};

/// Dataset formats `agree ingest` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// CIFAR-10 binary archive (.tar.gz) or extracted folder; also ImageFolder of PNG/JPEG.
    Cifar10,
    /// ROOT/{train,val,test}/CLASS/*.{jpg,png,…} as a folder or .tar/.tar.gz (ImageNet too).
    Imagefolder,
    /// KTH-TIPS2-b folder or tar.
    #[value(name = "kth-tips2b")]
    KthTips2b,
    /// Pascal VOC 2007+2012 folders or tars (give all of them).
    Voc,
    /// The embedded synthetic dataset (no input).
    Synthetic,
    /// A per-sample score file (.csv/.parquet keyed by key or sample_id, CIFAR-10H .npy) for an existing experiment.
    Scores,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Cifar10 => "cifar10",
            Format::Imagefolder => "imagefolder",
            Format::KthTips2b => "kth-tips2b",
            Format::Voc => "voc",
            Format::Synthetic => "synthetic",
            Format::Scores => "scores",
        }
    }
}

/// Options of `agree ingest`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  agree ingest synthetic --out exp\n  \
    agree ingest imagefolder ../shared/data/cifar10-jpeg.tar.gz --out exp\n  \
    agree ingest cifar10 --download --out exp\n  agree ingest scores cifar10h-probs.npy --out exp\n  \
    agree ingest imagefolder cifar10-jpeg.tar.gz --scores cifar10h/cifar10h-probs.npy --out exp")]
pub struct IngestArgs {
    /// Dataset format.
    #[arg(value_enum)]
    pub format: Format,
    /// Input folders or archives (none for `synthetic` or with `--download`).
    pub inputs: Vec<PathBuf>,
    /// Experiment directory to write.
    #[arg(long, short)]
    pub out: PathBuf,
    /// What to do with a bad input: stop (`fail`), or leave it out and record it in rejects.parquet (`skip`).
    #[arg(long, value_enum, default_value_t = OnError::Fail)]
    pub on_error: OnError,
    /// Fetch the dataset from its official address and verify its pinned checksum first.
    #[arg(long)]
    pub download: bool,
    /// Download cache directory [default: <out>/downloads].
    #[arg(long, requires = "download")]
    pub cache: Option<PathBuf>,
    /// Fetch from this URL instead of the official one (a mirror); single-file datasets only.
    #[arg(long, requires = "download")]
    pub url: Option<String>,
    /// Require this SHA-256 instead of the pinned checksum (a mirror's file, or KTH-TIPS2-b).
    #[arg(long, requires = "download", value_parser = parse_sha256)]
    pub sha256: Option<String>,
    /// Synthetic: master seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Synthetic: training samples (at most 10,000,000).
    #[arg(long, default_value_t = 5000, value_parser = parse_count)]
    pub train: usize,
    /// Synthetic: test samples (at most 10,000,000).
    #[arg(long, default_value_t = 1000, value_parser = parse_count)]
    pub test: usize,
    /// Synthetic: image side in pixels (8..=1024).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(8..=1024))]
    pub size: u32,
    /// Also import these score files (as `agree ingest scores` would, each under its default
    /// name) once the dataset is written, e.g. CIFAR-10H's cifar10h-probs.npy.
    #[arg(long = "scores", value_name = "FILE")]
    pub score_files: Vec<PathBuf>,
    /// Scores: table name under scores/ [default: the file stem, `cifar10h` for .npy].
    #[arg(long, value_parser = parse_score_name)]
    pub name: Option<String>,
    /// Scores: what to do with NaN or ±inf scores: refuse the file, or import them as nulls (counted).
    #[arg(long, value_enum, default_value_t = NonFinite::Refuse)]
    pub non_finite: NonFinite,
    /// Reject files and archive members larger than this many bytes without reading them.
    #[arg(long, default_value_t = DEFAULT_MAX_MEMBER_BYTES,
          value_parser = clap::value_parser!(u64).range(1..=MAX_MEMBER_BYTES_LIMIT))]
    pub max_member_bytes: u64,
    /// Reject images of more pixels than this (checked from the header, before decoding).
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS,
          value_parser = clap::value_parser!(u64).range(1..=MAX_PIXELS_LIMIT))]
    pub max_pixels: u64,
    /// Replace an experiment of other data in --out: start afresh, removing its stats, predictions,
    /// checkpoints, results, report and scores (without it such an ingest is refused).
    #[arg(long)]
    pub force: bool,
}

/// The largest `--max-member-bytes`: 64 GiB.
const MAX_MEMBER_BYTES_LIMIT: u64 = 64 << 30;
/// The largest `--max-pixels`: 4 Gpx.
const MAX_PIXELS_LIMIT: u64 = 1 << 32;

/// A sample count of `--train`/`--test`.
fn parse_count(text: &str) -> std::result::Result<usize, String> {
    let n: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number"))?;
    if n > 10_000_000 {
        return Err(format!("{n} is more than 10,000,000 samples"));
    }
    Ok(n)
}

/// A `--sha256` value: 64 hexadecimal digits.
fn parse_sha256(text: &str) -> std::result::Result<String, String> {
    let digits = text.trim();
    if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{text}` is not a SHA-256 (64 hexadecimal digits)"));
    }
    Ok(digits.to_ascii_lowercase())
}

/// A `--name` value: a score table name no table of agree uses.
fn parse_score_name(text: &str) -> std::result::Result<String, String> {
    match scores::score_name_problem(text) {
        Some(problem) => Err(problem),
        None => Ok(text.to_string()),
    }
}

/// Checks how the options combine (each value is checked by its parser); reads no
/// file, so `agree pipeline` can check an `[ingest]` section before anything runs.
pub fn check(args: &IngestArgs) -> Result<()> {
    let refuse = |reason: String| {
        Err(IngestError::Dataset {
            path: args.out.clone(),
            reason,
        })
    };
    let name = args.format.name();
    match args.format {
        Format::Scores if args.inputs.len() != 1 => return refuse("scores takes exactly one input file".into()),
        Format::Scores if !args.score_files.is_empty() => {
            return refuse("--scores adds score files to a dataset ingest; `scores` imports its input file".into());
        }
        Format::Scores => return Ok(()),
        Format::Synthetic if !args.inputs.is_empty() => {
            return refuse("synthetic takes no input folder or archive".into());
        }
        _ => {}
    }
    if args.download {
        let official = remotes(name);
        if official.is_empty() {
            return refuse(format!("--download is not available for {name}"));
        }
        if args.url.is_some() && official.len() > 1 {
            return refuse("--url replaces a single file; this dataset has several".into());
        }
    } else if args.format != Format::Synthetic && args.inputs.is_empty() {
        return refuse(format!("{name} needs an input folder or archive (or --download)"));
    }
    Ok(())
}

/// Runs `agree ingest`.
pub fn run(args: &IngestArgs, quiet: bool) -> Result<()> {
    check(args)?;
    if args.format == Format::Scores {
        return import_scores(args, quiet);
    }
    let (inputs, fetched) = inputs_and_downloads(args, quiet)?;
    let mut summary = ingest_dataset(args, &inputs, quiet)?;
    if !fetched.is_empty() {
        record_urls(&mut summary, &fetched)?;
    }
    if !quiet {
        print!("{}", render_summary(&summary));
    }
    let default_names = scores::ScoreOptions {
        name: None,
        non_finite: args.non_finite,
    };
    for file in &args.score_files {
        import_score_file(file, &args.out, &default_names, quiet)?;
    }
    Ok(())
}

/// `agree ingest scores FILE`: one score file into an existing experiment.
fn import_scores(args: &IngestArgs, quiet: bool) -> Result<()> {
    let [file] = args.inputs.as_slice() else {
        // `check` refuses anything but one input.
        return Err(IngestError::Dataset {
            path: args.out.clone(),
            reason: "scores takes exactly one input file".into(),
        });
    };
    let score_opts = scores::ScoreOptions {
        name: args.name.clone(),
        non_finite: args.non_finite,
    };
    import_score_file(file, &args.out, &score_opts, quiet)
}

/// Imports one score file into the experiment `out` and says what it wrote.
fn import_score_file(file: &Path, out: &Path, score_opts: &scores::ScoreOptions, quiet: bool) -> Result<()> {
    let s = scores::import_with(file, out, score_opts)?;
    if !quiet {
        println!(
            "imported {} rows, columns {} → {}",
            s.rows,
            s.columns.join(", "),
            s.path.display()
        );
        if s.nulled > 0 {
            println!("  {} non-finite scores (NaN, ±inf) imported as nulls", s.nulled);
        }
    }
    Ok(())
}

/// The inputs given, followed by the files `--download` fetched (and what it fetched).
fn inputs_and_downloads(args: &IngestArgs, quiet: bool) -> Result<(Vec<PathBuf>, Vec<download::Fetched>)> {
    let mut inputs = args.inputs.clone();
    let mut fetched = Vec::new();
    if !args.download {
        return Ok((inputs, fetched));
    }
    // `check` made sure the format has official files, and one only under --url.
    let official = remotes(args.format.name());
    let cache = args.cache.clone().unwrap_or_else(|| args.out.join("downloads"));
    for remote in official {
        let f = download::fetch(remote, &cache, args.url.as_deref(), args.sha256.as_deref(), quiet)?;
        inputs.push(f.path.clone());
        fetched.push(f);
    }
    Ok((inputs, fetched))
}

/// Ingests `inputs` as the dataset format `args` names.
fn ingest_dataset(args: &IngestArgs, inputs: &[PathBuf], quiet: bool) -> Result<IngestSummary> {
    let opts = IngestOptions {
        on_error: args.on_error,
        quiet,
        recorded_options: serde_json::Value::Null,
        max_member_bytes: args.max_member_bytes,
        max_pixels: args.max_pixels,
        force: args.force,
    };
    match args.format {
        Format::Cifar10 => cifar10::ingest(inputs, &args.out, &opts),
        Format::Imagefolder => imagefolder::ingest("imagefolder", inputs, &args.out, &opts),
        Format::KthTips2b => kth_tips2b::ingest(inputs, &args.out, &opts),
        Format::Voc => voc::ingest(inputs, &args.out, &opts),
        Format::Synthetic => {
            let config = SyntheticConfig {
                seed: args.seed,
                train: args.train,
                test: args.test,
                size: args.size,
            };
            synthetic::ingest(&config, &args.out, &opts)
        }
        // `run` imports score files before it gets here.
        Format::Scores => Err(IngestError::Dataset {
            path: args.out.clone(),
            reason: "a score file is imported into an experiment, not ingested as a dataset".into(),
        }),
    }
}

fn record_urls(summary: &mut IngestSummary, fetched: &[download::Fetched]) -> Result<()> {
    for s in summary.manifest.sources.iter_mut() {
        if let Some(f) = fetched.iter().find(|f| f.path.display().to_string() == s.path) {
            *s = SourceInfo {
                path: s.path.clone(),
                sha256: Some(f.sha256.clone()),
                url: Some(f.url.clone()),
            };
        }
    }
    if let Some(manifest_path) = summary.written.iter().find(|p| p.ends_with("manifest.json")) {
        summary.manifest.write(manifest_path)?;
    }
    Ok(())
}

/// The one-screen summary printed after an ingest.
pub fn render_summary(s: &IngestSummary) -> String {
    let m = &s.manifest;
    let mut out = String::new();
    let rate = m.samples as f64 / s.seconds.max(1e-9);
    out.push_str(&format!(
        "ingested {} ({} samples, {} classes{}) in {:.1} s ({:.0} images/s)\n",
        m.dataset,
        m.samples,
        m.classes.len(),
        if m.multi_label { ", multi-label" } else { "" },
        s.seconds,
        rate
    ));
    for (split, per_class) in &m.counts {
        let total: u64 = per_class.values().sum();
        out.push_str(&format!("  {split:<5} {total:>9} samples"));
        if per_class.len() <= 12 {
            let parts: Vec<String> = per_class.iter().map(|(c, n)| format!("{c} {n}")).collect();
            out.push_str(&format!(": {}", parts.join(", ")));
        } else {
            let min = per_class.values().min().copied().unwrap_or(0);
            let max = per_class.values().max().copied().unwrap_or(0);
            out.push_str(&format!(" in {} classes ({min}..{max} per class)", per_class.len()));
        }
        out.push('\n');
    }
    if m.rejected > 0 {
        out.push_str(&format!("  rejected {} inputs: see rejects.parquet\n", m.rejected));
    }
    for p in &s.removed {
        out.push_str(&format!("  removed {} (computed on the previous data)\n", p.display()));
    }
    for p in &s.written {
        out.push_str(&format!("  wrote {}\n", p.display()));
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ingest: IngestArgs,
    }

    fn parse(args: &[&str]) -> std::result::Result<IngestArgs, clap::Error> {
        Cli::try_parse_from(["agree-ingest"].iter().chain(args).chain(&["--out", "EXP"])).map(|c| c.ingest)
    }

    #[test]
    fn bad_values_are_refused_at_parse_time_naming_the_option() {
        for (bad, option) in [
            (&["cifar10", "--download", "--sha256", "abc"][..], "--sha256"),
            (&["cifar10", "--download", "--sha256", &"g".repeat(64)], "--sha256"),
            (&["scores", "s.csv", "--name", "Bad-Name"], "--name"),
            (&["scores", "s.csv", "--name", "samples"], "--name"),
            (&["synthetic", "--train", "10000001"], "--train"),
            (&["synthetic", "--size", "4"], "--size"),
            (&["cifar100"], "FORMAT"),
        ] {
            let err = parse(bad).err().unwrap_or_else(|| panic!("{bad:?} was accepted"));
            use clap::error::ErrorKind::{InvalidValue, ValueValidation};
            assert!(matches!(err.kind(), InvalidValue | ValueValidation), "{bad:?}: {err}");
            assert!(err.to_string().contains(option), "{bad:?}: {err}");
        }
        let ok = parse(&["cifar10", "--download", "--sha256", &"AB".repeat(32)]).unwrap();
        assert_eq!(ok.sha256, Some("ab".repeat(32)));
    }

    #[test]
    fn options_that_do_not_combine_are_refused_before_reading_anything() {
        for (args, expect) in [
            (&["scores"][..], "exactly one input"),
            (&["scores", "a.csv", "b.csv"], "exactly one input"),
            (&["synthetic", "images.tar"], "synthetic takes no input"),
            (&["imagefolder"], "needs an input folder"),
            (
                &["imagefolder", "--download"],
                "--download is not available for imagefolder",
            ),
            (
                &["voc", "--download", "--url", "http://mirror/voc.tar"],
                "--url replaces a single file",
            ),
        ] {
            let err = check(&parse(args).unwrap()).unwrap_err().to_string();
            assert!(err.contains(expect), "{args:?}: {err}");
        }
        for args in [
            &["synthetic"][..],
            &["scores", "a.csv"],
            &["imagefolder", "images.tar"],
            &["cifar10", "--download", "--url", "http://mirror/c.tar.gz"],
        ] {
            check(&parse(args).unwrap()).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }
}
