//! The demo: keeps every kind of goroutine alive, checks its own work, and
//! runs until killed. `grt-tui demo` attaches to it.
//!
//! Alive at any time: a channel pipeline (senders and receivers, buffered
//! and unbuffered), a select loop with a timeout, sleepers, goroutines
//! waiting on a contended mutex, TCP echo pairs on the netpoller,
//! goroutines in blocking system calls, a goroutine parked deep in a
//! recursion, and a collector loop calling gc(). Every second it prints a
//! heartbeat; any wrong result panics, which ends the program with status 2.
use grt::sync::{Mutex, WaitGroup};
use grt::Chan;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

static MSGS: AtomicU64 = AtomicU64::new(0);
static ECHOES: AtomicU64 = AtomicU64::new(0);
static SYSCALLS: AtomicU64 = AtomicU64::new(0);
static LOCKS: AtomicU64 = AtomicU64::new(0);
static SELECTS: AtomicU64 = AtomicU64::new(0);

fn main() {
    let seconds: Option<u64> = std::env::args().nth(1).and_then(|s| s.parse().ok());
    grt::run(move || {
        println!("demo: pid {}", std::process::id());
        let _ = std::io::stdout().flush();
        pipeline();
        select_loop();
        sleepers();
        mutex_waiters();
        echo_pairs(4);
        syscallers();
        deep_parked(40);
        collector();
        let start = Instant::now();
        let mut check = Progress::new();
        let mut beat = Instant::now();
        loop {
            grt::time::sleep(TICK);
            check.tick(MSGS.load(Relaxed));
            if beat.elapsed() < Duration::from_secs(1) {
                continue;
            }
            beat = Instant::now();
            println!(
                "demo: t={}s goroutines={} msgs={} echoes={} syscalls={} locks={} selects={} gcs={}",
                start.elapsed().as_secs(),
                grt::num_goroutine(),
                MSGS.load(Relaxed),
                ECHOES.load(Relaxed),
                SYSCALLS.load(Relaxed),
                LOCKS.load(Relaxed),
                SELECTS.load(Relaxed),
                grt::numgc()
            );
            let _ = std::io::stdout().flush();
            if seconds.is_some_and(|s| start.elapsed().as_secs() >= s) {
                return;
            }
        }
    })
}

/// How often the pipeline's progress is sampled.
const TICK: Duration = Duration::from_millis(50);
/// Samples in a row without a message that mean the pipeline stopped: one
/// second of the checker's own sleeps.
const STALL_TICKS: u32 = 20;

/// The pipeline's self-check. It counts samples, not wall-clock time: a
/// sample that wakes late (the process was stopped by SIGSTOP or a
/// debugger's freeze, or starved of CPU) stands for the one tick it asked
/// for, because the pipeline was stopped or starved with it. Measuring a
/// whole-process stop as a pipeline stall killed the demo after a freeze
/// that began right after a check and outlasted the check period (issue 12).
struct Progress {
    last: u64,
    quiet: u32,
}

impl Progress {
    fn new() -> Progress {
        Progress { last: 0, quiet: 0 }
    }

    fn tick(&mut self, msgs: u64) {
        if msgs != self.last {
            self.last = msgs;
            self.quiet = 0;
            return;
        }
        self.quiet += 1;
        assert!(self.quiet < STALL_TICKS, "demo: the pipeline stopped");
    }
}

/// Producers -> unbuffered -> relays -> buffered -> consumers; sums checked.
fn pipeline() {
    let first = Chan::<u64>::new(0);
    let second = Chan::<u64>::new(8);
    for p in 0..3u64 {
        let c = first.clone();
        grt::go(move || {
            let mut i = 0u64;
            loop {
                c.send(p << 40 | i);
                i += 1;
                if i.is_multiple_of(64) {
                    grt::time::sleep(Duration::from_millis(5));
                }
            }
        });
    }
    for _ in 0..2 {
        let (a, b) = (first.clone(), second.clone());
        grt::go(move || {
            for v in &a {
                b.send(v);
            }
        });
    }
    for _ in 0..2 {
        let b = second.clone();
        grt::go(move || {
            let mut seen = [0u64; 3];
            for v in &b {
                let p = (v >> 40) as usize;
                assert!(p < 3, "demo: corrupt message {v:#x}");
                seen[p] += 1;
                MSGS.fetch_add(1, Relaxed);
            }
        });
    }
}

