//! Signal handling: stack overflow (SIGSEGV/SIGBUS in a stack guard),
//! SIGQUIT (dump every goroutine and exit 2, as Go), and SIGTRAP at an
//! SDT probe site left armed by a tracer that died.
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
use crate::proc::{getg, getm, r};
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicPtr, AtomicU32};
use std::sync::OnceLock;

/// Handlers that were installed before ours (to chain to).
static OLD_SEGV: AtomicPtr<libc::sigaction> = AtomicPtr::new(core::ptr::null_mut());
static OLD_BUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(core::ptr::null_mut());

/// Addresses of this executable's probe sites.
static PROBE_SITES: OnceLock<Vec<u64>> = OnceLock::new();
/// Number of times the runtime repaired probe sites itself.
pub static PROBE_REPAIRS: AtomicU32 = AtomicU32::new(0);

const ALTSTACK_SIZE: usize = 256 * 1024;

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
    let Some(p) = crate::os::mmap_anon(ALTSTACK_SIZE, libc::PROT_READ | libc::PROT_WRITE, 0) else { return };
    let ss = libc::stack_t { ss_sp: p as *mut libc::c_void, ss_flags: 0, ss_size: ALTSTACK_SIZE };
    // SAFETY: ss describes a fresh mapping this thread owns for its life.
    unsafe { libc::sigaltstack(&ss, core::ptr::null_mut()) };
}

extern "C" fn on_fault(sig: i32, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as u64;
    let gp = getg();
    if !gp.is_null() {
        let g = r(gp);
        if crate::stack::in_guard(g, addr) {
            let sp = ucontext_reg(ctx, libc::REG_RSP);
            crate::eprint_raw!(
                "runtime: goroutine stack exceeds {}-byte limit\nruntime: sp={:#x} stack=[{:#x}, {:#x}]\n",
                crate::stack::stack_size(),
                sp,
                g.stack_lo.get(),
                g.stack_hi.get()
            );
            crate::eprint_raw!("fatal error: stack overflow\n");
            crate::probe!(stack_overflow, g.goid.load(Relaxed), addr);
            crate::fatal::fatal_dump_and_exit(2);
        }
    }
    // Not ours: hand it to the previous handler (Rust's guard-page reporter
    // for thread stacks), or let the default action kill the process.
    let old = if sig == libc::SIGBUS { OLD_BUS.load(Relaxed) } else { OLD_SEGV.load(Relaxed) };
    chain(sig, info, ctx, old);
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

extern "C" fn on_quit(_sig: i32, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let pc = ucontext_reg(ctx, libc::REG_RIP);
    let mp = getm();
    let mid = if mp.is_null() { -1 } else { r(mp).id.load(Relaxed) };
    // SAFETY: valid siginfo for SA_SIGINFO.
    let code = unsafe { (*info).si_code };
    crate::eprint_raw!("SIGQUIT: quit\nPC={:#x} m={} sigcode={}\n", pc, mid, code);
    if std::env::var_os("GRT_SCHEDDETAIL").is_some() {
        crate::traceback::schedtrace(true);
    }
    crate::fatal::fatal_dump_and_exit(2);
}

extern "C" fn on_trap(sig: i32, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let rip = ucontext_reg(ctx, libc::REG_RIP);
    let sites = PROBE_SITES.get().map(|v| v.as_slice()).unwrap_or(&[]);
    if rip > 0 && sites.binary_search(&(rip - 1)).is_ok() {
        // An armed probe with no tracer: restore every site and go on (the
        // thread is already past the one-byte probe).
        repair_probe_sites(sites);
        PROBE_REPAIRS.fetch_add(1, Relaxed);
        return;
    }
    write_err(b"runtime: unexpected SIGTRAP\n");
    chain(sig, info, ctx, core::ptr::null_mut());
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

/// The probe sites the runtime knows (for tests).
pub fn probe_sites() -> &'static [u64] {
    PROBE_SITES.get().map(|v| v.as_slice()).unwrap_or(&[])
}
