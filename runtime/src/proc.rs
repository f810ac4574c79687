//! The scheduler: goroutines (G), threads (M) and processors (P), after
//! Go's proc.go.
//!
//! # Goroutine scheduler
//!
//! A G is a goroutine: a stackful coroutine with a status word, a saved
//! context and a stack span. An M is an OS thread. A P is what an M needs to
//! run Gs: a local run queue (a 256-slot ring plus `runnext`), a free G list,
//! caches of sudogs and stacks. There are exactly GOMAXPROCS Ps. An M runs Gs
//! only while it holds a P; an M in a system call gives its P up (hand-off,
//! see `syscall.rs`), and sysmon takes Ps from Ms that stay in a system call.
//!
//! Every G, M and P record lives in the status table, so everything this
//! file does is visible from outside as it happens.
//!
//! # Worker thread parking/unparking
//!
//! As in Go, we keep enough running Ms to use the Ps, and park the rest on
//! their notes. An M with a P and nothing to run *spins* for a while,
//! stealing from other Ps, before it parks. When a G is readied and there is
//! an idle P but no spinning M, `wakep` unparks (or creates) an M to spin.
//! A spinning M that finds work calls `resetspinning`, which may wake
//! another spinner. So work is picked up promptly without a thundering herd.
//! `sched.nmspinning` counts spinning Ms; Go's invariant holds: an M must
//! drop out of spinning *before* it rechecks all run queues, so no readied
//! G is left with every M parked.
//!
//! # Stacks and the g0 context
//!
//! Every M has a scheduler context ("g0"), the thread's own stack. A G
//! switches to g0 with `mcall(f)`, which saves the G's exact context in
//! its record and runs `f` on g0; `f` ends in `schedule()`, which picks
//! the next G and jumps into it with `gogo`. `schedule` never returns: g0's
//! frames are discarded at every switch, so g0's stack never grows.
//!
//! # Preemption
//!
//! Scheduling is cooperative, and stays so: a goroutine is switched away
//! only at a *safe point*, a runtime call where it may already park
//! (blocking channel operations and `select!`, `Mutex::lock`,
//! `WaitGroup::wait`, `sleep`, network I/O, `yield_now`). Rust code may
//! hold thread-affine state across anything else (a reentrant stdout
//! lock, malloc's arena, a `RefCell` borrowed out of a thread-local), and
//! resuming it on another thread would break it; the code around a call
//! that may park already cannot hold such state. So a non-blocking call
//! (`try_send`, `try_recv`, `select!` with `default`) is not a safe point,
//! nor is any allocation, nor the return from a system call.
//!
//! As Go's retake: every `execute` that starts a new time slice bumps the
//! P's `schedtick`; sysmon remembers the tick it last saw and when, and
//! when a P has kept one tick for 10ms it sets `preempt` on the P's
//! running G (Go's `preemptone`; stop-the-world sets it on every G).
//! `preempt_check`, one relaxed load at the entry of each safe point,
//! sees the flag and yields to the back of the global run queue (Go's
//! `gopreempt_m`). A G that calls none of them keeps its P: `execute` (and
//! a system call that returns with a P) stamps `G.safepoint_when`, so the
//! table shows since when a running G has passed no safe point, and the
//! dumps and the TUI say so. HACKING.md has why grt does not preempt
//! asynchronously, and the design of the thread suspension the collector
//! will use to scan such a G.
//!
//! # Invariants
//!
//! - A G's status changes only through `casgstatus` (and the Gscan
//!   variants), with Go's spin-and-wait semantics.
//! - A G in Grunning has `m` set, and that M's `curg` is the G.
//! - A P in Prunning has `m` set to the M that holds it, and that M's `p`
//!   is the P. A P in Pidle is on `sched.pidle` (or being moved by someone
//!   holding `sched.lock`).
//! - Goroutine code never keeps an M or P pointer across a park point
//!   (`mcall`): the G may resume on another M.

use crate::asm::{grt_gogo, grt_gostart, grt_mcall};
use crate::lock::{lock, noteclear, notesleep, notewakeup, unlock};
use crate::os::{self, nanotime};
use crate::recptr::{Link, RecPtr};
use crate::status::{sched, table};
use crate::{probe, stack, stw, time};
use core::cell::Cell;
use core::ptr::{self, null_mut};
use core::sync::atomic::AtomicBool;
use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use grt_table::header::SectionKind;
use grt_table::{mrole, mstate, G, M, P, RUNQ_LEN};
use grt_table::{G_DEAD, G_RUNNABLE, G_RUNNING, G_SCAN, G_SYSCALL, G_WAITING};
use grt_table::{P_GCSTOP, P_IDLE, P_RUNNING};

// --- the current G and M ----------------------------------------------------

// The current M and G live in two static-TLS slots defined in assembly and
// read with inline asm (initial-exec model: a GOT load, then an fs-relative
// load). Each read is an opaque asm block, so the compiler cannot keep a
// thread-local address or value across `mcall`, after which the goroutine
// may be running on another thread; yet reads inline and cost ~1ns.
core::arch::global_asm!(
    ".section .tbss,\"awT\",@nobits",
    ".p2align 3",
    ".globl grt_tls_m",
    "grt_tls_m: .zero 8",
    ".globl grt_tls_g",
    "grt_tls_g: .zero 8",
    ".text",
);

/// The current M (null on threads the runtime did not start).
#[inline(always)]
pub fn getm() -> RecPtr<M> {
    let v: *mut M;
    // SAFETY: reads this thread's grt_tls_m slot; no side effects.
    unsafe {
        core::arch::asm!(
            "mov {v}, qword ptr [rip + grt_tls_m@gottpoff]",
            "mov {v}, qword ptr fs:[{v}]",
            v = out(reg) v,
            options(nostack, preserves_flags, readonly, pure)
        )
    };
    // SAFETY: the slot holds what `setm` stored: an M record or null.
    unsafe { RecPtr::from_raw(v) }
}

/// The running goroutine (null on g0 and on foreign threads).
#[inline(always)]
pub fn getg() -> RecPtr<G> {
    let v: *mut G;
    // SAFETY: reads this thread's grt_tls_g slot; no side effects.
    unsafe {
        core::arch::asm!(
            "mov {v}, qword ptr [rip + grt_tls_g@gottpoff]",
            "mov {v}, qword ptr fs:[{v}]",
            v = out(reg) v,
            options(nostack, preserves_flags, readonly, pure)
        )
    };
    // SAFETY: the slot holds what `setg` stored: a G record or null.
    unsafe { RecPtr::from_raw(v) }
}

pub(crate) fn setg(gp: RecPtr<G>) {
    let gp = gp.as_ptr();
    // SAFETY: writes this thread's grt_tls_g slot.
    unsafe {
        core::arch::asm!(
            "mov {t}, qword ptr [rip + grt_tls_g@gottpoff]",
            "mov qword ptr fs:[{t}], {v}",
            t = out(reg) _,
            v = in(reg) gp,
            options(nostack, preserves_flags)
        )
    };
}

pub(crate) fn setm(mp: RecPtr<M>) {
    let mp = mp.as_ptr();
    // SAFETY: writes this thread's grt_tls_m slot.
    unsafe {
        core::arch::asm!(
            "mov {t}, qword ptr [rip + grt_tls_m@gottpoff]",
            "mov qword ptr fs:[{t}], {v}",
            t = out(reg) _,
            v = in(reg) mp,
            options(nostack, preserves_flags)
        )
    };
}

/// The current goroutine, which must exist.
#[inline]
pub fn curg() -> &'static G {
    let gp = getg();
    if gp.is_null() {
        crate::fatal::throw("not on a goroutine");
    }
    gp.get()
}

/// The current M, which must exist.
#[inline]
pub fn curm() -> &'static M {
    let mp = getm();
    if mp.is_null() {
        crate::fatal::throw("not on a runtime thread");
    }
    mp.get()
}

/// Whether the caller runs as a goroutine of this runtime.
pub fn in_goroutine() -> bool {
    !getg().is_null()
}

// --- globals ---------------------------------------------------------------

/// Set once `main` has started (before that, newproc does not wakep).
pub static MAIN_STARTED: AtomicBool = AtomicBool::new(false);

/// The current GOMAXPROCS (sched.gomaxprocs).
#[inline]
pub fn gomaxprocs() -> i32 {
    sched().gomaxprocs.load(Relaxed)
}

#[inline]
pub fn allp(i: usize) -> &'static P {
    table().p(i)
}

