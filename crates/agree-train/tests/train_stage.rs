//! End-to-end training on a tiny learnable dataset: learning, table shapes and
//! joins, exact resume, label randomisation.

mod quadrants;

use std::{
    collections::{BTreeSet, HashMap},
    fs,
    path::Path,
    sync::{Mutex, MutexGuard},
};

use agree_schema::{ExperimentDir, contract, read_table};
use agree_train::{RuntimeOptions, TrainConfig, train_study};
use arrow::{
    array::{Array, AsArray, RecordBatch},
    compute::concat_batches,
    datatypes::{Float64Type, Int32Type, Int64Type},
};

/// libtorch's CPU kernels are reproducible only while no other training shares the
/// process (the test harness runs tests on parallel threads; two trainings at once made
/// the bit-for-bit comparisons below fail now and then), so these tests take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn cpu() -> RuntimeOptions {
    RuntimeOptions {
        device: agree_train::DeviceChoice::Cpu.into(),
        deterministic: true,
        ..RuntimeOptions::default()
    }
}

fn table(path: &Path, name: &str) -> RecordBatch {
    let (schema, batches) = read_table(path).unwrap();
    contract(name).unwrap().check(&schema).unwrap();
    concat_batches(&schema, &batches).unwrap()
}

/// `epochs` or `runs` of `exp`, every network's file read as one table.
fn run_table(exp: &ExperimentDir, table: agree_schema::Table) -> RecordBatch {
    let t = agree_schema::CheckedTable::read_in(exp, table).unwrap().unwrap();
    concat_batches(t.schema(), t.batches()).unwrap()
}

/// (label, predicted, correct, loss bits) of one prediction row.
type Prediction = (Option<i32>, Option<i32>, bool, u32);

/// (split, sample_id) → prediction, of one predictions file.
fn predictions(path: &Path) -> HashMap<(String, i64), Prediction> {
    let b = table(path, "predictions");
    let split = b.column_by_name("split").unwrap().as_string::<i32>();
    let id = b.column_by_name("sample_id").unwrap().as_primitive::<Int64Type>();
    let label = b.column_by_name("label").unwrap().as_primitive::<Int32Type>();
    let pred = b.column_by_name("predicted").unwrap().as_primitive::<Int32Type>();
    let correct = b.column_by_name("correct").unwrap().as_boolean();
    let loss = b
        .column_by_name("loss")
        .unwrap()
        .as_primitive::<arrow::datatypes::Float32Type>();
    (0..b.num_rows())
        .map(|i| {
            (
                (split.value(i).to_string(), id.value(i)),
                (
                    label.is_valid(i).then(|| label.value(i)),
                    pred.is_valid(i).then(|| pred.value(i)),
                    correct.value(i),
                    loss.value(i).to_bits(),
                ),
            )
        })
        .collect()
}

