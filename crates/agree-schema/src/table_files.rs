//! Which files hold a table that is written by several writers: `epochs` and `runs`
//! one file per network (`epochs/<run_id>.parquet`, older directories: one
//! `epochs.parquet`), `stats` and `spectra` one file per shard
//! (`stats/part-I-of-N.parquet`) or one file (`stats.parquet`). Every reader takes
//! the files from here and reads them as one table.
//!
//! The rules, each an error naming the files when broken:
//! - a run's rows are in `epochs.parquet` or in `epochs/<run_id>.parquet`, never in
//!   both (writers move the single file's rows into the folder before writing);
//! - `stats.parquet` and `stats/` are not both present;
//! - the parts of `stats/` are all of one N, and all N of them are there.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs, io,
    path::{Path, PathBuf},
};

use arrow::array::{Array, AsArray};

use crate::{ExperimentDir, Shard, Table, read_table};

/// Why the files of a table do not make one table.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct LayoutError {
    /// The file or folder at fault.
    pub path: PathBuf,
    /// What is wrong, naming the other files concerned.
    pub problem: String,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> LayoutError + '_ {
    move |e| LayoutError {
        path: path.to_path_buf(),
        problem: e.to_string(),
    }
}

/// The visible `.parquet` files directly in `dir`, sorted (temporaries are hidden);
/// none when it does not exist.
pub fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>, LayoutError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir)(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_error(dir))?.path();
        let visible = path.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.'));
        if visible && path.extension().is_some_and(|e| e == "parquet") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// `part-I-of-N.parquet`, the file of one shard.
pub fn part_file_name(shard: Shard) -> String {
    format!("part-{}-of-{}.parquet", shard.index(), shard.count())
}

/// The shard a file name made by [`part_file_name`] belongs to.
pub fn parse_part_file_name(name: &str) -> Option<Shard> {
    let inner = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (i, n) = inner.split_once("-of-")?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(i) || !digits(n) {
        return None;
    }
    Shard::new(i.parse().ok()?, n.parse().ok()?).ok()
}

/// The run ids of the rows of `epochs`/`runs` file `path`.
fn run_ids_in(path: &Path) -> Result<BTreeSet<String>, LayoutError> {
    let (_, batches) = read_table(path).map_err(|e| LayoutError {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })?;
    let mut ids = BTreeSet::new();
    for b in &batches {
        let column = b.column_by_name("run_id").ok_or_else(|| LayoutError {
            path: path.to_path_buf(),
            problem: "column `run_id` is missing".into(),
        })?;
        let strings = column.as_string_opt::<i32>().ok_or_else(|| LayoutError {
            path: path.to_path_buf(),
            problem: format!("column `run_id` is {}, not utf8", column.data_type()),
        })?;
        ids.extend(strings.iter().flatten().map(str::to_string));
    }
    Ok(ids)
}

/// The files of a per-network table (`epochs`, `runs`): the single file of older
/// directories, if present, then `<table>/<run_id>.parquet` by name.
fn per_run_files(dir: &ExperimentDir, table: Table) -> Result<Vec<PathBuf>, LayoutError> {
    let folder = dir.table(table);
    let per_run = parquet_files(&folder)?;
    let single = dir.single_run_table(table);
    if !single.is_file() {
        return Ok(per_run);
    }
    if !per_run.is_empty() {
        let stems: BTreeSet<String> = per_run
            .iter()
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect();
        if let Some(both) = run_ids_in(&single)?.into_iter().find(|id| stems.contains(id)) {
            return Err(LayoutError {
                path: single.clone(),
                problem: format!(
                    "run `{both}` has rows here and in {}: a run's rows live in one of them. \
                     `agree train` moves this single file's rows into {}/ before it writes; if \
                     that move was interrupted, rerun it, or remove {} once {}/ holds every run",
                    dir.run_table(table, &both).display(),
                    folder.display(),
                    single.display(),
                    folder.display(),
                ),
            });
        }
    }
    Ok(std::iter::once(single).chain(per_run).collect())
}

