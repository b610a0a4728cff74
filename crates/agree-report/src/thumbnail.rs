//! Thumbnails of stored sample images and their composition into a grid figure.

use agree_schema::sample_image::DecodedImage;
use base64::Engine;
use image::{RgbImage, imageops::FilterType};

use crate::{figure::encode_png, tables::SampleImage};

/// Side of one thumbnail cell in pixels (CIFAR's 32 px shown at 3×).
pub const THUMB: u32 = 96;
/// Gap between thumbnails in pixels.
const GAP: u32 = 4;

/// Decodes a stored image: an encoded file (`jpeg`, `png`, …) or raw `rgb8` H×W×3
/// bytes, refusing one of more than `max_pixels` from its header before decoding
/// (the one decoder of `samples.image`, [`DecodedImage`]); grey images come back as RGB.
pub fn decode(sample: &SampleImage, max_pixels: u64) -> Result<RgbImage, String> {
    let width = usize::try_from(sample.width).map_err(|_| format!("width {}", sample.width))?;
    let height = usize::try_from(sample.height).map_err(|_| format!("height {}", sample.height))?;
    let mut image = DecodedImage::new();
    image
        .decode_within(&sample.bytes, &sample.format, width, height, max_pixels)
        .map_err(|e| e.to_string())?;
    let view = image.view();
    let (w, h) = (view.width as u32, view.height as u32);
    RgbImage::from_raw(w, h, image.into_rgb()).ok_or_else(|| format!("decoded {w}×{h} image has the wrong size"))
}

/// Scales an image to fit a [`THUMB`]-pixel square: nearest-neighbour enlargement keeps
/// small images' pixels crisp, smooth reduction keeps large ones legible.
pub fn thumbnail(img: &RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return RgbImage::from_pixel(THUMB, THUMB, image::Rgb([255, 255, 255]));
    }
    let scale = (THUMB as f64 / w as f64).min(THUMB as f64 / h as f64);
    let (tw, th) = (
        ((w as f64 * scale).round() as u32).clamp(1, THUMB),
        ((h as f64 * scale).round() as u32).clamp(1, THUMB),
    );
    let filter = if scale >= 1.0 {
        FilterType::Nearest
    } else {
        FilterType::Triangle
    };
    image::imageops::resize(img, tw, th, filter)
}

/// Places thumbnails row by row, `columns` per row, centred in their cells on white.
pub fn grid(thumbs: &[RgbImage], columns: u32) -> RgbImage {
    let columns = columns.max(1);
    let rows = (thumbs.len() as u32).div_ceil(columns).max(1);
    let width = columns * THUMB + (columns + 1) * GAP;
    let height = rows * THUMB + (rows + 1) * GAP;
    let mut canvas = RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    for (i, t) in thumbs.iter().enumerate() {
        let (col, row) = (i as u32 % columns, i as u32 / columns);
        let x = GAP + col * (THUMB + GAP) + (THUMB - t.width().min(THUMB)) / 2;
        let y = GAP + row * (THUMB + GAP) + (THUMB - t.height().min(THUMB)) / 2;
        image::imageops::overlay(&mut canvas, t, i64::from(x), i64::from(y));
    }
    canvas
}

/// The grid as PNG bytes and as an SVG document embedding that PNG (pixels are pixels:
/// a vector format adds nothing but a scalable wrapper).
pub fn encode(canvas: RgbImage) -> Result<(u32, u32, Vec<u8>, String), String> {
    let (w, h) = canvas.dimensions();
    let png = encode_png(w, h, canvas.into_raw())?;
    let data = base64::engine::general_purpose::STANDARD.encode(&png);
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" \
         width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\
         <image width=\"{w}\" height=\"{h}\" style=\"image-rendering:pixelated\" \
         href=\"data:image/png;base64,{data}\" xlink:href=\"data:image/png;base64,{data}\"/></svg>\n"
    );
    Ok((w, h, png, svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(format: &str, w: i32, h: i32, bytes: Vec<u8>) -> SampleImage {
        SampleImage {
            sample_id: 0,
            class_name: "c".into(),
            format: format.into(),
            width: w,
            height: h,
            bytes,
        }
    }

    #[test]
    fn rgb8_is_read_row_major_interleaved() {
        let bytes = vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let img = decode(&sample("rgb8", 2, 2, bytes.clone()), 4).expect("valid");
        assert_eq!(img.get_pixel(1, 0).0, [4, 5, 6]);
        assert_eq!(img.get_pixel(0, 1).0, [7, 8, 9]);
        assert!(decode(&sample("rgb8", 2, 2, vec![0; 5]), 4).is_err());
        let err = decode(&sample("rgb8", 2, 2, bytes), 3).unwrap_err();
        assert!(err.contains("2×2 = 4 pixels exceeds the budget of 3"), "{err}");
    }

    #[test]
    fn encoded_images_decode_and_garbage_fails() {
        let img = RgbImage::from_pixel(3, 2, image::Rgb([9, 8, 7]));
        let png = encode_png(3, 2, img.into_raw()).expect("encode");
        let back = decode(&sample("png", 3, 2, png.clone()), 6).expect("decode");
        assert_eq!(back.dimensions(), (3, 2));
        assert_eq!(back.get_pixel(2, 1).0, [9, 8, 7]);
        assert!(decode(&sample("jpeg", 3, 2, vec![1, 2, 3]), 6).is_err());
        // The header decides, whatever the stored size says.
        let err = decode(&sample("png", 1, 1, png), 5).unwrap_err();
        assert!(err.contains("3×2 = 6 pixels exceeds the budget of 5"), "{err}");
    }

    #[test]
    fn thumbnails_fit_the_cell_and_grid_places_them() {
        let small = thumbnail(&RgbImage::from_pixel(32, 16, image::Rgb([0, 0, 0])));
        assert_eq!(small.dimensions(), (96, 48));
        let big = thumbnail(&RgbImage::from_pixel(500, 1000, image::Rgb([0, 0, 0])));
        assert_eq!(big.dimensions(), (48, 96));
        let g = grid(&[small.clone(), small.clone(), small], 2);
        assert_eq!(g.dimensions(), (2 * 96 + 3 * 4, 2 * 96 + 3 * 4));
        // First thumbnail is centred vertically in its cell: black at its middle, white above it.
        assert_eq!(g.get_pixel(4 + 48, 4 + 48).0, [0, 0, 0]);
        assert_eq!(g.get_pixel(4 + 48, 4 + 10).0, [255, 255, 255]);
    }
}