// --- G status --------------------------------------------------------------

#[inline]
pub fn readgstatus(gp: &G) -> u32 {
    gp.atomicstatus.load(Acquire)
}

/// Changes gp's status from `old` to `new`, waiting while the status is
/// something else: Go's casgstatus. A status that differs from `old` is
/// assumed transient (a Gscan bit the GC will clear, a Gcopystack the
/// shrinker will undo), so this spins, then yields the thread, until it
/// comes back. While it waits, `M.waitcasg` names the G for the inspector.
#[inline]
pub fn casgstatus(gp: &G, old: u32, new: u32) {
    if (old & G_SCAN) != 0 || (new & G_SCAN) != 0 || old == new {
        crate::eprint_raw!("runtime: casgstatus: oldval={:#x} newval={:#x}\n", old, new);
        crate::fatal::throw("casgstatus: bad incoming values");
    }
    if gp.atomicstatus.compare_exchange(old, new, AcqRel, Relaxed).is_err() {
        casgstatus_slow(gp, old, new);
    }
}

#[cold]
fn casgstatus_slow(gp: &G, old: u32, new: u32) {
    let mp = getm();
    if let Some(m) = mp.opt() {
        m.waitcasg.store(gp as *const G as *mut G, Relaxed);
        m.waitcasg_status.store(old, Relaxed);
        m.waitsince.store(nanotime(), Relaxed);
    }
    probe!(casgstatus_spin, gp.goid.load(Relaxed), old, new);
    const YIELD_DELAY: i64 = 5 * 1000;
    let mut next_yield = nanotime() + YIELD_DELAY;
    loop {
        let cur = gp.atomicstatus.load(Acquire);
        if old == G_WAITING && cur == G_RUNNABLE {
            crate::fatal::throw("casgstatus: waiting for Gwaiting but is Grunnable");
        }
        if cur == old && gp.atomicstatus.compare_exchange(old, new, AcqRel, Relaxed).is_ok() {
            break;
        }
        if nanotime() < next_yield {
            let mut x = 0;
            while x < 10 && gp.atomicstatus.load(Relaxed) != old {
                os::procyield(1);
                x += 1;
            }
        } else {
            os::osyield();
            next_yield = nanotime() + YIELD_DELAY / 2;
        }
    }
    if let Some(m) = mp.opt() {
        m.waitcasg.store(null_mut(), Relaxed);
        m.waitsince.store(0, Relaxed);
    }
}

/// Sets the Gscan bit: `old` must be Grunnable, Gwaiting, Gsyscall or
/// Grunning and `new` must be `old | G_SCAN`. Reports success.
#[cfg_attr(not(test), allow(dead_code))] // the collector's stack scan; unit-tested below
pub fn castogscanstatus(gp: &G, old: u32, new: u32) -> bool {
    match old {
        G_RUNNABLE | G_WAITING | G_SYSCALL | G_RUNNING if new == old | G_SCAN => {
            let won = gp.atomicstatus.compare_exchange(old, new, AcqRel, Relaxed).is_ok();
            if won {
                // Who holds the bit, for the inspector's wait-for analysis.
                gp.scanm.store(getm().as_ptr(), Release);
            }
            won
        }
        _ => {
            crate::eprint_raw!("runtime: castogscanstatus oldval={:#x} newval={:#x}\n", old, new);
            crate::fatal::throw("castogscanstatus")
        }
    }
}

/// Clears the Gscan bit: `old` must be `new | G_SCAN` and gp must be in it.
#[cfg_attr(not(test), allow(dead_code))] // the collector's stack scan; unit-tested below
pub fn casfrom_gscanstatus(gp: &G, old: u32, new: u32) {
    let valid = old == new | G_SCAN && matches!(new, G_RUNNABLE | G_WAITING | G_SYSCALL | G_RUNNING);
    if valid {
        gp.scanm.store(ptr::null_mut(), Release);
    }
    let ok = valid && gp.atomicstatus.compare_exchange(old, new, AcqRel, Relaxed).is_ok();
    if !ok {
        crate::eprint_raw!(
            "runtime: casfrom_Gscanstatus bad oldval gp={:#x}, oldval={:#x}, newval={:#x}\n",
            gp as *const G as usize,
            old,
            new
        );
        crate::fatal::throw("casfrom_Gscanstatus: gp->status is not in scan state");
    }
}

// --- mcall, park and ready -------------------------------------------------

/// Switches to the scheduler context and runs `f(gp)` there. Returns when
/// the goroutine is next resumed (possibly on another M).
#[inline]
pub fn mcall(f: extern "C" fn(RecPtr<G>)) {
    let gp = curg();
    let mp = curm();
    // SAFETY: gp.sched is the current G's own gobuf; mp.g0.sp is the base of
    // this M's scheduler stack, whose frames are all dead (schedule never
    // returns). grt_mcall saves the callee-saved registers on this stack
    // and `f` ends in gogo, never returning here directly.
    unsafe { grt_mcall(&gp.sched, mp.g0.sp.get(), f, RecPtr::from_ref(gp)) };
    // Never a tail call: the gobuf's saved pc must be a return address in
    // the caller (gopark, ...), or that frame vanishes from the parked
    // goroutine's stack (Go's compiler never makes one either).
    // SAFETY: an empty asm statement; it only orders code.
    unsafe { core::arch::asm!("", options(nostack, preserves_flags)) };
}

/// What `gopark` does on g0 once the G is off its stack: returns false to
/// resume the G at once instead of parking it.
pub type UnlockFn = fn(gp: &'static G, arg: usize) -> bool;

thread_local! {
    static PARK: Cell<(Option<UnlockFn>, usize)> = const { Cell::new((None, 0)) };
}

/// Parks the current goroutine in Gwaiting with `reason`. `unlockf(gp, arg)`
/// runs on g0 after the switch; if it returns false the G resumes at once.
/// Someone must later call `goready(gp)`.
pub fn gopark(unlockf: Option<UnlockFn>, arg: usize, reason: u32) {
    let gp = curg();
    let mp = curm();
    if mp.locks.load(Relaxed) != 0 && unlockf.is_none() {
        crate::fatal::throw("gopark: holding locks");
    }
    gp.waitreason.store(reason, Relaxed);
    PARK.with(|c| c.set((unlockf, arg)));
    probe!(gopark, gp.goid.load(Relaxed), reason);
    mcall(park_m);
}

extern "C" fn park_m(gp: RecPtr<G>) {
    let gp = gp.get();
    let mp = curm();
    setg(RecPtr::NULL);
    let (unlockf, arg) = PARK.with(|c| c.take());
    gp.waitsince.store(os::coarse_nanotime(), Relaxed);
    record_sp(gp);
    casgstatus(gp, G_RUNNING, G_WAITING);
    if let Some(f) = unlockf {
        if !f(gp, arg) {
            casgstatus(gp, G_WAITING, G_RUNNABLE);
            gp.waitsince.store(0, Relaxed);
            execute(gp, true);
        }
    }
    dropg(mp);
    schedule();
}

fn record_sp(gp: &G) {
    let sp = gp.sched.sp.get();
    let low = gp.stack_lowest_sp.get();
    if low == 0 || sp < low {
        gp.stack_lowest_sp.set(sp);
    }
}

pub(crate) fn dropg(mp: &M) {
    let gp = mp.curg.rec();
    if !gp.is_null() {
        gp.get().m.store(null_mut(), Relaxed);
        mp.lastg.store(gp.as_ptr(), Relaxed);
    }
    mp.curg.store(null_mut(), Relaxed);
}

/// Makes a parked goroutine runnable (Go's goready/ready): puts it in the
/// current P's runnext and wakes an idle P if there is one.
pub fn goready(gp: &'static G) {
    probe!(goready, gp.goid.load(Relaxed), gp.waitreason.load(Relaxed));
    let status = readgstatus(gp);
    if status & !G_SCAN != G_WAITING {
        crate::eprint_raw!("runtime: bad g status {:#x} in goready\n", status);
        crate::fatal::throw("bad g->status in ready");
    }
    casgstatus(gp, G_WAITING, G_RUNNABLE);
    gp.waitsince.store(0, Relaxed);
    match getm().opt().and_then(|mp| mp.p.rec().opt()) {
        Some(pp) => runqput(pp, gp, true),
        None => {
            // No P (sysmon, a foreign thread): through the global queue.
            let s = sched();
            lock(&s.lock);
            globrunqput(gp);
            unlock(&s.lock);
        }
    }
    wakep();
}

/// Yields the processor: the current G goes to the global run queue.
pub fn gosched() {
    mcall(gosched_m);
}

extern "C" fn gosched_m(gp: RecPtr<G>) {
    let gp = gp.get();
    let mp = curm();
    setg(RecPtr::NULL);
    record_sp(gp);
    casgstatus(gp, G_RUNNING, G_RUNNABLE);
    dropg(mp);
    let s = sched();
    lock(&s.lock);
    globrunqput(gp);
    unlock(&s.lock);
    schedule();
}

/// A safe point: honours a pending preemption request (sysmon sets
/// `preempt` on a G that ran 10ms without scheduling, and stopTheWorld sets
/// it on every G) by yielding to the global run queue. Call it only at the
/// entry of a runtime call that may park the goroutine, holding no runtime
/// lock (see "Preemption" above); never where the goroutine could not
/// already be switched away.
#[inline]
pub fn preempt_check() {
    let gp = getg();
    if !gp.is_null() && gp.get().preempt.load(Relaxed) != 0 {
        preempt_park(gp.get());
    }
}

/// Requests preemption of the current goroutine, as sysmon does of one
/// that ran 10ms (for tests: `grt::internal::request_preempt`).
pub fn request_preempt() {
    if let Some(gp) = getg().opt() {
        gp.preempt.store(1, Relaxed);
    }
}

/// Whether the current goroutine has a preemption request pending (it is
/// cleared when honoured, and whenever the goroutine is scheduled).
pub fn preempt_requested() -> bool {
    getg().opt().is_some_and(|gp| gp.preempt.load(Relaxed) != 0)
}

#[cold]
#[inline(never)]
fn preempt_park(gp: &G) {
    debug_assert!(curm().locks.load(Relaxed) == 0, "preempt_check: holding runtime locks");
    gp.preempt.store(0, Relaxed);
    probe!(preempted, gp.goid.load(Relaxed));
    gosched();
}

// --- goroutine creation and exit -------------------------------------------

/// Runs a goroutine body: `p` is a boxed `F` (a thin pointer, stored in
/// `G.entry_data`), and this function, instantiated for `F`, is stored
/// beside it in `G.entry_vtable`; `goroutine_main` calls the one with the
/// other.
unsafe fn run_thunk<F: FnOnce()>(p: *mut u8) {
    // SAFETY: p came from Box::into_raw(Box<F>) in `go_with_site`, and is
    // taken exactly once (goroutine_main clears the G's entry first).
    let f = unsafe { Box::from_raw(p as *mut F) };
    f()
}

/// Starts a goroutine running `f`: Go's `go f()`. The caller's file:line
/// and code address are recorded as the goroutine's creation site.
///
/// Panics if called outside the runtime (before `grt::run`, or from a
/// thread that is not a goroutine), or if the
/// goroutine could not get a stack (see the message for the remedy).
#[track_caller]
#[inline(always)]
pub fn go<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    crate::need_runtime("go");
    let pc = crate::asm::current_pc();
    let site = crate::status::intern_location(core::panic::Location::caller());
    go_with_site(f, pc, site);
}

