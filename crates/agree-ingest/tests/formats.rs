//! Every ingest format on small fixtures the tests build themselves, and every
//! bad-input case: clear errors naming the file, nothing left behind, and
//! `--on-error skip` recording rejects.

mod common;

use common::{encoded, opts, strings, table, write_tree};
use std::{collections::HashMap, io::Write, path::Path};

use agree_ingest::{OnError, cifar10, imagefolder, kth_tips2b, manifest::Manifest, scores, synthetic, voc};
use agree_schema::ExperimentDir;
use arrow::array::{Array, BinaryArray, Float64Array, Int32Array, Int64Array, ListArray, RecordBatch};
use image::ImageFormat;

/// (path, bytes) of files in a fixture tree.
type Files = Vec<(&'static str, Vec<u8>)>;

fn tar_gz(dest: &Path, files: &[(&str, Vec<u8>)], gzip: bool) {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, &bytes[..]).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    if gzip {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        std::fs::write(dest, gz.finish().unwrap()).unwrap();
    } else {
        std::fs::write(dest, tar).unwrap();
    }
}

fn ints64(b: &RecordBatch, col: &str) -> Vec<i64> {
    b.column_by_name(col)
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .values()
        .to_vec()
}

fn ints32(b: &RecordBatch, col: &str) -> Vec<Option<i32>> {
    b.column_by_name(col)
        .unwrap()
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap()
        .iter()
        .collect()
}

/// Checks the samples table against its contract and the invariants every format
/// keeps; returns its rows in `sample_id` order.
fn check_samples(dir: &Path) -> RecordBatch {
    let b = table(&ExperimentDir::new(dir).samples());
    let order = arrow::compute::sort_to_indices(b.column_by_name("sample_id").unwrap(), None, None).unwrap();
    let b = arrow::compute::take_record_batch(&b, &order).unwrap();
    agree_schema::Table::Samples.contract().check(&b.schema()).unwrap();
    let mut ids = ints64(&b, "sample_id");
    let keys = strings(&b, "key");
    let splits = strings(&b, "split");
    let mut by_id: Vec<(i64, String, String)> = ids
        .iter()
        .zip(splits.iter().zip(keys.iter()))
        .map(|(i, (s, k))| (*i, s.clone(), k.clone()))
        .collect();
    by_id.sort();
    let mut sorted = by_id.iter().map(|(_, s, k)| (s.clone(), k.clone())).collect::<Vec<_>>();
    let in_id_order = sorted.clone();
    sorted.sort();
    assert_eq!(in_id_order, sorted, "ids follow (split, key) order");
    ids.sort();
    assert_eq!(ids, (0..ids.len() as i64).collect::<Vec<_>>(), "ids are dense");
    b
}

fn no_tables_in(dir: &Path) -> bool {
    !dir.exists()
        || std::fs::read_dir(dir).unwrap().all(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            !name.ends_with(".parquet") && !name.ends_with(".tmp") && name != "manifest.json"
        })
}

fn imagefolder_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("ds/train/cat/a.png", encoded(8, 6, 1, ImageFormat::Png)),
        ("ds/train/cat/b.jpg", encoded(8, 8, 2, ImageFormat::Jpeg)),
        ("ds/train/dog/c.png", encoded(5, 7, 3, ImageFormat::Png)),
        ("ds/val/dog/d.bmp", encoded(4, 4, 4, ImageFormat::Bmp)),
        ("ds/val/cat/e.png", encoded(3, 3, 5, ImageFormat::Png)),
        ("ds/README.txt", b"not part of the dataset".to_vec()),
        ("ds/train/cat/.DS_Store", b"junk".to_vec()),
    ]
}

