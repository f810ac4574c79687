//! Signal handling: stack overflow (SIGSEGV/SIGBUS in a stack guard),
//! SIGQUIT (dump every goroutine and exit 2, as Go), SIGTRAP at an SDT
//! probe site left armed by a tracer that died, and the signal thread.
//!
//! The signal thread (`grt-signal`) prints every dump. SIGQUIT is blocked
//! in all runtime threads (the mask is set before any is created, and they
//! inherit it) and taken synchronously by the signal thread with
//! `sigwaitinfo`. A fatal error on any thread (throw, an escaped panic, a
//! stack overflow) posts the crashing registers and goroutine to it and
//! waits. So dumps never run inside an interrupted thread's handler (where
//! allocating could deadlock on a lock the thread holds) and never need a
//! runtime lock that a wedged thread may hold.
//!
//! Freezing the world (Go's `freezetheworld`): the thread that begins a
//! fatal report first sends SIGURG to every other thread of the process
//! (listed from /proc/self/task; the signal thread excepted), whose handler
//! parks the thread for good while a report is under way, and waits a
//! moment for them to stop. So no goroutine runs and nothing of the
//! program is printed between the report's first line and the exit, even a
//! goroutine that never calls the runtime, a plain thread, or `main`
//! returning. A frozen thread may hold a lock the dump needs (malloc's):
//! the reporting thread gives the dump 10 seconds without progress, then
//! exits 2 anyway.
//!
//! Handlers run on a per-M alternate signal stack (`minit`). A fault that
//! is not a goroutine stack overflow goes to whatever handler was installed
//! before the runtime (Rust's own stack-overflow reporter), so behaviour
//! outside goroutine stacks is unchanged.
//!
//! Probe self-repair: a tracer arms a probe by writing `int3` over its
//! one-byte nop. If the tracer is killed while probes are armed, the next
//! thread to reach one gets SIGTRAP with nobody to catch it. The handler
//! checks that the trap address is one of this executable's probe sites
//! (read from its own `.note.stapsdt` at start), writes `nop` back over
//! every probe site through /proc/self/mem, and resumes the thread, which
//! is already past the probe.

use crate::os::write_err;
use crate::proc::getg;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};
use core::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicU64};
use std::sync::OnceLock;

/// Handlers that were installed before ours (to chain to).
static OLD_SEGV: AtomicPtr<libc::sigaction> = AtomicPtr::new(core::ptr::null_mut());
static OLD_BUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(core::ptr::null_mut());
static OLD_URG: AtomicPtr<libc::sigaction> = AtomicPtr::new(core::ptr::null_mut());

/// Addresses of this executable's probe sites.
static PROBE_SITES: OnceLock<Vec<u64>> = OnceLock::new();
/// Number of times the runtime repaired probe sites itself.
pub static PROBE_REPAIRS: AtomicU32 = AtomicU32::new(0);

const ALTSTACK_SIZE: usize = 256 * 1024;

/// The signal thread's tid (0 until it runs).
static SIGTHREAD_TID: AtomicI32 = AtomicI32::new(0);
/// The signal thread's tid, 0 before it runs (deadlock detection counts it
/// as a runtime thread).
pub(crate) fn signal_thread_tid() -> i32 {
    SIGTHREAD_TID.load(Relaxed)
}

/// A posted fatal request: 1 while pending.
static REQ_PENDING: AtomicU32 = AtomicU32::new(0);
static REQ_PC: AtomicU64 = AtomicU64::new(0);
static REQ_SP: AtomicU64 = AtomicU64::new(0);
static REQ_BP: AtomicU64 = AtomicU64::new(0);
static REQ_GOID: AtomicU64 = AtomicU64::new(0);
static REQ_CODE: AtomicI32 = AtomicI32::new(2);
/// Whether a fatal report froze the world: SIGURG then stops a thread.
static FREEZING: AtomicU32 = AtomicU32::new(0);
/// The thread writing the report (never frozen).
static REPORTER_TID: AtomicI32 = AtomicI32::new(0);
/// Threads stopped by the freeze so far.
static FROZEN: AtomicU32 = AtomicU32::new(0);
/// Goroutine blocks the dump has written (the reporter's watchdog watches it).
pub static DUMP_PROGRESS: AtomicU64 = AtomicU64::new(0);
/// The signal that freezes a thread (Go uses it for preemption; it is
/// ignored by default, so a program does not expect it).
const SIGFREEZE: i32 = libc::SIGURG;
/// The stack copy of a fatal panic (posted from normal context only).
static REQ_STACK: std::sync::Mutex<Option<grt_symbols::SnapshotMemory>> = std::sync::Mutex::new(None);

