//! Pipeline files: strict parsing into per-stage argument lists, with errors that
//! name the file, the line and the allowed keys.

use std::path::{Path, PathBuf};

use crate::{PipelineError, Stage};

/// One stage's section: its arguments, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSection {
    /// The stage.
    pub stage: Stage,
    /// Arguments for the stage's subcommand (without the experiment directory).
    pub argv: Vec<String>,
}

/// A parsed and validated pipeline file.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// `[pipeline] name`.
    pub name: String,
    /// `[pipeline] out`: the default experiment directory, relative to the working directory.
    pub out: Option<PathBuf>,
    /// `[pipeline] description`.
    pub description: Option<String>,
    /// The stage sections to run, in run order.
    pub stages: Vec<StageSection>,
}

const PIPELINE_KEYS: [&str; 3] = ["name", "out", "description"];

/// 1-based line of `key` inside `[section]` (or of the section header when `key` is None).
fn line_of(text: &str, section: &str, key: Option<&str>) -> usize {
    let mut in_section = section.is_empty();
    let mut header_line = 1;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_section = t.trim_start_matches('[').trim_end_matches(']').trim() == section;
            if in_section {
                header_line = i + 1;
                if key.is_none() {
                    return header_line;
                }
            }
            continue;
        }
        if in_section && let Some(k) = key {
            let lhs = t.split('=').next().unwrap_or("").trim().trim_matches('"');
            if t.contains('=') && lhs == k {
                return i + 1;
            }
        }
    }
    header_line
}

fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

impl PipelineFile {
    /// Reads and validates a pipeline file.
    pub fn read(path: &Path) -> Result<Self, PipelineError> {
        let text = std::fs::read_to_string(path).map_err(|e| PipelineError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates pipeline-file text (`path` is for messages).
    pub fn parse(path: &Path, text: &str) -> Result<Self, PipelineError> {
        let err = |line: usize, message: String| PipelineError::Config {
            file: path.to_path_buf(),
            line,
            message,
        };
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
                .unwrap_or(1);
            err(line, e.message().to_string())
        })?;
        let allowed_sections = std::iter::once("pipeline")
            .chain(Stage::ALL.iter().map(|s| s.name()))
            .collect::<Vec<_>>();
        let mut name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut out = None;
        let mut description = None;
        let mut stages = Vec::new();
        for (section, value) in &table {
            let toml::Value::Table(body) = value else {
                return Err(err(
                    line_of(text, "", Some(section)),
                    format!(
                        "`{section}` must be a section like [{section}]; allowed sections: {}",
                        allowed_sections.join(", ")
                    ),
                ));
            };
            if section == "pipeline" {
                for (k, v) in body {
                    let line = line_of(text, section, Some(k));
                    match (k.as_str(), v) {
                        ("name", toml::Value::String(s)) => name = s.clone(),
                        ("out", toml::Value::String(s)) => out = Some(PathBuf::from(s)),
                        ("description", toml::Value::String(s)) => description = Some(s.clone()),
                        (k, _) if PIPELINE_KEYS.contains(&k) => {
                            return Err(err(line, format!("[pipeline] `{k}` must be a string")));
                        }
                        (k, _) => {
                            return Err(err(
                                line,
                                format!(
                                    "[pipeline] unknown key `{k}`; allowed keys: {}",
                                    PIPELINE_KEYS.join(", ")
                                ),
                            ));
                        }
                    }
                }
                continue;
            }
            let Some(stage) = Stage::from_name(section) else {
                return Err(err(
                    line_of(text, section, None),
                    format!(
                        "unknown section [{section}]; allowed sections: {}",
                        allowed_sections.join(", ")
                    ),
                ));
            };
            stages.push(Self::stage_section(stage, section, body, text, &err)?);
        }
        stages.sort_by_key(|s| s.stage);
        Ok(PipelineFile {
            path: path.to_path_buf(),
            name,
            out,
            description,
            stages,
        })
    }

