//! Generated experiment directories of known shape — prediction folders, stats,
//! attributes, runs and manifest following `schemas/` — for this crate's tests and
//! benchmark. (The real tables come from `agree train` and `agree stats`; this
//! lets the analysis be tested and timed without training.)

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use agree_schema::{ExperimentDir, Manifest, Table, TableWriter};
use arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, ListArray, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field};

use crate::error::SqlError;

/// One prediction row of a hand-built table.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRow {
    /// Sample id.
    pub sample_id: i64,
    /// `train` or `test`.
    pub split: &'static str,
    /// Whether the network was right.
    pub correct: bool,
    /// Probability given to the label.
    pub p_label: f32,
}

/// Writes `predictions/<arch>-s<network>/epoch=<epoch>.parquet` with the given rows
/// (label = sample_id mod 10; predicted = label when correct, else the next class).
pub fn write_prediction_file(
    dir: &ExperimentDir,
    arch: &str,
    network: i32,
    epoch: i32,
    rows: &[PredictionRow],
) -> Result<(), SqlError> {
    let contract = Table::Predictions.contract();
    let schema = contract.schema();
    let run_id = format!("{arch}-s{network}");
    let n = rows.len();
    let label: Vec<i32> = rows.iter().map(|r| (r.sample_id % 10) as i32).collect();
    let predicted: Vec<i32> = rows
        .iter()
        .zip(&label)
        .map(|(r, &l)| if r.correct { l } else { (l + 1) % 10 })
        .collect();
    let p_label: Vec<f32> = rows.iter().map(|r| r.p_label).collect();
    // The best other class gets most of what the label did not.
    let p_other: Vec<f32> = p_label.iter().map(|p| (1.0 - p) * 0.8).collect();
    let p_max: Vec<f32> = p_label.iter().zip(&p_other).map(|(a, b)| a.max(*b)).collect();
    let margin: Vec<f32> = p_label.iter().zip(&p_other).map(|(a, b)| a - b).collect();
    let loss: Vec<f32> = p_label.iter().map(|p| -p.max(1e-7).ln()).collect();
    // Ten classes: the rest of the probability is spread evenly over the other eight;
    // logits are log-probabilities (clamped away from 0).
    let logit = |p: f32| p.max(1e-7).ln();
    let logit_margin: Vec<f32> = p_label
        .iter()
        .zip(&p_other)
        .map(|(a, b)| logit(*a) - logit(*b))
        .collect();
    let el2n: Vec<f32> = p_label
        .iter()
        .zip(&p_other)
        .map(|(a, b)| {
            let rest = (1.0 - a - b).max(0.0) / 8.0;
            ((1.0 - a).powi(2) + b * b + 8.0 * rest * rest).sqrt()
        })
        .collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![run_id.as_str(); n])),
        Arc::new(StringArray::from(vec![arch; n])),
        Arc::new(Int32Array::from(vec![network; n])),
        Arc::new(Int32Array::from(vec![epoch; n])),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.split))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.sample_id))),
        Arc::new(Int32Array::from(label)),
        Arc::new(Int32Array::from(predicted)),
        Arc::new(BooleanArray::from(rows.iter().map(|r| r.correct).collect::<Vec<_>>())),
        Arc::new(Float32Array::from(loss)),
        Arc::new(Float32Array::from(p_label)),
        Arc::new(Float32Array::from(p_max)),
        Arc::new(Float32Array::from(margin)),
        Arc::new(Float32Array::from(logit_margin)),
        Arc::new(Float32Array::from(el2n)),
        Arc::new(ListArray::new_null(
            Arc::new(Field::new_list_field(DataType::Float32, true)),
            n,
        )),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| SqlError::Output(e.to_string()))?;
    let path = dir.predictions(&run_id, epoch.max(0) as u32);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| SqlError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let mut writer = TableWriter::create(&path, contract, schema)?;
    writer.write(&batch)?;
    writer.finish()?;
    Ok(())
}