fn sigquit_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialize it.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGQUIT);
        set
    }
}

/// Blocks SIGQUIT in the calling thread (and so in every thread it creates
/// later) and starts the signal thread. Runs once at start, before any
/// other runtime thread exists.
pub fn start_signal_thread() {
    let set = sigquit_set();
    // SAFETY: changes this thread's signal mask only.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, core::ptr::null_mut()) };
    let started = std::thread::Builder::new().name("grt-signal".into()).stack_size(8 << 20).spawn(signal_thread);
    // Wait until the thread has published its tid: a fault before that
    // (a goroutine overflowing its stack at once, on a loaded machine)
    // would find no signal thread to dump for it and exit without a report.
    while started.is_ok() && SIGTHREAD_TID.load(Relaxed) == 0 {
        std::thread::yield_now();
    }
}

fn signal_thread() {
    SIGTHREAD_TID.store(crate::os::gettid() as i32, Relaxed);
    let set = sigquit_set();
    loop {
        // SAFETY: siginfo_t is plain data filled by the kernel.
        let mut info: libc::siginfo_t = unsafe { core::mem::zeroed() };
        // SAFETY: waits for a signal in `set`, which is blocked here.
        let r = unsafe { libc::sigwaitinfo(&set, &mut info) };
        if r < 0 {
            continue;
        }
        if REQ_PENDING.swap(0, core::sync::atomic::Ordering::SeqCst) == 1 {
            let crashed = crate::traceback::Crashed {
                pc: REQ_PC.load(Relaxed),
                sp: REQ_SP.load(Relaxed),
                bp: REQ_BP.load(Relaxed),
                goid: REQ_GOID.load(Relaxed),
                stack_copy: REQ_STACK.lock().ok().and_then(|mut g| g.take()),
            };
            crate::traceback::dump_all(&crashed);
            crate::fatal::exit(REQ_CODE.load(Relaxed));
        }
        // An external SIGQUIT: dump and exit 2, as Go does.
        if crate::status::table_ready() && crate::status::sched().throwing.swap(1, Relaxed) != 0 {
            continue; // a fatal error is already being reported
        }
        freeze_the_world();
        crate::eprint_raw!("SIGQUIT: quit\nPC=0x0 m=-1 sigcode={}\n", info.si_code);
        if std::env::var_os("GRT_SCHEDDETAIL").is_some() {
            crate::traceback::schedtrace(true);
        }
        write_err(b"\n");
        crate::traceback::dump_all(&crate::traceback::Crashed::default());
        crate::fatal::exit(2);
    }
}

/// Has the signal thread print every goroutine (the crashed one first)
/// and end the process with `code`. Without a signal thread (very early
/// failures), dumps on the calling thread.
pub fn dump_and_exit(crashed: crate::traceback::Crashed, code: i32) -> ! {
    let tid = SIGTHREAD_TID.load(Relaxed);
    if tid == 0 || tid as u64 == crate::os::gettid() {
        crate::traceback::dump_all(&crashed);
        crate::fatal::exit(code);
    }
    if let Ok(mut g) = REQ_STACK.lock() {
        *g = crashed.stack_copy;
    }
    post(crashed.pc, crashed.sp, crashed.bp, crashed.goid, code)
}

/// Posts a fatal request and waits for the signal thread to end the
/// process. Async-signal-safe (atomics, getpid, tgkill, pause).
fn post(pc: u64, sp: u64, bp: u64, goid: u64, code: i32) -> ! {
    REQ_PC.store(pc, Relaxed);
    REQ_SP.store(sp, Relaxed);
    REQ_BP.store(bp, Relaxed);
    REQ_GOID.store(goid, Relaxed);
    REQ_CODE.store(code, Relaxed);
    REQ_PENDING.store(1, core::sync::atomic::Ordering::SeqCst);
    // SAFETY: signals our own signal thread; it has SIGQUIT blocked and
    // takes it with sigwaitinfo.
    unsafe {
        libc::syscall(libc::SYS_tgkill, libc::getpid(), SIGTHREAD_TID.load(Relaxed), libc::SIGQUIT);
    }
    // Wait for the signal thread to end the process. If its dump makes no
    // progress for this long, a frozen thread holds a lock it needs: end
    // the process ourselves, with the status the report promised.
    const STALL_NS: i64 = 10_000_000_000;
    let mut seen = DUMP_PROGRESS.load(Relaxed);
    let mut since = crate::os::nanotime();
    loop {
        crate::os::usleep(10_000);
        let now = crate::os::nanotime();
        let p = DUMP_PROGRESS.load(Relaxed);
        if p != seen {
            (seen, since) = (p, now);
        } else if now - since > STALL_NS {
            write_err(
                b"\nfatal error: the goroutine dump stalled for 10s (a frozen thread holds a lock it needs); exiting\n",
            );
            crate::fatal::exit(code);
        }
    }
}

