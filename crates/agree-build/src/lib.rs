//! What the workspace's build scripts share: linking libtorch (the `agree` binary,
//! agree-train and agree-pipeline, whose binaries and tests load it).
//!
//! torch-sys asks for `torch_cuda`, but the linker's default `--as-needed` drops it
//! because no symbol of it is referenced, and CUDA then silently disappears; naming
//! it again after `--no-as-needed` keeps it. The rpath is the canonical libtorch
//! directory: a pip-installed libtorch finds its NVIDIA libraries through
//! `$ORIGIN/../..`, which resolves only from the real path, not through the
//! `.venv/libtorch` symlink. `LIBTORCH` is set for every cargo command by
//! `.cargo/config.toml`.

use std::{env, fs, path::PathBuf};

/// The canonical libtorch directory named by `LIBTORCH`, if it is set (and asks
/// cargo to rerun the build script when it changes).
pub fn libtorch_root() -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let root = env::var_os("LIBTORCH").map(PathBuf::from)?;
    Some(fs::canonicalize(&root).unwrap_or(root))
}

/// The libtorch version of `root` (`version.py`, else `build-version`), or `unknown`.
pub fn libtorch_version(root: &std::path::Path) -> String {
    fs::read_to_string(root.join("version.py"))
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                l.strip_prefix("__version__ = ")
                    .map(|v| v.trim_matches(['\'', '"']).to_string())
            })
        })
        .or_else(|| {
            fs::read_to_string(root.join("build-version"))
                .ok()
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// Links the crate's binaries and tests against libtorch under `root` on Linux:
/// rpath to its `lib/`, and `torch_cuda` (when present) and `torch` kept past
/// `--as-needed`. Elsewhere it does nothing.
pub fn link_libtorch(root: &std::path::Path) {
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let lib = root.join("lib");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:rustc-link-arg=-L{}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-ltorch_cuda");
    }
    println!("cargo:rustc-link-arg=-ltorch");
}
