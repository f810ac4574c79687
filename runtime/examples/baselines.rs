//! The workloads of shared/baselines on grt, printing the same line format:
//! `workload=<name> n=<N> ns_per_op=<X> procs=<P> [rss_bytes_per_op=<B>]`.
//!
//! Usage: baselines pingpong1|pingpong2|spawn|select|parked|buffered [n]
//! (run by scripts/bench-baselines.sh side by side with Go, may and tokio).
use grt::sync::WaitGroup;
use grt::Chan;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 || args.len() > 3 {
        eprintln!("usage: baselines pingpong1|pingpong2|spawn|select|parked|buffered [n]");
        std::process::exit(2);
    }
    let name = args[1].clone();
    let (procs, default_n): (i32, usize) = match name.as_str() {
        "pingpong1" => (1, 1_000_000),
        "pingpong2" => (2, 1_000_000),
        "spawn" => (2, 1_000_000),
        "select" => (2, 1_000_000),
        "parked" => (2, 100_000),
        "buffered" => (2, 10_000_000),
        _ => {
            eprintln!("unknown workload {name}");
            std::process::exit(2);
        }
    };
    let n = match args.get(2) {
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n >= 2 => n,
            _ => {
                eprintln!("bad n {s}");
                std::process::exit(2);
            }
        },
        None => default_n,
    };
    grt::run(move || {
        grt::gomaxprocs(procs);
        let (elapsed, extra) = match name.as_str() {
            "pingpong1" | "pingpong2" => pingpong(n),
            "spawn" => spawn(n),
            "select" => select_loop(n),
            "parked" => parked(n),
            "buffered" => buffered(n),
            _ => unreachable!(),
        };
        println!(
            "workload={name} n={n} ns_per_op={:.1} procs={procs} gcs={}{extra}",
            elapsed.as_nanos() as f64 / n as f64,
            grt::numgc()
        );
    })
}

fn pingpong(n: usize) -> (Duration, String) {
    let (ping, pong) = (Chan::<usize>::new(0), Chan::<usize>::new(0));
    {
        let (ping, pong) = (ping.clone(), pong.clone());
        grt::go(move || {
            for v in &ping {
                pong.send(v + 1);
            }
        });
    }
    let start = Instant::now();
    for i in 0..n {
        ping.send(i);
        if pong.recv() != Some(i + 1) {
            panic!("pingpong: wrong reply");
        }
    }
    let e = start.elapsed();
    ping.close();
    (e, String::new())
}

fn spawn(n: usize) -> (Duration, String) {
    let wg = Arc::new(WaitGroup::new());
    wg.add(n as i64);
    let start = Instant::now();
    for _ in 0..n {
        let wg = wg.clone();
        grt::go(move || wg.done());
    }
    wg.wait();
    (start.elapsed(), String::new())
}

fn select_loop(n: usize) -> (Duration, String) {
    let (a, b) = (Chan::<usize>::new(0), Chan::<usize>::new(0));
    let start = Instant::now();
    for (c, from, to) in [(a.clone(), 0, n / 2), (b.clone(), n / 2, n)] {
        grt::go(move || {
            for i in from..to {
                c.send(i);
            }
        });
    }
    let mut sum = 0usize;
    for _ in 0..n {
        grt::select! {
            recv(a) -> v => sum += v.unwrap(),
            recv(b) -> v => sum += v.unwrap(),
        }
    }
    let e = start.elapsed();
    if sum != n * (n - 1) / 2 {
        panic!("select: lost messages");
    }
    (e, String::new())
}

fn parked(n: usize) -> (Duration, String) {
    let before = rss_bytes();
    let ready = Arc::new(WaitGroup::new());
    let done = Arc::new(WaitGroup::new());
    ready.add(n as i64);
    done.add(n as i64);
    let mut chans = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let c = Chan::<usize>::new(0);
        chans.push(c.clone());
        let (ready, done) = (ready.clone(), done.clone());
        grt::go(move || {
            ready.done();
            c.recv();
            done.done();
        });
    }
    ready.wait();
    let e = start.elapsed();
    grt::time::sleep(Duration::from_millis(10));
    let rss = rss_bytes() - before;
    for c in &chans {
        c.send(1);
    }
    done.wait();
    (e, format!(" rss_bytes_per_op={}", rss / n as i64))
}

fn buffered(n: usize) -> (Duration, String) {
    let c = Chan::<usize>::new(128);
    let start = Instant::now();
    {
        let c = c.clone();
        grt::go(move || {
            for i in 0..n {
                c.send(i);
            }
            c.close();
        });
    }
    let mut sum = 0usize;
    for v in &c {
        sum += v;
    }
    let e = start.elapsed();
    if sum != n * (n - 1) / 2 {
        panic!("buffered: lost items");
    }
    (e, String::new())
}

fn rss_bytes() -> i64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    for line in s.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 3 && f[0] == "VmRSS:" {
            return f[1].parse::<i64>().unwrap() * 1024;
        }
    }
    panic!("no VmRSS in /proc/self/status");
}
