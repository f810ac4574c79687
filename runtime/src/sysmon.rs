//! sysmon: the system monitor thread. It runs without a P, wakes every
//! 20us to 10ms (backing off while nothing happens), and:
//! - retakes Ps from Ms blocked in system calls (handoffp), after one tick
//!   if the P has work or nobody else is spinning, after 10ms otherwise;
//! - asks goroutines that ran 10ms without scheduling to yield (they do at
//!   their next safe point: "Preemption" in proc.rs);
//! - polls the network if nobody has for 10ms, injecting what is ready;
//! - starts an M when timers are overdue and no P is looking at them;
//! - re-runs a deadlock check deferred for foreign threads (foreign.rs).

use crate::lock::{lock, unlock};
use crate::os;
use crate::proc::{self, allp, curm, gomaxprocs, runqempty};
use crate::recptr::Link;
use crate::status::sched;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};
use grt_table::{mstate, P_RUNNING, P_SYSCALL};

const FORCE_PREEMPT_NS: i64 = 10 * 1000 * 1000;

pub fn sysmon() -> ! {
    let mp = curm();
    let s = sched();
    lock(&s.lock);
    s.nmsys.fetch_add(1, Relaxed);
    // Every other M may have gone idle before sysmon counted itself out.
    crate::fatal::checkdead();
    unlock(&s.lock);
    let mut idle = 0u32;
    let mut delay = 0u64;
    let mut last_recheck = 0i64;
    loop {
        if idle == 0 {
            delay = 20;
        } else if idle > 50 {
            delay *= 2;
        }
        delay = delay.min(10 * 1000);
        mp.state.store(mstate::SYSMON_SLEEP, Relaxed);
        // A point where sysmon holds nothing: tools stop it here.
        crate::probe!(sysmon_sleep, delay, idle);
        os::usleep(delay);
        mp.state.store(mstate::SCHEDULING, Relaxed);
        let now = crate::os::update_coarse_nanotime();
        // Poll the network if not polled for more than 10ms.
        let lastpoll = s.lastpoll.load(SeqCst);
        if crate::netpoll::inited()
            && lastpoll != 0
            && lastpoll + 10 * 1000 * 1000 < now
            && s.lastpoll.compare_exchange(lastpoll, now, SeqCst, SeqCst).is_ok()
        {
            let list = crate::netpoll::netpoll(0);
            if !list.is_empty() {
                proc::injectglist(list);
            }
        }
        // Overdue timers with nobody to run them.
        let t0 = s.timer0when.load(Relaxed);
        if t0 != 0 && t0 + 1_000_000 < now && s.npidle.load(SeqCst) > 0 && s.nmspinning.load(SeqCst) == 0 {
            proc::wakep();
        }
        // A deadlock report deferred for live foreign threads: look again
        // (a thread that exits or blocks does not make an M go idle).
        if crate::foreign::DEFERRED.load(Relaxed) && now - last_recheck >= crate::foreign::RECHECK_NS {
            last_recheck = now;
            crate::foreign::DEFERRED.store(false, Relaxed);
            lock(&s.lock);
            crate::fatal::checkdead();
            unlock(&s.lock);
        }
        if retake(now) != 0 {
            idle = 0;
        } else {
            idle += 1;
        }
    }
}

/// Takes Ps from long system calls and flags long-running goroutines.
fn retake(now: i64) -> u32 {
    let s = sched();
    let mut n = 0;
    for i in 0..gomaxprocs() as usize {
        let pp = allp(i);
        let st = pp.status.load(SeqCst);
        let mut sysretake = false;
        if st == P_RUNNING || st == P_SYSCALL {
            // Preempt G if it's running on the same schedtick for too long.
            let t = pp.schedtick.load(Relaxed);
            if pp.sysmon_schedtick.load(Relaxed) != t {
                pp.sysmon_schedtick.store(t, Relaxed);
                pp.sysmon_schedwhen.store(now, Relaxed);
            } else if pp.sysmon_schedwhen.load(Relaxed) + FORCE_PREEMPT_NS <= now {
                preemptone(pp);
                sysretake = true;
            }
        }
        if st == P_SYSCALL {
            // Retake P from syscall if it's there for more than 1 sysmon tick (at least 20us).
            let t = pp.syscalltick.load(Relaxed);
            if !sysretake && pp.sysmon_syscalltick.load(Relaxed) != t {
                pp.sysmon_syscalltick.store(t, Relaxed);
                pp.sysmon_syscallwhen.store(now, Relaxed);
                continue;
            }
            // On the one hand we don't want to retake Ps if there is no other
            // work to do, but on the other hand we want to retake them
            // eventually because they can prevent the sysmon thread from deep sleep.
            if runqempty(pp)
                && s.nmspinning.load(SeqCst) + s.npidle.load(SeqCst) > 0
                && pp.sysmon_syscallwhen.load(Relaxed) + 10 * 1000 * 1000 > now
            {
                continue;
            }
            if pp.status.compare_exchange(P_SYSCALL, grt_table::P_IDLE, SeqCst, SeqCst).is_ok() {
                pp.syscalltick.fetch_add(1, Relaxed);
                n += 1;
                crate::probe!(sysmon_retake, pp.id.load(Relaxed));
                proc::handoffp(pp);
            }
        }
    }
    n
}

fn preemptone(pp: &grt_table::P) {
    let mp = pp.m.rec();
    if mp.is_null() {
        return;
    }
    let gp = mp.get().curg.rec();
    if !gp.is_null() {
        gp.get().preempt.store(1, Relaxed);
    }
}
