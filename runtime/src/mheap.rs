//! The page heap (Go's mheap): one large anonymous reservation carved into
//! spans, every span recorded in `allspans`.
//!
//! Today the heap hands out goroutine stacks (spans in state `manual`); the
//! object allocator and the collector will add `inuse` spans later. The
//! structures that the races of seeds 000 and 004 live in are already here:
//! `allspans` is an array in the status table's arena that is reallocated
//! (doubling) when full, with a generation number that grows each time and
//! a record of the superseded arrays; every span has a `sweepgen` relative
//! to `h.sweepgen` (h-2 needs sweeping, h-1 is being swept, h is swept).
//!
//! Lock: `mheap.lock` (rank mheap, a leaf) protects every span record, the
//! free list, the stack pool and the allspans array. Readers outside the
//! lock (the GC later) must hold a cached copy, as Go's gcspans.
//!
//! The reservation is mapped PROT_READ|PROT_WRITE with MAP_NORESERVE: pages
//! cost memory only once touched. A span never moves and is never unmapped;
//! freeing returns it to a free list of spans of the same size.

use crate::lock::{lock, unlock};
use crate::os;
use crate::recptr::{Link, RecPtr};
use crate::status::{mheap, table};
use core::ptr::null_mut;
use core::sync::atomic::Ordering::Relaxed;
use grt_table::header::SectionKind;
use grt_table::{spanstate, MSpan, OLD_ALLSPANS};

/// The arena we try to reserve first; smaller ones if the kernel refuses.
const ARENA_TRY: [u64; 6] = [1 << 40, 1 << 39, 1 << 38, 1 << 36, 1 << 34, 1 << 32];

pub const PAGE_SIZE: u64 = 4096;

/// Reserves the arena. Runs once at start.
pub fn init() -> Result<(), String> {
    let h = mheap();
    for size in ARENA_TRY {
        let flags = libc::MAP_NORESERVE;
        if let Some(p) = os::mmap_anon(size as usize, libc::PROT_READ | libc::PROT_WRITE, flags) {
            h.arena_start.set(p as u64);
            h.arena_end.set(p as u64 + size);
            h.arena_used.set(p as u64);
            h.pagesize.store(PAGE_SIZE, Relaxed);
            h.sweepgen.store(2, Relaxed);
            h.sweepdone.store(1, Relaxed);
            return Ok(());
        }
    }
    Err(format!("cannot reserve a heap arena (tried down to 4 GiB): {}", std::io::Error::last_os_error()))
}

/// Allocates a span of `npages` pages in state `state` with size class
/// `spanclass` (Go's: 0 for manual spans such as stacks, the only kind
/// today). Takes the heap lock. Returns None when the arena is exhausted.
pub fn alloc_span(npages: u64, state: u32, spanclass: u32) -> Option<&'static MSpan> {
    let h = mheap();
    lock(&h.lock);
    let s = alloc_span_locked(npages, state);
    if let Some(s) = s {
        s.spanclass.store(spanclass, Relaxed);
    }
    unlock(&h.lock);
    s
}

fn alloc_span_locked(npages: u64, state: u32) -> Option<&'static MSpan> {
    let h = mheap();
    // Exact-size reuse from the free list.
    let mut prev: Option<&MSpan> = None;
    let mut sp = h.free.rec();
    while let Some(s) = sp.opt() {
        let next = s.next.rec();
        if s.npages.load(Relaxed) == npages {
            match prev {
                None => h.free.set_rec(next),
                Some(p) => p.next.set_rec(next),
            }
            h.nfree.fetch_sub(1, Relaxed);
            s.next.store(null_mut(), Relaxed);
            s.state.store(state, Relaxed);
            s.sweepgen.store(h.sweepgen.load(Relaxed), Relaxed);
            return Some(s);
        }
        prev = Some(s);
        sp = next;
    }
    // Fresh pages.
    let bytes = npages * PAGE_SIZE;
    let base = h.arena_used.get();
    if base + bytes > h.arena_end.get() {
        return None;
    }
    let t = table();
    let s = t.alloc::<MSpan>(SectionKind::Span)?;
    h.arena_used.set(base + bytes);
    s.base.set(base);
    s.npages.store(npages, Relaxed);
    s.state.store(state, Relaxed);
    s.sweepgen.store(h.sweepgen.load(Relaxed), Relaxed);
    record_span(s)?;
    Some(s)
}

/// Appends a span to allspans, growing the array when full.
fn record_span(s: &MSpan) -> Option<()> {
    let h = mheap();
    let n = h.nspan.load(Relaxed);
    let cap = h.nspancap.load(Relaxed);
    if n == cap {
        let newcap = (cap * 2).max(64);
        let arr = table().arena_alloc_pages(newcap * 8)? as *mut u64;
        let old = h.allspans.get() as *const u64;
        if !old.is_null() {
            // SAFETY: both arrays lie in the table's arena; the old one has
            // `n` entries, the new one room for `newcap` > n.
            unsafe { core::ptr::copy_nonoverlapping(old, arr, n as usize) };
            // Remember the superseded array, and free it unless the
            // collector holds it (gcspans), as Go's recordspan does. Freeing
            // gives its pages back; the address range is not reused.
            let k = h.nold.fetch_add(1, Relaxed) as usize % OLD_ALLSPANS;
            h.old_allspans[k].set(old as u64);
            h.old_cap[k].store(cap, Relaxed);
            h.old_gen[k].store(h.allspans_gen.load(Relaxed), Relaxed);
            let referenced = h.gcspans.get() == old as u64;
            let freed = !referenced && table().arena_release(old as *mut u8, cap * 8);
            h.old_freed[k].store(freed as u32, Relaxed);
        }
        h.allspans.set(arr as u64);
        h.nspancap.store(newcap, Relaxed);
        h.allspans_gen.fetch_add(1, Relaxed);
        crate::probe!(allspans_grow, newcap, h.allspans_gen.load(Relaxed));
    }
    let arr = h.allspans.get() as *mut u64;
    // SAFETY: n < nspancap entries of the current array.
    unsafe { *arr.add(n as usize) = s as *const MSpan as u64 };
    s.index.store(n as u32, Relaxed);
    h.nspan.store(n + 1, Relaxed);
    Some(())
}

