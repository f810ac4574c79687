//! Building a table image in memory, laid out exactly as the runtime lays
//! out its memfd: for tests, fuzzing and synthetic snapshots. The runtime
//! itself does not use this (it writes records in place).

use crate::desc::Record;
use crate::header::{Extent, Header, SectionKind, MAX_SECTIONS};
use crate::records::descriptor_blob;
use core::mem::{offset_of, size_of};

/// A table under construction: a byte buffer plus where each section is.
pub struct TableBuilder {
    pub bytes: Vec<u8>,
    /// The virtual address the table pretends to be mapped at.
    pub base: u64,
    sections: Vec<(SectionKind, u64, u64, u64)>, // kind, offset, stride, capacity
}

fn page(x: u64) -> u64 {
    (x + 4095) & !4095
}

impl TableBuilder {
    /// Lays out every section with `cap` records each (one sched, one mheap).
    pub fn new(base: u64, cap: u64) -> TableBuilder {
        let desc = descriptor_blob(&["unranked", "sched"]);
        // The sections `SectionKind::ALL` lists, in its order, as the runtime
        // lays them out; `cap` records for every per-G or per-M section.
        let extent = |kind: SectionKind| match kind.layout().extent {
            Extent::Blob => desc.len() as u64,
            Extent::One => 1,
            Extent::PerP => cap.min(256),
            Extent::PerM | Extent::PerG => cap,
            Extent::Fixed(_) if kind.record_name().is_none() => 4096,
            Extent::Fixed(_) => cap,
        };
        let plan: Vec<(SectionKind, u64, u64)> = SectionKind::ALL.iter().map(|&k| (k, k.stride(), extent(k))).collect();
        let mut off = page(size_of::<Header>() as u64);
        let mut sections = Vec::new();
        for (k, stride, cap) in plan {
            sections.push((k, off, stride, cap));
            off = page(off + stride * cap);
        }
        let mut b = TableBuilder { bytes: vec![0; off as usize], base, sections };
        b.bytes[..8].copy_from_slice(&crate::MAGIC);
        b.put_u32(offset_of!(Header, abi_version), crate::ABI_VERSION);
        b.put_u32(offset_of!(Header, header_size), size_of::<Header>() as u32);
        b.put_u64(offset_of!(Header, layout_hash), crate::desc::fnv1a(&desc));
        b.put_u32(offset_of!(Header, nsections), b.sections.len() as u32);
        b.put_u64(offset_of!(Header, base), base);
        b.put_u64(offset_of!(Header, size), off);
        b.put_u32(offset_of!(Header, ready), 1);
        assert!(b.sections.len() <= MAX_SECTIONS);
        for (i, (k, o, stride, cap)) in b.sections.clone().into_iter().enumerate() {
            let so = offset_of!(Header, sections) + i * size_of::<crate::header::Section>();
            b.put_u32(so + offset_of!(crate::header::Section, kind), k as u32);
            b.put_u32(so + offset_of!(crate::header::Section, stride), stride as u32);
            b.put_u64(so + offset_of!(crate::header::Section, offset), o);
            b.put_u64(so + offset_of!(crate::header::Section, capacity), cap);
        }
        let (_, doff, _, _) = b.section(SectionKind::Desc);
        b.bytes[doff as usize..doff as usize + desc.len()].copy_from_slice(&desc);
        b.set_len(SectionKind::Desc, desc.len() as u64);
        for &k in SectionKind::ALL {
            if k.layout().extent == Extent::One {
                b.set_len(k, 1);
            }
        }
        b
    }

    fn put_u32(&mut self, off: usize, v: u32) {
        self.bytes[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }

    fn put_u64(&mut self, off: usize, v: u64) {
        self.bytes[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    }

    fn section(&self, kind: SectionKind) -> (usize, u64, u64, u64) {
        let i = self.sections.iter().position(|s| s.0 == kind).unwrap();
        let (_, o, st, cap) = self.sections[i];
        (i, o, st, cap)
    }

    /// Sets a section's `len`.
    pub fn set_len(&mut self, kind: SectionKind, len: u64) {
        let (i, ..) = self.section(kind);
        let so = offset_of!(Header, sections) + i * size_of::<crate::header::Section>();
        self.put_u64(so + offset_of!(crate::header::Section, len), len);
    }

    /// The virtual address of record `index` of `kind`.
    pub fn addr(&self, kind: SectionKind, index: u64) -> u64 {
        let (_, o, st, _) = self.section(kind);
        self.base + o + index * st
    }

    /// Writes field `name` (a `records!` field, dotted for nested ones) of
    /// record `index` of section `kind`, whose record type is `T`.
    pub fn set<T: Record>(&mut self, kind: SectionKind, index: u64, name: &str, value: u64) {
        let (_, o, st, cap) = self.section(kind);
        assert!(index < cap);
        let (off, size) = field_offset::<T>(name).unwrap_or_else(|| panic!("no field {name} in {}", T::NAME));
        let at = (o + index * st) as usize + off;
        match size {
            1 => self.bytes[at] = value as u8,
            2 => self.bytes[at..at + 2].copy_from_slice(&(value as u16).to_ne_bytes()),
            4 => self.put_u32(at, value as u32),
            _ => self.put_u64(at, value),
        }
    }

    /// Appends bytes to the Strings section; returns their offset in it.
    pub fn add_string(&mut self, s: &str) -> u32 {
        let (i, o, _, cap) = self.section(SectionKind::Strings);
        let so = offset_of!(Header, sections) + i * size_of::<crate::header::Section>();
        let lo = so + offset_of!(crate::header::Section, len);
        let len = u64::from_ne_bytes(self.bytes[lo..lo + 8].try_into().unwrap());
        assert!(len + s.len() as u64 <= cap);
        let at = (o + len) as usize;
        self.bytes[at..at + s.len()].copy_from_slice(s.as_bytes());
        self.set_len(SectionKind::Strings, len + s.len() as u64);
        len as u32
    }
}

/// (offset, element size) of a possibly dotted field path in `T`.
fn field_offset<T: Record>(path: &str) -> Option<(usize, usize)> {
    fn walk(fields: &[crate::desc::Field], path: &str) -> Option<(usize, usize)> {
        let (head, rest) = match path.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (path, None),
        };
        let f = fields.iter().find(|f| f.name == head)?;
        match rest {
            None => Some((f.offset, f.size / f.count)),
            Some(rest) => {
                let target = f.target?;
                let sub = crate::records::all_records().into_iter().find(|r| r.name == target)?;
                let (o, s) = walk(sub.fields, rest)?;
                Some((f.offset + o, s))
            }
        }
    }
    walk(T::FIELDS, path)
}
