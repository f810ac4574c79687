//! One ELF object (executable, shared library, vdso): its symbol table, lazily
//! built DWARF context, CFI and per-address cache. No file I/O happens here.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

use object::{Object, ObjectSection, ObjectSegment};

use crate::cfi::{Cfi, CfiRow, CfiSections, R};
use crate::frame::{demangle, Frame, FrameIter, FrameSource, Resolved, SymbolInfo, Symbolization};
use crate::probes::{parse_probes, Probe};
use crate::symtab::SymbolTable;
use crate::{ObjectData, Result};

/// Default bound on the per-object address cache (entries).
const DEFAULT_CACHE_CAPACITY: usize = 1 << 16;

/// A multiply-shift hasher for address keys: addresses are already well
/// spread in their low bits, so one multiplication mixes them enough.
#[derive(Default, Clone, Copy)]
struct AddrHasher(u64);

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

type AddrMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<AddrHasher>>;

/// A `PT_LOAD` segment, link-time addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadSegment {
    /// `p_vaddr`.
    pub vaddr: u64,
    /// `p_memsz`.
    pub memsz: u64,
    /// `p_offset`.
    pub offset: u64,
    /// `p_filesz`.
    pub filesz: u64,
    /// `PF_X` is set.
    pub executable: bool,
}

type Ctx = addr2line::Context<R>;

/// The parsed state. Every `'static` borrow in here points into the
/// `ObjectData` buffers owned by the enclosing [`ObjectSymbols`]; see the
/// invariant there.
struct Inner {
    name: Arc<str>,
    bias: u64,
    file: object::File<'static>,
    debug_file: Option<object::File<'static>>,
    build_id: Option<&'static [u8]>,
    segments: Vec<LoadSegment>,
    endian: gimli::RunTimeEndian,
    cfi: Cfi,
    symtab: OnceCell<SymbolTable<'static>>,
    dwarf: OnceCell<Result<Option<Ctx>>>,
    caches: RefCell<Caches>,
    // Declared last: dropped after everything that borrows from it.
    arena: Arena,
}

struct Caches {
    /// Runtime address -> result; cleared when it reaches `capacity`.
    addr: AddrMap<Arc<Resolved>>,
    capacity: usize,
    /// Mangled or raw name (by pointer and length into the object) -> names.
    names: HashMap<(usize, usize), (Arc<str>, Arc<str>)>,
    /// File path (by pointer and length into the DWARF context) -> path.
    files: HashMap<(usize, usize), Arc<str>>,
    hits: u64,
    misses: u64,
    /// Lookup pc -> unwind rules (or none), bounded like `addr`.
    cfi_rows: AddrMap<Option<Arc<CfiRow>>>,
}

/// Symbols, line tables, inlining, CFI and probes of one ELF object.
///
/// Build it once per object and reuse it: construction only parses the ELF
/// headers; the symbol table, DWARF units, line programs and CFI indexes are
/// parsed on first need and cached (errors too), and each resolved address is
/// remembered in a small direct-mapped cache.
///
/// `ObjectSymbols` is `Send` but not `Sync` (its caches use `RefCell`); put it
/// behind a `Mutex` to share it between threads.
pub struct ObjectSymbols {
    // Invariant: `inner` is declared before the data so it is dropped first;
    // it borrows (as `'static`) from `data` and `debug_data`, whose buffers
    // never move or change (see `ObjectData`). Nothing with the fake
    // `'static` lifetime is ever handed out: every public accessor ties
    // borrows to `&self`.
    inner: Box<Inner>,
    data: ObjectData,
    debug_data: Option<ObjectData>,
}

impl std::fmt::Debug for ObjectSymbols {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectSymbols")
            .field("name", &self.inner.name)
            .field("bias", &format_args!("{:#x}", self.inner.bias))
            .field("len", &self.data.bytes().len())
            .field("separate_debug", &self.debug_data.is_some())
            .finish()
    }
}

/// Extends a borrow of an `ObjectData` buffer to `'static`.
///
/// # Safety
/// The caller must keep the `ObjectData` alive (unmoved buffer, see its
/// invariant) for as long as the result and anything derived from it is used.
unsafe fn extend(bytes: &[u8]) -> &'static [u8] {
    // SAFETY: forwarded to the caller.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr(), bytes.len()) }
}

