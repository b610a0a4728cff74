//! Pascal VOC 2007 + 2012: `VOCdevkit/VOC20xx/{JPEGImages,Annotations,ImageSets/Main}`
//! from one or more directories or tars (the distributed trainval and test tars can be
//! given together). VOC2007 trainval + VOC2012 trainval = train, VOC2007 test = test.
//! Multi-label over the 20 classes; in the test split objects flagged `difficult` do
//! not count. Attributes: `num_objects` (distinct labelled classes counted) and
//! `object_area_fraction` (summed box area of the counted objects / image area, boxes
//! in VOC's inclusive pixel coordinates).

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
};

use agree_schema::ExperimentDir;

use crate::{
    Attribute, Catalog, CatalogEntry, IngestError, Result, Split,
    catalog::ClaimedSize,
    imagefolder::{readable_entries, reject, stream_trees},
    manifest::SourceInfo,
    pipeline::{IngestOptions, IngestSummary, OnError, ingest_catalog},
    tree::InputTree,
};

/// The 20 VOC classes in label order.
pub const CLASSES: [&str; 20] = [
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
];

/// What an annotation says about one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// Image width from `<size>`.
    pub width: u32,
    /// Image height from `<size>`.
    pub height: u32,
    /// (class index, difficult, area in pixels of the box clipped to the image) per object.
    pub objects: Vec<(usize, bool, f64)>,
}

/// The largest image side an annotation may state.
const MAX_SIDE: f64 = 1_000_000.0;

fn size_node<'a, 'i>(root: roxmltree::Node<'a, 'i>) -> std::result::Result<roxmltree::Node<'a, 'i>, String> {
    root.children()
        .find(|c| c.has_tag_name("size"))
        .ok_or_else(|| "missing <size>".to_string())
}

/// Area of a box in VOC's inclusive 1-based pixel coordinates after clipping it to
/// the image (a box partly or wholly outside counts only what lies inside).
fn clipped_area([x0, y0, x1, y1]: [f64; 4], width: u32, height: u32) -> f64 {
    let extent = |lo: f64, hi: f64, side: u32| (hi.min(side as f64) - lo.max(1.0) + 1.0).max(0.0);
    extent(x0, x1, width) * extent(y0, y1, height)
}

/// Parses one VOC annotation XML; the error is a reason.
pub fn parse_annotation(xml: &[u8]) -> std::result::Result<Annotation, String> {
    let text = std::str::from_utf8(xml).map_err(|_| "annotation is not UTF-8".to_string())?;
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("malformed XML: {e}"))?;
    let root = doc.root_element();
    fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
        node.children().find(|c| c.has_tag_name(name))
    }
    let number = |node: roxmltree::Node<'_, '_>, name: &str| -> std::result::Result<f64, String> {
        child(node, name)
            .and_then(|c| c.text())
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("missing or non-numeric <{name}>"))
    };
    let side = |name: &str| -> std::result::Result<u32, String> {
        let v = number(size_node(root)?, name)?;
        if v.fract() != 0.0 || !(1.0..=MAX_SIDE).contains(&v) {
            return Err(format!(
                "<size><{name}> {v} is not a whole number of pixels in 1..{MAX_SIDE}"
            ));
        }
        Ok(v as u32)
    };
    let width = side("width")?;
    let height = side("height")?;
    let mut objects = Vec::new();
    for obj in root.children().filter(|c| c.has_tag_name("object")) {
        let name = child(obj, "name")
            .and_then(|n| n.text())
            .map(str::trim)
            .ok_or("object without <name>")?;
        let class = CLASSES
            .iter()
            .position(|c| *c == name)
            .ok_or_else(|| format!("unknown class `{name}`"))?;
        let difficult = child(obj, "difficult")
            .and_then(|d| d.text())
            .map(|t| t.trim() == "1")
            .unwrap_or(false);
        let bbox = child(obj, "bndbox").ok_or_else(|| format!("object `{name}` without <bndbox>"))?;
        let (x0, y0, x1, y1) = (
            number(bbox, "xmin")?,
            number(bbox, "ymin")?,
            number(bbox, "xmax")?,
            number(bbox, "ymax")?,
        );
        if x1 < x0 || y1 < y0 {
            return Err(format!("object `{name}` has an inverted box"));
        }
        objects.push((class, difficult, clipped_area([x0, y0, x1, y1], width, height)));
    }
    Ok(Annotation { width, height, objects })
}

