//! Training throughput of `agree train` next to PyTorch, in one run.
//!
//! CPU (default): LeNet-5, ResNet-18 and ResNet-20 (the CIFAR ResNet of He et al.) on
//! 32×32 inputs, batch 128, one network each, 5, 2 and 2 epochs on synthetic noise images (throughput does not depend on content);
//! the best training images/s of the epochs after the first (the least disturbed by
//! other load, taken alike on both sides) and the share of the training pass spent
//! waiting for input batches are compared with the same model, batch, optimiser and
//! thread count in PyTorch (`benches/python/train.py`, standard Dataset +
//! DataLoader, from the project's `.venv`).
//!
//! GPU (`AGREE_BENCH_GPU=1 AGREE_BENCH_SAMPLES=<experiment dir with CIFAR-10
//! samples.parquet>`): five ResNet-18s, one epoch each, on CUDA, Rust and Python in
//! the same call.
//!
//! The peer runs twice: the textbook loop, and the same loop also computing the
//! per-sample predictions agree must record (`--per-sample`). Parameter counts of
//! both sides and the time per batch of each training phase are printed too.
//!
//! Knobs: `AGREE_BENCH_IMAGES` (synthetic training images, default 2560),
//! `AGREE_BENCH_ARCHS` (comma-separated subset of `lenet5,resnet18,resnet20`),
//! `AGREE_BENCH_EPOCHS` (CPU: epochs of each model, default 5 for LeNet-5, 2 for the ResNets),
//! `AGREE_BENCH_PREFETCH` (CPU: batches agree assembles ahead, default 4; 0 = on demand),
//! `AGREE_BENCH_THREADS` (default: all cores), `AGREE_BENCH_PARALLEL` (GPU: networks
//! trained at once by agree, default 5), `AGREE_BENCH_WORKERS` (GPU: DataLoader
//! workers, default 8), `AGREE_PYTHON` (default `.venv/bin/python`).

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::Instant,
};

use agree_schema::{ExperimentDir, Table, TableWriter};
use agree_train::{Arch, DeviceChoice, Geometry, RuntimeOptions, TrainConfig, parameter_count, train_study};
use arrow::{
    array::{ArrayRef, BinaryArray, Int32Array, Int32Builder, Int64Array, ListBuilder, StringArray},
    datatypes::{DataType, Field},
};

fn env_usize(name: &str, default: usize) -> usize {
    env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Writes `train` + `test` random 32×32 rgb8 images in 10 classes as samples.parquet.
fn write_noise_samples(dir: &Path, train: usize, test: usize) {
    let c = Table::Samples.contract();
    let n = train + test;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut image = Vec::with_capacity(n);
    for _ in 0..n {
        let px: Vec<u8> = (0..32 * 32 * 3)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        image.push(px);
    }
    let split = |i: usize| if i < test { "test" } else { "train" };
    let label = |i: usize| (i % 10) as i32;
    let mut labels = ListBuilder::new(Int32Builder::new()).with_field(Field::new_list_field(DataType::Int32, true));
    for i in 0..n {
        labels.values().append_value(label(i));
        labels.append(true);
    }
    let batch = c
        .batch([
            (
                "sample_id",
                Arc::new(Int64Array::from_iter_values(0..n as i64)) as ArrayRef,
            ),
            ("split", Arc::new(StringArray::from_iter_values((0..n).map(split)))),
            (
                "key",
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("{}/{i:06}", split(i))),
                )),
            ),
            ("label", Arc::new(Int32Array::from_iter_values((0..n).map(label)))),
            ("labels", Arc::new(labels.finish())),
            (
                "class_name",
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("class{}", label(i))),
                )),
            ),
            ("width", Arc::new(Int32Array::from_iter_values((0..n).map(|_| 32)))),
            ("height", Arc::new(Int32Array::from_iter_values((0..n).map(|_| 32)))),
            ("channels", Arc::new(Int32Array::from_iter_values((0..n).map(|_| 3)))),
            ("bit_depth", Arc::new(Int32Array::from_iter_values((0..n).map(|_| 8)))),
            (
                "format",
                Arc::new(StringArray::from_iter_values((0..n).map(|_| "rgb8"))),
            ),
            (
                "image",
                Arc::new(BinaryArray::from_iter_values(image.iter().map(Vec::as_slice))),
            ),
        ])
        .expect("samples batch");
    let mut w =
        TableWriter::create(ExperimentDir::new(dir).table(Table::Samples), c, c.schema()).expect("create samples");
    w.write(&batch).expect("write samples");
    w.finish().expect("finish samples");
}