/// Decompressed section contents. Owned by the object so that `'static`
/// borrows into them stay valid: a box's contents never move, and the arena
/// only grows until the object is dropped.
type Arena = RefCell<Vec<Box<[u8]>>>;

/// Largest decompressed section accepted (a corrupt header must not make us
/// allocate without bound).
const MAX_DECOMPRESSED: u64 = 1 << 30;

/// True when the section exists and has file data (it may be compressed).
fn section_present(file: &object::File<'static>, name: &str) -> bool {
    file.section_by_name(name).and_then(|s| s.file_range()).is_some_and(|(_, size)| size > 0)
}

/// The (decompressed) bytes of a section, or `None` when it is absent,
/// empty, has no file data (`SHT_NOBITS`), or its compressed data is
/// unusable (then the object behaves as if it had no such section).
fn section_bytes(file: &object::File<'static>, name: &str, arena: &Arena) -> Option<&'static [u8]> {
    let s = file.section_by_name(name)?;
    let c = s.compressed_data().ok()?;
    if c.format == object::CompressionFormat::None {
        return Some(c.data).filter(|d| !d.is_empty());
    }
    // Deflate and zstd cannot expand data much more than a thousandfold.
    if c.uncompressed_size > MAX_DECOMPRESSED || c.uncompressed_size > (c.data.len() as u64).saturating_mul(1100) {
        return None;
    }
    match c.decompress().ok()? {
        std::borrow::Cow::Borrowed(b) => Some(b).filter(|d| !d.is_empty()),
        std::borrow::Cow::Owned(v) => {
            let b = v.into_boxed_slice();
            // SAFETY: the box is kept in the arena, which lives (unshrunk)
            // as long as the object; moving a box does not move its bytes.
            let r = unsafe { extend(&b) };
            arena.borrow_mut().push(b);
            Some(r).filter(|d| !d.is_empty())
        }
    }
}

fn section_addr_bytes(file: &object::File<'static>, name: &str, arena: &Arena) -> Option<(u64, &'static [u8])> {
    let addr = file.section_by_name(name)?.address();
    section_bytes(file, name, arena).map(|d| (addr, d))
}

impl ObjectSymbols {
    /// Parses the ELF headers of `data`. `bias` is what was added to every
    /// link-time address when the object was loaded (0 for a file examined
    /// on its own or a non-PIE executable). Addresses given to and returned
    /// by the lookup methods are runtime addresses (link-time + bias).
    pub fn from_bytes(name: &str, data: impl Into<ObjectData>, bias: u64) -> Result<ObjectSymbols> {
        Self::with_debug_data(name, data.into(), None, bias)
    }

    /// Like [`from_bytes`](Self::from_bytes), with a separate debug file
    /// (e.g. from `/usr/lib/debug/.build-id/`) whose DWARF, `.debug_frame`
    /// and symbol table complement the object's own.
    pub fn with_debug_data(
        name: &str,
        data: ObjectData,
        debug_data: Option<ObjectData>,
        bias: u64,
    ) -> Result<ObjectSymbols> {
        // SAFETY: `data` and `debug_data` are moved into the returned value
        // next to `inner`, which holds every extended borrow; see the
        // invariant on `ObjectSymbols`.
        let bytes = unsafe { extend(data.bytes()) };
        let file = object::File::parse(bytes)?;
        let debug_file = match &debug_data {
            // SAFETY: as above.
            Some(d) => Some(object::File::parse(unsafe { extend(d.bytes()) })?),
            None => None,
        };
        let endian = if file.is_little_endian() { gimli::RunTimeEndian::Little } else { gimli::RunTimeEndian::Big };
        let address_size = if file.is_64() { 8 } else { 4 };
        let segments = file
            .segments()
            .map(|s| {
                let (offset, filesz) = s.file_range();
                LoadSegment {
                    vaddr: s.address(),
                    memsz: s.size(),
                    offset,
                    filesz,
                    executable: matches!(
                        s.flags(),
                        object::SegmentFlags::Elf { p_flags, .. } if p_flags.contains(object::elf::PF_X)
                    ),
                }
            })
            .collect();
        let build_id = file.build_id().ok().flatten();
        let arena = Arena::default();
        let debug_frame = section_bytes(&file, ".debug_frame", &arena)
            .or_else(|| debug_file.as_ref().and_then(|d| section_bytes(d, ".debug_frame", &arena)));
        let cfi = Cfi::new(CfiSections {
            eh_frame: section_addr_bytes(&file, ".eh_frame", &arena),
            eh_frame_hdr: section_addr_bytes(&file, ".eh_frame_hdr", &arena),
            debug_frame,
            text: file.section_by_name(".text").map(|s| s.address()),
            got: file.section_by_name(".got").or_else(|| file.section_by_name(".got.plt")).map(|s| s.address()),
            endian,
            address_size,
        });
        Ok(ObjectSymbols {
            inner: Box::new(Inner {
                name: name.into(),
                bias,
                file,
                debug_file,
                build_id,
                segments,
                endian,
                cfi,
                symtab: OnceCell::new(),
                dwarf: OnceCell::new(),
                caches: RefCell::new(Caches {
                    addr: AddrMap::default(),
                    capacity: DEFAULT_CACHE_CAPACITY,
                    names: HashMap::new(),
                    files: HashMap::new(),
                    hits: 0,
                    misses: 0,
                    cfi_rows: AddrMap::default(),
                }),
                arena,
            }),
            data,
            debug_data,
        })
    }

    /// The name given at construction (usually the path).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The load bias.
    pub fn bias(&self) -> u64 {
        self.inner.bias
    }

    /// The GNU build-id, if the object has one.
    pub fn build_id(&self) -> Option<&[u8]> {
        self.inner.build_id
    }

    /// The `PT_LOAD` segments (link-time addresses).
    pub fn load_segments(&self) -> &[LoadSegment] {
        &self.inner.segments
    }

    /// Runtime address ranges covered by the `PT_LOAD` segments.
    pub fn runtime_ranges(&self) -> impl Iterator<Item = std::ops::Range<u64>> + '_ {
        self.inner.segments.iter().filter(|s| s.memsz > 0).map(|s| {
            let start = s.vaddr.wrapping_add(self.inner.bias);
            start..start.saturating_add(s.memsz)
        })
    }

    /// The ELF machine architecture.
    pub fn architecture(&self) -> object::Architecture {
        self.inner.file.architecture()
    }

    /// The raw bytes of the object.
    pub fn data(&self) -> &[u8] {
        self.data.bytes()
    }

    /// True when the object (or its separate debug file) has DWARF `.debug_info`.
    pub fn has_dwarf(&self) -> bool {
        self.dwarf_file().is_some()
    }

    /// True when the object has `.eh_frame` or `.debug_frame`.
    pub fn has_cfi(&self) -> bool {
        self.inner.cfi.is_present()
    }

    fn dwarf_file(&self) -> Option<&object::File<'static>> {
        let has = |f: &object::File<'static>| section_present(f, ".debug_info");
        match &self.inner.debug_file {
            Some(d) if has(d) => Some(d),
            _ => Some(&self.inner.file).filter(|f| has(f)),
        }
    }

    fn symtab(&self) -> &SymbolTable<'static> {
        self.inner.symtab.get_or_init(|| {
            let mut files = vec![&self.inner.file];
            if let Some(d) = &self.inner.debug_file {
                files.push(d);
            }
            SymbolTable::build(&files)
        })
    }

    /// Number of code symbols in the symbol tables (builds the table).
    pub fn symbol_count(&self) -> usize {
        self.symtab().len()
    }

    /// Runtime start addresses and sizes of all code symbols, sorted
    /// (builds the table).
    pub fn symbol_ranges(&self) -> Vec<(u64, u64)> {
        self.symtab().iter().map(|s| (s.addr.wrapping_add(self.inner.bias), s.size)).collect()
    }

    fn dwarf(&self) -> Result<Option<&Ctx>> {
        let r = self.inner.dwarf.get_or_init(|| {
            let Some(file) = self.dwarf_file() else {
                return Ok(None);
            };
            let endian = self.inner.endian;
            let load = |id: gimli::SectionId| -> Result<R> {
                let d = section_bytes(file, id.name(), &self.inner.arena).unwrap_or(&[]);
                Ok(gimli::EndianSlice::new(d, endian))
            };
            let dwarf = gimli::Dwarf::load(load)?;
            Ok(Some(Ctx::from_dwarf(dwarf)?))
        });
        match r {
            Ok(c) => Ok(c.as_ref()),
            Err(e) => Err(*e),
        }
    }

    /// Parses the DWARF unit index now rather than on the first look-up.
    /// Returns the error that would make DWARF look-ups fail, if any.
    pub fn preload(&self) -> Result<()> {
        self.symtab();
        self.dwarf().map(|_| ())
    }

    /// Symbolizes runtime address `addr`. Never fails: what could not be
    /// found is absent, and a DWARF error is reported through
    /// [`Symbolization::error`].
    pub fn symbolize(&self, addr: u64) -> Symbolization {
        let resolved = self.resolve(addr);
        Symbolization {
            address: addr,
            object: self.inner.name.clone(),
            object_offset: addr.wrapping_sub(self.inner.bias),
            resolved,
        }
    }

    /// The frames at `addr`, innermost inline frame first.
    pub fn find_frames(&self, addr: u64) -> FrameIter {
        self.symbolize(addr).iter()
    }

    /// (hits, misses) of the per-address cache.
    pub fn cache_stats(&self) -> (u64, u64) {
        let c = self.inner.caches.borrow();
        (c.hits, c.misses)
    }

    /// Bounds the per-address cache to `entries` results (default 65536);
    /// when full it is emptied and refilled. 0 disables it. Parsed DWARF
    /// units, names and file paths stay cached regardless.
    pub fn set_cache_capacity(&self, entries: usize) {
        let mut c = self.inner.caches.borrow_mut();
        c.capacity = entries;
        c.addr.clear();
    }

    fn resolve(&self, addr: u64) -> Arc<Resolved> {
        {
            let mut c = self.inner.caches.borrow_mut();
            if let Some(r) = c.addr.get(&addr) {
                let r = r.clone();
                c.hits += 1;
                return r;
            }
            c.misses += 1;
        }
        let r = Arc::new(self.resolve_uncached(addr));
        let mut c = self.inner.caches.borrow_mut();
        if c.capacity > 0 {
            if c.addr.len() >= c.capacity {
                c.addr.clear();
            }
            c.addr.insert(addr, r.clone());
        }
        r
    }

    fn names_for(&self, key: (usize, usize), raw: &str) -> (Arc<str>, Arc<str>) {
        let mut c = self.inner.caches.borrow_mut();
        c.names.entry(key).or_insert_with(|| (demangle(raw).into(), raw.into())).clone()
    }

    fn file_for(&self, file: &str) -> Arc<str> {
        let key = (file.as_ptr() as usize, file.len());
        let mut c = self.inner.caches.borrow_mut();
        c.files.entry(key).or_insert_with(|| file.into()).clone()
    }

    fn resolve_uncached(&self, addr: u64) -> Resolved {
        let link = addr.wrapping_sub(self.inner.bias);
        // Debug info of functions the linker discarded is often left at
        // address 0; only addresses the object actually loads are looked up.
        let segs = &self.inner.segments;
        let any_exec = segs.iter().any(|s| s.executable);
        if !segs.is_empty()
            && !segs.iter().any(|s| (s.executable || !any_exec) && link >= s.vaddr && link - s.vaddr < s.memsz)
        {
            return Resolved { frames: Vec::new(), symbol: None, error: None };
        }
        let symbol = self.symtab().lookup(link).map(|s| {
            let (name, mangled) = self.names_for((s.name.as_ptr() as usize, s.name.len()), s.name);
            SymbolInfo { name, mangled, address: s.addr.wrapping_add(self.inner.bias), size: s.size }
        });
        let mut frames = Vec::new();
        let mut error = None;
        match self.dwarf() {
            Ok(Some(ctx)) => {
                if let Err(e) = self.dwarf_frames(ctx, link, &mut frames) {
                    error = Some(e);
                }
            }
            Ok(None) => {}
            Err(e) => error = Some(e),
        }
        // Fill in from the symbol table what DWARF did not say.
        match frames.last_mut() {
            Some(outer) if outer.function.is_none() => {
                if let Some(s) = &symbol {
                    outer.function = Some(s.name.clone());
                    outer.mangled = Some(s.mangled.clone());
                }
            }
            Some(_) => {}
            None => {
                if let Some(s) = &symbol {
                    frames.push(Frame {
                        function: Some(s.name.clone()),
                        mangled: Some(s.mangled.clone()),
                        file: None,
                        line: None,
                        column: None,
                        inlined: false,
                        source: FrameSource::SymbolTable,
                    });
                }
            }
        }
        if let Some((last, rest)) = frames.split_last_mut() {
            last.inlined = false;
            for f in rest {
                f.inlined = true;
            }
        }
        Resolved { frames, symbol, error }
    }

    fn dwarf_frames(&self, ctx: &Ctx, link: u64, out: &mut Vec<Frame>) -> Result<()> {
        let mut iter = ctx.find_frames(link).skip_all_loads()?;
        while let Some(f) = iter.next()? {
            let (function, mangled) = match &f.function {
                Some(n) => {
                    let raw = n.raw_name()?;
                    let key = (n.name.slice().as_ptr() as usize, n.name.slice().len());
                    let (d, m) = self.names_for(key, &raw);
                    (Some(d), Some(m))
                }
                None => (None, None),
            };
            let (file, line, column) = match &f.location {
                Some(l) => (l.file.map(|p| self.file_for(p)), l.line.filter(|&l| l != 0), l.column.filter(|&c| c != 0)),
                None => (None, None, None),
            };
            out.push(Frame { function, mangled, file, line, column, inlined: true, source: FrameSource::Dwarf });
            if out.len() > 4096 {
                // Corrupt inlining data could describe an absurd nesting.
                break;
            }
        }
        Ok(())
    }

    /// The CFI rules for runtime address `addr`.
    pub(crate) fn cfi_row(&self, addr: u64, ctx: &mut gimli::UnwindContext<usize>) -> Result<Option<Arc<CfiRow>>> {
        if let Some(r) = self.inner.caches.borrow().cfi_rows.get(&addr) {
            return Ok(r.clone());
        }
        // Errors are not cached here: the walk falls back to frame pointers
        // and reports them; the FDE indexes themselves are built only once.
        let row = self.inner.cfi.find_row(addr.wrapping_sub(self.inner.bias), ctx)?.map(Arc::new);
        let mut c = self.inner.caches.borrow_mut();
        if c.cfi_rows.len() >= DEFAULT_CACHE_CAPACITY {
            c.cfi_rows.clear();
        }
        c.cfi_rows.insert(addr, row.clone());
        Ok(row)
    }

    /// Finds the unwind rules for runtime `addr` now (filling the row cache);
    /// true if there are any.
    pub fn has_cfi_for(&self, addr: u64) -> bool {
        let mut ctx = gimli::UnwindContext::new();
        matches!(self.cfi_row(addr, &mut ctx), Ok(Some(_)))
    }

    /// The SystemTap SDT probes in `.note.stapsdt`, with addresses adjusted
    /// for `.stapsdt.base` and the load bias.
    ///
    /// Notes whose code the linker discarded (`--gc-sections` keeps the
    /// note but its pc becomes a section-relative small number) are left
    /// out when the object has executable segments: a probe must lie in
    /// one, or arming it would write into something that is not code.
    pub fn probes(&self) -> Result<Vec<Probe>> {
        let file = &self.inner.file;
        let Some(sec) = file.section_by_name(".note.stapsdt") else {
            return Ok(Vec::new());
        };
        let data = sec.data()?;
        let base = file.section_by_name(".stapsdt.base").map(|s| s.address());
        let mut probes = parse_probes(data, self.inner.endian, file.is_64(), base, self.inner.bias, &self.inner.name)?;
        let exec: Vec<&LoadSegment> = self.inner.segments.iter().filter(|s| s.executable && s.memsz > 0).collect();
        if !exec.is_empty() {
            probes.retain(|p| exec.iter().any(|s| p.link_address >= s.vaddr && p.link_address - s.vaddr < s.memsz));
        }
        Ok(probes)
    }
}
