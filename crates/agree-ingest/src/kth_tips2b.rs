//! KTH-TIPS2-b: `KTH-TIPS2-b/MATERIAL/sample_{a,b,c,d}/<id>-scale_<S>_im_<I>_<col>.png`
//! (directory or the distributed tar). `sample_c` is the test split; the 11 materials
//! are the classes. Attributes from the file name: `scale` = S, and from the image
//! number I the `rotation` (frontal 1,2,3,10 / right 4,5,6,11 / left 7,8,9,12) and
//! the `illumination` (frontal 1,4,7 / top 2,5,8 / side 3,6,9 / ambient 10,11,12).

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use crate::{
    Attribute, Catalog, CatalogEntry, CatalogParts, IngestError, Result, Split,
    catalog::Rejected,
    dataset::{self, Catalogued, DatasetReader, scan_source},
    imagefolder::{reject, stream_trees},
    inspect::has_image_extension,
    pipeline::{IngestOptions, IngestSummary, Item, OnError},
    tree::InputTree,
};

/// Scale, rotation and illumination encoded in a KTH-TIPS2-b file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KthName {
    /// Scale number S.
    pub scale: i32,
    /// Image number I (1..12).
    pub image: i32,
    /// `frontal`, `right` or `left`.
    pub rotation: &'static str,
    /// `frontal`, `top`, `side` or `ambient`.
    pub illumination: &'static str,
}

/// The sample folders of each material; `sample_c` is the test split.
pub const SAMPLE_FOLDERS: [&str; 4] = ["sample_a", "sample_b", "sample_c", "sample_d"];

/// Parses `<id>-scale_<S>_im_<I>_<col>.<ext>`.
pub fn parse_name(file: &str) -> std::result::Result<KthName, String> {
    let bad = || format!("file name `{file}` is not <id>-scale_<S>_im_<I>_<col>.png");
    let (_, rest) = file.split_once("-scale_").ok_or_else(bad)?;
    let (scale, rest) = rest.split_once("_im_").ok_or_else(bad)?;
    let (image, _) = rest.split_once('_').ok_or_else(bad)?;
    let scale: i32 = scale.parse().map_err(|_| bad())?;
    let image: i32 = image.parse().map_err(|_| bad())?;
    if scale < 1 {
        return Err(format!("file name `{file}`: scale {scale} is not a positive number"));
    }
    let rotation = match image {
        1 | 2 | 3 | 10 => "frontal",
        4 | 5 | 6 | 11 => "right",
        7 | 8 | 9 | 12 => "left",
        _ => return Err(format!("file name `{file}`: image number {image} is outside 1..12")),
    };
    let illumination = match image {
        1 | 4 | 7 => "frontal",
        2 | 5 | 8 => "top",
        3 | 6 | 9 => "side",
        _ => "ambient",
    };
    Ok(KthName {
        scale,
        image,
        rotation,
        illumination,
    })
}

/// One image file placed in the layout: (input, material, split, key, member, name).
type Placed = (usize, String, Split, String, String, KthName);

/// KTH-TIPS2-b trees as a dataset.
struct KthTips2b {
    trees: Vec<InputTree>,
}

impl DatasetReader for KthTips2b {
    fn catalogue(&mut self, on_error: OnError) -> Result<Catalogued> {
        let mut sources = Vec::new();
        let mut rejected = Vec::new();
        let mut placed = Vec::new();
        for (t, tree) in self.trees.iter().enumerate() {
            let (source, entries) = scan_source(tree, |_| false, &mut rejected, on_error)?;
            for e in entries.into_iter().filter(|e| !e.is_dir) {
                placed.extend(place(t, &source.path, &e.path, &mut rejected, on_error)?);
            }
            sources.push(source);
        }
        if placed.is_empty() {
            return Err(IngestError::Dataset {
                path: self.trees.first().map(|t| t.path().to_path_buf()).unwrap_or_default(),
                reason: "no KTH-TIPS2-b images (MATERIAL/sample_X/*.png) found".into(),
            });
        }
        Catalogued::new(catalog_parts(placed, rejected, on_error), sources)
    }