/// Returns a span to the free list. Takes the heap lock, so the caller must
/// not hold it. Stacks are never freed today (they go to stack caches and
/// the stack pool); the sweeper will free spans, and the unit tests do.
#[cfg_attr(not(test), allow(dead_code))]
pub fn free_span(s: &MSpan) {
    let h = mheap();
    lock(&h.lock);
    s.state.store(spanstate::FREE, Relaxed);
    s.owner.store(null_mut(), Relaxed);
    s.next.store(h.free.load(Relaxed), Relaxed);
    h.free.store(s as *const MSpan as *mut MSpan, Relaxed);
    h.nfree.fetch_add(1, Relaxed);
    unlock(&h.lock);
}

/// The allspans entry `i` (heap lock held).
pub(crate) fn span_at(i: u64) -> &'static MSpan {
    let arr = mheap().allspans.get() as *const u64;
    // SAFETY: i < nspan entries of the current array, each the address of
    // a span record (record_span stores them).
    unsafe { RecPtr::from_raw(*arr.add(i as usize) as *mut MSpan) }.get()
}

#[cfg(test)]
mod tests {
    //! The page heap on a table with no scheduler running.

    use super::*;
    use crate::status::testing::setup;

    #[test]
    fn a_freed_span_is_reused_for_its_size_only() {
        let _t = setup();
        let h = mheap();
        let a = alloc_span(3, spanstate::MANUAL, 0).unwrap();
        assert_eq!(a.npages.load(Relaxed), 3);
        assert_eq!(a.state.load(Relaxed), spanstate::MANUAL);
        assert_eq!(a.sweepgen.load(Relaxed), h.sweepgen.load(Relaxed));
        assert!(core::ptr::eq(span_at(a.index.load(Relaxed) as u64), a), "allspans names the span");
        let b = alloc_span(3, spanstate::MANUAL, 0).unwrap();
        assert_eq!(b.base.get(), a.base.get() + 3 * PAGE_SIZE, "fresh pages come from the bump pointer");
        let nfree = h.nfree.load(Relaxed);
        free_span(a);
        assert_eq!(a.state.load(Relaxed), spanstate::FREE);
        assert_eq!(h.nfree.load(Relaxed), nfree + 1);
        let c = alloc_span(5, spanstate::MANUAL, 0).unwrap();
        assert!(!core::ptr::eq(c, a) && c.base.get() >= b.base.get() + 3 * PAGE_SIZE, "no reuse across sizes");
        let d = alloc_span(3, spanstate::MANUAL, 0).unwrap();
        assert!(core::ptr::eq(d, a), "a free span of the same size is reused");
        assert_eq!(d.base.get(), a.base.get());
        assert_eq!(d.state.load(Relaxed), spanstate::MANUAL);
        assert!(d.next.load(Relaxed).is_null());
        assert_eq!(h.nfree.load(Relaxed), nfree);
    }

    #[test]
    fn allspans_doubles_and_frees_the_array_it_replaced() {
        let _t = setup();
        let h = mheap();
        let gen0 = h.allspans_gen.load(Relaxed);
        let nold0 = h.nold.load(Relaxed);
        let cap0 = h.nspancap.load(Relaxed);
        let old = h.allspans.get();
        while h.allspans_gen.load(Relaxed) == gen0 || cap0 == 0 && h.allspans_gen.load(Relaxed) == gen0 + 1 {
            alloc_span(1, spanstate::MANUAL, 0).unwrap();
        }
        assert_eq!(h.nspancap.load(Relaxed), (cap0 * 2).max(64));
        assert_eq!(h.allspans.get() % PAGE_SIZE, 0, "allspans arrays are whole pages");
        if old != 0 {
            let k = nold0 as usize % OLD_ALLSPANS;
            assert_eq!(h.nold.load(Relaxed), nold0 + 1);
            assert_eq!(h.old_allspans[k].get(), old);
            assert_eq!(h.old_cap[k].load(Relaxed), cap0);
            assert_eq!(h.old_freed[k].load(Relaxed), 1, "no collector holds it, so it is freed");
            // SAFETY: the old array lies in the table's arena, mapped for
            // the life of the process; freed pages read as zeros.
            assert_eq!(unsafe { *(old as *const u64) }, 0);
        }
        for i in 0..h.nspan.load(Relaxed) {
            assert_eq!(span_at(i).index.load(Relaxed) as u64, i, "entry {i} was copied to its place");
        }
    }
}