/// A select over two channels and a timeout.
fn select_loop() {
    let a = Chan::<u32>::new(0);
    let b = Chan::<u32>::new(0);
    let (a2, b2) = (a.clone(), b.clone());
    grt::go(move || loop {
        grt::time::sleep(Duration::from_millis(70));
        a2.send(1);
        grt::time::sleep(Duration::from_millis(130));
        b2.send(2);
    });
    grt::go(move || loop {
        grt::select! {
            recv(a) -> v => assert_eq!(v, Some(1)),
            recv(b) -> v => assert_eq!(v, Some(2)),
            recv(grt::time::after(Duration::from_millis(100))) -> _ => {}
        }
        SELECTS.fetch_add(1, Relaxed);
    });
}

fn sleepers() {
    for i in 1..=3u64 {
        grt::go(move || loop {
            grt::time::sleep(Duration::from_millis(250 * i));
        });
    }
}

/// One goroutine holds the mutex for a while; others queue on it.
fn mutex_waiters() {
    let m = Arc::new(Mutex::new(0u64));
    for k in 0..4 {
        let m = m.clone();
        grt::go(move || loop {
            let mut g = m.lock();
            *g += 1;
            LOCKS.fetch_add(1, Relaxed);
            if k == 0 {
                grt::time::sleep(Duration::from_millis(50));
            }
            drop(g);
            grt::time::sleep(Duration::from_millis(10));
        });
    }
}

/// TCP echo pairs over loopback; every reply is checked.
fn echo_pairs(n: usize) {
    let ln = grt::net::TcpListener::bind("127.0.0.1:0").expect("demo: bind");
    let addr = ln.local_addr().unwrap();
    grt::go(move || loop {
        let (s, _) = ln.accept().expect("demo: accept");
        grt::go(move || {
            let mut buf = [0u8; 64];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(k) => s.write_all(&buf[..k]).expect("demo: echo write"),
                }
            }
        });
    });
    for k in 0..n {
        grt::go(move || {
            let s = grt::net::TcpStream::connect(addr).expect("demo: connect");
            let mut i = 0u8;
            loop {
                let msg = [i ^ k as u8; 64];
                s.write_all(&msg).unwrap();
                let mut buf = [0u8; 64];
                s.read_exact(&mut buf).unwrap();
                assert_eq!(buf, msg, "demo: echo mismatch");
                ECHOES.fetch_add(1, Relaxed);
                i = i.wrapping_add(1);
                grt::time::sleep(Duration::from_millis(20));
            }
        });
    }
}

/// Goroutines in blocking system calls (sleeping in the kernel, reading a pipe).
fn syscallers() {
    for _ in 0..2 {
        grt::go(|| loop {
            grt::syscall(|| std::thread::sleep(Duration::from_millis(30)));
            SYSCALLS.fetch_add(1, Relaxed);
        });
    }
    let mut fds = [0i32; 2];
    // SAFETY: pipe fills two fds.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (r, w) = (fds[0], fds[1]);
    grt::go(move || loop {
        let mut b = [0u8; 1];
        // SAFETY: reads one byte into a local from our own pipe.
        let n = grt::syscall_blocking(|| unsafe { libc::read(r, b.as_mut_ptr() as *mut libc::c_void, 1) });
        assert_eq!(n, 1);
        SYSCALLS.fetch_add(1, Relaxed);
    });
    grt::go(move || loop {
        grt::time::sleep(Duration::from_millis(400));
        // SAFETY: writes one byte from a local to our own pipe.
        unsafe { libc::write(w, b"x".as_ptr() as *const libc::c_void, 1) };
    });
}

/// Recurses `n` levels, then parks on `c`.
///
/// Every level is a real frame in every profile: the local whose address
/// escapes keeps LLVM from turning the recursion into a loop (release did,
/// and the dump then showed one `descend` frame instead of 41).
#[inline(never)]
fn descend(n: u32, c: &Chan<u32>) -> u32 {
    if n == 0 {
        return c.recv().unwrap_or(0);
    }
    let mut level = n;
    std::hint::black_box(&mut level);
    descend(level - 1, c) + 1
}

/// A goroutine parked at the bottom of a deep recursion.
fn deep_parked(depth: u32) {
    let c = Chan::<u32>::new(0);
    let keep = c.clone();
    grt::go(move || {
        let r = descend(depth, &c);
        std::hint::black_box(r);
    });
    std::mem::forget(keep); // nobody ever sends: it stays parked
}

/// gc() every 500ms, plus a WaitGroup of short-lived workers each cycle.
fn collector() {
    grt::go(|| loop {
        grt::time::sleep(Duration::from_millis(500));
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..8 {
            wg.add(1);
            let wg = wg.clone();
            grt::go(move || {
                grt::yield_now();
                wg.done();
            });
        }
        wg.wait();
        grt::gc();
    });
}
