//! Channels (Go's chan.go): `hchan` records in the status table, wait
//! queues of sudogs, and the typed `Chan<T>` handle.
//!
//! # Invariants (as Go's)
//!
//! At least one of `c.sendq` and `c.recvq` is empty, except for an
//! unbuffered channel with a single goroutine blocked on it for both
//! sending and receiving using a select statement. For buffered channels,
//! `qcount > 0` implies `recvq` is empty, and `qcount < dataqsiz` implies
//! `sendq` is empty.
//!
//! A blocked goroutine's sudog has `elem` pointing at the value slot on the
//! goroutine's *own stack*: a sender copies straight into a waiting
//! receiver's slot (and a receiver straight out of a waiting sender's), and
//! the slot's owner is parked while it happens.
//!
//! Lock: `hchan.lock` protects all fields of the channel and the sudogs on
//! its queues. Do not ready a goroutine while holding it (Go's rule, which
//! stack shrinking depends on): every path unlocks first, then goready.
//!
//! Elements are moved as bytes (`elemsize`); ownership moves with them. A
//! value that was never taken (a send cancelled by close or not chosen by
//! select) stays with its sender and is dropped there.

use crate::foreign;
use crate::lock::{lock, lock_init, unlock};
use crate::lockrank::Rank;
use crate::proc::{curg, curm, gopark, goready, GList};
use crate::recptr::{Link, RecPtr};
use crate::status::{intern_location, intern_type, sched, table};
use core::marker::PhantomData;
use core::mem::{size_of, ManuallyDrop, MaybeUninit};
use core::ptr::{self, null_mut};
use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use grt_table::header::SectionKind;
use grt_table::{waitreason, Hchan, Lock, Sudog, G, P, P_SUDOG_CACHE};

// --- sudogs ----------------------------------------------------------------

/// Takes a sudog from the current P's cache (refilled from the central
/// cache, or newly allocated in the table); on a foreign thread, from the
/// central cache (foreign.rs).
pub fn acquire_sudog() -> &'static Sudog {
    if foreign::is_foreign() {
        return foreign::acquire_sudog();
    }
    let mp = curm();
    let pp = mp.p.rec().get();
    if pp.nsudog.load(Relaxed) == 0 {
        let s = sched();
        if !s.sudogcache.load(Relaxed).is_null() {
            lock(&s.sudog_lock);
            while pp.nsudog.load(Relaxed) < (P_SUDOG_CACHE / 2) as u32 {
                let sg = s.sudogcache.rec();
                if sg.is_null() {
                    break;
                }
                s.sudogcache.store(sg.get().next.load(Relaxed), Relaxed);
                sg.get().next.store(null_mut(), Relaxed);
                let n = pp.nsudog.load(Relaxed);
                pp.sudogcache[n as usize].store(sg.as_ptr(), Relaxed);
                pp.nsudog.store(n + 1, Relaxed);
            }
            unlock(&s.sudog_lock);
        }
        if pp.nsudog.load(Relaxed) == 0 {
            let t = table();
            let Some(sg) = t.alloc::<Sudog>(SectionKind::Sudog) else {
                crate::fatal::throw("out of sudog records (raise GRT_MAXG)")
            };
            sg.inuse.store(1, Relaxed);
            return sg;
        }
    }
    let n = pp.nsudog.load(Relaxed) - 1;
    let sg = pp.sudogcache[n as usize].swap_rec(RecPtr::NULL, Relaxed);
    pp.nsudog.store(n, Relaxed);
    let sg = sg.get();
    sg.inuse.store(1, Relaxed);
    sg
}

