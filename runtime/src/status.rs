//! The status table, writer side: the memfd `grt-status`, the sections the
//! runtime's records live in, record allocation, and interning of sites and
//! type names.
//!
//! The table is created once, before anything else in the runtime runs,
//! and never moves or shrinks. Its sections are fixed-capacity arrays of
//! zero-initialized records (a fresh memfd reads as zeros, and pages are
//! only backed once touched, so an unused capacity costs nothing). Records
//! are allocated by bumping a section's `len`; the modules that own a
//! record kind keep their own free lists, as Go never frees Gs or Ms.
//!
//! Invariants:
//! - `Section.len` only grows, and a record below it has been zeroed or
//!   initialized; readers never look past it.
//! - Pointers between records are plain virtual addresses in this process.
//! - Nothing is written to the file system: the memfd has no path, is
//!   created close-on-exec with `MFD_NOEXEC_SEAL` and mode 0600, and goes
//!   away with the process.

use crate::lock::{lock, lock_init, unlock};
use crate::lockrank::{Rank, RANK_NAMES};
use crate::os;
use core::mem::size_of;
use core::ptr;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use core::sync::atomic::{AtomicPtr, AtomicU64};
use grt_table::desc::Record;
use grt_table::header::{Extent, Header, SectionKind, MAX_SECTIONS};
use grt_table::*;

/// What the extents of the sections come to in this process. Large on
/// purpose: untouched capacity costs virtual address space only.
pub struct Capacities {
    /// Records per `Extent::PerP` section.
    pub p: u64,
    /// Records per `Extent::PerM` section.
    pub m: u64,
    /// Records per `Extent::PerG` section.
    pub g: u64,
}

/// Most Ps GOMAXPROCS may ask for.
pub const MAX_GOMAXPROCS: u64 = 256;

/// Most Ms (threads) the table holds.
pub const MAX_M: u64 = 10_000;

impl Capacities {
    /// The capacities for a table of `maxg` goroutines (`GRT_MAXG`, read by
    /// `Config::from_env`).
    pub fn for_maxg(maxg: u64) -> Capacities {
        Capacities { p: MAX_GOMAXPROCS, m: MAX_M, g: maxg }
    }

    /// The capacity of a section of this extent (`blob`: the descriptor
    /// blob's length).
    fn of(&self, extent: Extent, blob: u64) -> u64 {
        match extent {
            Extent::Blob => blob,
            Extent::One => 1,
            Extent::PerP => self.p,
            Extent::PerM => self.m,
            Extent::PerG => self.g,
            Extent::Fixed(n) => n,
        }
    }
}

/// Slots of the per-kind arrays in `Table`: kind numbers are below this.
const KIND_SLOTS: usize = 32;
const _: () = {
    let mut i = 0;
    while i < SectionKind::ALL.len() {
        assert!((SectionKind::ALL[i] as usize) < KIND_SLOTS);
        i += 1;
    }
};

/// Where everything is. Set once by `create`, read everywhere.
pub struct Table {
    pub base: *mut u8,
    pub size: u64,
    pub fd: i32,
    header: *mut Header,
    sched: *mut Sched,
    mheap: *mut MHeap,
    /// The first record (byte) of each section, by kind number.
    first: [*mut u8; KIND_SLOTS],
    /// Each section's position in the header, by kind number.
    index: [usize; KIND_SLOTS],
}

static TABLE: AtomicPtr<Table> = AtomicPtr::new(ptr::null_mut());

/// The table (after `create`).
#[inline]
pub fn table() -> &'static Table {
    // SAFETY: set once in `create` before any other runtime code runs and
    // never freed.
    unsafe { &*TABLE.load(Relaxed) }
}

/// Whether the table exists yet.
pub fn table_ready() -> bool {
    !TABLE.load(Relaxed).is_null()
}

const PAGE: u64 = 4096;

fn page_round(x: u64) -> u64 {
    (x + PAGE - 1) & !(PAGE - 1)
}

