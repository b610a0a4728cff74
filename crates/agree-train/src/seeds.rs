//! Every random choice of a study, and the seed it derives from.
//!
//! A study is reproducible and resumable because nothing random depends on what ran
//! before: each draw is a function of a few numbers named here, so a network resumed
//! at epoch E, a network trained next to others on another thread, and a network
//! trained alone make the same draws.
//!
//! | draw | derived from | function |
//! |---|---|---|
//! | network `i`'s seed | `--seed` + `i` | [`network_seed`] |
//! | initial weights | the network seed (libtorch's global generator, seeded under a lock) | [`init_seed`] |
//! | order of the training samples in epoch E | (network seed, E) | [`epoch_order`] |
//! | crop position and flip of sample S in epoch E | (network seed, E, S) | [`augment_bits`] |
//! | dropout masks of epoch E | (network seed, E, call index within the epoch) | [`dropout_stream`] |
//! | the `--train-limit` / `--test-limit` subsets | fixed constants: every network and architecture sees the same samples | [`TRAIN_SUBSET`], [`TEST_SUBSET`] |
//! | randomised labels | `--label-noise-seed`, shared by every network | [`crate::randomize_labels`] |
//!
//! Nothing in the epoch loop draws from libtorch's global generator: a model that
//! needs randomness while training takes a [`RandomStream`], which each network owns.
//! Training several networks at once (`--parallel`) therefore changes no draw.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

/// Seed of the `--train-limit` subset (the same for every network and architecture).
pub const TRAIN_SUBSET: u64 = 0x5eed;
/// Seed of the `--test-limit` subset.
pub const TEST_SUBSET: u64 = 0x7e57;

/// SplitMix64 finaliser: a cheap, well-mixed hash of a 64-bit value.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of network `index` of a configuration whose network 0 has `base`.
pub fn network_seed(base: u64, index: u32) -> u64 {
    base.wrapping_add(u64::from(index))
}

/// The seed given to libtorch's global generator right before a network's weights
/// are drawn (model construction holds a lock, so no other draw interleaves).
pub fn init_seed(network_seed: u64) -> i64 {
    network_seed as i64
}

/// The seed of the shuffle that orders the training samples of `epoch`.
pub fn epoch_order(network_seed: u64, epoch: u32) -> u64 {
    mix(network_seed) ^ u64::from(epoch)
}

/// The random bits of one sample's augmentation (crop position; the flip is taken
/// from `mix` of these bits) in `epoch`.
pub fn augment_bits(network_seed: u64, epoch: u32, sample_id: i64) -> u64 {
    mix(mix(network_seed ^ mix(u64::from(epoch))) ^ sample_id as u64)
}

/// The first key of the dropout stream of `epoch`; the k-th mask of the epoch is
/// drawn from key + k.
pub fn dropout_stream(network_seed: u64, epoch: u32) -> u64 {
    mix(network_seed ^ 0x7e57_5eed) ^ (u64::from(epoch) << 32)
}

/// A network's own source of random keys for draws made while training (dropout
/// masks): set at the start of each epoch, then each draw takes the next key. One
/// network's forward passes run one after another, so the k-th draw of an epoch
/// always gets the same key, whatever other networks do meanwhile.
#[derive(Debug, Clone, Default)]
pub struct RandomStream {
    next: Arc<AtomicU64>,
}

impl RandomStream {
    /// Restarts the stream at `key` (see [`dropout_stream`]).
    pub fn restart(&self, key: u64) {
        self.next.store(key, Ordering::SeqCst);
    }

    /// The key of the next draw.
    pub fn next_key(&self) -> u64 {
        self.next.fetch_add(1, Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_depend_on_their_inputs_only() {
        assert_eq!(epoch_order(7, 3), epoch_order(7, 3));
        assert_ne!(epoch_order(7, 3), epoch_order(7, 4));
        assert_ne!(epoch_order(7, 3), epoch_order(8, 3));
        assert_ne!(augment_bits(7, 3, 10), augment_bits(7, 3, 11));
        assert_ne!(dropout_stream(7, 1), dropout_stream(7, 2));
        assert_eq!(network_seed(5, 2), 7);
    }

    #[test]
    fn a_stream_restarts_at_its_key() {
        let s = RandomStream::default();
        s.restart(100);
        assert_eq!((s.next_key(), s.next_key()), (100, 101));
        s.restart(100);
        assert_eq!(s.next_key(), 100);
        // Clones share the position (the model holds one, the epoch loop another).
        let c = s.clone();
        assert_eq!(c.next_key(), 101);
    }
}