#[test]
fn imagefolder_directory_and_archives_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let files = imagefolder_files();
    write_tree(&tmp.path().join("tree"), &files);
    tar_gz(&tmp.path().join("ds.tar.gz"), &files, true);
    tar_gz(&tmp.path().join("ds.tar"), &files, false);
    let mut tables = Vec::new();
    for (name, input) in [("dir", "tree"), ("tgz", "ds.tar.gz"), ("tar", "ds.tar")] {
        let out = tmp.path().join(name);
        let s = imagefolder::ingest("imagefolder", &[tmp.path().join(input)], &out, &opts(OnError::Fail)).unwrap();
        assert_eq!(s.manifest.samples, 5);
        assert_eq!(s.manifest.classes, ["cat", "dog"]);
        let in_file_order = ints64(&table(&ExperimentDir::new(&out).samples()), "sample_id");
        if name == "dir" {
            assert_eq!(in_file_order, [0, 1, 2, 3, 4], "folders are written in id order");
        }
        let b = check_samples(&out);
        tables.push(b);
        if name != "dir" {
            assert!(s.manifest.sources[0].sha256.as_ref().is_some_and(|h| h.len() == 64));
        }
    }
    let b = &tables[0];
    // test < train, so the val (test) images come first.
    let keys = strings(b, "key");
    assert_eq!(
        keys,
        [
            "val/cat/e.png",
            "val/dog/d.bmp",
            "train/cat/a.png",
            "train/cat/b.jpg",
            "train/dog/c.png"
        ]
    );
    assert_eq!(strings(b, "split"), ["test", "test", "train", "train", "train"]);
    assert_eq!(ints32(b, "label"), [Some(0), Some(1), Some(0), Some(0), Some(1)]);
    assert_eq!(ints32(b, "width"), [Some(3), Some(4), Some(8), Some(8), Some(5)]);
    assert_eq!(strings(b, "format"), ["png", "bmp", "png", "jpeg", "png"]);
    // Original bytes, never re-encoded.
    let images = b
        .column_by_name("image")
        .unwrap()
        .as_any()
        .downcast_ref::<BinaryArray>()
        .unwrap();
    let original: HashMap<&str, &Vec<u8>> = files.iter().map(|(p, b)| (p.trim_start_matches("ds/"), b)).collect();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(images.value(i), original[k.as_str()].as_slice(), "{k}");
    }
    for other in &tables[1..] {
        assert_eq!(strings(other, "key"), keys);
        assert_eq!(ints64(other, "sample_id"), ints64(b, "sample_id"));
    }
    let m1 = Manifest::read(&tmp.path().join("dir/manifest.json")).unwrap();
    let m2 = Manifest::read(&tmp.path().join("tgz/manifest.json")).unwrap();
    assert_eq!(m1.samples_digest, m2.samples_digest, "same content, same digest");
    assert_eq!(m1.counts["train"]["cat"], 2);
}

fn expect_error(result: agree_ingest::Result<impl std::fmt::Debug>, needles: &[&str]) {
    let err = result.expect_err("bad input must fail").to_string();
    for n in needles {
        assert!(err.contains(n), "error `{err}` should mention `{n}`");
    }
}

#[test]
fn imagefolder_bad_inputs_fail_clearly_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let png = encoded(6, 6, 9, ImageFormat::Png);
    let cases: Vec<(&str, Files, Vec<&str>)> = vec![
        (
            "truncated",
            vec![("train/a/x.png", png[..png.len() / 2].to_vec())],
            vec!["train/a/x.png", "corrupt or truncated png"],
        ),
        (
            "corrupt",
            vec![("train/a/x.jpg", b"\xff\xd8\xff\xe0garbage".to_vec())],
            vec!["train/a/x.jpg", "jpeg"],
        ),
        (
            "non_image",
            vec![("train/a/x.png", png.clone()), ("train/a/notes.txt", b"hi".to_vec())],
            vec!["train/a/notes.txt", "not an image file"],
        ),
        (
            "loose",
            vec![("train/a/x.png", png.clone()), ("train/loose.png", png.clone())],
            vec!["train/loose.png", "class folder"],
        ),
    ];
    for (name, files, needles) in cases {
        let input = tmp.path().join(format!("{name}.tar.gz"));
        tar_gz(&input, &files, true);
        let out = tmp.path().join(format!("out_{name}"));
        let mut needles = needles;
        let input_name = input.display().to_string();
        needles.push(&input_name);
        expect_error(
            imagefolder::ingest("imagefolder", std::slice::from_ref(&input), &out, &opts(OnError::Fail)),
            &needles,
        );
        assert!(no_tables_in(&out), "{name}: nothing written");
    }
    // An empty class folder (directories are visible in a folder tree).
    let tree = tmp.path().join("empty_class");
    write_tree(&tree, &[("train/a/x.png", png.clone())]);
    std::fs::create_dir_all(tree.join("train/b")).unwrap();
    expect_error(
        imagefolder::ingest(
            "imagefolder",
            std::slice::from_ref(&tree),
            &tmp.path().join("o"),
            &opts(OnError::Fail),
        ),
        &["train/b", "empty class folder"],
    );
    // Duplicate keys across two inputs.
    let one = tmp.path().join("one");
    let two = tmp.path().join("two");
    write_tree(&one, &[("train/a/x.png", png.clone())]);
    write_tree(&two, &[("train/a/x.png", png.clone())]);
    expect_error(
        imagefolder::ingest("imagefolder", &[one, two], &tmp.path().join("o2"), &opts(OnError::Fail)),
        &["duplicate key `train/a/x.png`"],
    );
}

