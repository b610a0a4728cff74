//! Embeds every `schemas/*.toml` so the contracts travel inside the binary.
use std::{env, path::PathBuf};

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../schemas");
    let doc = "(file stem, TOML text) of every contract in `schemas/`.";
    agree_build::write_out(
        "contracts.rs",
        &agree_build::embed_files(&dir, "toml", "CONTRACT_FILES", doc),
    );
}
