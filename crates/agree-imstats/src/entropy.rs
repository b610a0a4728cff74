//! Global and sliding-window Shannon entropy of the 256-level luma histogram.

/// The window side of `entropy_local` (SPEC §3).
pub const DEFAULT_WINDOW: usize = 10;

/// Shannon entropy (bits) of the 256-bin histogram of `levels`; 0 when empty.
pub fn entropy_global(levels: &[u8]) -> f64 {
    if levels.is_empty() {
        return 0.0;
    }
    let mut hist = [0u32; 256];
    for &v in levels {
        hist[usize::from(v)] += 1;
    }
    let n = levels.len() as f64;
    let h: f64 = hist
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    h.max(0.0)
}

/// Reusable tables of the sliding-window entropy for one window area.
#[derive(Debug, Default, Clone)]
pub struct LocalEntropyScratch {
    area: usize,
    /// `step[c] = (c+1)·log2(c+1) − c·log2(c)`: the change of Σ n log2 n when a count grows.
    step: Vec<f64>,
}

impl LocalEntropyScratch {
    fn prepare(&mut self, area: usize) {
        if self.area == area && !self.step.is_empty() {
            return;
        }
        let nlogn = |c: usize| if c == 0 { 0.0 } else { c as f64 * (c as f64).log2() };
        self.step = (0..area).map(|c| nlogn(c + 1) - nlogn(c)).collect();
        self.area = area;
    }
}

/// Mean, over every `window × window` window (stride 1, fully inside), of the Shannon
/// entropy (bits) of the window's 256-bin histogram of `levels` (row-major,
/// `width × height`). A side shorter than the window is taken whole, so an image
/// smaller than the window is one window.
///
/// Incremental: each window keeps the histogram of its predecessor and the running
/// `S = Σ n·log2 n`, updated per pixel leaving or entering from a table; the entropy
/// is `log2 N − S/N`. Each row of windows starts from an empty histogram, so rounding
/// never drifts across rows.
pub fn entropy_local(
    levels: &[u8],
    width: usize,
    height: usize,
    window: usize,
    scratch: &mut LocalEntropyScratch,
) -> f64 {
    if width == 0 || height == 0 || window == 0 {
        return 0.0;
    }
    let (ww, wh) = (window.min(width), window.min(height));
    let area = ww * wh;
    scratch.prepare(area);
    let step = &scratch.step[..];
    let log_area = (area as f64).log2();
    let inv_area = 1.0 / area as f64;
    let mut hist = [0u32; 256];
    let mut total = 0.0;
    for y0 in 0..=height - wh {
        hist.fill(0);
        let mut s = 0.0;
        let mut distinct = 0u32;
        let rows = &levels[y0 * width..(y0 + wh) * width];
        for row in rows.chunks_exact(width) {
            for &v in &row[..ww] {
                let c = &mut hist[usize::from(v)];
                s += step[*c as usize];
                distinct += u32::from(*c == 0);
                *c += 1;
            }
        }
        let entropy = |s: f64, distinct: u32| {
            if distinct <= 1 {
                0.0
            } else {
                (log_area - s * inv_area).max(0.0)
            }
        };
        total += entropy(s, distinct);
        for x0 in 1..=width - ww {
            for row in rows.chunks_exact(width) {
                let out = &mut hist[usize::from(row[x0 - 1])];
                *out -= 1;
                s -= step[*out as usize];
                distinct -= u32::from(*out == 0);
                let inc = &mut hist[usize::from(row[x0 + ww - 1])];
                s += step[*inc as usize];
                distinct += u32::from(*inc == 0);
                *inc += 1;
            }
            total += entropy(s, distinct);
        }
    }
    total / ((height - wh + 1) * (width - ww + 1)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each window recounted from scratch: the definition, slowly.
    fn naive_local(levels: &[u8], width: usize, height: usize, window: usize) -> f64 {
        let (ww, wh) = (window.min(width), window.min(height));
        let mut sum = 0.0;
        let mut n = 0;
        let mut buf = Vec::new();
        for y0 in 0..=height - wh {
            for x0 in 0..=width - ww {
                buf.clear();
                for y in y0..y0 + wh {
                    buf.extend_from_slice(&levels[y * width + x0..y * width + x0 + ww]);
                }
                sum += entropy_global(&buf);
                n += 1;
            }
        }
        sum / n as f64
    }

    #[test]
    fn checkerboard_has_one_bit_and_constant_has_none() {
        let board: Vec<u8> = (0..64)
            .map(|i| if (i / 8 + i % 8) % 2 == 0 { 0 } else { 255 })
            .collect();
        assert!((entropy_global(&board) - 1.0).abs() < 1e-15);
        let mut s = LocalEntropyScratch::default();
        // Every 4×4 window of a checkerboard holds 8 and 8: exactly 1 bit.
        assert!((entropy_local(&board, 8, 8, 4, &mut s) - 1.0).abs() < 1e-12);
        assert_eq!(entropy_global(&[9; 50]), 0.0);
        assert_eq!(entropy_local(&[9; 300], 20, 15, 10, &mut s), 0.0);
    }

    #[test]
    fn four_equal_levels_give_two_bits() {
        assert!((entropy_global(&[1, 2, 3, 4, 4, 3, 2, 1]) - 2.0).abs() < 1e-15);
    }

    #[test]
    fn incremental_matches_recounting_every_window() {
        let mut state = 12345u32;
        let levels: Vec<u8> = (0..37 * 23)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((state >> 16) % 7) as u8 * 30
            })
            .collect();
        let mut s = LocalEntropyScratch::default();
        for window in [1, 3, 10, 23, 40] {
            let fast = entropy_local(&levels, 37, 23, window, &mut s);
            let slow = naive_local(&levels, 37, 23, window);
            assert!((fast - slow).abs() < 1e-12, "window {window}: {fast} vs {slow}");
        }
    }
}
