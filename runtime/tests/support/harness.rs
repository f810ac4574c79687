//! The in-process test harness of the toolkit tests (`toolkit_*.rs`): one
//! runtime runs every test as goroutine code, once at GOMAXPROCS 1 and once
//! at 4 (set with `grt::gomaxprocs` between rounds), and the process exits
//! non-zero if any failed. `grt::run` never returns, so these are
//! `harness = false` tests; arguments that do not start with `-` filter
//! tests by substring, as libtest does. A watchdog thread ends the process,
//! naming the test, if one runs longer than `TEST_TIMEOUT`.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub type Test = (&'static str, fn());

/// A test that takes longer than this hangs.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The GOMAXPROCS values every test runs under.
pub const PROCS: [i32; 2] = [1, 4];

static CURRENT: AtomicUsize = AtomicUsize::new(usize::MAX);
static STARTED_MS: AtomicU64 = AtomicU64::new(0);

pub fn main(tests: &'static [Test]) -> ! {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let epoch = Instant::now();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(500));
        let i = CURRENT.load(Ordering::SeqCst);
        let started = Duration::from_millis(STARTED_MS.load(Ordering::SeqCst));
        if i != usize::MAX && epoch.elapsed().saturating_sub(started) > TEST_TIMEOUT {
            eprintln!("test {} ... TIMED OUT after {TEST_TIMEOUT:?}", tests[i].0);
            std::process::exit(102);
        }
    });
    grt::run(move || {
        let mut failed = Vec::new();
        let mut ran = 0;
        for procs in PROCS {
            grt::gomaxprocs(procs);
            for (i, (name, f)) in tests.iter().enumerate() {
                if !filters.is_empty() && !filters.iter().any(|flt| name.contains(flt.as_str())) {
                    continue;
                }
                ran += 1;
                STARTED_MS.store(epoch.elapsed().as_millis() as u64, Ordering::SeqCst);
                CURRENT.store(i, Ordering::SeqCst);
                let t = Instant::now();
                let r = std::panic::catch_unwind(f);
                CURRENT.store(usize::MAX, Ordering::SeqCst);
                match r {
                    Ok(()) => println!("test {name} (GOMAXPROCS={procs}) ... ok ({:.2?})", t.elapsed()),
                    Err(_) => {
                        let (msg, loc) = grt::internal::last_panic().unwrap_or_default();
                        println!("test {name} (GOMAXPROCS={procs}) ... FAILED\n    {msg}\n    at {loc}");
                        failed.push(format!("{name} (GOMAXPROCS={procs})"));
                    }
                }
            }
        }
        println!(
            "\ntest result: {}. {} passed; {} failed",
            if failed.is_empty() { "ok" } else { "FAILED" },
            ran - failed.len(),
            failed.len()
        );
        for f in &failed {
            println!("    failed: {f}");
        }
        std::process::exit(if failed.is_empty() { 0 } else { 101 });
    })
}

/// Runs `f` on a goroutine and returns what it returns, or the message of
/// its panic (a panic escaping a goroutine would end the process).
pub fn in_goroutine<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    let c = grt::Chan::new(1);
    let c2 = c.clone();
    grt::go(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        c2.send(r.map_err(|_| grt::internal::last_panic().map(|(m, _)| m).unwrap_or_default()));
    });
    c.recv().unwrap()
}

/// Receives from `c`, failing the test if nothing comes within `secs`
/// (a bound for hangs, never a timing assertion).
pub fn recv_within<T: Send>(c: &grt::Chan<T>, secs: u64, what: &str) -> Option<T> {
    grt::select! {
        recv(c) -> v => v,
        recv(grt::time::after(Duration::from_secs(secs))) -> _ => panic!("{what}: nothing within {secs}s"),
    }
}

/// Timers in the runtime's heap (sleepers, timers, tickers, after_func).
pub fn ntimers() -> u32 {
    grt::internal::sched().ntimers.load(Ordering::SeqCst)
}

/// Waits (bounded) until the heap holds at most `n` timers: timers of a
/// finished test may still be retiring on another thread.
pub fn wait_ntimers_at_most(n: u32, what: &str) {
    let t = Instant::now();
    while ntimers() > n {
        if t.elapsed() > Duration::from_secs(20) {
            panic!("{what}: {} timers in the heap, want at most {n}", ntimers());
        }
        grt::time::sleep(Duration::from_millis(1));
    }
}

/// A small deterministic pseudo-random sequence (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
