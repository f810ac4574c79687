//! Reading a table: header validation, descriptor decoding, and
//! bounds-checked access to records by field name.
//!
//! Nothing read here is trusted. An [`Image`] is built from a reader
//! callback (a live mapping, a saved file, a test buffer) that copies byte
//! ranges of the table; every offset, length, count and pointer taken from
//! those bytes is checked before use, and failures are errors or `None`,
//! never panics. An image holds one copied segment per section (only the
//! part in use), so a snapshot of a table whose sections are mostly
//! untouched costs what is in use, not the table's virtual size.

use crate::desc::{BlobHeader, EnumDesc, FieldDesc, Kind, RecordDesc, NAME_LEN};
use crate::header::{Header, SectionKind, ABI_VERSION, MAGIC, MAX_SECTIONS};
use core::fmt;
use core::mem::{offset_of, size_of};

/// Why a table could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes than a header.
    Truncated { need: u64, have: u64 },
    /// The magic is not `GRTSTAT`.
    BadMagic,
    /// A header of another ABI version.
    AbiVersion { found: u32, supported: u32 },
    /// A header field is out of range.
    BadHeader(&'static str),
    /// The descriptor blob is malformed.
    BadDescriptors(&'static str),
    /// The reader callback failed.
    Read(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { need, have } => {
                write!(f, "table truncated: need {need} bytes, have {have}")
            }
            Error::BadMagic => write!(f, "not a grt status table (bad magic)"),
            Error::AbiVersion { found, supported } => {
                write!(f, "table ABI version {found} is not supported (this reader knows version {supported})")
            }
            Error::BadHeader(what) => write!(f, "corrupt table header: {what}"),
            Error::BadDescriptors(what) => write!(f, "corrupt table descriptors: {what}"),
            Error::Read(e) => write!(f, "reading the table failed: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// One section as the header describes it (validated against the table size).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionInfo {
    pub kind: SectionKind,
    pub stride: u64,
    pub offset: u64,
    pub capacity: u64,
    /// Records in use, clamped to capacity.
    pub len: u64,
}

/// The decoded header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderInfo {
    pub abi_version: u32,
    pub layout_hash: u64,
    pub pid: u32,
    pub base: u64,
    pub size: u64,
    pub start_unix_ns: u64,
    pub start_mono_ns: u64,
    pub bugs: u64,
    pub flags: u64,
    pub stack_size: u64,
    pub ready: bool,
    pub exiting: bool,
    pub exit_code: u32,
    pub heartbeat: u64,
    pub sections: Vec<SectionInfo>,
}

/// Size of the fixed header.
pub const HEADER_SIZE: usize = size_of::<Header>();

fn rd_u32(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off.checked_add(4)?).map(|s| u32::from_ne_bytes(s.try_into().unwrap()))
}

fn rd_u64(b: &[u8], off: usize) -> Option<u64> {
    b.get(off..off.checked_add(8)?).map(|s| u64::from_ne_bytes(s.try_into().unwrap()))
}

impl HeaderInfo {
    /// Decodes and validates a header from the first bytes of a table.
    pub fn parse(b: &[u8]) -> Result<HeaderInfo, Error> {
        if b.len() < 16 {
            return Err(Error::Truncated { need: HEADER_SIZE as u64, have: b.len() as u64 });
        }
        if b[..8] != MAGIC {
            return Err(Error::BadMagic);
        }
        let abi = rd_u32(b, offset_of!(Header, abi_version)).unwrap();
        if abi != ABI_VERSION {
            return Err(Error::AbiVersion { found: abi, supported: ABI_VERSION });
        }
        if b.len() < HEADER_SIZE {
            return Err(Error::Truncated { need: HEADER_SIZE as u64, have: b.len() as u64 });
        }
        let u32f = |off: usize| rd_u32(b, off).unwrap();
        let u64f = |off: usize| rd_u64(b, off).unwrap();
        let header_size = u32f(offset_of!(Header, header_size));
        if header_size as usize != HEADER_SIZE {
            return Err(Error::BadHeader("header size does not match the ABI version"));
        }
        let size = u64f(offset_of!(Header, size));
        let nsections = u32f(offset_of!(Header, nsections)) as usize;
        if nsections > MAX_SECTIONS {
            return Err(Error::BadHeader("too many sections"));
        }
        let mut sections = Vec::with_capacity(nsections);
        for i in 0..nsections {
            let so = offset_of!(Header, sections) + i * size_of::<crate::header::Section>();
            let kind = u32f(so + offset_of!(crate::header::Section, kind));
            let Some(kind) = SectionKind::from_u32(kind) else {
                continue; // a section kind this reader does not know: skip it
            };
            let stride = u32f(so + offset_of!(crate::header::Section, stride)) as u64;
            let offset = u64f(so + offset_of!(crate::header::Section, offset));
            let capacity = u64f(so + offset_of!(crate::header::Section, capacity));
            let len = u64f(so + offset_of!(crate::header::Section, len)).min(capacity);
            if stride == 0 {
                return Err(Error::BadHeader("section with zero stride"));
            }
            let bytes = capacity.checked_mul(stride).ok_or(Error::BadHeader("section size overflows"))?;
            let end = offset.checked_add(bytes).ok_or(Error::BadHeader("section end overflows"))?;
            if offset < HEADER_SIZE as u64 || end > size {
                return Err(Error::BadHeader("section outside the table"));
            }
            if sections.iter().any(|s: &SectionInfo| s.kind == kind) {
                return Err(Error::BadHeader("duplicate section"));
            }
            sections.push(SectionInfo { kind, stride, offset, capacity, len });
        }
        Ok(HeaderInfo {
            abi_version: abi,
            layout_hash: u64f(offset_of!(Header, layout_hash)),
            pid: u32f(offset_of!(Header, pid)),
            base: u64f(offset_of!(Header, base)),
            size,
            start_unix_ns: u64f(offset_of!(Header, start_unix_ns)),
            start_mono_ns: u64f(offset_of!(Header, start_mono_ns)),
            bugs: u64f(offset_of!(Header, bugs)),
            flags: u64f(offset_of!(Header, flags)),
            stack_size: u64f(offset_of!(Header, stack_size)),
            ready: u32f(offset_of!(Header, ready)) != 0,
            exiting: u32f(offset_of!(Header, exiting)) != 0,
            exit_code: u32f(offset_of!(Header, exit_code)),
            heartbeat: u64f(offset_of!(Header, heartbeat)),
            sections,
        })
    }

    pub fn section(&self, kind: SectionKind) -> Option<&SectionInfo> {
        self.sections.iter().find(|s| s.kind == kind)
    }
}

/// A field, resolved to where it sits in its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldRef {
    pub offset: usize,
    /// Size of one element.
    pub elem_size: usize,
    pub count: usize,
    pub kind: Kind,
    /// For Ptr and Struct: index of the target record layout.
    pub target: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct FieldLayout {
    pub name: String,
    pub field: FieldRef,
}

#[derive(Clone, Debug)]
pub struct RecordLayout {
    pub name: String,
    pub size: usize,
    pub fields: Vec<FieldLayout>,
}

impl RecordLayout {
    pub fn field(&self, name: &str) -> Option<FieldRef> {
        self.fields.iter().find(|f| f.name == name).map(|f| f.field)
    }
}

/// The decoded descriptor blob.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub records: Vec<RecordLayout>,
    pub enums: Vec<(String, Vec<String>)>,
}

