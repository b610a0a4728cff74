//! Image header + decode + every statistic, as `agree stats` does per row
//! (`agree_imstats::stage::measure_encoded`), optionally resized first.
//! Input: byte 0 picks the `samples.format` (jpeg, png, bmp, gif, tiff, webp, rgb8);
//! byte 1 = 0 for no `--resize`, else both sides are byte 1 % 64 (0 included);
//! for rgb8 bytes 2 and 3 are the width and height; the rest is the image.
#![no_main]

use std::io::Cursor;

use agree_imstats::{Selection, StatsParams, stage::measure_encoded};
use image::{ImageFormat, ImageReader};
use libfuzzer_sys::fuzz_target;

const FORMATS: [(&str, Option<ImageFormat>); 7] = [
    ("jpeg", Some(ImageFormat::Jpeg)),
    ("png", Some(ImageFormat::Png)),
    ("bmp", Some(ImageFormat::Bmp)),
    ("gif", Some(ImageFormat::Gif)),
    ("tiff", Some(ImageFormat::Tiff)),
    ("webp", Some(ImageFormat::WebP)),
    ("rgb8", None),
];
/// Largest header-declared size decoded here: bigger images are the stage's pixel
/// budget's concern (memory, not parsing), so they are only read up to the header.
const MAX_PIXELS: u64 = 1 << 18;

fuzz_target!(|data: &[u8]| {
    let [pick, resize, rest @ ..] = data else { return };
    let (format, image_format) = FORMATS[usize::from(*pick) % FORMATS.len()];
    let resize = (*resize != 0).then(|| (usize::from(resize % 64), usize::from(resize % 64)));
    let (width, height, bytes) = match (image_format, rest) {
        (None, [w, h, bytes @ ..]) => (usize::from(*w), usize::from(*h), bytes),
        (None, _) => return,
        (Some(f), bytes) => {
            let Ok((w, h)) = ImageReader::with_format(Cursor::new(bytes), f).into_dimensions() else {
                return;
            };
            if u64::from(w) * u64::from(h) > MAX_PIXELS {
                return;
            }
            (0, 0, bytes)
        }
    };
    let _ = measure_encoded(
        bytes,
        format,
        width,
        height,
        resize,
        Selection::all(),
        &StatsParams::default(),
    );
});