/// Writes a per-sample table (`stats`, `attributes` or a score table) at `path`
/// with `sample_id` and the given float columns; `table` is the contract whose
/// declared columns the table must follow (open tables accept the rest).
pub fn write_sample_table(
    path: &Path,
    table: Table,
    sample_ids: &[i64],
    columns: &[(&str, Vec<Option<f64>>)],
) -> Result<(), SqlError> {
    let contract = table.contract();
    let mut fields = vec![Field::new("sample_id", DataType::Int64, false)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(sample_ids.to_vec()))];
    for (name, values) in columns {
        let declared = contract
            .column(name)
            .map(|c| c.data_type.clone())
            .unwrap_or(DataType::Float64);
        fields.push(Field::new(*name, declared.clone(), true));
        let array: ArrayRef = Arc::new(Float64Array::from(values.clone()));
        arrays.push(arrow::compute::cast(&array, &declared).map_err(|e| SqlError::Output(e.to_string()))?);
    }
    // Required columns the caller did not give (such as stats' `error`) are all null.
    for c in &contract.columns {
        if !c.optional && c.nullable && !fields.iter().any(|f| f.name() == &c.name) {
            fields.push(c.field());
            arrays.push(arrow::array::new_null_array(&c.data_type, sample_ids.len()));
        }
    }
    let schema = Arc::new(arrow::datatypes::Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| SqlError::Output(e.to_string()))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| SqlError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let mut writer = TableWriter::create(path, contract, schema)?;
    writer.write(&batch)?;
    writer.finish()?;
    Ok(())
}

/// Writes `runs/<run_id>.parquet` with one row per `(arch, network, epochs_planned, status)`.
pub fn write_runs(dir: &ExperimentDir, runs: &[(&str, i32, i32, &str)]) -> Result<(), SqlError> {
    let contract = Table::Runs.contract();
    let schema = contract.schema();
    let n = runs.len();
    let ids: Vec<String> = runs.iter().map(|(a, s, _, _)| format!("{a}-s{s}")).collect();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for field in schema.fields() {
        let column: ArrayRef = match field.name().as_str() {
            "run_id" => Arc::new(StringArray::from_iter_values(ids.iter())),
            "arch" => Arc::new(StringArray::from_iter_values(runs.iter().map(|r| r.0))),
            "network" => Arc::new(Int32Array::from_iter_values(runs.iter().map(|r| r.1))),
            "epochs_planned" => Arc::new(Int32Array::from_iter_values(runs.iter().map(|r| r.2))),
            "epochs_completed" => Arc::new(Int32Array::from_iter_values(runs.iter().map(|r| r.2))),
            "status" => Arc::new(StringArray::from_iter_values(runs.iter().map(|r| r.3))),
            _ => match field.data_type() {
                DataType::Utf8 => Arc::new(StringArray::from(vec!["{}"; n])),
                DataType::Int64 => Arc::new(Int64Array::from(vec![0; n])),
                DataType::Int32 => Arc::new(Int32Array::from(vec![0; n])),
                DataType::Float64 => Arc::new(Float64Array::from(vec![0.0; n])),
                DataType::Timestamp(_, tz) => {
                    Arc::new(TimestampMicrosecondArray::from(vec![0; n]).with_timezone_opt(tz.clone()))
                }
                other => arrow::array::new_null_array(other, n),
            },
        };
        columns.push(column);
    }
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| SqlError::Output(e.to_string()))?;
    // One file per network, as `agree train` writes them.
    for (row, run_id) in ids.iter().enumerate() {
        let mut writer = TableWriter::create(dir.run_table(Table::Runs, run_id), contract, schema.clone())?;
        writer.write(&batch.slice(row, 1))?;
        writer.finish()?;
    }
    Ok(())
}

