//! Decoded pixels of the samples in use: cached as uint8 when they fit the memory
//! budget (decoded once, in parallel), decoded on demand otherwise.

use std::borrow::Cow;

use agree_schema::sample_image::check_pixel_budget;
use rayon::prelude::*;

use crate::{
    TrainError,
    decode::{RgbPixels, decode, resize_shorter, resized_size},
    samples::SampleTable,
};

/// Where the pixels of each sample come from.
pub struct PixelStore<'a> {
    table: &'a SampleTable,
    resize: Option<u32>,
    max_pixels: u64,
    /// Decoded images by table row, when cached.
    cache: Option<Vec<Option<RgbPixels>>>,
}

impl<'a> PixelStore<'a> {
    /// Decodes `rows` into memory if their resized pixels fit in `budget_bytes`,
    /// otherwise prepares to decode on demand. `on_decoded` is called per image. No
    /// image of more than `max_pixels` pixels is decoded, nor resized to more.
    pub fn build(
        table: &'a SampleTable,
        rows: &[usize],
        resize: Option<u32>,
        max_pixels: u64,
        budget_bytes: usize,
        on_decoded: &(dyn Fn() + Sync),
    ) -> Result<Self, TrainError> {
        let bytes: usize = rows
            .iter()
            .map(|&r| {
                let (w, h) = resized_size(table.size[r].0, table.size[r].1, resize);
                w as usize * h as usize * 3
            })
            .sum();
        let mut store = PixelStore {
            table,
            resize,
            max_pixels,
            cache: None,
        };
        if bytes <= budget_bytes {
            let decoded: Vec<(usize, RgbPixels)> = rows
                .par_iter()
                .map(|&r| {
                    let img = store.decode_row(r)?;
                    on_decoded();
                    Ok((r, img))
                })
                .collect::<Result<_, TrainError>>()?;
            let mut cache: Vec<Option<RgbPixels>> = vec![None; table.len()];
            for (r, img) in decoded {
                cache[r] = Some(img);
            }
            store.cache = Some(cache);
        }
        Ok(store)
    }

    /// Whether pixels are held in memory.
    pub fn is_cached(&self) -> bool {
        self.cache.is_some()
    }

    /// The pixels of table row `row`, resized.
    pub fn get(&self, row: usize) -> Result<Cow<'_, RgbPixels>, TrainError> {
        match self.cache.as_ref().and_then(|c| c.get(row)).and_then(Option::as_ref) {
            Some(img) => Ok(Cow::Borrowed(img)),
            None => self.decode_row(row).map(Cow::Owned),
        }
    }

    fn decode_row(&self, row: usize) -> Result<RgbPixels, TrainError> {
        let t = self.table;
        let bad = |message: String| TrainError::BadSample {
            path: t.path.clone(),
            row,
            sample_id: t.sample_id[row],
            message,
        };
        let img = decode(t.image(row), t.encoding[row], t.size[row], self.max_pixels).map_err(bad)?;
        let (w, h) = resized_size(img.width as u32, img.height as u32, self.resize);
        check_pixel_budget(u64::from(w), u64::from(h), self.max_pixels)
            .map_err(|e| bad(format!("resized to {w}×{h}: {e}")))?;
        Ok(resize_shorter(img, self.resize))
    }
}
