//! `Mutex` and `WaitGroup` that park goroutines, not threads (used from a
//! thread that is not a goroutine, they block that thread: see foreign.rs).
//!
//! `Mutex<T>` is a three-state lock word (0 free, 1 locked, 2 locked with
//! waiters) over a counting semaphore: a waiter marks the word 2 and sleeps
//! on the semaphore; an unlock that finds 2 releases one unit. A unit
//! released with nobody waiting only costs a later waiter one extra check.
//! `WaitGroup` keeps the counter and the number of waiters in one word, as
//! Go's does.

use crate::sema::Sema;
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::AtomicU32;
use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use grt_table::waitreason;

/// A mutual exclusion lock whose waiters park as goroutines
/// (`sync.Mutex.Lock` in dumps).
pub struct Mutex<T: ?Sized> {
    state: AtomicU32,
    sema: Sema,
    data: UnsafeCell<T>,
}

// SAFETY: the lock gives one goroutine at a time access to `data`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above; &Mutex only hands out &mut T under the lock.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    pub const fn new(v: T) -> Mutex<T> {
        Mutex { state: AtomicU32::new(0), sema: Sema::new(0), data: UnsafeCell::new(v) }
    }

    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, parking the goroutine while another holds the lock.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // A safe point, contended or not: lock may park.
        crate::proc::preempt_check();
        if self.state.compare_exchange(0, 1, Acquire, Relaxed).is_err() {
            self.lock_slow();
        }
        MutexGuard { m: self }
    }

    /// Locks; a waiter parks with wait reason `reason` (the runtime's own
    /// users, such as net.rs's per-direction socket locks, name theirs).
    pub(crate) fn lock_waiting_as(&self, reason: u32) -> MutexGuard<'_, T> {
        if self.state.compare_exchange(0, 1, Acquire, Relaxed).is_err() {
            self.lock_slow_as(reason);
        }
        MutexGuard { m: self }
    }

    #[cold]
    fn lock_slow(&self) {
        self.lock_slow_as(waitreason::SYNC_MUTEX_LOCK)
    }

    #[cold]
    fn lock_slow_as(&self, reason: u32) {
        while self.state.swap(2, Acquire) != 0 {
            self.sema.acquire(reason);
        }
    }

    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        if self.state.compare_exchange(0, 1, Acquire, Relaxed).is_ok() {
            Some(MutexGuard { m: self })
        } else {
            None
        }
    }

    fn unlock(&self) {
        if self.state.swap(0, Release) == 2 {
            self.sema.release();
        }
    }
}

/// Holds a `Mutex` locked; unlocks on drop.
pub struct MutexGuard<'a, T: ?Sized> {
    m: &'a Mutex<T>,
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.m.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and &mut self is unique.
        unsafe { &mut *self.m.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.m.unlock();
    }
}

/// Waits for a collection of goroutines to finish (Go's sync.WaitGroup).
pub struct WaitGroup {
    /// High 32 bits: counter; low 32 bits: waiters.
    state: AtomicU64,
    sema: Sema,
}

impl Default for WaitGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitGroup {
    pub const fn new() -> WaitGroup {
        WaitGroup { state: AtomicU64::new(0), sema: Sema::new(0) }
    }

    /// Adds `delta` (may be negative) to the counter; at zero, releases all waiters.
    pub fn add(&self, delta: i64) {
        let state = self.state.fetch_add((delta as u64) << 32, SeqCst).wrapping_add((delta as u64) << 32);
        let v = (state >> 32) as i32;
        let w = state as u32;
        if v < 0 {
            panic!("sync: negative WaitGroup counter");
        }
        if w != 0 && delta > 0 && v as i64 == delta {
            panic!("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        if v > 0 || w == 0 {
            return;
        }
        // Counter is 0 and there are waiters: reset and wake them all.
        if self.state.load(SeqCst) != state {
            panic!("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        self.state.store(0, SeqCst);
        for _ in 0..w {
            self.sema.release();
        }
    }

    pub fn done(&self) {
        self.add(-1);
    }

    /// Parks until the counter is zero.
    pub fn wait(&self) {
        // A safe point, even when the counter is already zero.
        crate::proc::preempt_check();
        loop {
            let state = self.state.load(SeqCst);
            if state >> 32 == 0 {
                return;
            }
            if self.state.compare_exchange(state, state + 1, SeqCst, SeqCst).is_ok() {
                self.sema.acquire(waitreason::SYNC_WAIT_GROUP_WAIT);
                return;
            }
        }
    }
}
