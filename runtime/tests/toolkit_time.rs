//! `grt::time` against Go's documented semantics (Go 1.23 and later):
//! `Timer` (stop and reset report whether the timer was active, and no
//! stale value is received after them), `after_func` (its own goroutine),
//! `Ticker` (drops ticks for slow receivers), timers whose channel is
//! dropped, timers used from threads that are not goroutines, and 100k
//! pending timers and sleepers. Each test runs at GOMAXPROCS 1 and 4
//! (support/harness.rs). No test asserts how long something took: waits
//! are bounded only to turn a hang into a failure.

#[path = "support/harness.rs"]
mod harness;

use grt::sync::WaitGroup;
use grt::time::{after, after_func, tick, Ticker, Timer};
use grt::{Chan, TryRecvError};
use harness::{in_goroutine, ntimers, recv_within, wait_ntimers_at_most, Rng, Test};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TESTS: &[Test] = &[
    ("timer_fires_once_not_before_its_deadline", timer_fires_once_not_before_its_deadline),
    ("timer_stop_before_expiry", timer_stop_before_expiry),
    ("timer_stop_expired_unreceived_returns_true_and_drains", timer_stop_expired_unreceived_returns_true_and_drains),
    ("timer_stop_after_receive_returns_false", timer_stop_after_receive_returns_false),
    ("timer_reset_reports_active", timer_reset_reports_active),
    ("timer_reset_discards_stale_value", timer_reset_discards_stale_value),
    ("timer_many_resets_deliver_one_value", timer_many_resets_deliver_one_value),
    ("timer_wakes_blocked_receiver_and_select", timer_wakes_blocked_receiver_and_select),
    ("timer_stop_races_firing_no_stale_value", timer_stop_races_firing_no_stale_value),
    ("timer_concurrent_stop_and_reset", timer_concurrent_stop_and_reset),
    ("after_func_runs_once_in_its_own_goroutine", after_func_runs_once_in_its_own_goroutine),
    ("after_func_stop_and_reset", after_func_stop_and_reset),
    ("after_func_blocking_does_not_hold_up_timers", after_func_blocking_does_not_hold_up_timers),
    ("after_func_many", after_func_many),
    ("ticker_ticks_on_schedule", ticker_ticks_on_schedule),
    ("ticker_drops_ticks_for_slow_receiver", ticker_drops_ticks_for_slow_receiver),
    ("ticker_stop_discards_and_silences", ticker_stop_discards_and_silences),
    ("ticker_reset_changes_period", ticker_reset_changes_period),
    ("ticker_zero_period_panics", ticker_zero_period_panics),
    ("idle_timeout_pattern", idle_timeout_pattern),
    ("dropped_channels_stop_their_timers", dropped_channels_stop_their_timers),
    ("timers_from_foreign_threads", timers_from_foreign_threads),
    ("timers_100k_fire_and_sleep_still_works", timers_100k_fire_and_sleep_still_works),
    ("sleepers_100k", sleepers_100k),
];

fn main() {
    harness::main(TESTS)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const HOUR: Duration = Duration::from_secs(3600);

/// Go: the timer sends the current time once, after at least `d`.
fn timer_fires_once_not_before_its_deadline() {
    let t0 = Instant::now();
    let t = Timer::new(ms(20));
    let v = recv_within(&t.c, 20, "timer").unwrap();
    assert!(v >= t0 + ms(20), "the value {:?} is before the deadline", v - t0);
    assert!(t0.elapsed() >= ms(20), "fired early");
    grt::time::sleep(ms(5));
    assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty), "a second value");
    assert!(!t.stop(), "stop after the value was received");
}

/// Go: Stop returns true if it stopped the timer; no value comes after.
fn timer_stop_before_expiry() {
    let n0 = ntimers();
    let t = Timer::new(HOUR);
    assert_eq!(ntimers(), n0 + 1);
    assert!(t.stop(), "stop of a pending timer");
    assert_eq!(ntimers(), n0, "a stopped timer stays in the heap");
    assert!(!t.stop(), "second stop");
    assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty));
    // A short timer stopped at once: when stop says it stopped it, no
    // value comes ever.
    for i in 0..200 {
        let t = Timer::new(Duration::from_micros(i % 20));
        if t.stop() {
            grt::time::sleep(Duration::from_micros(50));
            assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty), "run {i}: a value after stop returned true");
        } else {
            assert!(t.c.try_recv().is_err(), "run {i}: stop returned false yet left the value");
        }
    }
}

