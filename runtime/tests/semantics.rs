//! In-process tests of the runtime's semantics: channels, select, timers,
//! sync, netpoll, syscalls with hand-off, stop-the-world and forEachP.
//!
//! The runtime is one per process and `grt::run` never returns, so this is
//! a `harness = false` test: one runtime runs every test as goroutine code,
//! in order, and the process exits non-zero if any failed. Arguments that
//! do not start with `-` filter tests by substring, as libtest does.

use grt::sync::{Mutex, WaitGroup};
use grt::{Chan, TryRecvError, TrySendError};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Test = (&'static str, fn());

const TESTS: &[Test] = &[
    ("chan_unbuffered_rendezvous", chan_unbuffered_rendezvous),
    ("chan_buffered_fifo_and_capacity", chan_buffered_fifo_and_capacity),
    ("chan_close_wakes_all_receivers", chan_close_wakes_all_receivers),
    ("chan_close_wakes_blocked_senders_with_panic", chan_close_wakes_blocked_senders_with_panic),
    ("chan_close_drains_buffer_then_none", chan_close_drains_buffer_then_none),
    ("chan_double_close_panics", chan_double_close_panics),
    ("chan_drop_drops_buffered_values", chan_drop_drops_buffered_values),
    ("chan_direct_send_lands_in_receiver_slot", chan_direct_send_lands_in_receiver_slot),
    ("select_ready_case_and_default", select_ready_case_and_default),
    ("select_send_case", select_send_case),
    ("select_is_fair", select_is_fair),
    ("select_blocks_then_wakes", select_blocks_then_wakes),
    ("select_blocked_same_chan_send_cases_are_pseudorandom", select_blocked_same_chan_send_cases_are_pseudorandom),
    ("select_blocked_same_chan_recv_cases_are_pseudorandom", select_blocked_same_chan_recv_cases_are_pseudorandom),
    ("expired_after_is_ready_for_select_default", expired_after_is_ready_for_select_default),
    ("expired_after_competes_with_ready_chans", expired_after_competes_with_ready_chans),
    ("expired_after_is_ready_for_try_recv_and_len", expired_after_is_ready_for_try_recv_and_len),
    ("after_fires_exactly_once_under_racing_receivers", after_fires_exactly_once_under_racing_receivers),
    ("select_timeout_with_after", select_timeout_with_after),
    ("select_losing_send_value_is_dropped", select_losing_send_value_is_dropped),
    ("no_lost_wakeups_1m_messages", no_lost_wakeups_1m_messages),
    ("mutex_and_waitgroup", mutex_and_waitgroup),
    ("foreign_threads_block_and_wake", foreign_threads_block_and_wake),
    ("sleep_duration_and_many_sleepers", sleep_duration_and_many_sleepers),
    ("netpoll_echo", netpoll_echo),
    ("netpoll_concurrent_readers_writers_acceptors", netpoll_concurrent_readers_writers_acceptors),
    ("syscall_hands_off_p", syscall_hands_off_p),
    ("stw_and_foreachp_under_syscalls", stw_and_foreachp_under_syscalls),
    ("gomaxprocs_changes_at_run_time", gomaxprocs_changes_at_run_time),
    ("goroutine_records_in_table", goroutine_records_in_table),
    ("allspans_grows_with_generations", allspans_grows_with_generations),
];

fn main() {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    grt::run(move || {
        let mut failed = Vec::new();
        let mut ran = 0;
        for (name, f) in TESTS {
            if !filters.is_empty() && !filters.iter().any(|flt| name.contains(flt.as_str())) {
                continue;
            }
            ran += 1;
            let t = Instant::now();
            let r = std::panic::catch_unwind(f);
            match r {
                Ok(()) => println!("test {name} ... ok ({:.2?})", t.elapsed()),
                Err(_) => {
                    let (msg, loc) = grt::internal::last_panic().unwrap_or_default();
                    println!("test {name} ... FAILED\n    {msg}\n    at {loc}");
                    failed.push(*name);
                }
            }
        }
        println!(
            "\ntest result: {}. {} passed; {} failed",
            if failed.is_empty() { "ok" } else { "FAILED" },
            ran - failed.len(),
            failed.len()
        );
        std::process::exit(if failed.is_empty() { 0 } else { 101 });
    })
}

/// Runs `f` on a goroutine and returns what it returns, or the message of
/// its panic (a panic escaping a goroutine would end the process).
fn in_goroutine<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    let c = Chan::new(1);
    let c2 = c.clone();
    grt::go(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        c2.send(r.map_err(|_| grt::internal::last_panic().map(|(m, _)| m).unwrap_or_default()));
    });
    c.recv().unwrap()
}

