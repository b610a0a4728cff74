//! Statistics are discovered, never listed: every numeric column (other than
//! `sample_id`) of `stats`, `attributes` and each imported score table.

use std::fs::File;

use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::catalog::{TableFile, TableKind};
use crate::error::SqlError;

/// One statistic: a numeric column of a per-sample table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statistic {
    /// The table's query name (`stats`, `attributes`, or the score table's name).
    pub table: String,
    /// The column.
    pub column: String,
}

impl Statistic {
    /// `<table>.<column>`, the name results use.
    pub fn name(&self) -> String {
        format!("{}.{}", self.table, self.column)
    }
}

fn is_statistic_table(t: &TableFile) -> bool {
    t.kind == TableKind::Score || (t.kind == TableKind::Stage && (t.name == "stats" || t.name == "attributes"))
}

/// The statistics of the per-sample tables among `tables`, in table then column order.
pub fn discover_statistics(tables: &[TableFile]) -> Result<Vec<Statistic>, SqlError> {
    let mut found = Vec::new();
    for table in tables.iter().filter(|t| is_statistic_table(t)) {
        let input = |message: String| SqlError::Input {
            path: table.path.clone(),
            message,
        };
        let file = File::open(&table.path).map_err(|source| SqlError::Io {
            path: table.path.clone(),
            source,
        })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| input(e.to_string()))?;
        let schema = builder.schema();
        if schema.index_of("sample_id").is_err() {
            return Err(input("a per-sample table needs a `sample_id` column".into()));
        }
        for field in schema.fields() {
            let numeric = field.data_type().is_numeric() && !matches!(field.data_type(), DataType::Float16);
            if numeric && field.name() != "sample_id" {
                found.push(Statistic {
                    table: table.name.clone(),
                    column: field.name().clone(),
                });
            }
        }
    }
    Ok(found)
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// SQL of the long table `statistic_values(sample_id BIGINT, statistic VARCHAR,
/// value DOUBLE)`: one row per sample and statistic (null values kept). Plain SQL
/// that DuckDB runs as well.
pub fn statistic_values_sql(statistics: &[Statistic]) -> String {
    if statistics.is_empty() {
        return "SELECT CAST(NULL AS BIGINT) AS sample_id, CAST(NULL AS VARCHAR) AS statistic, \
                CAST(NULL AS DOUBLE) AS value WHERE 1 = 0"
            .to_string();
    }
    statistics
        .iter()
        .map(|s| {
            format!(
                "SELECT CAST(sample_id AS BIGINT) AS sample_id, {} AS statistic, CAST({} AS DOUBLE) AS value FROM {}",
                quote_literal(&s.name()),
                quote_identifier(&s.column),
                quote_identifier(&s.table)
            )
        })
        .collect::<Vec<_>>()
        .join("\nUNION ALL\n")
}

/// SQL of the wide table `statistic_wide(sample_id BIGINT, "<statistic>" DOUBLE, …)`:
/// one row per sample, one column per statistic, named by the statistic, in the
/// order of `statistics` — the form in which many statistics are aggregated in one
/// pass. Pivots `statistic_values`; plain SQL that DuckDB runs as well.
pub fn statistic_wide_sql(statistics: &[Statistic]) -> String {
    let columns: String = statistics
        .iter()
        .map(|s| {
            format!(
                ",\n    max(CASE WHEN statistic = {} THEN value END) AS {}",
                quote_literal(&s.name()),
                quote_identifier(&s.name())
            )
        })
        .collect();
    format!("SELECT sample_id{columns}\nFROM statistic_values\nGROUP BY sample_id")
}

/// SQL of `statistic_index(statistic_index INT, statistic VARCHAR)`: the 1-based
/// position of each statistic in `statistic_wide` and in the lists that
/// `{each statistic: …}` builds, for turning such lists back into rows.
pub fn statistic_index_sql(statistics: &[Statistic]) -> String {
    if statistics.is_empty() {
        return "SELECT CAST(NULL AS INT) AS statistic_index, CAST(NULL AS VARCHAR) AS statistic WHERE 1 = 0".into();
    }
    let rows: Vec<String> = statistics
        .iter()
        .enumerate()
        .map(|(i, s)| format!("({}, {})", i + 1, quote_literal(&s.name())))
        .collect();
    format!(
        "SELECT CAST(i AS INT) AS statistic_index, CAST(s AS VARCHAR) AS statistic FROM (VALUES {}) AS t(i, s)",
        rows.join(", ")
    )
}

/// The opening of the one template construct of the analysis SQL.
const EACH_STATISTIC: &str = "{each statistic";

/// Whether `sql` uses `{each statistic: …}`.
pub fn uses_each_statistic(sql: &str) -> bool {
    sql.contains(EACH_STATISTIC)
}

