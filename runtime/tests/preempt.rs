//! Cooperative preemption (issue 11), in-process at GOMAXPROCS=1, where a
//! goroutine that never yields starves every other one:
//! - a preemption request is honoured exactly at the runtime calls where
//!   a goroutine may already park (blocking channel operations and
//!   select, `Mutex::lock`, `WaitGroup::wait`, `sleep`, `yield_now`) and
//!   nowhere else (`try_send`, `try_recv`, `select!` with `default`,
//!   `try_lock`, `after`, ...): code may hold thread-affine state across
//!   those;
//! - sysmon makes the request of a goroutine that ran 10ms, so a loop of
//!   channel operations or locks that never park is preempted and the
//!   goroutine it starved runs.
//!
//! One runtime runs every test (`harness = false`, as semantics.rs);
//! arguments that do not start with `-` filter by substring. A watchdog
//! thread fails the run if a test hangs (without preemption the sysmon
//! tests never end).

use grt::sync::{Mutex, WaitGroup};
use grt::Chan;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Test = (&'static str, fn());

const TESTS: &[Test] = &[
    ("request_is_honoured_where_a_goroutine_may_park", request_is_honoured_where_a_goroutine_may_park),
    ("request_is_ignored_where_a_goroutine_cannot_park", request_is_ignored_where_a_goroutine_cannot_park),
    ("sysmon_preempts_a_loop_of_channel_ops_that_never_park", sysmon_preempts_a_loop_of_channel_ops),
    ("sysmon_preempts_a_loop_of_select_that_never_parks", sysmon_preempts_a_loop_of_select),
    ("sysmon_preempts_a_loop_of_uncontended_locks", sysmon_preempts_a_loop_of_locks),
];

/// How long a test may take before the watchdog ends the run. Not a
/// measurement: with preemption each test takes milliseconds; without it
/// a starved goroutine never runs at all.
const HANG: Duration = Duration::from_secs(60);

fn main() {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let current = Arc::new(AtomicU64::new(u64::MAX));
    let watched = current.clone();
    std::thread::spawn(move || {
        let mut last = (u64::MAX, Instant::now());
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = watched.load(Ordering::SeqCst);
            if now != last.0 {
                last = (now, Instant::now());
            } else if now != u64::MAX && last.1.elapsed() > HANG {
                println!("test {} ... FAILED\n    hung for {HANG:?}: a goroutine was never preempted", TESTS[now as usize].0);
                println!("\ntest result: FAILED.");
                std::process::exit(101);
            }
        }
    });
    grt::run(move || {
        grt::gomaxprocs(1);
        let mut failed = Vec::new();
        let mut ran = 0;
        for (i, (name, f)) in TESTS.iter().enumerate() {
            if !filters.is_empty() && !filters.iter().any(|flt| name.contains(flt.as_str())) {
                continue;
            }
            current.store(i as u64, Ordering::SeqCst);
            ran += 1;
            let t = Instant::now();
            match std::panic::catch_unwind(f) {
                Ok(()) => println!("test {name} ... ok ({:.2?})", t.elapsed()),
                Err(_) => {
                    let (msg, loc) = grt::internal::last_panic().unwrap_or_default();
                    println!("test {name} ... FAILED\n    {msg}\n    at {loc}");
                    failed.push(*name);
                }
            }
        }
        current.store(u64::MAX, Ordering::SeqCst);
        println!(
            "\ntest result: {}. {} passed; {} failed",
            if failed.is_empty() { "ok" } else { "FAILED" },
            ran - failed.len(),
            failed.len()
        );
        std::process::exit(if failed.is_empty() { 0 } else { 101 });
    })
}

/// With a preemption request pending, runs `op` and says whether it
/// yielded: only the scheduler clears the request (the safe point that
/// honours it, or the goroutine being scheduled again after a park).
/// Leaves no request pending.
fn yields(op: &dyn Fn()) -> bool {
    grt::internal::request_preempt();
    assert!(grt::internal::preempt_requested());
    op();
    let yielded = !grt::internal::preempt_requested();
    if !yielded {
        grt::yield_now();
        assert!(!grt::internal::preempt_requested(), "scheduling clears the request");
    }
    yielded
}

