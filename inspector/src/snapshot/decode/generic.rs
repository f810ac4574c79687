//! The generic pass: every record section without a typed pass (`TYPED`)
//! decoded by the table's own descriptors into a [`RecordTable`]. Columns
//! come from the record's layout (nested records flattened, depth-bounded:
//! a descriptor may nest a record in itself), values are read with the
//! same reader as the typed passes, and pointers are translated and
//! checked like every link. Bounded by `RecordTable::MAX_RECORDS` and
//! `MAX_VALUES`, so a section that claims millions of records costs little.

use super::fields::{FieldAt, RecordBytes};
use super::Decoder;
use crate::snapshot::{section_name, RecordTable, Text};
use crate::snapshot::{Column, GenericRecord, Value};
use grt_table::desc::Kind;
use grt_table::header::SectionKind;
use grt_table::view::Layout;

/// The sections a typed pass decodes into a typed view; every other record
/// section is decoded by the generic pass.
pub(super) const TYPED: &[SectionKind] = &[
    SectionKind::Sched,
    SectionKind::MHeap,
    SectionKind::P,
    SectionKind::M,
    SectionKind::G,
    SectionKind::Sudog,
    SectionKind::Hchan,
    SectionKind::Span,
    SectionKind::Site,
];

/// Nested records followed at most this deep.
const MAX_DEPTH: usize = 4;

/// A column as the pass reads it.
struct ColumnRead {
    at: FieldAt,
    kind: Kind,
    /// For a pointer: the section of its target record, if it has one.
    target: Option<SectionKind>,
}

/// Flattens record `rec`'s fields at byte offset `base` into columns
/// named `prefix` + field name, taking at most `budget` elements in all;
/// returns the elements left out.
fn flatten(
    l: &Layout,
    rec: usize,
    prefix: &str,
    base: usize,
    depth: usize,
    budget: &mut usize,
    out: &mut Vec<(Column, ColumnRead)>,
) -> u64 {
    let Some(r) = l.records.get(rec) else { return 0 };
    let mut dropped = 0u64;
    for f in &r.fields {
        let name = format!("{prefix}{}", f.name);
        let fr = f.field;
        let Some(off) = base.checked_add(fr.offset) else { continue };
        if fr.kind == Kind::Struct {
            let Some(t) = fr.target else { continue };
            if depth >= MAX_DEPTH {
                continue;
            }
            // A hostile descriptor may claim billions of empty records:
            // stop with the budget, and at the budget's count in any case.
            for i in 0..fr.count.min(RecordTable::MAX_VALUES) {
                if *budget == 0 {
                    break;
                }
                let p = if fr.count == 1 { format!("{name}.") } else { format!("{name}[{i}].") };
                let at = i.checked_mul(fr.elem_size).and_then(|d| off.checked_add(d));
                match at {
                    Some(at) => dropped += flatten(l, t, &p, at, depth + 1, budget, out),
                    None => break,
                }
            }
            continue;
        }
        let Some(at) = FieldAt::new(fr.kind, off, fr.elem_size, fr.count) else { continue };
        let take = fr.count.min(*budget);
        dropped += (fr.count - take) as u64;
        if take == 0 {
            continue;
        }
        *budget -= take;
        let target = match fr.kind {
            Kind::Ptr => fr
                .target
                .and_then(|t| l.records.get(t))
                .and_then(|tr| SectionKind::ALL.iter().copied().find(|k| k.record_name() == Some(tr.name.as_str()))),
            _ => None,
        };
        let start = out.last().map_or(0, |(c, _)| c.start + c.count);
        let col = Column { name: Text::from(name), count: take as u32, start };
        out.push((col, ColumnRead { at: FieldAt { count: take, ..at }, kind: fr.kind, target }));
    }
    dropped
}

impl<'a> Decoder<'a> {
    /// A record table for every record section of the table that no typed
    /// pass decodes (none of `typed`), in section order.
    pub(super) fn generic_records(&mut self, typed: &[SectionKind]) -> Vec<RecordTable> {
        let kinds: Vec<SectionKind> =
            self.img.segments.iter().map(|s| s.info.kind).filter(|k| !typed.contains(k)).collect();
        kinds.into_iter().filter_map(|k| self.record_table(k)).collect()
    }

    /// The records of section `kind` decoded by its descriptor (`None` for
    /// a byte section, or a record the layout does not describe).
    pub(super) fn record_table(&mut self, kind: SectionKind) -> Option<RecordTable> {
        let name = kind.record_name()?;
        let l = &self.img.layout;
        let (rec, _) = l.record(name)?;
        let mut cols = Vec::new();
        let mut budget = RecordTable::MAX_VALUES;
        let values_dropped = flatten(l, rec, "", 0, 0, &mut budget, &mut cols);
        let n = self.section_len(kind);
        let nvalues = RecordTable::MAX_VALUES - budget;
        let fit = (RecordTable::MAX_TABLE_VALUES / nvalues.max(1)).min(RecordTable::MAX_RECORDS);
        let take = n.min(fit as u64);
        let mut rows = Vec::with_capacity(take as usize);
        for i in 0..take {
            let Some(r) = self.record(kind, i) else { break };
            let mut values = Vec::with_capacity(nvalues);
            for (c, read) in &cols {
                for k in 0..read.at.count {
                    let place = || match read.at.count {
                        1 => format!("{} {i}.{}", section_name(kind), c.name),
                        _ => format!("{} {i}.{}[{k}]", section_name(kind), c.name),
                    };
                    values.push(self.generic_value(r, read, k, place));
                }
            }
            rows.push(GenericRecord { index: i, values });
        }
        Some(RecordTable {
            record: Text::name(name),
            columns: cols.into_iter().map(|(c, _)| c).collect(),
            rows,
            records_dropped: n - take,
            values_dropped,
        })
    }

    /// Element `k` of a column of record `r`.
    fn generic_value(
        &mut self,
        r: RecordBytes<'a>,
        read: &ColumnRead,
        k: usize,
        place: impl FnOnce() -> String,
    ) -> Value {
        let Some(v) = r.get_at(read.at, k) else { return Value::Unknown };
        match (read.kind, read.target) {
            (Kind::I32 | Kind::I64, _) => Value::Signed(v as i64),
            (Kind::Ptr, Some(t)) => Value::Link(self.link(t, Some(v), place)),
            (Kind::Ptr | Kind::Addr, _) => Value::Addr(v),
            _ => Value::Unsigned(v),
        }
    }
}