/// Throughput of one side: (images/s of the last epoch per network, data-wait share).
struct Side {
    images_per_s: Vec<f64>,
    data_wait_share: f64,
    wall_s: f64,
    /// Milliseconds per batch: data wait, forward, scoring, backward, optimiser, bookkeeping.
    phase_ms: [f64; 6],
    params: usize,
}

impl Side {
    /// A side from its images/s per network, data-wait shares (averaged), and the
    /// seconds of each phase (`PHASES`) per network or epoch, over `batches` batches.
    fn new(
        images_per_s: Vec<f64>,
        shares: &[f64],
        phase_s: impl Iterator<Item = [f64; 6]>,
        batches: u64,
        wall_s: f64,
        params: usize,
    ) -> Side {
        let mut phase_ms = [0.0; 6];
        for seconds in phase_s {
            for (acc, v) in phase_ms.iter_mut().zip(seconds) {
                *acc += v;
            }
        }
        phase_ms.iter_mut().for_each(|v| *v *= 1e3 / batches.max(1) as f64);
        Side {
            images_per_s,
            data_wait_share: mean(shares),
            wall_s,
            phase_ms,
            params,
        }
    }
}

const PHASES: [&str; 6] = ["data", "forward", "scoring", "backward", "optim", "other"];

fn phase_line(label: &str, ms: &[f64; 6]) -> String {
    let parts: Vec<String> = PHASES.iter().zip(ms).map(|(n, v)| format!("{n} {v:.2}")).collect();
    format!(
        "  {label:<22} ms/batch: {} (sum {:.2})",
        parts.join(", "),
        ms.iter().sum::<f64>()
    )
}

/// Trainable parameters of our model for 10 classes and 32×32 inputs.
fn our_params(arch: Arch) -> usize {
    parameter_count(arch, 10, Geometry { height: 32, width: 32 }).expect("model builds")
}

fn rust_side(dir: &Path, arch: Arch, networks: u32, epochs: u32, rt: &RuntimeOptions) -> Side {
    let mut config = TrainConfig::reference(arch);
    config.networks = networks;
    config.epochs = epochs;
    let start = Instant::now();
    let summary = train_study(dir, &[config], rt).unwrap_or_else(|e| panic!("agree train: {e}"));
    let wall_s = start.elapsed().as_secs_f64();
    let images_per_s = summary
        .networks
        .iter()
        .map(|n| best_after_first(n.epochs.iter().map(|e| (e.epoch as u64, e.images_per_s))))
        .collect();
    let shares: Vec<f64> = summary.networks.iter().map(|n| n.data_wait_share).collect();
    let batches = summary.networks.iter().map(|n| n.phases.batches).sum();
    let phase_s = summary.networks.iter().map(|n| {
        let p = &n.phases;
        [
            p.data_wait,
            p.forward,
            p.scoring,
            p.backward,
            p.optimizer,
            p.bookkeeping,
        ]
    });
    Side::new(images_per_s, &shares, phase_s, batches, wall_s, our_params(arch))
}