/// (year directory, split) of an image-set list this ingest uses.
fn list_split(path: &str) -> Option<(&str, Split)> {
    let comps: Vec<&str> = path.split('/').collect();
    let n = comps.len();
    if n < 4 || comps[n - 3] != "ImageSets" || comps[n - 2] != "Main" {
        return None;
    }
    match (comps[n - 4], comps[n - 1]) {
        ("VOC2007", "trainval.txt") | ("VOC2012", "trainval.txt") => Some((comps[n - 4], Split::Train)),
        ("VOC2007", "test.txt") => Some((comps[n - 4], Split::Test)),
        _ => None,
    }
}

/// (path up to and including the year dir, year dir) of a path inside `VOC20xx/`.
fn year_prefix(path: &str) -> Option<(String, String)> {
    let comps: Vec<&str> = path.split('/').collect();
    let y = comps.iter().position(|c| c.len() == 7 && c.starts_with("VOC20"))?;
    Some((comps[..=y].join("/"), comps[y].to_string()))
}

/// Ingests VOC trees into `out`.
pub fn ingest(inputs: &[PathBuf], out: &Path, opts: &IngestOptions) -> Result<IngestSummary> {
    let trees = InputTree::open_all(inputs, opts.max_member_bytes)?;
    let mut sources = Vec::new();
    let mut rejected = Vec::new();
    // (tree, year prefix, id) → split, from the image-set lists.
    let mut listed: Vec<(usize, String, String, String, Split)> = Vec::new();
    let mut annotations: HashMap<(usize, String), Vec<u8>> = HashMap::new();
    let mut jpegs: HashMap<(usize, String), ()> = HashMap::new();
    for (t, tree) in trees.iter().enumerate() {
        let (entries, sha256) =
            tree.scan(|p| list_split(p).is_some() || (p.contains("/Annotations/") && p.ends_with(".xml")))?;
        sources.push(SourceInfo {
            path: tree.path().display().to_string(),
            sha256,
            url: None,
        });
        let entries = readable_entries(entries, &mut rejected, opts.on_error, &sources[t].path)?;
        for e in entries.into_iter().filter(|e| !e.is_dir) {
            if let Some((year, split)) = list_split(&e.path) {
                let Some((prefix, _)) = year_prefix(&e.path) else {
                    continue;
                };
                let text = String::from_utf8_lossy(e.content.as_deref().unwrap_or_default()).into_owned();
                for id in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    listed.push((t, prefix.clone(), year.to_string(), id.to_string(), split));
                }
            } else if let Some(content) = e.content {
                annotations.insert((t, e.path), content);
            } else if e.path.contains("/JPEGImages/") {
                jpegs.insert((t, e.path), ());
            }
        }
    }
    if listed.is_empty() {
        return Err(IngestError::Dataset {
            path: inputs.first().cloned().unwrap_or_default(),
            reason: "no VOC2007/VOC2012 ImageSets/Main/{trainval,test}.txt found".into(),
        });
    }
    // Annotations and images may come from another input than the list (the 2007 test
    // tar holds its own); find them in any input.
    let find =
        |map: &dyn Fn(usize, &str) -> bool, path_in_year: &str, prefix: &str, t0: usize| -> Option<(usize, String)> {
            let p = format!("{prefix}/{path_in_year}");
            if map(t0, &p) {
                return Some((t0, p));
            }
            (0..trees.len()).find(|&t| map(t, &p)).map(|t| (t, p))
        };
    let mut entries = Vec::new();
    let mut present = BTreeSet::new();
    for (t, prefix, year, id, split) in listed {
        let source_name = sources[t].path.clone();
        let has_xml = |t: usize, p: &str| annotations.contains_key(&(t, p.to_string()));
        let has_jpg = |t: usize, p: &str| jpegs.contains_key(&(t, p.to_string()));
        let Some((ta, xml_path)) = find(&has_xml, &format!("Annotations/{id}.xml"), &prefix, t) else {
            reject(
                &mut rejected,
                opts.on_error,
                &source_name,
                &format!("{prefix}/Annotations/{id}.xml"),
                "annotation listed but missing".into(),
            )?;
            continue;
        };
        let Some((tj, jpg_path)) = find(&has_jpg, &format!("JPEGImages/{id}.jpg"), &prefix, t) else {
            reject(
                &mut rejected,
                opts.on_error,
                &source_name,
                &format!("{prefix}/JPEGImages/{id}.jpg"),
                "image listed but missing".into(),
            )?;
            continue;
        };
        let parsed = match parse_annotation(&annotations[&(ta, xml_path.clone())]) {
            Ok(a) => a,
            Err(reason) => {
                reject(&mut rejected, opts.on_error, &sources[ta].path, &xml_path, reason)?;
                continue;
            }
        };
        let counted: Vec<&(usize, bool, f64)> = parsed
            .objects
            .iter()
            .filter(|(_, difficult, _)| split == Split::Train || !difficult)
            .collect();
        let labels: BTreeSet<usize> = counted.iter().map(|o| o.0).collect();
        let area: f64 = counted.iter().map(|o| o.2).sum();
        let key = format!("{year}/JPEGImages/{id}.jpg");
        present.insert(key.clone());
        entries.push(CatalogEntry {
            split,
            key,
            labels: labels.iter().map(|&l| l as i32).collect(),
            source: tj,
            member: jpg_path,
            claimed_size: Some(ClaimedSize {
                width: parsed.width,
                height: parsed.height,
                by: xml_path.clone(),
            }),
            attributes: vec![
                Some(Attribute::Int(labels.len() as i32)),
                Some(Attribute::Float(area / (parsed.width as f64 * parsed.height as f64))),
            ],
        });
    }
    let names: Vec<String> = sources.iter().map(|s| s.path.clone()).collect();
    let classes = CLASSES.iter().map(|s| s.to_string()).collect();
    let attrs = vec!["num_objects".into(), "object_area_fraction".into()];
    let catalog = Catalog::new(
        "voc",
        classes,
        true,
        attrs,
        entries,
        rejected,
        &names,
        opts.on_error == OnError::Skip,
    )?;
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

    const XML: &str = "<annotation><size><width>100</width><height>50</height><depth>3</depth></size>\
        <object><name>dog</name><difficult>0</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>10</ymax></bndbox></object>\
        <object><name>cat</name><difficult>1</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>20</xmax><ymax>5</ymax></bndbox></object>\
        </annotation>";

    #[test]
    fn annotation_objects_and_areas() {
        let a = parse_annotation(XML.as_bytes()).unwrap();
        assert_eq!((a.width, a.height), (100, 50));
        assert_eq!(a.objects, vec![(11, false, 100.0), (7, true, 100.0)]);
    }

    #[test]
    fn boxes_are_clipped_to_the_image() {
        let xml = |b: &str| {
            format!(
                "<annotation><size><width>10</width><height>10</height></size><object><name>dog</name>\
                 <bndbox>{b}</bndbox></object></annotation>"
            )
        };
        let area = |b: &str| parse_annotation(xml(b).as_bytes()).unwrap().objects[0].2;
        let b = |x0, y0, x1, y1| format!("<xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax>");
        assert_eq!(area(&b(1, 1, 10, 10)), 100.0);
        assert_eq!(area(&b(-500, 1, 5000, 10)), 100.0, "wider than the image");
        assert_eq!(area(&b(6, 6, 20, 20)), 25.0, "partly outside");
        assert_eq!(area(&b(30, 30, 40, 40)), 0.0, "wholly outside");
        let bad = xml(&b(1, 1, 2, 2)).replace("<width>10</width>", "<width>inf</width>");
        assert!(parse_annotation(bad.as_bytes()).unwrap_err().contains("<width>"));
        let half = xml(&b(1, 1, 2, 2)).replace("<width>10</width>", "<width>10.5</width>");
        assert!(parse_annotation(half.as_bytes()).unwrap_err().contains("whole number"));
    }

    #[test]
    fn bad_annotations_say_why() {
        assert!(
            parse_annotation(b"<annotation><size>")
                .unwrap_err()
                .contains("malformed XML")
        );
        let unknown = XML.replace("<name>dog</name>", "<name>dragon</name>");
        assert!(
            parse_annotation(unknown.as_bytes())
                .unwrap_err()
                .contains("unknown class `dragon`")
        );
    }

    #[test]
    fn lists_map_to_splits() {
        assert_eq!(
            list_split("VOCdevkit/VOC2007/ImageSets/Main/test.txt"),
            Some(("VOC2007", Split::Test))
        );
        assert_eq!(
            list_split("VOCdevkit/VOC2012/ImageSets/Main/trainval.txt"),
            Some(("VOC2012", Split::Train))
        );
        assert_eq!(list_split("VOCdevkit/VOC2012/ImageSets/Main/test.txt"), None);
        assert_eq!(list_split("VOCdevkit/VOC2007/ImageSets/Main/dog_trainval.txt"), None);
    }
}
