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
use core::sync::atomic::AtomicI64;
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

/// First thread into a fatal error wins and freezes the world (every other
/// thread stops where it is, see `signal::freeze_the_world`) before it
/// prints anything; any later one freezes too, so the report is never
/// interleaved with another report or with the program's own output.
fn fatal_begin() {
    if table_ready() && sched().throwing.swap(1, SeqCst) != 0 {
        freeze_self();
    }
    let mp = crate::proc::getm();
    if !mp.is_null() {
        mp.get().throwing.store(1, Relaxed);
    }
    crate::signal::freeze_the_world();
}

/// Whether a fatal error is being reported (Go's `panicking`/`sched.throwing`).
pub fn throwing() -> bool {
    table_ready() && sched().throwing.load(Relaxed) != 0
}

/// Stops the calling thread for good: a fatal error is being reported by
/// another thread, which ends the process.
pub fn freeze_self() -> ! {
    loop {
        os::usleep(1_000_000);
    }
}

/// Called by every M in `schedule` (Go's check of `freezing` there): once a
/// fatal error has frozen the world, no other goroutine may run (one
/// relaxed load of a static on the scheduler's path).
#[inline]
pub fn freeze_if_throwing() {
    if crate::signal::freezing() {
        let mp = crate::proc::getm();
        if mp.is_null() || mp.get().throwing.load(Relaxed) == 0 {
            freeze_self();
        }
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
        stack_copy: None,
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

// --- panics ------------------------------------------------------------------
//
// Panic state belongs to the goroutine, not the thread (a goroutine that
// parks while unwinding resumes on another thread, where other goroutines
// catch their own panics meanwhile). Each goroutine's bottom frame
// (`goroutine_main`) holds a `PanicState`; `G.panicrec` points at it while
// the body runs. Only the goroutine itself touches it: the panic hook (on
// the panicking goroutine), `last_panic` and `goroutine_main`; the scheduler
// orders its accesses across threads. Nothing else reads the address.

/// Panics whose hook ran on a goroutine and that are not known to be over:
/// neither escaped (that is fatal) nor recovered as far as the runtime can
/// tell (its goroutine returned normally, or `last_panic` took it). `main`
/// returning waits briefly while this is non-zero (Go's `runningPanicDefers`).
pub static PANICS_IN_FLIGHT: AtomicI64 = AtomicI64::new(0);

/// Most panic records a goroutine keeps (the newest ones): the escaping
/// panic and one caught inside a destructor while it unwound. Each holds a
/// copy of the live stack, so a goroutine that recovers many panics keeps
/// only these.
const PANIC_RECORDS: usize = 2;

/// Most stack bytes copied at a panic site.
const PANIC_STACK_COPY: u64 = 256 * 1024;

/// What the hook captured about one panic.
struct PanicRecord {
    msg: String,
    loc: String,
    /// Registers at the hook and a copy of the live stack above them,
    /// taken before unwinding overwrote it (for the dump if it is fatal).
    stack: Option<(u64, u64, u64, grt_symbols::SnapshotMemory)>,
}

/// One goroutine's panic state, in its bottom frame.
pub struct PanicState {
    /// Newest last.
    recs: core::cell::RefCell<Vec<PanicRecord>>,
    /// Of this goroutine's panics, how many count in PANICS_IN_FLIGHT.
    in_flight: core::cell::Cell<i64>,
}

impl PanicState {
    pub fn new() -> PanicState {
        PanicState { recs: core::cell::RefCell::new(Vec::new()), in_flight: core::cell::Cell::new(0) }
    }

    /// The goroutine's body returned: every panic it saw was recovered.
    pub fn retire(&self) {
        PANICS_IN_FLIGHT.fetch_sub(self.in_flight.replace(0), SeqCst);
    }
}

/// The current goroutine's panic state (None on g0 and foreign threads).
fn my_panic_state() -> Option<&'static PanicState> {
    let gp = getg();
    let addr = gp.opt()?.panicrec.get();
    // SAFETY: panicrec is set by goroutine_main of this very goroutine to a
    // PanicState in its bottom frame, which outlives every call made by the
    // body, and cleared before that frame goes away. Only this goroutine
    // reads it, so the shared reference is not used concurrently.
    (addr != 0).then(|| unsafe { &*(addr as *const PanicState) })
}

/// The text after "panic: " for a payload, as Go prints `panic(v)` for the
/// common kinds: strings as they are, numbers, bools and chars by their
/// value (`panic_any(42)` prints `panic: 42`). A `dyn Any` does not carry
/// its type's name, so any other payload is reported as one grt cannot
/// print, and why.
fn payload_message(p: &(dyn core::any::Any + Send)) -> String {
    macro_rules! shown {
        ($($t:ty),*) => {
            $(if let Some(v) = p.downcast_ref::<$t>() {
                return v.to_string();
            })*
        };
    }
    shown!(&str, String, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64, bool, char);
    "(panic payload of a type grt cannot print: not a string, number, bool or char)".to_string()
}

/// Installs the panic hook: panics on goroutines are reported Go-style when
/// they escape (and not at all if recovered); others go to the default hook.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let gp = getg();
        let Some(ps) = my_panic_state() else {
            default(info);
            return;
        };
        let regs = grt_symbols::capture_registers!();
        let msg = payload_message(info.payload());
        let loc = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        // Copy the live part of the stack now: unwinding will overwrite it.
        let hi = gp.get().stack_hi.get();
        let sp = regs.sp();
        let stack = (sp < hi && hi - sp <= (1 << 30)).then(|| {
            let len = (hi - sp).min(PANIC_STACK_COPY) as usize;
            let mut m = grt_symbols::SnapshotMemory::new();
            // SAFETY: [sp, sp+len) is the live part of this goroutine's own
            // stack (sp below hi, within its range), readable memory.
            let bytes = unsafe { core::slice::from_raw_parts(sp as *const u8, len) }.to_vec();
            m.add_region(sp, bytes);
            (regs.pc(), sp, regs.bp().unwrap_or(0), m)
        });
        PANICS_IN_FLIGHT.fetch_add(1, SeqCst);
        ps.in_flight.set(ps.in_flight.get() + 1);
        let mut recs = ps.recs.borrow_mut();
        if recs.len() == PANIC_RECORDS {
            recs.remove(0);
        }
        recs.push(PanicRecord { msg, loc, stack });
    }));
}