/// Go 1.23: the channel is synchronous, so a timer that expired but whose
/// value was not received is still active: Stop returns true and the value
/// is gone.
fn timer_stop_expired_unreceived_returns_true_and_drains() {
    for i in 0..200 {
        let t = Timer::new(Duration::ZERO);
        if i % 2 == 0 {
            // The value is sent (len runs an expired timer first).
            assert_eq!(t.c.len(), 1, "run {i}");
        } else {
            // Expired; maybe run by an M, maybe still in the heap.
            grt::time::sleep(Duration::from_micros(100));
        }
        assert!(t.stop(), "run {i}: stop of an expired, unreceived timer");
        assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty), "run {i}: stale value after stop");
        assert_eq!(t.c.len(), 0, "run {i}");
    }
}

fn timer_stop_after_receive_returns_false() {
    let t = Timer::new(ms(1));
    recv_within(&t.c, 20, "timer").unwrap();
    assert!(!t.stop());
}

/// Go: Reset returns true if the timer had been active, false if it had
/// expired (and been received) or been stopped; the timer fires again.
fn timer_reset_reports_active() {
    let t = Timer::new(HOUR);
    assert!(t.reset(ms(2)), "reset of a pending timer");
    recv_within(&t.c, 20, "reset timer").unwrap();
    assert!(!t.reset(ms(2)), "reset of a fired, received timer");
    recv_within(&t.c, 20, "timer reset after firing").unwrap();
    assert!(!t.stop());
    assert!(!t.reset(ms(1)), "reset of a stopped timer");
    recv_within(&t.c, 20, "timer reset after stop").unwrap();
    assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty));
}

/// Go 1.23: after Reset returns, no value from before it is received.
fn timer_reset_discards_stale_value() {
    let n0 = ntimers();
    for i in 0..200 {
        let t = Timer::new(Duration::ZERO);
        if i % 2 == 0 {
            assert_eq!(t.c.len(), 1, "run {i}");
        } else {
            grt::time::sleep(Duration::from_micros(100));
        }
        assert!(t.reset(HOUR), "run {i}: reset of an expired, unreceived timer");
        assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty), "run {i}: stale value after reset");
        assert!(t.stop(), "run {i}: stop after reset");
    }
    assert_eq!(ntimers(), n0);
}

/// Resetting again and again delivers exactly one value per expiry that
/// nobody reset away.
fn timer_many_resets_deliver_one_value() {
    let t = Timer::new(Duration::ZERO);
    for _ in 0..1000 {
        t.reset(Duration::ZERO);
    }
    recv_within(&t.c, 20, "timer").unwrap();
    grt::time::sleep(ms(2));
    assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty), "more than one value");
}

/// A goroutine blocked on the channel (or in a select with it) is woken.
fn timer_wakes_blocked_receiver_and_select() {
    let t = Arc::new(Timer::new(ms(5)));
    let t2 = t.clone();
    let got = in_goroutine(move || t2.c.recv().is_some()).unwrap();
    assert!(got);
    let never = Chan::<()>::new(0);
    assert!(!t.reset(ms(5)), "reset after the value was received");
    let fired = grt::select! {
        recv(never) -> _ => false,
        recv(t.c) -> v => v.is_some(),
    };
    assert!(fired);
}

/// Stop racing the heap firing the same timer on another thread: whatever
/// stop returns, no value is received after it.
fn timer_stop_races_firing_no_stale_value() {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let t = Timer::new(HOUR);
    let (mut stopped, mut missed) = (0, 0);
    for i in 0..3000 {
        t.reset(Duration::from_micros(rng.below(40)));
        for _ in 0..rng.below(30) {
            std::hint::spin_loop();
        }
        if rng.below(4) == 0 {
            grt::yield_now();
        }
        if t.stop() {
            stopped += 1;
        } else {
            missed += 1;
        }
        assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty), "run {i}: a value after stop");
    }
    // stop returns false only after the value was received: never here.
    assert_eq!(missed, 0, "stop returned false {missed} times with nobody receiving ({stopped} true)");
}

