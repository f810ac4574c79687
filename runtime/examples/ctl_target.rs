//! Targets for the inspector's control tests and benchmarks
//! (inspector/tests/control_*.rs, inspector/examples/ctlbench.rs). Each
//! mode prints "ready <pid>" once it is set up; modes that count wait for
//! a line on stdin ("go") after that, so the inspector can attach and arm
//! probes before the counted work starts.
//!
//! Usage: ctl_target <mode> [args]
//! - `spin N`: N goroutines spin on the CPU (yielding to the scheduler
//!   now and then); every 20 ms a line "count <total iterations>". Runs
//!   until killed.
//! - `gc G L K`: after "go": G calls to gc() while L goroutines each make
//!   K calls to `grt::syscall`; then "done gc=<gcs> syscalls=<calls>
//!   sum=<checksum> repairs=<probe repairs>" and exit 0 (exit 1 if the
//!   checksum is wrong).
//! - `exit CODE MS`: exits with CODE after MS milliseconds.
//! - `signals`: counts SIGUSR1 in a handler; "usr1 <n>" and exit 0 once
//!   one arrived (exit 1 after 20 s without).
//! - `wait`: goroutines parked on a channel and a timer; after "ready",
//!   "sem <address>" names a u16 the tests use as a probe semaphore.
//!   Runs until killed.
//! - `overflow`: after "go", a goroutine overflows its stack (SIGSEGV in
//!   the guard, "fatal error: stack overflow", exit 2).
//! - `trap`: after "go", raises SIGTRAP (not at a probe: the runtime dies
//!   of it as Go does, "SIGTRAP: trace trap", the goroutines, exit 2).
//! - `threads N`: N goroutines loop in blocking system calls, so the
//!   runtime keeps about N+3 threads; runs until killed.
//! - `newthreads N`: after "go", N goroutines loop in blocking system
//!   calls, so the runtime starts new threads; after 500 ms "threads
//!   <count>" and then runs until killed.
//! - `threadexit`: after "go", starts a plain thread that ends at once,
//!   joins it, prints "joined" and runs until killed.
//! - `churn N US`: N chains of plain OS threads, each thread sleeping US
//!   microseconds, starting the next and exiting, so that clone(2) is
//!   often in flight; an untraced link makes the rest of its chain
//!   untraced. Runs until killed.
//! - `hot`: after "go", one goroutine calls `grt::syscall(|| ())` in a
//!   loop (a probe hit per call when `entersyscall` is armed); every 100
//!   ms "calls <n>". Runs until killed.
//! - `pingpong S`: after "go", two goroutines pass a token over unbuffered
//!   channels for S seconds; then "pingpong <round trips>" and exit 0.
use grt::Chan;
use std::io::Write;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

static USR1: AtomicU64 = AtomicU64::new(0);
/// A stand-in semaphore for the tests (the runtime's probes have none).
static SEMAPHORE: AtomicU16 = AtomicU16::new(0);

fn ready() {
    println!("ready {}", std::process::id());
    let _ = std::io::stdout().flush();
}

