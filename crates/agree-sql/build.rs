//! Embeds `sql/steps.toml` and every `sql/*.sql`, so the analysis travels inside
//! the binary; which files are steps, and in what order, the manifest says (checked
//! when it is parsed, before any step runs).
use std::{env, fs, path::PathBuf};

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("sql");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("sql/ directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let mut out =
        String::from("/// (file stem, SQL text) of every `sql/*.sql`.\npub static SQL_FILES: &[(&str, &str)] = &[\n");
    for p in files {
        println!("cargo:rerun-if-changed={}", p.display());
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        out.push_str(&format!(
            "    ({stem:?}, include_str!({:?})),\n",
            p.canonicalize().unwrap()
        ));
    }
    out.push_str("];\n");
    let manifest = dir.join("steps.toml");
    println!("cargo:rerun-if-changed={}", manifest.display());
    out.push_str(&format!(
        "/// The text of `sql/steps.toml`.\npub static STEPS_MANIFEST: &str = include_str!({:?});\n",
        manifest.canonicalize().unwrap()
    ));
    fs::write(PathBuf::from(env::var("OUT_DIR").unwrap()).join("sql_files.rs"), out).unwrap();
}
