//! Links libtorch so that binaries and tests of this crate find it at run time and
//! really load its CUDA library (see agree-build), and records the libtorch version
//! and directory for the `runs` table.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Some(root) = agree_build::libtorch_root() else {
        println!("cargo:rustc-env=AGREE_LIBTORCH_VERSION=unknown");
        println!("cargo:rustc-env=AGREE_LIBTORCH_LIB=");
        return;
    };
    println!(
        "cargo:rustc-env=AGREE_LIBTORCH_VERSION={}",
        agree_build::libtorch_version(&root)
    );
    println!("cargo:rustc-env=AGREE_LIBTORCH_LIB={}", root.join("lib").display());
    agree_build::link_libtorch(&root);
}
