//! Links libtorch so that binaries and tests of this crate find it at run time and
//! really load its CUDA library.
//!
//! torch-sys asks for `torch_cuda`, but the linker's default `--as-needed` drops it
//! because no symbol of it is referenced; CUDA then silently disappears. Re-adding it
//! after `--no-as-needed` keeps it. The rpath points at the canonical libtorch
//! directory: the venv's libtorch finds its NVIDIA libraries through `$ORIGIN/../..`,
//! which only resolves from the real path, not through the `.venv/libtorch` symlink.
//! The libtorch version is recorded for the `runs` table.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(root) = env::var_os("LIBTORCH").map(PathBuf::from) else {
        println!("cargo:rustc-env=AGREE_LIBTORCH_VERSION=unknown");
        println!("cargo:rustc-env=AGREE_LIBTORCH_LIB=");
        return;
    };
    let root = fs::canonicalize(&root).unwrap_or(root);
    let lib = root.join("lib");
    let version = fs::read_to_string(root.join("version.py"))
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
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=AGREE_LIBTORCH_VERSION={version}");
    println!("cargo:rustc-env=AGREE_LIBTORCH_LIB={}", lib.display());
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:rustc-link-arg=-L{}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-ltorch_cuda");
    }
    println!("cargo:rustc-link-arg=-ltorch");
}
