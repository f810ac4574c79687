//! Child programs for the runtime's process tests (like Go's
//! runtime/testdata/testprog): each subcommand sets up one situation and
//! the test observes what the runtime does from outside.
use grt::Chan;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

fn main() {
    let cmd = std::env::args().nth(1).unwrap_or_default();
    let arg: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    if cmd == "prerun" {
        return prerun(&std::env::args().nth(2).unwrap_or_default());
    }
    grt::run(move || match cmd.as_str() {
        "parked" => parked(arg),
        "overflow" => overflow(),
        "deadlock" => {
            let c = Chan::<i32>::new(0);
            c.recv();
        }
        "panic" => {
            let done = Chan::<()>::new(0);
            grt::go(|| panic!("boom from a goroutine"));
            done.recv();
        }
        "wait" => {
            println!("ready {}", std::process::id());
            std::io::stdout().flush().unwrap();
            let c = Chan::<i32>::new(0);
            let c2 = c.clone();
            grt::go(move || {
                c2.recv();
            });
            grt::time::sleep(Duration::from_secs(3600));
        }
        "panic_main_returns" => {
            grt::go(|| panic!("boom"));
            grt::time::sleep(Duration::from_millis(arg as u64));
            println!("main returned normally");
        }
        "panic_any" => {
            // Issue 11: common payload types print as Go prints them.
            let which = std::env::args().nth(2).unwrap_or_default();
            let done = Chan::<()>::new(0);
            grt::go(move || match which.as_str() {
                "int" => std::panic::panic_any(42i32),
                "u64" => std::panic::panic_any(u64::MAX),
                "float" => std::panic::panic_any(1.5f64),
                "bool" => std::panic::panic_any(true),
                "string" => std::panic::panic_any(String::from("owned words")),
                "char" => std::panic::panic_any('x'),
                _ => std::panic::panic_any(vec![1u8]),
            });
            done.recv();
        }
        "ticker" => ticker(arg == 1),
        "wrongpanic" => wrongpanic(),
        "maxstacks" => maxstacks(),
        "exit3" => std::process::exit(3),
        "ok" => println!("ok"),
        "gcloop" => {
            println!("ready {}", std::process::id());
            std::io::stdout().flush().unwrap();
            let mut line = String::new();
            grt::syscall(|| std::io::stdin().read_line(&mut line)).unwrap();
            for _ in 0..arg {
                grt::gc();
            }
            println!(
                "done {} repairs {}",
                grt::numgc(),
                grt::internal::PROBE_REPAIRS.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
        "deadlock_after_timer" => {
            // A timer that has fired must not switch deadlock detection off.
            grt::time::after(Duration::from_millis(10)).recv();
            Chan::<i32>::new(0).recv();
        }
        "deadlock_pending_timer" => {
            // Not a deadlock while the timer is pending; one once it fired.
            let _t = grt::time::after(Duration::from_millis(arg as u64));
            Chan::<i32>::new(0).recv();
        }
        "foreign_late_send" => {
            // A live std::thread may still wake main: no deadlock report.
            let c = Chan::<i32>::new(1);
            let c2 = c.clone();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(arg as u64));
                c2.try_send(7).unwrap();
            });
            println!("got {:?}", c.recv());
            t.join().unwrap();
        }
        "foreign_exits" => {
            // Once the only thread that could wake main is gone, it is one.
            let c = Chan::<i32>::new(0);
            let c2 = c.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(arg as u64));
                drop(c2);
            });
            c.recv();
        }
        "foreign_blocked" => {
            // A thread blocked in a grt receive nobody will satisfy cannot
            // wake main: a deadlock, reported while the thread still lives.
            let c = Chan::<i32>::new(0);
            let c2 = c.clone();
            std::thread::spawn(move || {
                c2.recv();
                println!("thread woke up");
            });
            Chan::<i32>::new(0).recv();
        }
        "thread_waiters" => {
            // Threads blocked in a channel receive and on a contended Mutex
            // (thread waiters in the table), for the inspector.
            let c = Chan::<i32>::new(0);
            let m = Arc::new(grt::sync::Mutex::new(()));
            let held = m.lock();
            let (c2, m2) = (c.clone(), m.clone());
            std::thread::spawn(move || {
                c2.recv();
            });
            std::thread::spawn(move || {
                drop(m2.lock());
            });
            grt::time::sleep(Duration::from_millis(100));
            println!("ready {}", std::process::id());
            std::io::stdout().flush().unwrap();
            grt::time::sleep(Duration::from_secs(3600));
            drop((held, c));
        }
        "foreign_select_forever" => {
            // A thread in `select! {}` can never wake anyone again.
            std::thread::spawn(|| grt::select! {});
            grt::time::sleep(Duration::from_millis(50));
            Chan::<i32>::new(0).recv();
        }
        "spin" => spin(),
        other => {
            eprintln!("testprog: unknown command {other:?}");
            std::process::exit(64);
        }
    })
}

