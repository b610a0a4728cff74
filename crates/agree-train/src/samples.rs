//! The samples table as training needs it: ids, splits, labels, class names and the
//! encoded image bytes (kept as the Arrow buffers they were read into, not copied).

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::Arc,
};

use arrow::{
    array::{Array, AsArray, BinaryArray, Int32Array, Int64Array, ListArray, RecordBatch, StringArray},
    compute::cast,
    datatypes::{DataType, Field, Int32Type, Int64Type},
};

use agree_schema::{Table, sample_image::file_format};

use crate::TrainError;

pub use agree_schema::Split;

/// How a sample's image bytes are encoded: a `samples.format` value that
/// [`agree_schema::sample_image`] decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Raw interleaved H×W×3 bytes.
    Rgb8,
    /// An encoded file of a format the shared decoder reads.
    File(image::ImageFormat),
}

impl Encoding {
    fn parse(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        if name == "rgb8" {
            return Some(Encoding::Rgb8);
        }
        file_format(&name).ok().map(Encoding::File)
    }

    /// The `samples.format` name the shared decoder takes.
    pub fn format(self) -> &'static str {
        match self {
            Encoding::Rgb8 => "rgb8",
            Encoding::File(f) => f.extensions_str().first().copied().unwrap_or_default(),
        }
    }
}

/// Every sample of a dataset, in table order, with what training needs of it.
#[derive(Debug, Clone)]
pub struct SampleTable {
    /// Where the rows came from (named in errors).
    pub path: PathBuf,
    /// `sample_id` per row.
    pub sample_id: Vec<i64>,
    /// Split per row.
    pub split: Vec<Split>,
    /// All class indices per row (one for single-label datasets).
    pub labels: Vec<Vec<i32>>,
    /// Stored width and height per row.
    pub size: Vec<(u32, u32)>,
    /// Encoding of the image bytes per row.
    pub encoding: Vec<Encoding>,
    /// Class names, indexed by class.
    pub class_names: Vec<String>,
    /// Whether samples may carry several labels (the `label` column is null).
    pub multi_label: bool,
    images: Vec<(Arc<BinaryArray>, usize)>,
}

impl SampleTable {
    /// Reads and checks `samples.parquet`.
    pub fn read(path: &Path) -> Result<Self, TrainError> {
        let (schema, batches) = agree_schema::read_table(path)?;
        Table::Samples
            .contract()
            .check(&schema)
            .map_err(|source| TrainError::Contract {
                path: path.to_path_buf(),
                source,
            })?;
        Self::from_batches(path, &batches)
    }

    /// Builds the table from record batches that follow the samples contract;
    /// `path` is only used to name the source in errors.
    pub fn from_batches(path: &Path, batches: &[RecordBatch]) -> Result<Self, TrainError> {
        let mut t = SampleTable {
            path: path.to_path_buf(),
            sample_id: Vec::new(),
            split: Vec::new(),
            labels: Vec::new(),
            size: Vec::new(),
            encoding: Vec::new(),
            class_names: Vec::new(),
            multi_label: false,
            images: Vec::new(),
        };
        let mut names = ClassNames::default();
        let mut id_rows: HashMap<i64, usize> = HashMap::new();
        let mut label_nulls = 0usize;
        for batch in batches {
            let cols = SampleColumns::of(batch, path)?;
            for i in 0..batch.num_rows() {
                let row = t.sample_id.len();
                let sample_id = cols.ids.value(i);
                let bad = |message: String| TrainError::BadSample {
                    path: path.to_path_buf(),
                    row,
                    sample_id,
                    message,
                };
                if let Some(first) = id_rows.insert(sample_id, row) {
                    return Err(bad(format!(
                        "sample_id {sample_id} appears again (first in row {first}); sample ids must be unique"
                    )));
                }
                let split = cols.split_of(i).map_err(bad)?;
                let (row_labels, label_null) = cols.labels_of(i).map_err(bad)?;
                label_nulls += usize::from(label_null);
                names.note(&row_labels, cols.class_name.value(i), row).map_err(bad)?;
                t.encoding.push(cols.encoding_of(i).map_err(bad)?);
                t.size.push(cols.size_of(i).map_err(bad)?);
                t.sample_id.push(sample_id);
                t.split.push(split);
                t.labels.push(row_labels);
                t.images.push((cols.image.clone(), i));
            }
        }
        t.multi_label = label_nulls > 0;
        if t.multi_label && label_nulls != t.sample_id.len() {
            return Err(TrainError::BadDataset {
                path: t.path,
                message: format!(
                    "{label_nulls} of {} rows have a null `label`: a dataset is either single- or multi-label",
                    t.sample_id.len()
                ),
            });
        }
        t.class_names = names.into_names();
        t.check_labels()?;
        Ok(t)
    }