#[test]
fn skip_mode_records_rejects_and_keeps_ids_dense() {
    let tmp = tempfile::tempdir().unwrap();
    let png = encoded(6, 6, 9, ImageFormat::Png);
    let files = vec![
        ("train/a/1.png", png.clone()),
        ("train/a/2.png", png[..20].to_vec()),
        ("train/a/3.png", png.clone()),
        ("train/a/notes.txt", b"x".to_vec()),
        ("train/b/4.png", png.clone()),
    ];
    let input = tmp.path().join("d.tar.gz");
    tar_gz(&input, &files, true);
    let out = tmp.path().join("out");
    // A previous, complete ingest must survive a failed one untouched.
    imagefolder::ingest(
        "imagefolder",
        &[tmp.path().join("d.tar.gz")],
        &out,
        &opts(OnError::Skip),
    )
    .unwrap();
    let before = std::fs::read(out.join("samples.parquet")).unwrap();
    assert!(imagefolder::ingest("imagefolder", std::slice::from_ref(&input), &out, &opts(OnError::Fail)).is_err());
    assert_eq!(
        std::fs::read(out.join("samples.parquet")).unwrap(),
        before,
        "failed ingest left the old table intact"
    );

    let s = imagefolder::ingest("imagefolder", &[input], &out, &opts(OnError::Skip)).unwrap();
    assert_eq!(s.manifest.samples, 3);
    assert_eq!(s.manifest.rejected, 2);
    let b = check_samples(&out);
    assert_eq!(strings(&b, "key"), ["train/a/1.png", "train/a/3.png", "train/b/4.png"]);
    let r = table(&out.join("rejects.parquet"));
    agree_schema::Table::Rejects.contract().check(&r.schema()).unwrap();
    let mut members = strings(&r, "member");
    members.sort();
    assert_eq!(members, ["train/a/2.png", "train/a/notes.txt"]);
    assert!(strings(&r, "reason").iter().any(|x| x.contains("truncated")));
}

fn cifar_record(label: u8, seed: u8) -> Vec<u8> {
    let mut r = vec![label];
    r.extend((0..3072).map(|i| (i as u8).wrapping_mul(seed)));
    r
}

#[test]
fn cifar10_binary_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let batch = |labels: &[u8]| {
        labels
            .iter()
            .enumerate()
            .flat_map(|(i, &l)| cifar_record(l, i as u8 + 1))
            .collect::<Vec<u8>>()
    };
    let files = vec![
        (
            "cifar-10-batches-bin/batches.meta.txt",
            b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n".to_vec(),
        ),
        ("cifar-10-batches-bin/data_batch_1.bin", batch(&[3, 1])),
        ("cifar-10-batches-bin/data_batch_2.bin", batch(&[9])),
        ("cifar-10-batches-bin/test_batch.bin", batch(&[0, 5])),
    ];
    let input = tmp.path().join("cifar-10-binary.tar.gz");
    tar_gz(&input, &files, true);
    let out = tmp.path().join("out");
    let s = cifar10::ingest(std::slice::from_ref(&input), &out, &opts(OnError::Fail)).unwrap();
    assert_eq!(s.manifest.samples, 5);
    let b = check_samples(&out);
    assert_eq!(
        strings(&b, "key"),
        [
            "test_batch.bin#00000",
            "test_batch.bin#00001",
            "data_batch_1.bin#00000",
            "data_batch_1.bin#00001",
            "data_batch_2.bin#00000"
        ]
    );
    assert_eq!(ints32(&b, "label"), [Some(0), Some(5), Some(3), Some(1), Some(9)]);
    assert_eq!(
        strings(&b, "class_name"),
        ["airplane", "dog", "cat", "automobile", "truck"]
    );
    assert_eq!(strings(&b, "format"), ["rgb8"; 5]);
    let images = b
        .column_by_name("image")
        .unwrap()
        .as_any()
        .downcast_ref::<BinaryArray>()
        .unwrap();
    let rec = cifar_record(3, 1);
    // Pixel 1 of record data_batch_1#0: R plane[1], G plane[1025], B plane[2049].
    assert_eq!(&images.value(2)[3..6], &[rec[2], rec[1 + 1024 + 1], rec[1 + 2048 + 1]]);
    let labels = b
        .column_by_name("labels")
        .unwrap()
        .as_any()
        .downcast_ref::<ListArray>()
        .unwrap();
    assert_eq!(labels.value(0).len(), 1);

    // A short record: fail naming the batch file and record, or skip it.
    let mut short = batch(&[2, 4]);
    short.truncate(RECORD_BYTES_PLUS);
    let bad_files = vec![
        ("cifar-10-batches-bin/data_batch_1.bin", short),
        ("cifar-10-batches-bin/test_batch.bin", batch(&[1])),
    ];
    let bad = tmp.path().join("short.tar.gz");
    tar_gz(&bad, &bad_files, true);
    expect_error(
        cifar10::ingest(std::slice::from_ref(&bad), &tmp.path().join("o"), &opts(OnError::Fail)),
        &["data_batch_1.bin#00001", "short record"],
    );
    assert!(no_tables_in(&tmp.path().join("o")));
    let s = cifar10::ingest(&[bad], &tmp.path().join("o2"), &opts(OnError::Skip)).unwrap();
    assert_eq!((s.manifest.samples, s.manifest.rejected), (2, 1));
}