fn chan_unbuffered_rendezvous() {
    let c = Chan::<i32>::new(0);
    let done = Chan::<()>::new(1);
    let (c2, d2) = (c.clone(), done.clone());
    grt::go(move || {
        c2.send(7);
        d2.send(());
    });
    grt::time::sleep(Duration::from_millis(20));
    assert_eq!(done.try_recv(), Err(TryRecvError::Empty), "an unbuffered send completed with no receiver");
    assert_eq!(c.recv(), Some(7));
    done.recv().unwrap();
    assert_eq!(c.try_send(1), Err(TrySendError::Full(1)), "unbuffered try_send with no receiver must fail");
}

fn chan_buffered_fifo_and_capacity() {
    let c = Chan::<String>::new(3);
    assert_eq!(c.cap(), 3);
    for s in ["a", "b", "c"] {
        c.try_send(s.to_string()).unwrap();
    }
    assert_eq!(c.len(), 3);
    assert_eq!(c.try_send("d".into()), Err(TrySendError::Full("d".to_string())));
    assert_eq!(c.recv().as_deref(), Some("a"));
    c.send("d".into());
    let got: Vec<String> = (0..3).map(|_| c.recv().unwrap()).collect();
    assert_eq!(got, ["b", "c", "d"]);
    assert_eq!(c.try_recv(), Err(TryRecvError::Empty));
}

fn chan_close_wakes_all_receivers() {
    let c = Chan::<i32>::new(0);
    let results = Chan::<Option<i32>>::new(100);
    for _ in 0..50 {
        let (c, r) = (c.clone(), results.clone());
        grt::go(move || r.send(c.recv()));
    }
    grt::time::sleep(Duration::from_millis(20));
    c.close();
    for _ in 0..50 {
        assert_eq!(results.recv(), Some(None));
    }
}

fn chan_close_wakes_blocked_senders_with_panic() {
    let c = Chan::<Box<u64>>::new(0);
    let results = Chan::<Result<(), String>>::new(10);
    for i in 0..5 {
        let (c, r) = (c.clone(), results.clone());
        grt::go(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.send(Box::new(i))));
            r.send(out.map_err(|_| grt::internal::last_panic().map(|(m, _)| m).unwrap_or_default()));
        });
    }
    grt::time::sleep(Duration::from_millis(20));
    c.close();
    for _ in 0..5 {
        assert_eq!(results.recv().unwrap(), Err("send on closed channel".to_string()));
    }
    assert!(matches!(c.try_send(Box::new(9)), Err(TrySendError::Closed(_))));
}

fn chan_close_drains_buffer_then_none() {
    let c = Chan::<i32>::new(4);
    c.send(1);
    c.send(2);
    c.close();
    assert_eq!(c.recv(), Some(1));
    assert_eq!(c.try_recv(), Ok(2));
    assert_eq!(c.recv(), None);
    assert_eq!(c.try_recv(), Err(TryRecvError::Closed));
    let v: Vec<i32> = c.iter().collect();
    assert!(v.is_empty());
}

fn chan_double_close_panics() {
    let r = in_goroutine(|| {
        let c = Chan::<()>::new(0);
        c.close();
        c.close();
    });
    assert_eq!(r, Err("close of closed channel".to_string()));
}

