//! Cross-check against numpy / scipy / scikit-image on real CIFAR-10 images.
//!
//! Needs `/work/shared/data/cifar10-jpeg.tar.gz` (or `AGREE_CIFAR_TAR`) and the
//! project's `.venv` (it installs scipy and scikit-image into it when missing); skips
//! with a message when either is unavailable. `AGREE_CROSSCHECK_N` sets the image
//! count (default 600).

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

/// The python of the project venv with scipy and scikit-image, installing them if needed.
fn python_with_scipy() -> Result<PathBuf, String> {
    let python = workspace_root().join(".venv/bin/python");
    if !python.exists() {
        return Err(format!("{} missing (run `cargo xtask setup`)", python.display()));
    }
    let has = |py: &Path| {
        Command::new(py)
            .args(["-c", "import scipy, skimage"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has(&python) {
        let status = Command::new(&python)
            .args(["-m", "pip", "install", "-q", "scipy", "scikit-image"])
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() || !has(&python) {
            return Err("could not install scipy and scikit-image into .venv".into());
        }
    }
    Ok(python)
}

#[test]
fn statistics_agree_with_numpy_scipy_and_skimage_on_real_cifar10() {
    let tar_path = cifar_tar();
    if !tar_path.exists() {
        eprintln!(
            "SKIPPED crosscheck: {} not found (set AGREE_CIFAR_TAR to run it)",
            tar_path.display()
        );
        return;
    }
    let python = match python_with_scipy() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED crosscheck: {why}");
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