const RECORD_BYTES_PLUS: usize = cifar10::RECORD_BYTES + 100;

#[test]
fn cifar10_falls_back_to_imagefolder_layout() {
    let tmp = tempfile::tempdir().unwrap();
    write_tree(
        &tmp.path().join("c"),
        &[("cifar10/train/cat/0.png", encoded(32, 32, 1, ImageFormat::Png))],
    );
    let s = cifar10::ingest(&[tmp.path().join("c")], &tmp.path().join("o"), &opts(OnError::Fail)).unwrap();
    assert_eq!((s.manifest.dataset.as_str(), s.manifest.samples), ("cifar10", 1));
}

#[test]
fn kth_tips2b_attributes() {
    let tmp = tempfile::tempdir().unwrap();
    let png = |s| encoded(10, 10, s, ImageFormat::Png);
    let files = vec![
        ("KTH-TIPS2-b/wool/sample_a/22a-scale_2_im_1_col.png", png(1)),
        ("KTH-TIPS2-b/wool/sample_c/22c-scale_5_im_6_col.png", png(2)),
        ("KTH-TIPS2-b/aluminium_foil/sample_b/15b-scale_10_im_12_col.png", png(3)),
    ];
    let input = tmp.path().join("kth.tar");
    tar_gz(&input, &files, false);
    let out = tmp.path().join("out");
    kth_tips2b::ingest(&[input], &out, &opts(OnError::Fail)).unwrap();
    let b = check_samples(&out);
    assert_eq!(strings(&b, "split"), ["test", "train", "train"]);
    assert_eq!(strings(&b, "class_name"), ["wool", "aluminium_foil", "wool"]);
    let a = table(&ExperimentDir::new(&out).attributes());
    agree_schema::Table::Attributes.contract().check(&a.schema()).unwrap();
    assert_eq!(ints64(&a, "sample_id"), [0, 1, 2]);
    assert_eq!(ints32(&a, "scale"), [Some(5), Some(10), Some(2)]);
    assert_eq!(strings(&a, "rotation"), ["right", "left", "frontal"]);
    assert_eq!(strings(&a, "illumination"), ["side", "ambient", "frontal"]);

    let bad = tmp.path().join("bad");
    write_tree(&bad, &[("KTH-TIPS2-b/wool/sample_a/photo.png", png(4))]);
    expect_error(
        kth_tips2b::ingest(&[bad], &tmp.path().join("o"), &opts(OnError::Fail)),
        &["photo.png", "scale_"],
    );
}

fn voc_xml(objects: &[(&str, bool, [u32; 4])]) -> Vec<u8> {
    let mut s = String::from("<annotation><size><width>20</width><height>10</height><depth>3</depth></size>");
    for (name, difficult, b) in objects {
        s.push_str(&format!(
            "<object><name>{name}</name><difficult>{}</difficult><bndbox><xmin>{}</xmin><ymin>{}</ymin><xmax>{}</xmax><ymax>{}</ymax></bndbox></object>",
            *difficult as u8, b[0], b[1], b[2], b[3]
        ));
    }
    s.push_str("</annotation>");
    s.into_bytes()
}

