//! The catalog: which samples a dataset has, before any image is read.

use std::collections::HashMap;

use crate::{IngestError, OnError, Result, manifest::SourceInfo};

pub use agree_schema::Split;

/// A value of one dataset-provided attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Attribute {
    /// A real number.
    Float(f64),
    /// An integer.
    Int(i32),
    /// A category.
    Text(String),
}

/// One sample known from names and metadata alone.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    /// Split.
    pub split: Split,
    /// Path relative to the dataset root (SPEC: `key`).
    pub key: String,
    /// Class indices; one for single-label datasets.
    pub labels: Vec<i32>,
    /// Which input (index into the ingest's input list) holds the bytes.
    pub source: usize,
    /// Where in that input the bytes are (archive member or relative path).
    pub member: String,
    /// Attribute values, aligned with [`Catalog::attribute_names`].
    pub attributes: Vec<Option<Attribute>>,
    /// The image size the dataset's metadata states (VOC's `<size>`); an image of
    /// another size is rejected, since attributes computed from it would be wrong.
    pub claimed_size: Option<ClaimedSize>,
}

/// An image size stated by a dataset's metadata file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The file that states it.
    pub by: String,
}

/// An input the catalog rejected (only kept under `--on-error skip`).
#[derive(Debug, Clone)]
pub struct Rejected {
    /// The input file.
    pub source: String,
    /// Member or record inside it.
    pub member: Option<String>,
    /// Why.
    pub reason: String,
}

/// All samples of a dataset in `sample_id` order: sorted by `(split, key)` as strings.
#[derive(Debug)]
pub struct Catalog {
    /// Dataset name recorded in the manifest (`cifar10`, `imagefolder`, …).
    pub dataset: String,
    /// Class names; label i is `classes[i]`.
    pub classes: Vec<String>,
    /// Whether samples carry a set of labels (VOC) instead of one.
    pub multi_label: bool,
    /// Names of the attribute columns.
    pub attribute_names: Vec<String>,
    /// Entries; entry i gets `sample_id` i.
    pub entries: Vec<CatalogEntry>,
    /// Inputs rejected while cataloguing.
    pub rejected: Vec<Rejected>,
    by_member: HashMap<(usize, String), usize>,
}

/// What a format reader found, for [`Catalog::new`] to put in `sample_id` order.
#[derive(Debug)]
pub struct CatalogParts {
    /// Dataset name recorded in the manifest (`cifar10`, `imagefolder`, …).
    pub dataset: String,
    /// Class names; label i is `classes[i]`.
    pub classes: Vec<String>,
    /// Whether samples carry a set of labels (VOC) instead of one.
    pub multi_label: bool,
    /// Names of the attribute columns.
    pub attribute_names: Vec<String>,
    /// Entries in any order.
    pub entries: Vec<CatalogEntry>,
    /// Inputs rejected while cataloguing.
    pub rejected: Vec<Rejected>,
    /// What to do with a key that appears twice: fail, or keep the first and reject the others.
    pub on_duplicate: OnError,
}

impl Catalog {
    /// Sorts entries into `sample_id` order and indexes them. Duplicate keys are an
    /// error naming both inputs (`sources` are the inputs the entries' `source` indexes),
    /// or under [`OnError::Skip`] all but the first are rejected.
    pub fn new(parts: CatalogParts, sources: &[SourceInfo]) -> Result<Self> {
        let CatalogParts {
            dataset,
            classes,
            multi_label,
            attribute_names,
            entries,
            mut rejected,
            on_duplicate,
        } = parts;
        let entries = sorted_unique(entries, &mut rejected, sources, on_duplicate)?;
        check_one_split_per_key(&entries, sources)?;
        let by_member = entries
            .iter()
            .enumerate()
            .map(|(i, e)| ((e.source, e.member.clone()), i))
            .collect();
        Ok(Catalog {
            dataset,
            classes,
            multi_label,
            attribute_names,
            entries,
            rejected,
            by_member,
        })
    }

    /// The catalog index (provisional `sample_id`) of the entry stored at `member` of input `source`.
    pub fn index_of(&self, source: usize, member: &str) -> Option<usize> {
        self.by_member.get(&(source, member.to_string())).copied()
    }