/// Issue 11: a goroutine spinning with no runtime call, which prints
/// "spinning <goid>" once it has spun 1.5 s (so the test's SIGQUIT finds it
/// running more than a second without a safe point); main sleeps. Run with
/// GRT_MAXPROCS >= 2.
fn spin() {
    println!("ready {}", std::process::id());
    std::io::stdout().flush().unwrap();
    grt::go(|| {
        let (goid, t0) = (grt::goid(), std::time::Instant::now());
        let mut said = false;
        loop {
            std::hint::black_box(0u64);
            if !said && t0.elapsed() > Duration::from_millis(1500) {
                said = true;
                println!("spinning {goid}");
                std::io::stdout().flush().unwrap();
            }
        }
    });
    grt::time::sleep(Duration::from_secs(3600));
}

/// `n` goroutines parked receiving on their own channels, `n/2` parked
/// sending, one sleeping; prints "ready" and waits to be killed.
fn parked(n: usize) {
    let mut keep = Vec::new();
    let wg = Arc::new(grt::sync::WaitGroup::new());
    for i in 0..n {
        let c = Chan::<usize>::new(0);
        keep.push(c.clone());
        wg.add(1);
        let wg1 = wg.clone();
        grt::go(move || {
            wg1.done();
            c.recv();
        });
        if i % 2 == 0 {
            let c = Chan::<usize>::new(0);
            keep.push(c.clone());
            wg.add(1);
            let wg = wg.clone();
            grt::go(move || {
                wg.done();
                c.send(i);
            });
        }
    }
    wg.wait();
    grt::time::sleep(Duration::from_millis(50));
    println!("ready {}", std::process::id());
    std::io::stdout().flush().unwrap();
    grt::time::sleep(Duration::from_secs(3600));
    drop(keep);
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(n: u64, buf: &mut [u8; 256]) -> u64 {
    let mut local = [n as u8; 256];
    local[(n % 256) as usize] ^= buf[0];
    std::hint::black_box(&mut local);
    recurse(n + 1, &mut local) + local[3] as u64
}

fn overflow() {
    let done = Chan::<u64>::new(0);
    let d = done.clone();
    grt::go(move || {
        grt::time::sleep(Duration::from_millis(20)); // let main park first
        let mut b = [0u8; 256];
        d.send(recurse(0, &mut b));
    });
    done.recv();
}

/// Starts parked goroutines until `go` refuses one; reports where and
/// checks that the process still works afterwards.
fn maxstacks() {
    let mut n = 0usize;
    let mut keep = Vec::new();
    let msg = loop {
        let c = Chan::<()>::new(0);
        keep.push(c.clone());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            grt::go(move || {
                c.recv();
            })
        }));
        match r {
            Ok(()) => n += 1,
            Err(_) => break grt::internal::last_panic().map(|(m, _)| m).unwrap_or_default(),
        }
        if n.is_multiple_of(1000) {
            grt::yield_now();
        }
        if n > 2_000_000 {
            break "no refusal".to_string();
        }
    };
    // The rest of the process must still work: a thread, a big mapping.
    let t = std::thread::spawn(|| vec![1u8; 64 << 20].iter().map(|&b| b as u64).sum::<u64>()).join().unwrap();
    println!("refused after {n} goroutines: {msg}");
    println!("still alive: {}", t == 64 << 20);
    std::io::stdout().flush().unwrap();
    std::process::exit(0);
}

