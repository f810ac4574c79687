//! Synthetic status tables for tests, benchmarks, fuzzing and demos: a thin
//! layer over `grt_table::build::TableBuilder` that allocates records the way
//! the runtime does (Ms with tids, Ps, goroutines with stacks and stack
//! spans, channels, goroutines parked on channels through sudogs, the
//! allspans array in the arena) and fills the fields a decoder reads.
//!
//! Invariant: what this builds is a table the runtime could have written
//! (pointers between records are consistent) unless a caller pokes at it
//! with [`Synth::set`]/[`Synth::set_at`] afterwards, which tests do to make
//! damage on purpose.

use grt_table::build::TableBuilder;
use grt_table::desc::Record;
use grt_table::header::{Header, Section, SectionKind};
use grt_table::view::HeaderInfo;
use grt_table::{mrole, mstate, spanstate, waitreason, Hchan, MHeap, MSpan, Sched, Site, Sudog, G, M, P};
use std::mem::{offset_of, size_of};

/// The base address synthetic tables pretend to be mapped at.
pub const BASE: u64 = 0x7f00_0000_0000;
/// Where synthetic goroutine stacks live, and their size.
pub const STACKS: u64 = 0x7e00_0000_0000;
pub const STACK_SIZE: u64 = 64 << 10;

/// A table under construction with allocation counters per section.
pub struct Synth {
    pub b: TableBuilder,
    cap: u64,
    np: u64,
    nm: u64,
    ng: u64,
    nsudog: u64,
    nchan: u64,
    nspan: u64,
    nsite: u64,
    /// Bytes used in the Strings section.
    next_goid: u64,
    next_chan_id: u64,
    /// Span record indices, in allspans order.
    allspans: Vec<u64>,
}

impl Synth {
    /// A table with room for `cap` records per section (Ps capped at 256)
    /// and an arena big enough for an allspans array of `cap` spans.
    pub fn new(cap: u64) -> Synth {
        let mut b = TableBuilder::new(BASE, cap);
        grow_arena(&mut b, (cap * 8 + 4095) & !4095);
        let mut s = Synth {
            b,
            cap,
            np: 0,
            nm: 0,
            ng: 0,
            nsudog: 0,
            nchan: 0,
            nspan: 0,
            nsite: 1, // site 0 is "unknown"
            next_goid: 1,
            next_chan_id: 1,
            allspans: Vec::new(),
        };
        s.b.set_len(SectionKind::Site, 1);
        s.set::<MHeap>(SectionKind::MHeap, 0, "sweepgen", 4);
        s.set::<MHeap>(SectionKind::MHeap, 0, "sweepdone", 1);
        s.set::<MHeap>(SectionKind::MHeap, 0, "pagesize", 4096);
        s.set::<MHeap>(SectionKind::MHeap, 0, "arena_start", STACKS);
        s.set::<MHeap>(SectionKind::MHeap, 0, "arena_end", STACKS + (1 << 40));
        s.set::<Sched>(SectionKind::Sched, 0, "lock.rank", 1);
        s
    }

    pub fn capacity(&self) -> u64 {
        self.cap
    }

    /// Writes a field (dotted for nested records) of record `index`.
    pub fn set<T: Record>(&mut self, kind: SectionKind, index: u64, field: &str, v: u64) {
        self.b.set::<T>(kind, index, field, v);
    }

    /// Writes element `i` of an array field (top-level) of record `index`.
    pub fn set_at<T: Record>(&mut self, kind: SectionKind, index: u64, field: &str, i: usize, v: u64) {
        let f = T::FIELDS.iter().find(|f| f.name == field).unwrap_or_else(|| panic!("no field {field} in {}", T::NAME));
        assert!(i < f.count, "{}.{field}[{i}] out of range", T::NAME);
        let elem = f.size / f.count;
        let at = (self.b.addr(kind, index) - self.b.base) as usize + f.offset + i * elem;
        let bytes = v.to_ne_bytes();
        self.b.bytes[at..at + elem].copy_from_slice(&bytes[..elem]);
    }

    pub fn addr(&self, kind: SectionKind, index: u64) -> u64 {
        self.b.addr(kind, index)
    }

