//! ImageFolder: `ROOT/{train,val,test}/CLASS/*.{jpg,jpeg,png,bmp,…}` as a directory
//! or a `.tar`/`.tar.gz` archive (ImageNet's train/val layout is one case). Labels
//! are the class folder names sorted lexicographically; `val` and `test` both map
//! to the test split. Hidden files (`.DS_Store`, `._x`) and files outside the split
//! folders (a README at the root) are ignored.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use agree_schema::ExperimentDir;

use crate::{
    Catalog, CatalogEntry, IngestError, Result, Split,
    catalog::Rejected,
    inspect::has_image_extension,
    manifest::SourceInfo,
    pipeline::{IngestOptions, IngestSummary, Item, OnError, Payload, ingest_catalog},
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

/// Builds the catalog of one or more ImageFolder trees.
pub fn catalog(dataset: &str, trees: &[InputTree], on_error: OnError) -> Result<(Catalog, Vec<SourceInfo>)> {
    let mut sources = Vec::new();
    let mut raw: Vec<(usize, Placement, String)> = Vec::new();
    let mut rejected = Vec::new();
    let mut class_dirs: BTreeMap<(usize, String), bool> = BTreeMap::new();
    for (t, tree) in trees.iter().enumerate() {
        let (entries, sha256) = tree.scan(|_| false)?;
        let tree_name = tree.path().display().to_string();
        sources.push(SourceInfo {
            path: tree_name.clone(),
            sha256,
            url: None,
        });
        let entries = readable_entries(entries, &mut rejected, on_error, &tree_name)?;
        let mut roots = BTreeSet::new();
        for e in entries {
            if is_hidden(&e.path) {
                continue;
            }
            if e.is_dir {
                // A class folder: ROOT/SPLIT/CLASS.
                let comps: Vec<&str> = e.path.split('/').collect();
                if comps.len() >= 2 && split_of(comps[comps.len() - 2]).is_some() {
                    class_dirs.entry((t, e.path.clone())).or_insert(false);
                }
                continue;
            }
            match place(&e.path) {
                None => {}
                Some(Err(reason)) => reject(&mut rejected, on_error, &tree_name, &e.path, reason)?,
                Some(Ok(p)) => {
                    let dir = e.path.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
                    if !has_image_extension(&e.path) {
                        reject(
                            &mut rejected,
                            on_error,
                            &tree_name,
                            &e.path,
                            "not an image file (unknown extension)".into(),
                        )?;
                        continue;
                    }
                    class_dirs.insert((t, dir), true);
                    roots.insert(p.root.clone());
                    raw.push((t, p, e.path));
                }
            }
        }
        if roots.len() > 1 {
            return Err(IngestError::Dataset {
                path: tree.path().to_path_buf(),
                reason: format!(
                    "more than one dataset root holds split folders: {}",
                    roots
                        .iter()
                        .map(|r| if r.is_empty() { "." } else { r })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    for ((t, dir), has_images) in &class_dirs {
        if !has_images {
            reject(
                &mut rejected,
                on_error,
                &sources[*t].path,
                dir,
                "empty class folder".into(),
            )?;
        }
    }
    if raw.is_empty() {
        let path = trees.first().map(|t| t.path().to_path_buf()).unwrap_or_default();
        return Err(IngestError::Dataset {
            path,
            reason: "no images in the ImageFolder layout ROOT/{train,val,test}/CLASS/FILE".into(),
        });
    }
    let classes: Vec<String> = raw
        .iter()
        .map(|(_, p, _)| p.class.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let entries = raw
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
    let names: Vec<String> = sources.iter().map(|s| s.path.clone()).collect();
    let catalog = Catalog::new(
        dataset,
        classes,
        false,
        vec![],
        entries,
        rejected,
        &names,
        on_error == OnError::Skip,
    )?;
    Ok((catalog, sources))
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

/// Ingests ImageFolder trees (directories or tar archives) into `out`.
pub fn ingest(dataset: &str, inputs: &[PathBuf], out: &Path, opts: &IngestOptions) -> Result<IngestSummary> {
    let trees = InputTree::open_all(inputs, opts.max_member_bytes)?;
    let (catalog, sources) = catalog(dataset, &trees, opts.on_error)?;
    ingest_catalog(
        &catalog,
        &sources,
        |push| stream_trees(&catalog, &trees, push),
        &ExperimentDir::new(out),
        opts,
    )
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
