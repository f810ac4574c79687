//! Records and pointers: a section's records in O(1), pointer translation
//! with `Image::ptr_index`'s rule, the G cache that links to Gs read, and
//! cycle-checked, bounded chain walks.

use super::fields::*;
use super::Decoder;
use crate::snapshot::*;
use grt_table::header::SectionKind;

/// A section of the image, for O(1) record access and pointer translation.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SectionRecords<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) stride: u64,
    /// Records (bytes) copied.
    pub(super) len: u64,
    /// Address of record 0 in the target; `None` if base + offset overflows
    /// (then no address translates into the section).
    pub(super) start: Option<u64>,
    /// ceil(2^64 / stride), for dividing 32-bit offsets without a `div`
    /// (Lemire, Kaser and Kurz, "Faster remainder by direct computation").
    pub(super) magic: u64,
}

impl SectionRecords<'_> {
    /// (n / stride, n % stride).
    #[inline]
    pub(super) fn divmod(&self, n: u64) -> (u64, u64) {
        if n <= u32::MAX as u64 && self.stride <= u32::MAX as u64 && self.magic != 0 {
            let q = ((self.magic as u128 * n as u128) >> 64) as u64;
            (q, n - q * self.stride)
        } else {
            (n / self.stride, n % self.stride)
        }
    }
}

/// ceil(2^64 / d) for 1 < d < 2^32 (0 otherwise: use plain division).
pub(super) fn div_magic(d: u64) -> u64 {
    if d <= 1 || d > u32::MAX as u64 {
        0
    } else {
        (u64::MAX / d).wrapping_add(1)
    }
}

/// What links to a G need from its record: goid, stack bounds and status
/// (32 bytes, `has` says which were readable: the cache is read at random).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct GInfo {
    pub(super) goid: u64,
    pub(super) lo: u64,
    pub(super) hi: u64,
    pub(super) status: u32,
    pub(super) has: u8,
}

impl GInfo {
    pub(super) fn new(goid: Option<u64>, lo: Option<u64>, hi: Option<u64>, status: Option<u32>) -> GInfo {
        let has = goid.is_some() as u8
            | (lo.is_some() as u8) << 1
            | (hi.is_some() as u8) << 2
            | (status.is_some() as u8) << 3;
        GInfo { goid: goid.unwrap_or(0), lo: lo.unwrap_or(0), hi: hi.unwrap_or(0), status: status.unwrap_or(0), has }
    }

    #[inline]
    pub(super) fn read(r: RecordBytes<'_>, gf: &GFields) -> GInfo {
        GInfo::new(r.opt(gf.goid), r.opt(gf.stack_lo), r.opt(gf.stack_hi), r.opt(gf.atomicstatus).map(|v| v as u32))
    }

    pub(super) fn goid(&self) -> Option<u64> {
        (self.has & 1 != 0).then_some(self.goid)
    }

    /// The stack bounds, when both were readable.
    pub(super) fn stack(&self) -> Option<(u64, u64)> {
        (self.has & 6 == 6).then_some((self.lo, self.hi))
    }

    pub(super) fn status(&self) -> Option<u32> {
        (self.has & 8 != 0).then_some(self.status)
    }
}

