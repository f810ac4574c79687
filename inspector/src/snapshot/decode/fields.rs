//! Field sets: which fields of each record kind the decoder reads,
//! resolved once per image from the table's descriptors (`fieldset!`), or
//! the ones compiled into this inspector (`COMPILED`, derived at compile
//! time from the records' own descriptors); and the inlined reader of one
//! record's fields (`FieldAt`, `RecordBytes`).

use crate::snapshot::Text;
use grt_table::desc::Kind;
use grt_table::view::{FieldRef, Layout};

/// A field resolved for reading: where one element is and how wide it is.
/// (The decoder reads fields through this rather than `view::Rec`, so that
/// every read inlines: decoding 100k goroutines is a few million reads.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FieldAt {
    pub(super) off: usize,
    /// Bytes of one element: 1, 2, 4 or 8.
    pub(super) size: usize,
    pub(super) count: usize,
    pub(super) signed: bool,
}

impl FieldAt {
    /// A field of `kind` as the decoder reads it: element offset `off`,
    /// `count` elements of `elem_size` bytes. Nested records (Struct) and a
    /// size that does not match the kind are not read directly.
    pub(super) const fn new(kind: Kind, off: usize, elem_size: usize, count: usize) -> Option<FieldAt> {
        let (size, signed) = match kind {
            Kind::U8 => (1, false),
            Kind::U16 => (2, false),
            Kind::U32 => (4, false),
            Kind::I32 => (4, true),
            Kind::U64 | Kind::Ptr | Kind::Addr => (8, false),
            Kind::I64 => (8, true),
            Kind::Struct => return None,
        };
        if elem_size != size {
            return None;
        }
        Some(FieldAt { off, size, count, signed })
    }

    /// A field of a table's descriptors, as the decoder reads it.
    pub(super) fn from_ref(f: FieldRef) -> Option<FieldAt> {
        FieldAt::new(f.kind, f.offset, f.elem_size, f.count)
    }
}

/// The bytes of one record.
#[derive(Clone, Copy, Debug)]
pub(super) struct RecordBytes<'a>(pub(super) &'a [u8]);

impl RecordBytes<'_> {
    /// Element `i` of a field as u64 (signed kinds sign-extended); `None`
    /// when the field is absent or does not fit the record.
    #[inline]
    pub(super) fn get_at(&self, f: FieldAt, i: usize) -> Option<u64> {
        if i >= f.count {
            return None;
        }
        let off = f.off.checked_add(i.checked_mul(f.size)?)?;
        let b = self.0.get(off..off.checked_add(f.size)?)?;
        Some(match (f.size, f.signed) {
            (8, _) => u64::from_ne_bytes(b.try_into().ok()?),
            (4, false) => u32::from_ne_bytes(b.try_into().ok()?) as u64,
            (4, true) => i32::from_ne_bytes(b.try_into().ok()?) as i64 as u64,
            (2, _) => u16::from_ne_bytes(b.try_into().ok()?) as u64,
            _ => *b.first()? as u64,
        })
    }

    #[inline]
    pub(super) fn opt(&self, f: Option<FieldAt>) -> Option<u64> {
        self.get_at(f?, 0)
    }
}

/// Byte strings equal (a `const fn`).
pub(super) const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The fields of a record of the runtime this inspector was built with,
/// by its table name.
pub(super) const fn compiled_fields(rec: &[u8]) -> Option<&'static [grt_table::desc::Field]> {
    use grt_table::desc::Record;
    use grt_table::records::*;
    let all: [(&str, &'static [grt_table::desc::Field]); 11] = [
        (Lock::NAME, Lock::FIELDS),
        (Gobuf::NAME, Gobuf::FIELDS),
        (Sched::NAME, Sched::FIELDS),
        (P::NAME, P::FIELDS),
        (M::NAME, M::FIELDS),
        (G::NAME, G::FIELDS),
        (Sudog::NAME, Sudog::FIELDS),
        (Hchan::NAME, Hchan::FIELDS),
        (MSpan::NAME, MSpan::FIELDS),
        (MHeap::NAME, MHeap::FIELDS),
        (Site::NAME, Site::FIELDS),
    ];
    let mut i = 0;
    while i < all.len() {
        if same(all[i].0.as_bytes(), rec) {
            return Some(all[i].1);
        }
        i += 1;
    }
    None
}

/// A field path ("sched.sp") of a compiled-in record as `FieldAt::from_ref` resolves it
/// from a table's descriptors (`Layout::field_path`), at compile time.
pub(super) const fn fixed_path(rec: &str, path: &str) -> Option<FieldAt> {
    let mut fields = match compiled_fields(rec.as_bytes()) {
        Some(f) => f,
        None => return None,
    };
    let p = path.as_bytes();
    let (mut start, mut base) = (0, 0);
    loop {
        let mut end = start;
        while end < p.len() && p[end] != b'.' {
            end += 1;
        }
        let seg = p.split_at(end).0.split_at(start).1;
        let mut i = 0;
        let f = loop {
            if i == fields.len() {
                return None;
            }
            if same(fields[i].name.as_bytes(), seg) {
                break &fields[i];
            }
            i += 1;
        };
        if end == p.len() {
            if f.count == 0 {
                return None;
            }
            return FieldAt::new(f.kind, base + f.offset, f.size / f.count, f.count);
        }
        fields = match (f.kind, f.target) {
            (Kind::Struct, Some(t)) => match compiled_fields(t.as_bytes()) {
                Some(x) => x,
                None => return None,
            },
            _ => return None,
        };
        base += f.offset;
        start = end + 1;
    }
}

