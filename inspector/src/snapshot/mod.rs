//! Snapshots: a status table decoded into typed, self-contained views of the
//! scheduler (sched, Ps, Ms, Gs, sudogs, channels, locks, the heap), with
//! every inconsistency recorded instead of trusted, and the wait-for report.
//!
//! Decoding is by field name: the descriptor blob in the table names every
//! field, each record kind's `FieldRef`s are resolved once per snapshot
//! (`FieldSets`) and then read per record, so a table written by an older or
//! newer runtime decodes as far as the fields agree; a missing field is
//! `None` (0 in a field kept as a plain number) and is listed in
//! [`Snapshot::missing_fields`].
//!
//! The views of the big sections (goroutines, sudogs, channels, spans) are
//! plain data: numbers, [`Link`]s and [`ListRef`]s, no heap allocation or
//! reference count per record. Names (status, wait reason, span state) are
//! looked up in [`Snapshot::names`], creation sites in [`Snapshot::sites`],
//! lists live in snapshot-wide arenas ([`Snapshot::waiting`],
//! [`Snapshot::queues`]) and a goroutine's rarely set fields in
//! [`Snapshot::g_extras`]; accessors on [`Snapshot`] put them together.
//!
//! Speed (100k goroutines: about 9 ms on two CPUs; see `decodebench`): the
//! decode is bound by the bytes it reads and writes, so views are small
//! (`GView` is 176 bytes) and the decoder reads fields through its own
//! inlined reader (`FieldAt`, `RecordBytes`); when a table's descriptors resolve to the
//! field sets compiled into this inspector (`PassSets`: a table of the same
//! runtime) the passes run with those as constants, so a field read is a
//! load at a fixed offset. It translates pointers in O(1) per section with
//! the same rule as `Image::ptr_index`, and caches what links to a G need
//! (goid, stack bounds, status) so that following a pointer never costs a
//! random read of the large G section. A large table is decoded on two
//! threads in two phases: the G pass over the two halves of the records,
//! each thread writing straight into its half of the one view vector; then
//! Ms, Ps and channels on the caller's thread and the heap on the helper's,
//! after which both take chunks of sudog records from the two ends of a
//! queue until none is left. Every part keeps its own damage list, merged
//! in the one-thread order, so the result never depends on the thread
//! count. State two threads write never shares a cache line (the helper's
//! decoder and sinks live on its own stack). [`Snapshot::decode_reusing`]
//! writes a new snapshot over the memory of one no longer needed, as a
//! watcher does frame after frame: fresh memory costs a page fault per 4 KB,
//! which is most of a fresh decode's time. `Taken::phases_us` says where
//! the time went.
//!
//! Invariants:
//! - [`Snapshot::decode`] never fails and never panics, whatever the image
//!   holds. Every pointer must land on the start of a copied record of the
//!   right section (`Image::ptr_index`'s rule); every chain walk is
//!   cycle-checked and bounded by the length of the section it walks; every
//!   index, count and enum value is range-checked. What does not fit is a
//!   [`Damage`] entry and the field shows as unknown ([`Link::Bad`], `None`,
//!   or a name like `"unknown (77)"`).
//! - A snapshot owns all its data: no reference into the image or the table.
//! - The big views need no drop (checked at compile time, with their
//!   sizes): a list or a name in one is a reference into the snapshot's own
//!   tables, which accessors bounds-check (a loaded file is untrusted too).
//! - Damage is classified: [`DamageKind::Corrupt`] is a value no runtime
//!   writes (a pointer outside its section, a status out of range, a loop);
//!   two values that disagree are [`DamageKind::Torn`] in a live capture (the
//!   target changed one while we copied: a torn live read) and
//!   [`DamageKind::Inconsistent`] in a frozen or saved one.
//! - Record views keep their record index (`index`): it is the stable
//!   identity within one snapshot (goids can be reused or damaged).
//!
//! Files: [`Snapshot::save`]/[`Snapshot::load`] write and read the decoded
//! snapshot as JSON (`"format": 2`, the views as above with their
//! tables; a reader refuses other formats with a
//! clear message). The raw table can be kept too, as a [`RawTable`] file
//! (`.grtraw`: the header and the used part of every section, see
//! [`RawTable`] for the byte format), so that a capture can be re-decoded by
//! newer code without the process.
//!
//! Layout: `views` (the typed views and the plain types they are made
//! of), `generic` ([`RecordTable`], the view of a record kind decoded by
//! descriptor), `access` ([`Snapshot`] and its accessors), `meta` (damage,
//! capture and decode options), `text` ([`Text`]), `file` (saved
//! snapshots), `raw` ([`RawTable`]) and `decode` (field sets, records and
//! pointers, the two-thread machinery, one file per pass).
//!
//! # How to add a record kind or a field
//!
//! A small, low-volume record kind (one record per P, per M, per size
//! class: mcache, mcentral) needs no inspector code. Declare the record in
//! `grt_table::records` and its section in `grt_table::header`'s
//! `sections!` list (one line); every record section that no typed pass
//! decodes (`decode::generic::TYPED`) is decoded by its descriptors into
//! [`Snapshot::records`], found with [`Snapshot::record_table`]: a column
//! per field (nested records flattened as `"lock.key"`, arrays as runs of
//! elements), pointers translated and checked like every link, at most
//! [`RecordTable::MAX_RECORDS`] records. `synth` writes its fields by name
//! (`Synth::set::<T>`), so a test fills them with no builder code. A
//! field added to such a record is a new column: nothing else changes.
//!
//! A record kind gets a typed view when a pass must interpret it (follow
//! chains, check invariants, name enum values) or when it is per-goroutine
//! (the generic view allocates per record). Then:
//! 1. the record and section in `grt_table` as above;
//! 2. a field set in `decode/fields.rs` (`fieldset!(XFields for "x" { .. })`),
//!    added to `FieldSets` and its `missing`;
//! 3. the view in `views.rs` (plain data if there are many records; add it
//!    to the `needs_drop` and size checks in `access.rs`);
//! 4. a pass, one file in `decode/` (`impl Decoder { fn xs(&mut self) }`),
//!    called from `decode/parallel.rs` on one thread or the other, and the
//!    kind added to `TYPED`;
//! 5. a builder in `synth.rs` if tests need consistent records of the kind.
//!
//! A field of a typed record: the field set (one entry: name and path), the
//! view (one field) and the pass (one read, `r.opt(xf.field)`). A pass over
//! a big section that reads the field through `PassSets` gets the compiled
//! offset for free (`COMPILED` derives from the record's descriptor). A
//! table without the field decodes it as `None` and lists it in
//! [`Snapshot::missing_fields`].

mod access;
mod decode;
mod file;
mod generic;
mod meta;
mod raw;
mod text;
mod views;

pub use access::{mono_now, Snapshot};
pub use decode::{stack_ranges, StackRange};
pub use file::FileError;
pub use generic::{Column, GenericRecord, RecordTable, Value};
pub use meta::{Capture, Damage, DamageKind, DecodeOptions, Taken};
pub use raw::RawTable;
pub use text::{section_name, Text};
pub use views::*;

/// Version of the JSON snapshot format written by [`Snapshot::save`].
pub const SNAPSHOT_FORMAT: u32 = 2;

/// Damage entries kept per snapshot; more are only counted.
pub const MAX_DAMAGE: usize = 1000;
