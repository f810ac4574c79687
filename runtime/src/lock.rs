//! Runtime locks and notes, futex-based, as Go's lock_futex.go.
//!
//! A runtime lock ([`grt_table::Lock`]) lives in the table, so the
//! inspector sees who holds it (`owner`, the holding M) and who waits for it
//! (`M.waitlock`). Locks are for short critical sections in the runtime;
//! goroutines that must wait long use channels or semaphores, which park the
//! goroutine instead of the thread.
//!
//! A note is a one-shot wake-up: `notesleep` blocks the thread until
//! `notewakeup`; `noteclear` re-arms it. Exactly one thread may sleep on a
//! note, and a note is woken at most once per clear.

use crate::lockrank::{self, Rank, RANK_NAMES};
use crate::os;
use crate::proc::getm;
use crate::recptr::{Link, RecPtr};
use core::ptr;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use core::sync::atomic::{AtomicI32, AtomicU32};
use grt_table::{Lock, M, M_HELD_LOCKS};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const SLEEPING: u32 = 2;
const ACTIVE_SPIN: u32 = 4;
const ACTIVE_SPIN_CNT: u32 = 30;

/// Number of CPUs (set at start); spinning is pointless on one.
pub static NCPU: AtomicI32 = AtomicI32::new(1);

/// Initializes a lock's rank. Locks are zero-initialized in the table, so
/// this is the only set-up a lock needs.
pub fn lock_init(l: &Lock, rank: Rank) {
    l.rank.store(rank as u32, Relaxed);
}

/// Acquires `l`, spinning briefly and then sleeping on the futex.
#[inline]
pub fn lock(l: &Lock) {
    let mp = getm();
    if cfg!(debug_assertions) {
        check_rank(mp, l);
    }
    if l.key.compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed).is_err() {
        lock_slow(mp, l);
    }
    acquired(mp, l);
}

#[inline]
fn acquired(mp: RecPtr<M>, l: &Lock) {
    l.owner.store(mp.as_ptr(), Relaxed);
    if let Some(m) = mp.opt() {
        m.locks.store(m.locks.load(Relaxed) + 1, Relaxed);
        if cfg!(debug_assertions) {
            let n = m.nheld.load(Relaxed) as usize;
            if n < M_HELD_LOCKS {
                m.held[n].store(l as *const Lock as *mut Lock, Relaxed);
            }
            m.nheld.store(n as u32 + 1, Relaxed);
        }
    }
}

#[cold]
fn lock_slow(mp: RecPtr<M>, l: &Lock) {
    if let Some(m) = mp.opt() {
        m.waitlock.store(l as *const Lock as *mut Lock, Relaxed);
        m.waitsince.store(os::nanotime(), Relaxed);
    }
    let spin = if NCPU.load(Relaxed) > 1 { ACTIVE_SPIN } else { 0 };
    let mut wait = LOCKED;
    'outer: loop {
        for _ in 0..spin {
            while l.key.load(Relaxed) == UNLOCKED {
                if l.key.compare_exchange(UNLOCKED, wait, Acquire, Relaxed).is_ok() {
                    break 'outer;
                }
            }
            os::procyield(ACTIVE_SPIN_CNT);
        }
        while l.key.load(Relaxed) == UNLOCKED {
            if l.key.compare_exchange(UNLOCKED, wait, Acquire, Relaxed).is_ok() {
                break 'outer;
            }
        }
        os::osyield();
        if l.key.swap(SLEEPING, Acquire) == UNLOCKED {
            break;
        }
        wait = SLEEPING;
        os::futexsleep(&l.key, SLEEPING, -1);
    }
    if let Some(m) = mp.opt() {
        m.waitlock.store(ptr::null_mut(), Relaxed);
        m.waitsince.store(0, Relaxed);
    }
}

/// Releases `l`.
#[inline]
pub fn unlock(l: &Lock) {
    let mp = getm();
    if let Some(m) = mp.opt() {
        if cfg!(debug_assertions) {
            release_rank(m, l);
        }
        m.locks.store(m.locks.load(Relaxed) - 1, Relaxed);
    }
    l.owner.store(ptr::null_mut(), Relaxed);
    let v = l.key.swap(UNLOCKED, Release);
    if v == UNLOCKED {
        crate::fatal::throw("unlock of unlocked lock");
    }
    if v == SLEEPING {
        os::futexwakeup(&l.key, 1);
    }
}

/// Debug check that the current M holds `l` (Go's assertLockHeld).
#[inline]
pub fn assert_lock_held(l: &Lock) {
    if cfg!(debug_assertions) && l.owner.rec() != getm() {
        crate::fatal::throw("lock not held");
    }
}

fn check_rank(mp: RecPtr<M>, l: &Lock) {
    let Some(m) = mp.opt() else { return };
    let want = l.rank.load(Relaxed);
    let n = (m.nheld.load(Relaxed) as usize).min(M_HELD_LOCKS);
    for i in 0..n {
        let h = m.held[i].load(Relaxed);
        // SAFETY: held[] only ever contains locks this M acquired and has
        // not released; locks live in the table or in static memory.
        let hr = unsafe { (*h).rank.load(Relaxed) };
        if !lockrank::allowed(hr, h as usize, want, l as *const Lock as usize) {
            crate::eprint_raw!(
                "runtime: lock ordering problem: holding {} ({:#x}) while acquiring {} ({:#x})\n",
                RANK_NAMES.get(hr as usize).unwrap_or(&"?"),
                h as usize,
                RANK_NAMES.get(want as usize).unwrap_or(&"?"),
                l as *const Lock as usize
            );
            crate::fatal::throw("lock ordering problem");
        }
    }
}

fn release_rank(m: &M, l: &Lock) {
    let n = m.nheld.load(Relaxed) as usize;
    let lp = l as *const Lock as *mut Lock;
    // Locks are usually released in reverse order, but not always (select
    // unlocks in reverse address order; the Gscan dance may interleave).
    for i in (0..n.min(M_HELD_LOCKS)).rev() {
        if m.held[i].load(Relaxed) == lp {
            for j in i..n.min(M_HELD_LOCKS) - 1 {
                m.held[j].store(m.held[j + 1].load(Relaxed), Relaxed);
            }
            m.nheld.store(n as u32 - 1, Relaxed);
            return;
        }
    }
    if n > M_HELD_LOCKS {
        m.nheld.store(n as u32 - 1, Relaxed);
        return;
    }
    crate::fatal::throw("unlock of a lock this M does not hold");
}

/// Wakes the thread sleeping on note `n` (at most once per `noteclear`).
pub fn notewakeup(n: &AtomicU32) {
    let old = n.swap(1, Release);
    if old != 0 {
        crate::fatal::throw("notewakeup - double wakeup");
    }
    os::futexwakeup(n, 1);
}

/// Re-arms note `n`.
#[inline]
pub fn noteclear(n: &AtomicU32) {
    n.store(0, Relaxed);
}

/// Sleeps until note `n` is woken.
pub fn notesleep(n: &AtomicU32) {
    while n.load(Acquire) == 0 {
        os::futexsleep(n, 0, -1);
    }
}

/// Sleeps until note `n` is woken or `ns` nanoseconds pass; reports whether
/// it was woken.
pub fn notetsleep(n: &AtomicU32, ns: i64) -> bool {
    if ns < 0 {
        notesleep(n);
        return true;
    }
    let deadline = os::nanotime() + ns;
    loop {
        if n.load(Acquire) != 0 {
            return true;
        }
        let left = deadline - os::nanotime();
        if left <= 0 {
            return n.load(Acquire) != 0;
        }
        os::futexsleep(n, 0, left);
    }
}
