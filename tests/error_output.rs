//! Input errors through the `agree` binary print as their message and causes only,
//! also when `RUST_BACKTRACE=1` is set, and exit with status 1.

use std::process::Command;

fn agree(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_agree"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn input_errors_print_no_backtrace() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nowhere");
    let missing = missing.to_str().unwrap();
    for args in [
        vec!["stats", missing],
        vec!["train", missing, "--device", "cpu"],
        vec!["report", missing],
        vec!["pipeline", "--config", missing],
    ] {
        let (code, stderr) = agree(&args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("Error: ") && stderr.contains(missing),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.to_lowercase().contains("backtrace"), "{args:?}: {stderr}");
        assert!(stderr.lines().count() <= 4, "{args:?}: {stderr}");
    }
}