impl<'a> Decoder<'a> {
    pub(super) fn section(&self, kind: SectionKind) -> SectionRecords<'a> {
        self.sections.get(kind as usize).copied().unwrap_or_default()
    }

    /// Records (bytes) of a section in the image.
    pub(super) fn section_len(&self, kind: SectionKind) -> u64 {
        self.section(kind).len
    }

    #[inline]
    pub(super) fn record(&self, kind: SectionKind, index: u64) -> Option<RecordBytes<'a>> {
        let s = self.sections.get(kind as usize)?;
        if index >= s.len {
            return None;
        }
        let off = usize::try_from(index.checked_mul(s.stride)?).ok()?;
        Some(RecordBytes(s.bytes.get(off..off.checked_add(s.stride as usize)?)?))
    }

    /// `Image::ptr_index` in O(1): nil is `Ok(None)`, the start of a copied
    /// record of `kind` is its index, anything else `Err(())`.
    #[inline]
    pub(super) fn index_of(&self, kind: SectionKind, addr: u64) -> Result<Option<u64>, ()> {
        if addr == 0 {
            return Ok(None);
        }
        let s = self.sections.get(kind as usize).ok_or(())?;
        let rel = addr.checked_sub(s.start.ok_or(())?).ok_or(())?;
        let (q, r) = s.divmod(rel);
        if q >= s.len || r != 0 {
            return Err(());
        }
        Ok(Some(q))
    }

    /// The id a Link carries for a record.
    pub(super) fn id_of(&self, kind: SectionKind, index: u64) -> u64 {
        match kind {
            SectionKind::G => {
                if let Some(g) = self.gcache.get(index as usize) {
                    return g.goid().unwrap_or(index);
                }
            }
            SectionKind::Hchan => {
                if let Some(c) = self.chan_ids.get(index as usize) {
                    return c.unwrap_or(index);
                }
            }
            _ => {}
        }
        let f = match kind {
            SectionKind::G => self.fields.g.goid,
            SectionKind::M => self.fields.m.id,
            SectionKind::P => self.fields.p.id,
            SectionKind::Hchan => self.fields.hchan.id,
            _ => None,
        };
        self.record(kind, index).and_then(|r| r.opt(f)).unwrap_or(index)
    }

    /// What the G pass saw of G record `i` (read from the record before it ran).
    pub(super) fn ginfo(&self, i: u64) -> Option<GInfo> {
        if let Some(g) = self.gcache.get(i as usize) {
            return Some(*g);
        }
        Some(GInfo::read(self.record(SectionKind::G, i)?, &self.fields.g))
    }

    /// Translates a pointer to a record of `kind`. A pointer that does not
    /// translate is damage: torn when it points past the copied records of
    /// its section in a live capture (allocated after the copy).
    pub(super) fn link(&mut self, kind: SectionKind, addr: Option<u64>, place: impl FnOnce() -> String) -> Link {
        let Some(addr) = addr else { return Link::Nil };
        match self.index_of(kind, addr) {
            Ok(None) => Link::Nil,
            Ok(Some(index)) => Link::rec(index, self.id_of(kind, index)),
            Err(()) => {
                let msg = self.why_bad(kind, addr);
                if self.live && msg.1 {
                    self.push_damage(DamageKind::Torn, place(), msg.0);
                } else {
                    self.push_damage(DamageKind::Corrupt, place(), msg.0);
                }
                Link::Bad { addr }
            }
        }
    }

    /// `link` to a G, with what the G pass saw of it (one lookup for both).
    #[inline]
    pub(super) fn link_g(&mut self, addr: Option<u64>, place: impl FnOnce() -> String) -> (Link, Option<GInfo>) {
        let Some(a) = addr else { return (Link::Nil, None) };
        match self.index_of(SectionKind::G, a) {
            Ok(None) => (Link::Nil, None),
            Ok(Some(index)) => {
                let info = self.ginfo(index);
                let id = info.and_then(|g| g.goid()).unwrap_or(index);
                (Link::rec(index, id), info)
            }
            Err(()) => (self.link(SectionKind::G, addr, place), None),
        }
    }

    /// Says why `addr` is not a record of `kind`; the flag tells whether a
    /// record allocated after the copy explains it.
    pub(super) fn why_bad(&self, kind: SectionKind, addr: u64) -> (String, bool) {
        let kn = section_name(kind);
        if let Some(l) = self.img.locate(addr) {
            if l.kind != kind {
                return (
                    format!("pointer {addr:#x} points into the {} section, not at a {kn}", section_name(l.kind)),
                    false,
                );
            }
            return (format!("pointer {addr:#x} points {} bytes into {kn} record {}", l.within, l.index), false);
        }
        if let Some(s) = self.img.header.section(kind) {
            let off = addr.wrapping_sub(self.img.header.base);
            let end = s.offset.saturating_add(s.capacity.saturating_mul(s.stride));
            if addr >= self.img.header.base && off >= s.offset && off < end && (off - s.offset).is_multiple_of(s.stride)
            {
                let idx = (off - s.offset) / s.stride;
                return (
                    format!(
                        "pointer {addr:#x} names {kn} record {idx}, past the {} records in use",
                        self.section_len(kind)
                    ),
                    true,
                );
            }
        }
        (format!("pointer {addr:#x} is not in the table's {kn} section"), false)
    }

    /// Address of record `index` of `kind` in the target.
    pub(super) fn rec_addr(&self, kind: SectionKind, index: u64) -> Option<u64> {
        let s = self.section(kind);
        s.start?.checked_add(index.checked_mul(s.stride)?)
    }

    /// Follows a chain of records of `kind` linked through `next`, from the
    /// address `start`, for at most the section's length. Returns the
    /// record indices; a bad pointer, a loop or excess length ends the walk
    /// with a damage entry.
    pub(super) fn walk(
        &mut self,
        kind: SectionKind,
        start: Option<u64>,
        next: Option<FieldAt>,
        place: &dyn Fn() -> String,
    ) -> Vec<u64> {
        let mut out = Vec::new();
        self.walk_into(kind, start, next, place, &mut out);
        out
    }

    /// `walk`, appending to `out` (which must start empty).
    pub(super) fn walk_into(
        &mut self,
        kind: SectionKind,
        start: Option<u64>,
        next: Option<FieldAt>,
        place: &dyn Fn() -> String,
        out: &mut Vec<u64>,
    ) {
        let Some(mut cur) = start else { return };
        let limit = self.section_len(kind);
        // Loops: a linear search while the chain is short, then a stamp per
        // record (`stamps[i] == walk` means visited in this walk).
        let mut stamped = false;
        loop {
            let idx = match self.index_of(kind, cur) {
                Ok(None) => break,
                Ok(Some(i)) => i,
                Err(()) => {
                    let (msg, late) = self.why_bad(kind, cur);
                    let k = if self.live && late { DamageKind::Torn } else { DamageKind::Corrupt };
                    self.push_damage(k, place(), msg);
                    break;
                }
            };
            let looped = if stamped {
                !self.stamp(idx)
            } else if out.contains(&idx) {
                true
            } else if out.len() >= 32 {
                self.new_walk(limit);
                for &k in out.iter() {
                    self.stamp(k);
                }
                stamped = true;
                !self.stamp(idx)
            } else {
                false
            };
            if looped {
                let msg = format!("chain loops back to {} record {idx} after {} links", section_name(kind), out.len());
                if self.live {
                    self.push_damage(DamageKind::Torn, place(), msg);
                } else {
                    self.push_damage(DamageKind::Corrupt, place(), msg);
                }
                break;
            }
            if out.len() as u64 >= limit {
                self.corrupt(place, format!("chain longer than the {limit} {} records in use", section_name(kind)));
                break;
            }
            out.push(idx);
            match self.record(kind, idx).and_then(|r| r.opt(next)) {
                Some(n) => cur = n,
                None => break,
            }
        }
    }

    /// Starts a stamped walk over a section of `len` records.
    pub(super) fn new_walk(&mut self, len: u64) {
        let len = len as usize;
        if self.stamps.len() < len {
            self.stamps.resize(len, 0);
        }
        self.walk_id = self.walk_id.wrapping_add(1);
        if self.walk_id == 0 {
            self.stamps.iter_mut().for_each(|s| *s = 0);
            self.walk_id = 1;
        }
    }

    /// Marks record `i` visited in the current walk; false if it already was.
    pub(super) fn stamp(&mut self, i: u64) -> bool {
        match self.stamps.get_mut(i as usize) {
            Some(s) if *s == self.walk_id => false,
            Some(s) => {
                *s = self.walk_id;
                true
            }
            None => true,
        }
    }

    pub(super) fn links(&self, kind: SectionKind, idx: &[u64]) -> Vec<Link> {
        idx.iter().map(|&i| Link::rec(i, self.id_of(kind, i))).collect()
    }

    pub(super) fn wait_for(&self, since: Option<i64>) -> Option<u64> {
        let s = since?;
        if s <= 0 || self.now == 0 {
            return None;
        }
        self.now.checked_sub(s as u64)
    }
}
