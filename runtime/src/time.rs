//! Timers: `sleep`, `after`, `Timer`, `Ticker`, `after_func`, `tick`, and
//! the timer heap the scheduler runs.
//!
//! # The heap
//!
//! One heap for the whole runtime, under `sched.timers_lock` (rank timers),
//! with its earliest deadline mirrored in `sched.timer0when` so the
//! scheduler checks it without the lock, and its length in `sched.ntimers`
//! (which defers deadlock reports, as Go's per-P heaps do). Go keeps one
//! heap per P; a single heap is simpler and enough here. It is a 4-ary heap
//! (as Go's) of `Entry`s: a sleeping goroutine, or a `TimerRec` that knows
//! its index in the heap (`TimerRec::idx`), so stopping or resetting a timer
//! removes or moves its entry in O(log n); nothing is left behind for later
//! and no operation walks the heap. Timers fire from `check_timers`, which
//! every M calls in `find_runnable` with its P; an M with nothing to do
//! sleeps in the netpoller until the earliest deadline, and adding an
//! earlier timer wakes it (`wake_netpoller`). What a timer does (ready a
//! sleeper, send on a channel, start an `after_func` goroutine) runs after
//! the lock is dropped.
//!
//! # Timer channels (Go 1.23 and later)
//!
//! The channels of `after`, `Timer` and `Ticker` are synchronous, as in Go
//! 1.23: a receive, a `try_recv`, `len` or a select that looks at the
//! channel of a timer whose deadline has passed runs that timer first
//! (`maybe_run_chan`, Go's `maybeRunChan`), so an expired `after(0)` is
//! always ready and never loses to `default`, whether or not an M has run
//! the timer yet; and `stop` and `reset` empty the channel (Go's
//! `timerchandrain`), so no value from before them is received after they
//! return. Internally the channel has a buffer of one, which only the timer
//! fills; a ticker whose receiver is slow drops ticks (the send does not
//! block) and keeps its schedule. Go 1.23 also frees a timer nobody refers
//! to; here, when the last handle of a timer's channel goes
//! (`chan_released`, called by `Chan::drop`), the timer is stopped.
//!
//! **Invariant.** A channel timer is *busy* while someone works on its
//! channel outside `timers_lock`: sending its value (`fire_chan`, after
//! `check_timers` or `maybe_run_chan` claimed it) or draining it (`stop`,
//! `reset`). A busy timer is never in the heap; everyone else who wants to
//! touch it waits, without any lock, until it is not busy (`lock_idle`);
//! the busy section never parks and never waits on anything but the
//! channel's lock, so the wait is short. `chans` maps the hchan of every
//! channel timer that is in the heap or being fired to its record, under
//! `timers_lock` (a receiver looks there, so it never sees the channel
//! between "the timer ran" and "the value is in it"); `NCHAN_TIMERS` is
//! its size, so receives on ordinary channels skip the lookup. Lock order:
//! hchan before timers, so the channel is never locked while `timers_lock`
//! is held; that is why a claimed timer is sent after unlocking. A value
//! is drained only from a timer out of the heap and not being fired, so
//! no value the timer sends later can be drained by mistake.

