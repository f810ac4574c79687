//! [`Snapshot::decode`] and its two-thread machinery: the G pass over the
//! two halves of the records, then Ms, Ps and channels on the caller's
//! thread and the heap on the helper's, both then taking sudog chunks from
//! the two ends of a queue (`Sink`, `ChunkQueue`, `close_runs`). Damage is
//! merged in the one-thread order, so the result never depends on the
//! thread count.

use super::{trim, Decoder, ViewBuffers};
use crate::snapshot::access::wall_now;
use crate::snapshot::*;
use crate::waitfor;
use grt_table::header::SectionKind;
use grt_table::view::Image;
use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex};
use std::time::Instant;

impl Snapshot {
    /// Decodes an image. Never fails: what cannot be trusted is in `damage`.
    ///
    /// A large table (tens of thousands of records) is decoded on two
    /// threads when the machine has more than one CPU: Gs, Ms and Ps on the
    /// calling thread, channels, sudogs and the heap on a scoped helper. The
    /// result is the same as a decode on one thread, damage order included.
    pub fn decode(img: &Image, opts: &DecodeOptions) -> Snapshot {
        Self::decode_with(img, opts, parallel_worth_it(img))
    }

    /// [`Snapshot::decode`] on the calling thread alone, whatever the
    /// table's size (for a caller that decodes several images at once, or
    /// must not start threads). Same result.
    pub fn decode_on_this_thread(img: &Image, opts: &DecodeOptions) -> Snapshot {
        Self::decode_with(img, opts, false)
    }

    /// [`Snapshot::decode`] into the memory of a snapshot that is no longer
    /// needed: what a watcher decoding at 30 Hz does, so that its views are
    /// written over memory already mapped instead of fresh pages (for 100k
    /// goroutines, tens of MB and thousands of page faults per decode).
    /// Same result as `decode`.
    pub fn decode_reusing(img: &Image, opts: &DecodeOptions, old: Snapshot) -> Snapshot {
        Self::decode_in(img, opts, parallel_worth_it(img), ViewBuffers::from_old(old))
    }

    pub(super) fn decode_with(img: &Image, opts: &DecodeOptions, parallel: bool) -> Snapshot {
        Self::decode_in(img, opts, parallel, ViewBuffers::default())
    }

