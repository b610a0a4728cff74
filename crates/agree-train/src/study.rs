//! A study on an experiment directory: every network of every configuration,
//! trained on `samples.parquet`, several at once when asked, writing
//! `predictions/`, `epochs/`, `runs/` and `checkpoints/` (one file or folder per
//! network, so the shards of a study, `--shard I/N`, fill one directory together).
//!
//! All checks on the data and options run before the first network starts.

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use agree_schema::{ExperimentDir, Shard, Table, TableWriter};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tch::Device;

use crate::{
    TrainError,
    allocator::tune_allocator_for_training,
    config::TrainConfig,
    device::{
        DeviceChoice, Devices, cuda_library_loaded, deal_round_robin, device_name, resolve_device, torch_version,
    },
    labels::randomize_labels,
    loader::InputPipeline,
    models,
    network::{EpochSink, NetworkJob, NetworkOptions, NetworkOutcome, StepPhases, TrainingData, train_network},
    pixels::PixelStore,
    predictions::PredictionColumns,
    samples::{SampleTable, Split, subset},
    seeds,
    tables::{EpochRecord, RunRecord, RunTables, now_us},
    transform::{Geometry, Normalization, input_geometry, normalization},
};

/// How a study is run; none of it changes what the networks learn, except that
/// `deterministic` also trains one network at a time.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Devices to train on; with several, the networks are dealt round-robin to them.
    pub device: Devices,
    /// Networks trained at the same time (on each device).
    pub parallel: usize,
    /// The share of the networks this invocation trains: index n with n mod N = I.
    pub shard: Shard,
    /// libtorch intra-op threads (None: libtorch's default).
    pub threads: Option<usize>,
    /// Reproducible mode: one network at a time, cuDNN autotuning off.
    pub deterministic: bool,
    /// Memory budget for caching decoded pixels, in MiB.
    pub cache_mb: usize,
    /// Batches assembled ahead of the training step (0: each when the step asks for it).
    pub prefetch: usize,
    /// No progress bars or summaries.
    pub quiet: bool,
    /// Write checkpoints (and resume from them).
    pub checkpoints: bool,
    /// Stop every network after this epoch, as if killed (for tests and chunked runs).
    pub stop_after_epoch: Option<u32>,
    /// Largest image decoded, in pixels (before and after resizing), read from the header first.
    pub max_pixels: u64,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            device: Devices::from(DeviceChoice::Auto),
            parallel: 1,
            shard: Shard::WHOLE,
            threads: None,
            deterministic: false,
            cache_mb: 4096,
            prefetch: 4,
            quiet: true,
            checkpoints: true,
            stop_after_epoch: None,
            max_pixels: agree_schema::sample_image::DEFAULT_MAX_PIXELS,
        }
    }
}

/// What one network ended with.
#[derive(Debug, Clone)]
pub struct NetworkSummary {
    /// `<arch>-s<index>`.
    pub run_id: String,
    /// All epoch rows.
    pub epochs: Vec<EpochRecord>,
    /// Checkpoint epoch resumed from.
    pub resumed_from: Option<u32>,
    /// Share of training-pass time spent waiting for input batches.
    pub data_wait_share: f64,
    /// Where the training passes of this invocation spent their time.
    pub phases: StepPhases,
}

/// What a study did.
#[derive(Debug, Clone)]
pub struct StudySummary {
    /// Devices trained on (`cpu`, `cuda:0`, `cuda:0,cuda:1`).
    pub device: String,
    /// Per network, in job order.
    pub networks: Vec<NetworkSummary>,
}

/// Everything derived from the samples for one configuration, checked up front.
struct DataPlan {
    train_rows: Vec<usize>,
    train_labels: Vec<Vec<i32>>,
    test_rows: Vec<usize>,
    test_labels: Vec<Vec<i32>>,
    geometry: Geometry,
}

