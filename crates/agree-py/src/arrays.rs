//! NumPy arrays (anything with the buffer protocol) into owned Rust data. The Python
//! layer turns torch tensors and lists into arrays first; here only shapes and
//! element types are checked.

use pyo3::{buffer::PyBuffer, prelude::*};

use crate::error::refuse;

/// A dense row-major array copied out of Python.
pub struct Dense<T> {
    /// The elements, C order.
    pub values: Vec<T>,
    /// The shape.
    pub shape: Vec<usize>,
}

fn dtype_of(obj: &Bound<'_, PyAny>) -> String {
    obj.getattr("dtype")
        .map(|d| d.to_string())
        .unwrap_or_else(|_| obj.get_type().to_string())
}

/// Copies a buffer of `T`s; `what` names the argument in errors.
pub fn dense<T: pyo3::buffer::Element + Copy>(obj: &Bound<'_, PyAny>, what: &str, want: &str) -> PyResult<Dense<T>> {
    let buffer = PyBuffer::<T>::get(obj)
        .map_err(|_| refuse(format!("{what} must be an array of {want}, got {}", dtype_of(obj))))?;
    Ok(Dense {
        shape: buffer.shape().to_vec(),
        values: buffer.to_vec(obj.py())?,
    })
}

/// An image as the statistics see it: 8-bit grey (1 channel) or RGB (3).
pub struct OwnedImage {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub pixels: Vec<u8>,
}

impl OwnedImage {
    /// The view `agree-imstats` measures.
    pub fn view(&self) -> agree_imstats::ImageView<'_> {
        agree_imstats::ImageView {
            width: self.width,
            height: self.height,
            channels: self.channels,
            pixels: &self.pixels,
        }
    }
}

/// 16-bit samples to 8 bits exactly as `agree stats` decodes 16-bit files:
/// ⌊v·255/65535 + ½⌋.
fn to_u8(v: u16) -> u8 {
    ((u32::from(v) * 255 + 32767) / 65535) as u8
}

/// Reads an H×W or H×W×C (C = 1, 2, 3, 4) uint8 or uint16 array. Alpha is dropped
/// (C = 2 → grey, C = 4 → RGB), as when `agree stats` decodes a file.
pub fn image(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<OwnedImage> {
    let Some(read) = samples_8bit(obj) else {
        return Err(refuse(format!(
            "{what} must be a uint8 or uint16 array, got {}",
            dtype_of(obj)
        )));
    };
    let (shape, samples) = read?;
    from_samples(&shape, samples, what)
}

/// The shape and 8-bit samples of a uint8 or uint16 array (`None` for another type).
fn samples_8bit(obj: &Bound<'_, PyAny>) -> Option<PyResult<(Vec<usize>, Vec<u8>)>> {
    if let Ok(b) = PyBuffer::<u8>::get(obj) {
        Some(b.to_vec(obj.py()).map(|v| (b.shape().to_vec(), v)))
    } else if let Ok(b) = PyBuffer::<u16>::get(obj) {
        Some(
            b.to_vec(obj.py())
                .map(|v| (b.shape().to_vec(), v.into_iter().map(to_u8).collect())),
        )
    } else {
        None
    }
}

/// Splits an N×H×W[×C] batch of samples into images.
pub fn image_batch(obj: &Bound<'_, PyAny>) -> PyResult<Vec<OwnedImage>> {
    let Some(read) = samples_8bit(obj) else {
        return Err(refuse(format!(
            "images must be a list of arrays or a uint8/uint16 N×H×W[×C] array, got {}",
            dtype_of(obj)
        )));
    };
    let (shape, samples) = read?;
    if !(3..=4).contains(&shape.len()) {
        return Err(refuse(format!(
            "an image batch array must be N×H×W or N×H×W×C, got shape {shape:?}"
        )));
    }
    let per_image: usize = shape[1..].iter().product();
    samples
        .chunks(per_image.max(1))
        .take(shape[0])
        .enumerate()
        .map(|(i, chunk)| from_samples(&shape[1..], chunk.to_vec(), &format!("image {i}")))
        .collect()
}

fn from_samples(shape: &[usize], samples: Vec<u8>, what: &str) -> PyResult<OwnedImage> {
    let (height, width, c) = match *shape {
        [h, w] => (h, w, 1),
        [h, w, c] if (1..=4).contains(&c) => (h, w, c),
        _ => {
            return Err(refuse(format!(
                "{what} must be H×W or H×W×C with C in 1..4, got shape {shape:?}"
            )));
        }
    };
    if height == 0 || width == 0 {
        return Err(refuse(format!("{what} is empty ({height}×{width})")));
    }
    let (channels, pixels) = match c {
        1 | 3 => (c, samples),
        2 => (1, samples.chunks_exact(2).map(|p| p[0]).collect()),
        _ => (3, samples.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect()),
    };
    Ok(OwnedImage {
        width,
        height,
        channels,
        pixels,
    })
}