/// Whether a fatal report has frozen the world (or is freezing it).
#[inline]
pub fn freezing() -> bool {
    FREEZING.load(Relaxed) != 0
}

/// Stops every other thread of the process (but the signal thread) before
/// a fatal report is printed: each gets SIGURG, whose handler parks it for
/// good. Waits until they have stopped (at most half a second: a thread
/// that blocks SIGURG or sits in an uninterruptible sleep is not waited
/// for). Two passes, for threads started during the first. Async-signal-
/// safe: raw system calls and atomics only.
pub fn freeze_the_world() {
    let me = crate::os::gettid() as i32;
    REPORTER_TID.store(me, SeqCst);
    FREEZING.store(1, SeqCst);
    for limit_ms in [500, 50] {
        let n = signal_other_threads(me);
        let t0 = crate::os::nanotime();
        while FROZEN.load(SeqCst) < n && crate::os::nanotime() - t0 < limit_ms * 1_000_000 {
            crate::os::usleep(100);
        }
    }
}

/// Sends SIGFREEZE to every thread of the process except `me` and the
/// signal thread; returns how many it reached.
fn signal_other_threads(me: i32) -> u32 {
    let path = b"/proc/self/task\0";
    // SAFETY: open on a constant NUL-terminated path.
    let fd = unsafe {
        libc::open(path.as_ptr() as *const libc::c_char, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)
    };
    if fd < 0 {
        return 0;
    }
    let sigthread = SIGTHREAD_TID.load(Relaxed);
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let mut sent = 0;
    #[repr(C, align(8))]
    struct Buf([u8; 4096]);
    let mut buf = Buf([0; 4096]);
    loop {
        // SAFETY: getdents64 fills at most buf.len() bytes of our buffer.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.0.as_mut_ptr(), buf.0.len()) };
        if n <= 0 {
            break;
        }
        let mut off = 0usize;
        while off + 19 < n as usize {
            // linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name.
            let reclen = u16::from_ne_bytes([buf.0[off + 16], buf.0[off + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let name = &buf.0[off + 19..(off + reclen).min(n as usize)];
            let mut tid: i32 = 0;
            let mut digits = 0;
            for &c in name.iter().take_while(|&&c| c != 0) {
                if !c.is_ascii_digit() {
                    digits = 0;
                    break;
                }
                tid = tid.saturating_mul(10).saturating_add((c - b'0') as i32);
                digits += 1;
            }
            if digits > 0 && tid != me && tid != sigthread {
                // SAFETY: tgkill to a thread of our own process.
                if unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, SIGFREEZE) } == 0 {
                    sent += 1;
                }
            }
            off += reclen;
        }
    }
    // SAFETY: closes the fd opened above.
    unsafe { libc::close(fd) };
    sent
}

/// SIGURG: while a fatal report is under way, stop this thread for good
/// (SIGURG stays blocked inside the handler, so a second one waits).
/// Otherwise it is not ours: pass it to the handler the program installed
/// before the runtime started, if any (the default action ignores it).
extern "C" fn on_freeze(sig: i32, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    if FREEZING.load(SeqCst) == 0 {
        let old = OLD_URG.load(Relaxed);
        // SAFETY: `old` is null or the action saved at init.
        let h = if old.is_null() { libc::SIG_DFL } else { unsafe { (*old).sa_sigaction } };
        if h != libc::SIG_DFL && h != libc::SIG_IGN {
            // SAFETY: h is the program's own handler for this signal; a
            // one-argument handler ignores the extra arguments (C ABI).
            let f: extern "C" fn(i32, *mut libc::siginfo_t, *mut libc::c_void) = unsafe { core::mem::transmute(h) };
            f(sig, info, ctx);
        }
        return;
    }
    let me = crate::os::gettid() as i32;
    if me == REPORTER_TID.load(SeqCst) || me == SIGTHREAD_TID.load(Relaxed) {
        return;
    }
    FROZEN.fetch_add(1, SeqCst);
    loop {
        // SAFETY: waits for the process to end.
        unsafe { libc::pause() };
    }
}

/// Installs the runtime's handlers. Runs once at start.
pub fn init() {
    let _ = PROBE_SITES.set(crate::probesites::read_own_probe_sites().unwrap_or_default());
    // SAFETY: installing handlers for signals the runtime owns; the old
    // actions are kept for chaining.
    unsafe {
        OLD_SEGV.store(install(libc::SIGSEGV, on_fault as *const () as usize), Relaxed);
        OLD_BUS.store(install(libc::SIGBUS, on_fault as *const () as usize), Relaxed);
        install(libc::SIGQUIT, on_quit as *const () as usize);
        install(libc::SIGTRAP, on_trap as *const () as usize);
        OLD_URG.store(install(SIGFREEZE, on_freeze as *const () as usize), Relaxed);
    }
}

/// Installs `handler` for `sig`; returns the previous action (leaked box).
unsafe fn install(sig: i32, handler: usize) -> *mut libc::sigaction {
    // SAFETY: sigaction structs are plain data; zeroed is a valid start.
    let mut sa: libc::sigaction = unsafe { core::mem::zeroed() };
    sa.sa_sigaction = handler;
    sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
    // SAFETY: the mask is ours to fill.
    unsafe { libc::sigemptyset(&mut sa.sa_mask) };
    let old = Box::into_raw(Box::new(unsafe { core::mem::zeroed::<libc::sigaction>() }));
    // SAFETY: both structs are valid for the call.
    unsafe { libc::sigaction(sig, &sa, old) };
    old
}

/// Per-M set-up: a large alternate signal stack, so that the overflow
/// report and dumps have room.
pub fn minit() {
    let Some(p) = crate::os::mmap_anon(ALTSTACK_SIZE, libc::PROT_READ | libc::PROT_WRITE, 0) else {
        return;
    };
    let ss = libc::stack_t { ss_sp: p as *mut libc::c_void, ss_flags: 0, ss_size: ALTSTACK_SIZE };
    // SAFETY: ss describes a fresh mapping this thread owns for its life.
    unsafe { libc::sigaltstack(&ss, core::ptr::null_mut()) };
}

extern "C" fn on_fault(sig: i32, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as u64;
    let gp = getg();
    if !gp.is_null() {
        let g = gp.get();
        if crate::stack::in_guard(g, addr) {
            begin_fatal_in_handler();
            let sp = ucontext_reg(ctx, libc::REG_RSP);
            crate::eprint_raw!(
                "runtime: goroutine stack exceeds {}-byte limit\nruntime: sp={:#x} stack=[{:#x}, {:#x}]\n",
                crate::stack::stack_size(),
                sp,
                g.stack_lo.get(),
                g.stack_hi.get()
            );
            crate::eprint_raw!("fatal error: stack overflow\n\n");
            crate::probe!(stack_overflow, g.goid.load(Relaxed), addr);
            let (pc, bp) = (ucontext_reg(ctx, libc::REG_RIP), ucontext_reg(ctx, libc::REG_RBP));
            if SIGTHREAD_TID.load(Relaxed) != 0 {
                post(pc, sp, bp, g.goid.load(Relaxed), 2);
            }
            crate::fatal::exit(2);
        }
    }
    // Not ours: hand it to the previous handler (Rust's guard-page reporter
    // for thread stacks), or let the default action kill the process.
    let old = if sig == libc::SIGBUS { OLD_BUS.load(Relaxed) } else { OLD_SEGV.load(Relaxed) };
    chain(sig, info, ctx, old);
}

/// A fatal signal in a handler: the first fatal error freezes the world
/// and reports; a thread that comes second stops here for good.
fn begin_fatal_in_handler() {
    if crate::status::table_ready() && crate::status::sched().throwing.swap(1, SeqCst) != 0 {
        loop {
            // SAFETY: waits for the reporting thread to end the process.
            unsafe { libc::pause() };
        }
    }
    freeze_the_world();
}

fn chain(sig: i32, info: *mut libc::siginfo_t, ctx: *mut libc::c_void, old: *mut libc::sigaction) {
    // SAFETY: `old` is null or the action saved at init.
    let h = if old.is_null() { libc::SIG_DFL } else { unsafe { (*old).sa_sigaction } };
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        // SAFETY: restore the default action; returning re-raises the fault.
        unsafe {
            let mut sa: libc::sigaction = core::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &sa, core::ptr::null_mut());
        }
        return;
    }
    // SAFETY: h is the previous SA_SIGINFO-style handler (Rust's is).
    let f: extern "C" fn(i32, *mut libc::siginfo_t, *mut libc::c_void) = unsafe { core::mem::transmute(h) };
    f(sig, info, ctx);
}