    fn stage_section(
        stage: Stage,
        section: &str,
        body: &toml::Table,
        text: &str,
        err: &dyn Fn(usize, String) -> PipelineError,
    ) -> Result<StageSection, PipelineError> {
        let command = stage.command();
        let args: Vec<&clap::Arg> = command
            .get_arguments()
            .filter(|a| !stage.reserved().contains(&a.get_id().as_str()) && a.get_id() != "help")
            .collect();
        let key_of = |a: &clap::Arg| {
            a.get_long()
                .map(str::to_string)
                .unwrap_or_else(|| a.get_id().to_string())
        };
        let allowed: Vec<String> = args.iter().map(|a| key_of(a).replace('-', "_")).collect();
        // Positionals (ingest's format and inputs) come first, in their index order.
        let mut positional: Vec<(usize, Vec<String>)> = Vec::new();
        let mut options = Vec::new();
        for (key, value) in body {
            let line = line_of(text, section, Some(key));
            let wanted = key.replace('_', "-");
            let Some(arg) = args.iter().find(|a| key_of(a) == wanted) else {
                return Err(err(
                    line,
                    format!("[{section}] unknown key `{key}`; allowed keys: {}", allowed.join(", ")),
                ));
            };
            let values: Vec<String> = match value {
                toml::Value::Array(items) => items
                    .iter()
                    .map(|v| {
                        scalar(v)
                            .ok_or_else(|| err(line, format!("[{section}] `{key}`: list items must be plain values")))
                    })
                    .collect::<Result<_, _>>()?,
                v => vec![
                    scalar(v)
                        .ok_or_else(|| err(line, format!("[{section}] `{key}` must be a plain value or a list")))?,
                ],
            };
            let takes_value = arg.get_action().takes_values();
            let mut piece = Vec::new();
            if arg.is_positional() {
                positional.push((arg.get_index().unwrap_or(0), values));
                continue;
            } else if !takes_value {
                match value {
                    toml::Value::Boolean(true) => piece.push(format!("--{}", key_of(arg))),
                    toml::Value::Boolean(false) => {}
                    _ => {
                        return Err(err(
                            line,
                            format!("[{section}] `{key}` is a switch: write true or false"),
                        ));
                    }
                }
            } else {
                if matches!(value, toml::Value::Array(_))
                    && !matches!(arg.get_num_args(), Some(r) if r.max_values() > 1)
                    && arg.get_value_delimiter().is_none()
                    && !matches!(arg.get_action(), clap::ArgAction::Append)
                {
                    return Err(err(line, format!("[{section}] `{key}` takes one value, not a list")));
                }
                for v in values {
                    piece.push(format!("--{}", key_of(arg)));
                    piece.push(v);
                }
            }
            // Validate this key alone so a type error points at its line.
            let mut probe: Vec<String> = required_placeholders(stage);
            probe.extend(piece.iter().cloned());
            if let Err(e) = stage.command().try_get_matches_from(&probe) {
                return Err(err(line, format!("[{section}] `{key}`: {}", first_line(&e))));
            }
            options.extend(piece);
        }
        positional.sort_by_key(|(i, _)| *i);
        let mut argv: Vec<String> = positional.into_iter().flat_map(|(_, v)| v).collect();
        argv.extend(options);
        // The whole section must parse too (required keys, conflicts), and pass the
        // stage's own checks of how its options combine.
        let mut full = argv.clone();
        full.extend(stage.dir_args(Path::new("DIR")));
        if let Err(message) = stage.check(&full) {
            return Err(err(line_of(text, section, None), format!("[{section}] {message}")));
        }
        Ok(StageSection { stage, argv })
    }
}

/// The first line of a clap error, without its `error: ` prefix.
pub(crate) fn first_line(e: &clap::Error) -> String {
    let msg = e.render().to_string();
    msg.lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("error: ")
        .to_string()
}

