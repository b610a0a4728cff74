//! Links libtorch into the `agree` binary (and its benches and tests) so that it is
//! found at run time and its CUDA library is really loaded.
//!
//! torch-sys asks for `torch_cuda`, but the linker's default `--as-needed` drops it
//! because no symbol of it is referenced, and CUDA then silently disappears; naming
//! it again after `--no-as-needed` keeps it. The rpath is the canonical libtorch
//! directory: a pip-installed libtorch finds its NVIDIA libraries through
//! `$ORIGIN/../..`, which resolves only from the real path, not through the
//! `.venv/libtorch` symlink. `LIBTORCH` is set for every cargo command by
//! `.cargo/config.toml`; without it this script does nothing.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(root) = env::var_os("LIBTORCH").map(PathBuf::from) else {
        return;
    };
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let lib = fs::canonicalize(&root).unwrap_or(root).join("lib");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:rustc-link-arg=-L{}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-ltorch_cuda");
    }
    println!("cargo:rustc-link-arg=-ltorch");
}
