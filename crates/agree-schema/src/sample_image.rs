//! The one decoder of `samples.image`: stored bytes (an encoded file, or raw `rgb8`)
//! into 8-bit grey or RGB pixels, interleaved, row-major, in a reusable buffer, with
//! the pixel budget checked from the header before anything is decoded. Ingest
//! validates with it, the statistics and training read pixels through it, and the
//! report draws its thumbnails from it.

use std::io::Cursor;

use image::{ColorType, ImageDecoder, ImageFormat, ImageReader};

/// Default pixel budget per image: 64 Mpx (8000×8000). Every statistic at once needs
/// about 170 bytes of working memory per pixel, so an image at the budget takes ~11 GB.
pub const DEFAULT_MAX_PIXELS: u64 = 64_000_000;

/// A borrowed decoded image: `channels` is 1 (grey) or 3 (RGB), values 0..255.
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// 1 for grey, 3 for RGB.
    pub channels: usize,
    /// `height × width × channels` interleaved bytes.
    pub pixels: &'a [u8],
}

impl<'a> ImageView<'a> {
    /// An RGB view; `None` when `pixels` is not `width × height × 3` bytes.
    pub fn rgb(width: usize, height: usize, pixels: &'a [u8]) -> Option<Self> {
        (pixels.len() == width * height * 3).then_some(ImageView {
            width,
            height,
            channels: 3,
            pixels,
        })
    }

    /// A grey view; `None` when `pixels` is not `width × height` bytes.
    pub fn grey(width: usize, height: usize, pixels: &'a [u8]) -> Option<Self> {
        (pixels.len() == width * height).then_some(ImageView {
            width,
            height,
            channels: 1,
            pixels,
        })
    }

    /// Pixel count.
    pub fn len(&self) -> usize {
        self.width * self.height
    }

    /// Whether the image has no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The (r, g, b) value of pixel `i` (grey images repeat the value).
    #[inline]
    pub fn rgb_at(&self, i: usize) -> (u8, u8, u8) {
        if self.channels == 1 {
            let v = self.pixels[i];
            (v, v, v)
        } else {
            (self.pixels[3 * i], self.pixels[3 * i + 1], self.pixels[3 * i + 2])
        }
    }
}

/// Why one image could not be turned into pixels.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageError {
    /// `samples.format` names no encoding this stage reads.
    #[error("unknown image format `{0}`")]
    UnknownFormat(String),
    /// The decoder refused the bytes.
    #[error("undecodable {format} bytes: {message}")]
    Undecodable {
        /// The declared encoding.
        format: String,
        /// What is wrong.
        message: String,
    },
    /// Width or height is 0.
    #[error("zero-sized image ({width}×{height})")]
    ZeroSized {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
    /// Raw `rgb8` bytes do not match `width × height × 3`.
    #[error("rgb8 image of {width}×{height} needs {expected} bytes, found {found}")]
    RawSize {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        found: usize,
    },
    /// The header announces more pixels than the budget allows (nothing was decoded).
    #[error(
        "image of {width}×{height} = {pixels} pixels exceeds the budget of {max_pixels} pixels (raise it with --max-pixels)"
    )]
    TooLarge {
        /// Width in pixels.
        width: u64,
        /// Height in pixels.
        height: u64,
        /// Pixels of the image.
        pixels: u64,
        /// The largest number of pixels allowed.
        max_pixels: u64,
    },
}

/// The `image` crate's format of a `samples.format` value (`rgb8` has none).
pub fn file_format(format: &str) -> Result<ImageFormat, ImageError> {
    Ok(match format {
        "jpeg" | "jpg" => ImageFormat::Jpeg,
        "png" => ImageFormat::Png,
        "bmp" => ImageFormat::Bmp,
        "gif" => ImageFormat::Gif,
        "tiff" | "tif" => ImageFormat::Tiff,
        "webp" => ImageFormat::WebP,
        other => return Err(ImageError::UnknownFormat(other.to_string())),
    })
}

/// Refuses a `width × height` image above `max_pixels`.
pub fn check_pixel_budget(width: u64, height: u64, max_pixels: u64) -> Result<(), ImageError> {
    let pixels = width.saturating_mul(height);
    if pixels > max_pixels {
        return Err(ImageError::TooLarge {
            width,
            height,
            pixels,
            max_pixels,
        });
    }
    Ok(())
}

