//! What a stage does with a bad input (an unreadable image, a corrupt record): the
//! one `--on-error` policy of ingest and the statistics.

/// What to do with a bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnError {
    /// Stop at the first bad input, naming it; nothing is written.
    #[default]
    Fail,
    /// Leave it out and record why (ingest: in `rejects.parquet`; stats: nulls and
    /// the reason in `error`), and go on.
    Skip,
}