macro_rules! fieldset {
    ($(#[$m:meta])* $name:ident for $rec:literal { $($f:ident: $path:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub(super) struct $name { $(pub(super) $f: Option<FieldAt>),* }
        impl $name {
            pub(super) fn resolve(l: &Layout) -> $name {
                $name { $($f: l.field_path($rec, $path).and_then(FieldAt::from_ref)),* }
            }

            /// The set of the runtime this inspector was built with: what
            /// `resolve` gives for a table it writes.
            #[allow(dead_code)]
            pub(super) const COMPILED: $name = $name { $($f: fixed_path($rec, $path)),* };

            /// "record.field" for each field the table's layout lacks.
            pub(super) fn missing(&self, out: &mut Vec<Text>) {
                $(if self.$f.is_none() { out.push(Text::from(format!("{}.{}", $rec, $path))); })*
            }
        }
    };
}

fieldset!(SchedFields for "sched" {
    goidgen: "goidgen", lastpoll: "lastpoll", poll_until: "poll_until", midle: "midle", nmidle: "nmidle",
    nmidlelocked: "nmidlelocked", mnext: "mnext", maxmcount: "maxmcount", nmsys: "nmsys", pidle: "pidle",
    npidle: "npidle", nmspinning: "nmspinning", needspinning: "needspinning", runqhead: "runqhead",
    runqtail: "runqtail", runqsize: "runqsize", ngfree: "ngfree", gcwaiting: "gcwaiting", stopwait: "stopwait",
    stw_reason: "stw_reason", sysmonwait: "sysmonwait", safe_point_fn: "safe_point_fn",
    safe_point_wait: "safe_point_wait", gomaxprocs: "gomaxprocs", ncpu: "ncpu", worldsema: "worldsema",
    worldsema_owner: "worldsema_owner", gcphase: "gcphase", numgc: "numgc", ngoroutines: "ngoroutines",
    ntimers: "ntimers", timer0when: "timer0when", nchans: "nchans", netpoll_epfd: "netpoll_epfd",
    netpoll_waiters: "netpoll_waiters", throwing: "throwing", nthreads: "nthreads",
});

fieldset!(PFields for "p" {
    id: "id", status: "status", link: "link", schedtick: "schedtick", syscalltick: "syscalltick", m: "m",
    runqhead: "runqhead", runqtail: "runqtail", runq: "runq", runnext: "runnext", ngfree: "ngfree",
    nsudog: "nsudog", nstack: "nstack", run_safe_point_fn: "run_safe_point_fn", safe_point_runs: "safe_point_runs",
});

fieldset!(MFields for "m" {
    id: "id", procid: "procid", role: "role", state: "state", g0_sp: "g0.sp", g0_pc: "g0.pc", g0_bp: "g0.bp",
    g0_stack_lo: "g0_stack_lo", g0_stack_hi: "g0_stack_hi", curg: "curg", p: "p", nextp: "nextp", oldp: "oldp",
    spinning: "spinning", blocked: "blocked", schedlink: "schedlink", locks: "locks", held: "held", nheld: "nheld",
    waitlock: "waitlock", waitcasg: "waitcasg", waitcasg_status: "waitcasg_status", waitsince: "waitsince",
    preemptoff: "preemptoff", throwing: "throwing", dying: "dying", lockedg: "lockedg", lastg: "lastg",
});

fieldset!(GFields for "g" {
    goid: "goid", atomicstatus: "atomicstatus", waitreason: "waitreason", stack_lo: "stack_lo",
    stack_hi: "stack_hi", stack_lowest_sp: "stack_lowest_sp", sp: "sched.sp", pc: "sched.pc", bp: "sched.bp",
    syscallsp: "syscallsp", syscallpc: "syscallpc", syscallbp: "syscallbp", m: "m", schedlink: "schedlink",
    waiting: "waiting", param: "param", select_done: "select_done", parking_on_chan: "parking_on_chan",
    preempt: "preempt", waitsince: "waitsince", gopc: "gopc", site: "site", parentgoid: "parentgoid",
    startpc: "startpc", lockedm: "lockedm", generation: "generation", scanm: "scanm",
    safepoint_when: "safepoint_when",
});

fieldset!(SudogFields for "sudog" {
    g: "g", next: "next", prev: "prev", elem: "elem", c: "c", waitlink: "waitlink", is_select: "is_select",
    success: "success", enqueued: "enqueued", sema: "sema", inuse: "inuse",
});

fieldset!(ChanFields for "hchan" {
    lock_key: "lock.key", lock_owner: "lock.owner", id: "id", qcount: "qcount", dataqsiz: "dataqsiz",
    elemsize: "elemsize", closed: "closed", inuse: "inuse", recvq_first: "recvq_first", recvq_last: "recvq_last",
    sendq_first: "sendq_first", sendq_last: "sendq_last", site: "site", elemtype: "elemtype", refs: "refs",
});

fieldset!(SpanFields for "mspan" {
    base: "base", npages: "npages", state: "state", sweepgen: "sweepgen", owner: "owner", guard: "guard",
});

fieldset!(HeapFields for "mheap" {
    arena_start: "arena_start", arena_end: "arena_end", arena_used: "arena_used", pagesize: "pagesize",
    allspans: "allspans", nspan: "nspan", nspancap: "nspancap", allspans_gen: "allspans_gen", gcspans: "gcspans",
    sweepgen: "sweepgen", sweepdone: "sweepdone", nfree: "nfree", nstackpool: "nstackpool",
    stacks_inuse: "stacks_inuse", mappings: "mappings", max_map_count: "max_map_count",
    old_allspans: "old_allspans", old_cap: "old_cap", old_gen: "old_gen", old_freed: "old_freed", nold: "nold",
});

fieldset!(SiteFields for "site" {
    kind: "kind", line: "line", name_off: "name_off", name_len: "name_len",
});

fieldset!(LockFields for "lock" { key: "key", rank: "rank", owner: "owner" });

/// Every field the decoder reads, resolved once per image.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct FieldSets {
    pub(super) sched: SchedFields,
    pub(super) p: PFields,
    pub(super) m: MFields,
    pub(super) g: GFields,
    pub(super) sudog: SudogFields,
    pub(super) hchan: ChanFields,
    pub(super) span: SpanFields,
    pub(super) heap: HeapFields,
    pub(super) site: SiteFields,
    pub(super) lock: LockFields,
}