/// Creates the memfd, maps it, lays out the sections and writes the header.
/// Runs once, single-threaded, at runtime start. The sections are the ones
/// `SectionKind::ALL` lists, in its order.
pub fn create(caps: &Capacities, bugs: u64, flags: u64, stack_size: u64) -> Result<(), String> {
    let desc = descriptor_blob(&RANK_NAMES);
    let kinds = SectionKind::ALL;
    let mut capacity = [0u64; MAX_SECTIONS];
    let mut offsets = [0u64; MAX_SECTIONS];
    let mut off = page_round(size_of::<Header>() as u64);
    for (i, kind) in kinds.iter().enumerate() {
        capacity[i] = caps.of(kind.layout().extent, desc.len() as u64);
        offsets[i] = off;
        off = page_round(off + kind.stride() * capacity[i]);
    }
    let size = off;

    // SAFETY: memfd_create takes a NUL-terminated name and flags.
    let name = b"grt-status\0";
    let mut fd =
        unsafe { libc::memfd_create(name.as_ptr() as *const libc::c_char, libc::MFD_CLOEXEC | libc::MFD_NOEXEC_SEAL) };
    if fd < 0 && os::errno() == libc::EINVAL {
        // Kernels before 6.3 do not know MFD_NOEXEC_SEAL.
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(name.as_ptr() as *const libc::c_char, libc::MFD_CLOEXEC) };
    }
    if fd < 0 {
        return Err(format!("memfd_create(grt-status): {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a memfd we own; fchmod and ftruncate only change it.
    unsafe {
        libc::fchmod(fd, 0o600);
        if libc::ftruncate(fd, size as libc::off_t) != 0 {
            return Err(format!("ftruncate(grt-status, {size}): {}", std::io::Error::last_os_error()));
        }
    }
    // SAFETY: a fresh shared mapping of our own memfd; nothing aliases it.
    let base = unsafe {
        libc::mmap(ptr::null_mut(), size as usize, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
    };
    if base == libc::MAP_FAILED {
        return Err(format!("mmap(grt-status, {size}): {}", std::io::Error::last_os_error()));
    }
    let base = base as *mut u8;

    // SAFETY: the header lies at offset 0 of the zeroed mapping; it is
    // written once here before the table is published.
    let h = unsafe { &mut *(base as *mut Header) };
    h.magic = MAGIC;
    h.abi_version = ABI_VERSION;
    h.header_size = size_of::<Header>() as u32;
    h.layout_hash = grt_table::desc::fnv1a(&desc);
    // SAFETY: getpid has no arguments.
    h.pid = unsafe { libc::getpid() } as u32;
    h.nsections = kinds.len() as u32;
    h.base = base as u64;
    h.size = size;
    h.start_unix_ns = os::walltime() as u64;
    h.start_mono_ns = os::nanotime() as u64;
    h.bugs = bugs;
    h.flags = flags;
    h.stack_size = stack_size;
    let mut first = [ptr::null_mut(); KIND_SLOTS];
    let mut index = [0usize; KIND_SLOTS];
    for (i, kind) in kinds.iter().enumerate() {
        let s = &mut h.sections[i];
        s.kind = *kind as u32;
        s.stride = kind.stride() as u32;
        s.offset = offsets[i];
        s.capacity = capacity[i];
        // SAFETY: offsets[i] < size: computed above from the same list.
        first[*kind as usize] = unsafe { base.add(offsets[i] as usize) };
        index[*kind as usize] = i;
        // A one-record section holds its (zeroed) record from the start.
        if kind.layout().extent == Extent::One {
            s.len.store(1, Relaxed);
        }
    }
    let d = first[SectionKind::Desc as usize];
    // SAFETY: the descriptor section has room for the blob (its capacity).
    unsafe { ptr::copy_nonoverlapping(desc.as_ptr(), d, desc.len()) };
    h.sections[index[SectionKind::Desc as usize]].len.store(desc.len() as u64, Relaxed);

    let t = Box::new(Table {
        base,
        size,
        fd,
        header: h,
        sched: first[SectionKind::Sched as usize] as *mut Sched,
        mheap: first[SectionKind::MHeap as usize] as *mut MHeap,
        first,
        index,
    });
    TABLE.store(Box::into_raw(t), Release);
    let t = table();
    // SAFETY: sched and mheap point at their zeroed records.
    unsafe {
        lock_init(&(*t.sched).lock, Rank::Sched);
        lock_init(&(*t.sched).gfree_lock, Rank::Gfree);
        lock_init(&(*t.sched).sudog_lock, Rank::SudogCentral);
        lock_init(&(*t.sched).timers_lock, Rank::Timers);
        lock_init(&(*t.sched).hchan_lock, Rank::HchanFree);
        lock_init(&(*t.sched).sites_lock, Rank::Sites);
        lock_init(&(*t.mheap).lock, Rank::Mheap);
    }
    Ok(())
}

impl Table {
    pub fn header(&self) -> &Header {
        // SAFETY: valid for the life of the process.
        unsafe { &*self.header }
    }

    fn section(&self, kind: SectionKind) -> &grt_table::Section {
        &self.header().sections[self.index[kind as usize]]
    }

    /// The first record of section `kind`, whose records are `T`.
    #[inline]
    fn first<T: Record>(&self, kind: SectionKind) -> *mut T {
        debug_assert_eq!(kind.record_name(), Some(T::NAME));
        self.first[kind as usize] as *mut T
    }

    /// Sets a header flag (before `publish`).
    pub fn set_flag(&self, flag: u64) {
        // SAFETY: called during single-threaded start-up, before readers
        // are told the table is ready; the header lives for the process.
        unsafe { (*self.header).flags |= flag };
    }

    /// Marks the table complete (readers may trust `ready`).
    pub fn publish(&self) {
        self.header().ready.store(1, Release);
    }

    /// Allocates a zeroed record of `kind`, or `None` when the section is full.
    pub(crate) fn alloc<T: Record>(&self, kind: SectionKind) -> Option<&'static T> {
        let first = self.first::<T>(kind);
        let s = self.section(kind);
        let i = s.len.fetch_add(1, Relaxed);
        if i >= s.capacity {
            s.len.fetch_sub(1, Relaxed);
            return None;
        }
        // SAFETY: i < capacity, so the record lies inside the section.
        Some(unsafe { &*first.add(i as usize) })
    }

    /// Number of records of `kind` allocated so far.
    pub fn len(&self, kind: SectionKind) -> u64 {
        self.section(kind).len.load(Acquire).min(self.section(kind).capacity)
    }

    pub fn capacity(&self, kind: SectionKind) -> u64 {
        self.section(kind).capacity
    }

    /// Allocates `n` bytes aligned to `align` (a power of two, at least 8;
    /// the length is rounded up to it too) in a byte section, or `None`
    /// when full. Byte sections start at a page boundary.
    fn alloc_bytes(&self, kind: SectionKind, n: u64, align: u64) -> Option<*mut u8> {
        debug_assert_eq!(kind.record_name(), None);
        let base = self.first[kind as usize];
        let s = self.section(kind);
        let n = (n + align - 1) & !(align - 1);
        let mut cur = s.len.load(Relaxed);
        loop {
            let at = (cur + align - 1) & !(align - 1);
            if at + n > s.capacity {
                return None;
            }
            match s.len.compare_exchange(cur, at + n, Relaxed, Relaxed) {
                // SAFETY: [at, at+n) lies inside the section.
                Ok(_) => return Some(unsafe { base.add(at as usize) }),
                Err(v) => cur = v,
            }
        }
    }

    /// Allocates `n` bytes, whole pages, in the table's arena (allspans
    /// arrays). The address range is never handed out again, even after
    /// `arena_release`: the arena is a bump allocator.
    pub fn arena_alloc_pages(&self, n: u64) -> Option<*mut u8> {
        self.alloc_bytes(SectionKind::Arena, n, PAGE)
    }

    /// Gives the pages of an `arena_alloc_pages(n)` block back to the
    /// kernel (they read as zeros afterwards). Reports success. The caller
    /// guarantees that nothing in the runtime reads the block again.
    pub fn arena_release(&self, p: *mut u8, n: u64) -> bool {
        let n = page_round(n);
        let off = (p as u64).wrapping_sub(self.first[SectionKind::Arena as usize] as u64);
        if !off.is_multiple_of(PAGE) || off + n > self.capacity(SectionKind::Arena) {
            return false;
        }
        // SAFETY: [p, p+n) is a whole-page block of the arena section of
        // our own shared mapping, checked above; MADV_REMOVE frees its
        // backing pages in the memfd and leaves the mapping in place.
        unsafe { libc::madvise(p as *mut libc::c_void, n as usize, libc::MADV_REMOVE) == 0 }
    }

    /// The i-th P record (allp[i]).
    #[inline]
    pub fn p(&self, i: usize) -> &'static P {
        debug_assert!((i as u64) < MAX_GOMAXPROCS);
        // SAFETY: i < MAX_GOMAXPROCS = the P section's capacity.
        unsafe { &*self.first::<P>(SectionKind::P).add(i) }
    }

    /// The i-th G record.
    pub fn g(&self, i: usize) -> &'static G {
        assert!((i as u64) < self.capacity(SectionKind::G));
        // SAFETY: bounds checked above.
        unsafe { &*self.first::<G>(SectionKind::G).add(i) }
    }

    /// The i-th M record.
    pub fn m(&self, i: usize) -> &'static M {
        assert!((i as u64) < self.capacity(SectionKind::M));
        // SAFETY: bounds checked above.
        unsafe { &*self.first::<M>(SectionKind::M).add(i) }
    }

    /// Record `i` of section `kind` (whose records are `T`), if allocated.
    pub fn record<T: Record>(&self, kind: SectionKind, i: u64) -> Option<&'static T> {
        if i >= self.len(kind) {
            return None;
        }
        // SAFETY: i < len <= capacity: the record lies in the section and
        // was initialized when allocated.
        Some(unsafe { &*self.first::<T>(kind).add(i as usize) })
    }

    /// `len` bytes at offset `off` of the Strings section, if in use.
    pub fn string(&self, off: u64, len: u64) -> Option<&'static [u8]> {
        if off.checked_add(len)? > self.len(SectionKind::Strings) {
            return None;
        }
        // SAFETY: [off, off+len) lies in the used part of the Strings
        // section, whose bytes are written once, before `len` covers them.
        Some(unsafe {
            core::slice::from_raw_parts(self.first[SectionKind::Strings as usize].add(off as usize), len as usize)
        })
    }
}

