//! Goroutine stacks: spans of the page heap, one fixed address range per
//! goroutine for its whole life, with a guard below.
//!
//! A stack span is `[guard][stack]`: `stack_lo = base + guard`, `stack_hi =
//! base + span size`. The guard is a `MADV_GUARD_INSTALL` marker where the
//! kernel has it (6.13+): it costs no kernel mapping, so a million stacks fit
//! in the default `vm.max_map_count`. Otherwise it is a PROT_NONE page,
//! which splits the arena mapping: two mappings per stack, so the runtime
//! counts them and refuses a new goroutine (with a message naming the
//! limit) before the process runs out of mappings. Either way an overflow
//! faults in the guard and `signal.rs` reports Go's "stack overflow".
//!
//! Growth is demand paging inside the range. A stack is allocated when its
//! goroutine first runs (so a million queued goroutines cost no stacks) and
//! goes back to its P's stack cache when the goroutine exits; the cache
//! spills to the heap's stack pool. Stacks keep their pages when reused.
//!
//! Caches: `P.stackcache` is touched only by the P's owner; the pool is
//! under mheap.lock.

use crate::lock::{lock, unlock};
use crate::mheap::{self, PAGE_SIZE};
use crate::os;
use crate::recptr::{Link, RecPtr};
use crate::status::{mheap, sched};
use core::ptr::null_mut;
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicBool, AtomicU64};
use grt_table::{spanstate, MSpan, G, P, P_STACK_CACHE};

const MADV_GUARD_INSTALL: i32 = 102;
const MADV_GUARD_REMOVE: i32 = 103;

/// Usable bytes of every goroutine stack.
static STACK_SIZE: AtomicU64 = AtomicU64::new(1 << 20);
/// Bytes of guard below every stack.
const GUARD: u64 = PAGE_SIZE;
/// Guards are PROT_NONE pages (no MADV_GUARD_INSTALL).
static GUARD_MPROTECT: AtomicBool = AtomicBool::new(false);
/// In PROT_NONE mode: how many goroutines may exist before the next stack
/// could push the process past vm.max_map_count.
static STACK_BUDGET: AtomicU64 = AtomicU64::new(u64::MAX);

/// Mappings kept free for everything else in the process (threads,
/// allocator arenas, libraries).
const MAP_HEADROOM: u64 = 2048;

pub fn stack_size() -> u64 {
    STACK_SIZE.load(Relaxed)
}

pub fn guard_is_madvise() -> bool {
    !GUARD_MPROTECT.load(Relaxed)
}

/// Chooses the stack size and the guard kind. Runs once at start, after
/// the heap reserved its arena.
pub fn init(stack_size: u64, force_mprotect: bool) {
    let size = stack_size.max(16 * 1024).div_ceil(PAGE_SIZE) * PAGE_SIZE;
    STACK_SIZE.store(size, Relaxed);
    let h = mheap();
    let probe_at = h.arena_start.get() as *mut libc::c_void;
    let madvise_ok = !force_mprotect && {
        // SAFETY: the first page of our own arena; nothing uses it yet. The
        // guard is removed again right away.
        let ok = unsafe { libc::madvise(probe_at, PAGE_SIZE as usize, MADV_GUARD_INSTALL) } == 0;
        if ok {
            // SAFETY: as above.
            unsafe { libc::madvise(probe_at, PAGE_SIZE as usize, MADV_GUARD_REMOVE) };
        }
        ok
    };
    GUARD_MPROTECT.store(!madvise_ok, Relaxed);
    if !madvise_ok {
        let max = read_max_map_count().unwrap_or(65530);
        let base = count_mappings().unwrap_or(256);
        h.max_map_count.store(max, Relaxed);
        h.mappings.store(base, Relaxed);
        STACK_BUDGET.store(max.saturating_sub(base + MAP_HEADROOM) / 2, Relaxed);
    }
}

fn read_max_map_count() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count").ok()?.trim().parse().ok()
}

fn count_mappings() -> Option<u64> {
    Some(std::fs::read_to_string("/proc/self/maps").ok()?.lines().count() as u64)
}

/// Checks that one more goroutine can get a stack. In PROT_NONE-guard mode,
/// refuses before the process would exceed vm.max_map_count.
#[inline]
pub fn reserve() -> Result<(), String> {
    let budget = STACK_BUDGET.load(Relaxed);
    if budget == u64::MAX {
        return Ok(());
    }
    let live = sched().ngoroutines.load(Relaxed).max(0) as u64;
    if live < budget {
        return Ok(());
    }
    let h = mheap();
    Err(format!(
        "grt: cannot start goroutine {}: its stack guard page would need 2 more memory mappings and exceed \
         vm.max_map_count ({}); this kernel has no MADV_GUARD_INSTALL (Linux 6.13+), so every stack costs 2 \
         mappings. Raise the limit, e.g. `sysctl -w vm.max_map_count={}`",
        live + 1,
        h.max_map_count.load(Relaxed),
        (h.max_map_count.load(Relaxed) * 4).max(262144)
    ))
}

fn span_pages() -> u64 {
    (stack_size() + GUARD) / PAGE_SIZE
}

/// Gives gp a stack (it is about to run for the first time) and sets its
/// context to start at `grt_gostart` on it.
pub fn stackalloc(pp: &P, gp: &G) {
    let s = match cache_pop(pp) {
        Some(s) => s,
        None => new_stack_span(),
    };
    s.owner.store(gp as *const G as *mut G, Relaxed);
    let base = s.base.get();
    let hi = base + s.npages.load(Relaxed) * PAGE_SIZE;
    gp.stack_span.store(s as *const MSpan as *mut MSpan, Relaxed);
    gp.stack_lo.set(base + GUARD);
    gp.stack_hi.set(hi);
    gp.sched.sp.set(hi & !15);
    gp.sched.bp.set(0);
}