/// The field sets the passes over the big sections read, from the table
/// (`TableSets`) or compiled in (`CompiledSets`): when a table's
/// descriptors resolve to the compiled sets (a table of this runtime), the
/// passes run with them as constants, and every field read compiles to a
/// load at a fixed offset. Other tables take the same code, reading the
/// resolved offsets and widths.
pub(super) trait PassSets: Copy {
    fn g(self) -> GFields;
    fn sudog(self) -> SudogFields;
    fn hchan(self) -> ChanFields;
    fn span(self) -> SpanFields;
}

#[derive(Clone, Copy)]
pub(super) struct TableSets(pub(super) GFields, pub(super) SudogFields, pub(super) ChanFields, pub(super) SpanFields);

impl PassSets for TableSets {
    #[inline(always)]
    fn g(self) -> GFields {
        self.0
    }
    #[inline(always)]
    fn sudog(self) -> SudogFields {
        self.1
    }
    #[inline(always)]
    fn hchan(self) -> ChanFields {
        self.2
    }
    #[inline(always)]
    fn span(self) -> SpanFields {
        self.3
    }
}

#[derive(Clone, Copy)]
pub(super) struct CompiledSets;

impl PassSets for CompiledSets {
    #[inline(always)]
    fn g(self) -> GFields {
        GFields::COMPILED
    }
    #[inline(always)]
    fn sudog(self) -> SudogFields {
        SudogFields::COMPILED
    }
    #[inline(always)]
    fn hchan(self) -> ChanFields {
        ChanFields::COMPILED
    }
    #[inline(always)]
    fn span(self) -> SpanFields {
        SpanFields::COMPILED
    }
}

/// Runs `$body` with `$set` bound to the compiled sets when the table's
/// are the same, else to the table's (one monomorphic copy each).
macro_rules! with_sets {
    ($cx:expr, $set:ident => $body:expr) => {
        if $cx.compiled {
            let $set = CompiledSets;
            $body
        } else {
            let $set = TableSets($cx.fields.g, $cx.fields.sudog, $cx.fields.hchan, $cx.fields.span);
            $body
        }
    };
}
pub(super) use with_sets;

impl FieldSets {
    /// Whether the big sections' sets are the compiled ones.
    pub(super) fn compiled(&self) -> bool {
        self.g == GFields::COMPILED
            && self.sudog == SudogFields::COMPILED
            && self.hchan == ChanFields::COMPILED
            && self.span == SpanFields::COMPILED
    }

    /// The fields the decoder reads that the table's layout lacks (their
    /// views show `None`, or 0 where a view keeps a plain number).
    pub(super) fn missing(&self) -> Vec<Text> {
        let mut out = Vec::new();
        self.sched.missing(&mut out);
        self.p.missing(&mut out);
        self.m.missing(&mut out);
        self.g.missing(&mut out);
        self.sudog.missing(&mut out);
        self.hchan.missing(&mut out);
        self.span.missing(&mut out);
        self.heap.missing(&mut out);
        self.site.missing(&mut out);
        self.lock.missing(&mut out);
        out
    }
}
