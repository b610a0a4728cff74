//! `agree report DIR`: the command-line face of the stage.

use std::path::PathBuf;

use agree_schema::{ExperimentDir, sample_image::DEFAULT_MAX_PIXELS};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{error::Error, report};

/// Draw the figures (PNG and SVG) and write one self-contained HTML page into DIR/report/.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Experiment directory holding results/ (from `agree analyze`) and the stage tables.
    pub dir: PathBuf,
    /// Write the report here instead of DIR/report.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Largest sample image shown as a thumbnail, in pixels (read from its header first);
    /// larger ones are left out with a note.
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pixels: u64,
}

/// Runs `agree report`.
pub fn run(args: &ReportArgs, quiet: bool) -> Result<(), Error> {
    let dir = ExperimentDir::new(&args.dir);
    let out = args.out.clone().unwrap_or_else(|| dir.report_dir());
    let bar = ProgressBar::new(7);
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    } else if let Ok(style) = ProgressStyle::with_template("report {bar:30} {pos}/{len} figures {msg}") {
        bar.set_style(style);
    }
    bar.set_message("reading tables");
    let inputs = report::load(&dir)?;
    let built = report::build(&inputs, args.max_pixels, |figure| {
        bar.set_message(figure.to_string());
        bar.inc(1);
    })?;
    let index = report::write(&out, &built)?;
    bar.finish_and_clear();
    if !quiet {
        println!("report: {} ({} figures)", index.display(), built.figures.len());
        for note in &built.notes {
            println!("  left out: {note}");
        }
    }
    Ok(())
}
