//! Stop-the-world, start-the-world, procresize, forEachP and GOMAXPROCS
//! (Go's proc.go parts of them); the collector that uses them is `mgc.rs`.
//!
//! # Stopping the world
//!
//! `stop_the_world` sets `sched.gcwaiting` and `sched.stopwait =
//! gomaxprocs`, stops its own P, takes every P in Psyscall (CAS to Pgcstop)
//! and every idle P, and then sleeps on `sched.stopnote` until the running
//! Ps notice gcwaiting at their next scheduling point (`gcstopm`) and the
//! count reaches zero. An M entering a system call while gcwaiting is set
//! gives its P up in `entersyscall_gcwait`; an M whose P sysmon retakes
//! gives it up in `handoffp`.
//!
//! # forEachP
//!
//! `for_each_p(f)` makes every P run `f` at a safe point, while the world
//! keeps running: idle Ps are handled at once (under sched.lock), Ps in a
//! system call are taken and handed off (handoffp runs `f` for them), and
//! running Ps run it at their next scheduling point. It counts down
//! `sched.safe_point_wait` and sleeps on `sched.safe_point_note`: counters
//! of its own. With the `foreachp-stopwait` bug switch it uses stopTheWorld's
//! `stopwait`/`stopnote` instead, as Go did before commit f0dd002 (seed
//! 002): an M that saw gcwaiting and is late in entersyscall_gcwait then
//! mistakes forEachP's count for a stop-the-world, takes a P forEachP
//! depends on, and decrements the count once too often.
//!
//! Both must run under worldsema (one at a time); `mgc::gc` holds it across
//! its whole cycle.
//!
//! Lock order: sched.lock is taken alone here, except the safe-point
//! function, which may take leaf locks (sudog central cache).

use crate::lock::{lock, noteclear, notetsleep, notewakeup, unlock};
use crate::os::nanotime;
use crate::proc::{self, acquirep, allp, curm, gomaxprocs, pidleget, pidleput, releasep, stopm};
use crate::recptr::{Link, RecPtr};
use crate::sema::Sema;
use crate::status::{sched, table};
use crate::{bugs, probe};
use core::ptr::null_mut;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};
use core::sync::atomic::{AtomicI32, AtomicU32};
use grt_table::{Sched, P, P_DEAD, P_GCSTOP, P_IDLE, P_RUNNING, P_SYSCALL};

/// Serializes stop-the-world and forEachP (Go's worldsema).
static WORLDSEMA: Sema = Sema::new(1);

/// Requested new GOMAXPROCS, applied by the next start_the_world.
static NEWPROCS: AtomicI32 = AtomicI32::new(0);

/// Reasons (indices into STW_REASONS).
pub const STW_GC_SWEEP_TERM: u32 = 1;
pub const STW_GC_MARK_TERM: u32 = 2;
pub const STW_GOMAXPROCS: u32 = 3;

pub(crate) fn acquire_worldsema() {
    WORLDSEMA.acquire(grt_table::waitreason::STOPPING_THE_WORLD);
    let s = sched();
    s.worldsema.store(1, Relaxed);
    s.worldsema_owner.set_rec(proc::getg());
}

pub(crate) fn release_worldsema() {
    let s = sched();
    s.worldsema.store(0, Relaxed);
    s.worldsema_owner.store(null_mut(), Relaxed);
    WORLDSEMA.release();
}

