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
    keys: Vec<u64>,
    keys_tmp: Vec<u64>,
    nodes: Vec<Node>,
    /// One row of edge weights per direction.
    weights: [Vec<f32>; 4],
}

/// Radix digits of the sort on the f32 weight bits (31 of them: weights are ≥ 0).
const DIGITS: [(u32, usize); 3] = [(0, 11), (11, 11), (22, 9)];

/// Number of regions of the Felzenszwalb–Huttenlocher segmentation of `image`
/// (grey images are segmented as RGB with three equal channels).
///
/// Edges are sorted by weight with ties kept in construction order (the C++ code's
/// `std::sort` leaves tie order to the library): each edge is the key
/// `weight bits << 32 | 4·pixel + direction`, built in construction order, and a
/// stable LSD radix sort orders them on the weight bits.
pub fn segment_count(image: &ImageView, params: &SegmentParams, scratch: &mut SegmentScratch) -> usize {
    let (width, height) = (image.width, image.height);
    let n = width * height;
    if n == 0 {
        return 0;
    }
    let planes = smooth_channels(image, params.sigma, scratch);
    let SegmentScratch {
        smooth,
        keys,
        keys_tmp,
        nodes,
        weights,
        ..
    } = scratch;
    let rgb: [&[f32]; 3] = if planes == 1 {
        [&smooth[0]; 3]
    } else {
        [&smooth[0], &smooth[1], &smooth[2]]
    };
    let counts = build_edges(rgb, width, height, keys, weights);
    radix_sort_by_weight(keys, keys_tmp, &counts);
    merge_regions(keys, width, n, params, nodes)
}

/// The smoothing phase: each channel of `image` as f32, Gaussian-smoothed into
/// `scratch.smooth`; returns how many planes there are (1 for grey, 3 for RGB).
fn smooth_channels(image: &ImageView, sigma: f32, scratch: &mut SegmentScratch) -> usize {
    let (width, height) = (image.width, image.height);
    let mask = scratch.taps.get(sigma);
    let planes = if image.channels == 1 { 1 } else { 3 };
    for c in 0..planes {
        scratch.channel.clear();
        if planes == 1 {
            scratch.channel.extend(image.pixels.iter().map(|&v| f32::from(v)));
        } else {
            scratch
                .channel
                .extend(image.pixels.chunks_exact(3).map(|px| f32::from(px[c])));
        }
        smooth(
            &scratch.channel,
            &mut scratch.tmp,
            &mut scratch.smooth[c],
            width,
            height,
            mask,
        );
    }
    planes
}

/// The graph phase: every edge of the 8-connected grid as a sort key (see
/// [`segment_count`]) in `keys`, in construction order; returns the digit
/// histograms of the radix sort, counted on the way.
fn build_edges(
    [r, g, b]: [&[f32]; 3],
    width: usize,
    height: usize,
    keys: &mut Vec<u64>,
    weights: &mut [Vec<f32>; 4],
) -> [[u32; 1 << 11]; 3] {
    let n = width * height;
    // Graph: right, down, down-right, up-right, in the C++ order; the digit
    // histograms of the sort are counted on the way. The weights of one row of
    // pixels are computed per direction first (plain slice loops that vectorise,
    // same f32 operations), then emitted in construction order.
    // Every slot below `edges` is written before it is read: no clearing needed.
    keys.resize(4 * n, 0);
    let mut counts = [[0u32; 1 << 11]; 3];
    let mut edges = 0;
    // Written through a slice: pushes to a `&mut Vec` reload its fields per edge.
    let slots: &mut [u64] = keys;
    let mut push = |slot: usize, weight: f32| {
        let bits = weight.to_bits();
        for (count, &(shift, len)) in counts.iter_mut().zip(&DIGITS) {
            count[((bits >> shift) & ((1 << len) - 1)) as usize] += 1;
        }
        slots[edges] = (u64::from(bits) << 32) | slot as u64;
        edges += 1;
    };
    let [w_right, w_down, w_diag_down, w_diag_up] = weights;
    for w in [&mut *w_right, &mut *w_down, &mut *w_diag_down, &mut *w_diag_up] {
        w.resize(width, 0.0);
    }
    for y in 0..height {
        let row = y * width;
        let (down, up) = (y + 1 < height, y > 0);
        // Weights from the pixels of this row starting at `row` to those starting at `to`.
        let fill = |out: &mut [f32], to: usize| {
            let len = out.len();
            let (r0, g0, b0) = (&r[row..row + len], &g[row..row + len], &b[row..row + len]);
            let (r1, g1, b1) = (&r[to..to + len], &g[to..to + len], &b[to..to + len]);
            for (i, o) in out.iter_mut().enumerate() {
                let (dr, dg, db) = (r0[i] - r1[i], g0[i] - g1[i], b0[i] - b1[i]);
                *o = (dr * dr + dg * dg + db * db).sqrt();
            }
        };
        let inner = width - 1;
        fill(&mut w_right[..inner], row + 1);
        if down {
            fill(&mut w_down[..width], row + width);
            fill(&mut w_diag_down[..inner], row + width + 1);
        }
        if up {
            fill(&mut w_diag_up[..inner], row + 1 - width);
        }
        for x in 0..width {
            let p = 4 * (row + x);
            let right = x < inner;
            if right {
                push(p, w_right[x]);
            }
            if down {
                push(p + 1, w_down[x]);
            }
            if right && down {
                push(p + 2, w_diag_down[x]);
            }
            if right && up {
                push(p + 3, w_diag_up[x]);
            }
        }
    }
    keys.truncate(edges);
    counts
}