/// `go` with an explicit creation site (used by `run` for goroutine 1).
pub fn go_with_site<F>(f: F, pc: u64, site: u32)
where
    F: FnOnce() + Send + 'static,
{
    let mp = getm();
    if mp.is_null() || mp.get().p.load(Relaxed).is_null() {
        panic!("grt::go called from a thread that is not a goroutine (start the program with grt::run)");
    }
    if let Err(e) = stack::reserve() {
        panic!("{e}");
    }
    newproc(Box::into_raw(Box::new(f)) as *mut u8, run_thunk::<F> as *const () as u64, pc, site);
}

/// Creates a G in Grunnable for the given body and queues it in runnext.
pub(crate) fn newproc(data: *mut u8, run: u64, gopc: u64, site: u32) {
    let mp = getm();
    let parent = getg();
    let pp = mp.get().p.rec().get();
    let newg = gfget(pp).unwrap_or_else(malg);
    let goid = next_goid(pp);
    newg.goid.store(goid, Relaxed);
    newg.generation.fetch_add(1, Relaxed);
    newg.parentgoid.store(if parent.is_null() { 0 } else { parent.get().goid.load(Relaxed) }, Relaxed);
    newg.gopc.set(gopc);
    newg.site.store(site, Relaxed);
    newg.startpc.set(run);
    newg.entry_data.set(data as u64);
    newg.entry_vtable.set(run);
    newg.waitreason.store(0, Relaxed);
    newg.waitsince.store(0, Relaxed);
    newg.preempt.store(0, Relaxed);
    newg.stack_lowest_sp.set(0);
    newg.panicrec.set(0);
    newg.sched.sp.set(0);
    newg.sched.pc.set(grt_gostart as *const () as u64);
    newg.sched.bp.set(0);
    let old = readgstatus(newg);
    casgstatus(newg, old, G_RUNNABLE);
    sched().ngoroutines.fetch_add(1, Relaxed);
    probe!(go_create, goid, newg.parentgoid.load(Relaxed), gopc);
    runqput(pp, newg, true);
    if MAIN_STARTED.load(Relaxed) {
        wakep();
    }
}

fn next_goid(pp: &P) -> u64 {
    const BATCH: u64 = 16;
    let mut c = pp.goidcache.load(Relaxed);
    if c == pp.goidcacheend.load(Relaxed) {
        c = sched().goidgen.fetch_add(BATCH, Relaxed) + 1;
        pp.goidcacheend.store(c + BATCH, Relaxed);
    }
    pp.goidcache.store(c + 1, Relaxed);
    c
}

/// Allocates a new G record (in Gidle... then Gdead, as Go's malg + allgadd).
fn malg() -> &'static G {
    let t = table();
    match t.alloc::<G>(SectionKind::G) {
        Some(g) => {
            g.atomicstatus.store(G_DEAD, Release);
            g
        }
        None => {
            crate::eprint_raw!(
                "runtime: too many goroutines: the status table holds {} (set GRT_MAXG to raise the limit)\n",
                t.capacity(SectionKind::G)
            );
            crate::fatal::throw("out of goroutine records")
        }
    }
}

/// The body of every goroutine; entered from `grt_gostart` on the G's stack.
pub(crate) extern "C" fn goroutine_main() -> ! {
    let gp = curg();
    let data = gp.entry_data.get() as *mut u8;
    let run = gp.entry_vtable.get();
    gp.entry_data.set(0);
    gp.entry_vtable.set(0);
    // SAFETY: `run` is the run_thunk::<F> matching the Thunk<F> at `data`,
    // both stored by newproc; entry_* were cleared so this runs once.
    let run: unsafe fn(*mut u8) = unsafe { core::mem::transmute::<usize, unsafe fn(*mut u8)>(run as usize) };
    // The goroutine's panic state lives here, in its bottom frame, for as
    // long as the body runs (see fatal.rs): it follows the goroutine from
    // thread to thread.
    let ps = crate::fatal::PanicState::new();
    gp.panicrec.set(&ps as *const crate::fatal::PanicState as u64);
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { run(data) }));
    if let Err(payload) = res {
        crate::fatal::goroutine_panicked(payload, &ps);
    }
    gp.panicrec.set(0);
    ps.retire();
    drop(ps); // this frame is abandoned, never returned from
    if gp.goid.load(Relaxed) == 1 {
        crate::exit_main();
    }
    goexit1()
}

/// Finishes the current goroutine.
pub fn goexit1() -> ! {
    let gp = curg();
    probe!(go_exit, gp.goid.load(Relaxed));
    mcall(goexit0);
    crate::fatal::throw("goexit returned")
}

extern "C" fn goexit0(gp: RecPtr<G>) {
    let gp = gp.get();
    let mp = curm();
    setg(RecPtr::NULL);
    casgstatus(gp, G_RUNNING, G_DEAD);
    sched().ngoroutines.fetch_sub(1, Relaxed);
    gp.m.store(null_mut(), Relaxed);
    gp.waitreason.store(0, Relaxed);
    gp.param.store(0, Relaxed);
    gp.waiting.store(null_mut(), Relaxed);
    gp.lockedm.store(null_mut(), Relaxed);
    dropg(mp);
    let pp = mp.p.rec().get();
    stack::stackfree(pp, gp);
    gfput(pp, gp);
    schedule();
}

// --- free G lists ----------------------------------------------------------

const GFREE_LOCAL_MAX: i32 = 64;