fn plan(table: &SampleTable, config: &TrainConfig) -> Result<DataPlan, TrainError> {
    let empty = |split: &str| TrainError::BadDataset {
        path: table.path.clone(),
        message: format!("the `{split}` split has no samples"),
    };
    let train_rows = subset(table.rows_of(Split::Train), config.train_limit, seeds::TRAIN_SUBSET);
    let test_rows = subset(table.rows_of(Split::Test), config.test_limit, seeds::TEST_SUBSET);
    if train_rows.is_empty() {
        return Err(empty("train"));
    }
    if test_rows.is_empty() {
        return Err(empty("test"));
    }
    let true_train: Vec<Vec<i32>> = train_rows.iter().map(|&r| table.labels[r].clone()).collect();
    let train_labels = if config.label_noise > 0.0 {
        if table.multi_label {
            return Err(TrainError::option(
                "--label-noise",
                "label randomisation is defined for single-label datasets only",
            ));
        }
        let single: Vec<i32> = true_train.iter().map(|l| l[0]).collect();
        randomize_labels(&single, table.classes(), config.label_noise, config.label_noise_seed)
            .into_iter()
            .map(|l| vec![l])
            .collect()
    } else {
        true_train
    };
    let test_labels = test_rows.iter().map(|&r| table.labels[r].clone()).collect();
    let all: Vec<usize> = train_rows.iter().chain(&test_rows).copied().collect();
    let geometry = input_geometry(table, &all, &config.transform)?;
    models::check_input(config.arch, table.classes() as i64, geometry)?;
    Ok(DataPlan {
        train_rows,
        train_labels,
        test_rows,
        test_labels,
        geometry,
    })
}

/// The configuration as recorded in `runs.config`.
#[derive(Serialize)]
struct RecordedConfig<'a> {
    #[serde(flatten)]
    config: &'a TrainConfig,
    classes: usize,
    input: Geometry,
    normalization: Normalization,
    train_samples: usize,
    test_samples: usize,
}

/// Writes predictions files and the run tables of an experiment directory.
struct ExperimentSink<'a> {
    dir: &'a ExperimentDir,
    tables: &'a RunTables,
    config: &'a TrainConfig,
    config_json: String,
    started: Mutex<HashMap<String, i64>>,
    last_epochs: Mutex<HashMap<String, Vec<EpochRecord>>>,
}

impl ExperimentSink<'_> {
    fn record(&self, job: &NetworkJob, epochs: &[EpochRecord], status: &str) -> Result<(), TrainError> {
        let now = now_us();
        let started_at = {
            let mut started = self
                .started
                .lock()
                .map_err(|_| TrainError::Worker("a network thread panicked".into()))?;
            *started
                .entry(job.run_id.clone())
                .or_insert_with(|| self.tables.started_at(&job.run_id).unwrap_or(now))
        };
        if let Ok(mut last) = self.last_epochs.lock() {
            last.insert(job.run_id.clone(), epochs.to_vec());
        }
        let run = RunRecord {
            run_id: job.run_id.clone(),
            arch: self.config.arch.to_string(),
            network: job.index as i32,
            seed: job.seed as i64,
            label_noise: self.config.label_noise,
            label_noise_seed: self.config.label_noise_seed as i64,
            epochs_planned: self.config.epochs as i32,
            epochs_completed: epochs.len() as i32,
            status: status.to_string(),
            device: device_name(job.device),
            config: self.config_json.clone(),
            torch_version: torch_version().to_string(),
            agree_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at,
            updated_at: now,
        };
        self.tables.update(run, epochs.to_vec())
    }

    fn failed(&self, job: &NetworkJob) -> Result<(), TrainError> {
        let epochs = self
            .last_epochs
            .lock()
            .ok()
            .and_then(|l| l.get(&job.run_id).cloned())
            .unwrap_or_default();
        self.record(job, &epochs, "failed")
    }
}

