//! System calls: entersyscall/exitsyscall with P hand-off, as in Go.
//!
//! A goroutine about to block in the kernel calls `entersyscall`: its G
//! goes to Gsyscall and its P to Psyscall, still remembered as the M's
//! `oldp`. The P is not running anything, so anyone may take it: sysmon
//! retakes it (handoffp) if the call lasts, stopTheWorld and forEachP take
//! it, and the M itself takes it back on return if it is still in Psyscall
//! (the fast path). Otherwise the M looks for an idle P, and failing that
//! queues the G globally and parks (the slow path, `exitsyscall0`).
//!
//! A P in Psyscall may be "ours" again after someone else used it (an ABA
//! on its status, seed 002's sequence): that is safe, because a P in
//! Psyscall runs nothing; whoever CASes it out of Psyscall owns it.

use crate::lock::{lock, notewakeup, unlock};
use crate::os::nanotime;
use crate::proc::{self, acquirep, casgstatus, curg, curm, execute, getm, mcall, pidleget, stopm, wirep};
use crate::recptr::{Link, RecPtr};
use crate::status::sched;
use crate::{probe, stw};
use core::ptr::null_mut;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};
use grt_table::{mstate, G, G_RUNNABLE, G_RUNNING, G_SYSCALL, P_GCSTOP, P_IDLE, P_SYSCALL};

/// Runs `f`, a call that may block in the kernel, with the P handed off
/// while it runs: other goroutines keep running on the P meanwhile. Use it
/// around every blocking system call a goroutine makes.
pub fn syscall<R>(f: impl FnOnce() -> R) -> R {
    if !crate::proc::in_goroutine() {
        return f(); // not a goroutine: no P to hand off
    }
    entersyscall();
    let r = f();
    exitsyscall();
    r
}

/// Like [`syscall`] for a call known to block for long: the P is handed
/// off at once instead of after sysmon notices (Go's entersyscallblock).
pub fn syscall_blocking<R>(f: impl FnOnce() -> R) -> R {
    if !crate::proc::in_goroutine() {
        return f(); // not a goroutine: no P to hand off
    }
    entersyscallblock();
    let r = f();
    exitsyscall();
    r
}

/// Records where the goroutine entered the system call, for tracebacks of
/// a goroutine that is in Gsyscall.
#[inline(always)]
fn save_syscall_context(gp: &G) {
    let (sp, pc, bp): (u64, u64, u64);
    // SAFETY: reads rsp, rip and rbp; no memory access, no side effects.
    unsafe {
        core::arch::asm!(
            "lea {pc}, [rip]",
            "mov {sp}, rsp",
            "mov {bp}, rbp",
            pc = out(reg) pc,
            sp = out(reg) sp,
            bp = out(reg) bp,
            options(nomem, nostack, preserves_flags)
        )
    };
    gp.syscallsp.set(sp);
    gp.syscallpc.set(pc);
    gp.syscallbp.set(bp);
}

/// The goroutine is about to enter a system call (Go's reentersyscall).
#[inline(never)]
pub fn entersyscall() {
    let gp = curg();
    let mp = curm();
    save_syscall_context(gp);
    casgstatus(gp, G_RUNNING, G_SYSCALL);
    let pp = mp.p.rec().get();
    if pp.run_safe_point_fn.load(SeqCst) != 0 {
        stw::run_safe_point_fn();
    }
    pp.m.store(null_mut(), Relaxed);
    mp.oldp.store(pp as *const _ as *mut _, Relaxed);
    mp.p.store(null_mut(), Relaxed);
    pp.status.store(P_SYSCALL, SeqCst);
    mp.state.store(mstate::SYSCALL, Relaxed);
    if sched().gcwaiting.load(SeqCst) != 0 {
        entersyscall_gcwait();
    }
    probe!(entersyscall, gp.goid.load(Relaxed), pp.id.load(Relaxed), mp.id.load(Relaxed), sched().stw_seq.load(SeqCst));
}