/// Expands every `{each statistic: FRAGMENT}` of `sql`: FRAGMENT once per statistic,
/// joined by `, ` — or by SEP for `{each statistic separated by SEP: FRAGMENT}` —
/// with `{column}` replaced by the statistic's quoted column of `statistic_wide`,
/// `{name}` by its name as a string literal and `{index}` by its 1-based position
/// (as in `statistic_index`). SQL has no way to loop over columns; this is the one
/// construct the analysis files add to it. Inside `--` comments it is left alone.
/// The error says what is malformed.
pub fn expand_each_statistic(sql: &str, statistics: &[Statistic]) -> Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find(EACH_STATISTIC) {
        // Where it stands in `sql`: its line, and whether a `--` comment holds it
        // (then it is prose, copied as it is).
        let at = sql.len() - rest.len() + start;
        let line_start = sql[..at].rfind('\n').map_or(0, |i| i + 1);
        let line = sql[..at].matches('\n').count() + 1;
        if sql[line_start..at].contains("--") {
            let skip = start + EACH_STATISTIC.len();
            out.push_str(&rest[..skip]);
            rest = &rest[skip..];
            continue;
        }
        out.push_str(&rest[..start]);
        let body = &rest[start + 1..];
        // The construct ends at the brace that balances its opening one.
        let mut depth = 1usize;
        let mut end = None;
        for (i, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let end = end.ok_or_else(|| format!("line {line}: `{{each statistic` is never closed by `}}`"))?;
        let inner = &body[EACH_STATISTIC.len() - 1..end];
        let (head, fragment) = inner
            .split_once(':')
            .ok_or_else(|| format!("line {line}: expected `{{each statistic: …}}` (no `:` found)"))?;
        let (head, fragment) = (head.trim(), fragment.trim());
        let separator = if head.is_empty() {
            ", ".to_string()
        } else if let Some(sep) = head.strip_prefix("separated by") {
            format!("\n{}\n", sep.trim())
        } else {
            return Err(format!(
                "line {line}: expected `{{each statistic: …}}` or `{{each statistic separated by SEP: …}}`, found `{{each statistic {head}:`"
            ));
        };
        let expanded: Vec<String> = statistics
            .iter()
            .enumerate()
            .map(|(i, s)| {
                fragment
                    .replace("{column}", &quote_identifier(&s.name()))
                    .replace("{name}", &quote_literal(&s.name()))
                    .replace("{index}", &(i + 1).to_string())
            })
            .collect();
        out.push_str(&expanded.join(&separator));
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(names: &[&str]) -> Vec<Statistic> {
        names
            .iter()
            .map(|c| Statistic {
                table: "stats".into(),
                column: (*c).into(),
            })
            .collect()
    }

    #[test]
    fn each_statistic_expands_per_statistic() {
        let s = stats(&["a", "it's"]);
        let sql = "SELECT make_array({each statistic: avg({column})}) FROM t";
        assert_eq!(
            expand_each_statistic(sql, &s).unwrap(),
            "SELECT make_array(avg(\"stats.a\"), avg(\"stats.it's\")) FROM t"
        );
        let union = "{each statistic separated by UNION ALL: SELECT {index} AS i, {name} AS s}";
        assert_eq!(
            expand_each_statistic(union, &s).unwrap(),
            "SELECT 1 AS i, 'stats.a' AS s\nUNION ALL\nSELECT 2 AS i, 'stats.it''s' AS s"
        );
        assert_eq!(expand_each_statistic("no template", &s).unwrap(), "no template");
        let commented = "-- {each statistic …} is prose here\nSELECT {each statistic: {index}} -- {each statistic x";
        assert_eq!(
            expand_each_statistic(commented, &s).unwrap(),
            "-- {each statistic …} is prose here\nSELECT 1, 2 -- {each statistic x"
        );
        assert!(uses_each_statistic(sql) && !uses_each_statistic("SELECT 1"));
    }

    #[test]
    fn malformed_each_statistic_names_the_line() {
        let s = stats(&["a"]);
        let err = expand_each_statistic("SELECT\n{each statistic avg({column})}", &s).unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        let err = expand_each_statistic("SELECT {each statistic: avg({column})", &s).unwrap_err();
        assert!(err.contains("never closed"), "{err}");
        let err = expand_each_statistic("{each statistic joined: x}", &s).unwrap_err();
        assert!(err.contains("separated by SEP"), "{err}");
    }

    #[test]
    fn wide_and_index_tables_follow_the_statistic_order() {
        let s = stats(&["b", "a"]);
        let wide = statistic_wide_sql(&s);
        assert!(
            wide.find("\"stats.b\"").unwrap() < wide.find("\"stats.a\"").unwrap(),
            "{wide}"
        );
        assert!(statistic_index_sql(&s).contains("(1, 'stats.b'), (2, 'stats.a')"));
        assert!(statistic_index_sql(&[]).contains("WHERE 1 = 0"));
        assert_eq!(
            statistic_wide_sql(&[]),
            "SELECT sample_id\nFROM statistic_values\nGROUP BY sample_id"
        );
    }

    #[test]
    fn sql_quotes_names() {
        let s = [Statistic {
            table: "stats".into(),
            column: "it's \"odd\"".into(),
        }];
        let sql = statistic_values_sql(&s);
        assert!(sql.contains("'stats.it''s \"odd\"' AS statistic"), "{sql}");
        assert!(sql.contains("CAST(\"it's \"\"odd\"\"\" AS DOUBLE)"), "{sql}");
        assert!(statistic_values_sql(&[]).contains("WHERE 1 = 0"));
    }
}
