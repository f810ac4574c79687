//! The network poller: epoll, edge-triggered, as Go's netpoll_epoll.go.
//!
//! Every non-blocking fd the runtime owns has a `PollDesc` with two
//! semaphores, `rg` and `wg`, each 0 (nothing), READY (an event arrived),
//! WAIT (a goroutine is about to park) or the address of the parked G. A
//! goroutine whose read would block parks in `wait` ("IO wait"); the M that
//! next polls (an idle M blocking in epoll_wait from `find_runnable`, a
//! non-blocking poll in the scheduler, or sysmon) collects the readied Gs
//! and hands them to `injectglist`. An M blocked in epoll_wait holds no P,
//! so stop-the-world does not stop it (seed 000's netpoll thread).
//!
//! PollDescs are never freed: a closed one goes to a free list and its
//! `seq` advances, and the epoll data carries (pointer, seq) so a stale
//! event for a recycled descriptor is dropped.

use crate::lock::{lock, unlock};
use crate::proc::{curg, gopark, GList};
use crate::recptr::RecPtr;
use crate::status::sched;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicUsize};
use grt_table::{waitreason, Lock, G};
use std::io;

const PD_NIL: usize = 0;
const PD_READY: usize = 1;
const PD_WAIT: usize = 2;

/// Poll state of one fd.
pub struct PollDesc {
    pub fd: AtomicI32,
    rg: AtomicUsize,
    wg: AtomicUsize,
    closing: AtomicBool,
    seq: AtomicU32,
}

static EPFD: AtomicI32 = AtomicI32::new(-1);
static BREAK_FD: AtomicI32 = AtomicI32::new(-1);
static BREAK_PENDING: AtomicU32 = AtomicU32::new(0);
/// Marker in epoll data for the break eventfd.
const BREAK_TAG: u64 = 1;

static FREE_LOCK: Lock = Lock {
    key: core::sync::atomic::AtomicU32::new(0),
    rank: core::sync::atomic::AtomicU32::new(crate::lockrank::Rank::PollDesc as u32),
    owner: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()),
};
struct FreeList(core::cell::UnsafeCell<Vec<&'static PollDesc>>);
// SAFETY: only touched under FREE_LOCK.
unsafe impl Sync for FreeList {}
static FREE: FreeList = FreeList(core::cell::UnsafeCell::new(Vec::new()));

pub fn inited() -> bool {
    EPFD.load(Relaxed) >= 0
}

/// Creates the epoll instance and the break eventfd. Runs once at start.
pub fn init() -> Result<(), String> {
    // SAFETY: plain system calls creating new fds.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(format!("epoll_create1: {}", io::Error::last_os_error()));
    }
    // SAFETY: as above.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if efd < 0 {
        return Err(format!("eventfd: {}", io::Error::last_os_error()));
    }
    let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: BREAK_TAG };
    // SAFETY: registers our own eventfd with our own epoll fd.
    if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, efd, &mut ev) } != 0 {
        return Err(format!("epoll_ctl(eventfd): {}", io::Error::last_os_error()));
    }
    BREAK_FD.store(efd, Relaxed);
    EPFD.store(ep, Relaxed);
    sched().netpoll_epfd.store(ep, Relaxed);
    sched().lastpoll.store(crate::os::nanotime(), SeqCst);
    Ok(())
}

/// Wakes an M blocked in netpoll (for a new, earlier timer).
pub fn netpoll_break() {
    if BREAK_PENDING.swap(1, SeqCst) != 0 {
        return;
    }
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a local to our eventfd.
    unsafe { libc::write(BREAK_FD.load(Relaxed), &one as *const u64 as *const libc::c_void, 8) };
}

/// Registers a non-blocking fd; returns its descriptor.
pub fn open(fd: i32) -> io::Result<&'static PollDesc> {
    lock(&FREE_LOCK);
    // SAFETY: FREE_LOCK is held.
    let pd = unsafe { (*FREE.0.get()).pop() };
    unlock(&FREE_LOCK);
    let pd: &'static PollDesc = match pd {
        Some(pd) => pd,
        None => Box::leak(Box::new(PollDesc {
            fd: AtomicI32::new(-1),
            rg: AtomicUsize::new(0),
            wg: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            seq: AtomicU32::new(0),
        })),
    };
    pd.fd.store(fd, Relaxed);
    pd.rg.store(PD_NIL, SeqCst);
    pd.wg.store(PD_NIL, SeqCst);
    pd.closing.store(false, SeqCst);
    let tag = tagged(pd);
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
        u64: tag,
    };
    // SAFETY: registers a caller-owned fd with our epoll fd.
    if unsafe { libc::epoll_ctl(EPFD.load(Relaxed), libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
        let e = io::Error::last_os_error();
        release(pd);
        return Err(e);
    }
    Ok(pd)
}

fn tagged(pd: &PollDesc) -> u64 {
    (pd as *const PollDesc as u64 & ((1 << 48) - 1)) | ((pd.seq.load(Relaxed) as u64 & 0xffff) << 48)
}

fn release(pd: &'static PollDesc) {
    pd.seq.fetch_add(1, SeqCst);
    pd.fd.store(-1, Relaxed);
    lock(&FREE_LOCK);
    // SAFETY: FREE_LOCK is held.
    unsafe { (*FREE.0.get()).push(pd) };
    unlock(&FREE_LOCK);
}

