//! Decoding an image once to validate it and read its size and pixel layout.

use std::io::Cursor;

use image::{ColorType, ImageFormat, ImageReader};

/// What ingest records about a decoded image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Stored channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA).
    pub channels: u8,
    /// Bits per channel.
    pub bit_depth: u8,
    /// Encoding name stored in `samples.format`.
    pub format: &'static str,
}

/// The `samples.format` name of an encoding.
pub fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Png => "png",
        ImageFormat::Bmp => "bmp",
        ImageFormat::Gif => "gif",
        ImageFormat::Tiff => "tiff",
        ImageFormat::WebP => "webp",
        _ => "other",
    }
}

/// Whether a file name has an image extension this crate decodes.
pub fn has_image_extension(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// The pixel budget of the validation decode when none is given: 64 Mpx.
pub const DEFAULT_MAX_PIXELS: u64 = 64 << 20;

/// Decodes `bytes` fully (so truncated or corrupt data is caught) and reports its
/// layout. The size is read from the header first: an image of more than
/// `max_pixels` pixels is refused before anything is decoded. The error is a
/// human-readable reason.
pub fn inspect_encoded(bytes: &[u8], max_pixels: u64) -> Result<ImageInfo, String> {
    if bytes.is_empty() {
        return Err("empty file".into());
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("unreadable image: {e}"))?;
    let Some(format) = reader.format() else {
        return Err("not an image (unrecognised content)".into());
    };
    let format_str = format_name(format);
    if format_str == "other" {
        return Err(format!("unsupported image format {format:?}"));
    }
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| format!("corrupt or truncated {format_str}: {e}"))?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(format!(
            "{width}x{height} = {pixels} pixels exceeds the pixel budget of {max_pixels} (raise it with --max-pixels)"
        ));
    }
    let mut reader = reader;
    let mut limits = image::Limits::default();
    // 16-bit RGBA is 8 bytes a pixel; the budget bounds what the decoder may allocate.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| format!("corrupt or truncated {format_str}: {e}"))?;
    if img.width() == 0 || img.height() == 0 {
        return Err("zero-sized image".into());
    }
    let (channels, bit_depth) = layout(img.color());
    Ok(ImageInfo {
        width: img.width(),
        height: img.height(),
        channels,
        bit_depth,
        format: format_str,
    })
}

/// Validates raw interleaved RGB bytes of the given size.
pub fn inspect_rgb8(width: u32, height: u32, pixels: &[u8]) -> Result<ImageInfo, String> {
    let expected = width as usize * height as usize * 3;
    if width == 0 || height == 0 {
        return Err("zero-sized image".into());
    }
    if pixels.len() != expected {
        return Err(format!(
            "raw RGB image of {width}x{height} needs {expected} bytes, found {}",
            pixels.len()
        ));
    }
    Ok(ImageInfo {
        width,
        height,
        channels: 3,
        bit_depth: 8,
        format: "rgb8",
    })
}

fn layout(color: ColorType) -> (u8, u8) {
    let channels = color.channel_count();
    let bits = (color.bits_per_pixel() / channels as u16) as u8;
    (channels, bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn reads_size_and_layout() {
        let info = inspect_encoded(&png(5, 3), DEFAULT_MAX_PIXELS).unwrap();
        assert_eq!(
            info,
            ImageInfo {
                width: 5,
                height: 3,
                channels: 3,
                bit_depth: 8,
                format: "png"
            }
        );
        let mut out = Cursor::new(Vec::new());
        image::ImageBuffer::<image::Luma<u16>, _>::from_fn(2, 2, |x, _| image::Luma([x as u16 * 1000]))
            .write_to(&mut out, ImageFormat::Png)
            .unwrap();
        let info16 = inspect_encoded(out.get_ref(), DEFAULT_MAX_PIXELS).unwrap();
        assert_eq!((info16.channels, info16.bit_depth), (1, 16));
    }

    /// CRC-32 (IEEE) as PNG chunks use it.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn an_image_over_the_pixel_budget_is_refused_from_its_header() {
        let err = inspect_encoded(&png(40, 30), 1199).unwrap_err();
        assert!(
            err.contains("40x30 = 1200 pixels") && err.contains("--max-pixels"),
            "{err}"
        );
        assert!(inspect_encoded(&png(40, 30), 1200).is_ok());
        // A header claiming 60000x60000 over a few bytes of data: refused, not decoded.
        let mut huge = png(1, 1);
        huge[16..20].copy_from_slice(&60000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&60000u32.to_be_bytes());
        let crc = crc32(&huge[12..29]);
        huge[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = inspect_encoded(&huge, DEFAULT_MAX_PIXELS).unwrap_err();
        assert!(err.contains("60000x60000"), "{err}");
    }

    #[test]
    fn rejects_truncated_and_foreign_bytes() {
        let full = png(16, 16);
        let err = inspect_encoded(&full[..full.len() / 2], DEFAULT_MAX_PIXELS).unwrap_err();
        assert!(err.contains("corrupt or truncated png"), "{err}");
        assert!(
            inspect_encoded(b"hello, this is text", DEFAULT_MAX_PIXELS)
                .unwrap_err()
                .contains("not an image")
        );
        assert!(inspect_encoded(b"", DEFAULT_MAX_PIXELS).unwrap_err().contains("empty"));
        assert!(inspect_rgb8(2, 2, &[0; 11]).unwrap_err().contains("needs 12 bytes"));
    }
}