fn gfput(pp: &P, gp: &'static G) {
    gp.schedlink.store(pp.gfree.load(Relaxed), Relaxed);
    pp.gfree.store(gp as *const G as *mut G, Relaxed);
    let n = pp.ngfree.load(Relaxed) + 1;
    pp.ngfree.store(n, Relaxed);
    if n >= GFREE_LOCAL_MAX {
        // Move half to the global list.
        let s = sched();
        lock(&s.gfree_lock);
        while pp.ngfree.load(Relaxed) > GFREE_LOCAL_MAX / 2 {
            let g = pp.gfree.rec();
            pp.gfree.store(g.get().schedlink.load(Relaxed), Relaxed);
            pp.ngfree.store(pp.ngfree.load(Relaxed) - 1, Relaxed);
            g.get().schedlink.store(s.gfree.load(Relaxed), Relaxed);
            s.gfree.store(g.as_ptr(), Relaxed);
            s.ngfree.store(s.ngfree.load(Relaxed) + 1, Relaxed);
        }
        unlock(&s.gfree_lock);
    }
}

fn gfget(pp: &P) -> Option<&'static G> {
    if pp.gfree.load(Relaxed).is_null() {
        let s = sched();
        if s.ngfree.load(Relaxed) > 0 {
            lock(&s.gfree_lock);
            while pp.ngfree.load(Relaxed) < GFREE_LOCAL_MAX / 2 {
                let g = s.gfree.rec();
                if g.is_null() {
                    break;
                }
                s.gfree.store(g.get().schedlink.load(Relaxed), Relaxed);
                s.ngfree.store(s.ngfree.load(Relaxed) - 1, Relaxed);
                g.get().schedlink.store(pp.gfree.load(Relaxed), Relaxed);
                pp.gfree.store(g.as_ptr(), Relaxed);
                pp.ngfree.store(pp.ngfree.load(Relaxed) + 1, Relaxed);
            }
            unlock(&s.gfree_lock);
        }
    }
    let g = pp.gfree.rec();
    if g.is_null() {
        return None;
    }
    pp.gfree.store(g.get().schedlink.load(Relaxed), Relaxed);
    pp.ngfree.store(pp.ngfree.load(Relaxed) - 1, Relaxed);
    g.get().schedlink.store(null_mut(), Relaxed);
    Some(g.get())
}

/// Moves all of a dying P's free Gs to the global list (sched.lock held).
pub(crate) fn gfpurge(pp: &P) {
    let s = sched();
    lock(&s.gfree_lock);
    loop {
        let g = pp.gfree.rec();
        if g.is_null() {
            break;
        }
        pp.gfree.store(g.get().schedlink.load(Relaxed), Relaxed);
        g.get().schedlink.store(s.gfree.load(Relaxed), Relaxed);
        s.gfree.store(g.as_ptr(), Relaxed);
        s.ngfree.store(s.ngfree.load(Relaxed) + 1, Relaxed);
    }
    pp.ngfree.store(0, Relaxed);
    unlock(&s.gfree_lock);
}

// --- run queues ------------------------------------------------------------

/// Puts gp on pp's local run queue (in runnext if `next`), spilling half of
/// the queue to the global one when full. Only pp's owner calls this.
pub fn runqput(pp: &P, gp: &'static G, next: bool) {
    let mut gp = RecPtr::from_ref(gp);
    if next {
        let old = pp.runnext.swap_rec(gp, AcqRel);
        if old.is_null() {
            return;
        }
        gp = old; // kick the old runnext out to the regular queue
    }
    loop {
        let h = pp.runqhead.load(Acquire);
        let t = pp.runqtail.load(Relaxed);
        if t.wrapping_sub(h) < RUNQ_LEN as u32 {
            pp.runq[t as usize % RUNQ_LEN].set_rec(gp);
            pp.runqtail.store(t.wrapping_add(1), Release);
            return;
        }
        if runqputslow(pp, gp, h, t) {
            return;
        }
    }
}

fn runqputslow(pp: &P, gp: RecPtr<G>, h: u32, t: u32) -> bool {
    const N: usize = RUNQ_LEN / 2;
    let mut batch: [RecPtr<G>; N + 1] = [RecPtr::NULL; N + 1];
    let n = t.wrapping_sub(h) / 2;
    if n as usize != N {
        crate::fatal::throw("runqputslow: queue is not full");
    }
    for (i, slot) in batch.iter_mut().enumerate().take(N) {
        *slot = pp.runq[(h.wrapping_add(i as u32)) as usize % RUNQ_LEN].rec();
    }
    if pp.runqhead.compare_exchange(h, h.wrapping_add(n), AcqRel, Relaxed).is_err() {
        return false;
    }
    batch[N] = gp;
    for i in 0..N {
        batch[i].get().schedlink.set_rec(batch[i + 1]);
    }
    let s = sched();
    lock(&s.lock);
    globrunqputbatch(batch[0], batch[N], N as i32 + 1);
    unlock(&s.lock);
    true
}

/// Takes a G from pp's local queue: (gp, inherit the time slice).
pub fn runqget(pp: &P) -> Option<(&'static G, bool)> {
    let next = pp.runnext.rec();
    if !next.is_null() && pp.runnext.compare_exchange(next.as_ptr(), null_mut(), AcqRel, Relaxed).is_ok() {
        return Some((next.get(), true));
    }
    loop {
        let h = pp.runqhead.load(Acquire);
        let t = pp.runqtail.load(Relaxed);
        if t == h {
            return None;
        }
        let gp = pp.runq[h as usize % RUNQ_LEN].rec();
        if pp.runqhead.compare_exchange(h, h.wrapping_add(1), AcqRel, Relaxed).is_ok() {
            return Some((gp.get(), false));
        }
    }
}

pub fn runqempty(pp: &P) -> bool {
    loop {
        let head = pp.runqhead.load(Acquire);
        let tail = pp.runqtail.load(Acquire);
        let next = pp.runnext.load(Acquire);
        if tail == pp.runqtail.load(Acquire) {
            return head == tail && next.is_null();
        }
    }
}

/// Steals half of p2's queue into `batch` (ring positions of pp): Go's runqgrab.
fn runqgrab(p2: &P, batch: &P, batch_head: u32, steal_runnext: bool) -> u32 {
    loop {
        let h = p2.runqhead.load(Acquire);
        let t = p2.runqtail.load(Acquire);
        let mut n = t.wrapping_sub(h);
        n -= n / 2;
        if n == 0 {
            if steal_runnext {
                let next = p2.runnext.load(Acquire);
                if !next.is_null() {
                    if p2.status.load(Relaxed) == P_RUNNING {
                        // Give the owner a moment to schedule its runnext
                        // itself, as Go does (3us).
                        os::usleep(3);
                    }
                    if p2.runnext.compare_exchange(next, null_mut(), AcqRel, Relaxed).is_err() {
                        continue;
                    }
                    batch.runq[batch_head as usize % RUNQ_LEN].store(next, Relaxed);
                    return 1;
                }
            }
            return 0;
        }
        if n > (RUNQ_LEN / 2) as u32 {
            continue; // read inconsistent h and t
        }
        for i in 0..n {
            let g = p2.runq[(h.wrapping_add(i)) as usize % RUNQ_LEN].rec();
            batch.runq[(batch_head.wrapping_add(i)) as usize % RUNQ_LEN].store(g.as_ptr(), Relaxed);
        }
        if p2.runqhead.compare_exchange(h, h.wrapping_add(n), AcqRel, Relaxed).is_ok() {
            return n;
        }
    }
}

/// Steals from p2 into pp; returns one G to run.
fn runqsteal(pp: &P, p2: &P, steal_runnext: bool) -> Option<&'static G> {
    let t = pp.runqtail.load(Relaxed);
    let mut n = runqgrab(p2, pp, t, steal_runnext);
    if n == 0 {
        return None;
    }
    n -= 1;
    let gp = pp.runq[(t.wrapping_add(n)) as usize % RUNQ_LEN].rec();
    if n == 0 {
        return Some(gp.get());
    }
    let h = pp.runqhead.load(Acquire);
    if t.wrapping_sub(h).wrapping_add(n) >= RUNQ_LEN as u32 {
        crate::fatal::throw("runqsteal: runq overflow");
    }
    pp.runqtail.store(t.wrapping_add(n), Release);
    Some(gp.get())
}

pub fn runqlen(pp: &P) -> u32 {
    pp.runqtail.load(Acquire).wrapping_sub(pp.runqhead.load(Acquire))
}

