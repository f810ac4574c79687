//! Fatal errors: `throw`, a panic escaping a goroutine, and deadlock
//! detection (`checkdead`), each ending the process with status 2 after a
//! goroutine dump, as Go does.
//!
//! Nothing here allocates once a fatal error has begun: messages are
//! formatted into stack buffers and written with raw write(2), so a throw
//! from any state (locks held, allocator in an unknown state) still prints.

use crate::os::{self, write_err};
use crate::proc::getg;
use crate::status::{sched, table, table_ready};
use core::sync::atomic::Ordering::{Relaxed, SeqCst};
use grt_table::header::SectionKind;
use grt_table::{G_RUNNABLE, G_RUNNING, G_SCAN, G_SYSCALL, G_WAITING};

/// Ends the process with Go's "fatal error: msg" report and status 2.
#[cold]
#[inline(never)]
pub fn throw(msg: &str) -> ! {
    fatal_begin();
    crate::eprint_raw!("fatal error: {}\n", msg);
    crate::probe!(throw, msg.as_ptr() as u64, msg.len() as u64);
    fatal_dump_and_exit(2)
}

/// First thread into a fatal error wins; any later one parks forever so
/// the report is not interleaved.
fn fatal_begin() {
    if table_ready() && sched().throwing.swap(1, SeqCst) != 0 {
        loop {
            os::usleep(1_000_000);
        }
    }
    let mp = crate::proc::getm();
    if !mp.is_null() {
        mp.get().throwing.store(1, Relaxed);
    }
}

/// Prints every goroutine and exits with `code`. The dump runs on the
/// signal thread (see `signal.rs`); this thread posts its registers and
/// goroutine, then waits for the process to end.
#[inline(never)]
pub fn fatal_dump_and_exit(code: i32) -> ! {
    write_err(b"\n");
    let regs = grt_symbols::capture_registers!();
    let crashed = crate::traceback::Crashed {
        pc: regs.pc(),
        sp: regs.sp(),
        bp: regs.bp().unwrap_or(0),
        goid: current_goid(),
        stack_copy: take_panic_stack(),
    };
    crate::signal::dump_and_exit(crashed, code)
}

fn current_goid() -> u64 {
    let gp = getg();
    if gp.is_null() {
        0
    } else {
        gp.get().goid.load(Relaxed)
    }
}

/// Marks the table and exits the process immediately.
pub fn exit(code: i32) -> ! {
    if table_ready() {
        let h = table().header();
        h.exit_code.store(code as u32, Relaxed);
        h.exiting.store(1, SeqCst);
    }
    // SAFETY: _exit ends the process; nothing runs after it.
    unsafe { libc::_exit(code) }
}

thread_local! {
    /// The message and location of the last panic on this thread, captured
    /// by the panic hook for the Go-style report.
    static LAST_PANIC: core::cell::RefCell<Option<(String, String)>> = const { core::cell::RefCell::new(None) };
    /// The panicking goroutine's registers and a copy of its live stack,
    /// taken in the hook before unwinding (for the dump if it is fatal).
    static PANIC_STACK: core::cell::RefCell<Option<(u64, u64, u64, grt_symbols::SnapshotMemory)>> = const { core::cell::RefCell::new(None) };
}

/// Most stack bytes copied at a panic site.
const PANIC_STACK_COPY: u64 = 256 * 1024;

fn take_panic_stack() -> Option<grt_symbols::SnapshotMemory> {
    PANIC_STACK.with(|c| c.borrow_mut().take()).map(|(_, _, _, m)| m)
}

