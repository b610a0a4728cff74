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
    /// `2^scale_bits`: the fixed-point unit of `step`.
    scale: f64,
    /// `step[c] = F(c+1) − F(c)` with `F(c) = round(c·log2(c) · scale)`: the change of
    /// the fixed-point Σ n·log2 n when a count grows from `c` (integers, so adding and
    /// removing pixels in any order gives exactly `Σ F(n)`: no drift, no order effects).
    /// At least 256 entries, so that a `u8` count indexes it without a bounds check.
    step: Vec<i64>,
    /// `F(area)`: the sum of a window whose pixels all share one level.
    single: i64,
}

impl LocalEntropyScratch {
    fn prepare(&mut self, area: usize) {
        if self.area == area && !self.step.is_empty() {
            return;
        }
        let nlogn = |c: usize| if c == 0 { 0.0 } else { c as f64 * (c as f64).log2() };
        // As fine as i64 allows for this area: Σ F(n) ≤ area·log2(area)·scale < 2^62.
        let bound = nlogn(area).max(1.0);
        let bits = (62.0 - bound.log2().ceil()).clamp(0.0, 40.0);
        self.scale = bits.exp2();
        let fixed = |c: usize| (nlogn(c) * self.scale).round() as i64;
        self.step = (0..area.max(256)).map(|c| fixed(c + 1) - fixed(c)).collect();
        self.single = fixed(area);
        self.area = area;
    }
}

/// The step table as a histogram reads it: `at(c)` is `step[c]` for a count `c`.
trait StepTable {
    fn at(&self, count: u32) -> i64;
}

/// Windows of at most 255 pixels (the default 10×10 among them): every count is below
/// 256, so `as u8` indexes the 256 entries without a bounds check.
impl StepTable for [i64; 256] {
    #[inline(always)]
    fn at(&self, count: u32) -> i64 {
        self[usize::from(count as u8)]
    }
}

/// Any window size.
impl StepTable for [i64] {
    #[inline(always)]
    fn at(&self, count: u32) -> i64 {
        self[count as usize]
    }
}

/// A window's 256-bin histogram with the fixed-point `S = Σ F(n)` kept up to date
/// pixel by pixel (`F` as in [`LocalEntropyScratch::step`]).
struct SlidingHistogram<'a, T: StepTable + ?Sized> {
    hist: [u32; 256],
    s: i64,
    step: &'a T,
}

impl<'a, T: StepTable + ?Sized> SlidingHistogram<'a, T> {
    fn new(step: &'a T) -> Self {
        SlidingHistogram {
            hist: [0; 256],
            s: 0,
            step,
        }
    }

    /// Moves one pixel of level `out` out of the window and one of level `inc` in.
    #[inline(always)]
    fn swap(&mut self, out: u8, inc: u8) {
        let c = &mut self.hist[usize::from(out)];
        *c -= 1;
        self.s -= self.step.at(*c);
        let c = &mut self.hist[usize::from(inc)];
        self.s += self.step.at(*c);
        *c += 1;
    }

    #[inline(always)]
    fn add(&mut self, v: u8) {
        let c = &mut self.hist[usize::from(v)];
        self.s += self.step.at(*c);
        *c += 1;
    }
}

/// Mean, over every `window × window` window (stride 1, fully inside), of the Shannon
/// entropy (bits) of the window's 256-bin histogram of `levels` (row-major,
/// `width × height`). A side shorter than the window is taken whole, so an image
/// smaller than the window is one window.
///
/// Incremental: one histogram visits the windows in a zigzag (left to right along one
/// row of windows, one step down, right to left along the next), so each step costs
/// one column or one row of pixels leaving and entering; the running
/// `S = Σ n·log2 n` is kept in fixed point (integer steps from a table), so it is
/// exact for the histogram it describes however long the walk, and the entropy is
/// `log2 N − S/N` to within 2^-41 bits (exactly 0 for a window of one level).
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
    assert!(levels.len() >= width * height, "levels must hold width × height values");
    let (ww, wh) = (window.min(width), window.min(height));
    let area = ww * wh;
    scratch.prepare(area);
    let single = scratch.single;
    let (sum, windows) = match <&[i64; 256]>::try_from(&scratch.step[..256]) {
        Ok(step) if area <= 255 => walk(SlidingHistogram::new(step), levels, width, height, (ww, wh), single),
        _ => walk(
            SlidingHistogram::new(&scratch.step[..]),
            levels,
            width,
            height,
            (ww, wh),
            single,
        ),
    };
    // A window of one level has entropy 0; every other window `log2 N − S/N`, which is
    // at least H(N−1, 1) > 0, far above the 2^-41 rounding of S: no clamping needed.
    let log_area = (area as f64).log2();
    let unit = 1.0 / (scratch.scale * area as f64);
    let total = windows as f64 * log_area - sum as f64 * unit;
    (total / ((height - wh + 1) * (width - ww + 1)) as f64).max(0.0)
}

/// The zigzag walk of [`entropy_local`]: the exact sum of `S` over the windows with
/// more than one level (`S ≠ single`), and how many there are.
#[inline(always)]
fn walk<T: StepTable + ?Sized>(
    mut h: SlidingHistogram<'_, T>,
    levels: &[u8],
    width: usize,
    height: usize,
    (ww, wh): (usize, usize),
    single: i64,
) -> (i128, u64) {
    let mut sum = 0i128;
    let mut windows = 0u64;
    let mut visit = |s: i64| {
        let mixed = s != single;
        sum += i128::from(s) * i128::from(mixed);
        windows += u64::from(mixed);
    };
    for row in levels[..wh * width].chunks_exact(width) {
        for &v in &row[..ww] {
            h.add(v);
        }
    }
    let last_x = width - ww;
    for y0 in 0..=height - wh {
        if y0 > 0 {
            // One step down at the column where the previous row of windows ended.
            let x0 = if y0 % 2 == 1 { last_x } else { 0 };
            let leaving = &levels[(y0 - 1) * width + x0..][..ww];
            let entering = &levels[(y0 + wh - 1) * width + x0..][..ww];
            for (&out, &inc) in leaving.iter().zip(entering) {
                h.swap(out, inc);
            }
        }
        let rows = &levels[y0 * width..(y0 + wh) * width];
        visit(h.s);
        if y0 % 2 == 0 {
            for x0 in 1..=last_x {
                for row in rows.chunks_exact(width) {
                    h.swap(row[x0 - 1], row[x0 + ww - 1]);
                }
                visit(h.s);
            }
        } else {
            for x0 in (0..last_x).rev() {
                for row in rows.chunks_exact(width) {
                    h.swap(row[x0 + ww], row[x0]);
                }
                visit(h.s);
            }
        }
    }
    (sum, windows)
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
