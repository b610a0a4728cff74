//! Embeds every `schemas/*.toml` so the contracts travel inside the binary.
use std::{env, fs, path::PathBuf};

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../schemas");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<_> = fs::read_dir(&dir)
        .expect("schemas/ directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    names.sort();
    let mut out = String::from(
        "/// (file stem, TOML text) of every contract in `schemas/`.\npub static CONTRACT_FILES: &[(&str, &str)] = &[\n",
    );
    for p in names {
        println!("cargo:rerun-if-changed={}", p.display());
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        out.push_str(&format!(
            "    ({stem:?}, include_str!({:?})),\n",
            p.canonicalize().unwrap()
        ));
    }
    out.push_str("];\n");
    fs::write(PathBuf::from(env::var("OUT_DIR").unwrap()).join("contracts.rs"), out).unwrap();
}