/// Global run queue (sched.lock held).
pub fn globrunqput(gp: &'static G) {
    let s = sched();
    crate::lock::assert_lock_held(&s.lock);
    gp.schedlink.store(null_mut(), Relaxed);
    let gp = RecPtr::from_ref(gp);
    let tail = s.runqtail.rec();
    if tail.is_null() {
        s.runqhead.set_rec(gp);
    } else {
        tail.get().schedlink.set_rec(gp);
    }
    s.runqtail.set_rec(gp);
    s.runqsize.fetch_add(1, Relaxed);
}

/// Puts a linked batch head..tail of n Gs on the global queue (sched.lock held).
pub fn globrunqputbatch(head: RecPtr<G>, tail: RecPtr<G>, n: i32) {
    let s = sched();
    tail.get().schedlink.store(null_mut(), Relaxed);
    let t = s.runqtail.rec();
    if t.is_null() {
        s.runqhead.set_rec(head);
    } else {
        t.get().schedlink.set_rec(head);
    }
    s.runqtail.set_rec(tail);
    s.runqsize.fetch_add(n, Relaxed);
}

fn globrunqget_one() -> Option<&'static G> {
    let s = sched();
    let gp = s.runqhead.rec();
    if gp.is_null() {
        return None;
    }
    let next = gp.get().schedlink.rec();
    s.runqhead.store(next.as_ptr(), Relaxed);
    if next.is_null() {
        s.runqtail.store(null_mut(), Relaxed);
    }
    s.runqsize.fetch_sub(1, Relaxed);
    gp.get().schedlink.store(null_mut(), Relaxed);
    Some(gp.get())
}

/// Takes a batch from the global queue into pp's local queue and returns
/// one G (sched.lock held).
fn globrunqget(pp: &P, max: i32) -> Option<&'static G> {
    let s = sched();
    let size = s.runqsize.load(Relaxed);
    if size == 0 {
        return None;
    }
    let gmp = gomaxprocs().max(1);
    let mut n = (size / gmp + 1).min(size);
    if max > 0 && n > max {
        n = max;
    }
    n = n.min(RUNQ_LEN as i32 / 2);
    let gp = globrunqget_one()?;
    for _ in 1..n {
        match globrunqget_one() {
            Some(g) => runqput(pp, g, false),
            None => break,
        }
    }
    Some(gp)
}

// --- Ps --------------------------------------------------------------------

/// Puts pp on the idle list (sched.lock held).
pub fn pidleput(pp: &P) {
    let s = sched();
    crate::lock::assert_lock_held(&s.lock);
    if !runqempty(pp) {
        crate::fatal::throw("pidleput: P has non-empty run queue");
    }
    pp.link.store(s.pidle.load(Relaxed), Relaxed);
    s.pidle.store(pp as *const P as *mut P, Relaxed);
    s.npidle.fetch_add(1, SeqCst);
}

/// Takes a P off the idle list (sched.lock held).
pub fn pidleget() -> Option<&'static P> {
    let s = sched();
    crate::lock::assert_lock_held(&s.lock);
    let pp = s.pidle.rec();
    if pp.is_null() {
        return None;
    }
    s.pidle.store(pp.get().link.load(Relaxed), Relaxed);
    s.npidle.fetch_sub(1, SeqCst);
    Some(pp.get())
}

/// Associates pp with the current M and sets it running.
pub fn acquirep(pp: &P) {
    let mp = curm();
    wirep(mp, pp);
    probe!(acquirep, pp.id.load(Relaxed), mp.id.load(Relaxed));
}

pub fn wirep(mp: &M, pp: &P) {
    if !mp.p.load(Relaxed).is_null() {
        crate::fatal::throw("wirep: already in go");
    }
    let pm = pp.m.rec();
    let st = pp.status.load(Relaxed);
    if !pm.is_null() || st != P_IDLE {
        crate::eprint_raw!(
            "wirep: p->m={:#x}({}) p->status={}\n",
            pm.as_ptr() as usize,
            if pm.is_null() { -1 } else { pm.get().id.load(Relaxed) },
            st
        );
        crate::fatal::throw("wirep: invalid p state");
    }
    mp.p.store(pp as *const P as *mut P, Relaxed);
    pp.m.store(mp as *const M as *mut M, Relaxed);
    pp.status.store(P_RUNNING, SeqCst);
}

/// Disassociates the current M from its P (which goes to Pidle).
pub fn releasep() -> &'static P {
    let mp = curm();
    let pp = mp.p.rec();
    if pp.is_null() {
        crate::fatal::throw("releasep: invalid arg");
    }
    let pp = pp.get();
    if !ptr::eq(pp.m.load(Relaxed), mp) || pp.status.load(Relaxed) != P_RUNNING {
        crate::eprint_raw!(
            "releasep: m={:#x} m->p={:#x} p->m={:#x} p->status={}\n",
            mp as *const M as usize,
            pp as *const P as usize,
            pp.m.load(Relaxed) as usize,
            pp.status.load(Relaxed)
        );
        crate::fatal::throw("releasep: invalid p state");
    }
    mp.p.store(null_mut(), Relaxed);
    pp.m.store(null_mut(), Relaxed);
    pp.status.store(P_IDLE, SeqCst);
    pp
}

// --- Ms ----------------------------------------------------------------------

/// Puts mp on the idle M list (sched.lock held).
fn mput(mp: &M) {
    let s = sched();
    mp.schedlink.store(s.midle.load(Relaxed), Relaxed);
    s.midle.store(mp as *const M as *mut M, Relaxed);
    s.nmidle.fetch_add(1, Relaxed);
    crate::fatal::checkdead();
}

/// Takes an M off the idle list (sched.lock held).
fn mget() -> Option<&'static M> {
    let s = sched();
    let mp = s.midle.rec();
    if mp.is_null() {
        return None;
    }
    s.midle.store(mp.get().schedlink.load(Relaxed), Relaxed);
    s.nmidle.fetch_sub(1, Relaxed);
    Some(mp.get())
}

/// What a new M does first.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum MStart {
    Schedule,
    Spinning,
    Sysmon,
}

/// Allocates an M record.
pub fn allocm(role: u32) -> &'static M {
    let t = table();
    let Some(mp) = t.alloc::<M>(SectionKind::M) else {
        crate::fatal::throw("thread limit exceeded (the status table holds 10000 Ms)")
    };
    let id = sched().mnext.fetch_add(1, Relaxed);
    if id >= sched().maxmcount.load(Relaxed) as i64 {
        crate::eprint_raw!("runtime: program exceeds {}-thread limit\n", sched().maxmcount.load(Relaxed));
        crate::fatal::throw("thread exhaustion");
    }
    mp.id.store(id, Relaxed);
    mp.role.store(role, Relaxed);
    mp.state.store(mstate::DEAD, Relaxed);
    mp
}

/// Starts a new OS thread for a new M, which will acquire `pp` (if any).
pub fn newm(start: MStart, pp: Option<&'static P>) {
    let role = if start == MStart::Sysmon { mrole::SYSMON } else { mrole::WORKER };
    let mp = allocm(role);
    if let Some(pp) = pp {
        mp.nextp.store(pp as *const P as *mut P, Relaxed);
    }
    if start == MStart::Spinning {
        mp.spinning.store(1, Relaxed);
    }
    let name = if start == MStart::Sysmon { "grt-sysmon".to_string() } else { format!("grt-m{}", mp.id.load(Relaxed)) };
    let mp = RecPtr::from_ref(mp);
    let res = std::thread::Builder::new().name(name).stack_size(crate::G0_STACK_SIZE).spawn(move || {
        mstart(mp.get(), start);
    });
    if let Err(e) = res {
        crate::eprint_raw!("runtime: failed to create new OS thread ({})\n", e);
        crate::fatal::throw("newosproc");
    }
    sched().nthreads.fetch_add(1, Relaxed);
}

/// Entry of every M: records the thread, sets up g0 and runs the scheduler.
pub fn mstart(mp: &'static M, start: MStart) -> ! {
    setm(RecPtr::from_ref(mp));
    setg(RecPtr::NULL);
    mp.procid.store(os::gettid(), Relaxed);
    let (lo, hi) = crate::stack::thread_stack_bounds();
    mp.g0_stack_lo.set(lo);
    mp.g0_stack_hi.set(hi);
    // g0's context: a point below this frame; everything below it is free
    // for the scheduler's frames, which are discarded at every switch.
    let marker = 0u8;
    let sp = (&marker as *const u8 as u64 - 512) & !15;
    mp.g0.sp.set(sp);
    mp.g0.pc.set(0);
    mp.g0.bp.set(0);
    crate::signal::minit();
    match start {
        MStart::Sysmon => crate::sysmon::sysmon(),
        _ => {
            let pp = mp.nextp.swap_rec(RecPtr::NULL, Relaxed);
            if !pp.is_null() {
                acquirep(pp.get());
            }
            mp.state.store(mstate::SCHEDULING, Relaxed);
            schedule()
        }
    }
}

