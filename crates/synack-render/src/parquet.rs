//! `--format parquet -o FILE` (cargo feature `parquet`): the flat record's
//! columns ([`crate::columns`], the same as CSV's) with their types: the
//! time as timestamp[ns] (UTC), durations as integer µs, counts and option
//! values as int64, flags as boolean, the rest as UTF-8 strings; every
//! column nullable. Row groups of [`ROWS_PER_GROUP`] records, Snappy
//! compressed; memory is one row group's values. The `parquet` crate's
//! low-level writer is used directly (no Arrow: half the build).

use crate::columns::{COLUMNS, Kind, Value, row};
use crate::{Run, Sink};
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DataType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::parser::parse_message_type;
use std::io::{self, Write};
use std::sync::Arc;
use synack_core::Handshake;

pub const ROWS_PER_GROUP: usize = 16_384;

fn schema() -> String {
    let mut s = String::from("message handshake {\n");
    for (name, kind) in COLUMNS {
        let field = match kind {
            Kind::Timestamp => format!("optional int64 {name} (TIMESTAMP(NANOS,true));"),
            Kind::Micros | Kind::Int => format!("optional int64 {name};"),
            Kind::Bool => format!("optional boolean {name};"),
            Kind::Text => format!("optional binary {name} (STRING);"),
        };
        s.push_str(&field);
        s.push('\n');
    }
    s.push('}');
    s
}

fn io_error(e: parquet::errors::ParquetError) -> io::Error {
    match e {
        parquet::errors::ParquetError::External(inner) => io::Error::other(inner),
        other => io::Error::other(other.to_string()),
    }
}

/// Writes one column's values (`defs`: 1 where a row has one, 0 for null).
fn write_column<T: DataType>(
    column: &mut SerializedColumnWriter<'_>,
    values: &[T::T],
    defs: &[i16],
) -> io::Result<()> {
    column
        .typed::<T>()
        .write_batch(values, Some(defs), None)
        .map(|_| ())
        .map_err(io_error)
}

/// Buffers a row group column by column and writes it when full.
pub struct ParquetSink<W: Write + Send> {
    writer: Option<SerializedFileWriter<W>>,
    columns: Vec<Vec<Value>>,
}

impl<W: Write + Send> ParquetSink<W> {
    pub fn new(out: W) -> io::Result<Self> {
        let schema = Arc::new(parse_message_type(&schema()).map_err(io_error)?);
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_created_by("synack".into())
                .build(),
        );
        let writer = SerializedFileWriter::new(out, schema, props).map_err(io_error)?;
        Ok(ParquetSink {
            writer: Some(writer),
            columns: vec![Vec::with_capacity(ROWS_PER_GROUP); COLUMNS.len()],
        })
    }

    fn flush_group(&mut self) -> io::Result<()> {
        if self.columns[0].is_empty() {
            return Ok(());
        }
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| io::Error::other("the Parquet file is closed"))?;
        let mut group = writer.next_row_group().map_err(io_error)?;
        for (i, (_, kind)) in COLUMNS.iter().enumerate() {
            let values = std::mem::take(&mut self.columns[i]);
            let defs: Vec<i16> = values
                .iter()
                .map(|v| i16::from(*v != Value::Null))
                .collect();
            let mut column = group
                .next_column()
                .map_err(io_error)?
                .ok_or_else(|| io::Error::other("the schema has fewer columns than the table"))?;
            match kind {
                Kind::Timestamp | Kind::Int | Kind::Micros => {
                    let ints: Vec<i64> = values
                        .iter()
                        .filter_map(|v| match v {
                            Value::Int(n) if *kind == Kind::Micros => Some(n.div_euclid(1000)),
                            Value::Int(n) => Some(*n),
                            _ => None,
                        })
                        .collect();
                    write_column::<Int64Type>(&mut column, &ints, &defs)?;
                }
                Kind::Bool => {
                    let flags: Vec<bool> = values
                        .iter()
                        .filter_map(|v| match v {
                            Value::Bool(b) => Some(*b),
                            _ => None,
                        })
                        .collect();
                    write_column::<BoolType>(&mut column, &flags, &defs)?;
                }
                Kind::Text => {
                    let texts: Vec<ByteArray> = values
                        .into_iter()
                        .filter_map(|v| match v {
                            Value::Text(t) => Some(ByteArray::from(t.into_bytes())),
                            _ => None,
                        })
                        .collect();
                    write_column::<ByteArrayType>(&mut column, &texts, &defs)?;
                }
            }
            column.close().map_err(io_error)?;
            self.columns[i] = Vec::with_capacity(ROWS_PER_GROUP);
        }
        group.close().map_err(io_error)?;
        Ok(())
    }
}

impl<W: Write + Send> Sink for ParquetSink<W> {
    fn record(&mut self, h: &Handshake) -> io::Result<()> {
        for (column, value) in self.columns.iter_mut().zip(row(h)) {
            column.push(value);
        }
        if self.columns[0].len() >= ROWS_PER_GROUP {
            self.flush_group()?;
        }
        Ok(())
    }

    fn finish(&mut self, _run: &Run<'_>) -> io::Result<()> {
        self.flush_group()?;
        if let Some(writer) = self.writer.take() {
            writer.close().map_err(io_error)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_has_a_typed_field_per_column() {
        let s = parse_message_type(&schema()).unwrap();
        assert_eq!(s.get_fields().len(), COLUMNS.len());
        assert!(schema().contains("optional int64 ts (TIMESTAMP(NANOS,true));"));
        assert!(schema().contains("optional int64 rtt_total_us;"));
        assert!(schema().contains("optional binary outcome (STRING);"));
    }
}
