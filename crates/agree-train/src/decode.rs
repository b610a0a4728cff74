//! Decoding one sample's bytes to 8-bit RGB, resized as the pipeline asks.

use image::{RgbImage, imageops::FilterType};

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

/// Decodes image bytes (grey, alpha and 16-bit images become 8-bit RGB).
pub fn decode(bytes: &[u8], encoding: Encoding, stored_size: (u32, u32)) -> Result<DecodedImage, String> {
    match encoding {
        Encoding::Rgb8 => {
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
            let img = image::load_from_memory_with_format(bytes, format).map_err(|e| format!("cannot decode: {e}"))?;
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
        assert!(decode(&[0; 12], Encoding::Rgb8, (2, 2)).is_ok());
        let err = decode(&[0; 11], Encoding::Rgb8, (2, 2)).unwrap_err();
        assert!(err.contains("11 bytes"), "{err}");
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