/// The size of an encoded image read from its header alone (`rgb8`: the stored
/// `width × height`), checked against `max_pixels` before any pixel is decoded.
pub fn header_size(
    bytes: &[u8],
    format: &str,
    width: usize,
    height: usize,
    max_pixels: u64,
) -> Result<(usize, usize), ImageError> {
    let (w, h) = if format == "rgb8" {
        (width as u64, height as u64)
    } else {
        let reader = ImageReader::with_format(Cursor::new(bytes), file_format(format)?);
        let (w, h) = reader.into_dimensions().map_err(|e| ImageError::Undecodable {
            format: format.to_string(),
            message: e.to_string(),
        })?;
        (u64::from(w), u64::from(h))
    };
    check_pixel_budget(w, h, max_pixels)?;
    Ok((w as usize, h as usize))
}

/// An owned decoded image whose buffers are reused from one image to the next.
#[derive(Debug, Default, Clone)]
pub struct DecodedImage {
    width: usize,
    height: usize,
    channels: usize,
    pixels: Vec<u8>,
    raw: Vec<u8>,
    /// (channels, bits per channel) as stored, see [`DecodedImage::stored_layout`].
    stored: (u8, u8),
}

impl DecodedImage {
    /// An empty image (decode into it).
    pub fn new() -> Self {
        Self::default()
    }

