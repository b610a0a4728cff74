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

#[cfg(test)]
mod tests {
    use super::*;

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
