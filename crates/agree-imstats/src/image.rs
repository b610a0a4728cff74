//! Decoded images as the statistics see them: 8-bit grey or RGB, interleaved,
//! row-major. The decoder of `samples.image` is agree-schema's
//! [`agree_schema::sample_image`] (the one every stage uses); its items are
//! re-exported here so that `agree_imstats::image::…` keeps naming them.

pub use agree_schema::sample_image::{
    DEFAULT_MAX_PIXELS, DecodedImage, ImageError, ImageView, check_pixel_budget, file_format, header_size,
};