impl EpochSink for ExperimentSink<'_> {
    fn has_predictions(&self, job: &NetworkJob, epoch: u32) -> bool {
        self.dir.predictions(&job.run_id, epoch).is_file()
    }

    fn predictions(
        &self,
        job: &NetworkJob,
        epoch: u32,
        splits: &[(&str, &PredictionColumns)],
    ) -> Result<(), TrainError> {
        let c = Table::Predictions.contract();
        let path = self.dir.predictions(&job.run_id, epoch);
        let mut w = TableWriter::create(&path, c, c.schema())?;
        for (split, cols) in splits {
            let batch = cols
                .to_record_batch(
                    &job.run_id,
                    &self.config.arch.to_string(),
                    job.index as i32,
                    epoch as i32,
                    split,
                )
                .map_err(|source| TrainError::Contract {
                    path: path.clone(),
                    source,
                })?;
            w.write(&batch)?;
        }
        w.finish()?;
        Ok(())
    }

    fn epoch_done(&self, job: &NetworkJob, epochs: &[EpochRecord], finished: bool) -> Result<(), TrainError> {
        self.record(job, epochs, if finished { "finished" } else { "running" })
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// Refuses to add predictions to, or resume from checkpoints of, a directory whose
/// earlier training ran on other data, and stamps both folders with this dataset.
fn claim_outputs(exp: &ExperimentDir) -> Result<(), TrainError> {
    use agree_schema::identity;
    let current = identity::current_fingerprint(exp)?;
    let remedy = "train in a fresh directory, or `agree ingest … --force` to start afresh";
    let (checkpoints, predictions) = (exp.checkpoints_dir(), exp.predictions_dir());
    let folders = [
        (checkpoints.as_path(), "checkpoints/"),
        (predictions.as_path(), "predictions/"),
    ];
    Ok(identity::claim_folders(&folders, current.as_deref(), remedy)?)
}

/// Trains every network of every configuration on the experiment directory `dir`.
pub fn train_study(dir: &Path, configs: &[TrainConfig], rt: &RuntimeOptions) -> Result<StudySummary, TrainError> {
    for c in configs {
        c.validate()?;
    }
    let devices: Vec<Device> = rt
        .device
        .choices()
        .iter()
        .map(|&d| resolve_device(d))
        .collect::<Result<_, _>>()?;
    if devices.contains(&Device::Cpu) {
        tune_allocator_for_training();
    }
    let exp = ExperimentDir::new(dir);
    let table = SampleTable::read(&exp.table(Table::Samples))?;
    let plans: Vec<DataPlan> = configs.iter().map(|c| plan(&table, c)).collect::<Result<_, _>>()?;
    claim_outputs(&exp)?;
    let threads = configure_torch(rt, &devices);
    let run_ids: Vec<String> = configs
        .iter()
        .flat_map(|c| {
            shard_networks(c.networks, rt.shard)
                .into_iter()
                .map(move |i| c.run_id(i))
        })
        .collect();
    if run_ids.is_empty() && !rt.quiet {
        eprintln!(
            "agree train: shard {} has no networks to train (network indices n with n mod {} = {} among 0..{})",
            rt.shard,
            rt.shard.count(),
            rt.shard.index(),
            configs.iter().map(|c| c.networks).max().unwrap_or(0),
        );
    }
    let study = Study {
        exp: &exp,
        table: &table,
        tables: RunTables::open(&exp, &run_ids)?,
        rt,
        devices: devices.clone(),
        threads,
        multi: if rt.quiet {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        } else {
            MultiProgress::new()
        },
    };
    let mut summary = StudySummary {
        device: devices.iter().map(|&d| device_name(d)).collect::<Vec<_>>().join(","),
        networks: Vec::new(),
    };
    for (config, plan) in configs.iter().zip(plans) {
        summary.networks.extend(study.train_configuration(config, plan)?);
    }
    if !rt.quiet {
        print_summary(&summary);
    }
    Ok(summary)
}

/// Sets libtorch's threads and cuDNN autotuning; prints the device line. Returns the
/// intra-op thread count every training thread uses.
fn configure_torch(rt: &RuntimeOptions, devices: &[Device]) -> i32 {
    if let Some(t) = rt.threads {
        tch::set_num_threads(t as i32);
    }
    let threads = tch::get_num_threads();
    if devices.iter().any(|d| matches!(d, Device::Cuda(_))) {
        tch::Cuda::cudnn_set_benchmark(!rt.deterministic);
    }
    if !rt.quiet {
        eprintln!(
            "agree train: device {} (libtorch {}, CUDA library loaded: {}, {} CUDA device(s), {threads} CPU threads)",
            devices.iter().map(|&d| device_name(d)).collect::<Vec<_>>().join(","),
            torch_version(),
            if cuda_library_loaded() { "yes" } else { "no" },
            tch::Cuda::device_count(),
        );
    }
    threads
}

/// What every configuration of a study shares.
struct Study<'a> {
    exp: &'a ExperimentDir,
    table: &'a SampleTable,
    tables: RunTables,
    rt: &'a RuntimeOptions,
    devices: Vec<Device>,
    threads: i32,
    multi: MultiProgress,
}