fn name_of(b: &[u8; NAME_LEN]) -> Result<String, Error> {
    crate::desc::decode_name(b).map(str::to_owned).ok_or(Error::BadDescriptors("name is not UTF-8"))
}

fn pod_at<T: Copy>(b: &[u8], off: usize) -> Option<T> {
    let bytes = b.get(off..off.checked_add(size_of::<T>())?)?;
    // SAFETY: the slice has exactly size_of::<T>() bytes; T is one of the
    // descriptor structs (repr(C), integer fields only, every bit pattern
    // valid); read_unaligned copes with any alignment.
    Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr() as *const T) })
}

impl Layout {
    /// Decodes a descriptor blob.
    pub fn parse(b: &[u8]) -> Result<Layout, Error> {
        let h: BlobHeader = pod_at(b, 0).ok_or(Error::BadDescriptors("blob shorter than its header"))?;
        if h.nrecords > 1024 || h.nfields > 65536 || h.nenums > 1024 {
            return Err(Error::BadDescriptors("implausible counts"));
        }
        let rd_off = size_of::<BlobHeader>();
        let fd_off = rd_off + h.nrecords as usize * size_of::<RecordDesc>();
        let ed_off = fd_off + h.nfields as usize * size_of::<FieldDesc>();
        let st_off = ed_off + h.nenums as usize * size_of::<EnumDesc>();
        let strings = b
            .get(st_off..st_off + h.strings_len as usize)
            .ok_or(Error::BadDescriptors("blob shorter than its counts say"))?;
        let mut records = Vec::with_capacity(h.nrecords as usize);
        for i in 0..h.nrecords as usize {
            let rd: RecordDesc = pod_at(b, rd_off + i * size_of::<RecordDesc>()).unwrap();
            let first = rd.first_field as usize;
            let n = rd.nfields as usize;
            if first.checked_add(n).is_none_or(|e| e > h.nfields as usize) {
                return Err(Error::BadDescriptors("record fields out of range"));
            }
            let mut fields = Vec::with_capacity(n);
            for j in first..first + n {
                let fd: FieldDesc = pod_at(b, fd_off + j * size_of::<FieldDesc>()).unwrap();
                let kind = Kind::from_u8(fd.kind).ok_or(Error::BadDescriptors("unknown field kind"))?;
                let (off, size, count) = (fd.offset as usize, fd.size as usize, fd.count as usize);
                if count == 0 || size % count != 0 || off.checked_add(size).is_none_or(|e| e > rd.size as usize) {
                    return Err(Error::BadDescriptors("field outside its record"));
                }
                let elem_size = size / count;
                let scalar_ok = match kind {
                    Kind::U8 => elem_size == 1,
                    Kind::U16 => elem_size == 2,
                    Kind::U32 | Kind::I32 => elem_size == 4,
                    Kind::U64 | Kind::I64 | Kind::Ptr | Kind::Addr => elem_size == 8,
                    Kind::Struct => true,
                };
                if !scalar_ok {
                    return Err(Error::BadDescriptors("field size does not match its kind"));
                }
                let target = if fd.target == u16::MAX {
                    None
                } else if (fd.target as u32) < h.nrecords {
                    Some(fd.target as usize)
                } else {
                    return Err(Error::BadDescriptors("field target out of range"));
                };
                if matches!(kind, Kind::Struct) && target.is_none() {
                    return Err(Error::BadDescriptors("struct field without a target"));
                }
                fields.push(FieldLayout {
                    name: name_of(&fd.name)?,
                    field: FieldRef { offset: off, elem_size, count, kind, target },
                });
            }
            records.push(RecordLayout { name: name_of(&rd.name)?, size: rd.size as usize, fields });
        }
        // A struct field must fit its target record's size.
        for r in &records {
            for f in &r.fields {
                if let (Kind::Struct, Some(t)) = (f.field.kind, f.field.target) {
                    if records[t].size > f.field.elem_size {
                        return Err(Error::BadDescriptors("nested record larger than its field"));
                    }
                }
            }
        }
        let mut enums = Vec::with_capacity(h.nenums as usize);
        for i in 0..h.nenums as usize {
            let ed: EnumDesc = pod_at(b, ed_off + i * size_of::<EnumDesc>()).unwrap();
            if ed.count > 4096 {
                return Err(Error::BadDescriptors("enum too long"));
            }
            let mut list = Vec::with_capacity(ed.count as usize);
            for k in 0..ed.count as usize {
                let idx = (ed.first as usize).checked_add(k).ok_or(Error::BadDescriptors("enum index overflows"))?;
                let so = rd_u32(strings, idx * 4).ok_or(Error::BadDescriptors("enum string offset out of range"))?;
                let s = strings.get(so as usize..).ok_or(Error::BadDescriptors("enum string out of range"))?;
                let end = s.iter().position(|&c| c == 0).ok_or(Error::BadDescriptors("enum string unterminated"))?;
                list.push(String::from_utf8_lossy(&s[..end]).into_owned());
            }
            enums.push((name_of(&ed.name)?, list));
        }
        Ok(Layout { records, enums })
    }