use crate::chan::Chan;
use crate::lock::{assert_lock_held, lock, unlock};
use crate::os::nanotime;
use crate::proc::{gopark, goready, wakep};
use crate::recptr::RecPtr;
use crate::status::sched;
use core::cell::{Cell, UnsafeCell};
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use core::sync::atomic::{AtomicU32, AtomicUsize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `TimerRec::idx` of a timer that is not in the heap.
const NOT_HEAPED: usize = usize::MAX;

/// What a timer does when it fires.
enum Kind {
    /// Send the time on its channel (`Timer::new`, `Ticker::new`, `after`).
    Chan(Chan<Instant>),
    /// Run `f` in a new goroutine (`after_func`); `pc` and `site` name the
    /// `after_func` call, as the goroutine's creator in dumps.
    Func { f: Arc<dyn Fn() + Send + Sync>, pc: u64, site: u32 },
}

/// A timer that can be stopped and reset (Go's `runtime.timer`). The cells
/// are read and written only under `sched.timers_lock`.
struct TimerRec {
    /// When it fires next (nanotime); 0 when not pending.
    when: Cell<i64>,
    /// Ticker period; 0 for a one-shot timer.
    period: Cell<i64>,
    /// Its index in the heap, or NOT_HEAPED.
    idx: Cell<usize>,
    /// Someone is sending on or draining its channel (module docs).
    busy: Cell<bool>,
    kind: Kind,
}

// SAFETY: the cells are touched only under sched.timers_lock, which orders
// every access; `kind` is immutable and Send + Sync.
unsafe impl Sync for TimerRec {}

impl TimerRec {
    fn new(kind: Kind) -> Arc<TimerRec> {
        Arc::new(TimerRec { when: Cell::new(0), period: Cell::new(0), idx: Cell::new(NOT_HEAPED), busy: Cell::new(false), kind })
    }

    fn chan(&self) -> Option<&Chan<Instant>> {
        match &self.kind {
            Kind::Chan(c) => Some(c),
            Kind::Func { .. } => None,
        }
    }

    fn heaped(&self) -> bool {
        self.idx.get() != NOT_HEAPED
    }
}

/// What a heap entry wakes.
enum Target {
    /// A goroutine parked in `sleep` (its record and generation).
    Sleep(RecPtr<grt_table::G>, u32),
    Timer(Arc<TimerRec>),
}

struct Entry {
    when: i64,
    what: Target,
}

/// The heap and the channel timers, under timers_lock.
struct Timers {
    heap: Vec<Entry>,
    /// Channel timers in the heap or being fired, by hchan address.
    chans: HashMap<usize, Arc<TimerRec>>,
}

struct TimersCell(UnsafeCell<Option<Timers>>);

// SAFETY: only touched under sched.timers_lock.
unsafe impl Sync for TimersCell {}

static TIMERS: TimersCell = TimersCell(UnsafeCell::new(None));
/// Entries in `Timers::chans`: lets every receive skip the lookup when 0.
static NCHAN_TIMERS: AtomicUsize = AtomicUsize::new(0);
/// The element type id (`Hchan::elemtype`) of timer channels, so that
/// other channels skip the lookup (0 until the first timer channel).
static TIMER_ELEMTYPE: AtomicU32 = AtomicU32::new(0);

/// The heap and channel timers.
///
/// SAFETY: the caller holds `sched().timers_lock`, and does not keep the
/// reference past unlocking it, nor take a second one meanwhile.
unsafe fn timers() -> &'static mut Timers {
    assert_lock_held(&sched().timers_lock);
    // SAFETY: by the caller's contract, timers_lock serializes all access.
    unsafe { (*TIMERS.0.get()).get_or_insert_with(|| Timers { heap: Vec::new(), chans: HashMap::new() }) }
}

fn chan_key(c: &grt_table::Hchan) -> usize {
    c as *const _ as usize
}

