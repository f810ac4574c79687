//! The garbage collector (Go's mgc.go). Today a phase skeleton with no
//! marking: it stops and starts the world, runs a forEachP, and sweeps, so
//! the scheduler's side of a collection (and its races) is real before the
//! memory work arrives. The heap issue fills in marking here, the object
//! allocator in `mheap.rs`, and sweeping in `mgcsweep.rs`.
//!
//! One cycle holds worldsema throughout (see `stw.rs`): at most one
//! collection, stop-the-world or forEachP runs at a time.

use crate::lock::{lock, unlock};
use crate::probe;
use crate::proc::curg;
use crate::status::{mheap, sched, table};
use crate::stw::{
    acquire_worldsema, for_each_p, release_worldsema, start_the_world_with_sema, stop_the_world_with_sema,
    STW_GC_MARK_TERM, STW_GC_SWEEP_TERM,
};
use core::sync::atomic::Ordering::Relaxed;
use grt_table::{gcphase, P};

/// Runs one collection: sweep termination (stop the world), mark (world
/// running; every P flushes its caches at a safe point via forEachP), mark
/// termination (stop the world), then sweep (the heap's sweepgen advances
/// by 2). Must be called on a goroutine.
#[track_caller]
pub fn gc() {
    crate::need_runtime("gc");
    let _ = curg();
    acquire_worldsema();
    let s = sched();
    probe!(gc_start, s.numgc.load(Relaxed));
    s.gcphase.store(gcphase::SWEEP_TERMINATION, Relaxed);
    stop_the_world_with_sema(STW_GC_SWEEP_TERM);
    s.gcphase.store(gcphase::MARK, Relaxed);
    start_the_world_with_sema();
    for_each_p(gc_flush_p);
    s.gcphase.store(gcphase::MARK_TERMINATION, Relaxed);
    stop_the_world_with_sema(STW_GC_MARK_TERM);
    let h = mheap();
    lock(&h.lock);
    h.sweepgen.fetch_add(2, Relaxed);
    unlock(&h.lock);
    s.gcphase.store(gcphase::OFF, Relaxed);
    s.numgc.fetch_add(1, Relaxed);
    table().header().heartbeat.fetch_add(1, Relaxed);
    start_the_world_with_sema();
    // Sweep: every span is now h.sweepgen-2 (needs sweeping).
    crate::mgcsweep::sweep();
    release_worldsema();
    probe!(gc_done, s.numgc.load(Relaxed));
}

/// Mark-phase safe-point work: return half of the P's cached sudogs to
/// the central cache (as Go's clearpools does for sudogs).
fn gc_flush_p(pp: &P) {
    crate::chan::flush_sudog_cache(pp, false);
}
