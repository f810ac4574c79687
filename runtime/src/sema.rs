//! A counting semaphore that parks goroutines (Go's semacquire/semrelease),
//! the building block of `sync::Mutex`, `sync::WaitGroup` and worldsema.
//!
//! Waiters queue as sudogs (`sudog.sema` names the semaphore), FIFO, under
//! the semaphore's own lock (rank `sema`). The lock is released on g0 after
//! the waiter is in Gwaiting, so a release can never miss it; a releaser
//! readies the waiter only after dropping the lock. A thread that is not a
//! goroutine waits as a thread waiter (foreign.rs): same queue, but it
//! sleeps on its sudog's note, released by `foreign::block` after it is
//! counted as blocked.

use crate::chan::{acquire_sudog, release_sudog};
use crate::foreign;
use crate::lock::{lock, unlock};
use crate::lockrank::Rank;
use crate::proc::{curg, gopark};
use crate::recptr::{Link, RecPtr};
use core::ptr::null_mut;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};
use core::sync::atomic::{AtomicPtr, AtomicU32};
use grt_table::{Lock, Sudog, G};

pub struct Sema {
    lock: Lock,
    count: AtomicU32,
    nwait: AtomicU32,
    head: AtomicPtr<Sudog>,
    tail: AtomicPtr<Sudog>,
}

// SAFETY: all fields are atomics; the queue is only touched under `lock`.
unsafe impl Sync for Sema {}

impl Sema {
    pub const fn new(count: u32) -> Sema {
        Sema {
            lock: Lock {
                key: AtomicU32::new(0),
                rank: AtomicU32::new(Rank::Sema as u32),
                owner: AtomicPtr::new(null_mut()),
            },
            count: AtomicU32::new(count),
            nwait: AtomicU32::new(0),
            head: AtomicPtr::new(null_mut()),
            tail: AtomicPtr::new(null_mut()),
        }
    }

    fn try_acquire(&self) -> bool {
        let mut v = self.count.load(SeqCst);
        while v > 0 {
            match self.count.compare_exchange(v, v - 1, SeqCst, SeqCst) {
                Ok(_) => return true,
                Err(x) => v = x,
            }
        }
        false
    }

    /// Takes one unit, parking the goroutine with `reason` until there is
    /// one (on a thread that is not a goroutine, blocking the thread).
    pub fn acquire(&self, reason: u32) {
        if self.try_acquire() {
            return;
        }
        let thread = foreign::is_foreign();
        if thread && !crate::status::table_ready() {
            // Before grt::run there are no sudogs to queue on: poll.
            self.acquire_polling();
            return;
        }
        let gp = if thread { null_mut() } else { curg() as *const G as *mut G };
        let sg = acquire_sudog();
        sg.g.store(gp, Relaxed);
        sg.sema.set(self as *const Sema as u64);
        sg.enqueued.store(crate::os::coarse_nanotime(), Relaxed);
        loop {
            lock(&self.lock);
            self.nwait.fetch_add(1, SeqCst);
            if self.try_acquire() {
                self.nwait.fetch_sub(1, SeqCst);
                unlock(&self.lock);
                break;
            }
            self.enqueue(sg);
            if thread {
                foreign::block(sg, || unlock(&self.lock));
            } else {
                gopark(Some(unlock_sema), &self.lock as *const Lock as usize, reason);
            }
            if self.try_acquire() {
                break;
            }
        }
        sg.sema.set(0);
        sg.g.store(null_mut(), Relaxed);
        release_sudog(sg);
    }

    /// Takes one unit on a thread that cannot queue (the runtime has not
    /// started): retries with short sleeps. Correct at any time, since a
    /// release always adds its unit to `count` first; only slower.
    #[cold]
    fn acquire_polling(&self) {
        let mut spins = 0u32;
        while !self.try_acquire() {
            if spins < 100 {
                spins += 1;
                std::thread::yield_now();
            } else {
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
        }
    }

    /// Returns one unit, readying the first waiter if there is one.
    pub fn release(&self) {
        self.count.fetch_add(1, SeqCst);
        if self.nwait.load(SeqCst) == 0 {
            return;
        }
        lock(&self.lock);
        if self.nwait.load(SeqCst) == 0 {
            unlock(&self.lock);
            return;
        }
        let sg = self.dequeue();
        if sg.is_some() {
            self.nwait.fetch_sub(1, SeqCst);
        }
        unlock(&self.lock);
        if let Some(sg) = sg {
            foreign::ready(sg);
        }
    }

    fn enqueue(&self, sg: &'static Sudog) {
        let p = RecPtr::from_ref(sg);
        sg.next.store(null_mut(), Relaxed);
        match self.tail.rec().opt() {
            None => self.head.set_rec(p),
            Some(t) => t.next.set_rec(p),
        }
        self.tail.set_rec(p);
    }

    fn dequeue(&self) -> Option<&'static Sudog> {
        let h = self.head.rec().opt()?;
        let n = h.next.rec();
        self.head.set_rec(n);
        if n.is_null() {
            self.tail.store(null_mut(), Relaxed);
        }
        h.next.store(null_mut(), Relaxed);
        Some(h)
    }
}

fn unlock_sema(_gp: &G, lockp: usize) -> bool {
    // SAFETY: `lockp` is the address of the lock of the Sema whose
    // `acquire` passed it to gopark: that call borrows the Sema, and it has
    // not returned (its goroutine is just parking).
    unlock(unsafe { &*(lockp as *const Lock) });
    true
}
