//! PNG compressibility: encoded size over raw size, a standard complexity proxy.
//!
//! The size is that of the file the `image` crate's `PngEncoder` writes with
//! `CompressionType::Default` and `FilterType::Adaptive` (png 0.18: per row the filter
//! among Up, Sub, Avg, Paeth with the least Σ|byte as i8|, later filters winning ties;
//! zlib level 6 through flate2's zlib-rs backend), but computed without building the
//! file: the rows are filtered here and fed, in the png crate's pieces, to one reused
//! compressor, which saves the per-image allocation and clearing of the deflate state
//! and the copies of the output. `tests::size_matches_the_png_encoder` pins the identity.

use flate2::{Compress, Compression, FlushCompress, Status};

use crate::image::ImageView;

/// PNG signature (8) + IHDR chunk (12 + 13) + IEND chunk (12): everything but the IDATs.
const PNG_FIXED_BYTES: usize = 8 + 25 + 12;
/// The png crate splits the zlib stream into IDAT chunks of at most this many bytes,
/// each with 12 bytes of length, type and CRC.
const MAX_IDAT_LEN: usize = (u32::MAX >> 1) as usize;
/// zlib level of `png::Compression::Balanced` (flate2's default level).
const ZLIB_LEVEL: u32 = 6;

/// Reusable deflate state and row buffers of [`compress_ratio`].
#[derive(Debug, Default)]
pub struct CompressScratch {
    zlib: Option<Compress>,
    zeros: Vec<u8>,
    trial: Vec<u8>,
    best: Vec<u8>,
    out: Vec<u8>,
}

/// Capacity of the output buffer of flate2's `zio::Writer`, which `ZlibEncoder` uses.
const WRITER_BUF: usize = 32 * 1024;

/// The call sequence of flate2's `ZlibEncoder<Vec<u8>>` (`write_all` per piece, then
/// `finish`) on a reused compressor, counting the output instead of keeping it.
/// zlib-rs's output depends on how the input is split into calls and on the output
/// room each call has, so both are reproduced: png writes each row's filter byte and
/// its bytes as two pieces, and the writer gives every call an emptied 32 KiB buffer.
struct Deflater<'a> {
    zlib: &'a mut Compress,
    buf: &'a mut Vec<u8>,
    total: usize,
}

/// Why deflating stopped early (never expected on in-memory data).
struct DeflateFailed;

impl Deflater<'_> {
    /// `zio::Writer::dump`: the buffered output is counted and the buffer emptied.
    fn dump(&mut self) {
        self.total += self.buf.len();
        self.buf.clear();
        if self.buf.capacity() < WRITER_BUF {
            self.buf.reserve_exact(WRITER_BUF);
        }
    }

    /// `Write::write_all` over `zio::Writer::write_with_status`.
    fn write_all(&mut self, mut data: &[u8]) -> Result<(), DeflateFailed> {
        while !data.is_empty() {
            let written = loop {
                self.dump();
                let before = self.zlib.total_in();
                let status = self
                    .zlib
                    .compress_vec(data, self.buf, FlushCompress::None)
                    .map_err(|_| DeflateFailed)?;
                let written = (self.zlib.total_in() - before) as usize;
                if written == 0 && status != Status::StreamEnd && !self.buf.is_empty() {
                    continue;
                }
                break written;
            };
            if written == 0 {
                return Err(DeflateFailed);
            }
            data = &data[written..];
        }
        Ok(())
    }

    /// `zio::Writer::finish`; returns the zlib stream's length.
    fn finish(&mut self) -> Result<usize, DeflateFailed> {
        loop {
            self.dump();
            let before = self.zlib.total_out();
            let status = self
                .zlib
                .compress_vec(&[], self.buf, FlushCompress::Finish)
                .map_err(|_| DeflateFailed)?;
            if status == Status::StreamEnd || before == self.zlib.total_out() {
                self.dump();
                return Ok(self.total);
            }
        }
    }
}