/// Returns a sudog to the current P's cache. Its fields must be cleared.
pub fn release_sudog(sg: &'static Sudog) {
    if sg.elem.get() != 0 {
        crate::fatal::throw("runtime: sudog with non-nil elem");
    }
    if !sg.next.load(Relaxed).is_null() || !sg.prev.load(Relaxed).is_null() {
        crate::fatal::throw("runtime: sudog with non-nil next or prev");
    }
    if !sg.waitlink.load(Relaxed).is_null() {
        crate::fatal::throw("runtime: sudog with non-nil waitlink");
    }
    if !sg.c.load(Relaxed).is_null() {
        crate::fatal::throw("runtime: sudog with non-nil c");
    }
    sg.g.store(null_mut(), Relaxed);
    sg.is_select.store(0, Relaxed);
    sg.success.store(0, Relaxed);
    sg.sema.set(0);
    sg.enqueued.store(0, Relaxed);
    sg.note.store(0, Relaxed);
    sg.inuse.store(0, Relaxed);
    if foreign::is_foreign() {
        foreign::release_sudog(sg);
        return;
    }
    let mp = curm();
    let pp = mp.p.rec().get();
    if pp.nsudog.load(Relaxed) as usize == P_SUDOG_CACHE {
        flush_sudog_cache(pp, false);
    }
    let n = pp.nsudog.load(Relaxed);
    pp.sudogcache[n as usize].store(sg as *const Sudog as *mut Sudog, Relaxed);
    pp.nsudog.store(n + 1, Relaxed);
}

/// Moves half (or all) of pp's cached sudogs to the central cache. Runs for
/// pp's owner, or for an idle P on behalf of forEachP.
pub fn flush_sudog_cache(pp: &P, all: bool) {
    let s = sched();
    let keep = if all { 0 } else { (P_SUDOG_CACHE / 2) as u32 };
    if pp.nsudog.load(Relaxed) <= keep {
        return;
    }
    lock(&s.sudog_lock);
    while pp.nsudog.load(Relaxed) > keep {
        let n = pp.nsudog.load(Relaxed) - 1;
        let sg = pp.sudogcache[n as usize].swap_rec(RecPtr::NULL, Relaxed);
        pp.nsudog.store(n, Relaxed);
        sg.get().next.store(s.sudogcache.load(Relaxed), Relaxed);
        s.sudogcache.store(sg.as_ptr(), Relaxed);
    }
    unlock(&s.sudog_lock);
}

/// A dying P's sudogs go to the central cache.
pub fn purge_sudog_cache(pp: &P) {
    flush_sudog_cache(pp, true);
}

// --- wait queues -------------------------------------------------------------

/// A wait queue: (first, last) fields of an hchan.
pub(crate) struct WaitQ<'a> {
    pub first: &'a core::sync::atomic::AtomicPtr<Sudog>,
    pub last: &'a core::sync::atomic::AtomicPtr<Sudog>,
}

pub(crate) fn recvq(c: &Hchan) -> WaitQ<'_> {
    WaitQ { first: &c.recvq_first, last: &c.recvq_last }
}

pub(crate) fn sendq(c: &Hchan) -> WaitQ<'_> {
    WaitQ { first: &c.sendq_first, last: &c.sendq_last }
}

