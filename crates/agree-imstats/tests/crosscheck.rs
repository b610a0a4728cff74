//! Cross-check against numpy / scipy / scikit-image on real CIFAR-10 images.
//!
//! Needs `../shared/data/cifar10-jpeg.tar.gz` (or `AGREE_CIFAR_TAR`) and the
//! project's `.venv` with scipy and scikit-image (`cargo xtask setup` installs them).
//! When either is missing the test fails under `CI=true` and is skipped with the
//! reason elsewhere. `AGREE_CROSSCHECK_N` sets the image count (default 600).

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    process::Command,
};

use agree_imstats::{DecodedImage, Selection, StatsParams, compute_stats};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cifar_tar() -> PathBuf {
    std::env::var_os("AGREE_CIFAR_TAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/data/cifar10-jpeg.tar.gz"))
}

/// The python of the project venv, which must have scipy and scikit-image.
fn python_with_scipy() -> Result<PathBuf, String> {
    let python = workspace_root().join(".venv/bin/python");
    if !python.exists() {
        return Err(format!("{} missing (run `cargo xtask setup`)", python.display()));
    }
    let has = Command::new(&python)
        .args(["-c", "import scipy, skimage"])
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        return Err(format!(
            "{} lacks scipy or scikit-image (run `cargo xtask setup`)",
            python.display()
        ));
    }
    Ok(python)
}

/// Under `CI=true` a missing prerequisite fails the test; elsewhere it is skipped.
fn missing_prerequisite(why: &str) {
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "crosscheck cannot run: {why}"
    );
    eprintln!("SKIPPED crosscheck: {why}");
}

#[test]
fn statistics_agree_with_numpy_scipy_and_skimage_on_real_cifar10() {
    let tar_path = cifar_tar();
    if !tar_path.exists() {
        missing_prerequisite(&format!(
            "{} not found (set AGREE_CIFAR_TAR to run it)",
            tar_path.display()
        ));
        return;
    }
    let python = match python_with_scipy() {
        Ok(p) => p,
        Err(why) => {
            missing_prerequisite(&why);
            return;
        }
    };
    let n: usize = std::env::var("AGREE_CROSSCHECK_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);

    // Take every 50th JPEG so the sample spans classes and both splits' folders.
    let file = std::fs::File::open(&tar_path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut decoded = DecodedImage::new();
    let tmp = tempfile::tempdir().unwrap();
    let mut pixels = std::fs::File::create(tmp.path().join("pixels.u8")).unwrap();
    let columns: Vec<&str> = Selection::all().columns().collect();
    let mut csv = String::new();
    csv += &columns.join(",");
    for b in 0..16 {
        csv += &format!(",power_{b}");
    }
    csv.push('\n');
    let (mut seen, mut taken) = (0usize, 0usize);
    let mut bytes = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if !path.ends_with(".jpg") {
            continue;
        }
        seen += 1;
        if seen % 50 != 1 {
            continue;
        }
        bytes.clear();
        entry.read_to_end(&mut bytes).unwrap();
        decoded.decode(&bytes, "jpeg", 0, 0).unwrap();
        let view = decoded.view();
        assert_eq!((view.width, view.height, view.channels), (32, 32, 3), "{path}");
        pixels.write_all(view.pixels).unwrap();
        let s = compute_stats(&view, Selection::all(), &StatsParams::default());
        let mut row: Vec<String> = columns.iter().map(|c| format!("{:e}", s.column(c).unwrap())).collect();
        row.extend(s.spectrum.unwrap().iter().map(|p| format!("{p:e}")));
        csv += &row.join(",");
        csv.push('\n');
        taken += 1;
        if taken == n {
            break;
        }
    }
    drop(pixels);
    assert!(taken >= 500.min(n), "only {taken} images in {}", tar_path.display());
    std::fs::write(tmp.path().join("ours.csv"), csv).unwrap();
    std::fs::write(
        tmp.path().join("meta.json"),
        format!("{{\"n\": {taken}, \"height\": 32, \"width\": 32}}"),
    )
    .unwrap();
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crosscheck.py"))
        .arg(tmp.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "cross-check failed:\n{report}");
}
