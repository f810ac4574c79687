//! Parks N goroutines (default 10,000) at the bottom of a short recursion,
//! prints "ready <pid>" and waits: the grt side of the dump benchmark
//! (scripts/bench-dump.sh; the Go twin is scripts/bench/many.go).
use std::io::Write;
use std::time::Duration;

#[inline(never)]
fn descend(n: u32, c: &grt::Chan<u32>) -> u32 {
    if n == 0 {
        return c.recv().unwrap_or(0);
    }
    descend(n - 1, c) + 1
}

fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    grt::run(move || {
        let c = grt::Chan::<u32>::new(0);
        for i in 0..n {
            let c = c.clone();
            grt::go(move || {
                std::hint::black_box(descend(i % 8, &c));
            });
        }
        grt::time::sleep(Duration::from_millis(200));
        println!("ready {}", std::process::id());
        let _ = std::io::stdout().flush();
        grt::time::sleep(Duration::from_secs(3600));
        drop(c);
    })
}