/// Stop and reset from several goroutines at once, with a receiver: no
/// hang, no crash, and each reset that left the timer armed is seen.
fn timer_concurrent_stop_and_reset() {
    let t = Arc::new(Timer::new(HOUR));
    let wg = Arc::new(WaitGroup::new());
    let got = Arc::new(AtomicUsize::new(0));
    let stop = Chan::<()>::new(0);
    // A receiver that counts values until told to stop.
    {
        let (t, got, stop) = (t.clone(), got.clone(), stop.clone());
        wg.add(1);
        let wg = wg.clone();
        grt::go(move || {
            loop {
                grt::select! {
                    recv(t.c) -> v => { assert!(v.is_some()); got.fetch_add(1, Ordering::Relaxed); }
                    recv(stop) -> _ => break,
                }
            }
            wg.done();
        });
    }
    let workers = WaitGroup::new();
    let workers = Arc::new(workers);
    for w in 0..4u64 {
        workers.add(1);
        let (t, workers) = (t.clone(), workers.clone());
        grt::go(move || {
            let mut rng = Rng(w * 7919 + 1);
            for _ in 0..500 {
                match rng.below(3) {
                    0 => {
                        t.stop();
                    }
                    _ => {
                        t.reset(Duration::from_micros(rng.below(30)));
                    }
                }
                if rng.below(8) == 0 {
                    grt::yield_now();
                }
            }
            workers.done();
        });
    }
    workers.wait();
    // The last operation left the timer either stopped or armed: arm it
    // once more and the receiver must get that value.
    let before = got.load(Ordering::Relaxed);
    t.reset(Duration::ZERO);
    let t0 = Instant::now();
    while got.load(Ordering::Relaxed) == before {
        assert!(t0.elapsed() < Duration::from_secs(20), "the last reset never fired");
        grt::time::sleep(Duration::from_micros(200));
    }
    stop.send(());
    wg.wait();
    t.stop();
}

/// Go: AfterFunc runs f in its own goroutine, once.
fn after_func_runs_once_in_its_own_goroutine() {
    let done = Chan::new(4);
    let d = done.clone();
    let t = after_func(ms(2), move || d.send(grt::goid()));
    let g = recv_within(&done, 20, "after_func").unwrap();
    assert_ne!(g, grt::goid(), "f ran on the caller's goroutine");
    assert_ne!(g, 0, "f did not run on a goroutine");
    grt::time::sleep(ms(10));
    assert_eq!(done.try_recv(), Err(TryRecvError::Empty), "f ran twice");
    assert!(!t.stop(), "stop after f started");
    // Its channel never receives (Go's is nil).
    assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty));
}

/// Go: Stop before f runs prevents it (true); Reset after it ran runs it
/// again (false: it was not active).
fn after_func_stop_and_reset() {
    let n0 = ntimers();
    let runs = Arc::new(AtomicUsize::new(0));
    let done = Chan::new(4);
    let (r, d) = (runs.clone(), done.clone());
    let t = after_func(HOUR, move || {
        r.fetch_add(1, Ordering::SeqCst);
        d.send(());
    });
    assert!(t.stop(), "stop of a pending after_func");
    assert_eq!(ntimers(), n0, "the stopped timer is still in the heap");
    assert!(!t.reset(ms(1)), "reset of a stopped after_func");
    recv_within(&done, 20, "after_func after reset").unwrap();
    assert!(!t.reset(ms(1)), "reset after f ran");
    recv_within(&done, 20, "after_func after second reset").unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert!(!t.reset(HOUR), "reset after f ran");
    assert!(t.reset(HOUR), "reset of a pending after_func");
    assert!(t.stop());
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    // Dropping the timer does not stop it.
    let d = done.clone();
    drop(after_func(ms(1), move || d.send(())));
    recv_within(&done, 20, "dropped after_func").unwrap();
}