fn python_side(python: &Path, samples: &Path, args: &[String]) -> Side {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python/train.py");
    let start = Instant::now();
    let out = Command::new(python)
        .arg(&script)
        .arg("--samples")
        .arg(samples)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    let wall_s = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "python peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("peer prints JSON");
    let epochs = json["epochs"].as_array().cloned().unwrap_or_default();
    let networks: std::collections::BTreeSet<u64> = epochs.iter().filter_map(|e| e["network"].as_u64()).collect();
    let images_per_s = networks
        .iter()
        .map(|&net| {
            best_after_first(epochs.iter().filter(|e| e["network"].as_u64() == Some(net)).map(|e| {
                (
                    e["epoch"].as_u64().unwrap_or(0),
                    e["images_per_s"].as_f64().unwrap_or(0.0),
                )
            }))
        })
        .collect();
    let shares: Vec<f64> = epochs.iter().filter_map(|e| e["data_wait_share"].as_f64()).collect();
    let batches = epochs.iter().filter_map(|e| e["batches"].as_u64()).sum();
    let keys = [
        "data_wait",
        "forward",
        "scoring",
        "backward",
        "optimizer",
        "bookkeeping",
    ];
    let phase_s = epochs
        .iter()
        .map(|e| keys.map(|key| e["phases"][key].as_f64().unwrap_or(0.0)));
    let params = json["params"].as_u64().unwrap_or(0) as usize;
    Side::new(images_per_s, &shares, phase_s, batches, wall_s, params)
}