impl Timers {
    /// Records in a timer entry where it now sits.
    fn set_idx(&self, i: usize) {
        if let Target::Timer(t) = &self.heap[i].what {
            t.idx.set(i);
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let p = (i - 1) / 4;
            if self.heap[i].when >= self.heap[p].when {
                break;
            }
            self.heap.swap(i, p);
            self.set_idx(i);
            i = p;
        }
        self.set_idx(i);
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let c = 4 * i + 1;
            if c >= n {
                break;
            }
            let mut m = c;
            for k in c + 1..(c + 4).min(n) {
                if self.heap[k].when < self.heap[m].when {
                    m = k;
                }
            }
            if self.heap[m].when >= self.heap[i].when {
                break;
            }
            self.heap.swap(i, m);
            self.set_idx(i);
            i = m;
        }
        self.set_idx(i);
    }

    fn push(&mut self, when: i64, what: Target) {
        self.heap.push(Entry { when, what });
        let i = self.heap.len() - 1;
        self.sift_up(i);
    }

    /// Takes entry `i` out of the heap (O(log n)); a timer's `idx` becomes
    /// NOT_HEAPED.
    fn remove(&mut self, i: usize) -> Entry {
        let last = self.heap.len() - 1;
        self.heap.swap(i, last);
        let e = self.heap.pop().expect("timer heap: remove from an empty heap");
        if let Target::Timer(t) = &e.what {
            if cfg!(debug_assertions) && t.idx.get() != i {
                crate::fatal::throw("timer heap: index out of sync");
            }
            t.idx.set(NOT_HEAPED);
        }
        if i < self.heap.len() {
            if i > 0 && self.heap[i].when < self.heap[(i - 1) / 4].when {
                self.sift_up(i);
            } else {
                self.sift_down(i);
            }
        }
        e
    }

    /// Puts `t` (not heaped, not busy) in the heap to fire at `when`.
    fn arm(&mut self, t: &Arc<TimerRec>, when: i64, period: i64) {
        if t.heaped() || t.busy.get() {
            crate::fatal::throw("timer heap: arming a timer in the heap or busy");
        }
        t.when.set(when);
        t.period.set(period);
        self.push(when, Target::Timer(t.clone()));
        if let Some(c) = t.chan() {
            let c = c.hchan();
            if self.chans.insert(chan_key(c), t.clone()).is_none() {
                // The element type first: a receiver that sees the count sees it.
                TIMER_ELEMTYPE.store(c.elemtype.load(Relaxed), Relaxed);
                NCHAN_TIMERS.store(self.chans.len(), Release);
            }
        }
    }

    /// Takes `t` out of the heap if it is there; returns whether it was.
    fn disarm(&mut self, t: &TimerRec) -> bool {
        let i = t.idx.get();
        if i == NOT_HEAPED {
            return false;
        }
        // Not the last reference: the caller holds one.
        drop(self.remove(i));
        true
    }

    /// Forgets the channel timer `t` (neither heaped nor busy any more).
    fn forget_chan(&mut self, t: &TimerRec) {
        if let Some(c) = t.chan() {
            if self.chans.remove(&chan_key(c.hchan())).is_some() {
                NCHAN_TIMERS.store(self.chans.len(), Release);
            }
        }
    }

    /// Publishes the earliest deadline and the heap's length. Returns the
    /// new earliest deadline if it moved earlier (then an M must be told,
    /// `wake_netpoller`, after the lock is dropped).
    fn publish(&self) -> Option<i64> {
        let s = sched();
        let new0 = self.heap.first().map_or(0, |e| e.when);
        let old0 = s.timer0when.load(Relaxed);
        s.timer0when.store(new0, SeqCst);
        s.ntimers.store(self.heap.len() as u32, Relaxed);
        (new0 != 0 && (old0 == 0 || new0 < old0)).then_some(new0)
    }
}

/// Locks timers_lock and returns, still holding it, once `t` is not busy
/// (a busy section is short and never parks: see the module docs).
fn lock_idle(t: &TimerRec) {
    let s = sched();
    loop {
        lock(&s.timers_lock);
        if !t.busy.get() {
            return;
        }
        unlock(&s.timers_lock);
        core::hint::spin_loop();
        std::thread::yield_now();
    }
}

fn dur_ns(d: Duration) -> i64 {
    d.as_nanos().min(i64::MAX as u128) as i64
}

fn when_after(d: Duration) -> i64 {
    nanotime().saturating_add(dur_ns(d))
}

