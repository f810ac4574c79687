//! Inspector test target: a fixed, known set of parked goroutines, so that
//! the inspector's live tests can check what they decode.
//!
//! `insp_parked N` starts, and keeps parked until killed:
//! - N goroutines receiving on one shared unbuffered `Chan<u64>` (its recvq
//!   holds N sudogs, each elem on its goroutine's stack);
//! - N/2 goroutines sending on another shared `Chan<u64>` (sendq of N/2);
//! - 1 goroutine in a select over two channels nobody uses;
//! - 3 goroutines sleeping for an hour;
//! - 2 goroutines waiting for a `sync::Mutex` that main holds;
//! - main (goroutine 1) sleeping, holding the mutex.
//!
//! Prints `ready <pid>` once every goroutine has started, then
//! `line shared <L>` with the source line that made the shared channel.
use grt::sync::{Mutex, WaitGroup};
use grt::Chan;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(100);
    grt::run(move || {
        let wg = Arc::new(WaitGroup::new());
        let shared_line = line!() + 1;
        let shared = Chan::<u64>::new(0);
        for _ in 0..n {
            let (c, wg) = (shared.clone(), wg.clone());
            wg.add(1);
            grt::go(move || {
                wg.done();
                std::hint::black_box(c.recv());
            });
        }
        let sink = Chan::<u64>::new(0);
        for i in 0..n / 2 {
            let (c, wg) = (sink.clone(), wg.clone());
            wg.add(1);
            grt::go(move || {
                wg.done();
                c.send(i as u64);
            });
        }
        let (a, b) = (Chan::<u32>::new(0), Chan::<String>::new(0));
        {
            let (a, b, wg) = (a.clone(), b.clone(), wg.clone());
            wg.add(1);
            grt::go(move || {
                wg.done();
                grt::select! {
                    recv(a) -> _ => {},
                    recv(b) -> _ => {},
                }
            });
        }
        for _ in 0..3 {
            let wg = wg.clone();
            wg.add(1);
            grt::go(move || {
                wg.done();
                grt::time::sleep(Duration::from_secs(3600));
            });
        }
        let mu = Arc::new(Mutex::new(0u64));
        let guard = mu.lock();
        for _ in 0..2 {
            let (mu, wg) = (mu.clone(), wg.clone());
            wg.add(1);
            grt::go(move || {
                wg.done();
                *mu.lock() += 1;
            });
        }
        wg.wait();
        grt::time::sleep(Duration::from_millis(20));
        println!("ready {}", std::process::id());
        println!("line shared {shared_line}");
        let _ = std::io::stdout().flush();
        grt::time::sleep(Duration::from_secs(3600));
        drop(guard);
        drop((shared, sink, a, b));
    })
}
