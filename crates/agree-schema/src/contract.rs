//! Parsing `schemas/*.toml` into Arrow schemas and checking tables against them.

use std::sync::{Arc, OnceLock};

use arrow::{
    array::{Array, ArrayRef, RecordBatch, RecordBatchOptions},
    compute::{CastOptions, cast_with_options},
    datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit},
};
use serde::Deserialize;

include!(concat!(env!("OUT_DIR"), "/contracts.rs"));

/// Why a table does not follow its contract (or a contract file is malformed).
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The contract file itself is malformed.
    #[error("schemas/{file}.toml: {message}")]
    Malformed {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// No contract has this table name.
    #[error("no table contract named `{0}` in schemas/")]
    UnknownTable(String),
    /// One column given for a table cannot be laid out as the contract says.
    #[error("table `{table}`, column `{column}`: {problem}")]
    Column {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What is wrong (a null names its row).
        problem: String,
    },
    /// A table's columns differ from the contract.
    #[error("table `{table}` does not follow schemas/{table}.toml: {problems}")]
    Mismatch {
        /// The table.
        table: String,
        /// Every mismatch found.
        problems: String,
    },
}

/// One column of a table contract.
#[derive(Debug, Clone)]
pub struct ColumnContract {
    /// Column name.
    pub name: String,
    /// Arrow type.
    pub data_type: DataType,
    /// Whether nulls are allowed.
    pub nullable: bool,
    /// Unit of the values (empty when unitless).
    pub unit: String,
    /// One-line meaning.
    pub doc: String,
    /// Whether the column may be absent from a table that follows the contract.
    pub optional: bool,
}

impl ColumnContract {
    /// The Arrow field of this column.
    pub fn field(&self) -> Field {
        Field::new(&self.name, self.data_type.clone(), self.nullable)
    }
}

/// One table's contract: its name, file, and columns.
#[derive(Debug, Clone)]
pub struct TableContract {
    /// Table name, as registered in SQL sessions.
    pub name: String,
    /// Location relative to the experiment directory.
    pub file: String,
    /// What one row is.
    pub doc: String,
    /// Whether columns beyond the contract's are allowed.
    pub open: bool,
    /// The columns, in order.
    pub columns: Vec<ColumnContract>,
    schema: SchemaRef,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    table: String,
    file: String,
    doc: String,
    open: bool,
    column: Vec<RawColumn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: String,
    #[serde(rename = "type")]
    type_name: String,
    nullable: bool,
    unit: String,
    doc: String,
    #[serde(default)]
    optional: bool,
}

/// Parses a type name of the contract grammar (`int64`, `list<float32>`, …).
fn parse_type(name: &str) -> Option<DataType> {
    let name = name.trim();
    if let Some(inner) = name.strip_prefix("list<").and_then(|s| s.strip_suffix('>')) {
        return Some(DataType::List(Arc::new(Field::new_list_field(
            parse_type(inner)?,
            true,
        ))));
    }
    Some(match name {
        "bool" => DataType::Boolean,
        "int8" => DataType::Int8,
        "int16" => DataType::Int16,
        "int32" => DataType::Int32,
        "int64" => DataType::Int64,
        "uint8" => DataType::UInt8,
        "uint16" => DataType::UInt16,
        "uint32" => DataType::UInt32,
        "uint64" => DataType::UInt64,
        "float32" => DataType::Float32,
        "float64" => DataType::Float64,
        "utf8" => DataType::Utf8,
        "binary" => DataType::Binary,
        "timestamp_us" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => return None,
    })
}