#[test]
fn a_small_cnn_learns_and_every_table_follows_its_schema() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let rows = quadrants::rows(256, 128);
    quadrants::write_samples(dir.path(), &rows);
    let config = quadrants::config(2, 4);
    let summary = train_study(dir.path(), &[config], &cpu()).unwrap();
    assert_eq!(summary.device, "cpu");
    assert_eq!(summary.networks.len(), 2);
    for n in &summary.networks {
        let last = n.epochs.last().unwrap();
        assert_eq!(last.epoch, 4);
        let acc = last.test_accuracy.unwrap();
        assert!(
            acc > 0.8,
            "{}: test accuracy {acc} after 4 epochs (chance 0.25)",
            n.run_id
        );
    }

    let exp = ExperimentDir::new(dir.path());
    // Every (network, epoch) file holds each sample of each split exactly once, and ids join samples.
    let train_ids: BTreeSet<i64> = (0..rows.len() as i64)
        .filter(|&i| rows[i as usize].split == "train")
        .collect();
    let test_ids: BTreeSet<i64> = (0..rows.len() as i64)
        .filter(|&i| rows[i as usize].split == "test")
        .collect();
    for run in ["lenet5-s0", "lenet5-s1"] {
        for epoch in 1..=4 {
            let p = predictions(&exp.predictions(run, epoch));
            assert_eq!(p.len(), 256 + 128);
            let ids = |s: &str| p.keys().filter(|k| k.0 == s).map(|k| k.1).collect::<BTreeSet<_>>();
            assert_eq!(ids("train"), train_ids);
            assert_eq!(ids("test"), test_ids);
            for ((split, id), (label, predicted, correct, _)) in &p {
                assert_eq!(
                    *label,
                    Some(rows[*id as usize].label),
                    "{split} {id}: label without noise is the true one"
                );
                assert_eq!(*correct, predicted == label);
            }
        }
    }
    let epochs = run_table(&exp, agree_schema::Table::Epochs);
    assert_eq!(epochs.num_rows(), 2 * 4);
    let acc = epochs
        .column_by_name("train_accuracy")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert!(acc.values().iter().all(|a| (0.0..=1.0).contains(a)));
    let runs = run_table(&exp, agree_schema::Table::Runs);
    assert_eq!(runs.num_rows(), 2);
    let status = runs.column_by_name("status").unwrap().as_string::<i32>();
    let seed = runs.column_by_name("seed").unwrap().as_primitive::<Int64Type>();
    let device = runs.column_by_name("device").unwrap().as_string::<i32>();
    for i in 0..2 {
        assert_eq!(status.value(i), "finished");
        assert_eq!(device.value(i), "cpu");
    }
    assert_eq!(seed.values().to_vec(), vec![0, 1]);
    let config = runs.column_by_name("config").unwrap().as_string::<i32>().value(0);
    let parsed: serde_json::Value = serde_json::from_str(config).unwrap();
    assert_eq!(parsed["arch"], "lenet5");
    assert_eq!(parsed["classes"], 4);

    // Training another architecture later keeps the first one's rows.
    let mut other = quadrants::config(1, 1);
    other.arch = "wrn-10-1".parse().unwrap();
    train_study(dir.path(), &[other], &cpu()).unwrap();
    assert_eq!(run_table(&exp, agree_schema::Table::Runs).num_rows(), 3);
    assert_eq!(run_table(&exp, agree_schema::Table::Epochs).num_rows(), 2 * 4 + 1);
}

#[test]
fn a_resumed_run_predicts_exactly_what_an_uninterrupted_one_does() {
    let _turn = one_at_a_time();
    let rows = quadrants::rows(96, 32);
    let config = {
        let mut c = quadrants::config(1, 3);
        // Augmentation and momentum make the check meaningful: both must resume exactly.
        c.transform.hflip = true;
        c.transform.crop = Some(14);
        c.transform.resize = Some(16);
        c.arch = agree_train::Arch::Wrn { depth: 10, width: 1 };
        c
    };
    let whole = tempfile::tempdir().unwrap();
    quadrants::write_samples(whole.path(), &rows);
    train_study(whole.path(), std::slice::from_ref(&config), &cpu()).unwrap();

    let killed = tempfile::tempdir().unwrap();
    quadrants::write_samples(killed.path(), &rows);
    let first = train_study(
        killed.path(),
        std::slice::from_ref(&config),
        &RuntimeOptions {
            stop_after_epoch: Some(1),
            ..cpu()
        },
    )
    .unwrap();
    assert_eq!(first.networks[0].epochs.len(), 1);
    let exp = ExperimentDir::new(killed.path());
    let runs = run_table(&exp, agree_schema::Table::Runs);
    assert_eq!(
        runs.column_by_name("status").unwrap().as_string::<i32>().value(0),
        "running"
    );
    // A checkpoint being written when the process died must be ignored.
    let ck = exp.checkpoints("wrn-10-1-s0");
    fs::create_dir_all(ck.join(".epoch=2.999.tmp")).unwrap();
    fs::write(ck.join(".epoch=2.999.tmp/state.ot"), b"partial").unwrap();
    // So must a predictions file of the unfinished epoch.
    fs::write(exp.predictions("wrn-10-1-s0", 2), b"garbage").unwrap();

    let resumed = train_study(killed.path(), std::slice::from_ref(&config), &cpu()).unwrap();
    assert_eq!(resumed.networks[0].resumed_from, Some(1));
    assert_eq!(resumed.networks[0].epochs.len(), 3);
    let w = ExperimentDir::new(whole.path());
    for epoch in 1..=3 {
        let a = predictions(&w.predictions("wrn-10-1-s0", epoch));
        let b = predictions(&exp.predictions("wrn-10-1-s0", epoch));
        assert_eq!(a.len(), 128);
        assert!(a == b, "epoch {epoch}: resumed predictions differ");
    }
    assert_eq!(run_table(&exp, agree_schema::Table::Epochs).num_rows(), 3);
    assert!(!ck.join("epoch=1").exists(), "older checkpoints are removed");
    assert!(ck.join("epoch=3").join("meta.json").exists());

    // A rerun of a finished study trains nothing and changes nothing.
    let again = train_study(killed.path(), std::slice::from_ref(&config), &cpu()).unwrap();
    assert_eq!(again.networks[0].resumed_from, Some(3));
    // A changed recipe is refused rather than silently mixed.
    let mut changed = config.clone();
    changed.optimizer.lr = 0.5;
    let err = train_study(killed.path(), &[changed], &cpu()).unwrap_err().to_string();
    assert!(err.contains("different training configuration"), "{err}");
}