/// Stops all Ps but the caller's. Caller holds worldsema and runs on a
/// goroutine with a P.
pub fn stop_the_world_with_sema(reason: u32) {
    let mp = curm();
    let s = sched();
    probe!(stw_begin, reason);
    lock(&s.lock);
    s.stw_reason.store(reason, Relaxed);
    s.stopwait.store(gomaxprocs(), SeqCst);
    let seq = s.stw_seq.fetch_add(1, SeqCst) + 1;
    s.gcwaiting.store(1, SeqCst);
    let nsyscall = (0..gomaxprocs() as usize).filter(|&i| allp(i).status.load(SeqCst) == P_SYSCALL).count();
    probe!(stw_gcwaiting, reason, mp.id.load(Relaxed), nsyscall, seq);
    preemptall();
    // Stop the current P.
    let pp = mp.p.rec().get();
    pp.status.store(P_GCSTOP, SeqCst);
    pp.gcstoptime.store(nanotime(), Relaxed);
    s.stopwait.fetch_sub(1, SeqCst);
    // Try to retake all Ps in Psyscall.
    for i in 0..gomaxprocs() as usize {
        let p2 = allp(i);
        if p2.status.load(SeqCst) == P_SYSCALL
            && p2.status.compare_exchange(P_SYSCALL, P_GCSTOP, SeqCst, SeqCst).is_ok()
        {
            p2.syscalltick.fetch_add(1, Relaxed);
            p2.gcstoptime.store(nanotime(), Relaxed);
            s.stopwait.fetch_sub(1, SeqCst);
            probe!(stw_take_syscall_p, p2.id.load(Relaxed));
        }
    }
    // Stop idle Ps.
    while let Some(p2) = pidleget() {
        p2.status.store(P_GCSTOP, SeqCst);
        p2.gcstoptime.store(nanotime(), Relaxed);
        s.stopwait.fetch_sub(1, SeqCst);
    }
    let wait = s.stopwait.load(SeqCst) > 0;
    unlock(&s.lock);
    // Wait for the remaining Ps to stop voluntarily.
    if wait {
        loop {
            if notetsleep(&s.stopnote, 100 * 1000) {
                noteclear(&s.stopnote);
                break;
            }
            preemptall();
        }
    }
    // Sanity checks.
    let mut bad: Option<&str> = None;
    if s.stopwait.load(SeqCst) != 0 {
        bad = Some("stopTheWorld: not stopped (stopwait != 0)");
    } else {
        for i in 0..gomaxprocs() as usize {
            if allp(i).status.load(SeqCst) != P_GCSTOP {
                bad = Some("stopTheWorld: not stopped (status != _Pgcstop)");
            }
        }
    }
    if let Some(msg) = bad {
        crate::fatal::throw(msg);
    }
    probe!(stw_done, reason);
}

/// Restarts the world: procresize (applying a pending GOMAXPROCS change)
/// and wakes Ms for the Ps that have work. Caller holds worldsema.
pub fn start_the_world_with_sema() {
    let s = sched();
    lock(&s.lock);
    let mut procs = gomaxprocs();
    let np = NEWPROCS.swap(0, Relaxed);
    if np != 0 {
        procs = np;
    }
    let mut p1 = procresize(procs);
    s.gcwaiting.store(0, SeqCst);
    let seq = s.stw_seq.fetch_add(1, SeqCst) + 1;
    s.stw_reason.store(0, Relaxed);
    unlock(&s.lock);
    while !p1.is_null() {
        let pp = p1.get();
        p1 = pp.link.rec();
        let mp = pp.m.rec();
        if !mp.is_null() {
            pp.m.store(null_mut(), Relaxed);
            let mp = mp.get();
            if !mp.nextp.load(Relaxed).is_null() {
                crate::fatal::throw("startTheWorld: inconsistent mp->nextp");
            }
            mp.nextp.store(p1_ptr(pp), Relaxed);
            notewakeup(&mp.park);
        } else {
            proc::newm(proc::MStart::Schedule, Some(pp));
        }
    }
    proc::wakep();
    probe!(starttheworld, procs, seq);
}

fn p1_ptr(pp: &P) -> *mut P {
    pp as *const P as *mut P
}

/// Changes the number of Ps to `nprocs`. sched.lock is held and the world
/// is stopped (or not started). Returns the Ps with local work, linked
/// through `link`, each with an M from the idle list in `m` if one was free.
pub fn procresize(nprocs: i32) -> RecPtr<P> {
    let s = sched();
    let old = gomaxprocs();
    let t = table();
    if nprocs <= 0 || nprocs as u64 > crate::status::MAX_GOMAXPROCS {
        crate::fatal::throw("procresize: invalid arg");
    }
    // Initialize new Ps.
    for i in old.max(0)..nprocs {
        let pp = allp(i as usize);
        if t.len(grt_table::header::SectionKind::P) <= i as u64 {
            let _ = t.alloc::<P>(grt_table::header::SectionKind::P);
        }
        pp.id.store(i, Relaxed);
        pp.status.store(P_GCSTOP, SeqCst);
    }
    let mp = curm();
    let cur = mp.p.rec();
    if !cur.is_null() && cur.get().id.load(Relaxed) < nprocs {
        // Continue to use the current P.
        cur.get().status.store(P_RUNNING, SeqCst);
    } else {
        // Release the current P and acquire allp[0].
        if !cur.is_null() {
            cur.get().m.store(null_mut(), Relaxed);
        }
        mp.p.store(null_mut(), Relaxed);
        let pp = allp(0);
        pp.m.store(null_mut(), Relaxed);
        pp.status.store(P_IDLE, SeqCst);
        acquirep(pp);
    }
    // Release resources of Ps that are going away.
    for i in nprocs..old {
        destroy_p(allp(i as usize));
    }
    s.gomaxprocs.store(nprocs, SeqCst);
    let mut runnable = RecPtr::NULL;
    for i in (0..nprocs).rev() {
        let pp = allp(i as usize);
        if core::ptr::eq(mp.p.load(Relaxed), pp) {
            continue;
        }
        pp.status.store(P_IDLE, SeqCst);
        if proc::runqempty(pp) {
            pidleput(pp);
        } else {
            let m = proc::mget_locked();
            pp.m.store(m, Relaxed);
            pp.link.set_rec(runnable);
            runnable = RecPtr::from_ref(pp);
        }
    }
    probe!(procresize, old, nprocs);
    runnable
}