fn ucontext_reg(ctx: *mut libc::c_void, reg: i32) -> u64 {
    if ctx.is_null() {
        return 0;
    }
    // SAFETY: the kernel passes a ucontext_t for SA_SIGINFO handlers.
    unsafe { (*(ctx as *mut libc::ucontext_t)).uc_mcontext.gregs[reg as usize] as u64 }
}

/// SIGQUIT reached a thread that does not block it (one created before the
/// runtime started): forward it to the signal thread.
extern "C" fn on_quit(_sig: i32, _info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    let tid = SIGTHREAD_TID.load(Relaxed);
    if tid != 0 {
        // SAFETY: tgkill is async-signal-safe; the target blocks SIGQUIT.
        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, libc::SIGQUIT) };
    }
}

extern "C" fn on_trap(sig: i32, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let rip = ucontext_reg(ctx, libc::REG_RIP);
    let sites = PROBE_SITES.get().map(|v| v.as_slice()).unwrap_or(&[]);
    if rip > 0 && sites.binary_search(&(rip - 1)).is_ok() {
        // The thread is already past the one-byte probe: it can go on. With
        // no tracer, the tracer that armed the site is gone: restore every
        // site. With a tracer still attached, the probes are its own (it
        // passed this trap on by mistake): leave them armed.
        if !being_traced() {
            repair_probe_sites(sites);
            if PROBE_REPAIRS.fetch_add(1, Relaxed) == 0 {
                write_err(b"runtime: a probe trapped with no tracer attached (the inspector that armed it is gone): probe sites restored\n");
            }
        }
        return;
    }
    // Not a probe: a breakpoint or a raised SIGTRAP the runtime did not
    // plant. Go dies of it with "SIGTRAP: trace trap" and every goroutine's
    // stack; so do we.
    let _ = sig;
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let code = unsafe { (*info).si_code };
    let mp = crate::proc::getm();
    let mid = if mp.is_null() { -1 } else { mp.get().id.load(Relaxed) };
    begin_fatal_in_handler();
    crate::eprint_raw!("SIGTRAP: trace trap\nPC={:#x} m={} sigcode={}\n\n", rip, mid, code);
    let gp = getg();
    let goid = if gp.is_null() { 0 } else { gp.get().goid.load(Relaxed) };
    if SIGTHREAD_TID.load(Relaxed) != 0 {
        let (sp, bp) = (ucontext_reg(ctx, libc::REG_RSP), ucontext_reg(ctx, libc::REG_RBP));
        post(rip, sp, bp, goid, 2);
    }
    crate::fatal::exit(2);
}

