//! grt: a Go-style M:N runtime for Rust whose internals can be watched and
//! stepped from outside the process.
//!
//! ```no_run
//! // In `fn main`:
//! grt::run(|| {
//!     let c = grt::Chan::new(0);
//!     let c2 = c.clone();
//!     grt::go(move || c2.send(42));
//!     assert_eq!(c.recv(), Some(42));
//! })
//! ```
//!
//! `run` makes the calling thread M0 and runs `main` as goroutine 1; the
//! program exits when it returns, as in Go. Goroutines (`go`) are stackful
//! coroutines scheduled on GOMAXPROCS processors (`GRT_MAXPROCS`, default
//! the CPU count, changeable with [`gomaxprocs`]). Channels, [`select!`],
//! timers ([`time`]: `sleep`, `after`, `Timer`, `Ticker`, `after_func`),
//! [`context`] (cancellation and deadlines), `sync::{Mutex, WaitGroup}`
//! and `net::{TcpListener, TcpStream}` park goroutines, not threads; wrap
//! other blocking system calls in [`syscall`] so the processor is handed
//! off meanwhile.
//!
//! The runtime's records live in a shared memory status table (memfd
//! `grt-status`) that `grt-tui` reads live; see ARCHITECTURE.md and
//! runtime/HACKING.md.
//!
//! Rules for goroutine code: do not keep thread-locals across a park point
//! (a goroutine may resume on another thread); do not spin without calling
//! into the runtime (scheduling is cooperative at runtime calls; use
//! [`yield_now`] in long loops); a panic that escapes a goroutine ends the
//! program with a Go-style report.
//!
//! Environment: `GRT_MAXPROCS`, `GRT_BUGS` (race switches), `GRT_STACK_SIZE`
//! (bytes per goroutine stack, suffix K/M allowed; default 1M), `GRT_MAXG`
//! (capacity of the goroutine table; default 2M), `GRT_STACK_GUARD=mprotect`
//! (force PROT_NONE stack guards).

#![allow(clippy::missing_safety_doc)]

// The runtime's modules are private: a program sees what the crate root
// re-exports and the `time`, `sync`, `context` and `net` modules; the
// runtime's own tests and examples reach further through `internal`.
mod asm;
mod bugs;
mod chan;
pub mod context;
mod fatal;
mod foreign;
mod lock;
mod lockrank;
mod mgc;
mod mgcsweep;
mod mheap;
pub mod net;
mod netpoll;
mod os;
mod probe;
mod probesites;
mod proc;
mod recptr;
mod select;
mod sema;
mod signal;
mod stack;
mod status;
mod stw;
pub mod sync;
mod syscall;
mod sysmon;
pub mod time;
mod traceback;

pub use chan::{Chan, Iter, TryRecvError, TrySendError};
pub use mgc::gc;
pub use proc::go;
pub use syscall::{syscall, syscall_blocking};

pub(crate) use os::eprint_raw;

/// What `select!` expands to. Not an API.
#[doc(hidden)]
pub mod __select {
    pub use crate::select::{block_forever, selectgo, RecvCase, SelectChan, SendCase};
}

/// The runtime's insides, for its own tests and examples only (Go's
/// `export_test.go`): the status table and its records, the last recovered
/// panic, the count of probe sites repaired. Not an API: it changes without
/// notice. Read records through it; never write one: the runtime trusts
/// every record pointer in the table (see `recptr.rs`).
#[doc(hidden)]
pub mod internal {
    pub use crate::context::children_of as context_children;
    pub use crate::fatal::last_panic;
    pub use crate::proc::{preempt_requested, request_preempt};
    pub use crate::signal::PROBE_REPAIRS;
    pub use crate::status::{mheap, sched, table, Table};
}

use core::sync::atomic::AtomicBool;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};

/// Stack size of the runtime's own threads (their scheduler context, g0).
pub(crate) const G0_STACK_SIZE: usize = 1 << 20;

/// Runtime settings read from the environment.
#[derive(Debug, Clone)]
struct Config {
    pub procs: i32,
    pub bugs: u64,
    pub stack_size: u64,
    pub maxg: u64,
    pub guard_mprotect: bool,
}

fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let (num, mul) = match v.as_bytes().last()? {
        b'k' | b'K' => (&v[..v.len() - 1], 1024),
        b'm' | b'M' => (&v[..v.len() - 1], 1024 * 1024),
        b'g' | b'G' => (&v[..v.len() - 1], 1024 * 1024 * 1024),
        _ => (v, 1),
    };
    num.trim().parse::<u64>().ok().map(|n| n * mul)
}

impl Config {
    /// Reads `GRT_*` variables; a bad value is an error naming the variable.
    fn from_env() -> Result<Config, String> {
        let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as i32;
        let procs = match std::env::var("GRT_MAXPROCS") {
            Ok(v) => match v.trim().parse::<i32>() {
                Ok(n) if n >= 1 && n as u64 <= status::MAX_GOMAXPROCS => n,
                _ => {
                    return Err(format!("grt: GRT_MAXPROCS={v:?} is not a number from 1 to {}", status::MAX_GOMAXPROCS))
                }
            },
            Err(_) => ncpu,
        };
        let bugs = bugs::parse(&std::env::var("GRT_BUGS").unwrap_or_default())?;
        let stack_size = match std::env::var("GRT_STACK_SIZE") {
            Ok(v) => match parse_size(&v) {
                Some(n) if (16 * 1024..=(1 << 30)).contains(&n) => n,
                _ => return Err(format!("grt: GRT_STACK_SIZE={v:?} is not a size from 16K to 1G")),
            },
            Err(_) => 1 << 20,
        };
        let maxg = match std::env::var("GRT_MAXG") {
            Ok(v) => match v.trim().parse::<u64>() {
                Ok(n) if (1024..=(1 << 26)).contains(&n) => n,
                _ => return Err(format!("grt: GRT_MAXG={v:?} is not a number from 1024 to 67108864")),
            },
            Err(_) => 2 << 20,
        };
        let guard_mprotect = match std::env::var("GRT_STACK_GUARD").as_deref() {
            Ok("mprotect") => true,
            Ok("madvise") | Ok("") | Err(_) => false,
            Ok(v) => return Err(format!("grt: GRT_STACK_GUARD={v:?} must be madvise or mprotect")),
        };
        Ok(Config { procs, bugs, stack_size, maxg, guard_mprotect })
    }
}