    pub fn record(&self, name: &str) -> Option<(usize, &RecordLayout)> {
        self.records.iter().enumerate().find(|(_, r)| r.name == name)
    }

    /// Resolves a dotted path ("sched.sp", "lock.owner") within a record.
    pub fn field_path(&self, record: &str, path: &str) -> Option<FieldRef> {
        let (_, mut rec) = self.record(record)?;
        let mut base = 0usize;
        let mut parts = path.split('.').peekable();
        while let Some(p) = parts.next() {
            let f = rec.field(p)?;
            if parts.peek().is_none() {
                return Some(FieldRef { offset: base + f.offset, ..f });
            }
            if f.kind != Kind::Struct {
                return None;
            }
            base += f.offset;
            rec = &self.records[f.target?];
        }
        None
    }

    /// A string list by name ("waitreason", "gstatus", ...).
    pub fn enum_list(&self, name: &str) -> Option<&[String]> {
        self.enums.iter().find(|(n, _)| n == name).map(|(_, l)| l.as_slice())
    }
}

/// The used part of one section, copied.
#[derive(Clone, Debug)]
pub struct Segment {
    pub info: SectionInfo,
    pub bytes: Vec<u8>,
}

/// A copied table: header, layout and the used part of every section.
#[derive(Clone, Debug)]
pub struct Image {
    pub header: HeaderInfo,
    pub layout: Layout,
    pub segments: Vec<Segment>,
}