/// Blocks (the thread, holding its P) until a line arrives on stdin. Not
/// through `grt::syscall`: its `entersyscall` probe would fire after
/// "ready", racing with a test that counts that probe from "go" on.
fn wait_go() {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

fn arg(i: usize, default: u64) -> u64 {
    std::env::args().nth(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    grt::run(move || match mode.as_str() {
        "spin" => spin(arg(2, 4)),
        "gc" => gc_and_syscalls(arg(2, 50), arg(3, 3), arg(4, 200)),
        "exit" => {
            ready();
            grt::time::sleep(Duration::from_millis(arg(3, 100)));
            std::process::exit(arg(2, 0) as i32);
        }
        "signals" => signals(),
        "wait" => {
            let c = Chan::<u32>::new(0);
            let c2 = c.clone();
            grt::go(move || {
                c2.recv();
            });
            grt::go(|| loop {
                grt::time::sleep(Duration::from_millis(50));
            });
            ready();
            println!("sem {:#x}", &SEMAPHORE as *const AtomicU16 as usize);
            let _ = std::io::stdout().flush();
            grt::time::sleep(Duration::from_secs(3600));
            drop(c);
        }
        "overflow" => {
            ready();
            wait_go();
            let c = Chan::<u64>::new(0);
            let c2 = c.clone();
            grt::go(move || c2.send(recurse(0)));
            c.recv();
        }
        "trap" => {
            ready();
            wait_go();
            // SAFETY: raise has no memory preconditions.
            unsafe { libc::raise(libc::SIGTRAP) };
            grt::time::sleep(Duration::from_millis(100));
            println!("trapped");
        }
        "threads" => {
            for _ in 0..arg(2, 14) {
                grt::go(|| loop {
                    grt::syscall(|| std::thread::sleep(Duration::from_millis(2)));
                });
            }
            grt::time::sleep(Duration::from_millis(300));
            ready();
            grt::time::sleep(Duration::from_secs(3600));
        }
        "newthreads" => {
            ready();
            wait_go();
            for _ in 0..arg(2, 4) {
                grt::go(|| loop {
                    grt::syscall(|| std::thread::sleep(Duration::from_millis(5)));
                });
            }
            grt::time::sleep(Duration::from_millis(500));
            let n = std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0);
            println!("threads {n}");
            let _ = std::io::stdout().flush();
            grt::time::sleep(Duration::from_secs(3600));
        }
        "threadexit" => {
            ready();
            wait_go();
            let _ = grt::syscall(|| std::thread::spawn(|| ()).join());
            println!("joined");
            let _ = std::io::stdout().flush();
            grt::time::sleep(Duration::from_secs(3600));
        }
        "churn" => {
            static PAUSE_US: AtomicU64 = AtomicU64::new(0);
            fn link() {
                std::thread::sleep(Duration::from_micros(PAUSE_US.load(Relaxed)));
                std::thread::spawn(link);
            }
            PAUSE_US.store(arg(2, 100), Relaxed);
            for _ in 0..arg(1, 4) {
                std::thread::spawn(link);
            }
            ready();
            grt::time::sleep(Duration::from_secs(3600));
        }
        "hot" => {
            ready();
            wait_go();
            let calls = Arc::new(AtomicU64::new(0));
            let c = calls.clone();
            grt::go(move || loop {
                grt::syscall(|| ());
                c.fetch_add(1, Relaxed);
            });
            loop {
                grt::time::sleep(Duration::from_millis(100));
                println!("calls {}", calls.load(Relaxed));
                let _ = std::io::stdout().flush();
            }
        }
        "pingpong" => pingpong(arg(2, 2)),
        other => {
            eprintln!("ctl_target: unknown mode {other:?}");
            std::process::exit(64);
        }
    })
}

#[inline(never)]
fn recurse(n: u64) -> u64 {
    let pad = std::hint::black_box([n; 64]);
    if n == u64::MAX {
        return pad[0];
    }
    recurse(n + 1) + pad[1]
}

fn spin(n: u64) {
    let total = Arc::new(AtomicU64::new(0));
    for _ in 0..n {
        let total = total.clone();
        grt::go(move || {
            let mut x = 1u64;
            loop {
                for _ in 0..20_000 {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                }
                std::hint::black_box(x);
                total.fetch_add(1, Relaxed);
                grt::yield_now();
            }
        });
    }
    ready();
    loop {
        grt::time::sleep(Duration::from_millis(20));
        println!("count {}", total.load(Relaxed));
        let _ = std::io::stdout().flush();
    }
}

fn gc_and_syscalls(gcs: u64, loopers: u64, calls: u64) {
    ready();
    wait_go();
    let gc0 = grt::numgc();
    let syscalls = Arc::new(AtomicU64::new(0));
    let sum = Arc::new(AtomicU64::new(0));
    let wg = Arc::new(grt::sync::WaitGroup::new());
    for l in 0..loopers {
        wg.add(1);
        let (syscalls, sum, wg) = (syscalls.clone(), sum.clone(), wg.clone());
        grt::go(move || {
            for i in 0..calls {
                // A short sleep now and then, so that sysmon hands some Ps off.
                let v = grt::syscall(|| {
                    if i % 16 == 0 {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    l * calls + i
                });
                sum.fetch_add(v, Relaxed);
                syscalls.fetch_add(1, Relaxed);
            }
            wg.done();
        });
    }
    for _ in 0..gcs {
        grt::gc();
    }
    wg.wait();
    let n = loopers * calls;
    let want = n * n.saturating_sub(1) / 2;
    let got = sum.load(Relaxed);
    println!(
        "done gc={} syscalls={} sum={} repairs={}",
        grt::numgc() - gc0,
        syscalls.load(Relaxed),
        got,
        grt::internal::PROBE_REPAIRS.load(Relaxed)
    );
    let _ = std::io::stdout().flush();
    if got != want {
        eprintln!("ctl_target: checksum {got} != {want}");
        std::process::exit(1);
    }
}

extern "C" fn on_usr1(_: i32) {
    USR1.fetch_add(1, Relaxed);
}

fn signals() {
    // SAFETY: installs a handler that only touches an atomic.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, core::ptr::null_mut());
    }
    ready();
    let t = Instant::now();
    while USR1.load(Relaxed) == 0 {
        if t.elapsed() > Duration::from_secs(20) {
            println!("usr1 0");
            std::process::exit(1);
        }
        grt::time::sleep(Duration::from_millis(5));
    }
    println!("usr1 {}", USR1.load(Relaxed));
}

fn pingpong(secs: u64) {
    ready();
    wait_go();
    let (ping, pong) = (Chan::<u64>::new(0), Chan::<u64>::new(0));
    let (ping2, pong2) = (ping.clone(), pong.clone());
    grt::go(move || {
        while let Some(v) = ping2.recv() {
            pong2.send(v + 1);
        }
    });
    let t = Instant::now();
    let mut n = 0u64;
    let mut v = 0u64;
    while t.elapsed() < Duration::from_secs(secs) {
        for _ in 0..256 {
            ping.send(v);
            v = pong.recv().unwrap();
            n += 1;
        }
    }
    assert_eq!(v, n, "ctl_target: the token lost a step");
    println!("pingpong {n}");
    let _ = std::io::stdout().flush();
}