    pub(super) fn decode_in(img: &Image, opts: &DecodeOptions, parallel: bool, bufs: ViewBuffers) -> Snapshot {
        let t0 = Instant::now();
        let now = opts.now_mono_ns.unwrap_or_else(mono_now);
        let mut cx = Decoder::new(img, opts, now, bufs);
        let mut s = Snapshot { format: SNAPSHOT_FORMAT, ..Default::default() };
        let mut phases: Vec<(String, u64)> = Vec::with_capacity(6);
        let mut lap = Instant::now();
        let mut phase = |name: &str, lap_us: Option<u64>| {
            let us = lap_us.unwrap_or_else(|| lap.elapsed().as_micros() as u64);
            phases.push((name.to_string(), us));
            lap = Instant::now();
        };
        s.header = cx.header();
        // Phase 1, the G pass: it fills the G cache that links to Gs read
        // (goid, stack bounds, status). On two threads, each decodes half
        // of the records straight into its half of the one view vector.
        let ng = cx.section_len(SectionKind::G);
        let mut gs = std::mem::take(&mut cx.bufs.gs);
        gs.reserve(ng as usize);
        // The helper's decoder and sink live on its own thread (moved in,
        // handed back): state two threads write must not share cache lines.
        let mut helper = parallel.then(|| cx.fork());
        let written = {
            let spare = &mut gs.spare_capacity_mut()[..ng as usize];
            match helper.take() {
                None => {
                    let mut sink = Sink::new(spare);
                    cx.gcache = Arc::new(cx.gs(0..ng, &mut sink));
                    (sink.len, 0)
                }
                Some(h) => {
                    let half = ng / 2;
                    let (lo, hi) = spare.split_at_mut(half as usize);
                    let (ca, la, other) = std::thread::scope(|sc| {
                        let t = std::thread::Builder::new().name("grt-decode".into()).spawn_scoped(sc, move || {
                            let mut h = h;
                            let mut sink = Sink::new(hi);
                            let cache = h.gs(half..ng, &mut sink);
                            (h, cache, sink.len)
                        });
                        let mut sink = Sink::new(lo);
                        let ca = cx.gs(0..half, &mut sink);
                        (ca, sink.len, t.ok().map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))))
                    });
                    let hi = &mut gs.spare_capacity_mut()[half as usize..ng as usize];
                    let (mut h, cb, lb) = match other {
                        Some(r) => r,
                        None => {
                            // No thread could be started: the second half here.
                            let mut h = cx.fork();
                            let mut sink = Sink::new(&mut *hi);
                            let cache = h.gs(half..ng, &mut sink);
                            (h, cache, sink.len)
                        }
                    };
                    let mut cache = ca;
                    cache.extend_from_slice(&cb);
                    cx.gcache = Arc::new(cache);
                    // The second half's lists follow the first's.
                    let shift = u32::try_from(cx.waiting.len()).unwrap_or(u32::MAX);
                    let xshift = u32::try_from(cx.g_extras.len()).unwrap_or(u32::MAX);
                    for v in (Sink { slots: hi, len: lb }).written() {
                        if !v.waiting.is_empty() {
                            v.waiting.start = v.waiting.start.saturating_add(shift);
                        }
                        if v.extra != 0 {
                            v.extra = v.extra.saturating_add(xshift);
                        }
                    }
                    cx.waiting.extend_from_slice(&h.waiting);
                    h.waiting.clear();
                    cx.g_extras.extend_from_slice(&h.g_extras);
                    h.g_extras.clear();
                    let dropped = std::mem::take(&mut h.dropped);
                    cx.absorb(std::mem::take(&mut h.damage), dropped);
                    cx.take_sites(&mut h);
                    helper = Some(h);
                    (la, lb)
                }
            }
        };
        let split = if parallel { (ng / 2) as usize } else { written.0 };
        close_runs(&mut gs, &[(0, written.0), (split, written.1)]);
        s.gs = trim(gs, cx.bufs.reused);
        phase("g", None);

        // Phase 2: Ms, Ps and channels here; sudogs and the heap on the
        // helper. Both read the G cache; the channel pass leaves channel
        // ids and held channel locks for the lock pass.
        let nsg = cx.section_len(SectionKind::Sudog);
        let mut sgs = std::mem::take(&mut cx.bufs.sudogs);
        sgs.clear();
        sgs.reserve(nsg as usize);
        match helper.take() {
            Some(mut h) => {
                h.gcache = cx.gcache.clone();
                let spare = &mut sgs.spare_capacity_mut()[..nsg as usize];
                let queue: ChunkQueue<'_, SudogView> = Mutex::new(spare.chunks_mut(SUDOG_CHUNK).enumerate().collect());
                let (mine, other) = std::thread::scope(|sc| {
                    let q = &queue;
                    let t = std::thread::Builder::new().name("grt-decode".into()).spawn_scoped(sc, move || {
                        let mut h = h;
                        let side = h.side(q);
                        (h, side)
                    });
                    s.ms = cx.ms();
                    s.ps = cx.ps();
                    phase("m+p", None);
                    s.chans = cx.chans();
                    phase("chan", None);
                    let mut mine = Vec::new();
                    while let Some((ci, slots)) = take_chunk(q, true) {
                        let start = ci * SUDOG_CHUNK;
                        let end = start + slots.len();
                        let mut sink = Sink::new(slots);
                        cx.sudogs(start as u64..end as u64, &mut sink);
                        mine.push((start, sink.len));
                    }
                    (mine, t.ok().map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))))
                });
                let (mut h, side) = other.unwrap_or_else(|| {
                    // No thread: the caller took every chunk; the heap here.
                    let mut h = cx.fork();
                    h.gcache = cx.gcache.clone();
                    let side = h.side(&Mutex::new(VecDeque::new()));
                    (h, side)
                });
                // The caller's chunks came first; the helper's, taken from
                // the back, follow in ascending order. Their damage goes
                // where a sequential decode finds it: after the caller's
                // sudogs, before locks, sched and the heap.
                let mut runs = mine;
                for (start, len, damage, dropped) in side.runs.into_iter().rev() {
                    runs.push((start, len));
                    cx.absorb(damage, dropped);
                }
                close_runs(&mut sgs, &runs);
                s.sudogs = trim(sgs, cx.bufs.reused);
                phase("sudog", Some(side.us[1]));
                s.locks = cx.locks(&mut s.ms);
                s.sched = cx.sched();
                phase("lock+sched", None);
                let (heap_damage, heap_dropped) = side.heap_damage;
                cx.absorb(heap_damage, heap_dropped);
                s.heap = side.heap;
                phase("heap", Some(side.us[0]));
                cx.take_sites(&mut h);
                s.sites = cx.site_table();
            }
            None => {
                s.ms = cx.ms();
                s.ps = cx.ps();
                phase("m+p", None);
                s.chans = cx.chans();
                phase("chan", None);
                let mut sink = Sink::new(&mut sgs.spare_capacity_mut()[..nsg as usize]);
                cx.sudogs(0..nsg, &mut sink);
                let n = sink.len;
                close_runs(&mut sgs, &[(0, n)]);
                s.sudogs = trim(sgs, cx.bufs.reused);
                phase("sudog", None);
                s.locks = cx.locks(&mut s.ms);
                s.sched = cx.sched();
                phase("lock+sched", None);
                s.heap = cx.heap();
                phase("heap", None);
                s.sites = cx.site_table();
            }
        }
        s.records = cx.generic_records(super::generic::TYPED);
        s.queues = std::mem::take(&mut cx.queues);
        s.waiting = std::mem::take(&mut cx.waiting);
        s.g_extras = std::mem::take(&mut cx.g_extras);
        s.missing_fields = cx.fields.missing();
        s.names = NameLists {
            gstatus: std::mem::take(&mut cx.names.gstatus),
            waitreason: std::mem::take(&mut cx.names.waitreason),
            spanstate: std::mem::take(&mut cx.names.spanstate),
        };
        s.damage = cx.damage;
        s.damage_dropped = cx.dropped;
        let decode_us = t0.elapsed().as_micros() as u64;
        let t1 = Instant::now();
        s.taken.mono_ns = now; // wait times are measured against it
        s.waitfor = waitfor::analyze(&s);
        s.taken = Taken {
            capture: opts.capture,
            wall_unix_ns: wall_now(),
            mono_ns: now,
            decode_us,
            waitfor_us: t1.elapsed().as_micros() as u64,
            phases_us: phases,
        };
        s
    }
}