    fn stream(&self, catalog: &Catalog, push: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
        stream_trees(catalog, &self.trees, push)
    }
}

/// Places the file `path` of input `t` (named `name`): `None` for files outside any
/// `MATERIAL/sample_X/` folder, a reject for unknown folders and names.
fn place(t: usize, name: &str, path: &str, rejected: &mut Vec<Rejected>, on_error: OnError) -> Result<Option<Placed>> {
    let comps: Vec<&str> = path.split('/').collect();
    let n = comps.len();
    if n < 3 || !comps[n - 2].starts_with("sample_") || comps.iter().any(|c| c.starts_with('.')) {
        return Ok(None);
    }
    if !SAMPLE_FOLDERS.contains(&comps[n - 2]) {
        let reason = format!(
            "unknown sample folder `{}` (KTH-TIPS2-b has {})",
            comps[n - 2],
            SAMPLE_FOLDERS.join(", ")
        );
        reject(rejected, on_error, name, path, reason)?;
        return Ok(None);
    }
    if !has_image_extension(comps[n - 1]) {
        reject(
            rejected,
            on_error,
            name,
            path,
            "not an image file (unknown extension)".into(),
        )?;
        return Ok(None);
    }
    match parse_name(comps[n - 1]) {
        Ok(parsed) => {
            let split = if comps[n - 2] == "sample_c" {
                Split::Test
            } else {
                Split::Train
            };
            let material = comps[n - 3].to_string();
            Ok(Some((
                t,
                material,
                split,
                comps[n - 3..].join("/"),
                path.to_string(),
                parsed,
            )))
        }
        Err(reason) => {
            reject(rejected, on_error, name, path, reason)?;
            Ok(None)
        }
    }
}

/// The catalogue's parts: the materials in lexicographic order are the classes;
/// scale, rotation and illumination the attributes.
fn catalog_parts(placed: Vec<Placed>, rejected: Vec<Rejected>, on_error: OnError) -> CatalogParts {
    let classes: Vec<String> = placed
        .iter()
        .map(|r| r.1.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let entries = placed
        .into_iter()
        .map(|(t, material, split, key, member, parsed)| CatalogEntry {
            split,
            labels: vec![classes.binary_search(&material).map(|i| i as i32).unwrap_or(0)],
            key,
            source: t,
            member,
            attributes: vec![
                Some(Attribute::Int(parsed.scale)),
                Some(Attribute::Text(parsed.rotation.into())),
                Some(Attribute::Text(parsed.illumination.into())),
            ],
            claimed_size: None,
        })
        .collect();
    CatalogParts {
        dataset: "kth-tips2b".into(),
        classes,
        multi_label: false,
        attribute_names: vec!["scale".into(), "rotation".into(), "illumination".into()],
        entries,
        rejected,
        on_duplicate: on_error,
    }
}

/// Ingests KTH-TIPS2-b trees into `out`.
pub fn ingest(inputs: &[PathBuf], out: &Path, opts: &IngestOptions) -> Result<IngestSummary> {
    let mut reader = KthTips2b {
        trees: InputTree::open_all(inputs, opts.max_member_bytes)?,
    };
    dataset::ingest(&mut reader, out, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decode_to_attributes() {
        let n = parse_name("22a-scale_10_im_11_col.png").unwrap();
        assert_eq!(
            n,
            KthName {
                scale: 10,
                image: 11,
                rotation: "right",
                illumination: "ambient"
            }
        );
        let n = parse_name("1b-scale_2_im_8_col.png").unwrap();
        assert_eq!((n.rotation, n.illumination), ("left", "top"));
        assert!(parse_name("foo.png").is_err());
        assert!(
            parse_name("1b-scale_-7_im_3_col.png")
                .unwrap_err()
                .contains("scale -7 is not a positive number")
        );
        assert!(
            parse_name("1b-scale_2_im_13_col.png")
                .unwrap_err()
                .contains("outside 1..12")
        );
    }
}
