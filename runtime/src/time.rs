//! Timers: `sleep`, `after` (a channel that receives once, usable as a
//! select timeout), and the timer heap the scheduler runs.
//!
//! One heap for the whole runtime, under `sched.timers_lock` (rank timers),
//! with its earliest deadline mirrored in `sched.timer0when` so the
//! scheduler checks it without the lock. (Go keeps one heap per P; a single
//! heap is simpler and enough here.) Timers fire from `check_timers`, which
//! every M calls in `find_runnable` with its P; an M with nothing to do
//! sleeps in the netpoller until the earliest deadline, and adding an
//! earlier timer wakes it (`wake_netpoller`). Callbacks run after the lock
//! is dropped: they ready goroutines and send on channels.
//!
//! Timer channels are synchronous, as in Go 1.23 and later: a receive, a
//! `try_recv`, `len` or a select that looks at the channel of an `after`
//! whose deadline has passed runs that timer first (`maybe_run_chan`, Go's
//! `maybeRunChan`), so an expired `after(0)` is always ready and never loses
//! to `default`, whether or not an M has run the timer yet. Older Go (and
//! grt before) only made the value appear once some M ran the heap.
//!
//! Invariant of the channel timers: `CHAN_TIMERS` maps the hchan of every
//! `after` whose value has not been sent to its state (`Pending(when)`, or
//! `Firing` while someone sends it), under `timers_lock`. Whoever moves an
//! entry from `Pending` to `Firing` (`check_timers` or `maybe_run_chan`)
//! sends the value, after dropping `timers_lock` (lock order: hchan comes
//! before timers), then removes the entry; the other one skips it, and a
//! receiver that finds `Firing` waits for the entry to go, so it never looks
//! at the channel between "the timer ran" and "the value is in it". The heap
//! entry of a timer run early stays and is skipped when popped; it holds a
//! handle to the channel, so the hchan is not reused (and its address not
//! repeated in the map) while the entry is pending.

use crate::chan::Chan;
use crate::lock::{lock, unlock};
use crate::os::nanotime;
use crate::proc::{curg, gopark, goready, wakep};
use crate::recptr::RecPtr;
use crate::status::sched;
use core::cell::UnsafeCell;
use core::cmp::Reverse;
use core::sync::atomic::AtomicUsize;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

enum Fire {
    /// Ready a goroutine parked in `sleep` (its record and generation).
    Wake(RecPtr<grt_table::G>, u32),
    /// Send the time on a channel (`after`).
    Send(Chan<Instant>),
}

struct Timer {
    when: i64,
    seq: u64,
    fire: Fire,
}