    fn bump(n: &mut u64, cap: u64, what: &str) -> u64 {
        assert!(*n < cap, "synthetic table full: no room for another {what}");
        *n += 1;
        *n - 1
    }

    /// Interns a source location (kind 0) or type name (kind 1).
    pub fn site(&mut self, name: &str, line: u32, kind: u32) -> u32 {
        let i = Self::bump(&mut self.nsite, self.cap, "site");
        let off = self.add_string(name);
        self.set::<Site>(SectionKind::Site, i, "kind", kind as u64);
        self.set::<Site>(SectionKind::Site, i, "line", line as u64);
        self.set::<Site>(SectionKind::Site, i, "name_off", off as u64);
        self.set::<Site>(SectionKind::Site, i, "name_len", name.len() as u64);
        self.b.set_len(SectionKind::Site, self.nsite);
        i as u32
    }

    /// Appends bytes to the Strings section; returns their offset in it.
    pub fn add_string(&mut self, text: &str) -> u32 {
        self.b.add_string(text)
    }

    /// Adds an M with its id = index.
    pub fn add_m(&mut self, role: u32, state: u32, tid: u64) -> u64 {
        let i = Self::bump(&mut self.nm, self.cap, "M");
        self.set::<M>(SectionKind::M, i, "id", i);
        self.set::<M>(SectionKind::M, i, "procid", tid);
        self.set::<M>(SectionKind::M, i, "role", role as u64);
        self.set::<M>(SectionKind::M, i, "state", state as u64);
        self.set::<M>(SectionKind::M, i, "g0.sp", 0x7d00_0000_0000 + (i + 1) * 0x10_0000 - 0x100);
        self.set::<M>(SectionKind::M, i, "g0_stack_lo", 0x7d00_0000_0000 + i * 0x10_0000);
        self.set::<M>(SectionKind::M, i, "g0_stack_hi", 0x7d00_0000_0000 + (i + 1) * 0x10_0000);
        self.b.set_len(SectionKind::M, self.nm);
        i
    }

    /// Adds a P with its id = index.
    pub fn add_p(&mut self, status: u32) -> u64 {
        let i = Self::bump(&mut self.np, self.cap.min(256), "P");
        self.set::<P>(SectionKind::P, i, "id", i);
        self.set::<P>(SectionKind::P, i, "status", status as u64);
        self.b.set_len(SectionKind::P, self.np);
        let n = self.np;
        self.set::<Sched>(SectionKind::Sched, 0, "gomaxprocs", n);
        i
    }

    /// Attaches P `p` to M `m` (both directions).
    pub fn attach(&mut self, m: u64, p: u64) {
        let (ma, pa) = (self.addr(SectionKind::M, m), self.addr(SectionKind::P, p));
        self.set::<M>(SectionKind::M, m, "p", pa);
        self.set::<P>(SectionKind::P, p, "m", ma);
    }

