//! Embeds `sql/steps.toml` and every `sql/*.sql`, so the analysis travels inside
//! the binary; which files are steps, and in what order, the manifest says (checked
//! when it is parsed, before any step runs).
use std::{env, path::PathBuf};

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("sql");
    let mut out = agree_build::embed_files(&dir, "sql", "SQL_FILES", "(file stem, SQL text) of every `sql/*.sql`.");
    let manifest = dir.join("steps.toml");
    println!("cargo:rerun-if-changed={}", manifest.display());
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    out.push_str(&format!(
        "/// The text of `sql/steps.toml`.\npub static STEPS_MANIFEST: &str = include_str!({manifest:?});\n"
    ));
    agree_build::write_out("sql_files.rs", &out);
}
