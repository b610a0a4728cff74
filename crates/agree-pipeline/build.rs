//! This crate runs the train stage in-process, so its test binaries load libtorch:
//! give them an rpath to it (the canonical directory, as the `agree` binary has).
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Some(root) = std::env::var_os("LIBTORCH").map(std::path::PathBuf::from) {
        let lib = std::fs::canonicalize(&root).unwrap_or(root).join("lib");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