/// Records a table needs before decoding it on two threads pays: a thread
/// costs tens of microseconds, a record tens of nanoseconds.
const PARALLEL_MIN_RECORDS: u64 = 20_000;

/// Whether [`Snapshot::decode`] should use a helper thread for this image.
pub(super) fn parallel_worth_it(img: &Image) -> bool {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let records: u64 = [SectionKind::G, SectionKind::Sudog, SectionKind::Hchan, SectionKind::Span]
        .iter()
        .map(|&k| img.len(k))
        .fold(0, u64::saturating_add);
    records >= PARALLEL_MIN_RECORDS
        && *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get())) > 1
}

/// Views written in place into a vector's spare room, so that two threads
/// can fill the two halves of one vector with no copy afterwards.
pub(super) struct Sink<'v, T> {
    pub(super) slots: &'v mut [MaybeUninit<T>],
    pub(super) len: usize,
}

impl<'v, T> Sink<'v, T> {
    pub(super) fn new(slots: &'v mut [MaybeUninit<T>]) -> Self {
        Sink { slots, len: 0 }
    }

    /// The views written so far.
    pub(super) fn written(&mut self) -> &mut [T] {
        let init = &mut self.slots[..self.len];
        // SAFETY: `push` wrote every slot below `len`, and MaybeUninit<T>
        // has T's layout.
        unsafe { &mut *(init as *mut [MaybeUninit<T>] as *mut [T]) }
    }

    /// Writes the next view; a full sink drops it (callers size sinks to
    /// their record ranges, one view per record at most).
    #[inline]
    pub(super) fn push(&mut self, v: T) {
        if let Some(slot) = self.slots.get_mut(self.len) {
            slot.write(v);
            self.len += 1;
        }
    }
}

/// What the helper did in the second phase: the heap, then sudog chunks
/// taken from the back of the queue, each with its own damage (merged in
/// sequential order).
pub(super) struct HelperWork {
    pub(super) heap: HeapView,
    pub(super) heap_damage: (Vec<Damage>, u64),
    /// Per chunk, in the order taken (last chunk first): its first record,
    /// the views written, its damage and the damage only counted.
    pub(super) runs: Vec<(usize, usize, Vec<Damage>, u64)>,
    /// Microseconds spent on the heap and on sudogs.
    pub(super) us: [u64; 2],
}

/// Sudog records per chunk of the second phase's shared queue.
const SUDOG_CHUNK: usize = 2048;

/// The chunks of a view vector's spare room still to decode, taken from
/// the front by the caller and from the back by the helper, so that both
/// finish together whatever the table's shape (a few channels with huge
/// queues, or many small ones).
pub(super) type ChunkQueue<'v, T> = Mutex<VecDeque<(usize, &'v mut [MaybeUninit<T>])>>;

