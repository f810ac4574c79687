//! The static table of patched sites, and restoring them from signal
//! handlers.
//!
//! Every byte a session patches (a probe's `nop` turned `int3`) and every
//! semaphore it increments is also recorded here, in a fixed array of
//! atomics: the fd of the target's `/proc/<pid>/mem`, the address, and
//! the original byte or the amount added. Restoring from here needs no
//! allocation and no lock, only `pread`/`pwrite`, so it can run in a
//! signal handler ([`restore_all_patched_sites`]).
//!
//! Each slot goes FREE -> FILLING -> ACTIVE -> (RESTORING -> DONE | FREE).
//! Whoever moves a slot from ACTIVE to RESTORING with a CAS restores it,
//! so a session and a signal handler racing on the same slot restore it
//! exactly once (that matters for semaphores, whose restore subtracts).
//!
//! Why handlers that restore and re-raise, rather than a self-pipe the
//! event loop notices: a CLI is often blocked elsewhere (reading the
//! terminal, sleeping between frames) when Ctrl-C comes, and after a
//! SIGTERM it may never get back to its loop. Restoring in the handler
//! does not depend on what the program was doing; the kernel detaches the
//! tracees when the process then dies of the re-raised signal.

use super::sys;
use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use core::sync::atomic::{AtomicI32, AtomicU64, AtomicU8};

pub const CAPACITY: usize = 1024;

const FREE: u8 = 0;
const FILLING: u8 = 1;
const ACTIVE: u8 = 2;
const RESTORING: u8 = 3;
const DONE: u8 = 4;

/// What a slot restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One byte; `value` is the original byte.
    Byte = 0,
    /// A u16 semaphore; `value` is what was added.
    Semaphore = 1,
}

struct Slot {
    state: AtomicU8,
    kind: AtomicU8,
    fd: AtomicI32,
    addr: AtomicU64,
    value: AtomicU64,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            state: AtomicU8::new(FREE),
            kind: AtomicU8::new(0),
            fd: AtomicI32::new(-1),
            addr: AtomicU64::new(0),
            value: AtomicU64::new(0),
        }
    }
}

static SLOTS: [Slot; CAPACITY] = [const { Slot::new() }; CAPACITY];

/// Records a patch about to be made; returns its slot.
pub fn record(fd: i32, addr: u64, kind: Kind, value: u64) -> Option<usize> {
    for (i, s) in SLOTS.iter().enumerate() {
        if s.state.compare_exchange(FREE, FILLING, Acquire, Relaxed).is_ok() {
            s.kind.store(kind as u8, Relaxed);
            s.fd.store(fd, Relaxed);
            s.addr.store(addr, Relaxed);
            s.value.store(value, Relaxed);
            s.state.store(ACTIVE, Release);
            return Some(i);
        }
    }
    None
}

/// Takes the slot for restoring; false if a signal handler already did.
/// Either way the slot is freed, so call this once per recorded patch.
pub fn claim(slot: usize) -> bool {
    let s = &SLOTS[slot];
    let won = s.state.compare_exchange(ACTIVE, RESTORING, AcqRel, Relaxed).is_ok();
    s.state.store(FREE, Release);
    won
}

/// Restores one patch through `fd`. Async-signal-safe.
pub fn restore(fd: i32, addr: u64, kind: Kind, value: u64) -> Result<(), sys::Errno> {
    match kind {
        Kind::Byte => sys::pwrite_all(fd, &[value as u8], addr),
        Kind::Semaphore => {
            let mut b = [0u8; 2];
            sys::pread_all(fd, &mut b, addr)?;
            let v = u16::from_le_bytes(b).wrapping_sub(value as u16);
            sys::pwrite_all(fd, &v.to_le_bytes(), addr)
        }
    }
}

/// Restores every byte and semaphore that any session of this process
/// has patched and not yet restored. Async-signal-safe (atomics, `pread`,
/// `pwrite`): call it from your own handlers if you do not use
/// [`install_exit_handlers`]. Returns how many patches it restored.
pub fn restore_all_patched_sites() -> usize {
    let mut n = 0;
    for s in SLOTS.iter() {
        if s.state.compare_exchange(ACTIVE, RESTORING, AcqRel, Relaxed).is_ok() {
            let kind = if s.kind.load(Relaxed) == Kind::Semaphore as u8 { Kind::Semaphore } else { Kind::Byte };
            if restore(s.fd.load(Relaxed), s.addr.load(Relaxed), kind, s.value.load(Relaxed)).is_ok() {
                n += 1;
            }
            // DONE, not FREE: the owning session must not reuse the slot
            // before it has seen that it lost it.
            s.state.store(DONE, Release);
        }
    }
    n
}