    /// Every row has a label (single-label datasets) and names a known class.
    fn check_labels(&self) -> Result<(), TrainError> {
        let classes = self.classes();
        for (row, labels) in self.labels.iter().enumerate() {
            let bad = |message: String| TrainError::BadSample {
                path: self.path.clone(),
                row,
                sample_id: self.sample_id[row],
                message,
            };
            if labels.is_empty() && !self.multi_label {
                return Err(bad("no label".to_string()));
            }
            if let Some(&l) = labels.iter().find(|&&l| l as usize >= classes) {
                return Err(bad(format!(
                    "label {l} outside 0..{} (the table names {classes} classes)",
                    classes.saturating_sub(1)
                )));
            }
        }
        Ok(())
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.sample_id.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.sample_id.is_empty()
    }

    /// Number of classes K.
    pub fn classes(&self) -> usize {
        self.class_names.len()
    }

    /// The encoded bytes of row `row`.
    pub fn image(&self, row: usize) -> &[u8] {
        let (array, i) = &self.images[row];
        array.value(*i)
    }

    /// Rows of one split, in table order.
    pub fn rows_of(&self, split: Split) -> Vec<usize> {
        (0..self.len()).filter(|&r| self.split[r] == split).collect()
    }
}

/// The columns of one samples batch that training reads, cast to their contract types.
struct SampleColumns {
    ids: Int64Array,
    split: StringArray,
    label: Int32Array,
    labels: ListArray,
    class_name: StringArray,
    width: Int32Array,
    height: Int32Array,
    format: StringArray,
    image: Arc<BinaryArray>,
}