/// Parks the current M until it is handed a P (sched.lock not held).
pub fn stopm() {
    let mp = curm();
    if mp.locks.load(Relaxed) != 0 {
        crate::fatal::throw("stopm holding locks");
    }
    if !mp.p.load(Relaxed).is_null() {
        crate::fatal::throw("stopm holding p");
    }
    if mp.spinning.load(Relaxed) != 0 {
        crate::fatal::throw("stopm spinning");
    }
    let s = sched();
    lock(&s.lock);
    mput(mp);
    unlock(&s.lock);
    mp.state.store(mstate::IDLE, Relaxed);
    mp.blocked.store(1, Relaxed);
    probe!(stopm, mp.id.load(Relaxed));
    notesleep(&mp.park);
    noteclear(&mp.park);
    mp.blocked.store(0, Relaxed);
    mp.state.store(mstate::SCHEDULING, Relaxed);
    let pp = mp.nextp.swap_rec(RecPtr::NULL, Relaxed);
    acquirep(pp.get());
}

/// Schedules some M to run pp (or any idle P if None). If `spinning`, the
/// caller has incremented nmspinning and the new M spins. `lockheld`: the
/// caller holds sched.lock.
pub fn startm(pp: Option<&'static P>, spinning: bool, lockheld: bool) {
    let s = sched();
    if !lockheld {
        lock(&s.lock);
    }
    let pp = match pp {
        Some(pp) => pp,
        None => match pidleget() {
            Some(pp) => pp,
            None => {
                if !lockheld {
                    unlock(&s.lock);
                }
                if spinning {
                    // The caller incremented nmspinning, but there are no idle
                    // Ps, so it's okay to just undo the increment and give up.
                    if s.nmspinning.fetch_sub(1, SeqCst) - 1 < 0 {
                        crate::fatal::throw("startm: negative nmspinning");
                    }
                }
                return;
            }
        },
    };
    let nmp = mget();
    if !lockheld {
        unlock(&s.lock);
    }
    match nmp {
        None => newm(if spinning { MStart::Spinning } else { MStart::Schedule }, Some(pp)),
        Some(nmp) => {
            if !nmp.p.load(Relaxed).is_null() {
                crate::fatal::throw("startm: m has p");
            }
            if spinning && !runqempty(pp) {
                crate::fatal::throw("startm: p has runnable gs");
            }
            nmp.spinning.store(spinning as u32, Relaxed);
            nmp.nextp.store(pp as *const P as *mut P, Relaxed);
            notewakeup(&nmp.park);
        }
    }
}

/// Tries to add one more P to execute Gs: called when a G is made runnable.
#[inline]
pub fn wakep() {
    let s = sched();
    // Be conservative about spinning threads: only start one if none is.
    if s.nmspinning.load(SeqCst) != 0 || s.npidle.load(SeqCst) == 0 {
        return;
    }
    wakep_slow();
}

#[cold]
fn wakep_slow() {
    let s = sched();
    if s.nmspinning.compare_exchange(0, 1, SeqCst, SeqCst).is_err() {
        return;
    }
    startm(None, true, false);
}

/// Hands off pp from an M that is blocked in a syscall or going away (Go's
/// handoffp). pp is in Pidle and owned by the caller.
pub fn handoffp(pp: &'static P) {
    let s = sched();
    probe!(handoffp, pp.id.load(Relaxed));
    // If it has local work, start it straight away.
    if !runqempty(pp) || s.runqsize.load(Relaxed) != 0 {
        startm(Some(pp), false, false);
        return;
    }
    // No local work: check that there are no spinning/idle Ms, otherwise
    // our help is not required.
    if s.nmspinning.load(SeqCst) + s.npidle.load(SeqCst) == 0
        && s.nmspinning.compare_exchange(0, 1, SeqCst, SeqCst).is_ok()
    {
        startm(Some(pp), true, false);
        return;
    }
    lock(&s.lock);
    if s.gcwaiting.load(SeqCst) != 0 {
        pp.status.store(P_GCSTOP, SeqCst);
        pp.gcstoptime.store(nanotime(), Relaxed);
        let w = s.stopwait.fetch_sub(1, SeqCst) - 1;
        if w == 0 {
            notewakeup(&s.stopnote);
        }
        unlock(&s.lock);
        return;
    }
    if pp.run_safe_point_fn.load(SeqCst) != 0 && pp.run_safe_point_fn.compare_exchange(1, 0, SeqCst, SeqCst).is_ok() {
        stw::run_safe_point_fn_for(pp);
    }
    if s.runqsize.load(Relaxed) != 0 {
        unlock(&s.lock);
        startm(Some(pp), false, false);
        return;
    }
    // If this is the last running P and nobody is polling the network, we
    // need to wake another M to poll the network.
    if s.npidle.load(SeqCst) == gomaxprocs() - 1 && s.lastpoll.load(SeqCst) != 0 {
        unlock(&s.lock);
        startm(Some(pp), false, false);
        return;
    }
    let when = s.timer0when.load(Relaxed);
    pidleput(pp);
    unlock(&s.lock);
    if when != 0 {
        time::wake_netpoller(when);
    }
}

// --- the scheduler loop ------------------------------------------------------

/// One round of scheduling: find a runnable G and run it. Never returns.
pub fn schedule() -> ! {
    let mp = curm();
    if mp.locks.load(Relaxed) != 0 {
        crate::fatal::throw("schedule: holding locks");
    }
    setg(RecPtr::NULL);
    crate::fatal::freeze_if_throwing();
    let (gp, inherit) = find_runnable();
    if mp.spinning.load(Relaxed) != 0 {
        resetspinning();
    }
    execute(gp, inherit)
}

fn resetspinning() {
    let mp = curm();
    if mp.spinning.load(Relaxed) == 0 {
        crate::fatal::throw("resetspinning: not a spinning m");
    }
    mp.spinning.store(0, Relaxed);
    let n = sched().nmspinning.fetch_sub(1, SeqCst) - 1;
    if n < 0 {
        crate::fatal::throw("findrunnable: negative nmspinning");
    }
    // M wakeup policy is deliberately somewhat conservative, so check if we
    // need to wakeup another P here.
    wakep();
}

/// Runs gp on the current M: allocates its stack if it never ran, switches
/// to it. Never returns.
pub fn execute(gp: &'static G, inherit_time: bool) -> ! {
    let mp = curm();
    let pp = mp.p.rec().get();
    mp.curg.store(gp as *const G as *mut G, Relaxed);
    gp.m.store(mp as *const M as *mut M, Relaxed);
    if gp.stack_hi.get() == 0 {
        stack::stackalloc(pp, gp);
    }
    casgstatus(gp, G_RUNNABLE, G_RUNNING);
    gp.waitsince.store(0, Relaxed);
    gp.preempt.store(0, Relaxed);
    gp.safepoint_when.store(os::coarse_nanotime(), Relaxed);
    if !inherit_time {
        pp.schedtick.store(pp.schedtick.load(Relaxed).wrapping_add(1), Relaxed);
    }
    mp.state.store(mstate::RUNNING, Relaxed);
    setg(RecPtr::from_ref(gp));
    // SAFETY: gp.sched holds either a fresh context (sp at the top of its
    // newly allocated stack, pc = grt_gostart) or the exact context saved
    // by grt_mcall when gp parked; gp is now Grunning and owned by this M.
    unsafe { grt_gogo(&gp.sched) }
}