/// Minimal arguments that make a stage's command line complete, for probing one key.
fn required_placeholders(stage: Stage) -> Vec<String> {
    match stage {
        Stage::Ingest => vec!["synthetic".into(), "--out".into(), "DIR".into()],
        _ => vec!["DIR".into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[pipeline]
name = "tiny"
out = "experiments/tiny"

[ingest]
format = "synthetic"
train = 200
test = 50

[train]
arch = ["lenet5"]
networks = 2
epochs = 3
deterministic = true
"#;

    #[test]
    fn sections_become_stage_arguments() {
        let p = PipelineFile::parse(Path::new("tiny.toml"), GOOD).unwrap();
        assert_eq!(p.name, "tiny");
        assert_eq!(p.out, Some(PathBuf::from("experiments/tiny")));
        assert_eq!(p.stages.len(), 2);
        let ingest = &p.stages[0].argv;
        assert_eq!(ingest[0], "synthetic", "positionals first");
        assert!(ingest.windows(2).any(|w| w == ["--train", "200"]) && ingest.windows(2).any(|w| w == ["--test", "50"]));
        assert_eq!(p.stages[1].stage, Stage::Train);
        assert!(p.stages[1].argv.windows(2).any(|w| w == ["--arch", "lenet5"]));
        assert!(p.stages[1].argv.contains(&"--deterministic".to_string()));
    }

    #[test]
    fn unknown_keys_name_file_line_and_allowed_keys() {
        let bad = GOOD.replace("epochs = 3", "epocs = 3");
        let e = PipelineFile::parse(Path::new("p/tiny.toml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p/tiny.toml:14:"), "{e}");
        assert!(
            e.contains("unknown key `epocs`") && e.contains("epochs") && e.contains("batch_size"),
            "{e}"
        );
        let bad = GOOD.replace("[train]", "[trian]");
        let e = PipelineFile::parse(Path::new("t.toml"), &bad).unwrap_err().to_string();
        assert!(e.contains("t.toml:11:") && e.contains("unknown section [trian]"), "{e}");
    }

    #[test]
    fn bad_values_of_any_stage_are_refused_at_parse_time() {
        for (from, to, line, expect) in [
            (
                "arch = [\"lenet5\"]",
                "arch = [\"resnt18\"]",
                12,
                "unknown architecture `resnt18`",
            ),
            ("epochs = 3", "epochs = 0", 14, "`epochs`"),
            ("epochs = 3", "epochs = 3\nlr = nan", 15, "`lr`"),
            ("epochs = 3", "epochs = 3\nlabel_noise = 2.0", 15, "`label_noise`"),
            (
                "arch = [\"lenet5\"]",
                "arch = [\"lenet5\", \"lenet-5\"]",
                11,
                "listed twice",
            ),
            (
                "[train]",
                "[stats]\nsegment_sigma = inf\n[train]",
                12,
                "`segment_sigma`",
            ),
            (
                "[train]",
                "[stats]\nresize = \"100000x100000\"\n[train]",
                12,
                "`resize`",
            ),
            (
                "[train]",
                "[stats]\nstats = \"entropy_lcoal\"\n[train]",
                12,
                "entropy_lcoal",
            ),
        ] {
            let bad = GOOD.replace(from, to);
            let e = PipelineFile::parse(Path::new("t.toml"), &bad).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("t.toml:{line}:")) && e.contains(expect),
                "{to}: {e}"
            );
        }
    }

    #[test]
    fn wrong_types_point_at_their_line() {
        let bad = GOOD.replace("networks = 2", "networks = \"two\"");
        let e = PipelineFile::parse(Path::new("t.toml"), &bad).unwrap_err().to_string();
        assert!(
            e.contains("t.toml:13:") && e.contains("`networks`") && e.contains("two"),
            "{e}"
        );
        let bad = GOOD.replace("deterministic = true", "deterministic = 1");
        let e = PipelineFile::parse(Path::new("t.toml"), &bad).unwrap_err().to_string();
        assert!(e.contains("t.toml:15:") && e.contains("switch"), "{e}");
        let bad = GOOD.replace("name = \"tiny\"", "name = 3");
        let e = PipelineFile::parse(Path::new("t.toml"), &bad).unwrap_err().to_string();
        assert!(e.contains("t.toml:3:") && e.contains("must be a string"), "{e}");
        let e = PipelineFile::parse(Path::new("t.toml"), "[ingest\nformat=1")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.toml:1:"), "{e}");
    }
}
