//! Threads the runtime does not own ("foreign" threads: a `std::thread`, a
//! library's worker thread) and what deadlock detection must know of them.
//!
//! Go has no such threads; a Rust program has them, and they may hold a
//! `Chan`, a `Mutex` or a `WaitGroup` and use it at any time, waking
//! goroutines. A foreign thread is one with no M (`getm()` null).
//!
//! # Thread waiters
//!
//! A foreign thread cannot gopark: it has no goroutine to park. When it
//! must wait on a channel or a semaphore it queues a *thread waiter*, a
//! sudog whose `g` is nil, exactly where a goroutine's sudog would go, and
//! sleeps on the sudog's `note` (`block`). Whoever completes its operation
//! calls `ready`, which readies a goroutine or, for a thread waiter, wakes
//! the thread (`wake`) instead. The waker follows the goroutine rules: it
//! fills the sudog under the queue's lock, drops the lock, then wakes, and
//! never touches the sudog again (the woken thread releases it at once).
//! Thread waiters take sudogs from, and return them to, the central cache
//! (`sched.sudog_lock`): they have no P. A thread waiter is never a select
//! waiter: a blocking `select!` is for goroutines only.
//!
//! # Deadlock detection with foreign threads
//!
//! `checkdead` (fatal.rs) reports "all goroutines are asleep" only when all
//! of these hold, checked in this order under `sched.lock`:
//!
//! 1. no M is running (every M is idle, or is sysmon);
//! 2. no goroutine is runnable, running or in a system call, and at least
//!    one is waiting;
//! 3. no timer is pending and no goroutine waits on the network poller (a
//!    timer may still wake someone: with `after(2s)` pending and nothing
//!    else, the deadlock is reported once the timer has fired and its M
//!    went idle again, as Go reports it);
//! 4. every thread of the process is either a runtime thread (an M, the
//!    signal thread) or a foreign thread *blocked in a grt primitive and
//!    not yet woken* (`BLOCKED` counts those). A foreign thread doing
//!    anything else (computing, sleeping, blocked in a read) may call into
//!    grt later and wake a goroutine, so its mere existence defers the
//!    report. Threads are counted from `/proc/self/task` only when 1-3
//!    already hold.
//!
//! `BLOCKED` is raised by the blocking thread under the lock of the queue
//! it waits on (before it releases it), and lowered by its waker just
//! before the wake-up, on the waker's own thread: while that happens the
//! waker is a running M or a live foreign thread not counted as blocked,
//! so rule 1 or 4 already keeps checkdead quiet. The count is never high
//! while a blocked thread can run.
//!
//! When rule 4 alone stood down, `DEFERRED` is set and sysmon re-runs
//! checkdead every `RECHECK_NS`: a foreign thread that exits or blocks does
//! not make an M go idle, so nothing else would look again.

use crate::lock::{lock, notesleep, notewakeup, unlock};
use crate::proc::{getm, goready};
use crate::recptr::{Link, RecPtr};
use crate::status::{sched, table};
use core::ptr::null_mut;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};
use core::sync::atomic::{AtomicBool, AtomicI32};
use grt_table::header::SectionKind;
use grt_table::Sudog;

/// Foreign threads blocked in a grt primitive and not yet woken (and those
/// in `select! {}`, blocked for good: `select::block_forever`).
pub static BLOCKED: AtomicI32 = AtomicI32::new(0);

/// Set when checkdead found a deadlock but for live foreign threads.
pub static DEFERRED: AtomicBool = AtomicBool::new(false);

/// How often sysmon re-runs a deferred checkdead.
pub const RECHECK_NS: i64 = 100 * 1000 * 1000;

/// Whether the calling thread is not one of the runtime's.
#[inline]
pub fn is_foreign() -> bool {
    getm().is_null()
}

/// A sudog for a foreign thread: from the central cache, or newly
/// allocated in the table.
pub fn acquire_sudog() -> &'static Sudog {
    let s = sched();
    let mut sg = RecPtr::<Sudog>::NULL;
    if !s.sudogcache.load(Relaxed).is_null() {
        lock(&s.sudog_lock);
        sg = s.sudogcache.rec();
        if let Some(x) = sg.opt() {
            s.sudogcache.store(x.next.load(Relaxed), Relaxed);
            x.next.store(null_mut(), Relaxed);
        }
        unlock(&s.sudog_lock);
    }
    let sg = match sg.opt() {
        Some(x) => x,
        None => match table().alloc::<Sudog>(SectionKind::Sudog) {
            Some(x) => x,
            None => crate::fatal::throw("out of sudog records (raise GRT_MAXG)"),
        },
    };
    sg.note.store(0, Relaxed);
    sg.inuse.store(1, Relaxed);
    sg
}