/// Arms `t` (fresh) to fire at `when`, every `period` after if non-zero.
fn start(t: &Arc<TimerRec>, when: i64, period: i64) {
    let s = sched();
    lock(&s.timers_lock);
    // SAFETY: timers_lock is held; the reference dies before unlock.
    let tm = unsafe { timers() };
    tm.arm(t, when, period);
    let wake = tm.publish();
    unlock(&s.timers_lock);
    if let Some(w) = wake {
        wake_netpoller(w);
    }
}

/// Go's `timer.stop`: takes `t` out of the heap and, for a channel timer,
/// empties its channel. Returns whether it was pending (in the heap, or its
/// value sent but not received).
fn stop_rec(t: &Arc<TimerRec>) -> bool {
    let s = sched();
    lock_idle(t);
    // SAFETY: timers_lock is held; the reference dies before unlock.
    let tm = unsafe { timers() };
    let mut pending = tm.disarm(t);
    if pending {
        tm.publish();
    }
    t.when.set(0);
    if let Some(c) = t.chan() {
        // Out of the heap and not busy: nobody sends on it any more.
        tm.forget_chan(t);
        if needs_drain(c) {
            t.busy.set(true);
            unlock(&s.timers_lock);
            if drain(c) {
                pending = true;
            }
            lock(&s.timers_lock);
            t.busy.set(false);
        }
    }
    unlock(&s.timers_lock);
    pending
}

/// Whether a timer's channel holds a value. The caller holds timers_lock
/// and the timer is neither in the heap nor busy, so no send is under way
/// and the last one is visible (it finished under timers_lock).
fn needs_drain(c: &Chan<Instant>) -> bool {
    c.hchan().qcount.load(Acquire) != 0
}

/// Go's `timer.modify`: re-arms `t` to fire at `when` (every `period` after
/// if non-zero), emptying a channel timer's channel first. Returns whether
/// it was pending, as `stop_rec`.
fn reset_rec(t: &Arc<TimerRec>, when: i64, period: i64) -> bool {
    let s = sched();
    lock_idle(t);
    // SAFETY: timers_lock is held; the reference dies before unlock.
    let mut pending = unsafe { timers() }.disarm(t);
    if let Some(c) = t.chan().filter(|c| needs_drain(c)) {
        t.when.set(0);
        t.busy.set(true);
        unlock(&s.timers_lock);
        if drain(c) {
            pending = true;
        }
        lock(&s.timers_lock);
        t.busy.set(false);
    }
    // SAFETY: timers_lock is held; the reference dies before unlock.
    let tm = unsafe { timers() };
    tm.arm(t, when, period);
    let wake = tm.publish();
    unlock(&s.timers_lock);
    if let Some(w) = wake {
        wake_netpoller(w);
    }
    pending
}

/// Empties a timer's channel (Go's `timerchandrain`); whether a value was
/// there. The caller has made the timer busy, so no send races this.
fn drain(c: &Chan<Instant>) -> bool {
    let mut slot = core::mem::MaybeUninit::<Instant>::uninit();
    // `Instant` has no destructor: the value drained is simply forgotten.
    crate::chan::timer_drain(c.hchan(), slot.as_mut_ptr() as *mut u8)
}

/// Sends the time on the channel of `t`, which the caller made busy and
/// took out of the heap, then re-arms a ticker (on its schedule: ticks
/// missed meanwhile are dropped) or retires a one-shot timer.
fn fire_chan(t: Arc<TimerRec>) {
    let Some(c) = t.chan() else { crate::fatal::throw("fire_chan: not a channel timer") };
    let v = core::mem::ManuallyDrop::new(Instant::now());
    // The buffer of one is filled only by the timer: for a one-shot timer it
    // is empty; a ticker's slow receiver loses this tick (no blocking).
    let _ = crate::chan::timer_send(c.hchan(), &*v as *const Instant as *const u8);
    let s = sched();
    lock(&s.timers_lock);
    // SAFETY: timers_lock is held; the reference dies before unlock.
    let tm = unsafe { timers() };
    t.busy.set(false);
    let period = t.period.get();
    let mut wake = None;
    // A ticker nobody can receive from any more (only the timer's own
    // handle is left) stops, as Go frees an unreferenced ticker.
    if period > 0 && c.hchan().refs.load(SeqCst) > 1 {
        let now = nanotime();
        let when = t.when.get();
        let late = (now - when).max(0);
        let next = when.saturating_add(period.saturating_mul(1 + late / period));
        tm.arm(&t, next, period);
        wake = tm.publish();
    } else {
        t.when.set(0);
        tm.forget_chan(&t);
    }
    unlock(&s.timers_lock);
    if let Some(w) = wake {
        wake_netpoller(w);
    }
    // May be the last reference (frees the channel): after the unlock.
    drop(t);
}

