//! `agree stats DIR`: the command-line face of the stage.

use std::path::PathBuf;

use agree_schema::{ExperimentDir, Shard};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{
    error::Error,
    gaussian::MAX_SIGMA,
    image::DEFAULT_MAX_PIXELS,
    segment::SegmentParams,
    stage::{OnError, StatsJob, check_shard_layout, retire_other_layout, run_stats},
    statistic::Selection,
};

/// The largest side `--resize` accepts: 8000 keeps any resize within the default pixel budget.
pub const MAX_RESIZE_SIDE: usize = 8000;
/// The most worker threads `--threads` accepts.
const MAX_THREADS: usize = 1024;

/// Compute the image statistics of SPEC §3 for every sample into stats.parquet and spectra.parquet.
#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Experiment directory holding samples.parquet; stats.parquet and spectra.parquet are written there.
    pub dir: PathBuf,
    /// Statistics to compute: `all`, or a comma-separated list of statistic names
    /// (entropy_local, entropy_global, dct, segment_count, edge_density, gradient_mean,
    /// spectrum, colour_moments, colorfulness, rms_contrast, compress_ratio) or stats columns.
    #[arg(long, default_value = "all", value_parser = Selection::parse)]
    pub stats: Selection,
    /// Resize every image to WxH (or N for N×N, bilinear) before measuring it.
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub resize: Option<(usize, usize)>,
    /// Worker threads (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=MAX_THREADS as i64))]
    pub threads: Option<u16>,
    /// Largest image accepted, in pixels (width × height, read from the header before
    /// decoding); larger images are refused under --on-error fail and recorded under skip.
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pixels: u64,
    /// What to do with an image that cannot be measured.
    #[arg(long, value_enum, default_value_t = OnError::Fail)]
    pub on_error: OnError,
    /// Side of the entropy_local window.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub entropy_window: u16,
    /// Felzenszwalb–Huttenlocher smoothing σ (0..=100 pixels).
    #[arg(long, default_value_t = 0.5, value_parser = |s: &str| finite_in(s, 0.0, MAX_SIGMA))]
    pub segment_sigma: f32,
    /// Felzenszwalb–Huttenlocher scale k (0..=1e9).
    #[arg(long, default_value_t = 500.0, value_parser = |s: &str| finite_in(s, 0.0, 1e9))]
    pub segment_k: f32,
    /// Felzenszwalb–Huttenlocher minimum region size.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32))]
    pub segment_min_size: u32,
    /// Read this samples file instead of DIR/samples.parquet.
    #[arg(long)]
    pub samples: Option<PathBuf>,
    /// Compute only this share of the samples, those with sample_id mod N = I, into
    /// stats/part-I-of-N.parquet and spectra/part-I-of-N.parquet; the N shards (one
    /// invocation each, e.g. on N machines) are read as one table downstream. Parts of
    /// another N in the folders are an error; a shard removes stats.parquet and
    /// spectra.parquet, and an unsharded run (0/1, the default) the folders.
    #[arg(long, default_value = "0/1", value_name = "I/N", value_parser = |s: &str| s.parse::<Shard>())]
    pub shard: Shard,
}

/// Parses a finite number within `lo..=hi` (a clap value parser: NaN and ±inf are refused).
fn finite_in(text: &str, lo: f32, hi: f32) -> Result<f32, String> {
    let value: f32 = text.trim().parse().map_err(|_| format!("`{text}` is not a number"))?;
    if !value.is_finite() || !(lo..=hi).contains(&value) {
        return Err(format!("`{text}` must be a finite number in {lo}..={hi}"));
    }
    Ok(value)
}

