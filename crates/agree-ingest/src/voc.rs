//! Pascal VOC 2007 + 2012: `VOCdevkit/VOC20xx/{JPEGImages,Annotations,ImageSets/Main}`
//! from one or more directories or tars (the distributed trainval and test tars can be
//! given together). VOC2007 trainval + VOC2012 trainval = train, VOC2007 test = test.
//! Multi-label over the 20 classes; in the test split objects flagged `difficult` do
//! not count. Attributes: `num_objects` (distinct labelled classes counted) and
//! `object_area_fraction` (summed box area of the counted objects / image area, boxes
//! in VOC's inclusive pixel coordinates).

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    path::{Path, PathBuf},
};

use crate::{
    Attribute, Catalog, CatalogEntry, CatalogParts, IngestError, Result, Split,
    catalog::{ClaimedSize, Rejected},
    dataset::{self, Catalogued, DatasetReader, scan_source},
    imagefolder::{reject, stream_trees},
    manifest::SourceInfo,
    pipeline::{IngestOptions, IngestSummary, Item, OnError},
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

/// An image listed by an image-set list: (input, year prefix path, year, id, split).
type Listed = (usize, String, String, String, Split);

/// What the scan of the VOC inputs found.
#[derive(Default)]
struct VocFiles {
    /// The listed images, in list order.
    listed: Vec<Listed>,
    /// Annotation XML by (input, path).
    annotations: HashMap<(usize, String), Vec<u8>>,
    /// Images present, by (input, path).
    jpegs: HashSet<(usize, String)>,
}

/// Pascal VOC trees as a dataset.
struct Voc {
    trees: Vec<InputTree>,
}

impl DatasetReader for Voc {
    fn catalogue(&mut self, on_error: OnError) -> Result<Catalogued> {
        let mut rejected = Vec::new();
        let (sources, files) = scan(&self.trees, &mut rejected, on_error)?;
        if files.listed.is_empty() {
            return Err(IngestError::Dataset {
                path: self.trees.first().map(|t| t.path().to_path_buf()).unwrap_or_default(),
                reason: "no VOC2007/VOC2012 ImageSets/Main/{trainval,test}.txt found".into(),
            });
        }
        let mut entries = Vec::new();
        for listed in &files.listed {
            entries.extend(files.entry(listed, &sources, &mut rejected, on_error)?);
        }
        let parts = CatalogParts {
            dataset: "voc".into(),
            classes: CLASSES.iter().map(|s| s.to_string()).collect(),
            multi_label: true,
            attribute_names: vec!["num_objects".into(), "object_area_fraction".into()],
            entries,
            rejected,
            on_duplicate: on_error,
        };
        Catalogued::new(parts, sources)
    }

    fn stream(&self, catalog: &Catalog, push: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
        stream_trees(catalog, &self.trees, push)
    }
}

/// Scans every input for image-set lists, annotations and images.
fn scan(trees: &[InputTree], rejected: &mut Vec<Rejected>, on_error: OnError) -> Result<(Vec<SourceInfo>, VocFiles)> {
    let mut sources = Vec::new();
    let mut files = VocFiles::default();
    for (t, tree) in trees.iter().enumerate() {
        let wanted = |p: &str| list_split(p).is_some() || (p.contains("/Annotations/") && p.ends_with(".xml"));
        let (source, entries) = scan_source(tree, wanted, rejected, on_error)?;
        sources.push(source);
        for e in entries.into_iter().filter(|e| !e.is_dir) {
            if let Some((year, split)) = list_split(&e.path) {
                let Some((prefix, _)) = year_prefix(&e.path) else {
                    continue;
                };
                let text = String::from_utf8_lossy(e.content.as_deref().unwrap_or_default()).into_owned();
                for id in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    files
                        .listed
                        .push((t, prefix.clone(), year.to_string(), id.to_string(), split));
                }
            } else if let Some(content) = e.content {
                files.annotations.insert((t, e.path), content);
            } else if e.path.contains("/JPEGImages/") {
                files.jpegs.insert((t, e.path));
            }
        }
    }
    Ok((sources, files))
}

impl VocFiles {
    /// Where `prefix/path_in_year` is: in input `t0` (the list's) if there, else in the
    /// first input that has it (the 2007 test tar holds its own annotations and images).
    fn locate(
        &self,
        has: impl Fn(&(usize, String)) -> bool,
        path_in_year: &str,
        prefix: &str,
        t0: usize,
        inputs: usize,
    ) -> Option<(usize, String)> {
        let p = format!("{prefix}/{path_in_year}");
        std::iter::once(t0)
            .chain(0..inputs)
            .map(|t| (t, p.clone()))
            .find(|at| has(at))
    }

    /// The catalogue entry of one listed image, or `None` when its annotation or image
    /// is missing or the annotation is unusable (rejected).
    fn entry(
        &self,
        (t, prefix, year, id, split): &Listed,
        sources: &[SourceInfo],
        rejected: &mut Vec<Rejected>,
        on_error: OnError,
    ) -> Result<Option<CatalogEntry>> {
        let (t, split) = (*t, *split);
        let source_name = &sources[t].path;
        let has_xml = |at: &(usize, String)| self.annotations.contains_key(at);
        let Some((ta, xml_path)) = self.locate(has_xml, &format!("Annotations/{id}.xml"), prefix, t, sources.len())
        else {
            let member = format!("{prefix}/Annotations/{id}.xml");
            reject(
                rejected,
                on_error,
                source_name,
                &member,
                "annotation listed but missing".into(),
            )?;
            return Ok(None);
        };
        let has_jpg = |at: &(usize, String)| self.jpegs.contains(at);
        let Some((tj, jpg_path)) = self.locate(has_jpg, &format!("JPEGImages/{id}.jpg"), prefix, t, sources.len())
        else {
            let member = format!("{prefix}/JPEGImages/{id}.jpg");
            reject(
                rejected,
                on_error,
                source_name,
                &member,
                "image listed but missing".into(),
            )?;
            return Ok(None);
        };
        let parsed = match parse_annotation(&self.annotations[&(ta, xml_path.clone())]) {
            Ok(a) => a,
            Err(reason) => {
                reject(rejected, on_error, &sources[ta].path, &xml_path, reason)?;
                return Ok(None);
            }
        };
        // Objects flagged `difficult` count in the train split only.
        let counted: Vec<&(usize, bool, f64)> = parsed
            .objects
            .iter()
            .filter(|(_, difficult, _)| split == Split::Train || !difficult)
            .collect();
        let labels: BTreeSet<usize> = counted.iter().map(|o| o.0).collect();
        let area: f64 = counted.iter().map(|o| o.2).sum();
        Ok(Some(CatalogEntry {
            split,
            key: format!("{year}/JPEGImages/{id}.jpg"),
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
        }))
    }
}

/// Ingests VOC trees into `out`.
pub fn ingest(inputs: &[PathBuf], out: &Path, opts: &IngestOptions) -> Result<IngestSummary> {
    let mut reader = Voc {
        trees: InputTree::open_all(inputs, opts.max_member_bytes)?,
    };
    dataset::ingest(&mut reader, out, opts)
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