#[test]
fn random_labels_give_chance_and_p_zero_changes_nothing() {
    let _turn = one_at_a_time();
    let rows = quadrants::rows(256, 128);
    let run = |c: TrainConfig| {
        let dir = tempfile::tempdir().unwrap();
        quadrants::write_samples(dir.path(), &rows);
        let s = train_study(dir.path(), &[c], &cpu()).unwrap();
        let p = predictions(&ExperimentDir::new(dir.path()).predictions("lenet5-s0", 3));
        (s, p)
    };
    let (_, clean) = run(quadrants::config(1, 3));
    let mut zero = quadrants::config(1, 3);
    zero.label_noise = 0.0;
    zero.label_noise_seed = 777;
    let (_, zero_p) = run(zero);
    assert!(clean == zero_p, "p = 0 must not change a single prediction");

    let mut noisy = quadrants::config(1, 3);
    noisy.label_noise = 1.0;
    let (s, p) = run(noisy);
    let acc = s.networks[0].epochs.last().unwrap().test_accuracy.unwrap();
    assert!(
        acc < 0.45,
        "random labels: test accuracy {acc} should be near chance 0.25"
    );
    // Train rows are judged against the label trained on, which mostly is not the true one.
    let train: Vec<_> = p.iter().filter(|(k, _)| k.0 == "train").collect();
    let relabelled = train
        .iter()
        .filter(|((_, id), (label, ..))| *label != Some(rows[*id as usize].label))
        .count();
    assert!(relabelled > 150, "{relabelled} of 256 relabelled (expect ~192)");
    assert!(
        train
            .iter()
            .all(|(_, (label, predicted, correct, _))| *correct == (predicted == label))
    );
}

#[test]
fn streaming_decoding_trains_exactly_like_the_pixel_cache() {
    let _turn = one_at_a_time();
    let rows = quadrants::rows(64, 32);
    let run = |cache_mb: usize| {
        let dir = tempfile::tempdir().unwrap();
        quadrants::write_samples(dir.path(), &rows);
        let rt = RuntimeOptions { cache_mb, ..cpu() };
        train_study(dir.path(), &[quadrants::config(1, 2)], &rt).unwrap();
        predictions(&ExperimentDir::new(dir.path()).predictions("lenet5-s0", 2))
    };
    // A zero budget cannot hold one image, so every batch is decoded on the fly.
    assert!(
        run(0) == run(64),
        "streamed and cached pixels must give the same predictions"
    );
}
