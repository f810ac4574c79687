//! The table header: magic, ABI version, where the runtime mapped the
//! table, and one section per record array.
//!
//! The header is the only part of the table whose layout is fixed by the
//! ABI version; everything else is described by the descriptor blob that the
//! header points to.

use crate::desc::Record;
use crate::records;
use core::mem::size_of;
use core::sync::atomic::{AtomicU32, AtomicU64};

/// First eight bytes of every table.
pub const MAGIC: [u8; 8] = *b"GRTSTAT\0";

/// Version of the header and descriptor-blob formats. Record layouts may
/// change without a bump (they are described by the blob); this changes only
/// when a reader of the previous version would misread the header itself.
pub const ABI_VERSION: u32 = 1;

/// The memfd name a reader looks for in `/proc/<pid>/fd`.
pub const MEMFD_NAME: &str = "grt-status";

/// Maximum number of sections a header describes.
pub const MAX_SECTIONS: usize = 16;

/// How many records a section holds, as a class the writer turns into a
/// number (the runtime from its settings, `TableBuilder` from its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Extent {
    /// The descriptor blob: exactly its length in bytes.
    Blob,
    /// One record.
    One,
    /// One per P that GOMAXPROCS may ask for.
    PerP,
    /// One per M that the thread limit allows.
    PerM,
    /// One per goroutine the table may hold (`GRT_MAXG`); also for records
    /// there are about as many of as goroutines (sudogs, channels, spans).
    PerG,
    /// A fixed number of records (of bytes, for a byte section).
    Fixed(u64),
}

/// What a section stores: its record (`None` for bytes), the size of one
/// record, and its extent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SectionLayout {
    pub record: Option<&'static str>,
    pub stride: u32,
    pub extent: Extent,
}

impl SectionLayout {
    /// A section of `T` records.
    pub const fn records<T: Record>(extent: Extent) -> SectionLayout {
        SectionLayout { record: Some(T::NAME), stride: size_of::<T>() as u32, extent }
    }

    /// A section of bytes.
    pub const fn bytes(extent: Extent) -> SectionLayout {
        SectionLayout { record: None, stride: 1, extent }
    }
}