fn chan_drop_drops_buffered_values() {
    let live = Arc::new(AtomicUsize::new(0));
    struct Tracked(Arc<AtomicUsize>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    {
        let c = Chan::<Tracked>::new(8);
        for _ in 0..5 {
            live.fetch_add(1, Ordering::SeqCst);
            c.send(Tracked(live.clone()));
        }
        drop(c.recv());
        assert_eq!(live.load(Ordering::SeqCst), 4);
    }
    assert_eq!(live.load(Ordering::SeqCst), 0, "values left in a dropped channel were not dropped");
}

fn chan_direct_send_lands_in_receiver_slot() {
    // A receiver parks first; the sender finds it on recvq and copies the
    // value straight into its stack slot. The table shows the receiver's
    // sudog with elem inside its own stack while it waits.
    let c = Chan::<[u64; 4]>::new(0);
    let got = Chan::<[u64; 4]>::new(1);
    let (c2, g2) = (c.clone(), got.clone());
    grt::go(move || g2.send(c2.recv().unwrap()));
    grt::time::sleep(Duration::from_millis(20));
    let h = grt::internal::table();
    let mut found = false;
    for i in 0..h.len(grt_table::header::SectionKind::G) as usize {
        let gp = h.g(i);
        let sg = gp.waiting.load(Ordering::Relaxed);
        if gp.atomicstatus.load(Ordering::Relaxed) == grt_table::G_WAITING && !sg.is_null() {
            // SAFETY: a parked goroutine's sudog stays valid while it waits.
            let sg = unsafe { &*sg };
            let elem = sg.elem.get();
            if sg.c.load(Ordering::Relaxed) as u64 != 0 && elem >= gp.stack_lo.get() && elem < gp.stack_hi.get() {
                found = true;
            }
        }
    }
    assert!(found, "no waiting goroutine with a sudog slot on its own stack");
    c.send([1, 2, 3, 4]);
    assert_eq!(got.recv(), Some([1, 2, 3, 4]));
}

fn select_ready_case_and_default() {
    let a = Chan::<i32>::new(1);
    let b = Chan::<i32>::new(1);
    let mut hit;
    grt::select! {
        recv(a) -> _ => hit = 1,
        recv(b) -> _ => hit = 2,
        default => hit = 3,
    }
    assert_eq!(hit, 3);
    b.send(5);
    grt::select! {
        recv(a) -> _ => hit = 1,
        recv(b) -> v => { assert_eq!(v, Some(5)); hit = 2 }
        default => hit = 3,
    }
    assert_eq!(hit, 2);
    a.close();
    grt::select! {
        recv(a) -> v => { assert_eq!(v, None); hit = 4 }
        recv(b) -> _ => hit = 2,
    }
    assert_eq!(hit, 4);
}

fn select_send_case() {
    let c = Chan::<i32>::new(0);
    let c2 = c.clone();
    let r = Chan::<i32>::new(1);
    let r2 = r.clone();
    grt::go(move || r2.send(c2.recv().unwrap()));
    let mut sent = false;
    grt::select! {
        send(c, 99) => sent = true,
        recv(grt::time::after(Duration::from_secs(5))) -> _ => {}
    }
    assert!(sent);
    assert_eq!(r.recv(), Some(99));
}

fn select_is_fair() {
    let a = Chan::<u8>::new(1);
    let b = Chan::<u8>::new(1);
    let (mut na, mut nb) = (0, 0);
    for _ in 0..10_000 {
        let _ = a.try_send(0);
        let _ = b.try_send(0);
        grt::select! {
            recv(a) -> _ => na += 1,
            recv(b) -> _ => nb += 1,
        }
    }
    assert!((4000..6000).contains(&na) && (4000..6000).contains(&nb), "unfair select: a={na} b={nb}");
}

fn select_blocks_then_wakes() {
    for _ in 0..200 {
        let a = Chan::<u32>::new(0);
        let b = Chan::<u32>::new(0);
        let (a2, b2) = (a.clone(), b.clone());
        grt::go(move || {
            grt::yield_now();
            b2.send(2);
        });
        let got = grt::select! {
            recv(a) -> v => v,
            recv(b) -> v => v,
        };
        assert_eq!(got, Some(2));
        // The select's other sudog must be gone from a's queue: a send on
        // `a` must not match a stale sudog of the finished select.
        assert_eq!(a2.try_send(1), Err(TrySendError::Full(1)));
    }
}

/// The shape of Go's TestPseudoRandomSend: a select with two send cases on
/// one unbuffered channel blocks (the receiver sleeps before each receive),
/// and each case must win a fair share. Go enqueues the cases in a random
/// order, so whichever the receiver finds first is random too.
fn select_blocked_same_chan_send_cases_are_pseudorandom() {
    const N: usize = 100;
    let c = Chan::<u8>::new(0);
    let c2 = c.clone();
    let got = Chan::<Vec<u8>>::new(1);
    let got2 = got.clone();
    grt::go(move || {
        let mut l = Vec::with_capacity(N);
        for _ in 0..N {
            grt::time::sleep(Duration::from_micros(200));
            l.push(c2.recv().unwrap());
        }
        got2.send(l);
    });
    for _ in 0..N {
        grt::select! {
            send(c, 1) => {},
            send(c, 0) => {},
        }
    }
    let l = recv_within(&got, 10, "the receiver");
    let zeros = l.iter().filter(|&&v| v == 0).count();
    let ones = N - zeros;
    assert!(zeros >= 10 && ones >= 10, "want pseudorandom, got {zeros} zeros and {ones} ones");
}

/// Two receive cases on one channel in a select that blocks: the sender
/// finds the first enqueued waiter, which must be either case at random.
fn select_blocked_same_chan_recv_cases_are_pseudorandom() {
    const N: usize = 100;
    let c = Chan::<u8>::new(0);
    let c2 = c.clone();
    grt::go(move || {
        for _ in 0..N {
            grt::time::sleep(Duration::from_micros(200));
            c2.send(7);
        }
    });
    let (mut first, mut second) = (0, 0);
    for _ in 0..N {
        grt::select! {
            recv(c) -> v => { assert_eq!(v, Some(7)); first += 1 },
            recv(c) -> v => { assert_eq!(v, Some(7)); second += 1 },
        }
    }
    assert!(first >= 10 && second >= 10, "want pseudorandom, got first={first} second={second}");
}

/// Go 1.23+: a timer channel whose timer has expired is ready when a select
/// looks at it, even if no M has run the timer yet; `after(0)` never loses
/// to `default`.
fn expired_after_is_ready_for_select_default() {
    for i in 0..1000 {
        let took_timer = grt::select! {
            recv(grt::time::after(Duration::ZERO)) -> v => { assert!(v.is_some()); true },
            default => false,
        };
        assert!(took_timer, "run {i}: select took default over an expired after(0)");
    }
}

/// An expired timer among two ready channels is chosen about a third of the
/// time.
fn expired_after_competes_with_ready_chans() {
    let a = Chan::<u8>::new(1);
    let b = Chan::<u8>::new(1);
    let (mut na, mut nb, mut nt) = (0, 0, 0);
    for _ in 0..1000 {
        let _ = a.try_send(0);
        let _ = b.try_send(0);
        grt::select! {
            recv(a) -> _ => na += 1,
            recv(b) -> _ => nb += 1,
            recv(grt::time::after(Duration::ZERO)) -> _ => nt += 1,
        }
    }
    assert!(na >= 100 && nb >= 100 && nt >= 100, "expired timer not a fair candidate: a={na} b={nb} timer={nt}");
}

/// `try_recv` and `len` on an expired timer channel see the value at once.
fn expired_after_is_ready_for_try_recv_and_len() {
    for i in 0..1000 {
        let t = grt::time::after(Duration::ZERO);
        assert_eq!(t.len(), 1, "run {i}: len of an expired after(0)");
        assert!(t.try_recv().is_ok(), "run {i}: try_recv on an expired after(0)");
        assert!(t.try_recv().is_err(), "run {i}: after sends only once");
        let t = grt::time::after(Duration::ZERO);
        assert!(t.try_recv().is_ok(), "run {i}: try_recv (without len) on an expired after(0)");
    }
    // A timer that has not expired is not ready.
    let t = grt::time::after(Duration::from_secs(60));
    assert_eq!(t.len(), 0);
    assert!(t.try_recv().is_err());
}

/// Receivers that run a timer early race the scheduler running the same
/// timer from the heap: each `after` delivers exactly one value, nobody
/// hangs, and a blocked receive still wakes.
fn after_fires_exactly_once_under_racing_receivers() {
    let wg = Arc::new(WaitGroup::new());
    for w in 0..8u64 {
        wg.add(1);
        let wg = wg.clone();
        grt::go(move || {
            for i in 0..300u64 {
                let d = Duration::from_micros((w * 7 + i * 13) % 50);
                let t = grt::time::after(d);
                match i % 3 {
                    0 => assert!(t.recv().is_some()),
                    1 => loop {
                        match t.try_recv() {
                            Ok(_) => break,
                            Err(TryRecvError::Empty) => grt::yield_now(),
                            Err(TryRecvError::Closed) => panic!("timer channel closed"),
                        }
                    },
                    _ => {
                        let never = Chan::<()>::new(0);
                        grt::select! {
                            recv(never) -> _ => panic!("never"),
                            recv(t) -> v => assert!(v.is_some()),
                        }
                    }
                }
                // Give the heap's copy of the timer time to come due too.
                grt::yield_now();
                assert_eq!(t.try_recv(), Err(TryRecvError::Empty), "worker {w} run {i}: a second value");
            }
            wg.done();
        });
    }
    let done = Chan::<()>::new(1);
    let d2 = done.clone();
    grt::go(move || {
        wg.wait();
        d2.send(());
    });
    recv_within(&done, 20, "the timer workers");
}

fn select_timeout_with_after() {
    let never = Chan::<()>::new(0);
    let t = Instant::now();
    let timed_out = grt::select! {
        recv(never) -> _ => false,
        recv(grt::time::after(Duration::from_millis(30))) -> _ => true,
    };
    assert!(timed_out);
    let e = t.elapsed();
    assert!(e >= Duration::from_millis(30) && e < Duration::from_secs(2), "timeout took {e:?}");
}

fn select_losing_send_value_is_dropped() {
    let live = Arc::new(AtomicUsize::new(0));
    struct Tracked(Arc<AtomicUsize>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let full = Chan::<Tracked>::new(0); // nobody receives
    let ready = Chan::<u8>::new(1);
    ready.send(1);
    live.fetch_add(1, Ordering::SeqCst);
    let v = Tracked(live.clone());
    grt::select! {
        send(full, v) => panic!("no receiver"),
        recv(ready) -> _ => {}
    }
    assert_eq!(live.load(Ordering::SeqCst), 0, "the value of a losing send case leaked");
}

/// A million messages across a thousand goroutines, at GOMAXPROCS 1, 2 and
/// 4, twice each: every message arrives exactly once and nothing hangs.
fn no_lost_wakeups_1m_messages() {
    let prev = grt::gomaxprocs(0);
    let per_round = 1_000_000;
    for procs in [1, 2, 4] {
        grt::gomaxprocs(procs);
        for _ in 0..2 {
            let producers = 500;
            let consumers = 500;
            let per = per_round / producers;
            let chans: Vec<Chan<u64>> = (0..8).map(|i| Chan::new(if i % 2 == 0 { 0 } else { 16 })).collect();
            let sum = Arc::new(AtomicU64::new(0));
            let count = Arc::new(AtomicU64::new(0));
            let wg = Arc::new(WaitGroup::new());
            let cwg = Arc::new(WaitGroup::new());
            for p in 0..producers {
                let c = chans[p % 8].clone();
                wg.add(1);
                let wg = wg.clone();
                grt::go(move || {
                    for k in 0..per {
                        c.send((p * per + k) as u64);
                    }
                    wg.done();
                });
            }
            for k in 0..consumers {
                let c = chans[k % 8].clone();
                let (sum, count) = (sum.clone(), count.clone());
                cwg.add(1);
                let cwg = cwg.clone();
                grt::go(move || {
                    for v in &c {
                        sum.fetch_add(v, Ordering::Relaxed);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    cwg.done();
                });
            }
            wg.wait();
            for c in &chans {
                c.close();
            }
            cwg.wait();
            let n = (producers * per) as u64;
            assert_eq!(count.load(Ordering::Relaxed), n, "messages lost or duplicated at GOMAXPROCS={procs}");
            assert_eq!(sum.load(Ordering::Relaxed), n * (n - 1) / 2);
        }
    }
    grt::gomaxprocs(prev);
}

fn mutex_and_waitgroup() {
    let m = Arc::new(Mutex::new(0u64));
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..100 {
        wg.add(1);
        let (m, wg) = (m.clone(), wg.clone());
        grt::go(move || {
            for i in 0..500 {
                let mut g = m.lock();
                *g += 1;
                if i % 50 == 0 {
                    grt::yield_now(); // hold the lock across a reschedule
                }
                drop(g);
            }
            wg.done();
        });
    }
    wg.wait();
    assert_eq!(*m.lock(), 50_000);
}

/// Waits for `done` at most `secs` seconds (a hang would stall the suite).
fn recv_within<T: Send>(done: &Chan<T>, secs: u64, what: &str) -> T {
    grt::select! {
        recv(done) -> v => v.unwrap_or_else(|| panic!("{what}: channel closed")),
        recv(grt::time::after(Duration::from_secs(secs))) -> _ => panic!("{what}: not done in {secs}s"),
    }
}

/// `Mutex`, `Chan` and `WaitGroup` from plain `std::thread`s, under
/// contention with goroutines: the thread blocks, and goroutines wake it
/// and are woken by it (issue 11, bug 5).
fn foreign_threads_block_and_wake() {
    const THREADS: usize = 3;
    const GOS: usize = 3;
    const ITERS: u64 = 3000;
    // Mutex contended by threads and goroutines, each holding it across a
    // yield now and then; a WaitGroup counted down from both.
    let m = Arc::new(Mutex::new(0u64));
    let wg = Arc::new(WaitGroup::new());
    let mut threads = Vec::new();
    for _ in 0..THREADS {
        wg.add(1);
        let (m, wg) = (m.clone(), wg.clone());
        threads.push(std::thread::spawn(move || {
            for i in 0..ITERS {
                let mut g = m.lock();
                *g += 1;
                if i % 100 == 0 {
                    std::thread::yield_now();
                }
                drop(g);
            }
            wg.done();
        }));
    }
    for _ in 0..GOS {
        wg.add(1);
        let (m, wg) = (m.clone(), wg.clone());
        grt::go(move || {
            for i in 0..ITERS {
                let mut g = m.lock();
                *g += 1;
                if i % 100 == 0 {
                    grt::yield_now();
                }
                drop(g);
            }
            wg.done();
        });
    }
    let all = Chan::new(1);
    let all2 = all.clone();
    let wg2 = wg.clone();
    grt::go(move || {
        wg2.wait();
        all2.send(());
    });
    recv_within(&all, 30, "mutex counting");
    assert_eq!(*m.lock(), (THREADS + GOS) as u64 * ITERS);

    // Unbuffered channel: a thread sends to a goroutine and receives from
    // one, both blocking, many times (every rendezvous parks one side).
    let to_go = Chan::<u64>::new(0);
    let from_go = Chan::<u64>::new(0);
    let (tg, fg) = (to_go.clone(), from_go.clone());
    threads.push(std::thread::spawn(move || {
        for i in 0..2000u64 {
            tg.send(i);
            assert_eq!(fg.recv(), Some(i * 2));
        }
        tg.close();
    }));
    let sum = Chan::new(1);
    let sum2 = sum.clone();
    grt::go(move || {
        let mut s = 0;
        while let Some(v) = to_go.recv() {
            s += v;
            from_go.send(v * 2);
        }
        sum2.send(s);
    });
    assert_eq!(recv_within(&sum, 30, "channel ping-pong"), 1999 * 2000 / 2);

    // A thread blocked in recv is woken by close; a thread blocked in
    // WaitGroup.wait by the last done on a goroutine; a thread blocked
    // sending on a full buffered channel by a goroutine's receive.
    let closing = Chan::<u8>::new(0);
    let gate = Arc::new(WaitGroup::new());
    gate.add(1);
    let full = Chan::<u8>::new(1);
    full.send(1);
    let report = Chan::<&'static str>::new(3);
    {
        let (c, r) = (closing.clone(), report.clone());
        threads.push(std::thread::spawn(move || {
            assert_eq!(c.recv(), None);
            r.send("closed");
        }));
        let (g, r) = (gate.clone(), report.clone());
        threads.push(std::thread::spawn(move || {
            g.wait();
            r.send("gate");
        }));
        let (f, r) = (full.clone(), report.clone());
        threads.push(std::thread::spawn(move || {
            f.send(2);
            r.send("sent");
        }));
    }
    grt::time::sleep(Duration::from_millis(50)); // let the threads block
    closing.close();
    gate.done();
    assert_eq!(full.recv(), Some(1));
    assert_eq!(full.recv(), Some(2));
    let mut got: Vec<_> = (0..3).map(|_| recv_within(&report, 30, "thread wake-ups")).collect();
    got.sort();
    assert_eq!(got, ["closed", "gate", "sent"]);
    for t in threads {
        grt::syscall(move || t.join()).unwrap();
    }
}

fn sleep_duration_and_many_sleepers() {
    let t = Instant::now();
    grt::time::sleep(Duration::from_millis(25));
    let e = t.elapsed();
    assert!(e >= Duration::from_millis(25) && e < Duration::from_secs(2), "slept {e:?}");
    let wg = Arc::new(WaitGroup::new());
    let t = Instant::now();
    for i in 0..1000u64 {
        wg.add(1);
        let wg = wg.clone();
        grt::go(move || {
            grt::time::sleep(Duration::from_millis(10 + i % 20));
            wg.done();
        });
    }
    wg.wait();
    assert!(t.elapsed() < Duration::from_secs(5));
}

fn netpoll_echo() {
    let ln = grt::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    let pairs = 50;
    grt::go(move || {
        for _ in 0..pairs {
            let (s, _) = ln.accept().unwrap();
            grt::go(move || {
                let mut buf = [0u8; 100];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => s.write_all(&buf[..n]).unwrap(),
                        Err(e) => panic!("server read: {e}"),
                    }
                }
            });
        }
    });
    let wg = Arc::new(WaitGroup::new());
    let bytes = Arc::new(AtomicUsize::new(0));
    for k in 0..pairs {
        wg.add(1);
        let (wg, bytes) = (wg.clone(), bytes.clone());
        grt::go(move || {
            let s = grt::net::TcpStream::connect(addr).unwrap();
            let mut buf = [0u8; 100];
            for i in 0..100u8 {
                let msg = [i ^ k as u8; 100];
                s.write_all(&msg).unwrap();
                s.read_exact(&mut buf).unwrap();
                assert_eq!(buf, msg);
                bytes.fetch_add(100, Ordering::Relaxed);
            }
            s.shutdown(std::net::Shutdown::Write).unwrap();
            assert_eq!(s.read(&mut buf).unwrap(), 0);
            wg.done();
        });
    }
    wg.wait();
    assert_eq!(bytes.load(Ordering::Relaxed), pairs * 100 * 100);
}

/// Several goroutines reading, writing or accepting on one socket at once
/// (TcpStream and TcpListener are Sync) are each served, as in Go, where
/// fdMutex lets one waiter at a time into the poller (issue 11, bug 3).
fn netpoll_concurrent_readers_writers_acceptors() {
    const N: usize = 4;
    let ln = Arc::new(grt::net::TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = ln.local_addr().unwrap();
    // N goroutines park in accept on the same listener.
    let accepted = Chan::new(N);
    for _ in 0..N {
        let (ln, accepted) = (ln.clone(), accepted.clone());
        grt::go(move || accepted.send(ln.accept().unwrap().0));
    }
    grt::time::sleep(Duration::from_millis(20)); // let them all park
    let mut clients: Vec<_> = (0..N).map(|_| grt::net::TcpStream::connect(addr).unwrap()).collect();
    let mut servers: Vec<_> = (0..N).map(|_| accepted.recv().unwrap()).collect();

    // N goroutines park reading the same stream; the peer then writes.
    let total = 256 * 1024;
    let reader = Arc::new(clients.pop().unwrap());
    let got = Arc::new(AtomicUsize::new(0));
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..N {
        wg.add(1);
        let (reader, got, wg) = (reader.clone(), got.clone(), wg.clone());
        grt::go(move || {
            let mut buf = [0u8; 1000];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        got.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(e) => panic!("read: {e}"),
                }
            }
            wg.done();
        });
    }
    grt::time::sleep(Duration::from_millis(20));
    // The server side of the last connection (accept order is not connect
    // order: find it by address).
    let peer = reader.local_addr().unwrap();
    let k = servers.iter().position(|s| s.peer_addr().unwrap() == peer).unwrap();
    let writer_side = servers.swap_remove(k);
    writer_side.write_all(&vec![7u8; total]).unwrap();
    writer_side.shutdown(std::net::Shutdown::Write).unwrap();
    wg.wait();
    assert_eq!(got.load(Ordering::Relaxed), total);

    // N goroutines write the same stream faster than the peer reads: each
    // parks on a full socket buffer.
    let per = 1 << 20;
    let reader = clients.pop().unwrap();
    let peer = reader.local_addr().unwrap();
    let k = servers.iter().position(|s| s.peer_addr().unwrap() == peer).unwrap();
    let w = Arc::new(servers.swap_remove(k));
    for i in 0..N {
        wg.add(1);
        let (w, wg) = (w.clone(), wg.clone());
        grt::go(move || {
            w.write_all(&vec![i as u8; per]).unwrap();
            wg.done();
        });
    }
    grt::time::sleep(Duration::from_millis(50)); // the buffers fill up
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0;
    while n < N * per {
        match reader.read(&mut buf).unwrap() {
            0 => panic!("EOF after {n} bytes"),
            k => n += k,
        }
    }
    wg.wait();
    assert_eq!(n, N * per);
}

