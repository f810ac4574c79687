//! The grt status table: one definition of its layout, shared by the runtime
//! (the writer) and the inspector (the reader).
//!
//! The runtime keeps its scheduler records (sched, allp, allm, allg, sudogs,
//! hchans, the heap's spans and allspans arrays) *inside* a shared memfd
//! named `grt-status`. The structs in [`records`] are those records: the
//! runtime allocates them in the mapping and works on them directly, so
//! publishing costs nothing and the inspector sees exactly what the runtime
//! sees, torn states included.
//!
//! The mapping starts with a [`header::Header`] that is self-describing: a
//! magic, an ABI version, the address the runtime mapped the table at, one
//! [`header::Section`] per record array, and a descriptor blob
//! ([`desc`]) that names every field of every record with its offset, size
//! and kind, plus the string lists (wait reasons, statuses, roles, bug
//! switches). A reader decodes by name, so a newer inspector reads an older
//! table and a missing field is `None`, not a misread.
//!
//! Architecture invariants:
//! - This crate knows nothing about scheduling; it has no code that mutates
//!   a record besides building the header and descriptors at start-up.
//! - Every pointer stored in a record is a virtual address in the runtime's
//!   address space. [`view`] translates and bounds-checks each one; nothing
//!   read from a table is trusted.
//! - Record structs are `#[repr(C)]` and consist of atomics only, so the
//!   runtime can share them between threads without `UnsafeCell`.

pub mod build;
pub mod consts;
pub mod desc;
pub mod header;
pub mod records;
pub mod schedtrace;
pub mod view;

pub use consts::*;
pub use header::{Header, Section, SectionKind, ABI_VERSION, MAGIC};
pub use records::*;
