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

    /// Parses and validates pipeline-file text (`path` is for messages): the TOML, then
    /// each section — `[pipeline]`'s own keys, or a stage's options.
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
            .collect::<Vec<_>>()
            .join(", ");
        let mut file = PipelineFile {
            path: path.to_path_buf(),
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            out: None,
            description: None,
            stages: Vec::new(),
        };
        for (section, value) in &table {
            let toml::Value::Table(body) = value else {
                return Err(err(
                    line_of(text, "", Some(section)),
                    format!("`{section}` must be a section like [{section}]; allowed sections: {allowed_sections}"),
                ));
            };
            if section == "pipeline" {
                file.pipeline_section(body, text, &err)?;
                continue;
            }
            let Some(stage) = Stage::from_name(section) else {
                return Err(err(
                    line_of(text, section, None),
                    format!("unknown section [{section}]; allowed sections: {allowed_sections}"),
                ));
            };
            file.stages.push(Self::stage_section(stage, section, body, text, &err)?);
        }
        file.stages.sort_by_key(|s| s.stage);
        Ok(file)
    }

    /// The `[pipeline]` section's keys (name, out, description), each a string.
    fn pipeline_section(
        &mut self,
        body: &toml::Table,
        text: &str,
        err: &dyn Fn(usize, String) -> PipelineError,
    ) -> Result<(), PipelineError> {
        for (k, v) in body {
            let line = line_of(text, "pipeline", Some(k));
            match (k.as_str(), v) {
                ("name", toml::Value::String(s)) => self.name = s.clone(),
                ("out", toml::Value::String(s)) => self.out = Some(PathBuf::from(s)),
                ("description", toml::Value::String(s)) => self.description = Some(s.clone()),
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
        Ok(())
    }

    /// One stage section parsed into the stage's arguments: each key looked up among
    /// the stage's long options, its value turned into arguments and checked alone (so
    /// an error points at its line), then the whole section checked as the stage would.
    fn stage_section(
        stage: Stage,
        section: &str,
        body: &toml::Table,
        text: &str,
        err: &dyn Fn(usize, String) -> PipelineError,
    ) -> Result<StageSection, PipelineError> {
        let src = SectionSource { section, text, err };
        let options = StageOptions::of(stage);
        let mut positional: Vec<(usize, Vec<String>)> = Vec::new();
        let mut named = Vec::new();
        for (key, value) in body {
            let at_key = |message: String| src.error(Some(key), message);
            let arg = options.find(key).ok_or_else(|| {
                at_key(format!(
                    "unknown key `{key}`; allowed keys: {}",
                    options.allowed().join(", ")
                ))
            })?;
            let values = plain_values(key, value).map_err(at_key)?;
            if arg.is_positional() {
                positional.push((arg.get_index().unwrap_or(0), values));
                continue;
            }
            let piece = option_arguments(arg, key, value, values).map_err(at_key)?;
            probe_alone(stage, &piece).map_err(|m| at_key(format!("`{key}`: {m}")))?;
            named.extend(piece);
        }
        let argv = command_line(positional, named);
        check_whole(stage, &argv).map_err(|m| src.error(None, m))?;
        Ok(StageSection { stage, argv })
    }
}

/// Where a stage section is, for messages that name the file, line and section.
struct SectionSource<'a> {
    section: &'a str,
    text: &'a str,
    err: &'a dyn Fn(usize, String) -> PipelineError,
}

impl SectionSource<'_> {
    /// An error at `key`'s line (the section header's when `None`).
    fn error(&self, key: Option<&str>, message: String) -> PipelineError {
        (self.err)(
            line_of(self.text, self.section, key),
            format!("[{}] {message}", self.section),
        )
    }
}

/// The options a stage section may set: the stage's arguments less the ones the
/// pipeline supplies (the experiment directory) and `--help`.
struct StageOptions {
    args: Vec<clap::Arg>,
}

impl StageOptions {
    fn of(stage: Stage) -> Self {
        let args = stage
            .command()
            .get_arguments()
            .filter(|a| !stage.reserved().contains(&a.get_id().as_str()) && a.get_id() != "help")
            .cloned()
            .collect();
        StageOptions { args }
    }

    /// The argument a key names (`_` and `-` alike).
    fn find(&self, key: &str) -> Option<&clap::Arg> {
        let wanted = key.replace('_', "-");
        self.args.iter().find(|a| long_name(a) == wanted)
    }

    /// Every key allowed, spelled with `_`.
    fn allowed(&self) -> Vec<String> {
        self.args.iter().map(|a| long_name(a).replace('-', "_")).collect()
    }
}

/// An argument's long option (its id for positionals).
fn long_name(a: &clap::Arg) -> String {
    a.get_long()
        .map(str::to_string)
        .unwrap_or_else(|| a.get_id().to_string())
}

/// A key's value as command-line values: a plain value, or a list of them.
fn plain_values(key: &str, value: &toml::Value) -> Result<Vec<String>, String> {
    match value {
        toml::Value::Array(items) => items
            .iter()
            .map(|v| scalar(v).ok_or_else(|| format!("`{key}`: list items must be plain values")))
            .collect(),
        v => Ok(vec![
            scalar(v).ok_or_else(|| format!("`{key}` must be a plain value or a list"))?,
        ]),
    }
}

/// The arguments an option's key stands for: `--name` for a switch set to true,
/// nothing for false; `--name value` per value otherwise (a list only where the
/// option takes several).
fn option_arguments(
    arg: &clap::Arg,
    key: &str,
    value: &toml::Value,
    values: Vec<String>,
) -> Result<Vec<String>, String> {
    let flag = format!("--{}", long_name(arg));
    if !arg.get_action().takes_values() {
        return match value {
            toml::Value::Boolean(true) => Ok(vec![flag]),
            toml::Value::Boolean(false) => Ok(Vec::new()),
            _ => Err(format!("`{key}` is a switch: write true or false")),
        };
    }
    let takes_several = matches!(arg.get_num_args(), Some(r) if r.max_values() > 1)
        || arg.get_value_delimiter().is_some()
        || matches!(arg.get_action(), clap::ArgAction::Append);
    if matches!(value, toml::Value::Array(_)) && !takes_several {
        return Err(format!("`{key}` takes one value, not a list"));
    }
    Ok(values.into_iter().flat_map(|v| [flag.clone(), v]).collect())
}

/// Parses one key's arguments with the stage's parser, alone, so that a type error
/// is reported at the key's line.
fn probe_alone(stage: Stage, piece: &[String]) -> Result<(), String> {
    let mut probe = required_placeholders(stage);
    probe.extend(piece.iter().cloned());
    stage
        .command()
        .try_get_matches_from(&probe)
        .map(drop)
        .map_err(|e| clap_message(&e))
}

/// Positionals first (ingest's format and inputs), in their index order, then the options
/// in file order.
fn command_line(mut positional: Vec<(usize, Vec<String>)>, named: Vec<String>) -> Vec<String> {
    positional.sort_by_key(|(i, _)| *i);
    let mut argv: Vec<String> = positional.into_iter().flat_map(|(_, v)| v).collect();
    argv.extend(named);
    argv
}

/// The whole section must parse too (required keys, conflicts), and pass the stage's
/// own checks of how its options combine.
fn check_whole(stage: Stage, argv: &[String]) -> Result<(), String> {
    let mut full = argv.to_vec();
    full.extend(stage.dir_args(Path::new("DIR")));
    stage.check(&full)
}

/// A clap error as one line: its message and any `[possible values: …]` or `tip:`
/// under it, without the `error: ` prefix, the usage and the pointer to `--help`.
pub(crate) fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    text.lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
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