    /// Adds a goroutine (next goid) with a stack and a stack span.
    pub fn add_g(&mut self, status: u32, reason: u32, site: u32) -> u64 {
        let i = Self::bump(&mut self.ng, self.cap, "G");
        let goid = self.next_goid;
        self.next_goid += 1;
        let lo = STACKS + i * STACK_SIZE;
        let hi = lo + STACK_SIZE;
        self.set::<G>(SectionKind::G, i, "goid", goid);
        self.set::<G>(SectionKind::G, i, "atomicstatus", status as u64);
        self.set::<G>(SectionKind::G, i, "waitreason", reason as u64);
        self.set::<G>(SectionKind::G, i, "stack_lo", lo);
        self.set::<G>(SectionKind::G, i, "stack_hi", hi);
        self.set::<G>(SectionKind::G, i, "sched.sp", hi - 0x200);
        self.set::<G>(SectionKind::G, i, "sched.pc", 0x5555_0000_1000);
        self.set::<G>(SectionKind::G, i, "sched.bp", hi - 0x100);
        self.set::<G>(SectionKind::G, i, "site", site as u64);
        self.set::<G>(SectionKind::G, i, "gopc", 0x5555_0000_2000);
        self.set::<G>(SectionKind::G, i, "startpc", 0x5555_0000_3000);
        self.set::<G>(SectionKind::G, i, "parentgoid", 1);
        self.set::<G>(SectionKind::G, i, "generation", 1);
        if status == grt_table::G_WAITING {
            self.set::<G>(SectionKind::G, i, "waitsince", 1_000_000);
        }
        self.b.set_len(SectionKind::G, self.ng);
        let n = self.ng;
        self.set::<Sched>(SectionKind::Sched, 0, "ngoroutines", n);
        self.set::<Sched>(SectionKind::Sched, 0, "goidgen", goid);
        // Its stack span.
        let s = Self::bump(&mut self.nspan, self.cap, "span");
        self.set::<MSpan>(SectionKind::Span, s, "base", lo);
        self.set::<MSpan>(SectionKind::Span, s, "npages", STACK_SIZE / 4096);
        self.set::<MSpan>(SectionKind::Span, s, "state", spanstate::MANUAL as u64);
        self.set::<MSpan>(SectionKind::Span, s, "sweepgen", 4);
        self.set::<MSpan>(SectionKind::Span, s, "owner", self.addr(SectionKind::G, i));
        self.set::<MSpan>(SectionKind::Span, s, "index", self.allspans.len() as u64);
        self.b.set_len(SectionKind::Span, self.nspan);
        self.set::<G>(SectionKind::G, i, "stack_span", self.addr(SectionKind::Span, s));
        self.allspans.push(s);
        i
    }

    /// Puts goroutine `g` on M `m` as its curg (status running).
    pub fn run_on(&mut self, g: u64, m: u64) {
        let (ga, ma) = (self.addr(SectionKind::G, g), self.addr(SectionKind::M, m));
        self.set::<M>(SectionKind::M, m, "curg", ga);
        self.set::<G>(SectionKind::G, g, "m", ma);
    }

    /// Adds an in-use channel (next id) with a buffer of `cap`.
    pub fn add_chan(&mut self, cap: u64, elemtype: u32, site: u32) -> u64 {
        let i = Self::bump(&mut self.nchan, self.cap, "channel");
        let id = self.next_chan_id;
        self.next_chan_id += 1;
        self.set::<Hchan>(SectionKind::Hchan, i, "id", id);
        self.set::<Hchan>(SectionKind::Hchan, i, "dataqsiz", cap);
        self.set::<Hchan>(SectionKind::Hchan, i, "elemsize", 8);
        self.set::<Hchan>(SectionKind::Hchan, i, "inuse", 1);
        self.set::<Hchan>(SectionKind::Hchan, i, "refs", 1);
        self.set::<Hchan>(SectionKind::Hchan, i, "site", site as u64);
        self.set::<Hchan>(SectionKind::Hchan, i, "elemtype", elemtype as u64);
        self.b.set_len(SectionKind::Hchan, self.nchan);
        i
    }

    fn new_sudog(&mut self, g: u64, c: u64, elem_off: u64, is_select: bool) -> u64 {
        let s = Self::bump(&mut self.nsudog, self.cap, "sudog");
        let (ga, ca) = (self.addr(SectionKind::G, g), self.addr(SectionKind::Hchan, c));
        let hi = STACKS + g * STACK_SIZE + STACK_SIZE;
        self.set::<Sudog>(SectionKind::Sudog, s, "g", ga);
        self.set::<Sudog>(SectionKind::Sudog, s, "c", ca);
        self.set::<Sudog>(SectionKind::Sudog, s, "elem", hi - 0x100 - elem_off);
        self.set::<Sudog>(SectionKind::Sudog, s, "inuse", 1);
        self.set::<Sudog>(SectionKind::Sudog, s, "is_select", is_select as u64);
        self.set::<Sudog>(SectionKind::Sudog, s, "enqueued", 1_000_000);
        self.b.set_len(SectionKind::Sudog, self.nsudog);
        s
    }

