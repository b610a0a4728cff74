//! ImageFolder: `ROOT/{train,val,test}/CLASS/*.{jpg,jpeg,png,bmp,…}` as a directory
//! or a `.tar`/`.tar.gz` archive (ImageNet's train/val layout is one case). Labels
//! are the class folder names sorted lexicographically; `val` and `test` both map
//! to the test split. Hidden files (`.DS_Store`, `._x`) and files outside the split
//! folders (a README at the root) are ignored.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use crate::{
    Catalog, CatalogEntry, CatalogParts, IngestError, Result, Split,
    catalog::Rejected,
    dataset::{self, Catalogued, DatasetReader, scan_source},
    inspect::has_image_extension,
    manifest::SourceInfo,
    pipeline::{IngestOptions, IngestSummary, Item, OnError, Payload},
    tree::{InputTree, TreeEntry},
};

/// Where an image file sits in an ImageFolder layout.
struct Placement {
    root: String,
    split: Split,
    class: String,
    key: String,
}

fn split_of(dir: &str) -> Option<Split> {
    match dir {
        "train" => Some(Split::Train),
        "val" | "test" => Some(Split::Test),
        _ => None,
    }
}

fn is_hidden(path: &str) -> bool {
    path.split('/').any(|c| c.starts_with('.') || c == "__MACOSX")
}

/// Places a file path: `…/ROOT/SPLIT/CLASS/FILE`. `None` when the path is not under a
/// split folder at all; `Err` when it is under one but not inside a class folder.
fn place(path: &str) -> Option<std::result::Result<Placement, String>> {
    let comps: Vec<&str> = path.split('/').collect();
    let n = comps.len();
    if n >= 3
        && let Some(split) = split_of(comps[n - 3])
    {
        let root = comps[..n - 3].join("/");
        let key = comps[n - 3..].join("/");
        return Some(Ok(Placement {
            root,
            split,
            class: comps[n - 2].to_string(),
            key,
        }));
    }
    // Directly in a split folder, or nested deeper than a class folder.
    comps
        .iter()
        .position(|c| split_of(c).is_some())
        .map(|_| Err("not inside a class folder (expected SPLIT/CLASS/FILE)".to_string()))
}

/// Image files found in ImageFolder trees, before labels are assigned.
#[derive(Default)]
struct Found {
    /// (input, placement, member) of each image file.
    images: Vec<(usize, Placement, String)>,
    rejected: Vec<Rejected>,
    /// Class folders (input, path) and whether an image was found in each.
    class_dirs: BTreeMap<(usize, String), bool>,
}

/// Builds the catalog of one or more ImageFolder trees.
pub(crate) fn catalog(dataset: &str, trees: &[InputTree], on_error: OnError) -> Result<Catalogued> {
    let mut found = Found::default();
    let mut sources = Vec::new();
    for (t, tree) in trees.iter().enumerate() {
        let (source, entries) = scan_source(tree, |_| false, &mut found.rejected, on_error)?;
        found.add_tree(t, tree.path(), &source.path, entries, on_error)?;
        sources.push(source);
    }
    for ((t, dir), has_images) in &found.class_dirs {
        if !has_images {
            let source = &sources[*t].path;
            reject(&mut found.rejected, on_error, source, dir, "empty class folder".into())?;
        }
    }
    if found.images.is_empty() {
        let path = trees.first().map(|t| t.path().to_path_buf()).unwrap_or_default();
        return Err(IngestError::Dataset {
            path,
            reason: "no images in the ImageFolder layout ROOT/{train,val,test}/CLASS/FILE".into(),
        });
    }
    let catalog = found.into_catalog(dataset, on_error, &sources)?;
    Ok(Catalogued { catalog, sources })
}

impl Found {
    /// Places the readable entries of input `t` (named `name`): image files by split
    /// and class, class folders, and rejects for files that fit no place.
    fn add_tree(
        &mut self,
        t: usize,
        path: &Path,
        name: &str,
        entries: Vec<TreeEntry>,
        on_error: OnError,
    ) -> Result<()> {
        let mut roots = BTreeSet::new();
        for e in entries {
            if is_hidden(&e.path) {
                continue;
            }
            if e.is_dir {
                // A class folder: ROOT/SPLIT/CLASS.
                let comps: Vec<&str> = e.path.split('/').collect();
                if comps.len() >= 2 && split_of(comps[comps.len() - 2]).is_some() {
                    self.class_dirs.entry((t, e.path.clone())).or_insert(false);
                }
                continue;
            }
            match place(&e.path) {
                None => {}
                Some(Err(reason)) => reject(&mut self.rejected, on_error, name, &e.path, reason)?,
                Some(Ok(_)) if !has_image_extension(&e.path) => {
                    let reason = "not an image file (unknown extension)".into();
                    reject(&mut self.rejected, on_error, name, &e.path, reason)?;
                }
                Some(Ok(p)) => {
                    let dir = e.path.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
                    self.class_dirs.insert((t, dir), true);
                    roots.insert(p.root.clone());
                    self.images.push((t, p, e.path));
                }
            }
        }
        if roots.len() > 1 {
            let roots: Vec<&str> = roots.iter().map(|r| if r.is_empty() { "." } else { r }).collect();
            return Err(IngestError::Dataset {
                path: path.to_path_buf(),
                reason: format!("more than one dataset root holds split folders: {}", roots.join(", ")),
            });
        }
        Ok(())
    }

