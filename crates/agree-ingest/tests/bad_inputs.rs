//! Bad inputs found by trying ingest as a hostile or careless user would (issue 11):
//! each case is a small generated input, and each must give a clear error naming the
//! file (or a reject row under `--on-error skip`) — never a panic, a misleading
//! message, an unbounded read or a silently wrong number.

mod common;

use common::{encoded, opts, png, strings, table, write_tree};
use std::{
    io::{Seek, SeekFrom, Write},
    os::unix::ffi::OsStrExt,
    path::Path,
};

use agree_ingest::{IngestOptions, OnError, cifar10, imagefolder, kth_tips2b, scores, voc};
use agree_schema::ExperimentDir;
use arrow::array::{Array, Float64Array};
use clap::Parser;
use image::ImageFormat;

fn file_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    h
}

/// (member, reason) of every reject row.
fn rejects(out: &Path) -> Vec<(String, String)> {
    let t = table(&ExperimentDir::new(out).rejects());
    strings(&t, "member").into_iter().zip(strings(&t, "reason")).collect()
}

fn expect_error(result: agree_ingest::Result<impl std::fmt::Debug>, needles: &[&str]) -> String {
    let err = result.expect_err("bad input must fail").to_string();
    for n in needles {
        assert!(err.contains(n), "error `{err}` should mention `{n}`");
    }
    err
}

#[test]
fn an_empty_cifar10_class_list_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let mut record = vec![0u8];
    record.extend(std::iter::repeat_n(7u8, 3072));
    for (name, meta) in [("empty", &b""[..]), ("blank", &b"\n  \n\n"[..])] {
        let dir = tmp.path().join(name);
        write_tree(
            &dir,
            &[
                ("cifar-10-batches-bin/batches.meta.txt", meta.to_vec()),
                ("cifar-10-batches-bin/test_batch.bin", record.clone()),
            ],
        );
        expect_error(
            cifar10::ingest(&[dir], &tmp.path().join("o"), &opts(OnError::Fail)),
            &["batches.meta.txt", "names no classes"],
        );
    }
}

/// Peak resident memory of this process in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_member_claiming_3_gb_is_rejected_from_its_header_without_reading_it() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("huge.tar");
    // One good image, then a member whose header says 3 GiB: the data is a hole of a
    // sparse file, so the test needs no disk and a reader that buffered the member
    // would need 3 GiB of memory.
    let good = png(4, 4, 1);
    let mut b = tar::Builder::new(std::fs::File::create(&input).unwrap());
    b.append_data(&mut file_header(good.len() as u64), "train/a/ok.png", &good[..])
        .unwrap();
    let mut h = file_header(3 << 30);
    h.set_path("train/a/huge.png").unwrap();
    h.set_cksum();
    let file = b.get_mut();
    file.write_all(h.as_bytes()).unwrap();
    let end = file.stream_position().unwrap() + (3 << 30);
    file.seek(SeekFrom::Start(end)).unwrap(); // a hole: the member's data
    b.finish().unwrap(); // two zero blocks end the archive
    drop(b);
    assert!(std::fs::metadata(&input).unwrap().len() > 3 << 30);

    let out = tmp.path().join("out");
    let s = imagefolder::ingest("imagefolder", std::slice::from_ref(&input), &out, &opts(OnError::Skip)).unwrap();
    assert_eq!((s.manifest.samples, s.manifest.rejected), (1, 1));
    let rows = rejects(&out);
    assert_eq!(rows[0].0, "train/a/huge.png");
    assert!(
        rows[0].1.contains("3221225472 bytes exceed the member size limit"),
        "{}",
        rows[0].1
    );
    assert!(
        peak_rss_kib() < 1 << 20,
        "peak memory {} KiB: the member was read",
        peak_rss_kib()
    );
    expect_error(
        imagefolder::ingest("imagefolder", &[input], &tmp.path().join("o"), &opts(OnError::Fail)),
        &["huge.tar", "train/a/huge.png", "--max-member-bytes"],
    );
}