/// Declares the sections: the `SectionKind` enum, `ALL` in table order,
/// and each kind's layout, from one line per section.
macro_rules! sections {
    ($( $(#[$doc:meta])* $kind:ident = $v:literal => $layout:expr, )*) => {
        /// What a section holds.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum SectionKind {
            $( $(#[$doc])* $kind = $v, )*
        }

        impl SectionKind {
            /// Every kind, in the order the runtime lays the sections out.
            pub const ALL: &'static [SectionKind] = &[$(SectionKind::$kind),*];

            /// What the section stores.
            pub const fn layout(self) -> SectionLayout {
                match self {
                    $( SectionKind::$kind => $layout, )*
                }
            }
        }
    };
}

// The sections, in table order. Adding one is one line here: the writer
// (the runtime's `status::create`) and `TableBuilder` lay out whatever this
// list says, and readers find sections by kind, never by position. A kind's
// number is part of the ABI: never reuse one.
sections! {
    /// The descriptor blob (bytes).
    Desc = 1 => SectionLayout::bytes(Extent::Blob),
    /// One `Sched` record.
    Sched = 2 => SectionLayout::records::<records::Sched>(Extent::One),
    /// One `MHeap` record.
    MHeap = 3 => SectionLayout::records::<records::MHeap>(Extent::One),
    /// allp: `P` records.
    P = 4 => SectionLayout::records::<records::P>(Extent::PerP),
    /// allm: `M` records.
    M = 5 => SectionLayout::records::<records::M>(Extent::PerM),
    /// allg: `G` records.
    G = 6 => SectionLayout::records::<records::G>(Extent::PerG),
    /// `Sudog` records.
    Sudog = 7 => SectionLayout::records::<records::Sudog>(Extent::PerG),
    /// `Hchan` records.
    Hchan = 8 => SectionLayout::records::<records::Hchan>(Extent::PerG),
    /// `MSpan` records.
    Span = 9 => SectionLayout::records::<records::MSpan>(Extent::PerG),
    /// `Site` records: interned creation sites.
    Site = 10 => SectionLayout::records::<records::Site>(Extent::Fixed(1 << 16)),
    /// Bytes: file names of sites, type names of channels.
    Strings = 11 => SectionLayout::bytes(Extent::Fixed(8 << 20)),
    /// Bytes: arrays the runtime allocates inside the table (allspans).
    Arena = 12 => SectionLayout::bytes(Extent::Fixed(128 << 20)),
}

const _: () = assert!(SectionKind::ALL.len() <= MAX_SECTIONS);

impl SectionKind {
    pub fn from_u32(v: u32) -> Option<SectionKind> {
        SectionKind::ALL.iter().copied().find(|k| *k as u32 == v)
    }

    /// The record name stored in the section, or `None` for byte sections.
    pub fn record_name(self) -> Option<&'static str> {
        self.layout().record
    }

    /// Size of one record (1 for byte sections).
    pub fn stride(self) -> u64 {
        self.layout().stride as u64
    }
}

/// One array in the table.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Section {
    /// A `SectionKind` value (0 = unused slot).
    pub kind: u32,
    /// Size of one record (1 for byte sections).
    pub stride: u32,
    /// Offset of the first record from the start of the table.
    pub offset: u64,
    /// Capacity in records (bytes for byte sections).
    pub capacity: u64,
    /// Records (bytes) in use: everything at and past `len` is untouched.
    /// Grows only; the runtime publishes it with a release store after the
    /// record is initialized.
    pub len: AtomicU64,
}

/// Header flag: the runtime was built with debug assertions (lock-rank checks on).
pub const FLAG_DEBUG: u64 = 1 << 0;
/// Header flag: stack guards are `MADV_GUARD_INSTALL` markers (else PROT_NONE pages).
pub const FLAG_GUARD_MADVISE: u64 = 1 << 1;

/// The header at offset 0 of the table.
#[repr(C)]
#[derive(Debug)]
pub struct Header {
    pub magic: [u8; 8],
    pub abi_version: u32,
    pub header_size: u32,
    /// FNV-1a of the descriptor blob: equal hashes mean equal layouts.
    pub layout_hash: u64,
    pub pid: u32,
    pub nsections: u32,
    /// The address the runtime mapped the table at: record pointers are
    /// `base + offset`.
    pub base: u64,
    /// Size of the table (the memfd's size).
    pub size: u64,
    /// Wall-clock time of runtime start, ns since the Unix epoch.
    pub start_unix_ns: u64,
    /// CLOCK_MONOTONIC at runtime start (the clock all `*_ns` fields use).
    pub start_mono_ns: u64,
    /// Bug switches in force (bit i = `bugs::NAMES[i]`).
    pub bugs: u64,
    pub flags: u64,
    /// Goroutine stack size in bytes (the usable range; the guard is extra).
    pub stack_size: u64,
    /// Set to 1 (release) once every section is initialized.
    pub ready: AtomicU32,
    /// Set to 1 when the process starts exiting (main returned or fatal error).
    pub exiting: AtomicU32,
    /// Exit status when `exiting` is set.
    pub exit_code: AtomicU32,
    /// The pid of the inspector whose probes are armed in this process, 0
    /// if none. Written by the inspector (never by the runtime) when it
    /// arms its first probe, cleared when it detaches: an inspector that
    /// finds a probe site holding `int3` while it is the only tracer can
    /// tell one a killed inspector left behind (its owner is gone) from
    /// one somebody else wrote (no owner).
    pub probe_owner: AtomicU32,
    /// Incremented on every GC cycle (also in sched.numgc); handy for watchers.
    pub heartbeat: AtomicU64,
    pub sections: [Section; MAX_SECTIONS],
}