fn voc_files(xml_0002: Vec<u8>) -> (Files, Files) {
    let jpg = |s| encoded(20, 10, s, ImageFormat::Jpeg);
    let trainval = vec![
        ("VOCdevkit/VOC2007/ImageSets/Main/trainval.txt", b"000001\n".to_vec()),
        (
            "VOCdevkit/VOC2007/Annotations/000001.xml",
            voc_xml(&[("dog", true, [1, 1, 10, 10]), ("person", false, [1, 1, 5, 5])]),
        ),
        ("VOCdevkit/VOC2007/JPEGImages/000001.jpg", jpg(1)),
        (
            "VOCdevkit/VOC2012/ImageSets/Main/trainval.txt",
            b"2008_000003\n".to_vec(),
        ),
        (
            "VOCdevkit/VOC2012/Annotations/2008_000003.xml",
            voc_xml(&[("cat", false, [1, 1, 20, 10])]),
        ),
        ("VOCdevkit/VOC2012/JPEGImages/2008_000003.jpg", jpg(2)),
        ("VOCdevkit/VOC2012/JPEGImages/2008_999999.jpg", jpg(9)),
    ];
    let test = vec![
        ("VOCdevkit/VOC2007/ImageSets/Main/test.txt", b"000002\n".to_vec()),
        ("VOCdevkit/VOC2007/Annotations/000002.xml", xml_0002),
        ("VOCdevkit/VOC2007/JPEGImages/000002.jpg", jpg(3)),
    ];
    (trainval, test)
}

#[test]
fn voc_multilabel_with_difficult_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let (trainval, test) = voc_files(voc_xml(&[
        ("dog", true, [1, 1, 10, 10]),
        ("cat", false, [1, 1, 4, 5]),
        ("cat", false, [5, 5, 6, 6]),
    ]));
    tar_gz(&tmp.path().join("trainval.tar"), &trainval, false);
    tar_gz(&tmp.path().join("test.tar"), &test, false);
    let out = tmp.path().join("out");
    let s = voc::ingest(
        &[tmp.path().join("trainval.tar"), tmp.path().join("test.tar")],
        &out,
        &opts(OnError::Fail),
    )
    .unwrap();
    assert!(s.manifest.multi_label);
    let b = check_samples(&out);
    assert_eq!(
        strings(&b, "key"),
        [
            "VOC2007/JPEGImages/000002.jpg",
            "VOC2007/JPEGImages/000001.jpg",
            "VOC2012/JPEGImages/2008_000003.jpg"
        ]
    );
    assert_eq!(ints32(&b, "label"), [None, None, None]);
    // Test: the difficult dog does not count. Train: difficult objects count.
    assert_eq!(strings(&b, "class_name"), ["cat", "dog,person", "cat"]);
    let a = table(&ExperimentDir::new(&out).attributes());
    assert_eq!(ints32(&a, "num_objects"), [Some(1), Some(2), Some(1)]);
    let frac = a
        .column_by_name("object_area_fraction")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    // Test image: cat boxes 4×5 + 2×2 = 24 px of 200.
    assert!((frac.value(0) - 24.0 / 200.0).abs() < 1e-12);
    assert!((frac.value(2) - 1.0).abs() < 1e-12);

    for (xml, needles) in [
        (b"<annotation><size>".to_vec(), vec!["000002.xml", "malformed XML"]),
        (
            voc_xml(&[("dragon", false, [1, 1, 2, 2])]),
            vec!["000002.xml", "unknown class `dragon`"],
        ),
    ] {
        let (trainval, test) = voc_files(xml);
        let dir = tmp.path().join("badvoc");
        let _ = std::fs::remove_dir_all(&dir);
        write_tree(&dir, &trainval);
        write_tree(&dir, &test);
        expect_error(
            voc::ingest(&[dir], &tmp.path().join("o"), &opts(OnError::Fail)),
            &needles,
        );
        assert!(no_tables_in(&tmp.path().join("o")));
    }
}

#[test]
fn synthetic_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let config = synthetic::SyntheticConfig {
        seed: 42,
        train: 60,
        test: 20,
        size: 24,
    };
    let a = synthetic::ingest(&config, &tmp.path().join("a"), &opts(OnError::Fail)).unwrap();
    let b = synthetic::ingest(&config, &tmp.path().join("b"), &opts(OnError::Fail)).unwrap();
    assert_eq!(a.manifest.samples_digest, b.manifest.samples_digest);
    assert_eq!(
        std::fs::read(tmp.path().join("a/attributes.parquet")).unwrap(),
        std::fs::read(tmp.path().join("b/attributes.parquet")).unwrap()
    );
    let c = synthetic::ingest(
        &synthetic::SyntheticConfig { seed: 43, ..config },
        &tmp.path().join("c"),
        &opts(OnError::Fail),
    )
    .unwrap();
    assert_ne!(a.manifest.samples_digest, c.manifest.samples_digest);
    let s = check_samples(&tmp.path().join("a"));
    assert_eq!(s.num_rows(), 80);
    assert_eq!(ints32(&s, "width"), vec![Some(24); 80]);
    let attrs = table(&tmp.path().join("a/attributes.parquet"));
    let d = attrs
        .column_by_name("difficulty")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert!(d.iter().all(|v| v.is_some_and(|v| (0.0..1.0).contains(&v))));
    assert_eq!(d.null_count(), 0);
}