/// The scheduler record.
#[inline]
pub fn sched() -> &'static Sched {
    // SAFETY: created with the table; lives forever.
    unsafe { &*table().sched }
}

/// The heap record.
#[inline]
pub fn mheap() -> &'static MHeap {
    // SAFETY: created with the table; lives forever.
    unsafe { &*table().mheap }
}

// --- interning -------------------------------------------------------------

const INTERN_SLOTS: usize = 1 << 16;

/// An open-addressing map from a static address to a Site index, readable
/// without a lock: a slot's index is stored before its key is published.
struct InternMap {
    keys: [AtomicU64; INTERN_SLOTS],
    vals: [AtomicU64; INTERN_SLOTS],
}

static SITES: InternMap =
    InternMap { keys: [const { AtomicU64::new(0) }; INTERN_SLOTS], vals: [const { AtomicU64::new(0) }; INTERN_SLOTS] };
static TYPES: InternMap =
    InternMap { keys: [const { AtomicU64::new(0) }; INTERN_SLOTS], vals: [const { AtomicU64::new(0) }; INTERN_SLOTS] };

#[inline]
fn slot_of(key: u64) -> usize {
    ((key.wrapping_mul(0x9E3779B97F4A7C15)) >> 48) as usize & (INTERN_SLOTS - 1)
}

