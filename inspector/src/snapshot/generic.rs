//! Generic views: the records of a small, low-volume kind that has no
//! typed view, decoded by the table's own descriptors into a
//! [`RecordTable`] (one column per field, nested records flattened, arrays
//! as runs of values). A record kind the runtime adds shows up here with no
//! inspector code, and a field added to such a record shows up as a column;
//! see the recipe in the [`snapshot`](super) module docs.

use super::{Link, Text};
use serde::{Deserialize, Serialize};

/// One element of a field, as the table's descriptor says to read it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// An unsigned field (`U8` .. `U64`).
    Unsigned(u64),
    /// A signed field (`I32`, `I64`), sign-extended.
    Signed(i64),
    /// An address outside the table (a stack slot, a heap buffer, code), or
    /// a pointer to a record kind with no section of its own.
    Addr(u64),
    /// A pointer to a record of the table, translated like every link (a
    /// pointer that does not translate is [`Link::Bad`] and a damage entry).
    Link(Link),
    /// The record is too short for the element (a damaged layout).
    Unknown,
}

impl Value {
    /// The element as a number: the value of a number, the address of an
    /// address, the record index of a link; `None` for nil, bad and
    /// unknown.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Unsigned(v) | Value::Addr(v) => Some(v),
            Value::Signed(v) => Some(v as u64),
            Value::Link(l) => l.index(),
            Value::Unknown => None,
        }
    }
}

/// A column of a [`RecordTable`]: one field ("nflush"), or one field of a
/// nested record ("lock.key").
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: Text,
    /// Elements: 1 for a scalar, N for an array field.
    pub count: u32,
    /// Where the column's first element is in a row's `values`.
    pub start: u32,
}

/// One record of a [`RecordTable`]: its record index and every column's
/// elements, in column order.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct GenericRecord {
    pub index: u64,
    pub values: Vec<Value>,
}

/// The records of one section, decoded by descriptor.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct RecordTable {
    /// The record's name in the table ("p", "mcache").
    pub record: Text,
    pub columns: Vec<Column>,
    /// The records in use, in record order (at most
    /// [`RecordTable::MAX_RECORDS`], and at most `MAX_TABLE_VALUES`
    /// elements in all).
    pub rows: Vec<GenericRecord>,
    /// Records in use past those limits, counted only; and the elements
    /// per record past `MAX_VALUES`, likewise.
    pub records_dropped: u64,
    pub values_dropped: u64,
}

impl RecordTable {
    /// Records decoded per section: generic views are for small kinds (a
    /// record per P, per M, per size class), not for per-goroutine ones.
    pub const MAX_RECORDS: usize = 4096;
    /// Elements decoded per record (arrays included).
    pub const MAX_VALUES: usize = 4096;
    /// Elements decoded per table: records past it are counted only (a
    /// hostile table's records at `MAX_VALUES` each would otherwise take
    /// hundreds of MB).
    pub const MAX_TABLE_VALUES: usize = 1 << 20;

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The elements of field `name` in `row` (empty for a row that does not
    /// fit the columns, as in a damaged snapshot file).
    pub fn values<'a>(&self, row: &'a GenericRecord, name: &str) -> Option<&'a [Value]> {
        let c = self.column(name)?;
        Some(Self::of(c, row))
    }

    /// The first element of field `name` in `row`.
    pub fn value(&self, row: &GenericRecord, name: &str) -> Option<Value> {
        self.values(row, name)?.first().copied()
    }

    /// The record with this index.
    pub fn row(&self, index: u64) -> Option<&GenericRecord> {
        self.rows.binary_search_by_key(&index, |r| r.index).ok().map(|i| &self.rows[i])
    }

    /// Every field of `row` with its elements, in column order.
    pub fn fields<'a>(&'a self, row: &'a GenericRecord) -> impl Iterator<Item = (&'a str, &'a [Value])> + 'a {
        self.columns.iter().map(move |c| (c.name.as_str(), Self::of(c, row)))
    }

    fn of<'a>(c: &Column, row: &'a GenericRecord) -> &'a [Value] {
        let start = c.start as usize;
        row.values.get(start..start.saturating_add(c.count as usize)).unwrap_or(&[])
    }
}