impl PartialEq for Timer {
    fn eq(&self, o: &Self) -> bool {
        (self.when, self.seq) == (o.when, o.seq)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, o: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timer {
    fn cmp(&self, o: &Self) -> core::cmp::Ordering {
        (self.when, self.seq).cmp(&(o.when, o.seq))
    }
}

struct Heap {
    h: UnsafeCell<BinaryHeap<Reverse<Timer>>>,
    seq: UnsafeCell<u64>,
}

// SAFETY: only touched under sched.timers_lock.
unsafe impl Sync for Heap {}

static HEAP: Heap = Heap { h: UnsafeCell::new(BinaryHeap::new()), seq: UnsafeCell::new(0) };

#[derive(Clone, Copy, PartialEq, Eq)]
enum ChanTimer {
    Pending(i64),
    Firing,
}

struct ChanTimers(UnsafeCell<Option<HashMap<usize, ChanTimer>>>);

// SAFETY: only touched under sched.timers_lock.
unsafe impl Sync for ChanTimers {}

/// Channel timers not yet sent, by hchan address (see the module docs).
static CHAN_TIMERS: ChanTimers = ChanTimers(UnsafeCell::new(None));
/// Entries in CHAN_TIMERS: lets every receive skip the lookup when 0.
static NCHAN_TIMERS: AtomicUsize = AtomicUsize::new(0);
/// The element type id (`Hchan::elemtype`) of `after`'s channels, so that
/// other channels skip the lookup (0 until the first `after`).
static AFTER_ELEMTYPE: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// The channel timer map. Caller holds timers_lock.
///
/// SAFETY: the caller holds `sched().timers_lock`, and does not keep the
/// reference past unlocking it.
unsafe fn chan_timers() -> &'static mut HashMap<usize, ChanTimer> {
    // SAFETY: by the caller's contract, timers_lock serializes all access.
    unsafe { (*CHAN_TIMERS.0.get()).get_or_insert_with(HashMap::new) }
}

/// Claims the channel timer of `c` for sending if it is pending and due at
/// `now` (`i64::MAX`: due regardless). Returns whether the caller must
/// send; on `Firing` by someone else it waits until they are done.
fn claim_chan_timer(c: usize, now: i64) -> bool {
    let s = sched();
    loop {
        lock(&s.timers_lock);
        // SAFETY: timers_lock is held; the reference dies before unlock.
        let m = unsafe { chan_timers() };
        let st = m.get(&c).copied();
        match st {
            Some(ChanTimer::Pending(when)) if when <= now => {
                m.insert(c, ChanTimer::Firing);
                unlock(&s.timers_lock);
                return true;
            }
            Some(ChanTimer::Firing) => {
                // Someone is sending the value right now: short; wait.
                unlock(&s.timers_lock);
                core::hint::spin_loop();
                std::thread::yield_now();
            }
            _ => {
                unlock(&s.timers_lock);
                return false;
            }
        }
    }
}

/// Sends the time on the channel timer `c` claimed by `claim_chan_timer`,
/// then retires its entry.
fn fire_chan_timer(c: &'static grt_table::Hchan) {
    let v = core::mem::ManuallyDrop::new(Instant::now());
    // A timer channel has a buffer of one that only the timer sends to, so
    // this does not block; if the receiver side is gone it still fits.
    let _ = crate::chan::timer_send(c, &*v as *const Instant as *const u8);
    let s = sched();
    lock(&s.timers_lock);
    // SAFETY: timers_lock is held; the reference dies before unlock.
    unsafe { chan_timers() }.remove(&(c as *const _ as usize));
    NCHAN_TIMERS.fetch_sub(1, Relaxed);
    unlock(&s.timers_lock);
}

/// Go's `maybeRunChan`: if `c` is the channel of an expired `after` whose
/// value has not been sent, send it now. Called by receives, `len` and
/// select before they lock `c` (timers ranks after hchan). Cheap when no
/// channel timer is pending or `c` already holds a value.
#[inline]
pub(crate) fn maybe_run_chan(c: &'static grt_table::Hchan) {
    if NCHAN_TIMERS.load(Acquire) == 0
        || c.qcount.load(Relaxed) != 0
        || c.dataqsiz.load(Relaxed) != 1
        || c.elemtype.load(Relaxed) != AFTER_ELEMTYPE.load(Relaxed)
    {
        return;
    }
    maybe_run_chan_slow(c);
}

#[cold]
fn maybe_run_chan_slow(c: &'static grt_table::Hchan) {
    if claim_chan_timer(c as *const _ as usize, nanotime()) {
        fire_chan_timer(c);
    }
}

fn add_timer(when: i64, fire: Fire) {
    let s = sched();
    lock(&s.timers_lock);
    // SAFETY: timers_lock is held.
    let (h, seq) = unsafe { (&mut *HEAP.h.get(), &mut *HEAP.seq.get()) };
    *seq += 1;
    h.push(Reverse(Timer { when, seq: *seq, fire }));
    let old0 = s.timer0when.load(Relaxed);
    let earlier = old0 == 0 || when < old0;
    if earlier {
        s.timer0when.store(when, SeqCst);
    }
    s.ntimers.store(h.len() as u32, Relaxed);
    unlock(&s.timers_lock);
    if earlier {
        wake_netpoller(when);
    }
}

/// Runs every timer that is due. Returns the time it checked at (0 if
/// there were no timers and it did not read the clock).
pub(crate) fn check_timers() -> i64 {
    let s = sched();
    let t0 = s.timer0when.load(Relaxed);
    if t0 == 0 {
        return 0;
    }
    let now = nanotime();
    if now < t0 {
        return now;
    }
    let mut due: Vec<Fire> = Vec::new();
    lock(&s.timers_lock);
    // SAFETY: timers_lock is held.
    let h = unsafe { &mut *HEAP.h.get() };
    while let Some(Reverse(t)) = h.peek() {
        if t.when > now {
            break;
        }
        due.push(h.pop().unwrap().0.fire);
    }
    s.timer0when.store(h.peek().map_or(0, |Reverse(t)| t.when), SeqCst);
    s.ntimers.store(h.len() as u32, Relaxed);
    unlock(&s.timers_lock);
    for f in due {
        match f {
            Fire::Wake(g, gen) => {
                let gp = g.get();
                // The generation guards against a record reused since.
                if gp.generation.load(Relaxed) == gen {
                    goready(gp);
                }
            }
            Fire::Send(c) => {
                // Skipped if a receiver ran this timer early.
                if claim_chan_timer(c.hchan() as *const _ as usize, i64::MAX) {
                    fire_chan_timer(c.hchan());
                }
            }
        }
    }
    now
}

/// A new timer fires at `when`: make sure some M will look at it then.
pub(crate) fn wake_netpoller(when: i64) {
    let s = sched();
    if s.lastpoll.load(SeqCst) == 0 {
        // An M is blocked in netpoll: wake it if it sleeps past `when`.
        let pu = s.poll_until.load(Relaxed);
        if pu == 0 || pu > when {
            crate::netpoll::netpoll_break();
        }
    } else {
        // No M is in the poller: try to get one there.
        wakep();
    }
}

/// Parks the goroutine for `d` ("sleep" in dumps).
pub fn sleep(d: Duration) {
    if !crate::proc::in_goroutine() {
        // Not a goroutine (before `run`, or a plain thread): the thread sleeps.
        std::thread::sleep(d);
        return;
    }
    if d.is_zero() {
        crate::proc::gosched();
        return;
    }
    let gp = curg();
    let when = nanotime().saturating_add(d.as_nanos().min(i64::MAX as u128) as i64);
    let _ = gp;
    gopark(Some(sleep_commit), when as usize, grt_table::waitreason::SLEEP);
}

/// Runs on g0 once the goroutine is in Gwaiting: the timer can now fire at
/// any time without racing the park.
fn sleep_commit(gp: &'static grt_table::G, when: usize) -> bool {
    add_timer(when as i64, Fire::Wake(RecPtr::from_ref(gp), gp.generation.load(Relaxed)));
    true
}

/// A channel that receives the time once, `d` from now (Go's time.After).
#[track_caller]
pub fn after(d: Duration) -> Chan<Instant> {
    crate::need_runtime("time::after");
    let c = Chan::new(1);
    let when = nanotime().saturating_add(d.as_nanos().min(i64::MAX as u128) as i64);
    let s = sched();
    lock(&s.timers_lock);
    // SAFETY: timers_lock is held; the reference dies before unlock.
    unsafe { chan_timers() }.insert(c.hchan() as *const _ as usize, ChanTimer::Pending(when));
    // Set before NCHAN_TIMERS grows: a receiver that sees the count sees it.
    AFTER_ELEMTYPE.store(c.hchan().elemtype.load(Relaxed), Relaxed);
    NCHAN_TIMERS.fetch_add(1, Release);
    unlock(&s.timers_lock);
    add_timer(when, Fire::Send(c.clone()));
    c
}