impl WaitQ<'_> {
    pub fn enqueue(&self, sg: &Sudog) {
        let p = sg as *const Sudog as *mut Sudog;
        sg.next.store(null_mut(), Relaxed);
        let x = self.last.rec();
        if x.is_null() {
            sg.prev.store(null_mut(), Relaxed);
            self.first.store(p, Relaxed);
            self.last.store(p, Relaxed);
            return;
        }
        sg.prev.store(x.as_ptr(), Relaxed);
        x.get().next.store(p, Relaxed);
        self.last.store(p, Relaxed);
    }

    /// Takes the first sudog whose goroutine can still be woken: a select
    /// that another case already won is skipped (the selectDone CAS).
    pub fn dequeue(&self) -> Option<&'static Sudog> {
        loop {
            let sgp = self.first.rec();
            if sgp.is_null() {
                return None;
            }
            let sg = sgp.get();
            let y = sg.next.rec();
            if y.is_null() {
                self.first.store(null_mut(), Relaxed);
                self.last.store(null_mut(), Relaxed);
            } else {
                y.get().prev.store(null_mut(), Relaxed);
                self.first.store(y.as_ptr(), Relaxed);
                sg.next.store(null_mut(), Relaxed);
            }
            // A select's goroutine may have been woken by another case and
            // not yet have removed itself from this queue.
            if sg.is_select.load(Relaxed) != 0
                && sg.g.rec().get().select_done.compare_exchange(0, 1, SeqCst, SeqCst).is_err()
            {
                continue;
            }
            return Some(sg);
        }
    }

    /// Removes a specific sudog (select pass 3).
    pub fn dequeue_sudog(&self, sg: &Sudog) {
        let x = sg.prev.rec();
        let y = sg.next.rec();
        if !x.is_null() {
            if !y.is_null() {
                x.get().next.store(y.as_ptr(), Relaxed);
                y.get().prev.store(x.as_ptr(), Relaxed);
                sg.next.store(null_mut(), Relaxed);
                sg.prev.store(null_mut(), Relaxed);
                return;
            }
            x.get().next.store(null_mut(), Relaxed);
            self.last.store(x.as_ptr(), Relaxed);
            sg.prev.store(null_mut(), Relaxed);
            return;
        }
        if !y.is_null() {
            y.get().prev.store(null_mut(), Relaxed);
            self.first.store(y.as_ptr(), Relaxed);
            sg.next.store(null_mut(), Relaxed);
            return;
        }
        // x == y == nil: sg is the only element, or already removed.
        if ptr::eq(self.first.load(Relaxed), sg) {
            self.first.store(null_mut(), Relaxed);
            self.last.store(null_mut(), Relaxed);
        }
    }
}

// --- hchan records -------------------------------------------------------

static CHAN_IDS: AtomicU64 = AtomicU64::new(0);

fn alloc_hchan() -> &'static Hchan {
    let s = sched();
    if !s.hchanfree.load(Relaxed).is_null() {
        lock(&s.hchan_lock);
        let c = s.hchanfree.rec();
        if !c.is_null() {
            s.hchanfree.store(c.get().freelink.load(Relaxed), Relaxed);
            unlock(&s.hchan_lock);
            c.get().freelink.store(null_mut(), Relaxed);
            return c.get();
        }
        unlock(&s.hchan_lock);
    }
    let t = table();
    match t.alloc::<Hchan>(SectionKind::Hchan) {
        Some(c) => c,
        None => crate::fatal::throw("out of channel records (raise GRT_MAXG)"),
    }
}

fn free_hchan(c: &'static Hchan) {
    let s = sched();
    c.inuse.store(0, Release);
    lock(&s.hchan_lock);
    c.freelink.store(s.hchanfree.load(Relaxed), Relaxed);
    s.hchanfree.store(c as *const Hchan as *mut Hchan, Relaxed);
    unlock(&s.hchan_lock);
    s.nchans.fetch_sub(1, Relaxed);
}

/// Whether a send would block right now (lock-free peek, as Go's `full`).
#[inline]
fn full(c: &Hchan) -> bool {
    let size = c.dataqsiz.load(Relaxed);
    if size == 0 {
        return c.recvq_first.load(Relaxed).is_null();
    }
    c.qcount.load(Relaxed) == size
}

/// Whether a receive would block right now (lock-free peek).
#[inline]
fn empty(c: &Hchan) -> bool {
    if c.dataqsiz.load(Relaxed) == 0 {
        return c.sendq_first.load(Acquire).is_null();
    }
    c.qcount.load(Acquire) == 0
}

#[inline]
fn chanbuf(c: &Hchan, i: u64) -> *mut u8 {
    (c.buf.get() + i * c.elemsize.load(Relaxed) as u64) as *mut u8
}

#[inline]
fn typedmemmove(c: &Hchan, dst: *mut u8, src: *const u8) {
    // SAFETY: every caller passes a source slot holding an initialized
    // element and a destination slot with room for one, elemsize bytes each,
    // not overlapping (distinct slots of distinct owners or of the buffer).
    unsafe { ptr::copy_nonoverlapping(src, dst, c.elemsize.load(Relaxed) as usize) }
}

