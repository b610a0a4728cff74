//! The analysis as SQL files kept in the repository (`crates/agree-sql/sql/`),
//! embedded in the binary and overridable file by file from a user directory.
//! Which files are steps, in what order, what each reads and what an intermediate
//! step's output looks like is said once, in `sql/steps.toml`; it is parsed and
//! checked before any step runs (every table read is a session table or an earlier
//! step, every step has its file, every contract parses).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use agree_schema::Table;
use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Schema};
use serde::Deserialize;

use crate::catalog::STAGE_TABLES;
use crate::error::SqlError;
use crate::statistics::StatisticColumn;

include!(concat!(env!("OUT_DIR"), "/sql_files.rs"));

/// Tables the session registers before the first step (besides the stage tables):
/// what a step may read that no step computes.
pub const SESSION_TABLES: [&str; 8] = [
    "predictions",
    "networks",
    "analysis_epochs",
    "analysis_parameters",
    "statistic_values",
    "statistic_wide",
    "statistic_buckets",
    "statistic_index",
];

/// One column of an intermediate step's contract.
#[derive(Debug, Clone, PartialEq)]
pub struct StepColumn {
    /// Column name.
    pub name: String,
    /// Its type (strings as `Utf8`, whatever their encoding).
    pub data_type: DataType,
    /// Whether nulls are allowed.
    pub nullable: bool,
}

/// One step of the analysis: a query whose result is registered under `name`
/// for the steps after it, and written to `results/<name>.parquet` when it is a
/// result table of schemas/.
#[derive(Debug, Clone)]
pub struct AnalysisStep {
    /// Table name (and file stem `<name>.sql`).
    pub name: String,
    /// The embedded SQL.
    pub sql: &'static str,
    /// The result table it writes to `results/` (its contract in schemas/); `None`
    /// for an intermediate step.
    pub result: Option<Table>,
    /// The tables it reads: session tables and earlier steps.
    pub reads: Vec<String>,
    /// An intermediate step's columns, in order.
    pub columns: Vec<StepColumn>,
    /// Type and nullability of the one column per statistic that follows `columns`.
    pub per_statistic: Option<(DataType, bool)>,
    /// A step run as one query per value, one after the other, its rows those of
    /// every query in the order of the values: the placeholder (`{name}` in the
    /// SQL) and its values. A step whose aggregates hold every row of a group
    /// (the rank correlations) then holds one value's groups at a time.
    pub repeat: Option<Repeat>,
}

/// The values a repeated step runs over ([`AnalysisStep::repeat`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Repeat {
    /// The placeholder's name: `{<placeholder>}` in the SQL.
    pub placeholder: String,
    /// Its values, lower-case identifiers, in the order the rows are written.
    pub values: Vec<String>,
}

