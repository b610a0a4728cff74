//! The rows of `schemas/predictions.toml`, defined once.
//!
//! [`score_logits`] turns a batch of logits and labels into per-sample scores with the
//! definitions of the contract (`loss`, `predicted`, `correct`, `p_label`, `p_max`,
//! `margin`, `probs`); [`PredictionColumns`] collects scored batches of one
//! (network, epoch, split) and lays them out as a record batch of the table.
//!
//! agree's own training (`agree-train`, libtorch) scores on the device with the same
//! definitions and fills the same [`BatchScores`]; Python training loops reach
//! [`score_logits`] through `agree.Recorder`. This crate links no libtorch.

mod columns;
mod logits;

pub use columns::{BatchScores, PredictionColumns};
pub use logits::{Labels, ScoreError, non_finite_rows, score_logits};
