//! Field descriptors: how every record's fields are described in the table,
//! and the binary encoding of the descriptor blob.
//!
//! The blob is: a [`BlobHeader`], then `nrecords` [`RecordDesc`], then
//! `nfields` [`FieldDesc`], then `nenums` [`EnumDesc`], then the string
//! bytes that enum entries point into. Names are fixed 24-byte NUL-padded
//! arrays so that the reader needs no allocation to compare them.

use core::mem::size_of;

/// Length of a name in a descriptor.
pub const NAME_LEN: usize = 24;

/// The kind of a field: how to read one element of it.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    U8 = 1,
    U16 = 2,
    U32 = 3,
    U64 = 4,
    I32 = 5,
    I64 = 6,
    /// A virtual address of a record of the target kind (0 = nil).
    Ptr = 7,
    /// A nested record of the target kind, inline.
    Struct = 8,
    /// An address outside the table (a stack slot, a heap buffer, code).
    Addr = 9,
}

impl Kind {
    pub fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            1 => Kind::U8,
            2 => Kind::U16,
            3 => Kind::U32,
            4 => Kind::U64,
            5 => Kind::I32,
            6 => Kind::I64,
            7 => Kind::Ptr,
            8 => Kind::Struct,
            9 => Kind::Addr,
            _ => return None,
        })
    }
}

/// A field as the writer declares it (compile-time, in `records`).
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    /// Size of the whole field (all elements).
    pub size: usize,
    pub kind: Kind,
    /// Number of elements (1 for a scalar).
    pub count: usize,
    /// For `Ptr` and `Struct`: the target record's name.
    pub target: Option<&'static str>,
}

/// How a Rust type maps to a field kind. Implemented for the atomics used in
/// records, for arrays of them, for pointers to records and for nested
/// records.
pub trait FieldType {
    const KIND: Kind;
    const COUNT: usize = 1;
    const TARGET: Option<&'static str> = None;
}

macro_rules! scalar {
    ($t:ty, $k:ident) => {
        impl FieldType for $t {
            const KIND: Kind = Kind::$k;
        }
    };
}
scalar!(core::sync::atomic::AtomicU8, U8);
scalar!(core::sync::atomic::AtomicU16, U16);
scalar!(core::sync::atomic::AtomicU32, U32);
scalar!(core::sync::atomic::AtomicU64, U64);
scalar!(core::sync::atomic::AtomicI32, I32);
scalar!(core::sync::atomic::AtomicI64, I64);
scalar!(u32, U32);
scalar!(u64, U64);

impl<T: Record> FieldType for core::sync::atomic::AtomicPtr<T> {
    const KIND: Kind = Kind::Ptr;
    const TARGET: Option<&'static str> = Some(T::NAME);
}

impl<T: FieldType, const N: usize> FieldType for [T; N] {
    const KIND: Kind = T::KIND;
    const COUNT: usize = N * T::COUNT;
    const TARGET: Option<&'static str> = T::TARGET;
}

/// A record type that lives in the table.
pub trait Record: Sized {
    /// The name a reader looks the record up by.
    const NAME: &'static str;
    /// Every field, in declaration order.
    const FIELDS: &'static [Field];
}

/// An address outside the table: a stack slot, a heap buffer or code.
/// Stored as a `u64` so the reader does not try to translate it.
#[repr(transparent)]
#[derive(Default, Debug)]
pub struct Addr(pub core::sync::atomic::AtomicU64);

impl FieldType for Addr {
    const KIND: Kind = Kind::Addr;
}

impl Addr {
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(core::sync::atomic::Ordering::Relaxed)
    }
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, core::sync::atomic::Ordering::Relaxed)
    }
}