static STARTED: AtomicBool = AtomicBool::new(false);

/// Starts the runtime on the calling thread and runs `main` as goroutine 1.
/// The process exits with status 0 when `main` returns (2 on a fatal error
/// or an escaped panic), as a Go program does. Call it once, from `main`.
#[track_caller]
pub fn run<F>(main: F) -> !
where
    F: FnOnce() + Send + 'static,
{
    if STARTED.swap(true, SeqCst) {
        panic!("grt::run called twice");
    }
    let cfg = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = schedinit(&cfg) {
        eprintln!("grt: cannot start the runtime: {e}");
        std::process::exit(2);
    }
    // Goroutine 1.
    let site = status::intern_location(core::panic::Location::caller());
    let pc = asm::current_pc();
    proc::go_with_site(main, pc, site);
    status::table().publish();
    proc::MAIN_STARTED.store(true, SeqCst);
    proc::newm(proc::MStart::Sysmon, None);
    proc::mstart0(proc::getm().get())
}

fn schedinit(cfg: &Config) -> Result<(), String> {
    lock::NCPU.store(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as i32, Relaxed);
    bugs::set(cfg.bugs);
    let caps = status::Capacities::for_maxg(cfg.maxg);
    status::create(&caps, cfg.bugs, grt_table::header::FLAG_DEBUG * cfg!(debug_assertions) as u64, cfg.stack_size)?;
    status::init_sites();
    let s = status::sched();
    s.maxmcount.store(10_000, Relaxed);
    s.ncpu.store(lock::NCPU.load(Relaxed), Relaxed);
    mheap::init()?;
    stack::init(cfg.stack_size, cfg.guard_mprotect);
    if stack::guard_is_madvise() {
        status::table().set_flag(grt_table::header::FLAG_GUARD_MADVISE);
    }
    netpoll::init()?;
    fatal::install_panic_hook();
    signal::init();
    signal::start_signal_thread();
    let m0 = proc::allocm(grt_table::mrole::MAIN);
    proc::setm_for_start(m0);
    lock::lock(&s.lock);
    let runnable = stw::procresize(cfg.procs);
    lock::unlock(&s.lock);
    if !runnable.is_null() {
        return Err("procresize at start found runnable Ps".into());
    }
    Ok(())
}

/// Panics with one line naming `api` (as `grt::Chan::new`) unless
/// `grt::run` has started the runtime: the one check every API that needs
/// the runtime makes first, so none dereferences a table that does not
/// exist yet.
#[track_caller]
#[inline]
pub(crate) fn need_runtime(api: &str) {
    if !status::table_ready() {
        runtime_not_started(api)
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn runtime_not_started(api: &str) -> ! {
    panic!("grt::{api} called outside grt::run (start the program with grt::run)")
}

/// How long `main` returning waits for panics still unwinding in other
/// goroutines (Go's bounded wait on `runningPanicDefers` in `main`).
const PANIC_WAIT_NS: i64 = 100_000_000;

/// goroutine 1 returned: exit the process with status 0, unless a fatal
/// error is being reported (then this goroutine freezes and the report
/// ends the process with status 2, as Go's `main` waits while
/// `panicking`). A panic another goroutine began and has not finished
/// unwinding is waited for a moment first: if it escapes, it is fatal.
pub(crate) fn exit_main() -> ! {
    use std::io::Write;
    let t0 = os::nanotime();
    while fatal::PANICS_IN_FLIGHT.load(SeqCst) > 0 && !fatal::throwing() && os::nanotime() - t0 < PANIC_WAIT_NS {
        time::sleep(core::time::Duration::from_micros(200));
    }
    if fatal::throwing() {
        fatal::freeze_self();
    }
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let h = status::table().header();
    h.exit_code.store(0, Relaxed);
    h.exiting.store(1, SeqCst);
    // SAFETY: exit runs atexit handlers and ends the process.
    unsafe { libc::exit(0) }
}

/// Sets GOMAXPROCS to `n` and returns the previous value; `n < 1` only
/// queries. Changing it stops the world briefly.
#[track_caller]
pub fn gomaxprocs(n: i32) -> i32 {
    need_runtime("gomaxprocs");
    stw::set_gomaxprocs(n)
}

/// Yields the processor to other goroutines (Go's runtime.Gosched); on a
/// thread that is not a goroutine, yields the thread.
pub fn yield_now() {
    if proc::in_goroutine() {
        proc::gosched();
    } else {
        std::thread::yield_now();
    }
}

/// The number of goroutines that exist (Go's runtime.NumGoroutine); 0
/// before `run`.
pub fn num_goroutine() -> i64 {
    if !status::table_ready() {
        return 0;
    }
    status::sched().ngoroutines.load(Relaxed)
}

/// The current goroutine's id (0 outside goroutines).
pub fn goid() -> u64 {
    let gp = proc::getg();
    if gp.is_null() {
        0
    } else {
        gp.get().goid.load(Relaxed)
    }
}

/// Completed GC cycles.
pub fn numgc() -> u64 {
    if !status::table_ready() {
        return 0;
    }
    status::sched().numgc.load(Relaxed)
}
