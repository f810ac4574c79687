//! A process's address space as a set of objects at their load addresses:
//! address -> object look-up, symbolization, unwinding, probes; plus the pure
//! parts of loading (parsing `/proc/<pid>/maps`, computing load biases).

use std::ops::Range;

use crate::frame::{FrameIter, Symbolization};
use crate::object::LoadSegment;
use crate::probes::Probe;
use crate::unwind::{Registers, UnwindOptions, Unwinder};
use crate::{Error, MemoryReader, ObjectSymbols, Result};

/// Objects of one address space.
///
/// Invariant: `ranges` is sorted by start, the ranges do not overlap, and each
/// names an index into `objects`.
#[derive(Debug, Default)]
pub struct ProcessSymbols {
    objects: Vec<ObjectSymbols>,
    ranges: Vec<(u64, u64, usize)>,
    executable: Option<usize>,
    pid: Option<i32>,
}

impl ProcessSymbols {
    /// An empty address space.
    pub fn new() -> ProcessSymbols {
        ProcessSymbols::default()
    }

    /// Adds an object occupying the runtime address `ranges` (e.g. its
    /// mappings from `/proc/<pid>/maps`). Ranges overlapping ones already
    /// present are ignored. Returns the object's index.
    pub fn add_object(&mut self, object: ObjectSymbols, ranges: impl IntoIterator<Item = Range<u64>>) -> usize {
        let idx = self.objects.len();
        self.objects.push(object);
        for r in ranges {
            if r.start >= r.end {
                continue;
            }
            let pos = self.ranges.partition_point(|e| e.0 < r.start);
            let overlaps_prev = pos > 0 && self.ranges[pos - 1].1 > r.start;
            let overlaps_next = self.ranges.get(pos).is_some_and(|e| e.0 < r.end);
            if !overlaps_prev && !overlaps_next {
                self.ranges.insert(pos, (r.start, r.end, idx));
            }
        }
        idx
    }

    /// Adds an object at the ranges of its `PT_LOAD` segments (plus its bias).
    pub fn add_object_at_segments(&mut self, object: ObjectSymbols) -> usize {
        let ranges: Vec<_> = object.runtime_ranges().collect();
        self.add_object(object, ranges)
    }

    /// Marks object `idx` as the main executable.
    pub fn set_executable(&mut self, idx: usize) {
        if idx < self.objects.len() {
            self.executable = Some(idx);
        }
    }

    pub(crate) fn set_pid(&mut self, pid: i32) {
        self.pid = Some(pid);
    }

    /// The process id this was loaded from, if any.
    pub fn pid(&self) -> Option<i32> {
        self.pid
    }

    /// All objects, in the order they were added.
    pub fn objects(&self) -> &[ObjectSymbols] {
        &self.objects
    }

    /// The main executable, if known.
    pub fn executable(&self) -> Option<&ObjectSymbols> {
        self.executable.and_then(|i| self.objects.get(i))
    }

    /// The object with this GNU build-id, if loaded.
    pub fn object_by_build_id(&self, build_id: &[u8]) -> Option<&ObjectSymbols> {
        self.objects.iter().find(|o| o.build_id() == Some(build_id))
    }

    /// The object whose ranges contain `addr`.
    pub fn object_for_address(&self, addr: u64) -> Option<&ObjectSymbols> {
        let i = self.ranges.partition_point(|e| e.0 <= addr);
        let &(_, end, idx) = self.ranges.get(i.checked_sub(1)?)?;
        (addr < end).then(|| &self.objects[idx])
    }

    /// Symbolizes runtime address `addr`.
    pub fn symbolize(&self, addr: u64) -> Result<Symbolization> {
        self.object_for_address(addr).map(|o| o.symbolize(addr)).ok_or(Error::AddressNotMapped { addr })
    }

    /// The frames at `addr`, innermost inline frame first.
    pub fn find_frames(&self, addr: u64) -> Result<FrameIter> {
        self.symbolize(addr).map(|s| s.iter())
    }

    /// Starts a stack walk from `regs`, reading memory through `mem`, with
    /// default options.
    pub fn unwind<'a, M: MemoryReader + ?Sized>(&'a self, regs: Registers, mem: &'a M) -> Unwinder<'a, M> {
        Unwinder::new(self, regs, mem, UnwindOptions::default())
    }

    /// Starts a stack walk with explicit options.
    pub fn unwind_with<'a, M: MemoryReader + ?Sized>(
        &'a self,
        regs: Registers,
        mem: &'a M,
        opts: UnwindOptions,
    ) -> Unwinder<'a, M> {
        Unwinder::new(self, regs, mem, opts)
    }

    /// SDT probes of every object, at runtime addresses. Objects whose notes
    /// are malformed are skipped; the first such error is returned only if no
    /// object could be read at all.
    pub fn probes(&self) -> Result<Vec<Probe>> {
        let mut out = Vec::new();
        let mut first_err = None;
        let mut any_ok = self.objects.is_empty();
        for o in &self.objects {
            match o.probes() {
                Ok(p) => {
                    any_ok = true;
                    out.extend(p);
                }
                Err(e) => first_err = first_err.or(Some(e)),
            }
        }
        match first_err {
            Some(e) if !any_ok => Err(e),
            _ => Ok(out),
        }
    }
}