static URGS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Calls one API before `grt::run` (bug 6 of issue 11): it must either work
/// (prints "ok") or panic with one line naming it.
fn prerun(api: &str) {
    match api {
        "chan" => drop(Chan::<i32>::new(0)),
        "after" => drop(grt::time::after(Duration::from_millis(1))),
        "gomaxprocs" => drop(grt::gomaxprocs(2)),
        "gc" => grt::gc(),
        "select" => grt::select! {},
        "bind" => drop(grt::net::TcpListener::bind("127.0.0.1:0")),
        "connect" => drop(grt::net::TcpStream::connect("127.0.0.1:9")),
        "go" => grt::go(|| {}),
        "sleep" => grt::time::sleep(Duration::from_millis(1)),
        "yield" => grt::yield_now(),
        "syscall" => assert_eq!(grt::syscall(|| 7), 7),
        "numbers" => assert_eq!((grt::num_goroutine(), grt::numgc(), grt::goid()), (0, 0, 0)),
        "waitgroup" => {
            let wg = grt::sync::WaitGroup::new();
            wg.add(1);
            wg.done();
            wg.wait();
        }
        "mutex" => *grt::sync::Mutex::new(1).lock() += 1,
        "sigurg" => {
            // A SIGURG handler installed before the runtime still gets
            // SIGURG (the runtime uses it only to freeze the world).
            extern "C" fn on_urg(_: i32) {
                URGS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            // SAFETY: installs a handler that only bumps an atomic.
            unsafe { libc::signal(libc::SIGURG, on_urg as *const () as libc::sighandler_t) };
            grt::run(|| {
                // SAFETY: raises a signal at this thread.
                unsafe { libc::raise(libc::SIGURG) };
                println!("urgs {}", URGS.load(std::sync::atomic::Ordering::SeqCst));
            })
        }
        "mutex_contended" => {
            // Plain threads contending (no runtime: they cannot queue as
            // thread waiters, and must still exclude each other).
            let m = Arc::new(grt::sync::Mutex::new(0u64));
            let wg = Arc::new(grt::sync::WaitGroup::new());
            let ts: Vec<_> = (0..4)
                .map(|_| {
                    let (m, wg) = (m.clone(), wg.clone());
                    wg.add(1);
                    std::thread::spawn(move || {
                        for i in 0..2000 {
                            let mut g = m.lock();
                            *g += 1;
                            if i % 100 == 0 {
                                std::thread::yield_now();
                            }
                        }
                        wg.done();
                    })
                })
                .collect();
            wg.wait();
            assert_eq!(*m.lock(), 8000);
            ts.into_iter().for_each(|t| t.join().unwrap());
        }
        other => {
            eprintln!("testprog: unknown api {other:?}");
            std::process::exit(64);
        }
    }
    println!("ok");
}

/// Goroutines and a plain thread printing "tick" lines to stdout (one
/// calling the runtime between lines, one never calling it); with `panic`,
/// a goroutine panics after a while, else the test sends SIGQUIT. Nothing
/// may be printed once the fatal report has begun.
fn ticker(panic: bool) {
    grt::go(|| loop {
        println!("tick from a yielding goroutine");
        grt::yield_now();
    });
    grt::go(|| loop {
        println!("tick from a busy goroutine");
        std::hint::black_box(0u64);
    });
    std::thread::spawn(|| loop {
        println!("tick from a thread");
    });
    grt::time::sleep(Duration::from_millis(50));
    if panic {
        grt::go(|| panic!("boom among tickers"));
    }
    grt::time::sleep(Duration::from_secs(3600));
}

/// Catches a panic of its own and parks in its destructor, so a goroutine
/// unwinding through it has a newer (recovered) panic and resumes later,
/// often on another thread.
struct ParksOnDrop;

impl Drop for ParksOnDrop {
    fn drop(&mut self) {
        assert!(std::panic::catch_unwind(|| panic!("caught in a destructor")).is_err());
        grt::time::sleep(Duration::from_millis(30));
    }
}

#[inline(never)]
fn panics_with_parking_guard() {
    let _g = ParksOnDrop;
    panic!("the escaping panic");
}

#[inline(never)]
fn catcher(i: usize) {
    loop {
        let r = std::panic::catch_unwind(|| panic!("caught panic {i}"));
        assert!(r.is_err());
        grt::yield_now();
    }
}

/// Bug 4 of issue 11: one goroutine's panic escapes while it parks in a
/// destructor and others catch their own panics meanwhile; the report must
/// name the escaping one.
fn wrongpanic() {
    for i in 0..4 {
        grt::go(move || catcher(i));
    }
    grt::time::sleep(Duration::from_millis(10));
    grt::go(panics_with_parking_guard);
    grt::time::sleep(Duration::from_secs(3600));
}
