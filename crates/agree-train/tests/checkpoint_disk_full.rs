//! A disk that fills up while a checkpoint is written: training stops with an error
//! naming the file, and the previous checkpoint stays whole. The file-size limit of
//! this process stands in for the full disk (a write past it fails with EFBIG, as a
//! write to a full disk fails with ENOSPC); this file holds one test, so the limit
//! touches no other test.

mod quadrants;

use std::{fs, path::Path};

use agree_schema::ExperimentDir;
use agree_train::{DeviceChoice, RuntimeOptions, train_study};

fn set_file_size_limit(bytes: libc::rlim_t) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a valid, owned struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit), 0);
        limit.rlim_cur = bytes.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_full_disk_during_a_checkpoint_is_an_error_and_keeps_the_previous_one() {
    let tmp = tempfile::tempdir().unwrap();
    quadrants::write_samples(tmp.path(), &quadrants::rows(64, 16));
    let config = quadrants::config(1, 3);
    let rt = RuntimeOptions {
        device: DeviceChoice::Cpu.into(),
        deterministic: true,
        ..RuntimeOptions::default()
    };
    let first = RuntimeOptions {
        stop_after_epoch: Some(1),
        ..rt.clone()
    };
    train_study(tmp.path(), std::slice::from_ref(&config), &first).unwrap();
    let checkpoints = ExperimentDir::new(tmp.path()).checkpoints(&config.run_id(0));
    let epoch1 = checkpoints.join("epoch=1");
    let state = fs::read(epoch1.join("state.ot")).unwrap();
    let meta = fs::read(epoch1.join("meta.json")).unwrap();

    // No file may now grow past half a checkpoint: epoch 2's predictions fit, its
    // checkpoint does not.
    // SAFETY: ignoring SIGXFSZ makes an oversized write fail with EFBIG instead of
    // killing the process.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    set_file_size_limit(state.len() as libc::rlim_t / 2);
    let result = train_study(tmp.path(), std::slice::from_ref(&config), &rt);
    set_file_size_limit(libc::RLIM_INFINITY);

    let err = result.expect_err("the checkpoint cannot have been written").to_string();
    assert!(
        err.contains(&checkpoints.display().to_string()) && err.contains("state.ot") && err.contains("File too large"),
        "{err}"
    );
    assert_eq!(file_names(&checkpoints), ["epoch=1"], "no partial checkpoint left");
    assert_eq!(fs::read(epoch1.join("state.ot")).unwrap(), state);
    assert_eq!(fs::read(epoch1.join("meta.json")).unwrap(), meta);

    // With room again the run resumes from that checkpoint and completes.
    train_study(tmp.path(), std::slice::from_ref(&config), &rt).unwrap();
    assert_eq!(file_names(&checkpoints), ["epoch=2", "epoch=3"]);
}
