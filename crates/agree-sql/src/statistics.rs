//! Statistics are discovered, never listed: every numeric column (other than
//! `sample_id`) of `stats`, `attributes` and each imported score table.

use std::fs::File;

use agree_schema::Table;
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::catalog::{TableFile, TableKind};
use crate::error::SqlError;

/// A statistic as the analysis finds it: one numeric column of a per-sample table
/// (`stats`, `attributes` or a score table), discovered in the experiment's files.
/// (Not agree-imstats' `Statistic`, which names a measure `agree stats` computes:
/// those land here as columns of `stats`, beside attributes and imported scores.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatisticColumn {
    /// The table's query name (`stats`, `attributes`, or the score table's name).
    pub table: String,
    /// The column.
    pub column: String,
}

impl StatisticColumn {
    /// `<table>.<column>`, the name results use.
    pub fn name(&self) -> String {
        format!("{}.{}", self.table, self.column)
    }
}

/// Whether the columns of `t` are statistics: a score table, `stats` or `attributes`.
pub(crate) fn is_statistic_table(t: &TableFile) -> bool {
    let per_sample = [Table::Stats, Table::Attributes];
    t.kind == TableKind::Score || (t.kind == TableKind::Stage && per_sample.iter().any(|s| s.name() == t.name))
}