/// Writes `samples.parquet` for `(sample_id, split)` pairs: label = id mod 10,
/// class `class<label>`, key `<split>/class<label>/<id>.png`, an empty image.
pub fn write_samples(dir: &ExperimentDir, samples: &[(i64, &str)]) -> Result<(), SqlError> {
    let contract = Table::Samples.contract();
    let schema = contract.schema();
    let n = samples.len();
    let label = |id: i64| label_of(id).0;
    let mut columns: Vec<ArrayRef> = Vec::new();
    for field in schema.fields() {
        let column: ArrayRef = match field.name().as_str() {
            "sample_id" => Arc::new(Int64Array::from_iter_values(samples.iter().map(|s| s.0))),
            "split" => Arc::new(StringArray::from_iter_values(samples.iter().map(|s| s.1))),
            "key" => Arc::new(StringArray::from_iter_values(
                samples.iter().map(|(id, split)| key_of(*id, split)),
            )),
            "label" => Arc::new(Int32Array::from_iter_values(samples.iter().map(|s| label(s.0)))),
            "labels" => Arc::new(ListArray::from_iter_primitive::<arrow::datatypes::Int32Type, _, _>(
                samples.iter().map(|s| Some(vec![Some(label(s.0))])),
            )),
            "class_name" => Arc::new(StringArray::from_iter_values(samples.iter().map(|s| label_of(s.0).1))),
            "width" | "height" => Arc::new(Int32Array::from(vec![32; n])),
            "channels" => Arc::new(Int32Array::from(vec![3; n])),
            "bit_depth" => Arc::new(Int32Array::from(vec![8; n])),
            "format" => Arc::new(StringArray::from(vec!["png"; n])),
            "image" => Arc::new(arrow::array::BinaryArray::from_iter_values(samples.iter().map(|_| b""))),
            _ => arrow::array::new_null_array(field.data_type(), n),
        };
        columns.push(column);
    }
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| SqlError::Output(e.to_string()))?;
    let mut writer = TableWriter::create(dir.samples(), contract, schema)?;
    writer.write(&batch)?;
    writer.finish()?;
    Ok(())
}

/// The label and class name [`write_samples`] gives sample `id`.
fn label_of(id: i64) -> (i32, String) {
    let label = (id % 10) as i32;
    (label, format!("class{label}"))
}

/// The key [`write_samples`] gives sample `id` of `split`.
fn key_of(id: i64, split: &str) -> String {
    format!("{split}/{}/{id}.png", label_of(id).1)
}

/// A full manifest, as `agree ingest` would write it, for a generated or
/// hand-built run of `samples` `(sample_id, split)` labelled as [`write_samples`]
/// labels them (ten classes `class0`…`class9`). Nothing was read, so `sources` is
/// empty and nothing was rejected; `created_unix_s` is 0 so that the analysis id
/// of a generated run is the same on every machine. `samples_digest` sums a hash
/// of every key (the images are empty), order-independent as ingest's is; there
/// is no `dataset_fingerprint`, as [`write_samples`] records none (tests that
/// check identity set one).
pub fn synthetic_manifest(dataset: &str, samples: &[(i64, &str)]) -> Manifest {
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut digest = 0u64;
    for &(id, split) in samples {
        *counts
            .entry(split.to_string())
            .or_default()
            .entry(label_of(id).1)
            .or_default() += 1;
        digest = digest.wrapping_add(key_of(id, split).bytes().fold(0x5EED, |h, b| mix(h ^ u64::from(b))));
    }
    Manifest {
        dataset: dataset.to_string(),
        tool: "agree-sql synthetic_run".to_string(),
        created_unix_s: 0,
        sources: Vec::new(),
        classes: (0..10).map(|l| format!("class{l}")).collect(),
        multi_label: false,
        samples: samples.len() as u64,
        rejected: 0,
        counts,
        samples_digest: format!("{digest:016x}"),
        dataset_fingerprint: None,
        options: serde_json::Value::Object(serde_json::Map::new()),
    }
}

/// Writes `manifest` as the directory's `manifest.json` (creating the directory).
pub fn write_manifest(dir: &ExperimentDir, manifest: &Manifest) -> Result<(), SqlError> {
    std::fs::create_dir_all(dir.root()).map_err(|source| SqlError::Io {
        path: dir.root().to_path_buf(),
        source,
    })?;
    manifest.write(&dir.manifest())?;
    Ok(())
}

