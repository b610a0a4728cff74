//! End to end on the real CIFAR-10 (`../shared/data/cifar10-jpeg.tar.gz`): the `agree`
//! binary ingests all 60,000 images, ids are dense and stable across two ingests, and
//! pyarrow (the ecosystem our users live in) reads the table back.
//!
//! Skipped with a message when the archive is absent (it is never committed); under
//! `CI=true` its absence fails the test.

use std::{path::PathBuf, process::Command};

use arrow::{
    array::{Array, Int32Array, Int64Array, StringArray},
    compute::concat_batches,
};

fn archive() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar10-jpeg.tar.gz");
    p.exists().then_some(p)
}

fn read(path: &std::path::Path) -> arrow::array::RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .with_projection(parquet::arrow::ProjectionMask::columns(
            parquet::arrow::arrow_reader::ArrowReaderMetadata::load(
                &std::fs::File::open(path).unwrap(),
                Default::default(),
            )
            .unwrap()
            .metadata()
            .file_metadata()
            .schema_descr(),
            [
                "sample_id",
                "split",
                "key",
                "label",
                "class_name",
                "width",
                "height",
                "channels",
                "format",
            ],
        ))
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    concat_batches(&batches[0].schema(), &batches).unwrap()
}

#[test]
fn real_cifar10_ingest() {
    let Some(archive) = archive() else {
        let why = "../shared/data/cifar10-jpeg.tar.gz not found";
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "real_cifar10_ingest cannot run: {why}"
        );
        eprintln!("SKIPPED real_cifar10_ingest: {why}");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut tables = Vec::new();
    for run in ["a", "b"] {
        let out = tmp.path().join(run);
        let status = Command::new(env!("CARGO_BIN_EXE_agree"))
            .args(["--quiet", "ingest", "imagefolder"])
            .arg(&archive)
            .arg("--out")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        tables.push(read(&out.join("samples.parquet")));
    }
    let b = &tables[0];
    assert_eq!(b.num_rows(), 60_000);
    let ids = b
        .column_by_name("sample_id")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(
        ids.values().to_vec(),
        (0..60_000).collect::<Vec<i64>>(),
        "dense, and rows in id order"
    );
    let split = b
        .column_by_name("split")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let class = b
        .column_by_name("class_name")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let label = b
        .column_by_name("label")
        .unwrap()
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap();
    let mut counts = std::collections::BTreeMap::<(&str, &str), usize>::new();
    for i in 0..b.num_rows() {
        *counts.entry((split.value(i), class.value(i))).or_default() += 1;
        assert!((0..10).contains(&label.value(i)));
    }
    assert_eq!(counts.len(), 20);
    for ((s, c), n) in counts {
        assert_eq!(n, if s == "train" { 5000 } else { 1000 }, "{s}/{c}");
    }
    for col in ["width", "height"] {
        let a = b
            .column_by_name(col)
            .unwrap()
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap();
        assert!(a.values().iter().all(|&v| v == 32), "{col}");
    }
    let ch = b
        .column_by_name("channels")
        .unwrap()
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap();
    assert!(ch.values().iter().all(|&v| v == 3));
    // Stable: a second ingest gives the same ids for the same keys.
    assert_eq!(
        b.column_by_name("key").unwrap(),
        tables[1].column_by_name("key").unwrap()
    );
    assert_eq!(
        b.column_by_name("sample_id").unwrap(),
        tables[1].column_by_name("sample_id").unwrap()
    );

    // pyarrow reads it back.
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if !python.exists() {
        panic!(
            "{} missing: run `cargo xtask setup` (cargo xtask test does)",
            python.display()
        );
    }
    let out = Command::new(python)
        .arg("-c")
        .arg(
            "import sys, pyarrow.parquet as pq; t = pq.read_table(sys.argv[1]); \
             print(t.num_rows, t.column('sample_id').to_pylist()[-1], t.schema.field('image').type)",
        )
        .arg(tmp.path().join("a/samples.parquet"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "60000 59999 binary");
}