#[test]
fn the_member_size_limit_can_be_raised_and_applies_to_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let image = png(16, 16, 3);
    let dir = tmp.path().join("d");
    write_tree(&dir, &[("train/a/x.png", image.clone())]);
    let limited = |n: u64| IngestOptions {
        max_member_bytes: n,
        ..opts(OnError::Fail)
    };
    let n = image.len() as u64;
    expect_error(
        imagefolder::ingest(
            "imagefolder",
            std::slice::from_ref(&dir),
            &tmp.path().join("o"),
            &limited(n - 1),
        ),
        &[
            "train/a/x.png",
            &format!("{n} bytes exceed the member size limit of {}", n - 1),
        ],
    );
    imagefolder::ingest("imagefolder", &[dir], &tmp.path().join("o"), &limited(n)).unwrap();
}

#[test]
fn tar_links_and_devices_get_reject_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("links.tar");
    let good = png(4, 4, 1);
    let mut b = tar::Builder::new(std::fs::File::create(&input).unwrap());
    b.append_data(&mut file_header(good.len() as u64), "train/a/ok.png", &good[..])
        .unwrap();
    for (name, kind) in [
        ("train/a/hard.png", tar::EntryType::Link),
        ("train/a/soft.png", tar::EntryType::Symlink),
        ("train/a/dev.png", tar::EntryType::Char),
        ("train/a/disk.png", tar::EntryType::Block),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(0);
        h.set_mode(0o644);
        if matches!(kind, tar::EntryType::Link | tar::EntryType::Symlink) {
            h.set_link_name("train/a/ok.png").unwrap();
        }
        h.set_cksum();
        b.append_data(&mut h, name, std::io::empty()).unwrap();
    }
    b.finish().unwrap();
    drop(b);
    let out = tmp.path().join("out");
    let s = imagefolder::ingest("imagefolder", std::slice::from_ref(&input), &out, &opts(OnError::Skip)).unwrap();
    assert_eq!((s.manifest.samples, s.manifest.rejected), (1, 4));
    let rows = rejects(&out);
    let reason = |m: &str| rows.iter().find(|r| r.0 == m).map(|r| r.1.clone()).unwrap_or_default();
    assert!(reason("train/a/hard.png").contains("a hard link"), "{rows:?}");
    assert!(reason("train/a/soft.png").contains("a symbolic link"), "{rows:?}");
    assert!(reason("train/a/dev.png").contains("a device file"), "{rows:?}");
    assert!(reason("train/a/disk.png").contains("a device file"), "{rows:?}");
    expect_error(
        imagefolder::ingest("imagefolder", &[input], &tmp.path().join("o"), &opts(OnError::Fail)),
        &["links.tar", "train/a/hard.png", "hard link"],
    );
}

#[test]
fn a_file_name_that_is_not_utf8_is_said_so_and_skippable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    write_tree(&dir, &[("train/a/ok.png", png(4, 4, 1))]);
    let odd = std::ffi::OsStr::from_bytes(b"bad\xff.png");
    std::fs::write(dir.join("train/a").join(odd), png(4, 4, 2)).unwrap();
    let err = expect_error(
        imagefolder::ingest(
            "imagefolder",
            std::slice::from_ref(&dir),
            &tmp.path().join("o"),
            &opts(OnError::Fail),
        ),
        &["not valid UTF-8"],
    );
    assert!(!err.contains("No such file"), "{err}");
    let out = tmp.path().join("out");
    let s = imagefolder::ingest("imagefolder", std::slice::from_ref(&dir), &out, &opts(OnError::Skip)).unwrap();
    assert_eq!((s.manifest.samples, s.manifest.rejected), (1, 1));

    // The same inside a tar.
    let input = tmp.path().join("odd.tar");
    let image = png(4, 4, 2);
    let mut b = tar::Builder::new(std::fs::File::create(&input).unwrap());
    b.append_data(&mut file_header(image.len() as u64), "train/a/ok.png", &image[..])
        .unwrap();
    let mut h = file_header(image.len() as u64);
    h.as_gnu_mut().unwrap().name[..15].copy_from_slice(b"train/a/b\xffd.png");
    h.set_cksum();
    b.append(&h, &image[..]).unwrap();
    b.finish().unwrap();
    drop(b);
    expect_error(
        imagefolder::ingest("imagefolder", &[input], &tmp.path().join("o2"), &opts(OnError::Fail)),
        &["odd.tar", "not valid UTF-8"],
    );
}