pub(super) fn take_chunk<'v, T>(q: &ChunkQueue<'v, T>, front: bool) -> Option<(usize, &'v mut [MaybeUninit<T>])> {
    let mut q = q.lock().unwrap_or_else(|e| e.into_inner());
    if front {
        q.pop_front()
    } else {
        q.pop_back()
    }
}

/// Ends sinks' runs in one vector's spare room: `runs` are (first slot,
/// views written), in ascending and disjoint order. Moves each run down
/// behind the previous one and sets the length.
pub(super) fn close_runs<T: Copy>(v: &mut Vec<T>, runs: &[(usize, usize)]) {
    let room = v.capacity();
    let mut at = 0usize;
    for &(start, len) in runs {
        assert!(start >= at && start.checked_add(len).is_some_and(|end| end <= room), "sink runs out of order");
        // SAFETY: the run's sink initialized [start, start + len), inside
        // the allocation (checked); everything below `at` is initialized
        // and `at <= start`; `copy` allows the overlap. T is Copy: nothing
        // is dropped or doubled.
        unsafe {
            let base = v.as_mut_ptr();
            if len > 0 && start != at {
                std::ptr::copy(base.add(start), base.add(at), len);
            }
        }
        at += len;
    }
    // SAFETY: [0, at) was initialized by the moves above.
    unsafe { v.set_len(at) }
}

impl<'a> Decoder<'a> {
    /// A decoder for the same image with the same resolved fields and
    /// names, and none of the state one pass leaves for the next (G cache,
    /// channel ids, damage). Its links read ids from the records themselves,
    /// which is what the caches hold.
    pub(super) fn fork(&mut self) -> Decoder<'a> {
        fn with_room<T>(mut v: Vec<T>, n: u64) -> Vec<T> {
            v.reserve(usize::try_from(n).unwrap_or(0));
            v
        }
        Decoder {
            img: self.img,
            compiled: self.compiled,
            live: self.live,
            include_dead: self.include_dead,
            now: self.now,
            fields: self.fields,
            names: self.names.clone(),
            damage: Vec::new(),
            dropped: 0,
            sites: vec![None; self.sites.len()],
            lock_rec: self.lock_rec,
            sched_locks: self.sched_locks.clone(),
            heap_locks: self.heap_locks.clone(),
            // Only the channel pass (the caller's) marks queued sudogs.
            queued: Vec::new(),
            sections: self.sections,
            gcache: Arc::default(),
            chan_ids: Vec::new(),
            held_chans: Vec::new(),
            scratch: Vec::new(),
            waiting: Vec::new(),
            g_extras: Vec::new(),
            queues: Vec::new(),
            // Allocated here, not on the helper: the calling thread's
            // allocator arena is the one that has the last snapshot's
            // memory to reuse (fresh memory costs a page fault per 4 KB).
            bufs: ViewBuffers {
                spans: with_room(std::mem::take(&mut self.bufs.spans), self.section_len(SectionKind::Span)),
                reused: self.bufs.reused,
                ..ViewBuffers::default()
            },
            stamps: Vec::new(),
            walk_id: 0,
        }
    }

    /// The helper's second phase: the heap, then sudog chunks from the
    /// back of the queue until it is empty.
    pub(super) fn side(&mut self, q: &ChunkQueue<'_, SudogView>) -> HelperWork {
        let t0 = Instant::now();
        let heap = self.heap();
        let heap_damage = (std::mem::take(&mut self.damage), std::mem::take(&mut self.dropped));
        let t1 = Instant::now();
        let mut runs = Vec::new();
        while let Some((ci, slots)) = take_chunk(q, false) {
            let start = ci * SUDOG_CHUNK;
            let end = start + slots.len();
            let mut sink = Sink::new(slots);
            self.sudogs(start as u64..end as u64, &mut sink);
            runs.push((start, sink.len, std::mem::take(&mut self.damage), std::mem::take(&mut self.dropped)));
        }
        HelperWork { heap, heap_damage, runs, us: [(t1 - t0).as_micros() as u64, t1.elapsed().as_micros() as u64] }
    }

    /// Takes damage another decoder found (and `dropped` more it only
    /// counted) as if found here, in order.
    pub(super) fn absorb(&mut self, damage: Vec<Damage>, dropped: u64) {
        for d in damage {
            self.push_damage(d.kind, d.place, d.message);
        }
        self.dropped = self.dropped.saturating_add(dropped);
    }

    /// Takes the site texts another decoder resolved.
    pub(super) fn take_sites(&mut self, other: &mut Decoder<'_>) {
        for (slot, t) in self.sites.iter_mut().zip(other.sites.iter_mut()) {
            if slot.is_none() {
                *slot = t.take();
            }
        }
    }
}