    /// `class_name` of an entry: its class, or its classes joined by `,`.
    pub fn class_name(&self, entry: &CatalogEntry) -> String {
        entry
            .labels
            .iter()
            .map(|&l| self.classes.get(l as usize).map(String::as_str).unwrap_or("?"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the catalog has no sample.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The name of input `i`, as errors and rejects give it.
fn source_name(sources: &[SourceInfo], i: usize) -> Option<&str> {
    sources.get(i).map(|s| s.path.as_str())
}

/// The entries in `sample_id` order with duplicate keys removed (an error, or under
/// [`OnError::Skip`] rejects naming the input that holds the first).
fn sorted_unique(
    mut entries: Vec<CatalogEntry>,
    rejected: &mut Vec<Rejected>,
    sources: &[SourceInfo],
    on_duplicate: OnError,
) -> Result<Vec<CatalogEntry>> {
    // SPEC: lexicographic order of (split, key) as strings, so `test` sorts before `train`.
    entries.sort_by(|a, b| {
        (a.split.as_str(), &a.key)
            .cmp(&(b.split.as_str(), &b.key))
            .then(a.source.cmp(&b.source))
    });
    let mut deduped: Vec<CatalogEntry> = Vec::with_capacity(entries.len());
    for e in entries {
        if let Some(prev) = deduped.last().filter(|p| p.key == e.key) {
            let reason = format!(
                "duplicate key `{}` (also in {} [{}])",
                e.key,
                source_name(sources, prev.source).unwrap_or("?"),
                prev.member
            );
            let source = source_name(sources, e.source).unwrap_or_default().to_string();
            if on_duplicate == OnError::Fail {
                return Err(IngestError::bad(source, Some(&e.member), reason));
            }
            rejected.push(Rejected {
                source,
                member: Some(e.member.clone()),
                reason,
            });
            continue;
        }
        deduped.push(e);
    }
    Ok(deduped)
}

/// A key may appear in both splits only through a bug of the format reader; keys
/// carry the split directory wherever the layout has one.
fn check_one_split_per_key(entries: &[CatalogEntry], sources: &[SourceInfo]) -> Result<()> {
    let mut seen = HashMap::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if let Some(j) = seen.insert(e.key.as_str(), i) {
            let other = &entries[j];
            return Err(IngestError::bad(
                source_name(sources, e.source).unwrap_or_default(),
                Some(&e.member),
                format!(
                    "key `{}` appears in both {} and {}",
                    e.key,
                    other.split.as_str(),
                    e.split.as_str()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(split: Split, key: &str, source: usize) -> CatalogEntry {
        CatalogEntry {
            split,
            key: key.into(),
            labels: vec![0],
            source,
            member: key.into(),
            attributes: vec![],
            claimed_size: None,
        }
    }

    fn parts(entries: Vec<CatalogEntry>, on_duplicate: OnError) -> CatalogParts {
        CatalogParts {
            dataset: "t".into(),
            classes: vec!["a".into()],
            multi_label: false,
            attribute_names: vec![],
            entries,
            rejected: vec![],
            on_duplicate,
        }
    }

    fn sources(names: &[&str]) -> Vec<SourceInfo> {
        names
            .iter()
            .map(|n| SourceInfo {
                path: n.to_string(),
                sha256: None,
                url: None,
            })
            .collect()
    }

    #[test]
    fn ids_follow_split_then_key_order() {
        let entries = vec![
            entry(Split::Train, "train/a/2.png", 0),
            entry(Split::Test, "test/a/9.png", 0),
            entry(Split::Train, "train/a/10.png", 0),
        ];
        let c = Catalog::new(parts(entries, OnError::Fail), &sources(&["in"])).unwrap();
        let keys: Vec<_> = c.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["test/a/9.png", "train/a/10.png", "train/a/2.png"]);
        assert_eq!(c.index_of(0, "train/a/2.png"), Some(2));
    }

    #[test]
    fn duplicate_keys_are_named_or_skipped() {
        let entries = vec![
            entry(Split::Train, "train/a/1.png", 0),
            entry(Split::Train, "train/a/1.png", 1),
        ];
        let sources = sources(&["one.tar", "two.tar"]);
        let err = Catalog::new(parts(entries.clone(), OnError::Fail), &sources)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("two.tar") && err.contains("duplicate key `train/a/1.png`") && err.contains("one.tar"),
            "{err}"
        );
        let c = Catalog::new(parts(entries, OnError::Skip), &sources).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c.rejected.len(), 1);
    }
}
