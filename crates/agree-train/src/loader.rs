//! Batches of network inputs, assembled by rayon workers, either on demand or on a
//! producer thread that runs ahead of the training step (bounded prefetch).

use std::{sync::mpsc::sync_channel, thread::Scope};

use rayon::prelude::*;
use tch::Tensor;

use crate::{
    TrainError,
    pixels::PixelStore,
    samples::SampleTable,
    seeds,
    transform::{Geometry, Normalization, Placement, write_input},
};

/// Random augmentation of one epoch: each sample's crop and flip derive from
/// (seed, epoch, sample_id) alone, so they do not depend on threads or on resuming.
#[derive(Debug, Clone, Copy)]
pub struct Augment {
    /// Network seed.
    pub seed: u64,
    /// Epoch (from 1).
    pub epoch: u32,
    /// Random horizontal flips.
    pub hflip: bool,
}

impl Augment {
    /// Crop position bits and flip for one sample.
    pub fn placement(&self, sample_id: i64) -> Placement {
        let bits = seeds::augment_bits(self.seed, self.epoch, sample_id);
        Placement::Random {
            bits,
            flip: self.hflip && seeds::mix(bits) & 1 == 1,
        }
    }
}

/// One batch of inputs: positions `start..start+len` of the epoch's sample order.
#[derive(Debug)]
pub struct Batch {
    /// First position in the epoch order.
    pub start: usize,
    /// Number of samples.
    pub len: usize,
    /// N×3×H×W float inputs on the CPU.
    pub images: Tensor,
}

/// Splits `n` samples into batches of `batch_size`; with `merge_single` a final batch
/// of one sample joins the previous one (batch norm cannot train on one sample).
pub fn batch_bounds(n: usize, batch_size: usize, merge_single: bool) -> Vec<(usize, usize)> {
    let mut bounds: Vec<(usize, usize)> = (0..n)
        .step_by(batch_size.max(1))
        .map(|s| (s, batch_size.min(n - s)))
        .collect();
    if merge_single && bounds.len() > 1 && bounds.last().is_some_and(|b| b.1 == 1) {
        bounds.pop();
        if let Some(last) = bounds.last_mut() {
            last.1 += 1;
        }
    }
    bounds
}

/// What the producer needs to assemble batches.
#[derive(Clone, Copy)]
pub struct InputPipeline<'a> {
    /// Sample rows and labels.
    pub table: &'a SampleTable,
    /// Pixels.
    pub store: &'a PixelStore<'a>,
    /// Network input size.
    pub geometry: Geometry,
    /// Normalisation.
    pub norm: Normalization,
}

impl<'a> InputPipeline<'a> {
    /// Assembles the inputs of `rows` (table rows) into one tensor.
    pub fn assemble(&self, rows: &[usize], augment: Option<Augment>) -> Result<Tensor, TrainError> {
        let per = 3 * self.geometry.height * self.geometry.width;
        let mut buf = vec![0f32; rows.len() * per];
        let one = |(out, &row): (&mut [f32], &usize)| -> Result<(), TrainError> {
            let img = self.store.get(row)?;
            let placement = augment.map_or(Placement::Centre, |a| a.placement(self.table.sample_id[row]));
            write_input(&img, self.geometry, placement, &self.norm, out).map_err(|message| TrainError::BadSample {
                path: self.table.path.clone(),
                row,
                sample_id: self.table.sample_id[row],
                message,
            })
        };
        buf.par_chunks_mut(per).zip(rows.par_iter()).try_for_each(one)?;
        let shape = [
            rows.len() as i64,
            3,
            self.geometry.height as i64,
            self.geometry.width as i64,
        ];
        Ok(Tensor::from_slice(&buf).view(shape))
    }

    /// The batch of positions `start..start + len` of `order`.
    fn batch(
        &self,
        order: &[usize],
        (start, len): (usize, usize),
        augment: Option<Augment>,
    ) -> Result<Batch, TrainError> {
        self.assemble(&order[start..start + len], augment)
            .map(|images| Batch { start, len, images })
    }

    /// The batches `bounds` of `order`, in order. With `prefetch` 0 each is assembled
    /// when asked for, on the calling thread (with rayon), so that nothing competes
    /// with a CPU training step for its cores; otherwise a producer thread assembles
    /// them ahead of the consumer, at most `prefetch` batches in flight (dropping the
    /// iterator stops it).
    pub fn batches<'scope>(
        self,
        scope: &'scope Scope<'scope, '_>,
        order: Vec<usize>,
        bounds: Vec<(usize, usize)>,
        augment: Option<Augment>,
        prefetch: usize,
    ) -> Box<dyn Iterator<Item = Result<Batch, TrainError>> + 'scope>
    where
        'a: 'scope,
    {
        if prefetch == 0 {
            return Box::new(bounds.into_iter().map(move |bound| self.batch(&order, bound, augment)));
        }
        let (tx, rx) = sync_channel(prefetch);
        scope.spawn(move || {
            for bound in bounds {
                let batch = self.batch(&order, bound, augment);
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    break;
                }
            }
        });
        Box::new(rx.into_iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_every_sample_once() {
        assert_eq!(batch_bounds(10, 4, false), vec![(0, 4), (4, 4), (8, 2)]);
        assert_eq!(batch_bounds(9, 4, true), vec![(0, 4), (4, 5)]);
        assert_eq!(batch_bounds(9, 4, false), vec![(0, 4), (4, 4), (8, 1)]);
        assert_eq!(batch_bounds(1, 4, true), vec![(0, 1)]);
        assert!(batch_bounds(0, 4, true).is_empty());
    }

    #[test]
    fn augmentation_depends_on_epoch_and_sample_only() {
        let a = Augment {
            seed: 3,
            epoch: 2,
            hflip: true,
        };
        assert_eq!(a.placement(17), a.placement(17));
        assert_ne!(a.placement(17), a.placement(18));
        assert_ne!(a.placement(17), Augment { epoch: 3, ..a }.placement(17));
        let flips = (0..1000)
            .filter(|&i| matches!(a.placement(i), Placement::Random { flip: true, .. }))
            .count();
        assert!((400..600).contains(&flips), "about half flipped: {flips}");
    }
}