/// Finds a runnable goroutine: local queue, global queue, timers, network,
/// stealing; blocks (parks the M, or polls the network) until one exists.
fn find_runnable() -> (&'static G, bool) {
    let mp = curm();
    let s = sched();
    'top: loop {
        let pp = mp.p.rec().get();
        if s.gcwaiting.load(SeqCst) != 0 {
            stw::gcstopm();
            continue 'top;
        }
        if pp.run_safe_point_fn.load(SeqCst) != 0 {
            stw::run_safe_point_fn();
        }
        time::check_timers();

        // Check the global queue once in a while for fairness.
        if pp.schedtick.load(Relaxed) % 61 == 0 && s.runqsize.load(Relaxed) > 0 {
            lock(&s.lock);
            let gp = globrunqget(pp, 1);
            unlock(&s.lock);
            if let Some(gp) = gp {
                return (gp, false);
            }
        }
        if let Some(x) = runqget(pp) {
            return x;
        }
        if s.runqsize.load(Relaxed) != 0 {
            lock(&s.lock);
            let gp = globrunqget(pp, 0);
            unlock(&s.lock);
            if let Some(gp) = gp {
                return (gp, false);
            }
        }

        // Poll the network without blocking if someone is waiting on it.
        if crate::netpoll::inited() && s.netpoll_waiters.load(SeqCst) > 0 && s.lastpoll.load(SeqCst) != 0 {
            let list = crate::netpoll::netpoll(0);
            if let Some(gp) = list.pop() {
                injectglist(list);
                casgstatus(gp, G_WAITING, G_RUNNABLE);
                return (gp, false);
            }
        }

        // Spinning Ms: steal work from other Ps. Limit the number of
        // spinning Ms to half the busy Ps.
        if mp.spinning.load(Relaxed) != 0 || 2 * s.nmspinning.load(SeqCst) < gomaxprocs() - s.npidle.load(SeqCst) {
            if mp.spinning.load(Relaxed) == 0 {
                mp.spinning.store(1, Relaxed);
                s.nmspinning.fetch_add(1, SeqCst);
            }
            mp.state.store(mstate::SPINNING, Relaxed);
            if let Some(gp) = steal_work(pp) {
                return (gp, false);
            }
        }

        // Nothing to do: give up the P. Recheck under the lock.
        lock(&s.lock);
        if s.gcwaiting.load(SeqCst) != 0 || pp.run_safe_point_fn.load(SeqCst) != 0 {
            unlock(&s.lock);
            continue 'top;
        }
        if s.runqsize.load(Relaxed) != 0 {
            let gp = globrunqget(pp, 0);
            unlock(&s.lock);
            if let Some(gp) = gp {
                return (gp, false);
            }
            continue 'top;
        }
        let pp = releasep();
        pidleput(pp);
        unlock(&s.lock);

        // Delicate dance: the M must drop spinning before rechecking all run
        // queues, or a G readied in between would see a spinning M and not
        // wake anyone, while we go to sleep.
        let was_spinning = mp.spinning.load(Relaxed) != 0;
        if was_spinning {
            mp.spinning.store(0, Relaxed);
            if s.nmspinning.fetch_sub(1, SeqCst) - 1 < 0 {
                crate::fatal::throw("findrunnable: negative nmspinning");
            }
            if let Some(pp2) = check_runqs_no_p() {
                lock(&s.lock);
                let got = pidleget();
                unlock(&s.lock);
                if let Some(p3) = got {
                    acquirep(p3);
                    mp.spinning.store(1, Relaxed);
                    s.nmspinning.fetch_add(1, SeqCst);
                    let _ = pp2;
                    continue 'top;
                }
            }
        }

        // Poll the network until the next timer, unless someone already is.
        let poll_until = s.timer0when.load(Relaxed);
        if crate::netpoll::inited()
            && (s.netpoll_waiters.load(SeqCst) > 0 || poll_until != 0)
            && s.lastpoll.swap(0, SeqCst) != 0
        {
            s.poll_until.store(poll_until, Relaxed);
            if !mp.p.load(Relaxed).is_null() {
                crate::fatal::throw("findrunnable: netpoll with p");
            }
            if mp.spinning.load(Relaxed) != 0 {
                crate::fatal::throw("findrunnable: netpoll with spinning");
            }
            let now = nanotime();
            let delay = if poll_until == 0 { -1 } else { (poll_until - now).max(0) };
            mp.state.store(mstate::NETPOLL, Relaxed);
            let list = crate::netpoll::netpoll(delay);
            let now = nanotime();
            s.poll_until.store(0, Relaxed);
            s.lastpoll.store(now, SeqCst);
            mp.state.store(mstate::SCHEDULING, Relaxed);
            lock(&s.lock);
            let got = if s.gcwaiting.load(SeqCst) == 0 { pidleget() } else { None };
            unlock(&s.lock);
            match got {
                None => {
                    injectglist(list);
                }
                Some(p2) => {
                    acquirep(p2);
                    if let Some(gp) = list.pop() {
                        injectglist(list);
                        casgstatus(gp, G_WAITING, G_RUNNABLE);
                        return (gp, false);
                    }
                    if was_spinning {
                        mp.spinning.store(1, Relaxed);
                        s.nmspinning.fetch_add(1, SeqCst);
                    }
                    continue 'top;
                }
            }
        } else if poll_until != 0 && crate::netpoll::inited() {
            let pu = s.poll_until.load(Relaxed);
            if pu == 0 || pu > poll_until {
                crate::netpoll::netpoll_break();
            }
        }
        stopm();
    }
}

/// Whether any P has work (used after dropping spinning, without a P).
fn check_runqs_no_p() -> Option<&'static P> {
    for i in 0..gomaxprocs() as usize {
        let p2 = allp(i);
        if !runqempty(p2) {
            return Some(p2);
        }
    }
    None
}

/// Tries to steal a G from another P (4 rounds over the Ps in a random
/// order; the last round also steals runnext). Timers are not stolen: they
/// live in one heap for the process, run by `check_timers`.
fn steal_work(pp: &P) -> Option<&'static G> {
    const STEAL_TRIES: usize = 4;
    let n = gomaxprocs() as usize;
    let s = sched();
    for i in 0..STEAL_TRIES {
        let steal_runnext = i == STEAL_TRIES - 1;
        let start = fastrand() as usize % n.max(1);
        for k in 0..n {
            if s.gcwaiting.load(SeqCst) != 0 {
                return None;
            }
            let p2 = allp((start + k) % n);
            if core::ptr::eq(p2, pp) {
                continue;
            }
            if p2.status.load(Relaxed) != P_IDLE || steal_runnext {
                if let Some(gp) = runqsteal(pp, p2, steal_runnext) {
                    return Some(gp);
                }
            }
        }
    }
    None
}

/// A per-thread xorshift random number.
pub fn fastrand() -> u32 {
    thread_local! { static STATE: Cell<u64> = const { Cell::new(0) }; }
    STATE.with(|c| {
        let mut x = c.get();
        if x == 0 {
            x = (os::nanotime() as u64) ^ (os::gettid() << 32) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.set(x);
        (x >> 32) as u32
    })
}

// --- G lists (netpoll results) ---------------------------------------------

/// An intrusive list of Gs linked through schedlink (Go's gList).
pub struct GList {
    head: Cell<RecPtr<G>>,
    n: Cell<u32>,
}

impl GList {
    pub fn new() -> GList {
        GList { head: Cell::new(RecPtr::NULL), n: Cell::new(0) }
    }
    pub fn push(&self, gp: &'static G) {
        gp.schedlink.set_rec(self.head.get());
        self.head.set(RecPtr::from_ref(gp));
        self.n.set(self.n.get() + 1);
    }
    pub fn pop(&self) -> Option<&'static G> {
        let h = self.head.get().opt()?;
        self.head.set(h.schedlink.rec());
        h.schedlink.store(null_mut(), Relaxed);
        self.n.set(self.n.get() - 1);
        Some(h)
    }
    pub fn is_empty(&self) -> bool {
        self.head.get().is_null()
    }
    pub fn len(&self) -> u32 {
        self.n.get()
    }
}

impl Default for GList {
    fn default() -> Self {
        Self::new()
    }
}

/// Makes every G on the list runnable and puts them on run queues, starting
/// idle Ps for them (Go's injectglist).
pub fn injectglist(list: GList) {
    if list.is_empty() {
        return;
    }
    let s = sched();
    // Mark all the goroutines as runnable before we put them on the queues.
    let mut v: Vec<&'static G> = Vec::with_capacity(list.len() as usize);
    while let Some(gp) = list.pop() {
        casgstatus(gp, G_WAITING, G_RUNNABLE);
        gp.waitsince.store(0, Relaxed);
        v.push(gp);
    }
    let start_idle = |n: usize| {
        for _ in 0..n {
            lock(&s.lock);
            let Some(pp) = pidleget() else {
                unlock(&s.lock);
                break;
            };
            startm(Some(pp), false, true);
            unlock(&s.lock);
        }
    };
    let mp = getm();
    let pp = mp.opt().map_or(RecPtr::NULL, |mp| mp.p.rec());
    if pp.is_null() {
        lock(&s.lock);
        for gp in &v {
            globrunqput(gp);
        }
        unlock(&s.lock);
        start_idle(v.len());
        return;
    }
    let npidle = (s.npidle.load(SeqCst).max(0) as usize).min(v.len());
    if npidle > 0 {
        lock(&s.lock);
        for gp in &v[..npidle] {
            globrunqput(gp);
        }
        unlock(&s.lock);
        start_idle(npidle);
    }
    for gp in &v[npidle..] {
        runqput(pp.get(), gp, false);
    }
    wakep();
}