/// Unregisters the fd and wakes any goroutine waiting on it (the caller
/// closes the fd afterwards).
pub fn close(pd: &'static PollDesc) {
    pd.closing.store(true, SeqCst);
    let fd = pd.fd.load(Relaxed);
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: unregisters the fd we registered.
    unsafe { libc::epoll_ctl(EPFD.load(Relaxed), libc::EPOLL_CTL_DEL, fd, &mut ev) };
    let list = GList::new();
    if let Some(g) = unblock(&pd.rg, false) {
        list.push(g);
    }
    if let Some(g) = unblock(&pd.wg, false) {
        list.push(g);
    }
    while let Some(g) = list.pop() {
        crate::proc::goready(g);
    }
    release(pd);
}

impl PollDesc {
    /// Parks until the fd may be readable (`write == false`) or writable.
    /// Returns an error if the descriptor is being closed.
    pub fn wait(&self, write: bool) -> io::Result<()> {
        let gpp = if write { &self.wg } else { &self.rg };
        loop {
            if self.closing.load(SeqCst) {
                return Err(io::Error::new(io::ErrorKind::NotConnected, "use of closed network connection"));
            }
            if gpp.compare_exchange(PD_READY, PD_NIL, SeqCst, SeqCst).is_ok() {
                return Ok(());
            }
            if gpp.compare_exchange(PD_NIL, PD_WAIT, SeqCst, SeqCst).is_ok() {
                break;
            }
            let v = gpp.load(SeqCst);
            if v != PD_READY && v != PD_NIL {
                crate::fatal::throw("runtime: double wait");
            }
        }
        let _ = curg();
        if !self.closing.load(SeqCst) {
            gopark(Some(block_commit), gpp as *const AtomicUsize as usize, waitreason::IO_WAIT);
        }
        let old = gpp.swap(PD_NIL, SeqCst);
        if old > PD_WAIT {
            crate::fatal::throw("runtime: corrupted polldesc");
        }
        if self.closing.load(SeqCst) {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "use of closed network connection"));
        }
        Ok(())
    }
}

/// On g0 after the park: publish the G in the semaphore, unless an event
/// came in meanwhile (then resume at once).
fn block_commit(gp: &G, gpp: usize) -> bool {
    // SAFETY: `gpp` is the address of a poll descriptor's rg or wg, which
    // `wait` passed to gopark; descriptors are never freed (reused).
    let gpp = unsafe { &*(gpp as *const AtomicUsize) };
    let ok = gpp.compare_exchange(PD_WAIT, gp as *const G as usize, SeqCst, SeqCst).is_ok();
    if ok {
        sched().netpoll_waiters.fetch_add(1, SeqCst);
    }
    ok
}

fn unblock(gpp: &AtomicUsize, ioready: bool) -> Option<&'static G> {
    loop {
        let old = gpp.load(SeqCst);
        if old == PD_READY {
            return None;
        }
        if old == PD_NIL && !ioready {
            return None;
        }
        let new = if ioready { PD_READY } else { PD_NIL };
        if gpp.compare_exchange(old, new, SeqCst, SeqCst).is_ok() {
            if old == PD_WAIT || old == PD_NIL {
                return None;
            }
            sched().netpoll_waiters.fetch_sub(1, SeqCst);
            // SAFETY: any other value is what block_commit stored: the
            // address of a parked G record.
            return Some(unsafe { RecPtr::from_raw(old as *mut G) }.get());
        }
    }
}

/// Polls for ready fds; `delay` < 0 blocks, 0 does not block, > 0 waits up
/// to that many nanoseconds. Returns the goroutines that became runnable
/// (still in Gwaiting: the caller injects them).
pub fn netpoll(delay: i64) -> GList {
    let list = GList::new();
    let ep = EPFD.load(Relaxed);
    if ep < 0 {
        return list;
    }
    let timeout_ms: i32 = if delay < 0 {
        -1
    } else if delay == 0 {
        0
    } else if delay < 1_000_000 {
        1
    } else if delay < 1_000_000_000_000 {
        (delay / 1_000_000) as i32
    } else {
        1_000_000
    };
    let mut events: [libc::epoll_event; 128] = [libc::epoll_event { events: 0, u64: 0 }; 128];
    let n = loop {
        // SAFETY: the events buffer holds 128 entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), 128, timeout_ms) };
        if n < 0 {
            if crate::os::errno() == libc::EINTR {
                if timeout_ms != 0 {
                    // Return so the caller can recheck its deadline.
                    return list;
                }
                continue;
            }
            crate::eprint_raw!("runtime: epoll_wait on fd {} failed with {}\n", ep, crate::os::errno());
            crate::fatal::throw("runtime: netpoll failed");
        }
        break n as usize;
    };
    for ev in &events[..n] {
        let data = ev.u64;
        if data == BREAK_TAG {
            let mut buf = [0u8; 8];
            // SAFETY: reads 8 bytes into a local buffer.
            unsafe { libc::read(BREAK_FD.load(Relaxed), buf.as_mut_ptr() as *mut libc::c_void, 8) };
            BREAK_PENDING.store(0, SeqCst);
            continue;
        }
        // SAFETY: the event's data is what `open` registered: the address
        // of a poll descriptor (never freed) below a 16-bit sequence.
        let pd = unsafe { &*((data & ((1 << 48) - 1)) as *const PollDesc) };
        if (pd.seq.load(SeqCst) as u64 & 0xffff) != data >> 48 {
            continue; // stale event for a recycled descriptor
        }
        let e = ev.events as i32;
        let read = e & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) != 0;
        let write = e & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) != 0;
        if read {
            if let Some(g) = unblock(&pd.rg, true) {
                crate::probe!(netpoll_ready, g.goid.load(Relaxed), pd.fd.load(Relaxed), 0);
                list.push(g);
            }
        }
        if write {
            if let Some(g) = unblock(&pd.wg, true) {
                crate::probe!(netpoll_ready, g.goid.load(Relaxed), pd.fd.load(Relaxed), 1);
                list.push(g);
            }
        }
    }
    list
}
