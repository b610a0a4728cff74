//! Benchmark of the image-statistics stage (`agree stats`) against Python peers.
//!
//! Side by side in one run, on the real CIFAR-10 (`/work/shared/data/cifar10-jpeg.tar.gz`,
//! or `AGREE_CIFAR_TAR`) and on larger images (256×256 and 500×375, CIFAR images
//! upscaled bilinearly with a little deterministic noise):
//! 1. `agree stats` end to end (samples.parquet → stats/spectra.parquet, decode included)
//!    with rayon's default pool (one thread per core), and every statistic alone on decoded images with 1 thread;
//! 2. the authors' style of computing `entropy_local` and `dct_energy_pct` (a numpy
//!    window loop with `np.unique` per window; the coefficient-at-a-time norm loop);
//! 3. an optimised numpy/scipy/scikit-image implementation of the same definitions
//!    (`benches/python/imstats_peer.py`), single process.
//!
//! Every images/s figure, Rust or Python, is the fastest of `--repeat` runs (default 3),
//! so that a burst of other load on the machine does not decide a ratio.
//!
//! `cargo bench --bench imstats -- [--limit N] [--no-python] [--py-n N] [--repeat R]`.
//! Working files go to `.bench/imstats/` (git-ignored).

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::Instant,
};

use agree_imstats::{
    DecodedImage, ImageView, Selection, Statistic, StatsParams, compute_stats,
    stage::{ProgressBar, StatsJob, run_stats},
};
use agree_schema::{ExperimentDir, TableWriter};
use arrow::array::{
    ArrayRef, BinaryArray, Int32Array, Int32Builder, Int64Array, ListBuilder, RecordBatch, StringArray,
};

struct Options {
    limit: Option<usize>,
    python: bool,
    py_n: usize,
    /// Timed runs per measurement, on both sides; the fastest counts.
    repeat: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
    };
    Options {
        limit: value("--limit"),
        python: !args.iter().any(|a| a == "--no-python"),
        py_n: value("--py-n").unwrap_or(2000),
        repeat: value("--repeat").unwrap_or(3).max(1),
    }
}

/// A set of same-sized decoded RGB images, contiguous.
struct ImageSet {
    name: &'static str,
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl ImageSet {
    fn len(&self) -> usize {
        self.pixels.len() / (self.width * self.height * 3)
    }
    fn view(&self, i: usize) -> ImageView<'_> {
        let n = self.width * self.height * 3;
        ImageView::rgb(self.width, self.height, &self.pixels[i * n..(i + 1) * n]).expect("sized by construction")
    }
}

/// `f(i)` for every `i < n` on `threads` scoped threads (contiguous chunks), in order.
fn parallel_map<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let chunk = n.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                let f = &f;
                scope.spawn(move || (start..(start + chunk).min(n)).map(f).collect::<Vec<T>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker panicked"))
            .collect()
    })
}

/// Images per second of `selection` over `set` with `threads` threads: the fastest of
/// `repeat` runs (the Python peers are timed the same way).
fn rate(set: &ImageSet, selection: Selection, threads: usize, repeat: usize) -> f64 {
    let params = StatsParams::default();
    let n = set.len();
    let mut best = f64::INFINITY;
    for _ in 0..repeat {
        let start = Instant::now();
        let checksum: f64 = parallel_map(n, threads, |i| {
            let s = compute_stats(&set.view(i), selection, &params);
            selection.columns().filter_map(|c| s.column(c)).sum::<f64>()
        })
        .iter()
        .sum();
        best = best.min(start.elapsed().as_secs_f64());
        std::hint::black_box(checksum);
    }
    n as f64 / best
}

fn upscale(src: &ImageSet, count: usize, width: usize, height: usize, name: &'static str) -> ImageSet {
    let mut pixels = Vec::with_capacity(count * width * height * 3);
    let mut state = 0x9e37_79b9u32;
    for i in 0..count {
        let v = src.view(i % src.len());
        let img = image::RgbImage::from_raw(v.width as u32, v.height as u32, v.pixels.to_vec()).expect("rgb");
        let big = image::imageops::resize(&img, width as u32, height as u32, image::imageops::FilterType::Triangle);
        pixels.extend(big.into_raw().into_iter().map(|p| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            p.saturating_add_signed(((state >> 24) % 9) as i8 - 4)
        }));
    }
    ImageSet {
        name,
        width,
        height,
        pixels,
    }
}