    /// Appends sudog `s` to channel `c`'s recvq or sendq.
    fn enqueue(&mut self, c: u64, s: u64, recv: bool) {
        let (first, last) = if recv { ("recvq_first", "recvq_last") } else { ("sendq_first", "sendq_last") };
        let sa = self.addr(SectionKind::Sudog, s);
        let tail = self.get::<Hchan>(SectionKind::Hchan, c, last);
        if tail == 0 {
            self.set::<Hchan>(SectionKind::Hchan, c, first, sa);
        } else {
            let ti = (tail - self.addr(SectionKind::Sudog, 0)) / size_of::<Sudog>() as u64;
            self.set::<Sudog>(SectionKind::Sudog, ti, "next", sa);
            self.set::<Sudog>(SectionKind::Sudog, s, "prev", tail);
        }
        self.set::<Hchan>(SectionKind::Hchan, c, last, sa);
    }

    /// Reads back a field written earlier (top-level or dotted).
    pub fn get<T: Record>(&self, kind: SectionKind, index: u64, field: &str) -> u64 {
        let f = T::FIELDS.iter().find(|f| f.name == field).unwrap_or_else(|| panic!("no field {field} in {}", T::NAME));
        let at = (self.b.addr(kind, index) - self.b.base) as usize + f.offset;
        let elem = f.size / f.count;
        let mut b = [0u8; 8];
        b[..elem].copy_from_slice(&self.b.bytes[at..at + elem]);
        u64::from_ne_bytes(b)
    }

    /// Parks goroutine `g` (already added) on channel `c`: a sudog whose
    /// elem lies on g's stack, on c's recvq (or sendq), on g.waiting.
    pub fn park_on_chan(&mut self, g: u64, c: u64, recv: bool) -> u64 {
        let s = self.new_sudog(g, c, 0, false);
        self.enqueue(c, s, recv);
        let sa = self.addr(SectionKind::Sudog, s);
        self.set::<G>(SectionKind::G, g, "waiting", sa);
        self.set::<G>(SectionKind::G, g, "atomicstatus", grt_table::G_WAITING as u64);
        let reason = if recv { waitreason::CHAN_RECEIVE } else { waitreason::CHAN_SEND };
        self.set::<G>(SectionKind::G, g, "waitreason", reason as u64);
        s
    }

    /// Parks goroutine `g` in a select over `cases` ((channel, recv) pairs):
    /// one sudog per case, linked through waitlink in order.
    pub fn park_select(&mut self, g: u64, cases: &[(u64, bool)]) -> Vec<u64> {
        let mut out = Vec::new();
        let mut prev: Option<u64> = None;
        for (k, &(c, recv)) in cases.iter().enumerate() {
            let s = self.new_sudog(g, c, 8 * k as u64, true);
            self.enqueue(c, s, recv);
            let sa = self.addr(SectionKind::Sudog, s);
            match prev {
                None => self.set::<G>(SectionKind::G, g, "waiting", sa),
                Some(p) => self.set::<Sudog>(SectionKind::Sudog, p, "waitlink", sa),
            }
            prev = Some(s);
            out.push(s);
        }
        self.set::<G>(SectionKind::G, g, "atomicstatus", grt_table::G_WAITING as u64);
        self.set::<G>(SectionKind::G, g, "waitreason", waitreason::SELECT as u64);
        out
    }

    /// Puts goroutine `g` on P `p`'s local run queue (at its tail).
    pub fn runqput(&mut self, p: u64, g: u64) {
        let tail = self.get::<P>(SectionKind::P, p, "runqtail");
        let ga = self.addr(SectionKind::G, g);
        self.set_at::<P>(SectionKind::P, p, "runq", (tail % grt_table::RUNQ_LEN as u64) as usize, ga);
        self.set::<P>(SectionKind::P, p, "runqtail", tail + 1);
    }

    /// Appends goroutine `g` to the global run queue.
    pub fn globrunqput(&mut self, g: u64) {
        let ga = self.addr(SectionKind::G, g);
        let tail = self.get::<Sched>(SectionKind::Sched, 0, "runqtail");
        if tail == 0 {
            self.set::<Sched>(SectionKind::Sched, 0, "runqhead", ga);
        } else {
            let ti = (tail - self.addr(SectionKind::G, 0)) / size_of::<G>() as u64;
            self.set::<G>(SectionKind::G, ti, "schedlink", ga);
        }
        self.set::<Sched>(SectionKind::Sched, 0, "runqtail", ga);
        let n = self.get::<Sched>(SectionKind::Sched, 0, "runqsize");
        self.set::<Sched>(SectionKind::Sched, 0, "runqsize", n + 1);
    }