    /// The decoded pixels.
    pub fn view(&self) -> ImageView<'_> {
        ImageView {
            width: self.width,
            height: self.height,
            channels: self.channels,
            pixels: &self.pixels,
        }
    }

    /// The pixels as RGB: grey images repeat their value in each channel.
    pub fn to_rgb(&self) -> Vec<u8> {
        if self.channels == 3 {
            return self.pixels.clone();
        }
        self.pixels.iter().flat_map(|&v| [v, v, v]).collect()
    }

    /// Moves the pixels out as RGB (see [`DecodedImage::to_rgb`]); the buffer is
    /// left empty.
    pub fn into_rgb(mut self) -> Vec<u8> {
        if self.channels == 3 {
            return std::mem::take(&mut self.pixels);
        }
        self.to_rgb()
    }

    /// [`DecodedImage::decode_within`] the default budget of [`DEFAULT_MAX_PIXELS`].
    pub fn decode(&mut self, bytes: &[u8], format: &str, width: usize, height: usize) -> Result<(), ImageError> {
        self.decode_within(bytes, format, width, height, DEFAULT_MAX_PIXELS)
    }

    /// Decodes `bytes` encoded as `format` (a `samples.format` value), refusing an
    /// image whose header announces more than `max_pixels` before decoding it.
    /// `width` and `height` are only used for `rgb8`, whose bytes carry no header.
    /// Alpha is dropped; 16-bit samples are scaled to 0..255 as ⌊v·255/65535 + ½⌋;
    /// float samples are clamped to 0..1 and scaled likewise.
    ///
    /// Three phases: the header check, reading the samples as the file stores them,
    /// and their conversion to 8-bit pixels.
    pub fn decode_within(
        &mut self,
        bytes: &[u8],
        format: &str,
        width: usize,
        height: usize,
        max_pixels: u64,
    ) -> Result<(), ImageError> {
        header_size(bytes, format, width, height, max_pixels)?;
        if format == "rgb8" {
            return self.take_rgb8(bytes, width, height);
        }
        let color = self.read_encoded(bytes, format)?;
        self.convert_samples(color, format)
    }

    /// The layout the last decoded image is stored in, before its conversion to
    /// 8-bit grey or RGB: (channels, bits per channel), e.g. (4, 16) for a 16-bit
    /// RGBA PNG, (3, 8) for `rgb8`.
    pub fn stored_layout(&self) -> (u8, u8) {
        self.stored
    }

    /// Raw `rgb8` bytes: checked against `width × height × 3` and copied.
    fn take_rgb8(&mut self, bytes: &[u8], width: usize, height: usize) -> Result<(), ImageError> {
        let expected = width * height * 3;
        if bytes.len() != expected {
            return Err(ImageError::RawSize {
                width,
                height,
                expected,
                found: bytes.len(),
            });
        }
        self.set_size(width, height, 3)?;
        self.pixels.clear();
        self.pixels.extend_from_slice(bytes);
        self.stored = (3, 8);
        Ok(())
    }

    /// Decodes an encoded file into `raw`, its samples as the decoder yields them,
    /// and sizes the image (1 output channel for grey, 3 for colour); returns the
    /// stored colour type.
    fn read_encoded(&mut self, bytes: &[u8], format: &str) -> Result<ColorType, ImageError> {
        let image_format = file_format(format)?;
        let undecodable = |e: image::ImageError| ImageError::Undecodable {
            format: format.to_string(),
            message: e.to_string(),
        };
        // The pixel budget, checked from the header first, bounds the allocation; the
        // `image` crate's own 512 MiB cap would refuse images the user raised it for.
        let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format);
        reader.no_limits();
        let decoder = reader.into_decoder().map_err(undecodable)?;
        let (w, h) = decoder.dimensions();
        let color = decoder.color_type();
        let total = usize::try_from(decoder.total_bytes()).map_err(|_| ImageError::Undecodable {
            format: format.to_string(),
            message: "image too large for memory".into(),
        })?;
        let channels_in = usize::from(color.channel_count());
        let out_channels = if channels_in <= 2 { 1 } else { 3 };
        self.set_size(w as usize, h as usize, out_channels)?;
        self.raw.resize(total, 0);
        decoder.read_image(&mut self.raw).map_err(undecodable)?;
        Ok(color)
    }

    /// Converts the samples in `raw` (of colour type `color`) into the 8-bit pixels:
    /// alpha dropped, 16-bit and float samples scaled to 0..255.
    fn convert_samples(&mut self, color: ColorType, format: &str) -> Result<(), ImageError> {
        let channels_in = usize::from(color.channel_count());
        let keep = self.channels;
        self.pixels.resize(self.width * self.height * keep, 0);
        match color {
            ColorType::L8 | ColorType::La8 | ColorType::Rgb8 | ColorType::Rgba8 => {
                copy_8bit(&mut self.pixels, &self.raw, channels_in, keep);
            }
            ColorType::L16 | ColorType::La16 | ColorType::Rgb16 | ColorType::Rgba16 => {
                scale_16bit(&mut self.pixels, &self.raw, channels_in, keep);
            }
            ColorType::Rgb32F | ColorType::Rgba32F => scale_float(&mut self.pixels, &self.raw, channels_in, keep),
            other => {
                return Err(ImageError::Undecodable {
                    format: format.to_string(),
                    message: format!("unsupported colour type {other:?}"),
                });
            }
        }
        self.stored = (
            color.channel_count(),
            (color.bits_per_pixel() / u16::from(color.channel_count())) as u8,
        );
        Ok(())
    }

    /// Replaces the pixels with a copy of `view` resized to `width × height`
    /// (bilinear, the `image` crate's triangle filter).
    pub fn resize(&mut self, width: usize, height: usize) -> Result<(), ImageError> {
        if width == self.width && height == self.height {
            return Ok(());
        }
        let (w, h) = (self.width as u32, self.height as u32);
        let pixels = std::mem::take(&mut self.pixels);
        let resized = if self.channels == 1 {
            let buf = image::GrayImage::from_raw(w, h, pixels).ok_or(ImageError::ZeroSized {
                width: self.width,
                height: self.height,
            })?;
            image::imageops::resize(&buf, width as u32, height as u32, image::imageops::FilterType::Triangle).into_raw()
        } else {
            let buf = image::RgbImage::from_raw(w, h, pixels).ok_or(ImageError::ZeroSized {
                width: self.width,
                height: self.height,
            })?;
            image::imageops::resize(&buf, width as u32, height as u32, image::imageops::FilterType::Triangle).into_raw()
        };
        let channels = self.channels;
        self.set_size(width, height, channels)?;
        self.pixels = resized;
        Ok(())
    }

    fn set_size(&mut self, width: usize, height: usize, channels: usize) -> Result<(), ImageError> {
        if width == 0 || height == 0 {
            return Err(ImageError::ZeroSized { width, height });
        }
        self.width = width;
        self.height = height;
        self.channels = channels;
        Ok(())
    }
}