impl InternMap {
    #[inline]
    fn get(&self, key: u64) -> Option<u32> {
        let mut i = slot_of(key);
        for _ in 0..INTERN_SLOTS {
            let k = self.keys[i].load(Acquire);
            if k == key {
                return Some(self.vals[i].load(Relaxed) as u32);
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) & (INTERN_SLOTS - 1);
        }
        None
    }

    /// Inserts under sched.sites_lock.
    fn insert(&self, key: u64, val: u32) {
        let mut i = slot_of(key);
        for _ in 0..INTERN_SLOTS {
            if self.keys[i].load(Relaxed) == 0 {
                self.vals[i].store(val as u64, Relaxed);
                self.keys[i].store(key, Release);
                return;
            }
            i = (i + 1) & (INTERN_SLOTS - 1);
        }
    }
}

/// Index 0 of the Site section is "unknown".
pub const NO_SITE: u32 = 0;

fn new_site(key: u64, kind: u32, name: &str, line: u32, col: u32) -> u32 {
    let t = table();
    let Some(s) = t.alloc::<Site>(SectionKind::Site) else {
        return NO_SITE;
    };
    let idx = (s as *const Site as usize - t.first::<Site>(SectionKind::Site) as usize) / size_of::<Site>();
    let bytes = name.as_bytes();
    if let Some(p) = t.alloc_bytes(SectionKind::Strings, bytes.len() as u64, 8) {
        // SAFETY: p has room for bytes.len() bytes in the Strings section.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
        s.name_off.store((p as usize - t.first[SectionKind::Strings as usize] as usize) as u32, Relaxed);
        s.name_len.store(bytes.len() as u32, Relaxed);
    }
    s.key.store(key, Relaxed);
    s.kind.store(kind, Relaxed);
    s.line.store(line, Relaxed);
    s.col.store(col, Relaxed);
    idx as u32
}

