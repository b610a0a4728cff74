//! Label randomisation (SPEC §4): with probability p a training label is replaced by
//! a uniformly random class, fixed by a seed and shared by every network.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The labels to train on, given the true single labels of the training samples in
/// table order. With `p = 0` the labels come back unchanged and no draw is made.
pub fn randomize_labels(labels: &[i32], classes: usize, p: f64, seed: u64) -> Vec<i32> {
    if p <= 0.0 || classes == 0 {
        return labels.to_vec();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    labels
        .iter()
        .map(|&l| {
            // Two draws per sample whatever the outcome, so sample i's fate does not
            // depend on the draws of the samples before it.
            let replace = rng.random::<f64>() < p;
            let class = rng.random_range(0..classes) as i32;
            if replace { class } else { l }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_zero_changes_nothing_and_p_one_is_uniform() {
        let labels: Vec<i32> = (0..10_000).map(|i| i % 10).collect();
        assert_eq!(randomize_labels(&labels, 10, 0.0, 12345), labels);
        let random = randomize_labels(&labels, 10, 1.0, 12345);
        let kept = labels.iter().zip(&random).filter(|(a, b)| a == b).count();
        // A uniform class equals the true one one time in ten.
        assert!((800..1200).contains(&kept), "{kept}");
        let mut counts = [0usize; 10];
        random.iter().for_each(|&l| counts[l as usize] += 1);
        assert!(counts.iter().all(|&c| (850..1150).contains(&c)), "{counts:?}");
    }

    #[test]
    fn the_seed_fixes_the_labels() {
        let labels: Vec<i32> = vec![0; 100];
        assert_eq!(
            randomize_labels(&labels, 5, 0.5, 1),
            randomize_labels(&labels, 5, 0.5, 1)
        );
        assert_ne!(
            randomize_labels(&labels, 5, 0.5, 1),
            randomize_labels(&labels, 5, 0.5, 2)
        );
        let changed = randomize_labels(&labels, 5, 0.5, 1).iter().filter(|&&l| l != 0).count();
        // p·(K-1)/K = 0.4 of them change.
        assert!((25..55).contains(&changed), "{changed}");
    }
}