impl TableContract {
    fn parse(stem: &str, text: &str) -> Result<Self, ContractError> {
        let malformed = |message: String| ContractError::Malformed {
            file: stem.to_string(),
            message,
        };
        let raw: RawTable = toml::from_str(text).map_err(|e| malformed(e.to_string()))?;
        if raw.table != stem {
            return Err(malformed(format!(
                "table name `{}` differs from the file name",
                raw.table
            )));
        }
        let mut columns = Vec::with_capacity(raw.column.len());
        for c in raw.column {
            let data_type = parse_type(&c.type_name)
                .ok_or_else(|| malformed(format!("column `{}`: unknown type `{}`", c.name, c.type_name)))?;
            if columns.iter().any(|x: &ColumnContract| x.name == c.name) {
                return Err(malformed(format!("column `{}` listed twice", c.name)));
            }
            columns.push(ColumnContract {
                name: c.name,
                data_type,
                nullable: c.nullable,
                unit: c.unit,
                doc: c.doc,
                optional: c.optional,
            });
        }
        let schema = Arc::new(Schema::new(
            columns.iter().map(ColumnContract::field).collect::<Vec<_>>(),
        ));
        Ok(TableContract {
            name: raw.table,
            file: raw.file,
            doc: raw.doc,
            open: raw.open,
            columns,
            schema,
        })
    }

    /// The full Arrow schema: every column of the contract, optional ones included.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The contract's column of this name.
    pub fn column(&self, name: &str) -> Option<&ColumnContract> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// A schema of the required columns plus the named optional or (for open tables)
    /// extra fields, in contract order followed by the extras in the order given.
    pub fn schema_with(&self, extra: &[Field]) -> Result<SchemaRef, ContractError> {
        let mut fields: Vec<Field> = self
            .columns
            .iter()
            .filter(|c| !c.optional || extra.iter().any(|f| f.name() == &c.name))
            // A requested column keeps its own type and nullability; `check` judges it.
            .map(|c| {
                extra
                    .iter()
                    .find(|f| f.name() == &c.name)
                    .cloned()
                    .unwrap_or_else(|| c.field())
            })
            .collect();
        for f in extra {
            if self.column(f.name()).is_none() {
                fields.push(f.clone());
            }
        }
        let schema = Arc::new(Schema::new(fields));
        self.check(&schema)?;
        Ok(schema)
    }

