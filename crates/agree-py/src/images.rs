//! `agree.image_stats` / `agree.image_stats_batch`: the statistics of `agree stats`
//! on NumPy arrays, computed by the same `agree-imstats` code, so bit for bit equal.

use agree_imstats::{ImageStats, Selection, StatsParams, Workspace, segment::SegmentParams};
use pyo3::{
    prelude::*,
    types::{PyDict, PyList, PyString},
};
use rayon::prelude::*;

use crate::{
    arrays::{OwnedImage, image, image_batch},
    error::{refuse, to_py},
};

/// `stats` as `agree stats --stats` reads it: None (all), a comma-separated string, or a list.
fn selection(stats: Option<&Bound<'_, PyAny>>) -> PyResult<Selection> {
    let Some(stats) = stats.filter(|s| !s.is_none()) else {
        return Ok(Selection::all());
    };
    let list = if let Ok(s) = stats.cast::<PyString>() {
        s.to_str()?.to_string()
    } else {
        stats.extract::<Vec<String>>()?.join(",")
    };
    Selection::parse(&list).map_err(refuse)
}

fn params(entropy_window: usize, segment_sigma: f32, segment_k: f32, segment_min_size: usize) -> PyResult<StatsParams> {
    if entropy_window == 0 {
        return Err(refuse("entropy_window must be at least 1"));
    }
    Ok(StatsParams {
        entropy_window,
        segment: SegmentParams {
            sigma: segment_sigma,
            k: segment_k,
            min_size: segment_min_size,
        },
        ..StatsParams::default()
    })
}

fn measure(
    ws: &mut Workspace,
    img: &OwnedImage,
    selection: Selection,
    params: &StatsParams,
) -> Result<ImageStats, String> {
    let stats = ws.compute(&img.view(), selection, params);
    stats.check_finite(selection).map_err(|e| e.to_string())?;
    Ok(stats)
}

/// The `stats` columns of one image (and `spectrum`, the `spectra` row) as a dict.
fn to_dict<'py>(py: Python<'py>, stats: &ImageStats, selection: Selection) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for column in selection.columns() {
        match (column, stats.segment_count) {
            ("segment_count", Some(n)) => d.set_item(column, n)?,
            _ => d.set_item(column, stats.column(column))?,
        }
    }
    if let Some(power) = stats.spectrum {
        d.set_item("spectrum", power.to_vec())?;
    }
    Ok(d)
}

/// Image statistics of one H×W or H×W×C uint8/uint16 array (see the package docs).
#[pyfunction]
#[pyo3(signature = (array, stats=None, *, entropy_window=10, segment_sigma=0.5, segment_k=500.0, segment_min_size=20))]
pub fn image_stats<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
    stats: Option<&Bound<'py, PyAny>>,
    entropy_window: usize,
    segment_sigma: f32,
    segment_k: f32,
    segment_min_size: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let selection = selection(stats)?;
    let params = params(entropy_window, segment_sigma, segment_k, segment_min_size)?;
    let img = image(array, "array")?;
    let result = py
        .detach(|| measure(&mut Workspace::new(), &img, selection, &params))
        .map_err(refuse)?;
    to_dict(py, &result, selection)
}

/// Image statistics of many images in parallel, without the GIL (see the package docs).
#[pyfunction]
#[pyo3(signature = (images, stats=None, *, threads=None, entropy_window=10, segment_sigma=0.5, segment_k=500.0, segment_min_size=20))]
#[allow(clippy::too_many_arguments)]
pub fn image_stats_batch<'py>(
    py: Python<'py>,
    images: &Bound<'py, PyAny>,
    stats: Option<&Bound<'py, PyAny>>,
    threads: Option<usize>,
    entropy_window: usize,
    segment_sigma: f32,
    segment_k: f32,
    segment_min_size: usize,
) -> PyResult<Bound<'py, PyList>> {
    let selection = selection(stats)?;
    let params = params(entropy_window, segment_sigma, segment_k, segment_min_size)?;
    let owned: Vec<OwnedImage> = if images.cast::<PyList>().is_ok() || images.is_instance_of::<pyo3::types::PyTuple>() {
        images
            .try_iter()?
            .enumerate()
            .map(|(i, item)| image(&item?, &format!("image {i}")))
            .collect::<PyResult<_>>()?
    } else {
        image_batch(images)?
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .map_err(to_py)?;
    let results: Vec<Result<ImageStats, String>> = py.detach(|| {
        pool.install(|| {
            owned
                .par_iter()
                .map_init(Workspace::new, |ws, img| measure(ws, img, selection, &params))
                .collect()
        })
    });
    let list = PyList::empty(py);
    for (i, r) in results.iter().enumerate() {
        let stats = r.as_ref().map_err(|e| refuse(format!("image {i}: {e}")))?;
        list.append(to_dict(py, stats, selection)?)?;
    }
    Ok(list)
}