impl Study<'_> {
    /// Decodes the configuration's pixels, then trains its networks.
    fn train_configuration(&self, config: &TrainConfig, plan: DataPlan) -> Result<Vec<NetworkSummary>, TrainError> {
        let networks = shard_networks(config.networks, self.rt.shard);
        if networks.is_empty() {
            return Ok(Vec::new());
        }
        let store = self.decode(config, &plan)?;
        let norm = normalization(config.transform.normalize, &store, &plan.train_rows)?;
        let data = TrainingData {
            table: self.table,
            pipeline: InputPipeline {
                table: self.table,
                store: &store,
                geometry: plan.geometry,
                norm,
            },
            train_rows: plan.train_rows,
            train_labels: plan.train_labels,
            test_rows: plan.test_rows,
            test_labels: plan.test_labels,
            classes: self.table.classes(),
        };
        let recorded = RecordedConfig {
            config,
            classes: data.classes,
            input: plan.geometry,
            normalization: norm,
            train_samples: data.train_rows.len(),
            test_samples: data.test_rows.len(),
        };
        let sink = ExperimentSink {
            dir: self.exp,
            tables: &self.tables,
            config,
            config_json: serde_json::to_string(&recorded).unwrap_or_default(),
            started: Mutex::new(HashMap::new()),
            last_epochs: Mutex::new(HashMap::new()),
        };
        let jobs: Vec<NetworkJob> = networks
            .into_iter()
            .enumerate()
            .map(|(k, i)| NetworkJob {
                index: i,
                seed: config.network_seed(i),
                run_id: config.run_id(i),
                device: self.devices[k % self.devices.len()],
            })
            .collect();
        let outcomes = self.train_networks(&data, config, &jobs, &sink)?;
        Ok(outcomes
            .into_iter()
            .map(|(i, o)| network_summary(&jobs[i], o))
            .collect())
    }

    /// The pixels of the configuration's train and test rows, decoded once.
    fn decode(&self, config: &TrainConfig, plan: &DataPlan) -> Result<PixelStore<'_>, TrainError> {
        let rows: Vec<usize> = plan.train_rows.iter().chain(&plan.test_rows).copied().collect();
        let decode_bar = self.multi.add(ProgressBar::new(rows.len() as u64));
        decode_bar.set_style(bar_style());
        decode_bar.set_prefix("decoding");
        let store = PixelStore::build(
            self.table,
            &rows,
            config.transform.resize,
            self.rt.max_pixels,
            self.rt.cache_mb.saturating_mul(1 << 20),
            &|| decode_bar.inc(1),
        )?;
        decode_bar.finish_and_clear();
        Ok(store)
    }

    /// Trains `jobs` on `--parallel` threads per device, each device's threads taking
    /// its networks (dealt round-robin) in order; one at a time on the calling thread
    /// in deterministic mode or with one thread in all. Stops handing out networks
    /// after the first failure, which it returns. Outcomes come back in job order.
    fn train_networks(
        &self,
        data: &TrainingData<'_>,
        config: &TrainConfig,
        jobs: &[NetworkJob],
        sink: &ExperimentSink<'_>,
    ) -> Result<Vec<(usize, NetworkOutcome)>, TrainError> {
        // Each device's queue of job indices, and the threads that take from it.
        let queues: Vec<(Vec<usize>, usize, AtomicUsize)> = deal_round_robin(jobs.len(), self.devices.len())
            .into_iter()
            .map(|queue| {
                let threads = if self.rt.deterministic {
                    1
                } else {
                    self.rt.parallel.clamp(1, queue.len().max(1))
                };
                (queue, threads, AtomicUsize::new(0))
            })
            .filter(|(queue, _, _)| !queue.is_empty())
            .collect();
        let workers: usize = queues.iter().map(|(_, threads, _)| threads).sum();
        let outcomes: Mutex<Vec<(usize, NetworkOutcome)>> = Mutex::new(Vec::new());
        let errors: Mutex<Vec<TrainError>> = Mutex::new(Vec::new());
        let work = |queue: &[usize], next: &AtomicUsize| {
            loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                let Some(&i) = queue.get(k) else { break };
                let Some(job) = jobs.get(i) else { break };
                if errors.lock().map(|e| !e.is_empty()).unwrap_or(true) {
                    break;
                }
                match self.train_one(data, config, job, sink) {
                    Ok(outcome) => outcomes.lock().map(|mut o| o.push((i, outcome))).unwrap_or(()),
                    Err(e) => errors.lock().map(|mut errs| errs.push(e)).unwrap_or(()),
                }
            }
        };
        if workers <= 1 || self.rt.deterministic {
            // One at a time, in job order: on the calling thread (usually the main
            // thread, whose malloc arena grows without the 64 MiB heap limit of
            // thread arenas).
            let all: Vec<usize> = (0..jobs.len()).collect();
            work(&all, &AtomicUsize::new(0));
        } else {
            std::thread::scope(|s| {
                for (queue, threads, next) in &queues {
                    for _ in 0..*threads {
                        s.spawn(|| {
                            // libtorch's intra-op thread count is per OS thread under OpenMP.
                            tch::set_num_threads(self.threads);
                            work(queue, next);
                        });
                    }
                }
            });
        }
        if let Some(e) = errors
            .into_inner()
            .ok()
            .and_then(|mut e| (!e.is_empty()).then(|| e.remove(0)))
        {
            return Err(e);
        }
        let mut outcomes = outcomes.into_inner().unwrap_or_default();
        outcomes.sort_by_key(|(i, _)| *i);
        Ok(outcomes)
    }

    /// Trains one network with its own progress bar; a failure is recorded in `runs`.
    fn train_one(
        &self,
        data: &TrainingData<'_>,
        config: &TrainConfig,
        job: &NetworkJob,
        sink: &ExperimentSink<'_>,
    ) -> Result<NetworkOutcome, TrainError> {
        let bar = self.multi.add(ProgressBar::new(0));
        bar.set_style(bar_style());
        bar.set_prefix(job.run_id.clone());
        bar.enable_steady_tick(Duration::from_millis(500));
        let opts = NetworkOptions {
            device: job.device,
            prefetch: self.rt.prefetch,
            checkpoints: self.rt.checkpoints.then(|| self.exp.checkpoints(&job.run_id)),
            stop_after_epoch: self.rt.stop_after_epoch,
            progress: bar.clone(),
        };
        let result = train_network(data, config, job, &opts, sink);
        match &result {
            Ok(_) => bar.finish(),
            Err(e) => {
                bar.abandon_with_message(format!("failed: {e}"));
                let _ = sink.failed(job);
            }
        }
        result
    }
}