/// SplitMix64: a tiny deterministic hash, so generated runs are identical everywhere.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in [0, 1) from a list of keys.
fn uniform(keys: &[u64]) -> f64 {
    let h = keys.iter().fold(0x1234_5678u64, |acc, &k| mix(acc ^ k));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A generated run: every sample has a latent difficulty d; network i learns a
/// sample around epoch d·E·1.1 (plus a network-specific jitter) and afterwards
/// still errs now and then, so agreement, learning order, forgetting and the
/// statistics' correlations are all non-trivial.
#[derive(Debug, Clone)]
pub struct SyntheticRun {
    /// Architectures (each with `networks` networks).
    pub archs: Vec<String>,
    /// Networks per architecture.
    pub networks: i32,
    /// Epochs 1..=epochs.
    pub epochs: i32,
    /// Test samples (ids 0..n_test, as `test` sorts before `train`).
    pub n_test: usize,
    /// Train samples.
    pub n_train: usize,
    /// Seed of everything random.
    pub seed: u64,
}

impl SyntheticRun {
    /// Latent difficulty of a sample.
    pub fn difficulty(&self, sample_id: i64) -> f64 {
        uniform(&[self.seed, 1, sample_id as u64])
    }

    /// Writes predictions, stats (every numeric column of schemas/stats.toml),
    /// attributes (difficulty), runs, samples and manifest into `dir`.
    pub fn write(&self, dir: &ExperimentDir) -> Result<(), SqlError> {
        let n = self.n_test + self.n_train;
        let ids: Vec<i64> = (0..n as i64).collect();
        let split = |id: i64| if (id as usize) < self.n_test { "test" } else { "train" };
        for (a, arch) in self.archs.iter().enumerate() {
            for net in 0..self.networks {
                let learn_at: Vec<f64> = ids
                    .iter()
                    .map(|&id| {
                        let jitter = uniform(&[self.seed, 2, a as u64, net as u64, id as u64]) - 0.5;
                        self.difficulty(id) * f64::from(self.epochs) * 1.1 + jitter * 6.0
                    })
                    .collect();
                for epoch in 1..=self.epochs {
                    let rows: Vec<PredictionRow> = ids
                        .iter()
                        .map(|&id| {
                            let slip = uniform(&[self.seed, 3, a as u64, net as u64, id as u64, epoch as u64]);
                            let learned = f64::from(epoch) >= learn_at[id as usize];
                            let correct = if slip < 0.04 { !learned } else { learned };
                            let behind = learn_at[id as usize] - f64::from(epoch);
                            let p = (1.0 / (1.0 + (0.8 * behind).exp())).clamp(0.01, 0.99);
                            PredictionRow {
                                sample_id: id,
                                split: split(id),
                                correct,
                                p_label: p as f32,
                            }
                        })
                        .collect();
                    write_prediction_file(dir, arch, net, epoch, &rows)?;
                }
            }
        }
        let stats = Table::Stats.contract();
        let mut columns: Vec<(&str, Vec<Option<f64>>)> = Vec::new();
        for (k, column) in stats.columns.iter().enumerate() {
            if column.name == "sample_id" || !column.data_type.is_numeric() {
                continue;
            }
            // Column k depends on difficulty with its own sign and strength, plus noise.
            let weight = (uniform(&[self.seed, 4, k as u64]) - 0.3) * 4.0;
            let values = ids
                .iter()
                .map(|&id| {
                    let noise = uniform(&[self.seed, 5, k as u64, id as u64]);
                    let v = 10.0 + weight * self.difficulty(id) + noise;
                    Some(if column.data_type == DataType::Int64 {
                        (v * 3.0).round()
                    } else {
                        v
                    })
                })
                .collect();
            columns.push((column.name.as_str(), values));
        }
        write_sample_table(&dir.stats(), Table::Stats, &ids, &columns)?;
        let difficulty = ids.iter().map(|&id| Some(self.difficulty(id))).collect();
        write_sample_table(
            &dir.attributes(),
            Table::Attributes,
            &ids,
            &[("difficulty", difficulty)],
        )?;
        let mut runs = Vec::new();
        for arch in &self.archs {
            for net in 0..self.networks {
                runs.push((arch.as_str(), net, self.epochs, "finished"));
            }
        }
        write_runs(dir, &runs)?;
        let samples: Vec<(i64, &str)> = ids.iter().map(|&id| (id, split(id))).collect();
        write_samples(dir, &samples)?;
        write_manifest(dir, &synthetic_manifest("synthetic", &samples))
    }
}