fn write_samples(path: &Path, entries: &[(String, Vec<u8>)], dims: &[(i32, i32)]) {
    let c = agree_schema::Table::Samples.contract();
    let classes: Vec<&str> = {
        let mut v: Vec<&str> = entries.iter().filter_map(|(k, _)| k.split('/').nth(1)).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let mut w = TableWriter::create(path, c, c.schema()).expect("writer");
    for (chunk_i, chunk) in entries.chunks(8192).enumerate() {
        let base = chunk_i * 8192;
        fn class(k: &str) -> &str {
            k.split('/').nth(1).unwrap_or("")
        }
        let label = |k: &str| classes.iter().position(|c| *c == class(k)).unwrap_or(0) as i32;
        let mut labels = ListBuilder::new(Int32Builder::new());
        for (k, _) in chunk {
            labels.values().append_value(label(k));
            labels.append(true);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(
                (base..base + chunk.len()).map(|i| i as i64),
            )),
            Arc::new(StringArray::from_iter_values(
                chunk.iter().map(|(k, _)| k.split('/').next().unwrap_or("")),
            )),
            Arc::new(StringArray::from_iter_values(chunk.iter().map(|(k, _)| k.as_str()))),
            Arc::new(Int32Array::from_iter(chunk.iter().map(|(k, _)| Some(label(k))))),
            Arc::new(labels.finish()),
            Arc::new(StringArray::from_iter_values(chunk.iter().map(|(k, _)| class(k)))),
            Arc::new(Int32Array::from_iter_values(
                dims[base..base + chunk.len()].iter().map(|d| d.0),
            )),
            Arc::new(Int32Array::from_iter_values(
                dims[base..base + chunk.len()].iter().map(|d| d.1),
            )),
            Arc::new(Int32Array::from_iter_values(chunk.iter().map(|_| 3))),
            Arc::new(Int32Array::from_iter_values(chunk.iter().map(|_| 8))),
            Arc::new(StringArray::from_iter_values(chunk.iter().map(|_| "jpeg"))),
            Arc::new(BinaryArray::from_iter_values(chunk.iter().map(|(_, b)| b.as_slice()))),
        ];
        w.write(&RecordBatch::try_new(c.schema(), columns).expect("batch"))
            .expect("write");
    }
    w.finish().expect("finish");
}

/// The CIFAR-10 JPEGs, keyed by their path relative to the dataset root, sorted (SPEC ids).
fn read_jpegs(tar_path: &Path, limit: Option<usize>) -> Vec<(String, Vec<u8>)> {
    let start = Instant::now();
    let file = std::fs::File::open(tar_path).unwrap_or_else(|e| panic!("{}: {e}", tar_path.display()));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("tar entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        if !path.ends_with(".jpg") {
            continue;
        }
        let key = path.split_once('/').map(|(_, k)| k.to_string()).unwrap_or(path);
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read");
        entries.push((key, bytes));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(limit) = limit {
        entries.truncate(limit);
    }
    println!(
        "read {} CIFAR-10 JPEGs in {:.1} s",
        entries.len(),
        start.elapsed().as_secs_f64()
    );
    entries
}

/// Decodes every JPEG (timed alone, 2 threads): the pixels and images per second.
fn decode_jpegs(entries: &[(String, Vec<u8>)]) -> (ImageSet, f64) {
    let start = Instant::now();
    let decoded: Vec<Vec<u8>> = parallel_map(entries.len(), 2, |i| {
        let (key, bytes) = &entries[i];
        let mut d = DecodedImage::new();
        d.decode(bytes, "jpeg", 0, 0).unwrap_or_else(|e| panic!("{key}: {e}"));
        let v = d.view();
        assert_eq!((v.width, v.height, v.channels), (32, 32, 3), "{key}");
        v.pixels.to_vec()
    });
    let rate = entries.len() as f64 / start.elapsed().as_secs_f64();
    let set = ImageSet {
        name: "cifar10 32x32",
        width: 32,
        height: 32,
        pixels: decoded.concat(),
    };
    (set, rate)
}

/// `agree stats` end to end on a samples.parquet of the JPEGs, on rayon's global pool.
fn time_stage(exp: &ExperimentDir, entries: &[(String, Vec<u8>)]) {
    let n = entries.len();
    write_samples(&exp.samples(), entries, &vec![(32, 32); n]);
    let job = StatsJob::in_dir(exp);
    let start = Instant::now();
    // rayon's global pool: one thread per core (2 on the reference machine).
    let summary = run_stats(&job, &ProgressBar::hidden()).expect("agree stats");
    let stage_secs = start.elapsed().as_secs_f64();
    println!(
        "agree stats (all statistics, decode and Parquet I/O included, {} threads): {n} images in {stage_secs:.2} s = {:.0} images/s (target: 60,000 in <= 15 s)",
        std::thread::available_parallelism().map_or(1, |p| p.get()),
        n as f64 / stage_secs
    );
    print!("{summary}");
}