#[test]
fn scores_import_by_key_and_cifar10h() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("exp");
    let files = vec![
        ("train/a/1.png", encoded(4, 4, 1, ImageFormat::Png)),
        ("train/b/2.png", encoded(4, 4, 2, ImageFormat::Png)),
    ];
    write_tree(&tmp.path().join("d"), &files);
    imagefolder::ingest("imagefolder", &[tmp.path().join("d")], &out, &opts(OnError::Fail)).unwrap();
    let csv = tmp.path().join("hardness.csv");
    std::fs::write(&csv, "key,hardness,note\ntrain/b/2.png,0.5,x\ntrain/a/1.png,,y\n").unwrap();
    let s = scores::import(&csv, &out, None).unwrap();
    assert_eq!(
        (s.rows, s.columns.clone()),
        (2, vec!["hardness".to_string(), "note".to_string()])
    );
    let t = table(&ExperimentDir::new(&out).scores("hardness"));
    assert_eq!(ints64(&t, "sample_id"), [0, 1]);
    let h = t
        .column_by_name("hardness")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert!(h.is_null(0) && h.value(1) == 0.5);

    std::fs::write(&csv, "key,hardness\ntrain/zzz.png,1\n").unwrap();
    expect_error(
        scores::import(&csv, &out, None),
        &["hardness.csv", "line 2", "train/zzz.png"],
    );

    // CIFAR-10H needs the official test order: a binary CIFAR ingest.
    let batch: Vec<u8> = (0..3).flat_map(|i| cifar_record(i, i + 1)).collect();
    let cifar = tmp.path().join("cifar");
    write_tree(&cifar, &[("cifar-10-batches-bin/test_batch.bin", batch)]);
    let exp = tmp.path().join("cexp");
    cifar10::ingest(&[cifar], &exp, &opts(OnError::Fail)).unwrap();
    let npy = tmp.path().join("cifar10h-probs.npy");
    let probs: Vec<f32> = [[1.0f32, 0.0], [0.5, 0.5], [0.25, 0.75]].concat();
    // A .npy v1.0 file written by hand: magic, version, header, little-endian f4 data.
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
    let pad = 64 - (10 + header.len() + 1) % 64;
    let mut buf = b"\x93NUMPY\x01\x00".to_vec();
    buf.extend(((header.len() + pad + 1) as u16).to_le_bytes());
    buf.extend(header.as_bytes());
    buf.extend(std::iter::repeat_n(b' ', pad));
    buf.push(b'\n');
    buf.extend(probs.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(&npy, buf).unwrap();
    scores::import(&npy, &exp, None).unwrap();
    let t = table(&ExperimentDir::new(&exp).scores("cifar10h"));
    agree_schema::Table::Scores.contract().check(&t.schema()).unwrap();
    let u = t
        .column_by_name("human_uncertainty")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let expected = [0.0, 1.0, -(0.25f64 * 0.25f64.log2() + 0.75 * 0.75f64.log2())];
    for (got, want) in u.values().iter().zip(expected) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    // The same file against an ImageFolder-ingested dataset cannot be aligned without
    // the original test labels beside it.
    expect_error(
        scores::import(&npy, &out, None),
        &[
            "cifar10h-probs.npy",
            "official test_batch order",
            "cifar10-test-labels.npy",
        ],
    );
}

/// A `.npy` v1.0 file: `descr` (e.g. `<f8`), `shape` (e.g. `(3, 2)`), little-endian data.
fn npy_file(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let pad = 64 - (10 + header.len() + 1) % 64;
    let mut buf = b"\x93NUMPY\x01\x00".to_vec();
    buf.extend(((header.len() + pad + 1) as u16).to_le_bytes());
    buf.extend(header.as_bytes());
    buf.extend(std::iter::repeat_n(b' ', pad));
    buf.push(b'\n');
    buf.extend(data);
    buf
}