#[test]
fn an_image_over_the_pixel_budget_is_rejected_naming_file_and_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    write_tree(
        &dir,
        &[("train/a/big.png", png(40, 30, 1)), ("train/a/small.png", png(4, 4, 1))],
    );
    let budget = |n| IngestOptions {
        max_pixels: n,
        ..opts(OnError::Fail)
    };
    expect_error(
        imagefolder::ingest(
            "imagefolder",
            std::slice::from_ref(&dir),
            &tmp.path().join("o"),
            &budget(1000),
        ),
        &[
            "train/a/big.png",
            "40x30 = 1200 pixels",
            "pixel budget of 1000",
            "--max-pixels",
        ],
    );
    imagefolder::ingest("imagefolder", &[dir], &tmp.path().join("o"), &budget(1200)).unwrap();
}

fn voc_xml(size: (u32, u32), boxes: &[[i32; 4]]) -> Vec<u8> {
    let mut s = format!(
        "<annotation><size><width>{}</width><height>{}</height><depth>3</depth></size>",
        size.0, size.1
    );
    for b in boxes {
        s.push_str(&format!(
            "<object><name>dog</name><difficult>0</difficult><bndbox><xmin>{}</xmin><ymin>{}</ymin>\
             <xmax>{}</xmax><ymax>{}</ymax></bndbox></object>",
            b[0], b[1], b[2], b[3]
        ));
    }
    s.push_str("</annotation>");
    s.into_bytes()
}

fn voc_tree(dir: &Path, xml: Vec<u8>) {
    write_tree(
        dir,
        &[
            ("VOCdevkit/VOC2007/ImageSets/Main/trainval.txt", b"000001\n".to_vec()),
            ("VOCdevkit/VOC2007/Annotations/000001.xml", xml),
            (
                "VOCdevkit/VOC2007/JPEGImages/000001.jpg",
                encoded(20, 10, 1, ImageFormat::Jpeg),
            ),
        ],
    );
}

#[test]
fn voc_boxes_are_clipped_and_a_wrong_size_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    // A box far outside the 20x10 image, and one half inside: clipped, 200 + 50 px.
    let dir = tmp.path().join("clip");
    voc_tree(&dir, voc_xml((20, 10), &[[-100, -100, 600, 600], [11, 1, 40, 5]]));
    let out = tmp.path().join("out");
    voc::ingest(&[dir], &out, &opts(OnError::Fail)).unwrap();
    let a = table(&ExperimentDir::new(&out).attributes());
    let frac = a
        .column_by_name("object_area_fraction")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .value(0);
    assert!((frac - 250.0 / 200.0).abs() < 1e-12, "{frac}");

    // <size> says 30x10 but the JPEG is 20x10.
    let dir = tmp.path().join("size");
    voc_tree(&dir, voc_xml((30, 10), &[[1, 1, 5, 5]]));
    expect_error(
        voc::ingest(std::slice::from_ref(&dir), &tmp.path().join("o"), &opts(OnError::Fail)),
        &[
            "000001.jpg",
            "000001.xml states a size of 30x10, but the image is 20x10",
        ],
    );
    let skipped = tmp.path().join("o2");
    let s = voc::ingest(&[dir], &skipped, &opts(OnError::Skip)).unwrap();
    assert_eq!((s.manifest.samples, s.manifest.rejected), (0, 1));
    assert!(rejects(&skipped)[0].1.contains("states a size of 30x10"));
}

