//! Project chores, one entry point: `cargo xtask <setup|test|pipeline|bench|fuzz>`.
//! No logic of the stages lives here; it installs what the project needs and drives
//! the `agree` binary.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

/// The PyTorch release tch 0.24 binds.
const TORCH_VERSION: &str = "2.11.0";
/// Python packages the tests use: tables, and the numpy/scipy/scikit-image cross-checks.
/// pytest runs the `agree` Python package's tests, pandas is what its users turn
/// tables into. moto's server is the S3 emulator the object-storage tests run on
/// loopback. (The package is built by cargo; maturin builds wheels, from PyPI, when
/// a user runs `pip install ./crates/agree-py`.)
const PYTHON_TEST_PACKAGES: &[&str] = &[
    "numpy",
    "pyarrow",
    "pillow",
    "scipy",
    "scikit-image",
    "pandas",
    "pytest",
    "moto[server]",
];
/// The import names of [`PYTHON_TEST_PACKAGES`], to see whether they are all there.
const PYTHON_TEST_IMPORTS: &str = "import numpy, pyarrow, PIL, scipy, skimage, pandas, pytest, moto.server";
/// Python peers the benchmarks compare against (installed at bench time only).
const PYTHON_BENCH_PACKAGES: &[&str] = &["duckdb"];

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project chores for agree")]
struct Cli {
    #[command(subcommand)]
    command: Chore,
}