/// The message and location of the current goroutine's last panic, taken
/// (for test harnesses that recover panics; recovering is what taking it
/// says). None outside goroutines.
pub fn last_panic() -> Option<(String, String)> {
    let ps = my_panic_state()?;
    let r = ps.recs.borrow_mut().pop()?;
    if ps.in_flight.get() > 0 {
        ps.in_flight.set(ps.in_flight.get() - 1);
        PANICS_IN_FLIGHT.fetch_sub(1, SeqCst);
    }
    Some((r.msg, r.loc))
}

/// A panic escaped a goroutine: freeze the world, print "panic: ..." and
/// the goroutines (the panicking one from its stack at the panic site),
/// exit 2. The record is the newest of this goroutine's whose message is
/// the escaping payload's: a panic caught inside a destructor during the
/// unwinding is newer but not this one.
pub fn goroutine_panicked(payload: Box<dyn core::any::Any + Send>, ps: &PanicState) -> ! {
    let msg = payload_message(&*payload);
    let rec = {
        let mut recs = ps.recs.borrow_mut();
        let i = recs.iter().rposition(|r| r.msg == msg);
        i.map(|i| recs.remove(i))
    };
    let (loc, stack) = match rec {
        Some(r) => (r.loc, r.stack),
        None => (String::new(), None),
    };
    fatal_begin();
    crate::eprint_raw!("panic: {}\n", msg);
    if !loc.is_empty() {
        crate::eprint_raw!("\tat {}\n", loc);
    }
    write_err(b"\n");
    let crashed = match stack {
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
