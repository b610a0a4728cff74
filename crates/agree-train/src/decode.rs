//! Decoding one sample's bytes to 8-bit RGB, resized as the pipeline asks.

use std::io::Cursor;

use agree_imstats::image::check_pixel_budget;
use image::{ImageReader, RgbImage, imageops::FilterType};

use crate::samples::Encoding;

/// A decoded image: interleaved row-major H×W×3 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// H×W×3 bytes.
    pub rgb: Vec<u8>,
}

/// Decodes image bytes (grey, alpha and 16-bit images become 8-bit RGB), refusing an
/// image of more than `max_pixels` from its header (or stored size, for `rgb8`) first.
pub fn decode(
    bytes: &[u8],
    encoding: Encoding,
    stored_size: (u32, u32),
    max_pixels: u64,
) -> Result<DecodedImage, String> {
    match encoding {
        Encoding::Rgb8 => {
            check_pixel_budget(u64::from(stored_size.0), u64::from(stored_size.1), max_pixels)
                .map_err(|e| e.to_string())?;
            let (w, h) = (stored_size.0 as usize, stored_size.1 as usize);
            if bytes.len() != w * h * 3 {
                return Err(format!(
                    "rgb8 image holds {} bytes, expected {w}×{h}×3 = {}",
                    bytes.len(),
                    w * h * 3
                ));
            }
            Ok(DecodedImage {
                width: w,
                height: h,
                rgb: bytes.to_vec(),
            })
        }
        Encoding::File(format) => {
            let undecodable = |e: image::ImageError| format!("cannot decode: {e}");
            let (w, h) = ImageReader::with_format(Cursor::new(bytes), format)
                .into_dimensions()
                .map_err(undecodable)?;
            check_pixel_budget(u64::from(w), u64::from(h), max_pixels).map_err(|e| e.to_string())?;
            // The budget above bounds the allocation; the crate's own 512 MiB cap would
            // refuse images the user raised --max-pixels for.
            let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
            reader.no_limits();
            let img = reader.decode().map_err(undecodable)?;
            let rgb = img.to_rgb8();
            Ok(DecodedImage {
                width: rgb.width() as usize,
                height: rgb.height() as usize,
                rgb: rgb.into_raw(),
            })
        }
    }
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
pub fn resize_shorter(img: DecodedImage, shorter: Option<u32>) -> DecodedImage {
    let (w, h) = resized_size(img.width as u32, img.height as u32, shorter);
    if (w as usize, h as usize) == (img.width, img.height) {
        return img;
    }
    let Some(src) = RgbImage::from_raw(img.width as u32, img.height as u32, img.rgb) else {
        // The buffer length is fixed by construction; an empty image is the only honest answer otherwise.
        return DecodedImage {
            width: 0,
            height: 0,
            rgb: Vec::new(),
        };
    };
    let out = image::imageops::resize(&src, w, h, FilterType::Triangle);
    DecodedImage {
        width: w as usize,
        height: h as usize,
        rgb: out.into_raw(),
    }
}

#[cfg(test)]
mod tests {
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
        assert!(err.contains("11 bytes"), "{err}");
        let err = decode(&[0; 12], Encoding::Rgb8, (2, 2), 3).unwrap_err();
        assert!(err.contains("2×2 = 4 pixels exceeds the budget of 3"), "{err}");
    }

    #[test]
    fn resizing_a_constant_image_keeps_its_value() {
        let img = DecodedImage {
            width: 4,
            height: 2,
            rgb: vec![77; 24],
        };
        let r = resize_shorter(img, Some(4));
        assert_eq!((r.width, r.height), (8, 4));
        assert!(r.rgb.iter().all(|&v| v == 77));
    }
}
