//! Learning rate at each step, following PyTorch's schedulers so that recipes
//! written for the reference code mean the same here.

use std::f64::consts::PI;

use crate::config::Schedule;

/// Learning rate for a step.
///
/// `epoch` counts from 0 (the epoch being trained), `step` is the global batch index
/// from 0, `epochs` and `total_steps` are the planned totals.
pub fn learning_rate(schedule: &Schedule, base: f64, epoch: u32, epochs: u32, step: u64, total_steps: u64) -> f64 {
    match *schedule {
        Schedule::Constant => base,
        // CosineAnnealingLR(T_max=epochs, eta_min=0) stepped once per epoch.
        Schedule::Cosine => base * (1.0 + (PI * f64::from(epoch) / f64::from(epochs.max(1))).cos()) / 2.0,
        Schedule::Step { every, gamma } => base * gamma.powi((epoch / every.max(1)) as i32),
        Schedule::Onecycle => one_cycle(base, step, total_steps),
    }
}

/// PyTorch's `OneCycleLR(max_lr=base, total_steps)` with its defaults
/// (pct_start 0.3, cosine annealing, div_factor 25, final_div_factor 1e4).
fn one_cycle(max_lr: f64, step: u64, total_steps: u64) -> f64 {
    let initial = max_lr / 25.0;
    let min = initial / 1e4;
    let end_warmup = 0.3 * total_steps as f64 - 1.0;
    let end = total_steps as f64 - 1.0;
    let s = step as f64;
    let anneal = |start: f64, stop: f64, pct: f64| stop + (start - stop) / 2.0 * ((PI * pct).cos() + 1.0);
    if s <= end_warmup {
        anneal(initial, max_lr, if end_warmup > 0.0 { s / end_warmup } else { 1.0 })
    } else {
        let span = end - end_warmup;
        anneal(max_lr, min, if span > 0.0 { (s - end_warmup) / span } else { 1.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn cosine_halves_at_mid_training() {
        let s = Schedule::Cosine;
        assert!(close(learning_rate(&s, 0.1, 0, 60, 0, 0), 0.1));
        assert!(close(learning_rate(&s, 0.1, 30, 60, 0, 0), 0.05));
        // epoch 15 of 60: (1 + cos(pi/4)) / 2 = 0.853553…
        assert!(close(learning_rate(&s, 0.1, 15, 60, 0, 0), 0.1 * 0.8535533905932737));
    }

    #[test]
    fn step_multiplies_every_n_epochs() {
        let s = Schedule::Step { every: 30, gamma: 0.3 };
        assert!(close(learning_rate(&s, 0.01, 29, 90, 0, 0), 0.01));
        assert!(close(learning_rate(&s, 0.01, 30, 90, 0, 0), 0.003));
        assert!(close(learning_rate(&s, 0.01, 89, 90, 0, 0), 0.01 * 0.09));
    }

    #[test]
    fn one_cycle_matches_pytorch_endpoints() {
        let s = Schedule::Onecycle;
        // 100 steps: warm-up ends at step 29 at the peak; starts at lr/25, ends at lr/25/1e4.
        assert!(close(learning_rate(&s, 1e-4, 0, 1, 0, 100), 4e-6));
        assert!(close(learning_rate(&s, 1e-4, 0, 1, 29, 100), 1e-4));
        assert!(close(learning_rate(&s, 1e-4, 0, 1, 99, 100), 4e-10));
        // Halfway through the warm-up: the mean of start and peak.
        // 70 steps: warm-up ends at step 20, so step 10 is half-way.
        let mid = learning_rate(&s, 1e-4, 0, 1, 10, 70);
        assert!(close(mid, (4e-6 + 1e-4) / 2.0), "{mid}");
    }
}
