//! The target of the foreachp-stopwait race (seed 002, Go issue 10618):
//! goroutines loop in short system calls while the main goroutine forces
//! GC cycles (stop-the-world, start-the-world, forEachP, ...) in a loop.
//!
//! Usage: foreachp [syscall goroutines (3)] [gc cycles (0 = forever)]
//! Run with GRT_BUGS=foreachp-stopwait for the historical forEachP.
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

static SYSCALLS: AtomicU64 = AtomicU64::new(0);

fn main() {
    let loopers: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let cycles: u64 = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    grt::run(move || {
        println!("foreachp: pid {} gomaxprocs {} loopers {}", std::process::id(), grt::gomaxprocs(0), loopers);
        for i in 0..loopers {
            grt::go(move || loop {
                // Short system calls; every third goroutine blocks a little longer,
                // so that sysmon takes its P and it comes back through the idle list.
                let us = if i % 3 == 2 { 2000 } else { 20 };
                grt::syscall(|| std::thread::sleep(Duration::from_micros(us)));
                SYSCALLS.fetch_add(1, Relaxed);
            });
        }
        let mut n = 0u64;
        loop {
            grt::gc();
            n += 1;
            if n.is_multiple_of(1000) {
                println!("foreachp: {n} gc cycles, {} syscalls", SYSCALLS.load(Relaxed));
            }
            if cycles != 0 && n >= cycles {
                println!("foreachp: {n} gc cycles done, {} syscalls", SYSCALLS.load(Relaxed));
                return;
            }
        }
    })
}
