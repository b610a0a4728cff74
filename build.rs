//! Links libtorch into the `agree` binary (and its benches and tests) so that it is
//! found at run time and its CUDA library is really loaded (see agree-build).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if let Some(root) = agree_build::libtorch_root() {
        agree_build::link_libtorch(&root);
    }
}