/// Returns a foreign thread's sudog (fields already cleared by the caller,
/// `chan::release_sudog`) to the central cache.
pub fn release_sudog(sg: &'static Sudog) {
    let s = sched();
    lock(&s.sudog_lock);
    sg.next.store(s.sudogcache.load(Relaxed), Relaxed);
    s.sudogcache.set_rec(RecPtr::from_ref(sg));
    unlock(&s.sudog_lock);
}

/// Sleeps the calling foreign thread in `sg`, which the caller has queued
/// under a lock that `unlockf` releases, until `wake(sg)`. Counted in
/// `BLOCKED` from before the lock is released.
pub fn block(sg: &Sudog, unlockf: impl FnOnce()) {
    if !sg.g.load(Relaxed).is_null() {
        crate::fatal::throw("foreign::block: sudog of a goroutine");
    }
    sg.note.store(0, Relaxed);
    BLOCKED.fetch_add(1, SeqCst);
    unlockf();
    notesleep(&sg.note);
}

/// Wakes the thread sleeping in `sg` (a thread waiter, dequeued, its lock
/// dropped). `sg` belongs to that thread again once this returns.
pub fn wake(sg: &Sudog) {
    BLOCKED.fetch_sub(1, SeqCst);
    notewakeup(&sg.note);
}

/// Readies whoever waits in `sg`: its goroutine, or its thread.
pub fn ready(sg: &Sudog) {
    match sg.g.rec().opt() {
        Some(gp) => goready(gp),
        None => wake(sg),
    }
}

/// Whether some thread other than the runtime's is not blocked in a grt
/// primitive (rule 4 above). Does not allocate: it runs under sched.lock
/// from checkdead. Answers true when it cannot tell.
pub fn foreign_threads_may_wake() -> bool {
    let blocked = BLOCKED.load(SeqCst);
    // SAFETY: opens a directory with a NUL-terminated constant path; the
    // fd is closed below on every path.
    let fd = unsafe { libc::open(c"/proc/self/task".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return true;
    }
    let mut foreign = 0i32;
    let mut buf = [0u64; 512];
    let ok = loop {
        // SAFETY: getdents64 fills at most the buffer's length in bytes.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), core::mem::size_of_val(&buf)) };
        if n < 0 {
            break false;
        }
        if n == 0 {
            break true;
        }
        // SAFETY: the kernel wrote n bytes of the 4096-byte buffer.
        let bytes = unsafe { core::slice::from_raw_parts(buf.as_ptr() as *const u8, n as usize) };
        let mut off = 0usize;
        // struct linux_dirent64 { u64 ino; i64 off; u16 reclen; u8 type; char name[]; }
        while off + 19 < bytes.len() {
            let reclen = u16::from_ne_bytes([bytes[off + 16], bytes[off + 17]]) as usize;
            if reclen == 0 || off + reclen > bytes.len() {
                break;
            }
            let name = &bytes[off + 19..off + reclen];
            if let Some(tid) = parse_tid(name) {
                if !is_runtime_thread(tid) {
                    foreign += 1;
                }
            }
            off += reclen;
        }
    };
    // SAFETY: fd was opened above and is closed once.
    unsafe { libc::close(fd) };
    !ok || foreign > blocked
}

/// The decimal number a task directory entry names ("." and ".." are not).
fn parse_tid(name: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    let mut n = 0;
    for &b in name {
        match b {
            0 => break,
            b'0'..=b'9' => v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?,
            _ => return None,
        }
        n += 1;
    }
    (n > 0).then_some(v)
}

fn is_runtime_thread(tid: u64) -> bool {
    if crate::signal::signal_thread_tid() as u64 == tid {
        return true;
    }
    let t = table();
    let n = t.len(SectionKind::M);
    (0..n as usize).any(|i| t.m(i).procid.load(Relaxed) == tid)
}