/// Declares table records: `#[repr(C)]` structs plus their [`Record`]
/// descriptors, computed with `offset_of!` so they cannot drift.
#[macro_export]
macro_rules! records {
    ($(
        $(#[$m:meta])*
        pub struct $name:ident as $tname:literal {
            $( $(#[$fm:meta])* pub $f:ident : $t:ty ),* $(,)?
        }
    )*) => {$(
        $(#[$m])*
        #[repr(C)]
        pub struct $name { $( $(#[$fm])* pub $f: $t ),* }

        impl $crate::desc::Record for $name {
            const NAME: &'static str = $tname;
            const FIELDS: &'static [$crate::desc::Field] = &[$(
                $crate::desc::Field {
                    name: stringify!($f),
                    offset: ::core::mem::offset_of!($name, $f),
                    size: ::core::mem::size_of::<$t>(),
                    kind: <$t as $crate::desc::FieldType>::KIND,
                    count: <$t as $crate::desc::FieldType>::COUNT,
                    target: <$t as $crate::desc::FieldType>::TARGET,
                }
            ),*];
        }

        impl $crate::desc::FieldType for $name {
            const KIND: $crate::desc::Kind = $crate::desc::Kind::Struct;
            const TARGET: Option<&'static str> = Some($tname);
        }
    )*};
}

/// Blob header.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BlobHeader {
    pub nrecords: u32,
    pub nfields: u32,
    pub nenums: u32,
    pub strings_len: u32,
}

/// One record type.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RecordDesc {
    pub name: [u8; NAME_LEN],
    pub size: u32,
    pub first_field: u32,
    pub nfields: u32,
    pub _pad: u32,
}

/// One field of a record.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FieldDesc {
    pub name: [u8; NAME_LEN],
    pub offset: u32,
    pub size: u32,
    pub count: u32,
    pub kind: u8,
    pub _pad: u8,
    /// Index of the target RecordDesc for Ptr and Struct, else `u16::MAX`.
    pub target: u16,
}

/// A named list of strings (wait reasons, statuses, ...). Entry `i` is the
/// NUL-terminated string at `strings[offsets[first + i]]`; offsets are a u32
/// array stored at the start of the string area.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EnumDesc {
    pub name: [u8; NAME_LEN],
    /// Index of the first entry in the offsets array.
    pub first: u32,
    pub count: u32,
}

/// Encodes a name into a fixed array (truncating at `NAME_LEN - 1` bytes).
pub fn encode_name(s: &str) -> [u8; NAME_LEN] {
    let mut out = [0u8; NAME_LEN];
    let b = s.as_bytes();
    let n = b.len().min(NAME_LEN - 1);
    out[..n].copy_from_slice(&b[..n]);
    out
}

/// Decodes a fixed name (up to the first NUL). Invalid UTF-8 gives `None`.
pub fn decode_name(n: &[u8; NAME_LEN]) -> Option<&str> {
    let end = n.iter().position(|&c| c == 0).unwrap_or(NAME_LEN);
    core::str::from_utf8(&n[..end]).ok()
}

/// A record type as passed to [`encode_blob`].
pub struct RecordInfo {
    pub name: &'static str,
    pub size: usize,
    pub fields: &'static [Field],
}

impl RecordInfo {
    pub fn of<T: Record>() -> RecordInfo {
        RecordInfo { name: T::NAME, size: size_of::<T>(), fields: T::FIELDS }
    }
}

/// Builds the descriptor blob for the given records and string lists.
/// Panics if a field names a target record that is not in the list: that is
/// a bug in the record declarations, found the first time any program runs.
pub fn encode_blob(records: &[RecordInfo], enums: &[(&str, &[&str])]) -> Vec<u8> {
    let nfields: usize = records.iter().map(|r| r.fields.len()).sum();
    let mut rdescs = Vec::with_capacity(records.len());
    let mut fdescs = Vec::with_capacity(nfields);
    for r in records {
        rdescs.push(RecordDesc {
            name: encode_name(r.name),
            size: r.size as u32,
            first_field: fdescs.len() as u32,
            nfields: r.fields.len() as u32,
            _pad: 0,
        });
        for f in r.fields {
            let target = match f.target {
                None => u16::MAX,
                Some(t) => records
                    .iter()
                    .position(|r| r.name == t)
                    .unwrap_or_else(|| panic!("table record {}.{} names unknown record {}", r.name, f.name, t))
                    as u16,
            };
            fdescs.push(FieldDesc {
                name: encode_name(f.name),
                offset: f.offset as u32,
                size: f.size as u32,
                count: f.count as u32,
                kind: f.kind as u8,
                _pad: 0,
                target,
            });
        }
    }
    let mut edescs = Vec::new();
    let mut offsets: Vec<u32> = Vec::new();
    let mut strbytes: Vec<u8> = Vec::new();
    for (name, list) in enums {
        edescs.push(EnumDesc { name: encode_name(name), first: offsets.len() as u32, count: list.len() as u32 });
        for s in *list {
            offsets.push(strbytes.len() as u32);
            strbytes.extend_from_slice(s.as_bytes());
            strbytes.push(0);
        }
    }
    let mut strings = Vec::with_capacity(offsets.len() * 4 + strbytes.len());
    let base = (offsets.len() * 4) as u32;
    for o in &offsets {
        strings.extend_from_slice(&(o + base).to_ne_bytes());
    }
    strings.extend_from_slice(&strbytes);

    let hdr = BlobHeader {
        nrecords: rdescs.len() as u32,
        nfields: fdescs.len() as u32,
        nenums: edescs.len() as u32,
        strings_len: strings.len() as u32,
    };
    let mut out = Vec::new();
    push_pod(&mut out, &hdr);
    for d in &rdescs {
        push_pod(&mut out, d);
    }
    for d in &fdescs {
        push_pod(&mut out, d);
    }
    for d in &edescs {
        push_pod(&mut out, d);
    }
    out.extend_from_slice(&strings);
    out
}

fn push_pod<T: Copy>(out: &mut Vec<u8>, v: &T) {
    // SAFETY: T is one of the descriptor structs above: repr(C), Copy, with
    // explicit padding fields, so every byte of it is initialized.
    let bytes = unsafe { core::slice::from_raw_parts(v as *const T as *const u8, size_of::<T>()) };
    out.extend_from_slice(bytes);
}

/// A stable hash (FNV-1a) of a byte string, used for the layout hash.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