/// Puts the element at `ep` in the buffer if there is room (c locked).
pub(crate) fn buf_send(c: &Hchan, ep: *const u8) -> bool {
    let qcount = c.qcount.load(Relaxed);
    let size = c.dataqsiz.load(Relaxed);
    if qcount >= size {
        return false;
    }
    let sendx = c.sendx.load(Relaxed);
    typedmemmove(c, chanbuf(c, sendx), ep);
    c.sendx.store(if sendx + 1 == size { 0 } else { sendx + 1 }, Relaxed);
    c.qcount.store(qcount + 1, Release);
    true
}

/// Takes the head of the buffer into `ep` if there is one (c locked).
pub(crate) fn buf_recv(c: &Hchan, ep: *mut u8) -> bool {
    let qcount = c.qcount.load(Relaxed);
    if qcount == 0 {
        return false;
    }
    let recvx = c.recvx.load(Relaxed);
    typedmemmove(c, ep, chanbuf(c, recvx));
    let size = c.dataqsiz.load(Relaxed);
    c.recvx.store(if recvx + 1 == size { 0 } else { recvx + 1 }, Relaxed);
    c.qcount.store(qcount - 1, Release);
    true
}

/// Result of a send attempt.
#[derive(PartialEq, Eq, Debug)]
pub(crate) enum Sent {
    Yes,
    WouldBlock,
    Closed,
}

/// Sends the element at `ep` (Go's chansend). On `Yes` the element was
/// moved out of `ep`; otherwise it is still the caller's.
pub(crate) fn chansend(c: &'static Hchan, ep: *const u8, block: bool) -> Sent {
    if !block && c.closed.load(Relaxed) == 0 && full(c) {
        return Sent::WouldBlock;
    }
    if block {
        // A safe point: a blocking send may park (a try_send never does).
        crate::proc::preempt_check();
    }
    lock(&c.lock);
    if c.closed.load(Relaxed) != 0 {
        unlock(&c.lock);
        return Sent::Closed;
    }
    if let Some(sg) = recvq(c).dequeue() {
        // A receiver is waiting: hand the value straight to it.
        send(c, sg, ep, &|| unlock(&c.lock));
        return Sent::Yes;
    }
    if buf_send(c, ep) {
        unlock(&c.lock);
        return Sent::Yes;
    }
    if !block {
        unlock(&c.lock);
        return Sent::WouldBlock;
    }
    // Block on the channel: someone receiving will complete the operation.
    if foreign::is_foreign() {
        return if thread_wait(c, ep as *mut u8, false) { Sent::Yes } else { Sent::Closed };
    }
    let gp = curg();
    let mysg = acquire_sudog();
    mysg.elem.set(ep as u64);
    mysg.waitlink.store(null_mut(), Relaxed);
    mysg.g.store(gp as *const G as *mut G, Relaxed);
    mysg.is_select.store(0, Relaxed);
    mysg.c.store(c as *const Hchan as *mut Hchan, Relaxed);
    mysg.enqueued.store(crate::os::coarse_nanotime(), Relaxed);
    gp.waiting.store(mysg as *const Sudog as *mut Sudog, Relaxed);
    gp.param.store(0, Relaxed);
    sendq(c).enqueue(mysg);
    gp.parking_on_chan.store(1, Relaxed);
    gopark(Some(chanparkcommit), &c.lock as *const Lock as usize, waitreason::CHAN_SEND);
    // Someone woke us up.
    if !ptr::eq(gp.waiting.load(Relaxed), mysg) {
        crate::fatal::throw("G waiting list is corrupted");
    }
    gp.waiting.store(null_mut(), Relaxed);
    let closed = mysg.success.load(Relaxed) == 0;
    gp.param.store(0, Relaxed);
    mysg.c.store(null_mut(), Relaxed);
    mysg.elem.set(0);
    release_sudog(mysg);
    if closed {
        if c.closed.load(Relaxed) == 0 {
            crate::fatal::throw("chansend: spurious wakeup");
        }
        return Sent::Closed;
    }
    Sent::Yes
}

