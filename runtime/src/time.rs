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

use crate::chan::Chan;
use crate::lock::{lock, unlock};
use crate::os::nanotime;
use crate::proc::{curg, gopark, goready, wakep};
use crate::recptr::RecPtr;
use crate::status::sched;
use core::cell::UnsafeCell;
use core::cmp::Reverse;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::collections::BinaryHeap;
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
                let _ = c.try_send(Instant::now());
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
    add_timer(when, Fire::Send(c.clone()));
    c
}