/// Where a pointer into the table points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub kind: SectionKind,
    pub index: u64,
    /// Offset within the record.
    pub within: u64,
}

impl Image {
    /// Copies a table through `read(offset, len)`, which must return exactly
    /// `len` bytes at table offset `offset` (or an error). `max_section`
    /// caps the bytes copied per section.
    /// `source_len` is how many bytes the source holds (the memfd's or the
    /// file's size): a table shorter than its header says is `Truncated`.
    pub fn load(
        mut read: impl FnMut(u64, usize) -> Result<Vec<u8>, String>,
        source_len: u64,
        max_section: u64,
    ) -> Result<Image, Error> {
        if source_len < 16 {
            return Err(Error::Truncated { need: HEADER_SIZE as u64, have: source_len });
        }
        let hb = read(0, HEADER_SIZE.min(source_len as usize)).map_err(Error::Read)?;
        let header = HeaderInfo::parse(&hb)?;
        if source_len < header.size {
            return Err(Error::Truncated { need: header.size, have: source_len });
        }
        let desc = header.section(SectionKind::Desc).ok_or(Error::BadHeader("no descriptor section"))?;
        if desc.len > (1 << 24) {
            return Err(Error::BadHeader("descriptor blob too large"));
        }
        let db = read(desc.offset, desc.len as usize).map_err(Error::Read)?;
        let layout = Layout::parse(&db)?;
        let mut segments = Vec::new();
        for s in &header.sections {
            if let Some(rn) = s.kind.record_name() {
                match layout.record(rn) {
                    Some((_, r)) if r.size as u64 == s.stride => {}
                    Some(_) => return Err(Error::BadHeader("section stride differs from its record size")),
                    None => continue, // a record this reader cannot decode
                }
            }
            let want = s.len.saturating_mul(s.stride).min(max_section);
            let want = want - want % s.stride;
            let bytes = if want == 0 { Vec::new() } else { read(s.offset, want as usize).map_err(Error::Read)? };
            let mut info = s.clone();
            info.len = bytes.len() as u64 / s.stride;
            segments.push(Segment { info, bytes });
        }
        Ok(Image { header, layout, segments })
    }