/// A timer's non-blocking send (time.rs): `chansend(c, ep, false)` without
/// its lock-free fast path. Like every non-blocking send it is not a safe
/// point, and must never become one: a receiver may be waiting for the
/// sender to finish (a busy timer, see time.rs), and a sender switched
/// away here could leave it spinning on the only P. Returns whether the
/// value went in.
pub(crate) fn timer_send(c: &'static Hchan, ep: *const u8) -> bool {
    lock(&c.lock);
    if c.closed.load(Relaxed) != 0 {
        unlock(&c.lock);
        return false;
    }
    if let Some(sg) = recvq(c).dequeue() {
        send(c, sg, ep, &|| unlock(&c.lock));
        return true;
    }
    let ok = buf_send(c, ep);
    unlock(&c.lock);
    ok
}

/// Empties a timer's channel into `ep` (time.rs, Go's `timerchandrain`):
/// returns whether a value was there. Never parks, for the same reason as
/// `timer_send`.
pub(crate) fn timer_drain(c: &'static Hchan, ep: *mut u8) -> bool {
    if c.qcount.load(Acquire) == 0 {
        return false;
    }
    lock(&c.lock);
    let ok = buf_recv(c, ep);
    unlock(&c.lock);
    ok
}

/// Blocks a foreign thread on `c` (locked) as a thread waiter on its
/// receive or send queue, `ep` its value slot; reports success (false: woken
/// by close).
fn thread_wait(c: &'static Hchan, ep: *mut u8, recv: bool) -> bool {
    let mysg = acquire_sudog();
    mysg.elem.set(ep as u64);
    mysg.waitlink.store(null_mut(), Relaxed);
    mysg.g.store(null_mut(), Relaxed);
    mysg.is_select.store(0, Relaxed);
    mysg.c.store(c as *const Hchan as *mut Hchan, Relaxed);
    mysg.enqueued.store(crate::os::coarse_nanotime(), Relaxed);
    if recv {
        recvq(c).enqueue(mysg);
    } else {
        sendq(c).enqueue(mysg);
    }
    foreign::block(mysg, || unlock(&c.lock));
    let success = mysg.success.load(Relaxed) != 0;
    mysg.c.store(null_mut(), Relaxed);
    mysg.elem.set(0);
    release_sudog(mysg);
    success
}

/// Completes a send to a waiting receiver `sg` (c locked; `unlockf`
/// unlocks it before the receiver is readied).
pub(crate) fn send(c: &Hchan, sg: &Sudog, ep: *const u8, unlockf: &dyn Fn()) {
    let elem = sg.elem.get();
    if elem != 0 {
        typedmemmove(c, elem as *mut u8, ep);
        sg.elem.set(0);
    }
    unlockf();
    ready_sudog(sg, true);
}

/// Readies the waiter of a dequeued `sg` (goroutine or thread), with the
/// channel unlocked: Go's `gp.param = sg; sg.success = ...; goready(gp)`.
fn ready_sudog(sg: &Sudog, success: bool) {
    sg.success.store(success as u32, Relaxed);
    if let Some(gp) = sg.g.rec().opt() {
        gp.param.store(sg as *const Sudog as u64, Relaxed);
    }
    foreign::ready(sg);
}