#[test]
fn kth_rejects_a_negative_scale_and_unknown_sample_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    write_tree(
        &dir,
        &[
            ("KTH-TIPS2-b/wool/sample_a/22a-scale_2_im_1_col.png", png(8, 8, 1)),
            ("KTH-TIPS2-b/wool/sample_b/22b-scale_-7_im_1_col.png", png(8, 8, 2)),
            ("KTH-TIPS2-b/wool/sample_x/22x-scale_3_im_1_col.png", png(8, 8, 3)),
        ],
    );
    expect_error(
        kth_tips2b::ingest(std::slice::from_ref(&dir), &tmp.path().join("o"), &opts(OnError::Fail)),
        &["22b-scale_-7_im_1_col.png", "scale -7 is not a positive number"],
    );
    let out = tmp.path().join("out");
    let s = kth_tips2b::ingest(&[dir], &out, &opts(OnError::Skip)).unwrap();
    assert_eq!((s.manifest.samples, s.manifest.rejected), (1, 2));
    let rows = rejects(&out);
    assert!(
        rows.iter()
            .any(|(m, r)| m.ends_with("sample_x/22x-scale_3_im_1_col.png") && r.contains("unknown sample folder")),
        "{rows:?}"
    );
}

/// An experiment with two samples, keys `train/a/1.png` and `train/b/2.png`.
fn two_sample_experiment(tmp: &Path) -> std::path::PathBuf {
    let out = tmp.join("exp");
    write_tree(
        &tmp.join("d"),
        &[("train/a/1.png", png(4, 4, 1)), ("train/b/2.png", png(4, 4, 2))],
    );
    imagefolder::ingest("imagefolder", &[tmp.join("d")], &out, &opts(OnError::Fail)).unwrap();
    out
}

#[test]
fn score_files_that_would_give_wrong_numbers_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = two_sample_experiment(tmp.path());
    let csv = tmp.path().join("h.csv");
    let import = |text: &str| {
        std::fs::write(&csv, text).unwrap();
        scores::import(&csv, &out, None)
    };
    expect_error(
        import("sample_id,h\n0,1\n1.5,2\n"),
        &["h.csv", "line 3", "sample_id 1.5 is not a whole number"],
    );
    for bad in ["nan", "inf", "-inf", "NaN"] {
        expect_error(
            import(&format!("key,h\ntrain/a/1.png,1\ntrain/b/2.png,{bad}\n")),
            &[
                "h.csv",
                "line 3",
                "column `h` holds a non-finite score",
                "--non-finite null",
            ],
        );
    }
    expect_error(
        import("key,h,h\ntrain/a/1.png,1,2\n"),
        &["h.csv", "column `h` appears twice"],
    );
    // Every error about a row names the same numbering: the file's line.
    for (text, needle) in [
        ("key,h\ntrain/a/1.png,1\ntrain/zzz.png,2\n", "line 3"),
        ("key,h\ntrain/a/1.png,1\ntrain/b/2.png\n", "line 3"),
        ("key,h\ntrain/a/1.png,1\ntrain/a/1.png,2\n", "line 3"),
    ] {
        expect_error(import(text), &["h.csv", needle]);
    }
    assert!(!ExperimentDir::new(&out).scores("h").exists(), "nothing was imported");
}

#[test]
fn non_finite_scores_can_be_imported_as_counted_nulls() {
    let tmp = tempfile::tempdir().unwrap();
    let out = two_sample_experiment(tmp.path());
    let csv = tmp.path().join("h.csv");
    std::fs::write(&csv, "key,h,g\ntrain/a/1.png,inf,1\ntrain/b/2.png,0.5,nan\n").unwrap();
    let opts = scores::ScoreOptions {
        name: None,
        non_finite: scores::NonFinite::Null,
    };
    let s = scores::import_with(&csv, &out, &opts).unwrap();
    assert_eq!(s.nulled, 2);
    let t = table(&s.path);
    let col = |n: &str| {
        t.column_by_name(n)
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .clone()
    };
    assert!(col("h").is_null(0) && col("h").value(1) == 0.5);
    assert!(col("g").value(0) == 1.0 && col("g").is_null(1));
}