impl AnalysisStep {
    /// The queries this step runs for `sql` (its file's text, statistics already
    /// expanded): `sql` itself, or one per value of `repeat`, the placeholder
    /// replaced by the value.
    pub fn instances(&self, sql: &str) -> Vec<String> {
        match &self.repeat {
            None => vec![sql.to_string()],
            Some(r) => {
                let token = format!("{{{}}}", r.placeholder);
                r.values.iter().map(|v| sql.replace(&token, v)).collect()
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    step: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    reads: Vec<String>,
    #[serde(default)]
    result: bool,
    #[serde(default)]
    column: Vec<RawColumn>,
    per_statistic: Option<RawType>,
    repeat: Option<RawRepeat>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepeat {
    placeholder: String,
    values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: String,
    #[serde(rename = "type")]
    type_name: String,
    nullable: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawType {
    #[serde(rename = "type")]
    type_name: String,
    nullable: bool,
}

/// The scalar type names of the schemas/ grammar that intermediate tables use.
fn scalar_type(name: &str) -> Option<DataType> {
    Some(match name {
        "bool" => DataType::Boolean,
        "int32" => DataType::Int32,
        "int64" => DataType::Int64,
        "float64" => DataType::Float64,
        "utf8" => DataType::Utf8,
        _ => return None,
    })
}

/// Whether a step may read `name` without a step computing it.
pub fn is_session_table(name: &str) -> bool {
    SESSION_TABLES.contains(&name) || STAGE_TABLES.iter().any(|t| t.name() == name)
}

fn parse_columns(step: &str, raw: Vec<RawColumn>) -> Result<Vec<StepColumn>, String> {
    let mut columns: Vec<StepColumn> = Vec::with_capacity(raw.len());
    for c in raw {
        let data_type = scalar_type(&c.type_name)
            .ok_or_else(|| format!("step `{step}`, column `{}`: unknown type `{}`", c.name, c.type_name))?;
        if columns.iter().any(|x| x.name == c.name) {
            return Err(format!("step `{step}`: column `{}` listed twice", c.name));
        }
        columns.push(StepColumn {
            name: c.name,
            data_type,
            nullable: c.nullable,
        });
    }
    Ok(columns)
}

/// One step of the manifest, checked against the steps before it.
fn parse_step(raw: RawStep, earlier: &[AnalysisStep], files: &[(&str, &'static str)]) -> Result<AnalysisStep, String> {
    let name = raw.name;
    if !agree_schema::is_table_identifier(&name) || is_session_table(&name) || earlier.iter().any(|s| s.name == name) {
        return Err(format!(
            "step `{name}`: not a lower-case identifier, or a name already taken"
        ));
    }
    let sql = files
        .iter()
        .find(|(stem, _)| *stem == name)
        .map(|(_, sql)| *sql)
        .ok_or_else(|| format!("step `{name}` has no file {name}.sql"))?;
    for table in &raw.reads {
        if !is_session_table(table) && !earlier.iter().any(|s| &s.name == table) {
            return Err(format!(
                "step `{name}` reads `{table}`, which is neither a table of the session nor an earlier step"
            ));
        }
    }
    let result = if raw.result {
        let table = Table::from_name(&name)
            .filter(|t| t.is_result())
            .ok_or_else(|| format!("result step `{name}`: no result table schemas/{name}.toml"))?;
        if !raw.column.is_empty() || raw.per_statistic.is_some() {
            return Err(format!(
                "result step `{name}`: its columns are in schemas/{name}.toml, not here"
            ));
        }
        Some(table)
    } else if raw.column.is_empty() {
        return Err(format!(
            "intermediate step `{name}` needs its columns (`column = [...]`)"
        ));
    } else {
        None
    };
    let per_statistic = match raw.per_statistic {
        Some(t) => Some((
            scalar_type(&t.type_name).ok_or_else(|| format!("step `{name}`: unknown type `{}`", t.type_name))?,
            t.nullable,
        )),
        None => None,
    };
    let repeat = match raw.repeat {
        Some(r) => Some(parse_repeat(&name, sql, r)?),
        None => None,
    };
    Ok(AnalysisStep {
        repeat,
        columns: parse_columns(&name, raw.column)?,
        name,
        sql,
        result,
        reads: raw.reads,
        per_statistic,
    })
}

/// A step's `repeat`: identifiers for the placeholder and its values (so that
/// replacing one by the other cannot change the SQL's shape), at least one value,
/// none twice, and the placeholder present in the step's SQL.
fn parse_repeat(step: &str, sql: &str, raw: RawRepeat) -> Result<Repeat, String> {
    let RawRepeat { placeholder, values } = raw;
    if !agree_schema::is_table_identifier(&placeholder) {
        return Err(format!(
            "step `{step}`: repeat placeholder `{placeholder}` is not a lower-case identifier"
        ));
    }
    if !sql.contains(&format!("{{{placeholder}}}")) {
        return Err(format!(
            "step `{step}`: its SQL has no `{{{placeholder}}}` to repeat over"
        ));
    }
    if values.is_empty() {
        return Err(format!("step `{step}`: repeat `{placeholder}` has no values"));
    }
    for (i, v) in values.iter().enumerate() {
        if !agree_schema::is_table_identifier(v) {
            return Err(format!(
                "step `{step}`: repeat value `{v}` is not a lower-case identifier"
            ));
        }
        if values[..i].contains(v) {
            return Err(format!("step `{step}`: repeat value `{v}` listed twice"));
        }
    }
    Ok(Repeat { placeholder, values })
}

/// Parses and checks a manifest over the SQL `files` (stem, text).
fn parse_manifest(text: &str, files: &[(&str, &'static str)]) -> Result<Vec<AnalysisStep>, String> {
    let raw: RawManifest = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut steps: Vec<AnalysisStep> = Vec::with_capacity(raw.step.len());
    for step in raw.step {
        let step = parse_step(step, &steps, files)?;
        steps.push(step);
    }
    if let Some((stem, _)) = files.iter().find(|(stem, _)| !steps.iter().any(|s| s.name == *stem)) {
        return Err(format!("{stem}.sql is not a step of the manifest"));
    }
    Ok(steps)
}

/// The steps in execution order, from the embedded `sql/steps.toml`; each may
/// read the session's tables and every step before it.
pub fn analysis_steps() -> Result<&'static [AnalysisStep], SqlError> {
    static STEPS: OnceLock<Result<Vec<AnalysisStep>, String>> = OnceLock::new();
    STEPS
        .get_or_init(|| parse_manifest(STEPS_MANIFEST, SQL_FILES))
        .as_deref()
        .map_err(|message| SqlError::Manifest(message.clone()))
}

/// The step called `name`.
pub fn find_step(name: &str) -> Result<&'static AnalysisStep, SqlError> {
    let steps = analysis_steps()?;
    steps.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        SqlError::Manifest(format!("no step `{name}`; the steps are {}", names.join(", ")))
    })
}

/// What already holds the table name `name` in a session (a stage or result
/// contract, a session table, an analysis step), said for an error; `None`
/// when a score table may take it.
pub fn reserved_by(name: &str) -> Option<String> {
    if let Ok(steps) = analysis_steps()
        && let Some(step) = steps.iter().find(|s| s.name == name)
    {
        let kind = if step.result.is_some() {
            "result"
        } else {
            "intermediate"
        };
        return Some(format!(
            "the {kind} analysis step `{name}` (crates/agree-sql/sql/steps.toml)"
        ));
    }
    if SESSION_TABLES.contains(&name) {
        return Some(format!("the session table `{name}`"));
    }
    Table::from_name(name).map(|t| format!("the table `{name}` of schemas/{}.toml", t.name()))
}

/// The SQL of `step`: `<sql_dir>/<name>.sql` when that file exists, else the embedded one.
pub fn step_sql(step: &AnalysisStep, sql_dir: Option<&Path>) -> Result<Cow<'static, str>, SqlError> {
    if let Some(dir) = sql_dir {
        let path = dir.join(format!("{}.sql", step.name));
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|source| SqlError::Io { path, source })?;
            return Ok(Cow::Owned(text));
        }
    }
    Ok(Cow::Borrowed(step.sql))
}

/// Writes the embedded SQL files and the manifest into `dir` (created) for
/// editing; returns their paths.
pub fn export_sql(dir: &Path) -> Result<Vec<PathBuf>, SqlError> {
    std::fs::create_dir_all(dir).map_err(|source| SqlError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    let files = analysis_steps()?
        .iter()
        .map(|s| (format!("{}.sql", s.name), s.sql))
        .chain([("steps.toml".to_string(), STEPS_MANIFEST)]);
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| SqlError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// A type as the contracts compare it: strings whatever their encoding.
fn plain_type(t: &DataType) -> DataType {
    match t {
        DataType::Dictionary(_, value) => plain_type(value),
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        other => other.clone(),
    }
}

/// What an intermediate step's output must be, with the statistics of this analysis.
#[derive(Debug, Clone)]
pub struct OutputContract {
    step: String,
    columns: Vec<StepColumn>,
}

impl OutputContract {
    /// `step`'s contract with one column per statistic where it has them.
    pub fn new(step: &AnalysisStep, statistics: &[StatisticColumn]) -> Self {
        let mut columns = step.columns.clone();
        if let Some((data_type, nullable)) = &step.per_statistic {
            columns.extend(statistics.iter().map(|s| StepColumn {
                name: s.name(),
                data_type: data_type.clone(),
                nullable: *nullable,
            }));
        }
        OutputContract {
            step: step.name.clone(),
            columns,
        }
    }

    fn fail(&self, message: String) -> SqlError {
        SqlError::Result {
            step: format!("{}.sql", self.step),
            message: format!("{message} (contract in crates/agree-sql/sql/steps.toml)"),
        }
    }

    /// Checks the output's columns: names in order and types.
    pub fn check_schema(&self, schema: &Schema) -> Result<(), SqlError> {
        for (i, c) in self.columns.iter().enumerate() {
            let Some(field) = schema.fields().get(i) else {
                return Err(self.fail(format!("the query returns no column `{}`", c.name)));
            };
            if field.name() != &c.name {
                return Err(self.fail(format!(
                    "column {} is `{}`, the contract says `{}`",
                    i + 1,
                    field.name(),
                    c.name
                )));
            }
            if plain_type(field.data_type()) != c.data_type {
                return Err(self.fail(format!(
                    "column `{}` is {}, the contract says {}",
                    c.name,
                    field.data_type(),
                    c.data_type
                )));
            }
        }
        if let Some(extra) = schema.fields().get(self.columns.len()) {
            return Err(self.fail(format!("column `{}` is not in the contract", extra.name())));
        }
        Ok(())
    }

    /// Checks that the non-nullable columns of `batch` hold no null.
    pub fn check_batch(&self, batch: &RecordBatch) -> Result<(), SqlError> {
        for (c, column) in self.columns.iter().zip(batch.columns()) {
            if !c.nullable && column.null_count() > 0 {
                return Err(self.fail(format!("column `{}` has nulls but the contract says not null", c.name)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str) -> &'static AnalysisStep {
        find_step(name).unwrap()
    }

    #[test]
    fn override_replaces_only_present_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("agreement.sql"), "SELECT 1").unwrap();
        let (agreement, tpa) = (step("agreement"), step("learning_order"));
        assert_eq!(step_sql(agreement, Some(dir.path())).unwrap(), "SELECT 1");
        assert_eq!(step_sql(tpa, Some(dir.path())).unwrap(), tpa.sql);
    }

    #[test]
    fn the_embedded_manifest_parses_in_order() {
        let steps = analysis_steps().unwrap();
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.first(), Some(&"group_members"));
        assert_eq!(names.len(), SQL_FILES.len());
        for s in steps.iter().filter(|s| s.result.is_some()) {
            assert_eq!(s.result.map(Table::name), Some(s.name.as_str()));
        }
        assert!(step("sample_bins").per_statistic.is_some());
    }

    #[test]
    fn a_bad_manifest_is_refused_naming_the_problem() {
        let files: &[(&str, &'static str)] = &[("a", "SELECT 1"), ("b", "SELECT 2")];
        let col = "column = [{ name = \"x\", type = \"int64\", nullable = false }]";
        let cases = [
            (
                format!("[[step]]\nname = \"a\"\nreads = [\"b\"]\n{col}\n[[step]]\nname = \"b\"\nreads = []\n{col}"),
                "reads `b`",
            ),
            (
                format!("[[step]]\nname = \"a\"\nreads = []\n{col}"),
                "b.sql is not a step",
            ),
            (format!("[[step]]\nname = \"c\"\nreads = []\n{col}"), "no file c.sql"),
            ("[[step]]\nname = \"a\"\nreads = []".to_string(), "needs its columns"),
            (
                format!("[[step]]\nname = \"a\"\nreads = []\n{}", col.replace("int64", "int128")),
                "unknown type `int128`",
            ),
            (
                "[[step]]\nname = \"a\"\nreads = []\nresult = true".to_string(),
                "no result table schemas/a.toml",
            ),
            ("[[step]]\nname = \"a\"\nreds = []".to_string(), "unknown field"),
            (
                format!(
                    "[[step]]\nname = \"a\"\nreads = []\n{col}\nrepeat = {{ placeholder = \"v\", values = [\"x\"] }}"
                ),
                "no `{v}` to repeat over",
            ),
        ];
        for (manifest, expected) in cases {
            let err = parse_manifest(&manifest, files).unwrap_err();
            assert!(err.contains(expected), "{manifest}\n→ {err}");
        }
    }

    #[test]
    fn a_repeated_step_runs_once_per_value_in_order() {
        let files: &[(&str, &'static str)] = &[("a", "SELECT '{v}' AS v, 1 AS x")];
        let col = "column = [{ name = \"v\", type = \"utf8\", nullable = false }]";
        let manifest = |values: &str| {
            format!("[[step]]\nname = \"a\"\nreads = []\n{col}\nrepeat = {{ placeholder = \"v\", values = {values} }}")
        };
        let steps = parse_manifest(&manifest("[\"b\", \"a\"]"), files).unwrap();
        assert_eq!(
            steps[0].instances(files[0].1),
            ["SELECT 'b' AS v, 1 AS x", "SELECT 'a' AS v, 1 AS x"]
        );
        for (values, expected) in [
            ("[]", "has no values"),
            ("[\"b\", \"b\"]", "`b` listed twice"),
            ("[\"x'; DROP\"]", "not a lower-case identifier"),
        ] {
            let err = parse_manifest(&manifest(values), files).unwrap_err();
            assert!(err.contains(expected), "{values}\n→ {err}");
        }
        let once = step("agreement");
        assert_eq!(once.instances("SELECT 1"), ["SELECT 1"]);
    }

    #[test]
    fn reserved_names_come_from_the_step_list() {
        for s in analysis_steps().unwrap() {
            let why = reserved_by(&s.name).unwrap();
            assert!(why.contains("analysis step"), "{why}");
            // agree-ingest refuses score names by agree-schema's list: it must know every step.
            assert!(agree_schema::is_reserved_table_name(&s.name), "{}", s.name);
        }
        for t in SESSION_TABLES {
            assert!(
                reserved_by(t).is_some() && agree_schema::is_reserved_table_name(t),
                "{t}"
            );
        }
        // Both ways: agree-schema's hand-kept list is exactly this crate's session
        // tables and intermediate steps (analysis.rs checks them against a session).
        let mut defined: Vec<&str> = SESSION_TABLES.to_vec();
        defined.extend(
            analysis_steps()
                .unwrap()
                .iter()
                .filter(|s| s.result.is_none())
                .map(|s| s.name.as_str()),
        );
        defined.sort_unstable();
        let mut listed = agree_schema::SESSION_TABLES.to_vec();
        listed.sort_unstable();
        assert_eq!(listed, defined, "agree_schema::SESSION_TABLES");
        assert!(reserved_by("samples").unwrap().contains("schemas/samples.toml"));
        assert_eq!(reserved_by("cifar10h"), None);
    }

    #[test]
    fn output_contract_names_the_step_and_column() {
        use arrow::array::{Int32Array, Int64Array};
        use arrow::datatypes::Field;
        use std::sync::Arc;
        let stats = [StatisticColumn {
            table: "stats".into(),
            column: "a".into(),
        }];
        let contract = OutputContract::new(step("sample_bins"), &stats);
        let mut fields: Vec<Field> = step("sample_bins")
            .columns
            .iter()
            .map(|c| Field::new(&c.name, c.data_type.clone(), true))
            .collect();
        fields.push(Field::new("stats.a", DataType::Int32, true));
        contract.check_schema(&Schema::new(fields.clone())).unwrap();
        let mut wrong = fields.clone();
        wrong[5] = Field::new("n_networks", DataType::Int32, true);
        let err = contract.check_schema(&Schema::new(wrong)).unwrap_err().to_string();
        assert!(
            err.starts_with("sample_bins.sql: column `n_networks` is Int32"),
            "{err}"
        );
        let err = contract
            .check_schema(&Schema::new(fields[..6].to_vec()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no column `stats.a`"), "{err}");
        let small = OutputContract::new(step("statistic_bins"), &stats);
        let schema = Arc::new(Schema::new(vec![
            Field::new("split", DataType::Int64, true),
            Field::new("statistic", DataType::Int32, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1])),
                Arc::new(Int32Array::from(vec![None])),
            ],
        )
        .unwrap();
        let err = small.check_batch(&batch).unwrap_err().to_string();
        assert!(err.contains("`statistic` has nulls"), "{err}");
    }
}
