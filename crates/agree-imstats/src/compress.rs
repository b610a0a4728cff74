//! PNG compressibility: encoded size over raw size, a standard complexity proxy.

use image::{
    ExtendedColorType, ImageEncoder,
    codecs::png::{CompressionType, FilterType, PngEncoder},
};

use crate::image::ImageView;

/// PNG-encoded byte size / raw byte size (`H·W·channels`, alpha dropped). Encoded with
/// the `image` crate's PNG encoder at zlib-like default compression (level 6) and
/// adaptive filtering; `buffer` is reused between images.
pub fn compress_ratio(image: &ImageView, buffer: &mut Vec<u8>) -> f64 {
    if image.is_empty() {
        return 0.0;
    }
    buffer.clear();
    let color = if image.channels == 1 {
        ExtendedColorType::L8
    } else {
        ExtendedColorType::Rgb8
    };
    let encoder = PngEncoder::new_with_quality(&mut *buffer, CompressionType::Default, FilterType::Adaptive);
    // Encoding valid in-memory pixels into a Vec cannot fail short of running out of
    // memory; report the raw size (ratio 1) rather than panic if it ever does.
    if encoder
        .write_image(image.pixels, image.width as u32, image.height as u32, color)
        .is_err()
    {
        return 1.0;
    }
    buffer.len() as f64 / image.pixels.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_images_compress_far_better_than_noise() {
        let mut buf = Vec::new();
        let flat = [128u8; 3 * 64 * 64];
        let flat_ratio = compress_ratio(&ImageView::rgb(64, 64, &flat).unwrap(), &mut buf);
        let mut state = 1u32;
        let noise: Vec<u8> = (0..3 * 64 * 64)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8
            })
            .collect();
        let noise_ratio = compress_ratio(&ImageView::rgb(64, 64, &noise).unwrap(), &mut buf);
        assert!(flat_ratio < 0.05, "{flat_ratio}");
        assert!(noise_ratio > 0.95, "{noise_ratio}");
    }
}
