//! Felzenszwalb–Huttenlocher graph segmentation (IJCV 2004) as in the authors' released
//! C++ code (`segment-image.h`, `segment-graph.h`, `filter.h`), counting the regions.

use crate::{
    gaussian::{CachedTaps, smooth},
    image::ImageView,
};

/// Segmentation parameters; the defaults are the paper's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentParams {
    /// Gaussian smoothing σ (pixels).
    pub sigma: f32,
    /// Scale k of the threshold τ(C) = k/|C|.
    pub k: f32,
    /// Components smaller than this are merged in a second pass.
    pub min_size: usize,
}

impl Default for SegmentParams {
    fn default() -> Self {
        SegmentParams {
            sigma: 0.5,
            k: 500.0,
            min_size: 20,
        }
    }
}

/// Reusable buffers of the segmentation.
#[derive(Debug, Default, Clone)]
pub struct SegmentScratch {
    taps: CachedTaps,
    channel: Vec<f32>,
    tmp: Vec<f32>,
    smooth: [Vec<f32>; 3],
    ends: Vec<(u32, u32)>,
    keys: Vec<u64>,
    keys_tmp: Vec<u64>,
    parent: Vec<u32>,
    rank: Vec<u8>,
    size: Vec<u32>,
    threshold: Vec<f32>,
}

/// Number of regions of the Felzenszwalb–Huttenlocher segmentation of `image`
/// (grey images are segmented as RGB with three equal channels).
///
/// Edges are sorted by weight with ties kept in construction order (the C++ code's
/// `std::sort` leaves tie order to the library); the sort is an LSD radix sort on the
/// f32 weight bits.
pub fn segment_count(image: &ImageView, params: &SegmentParams, scratch: &mut SegmentScratch) -> usize {
    let (width, height) = (image.width, image.height);
    let n = width * height;
    if n == 0 {
        return 0;
    }
    let mask = scratch.taps.get(params.sigma);
    let planes = if image.channels == 1 { 1 } else { 3 };
    scratch.tmp.resize(n, 0.0);
    for c in 0..planes {
        scratch.channel.clear();
        scratch.channel.extend(
            image
                .pixels
                .iter()
                .skip(c)
                .step_by(image.channels)
                .map(|&v| f32::from(v)),
        );
        smooth(
            &scratch.channel,
            &mut scratch.tmp,
            &mut scratch.smooth[c],
            width,
            height,
            mask,
        );
    }
    let (r, g, b) = if planes == 1 {
        (&scratch.smooth[0], &scratch.smooth[0], &scratch.smooth[0])
    } else {
        (&scratch.smooth[0], &scratch.smooth[1], &scratch.smooth[2])
    };
    let diff = |p: usize, q: usize| {
        let (dr, dg, db) = (r[p] - r[q], g[p] - g[q], b[p] - b[q]);
        (dr * dr + dg * dg + db * db).sqrt()
    };
    // Graph: right, down, down-right, up-right, in the C++ order.
    scratch.ends.clear();
    scratch.keys.clear();
    let mut push = |p: usize, q: usize| {
        let idx = scratch.ends.len() as u64;
        scratch.ends.push((p as u32, q as u32));
        scratch.keys.push((u64::from(diff(p, q).to_bits()) << 32) | idx);
    };
    for y in 0..height {
        for x in 0..width {
            let p = y * width + x;
            if x + 1 < width {
                push(p, p + 1);
            }
            if y + 1 < height {
                push(p, p + width);
            }
            if x + 1 < width && y + 1 < height {
                push(p, p + width + 1);
            }
            if x + 1 < width && y > 0 {
                push(p, p - width + 1);
            }
        }
    }
    let SegmentScratch {
        ends,
        keys,
        keys_tmp,
        parent,
        rank,
        size,
        threshold,
        ..
    } = scratch;
    radix_sort_by_weight(keys, keys_tmp);

    let k = params.k;
    let mut forest = Forest::new(n, k, parent, rank, size, threshold);
    for &key in keys.iter() {
        let w = f32::from_bits((key >> 32) as u32);
        let (p, q) = ends[(key & 0xffff_ffff) as usize];
        let a = forest.find(p);
        let b = forest.find(q);
        if a != b && w <= forest.threshold[a as usize] && w <= forest.threshold[b as usize] {
            let root = forest.join(a, b);
            forest.threshold[root as usize] = w + k / forest.size[root as usize] as f32;
        }
    }
    let min_size = params.min_size as u32;
    for &key in keys.iter() {
        let (p, q) = ends[(key & 0xffff_ffff) as usize];
        let a = forest.find(p);
        let b = forest.find(q);
        if a != b && (forest.size[a as usize] < min_size || forest.size[b as usize] < min_size) {
            forest.join(a, b);
        }
    }
    forest.sets
}