const EXIT_SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The disposition each exit signal had before ours (to chain to).
static OLD: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
static OLD_FLAGS: [AtomicI32; 3] = [const { AtomicI32::new(0) }; 3];

extern "C" fn on_exit_signal(sig: i32, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    restore_all_patched_sites();
    let Some(i) = EXIT_SIGNALS.iter().position(|&s| s == sig) else {
        return;
    };
    let old = OLD[i].load(Relaxed) as usize;
    if old != libc::SIG_DFL && old != libc::SIG_IGN {
        // Chain to the program's own handler; it decides what happens next.
        if OLD_FLAGS[i].load(Relaxed) & libc::SA_SIGINFO != 0 {
            // SAFETY: an SA_SIGINFO handler installed before ours.
            let f: extern "C" fn(i32, *mut libc::siginfo_t, *mut libc::c_void) = unsafe { core::mem::transmute(old) };
            f(sig, info, ctx);
        } else {
            // SAFETY: a plain handler installed before ours.
            let f: extern "C" fn(i32) = unsafe { core::mem::transmute(old) };
            f(sig);
        }
        return;
    }
    // Die of the signal, as without us: default action, then re-raise
    // (it stays blocked, hence pending, until this handler returns).
    // SAFETY: sigaction and raise are async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(sig, &sa, core::ptr::null_mut());
        libc::raise(sig);
    }
}

extern "C" fn at_exit() {
    restore_all_patched_sites();
}

/// For CLIs: restore every patched site when this process gets SIGINT,
/// SIGTERM or SIGHUP, and at `exit()` (which skips destructors), then
/// behave as before: a handler the program installed earlier is chained
/// to; otherwise the process dies of the signal. A signal the program
/// ignores stays ignored. Idempotent. Not needed for panics or errors:
/// dropping a [`Session`](super::Session) restores too.
pub fn install_exit_handlers() {
    static DONE_ONCE: std::sync::Once = std::sync::Once::new();
    DONE_ONCE.call_once(|| {
        for (i, &sig) in EXIT_SIGNALS.iter().enumerate() {
            // SAFETY: sigaction structs are plain data; we install a
            // handler that only uses async-signal-safe calls.
            unsafe {
                let mut old: libc::sigaction = core::mem::zeroed();
                libc::sigaction(sig, core::ptr::null(), &mut old);
                if old.sa_sigaction == libc::SIG_IGN {
                    continue;
                }
                OLD[i].store(old.sa_sigaction as u64, Relaxed);
                OLD_FLAGS[i].store(old.sa_flags, Relaxed);
                let mut sa: libc::sigaction = core::mem::zeroed();
                sa.sa_sigaction = on_exit_signal as *const () as usize;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, core::ptr::null_mut());
            }
        }
        // SAFETY: registers a plain extern "C" fn.
        unsafe { libc::atexit(at_exit) };
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_restored_exactly_once() {
        // A semaphore in our own memory, patched through /proc/self/mem.
        let sem = Box::new(5u16);
        let addr = &*sem as *const u16 as u64;
        let f = std::fs::OpenOptions::new().read(true).write(true).open("/proc/self/mem").unwrap();
        use std::os::fd::AsRawFd;
        let fd = f.as_raw_fd();
        let slot = record(fd, addr, Kind::Semaphore, 1).unwrap();
        sys::pwrite_all(fd, &6u16.to_le_bytes(), addr).unwrap();
        // A "signal handler" restores everything; the owner's claim loses.
        assert!(restore_all_patched_sites() >= 1);
        assert_eq!(unsafe { core::ptr::read_volatile(addr as *const u16) }, 5);
        assert!(!claim(slot));
        assert_eq!(restore_all_patched_sites(), 0);
        assert_eq!(unsafe { core::ptr::read_volatile(addr as *const u16) }, 5);
    }
}