/// With one P, a goroutine blocked in a long system call must not stop the
/// others: sysmon retakes the P and hands it off.
fn syscall_hands_off_p() {
    let prev = grt::gomaxprocs(1);
    let progress = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicU64::new(0));
    let (p2, s2) = (progress.clone(), stop.clone());
    let counter_done = Chan::<()>::new(1);
    let cd = counter_done.clone();
    grt::go(move || {
        while s2.load(Ordering::Relaxed) == 0 {
            p2.fetch_add(1, Ordering::Relaxed);
            grt::yield_now();
        }
        cd.send(());
    });
    let seen = Chan::<u64>::new(1);
    let (seen2, p3) = (seen.clone(), progress.clone());
    grt::go(move || {
        let before = p3.load(Ordering::Relaxed);
        // 300ms in the kernel; the counter must move meanwhile.
        let during = grt::syscall(|| {
            std::thread::sleep(Duration::from_millis(300));
            p3.load(Ordering::Relaxed)
        });
        seen2.send(during - before);
    });
    let moved = seen.recv().unwrap();
    stop.store(1, Ordering::Relaxed);
    counter_done.recv();
    grt::gomaxprocs(prev);
    assert!(moved > 100, "only {moved} steps ran while a goroutine sat in a syscall with the only P");
}