/// Whether a tracer is attached to this thread (`TracerPid` in
/// /proc/thread-self/status), read with async-signal-safe calls only.
fn being_traced() -> bool {
    let path = b"/proc/thread-self/status\0";
    let mut buf = [0u8; 4096];
    // SAFETY: open/read/close on a stack buffer: async-signal-safe.
    let n = unsafe {
        let fd = libc::open(path.as_ptr() as *const libc::c_char, libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let n = libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len());
        libc::close(fd);
        n
    };
    if n <= 0 {
        return false;
    }
    let text = &buf[..n as usize];
    let key = b"TracerPid:";
    let Some(i) = text.windows(key.len()).position(|w| w == key) else {
        return false;
    };
    text[i + key.len()..].iter().take_while(|&&c| c != b'\n').any(|&c| (b'1'..=b'9').contains(&c))
}

/// Writes `nop` over every probe site that holds `int3`.
fn repair_probe_sites(sites: &[u64]) {
    let path = b"/proc/self/mem\0";
    // SAFETY: open/pwrite/close are async-signal-safe; we write single
    // bytes at our own probe sites, which hold either nop or int3.
    unsafe {
        let fd = libc::open(path.as_ptr() as *const libc::c_char, libc::O_RDWR | libc::O_CLOEXEC);
        if fd < 0 {
            return;
        }
        for &a in sites {
            if *(a as *const u8) == 0xCC {
                let nop = 0x90u8;
                libc::pwrite(fd, &nop as *const u8 as *const libc::c_void, 1, a as libc::off_t);
            }
        }
        libc::close(fd);
    }
}