/// Receives into `ep` (Go's chanrecv): returns (selected, received). A
/// closed, drained channel gives (true, false) and leaves `ep` untouched.
pub(crate) fn chanrecv(c: &'static Hchan, ep: *mut u8, block: bool) -> (bool, bool) {
    // An expired timer channel holds its value before anyone looks (Go 1.23+).
    crate::time::maybe_run_chan(c);
    if !block && empty(c) {
        if c.closed.load(Acquire) == 0 {
            return (false, false);
        }
        if empty(c) {
            return (true, false);
        }
    }
    if block {
        // A safe point: a blocking receive may park (a try_recv never does).
        crate::proc::preempt_check();
    }
    lock(&c.lock);
    if c.closed.load(Relaxed) != 0 {
        if c.qcount.load(Relaxed) == 0 {
            unlock(&c.lock);
            return (true, false);
        }
    } else if let Some(sg) = sendq(c).dequeue() {
        // A sender is waiting: if unbuffered, take its value directly;
        // otherwise take the head of the queue and let it refill the tail.
        recv(c, sg, ep, &|| unlock(&c.lock));
        return (true, true);
    }
    if buf_recv(c, ep) {
        unlock(&c.lock);
        return (true, true);
    }
    if !block {
        unlock(&c.lock);
        return (false, false);
    }
    if foreign::is_foreign() {
        return (true, thread_wait(c, ep, true));
    }
    let gp = curg();
    let mysg = acquire_sudog();
    mysg.elem.set(ep as u64);
    mysg.waitlink.store(null_mut(), Relaxed);
    gp.waiting.store(mysg as *const Sudog as *mut Sudog, Relaxed);
    mysg.g.store(gp as *const G as *mut G, Relaxed);
    mysg.is_select.store(0, Relaxed);
    mysg.c.store(c as *const Hchan as *mut Hchan, Relaxed);
    mysg.enqueued.store(crate::os::coarse_nanotime(), Relaxed);
    gp.param.store(0, Relaxed);
    recvq(c).enqueue(mysg);
    gp.parking_on_chan.store(1, Relaxed);
    gopark(Some(chanparkcommit), &c.lock as *const Lock as usize, waitreason::CHAN_RECEIVE);
    if !ptr::eq(gp.waiting.load(Relaxed), mysg) {
        crate::fatal::throw("G waiting list is corrupted");
    }
    gp.waiting.store(null_mut(), Relaxed);
    let success = mysg.success.load(Relaxed) != 0;
    gp.param.store(0, Relaxed);
    mysg.c.store(null_mut(), Relaxed);
    mysg.elem.set(0);
    release_sudog(mysg);
    (true, success)
}

/// Completes a receive from a waiting sender `sg` (c locked).
pub(crate) fn recv(c: &Hchan, sg: &Sudog, ep: *mut u8, unlockf: &dyn Fn()) {
    if c.dataqsiz.load(Relaxed) == 0 {
        if !ep.is_null() {
            typedmemmove(c, ep, sg.elem.get() as *const u8);
        }
    } else {
        // The queue is full: take the head, put the sender's value at the tail.
        let recvx = c.recvx.load(Relaxed);
        let qp = chanbuf(c, recvx);
        if !ep.is_null() {
            typedmemmove(c, ep, qp);
        }
        typedmemmove(c, qp, sg.elem.get() as *const u8);
        let size = c.dataqsiz.load(Relaxed);
        let nx = if recvx + 1 == size { 0 } else { recvx + 1 };
        c.recvx.store(nx, Relaxed);
        c.sendx.store(nx, Relaxed);
    }
    sg.elem.set(0);
    unlockf();
    ready_sudog(sg, true);
}

/// On g0 after the G is in Gwaiting: release the channel lock.
fn chanparkcommit(gp: &G, lockp: usize) -> bool {
    gp.parking_on_chan.store(0, Relaxed);
    // SAFETY: `lockp` is the address of the channel's lock, which chansend
    // or chanrecv passed to gopark; the channel is a record in the table.
    unlock(unsafe { &*(lockp as *const Lock) });
    true
}

/// Closes the channel, waking every waiter (Go's closechan). Panics if
/// already closed.
pub(crate) fn closechan(c: &'static Hchan) {
    lock(&c.lock);
    if c.closed.load(Relaxed) != 0 {
        unlock(&c.lock);
        panic!("close of closed channel");
    }
    c.closed.store(1, Release);
    let glist = GList::new();
    // Thread waiters, linked through `waitlink` (which only select uses).
    let mut threads = RecPtr::<Sudog>::NULL;
    // Release all readers (they get nothing), then all writers (they will
    // panic; their values stay theirs).
    for q in [recvq(c), sendq(c)] {
        while let Some(sg) = q.dequeue() {
            sg.elem.set(0);
            sg.success.store(0, Relaxed);
            match sg.g.rec().opt() {
                Some(gp) => {
                    gp.param.store(sg as *const Sudog as u64, Relaxed);
                    glist.push(gp);
                }
                None => {
                    sg.waitlink.set_rec(threads);
                    threads = RecPtr::from_ref(sg);
                }
            }
        }
    }
    unlock(&c.lock);
    // Ready all Gs and threads now that we've dropped the channel lock.
    while let Some(gp) = glist.pop() {
        goready(gp);
    }
    while let Some(sg) = threads.opt() {
        threads = sg.waitlink.rec();
        sg.waitlink.store(null_mut(), Relaxed);
        foreign::wake(sg);
    }
}