    /// The catalog: labels are the class folder names in lexicographic order.
    fn into_catalog(self, dataset: &str, on_error: OnError, sources: &[SourceInfo]) -> Result<Catalog> {
        let classes: Vec<String> = self
            .images
            .iter()
            .map(|(_, p, _)| p.class.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let entries = self
            .images
            .into_iter()
            .map(|(t, p, member)| CatalogEntry {
                split: p.split,
                labels: vec![classes.binary_search(&p.class).map(|i| i as i32).unwrap_or(0)],
                key: p.key,
                source: t,
                member,
                attributes: vec![],
                claimed_size: None,
            })
            .collect();
        let parts = CatalogParts {
            dataset: dataset.to_string(),
            classes,
            multi_label: false,
            attribute_names: vec![],
            entries,
            rejected: self.rejected,
            on_duplicate: on_error,
        };
        Catalog::new(parts, sources)
    }
}

/// Rejects the entries a tree scan could not read (links, devices, names that are not
/// UTF-8, members over the size limit) and returns the others.
pub(crate) fn readable_entries(
    entries: Vec<TreeEntry>,
    rejected: &mut Vec<Rejected>,
    on_error: OnError,
    source: &str,
) -> Result<Vec<TreeEntry>> {
    let mut readable = Vec::with_capacity(entries.len());
    for e in entries {
        match &e.problem {
            Some(reason) => reject(rejected, on_error, source, &e.path, reason.clone())?,
            None => readable.push(e),
        }
    }
    Ok(readable)
}

pub(crate) fn reject(
    rejected: &mut Vec<Rejected>,
    on_error: OnError,
    source: &str,
    member: &str,
    reason: String,
) -> Result<()> {
    if on_error == OnError::Fail {
        return Err(IngestError::bad(source, Some(member), reason));
    }
    rejected.push(Rejected {
        source: source.to_string(),
        member: Some(member.to_string()),
        reason,
    });
    Ok(())
}

/// Streams every catalogued file of `trees` into the pipeline: directories in
/// `sample_id` order (so the table's rows are in id order), archives in stored order.
pub(crate) fn stream_trees(
    catalog: &Catalog,
    trees: &[InputTree],
    push: &mut dyn FnMut(Item) -> Result<()>,
) -> Result<()> {
    for (t, tree) in trees.iter().enumerate() {
        if tree.is_archive() {
            tree.stream(
                |path| catalog.index_of(t, path).is_some(),
                |path, bytes| match catalog.index_of(t, path) {
                    Some(index) => push(Item {
                        index,
                        payload: Payload::Encoded(bytes),
                    }),
                    None => Ok(()),
                },
            )?;
        }
    }
    for (index, entry) in catalog.entries.iter().enumerate() {
        if let Some(tree) = trees.get(entry.source).filter(|t| !t.is_archive()) {
            push(Item {
                index,
                payload: Payload::Encoded(tree.read_file(&entry.member)?),
            })?;
        }
    }
    Ok(())
}

/// ImageFolder trees as a dataset (`dataset` names it in the manifest).
struct ImageFolder {
    dataset: String,
    trees: Vec<InputTree>,
}

impl DatasetReader for ImageFolder {
    fn catalogue(&mut self, on_error: OnError) -> Result<Catalogued> {
        catalog(&self.dataset, &self.trees, on_error)
    }

    fn stream(&self, catalog: &Catalog, push: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
        stream_trees(catalog, &self.trees, push)
    }
}

/// Ingests ImageFolder trees (directories or tar archives) into `out`.
pub fn ingest(dataset: &str, inputs: &[PathBuf], out: &Path, opts: &IngestOptions) -> Result<IngestSummary> {
    let mut reader = ImageFolder {
        dataset: dataset.to_string(),
        trees: InputTree::open_all(inputs, opts.max_member_bytes)?,
    };
    dataset::ingest(&mut reader, out, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_files_by_split_and_class() {
        let p = place("cifar10/train/cat/0001.jpg").unwrap().unwrap();
        assert_eq!(
            (p.root.as_str(), p.split, p.class.as_str(), p.key.as_str()),
            ("cifar10", Split::Train, "cat", "train/cat/0001.jpg")
        );
        let v = place("val/n01440764/x.JPEG").unwrap().unwrap();
        assert_eq!((v.root.as_str(), v.split), ("", Split::Test));
        assert!(place("README.txt").is_none());
        assert!(place("ds/train/loose.jpg").unwrap().is_err());
    }
}