    /// Makes M `m` wait for the lock at `lock` (an address), since `since` ns.
    pub fn wait_lock(&mut self, m: u64, lock: u64) {
        self.set::<M>(SectionKind::M, m, "waitlock", lock);
        self.set::<M>(SectionKind::M, m, "waitsince", 1_000_000);
        self.set::<M>(SectionKind::M, m, "state", mstate::LOCKWAIT as u64);
    }

    /// Marks the lock at `lock_field` of a record as held by M `m`
    /// (key 1, or 2 when `contended`), and records it in m.held.
    pub fn hold_lock<T: Record>(&mut self, kind: SectionKind, index: u64, lock_field: &str, m: u64, contended: bool) {
        let ma = self.addr(SectionKind::M, m);
        self.set::<T>(kind, index, &format!("{lock_field}.key"), if contended { 2 } else { 1 });
        self.set::<T>(kind, index, &format!("{lock_field}.owner"), ma);
        let addr = self.lock_addr::<T>(kind, index, lock_field);
        let n = self.get::<M>(SectionKind::M, m, "nheld");
        self.set_at::<M>(SectionKind::M, m, "held", n as usize, addr);
        self.set::<M>(SectionKind::M, m, "nheld", n + 1);
        let l = self.get::<M>(SectionKind::M, m, "locks");
        self.set::<M>(SectionKind::M, m, "locks", l + 1);
    }

    /// The address of a lock field of a record.
    pub fn lock_addr<T: Record>(&self, kind: SectionKind, index: u64, lock_field: &str) -> u64 {
        let f = T::FIELDS
            .iter()
            .find(|f| f.name == lock_field)
            .unwrap_or_else(|| panic!("no lock {lock_field} in {}", T::NAME));
        self.addr(kind, index) + f.offset as u64
    }

    /// Finishes the table: writes the allspans array into the arena and
    /// returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        let n = self.allspans.len() as u64;
        let arr = self.addr(SectionKind::Arena, 0);
        let aoff = (arr - self.b.base) as usize;
        for (k, &s) in self.allspans.clone().iter().enumerate() {
            let sa = self.addr(SectionKind::Span, s);
            self.b.bytes[aoff + 8 * k..aoff + 8 * k + 8].copy_from_slice(&sa.to_ne_bytes());
        }
        self.b.set_len(SectionKind::Arena, n * 8);
        self.set::<MHeap>(SectionKind::MHeap, 0, "allspans", if n > 0 { arr } else { 0 });
        self.set::<MHeap>(SectionKind::MHeap, 0, "nspan", n);
        self.set::<MHeap>(SectionKind::MHeap, 0, "nspancap", n);
        self.set::<MHeap>(SectionKind::MHeap, 0, "allspans_gen", 1);
        self.set::<MHeap>(SectionKind::MHeap, 0, "stacks_inuse", n);
        self.b.bytes
    }
}

/// Grows the Arena section (the builder's last section) to `bytes`.
fn grow_arena(b: &mut TableBuilder, bytes: u64) {
    let h = HeaderInfo::parse(&b.bytes).expect("the builder's header parses");
    let pos = h.sections.iter().position(|s| s.kind == SectionKind::Arena).expect("an arena section");
    let s = &h.sections[pos];
    assert_eq!(s.offset + s.capacity, h.size, "the arena is the builder's last section");
    if bytes <= s.capacity {
        return;
    }
    let size = s.offset + bytes;
    b.bytes.resize(size as usize, 0);
    let so = offset_of!(Header, sections) + pos * size_of::<Section>();
    b.bytes[so + offset_of!(Section, capacity)..][..8].copy_from_slice(&bytes.to_ne_bytes());
    b.bytes[offset_of!(Header, size)..][..8].copy_from_slice(&size.to_ne_bytes());
}

