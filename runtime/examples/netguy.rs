//! Seed 000's program (Go issue 9186), ported: N TCP pairs echo 100-byte
//! blocks, each goroutine recursing deeply before every read to grow its
//! stack, while the main goroutine calls gc() in a loop.
//!
//! Usage: netguy [pairs (100)] [seconds (forever)]
//!
//! One change from the Go original: all pairs are connected before any
//! echoer starts. Each echoer reads what it wrote itself over loopback, so
//! its reads never block and it yields only when sysmon preempts it; with
//! GOMAXPROCS=2 the main goroutine then waits in the global run queue for
//! seconds per pair. Go 1.19 behaves the same (measured here: the original
//! does not finish connecting 100 pairs in 30s at GOMAXPROCS=2; the seed
//! ran it at GOMAXPROCS=8).
use grt::net::{TcpListener, TcpStream};
use std::hint::black_box;
use std::time::{Duration, Instant};

static mut G: i64 = 0;

fn main() {
    let pairs: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(100);
    let seconds: Option<u64> = std::env::args().nth(2).and_then(|s| s.parse().ok());
    grt::run(move || {
        let mut conns = Vec::new();
        for _ in 0..pairs {
            let l = TcpListener::bind("127.0.0.1:0").expect("listen");
            let addr = l.local_addr().unwrap();
            let ch = grt::Chan::<TcpStream>::new(1);
            let ch2 = ch.clone();
            grt::go(move || ch2.send(TcpStream::connect(addr).expect("dial")));
            let (c2, _) = l.accept().expect("accept");
            let c1 = ch.recv().unwrap();
            drop(l);
            conns.push((std::sync::Arc::new(c1), std::sync::Arc::new(c2)));
        }
        for (c1, c2) in conns {
            let (r1, w1, r2, w2) = (c1.clone(), c2.clone(), c2.clone(), c1.clone());
            grt::go(move || netguy(&r1, &w1));
            grt::go(move || netguy(&r2, &w2));
            c1.write_all(&[0u8; 100]).unwrap();
        }
        println!("netguy: {} pairs up, pid {}", pairs, std::process::id());
        let start = Instant::now();
        loop {
            grt::gc();
            if seconds.is_some_and(|s| start.elapsed() >= Duration::from_secs(s)) {
                println!("netguy: {} gc cycles", grt::numgc());
                return;
            }
        }
    })
}

fn netguy(r: &TcpStream, w: &TcpStream) {
    let mut buf = [0u8; 100];
    loop {
        bigstack(1000);
        r.read_exact(&mut buf).expect("netguy: read");
        w.write_all(&buf).expect("netguy: write");
    }
}

#[inline(never)]
fn bigstack(n: i32) {
    let buf = black_box([0u8; 100]);
    if n > 0 {
        bigstack(n - 1);
    }
    // SAFETY: a racy global, exactly as in the Go original; only ever written.
    unsafe { G = buf[0] as i64 + buf[99] as i64 };
}
