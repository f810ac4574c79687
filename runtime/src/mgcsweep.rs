//! Sweeping (Go's mgcsweep.go): after a collection every span is swept
//! once. A span's `sweepgen` against the heap's says where it stands: h-2
//! needs sweeping, h-1 is being swept, h is swept (Go's invariant; the
//! collector adds 2 to h.sweepgen at mark termination, so every span then
//! needs sweeping).
//!
//! Today there is nothing to free (no object allocator yet), so sweeping a
//! span is the state change itself, done in one pass under the heap lock.

use crate::lock::{lock, unlock};
use crate::mheap::span_at;
use crate::status::mheap;
use core::sync::atomic::Ordering::Relaxed;
use grt_table::spanstate;

/// Sweeps every span: each goes h-2 (needs sweeping) -> h-1 (being swept)
/// -> h (swept); a free span is simply marked swept. Takes the heap lock.
pub fn sweep() {
    let h = mheap();
    lock(&h.lock);
    h.sweepdone.store(0, Relaxed);
    let sg = h.sweepgen.load(Relaxed);
    let n = h.nspan.load(Relaxed);
    for i in 0..n {
        let s = span_at(i);
        if s.sweepgen.compare_exchange(sg.wrapping_sub(2), sg.wrapping_sub(1), Relaxed, Relaxed).is_ok() {
            s.sweepgen.store(sg, Relaxed);
        } else if s.state.load(Relaxed) == spanstate::FREE {
            s.sweepgen.store(sg, Relaxed);
        }
    }
    h.sweepdone.store(1, Relaxed);
    unlock(&h.lock);
}