/// Moves a dying P's goroutines, free Gs and caches elsewhere.
fn destroy_p(pp: &P) {
    // Move all runnable goroutines to the global queue.
    while let Some((gp, _)) = proc::runqget(pp) {
        proc::globrunqput(gp);
    }
    proc::gfpurge(pp);
    crate::stack::purge_stack_cache(pp);
    crate::chan::purge_sudog_cache(pp);
    pp.status.store(P_DEAD, SeqCst);
}

/// Asks every running goroutine to yield at its next runtime call.
fn preemptall() {
    for i in 0..gomaxprocs() as usize {
        let pp = allp(i);
        if pp.status.load(SeqCst) != P_RUNNING {
            continue;
        }
        let mp = pp.m.rec();
        if mp.is_null() {
            continue;
        }
        let gp = mp.get().curg.rec();
        if !gp.is_null() {
            gp.get().preempt.store(1, Relaxed);
        }
    }
}

/// An M noticed gcwaiting in the scheduler: stop its P and park.
pub fn gcstopm() {
    let mp = curm();
    let s = sched();
    if s.gcwaiting.load(SeqCst) == 0 {
        crate::fatal::throw("gcstopm: not waiting for gc");
    }
    if mp.spinning.load(Relaxed) != 0 {
        mp.spinning.store(0, Relaxed);
        if s.nmspinning.fetch_sub(1, SeqCst) - 1 < 0 {
            crate::fatal::throw("gcstopm: negative nmspinning");
        }
    }
    let pp = releasep();
    lock(&s.lock);
    pp.status.store(P_GCSTOP, SeqCst);
    pp.gcstoptime.store(nanotime(), Relaxed);
    if s.stopwait.fetch_sub(1, SeqCst) - 1 == 0 {
        notewakeup(&s.stopnote);
    }
    unlock(&s.lock);
    stopm();
}

/// The counter and note forEachP waits with: its own, or (bug switch)
/// stopTheWorld's.
fn safe_point_counters(s: &'static Sched) -> (&'static AtomicI32, &'static AtomicU32) {
    if bugs::enabled(grt_table::bugs::FOREACHP_STOPWAIT) {
        (&s.stopwait, &s.stopnote)
    } else {
        (&s.safe_point_wait, &s.safe_point_note)
    }
}