impl SampleColumns {
    fn of(batch: &RecordBatch, path: &Path) -> Result<Self, TrainError> {
        let col = |name: &str, ty: DataType| -> Result<Arc<dyn Array>, TrainError> {
            let c = batch.column_by_name(name).ok_or_else(|| TrainError::BadDataset {
                path: path.to_path_buf(),
                message: format!("column `{name}` is missing"),
            })?;
            cast(c, &ty).map_err(|e| TrainError::BadDataset {
                path: path.to_path_buf(),
                message: format!("column `{name}`: {e}"),
            })
        };
        let list_i32 = DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true)));
        Ok(SampleColumns {
            ids: col("sample_id", DataType::Int64)?.as_primitive::<Int64Type>().clone(),
            split: col("split", DataType::Utf8)?.as_string::<i32>().clone(),
            label: col("label", DataType::Int32)?.as_primitive::<Int32Type>().clone(),
            labels: col("labels", list_i32)?.as_list::<i32>().clone(),
            class_name: col("class_name", DataType::Utf8)?.as_string::<i32>().clone(),
            width: col("width", DataType::Int32)?.as_primitive::<Int32Type>().clone(),
            height: col("height", DataType::Int32)?.as_primitive::<Int32Type>().clone(),
            format: col("format", DataType::Utf8)?.as_string::<i32>().clone(),
            image: Arc::new(col("image", DataType::Binary)?.as_binary::<i32>().clone()),
        })
    }

    fn split_of(&self, i: usize) -> Result<Split, String> {
        let name = self.split.value(i);
        Split::parse(name).ok_or_else(|| format!("split `{name}` is neither `train` nor `test`"))
    }

    /// The row's class indices, and whether its `label` is null (multi-label).
    fn labels_of(&self, i: usize) -> Result<(Vec<i32>, bool), String> {
        let mut row_labels: Vec<i32> = if self.labels.is_null(i) {
            Vec::new()
        } else {
            self.labels
                .value(i)
                .as_primitive::<Int32Type>()
                .iter()
                .flatten()
                .collect()
        };
        let label_null = self.label.is_null(i);
        if !label_null {
            let label = self.label.value(i);
            if row_labels.is_empty() {
                row_labels.push(label);
            } else if row_labels != [label] {
                return Err(format!("label {label} disagrees with labels {row_labels:?}"));
            }
        }
        if let Some(&neg) = row_labels.iter().find(|&&l| l < 0) {
            return Err(format!("negative class index {neg}"));
        }
        Ok((row_labels, label_null))
    }

    fn encoding_of(&self, i: usize) -> Result<Encoding, String> {
        Encoding::parse(self.format.value(i)).ok_or_else(|| format!("unknown format `{}`", self.format.value(i)))
    }

    fn size_of(&self, i: usize) -> Result<(u32, u32), String> {
        let (w, h) = (self.width.value(i), self.height.value(i));
        if w <= 0 || h <= 0 {
            return Err(format!("image size {w}×{h}"));
        }
        Ok((w as u32, h as u32))
    }
}

/// Class names by index, each with the first row that named it; a class named two
/// ways is an error.
#[derive(Default)]
struct ClassNames(BTreeMap<i32, (String, usize)>);

impl ClassNames {
    /// Notes the names of one row's labels (`class_name` joins the names of `labels`
    /// with commas, positionally).
    fn note(&mut self, labels: &[i32], class_name: &str, row: usize) -> Result<(), String> {
        let names: Vec<&str> = if labels.len() == 1 {
            vec![class_name]
        } else {
            class_name.split(',').collect()
        };
        if names.len() != labels.len() {
            return Ok(());
        }
        for (&l, n) in labels.iter().zip(&names) {
            match self.0.get(&l) {
                Some((known, first)) if known != n => {
                    return Err(format!("class {l} is named `{n}` here but `{known}` in row {first}"));
                }
                Some(_) => {}
                None => {
                    self.0.insert(l, (n.to_string(), row));
                }
            }
        }
        Ok(())
    }

    fn into_names(self) -> Vec<String> {
        self.0.into_values().map(|(n, _)| n).collect()
    }
}

/// A seeded random subset of `rows` of at most `limit` rows (0 = all), kept in table
/// order; the same seed always picks the same rows.
pub fn subset(rows: Vec<usize>, limit: usize, seed: u64) -> Vec<usize> {
    use rand::{SeedableRng, seq::SliceRandom};
    if limit == 0 || limit >= rows.len() {
        return rows;
    }
    let mut picked = rows;
    picked.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    picked.truncate(limit);
    picked.sort_unstable();
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_names_its_format_to_the_decoder() {
        for name in ["rgb8", "JPEG", "jpg", "png", "bmp", "gif", "tif", "tiff", "webp"] {
            match Encoding::parse(name) {
                Some(Encoding::Rgb8) => assert_eq!(name, "rgb8"),
                Some(e @ Encoding::File(f)) => assert_eq!(file_format(e.format()), Ok(f), "{name}"),
                None => panic!("{name} is not parsed"),
            }
        }
        assert_eq!(Encoding::parse("xcf"), None);
    }

    #[test]
    fn subsets_are_seeded_and_ordered() {
        let rows: Vec<usize> = (0..100).collect();
        let a = subset(rows.clone(), 10, 7);
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(a, subset(rows.clone(), 10, 7));
        assert_eq!(subset(rows.clone(), 0, 7), rows);
    }
}