/// Go's `maybeRunChan`: if `c` is the channel of a timer that has expired
/// and not sent, send now. Called by receives, `len` and select before they
/// lock `c` (timers ranks after hchan). Cheap when no channel timer is
/// pending or `c` already holds a value.
#[inline]
pub(crate) fn maybe_run_chan(c: &'static grt_table::Hchan) {
    if NCHAN_TIMERS.load(Acquire) == 0
        || c.qcount.load(Relaxed) != 0
        || c.dataqsiz.load(Relaxed) != 1
        || c.elemtype.load(Relaxed) != TIMER_ELEMTYPE.load(Relaxed)
    {
        return;
    }
    maybe_run_chan_slow(c);
}

#[cold]
fn maybe_run_chan_slow(c: &'static grt_table::Hchan) {
    let s = sched();
    loop {
        lock(&s.timers_lock);
        // SAFETY: timers_lock is held; the reference dies before unlock.
        let tm = unsafe { timers() };
        let Some(t) = tm.chans.get(&chan_key(c)) else {
            unlock(&s.timers_lock);
            return;
        };
        if t.busy.get() {
            // Someone is sending or draining right now: short; wait, so
            // that the caller never looks between "ran" and "sent".
            unlock(&s.timers_lock);
            core::hint::spin_loop();
            std::thread::yield_now();
            continue;
        }
        if !t.heaped() || t.when.get() > nanotime() {
            unlock(&s.timers_lock);
            return;
        }
        let t = t.clone();
        tm.disarm(&t);
        tm.publish();
        t.busy.set(true);
        unlock(&s.timers_lock);
        fire_chan(t);
        return;
    }
}

/// `Chan::drop` left one handle of `c`: if `c` is a timer's channel, that
/// handle is the timer's own, nobody can receive any more, and the timer
/// stops (Go 1.23 frees an unreferenced timer).
#[inline]
pub(crate) fn chan_released(c: &'static grt_table::Hchan) {
    if NCHAN_TIMERS.load(Acquire) == 0
        || c.dataqsiz.load(Relaxed) != 1
        || c.elemtype.load(Relaxed) != TIMER_ELEMTYPE.load(Relaxed)
    {
        return;
    }
    chan_released_slow(c);
}