/// Every statistic alone (1 thread) and all together (1 and 2 threads) on each image
/// set, beside the Python peers' rates where they ran.
fn print_rates(sets: &[&ImageSet], python: Option<&serde_json::Value>, repeat: usize) {
    println!();
    println!(
        "{:<14} {:<15} {:>13} {:>13} {:>9} {:>13} {:>10}",
        "images", "statistic", "rust img/s", "numpy img/s", "ratio", "authors img/s", "ratio"
    );
    for set in sets {
        let peer = python.and_then(|p| p.get(set.name));
        let mut rows: Vec<(String, f64)> = Statistic::ALL
            .iter()
            .map(|&s| (s.name().to_string(), rate(set, Selection::only(s), 1, repeat)))
            .collect();
        rows.push(("all (1 thread)".into(), rate(set, Selection::all(), 1, repeat)));
        rows.push(("all (2 threads)".into(), rate(set, Selection::all(), 2, repeat)));
        for (name, ours) in rows {
            let key = name.split(' ').next().unwrap_or("").to_string();
            let get = |kind: &str| {
                peer.and_then(|p| p.get(kind))
                    .and_then(|p| p.get(&key))
                    .and_then(|v| v.as_f64())
            };
            let fmt = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
            let ratio = |v: Option<f64>| v.map(|v| format!("{:.1}x", ours / v)).unwrap_or_else(|| "-".into());
            let (opt, authors) = (get("optimised"), get("authors"));
            println!(
                "{:<14} {:<15} {:>13.0} {:>13} {:>9} {:>13} {:>10}",
                set.name,
                name,
                ours,
                fmt(opt),
                ratio(opt),
                fmt(authors),
                ratio(authors)
            );
        }
    }
}

fn main() {
    let opts = options();
    // The workspace root, whether this runs as a bench of `agree` or of `agree-imstats`.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("Cargo.lock").exists())
        .unwrap_or(Path::new("."));
    let tar_path = std::env::var_os("AGREE_CIFAR_TAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data/cifar10-jpeg.tar.gz"));
    let work = root.join(".bench/imstats");
    std::fs::create_dir_all(&work).expect("bench dir");

    let entries = read_jpegs(&tar_path, opts.limit);
    let (cifar, decode_rate) = decode_jpegs(&entries);
    time_stage(&ExperimentDir::new(work.join("cifar10")), &entries);
    drop(entries);
    let large = [
        upscale(&cifar, 300, 256, 256, "256x256"),
        upscale(&cifar, 60, 500, 375, "500x375"),
    ];
    // Python peers on the same pixels.
    let sets: [&ImageSet; 3] = [&cifar, &large[0], &large[1]];
    let py_counts = [(opts.py_n.min(cifar.len()), 50), (100, 3), (30, 1)];
    let python = if opts.python {
        run_python(root, &work, &sets, &py_counts, opts.repeat)
    } else {
        None
    };
    print_rates(&sets, python.as_ref(), opts.repeat);
    println!();
    println!("JPEG decode alone (2 threads): {decode_rate:.0} images/s");
    println!("ratios compare Rust with the single-process Python peer; `all (2 threads)` uses both cores");
}

fn run_python(
    root: &Path,
    work: &Path,
    sets: &[&ImageSet],
    counts: &[(usize, usize)],
    repeat: usize,
) -> Option<serde_json::Value> {
    let python = root.join(".venv/bin/python");
    let ready = |py: &Path| {
        Command::new(py)
            .args(["-c", "import scipy, skimage, PIL"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ready(&python) {
        println!("installing scipy and scikit-image into .venv for the Python peers");
        let ok = Command::new(&python)
            .args(["-m", "pip", "install", "-q", "scipy", "scikit-image", "pillow"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok || !ready(&python) {
            println!("Python peers skipped: could not prepare {}", python.display());
            return None;
        }
    }
    let mut meta = Vec::new();
    for (set, &(n_opt, n_authors)) in sets.iter().zip(counts) {
        let file = work.join(format!("px_{}x{}.u8", set.width, set.height));
        let n = n_opt.max(n_authors).min(set.len());
        std::fs::write(&file, &set.pixels[..n * set.width * set.height * 3]).expect("pixels");
        meta.push(serde_json::json!({
            "name": set.name, "width": set.width, "height": set.height,
            "file": file, "n_optimised": n_opt.min(n), "n_authors": n_authors.min(n),
        }));
    }
    let meta_path = work.join("peer_sets.json");
    std::fs::write(&meta_path, serde_json::to_string(&meta).expect("json")).expect("meta");
    let out_path = work.join("peer_results.json");
    println!("running the Python peers (benches/python/imstats_peer.py) ...");
    let status = Command::new(&python)
        .arg(root.join("benches/python/imstats_peer.py"))
        .arg(&meta_path)
        .arg(&out_path)
        .arg(repeat.to_string())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        println!("Python peers failed; Rust figures only");
        return None;
    }
    serde_json::from_slice(&std::fs::read(&out_path).ok()?).ok()
}