/// gc() = STW, start, forEachP, STW, start, while goroutines loop in short
/// syscalls: every forEachP must run its function for each P exactly once.
fn stw_and_foreachp_under_syscalls() {
    let prev = grt::gomaxprocs(4);
    let stop = Arc::new(AtomicU64::new(0));
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..8 {
        wg.add(1);
        let (stop, wg) = (stop.clone(), wg.clone());
        grt::go(move || {
            while stop.load(Ordering::Relaxed) == 0 {
                grt::syscall(|| unsafe { libc::usleep(50) });
            }
            wg.done();
        });
    }
    let t = grt::internal::table();
    let runs = |i: usize| t.p(i).safe_point_runs.load(Ordering::SeqCst);
    let before: Vec<u64> = (0..4).map(runs).collect();
    let gc0 = grt::numgc();
    let cycles = 200;
    for _ in 0..cycles {
        grt::gc();
    }
    stop.store(1, Ordering::Relaxed);
    wg.wait();
    assert_eq!(grt::numgc() - gc0, cycles);
    for (i, b) in before.iter().enumerate() {
        assert_eq!(runs(i) - b, cycles, "P{i} ran the safe-point function a wrong number of times");
    }
    grt::gomaxprocs(prev);
}

fn gomaxprocs_changes_at_run_time() {
    let prev = grt::gomaxprocs(0);
    let total = Arc::new(AtomicU64::new(0));
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..16 {
        wg.add(1);
        let (total, wg) = (total.clone(), wg.clone());
        grt::go(move || {
            for _ in 0..2000 {
                total.fetch_add(1, Ordering::Relaxed);
                grt::yield_now();
            }
            wg.done();
        });
    }
    for n in [1, 3, 2, 4, 1] {
        grt::gomaxprocs(n);
        assert_eq!(grt::gomaxprocs(0), n);
        grt::time::sleep(Duration::from_millis(2));
    }
    wg.wait();
    assert_eq!(total.load(Ordering::Relaxed), 32_000);
    grt::gomaxprocs(prev);
    let t = grt::internal::table();
    for i in 0..prev as usize {
        let st = t.p(i).status.load(Ordering::Relaxed);
        assert!(st != grt_table::P_DEAD, "P{i} dead after restoring GOMAXPROCS");
    }
}