/// The best images/s of the epochs after the first (warm-up), or of the only epoch:
/// the least disturbed by other load on a shared machine, taken alike on both sides.
fn best_after_first(epochs: impl Iterator<Item = (u64, f64)>) -> f64 {
    let all: Vec<(u64, f64)> = epochs.collect();
    let later = all.iter().filter(|(e, _)| *e > 1).map(|&(_, v)| v);
    let best = later.fold(f64::NAN, f64::max);
    if best.is_nan() {
        all.iter().map(|&(_, v)| v).fold(0.0, f64::max)
    } else {
        best
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn main() {
    let python = env::var_os("AGREE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let threads = env_usize(
        "AGREE_BENCH_THREADS",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    if env::var("AGREE_BENCH_GPU").is_ok_and(|v| v == "1") {
        gpu(&python, threads);
    } else {
        cpu(&python, threads);
    }
}

/// The CPU models on synthetic noise, agree next to both PyTorch loops.
fn cpu(python: &Path, threads: usize) {
    let images = env_usize("AGREE_BENCH_IMAGES", 2560);
    let epochs_of = |arch: Arch| env_usize("AGREE_BENCH_EPOCHS", if arch == Arch::Lenet5 { 5 } else { 2 }) as u32;
    let dir = tempfile::tempdir().expect("temp dir");
    write_noise_samples(dir.path(), images, 256);
    let samples = ExperimentDir::new(dir.path()).table(Table::Samples);
    let rt = RuntimeOptions {
        device: DeviceChoice::Cpu.into(),
        threads: Some(threads),
        prefetch: env_usize("AGREE_BENCH_PREFETCH", 4),
        checkpoints: false,
        quiet: true,
        ..RuntimeOptions::default()
    };
    let archs = env::var("AGREE_BENCH_ARCHS").unwrap_or_else(|_| "lenet5,resnet18,resnet20".into());
    println!(
        "train bench: {images} train images 32x32, batch 128, {} epochs of LeNet-5 and {} of each ResNet \
         (best epoch after the first timed, on both sides), {threads} threads, CPU",
        epochs_of(Arch::Lenet5),
        epochs_of(Arch::Resnet18)
    );
    println!(
        "torch: the textbook loop (batch loss only); torch+ps: the same loop also computing and keeping the \
         per-sample predictions (loss, predicted, correct, p_label, p_max, margin) that agree records"
    );
    println!(
        "{:<9} {:>10} {:>12} {:>12} {:>7} {:>12} {:>7} {:>12} {:>12}",
        "model", "params", "agree img/s", "torch img/s", "ratio", "torch+ps", "ratio", "agree data%", "torch data%"
    );
    let models = [
        (Arch::Lenet5, "lenet5"),
        (Arch::Resnet18, "resnet18"),
        (Arch::ResnetCifar { depth: 20 }, "resnet20"),
    ];
    for (arch, name) in models {
        if archs.split(',').any(|a| a.trim() == name) {
            compare_on_cpu(python, &samples, arch, name, epochs_of(arch), threads, &rt);
        }
    }
}

/// One architecture on the CPU: agree, the textbook PyTorch loop and the loop with
/// per-sample predictions, on the same samples; prints a row and the phase lines.
fn compare_on_cpu(
    python: &Path,
    samples: &Path,
    arch: Arch,
    name: &str,
    epochs: u32,
    threads: usize,
    rt: &RuntimeOptions,
) {
    let run_dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(samples, ExperimentDir::new(run_dir.path()).table(Table::Samples)).expect("copy samples");
    let ours = rust_side(run_dir.path(), arch, 1, epochs, rt);
    let args: Vec<String> = [
        "--arch",
        name,
        "--epochs",
        &epochs.to_string(),
        "--threads",
        &threads.to_string(),
        "--batch-size",
        "128",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let plain = python_side(python, samples, &args);
    let with_scores = python_side(
        python,
        samples,
        &[args.as_slice(), &["--per-sample".to_string()]].concat(),
    );
    let (a, t, ts) = (
        mean(&ours.images_per_s),
        mean(&plain.images_per_s),
        mean(&with_scores.images_per_s),
    );
    let params = if ours.params == plain.params {
        ours.params.to_string()
    } else {
        format!("{}≠{}", ours.params, plain.params)
    };
    println!(
        "{name:<9} {params:>10} {a:>12.1} {t:>12.1} {:>7.2} {ts:>12.1} {:>7.2} {:>11.1}% {:>11.1}%",
        a / t,
        a / ts,
        100.0 * ours.data_wait_share,
        100.0 * plain.data_wait_share
    );
    println!("{}", phase_line("agree", &ours.phase_ms));
    println!("{}", phase_line("torch", &plain.phase_ms));
    println!("{}", phase_line("torch+ps", &with_scores.phase_ms));
}

/// Five ResNet-18s, one epoch each, on CUDA: agree (networks in parallel) and PyTorch
/// (networks one after another, DataLoader workers) on the same samples.
fn gpu(python: &Path, threads: usize) {
    let Some(dir) = env::var_os("AGREE_BENCH_SAMPLES").map(PathBuf::from) else {
        panic!("AGREE_BENCH_GPU=1 needs AGREE_BENCH_SAMPLES=<experiment dir holding CIFAR-10 samples.parquet>");
    };
    let parallel = env_usize("AGREE_BENCH_PARALLEL", 5);
    let workers = env_usize("AGREE_BENCH_WORKERS", 8);
    let run_dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        ExperimentDir::new(&dir).table(Table::Samples),
        ExperimentDir::new(run_dir.path()).table(Table::Samples),
    )
    .expect("copy samples");
    let rt = RuntimeOptions {
        device: DeviceChoice::Cuda(0).into(),
        parallel,
        threads: Some(threads),
        checkpoints: false,
        quiet: false,
        ..RuntimeOptions::default()
    };
    let ours = rust_side(run_dir.path(), Arch::Resnet18, 5, 1, &rt);
    let args: Vec<String> = [
        "--arch",
        "resnet18",
        "--networks",
        "5",
        "--epochs",
        "1",
        "--device",
        "cuda",
        "--workers",
        &workers.to_string(),
        "--threads",
        &threads.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let theirs = python_side(python, &ExperimentDir::new(&dir).table(Table::Samples), &args);
    println!("GPU bench: 5 × ResNet-18, 1 epoch each, batch 128 (device cuda:0)");
    println!(
        "agree  : {parallel} at once, per-network img/s {:?}, wall {:.1} s, data wait {:.1}%",
        ours.images_per_s.iter().map(|v| v.round()).collect::<Vec<_>>(),
        ours.wall_s,
        100.0 * ours.data_wait_share
    );
    println!(
        "pytorch: sequential, {workers} DataLoader workers, per-network img/s {:?}, wall {:.1} s, data wait {:.1}%",
        theirs.images_per_s.iter().map(|v| v.round()).collect::<Vec<_>>(),
        theirs.wall_s,
        100.0 * theirs.data_wait_share
    );
    println!(
        "five networks: agree {:.1} s vs pytorch {:.1} s (ratio {:.2})",
        ours.wall_s,
        theirs.wall_s,
        theirs.wall_s / ours.wall_s
    );
}