/// Runs `f` for every P at a safe point (Go's forEachP). Caller holds
/// worldsema and runs on a goroutine with a P.
pub fn for_each_p(f: fn(&P)) {
    let mp = curm();
    let pp = mp.p.rec().get();
    let s = sched();
    let (wait, note) = safe_point_counters(s);
    let buggy = bugs::enabled(grt_table::bugs::FOREACHP_STOPWAIT);
    probe!(foreachp_begin, pp.id.load(Relaxed));
    lock(&s.lock);
    if wait.load(SeqCst) != 0 {
        crate::fatal::throw(if buggy { "forEachP: sched.stopwait != 0" } else { "forEachP: sched.safePointWait != 0" });
    }
    wait.store(gomaxprocs() - 1, SeqCst);
    s.safe_point_fn.set(f as *const () as u64);
    // Ask all Ps to run the safe point function.
    for i in 0..gomaxprocs() as usize {
        let p2 = allp(i);
        if !core::ptr::eq(p2, pp) {
            p2.run_safe_point_fn.store(1, SeqCst);
        }
    }
    preemptall();
    // Any P entering Pidle or Psyscall from now on will see
    // run_safe_point_fn == 1 and run it when changing its status.
    // Run the function for all idle Ps: sched.pidle cannot change, we hold sched.lock.
    let mut p2 = s.pidle.rec();
    while !p2.is_null() {
        let pr = p2.get();
        if pr.run_safe_point_fn.compare_exchange(1, 0, SeqCst, SeqCst).is_ok() {
            f(pr);
            pr.safe_point_runs.fetch_add(1, Relaxed);
            wait.fetch_sub(1, SeqCst);
        }
        p2 = pr.link.rec();
    }
    let must_wait = wait.load(SeqCst) > 0;
    unlock(&s.lock);
    probe!(foreachp_unlocked, pp.id.load(Relaxed), wait.load(SeqCst));
    // Run the function for the current P.
    f(pp);
    pp.safe_point_runs.fetch_add(1, Relaxed);
    // Force Ps in Psyscall into Pidle and hand them off so that the
    // function runs for them.
    for i in 0..gomaxprocs() as usize {
        let p2 = allp(i);
        if p2.status.load(SeqCst) == P_SYSCALL
            && p2.run_safe_point_fn.load(SeqCst) == 1
            && p2.status.compare_exchange(P_SYSCALL, P_IDLE, SeqCst, SeqCst).is_ok()
        {
            p2.syscalltick.fetch_add(1, Relaxed);
            proc::handoffp(p2);
        }
    }
    // Wait for the remaining Ps to run it.
    if must_wait {
        loop {
            if notetsleep(note, 100 * 1000) {
                noteclear(note);
                break;
            }
            preemptall();
        }
    }
    if wait.load(SeqCst) != 0 {
        crate::fatal::throw(if buggy { "forEachP: not stopped" } else { "forEachP: not done" });
    }
    for i in 0..gomaxprocs() as usize {
        if allp(i).run_safe_point_fn.load(SeqCst) != 0 {
            crate::fatal::throw("forEachP: P did not run fn");
        }
    }
    lock(&s.lock);
    s.safe_point_fn.set(0);
    unlock(&s.lock);
    probe!(foreachp_done, pp.id.load(Relaxed));
}

/// Runs the pending safe-point function for the current M's P, if any.
pub fn run_safe_point_fn() {
    let mp = curm();
    let pp = mp.p.rec();
    if pp.is_null() {
        return;
    }
    let pp = pp.get();
    if pp.run_safe_point_fn.compare_exchange(1, 0, SeqCst, SeqCst).is_err() {
        return;
    }
    let s = sched();
    call_safe_point_fn(pp);
    let (wait, note) = safe_point_counters(s);
    lock(&s.lock);
    if wait.fetch_sub(1, SeqCst) - 1 == 0 {
        notewakeup(note);
    }
    unlock(&s.lock);
}

/// handoffp's part: pp's flag was just cleared by the caller, who holds sched.lock.
pub fn run_safe_point_fn_for(pp: &P) {
    let s = sched();
    call_safe_point_fn(pp);
    let (wait, note) = safe_point_counters(s);
    if wait.fetch_sub(1, SeqCst) - 1 == 0 {
        notewakeup(note);
    }
}

fn call_safe_point_fn(pp: &P) {
    let f = sched().safe_point_fn.get();
    if f == 0 {
        crate::fatal::throw("runSafePointFn: no function");
    }
    // SAFETY: safe_point_fn is only ever set from a `fn(&P)` in for_each_p
    // and cleared after every P has run it.
    let f: fn(&P) = unsafe { core::mem::transmute::<usize, fn(&P)>(f as usize) };
    probe!(runsafepointfn, pp.id.load(Relaxed));
    f(pp);
    pp.safe_point_runs.fetch_add(1, Relaxed);
}

/// Sets GOMAXPROCS and returns the previous setting; `n < 1` only queries.
/// Changing it stops the world.
pub fn set_gomaxprocs(n: i32) -> i32 {
    let prev = gomaxprocs();
    if n <= 0 || n == prev {
        return prev;
    }
    let n = n.min(crate::status::MAX_GOMAXPROCS as i32);
    acquire_worldsema();
    stop_the_world_with_sema(STW_GOMAXPROCS);
    NEWPROCS.store(n, Relaxed);
    start_the_world_with_sema();
    release_worldsema();
    prev
}