/// The network indices of `0..networks` that `shard` trains: n with n mod N = I.
fn shard_networks(networks: u32, shard: Shard) -> Vec<u32> {
    (0..networks).filter(|&n| shard.contains(i64::from(n))).collect()
}

fn network_summary(job: &NetworkJob, o: NetworkOutcome) -> NetworkSummary {
    NetworkSummary {
        run_id: job.run_id.clone(),
        data_wait_share: if o.train_s > 0.0 {
            o.phases.data_wait / o.train_s
        } else {
            0.0
        },
        epochs: o.epochs,
        resumed_from: o.resumed_from,
        phases: o.phases,
    }
}

/// One line per network: its last epoch's accuracies and speed.
fn print_summary(summary: &StudySummary) {
    for n in &summary.networks {
        if let Some(last) = n.epochs.last() {
            eprintln!(
                "{}: epoch {} train acc {:.1}% test acc {} {:.0} img/s on {}{}",
                n.run_id,
                last.epoch,
                100.0 * last.train_accuracy,
                last.test_accuracy
                    .map_or("-".to_string(), |a| format!("{:.1}%", 100.0 * a)),
                last.images_per_s,
                last.device,
                n.resumed_from
                    .map_or(String::new(), |e| format!(" (resumed after epoch {e})")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_networks_of_every_architecture_alike() {
        let shard = |i, n| Shard::new(i, n).unwrap();
        assert_eq!(shard_networks(5, shard(0, 2)), vec![0, 2, 4]);
        assert_eq!(shard_networks(5, shard(1, 2)), vec![1, 3]);
        assert_eq!(shard_networks(5, Shard::WHOLE), vec![0, 1, 2, 3, 4]);
        assert!(shard_networks(2, shard(3, 4)).is_empty());
        let mut all: Vec<u32> = (0..3).flat_map(|i| shard_networks(7, shard(i, 3))).collect();
        all.sort();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
    }
}