fn cache_pop(pp: &P) -> Option<&'static MSpan> {
    let n = pp.nstack.load(Relaxed);
    if n > 0 {
        let s = pp.stackcache[n as usize - 1].swap_rec(RecPtr::NULL, Relaxed);
        pp.nstack.store(n - 1, Relaxed);
        return Some(s.get());
    }
    // Refill half the cache from the pool.
    let h = mheap();
    if h.nstackpool.load(Relaxed) == 0 {
        return None;
    }
    lock(&h.lock);
    let mut got = None;
    while pp.nstack.load(Relaxed) < (P_STACK_CACHE / 2) as u32 {
        let s = h.stackpool.rec();
        if s.is_null() {
            break;
        }
        h.stackpool.store(s.get().next.load(Relaxed), Relaxed);
        h.nstackpool.fetch_sub(1, Relaxed);
        s.get().next.store(null_mut(), Relaxed);
        if got.is_none() {
            got = Some(s.get());
        } else {
            let k = pp.nstack.load(Relaxed);
            pp.stackcache[k as usize].store(s.as_ptr(), Relaxed);
            pp.nstack.store(k + 1, Relaxed);
        }
    }
    unlock(&h.lock);
    got
}

fn new_stack_span() -> &'static MSpan {
    let Some(s) = mheap::alloc_span(span_pages(), spanstate::MANUAL, 0) else {
        crate::eprint_raw!("runtime: cannot allocate a {}-byte goroutine stack: heap arena exhausted\n", stack_size());
        crate::fatal::throw("out of memory allocating stack");
    };
    s.guard.store(GUARD, Relaxed);
    let base = s.base.get() as *mut libc::c_void;
    if GUARD_MPROTECT.load(Relaxed) {
        // SAFETY: the first page of a span we own.
        if unsafe { libc::mprotect(base, GUARD as usize, libc::PROT_NONE) } != 0 {
            crate::eprint_raw!("runtime: mprotect stack guard: errno {}\n", os::errno());
            crate::fatal::throw("cannot install stack guard");
        }
        mheap().mappings.fetch_add(2, Relaxed);
    } else {
        // SAFETY: as above; a guard marker needs no mapping of its own.
        if unsafe { libc::madvise(base, GUARD as usize, MADV_GUARD_INSTALL) } != 0 {
            crate::eprint_raw!("runtime: MADV_GUARD_INSTALL: errno {}\n", os::errno());
            crate::fatal::throw("cannot install stack guard");
        }
    }
    mheap().stacks_inuse.fetch_add(1, Relaxed);
    s
}

/// Takes gp's stack back (gp is dead and off its stack).
pub fn stackfree(pp: &P, gp: &G) {
    let s = gp.stack_span.swap_rec(RecPtr::NULL, Relaxed);
    gp.stack_lo.set(0);
    gp.stack_hi.set(0);
    if s.is_null() {
        return;
    }
    let span = s.get();
    span.owner.store(null_mut(), Relaxed);
    let n = pp.nstack.load(Relaxed) as usize;
    if n < P_STACK_CACHE {
        pp.stackcache[n].store(s.as_ptr(), Relaxed);
        pp.nstack.store(n as u32 + 1, Relaxed);
        return;
    }
    // Cache full: spill half of it, and this one, to the pool.
    let h = mheap();
    lock(&h.lock);
    push_pool(span);
    while pp.nstack.load(Relaxed) as usize > P_STACK_CACHE / 2 {
        let k = pp.nstack.load(Relaxed) as usize - 1;
        let x = pp.stackcache[k].swap_rec(RecPtr::NULL, Relaxed);
        pp.nstack.store(k as u32, Relaxed);
        push_pool(x.get());
    }
    unlock(&h.lock);
}

fn push_pool(s: &MSpan) {
    let h = mheap();
    s.next.store(h.stackpool.load(Relaxed), Relaxed);
    h.stackpool.store(s as *const MSpan as *mut MSpan, Relaxed);
    h.nstackpool.fetch_add(1, Relaxed);
}

/// Moves a dying P's cached stacks to the pool (sched.lock held).
pub fn purge_stack_cache(pp: &P) {
    let h = mheap();
    lock(&h.lock);
    while pp.nstack.load(Relaxed) > 0 {
        let k = pp.nstack.load(Relaxed) as usize - 1;
        let x = pp.stackcache[k].swap_rec(RecPtr::NULL, Relaxed);
        pp.nstack.store(k as u32, Relaxed);
        push_pool(x.get());
    }
    unlock(&h.lock);
}

/// If `addr` lies in the guard below gp's stack, gp overflowed its stack.
pub fn in_guard(gp: &G, addr: u64) -> bool {
    let lo = gp.stack_lo.get();
    lo != 0 && addr < lo && addr >= lo - GUARD
}

/// The bounds of the calling thread's own stack.
pub fn thread_stack_bounds() -> (u64, u64) {
    // SAFETY: pthread_getattr_np fills a pthread_attr_t for the calling
    // thread; it is destroyed after reading the stack bounds.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return (0, 0);
        }
        let mut addr: *mut libc::c_void = null_mut();
        let mut size: libc::size_t = 0;
        libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        (addr as u64, addr as u64 + size as u64)
    }
}