    /// Checks that `schema` follows the contract: every required column present with
    /// its type and nullability, optional columns typed right, no unknown columns in a
    /// closed table, and nulls only where the contract allows them.
    pub fn check(&self, schema: &Schema) -> Result<(), ContractError> {
        let mut problems = Vec::new();
        for c in &self.columns {
            match schema.field_with_name(&c.name) {
                Ok(f) => {
                    if !types_match(f.data_type(), &c.data_type) {
                        problems.push(format!(
                            "column `{}` is {} but the contract says {}",
                            c.name,
                            f.data_type(),
                            c.data_type
                        ));
                    }
                    if f.is_nullable() && !c.nullable {
                        problems.push(format!(
                            "column `{}` is nullable but the contract says not null",
                            c.name
                        ));
                    }
                }
                Err(_) if c.optional => {}
                Err(_) => problems.push(format!("required column `{}` is missing", c.name)),
            }
        }
        if !self.open {
            for f in schema.fields() {
                if self.column(f.name()).is_none() {
                    problems.push(format!("column `{}` is not in the contract", f.name()));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ContractError::Mismatch {
                table: self.name.clone(),
                problems: problems.join("; "),
            })
        }
    }
}

impl TableContract {
    /// The one by-name writer: lays `columns` (name, values) out as a batch of this
    /// table, whatever order they come in. Every required column must be given, an
    /// optional one may be, others only in an open table (after the contract's, in
    /// the order given). Values of another type are cast to the contract's (an
    /// overflowing or unparsable value is an error, never a null), and a null where
    /// the contract allows none is refused naming its row.
    pub fn batch<'a, I>(&self, columns: I) -> Result<RecordBatch, ContractError>
    where
        I: IntoIterator<Item = (&'a str, ArrayRef)>,
    {
        let mut given: Vec<(&str, ArrayRef)> = columns.into_iter().collect();
        let error = |column: &str, problem: String| ContractError::Column {
            table: self.name.clone(),
            column: column.to_string(),
            problem,
        };
        for (i, (name, _)) in given.iter().enumerate() {
            if given[..i].iter().any(|(n, _)| n == name) {
                return Err(error(name, "given twice".into()));
            }
        }
        let strict = CastOptions {
            safe: false,
            ..CastOptions::default()
        };
        let mut fields = Vec::with_capacity(given.len());
        let mut arrays = Vec::with_capacity(given.len());
        let mut take = |field: Field, values: ArrayRef, nullable: bool| -> Result<(), ContractError> {
            let values = if values.data_type() == field.data_type() {
                values
            } else {
                cast_with_options(&values, field.data_type(), &strict).map_err(|e| {
                    error(
                        field.name(),
                        format!("{} cannot be written as {}: {e}", values.data_type(), field.data_type()),
                    )
                })?
            };
            if !nullable && values.null_count() > 0 {
                let row = (0..values.len()).find(|&r| values.is_null(r)).unwrap_or(0);
                return Err(error(
                    field.name(),
                    format!("null in row {row}, but the contract allows none"),
                ));
            }
            fields.push(field);
            arrays.push(values);
            Ok(())
        };
        for c in &self.columns {
            match given.iter().position(|(n, _)| *n == c.name) {
                Some(i) => {
                    let (_, values) = given.remove(i);
                    take(c.field(), values, c.nullable)?;
                }
                None if c.optional => {}
                None => return Err(error(&c.name, "required column not given".into())),
            }
        }
        for (name, values) in given {
            if !self.open {
                return Err(error(name, format!("not a column of schemas/{}.toml", self.name)));
            }
            let field = Field::new(name, values.data_type().clone(), values.null_count() > 0);
            take(field, values, true)?;
        }
        let rows = arrays.first().map_or(0, |a| a.len());
        if let Some((f, a)) = fields.iter().zip(&arrays).find(|(_, a)| a.len() != rows) {
            return Err(error(
                f.name(),
                format!("{} rows, but the first column has {rows}", a.len()),
            ));
        }
        RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| ContractError::Mismatch {
            table: self.name.clone(),
            problems: e.to_string(),
        })
    }

    /// [`TableContract::batch`] over the columns of `batch`, by their names: a query's
    /// or another writer's rows laid out as this table.
    pub fn conform(&self, batch: &RecordBatch) -> Result<RecordBatch, ContractError> {
        let schema = batch.schema();
        self.batch(
            schema
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(f, c)| (f.name().as_str(), c.clone())),
        )
    }
}

/// Types are equal up to list-item field names and nullability (writers differ there).
fn types_match(actual: &DataType, contract: &DataType) -> bool {
    match (actual, contract) {
        (DataType::List(a), DataType::List(b)) | (DataType::LargeList(a), DataType::List(b)) => {
            types_match(a.data_type(), b.data_type())
        }
        (DataType::Timestamp(ua, _), DataType::Timestamp(ub, _)) => ua == ub,
        (DataType::Utf8View | DataType::LargeUtf8, DataType::Utf8) => true,
        (DataType::BinaryView | DataType::LargeBinary, DataType::Binary) => true,
        (a, b) => a == b,
    }
}

