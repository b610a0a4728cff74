//! The aggregate functions SQL lacks, registered in every session of the crate so
//! that the analysis files and ad-hoc queries can use them:
//!
//! | function | meaning |
//! |---|---|
//! | `spearman(x, y)` | Spearman ρ, ties averaged (as `scipy.stats.spearmanr`) |
//! | `kendall_tau(x, y)` | Kendall τ-b (as `scipy.stats.kendalltau`) |
//! | `bootstrap_ci(x, y, method, replicates, seed)` | `[low, high]` percentile 95% CI of `'spearman'` or `'kendall'` |
//! | `fleiss_kappa(n_positive, n_raters)` | Fleiss' κ over subjects rated positive/negative |
//! | `forgetting_events(epoch, correct)` | correct→incorrect transitions between consecutive epochs |
//! | `median_window(bucket)`, `window_median(x, bucket, window)` | an exact median in two passes of bounded memory over rank buckets (`statistic_buckets`) |
//! | `precise_sum(x)`, `precise_avg(x)`, `precise_stddev_pop(x)` | as `sum`/`avg`/`stddev_pop`, in double-double: the same bits whatever the row order, thread count or engine |
//!
//! Rows where any argument is null are skipped, as SQL aggregates do.

mod bucket_median;
mod fleiss_kappa;
mod forgetting_events;
mod precise;
mod rank_correlation;

use std::sync::Arc;

use arrow::array::{Array, BooleanArray};
use datafusion::logical_expr::AggregateUDF;
use datafusion::prelude::SessionContext;

pub use fleiss_kappa::fleiss_kappa;

/// Every aggregate function of this crate: the one list that local sessions, the
/// Ballista client, scheduler and executors all register.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    [
        AggregateUDF::from(rank_correlation::RankCorrelation::spearman()),
        AggregateUDF::from(rank_correlation::RankCorrelation::kendall()),
        AggregateUDF::from(rank_correlation::RankCorrelation::bootstrap()),
        AggregateUDF::from(fleiss_kappa::FleissKappa::new()),
        AggregateUDF::from(forgetting_events::ForgettingEvents::new()),
        AggregateUDF::from(precise::Precise::sum()),
        AggregateUDF::from(precise::Precise::avg()),
        AggregateUDF::from(precise::Precise::stddev_pop()),
        AggregateUDF::from(bucket_median::MedianWindow::new()),
        AggregateUDF::from(bucket_median::WindowMedian::new()),
    ]
    .into_iter()
    .map(Arc::new)
    .collect()
}

/// Registers every aggregate function of this crate in `ctx`.
pub fn register_functions(ctx: &SessionContext) {
    for f in aggregate_functions() {
        ctx.register_udaf(Arc::unwrap_or_clone(f));
    }
}

/// Whether row `i` passes a groups accumulator's optional filter (a null filter
/// value drops the row, as SQL's `FILTER (WHERE …)` does).
fn row_selected(filter: Option<&BooleanArray>, i: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(i) && f.value(i))
}