/// Reserves Site 0 ("unknown"). Called once at start.
pub fn init_sites() {
    let t = table();
    let _ = t.alloc::<Site>(SectionKind::Site);
}

/// The Site index of a source location (interned on first use).
#[inline]
pub fn intern_location(loc: &'static core::panic::Location<'static>) -> u32 {
    let key = loc as *const _ as u64;
    if let Some(v) = SITES.get(key) {
        return v;
    }
    intern_slow(&SITES, key, 0, loc.file(), loc.line(), loc.column())
}

/// The Site index of a type name (interned on first use).
#[inline]
pub fn intern_type(name: &'static str) -> u32 {
    let key = name.as_ptr() as u64 ^ ((name.len() as u64) << 48);
    if let Some(v) = TYPES.get(key) {
        return v;
    }
    intern_slow(&TYPES, key, 1, name, 0, 0)
}

#[cold]
fn intern_slow(map: &InternMap, key: u64, kind: u32, name: &str, line: u32, col: u32) -> u32 {
    let s = sched();
    lock(&s.sites_lock);
    let v = match map.get(key) {
        Some(v) => v,
        None => {
            let v = new_site(key, kind, name, line, col);
            map.insert(key, v);
            v
        }
    };
    unlock(&s.sites_lock);
    v
}

/// Set-up for the crate's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::{Mutex, MutexGuard, Once};

    static INIT: Once = Once::new();
    static SERIAL: Mutex<()> = Mutex::new(());

    /// Creates the table and reserves the heap once per test process (no
    /// scheduler runs: there is no M, P or G of the runtime's own), and
    /// serializes the tests, which share sched, the heap and the global
    /// lists. Each test works on its own Ps and on G records it allocates.
    pub(crate) fn setup() -> MutexGuard<'static, ()> {
        INIT.call_once(|| {
            super::create(&super::Capacities::for_maxg(1 << 16), 0, 0, 1 << 20).expect("create the table");
            super::init_sites();
            crate::mheap::init().expect("reserve the heap arena");
        });
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }
}
