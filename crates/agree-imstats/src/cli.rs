//! `agree stats DIR`: the command-line face of the stage.

use std::path::PathBuf;

use agree_schema::ExperimentDir;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{
    error::Error,
    segment::SegmentParams,
    stage::{OnError, StatsJob, run_stats},
    statistic::Selection,
};

/// Compute the image statistics of SPEC §3 for every sample into stats.parquet and spectra.parquet.
#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Experiment directory holding samples.parquet; stats.parquet and spectra.parquet are written there.
    pub dir: PathBuf,
    /// Statistics to compute: `all`, or a comma-separated list of statistic names
    /// (entropy_local, entropy_global, dct, segment_count, edge_density, gradient_mean,
    /// spectrum, colour_moments, colorfulness, rms_contrast, compress_ratio) or stats columns.
    #[arg(long, default_value = "all")]
    pub stats: String,
    /// Resize every image to WxH (or N for N×N, bilinear) before measuring it.
    #[arg(long, value_name = "WxH")]
    pub resize: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// What to do with an image that cannot be measured.
    #[arg(long, value_enum, default_value_t = OnError::Fail)]
    pub on_error: OnError,
    /// Side of the entropy_local window.
    #[arg(long, default_value_t = 10)]
    pub entropy_window: usize,
    /// Felzenszwalb–Huttenlocher smoothing σ.
    #[arg(long, default_value_t = 0.5)]
    pub segment_sigma: f32,
    /// Felzenszwalb–Huttenlocher scale k.
    #[arg(long, default_value_t = 500.0)]
    pub segment_k: f32,
    /// Felzenszwalb–Huttenlocher minimum region size.
    #[arg(long, default_value_t = 20)]
    pub segment_min_size: usize,
    /// Read this samples file instead of DIR/samples.parquet.
    #[arg(long)]
    pub samples: Option<PathBuf>,
}

/// Parses `WxH` or `N`.
fn parse_size(text: &str) -> Result<(usize, usize), Error> {
    let bad = || Error::Option(format!("--resize `{text}`: expected WxH or N with positive integers"));
    let parse = |s: &str| s.trim().parse::<usize>().ok().filter(|&v| v > 0).ok_or_else(bad);
    match text.split_once(['x', 'X']) {
        Some((w, h)) => Ok((parse(w)?, parse(h)?)),
        None => {
            let n = parse(text)?;
            Ok((n, n))
        }
    }
}

/// Runs `agree stats`.
pub fn run(args: &StatsArgs, quiet: bool) -> Result<(), Error> {
    let dir = ExperimentDir::new(&args.dir);
    let mut job = StatsJob::in_dir(&dir);
    if let Some(samples) = &args.samples {
        job.samples = samples.clone();
    }
    job.selection = Selection::parse(&args.stats).map_err(Error::Option)?;
    job.resize = args.resize.as_deref().map(parse_size).transpose()?;
    job.on_error = args.on_error;
    if args.entropy_window == 0 {
        return Err(Error::Option("--entropy-window must be at least 1".into()));
    }
    job.params.entropy_window = args.entropy_window;
    job.params.segment = SegmentParams {
        sigma: args.segment_sigma,
        k: args.segment_k,
        min_size: args.segment_min_size,
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
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .map_err(|e| Error::Option(format!("--threads: {e}")))?;
    let summary = pool.install(|| run_stats(&job, &progress))?;
    progress.finish_and_clear();
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

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("224").unwrap(), (224, 224));
        assert_eq!(parse_size("500x375").unwrap(), (500, 375));
        assert!(parse_size("0x3").is_err() && parse_size("big").is_err());
    }
}