/// One line of `/proc/<pid>/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapsEntry {
    /// Start address.
    pub start: u64,
    /// End address (exclusive).
    pub end: u64,
    /// Permission string, e.g. `r-xp`.
    pub perms: String,
    /// File offset of `start`.
    pub offset: u64,
    /// Device `major:minor`.
    pub dev: String,
    /// Inode; 0 for anonymous mappings.
    pub inode: u64,
    /// Path or pseudo-name (`[stack]`, `[vdso]`), empty if none.
    pub path: String,
}

impl MapsEntry {
    /// True for an executable mapping.
    pub fn is_executable(&self) -> bool {
        self.perms.as_bytes().get(2) == Some(&b'x')
    }
}

/// Parses the text of `/proc/<pid>/maps`.
pub fn parse_maps(text: &str) -> Result<Vec<MapsEntry>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = Error::BadMapsLine { line: u32::try_from(n + 1).unwrap_or(u32::MAX) };
        let mut it = line.splitn(6, ' ');
        let mut field = || it.next().ok_or(bad);
        let range = field()?;
        let perms = field()?;
        let offset = field()?;
        let dev = field()?;
        let inode = field()?;
        let path = it.next().unwrap_or("").trim_start();
        let (s, e) = range.split_once('-').ok_or(bad)?;
        let hex = |s: &str| u64::from_str_radix(s, 16).map_err(|_| bad);
        out.push(MapsEntry {
            start: hex(s)?,
            end: hex(e)?,
            perms: perms.to_string(),
            offset: hex(offset)?,
            dev: dev.to_string(),
            inode: inode.parse().map_err(|_| bad)?,
            path: path.to_string(),
        });
    }
    Ok(out)
}

/// The load bias of an object one of whose file mappings maps file offset
/// `map_offset` at runtime address `map_start`: the `PT_LOAD` segment whose
/// file range holds that offset gives `bias = map_start - map_offset -
/// (p_vaddr - p_offset)` (a segment maps file offsets to addresses with a
/// constant difference; page rounding keeps it). `None` if no segment holds
/// the offset.
pub fn load_bias(segments: &[LoadSegment], map_start: u64, map_offset: u64) -> Option<u64> {
    const PAGE: u64 = 4096;
    let page_of = |s: &LoadSegment| s.offset & !(PAGE - 1);
    // A mapping made by the dynamic loader starts at the page holding its
    // segment's first byte. Linkers pack segments so that neighbours share a
    // file page; the exact start match picks the right one, containment is
    // the fallback for mappings that start inside a segment.
    let seg = segments.iter().find(|s| page_of(s) == map_offset).or_else(|| {
        segments.iter().find(|s| map_offset >= page_of(s) && map_offset < s.offset.saturating_add(s.filesz.max(1)))
    })?;
    Some(map_start.wrapping_sub(map_offset).wrapping_sub(seg.vaddr.wrapping_sub(seg.offset)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_maps_lines() {
        let text = "\
5579218b9000-55792195d000 r--p 00000000 fe:00 5309411                    /bin/x
55792195d000-557921b21000 r-xp 000a3000 fe:00 5309411                    /bin/x with space
7ffd1000-7ffd3000 r-xp 00000000 00:00 0                          [vdso]
7ffd4000-7ffd5000 rw-p 00000000 00:00 0
";
        let m = parse_maps(text).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[1].path, "/bin/x with space");
        assert_eq!(m[1].offset, 0xa3000);
        assert!(m[1].is_executable());
        assert_eq!(m[2].path, "[vdso]");
        assert_eq!(m[3].path, "");
        assert_eq!(parse_maps("zz-1 r--p 0 0:0 0\n"), Err(Error::BadMapsLine { line: 1 }));
        assert_eq!(parse_maps("\n1-2 r--p\n"), Err(Error::BadMapsLine { line: 2 }));
    }

    fn seg(offset: u64, vaddr: u64, filesz: u64, x: bool) -> LoadSegment {
        LoadSegment { vaddr, memsz: filesz, offset, filesz, executable: x }
    }

    #[test]
    fn bias_from_packed_segments() {
        // lld layout: the text segment shares its first file page with the
        // read-only segment before it.
        let segs = [seg(0, 0, 0xa393c, false), seg(0xa3940, 0xa4940, 0x1c2e00, true)];
        let base = 0x5579_218b_9000;
        assert_eq!(load_bias(&segs, base + 0xa4000, 0xa3000), Some(base));
        assert_eq!(load_bias(&segs, base, 0), Some(base));
        // Non-PIE: vaddr 0x400000 mapped at 0x400000.
        let segs = [seg(0, 0x40_0000, 0x1000, false), seg(0x1000, 0x40_1000, 0x1000, true)];
        assert_eq!(load_bias(&segs, 0x40_1000, 0x1000), Some(0));
        assert_eq!(load_bias(&segs, 0x40_1000, 0x9000), None);
    }
}
