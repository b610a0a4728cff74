//! The samples table as training needs it: ids, splits, labels, class names and the
//! encoded image bytes (kept as the Arrow buffers they were read into, not copied).

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::Arc,
};

use arrow::{
    array::{Array, AsArray, BinaryArray, RecordBatch},
    compute::cast,
    datatypes::{DataType, Field, Int32Type, Int64Type},
};

use crate::TrainError;

/// Which part of the dataset a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// Trained on.
    Train,
    /// Evaluated after each epoch.
    Test,
}

impl Split {
    /// The name used in the tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// How a sample's image bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Raw interleaved H×W×3 bytes.
    Rgb8,
    /// A file format the `image` crate decodes.
    File(image::ImageFormat),
}

impl Encoding {
    fn parse(name: &str) -> Option<Self> {
        use image::ImageFormat as F;
        Some(match name.to_ascii_lowercase().as_str() {
            "rgb8" => Encoding::Rgb8,
            "jpeg" | "jpg" => Encoding::File(F::Jpeg),
            "png" => Encoding::File(F::Png),
            "bmp" => Encoding::File(F::Bmp),
            "gif" => Encoding::File(F::Gif),
            "tiff" | "tif" => Encoding::File(F::Tiff),
            "webp" => Encoding::File(F::WebP),
            _ => return None,
        })
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
        let contract = agree_schema::contract("samples").map_err(|source| TrainError::Contract {
            path: path.to_path_buf(),
            source,
        })?;
        contract.check(&schema).map_err(|source| TrainError::Contract {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_batches(path, &batches)
    }

    /// Builds the table from record batches that follow the samples contract;
    /// `path` is only used to name the source in errors.
    pub fn from_batches(path: &Path, batches: &[RecordBatch]) -> Result<Self, TrainError> {
        let path = path.to_path_buf();
        let mut t = SampleTable {
            path: path.clone(),
            sample_id: Vec::new(),
            split: Vec::new(),
            labels: Vec::new(),
            size: Vec::new(),
            encoding: Vec::new(),
            class_names: Vec::new(),
            multi_label: false,
            images: Vec::new(),
        };
        let mut label_nulls = 0usize;
        let mut names: BTreeMap<i32, (String, usize)> = BTreeMap::new();
        let mut id_rows: HashMap<i64, usize> = HashMap::new();
        for batch in batches {
            let col = |name: &str, ty: DataType| -> Result<Arc<dyn Array>, TrainError> {
                let c = batch.column_by_name(name).ok_or_else(|| TrainError::BadDataset {
                    path: path.clone(),
                    message: format!("column `{name}` is missing"),
                })?;
                cast(c, &ty).map_err(|e| TrainError::BadDataset {
                    path: path.clone(),
                    message: format!("column `{name}`: {e}"),
                })
            };
            let list_i32 = DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true)));
            let ids = col("sample_id", DataType::Int64)?;
            let splits = col("split", DataType::Utf8)?;
            let label = col("label", DataType::Int32)?;
            let labels = col("labels", list_i32)?;
            let class_name = col("class_name", DataType::Utf8)?;
            let width = col("width", DataType::Int32)?;
            let height = col("height", DataType::Int32)?;
            let format = col("format", DataType::Utf8)?;
            let image = col("image", DataType::Binary)?;
            let (ids, splits, label, labels) = (
                ids.as_primitive::<Int64Type>(),
                splits.as_string::<i32>(),
                label.as_primitive::<Int32Type>(),
                labels.as_list::<i32>(),
            );
            let (class_name, width, height, format) = (
                class_name.as_string::<i32>(),
                width.as_primitive::<Int32Type>(),
                height.as_primitive::<Int32Type>(),
                format.as_string::<i32>(),
            );
            let image = Arc::new(image.as_binary::<i32>().clone());
            for i in 0..batch.num_rows() {
                let row = t.sample_id.len();
                let sample_id = ids.value(i);
                let bad = |message: String| TrainError::BadSample {
                    path: path.clone(),
                    row,
                    sample_id,
                    message,
                };
                if let Some(first) = id_rows.insert(sample_id, row) {
                    return Err(bad(format!(
                        "sample_id {sample_id} appears again (first in row {first}); sample ids must be unique"
                    )));
                }
                let split = match splits.value(i) {
                    "train" => Split::Train,
                    "test" => Split::Test,
                    other => return Err(bad(format!("split `{other}` is neither `train` nor `test`"))),
                };
                let mut row_labels: Vec<i32> = if labels.is_null(i) {
                    Vec::new()
                } else {
                    labels.value(i).as_primitive::<Int32Type>().iter().flatten().collect()
                };
                if label.is_null(i) {
                    label_nulls += 1;
                } else if row_labels.is_empty() {
                    row_labels.push(label.value(i));
                } else if row_labels != [label.value(i)] {
                    return Err(bad(format!(
                        "label {} disagrees with labels {:?}",
                        label.value(i),
                        row_labels
                    )));
                }
                if let Some(&neg) = row_labels.iter().find(|&&l| l < 0) {
                    return Err(bad(format!("negative class index {neg}")));
                }
                // Names and indices pair up positionally (`class_name` joins the names of `labels`).
                let row_names: Vec<&str> = if row_labels.len() == 1 {
                    vec![class_name.value(i)]
                } else {
                    class_name.value(i).split(',').collect()
                };
                if row_names.len() == row_labels.len() {
                    for (&l, n) in row_labels.iter().zip(&row_names) {
                        match names.get(&l) {
                            Some((known, _)) if known != n => {
                                return Err(bad(format!(
                                    "class {l} is named `{n}` here but `{known}` in row {}",
                                    names[&l].1
                                )));
                            }
                            Some(_) => {}
                            None => {
                                names.insert(l, (n.to_string(), row));
                            }
                        }
                    }
                }
                let encoding = Encoding::parse(format.value(i))
                    .ok_or_else(|| bad(format!("unknown format `{}`", format.value(i))))?;
                let (w, h) = (width.value(i), height.value(i));
                if w <= 0 || h <= 0 {
                    return Err(bad(format!("image size {w}×{h}")));
                }
                t.sample_id.push(sample_id);
                t.split.push(split);
                t.labels.push(row_labels);
                t.size.push((w as u32, h as u32));
                t.encoding.push(encoding);
                t.images.push((image.clone(), i));
            }
        }
        t.multi_label = label_nulls > 0;
        if t.multi_label && label_nulls != t.sample_id.len() {
            return Err(TrainError::BadDataset {
                path,
                message: format!(
                    "{label_nulls} of {} rows have a null `label`: a dataset is either single- or multi-label",
                    t.sample_id.len()
                ),
            });
        }
        let classes = names.len();
        for (row, labels) in t.labels.iter().enumerate() {
            if labels.is_empty() && !t.multi_label {
                return Err(TrainError::BadSample {
                    path: t.path.clone(),
                    row,
                    sample_id: t.sample_id[row],
                    message: "no label".to_string(),
                });
            }
            if let Some(&l) = labels.iter().find(|&&l| l as usize >= classes) {
                return Err(TrainError::BadSample {
                    path: t.path.clone(),
                    row,
                    sample_id: t.sample_id[row],
                    message: format!(
                        "label {l} outside 0..{} (the table names {classes} classes)",
                        classes.saturating_sub(1)
                    ),
                });
            }
        }
        t.class_names = names.into_values().map(|(n, _)| n).collect();
        Ok(t)
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
    fn subsets_are_seeded_and_ordered() {
        let rows: Vec<usize> = (0..100).collect();
        let a = subset(rows.clone(), 10, 7);
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(a, subset(rows.clone(), 10, 7));
        assert_eq!(subset(rows.clone(), 0, 7), rows);
    }
}