/// CIFAR-10H's `cifar10-test-labels.npy` as the shared data holds it (uint16).
fn labels_npy(labels: &[u16]) -> Vec<u8> {
    let data: Vec<u8> = labels.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_file("<u2", &format!("({},)", labels.len()), &data)
}

#[derive(Debug, clap::Parser)]
struct IngestCli {
    #[command(flatten)]
    ingest: agree_ingest::cli::IngestArgs,
}

#[test]
fn cifar10h_rows_find_their_jpegs_through_the_original_test_labels() {
    let tmp = tempfile::tempdir().unwrap();
    // The JPEG archive's layout: `test/<class>/NNNN.jpg` is the NNNN-th test image of
    // its class in the original order.
    let jpeg = |seed| encoded(8, 8, seed, ImageFormat::Jpeg);
    let members: Files = vec![
        ("cifar10/train/airplane/0000.jpg", jpeg(1)),
        ("cifar10/test/airplane/0000.jpg", jpeg(2)),
        ("cifar10/test/airplane/0001.jpg", jpeg(3)),
        ("cifar10/test/automobile/0000.jpg", jpeg(4)),
        ("cifar10/test/bird/0000.jpg", jpeg(5)),
        ("cifar10/test/bird/0001.jpg", jpeg(6)),
    ];
    let archive = tmp.path().join("cifar10-jpeg.tar.gz");
    tar_gz(&archive, &members, true);
    // Original test rows 0..5 are bird, airplane, bird, automobile, airplane; each row's
    // soft labels have another entropy (0, 1, H(¼, ¾), 2 and log2 10 bits).
    let h = tmp.path().join("cifar10h");
    std::fs::create_dir_all(&h).unwrap();
    std::fs::write(h.join("cifar10-test-labels.npy"), labels_npy(&[2, 0, 2, 1, 0])).unwrap();
    let mut probs = [[0.0f64; 10]; 5];
    probs[0][2] = 1.0;
    (probs[1][0], probs[1][8]) = (0.5, 0.5);
    (probs[2][2], probs[2][4]) = (0.25, 0.75);
    probs[3][..4].fill(0.25);
    probs[4].fill(0.1);
    let data: Vec<u8> = probs.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    let npy = h.join("cifar10h-probs.npy");
    std::fs::write(&npy, npy_file("<f8", "(5, 10)", &data)).unwrap();
    // Dataset and soft labels in one `agree ingest`, as a pipeline's [ingest] runs it.
    let exp = tmp.path().join("exp");
    let (a, n, e) = (archive.to_str().unwrap(), npy.to_str().unwrap(), exp.to_str().unwrap());
    let argv = ["agree", "imagefolder", a, "--scores", n, "--out", e];
    let cli = <IngestCli as clap::Parser>::try_parse_from(argv).unwrap();
    agree_ingest::cli::run(&cli.ingest, true).unwrap();

    let samples = table(&ExperimentDir::new(&exp).samples());
    let key_of: HashMap<i64, String> = ints64(&samples, "sample_id")
        .into_iter()
        .zip(strings(&samples, "key"))
        .collect();
    let t = table(&ExperimentDir::new(&exp).scores("cifar10h"));
    let u = t.column_by_name("human_uncertainty").unwrap();
    let u = u.as_any().downcast_ref::<Float64Array>().unwrap();
    let got: HashMap<String, f64> = ints64(&t, "sample_id")
        .into_iter()
        .map(|id| key_of[&id].clone())
        .zip(u.values().iter().copied())
        .collect();
    let h34 = -(0.25f64 * 0.25f64.log2() + 0.75 * 0.75f64.log2());
    let want = [
        ("test/bird/0000.jpg", 0.0),
        ("test/airplane/0000.jpg", 1.0),
        ("test/bird/0001.jpg", h34),
        ("test/automobile/0000.jpg", 2.0),
        ("test/airplane/0001.jpg", 10f64.log2()),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (key, entropy) in want {
        assert!((got[key] - entropy).abs() < 1e-9, "{key}: {} vs {entropy}", got[key]);
    }

    // Labels that do not fit the soft labels are refused, naming the labels file.
    let labels = h.join("cifar10-test-labels.npy");
    std::fs::write(&labels, labels_npy(&[2, 0, 2, 1])).unwrap();
    expect_error(
        scores::import(&npy, &exp, None),
        &["cifar10-test-labels.npy", "expected 5 test labels", "[4]"],
    );
    std::fs::write(&labels, labels_npy(&[2, 0, 2, 10, 0])).unwrap();
    expect_error(
        scores::import(&npy, &exp, None),
        &["cifar10-test-labels.npy", "row 3", "label 10"],
    );
    // A row whose image the dataset lacks (a third bird) names the row and the key.
    std::fs::write(&labels, labels_npy(&[2, 0, 2, 1, 2])).unwrap();
    expect_error(
        scores::import(&npy, &exp, None),
        &["cifar10h-probs.npy", "row 4", "test/bird/0002.jpg"],
    );
}

/// How one file's `image` column chunks were written: the settings a reader can see.
#[derive(Debug, Clone, PartialEq)]
struct ImageColumnSettings {
    compression: parquet::basic::Compression,
    dictionary: bool,
    statistics: bool,
    column_index: bool,
}

fn image_column_settings(samples: &Path) -> Vec<ImageColumnSettings> {
    let file = std::fs::File::open(samples).unwrap();
    let meta = parquet::file::metadata::ParquetMetaDataReader::new()
        .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Optional)
        .parse_and_finish(&file)
        .unwrap();
    let image = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == "image")
        .unwrap();
    meta.row_groups()
        .iter()
        .map(|rg| {
            let c = rg.column(image);
            ImageColumnSettings {
                compression: c.compression(),
                dictionary: c.dictionary_page_offset().is_some(),
                statistics: c.statistics().is_some(),
                column_index: c.column_index_offset().is_some(),
            }
        })
        .collect()
}