/// The merging phase over the sorted edges: the Felzenszwalb–Huttenlocher pass,
/// then the pass joining components under `min_size`; returns the regions left.
fn merge_regions(keys: &[u64], width: usize, n: usize, params: &SegmentParams, nodes: &mut Vec<Node>) -> usize {
    // The far end of an edge from its pixel, per direction.
    let step = [1, width as isize, width as isize + 1, 1 - width as isize];
    let ends = |key: u64| {
        let slot = (key & 0xffff_ffff) as usize;
        let p = slot >> 2;
        (p as u32, p.wrapping_add_signed(step[slot & 3]) as u32)
    };

    let k = params.k;
    let min_size = params.min_size as u32;
    let mut forest = Forest::new(n, k, min_size, nodes);
    for &key in keys.iter() {
        let w = f32::from_bits((key >> 32) as u32);
        let (p, q) = ends(key);
        let a = forest.find(p);
        let b = forest.find(q);
        if a != b && w <= forest.nodes[a as usize].threshold && w <= forest.nodes[b as usize].threshold {
            let root = forest.join(a, b);
            let node = &mut forest.nodes[root as usize];
            node.threshold = w + k / node.size as f32;
        }
    }
    // Only an edge touching a component under min_size can join; once none is left
    // the rest of the pass changes nothing.
    for &key in keys.iter() {
        if forest.small == 0 {
            break;
        }
        let (p, q) = ends(key);
        let a = forest.find(p);
        let b = forest.find(q);
        if a != b && (forest.nodes[a as usize].size < min_size || forest.nodes[b as usize].size < min_size) {
            forest.join(a, b);
        }
    }
    forest.sets
}

/// Stable LSD radix sort of `keys` on their upper 32 bits (non-negative f32 weights,
/// whose bit patterns order like the values), digit by digit of [`DIGITS`] with the
/// histograms `counts` already taken; a digit all keys share is skipped.
fn radix_sort_by_weight(keys: &mut Vec<u64>, tmp: &mut Vec<u64>, counts: &[[u32; 1 << 11]; 3]) {
    tmp.resize(keys.len(), 0);
    for (count, &(shift, len)) in counts.iter().zip(&DIGITS) {
        let count = &count[..1 << len];
        if count.contains(&(keys.len() as u32)) {
            continue;
        }
        let mut offsets = [0u32; 1 << 11];
        let mut offset = 0;
        for (slot, &c) in offsets.iter_mut().zip(count) {
            *slot = offset;
            offset += c;
        }
        let digit_mask = (1u64 << len) - 1;
        // Slices, not the Vecs: stores through a `&mut Vec` make the compiler reload
        // its pointer and length on every key.
        let out: &mut [u64] = tmp;
        for &key in keys.iter() {
            let slot = &mut offsets[((key >> (32 + shift)) & digit_mask) as usize];
            out[*slot as usize] = key;
            *slot += 1;
        }
        std::mem::swap(keys, tmp);
    }
}

/// One pixel of the disjoint-set forest: its parent, and for a root the component's
/// size and threshold τ.
#[derive(Debug, Clone, Copy, Default)]
struct Node {
    parent: u32,
    size: u32,
    threshold: f32,
}

/// Disjoint-set forest with sizes and per-component thresholds (the C++ `universe`),
/// union by size and path halving; which root survives a join does not change the
/// components, so the count is the C++ code's.
struct Forest<'a> {
    nodes: &'a mut [Node],
    min_size: u32,
    sets: usize,
    /// Components smaller than `min_size`.
    small: usize,
}

impl<'a> Forest<'a> {
    fn new(n: usize, k: f32, min_size: u32, nodes: &'a mut Vec<Node>) -> Self {
        nodes.clear();
        // τ of a single pixel: k/1.
        nodes.extend((0..n as u32).map(|parent| Node {
            parent,
            size: 1,
            threshold: k,
        }));
        Forest {
            nodes: nodes.as_mut_slice(),
            min_size,
            sets: n,
            small: if min_size > 1 { n } else { 0 },
        }
    }

    #[inline]
    fn find(&mut self, mut x: u32) -> u32 {
        loop {
            let parent = self.nodes[x as usize].parent;
            if parent == x {
                return x;
            }
            let grand = self.nodes[parent as usize].parent;
            self.nodes[x as usize].parent = grand;
            x = grand;
        }
    }

    /// Joins two roots; returns the new root.
    fn join(&mut self, a: u32, b: u32) -> u32 {
        let (sa, sb) = (self.nodes[a as usize].size, self.nodes[b as usize].size);
        let (root, child) = if sa >= sb { (a, b) } else { (b, a) };
        let size = sa + sb;
        self.nodes[child as usize].parent = root;
        self.nodes[root as usize].size = size;
        self.sets -= 1;
        self.small -= usize::from(sa < self.min_size) + usize::from(sb < self.min_size);
        self.small += usize::from(size < self.min_size);
        root
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
        let mut counts = [[0u32; 1 << 11]; 3];
        for key in &keys {
            let bits = key >> 32;
            for (count, &(shift, len)) in counts.iter_mut().zip(&DIGITS) {
                count[((bits >> shift) & ((1 << len) - 1)) as usize] += 1;
            }
        }
        let mut tmp = Vec::new();
        radix_sort_by_weight(&mut keys, &mut tmp, &counts);
        let order: Vec<u64> = keys.iter().map(|k| k & 0xffff_ffff).collect();
        assert_eq!(order, vec![1, 5, 4, 2, 0, 3, 6]);
    }
}