#[cold]
fn chan_released_slow(c: &'static grt_table::Hchan) {
    let s = sched();
    let t = loop {
        lock(&s.timers_lock);
        // SAFETY: timers_lock is held; the reference dies before unlock.
        let tm = unsafe { timers() };
        let Some(t) = tm.chans.get(&chan_key(c)).cloned() else {
            unlock(&s.timers_lock);
            return;
        };
        if t.busy.get() {
            unlock(&s.timers_lock);
            // Not the last reference: `chans` holds one.
            drop(t);
            core::hint::spin_loop();
            std::thread::yield_now();
            continue;
        }
        // Only the timer's own handle left: nobody can clone it again.
        if c.refs.load(SeqCst) == 1 {
            if tm.disarm(&t) {
                tm.publish();
            }
            t.when.set(0);
            tm.forget_chan(&t);
        }
        break t;
    };
    unlock(&s.timers_lock);
    // May be the last reference (frees the channel): after the unlock.
    drop(t);
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
    let mut due: Vec<Target> = Vec::new();
    lock(&s.timers_lock);
    // SAFETY: timers_lock is held; the reference dies before unlock.
    let tm = unsafe { timers() };
    while tm.heap.first().is_some_and(|e| e.when <= now) {
        let e = tm.remove(0);
        if let Target::Timer(t) = &e.what {
            match t.kind {
                // Claimed: sent below, unlocked.
                Kind::Chan(_) => t.busy.set(true),
                // Ran: a stop from now on returns false, as in Go.
                Kind::Func { .. } => t.when.set(0),
            }
        }
        due.push(e.what);
    }
    tm.publish();
    unlock(&s.timers_lock);
    for what in due {
        match what {
            Target::Sleep(g, gen) => {
                let gp = g.get();
                // The generation guards against a record reused since.
                if gp.generation.load(Relaxed) == gen {
                    goready(gp);
                }
            }
            Target::Timer(t) => match &t.kind {
                Kind::Chan(_) => fire_chan(t),
                Kind::Func { f, pc, site } => {
                    let f = f.clone();
                    // Its own goroutine, as Go's AfterFunc (`goFunc`).
                    crate::proc::go_with_site(move || f(), *pc, *site);
                }
            },
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

/// Parks the goroutine for `d` ("sleep" in dumps). On a thread that is not
/// a goroutine (before `run`, or a plain thread) the thread sleeps.
pub fn sleep(d: Duration) {
    if !crate::proc::in_goroutine() {
        std::thread::sleep(d);
        return;
    }
    if d.is_zero() {
        crate::proc::gosched();
        return;
    }
    let when = when_after(d);
    gopark(Some(sleep_commit), when as usize, grt_table::waitreason::SLEEP);
}

/// Runs on g0 once the goroutine is in Gwaiting: the timer can now fire at
/// any time without racing the park.
fn sleep_commit(gp: &'static grt_table::G, when: usize) -> bool {
    let s = sched();
    lock(&s.timers_lock);
    // SAFETY: timers_lock is held; the reference dies before unlock.
    let tm = unsafe { timers() };
    tm.push(when as i64, Target::Sleep(RecPtr::from_ref(gp), gp.generation.load(Relaxed)));
    let wake = tm.publish();
    unlock(&s.timers_lock);
    if let Some(w) = wake {
        wake_netpoller(w);
    }
    true
}

/// A channel that receives the time once, `d` from now (Go's `time.After`).
/// Dropping the channel before then stops the timer.
#[track_caller]
pub fn after(d: Duration) -> Chan<Instant> {
    Timer::new(d).c
}

/// A channel that receives the time every `d` (Go's `time.Tick`): the
/// channel of a `Ticker` that stops when the channel is dropped.
/// Panics if `d` is zero.
#[track_caller]
pub fn tick(d: Duration) -> Chan<Instant> {
    Ticker::new(d).c
}

/// A single event (Go's `time.Timer`): the time is delivered on `c` once,
/// when the timer expires, unless it was stopped first; or, for a timer made
/// by [`after_func`], a function runs in its own goroutine.
///
/// As in Go 1.23 and later, the channel is synchronous: after `stop` or
/// `reset` returns, no value from before the call is received; and a timer
/// whose channel nobody holds any more is stopped. Every method may be
/// called from any goroutine or thread.
///
/// ```
/// use std::time::Duration;
/// grt::run(|| {
///     let t = grt::time::Timer::new(Duration::from_millis(5));
///     assert!(t.c.recv().is_some()); // fired
///     assert!(!t.stop()); // already fired and received: nothing to stop
///
///     let t = grt::time::Timer::new(Duration::from_secs(3600));
///     assert!(t.stop()); // stopped before it fired
///     assert!(t.c.try_recv().is_err()); // so no value ever comes
///     assert!(!t.reset(Duration::ZERO)); // it was not active; now it is
///     assert!(t.c.recv().is_some());
/// })
/// ```
pub struct Timer {
    /// Receives the time when the timer fires (Go's `t.C`). For a timer
    /// made by [`after_func`], a channel that never receives (Go's is nil).
    pub c: Chan<Instant>,
    t: Arc<TimerRec>,
}

impl Timer {
    /// A timer that sends the current time on `c` after `d` (Go's
    /// `time.NewTimer`).
    #[track_caller]
    pub fn new(d: Duration) -> Timer {
        crate::need_runtime("time::Timer::new");
        let c = Chan::new(1);
        let t = TimerRec::new(Kind::Chan(c.clone()));
        start(&t, when_after(d), 0);
        Timer { c, t }
    }

    /// Stops the timer. Returns true if that stopped it, false if it had
    /// already fired (and its value was received, or its function started)
    /// or been stopped. After `stop` returns, no value is received on `c`
    /// until the timer is reset. It does not wait for an `after_func`
    /// function that already started.
    pub fn stop(&self) -> bool {
        stop_rec(&self.t)
    }

    /// Makes the timer fire `d` from now, as if it were new. Returns true
    /// if it was active (would have fired, or fired and was not received),
    /// false if it had fired or been stopped. No value from before the call
    /// is received after it; an `after_func` function runs again.
    pub fn reset(&self, d: Duration) -> bool {
        reset_rec(&self.t, when_after(d), 0)
    }
}

impl core::fmt::Debug for Timer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Timer").field("c", &self.c).finish_non_exhaustive()
    }
}

/// Runs `f` in its own goroutine once `d` has elapsed, unless the returned
/// timer is stopped first (Go's `time.AfterFunc`). Resetting the timer
/// runs `f` again. Dropping the timer does not stop it.
///
/// ```
/// use std::time::Duration;
/// grt::run(|| {
///     let done = grt::Chan::new(1);
///     let d = done.clone();
///     let _t = grt::time::after_func(Duration::from_millis(1), move || d.send(grt::goid()));
///     assert_ne!(done.recv(), Some(grt::goid())); // another goroutine ran it
/// })
/// ```
#[track_caller]
pub fn after_func<F>(d: Duration, f: F) -> Timer
where
    F: Fn() + Send + Sync + 'static,
{
    crate::need_runtime("time::after_func");
    let site = crate::status::intern_location(core::panic::Location::caller());
    let pc = crate::asm::current_pc();
    let t = TimerRec::new(Kind::Func { f: Arc::new(f), pc, site });
    start(&t, when_after(d), 0);
    Timer { c: Chan::new(0), t }
}

/// Delivers the time on `c` every period (Go's `time.Ticker`). A receiver
/// that falls behind gets one pending tick, not a backlog: ticks that find
/// the previous one unreceived are dropped, and the ticker keeps its
/// schedule. As in Go 1.23 and later, `stop` and `reset` empty the channel,
/// and a ticker whose channel nobody holds any more stops.
///
/// ```
/// use std::time::Duration;
/// grt::run(|| {
///     let t = grt::time::Ticker::new(Duration::from_millis(1));
///     for _ in 0..3 {
///         t.c.recv().unwrap();
///     }
///     t.stop();
///     assert!(t.c.try_recv().is_err()); // no stale tick after stop
/// })
/// ```
pub struct Ticker {
    /// Receives the time at each tick (Go's `t.C`).
    pub c: Chan<Instant>,
    t: Arc<TimerRec>,
}

impl Ticker {
    /// A ticker that sends the time every `period` (Go's
    /// `time.NewTicker`). Panics if `period` is zero.
    #[track_caller]
    pub fn new(period: Duration) -> Ticker {
        crate::need_runtime("time::Ticker::new");
        if period.is_zero() {
            panic!("non-positive interval for Ticker::new");
        }
        let c = Chan::new(1);
        let t = TimerRec::new(Kind::Chan(c.clone()));
        let p = dur_ns(period);
        start(&t, nanotime().saturating_add(p), p);
        Ticker { c, t }
    }

    /// Stops the ticker: no more ticks are sent, and a tick not yet
    /// received is discarded. It does not close the channel.
    pub fn stop(&self) {
        stop_rec(&self.t);
    }

    /// Stops the ticker and restarts it with period `period`: the next
    /// tick comes `period` from now. Panics if `period` is zero.
    pub fn reset(&self, period: Duration) {
        if period.is_zero() {
            panic!("non-positive interval for Ticker::reset");
        }
        let p = dur_ns(period);
        reset_rec(&self.t, nanotime().saturating_add(p), p);
    }
}

impl core::fmt::Debug for Ticker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ticker").field("c", &self.c).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    //! The heap on its own (no runtime): after every push and removal the
    //! 4-ary heap order holds, every timer's `idx` names its entry, and the
    //! minimum is the model's. A slip here would show from outside only as
    //! a timer that fires late, never, or after it was stopped.

    use super::*;
    use std::collections::BTreeSet;

    fn func_timer() -> Arc<TimerRec> {
        TimerRec::new(Kind::Func { f: Arc::new(|| {}), pc: 0, site: 0 })
    }

    fn check(tm: &Timers, model: &BTreeSet<(i64, usize)>, recs: &[Arc<TimerRec>]) {
        assert_eq!(tm.heap.len(), model.len());
        for i in 1..tm.heap.len() {
            assert!(tm.heap[(i - 1) / 4].when <= tm.heap[i].when, "heap order broken at {i}");
        }
        for (i, e) in tm.heap.iter().enumerate() {
            let Target::Timer(t) = &e.what else { panic!("not a timer entry") };
            assert_eq!(t.idx.get(), i, "idx out of sync");
            assert_eq!(t.when.get(), e.when);
        }
        for (k, t) in recs.iter().enumerate() {
            assert_eq!(t.heaped(), model.contains(&(t.when.get(), k)), "timer {k}");
        }
        assert_eq!(tm.heap.first().map(|e| e.when), model.first().map(|&(w, _)| w));
    }

    #[test]
    fn heap_push_remove_keeps_order_and_indices() {
        let mut tm = Timers { heap: Vec::new(), chans: HashMap::new() };
        let recs: Vec<_> = (0..300).map(|_| func_timer()).collect();
        let mut model: BTreeSet<(i64, usize)> = BTreeSet::new();
        let mut x = 0x2545f4914f6cdd1du64;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for step in 0..5_000 {
            let k = rnd(recs.len() as u64) as usize;
            let t = &recs[k];
            match rnd(4) {
                // Pop the earliest, as check_timers does.
                0 if !tm.heap.is_empty() => {
                    let e = tm.remove(0);
                    let Target::Timer(t) = e.what else { unreachable!() };
                    let k = recs.iter().position(|r| Arc::ptr_eq(r, &t)).unwrap();
                    assert!(model.remove(&(e.when, k)), "step {step}: popped a timer the model lacks");
                    assert!(model.first().is_none_or(|m| m.0 >= e.when), "step {step}: popped not the earliest");
                }
                // Stop.
                1 => {
                    let w = t.when.get();
                    let was = tm.disarm(t);
                    assert_eq!(was, model.remove(&(w, k)), "step {step}");
                }
                // Reset (stop, then arm), with many equal deadlines.
                _ => {
                    let w = t.when.get();
                    if tm.disarm(t) {
                        model.remove(&(w, k));
                    }
                    let when = 1 + rnd(50) as i64;
                    tm.arm(t, when, 0);
                    model.insert((when, k));
                }
            }
            check(&tm, &model, &recs);
        }
    }
}