/// Parses `WxH` or `N`, each side in 1..=[`MAX_RESIZE_SIDE`] (a clap value parser).
fn parse_size(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{text}`: expected WxH or N with sides in 1..={MAX_RESIZE_SIDE}");
    let parse = |s: &str| {
        s.trim()
            .parse::<usize>()
            .ok()
            .filter(|v| (1..=MAX_RESIZE_SIDE).contains(v))
            .ok_or_else(bad)
    };
    match text.split_once(['x', 'X']) {
        Some((w, h)) => Ok((parse(w)?, parse(h)?)),
        None => {
            let n = parse(text)?;
            Ok((n, n))
        }
    }
}

/// Checks how the options combine (each value is checked by its parser); reads no file.
pub fn check(args: &StatsArgs) -> Result<(), Error> {
    if let Some((w, h)) = args.resize {
        crate::image::check_pixel_budget(w as u64, h as u64, args.max_pixels)
            .map_err(|e| Error::Option(format!("--resize {w}x{h}: {e}")))?;
    }
    Ok(())
}

/// Runs `agree stats`.
pub fn run(args: &StatsArgs, quiet: bool) -> Result<(), Error> {
    let dir = ExperimentDir::new(&args.dir);
    let mut job = StatsJob::in_dir_shard(&dir, args.shard);
    if let Some(samples) = &args.samples {
        job.samples = samples.clone();
    }
    check(args)?;
    check_shard_layout(&dir, args.shard)?;
    job.selection = args.stats;
    job.resize = args.resize;
    job.on_error = args.on_error;
    job.max_pixels = args.max_pixels;
    job.params.entropy_window = usize::from(args.entropy_window);
    job.params.segment = SegmentParams {
        sigma: args.segment_sigma,
        k: args.segment_k,
        min_size: args.segment_min_size as usize,
    };
    let progress = if quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("stats {bar:40} {pos}/{len} images {per_sec} eta {eta}") {
            bar.set_style(style);
        }
        bar
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.map_or(0, usize::from))
        .build()
        .map_err(|e| Error::Option(format!("--threads: {e}")))?;
    let summary = pool.install(|| run_stats(&job, &progress))?;
    progress.finish_and_clear();
    let wrote_spectra = job.selection.contains(crate::statistic::Statistic::Spectrum);
    retire_other_layout(&dir, args.shard, wrote_spectra)?;
    if !quiet {
        println!("wrote {}", job.stats.display());
        if job.selection.contains(crate::statistic::Statistic::Spectrum) {
            println!("wrote {}", job.spectra.display());
        }
        print!("{summary}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        stats: StatsArgs,
    }

    fn parse(extra: &[&str]) -> Result<StatsArgs, clap::Error> {
        let argv = ["agree-stats", "DIR"].iter().chain(extra);
        Cli::try_parse_from(argv).map(|c| c.stats)
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("224").unwrap(), (224, 224));
        assert_eq!(parse_size("500x375").unwrap(), (500, 375));
        assert!(parse_size("0x3").is_err() && parse_size("big").is_err());
        assert!(parse_size("100000x100000").is_err() && parse_size("8001").is_err());
        assert_eq!(parse_size("8000x8000").unwrap(), (8000, 8000));
    }

    #[test]
    fn defaults_parse() {
        let args = parse(&[]).unwrap();
        assert_eq!((args.segment_sigma, args.max_pixels), (0.5, DEFAULT_MAX_PIXELS));
    }

    #[test]
    fn every_bad_number_is_refused_at_parse_time() {
        for bad in [
            "--segment-sigma=inf",
            "--segment-sigma=nan",
            "--segment-sigma=-1",
            "--segment-sigma=1e30",
            "--segment-k=NaN",
            "--segment-k=-inf",
            "--segment-min-size=-3",
            "--entropy-window=0",
            "--entropy-window=99999999999",
            "--threads=0",
            "--threads=100000",
            "--max-pixels=0",
            "--resize=100000x100000",
            "--resize=0",
            "--stats=entropy_lcoal",
        ] {
            let err = parse(&[bad]).err().unwrap_or_else(|| panic!("{bad:?} was accepted"));
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{bad:?}: {err}");
        }
    }
}