/// Every table contract in `schemas/`, parsed once.
pub fn contracts() -> &'static [TableContract] {
    static ALL: OnceLock<Vec<TableContract>> = OnceLock::new();
    ALL.get_or_init(|| {
        CONTRACT_FILES
            .iter()
            .map(|(stem, text)| {
                // The files are embedded at build time and covered by a unit test, so a
                // malformed contract is a bug in this repository, not bad user input.
                TableContract::parse(stem, text).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    })
}

/// The contract of the table with this name.
pub fn contract(name: &str) -> Result<&'static TableContract, ContractError> {
    contracts()
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| ContractError::UnknownTable(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_parses_and_is_documented() {
        for (stem, text) in CONTRACT_FILES {
            let t = TableContract::parse(stem, text).unwrap();
            assert!(!t.doc.is_empty(), "{stem}: table doc");
            for c in &t.columns {
                assert!(!c.doc.is_empty(), "{stem}.{}: column doc", c.name);
            }
        }
        // That every table the stages use has its contract: `table::tests`.
    }

    #[test]
    fn batches_are_laid_out_by_name_and_checked() {
        use arrow::array::{Float64Array, Int32Array, Int64Array};
        let spectra = contract("spectra").unwrap();
        let names: Vec<&str> = spectra.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names[0], "sample_id");
        let id: ArrayRef = Arc::new(Int64Array::from(vec![3, 4]));
        let columns = |id: ArrayRef| -> Vec<(&str, ArrayRef)> {
            // Given in reverse order of the contract, and `sample_id` as int32 or int64.
            spectra
                .columns
                .iter()
                .rev()
                .map(|c| {
                    let values: ArrayRef = if c.name == "sample_id" {
                        id.clone()
                    } else {
                        arrow::array::new_null_array(&c.data_type, 2)
                    };
                    (c.name.as_str(), values)
                })
                .collect()
        };
        // Every column but `sample_id` takes nulls, so the null arrays above are valid.
        assert!(spectra.columns.iter().all(|c| c.nullable || c.name == "sample_id"));
        let b = spectra.batch(columns(id.clone())).unwrap();
        assert_eq!(b.schema().field(0).name(), "sample_id");
        spectra.check(&b.schema()).unwrap();
        let narrow: ArrayRef = Arc::new(Int32Array::from(vec![3, 4]));
        assert_eq!(spectra.batch(columns(narrow)).unwrap().column(0), &id);
        let null_id: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None]));
        let msg = spectra.batch([("sample_id", null_id)]).unwrap_err().to_string();
        assert!(msg.contains("column `sample_id`: null in row 1"), "{msg}");
        let msg = spectra.batch([("sample_id", id.clone())]).unwrap_err().to_string();
        assert!(msg.contains("required column not given"), "{msg}");
        let bogus: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0]));
        let mut with_bogus = columns(id.clone());
        with_bogus.push(("bogus", bogus));
        let msg = spectra.batch(with_bogus).unwrap_err().to_string();
        assert!(msg.contains("`bogus`: not a column of schemas/spectra.toml"), "{msg}");
        let huge: ArrayRef = Arc::new(Float64Array::from(vec![1e300, 2.0]));
        let samples = contract("samples").unwrap();
        let msg = samples.batch([("sample_id", huge)]).unwrap_err().to_string();
        assert!(msg.contains("cannot be written as Int64"), "{msg}");
    }

    #[test]
    fn types_parse() {
        assert_eq!(parse_type("int64"), Some(DataType::Int64));
        assert!(matches!(parse_type("list<float32>"), Some(DataType::List(f)) if f.data_type() == &DataType::Float32));
        assert_eq!(parse_type("decimal"), None);
    }

    #[test]
    fn check_reports_each_problem() {
        let samples = contract("samples").unwrap();
        samples.check(&samples.schema()).unwrap();
        let wrong = Schema::new(vec![
            Field::new("sample_id", DataType::Int32, false),
            Field::new("bogus", DataType::Utf8, true),
        ]);
        let msg = samples.check(&wrong).unwrap_err().to_string();
        assert!(msg.contains("`sample_id` is Int32"), "{msg}");
        assert!(msg.contains("required column `key` is missing"), "{msg}");
        assert!(msg.contains("`bogus` is not in the contract"), "{msg}");
    }

    #[test]
    fn open_tables_take_extra_columns_and_optional_ones() {
        let attrs = contract("attributes").unwrap();
        let s = attrs
            .schema_with(&[
                Field::new("difficulty", DataType::Float64, false),
                Field::new("my_score", DataType::Float32, true),
            ])
            .unwrap();
        let names: Vec<_> = s.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["sample_id", "difficulty", "my_score"]);
        assert!(
            attrs
                .schema_with(&[Field::new("difficulty", DataType::Utf8, true)])
                .is_err()
        );
    }
}