/// 8-bit samples, `channels_in` a pixel, into `pixels` of `keep` channels a pixel
/// (alpha, the last channel, dropped).
fn copy_8bit(pixels: &mut [u8], raw: &[u8], channels_in: usize, keep: usize) {
    if channels_in == keep {
        pixels.copy_from_slice(&raw[..pixels.len()]);
    } else {
        for (dst, src) in pixels.chunks_exact_mut(keep).zip(raw.chunks_exact(channels_in)) {
            dst.copy_from_slice(&src[..keep]);
        }
    }
}

/// Native-endian 16-bit samples (as `read_image` yields them) scaled to 0..255 as
/// ⌊v·255/65535 + ½⌋.
fn scale_16bit(pixels: &mut [u8], raw: &[u8], channels_in: usize, keep: usize) {
    for (dst, src) in pixels.chunks_exact_mut(keep).zip(raw.chunks_exact(2 * channels_in)) {
        for (c, d) in dst.iter_mut().enumerate() {
            let v = u32::from(u16::from_ne_bytes([src[2 * c], src[2 * c + 1]]));
            *d = ((v * 255 + 32767) / 65535) as u8;
        }
    }
}

/// Native-endian f32 samples clamped to 0..1 (non-finite ones to 0) and scaled to
/// 0..255 as ⌊v·255 + ½⌋.
fn scale_float(pixels: &mut [u8], raw: &[u8], channels_in: usize, keep: usize) {
    for (dst, src) in pixels.chunks_exact_mut(keep).zip(raw.chunks_exact(4 * channels_in)) {
        for (c, d) in dst.iter_mut().enumerate() {
            let v = f32::from_ne_bytes([src[4 * c], src[4 * c + 1], src[4 * c + 2], src[4 * c + 3]]);
            let v = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
            *d = (f64::from(v) * 255.0 + 0.5).floor() as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_bytes(img: image::DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn rgba_drops_alpha_and_grey_stays_one_channel() {
        let rgba = image::RgbaImage::from_raw(1, 2, vec![10, 20, 30, 0, 40, 50, 60, 255]).unwrap();
        let mut d = DecodedImage::new();
        d.decode(&png_bytes(rgba.into()), "png", 0, 0).unwrap();
        assert_eq!(
            (d.view().channels, d.view().pixels),
            (3, &[10u8, 20, 30, 40, 50, 60][..])
        );
        let grey = image::GrayAlphaImage::from_raw(2, 1, vec![7, 1, 9, 2]).unwrap();
        d.decode(&png_bytes(grey.into()), "png", 0, 0).unwrap();
        assert_eq!((d.view().channels, d.view().pixels), (1, &[7u8, 9][..]));
        assert_eq!(d.to_rgb(), [7u8, 7, 7, 9, 9, 9]);
        assert_eq!(d.stored_layout(), (2, 8));
    }

    #[test]
    fn sixteen_bit_is_scaled_to_0_255() {
        let img = image::ImageBuffer::<image::Luma<u16>, _>::from_raw(3, 1, vec![0u16, 65535, 257 * 100]).unwrap();
        let mut d = DecodedImage::new();
        d.decode(&png_bytes(image::DynamicImage::ImageLuma16(img)), "png", 0, 0)
            .unwrap();
        assert_eq!(d.view().pixels, &[0u8, 255, 100][..]);
        assert_eq!(d.stored_layout(), (1, 16));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let mut d = DecodedImage::new();
        assert!(matches!(
            d.decode(b"not a jpeg", "jpeg", 0, 0),
            Err(ImageError::Undecodable { .. })
        ));
        assert!(matches!(
            d.decode(&[1, 2], "rgb8", 1, 1),
            Err(ImageError::RawSize { .. })
        ));
        assert!(matches!(d.decode(&[], "rgb8", 0, 5), Err(ImageError::ZeroSized { .. })));
        assert!(matches!(d.decode(&[], "xcf", 1, 1), Err(ImageError::UnknownFormat(_))));
        d.decode(&[1, 2, 3], "rgb8", 1, 1).unwrap();
        assert_eq!(d.view().pixels, &[1u8, 2, 3][..]);
        assert_eq!(d.stored_layout(), (3, 8));
    }
}
