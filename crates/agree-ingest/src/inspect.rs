//! Decoding an image once to validate it and read its size and pixel layout, with
//! the decoder every stage reads `samples.image` through
//! ([`agree_schema::sample_image`]): what ingest accepts, the later stages can decode.

use std::io::Cursor;

use agree_schema::sample_image::{DecodedImage, ImageError};
use image::{ImageFormat, ImageReader};

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

/// The pixel budget of the validation decode when none is given: 64 Mpx
/// (64·2²⁰, ingest's budget since before the shared decoder, whose own default,
/// [`agree_schema::sample_image::DEFAULT_MAX_PIXELS`], is 64·10⁶).
pub const DEFAULT_MAX_PIXELS: u64 = 64 << 20;

/// Decodes `bytes` fully (so truncated or corrupt data is caught) and reports its
/// layout. The encoding is recognised from the content; the size is read from the
/// header first: an image of more than `max_pixels` pixels is refused before
/// anything is decoded. The error is a human-readable reason.
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
    decode_info(bytes, format_str, 0, 0, max_pixels)
}

/// Validates raw interleaved RGB bytes of the given size (raw records have no
/// pixel budget: their size is the format reader's).
pub fn inspect_rgb8(width: u32, height: u32, pixels: &[u8]) -> Result<ImageInfo, String> {
    decode_info(pixels, "rgb8", width, height, u64::MAX)
}

/// Decodes `bytes` as `format` with the shared decoder and records what ingest keeps
/// of it: the size and the layout the image is stored in.
fn decode_info(
    bytes: &[u8],
    format: &'static str,
    width: u32,
    height: u32,
    max_pixels: u64,
) -> Result<ImageInfo, String> {
    let mut decoded = DecodedImage::new();
    decoded
        .decode_within(bytes, format, width as usize, height as usize, max_pixels)
        .map_err(reason)?;
    let view = decoded.view();
    let (channels, bit_depth) = decoded.stored_layout();
    Ok(ImageInfo {
        width: view.width as u32,
        height: view.height as u32,
        channels,
        bit_depth,
        format,
    })
}

/// The reason `rejects.parquet` and ingest's errors give for an image the decoder
/// refused.
fn reason(e: ImageError) -> String {
    match e {
        ImageError::UnknownFormat(format) => format!("unsupported image format {format}"),
        ImageError::Undecodable { format, message } => format!("corrupt or truncated {format}: {message}"),
        ImageError::ZeroSized { .. } => "zero-sized image".into(),
        ImageError::RawSize {
            width,
            height,
            expected,
            found,
        } => format!("raw RGB image of {width}x{height} needs {expected} bytes, found {found}"),
        ImageError::TooLarge {
            width,
            height,
            pixels,
            max_pixels,
        } => format!(
            "{width}x{height} = {pixels} pixels exceeds the pixel budget of {max_pixels} (raise it with --max-pixels)"
        ),
    }
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
