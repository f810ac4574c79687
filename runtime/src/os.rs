//! Thin wrappers over the Linux system calls the runtime needs: futexes,
//! memory mappings, clocks, thread ids and raw writes to stderr.
//!
//! Nothing here allocates, so these are safe to call from signal handlers
//! and while the world is stopped.

use core::sync::atomic::AtomicU32;

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC, via the vDSO).
#[inline]
pub fn nanotime() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec to a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

static COARSE_NOW: core::sync::atomic::AtomicI64 = core::sync::atomic::AtomicI64::new(0);

/// A cheap, coarse monotonic time (updated by sysmon every 20us to 10ms):
/// good enough for "waiting since" stamps, which hot paths record.
#[inline]
pub fn coarse_nanotime() -> i64 {
    let v = COARSE_NOW.load(core::sync::atomic::Ordering::Relaxed);
    if v == 0 {
        return update_coarse_nanotime();
    }
    v
}

/// Reads the clock and publishes it as the coarse time.
pub fn update_coarse_nanotime() -> i64 {
    let t = nanotime();
    COARSE_NOW.store(t, core::sync::atomic::Ordering::Relaxed);
    t
}

/// Wall-clock time in nanoseconds since the Unix epoch.
pub fn walltime() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: as above.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// The calling thread's id.
#[inline]
pub fn gettid() -> u64 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u64 }
}

/// Sleeps on `addr` while it holds `val`, for at most `ns` nanoseconds
/// (negative: no limit). Spurious wake-ups are possible; callers loop.
pub fn futexsleep(addr: &AtomicU32, val: u32, ns: i64) {
    let ts;
    let tsp = if ns < 0 {
        core::ptr::null()
    } else {
        ts = libc::timespec { tv_sec: ns / 1_000_000_000, tv_nsec: ns % 1_000_000_000 };
        &ts as *const libc::timespec
    };
    // SAFETY: addr points to a live u32 for the duration of the call; the
    // timeout pointer is null or points to `ts` on this frame.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            addr.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            val,
            tsp,
            core::ptr::null::<u32>(),
            0,
        );
    }
}

/// Wakes up to `cnt` threads sleeping on `addr`.
pub fn futexwakeup(addr: &AtomicU32, cnt: i32) {
    // SAFETY: FUTEX_WAKE only reads the address's identity.
    unsafe {
        libc::syscall(libc::SYS_futex, addr.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, cnt);
    }
}

/// Yields the processor (sched_yield).
#[inline]
pub fn osyield() {
    // SAFETY: no arguments.
    unsafe { libc::sched_yield() };
}

/// Spin-wait hint, `n` times.
#[inline]
pub fn procyield(n: u32) {
    for _ in 0..n {
        core::hint::spin_loop();
    }
}

/// Sleeps the thread for `us` microseconds.
pub fn usleep(us: u64) {
    let ts = libc::timespec { tv_sec: (us / 1_000_000) as i64, tv_nsec: ((us % 1_000_000) * 1000) as i64 };
    // SAFETY: nanosleep reads one timespec; the remainder pointer may be null.
    unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
}

/// Writes all of `b` to stderr with raw write(2) calls (no locks, no
/// allocation: usable while crashing).
pub fn write_err(b: &[u8]) {
    let mut off = 0;
    while off < b.len() {
        // SAFETY: the pointer and length describe the live slice `b[off..]`.
        let n = unsafe { libc::write(2, b[off..].as_ptr() as *const libc::c_void, b.len() - off) };
        if n <= 0 {
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            return;
        }
        off += n as usize;
    }
}

/// The calling thread's errno.
#[inline]
pub fn errno() -> i32 {
    // SAFETY: __errno_location returns the thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Anonymous private mapping; `None` on failure.
pub fn mmap_anon(size: usize, prot: i32, extra_flags: i32) -> Option<*mut u8> {
    // SAFETY: a fresh anonymous mapping does not alias anything.
    let p = unsafe {
        libc::mmap(core::ptr::null_mut(), size, prot, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra_flags, -1, 0)
    };
    if p == libc::MAP_FAILED {
        None
    } else {
        Some(p as *mut u8)
    }
}

/// A small stack buffer for formatting without allocation (crash paths).
pub struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    pub const fn new() -> Self {
        StackBuf { buf: [0; N], len: 0 }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Default for StackBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let b = s.as_bytes();
        let n = b.len().min(N - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
        Ok(())
    }
}

/// Formats into a stack buffer and writes it to stderr without allocating.
macro_rules! eprint_raw {
    ($($arg:tt)*) => {{
        let mut b = $crate::os::StackBuf::<512>::new();
        let _ = core::fmt::Write::write_fmt(&mut b, format_args!($($arg)*));
        $crate::os::write_err(b.as_bytes());
    }};
}
pub(crate) use eprint_raw;