fn goroutine_records_in_table() {
    let t = grt::internal::table();
    let me = grt::goid();
    let mine = (0..t.len(grt_table::header::SectionKind::G) as usize)
        .map(|i| t.g(i))
        .find(|g| g.goid.load(Ordering::Relaxed) == me)
        .expect("current goroutine not in allg");
    assert_eq!(mine.atomicstatus.load(Ordering::Relaxed), grt_table::G_RUNNING);
    assert!(mine.stack_lo.get() < mine.stack_hi.get());
    let local = 0u8;
    let sp = &local as *const u8 as u64;
    assert!(sp >= mine.stack_lo.get() && sp < mine.stack_hi.get(), "a local is not on the goroutine's stack");
    // The child records its parent and its creation site.
    let c = Chan::<u64>::new(1);
    let c2 = c.clone();
    grt::go(move || c2.send(grt::goid()));
    let child = c.recv().unwrap();
    let g = (0..t.len(grt_table::header::SectionKind::G) as usize)
        .map(|i| t.g(i))
        .find(|g| g.goid.load(Ordering::Relaxed) == child && g.parentgoid.load(Ordering::Relaxed) == me);
    assert!(g.is_some() || child > me, "child goroutine record not found");
}

fn allspans_grows_with_generations() {
    let h = grt::internal::mheap();
    let gen0 = h.allspans_gen.load(Ordering::Relaxed);
    let n0 = h.nspan.load(Ordering::Relaxed);
    // Park enough goroutines at once that fresh stack spans are needed.
    let n = (h.nspancap.load(Ordering::Relaxed) + 10) as usize;
    let gate = Chan::<()>::new(0);
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..n {
        let (gate, wg) = (gate.clone(), wg.clone());
        wg.add(1);
        grt::go(move || {
            gate.recv();
            wg.done();
        });
    }
    grt::time::sleep(Duration::from_millis(20));
    assert!(h.nspan.load(Ordering::Relaxed) > n0);
    assert!(h.allspans_gen.load(Ordering::Relaxed) > gen0, "allspans did not grow");
    assert!(h.nspan.load(Ordering::Relaxed) <= h.nspancap.load(Ordering::Relaxed));
    // No collector holds a superseded array (gcspans is 0), so each was
    // freed: its pages went back to the kernel and read as zeros.
    let nold = (h.nold.load(Ordering::Relaxed) as usize).min(grt_table::OLD_ALLSPANS);
    assert!(nold > 0);
    for k in 0..nold {
        assert_eq!(h.old_freed[k].load(Ordering::Relaxed), 1, "superseded allspans array {k} not freed");
        // SAFETY: the old array lies in the table's arena, which stays
        // mapped for the life of the process (freed pages read as zeros).
        let first = unsafe { *(h.old_allspans[k].get() as *const u64) };
        assert_eq!(first, 0, "freed allspans array {k} still holds span pointers");
    }
    gate.close();
    wg.wait();
    // A GC cycle sweeps: every span ends swept (sweepgen == h.sweepgen).
    grt::gc();
    let sg = h.sweepgen.load(Ordering::Relaxed);
    let arr = h.allspans.get() as *const u64;
    for i in 0..h.nspan.load(Ordering::Relaxed) as usize {
        // SAFETY: i < nspan entries of the current allspans array.
        let s = unsafe { &*(*arr.add(i) as *const grt_table::MSpan) };
        assert_eq!(s.sweepgen.load(Ordering::Relaxed), sg, "span {i} not swept");
    }
}
