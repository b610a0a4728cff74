//! One sample's bytes as 8-bit RGB pixels (decoded by agree-schema's one decoder of
//! `samples.image`), resized as the pipeline asks.

use agree_schema::sample_image::DecodedImage;
use image::{RgbImage, imageops::FilterType};

use crate::samples::Encoding;

/// 8-bit RGB pixels: interleaved row-major H×W×3 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbPixels {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// H×W×3 bytes.
    pub rgb: Vec<u8>,
}

/// Decodes image bytes to 8-bit RGB (grey repeated in each channel, alpha dropped,
/// 16-bit scaled to 8), refusing an image of more than `max_pixels` from its header
/// (or stored size, for `rgb8`) before decoding it.
pub fn decode(bytes: &[u8], encoding: Encoding, stored_size: (u32, u32), max_pixels: u64) -> Result<RgbPixels, String> {
    let mut img = DecodedImage::new();
    img.decode_within(
        bytes,
        encoding.format(),
        stored_size.0 as usize,
        stored_size.1 as usize,
        max_pixels,
    )
    .map_err(|e| e.to_string())?;
    let (width, height) = (img.view().width, img.view().height);
    Ok(RgbPixels {
        width,
        height,
        rgb: img.into_rgb(),
    })
}

/// Size after resizing the shorter side to `shorter` (torchvision's `Resize(int)`:
/// the longer side is scaled and truncated).
pub fn resized_size(width: u32, height: u32, shorter: Option<u32>) -> (u32, u32) {
    let Some(s) = shorter else {
        return (width, height);
    };
    if width <= height {
        (
            s,
            ((u64::from(s) * u64::from(height)) / u64::from(width.max(1))).max(1) as u32,
        )
    } else {
        (
            ((u64::from(s) * u64::from(width)) / u64::from(height.max(1))).max(1) as u32,
            s,
        )
    }
}

/// Resizes (bilinear) so that the shorter side is `shorter` pixels; no-op when it already is.
pub fn resize_shorter(img: RgbPixels, shorter: Option<u32>) -> RgbPixels {
    let (w, h) = resized_size(img.width as u32, img.height as u32, shorter);
    if (w as usize, h as usize) == (img.width, img.height) {
        return img;
    }
    let Some(src) = RgbImage::from_raw(img.width as u32, img.height as u32, img.rgb) else {
        // The buffer length is fixed by construction; an empty image is the only honest answer otherwise.
        return RgbPixels {
            width: 0,
            height: 0,
            rgb: Vec::new(),
        };
    };
    let out = image::imageops::resize(&src, w, h, FilterType::Triangle);
    RgbPixels {
        width: w as usize,
        height: h as usize,
        rgb: out.into_raw(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn shorter_side_is_resized_and_aspect_kept() {
        assert_eq!(resized_size(500, 375, Some(256)), (341, 256));
        assert_eq!(resized_size(375, 500, Some(256)), (256, 341));
        assert_eq!(resized_size(32, 32, None), (32, 32));
    }

    #[test]
    fn raw_rgb_is_checked_for_length() {
        assert!(decode(&[0; 12], Encoding::Rgb8, (2, 2), 4).is_ok());
        let err = decode(&[0; 11], Encoding::Rgb8, (2, 2), 4).unwrap_err();
        assert!(err.contains("found 11"), "{err}");
        let err = decode(&[0; 12], Encoding::Rgb8, (2, 2), 3).unwrap_err();
        assert!(err.contains("2×2 = 4 pixels exceeds the budget of 3"), "{err}");
    }

    /// The one decoder gives exactly what `image`'s own conversion to 8-bit RGB gave
    /// (this stage's decoding before it): grey repeated, alpha dropped, 16 bits rounded.
    #[test]
    fn decoded_pixels_are_images_own_rgb8() {
        let grey16 = image::ImageBuffer::<image::LumaA<u16>, _>::from_fn(7, 3, |x, y| {
            image::LumaA([(x * 9001 + y * 777) as u16, 3])
        });
        let rgba = image::RgbaImage::from_fn(5, 4, |x, y| image::Rgba([x as u8 * 40, y as u8 * 60, 7, 128]));
        let rgb16 = image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(4, 4, |x, y| {
            image::Rgb([(x * 16411) as u16, (y * 21000) as u16, 65535])
        });
        let grey = image::GrayImage::from_fn(3, 2, |x, y| image::Luma([(x * 50 + y) as u8]));
        for img in [
            image::DynamicImage::from(grey16),
            rgba.into(),
            rgb16.into(),
            grey.into(),
        ] {
            let mut png = Cursor::new(Vec::new());
            img.write_to(&mut png, image::ImageFormat::Png).unwrap();
            let ours = decode(png.get_ref(), Encoding::File(image::ImageFormat::Png), (0, 0), 1 << 20).unwrap();
            let theirs = img.to_rgb8();
            assert_eq!((ours.width as u32, ours.height as u32), theirs.dimensions());
            assert_eq!(ours.rgb, theirs.into_raw(), "{:?}", img.color());
        }
    }

    #[test]
    fn resizing_a_constant_image_keeps_its_value() {
        let img = RgbPixels {
            width: 4,
            height: 2,
            rgb: vec![77; 24],
        };
        let r = resize_shorter(img, Some(4));
        assert_eq!((r.width, r.height), (8, 4));
        assert!(r.rgb.iter().all(|&v| v == 77));
    }
}