/// Installs the panic hook: panics on goroutines are reported Go-style when
/// they escape (and not at all if recovered); others go to the default hook.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let gp = getg();
        if gp.is_null() {
            default(info);
            return;
        }
        let regs = grt_symbols::capture_registers!();
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "(non-string panic payload)".to_string()
        };
        let loc = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        LAST_PANIC.with(|c| *c.borrow_mut() = Some((msg, loc)));
        // Copy the live part of the stack now: unwinding will overwrite it.
        let hi = gp.get().stack_hi.get();
        let sp = regs.sp();
        if sp < hi && hi - sp <= (1 << 30) {
            let len = (hi - sp).min(PANIC_STACK_COPY) as usize;
            let mut m = grt_symbols::SnapshotMemory::new();
            // SAFETY: [sp, sp+len) is the live part of this goroutine's own
            // stack (sp below hi, within its range), readable memory.
            let bytes = unsafe { core::slice::from_raw_parts(sp as *const u8, len) }.to_vec();
            m.add_region(sp, bytes);
            PANIC_STACK.with(|c| *c.borrow_mut() = Some((regs.pc(), sp, regs.bp().unwrap_or(0), m)));
        }
    }));
}

/// The message and location of the last panic on this thread (for test
/// harnesses that recover panics).
pub fn last_panic() -> Option<(String, String)> {
    LAST_PANIC.with(|c| c.borrow_mut().take())
}

/// A panic escaped a goroutine: print "panic: ..." and the goroutines
/// (the panicking one from its stack at the panic site), exit 2.
pub fn goroutine_panicked(payload: Box<dyn core::any::Any + Send>) -> ! {
    let (msg, loc) = last_panic().unwrap_or_else(|| {
        let m = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "(non-string panic payload)".to_string()
        };
        (m, String::new())
    });
    fatal_begin();
    crate::eprint_raw!("panic: {}\n", msg);
    if !loc.is_empty() {
        crate::eprint_raw!("\tat {}\n", loc);
    }
    write_err(b"\n");
    let crashed = match PANIC_STACK.with(|c| c.borrow_mut().take()) {
        Some((pc, sp, bp, m)) => crate::traceback::Crashed { pc, sp, bp, goid: current_goid(), stack_copy: Some(m) },
        None => {
            let regs = grt_symbols::capture_registers!();
            crate::traceback::Crashed {
                pc: regs.pc(),
                sp: regs.sp(),
                bp: regs.bp().unwrap_or(0),
                goid: current_goid(),
                stack_copy: None,
            }
        }
    };
    crate::signal::dump_and_exit(crashed, 2)
}

/// Detects a deadlock: no M is running and every goroutine waits on
/// something only another goroutine could do (Go's checkdead). Called with
/// sched.lock held each time an M goes idle, and by sysmon while a report
/// is deferred for foreign threads. The rule, with foreign threads, is
/// written down in foreign.rs.
pub fn checkdead() {
    let s = sched();
    if s.throwing.load(Relaxed) != 0 {
        return;
    }
    if !crate::proc::MAIN_STARTED.load(Relaxed) {
        return;
    }
    let mcount = s.mnext.load(Relaxed) as i32;
    let run = mcount - s.nmidle.load(Relaxed) - s.nmidlelocked.load(Relaxed) - s.nmsys.load(Relaxed);
    if run > 0 {
        return;
    }
    let t = table();
    let n = t.len(SectionKind::G);
    let mut waiting = 0;
    for i in 0..n as usize {
        let gp = t.g(i);
        match gp.atomicstatus.load(Relaxed) & !G_SCAN {
            G_WAITING => waiting += 1,
            G_RUNNABLE | G_RUNNING | G_SYSCALL => return, // work exists; not a deadlock
            _ => {}
        }
    }
    if waiting == 0 {
        return;
    }
    if s.ntimers.load(Relaxed) > 0 || s.netpoll_waiters.load(Relaxed) > 0 {
        return;
    }
    if crate::foreign::foreign_threads_may_wake() {
        crate::foreign::DEFERRED.store(true, Relaxed);
        return;
    }
    crate::lock::unlock(&s.lock);
    fatal_begin();
    write_err(b"fatal error: all goroutines are asleep - deadlock!\n");
    fatal_dump_and_exit(2)
}

/// Name of a G status as Go prints it in dumps.
pub fn status_name(st: u32) -> &'static str {
    grt_table::G_STATUS_NAMES.get((st & !G_SCAN) as usize).copied().unwrap_or("???")
}