/// The statistics of the per-sample tables among `tables`, in table then column order.
pub fn discover_statistics(tables: &[TableFile]) -> Result<Vec<StatisticColumn>, SqlError> {
    let mut found = Vec::new();
    for table in tables.iter().filter(|t| is_statistic_table(t)) {
        let input = |message: String| SqlError::Input {
            path: table.path.clone(),
            message,
        };
        // Every file of a table has its columns (agree_schema::CheckedTable::read_in and
        // the registration check it); the first tells them.
        let first = table.files.first().unwrap_or(&table.path);
        let file = File::open(first).map_err(|source| SqlError::Io {
            path: first.clone(),
            source,
        })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| SqlError::Input {
            path: first.clone(),
            message: e.to_string(),
        })?;
        let schema = builder.schema();
        if schema.index_of("sample_id").is_err() {
            return Err(input("a per-sample table needs a `sample_id` column".into()));
        }
        for field in schema.fields() {
            let numeric = field.data_type().is_numeric() && !matches!(field.data_type(), DataType::Float16);
            if numeric && field.name() != "sample_id" {
                found.push(StatisticColumn {
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
pub fn statistic_values_sql(statistics: &[StatisticColumn]) -> String {
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
pub fn statistic_wide_sql(statistics: &[StatisticColumn]) -> String {
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

/// The number of rows of the largest per-sample table among `tables` (from the
/// Parquet footers): an upper bound on how many samples any statistic has.
pub fn statistic_table_rows(tables: &[TableFile]) -> Result<u64, SqlError> {
    let mut most = 0u64;
    for table in tables.iter().filter(|t| is_statistic_table(t)) {
        let mut rows = 0u64;
        for path in &table.files {
            let file = File::open(path).map_err(|source| SqlError::Io {
                path: path.clone(),
                source,
            })?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| SqlError::Input {
                path: path.clone(),
                message: e.to_string(),
            })?;
            rows = rows.saturating_add(u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0));
        }
        most = most.max(rows);
    }
    Ok(most)
}

/// The rank-bucket width of `statistic_buckets` for statistics of up to `rows`
/// samples: ⌈√(rows/2)⌉, so the first pass of an exact median counts about
/// √(2·rows) buckets per group and the second keeps at most two buckets' values.
pub fn bucket_width(rows: u64) -> u64 {
    ((rows as f64 / 2.0).sqrt().ceil() as u64).max(1)
}

/// SQL of `statistic_buckets(sample_id BIGINT, "<statistic>" INT, …)`, the
/// columns of `statistic_wide` with each value replaced by its rank bucket: the
/// sample's 0-based rank among all samples by value (then `sample_id`) divided by
/// `width`; null where the value is null. The buckets order the values and hold
/// `width` samples each, which is what `median_window`/`window_median` need for
/// an exact median in bounded memory. The ranks come from one sort, which spills.
pub fn statistic_buckets_sql(statistics: &[StatisticColumn], width: u64) -> String {
    let columns: String = statistics
        .iter()
        .map(|s| {
            format!(
                ",\n    max(CASE WHEN statistic = {} THEN bucket END) AS {}",
                quote_literal(&s.name()),
                quote_identifier(&s.name())
            )
        })
        .collect();
    format!(
        "SELECT sample_id{columns}\nFROM (\n    SELECT sample_id, statistic,\n        \
         CAST((row_number() OVER (PARTITION BY statistic ORDER BY value, sample_id) - 1) / {width} AS INT) AS bucket\n    \
         FROM statistic_values\n    WHERE value IS NOT NULL\n) AS ranked\nGROUP BY sample_id"
    )
}

/// SQL of `statistic_index(statistic_index INT, statistic VARCHAR)`: the 1-based
/// position of each statistic in `statistic_wide` and in the lists that
/// `{each statistic: …}` builds, for turning such lists back into rows.
pub fn statistic_index_sql(statistics: &[StatisticColumn]) -> String {
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

/// Where the next `{each statistic` of `sql` at or after byte `from` starts,
/// outside string literals, quoted identifiers and comments (there it is text).
fn next_construct(sql: &str, from: usize) -> Option<usize> {
    let bytes = sql.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        if let Some(end) = skip_literal_or_comment(sql, i) {
            i = end;
        } else if sql[i..].starts_with(EACH_STATISTIC) {
            return Some(i);
        } else {
            i += char_length(sql, i);
        }
    }
    None
}

/// When a string literal (`'…'`, `''` inside), a quoted identifier (`"…"`), a
/// `--` comment or a `/* */` comment starts at byte `i`: the byte after its end
/// (the end of `sql` when it is not closed).
fn skip_literal_or_comment(sql: &str, i: usize) -> Option<usize> {
    let rest = &sql[i..];
    let closing = |open: usize, close: &str| {
        rest[open..]
            .find(close)
            .map_or(sql.len(), |at| i + open + at + close.len())
    };
    if rest.starts_with("--") {
        Some(closing(2, "\n"))
    } else if rest.starts_with("/*") {
        Some(closing(2, "*/"))
    } else if let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
        // A doubled quote is an escaped one: the literal goes on past it.
        let mut end = i + 1;
        loop {
            match sql[end..].find(quote) {
                None => return Some(sql.len()),
                Some(at) if sql[end + at + 1..].starts_with(quote) => end += at + 2,
                Some(at) => return Some(end + at + 1),
            }
        }
    } else {
        None
    }
}

/// The byte of the `}` that closes the construct whose `{` is at byte `open`
/// (braces inside its string literals and comments do not count).
fn construct_end(sql: &str, open: usize) -> Option<usize> {
    let bytes = sql.as_bytes();
    let (mut depth, mut i) = (0usize, open);
    while i < bytes.len() {
        if let Some(end) = skip_literal_or_comment(sql, i) {
            i = end;
            continue;
        }
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += char_length(sql, i);
    }
    None
}

/// The length in bytes of the character at byte `i` (a boundary) of `sql`.
fn char_length(sql: &str, i: usize) -> usize {
    sql[i..].chars().next().map_or(1, char::len_utf8)
}

/// The separator and fragment of a construct's text between `{each statistic`
/// and its closing brace.
fn parse_construct(inner: &str) -> Result<(String, &str), String> {
    let (head, fragment) = inner
        .split_once(':')
        .ok_or_else(|| "expected `{each statistic: …}` (no `:` found)".to_string())?;
    let (head, fragment) = (head.trim(), fragment.trim());
    if head.is_empty() {
        Ok((", ".to_string(), fragment))
    } else if let Some(sep) = head.strip_prefix("separated by") {
        Ok((format!("\n{}\n", sep.trim()), fragment))
    } else {
        Err(format!(
            "expected `{{each statistic: …}}` or `{{each statistic separated by SEP: …}}`, found `{{each statistic {head}:`"
        ))
    }
}

/// `fragment` once per statistic, with its placeholders filled in, joined by `separator`.
fn repeat_fragment(fragment: &str, separator: &str, statistics: &[StatisticColumn]) -> String {
    statistics
        .iter()
        .enumerate()
        .map(|(i, s)| {
            fragment
                .replace("{column}", &quote_identifier(&s.name()))
                .replace("{name}", &quote_literal(&s.name()))
                .replace("{index}", &(i + 1).to_string())
        })
        .collect::<Vec<_>>()
        .join(separator)
}

/// Whether `sql` uses `{each statistic: …}` (outside literals and comments).
pub fn uses_each_statistic(sql: &str) -> bool {
    next_construct(sql, 0).is_some()
}

/// Expands every `{each statistic: FRAGMENT}` of `sql`: FRAGMENT once per statistic,
/// joined by `, ` — or by SEP for `{each statistic separated by SEP: FRAGMENT}` —
/// with `{column}` replaced by the statistic's quoted column of `statistic_wide`,
/// `{name}` by its name as a string literal and `{index}` by its 1-based position
/// (as in `statistic_index`). SQL has no way to loop over columns; this is the one
/// construct the analysis files add to it. Inside string literals, quoted
/// identifiers and comments it is left alone. The error names the line of what
/// is malformed.
pub fn expand_each_statistic(sql: &str, statistics: &[StatisticColumn]) -> Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    while let Some(start) = next_construct(sql, copied) {
        let line = sql[..start].matches('\n').count() + 1;
        let at_line = |message: String| format!("line {line}: {message}");
        out.push_str(&sql[copied..start]);
        let end =
            construct_end(sql, start).ok_or_else(|| at_line("`{each statistic` is never closed by `}`".into()))?;
        let (separator, fragment) = parse_construct(&sql[start + EACH_STATISTIC.len()..end]).map_err(at_line)?;
        out.push_str(&repeat_fragment(fragment, &separator, statistics));
        copied = end + 1;
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(names: &[&str]) -> Vec<StatisticColumn> {
        names
            .iter()
            .map(|c| StatisticColumn {
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
    fn literals_and_comments_are_not_templates() {
        let s = stats(&["a", "b"]);
        assert_eq!(
            expand_each_statistic("SELECT 'é→', Σ {each statistic: {index}}", &s).unwrap(),
            "SELECT 'é→', Σ 1, 2"
        );
        let sql = "SELECT '{not a placeholder}', '{each statistic: x}' AS \"{each statistic: y}\", \
                   /* {each statistic: z} */ 'it''s {each statistic: w}', {each statistic: '}' || {index}}";
        assert_eq!(
            expand_each_statistic(sql, &s).unwrap(),
            "SELECT '{not a placeholder}', '{each statistic: x}' AS \"{each statistic: y}\", \
             /* {each statistic: z} */ 'it''s {each statistic: w}', '}' || 1, '}' || 2"
        );
        assert!(!uses_each_statistic("SELECT '{each statistic: x}' -- {each statistic"));
        let err = expand_each_statistic("SELECT {each statistic: '}'", &s).unwrap_err();
        assert!(err.contains("never closed"), "{err}");
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
        let s = [StatisticColumn {
            table: "stats".into(),
            column: "it's \"odd\"".into(),
        }];
        let sql = statistic_values_sql(&s);
        assert!(sql.contains("'stats.it''s \"odd\"' AS statistic"), "{sql}");
        assert!(sql.contains("CAST(\"it's \"\"odd\"\"\" AS DOUBLE)"), "{sql}");
        assert!(statistic_values_sql(&[]).contains("WHERE 1 = 0"));
    }
}