/// Stable LSD radix sort of `keys` on their upper 32 bits (non-negative f32 weights,
/// whose bit patterns order like the values); passes where every key shares the same
/// byte are skipped.
fn radix_sort_by_weight(keys: &mut Vec<u64>, tmp: &mut Vec<u64>) {
    tmp.resize(keys.len(), 0);
    for shift in [32u32, 40, 48, 56] {
        let mut counts = [0usize; 256];
        for &k in keys.iter() {
            counts[((k >> shift) & 0xff) as usize] += 1;
        }
        if counts.contains(&keys.len()) {
            continue;
        }
        let mut offset = 0;
        for c in counts.iter_mut() {
            let here = *c;
            *c = offset;
            offset += here;
        }
        for &k in keys.iter() {
            let slot = &mut counts[((k >> shift) & 0xff) as usize];
            tmp[*slot] = k;
            *slot += 1;
        }
        std::mem::swap(keys, tmp);
    }
}

/// Disjoint-set forest with sizes and per-component thresholds (the C++ `universe`).
struct Forest<'a> {
    parent: &'a mut Vec<u32>,
    rank: &'a mut Vec<u8>,
    size: &'a mut Vec<u32>,
    threshold: &'a mut Vec<f32>,
    sets: usize,
}

impl<'a> Forest<'a> {
    fn new(
        n: usize,
        k: f32,
        parent: &'a mut Vec<u32>,
        rank: &'a mut Vec<u8>,
        size: &'a mut Vec<u32>,
        threshold: &'a mut Vec<f32>,
    ) -> Self {
        parent.clear();
        parent.extend(0..n as u32);
        rank.clear();
        rank.resize(n, 0);
        size.clear();
        size.resize(n, 1);
        threshold.clear();
        // τ of a single pixel: k/1.
        threshold.resize(n, k);
        Forest {
            parent,
            rank,
            size,
            threshold,
            sets: n,
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// Joins two roots by rank; returns the new root.
    fn join(&mut self, a: u32, b: u32) -> u32 {
        let (ai, bi) = (a as usize, b as usize);
        self.sets -= 1;
        if self.rank[ai] > self.rank[bi] {
            self.parent[bi] = a;
            self.size[ai] += self.size[bi];
            a
        } else {
            self.parent[ai] = b;
            self.size[bi] += self.size[ai];
            if self.rank[ai] == self.rank[bi] {
                self.rank[bi] += 1;
            }
            b
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` vertical stripes of 10×16 px in strongly different colours.
    fn stripes(count: usize) -> Vec<u8> {
        let colours = [[0u8, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]];
        let width = 10 * count;
        (0..16 * width).flat_map(|i| colours[(i % width) / 10]).collect()
    }

    #[test]
    fn flat_blocks_are_one_segment_each() {
        let mut s = SegmentScratch::default();
        for count in 1..=5 {
            let px = stripes(count);
            let view = ImageView::rgb(10 * count, 16, &px).unwrap();
            assert_eq!(segment_count(&view, &SegmentParams::default(), &mut s), count);
        }
    }

    #[test]
    fn constant_and_tiny_images_are_one_segment() {
        let mut s = SegmentScratch::default();
        let px = [77u8; 3 * 40 * 30];
        let view = ImageView::rgb(40, 30, &px).unwrap();
        assert_eq!(segment_count(&view, &SegmentParams::default(), &mut s), 1);
        let one = ImageView::grey(1, 1, &[5]).unwrap();
        assert_eq!(segment_count(&one, &SegmentParams::default(), &mut s), 1);
    }

    #[test]
    fn without_merging_small_regions_noise_splits_apart() {
        // Grey levels i·97 mod 251 differ between any two 8-neighbours: with min_size 1
        // and a tiny k every pixel is its own region; min_size 20 then merges them
        // into regions of ≥ 20 pixels, so at most 400/20.
        let px: Vec<u8> = (0..400u32).map(|i| (i * 97 % 251) as u8).collect();
        let view = ImageView::grey(20, 20, &px).unwrap();
        let mut s = SegmentScratch::default();
        let fine = SegmentParams {
            sigma: 0.01,
            k: 0.001,
            min_size: 1,
        };
        assert_eq!(segment_count(&view, &fine, &mut s), 400);
        let merged = SegmentParams { min_size: 20, ..fine };
        assert!(segment_count(&view, &merged, &mut s) <= 20);
    }

    #[test]
    fn radix_sort_is_a_stable_sort_by_weight() {
        let weights = [3.5f32, 0.0, 1.25, 3.5, 1e-3, 0.0, 700.0];
        let mut keys: Vec<u64> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| (u64::from(w.to_bits()) << 32) | i as u64)
            .collect();
        let mut tmp = Vec::new();
        radix_sort_by_weight(&mut keys, &mut tmp);
        let order: Vec<u64> = keys.iter().map(|k| k & 0xffff_ffff).collect();
        assert_eq!(order, vec![1, 5, 4, 2, 0, 3, 6]);
    }
}