/// f runs in its own goroutine, so an f that blocks holds up nothing.
fn after_func_blocking_does_not_hold_up_timers() {
    let gate = Chan::<()>::new(0);
    let done = Chan::new(2);
    let (g, d) = (gate.clone(), done.clone());
    let _t = after_func(Duration::ZERO, move || {
        g.recv();
        d.send("blocked f");
    });
    let d = done.clone();
    let _t2 = after_func(ms(2), move || d.send("second f"));
    let t3 = Timer::new(ms(3));
    assert_eq!(recv_within(&done, 20, "second f"), Some("second f"));
    recv_within(&t3.c, 20, "timer after a blocked f").unwrap();
    gate.send(());
    assert_eq!(recv_within(&done, 20, "blocked f"), Some("blocked f"));
}

fn after_func_many() {
    let wg = Arc::new(WaitGroup::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let mut rng = Rng(42);
    let mut timers = Vec::new();
    for _ in 0..2000 {
        wg.add(1);
        let (wg, runs) = (wg.clone(), runs.clone());
        timers.push(after_func(Duration::from_micros(rng.below(5000)), move || {
            runs.fetch_add(1, Ordering::SeqCst);
            wg.done();
        }));
    }
    wg.wait();
    grt::time::sleep(ms(5));
    assert_eq!(runs.load(Ordering::SeqCst), 2000);
}

/// Ticks come repeatedly, the k-th received one no earlier than k periods
/// after the start.
fn ticker_ticks_on_schedule() {
    let p = ms(3);
    let t0 = Instant::now();
    let tk = Ticker::new(p);
    let mut last = t0;
    for k in 1..=5u32 {
        let v = recv_within(&tk.c, 20, "tick").unwrap();
        assert!(v >= t0 + p * k, "tick {k} at {:?}, before {:?}", v - t0, p * k);
        assert!(v >= last);
        last = v;
    }
    tk.stop();
}

/// Go: the ticker drops ticks to make up for slow receivers: after many
/// periods unreceived, one tick is pending, not a backlog; ticks go on.
fn ticker_drops_ticks_for_slow_receiver() {
    let tk = Ticker::new(ms(1));
    grt::time::sleep(ms(30));
    assert_eq!(tk.c.len(), 1, "pending ticks after 30 periods");
    let first = tk.c.try_recv().unwrap();
    let next = recv_within(&tk.c, 20, "tick after a slow receive").unwrap();
    assert!(next > first);
    tk.stop();
    // tick() is a ticker's channel.
    let c = tick(ms(1));
    grt::time::sleep(ms(10));
    assert_eq!(c.len(), 1);
}

/// Go 1.23: after Stop no tick is received, not even one sent before it.
fn ticker_stop_discards_and_silences() {
    let n0 = ntimers();
    let tk = Ticker::new(ms(1));
    grt::time::sleep(ms(5));
    tk.stop();
    assert_eq!(ntimers(), n0, "a stopped ticker stays in the heap");
    assert_eq!(tk.c.try_recv(), Err(TryRecvError::Empty), "stale tick after stop");
    grt::time::sleep(ms(5));
    assert_eq!(tk.c.try_recv(), Err(TryRecvError::Empty), "tick after stop");
    tk.stop();
}

/// Go: Reset stops the ticker and restarts it with the new period; the
/// next tick comes a new period after the reset.
fn ticker_reset_changes_period() {
    let tk = Ticker::new(HOUR);
    let t0 = Instant::now();
    tk.reset(ms(2));
    for k in 1..=3u32 {
        let v = recv_within(&tk.c, 20, "tick after reset").unwrap();
        assert!(v >= t0 + ms(2) * k);
    }
    tk.reset(HOUR);
    assert_eq!(tk.c.try_recv(), Err(TryRecvError::Empty), "stale tick after reset");
    // A stopped ticker restarts with reset.
    tk.stop();
    tk.reset(ms(1));
    recv_within(&tk.c, 20, "tick after stop and reset").unwrap();
    tk.stop();
}

fn ticker_zero_period_panics() {
    let e = in_goroutine(|| drop(Ticker::new(Duration::ZERO))).unwrap_err();
    assert!(e.contains("non-positive interval"), "{e}");
    let tk = Arc::new(Ticker::new(HOUR));
    let tk2 = tk.clone();
    let e = in_goroutine(move || tk2.reset(Duration::ZERO)).unwrap_err();
    assert!(e.contains("non-positive interval"), "{e}");
    tk.stop();
}

/// Go's idle-timeout loop: each piece of work resets the timer; the timer
/// fires once the work stops.
fn idle_timeout_pattern() {
    let work = Chan::<u32>::new(0);
    let w2 = work.clone();
    grt::go(move || {
        for i in 0..20 {
            w2.send(i);
        }
    });
    let idle = Timer::new(HOUR);
    let mut n = 0;
    loop {
        grt::select! {
            recv(work) -> v => {
                v.unwrap();
                n += 1;
                idle.reset(ms(20));
            }
            recv(idle.c) -> _ => break,
        }
    }
    assert_eq!(n, 20);
}

/// Go 1.23 frees timers nobody refers to: here a timer whose channel has
/// no handle left is stopped; one whose channel is still held fires.
fn dropped_channels_stop_their_timers() {
    let n0 = ntimers();
    for _ in 0..1000 {
        drop(after(HOUR));
        drop(Timer::new(HOUR));
        drop(Ticker::new(HOUR));
        drop(tick(HOUR));
    }
    assert_eq!(ntimers(), n0, "dropped timers left in the heap");
    // A ticker dropped while ticking fast stops too.
    drop(Ticker::new(Duration::from_micros(1)));
    wait_ntimers_at_most(n0, "a dropped fast ticker");
    // The channel moved out of its Timer keeps the timer alive.
    let c = Timer::new(ms(1)).c;
    recv_within(&c, 20, "timer channel moved out").unwrap();
    // A clone of the channel keeps it alive after the Timer is dropped.
    let t = Timer::new(ms(1));
    let c = t.c.clone();
    drop(t);
    recv_within(&c, 20, "cloned timer channel").unwrap();
    let tk = Ticker::new(ms(1));
    let c = tk.c.clone();
    drop(tk);
    recv_within(&c, 20, "cloned ticker channel").unwrap();
    recv_within(&c, 20, "cloned ticker channel, second tick").unwrap();
    drop(c);
    wait_ntimers_at_most(n0, "a ticker whose last clone was dropped");
    // `after` in a select that another case wins: the timer goes at once.
    let ready = Chan::new(1);
    ready.send(1);
    grt::select! {
        recv(ready) -> _ => {}
        recv(after(HOUR)) -> _ => panic!("timeout"),
    }
    assert_eq!(ntimers(), n0, "the losing after() is still pending");
}

/// Timers made, waited on, stopped and reset from threads the runtime does
/// not own; after_func from a thread still runs f on a goroutine.
fn timers_from_foreign_threads() {
    let t = Arc::new(Timer::new(HOUR));
    let t2 = t.clone();
    let r = grt::syscall(move || {
        std::thread::spawn(move || {
            // Blocks this thread, not a goroutine.
            let own = Timer::new(ms(2));
            assert!(own.c.recv().is_some());
            assert!(!own.stop());
            let tk = Ticker::new(ms(1));
            tk.c.recv().unwrap();
            tk.c.recv().unwrap();
            tk.stop();
            assert_eq!(tk.c.try_recv(), Err(TryRecvError::Empty));
            // Stop a goroutine's timer from here.
            let stopped = t2.stop();
            let (tx, rx) = std::sync::mpsc::channel();
            let f = after_func(ms(1), move || tx.send(grt::goid()).unwrap());
            let g = rx.recv().unwrap();
            drop(f);
            (stopped, g)
        })
        .join()
    });
    let (stopped, g) = r.expect("the thread panicked");
    assert!(stopped, "stop from a thread");
    assert_ne!(g, 0, "after_func from a thread did not run f on a goroutine");
    assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty));
    // A goroutine blocked on a timer that a thread resets.
    let t = Arc::new(Timer::new(HOUR));
    let t2 = t.clone();
    let h = std::thread::spawn(move || {
        std::thread::sleep(ms(5));
        t2.reset(ms(1))
    });
    recv_within(&t.c, 20, "timer reset by a thread").unwrap();
    assert!(grt::syscall(move || h.join()).unwrap());
}

