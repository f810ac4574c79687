//! The process-wide waiter: tells sessions when a tracee has a state
//! change to collect, so that they can wait with a deadline.
//!
//! One thread (`grt-ctl-wait`) loops on
//! `waitid(P_ALL, WEXITED | WNOWAIT | __WALL)`: it blocks until some child
//! or tracee of this process (any thread's: wait looks at the whole thread
//! group) has a change, and *peeks* at it without consuming it. It then
//! bumps a generation counter and wakes every waiting session. The session
//! that owns the thread collects the change with `waitpid(tid, WNOHANG)`
//! (only the tracer thread may make ptrace requests, but any thread may
//! wait) and acknowledges, so the waiter peeks again at once. A change
//! nobody collects (a child of someone else that has not been reaped yet,
//! or the thread of a session that is busy elsewhere) makes the waiter
//! peek again after a millisecond: sessions then fall back to polling
//! their threads at that rate until it is gone.
//!
//! `WSTOPPED` is not asked for: ptrace stops are reported to tracers
//! without it, and without it the job-control stops of children that are
//! not traced do not wake anyone.
//!
//! Lock: `Hub::m` protects the counters only; nothing blocks while it is
//! held except the condition variables' waits.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub struct Hub {
    m: Mutex<State>,
    /// Signalled when `gen` changes or a session is poked.
    changed: Condvar,
    /// Signalled when a session consumed a change (or attached).
    acked: Condvar,
}

struct State {
    /// Incremented each time the waiter saw a pending change.
    gen: u64,
    /// The pid (tid) of the last change seen.
    pid: i32,
    /// Incremented by sessions when they consumed a change.
    acks: u64,
}

static HUB: OnceLock<&'static Hub> = OnceLock::new();

/// The hub, starting the waiter thread on first use.
pub fn hub() -> &'static Hub {
    HUB.get_or_init(|| {
        let h: &'static Hub = Box::leak(Box::new(Hub {
            m: Mutex::new(State { gen: 0, pid: 0, acks: 0 }),
            changed: Condvar::new(),
            acked: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("grt-ctl-wait".into())
            .spawn(move || h.run())
            .expect("control: cannot start the waiter thread");
        h
    })
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.m.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self) {
        loop {
            // SAFETY: siginfo_t is plain data filled by the kernel.
            let mut info: libc::siginfo_t = unsafe { core::mem::zeroed() };
            // SAFETY: info is a valid out-pointer; P_ALL ignores the id.
            let r = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOWAIT | libc::__WALL) };
            if r < 0 {
                let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                if e == libc::EINTR {
                    continue;
                }
                // ECHILD: nothing to wait for until a session attaches.
                let g = self.lock();
                let a0 = g.acks;
                let _ = self.acked.wait_timeout_while(g, Duration::from_millis(20), |s| s.acks == a0);
                continue;
            }
            // SAFETY: waitid filled a CLD_* siginfo.
            let pid = unsafe { info.si_pid() };
            let mut g = self.lock();
            g.gen += 1;
            g.pid = pid;
            let a0 = g.acks;
            self.changed.notify_all();
            // Wait for somebody to consume it; peek again after 1 ms if not.
            let _ = self.acked.wait_timeout_while(g, Duration::from_millis(1), |s| s.acks == a0);
        }
    }

    /// The current generation (read before polling).
    pub fn generation(&self) -> u64 {
        self.lock().gen
    }

    /// Blocks until the generation moves past `seen`, the session's poke
    /// counter moves past `seen_poke`, or `deadline`. Returns the pid of
    /// the last change seen (0 if none) and whether a poke happened.
    pub fn wait_change(&self, seen: u64, poke: &AtomicU64, seen_poke: u64, deadline: Instant) -> (i32, bool) {
        let mut g = self.lock();
        loop {
            let poked = poke.load(Relaxed) != seen_poke;
            if g.gen != seen || poked {
                return (if g.gen != seen { g.pid } else { 0 }, poked);
            }
            let now = Instant::now();
            if now >= deadline {
                return (0, false);
            }
            g = self.changed.wait_timeout(g, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// A session consumed a change (or attached): let the waiter peek again.
    pub fn ack(&self) {
        let mut g = self.lock();
        g.acks += 1;
        self.acked.notify_all();
    }

    /// Wakes the session whose poke counter this is, if it waits in
    /// `wait_change` (a command arrived). The counter moves before the
    /// lock is taken, so a waiter that checked it under the lock is
    /// already waiting when the notification comes.
    pub fn poke(&self, poke: &AtomicU64) {
        poke.fetch_add(1, Relaxed);
        let _g = self.lock();
        self.changed.notify_all();
    }
}