/// The PNG row filters the adaptive choice tries, in the png crate's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowFilter {
    Sub = 1,
    Up = 2,
    Avg = 3,
    Paeth = 4,
}

/// The PNG Paeth predictor of `a` (left), `b` (up), `c` (up-left).
#[inline]
fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let (ia, ib, ic) = (i16::from(a), i16::from(b), i16::from(c));
    let p = ia + ib - ic;
    let (pa, pb, pc) = ((p - ia).abs(), (p - ib).abs(), (p - ic).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// Filters row `cur` (previous row `prev`, `bpp` bytes per pixel) with `filter` into `out`.
fn filter_row(filter: RowFilter, bpp: usize, prev: &[u8], cur: &[u8], out: &mut [u8]) {
    let lead = bpp.min(cur.len());
    match filter {
        RowFilter::Up => {
            for ((o, &c), &p) in out.iter_mut().zip(cur).zip(prev) {
                *o = c.wrapping_sub(p);
            }
        }
        RowFilter::Sub => {
            out[..lead].copy_from_slice(&cur[..lead]);
            for ((o, &c), &a) in out[lead..].iter_mut().zip(&cur[lead..]).zip(cur) {
                *o = c.wrapping_sub(a);
            }
        }
        RowFilter::Avg => {
            for i in 0..lead {
                out[i] = cur[i].wrapping_sub(prev[i] / 2);
            }
            for (((o, &c), &a), &p) in out[lead..].iter_mut().zip(&cur[lead..]).zip(cur).zip(&prev[lead..]) {
                *o = c.wrapping_sub(((u16::from(a) + u16::from(p)) / 2) as u8);
            }
        }
        RowFilter::Paeth => {
            for i in 0..lead {
                out[i] = cur[i].wrapping_sub(paeth(0, prev[i], 0));
            }
            for ((((o, &x), &a), &b), &c) in out[lead..]
                .iter_mut()
                .zip(&cur[lead..])
                .zip(cur)
                .zip(&prev[lead..])
                .zip(prev)
            {
                *o = x.wrapping_sub(paeth(a, b, c));
            }
        }
    }
}

/// The png crate's adaptive-filter cost: Σ |byte as i8|.
fn filter_cost(row: &[u8]) -> u64 {
    // u32 sums over chunks (≤ 128·2^16 each) vectorise four times wider than u64 ones.
    row.chunks(1 << 16)
        .map(|chunk| u64::from(chunk.iter().map(|&b| u32::from((b as i8).unsigned_abs())).sum::<u32>()))
        .sum()
}

/// PNG-encoded byte size / raw byte size (`H·W·channels`, alpha dropped), for the PNG
/// the `image` crate writes at default compression with adaptive filtering (see the
/// module doc); `scratch` is reused between images.
pub fn compress_ratio(image: &ImageView, scratch: &mut CompressScratch) -> f64 {
    if image.is_empty() {
        return 0.0;
    }
    let bpp = image.channels;
    let row_len = image.width * bpp;
    let CompressScratch {
        zlib,
        zeros,
        trial,
        best,
        out,
    } = scratch;
    zeros.clear();
    zeros.resize(row_len, 0);
    trial.resize(row_len, 0);
    best.resize(row_len, 0);
    let zlib = zlib.get_or_insert_with(|| Compress::new(Compression::new(ZLIB_LEVEL), true));
    zlib.reset();
    let mut deflater = Deflater {
        zlib,
        buf: out,
        total: 0,
    };
    let mut prev: &[u8] = zeros;
    let mut deflate_rows = || {
        for cur in image.pixels.chunks_exact(row_len) {
            let mut min_cost = u64::MAX;
            let mut choice = RowFilter::Up;
            for filter in [RowFilter::Up, RowFilter::Sub, RowFilter::Avg, RowFilter::Paeth] {
                filter_row(filter, bpp, prev, cur, trial);
                let cost = filter_cost(trial);
                if cost <= min_cost {
                    min_cost = cost;
                    choice = filter;
                    std::mem::swap(trial, best);
                    if cost == 0 {
                        break;
                    }
                }
            }
            deflater.write_all(&[choice as u8])?;
            deflater.write_all(best)?;
            prev = cur;
        }
        deflater.finish()
    };
    // Deflating an in-memory buffer cannot fail short of a broken stream state; report
    // the raw size (ratio 1) rather than panic if it ever does.
    let Ok(zlib_len) = deflate_rows() else {
        return 1.0;
    };
    let png_len = PNG_FIXED_BYTES + zlib_len + 12 * zlib_len.div_ceil(MAX_IDAT_LEN).max(1);
    png_len as f64 / image.pixels.len() as f64
}

#[cfg(test)]
mod tests {
    use image::{
        ExtendedColorType, ImageEncoder,
        codecs::png::{CompressionType, FilterType, PngEncoder},
    };

    use super::*;

    fn lcg_bytes(n: usize, seed: u32, spread: u32) -> Vec<u8> {
        let mut state = seed;
        (0..n)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                // A smooth ramp plus noise, so every filter wins somewhere.
                ((i as u32 / 7) % 200 + (state >> 24) % spread.max(1)) as u8
            })
            .collect()
    }

    fn png_encoder_size(view: &ImageView) -> usize {
        let mut out = Vec::new();
        let color = if view.channels == 1 {
            ExtendedColorType::L8
        } else {
            ExtendedColorType::Rgb8
        };
        PngEncoder::new_with_quality(&mut out, CompressionType::Default, FilterType::Adaptive)
            .write_image(view.pixels, view.width as u32, view.height as u32, color)
            .unwrap();
        out.len()
    }

    #[test]
    fn flat_images_compress_far_better_than_noise() {
        let mut scratch = CompressScratch::default();
        let flat = [128u8; 3 * 64 * 64];
        let flat_ratio = compress_ratio(&ImageView::rgb(64, 64, &flat).unwrap(), &mut scratch);
        let noise = lcg_bytes(3 * 64 * 64, 1, 256);
        let noise_ratio = compress_ratio(&ImageView::rgb(64, 64, &noise).unwrap(), &mut scratch);
        assert!(flat_ratio < 0.05, "{flat_ratio}");
        assert!(noise_ratio > 0.95, "{noise_ratio}");
    }

    #[test]
    fn paeth_follows_the_png_specification() {
        // p = a + b − c; the nearest of a, b, c to p, ties in the order a, b, c.
        assert_eq!(paeth(10, 20, 15), 15); // p = 15
        assert_eq!(paeth(10, 20, 10), 20); // p = 20
        assert_eq!(paeth(20, 10, 10), 20); // p = 20
        assert_eq!(paeth(0, 7, 0), 7);
        assert_eq!(paeth(255, 0, 255), 0); // p = 0
        assert_eq!(paeth(100, 100, 50), 100); // p = 150, a and b tie: a
    }

    #[test]
    fn size_matches_the_png_encoder() {
        // The same file size as PngEncoder for RGB and grey, odd sizes, a row of one
        // pixel, flat, smooth and noisy content, one scratch reused throughout.
        let mut scratch = CompressScratch::default();
        for (i, &(w, h)) in [
            (32, 32),
            (1, 1),
            (1, 9),
            (9, 1),
            (17, 5),
            (64, 48),
            (3, 200),
            (300, 200),
        ]
        .iter()
        .enumerate()
        {
            for spread in [1, 3, 40, 256] {
                for channels in [1, 3] {
                    let px = lcg_bytes(w * h * channels, i as u32 * 31 + spread, spread);
                    let view = if channels == 1 {
                        ImageView::grey(w, h, &px).unwrap()
                    } else {
                        ImageView::rgb(w, h, &px).unwrap()
                    };
                    let expected = png_encoder_size(&view) as f64 / px.len() as f64;
                    let got = compress_ratio(&view, &mut scratch);
                    assert_eq!(got, expected, "{w}×{h}×{channels}, spread {spread}");
                }
            }
        }
    }
}
