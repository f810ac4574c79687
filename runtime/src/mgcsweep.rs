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
        let claimed = s.sweepgen.compare_exchange(sg.wrapping_sub(2), sg.wrapping_sub(1), Relaxed, Relaxed).is_ok();
        if claimed || s.state.load(Relaxed) == spanstate::FREE {
            s.sweepgen.store(sg, Relaxed);
        }
    }
    h.sweepdone.store(1, Relaxed);
    unlock(&h.lock);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::testing::setup;

    #[test]
    fn sweep_brings_every_span_to_the_heap_sweepgen() {
        let _t = setup();
        let h = mheap();
        let a = crate::mheap::alloc_span(2, spanstate::MANUAL, 0).unwrap();
        let b = crate::mheap::alloc_span(4, spanstate::MANUAL, 0).unwrap();
        crate::mheap::free_span(b);
        // What mark termination does: every span now needs sweeping.
        lock(&h.lock);
        h.sweepgen.fetch_add(2, Relaxed);
        unlock(&h.lock);
        let sg = h.sweepgen.load(Relaxed);
        assert_eq!(a.sweepgen.load(Relaxed), sg.wrapping_sub(2));
        sweep();
        assert_eq!(h.sweepdone.load(Relaxed), 1);
        for i in 0..h.nspan.load(Relaxed) {
            assert_eq!(span_at(i).sweepgen.load(Relaxed), sg, "span {i}");
        }
    }
}