// --- Chan<T> -----------------------------------------------------------------

/// A Go channel of `T`: `Chan::new(0)` is unbuffered, `Chan::new(n)` has a
/// buffer of n. Cloning gives another handle to the same channel.
pub struct Chan<T> {
    c: &'static Hchan,
    _t: PhantomData<fn(T) -> T>,
}

// SAFETY: a channel moves T values between goroutines; the hchan is
// protected by its lock.
unsafe impl<T: Send> Send for Chan<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Chan<T> {}

/// Why `try_send` failed; the value comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<T> {
    Full(T),
    Closed(T),
}

/// Why `try_recv` failed.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    Empty,
    Closed,
}

unsafe fn drop_elem<T>(p: *mut u8) {
    // SAFETY: called on buffer slots holding initialized T values only.
    unsafe { ptr::drop_in_place(p as *mut T) }
}

impl<T: Send> Chan<T> {
    /// Makes a channel with a buffer of `cap` elements (0 = unbuffered).
    #[track_caller]
    pub fn new(cap: usize) -> Chan<T> {
        crate::need_runtime("Chan::new");
        let site = intern_location(core::panic::Location::caller());
        let elemtype = intern_type(core::any::type_name::<T>());
        let c = alloc_hchan();
        lock_init(&c.lock, Rank::Hchan);
        let buf = if cap > 0 && size_of::<T>() > 0 {
            let layout = std::alloc::Layout::array::<T>(cap).expect("channel buffer too large");
            // SAFETY: layout has non-zero size (cap > 0, T not zero-sized).
            let p = unsafe { std::alloc::alloc(layout) };
            if p.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            p as u64
        } else {
            core::mem::align_of::<T>() as u64 // dangling, aligned: never dereferenced for size 0
        };
        c.id.store(CHAN_IDS.fetch_add(1, Relaxed) + 1, Relaxed);
        c.qcount.store(0, Relaxed);
        c.dataqsiz.store(cap as u64, Relaxed);
        c.buf.set(buf);
        c.elemsize.store(size_of::<T>() as u32, Relaxed);
        c.elemalign.store(core::mem::align_of::<T>() as u32, Relaxed);
        c.closed.store(0, Relaxed);
        c.sendx.store(0, Relaxed);
        c.recvx.store(0, Relaxed);
        c.recvq_first.store(null_mut(), Relaxed);
        c.recvq_last.store(null_mut(), Relaxed);
        c.sendq_first.store(null_mut(), Relaxed);
        c.sendq_last.store(null_mut(), Relaxed);
        c.site.store(site, Relaxed);
        c.elemtype.store(elemtype, Relaxed);
        c.refs.store(1, Relaxed);
        c.elemdrop.set(drop_elem::<T> as *const () as u64);
        sched().nchans.fetch_add(1, Relaxed);
        c.inuse.store(1, Release);
        Chan { c, _t: PhantomData }
    }

