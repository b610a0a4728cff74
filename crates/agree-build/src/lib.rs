//! What the workspace's build scripts share: embedding a folder of text files
//! (agree-schema's contracts, agree-sql's SQL steps) and linking libtorch (the
//! `agree` binary, agree-train and agree-pipeline, whose binaries and tests load it).
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

/// Rust source of a `pub static NAME: &[(&str, &str)]` holding (file stem, text) of
/// every `*.EXTENSION` file of `dir`, sorted by name, each through `include_str!` (so
/// cargo reruns the build script when one changes, is added or removed).
pub fn embed_files(dir: &std::path::Path, extension: &str, name: &str, doc: &str) -> String {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .collect();
    files.sort();
    let mut out = format!("/// {doc}\npub static {name}: &[(&str, &str)] = &[\n");
    for p in files {
        println!("cargo:rerun-if-changed={}", p.display());
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = fs::canonicalize(&p).unwrap_or(p);
        out.push_str(&format!("    ({stem:?}, include_str!({path:?})),\n"));
    }
    out.push_str("];\n");
    out
}

/// Writes `source` to `$OUT_DIR/file` for an `include!` in the crate.
pub fn write_out(file: &str, source: &str) {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"));
    fs::write(out_dir.join(file), source).unwrap_or_else(|e| panic!("{file}: {e}"));
}