#[test]
fn every_format_and_path_writes_the_image_column_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut written = Vec::new();
    let config = synthetic::SyntheticConfig {
        seed: 1,
        train: 12,
        test: 4,
        size: 16,
    };
    synthetic::ingest(&config, &t.join("synthetic"), &opts(OnError::Fail)).unwrap();
    written.push("synthetic");

    let batch: Vec<u8> = [3u8, 1, 4].iter().flat_map(|&l| cifar_record(l, l + 1)).collect();
    write_tree(&t.join("cifar"), &[("cifar-10-batches-bin/test_batch.bin", batch)]);
    cifar10::ingest(&[t.join("cifar")], &t.join("cifar10"), &opts(OnError::Fail)).unwrap();
    written.push("cifar10");

    tar_gz(&t.join("if.tar.gz"), &imagefolder_files(), true);
    imagefolder::ingest(
        "imagefolder",
        &[t.join("if.tar.gz")],
        &t.join("imagefolder"),
        &opts(OnError::Fail),
    )
    .unwrap();
    written.push("imagefolder");

    let png = encoded(10, 10, 1, ImageFormat::Png);
    let kth = vec![
        ("KTH-TIPS2-b/wool/sample_a/22a-scale_2_im_1_col.png", png.clone()),
        ("KTH-TIPS2-b/wool/sample_c/22c-scale_5_im_6_col.png", png.clone()),
    ];
    write_tree(&t.join("kth_in"), &kth);
    kth_tips2b::ingest(&[t.join("kth_in")], &t.join("kth"), &opts(OnError::Fail)).unwrap();
    written.push("kth");

    let (trainval, test) = voc_files(voc_xml(&[("cat", false, [1, 1, 4, 5])]));
    write_tree(&t.join("voc_in"), &trainval);
    write_tree(&t.join("voc_in"), &test);
    voc::ingest(&[t.join("voc_in")], &t.join("voc"), &opts(OnError::Fail)).unwrap();
    written.push("voc");

    // A sample rejected while streaming: the kept ones are renumbered into a new file.
    let mut skipped = imagefolder_files();
    skipped.push(("ds/train/dog/broken.png", png[..20].to_vec()));
    tar_gz(&t.join("skip.tar.gz"), &skipped, true);
    let s = imagefolder::ingest(
        "imagefolder",
        &[t.join("skip.tar.gz")],
        &t.join("renumbered"),
        &opts(OnError::Skip),
    )
    .unwrap();
    assert_eq!(
        s.manifest.rejected, 1,
        "the broken image goes through the renumbering path"
    );
    written.push("renumbered");

    // Images are stored as the source's bytes: compressing them again, a dictionary of
    // them, or min/max statistics of them would only cost time and space.
    let expected = ImageColumnSettings {
        compression: parquet::basic::Compression::UNCOMPRESSED,
        dictionary: false,
        statistics: false,
        column_index: false,
    };
    for name in written {
        let settings = image_column_settings(&ExperimentDir::new(t.join(name)).samples());
        assert!(!settings.is_empty(), "{name}: no row group");
        for s in settings {
            assert_eq!(s, expected, "{name} writes samples.image differently");
        }
    }
}