/// Makes the calling thread M0 and runs the scheduler on it.
pub fn mstart0(m0: &'static M) -> ! {
    mstart(m0, MStart::Schedule)
}

/// Makes the calling thread's M `m0` before the scheduler starts.
pub fn setm_for_start(m0: &'static M) {
    setm(RecPtr::from_ref(m0));
    setg(RecPtr::NULL);
}

/// mget for callers that hold sched.lock (procresize).
pub(crate) fn mget_locked() -> *mut M {
    mget().map_or(null_mut(), |m| m as *const M as *mut M)
}

#[cfg(test)]
mod tests {
    //! Run queues, free G lists and the Gscan bit on records of a table
    //! with no scheduler running: bugs here would show from outside only
    //! as a lost or twice-run goroutine, long after the fact.

    use super::*;
    use crate::status::testing::setup;

    fn gs(n: usize) -> Vec<&'static G> {
        (0..n).map(|_| malg()).collect()
    }

    fn same(a: &G, b: &G) -> bool {
        ptr::eq(a, b)
    }

    /// Drains the global run queue (sched.lock held inside).
    fn drain_global() -> Vec<&'static G> {
        let s = sched();
        lock(&s.lock);
        let mut v = Vec::new();
        while let Some(g) = globrunqget_one() {
            v.push(g);
        }
        unlock(&s.lock);
        v
    }

    #[test]
    fn runq_is_fifo_after_runnext() {
        let _t = setup();
        let pp = table().p(200);
        let g = gs(5);
        for gp in &g[..4] {
            runqput(pp, gp, false);
        }
        runqput(pp, g[4], true);
        assert_eq!(runqlen(pp), 4, "runnext is not in the ring");
        let (first, inherit) = runqget(pp).unwrap();
        assert!(same(first, g[4]) && inherit, "runnext runs first and inherits the time slice");
        for gp in &g[..4] {
            let (x, inherit) = runqget(pp).unwrap();
            assert!(same(x, gp) && !inherit);
        }
        assert!(runqget(pp).is_none());
        assert!(runqempty(pp));
    }

    #[test]
    fn a_new_runnext_kicks_the_old_one_to_the_tail() {
        let _t = setup();
        let pp = table().p(201);
        let g = gs(3);
        runqput(pp, g[0], false);
        runqput(pp, g[1], true);
        runqput(pp, g[2], true);
        let order: Vec<_> = core::iter::from_fn(|| runqget(pp).map(|x| x.0)).collect();
        assert_eq!(order.len(), 3);
        assert!(same(order[0], g[2]) && same(order[1], g[0]) && same(order[2], g[1]));
    }

    #[test]
    fn a_full_runq_spills_half_and_the_new_g_to_the_global_queue() {
        let _t = setup();
        drain_global();
        let pp = table().p(202);
        let g = gs(RUNQ_LEN + 1);
        for gp in &g[..RUNQ_LEN] {
            runqput(pp, gp, false);
        }
        assert_eq!(runqlen(pp), RUNQ_LEN as u32);
        runqput(pp, g[RUNQ_LEN], false);
        assert_eq!(runqlen(pp), RUNQ_LEN as u32 / 2);
        assert_eq!(sched().runqsize.load(Relaxed), RUNQ_LEN as i32 / 2 + 1);
        // The oldest half went first, in order, then the new G.
        let global = drain_global();
        assert_eq!(global.len(), RUNQ_LEN / 2 + 1);
        for (i, gp) in global.iter().enumerate() {
            let want = if i < RUNQ_LEN / 2 { g[i] } else { g[RUNQ_LEN] };
            assert!(same(gp, want), "global queue position {i}");
        }
        assert!(sched().runqhead.load(Relaxed).is_null() && sched().runqtail.load(Relaxed).is_null());
        for gp in &g[RUNQ_LEN / 2..RUNQ_LEN] {
            assert!(same(runqget(pp).unwrap().0, gp));
        }
        assert!(runqempty(pp));
    }

    #[test]
    fn globrunqget_moves_a_share_to_the_local_queue() {
        let _t = setup();
        drain_global();
        let pp = table().p(203);
        let g = gs(8);
        let s = sched();
        lock(&s.lock);
        for gp in &g {
            globrunqput(gp);
        }
        // GOMAXPROCS is 0 here (no scheduler), counted as 1: n = 8/1 + 1,
        // capped at max.
        let first = globrunqget(pp, 3).unwrap();
        unlock(&s.lock);
        assert!(same(first, g[0]));
        assert_eq!(runqlen(pp), 2);
        assert!(same(runqget(pp).unwrap().0, g[1]) && same(runqget(pp).unwrap().0, g[2]));
        assert_eq!(s.runqsize.load(Relaxed), 5);
        assert_eq!(drain_global().len(), 5);
    }

    #[test]
    fn steal_takes_the_older_half_and_runs_the_newest_of_it() {
        let _t = setup();
        let (victim, thief) = (table().p(204), table().p(205));
        let g = gs(11);
        for gp in &g[..10] {
            runqput(victim, gp, false);
        }
        runqput(victim, g[10], true);
        let got = runqsteal(thief, victim, false).unwrap();
        assert!(same(got, g[4]), "the last of the stolen half is run at once");
        assert_eq!(runqlen(victim), 5);
        assert_eq!(runqlen(thief), 4);
        for gp in &g[..4] {
            assert!(same(runqget(thief).unwrap().0, gp));
        }
        // runnext is stolen only when asked for, and only from an empty ring.
        while runqget(victim).is_some() {}
        runqput(victim, g[10], true);
        assert!(runqsteal(thief, victim, false).is_none());
        assert!(same(runqsteal(thief, victim, true).unwrap(), g[10]));
        assert!(runqempty(victim) && runqempty(thief));
    }

    #[test]
    fn free_gs_spill_to_the_global_list_and_come_back() {
        let _t = setup();
        let s = sched();
        let pp = table().p(206);
        let global0 = s.ngfree.load(Relaxed);
        let g = gs(GFREE_LOCAL_MAX as usize);
        for gp in &g {
            gfput(pp, gp);
        }
        // The 64th put moved the newest half (the top of the list) to the
        // global list.
        assert_eq!(pp.ngfree.load(Relaxed), GFREE_LOCAL_MAX / 2);
        assert_eq!(s.ngfree.load(Relaxed), global0 + GFREE_LOCAL_MAX / 2);
        // The local list is LIFO: the newest G still on it is reused first.
        for gp in g[..GFREE_LOCAL_MAX as usize / 2].iter().rev() {
            let x = gfget(pp).unwrap();
            assert!(same(x, gp) && x.schedlink.load(Relaxed).is_null());
        }
        assert_eq!(pp.ngfree.load(Relaxed), 0);
        // An empty local list refills from the global one.
        assert!(gfget(pp).is_some());
        assert_eq!(pp.ngfree.load(Relaxed), GFREE_LOCAL_MAX / 2 - 1);
        gfpurge(pp);
        assert_eq!(pp.ngfree.load(Relaxed), 0);
        assert!(pp.gfree.load(Relaxed).is_null());
        assert_eq!(s.ngfree.load(Relaxed), global0 + GFREE_LOCAL_MAX / 2 - 1);
    }

    #[test]
    fn gscan_bit_is_set_and_cleared_around_a_status() {
        let _t = setup();
        let gp = gs(1)[0];
        casgstatus(gp, G_DEAD, G_WAITING);
        assert!(castogscanstatus(gp, G_WAITING, G_WAITING | G_SCAN));
        assert_eq!(readgstatus(gp), G_WAITING | G_SCAN);
        assert!(!castogscanstatus(gp, G_WAITING, G_WAITING | G_SCAN), "the bit is already held");
        casfrom_gscanstatus(gp, G_WAITING | G_SCAN, G_WAITING);
        assert_eq!(readgstatus(gp), G_WAITING);
        assert!(gp.scanm.load(Relaxed).is_null());
    }
}
