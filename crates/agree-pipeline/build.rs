//! This crate runs the train stage in-process, so its test binaries load libtorch:
//! they are linked to it as the `agree` binary is (see agree-build).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if let Some(root) = agree_build::libtorch_root() {
        agree_build::link_libtorch(&root);
    }
}