#[derive(Subcommand)]
enum Chore {
    /// Install PyTorch 2.11.0 (libtorch for the train stage), the Python test packages and
    /// the `agree` Python package (built from crates/agree-py) into .venv.
    Setup,
    /// Run the whole test suite: `cargo test --workspace`, then the Python package's
    /// pytest suite (installs what it needs first).
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a pipeline file end to end (default: pipelines/quickstart.toml): `agree pipeline`.
    Pipeline {
        /// Arguments for `agree pipeline` (--config FILE, --out DIR, --force STAGE, --quiet, --json).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a benchmark against its Python peer (`ingest`, `imstats`, `train`, `sql`, or
    /// `python` for the Python package; all when omitted).
    Bench {
        /// Benchmark names (files in benches/).
        names: Vec<String>,
    },
    /// Fuzz the input parsers with cargo-fuzz (stable toolchain, `-s none`), one target or all.
    Fuzz {
        /// A target of fuzz/fuzz_targets (all, one after another, when omitted).
        target: Option<String>,
        /// Seconds to run each target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Extra libFuzzer flags (after `--`), e.g. `-jobs=1`.
        #[arg(last = true)]
        libfuzzer: Vec<String>,
    },
}

/// A fuzz target: name, whether it needs the `stages` feature (DataFusion, libtorch),
/// and the largest input libFuzzer makes for it.
struct FuzzTarget(&'static str, bool, usize);

/// Every target in fuzz/fuzz_targets, cheapest build first.
const FUZZ_TARGETS: &[FuzzTarget] = &[
    FuzzTarget("kth_name", false, 256),
    FuzzTarget("voc_annotation", false, 8192),
    FuzzTarget("cifar10_batch", false, 16384),
    FuzzTarget("tree_archive", false, 65536),
    FuzzTarget("image_stats", false, 65536),
    FuzzTarget("scores_import", false, 8192),
    FuzzTarget("pipeline_config", true, 8192),
    FuzzTarget("sql_readonly", true, 4096),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", format!("{cmd:?}").replace('"', ""));
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn venv_python() -> PathBuf {
    root().join(".venv/bin/python")
}

/// The venv's torch directory, found by asking its python.
fn torch_dir() -> Result<PathBuf> {
    let lines = venv_python_lines(
        "import os, torch; print(os.path.dirname(torch.__file__)); print(torch.__version__)",
        "torch is not importable in .venv",
    )?;
    let dir = PathBuf::from(lines.first().map_or("", String::as_str));
    let version = lines.get(1).map_or("", String::as_str);
    if !version.starts_with(TORCH_VERSION) {
        bail!("torch {version} in .venv, but tch 0.24 needs {TORCH_VERSION}");
    }
    Ok(dir)
}

/// The lines `.venv/bin/python -c code` prints; `failure` heads the error with its stderr.
fn venv_python_lines(code: &str, failure: &str) -> Result<Vec<String>> {
    let out = Command::new(venv_python())
        .args(["-c", code])
        .output()
        .context("running .venv/bin/python")?;
    if !out.status.success() {
        bail!("{failure}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Removes the entries of `dir` whose file name `matches`, files and folders alike.
fn remove_matching(dir: &Path, matches: impl Fn(&str) -> bool) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if !path.file_name().and_then(|n| n.to_str()).is_some_and(&matches) {
            continue;
        }
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

fn setup() -> Result<()> {
    let root = root();
    let venv = root.join(".venv");
    if !venv_python().exists() {
        let python = env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        run(Command::new(&python).args(["-m", "venv"]).arg(&venv))?;
    }
    let have_torch = torch_dir().is_ok();
    let have_packages = Command::new(venv_python())
        .args(["-c", PYTHON_TEST_IMPORTS])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !have_torch || !have_packages {
        run(Command::new(venv_python()).args(["-m", "pip", "install", "--quiet", "--upgrade", "pip"]))?;
        let mut pip = Command::new(venv_python());
        pip.args(["-m", "pip", "install", "--quiet"])
            .arg(format!("torch=={TORCH_VERSION}"))
            .args(PYTHON_TEST_PACKAGES);
        run(&mut pip)?;
    }
    let torch = torch_dir()?;
    // A stable path for LIBTORCH (.cargo/config.toml), whatever the python version.
    let link = venv.join("libtorch");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&torch, &link).with_context(|| format!("linking {}", link.display()))?;
    eprintln!("libtorch: {} -> {}", link.display(), torch.display());
    install_chromium()
}

/// Builds the `agree` Python package (crates/agree-py) and installs it into .venv,
/// editable, the way `maturin develop` does (a `.pth` naming `crates/agree-py/python`,
/// the extension module beside the Python sources) but with the test suite's build.
///
/// `maturin develop` builds agree-py alone (`cargo rustc -p agree-py`), and cargo
/// gives every unit of a `-p agree-py` build other hashes than the same unit of a
/// `--workspace` test build, even with equal features: CI compiled DataFusion,
/// Ballista and the rest twice (minutes, and gigabytes of target folder). One cargo
/// invocation with the test build's selection compiles only the extension crate on top
/// of what the suite shares; the module is a symbolic link to its output, so a later
/// `cargo build` is what Python imports. Wheels for users: `pip install
/// ./crates/agree-py` or `maturin build` (README).
fn install_python_package() -> Result<()> {
    run(with_torch_env(cargo().args([
        "build",
        "--workspace",
        "--lib",
        "--bins",
        "--tests",
    ])))?;
    let built = target_dir().join("debug/lib_agree.so");
    if !built.is_file() {
        bail!("{} is missing after building crates/agree-py", built.display());
    }
    let lines = venv_python_lines(
        "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX')); print(sysconfig.get_paths()['purelib'])",
        "asking .venv/bin/python for its paths",
    )?;
    let [suffix, site] = lines.as_slice() else {
        bail!(".venv/bin/python printed no extension suffix and site-packages: {lines:?}");
    };
    let sources = root().join("crates/agree-py/python");
    let package = sources.join("agree");
    // Modules a `maturin develop` left, for this or another Python, would shadow ours.
    remove_matching(&package, |name| name.starts_with("_agree.") && name.ends_with(".so"))?;
    let module = package.join(format!("_agree{suffix}"));
    std::os::unix::fs::symlink(&built, &module)
        .with_context(|| format!("linking {} -> {}", module.display(), built.display()))?;
    let site = PathBuf::from(site);
    let version = env!("CARGO_PKG_VERSION");
    let dist_info = site.join(format!("agree-{version}.dist-info"));
    remove_matching(&site, |name| name.starts_with("agree-") && name.ends_with(".dist-info"))?;
    std::fs::create_dir_all(&dist_info).with_context(|| format!("creating {}", dist_info.display()))?;
    let write =
        |path: &Path, text: &str| std::fs::write(path, text).with_context(|| format!("writing {}", path.display()));
    write(&site.join("agree.pth"), &format!("{}\n", sources.display()))?;
    write(
        &dist_info.join("METADATA"),
        &format!(
            "Metadata-Version: 2.1\nName: agree\nVersion: {version}\nRequires-Python: >=3.9\n\
             Requires-Dist: numpy>=1.23\nRequires-Dist: pyarrow>=14\n"
        ),
    )?;
    write(&dist_info.join("INSTALLER"), "cargo-xtask\n")?;
    write(
        &dist_info.join("RECORD"),
        &format!(
            "agree.pth,,\nagree-{version}.dist-info/METADATA,,\nagree-{version}.dist-info/INSTALLER,,\nagree-{version}.dist-info/RECORD,,\n"
        ),
    )?;
    eprintln!("agree (Python): {} -> {}", module.display(), built.display());
    Ok(())
}

/// The `agree` Python package's tests (crates/agree-py/tests) against the installed
/// package and the `agree` binary `cargo test` built. Collecting no tests (pytest's
/// exit status 5) is a failure too.
fn python_tests() -> Result<()> {
    let agree = target_dir().join("debug/agree");
    if !agree.is_file() {
        bail!("{} is missing: `cargo test --workspace` builds it", agree.display());
    }
    let status = with_torch_env(Command::new(venv_python()).args(["-m", "pytest", "-q", "crates/agree-py/tests"]))
        .env("AGREE_BIN", &agree)
        .status()
        .context("starting pytest")?;
    match status.code() {
        Some(0) => Ok(()),
        Some(5) => bail!("pytest collected no tests in crates/agree-py/tests"),
        _ => bail!("the Python package's tests failed ({status})"),
    }
}

fn target_dir() -> PathBuf {
    env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target"))
}

/// Headless Chromium renders the report in its test: Debian's package, installed as root.
fn install_chromium() -> Result<()> {
    if Path::new("/usr/bin/chromium").is_file() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root {
        eprintln!("Chromium is missing: install it (apt-get install chromium) for the report's browser test");
        return Ok(());
    }
    let apt = |args: &[&str]| {
        run(Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    };
    apt(&["update", "-qq"])?;
    apt(&["install", "-y", "-qq", "chromium"])
}

/// Environment every cargo or agree invocation gets: libtorch at build and run time.
fn with_torch_env(cmd: &mut Command) -> &mut Command {
    let lib = root().join(".venv/libtorch/lib");
    let ld = match env::var("LD_LIBRARY_PATH") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", lib.display()),
        _ => lib.display().to_string(),
    };
    cmd.env("LIBTORCH", root().join(".venv/libtorch"))
        .env("LD_LIBRARY_PATH", ld)
        .current_dir(root())
}

fn cargo() -> Command {
    Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn agree_binary() -> Result<PathBuf> {
    run(with_torch_env(cargo().args(["build", "--package", "agree"])))?;
    Ok(target_dir().join("debug/agree"))
}

fn pipeline(args: &[String]) -> Result<()> {
    setup()?;
    let agree = agree_binary()?;
    // `--quiet` is a global option of `agree`; it goes before the subcommand.
    let (global, rest): (Vec<&String>, Vec<&String>) = args.iter().partition(|a| *a == "--quiet" || *a == "-q");
    run(with_torch_env(
        Command::new(&agree).args(global).arg("pipeline").args(rest),
    ))
}

fn bench(names: &[String]) -> Result<()> {
    setup()?;
    let mut pip = Command::new(venv_python());
    pip.args(["-m", "pip", "install", "--quiet"])
        .args(PYTHON_BENCH_PACKAGES);
    run(&mut pip)?;
    // `python` is the Python package's benchmark (crates/agree-py/bench/agree_package.py).
    let (python, cargo_benches): (Vec<&String>, Vec<&String>) = names.iter().partition(|n| *n == "python");
    if names.is_empty() || !cargo_benches.is_empty() {
        let mut cmd = cargo();
        cmd.args(["bench", "--package", "agree"]);
        for n in cargo_benches {
            cmd.args(["--bench", n]);
        }
        run(with_torch_env(&mut cmd))?;
    }
    if names.is_empty() || !python.is_empty() {
        install_python_package()?;
        run(with_torch_env(
            Command::new(venv_python()).arg(root().join("crates/agree-py/bench/agree_package.py")),
        ))?;
    }
    Ok(())
}

/// Runs `cargo fuzz run` for each chosen target for `seconds`, installing cargo-fuzz
/// when missing. New inputs go to fuzz/corpus/T (seeded from fuzz/seeds/T), crashes to
/// fuzz/artifacts/T.
fn fuzz(target: Option<&str>, seconds: u64, libfuzzer: &[String]) -> Result<()> {
    let chosen: Vec<&FuzzTarget> = match target {
        None => FUZZ_TARGETS.iter().collect(),
        Some(name) => match FUZZ_TARGETS.iter().find(|t| t.0 == name) {
            Some(t) => vec![t],
            None => {
                let names: Vec<&str> = FUZZ_TARGETS.iter().map(|t| t.0).collect();
                bail!("no fuzz target `{name}`; targets: {}", names.join(", "));
            }
        },
    };
    let have_fuzz = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_fuzz {
        run(cargo().args(["install", "cargo-fuzz"]))?;
    }
    let fuzz_dir = root().join("fuzz");
    for &FuzzTarget(name, stages, max_len) in chosen {
        let corpus = fuzz_dir.join("corpus").join(name);
        std::fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
        let mut cmd = cargo();
        cmd.args(["fuzz", "run", name, "--sanitizer", "none"]);
        if stages {
            cmd.args(["--features", "stages"]);
        }
        cmd.arg(&corpus).arg(fuzz_dir.join("seeds").join(name)).arg("--");
        cmd.arg(format!("-max_total_time={seconds}"))
            .arg(format!("-max_len={max_len}"))
            .arg("-timeout=30");
        let dict = fuzz_dir.join("dicts").join(format!("{name}.dict"));
        if dict.exists() {
            cmd.arg(format!("-dict={}", dict.display()));
        }
        // The targets ingest with rayon; one thread keeps a run to one core.
        cmd.args(libfuzzer).env("RAYON_NUM_THREADS", "1");
        run(with_torch_env(&mut cmd))?;
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Chore::Setup => {
            setup()?;
            install_python_package()
        }
        Chore::Test { args } => {
            setup()?;
            install_python_package()?;
            run(with_torch_env(cargo().args(["test", "--workspace"]).args(&args)))?;
            python_tests()
        }
        Chore::Pipeline { args } => pipeline(&args),
        Chore::Bench { names } => bench(&names),
        Chore::Fuzz {
            target,
            seconds,
            libfuzzer,
        } => fuzz(target.as_deref(), seconds, &libfuzzer),
    }
}