/// The world is being stopped: give our P to stopTheWorld right away.
#[inline(never)]
fn entersyscall_gcwait() {
    let mp = curm();
    let pp = mp.oldp.rec().get();
    let s = sched();
    // Which stop-the-world this thread saw (the one that set gcwaiting).
    probe!(entersyscall_gcwait, mp.id.load(Relaxed), pp.id.load(Relaxed), s.stw_seq.load(SeqCst));
    lock(&s.lock);
    let mut took = 0u64;
    if s.stopwait.load(SeqCst) > 0 && pp.status.compare_exchange(P_SYSCALL, P_GCSTOP, SeqCst, SeqCst).is_ok() {
        pp.syscalltick.fetch_add(1, Relaxed);
        pp.gcstoptime.store(nanotime(), Relaxed);
        took = 1;
        if s.stopwait.fetch_sub(1, SeqCst) - 1 == 0 {
            notewakeup(&s.stopnote);
        }
    }
    unlock(&s.lock);
    probe!(entersyscall_gcwait_done, mp.id.load(Relaxed), pp.id.load(Relaxed), took);
}

/// Enters a system call that will block: hands the P off immediately.
#[inline(never)]
pub fn entersyscallblock() {
    let gp = curg();
    let mp = curm();
    save_syscall_context(gp);
    casgstatus(gp, G_RUNNING, G_SYSCALL);
    mp.state.store(mstate::SYSCALL, Relaxed);
    let pp = proc::releasep();
    pp.syscalltick.fetch_add(1, Relaxed);
    probe!(entersyscall, gp.goid.load(Relaxed), pp.id.load(Relaxed), mp.id.load(Relaxed));
    proc::handoffp(pp);
}

/// The goroutine returned from its system call: get a P back, or queue
/// the goroutine and park the M.
#[inline(never)]
pub fn exitsyscall() {
    let gp = curg();
    let mp = curm();
    let oldp = mp.oldp.swap_rec(RecPtr::NULL, Relaxed);
    probe!(
        exitsyscall,
        gp.goid.load(Relaxed),
        if oldp.is_null() { u64::MAX } else { oldp.get().id.load(Relaxed) as u64 }
    );
    if exitsyscallfast(mp, oldp) {
        let pp = mp.p.rec().get();
        pp.syscalltick.fetch_add(1, Relaxed);
        casgstatus(gp, G_SYSCALL, G_RUNNING);
        gp.syscallsp.set(0);
        // Not a place to yield, but in the call the G held nothing up (the
        // world stops around it, its context is saved), so the time it has
        // run without a safe point starts again here.
        gp.safepoint_when.store(crate::os::coarse_nanotime(), Relaxed);
        mp.state.store(mstate::RUNNING, Relaxed);
        // No yield here on a preemption request, as in Go: a goroutine that
        // loops on system calls gives its P up to sysmon's retake instead.
        return;
    }
    mcall(exitsyscall0);
    // Resumed by the scheduler on some M that has a P.
    gp.syscallsp.set(0);
    let mp = getm();
    mp.get().p.rec().get().syscalltick.fetch_add(1, Relaxed);
}

fn exitsyscallfast(mp: &grt_table::M, oldp: RecPtr<grt_table::P>) -> bool {
    // Try to re-acquire the last P.
    if let Some(pp) = oldp.opt() {
        if pp.status.load(SeqCst) == P_SYSCALL && pp.status.compare_exchange(P_SYSCALL, P_IDLE, SeqCst, SeqCst).is_ok()
        {
            wirep(mp, pp);
            probe!(exitsyscall_fast, pp.id.load(Relaxed), mp.id.load(Relaxed));
            return true;
        }
    }
    // Try to get any other idle P.
    let s = sched();
    if !s.pidle.load(Relaxed).is_null() {
        lock(&s.lock);
        let pp = pidleget();
        unlock(&s.lock);
        if let Some(pp) = pp {
            acquirep(pp);
            return true;
        }
    }
    false
}

/// exitsyscall slow path, on g0: no P was free.
extern "C" fn exitsyscall0(gp: RecPtr<G>) {
    let gp = gp.get();
    let mp = curm();
    proc::setg(RecPtr::NULL);
    casgstatus(gp, G_SYSCALL, G_RUNNABLE);
    proc::dropg(mp);
    let s = sched();
    lock(&s.lock);
    let pp = pidleget();
    if pp.is_none() {
        proc::globrunqput(gp);
    }
    unlock(&s.lock);
    probe!(exitsyscall_slow, gp.goid.load(Relaxed), pp.map_or(u64::MAX, |p| p.id.load(Relaxed) as u64));
    if let Some(pp) = pp {
        acquirep(pp);
        execute(gp, false);
    }
    stopm();
    proc::schedule();
}