    pub(crate) fn hchan(&self) -> &'static Hchan {
        self.c
    }

    /// Sends `v`, parking until a receiver or buffer space takes it (on a
    /// thread that is not a goroutine, blocking that thread).
    /// Panics if the channel is closed (as Go does).
    pub fn send(&self, v: T) {
        let v = ManuallyDrop::new(v);
        match chansend(self.c, &*v as *const T as *const u8, true) {
            Sent::Yes => {}
            Sent::Closed => {
                drop(ManuallyDrop::into_inner(v));
                panic!("send on closed channel");
            }
            Sent::WouldBlock => unreachable!("blocking send returned WouldBlock"),
        }
    }

    /// Sends without blocking.
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        let v = ManuallyDrop::new(v);
        match chansend(self.c, &*v as *const T as *const u8, false) {
            Sent::Yes => Ok(()),
            Sent::WouldBlock => Err(TrySendError::Full(ManuallyDrop::into_inner(v))),
            Sent::Closed => Err(TrySendError::Closed(ManuallyDrop::into_inner(v))),
        }
    }

    /// Receives, parking until a value arrives (on a thread that is not a
    /// goroutine, blocking that thread); `None` once the channel is closed
    /// and drained.
    pub fn recv(&self) -> Option<T> {
        let mut slot = MaybeUninit::<T>::uninit();
        let (_, ok) = chanrecv(self.c, slot.as_mut_ptr() as *mut u8, true);
        if ok {
            // SAFETY: a successful receive moved one T into the slot.
            Some(unsafe { slot.assume_init() })
        } else {
            None
        }
    }

    /// Receives without blocking.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut slot = MaybeUninit::<T>::uninit();
        match chanrecv(self.c, slot.as_mut_ptr() as *mut u8, false) {
            // SAFETY: as in recv.
            (true, true) => Ok(unsafe { slot.assume_init() }),
            (true, false) => Err(TryRecvError::Closed),
            _ => Err(TryRecvError::Empty),
        }
    }

    /// Closes the channel: receivers drain the buffer and then get `None`;
    /// blocked senders panic. Panics if already closed.
    pub fn close(&self) {
        closechan(self.c);
    }

    /// Elements in the buffer.
    pub fn len(&self) -> usize {
        crate::time::maybe_run_chan(self.c);
        self.c.qcount.load(Relaxed) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn cap(&self) -> usize {
        self.c.dataqsiz.load(Relaxed) as usize
    }

    /// The channel's id in the status table.
    pub fn id(&self) -> u64 {
        self.c.id.load(Relaxed)
    }

    /// Receives until the channel is closed and drained.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { c: self }
    }
}

impl<T> Clone for Chan<T> {
    fn clone(&self) -> Self {
        self.c.refs.fetch_add(1, Relaxed);
        Chan { c: self.c, _t: PhantomData }
    }
}

impl<T> Drop for Chan<T> {
    fn drop(&mut self) {
        let prev = self.c.refs.fetch_sub(1, SeqCst);
        if prev != 1 {
            if prev == 2 {
                // One handle left: a timer's own, if this is a timer's
                // channel, and then nobody can receive from it any more.
                crate::time::chan_released(self.c);
            }
            return;
        }
        // Last handle: nobody can be blocked on the channel (a blocked
        // goroutine or thread holds a handle), so the buffer is ours to drain.
        let c = self.c;
        let size = c.dataqsiz.load(Relaxed);
        let mut i = c.recvx.load(Relaxed);
        for _ in 0..c.qcount.load(Relaxed) {
            // SAFETY: slots recvx.. (qcount of them, wrapping) hold initialized T.
            unsafe { drop_elem::<T>(chanbuf(c, i)) };
            i = if i + 1 == size { 0 } else { i + 1 };
        }
        if size > 0 && size_of::<T>() > 0 {
            let layout = std::alloc::Layout::array::<T>(size as usize).unwrap();
            // SAFETY: allocated in `new` with this layout.
            unsafe { std::alloc::dealloc(c.buf.get() as *mut u8, layout) };
        }
        c.qcount.store(0, Relaxed);
        c.buf.set(0);
        free_hchan(c);
    }
}

/// Iterator over received values until close.
pub struct Iter<'a, T> {
    c: &'a Chan<T>,
}

impl<T: Send> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.c.recv()
    }
}

impl<'a, T: Send> IntoIterator for &'a Chan<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> core::fmt::Debug for Chan<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Chan({}, cap {})", self.c.id.load(Relaxed), self.c.dataqsiz.load(Relaxed))
    }
}