fn request_is_honoured_where_a_goroutine_may_park() {
    let c = Chan::<u32>::new(1);
    let m = Mutex::new(0u32);
    let wg = WaitGroup::new();
    let select_ready = || {
        grt::select! {
            recv(c) -> v => assert_eq!(v, Some(2)),
        }
    };
    let cases: [(&str, &dyn Fn()); 7] = [
        ("send on a buffered channel with room", &|| c.send(1)),
        ("receive of a buffered value", &|| assert_eq!(c.recv(), Some(1))),
        ("blocking select with a ready case", &|| {
            c.try_send(2).unwrap();
            select_ready()
        }),
        ("uncontended Mutex::lock", &|| *m.lock() += 1),
        ("WaitGroup::wait at zero", &|| wg.wait()),
        ("sleep(0)", &|| grt::time::sleep(Duration::ZERO)),
        ("yield_now", &|| grt::yield_now()),
    ];
    for (what, op) in cases {
        assert!(yields(op), "{what} did not honour a preemption request");
    }
}

fn request_is_ignored_where_a_goroutine_cannot_park() {
    let c = Chan::<u32>::new(1);
    let full = Chan::<u32>::new(1);
    full.send(0);
    let m = Mutex::new(0u32);
    let wg = WaitGroup::new();
    let select_default_nothing_ready = || {
        grt::select! {
            recv(c) -> _ => panic!("nothing was sent"),
            default => {},
        }
    };
    let select_default_ready = || {
        grt::select! {
            send(c, 5) => {},
            default => panic!("the channel has room"),
        }
    };
    let ops: [(&str, &dyn Fn()); 12] = [
        ("try_send with room", &|| c.try_send(1).unwrap()),
        ("try_recv of a value", &|| assert_eq!(c.try_recv(), Ok(1))),
        ("try_recv on an empty channel", &|| assert!(c.try_recv().is_err())),
        ("try_send on a full channel", &|| assert!(full.try_send(1).is_err())),
        ("select! with default, nothing ready", &select_default_nothing_ready),
        ("select! with default and a ready case", &|| {
            select_default_ready();
            assert_eq!(c.try_recv(), Ok(5))
        }),
        ("len", &|| assert_eq!(full.len(), 1)),
        ("try_lock and unlock", &|| drop(m.try_lock().unwrap())),
        ("WaitGroup add and done", &|| {
            wg.add(1);
            wg.done()
        }),
        ("close", &|| Chan::<u8>::new(0).close()),
        ("after", &|| drop(grt::time::after(Duration::from_secs(3600)))),
        ("go", &|| grt::go(|| {})),
    ];
    for (what, op) in ops {
        assert!(!yields(op), "{what} yielded: it is not a place where a goroutine may park");
    }
}

/// Starts a goroutine spinning on `op` and waits until it has run, then
/// until a goroutine started after it has run: each needs the spinner to
/// give the only P up, which it does only when preempted at `op` (it never
/// parks). Returns how many times it ran `op`.
fn starve_with(op: impl Fn() + Send + 'static) -> u64 {
    let started = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Chan::<u64>::new(1);
    let (st, s, d) = (started.clone(), stop.clone(), done.clone());
    grt::go(move || {
        st.store(true, Ordering::SeqCst);
        let mut n = 0u64;
        while !s.load(Ordering::SeqCst) {
            op();
            n += 1;
        }
        d.send(n);
    });
    while !started.load(Ordering::SeqCst) {
        grt::yield_now();
    }
    let s = stop.clone();
    grt::go(move || s.store(true, Ordering::SeqCst));
    done.recv().unwrap()
}

fn sysmon_preempts_a_loop_of_channel_ops() {
    let c = Chan::<u64>::new(1);
    let n = starve_with(move || {
        c.send(1);
        std::hint::black_box(c.recv());
    });
    assert!(n > 0);
}

fn sysmon_preempts_a_loop_of_select() {
    let c = Chan::<u64>::new(1);
    let n = starve_with(move || {
        c.send(1);
        grt::select! {
            recv(c) -> v => { std::hint::black_box(v); },
        }
    });
    assert!(n > 0);
}

fn sysmon_preempts_a_loop_of_locks() {
    let m = Arc::new(Mutex::new(0u64));
    let n = starve_with(move || *m.lock() += 1);
    assert!(n > 0);
}