#[test]
fn score_tables_must_have_a_free_queryable_name() {
    let tmp = tempfile::tempdir().unwrap();
    let out = two_sample_experiment(tmp.path());
    let csv = tmp.path().join("h.csv");
    std::fs::write(&csv, "key,h\ntrain/a/1.png,1\n").unwrap();
    for name in ["samples", "stats", "agreement", "predictions", "my-scores", "123"] {
        expect_error(
            scores::import(&csv, &out, Some(name)),
            &["h.csv", &format!("`{name}`"), "--name"],
        );
    }
    let dashed = tmp.path().join("my-scores.csv");
    std::fs::write(&dashed, "key,h\ntrain/a/1.png,1\n").unwrap();
    expect_error(scores::import(&dashed, &out, None), &["`my-scores`", "--name"]);
    assert!(!ExperimentDir::new(&out).scores_dir().exists(), "nothing was written");
    scores::import(&dashed, &out, Some("my_scores")).unwrap();
}

/// A `.npy` v1.0 file of little-endian f4 values with the given header fields.
fn npy(order_and_shape: &str, values: &[f32]) -> Vec<u8> {
    let header = format!("{{'descr': '<f4', {order_and_shape}, }}");
    let pad = 64 - (10 + header.len() + 1) % 64;
    let mut buf = b"\x93NUMPY\x01\x00".to_vec();
    buf.extend(((header.len() + pad + 1) as u16).to_le_bytes());
    buf.extend(header.as_bytes());
    buf.extend(std::iter::repeat_n(b' ', pad));
    buf.push(b'\n');
    buf.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    buf
}

#[test]
fn a_fortran_order_npy_is_read_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let mut batch = Vec::new();
    for label in 0..3u8 {
        batch.push(label);
        batch.extend(std::iter::repeat_n(label * 40, 3072));
    }
    let cifar = tmp.path().join("cifar");
    write_tree(&cifar, &[("cifar-10-batches-bin/test_batch.bin", batch)]);
    let exp = tmp.path().join("exp");
    cifar10::ingest(&[cifar], &exp, &opts(OnError::Fail)).unwrap();
    // Rows [1, 0], [0.5, 0.5], [0.25, 0.75] stored column by column.
    let file = tmp.path().join("cifar10h-probs.npy");
    let fortran = [1.0f32, 0.5, 0.25, 0.0, 0.5, 0.75];
    std::fs::write(&file, npy("'fortran_order': True, 'shape': (3, 2)", &fortran)).unwrap();
    let s = scores::import(&file, &exp, None).unwrap();
    let t = table(&s.path);
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
}

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    ingest: agree_ingest::cli::IngestArgs,
}

#[test]
fn numeric_options_are_checked_when_parsed() {
    let parse = |extra: &[&str]| {
        let mut argv = vec!["agree", "synthetic", "--out", "x"];
        argv.extend(extra);
        Cli::try_parse_from(argv)
    };
    parse(&[]).unwrap();
    for bad in [
        &["--size", "0"][..],
        &["--size", "100000"],
        &["--train", "-1"],
        &["--test", "1e9"],
        &["--train", "99999999999"],
        &["--max-pixels", "0"],
        &["--max-pixels", "nan"],
        &["--max-member-bytes", "0"],
        &["--max-member-bytes", "-5"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?} must be refused when parsed");
    }
    let ok = parse(&["--max-pixels", "100000000", "--max-member-bytes", "5000000000"]).unwrap();
    assert_eq!(
        (ok.ingest.max_pixels, ok.ingest.max_member_bytes),
        (100_000_000, 5_000_000_000)
    );
}