/// The files of a sharded table (`stats`, `spectra`): `<table>.parquet`, or every
/// `part-I-of-N.parquet` of `<table>/`, checked to be one complete set.
fn shard_files(dir: &ExperimentDir, table: Table) -> Result<Vec<PathBuf>, LayoutError> {
    let single = dir.table(table);
    let folder = dir.shards_dir(table);
    let parts = parquet_files(&folder)?;
    if parts.is_empty() {
        return Ok(if single.is_file() { vec![single] } else { Vec::new() });
    }
    if single.is_file() {
        return Err(LayoutError {
            path: single.clone(),
            problem: format!(
                "both this file and the shards in {}/ ({}) hold `{table}`; remove the one that is out of date",
                folder.display(),
                names(&parts),
            ),
        });
    }
    let mut by_count: BTreeMap<u32, Vec<(Shard, PathBuf)>> = BTreeMap::new();
    for path in parts {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(shard) = parse_part_file_name(&name) else {
            return Err(LayoutError {
                path,
                problem: format!("not a shard of `{table}`: expected part-I-of-N.parquet (0 <= I < N)"),
            });
        };
        by_count.entry(shard.count()).or_default().push((shard, path));
    }
    if by_count.len() > 1 {
        let listed: Vec<String> = by_count
            .values()
            .map(|files| names(&files.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>()))
            .collect();
        return Err(LayoutError {
            path: folder,
            problem: format!(
                "shards of different N ({}) cannot make one table; remove the parts of the N not wanted",
                listed.join("; ")
            ),
        });
    }
    let Some((count, mut files)) = by_count.into_iter().next() else {
        return Ok(Vec::new());
    };
    files.sort_by_key(|(s, _)| s.index());
    let present: BTreeSet<u32> = files.iter().map(|(s, _)| s.index()).collect();
    let missing: Vec<String> = (0..count)
        .filter(|i| !present.contains(i))
        .filter_map(|i| Shard::new(i, count).ok())
        .map(part_file_name)
        .collect();
    if !missing.is_empty() {
        return Err(LayoutError {
            path: folder,
            problem: format!(
                "{} of {count} shards are missing ({}): run `agree stats --shard I/{count}` for each",
                missing.len(),
                missing.join(", ")
            ),
        });
    }
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

fn names(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The files that together hold `table` of `dir`, in a fixed order: none when it is
/// absent. For the tables of one file, that file.
pub fn table_files(dir: &ExperimentDir, table: Table) -> Result<Vec<PathBuf>, LayoutError> {
    match table {
        Table::Epochs | Table::Runs => per_run_files(dir, table),
        Table::Stats | Table::Spectra => shard_files(dir, table),
        Table::Predictions | Table::Scores => Err(LayoutError {
            path: dir.table(table),
            problem: format!("`{table}` is a folder of tables; its readers list it themselves"),
        }),
        other => {
            let path = dir.table(other);
            Ok(if path.is_file() { vec![path] } else { Vec::new() })
        }
    }
}

/// Before a shard of `table` is written: refuses when `<table>/` holds shards of
/// another N, naming them (their union with this N's would be no table).
pub fn check_shard_count(dir: &ExperimentDir, table: Table, shard: Shard) -> Result<(), LayoutError> {
    let folder = dir.shards_dir(table);
    let other: Vec<PathBuf> = parquet_files(&folder)?
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| parse_part_file_name(&n.to_string_lossy()))
                .is_none_or(|s| s.count() != shard.count())
        })
        .collect();
    if other.is_empty() {
        return Ok(());
    }
    Err(LayoutError {
        path: folder.clone(),
        problem: format!(
            "holds {} from another split of the work; this run writes {}. Remove {}/ to split it anew",
            names(&other),
            part_file_name(shard),
            folder.display()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_tables::{EpochRecord, epochs_batch, write_rows};

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"").unwrap();
    }

    #[test]
    fn part_names_round_trip_and_others_are_not_parts() {
        let s = Shard::new(2, 5).unwrap();
        assert_eq!(part_file_name(s), "part-2-of-5.parquet");
        assert_eq!(parse_part_file_name("part-2-of-5.parquet"), Some(s));
        for bad in [
            "part-5-of-5.parquet",
            "part--of-2.parquet",
            "part-1-of-2.csv",
            "x.parquet",
            "part-+1-of-2.parquet",
        ] {
            assert_eq!(parse_part_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn shard_files_are_one_complete_set_of_one_count() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ExperimentDir::new(tmp.path());
        assert!(table_files(&dir, Table::Stats).unwrap().is_empty());
        touch(&dir.shard_table(Table::Stats, Shard::new(1, 2).unwrap()));
        let err = table_files(&dir, Table::Stats).unwrap_err().to_string();
        assert!(err.contains("1 of 2 shards are missing (part-0-of-2.parquet)"), "{err}");
        touch(&dir.shard_table(Table::Stats, Shard::new(0, 2).unwrap()));
        let files = table_files(&dir, Table::Stats).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files[0].ends_with("stats/part-0-of-2.parquet"));
        assert!(check_shard_count(&dir, Table::Stats, Shard::new(1, 2).unwrap()).is_ok());
        touch(&dir.shard_table(Table::Stats, Shard::new(0, 3).unwrap()));
        let err = table_files(&dir, Table::Stats).unwrap_err().to_string();
        assert!(
            err.contains("different N") && err.contains("part-0-of-3.parquet") && err.contains("part-1-of-2.parquet"),
            "{err}"
        );
        let err = check_shard_count(&dir, Table::Stats, Shard::new(0, 2).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("part-0-of-3.parquet") && err.contains("this run writes part-0-of-2.parquet"),
            "{err}"
        );
        fs::remove_file(dir.shard_table(Table::Stats, Shard::new(0, 3).unwrap())).unwrap();
        touch(&dir.stats());
        let err = table_files(&dir, Table::Stats).unwrap_err().to_string();
        assert!(
            err.contains("stats.parquet") && err.contains("part-0-of-2.parquet, part-1-of-2.parquet"),
            "{err}"
        );
        touch(&dir.shards_dir(Table::Spectra).join("notes.parquet"));
        let err = table_files(&dir, Table::Spectra).unwrap_err().to_string();
        assert!(err.contains("notes.parquet") && err.contains("not a shard"), "{err}");
    }

    fn epoch(run_id: &str) -> EpochRecord {
        EpochRecord {
            run_id: run_id.into(),
            arch: "cnn".into(),
            network: 0,
            epoch: 1,
            train_accuracy: 0.5,
            train_loss: 1.0,
            test_accuracy: None,
            test_loss: None,
            learning_rate: 0.1,
            images_per_s: 1.0,
            wall_s: 1.0,
            device: "cpu".into(),
        }
    }

    #[test]
    fn a_run_in_the_single_file_and_its_own_file_is_refused_naming_both() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ExperimentDir::new(tmp.path());
        let single = dir.single_run_table(Table::Epochs);
        write_rows(
            &single,
            Table::Epochs,
            &[],
            &epochs_batch(&[epoch("a"), epoch("b")]).unwrap(),
        )
        .unwrap();
        write_rows(
            &dir.run_table(Table::Epochs, "c"),
            Table::Epochs,
            &[],
            &epochs_batch(&[epoch("c")]).unwrap(),
        )
        .unwrap();
        let files = table_files(&dir, Table::Epochs).unwrap();
        assert_eq!(files, vec![single.clone(), dir.run_table(Table::Epochs, "c")]);
        write_rows(
            &dir.run_table(Table::Epochs, "b"),
            Table::Epochs,
            &[],
            &epochs_batch(&[epoch("b")]).unwrap(),
        )
        .unwrap();
        let err = table_files(&dir, Table::Epochs).unwrap_err().to_string();
        assert!(
            err.contains("epochs.parquet") && err.contains("run `b`") && err.contains("epochs/b.parquet"),
            "{err}"
        );
    }
}