const N: usize = 100_000;

/// 100k timers in the heap at once: all fire (channels and after_func);
/// with 100k more pending, sleep still works; stopping 100k timers one by
/// one takes each out of the heap (O(log n) each: O(n) each would not
/// finish here).
fn timers_100k_fire_and_sleep_still_works() {
    let n0 = ntimers();
    let mut rng = Rng(7);
    let t = Instant::now();
    let timers: Vec<Timer> = (0..N).map(|_| Timer::new(Duration::from_micros(rng.below(100_000)))).collect();
    println!("    making {N} timers took {:?}", t.elapsed());
    let wg = Arc::new(WaitGroup::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let funcs: Vec<Timer> = (0..N)
        .map(|_| {
            wg.add(1);
            let (wg, runs) = (wg.clone(), runs.clone());
            after_func(Duration::from_micros(rng.below(100_000)), move || {
                runs.fetch_add(1, Ordering::Relaxed);
                wg.done();
            })
        })
        .collect();
    let (t, pending) = (Instant::now(), ntimers());
    grt::time::sleep(ms(1));
    // Not a timing assertion: the sleeper may wait behind the goroutines
    // the after_funcs start.
    println!("    sleep(1ms) among {pending} timers firing took {:?}", t.elapsed());
    let mut got = 0;
    for (i, tm) in timers.iter().enumerate() {
        if i % 3 == 0 {
            assert!(recv_within(&tm.c, 60, "one of 100k timers").is_some());
        } else {
            assert!(tm.c.recv().is_some());
        }
        got += 1;
    }
    wg.wait();
    assert_eq!(got, N);
    assert_eq!(runs.load(Ordering::Relaxed), N);
    drop(funcs);
    drop(timers);
    wait_ntimers_at_most(n0, "after 200k timers fired");

    // 100k timers that will not fire soon, stopped one by one.
    let far: Vec<Timer> = (0..N).map(|i| Timer::new(HOUR + Duration::from_micros(i as u64 * 7919 % 1_000_000))).collect();
    assert!(ntimers() >= n0 + N as u32);
    for d in [1, 3, 2] {
        let t = Instant::now();
        grt::time::sleep(ms(d));
        assert!(t.elapsed() >= ms(d));
        println!("    sleep({d}ms) with {} timers pending took {:?}", ntimers(), t.elapsed());
    }
    let t = Instant::now();
    // In creation order, which is not deadline order.
    for tm in &far {
        assert!(tm.stop());
    }
    println!("    stopping {N} pending timers took {:?}", t.elapsed());
    assert_eq!(ntimers(), n0);
    let t = Instant::now();
    for tm in far.iter().rev() {
        assert!(!tm.reset(HOUR));
    }
    println!("    resetting {N} stopped timers took {:?}", t.elapsed());
    assert_eq!(ntimers(), n0 + N as u32);
    drop(far);
    assert_eq!(ntimers(), n0, "dropped timers left in the heap");
}

/// 100k goroutines asleep at once all wake, and a sleep among them still
/// returns.
fn sleepers_100k() {
    let wg = Arc::new(WaitGroup::new());
    let woke = Arc::new(AtomicUsize::new(0));
    let mut rng = Rng(99);
    for _ in 0..N {
        wg.add(1);
        let (wg, woke) = (wg.clone(), woke.clone());
        let d = Duration::from_micros(rng.below(200_000));
        grt::go(move || {
            let t = Instant::now();
            grt::time::sleep(d);
            assert!(t.elapsed() >= d, "woke early");
            woke.fetch_add(1, Ordering::Relaxed);
            wg.done();
        });
    }
    let t = Instant::now();
    grt::time::sleep(ms(1));
    assert!(t.elapsed() >= ms(1));
    let done = Chan::new(1);
    let d2 = done.clone();
    grt::go(move || {
        wg.wait();
        d2.send(());
    });
    recv_within(&done, 100, "100k sleepers");
    assert_eq!(woke.load(Ordering::Relaxed), N);
}