    pub fn segment(&self, kind: SectionKind) -> Option<&Segment> {
        self.segments.iter().find(|s| s.info.kind == kind)
    }

    /// Number of records of a section in the image.
    pub fn len(&self, kind: SectionKind) -> u64 {
        self.segment(kind).map_or(0, |s| s.info.len)
    }

    /// The bytes of record `index` of a section.
    pub fn record(&self, kind: SectionKind, index: u64) -> Option<Rec<'_>> {
        let s = self.segment(kind)?;
        if index >= s.info.len {
            return None;
        }
        let st = s.info.stride as usize;
        let off = (index as usize).checked_mul(st)?;
        Some(Rec { bytes: s.bytes.get(off..off + st)? })
    }

    /// Translates a runtime address into (section, record index, offset within).
    /// Addresses outside every used section give `None`.
    pub fn locate(&self, addr: u64) -> Option<Location> {
        let off = addr.checked_sub(self.header.base)?;
        for s in &self.segments {
            let i = &s.info;
            if off >= i.offset && off < i.offset + i.len * i.stride {
                let rel = off - i.offset;
                return Some(Location { kind: i.kind, index: rel / i.stride, within: rel % i.stride });
            }
        }
        None
    }

    /// Translates a pointer to a record of `kind`: it must point exactly at
    /// the start of a used record. Nil gives `Ok(None)`; anything else that
    /// does not fit gives `Err(())`.
    pub fn ptr_index(&self, kind: SectionKind, addr: u64) -> Result<Option<u64>, ()> {
        if addr == 0 {
            return Ok(None);
        }
        match self.locate(addr) {
            Some(l) if l.kind == kind && l.within == 0 => Ok(Some(l.index)),
            _ => Err(()),
        }
    }

    /// Bytes of a byte section (Strings, Arena) at a table address, bounds-checked.
    pub fn bytes_at(&self, kind: SectionKind, addr: u64, len: usize) -> Option<&[u8]> {
        let s = self.segment(kind)?;
        let off = addr.checked_sub(self.header.base)?.checked_sub(s.info.offset)? as usize;
        s.bytes.get(off..off.checked_add(len)?)
    }

    /// A string from the Strings section (offset relative to the section).
    pub fn string(&self, off: u32, len: u32) -> Option<&str> {
        let s = self.segment(SectionKind::Strings)?;
        let b = s.bytes.get(off as usize..(off as usize).checked_add(len as usize)?)?;
        core::str::from_utf8(b).ok()
    }
}

/// The bytes of one record.
#[derive(Clone, Copy, Debug)]
pub struct Rec<'a> {
    pub bytes: &'a [u8],
}

impl<'a> Rec<'a> {
    /// Reads element `i` of an integer, pointer or address field as u64
    /// (signed kinds are sign-extended). `None` if out of range.
    pub fn get_at(&self, f: FieldRef, i: usize) -> Option<u64> {
        if i >= f.count {
            return None;
        }
        let off = f.offset.checked_add(i.checked_mul(f.elem_size)?)?;
        let b = self.bytes.get(off..off.checked_add(f.elem_size)?)?;
        Some(match f.kind {
            Kind::U8 => b[0] as u64,
            Kind::U16 => u16::from_ne_bytes([b[0], b[1]]) as u64,
            Kind::U32 => u32::from_ne_bytes(b.try_into().ok()?) as u64,
            Kind::I32 => i32::from_ne_bytes(b.try_into().ok()?) as i64 as u64,
            Kind::U64 | Kind::I64 | Kind::Ptr | Kind::Addr => u64::from_ne_bytes(b.try_into().ok()?),
            Kind::Struct => return None,
        })
    }

    pub fn get(&self, f: FieldRef) -> Option<u64> {
        self.get_at(f, 0)
    }

    /// Like `get`, for an optional field (absent in an older table).
    pub fn opt(&self, f: Option<FieldRef>) -> Option<u64> {
        f.and_then(|f| self.get(f))
    }
}
