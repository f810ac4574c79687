//! Inspector test target: a goroutine that never reaches a safe point.
//!
//! `insp_spin` prints `ready <pid>`, then starts:
//! - a goroutine spinning in plain computation (no runtime call at all),
//!   which prints `spinning <goid>` once it has spun for 1.5 s, so a test
//!   that reads the table after that line sees it running for more than a
//!   second without a safe point (the dump's threshold);
//! - a goroutine looping on a buffered channel, which never parks but
//!   reaches a safe point at every operation (sysmon preempts it);
//! - main, sleeping.
//!
//! Run it with GRT_MAXPROCS >= 2: the spinner keeps one P for good. Killed
//! by the test.
use grt::Chan;
use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

fn main() {
    grt::run(|| {
        println!("ready {}", std::process::id());
        std::io::stdout().flush().unwrap();
        grt::go(|| {
            let c = Chan::<u64>::new(1);
            let mut n = 0u64;
            loop {
                c.send(n);
                n = black_box(c.recv().unwrap_or(0)).wrapping_add(1);
            }
        });
        grt::go(|| {
            let goid = grt::goid();
            let t0 = Instant::now();
            let mut said = false;
            let mut x = 0u64;
            loop {
                for _ in 0..100_000 {
                    x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
                // Reading the clock and writing a line are not runtime
                // calls: the goroutine still reaches no safe point.
                if !said && t0.elapsed() > Duration::from_millis(1500) {
                    said = true;
                    println!("spinning {goid}");
                    std::io::stdout().flush().unwrap();
                }
            }
        });
        loop {
            grt::time::sleep(Duration::from_secs(3600));
        }
    })
}