/// Loads table bytes into an image (as `Image::load` from a buffer).
pub fn image(bytes: &[u8]) -> Result<grt_table::view::Image, grt_table::view::Error> {
    grt_table::view::Image::load(
        |off, len| {
            let o = usize::try_from(off).map_err(|_| "offset too large".to_string())?;
            bytes
                .get(o..o.checked_add(len).ok_or("overflow")?)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| "short read".to_string())
        },
        bytes.len() as u64,
        u64::MAX,
    )
}

/// A realistic busy table with `n` goroutines: 4 Ms (sysmon, main, two
/// workers) and 4 Ps, two running goroutines, a few runnable ones on local
/// and global run queues, and the rest parked: half receiving on their own
/// channel, a quarter sending on their own channel, groups of 10 receivers
/// on shared channels, selects over two channels, sleepers.
pub fn parked_scenario(n: u64) -> Synth {
    let cap = n + n / 2 + 64;
    let mut s = Synth::new(cap);
    let file = s.site("src/main.rs", 42, 0);
    let file2 = s.site("src/worker.rs", 7, 0);
    let ty = s.site("u64", 0, 1);
    let m0 = s.add_m(mrole::MAIN, mstate::RUNNING, 1000);
    let _sysmon = s.add_m(mrole::SYSMON, mstate::SYSMON_SLEEP, 1001);
    let m2 = s.add_m(mrole::WORKER, mstate::RUNNING, 1002);
    let _m3 = s.add_m(mrole::WORKER, mstate::IDLE, 1003);
    for _ in 0..4 {
        s.add_p(grt_table::P_IDLE);
    }
    s.set::<P>(SectionKind::P, 0, "status", grt_table::P_RUNNING as u64);
    s.set::<P>(SectionKind::P, 1, "status", grt_table::P_RUNNING as u64);
    s.attach(m0, 0);
    s.attach(m2, 1);
    // Idle Ps 2 and 3 on sched.pidle.
    let (p2, p3) = (s.addr(SectionKind::P, 2), s.addr(SectionKind::P, 3));
    s.set::<Sched>(SectionKind::Sched, 0, "pidle", p2);
    s.set::<P>(SectionKind::P, 2, "link", p3);
    s.set::<Sched>(SectionKind::Sched, 0, "npidle", 2);
    let mut made = 0u64;
    let g = s.add_g(grt_table::G_RUNNING, 0, file);
    s.run_on(g, m0);
    let g = s.add_g(grt_table::G_RUNNING, 0, file2);
    s.run_on(g, m2);
    made += 2;
    for k in 0..8u64 {
        let g = s.add_g(grt_table::G_RUNNABLE, 0, file2);
        if k < 6 {
            s.runqput(k % 2, g);
        } else {
            s.globrunqput(g);
        }
        made += 1;
    }
    let mut k = 0u64;
    while made < n {
        let left = n - made;
        match k % 8 {
            0..=3 => {
                let g = s.add_g(grt_table::G_WAITING, 0, file);
                let c = s.add_chan(0, ty, file);
                s.park_on_chan(g, c, true);
                made += 1;
            }
            4 | 5 => {
                let g = s.add_g(grt_table::G_WAITING, 0, file2);
                let c = s.add_chan(0, ty, file2);
                s.park_on_chan(g, c, false);
                made += 1;
            }
            6 => {
                let c = s.add_chan(4, ty, file);
                for _ in 0..left.min(10) {
                    let g = s.add_g(grt_table::G_WAITING, 0, file);
                    s.park_on_chan(g, c, true);
                    made += 1;
                }
            }
            _ => {
                if left >= 2 {
                    let (a, b) = (s.add_chan(0, ty, file), s.add_chan(0, ty, file2));
                    let g = s.add_g(grt_table::G_WAITING, 0, file);
                    s.park_select(g, &[(a, true), (b, false)]);
                    made += 1;
                }
                let g = s.add_g(grt_table::G_WAITING, waitreason::SLEEP, file2);
                let _ = g;
                made += 1;
            }
        }
        k += 1;
    }
    s.set::<Sched>(SectionKind::Sched, 0, "ntimers", 1);
    s
}
