//! `select!` against Go's semantics for what the toolkit leans on:
//! disabled cases (Go's nil channel: `None` is never chosen), send cases,
//! `default`, the channel forms a case accepts, bodies that reassign the
//! channels (Go's "set it to nil when drained" idiom), and values of send
//! cases that do not win. Each test runs at GOMAXPROCS 1 and 4
//! (support/harness.rs).

#[path = "support/harness.rs"]
mod harness;

use grt::{Chan, TryRecvError};
use harness::{recv_within, Test};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const TESTS: &[Test] = &[
    ("disabled_recv_is_never_chosen", disabled_recv_is_never_chosen),
    ("disabled_send_is_never_chosen_and_drops_its_value", disabled_send_is_never_chosen_and_drops_its_value),
    ("only_disabled_cases_take_default", only_disabled_cases_take_default),
    ("only_disabled_cases_block_forever", only_disabled_cases_block_forever),
    ("disabled_case_wakes_nothing", disabled_case_wakes_nothing),
    ("merge_until_closed_with_none_idiom", merge_until_closed_with_none_idiom),
    ("send_case_when_there_is_something_to_send", send_case_when_there_is_something_to_send),
    ("case_channel_forms", case_channel_forms),
    ("losing_sends_drop_their_values_before_the_body", losing_sends_drop_their_values_before_the_body),
    ("default_from_a_thread_with_disabled_cases", default_from_a_thread_with_disabled_cases),
];

fn main() {
    harness::main(TESTS)
}

/// Go: a case on a nil channel never proceeds; the others are chosen
/// fairly among themselves.
fn disabled_recv_is_never_chosen() {
    let a = Chan::<u8>::new(1);
    let b = Chan::<u8>::new(1);
    let off: Option<&Chan<u8>> = None;
    let (mut na, mut nb) = (0, 0);
    for _ in 0..1000 {
        let _ = a.try_send(0);
        let _ = b.try_send(0);
        grt::select! {
            recv(a) -> _ => na += 1,
            recv(off) -> _ => panic!("a disabled case was chosen"),
            recv(b) -> _ => nb += 1,
        }
    }
    assert!(na >= 100 && nb >= 100, "unfair around a disabled case: a={na} b={nb}");
}

struct Tracked(Arc<AtomicUsize>);
impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Go evaluates the value of a send on a nil channel and never sends it;
/// here the value is dropped, once.
fn disabled_send_is_never_chosen_and_drops_its_value() {
    let drops = Arc::new(AtomicUsize::new(0));
    let out = Chan::<Tracked>::new(1);
    let ready = Chan::<u8>::new(1);
    for i in 0..200 {
        ready.send(1);
        let target: Option<&Chan<Tracked>> = if i % 2 == 0 { None } else { Some(&out) };
        let sent = grt::select! {
            send(target, Tracked(drops.clone())) => true,
            recv(ready) -> _ => false,
            default => panic!("default with a ready case"),
        };
        if sent {
            assert!(target.is_some(), "run {i}: the disabled send was chosen");
            drop(out.try_recv().unwrap());
        }
        let _ = ready.try_recv();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 200, "every value dropped exactly once");
}

/// Go: with only nil channels and a default, the default runs.
fn only_disabled_cases_take_default() {
    let none: Option<Chan<u8>> = None;
    let off: Option<&Chan<u8>> = None;
    for _ in 0..100 {
        let r = grt::select! {
            recv(none) -> _ => 1,
            send(off, 5) => 2,
            default => 3,
        };
        assert_eq!(r, 3);
    }
}

/// Go: a select with only nil channels and no default blocks forever.
fn only_disabled_cases_block_forever() {
    let passed = Arc::new(AtomicBool::new(false));
    let p = passed.clone();
    grt::go(move || {
        let off: Option<&Chan<u8>> = None;
        grt::select! {
            recv(off) -> _ => {}
            send(off, 1) => {}
        }
        p.store(true, Ordering::SeqCst);
    });
    for _ in 0..10 {
        grt::time::sleep(Duration::from_millis(2));
        assert!(!passed.load(Ordering::SeqCst), "a select of disabled cases returned");
    }
    // It stays parked for the rest of the process, as in Go.
}

/// A disabled case does not enqueue on its channel: a sender on that
/// channel finds no receiver; the enabled case still wakes the select.
fn disabled_case_wakes_nothing() {
    let c = Chan::<u32>::new(0);
    let wake = Chan::<u32>::new(0);
    let (c2, w2) = (c.clone(), wake.clone());
    let r = Chan::new(1);
    let r2 = r.clone();
    grt::go(move || {
        let disabled = Some(&c2).filter(|_| false);
        let v = grt::select! {
            recv(disabled) -> _ => panic!("chosen while disabled"),
            recv(w2) -> v => v,
        };
        r2.send(v);
    });
    grt::time::sleep(Duration::from_millis(2));
    assert_eq!(c.try_send(1), Err(grt::TrySendError::Full(1)), "the disabled case is waiting on its channel");
    wake.send(9);
    assert_eq!(recv_within(&r, 20, "select"), Some(Some(9)));
}

/// Go's idiom: receive from two channels until both are closed, setting
/// each to nil when it is.
fn merge_until_closed_with_none_idiom() {
    let a = Chan::new(0);
    let b = Chan::new(4);
    for (c, base) in [(a.clone(), 0u32), (b.clone(), 1000)] {
        grt::go(move || {
            for i in 0..100 {
                c.send(base + i);
            }
            c.close();
        });
    }
    let (mut a, mut b) = (Some(a), Some(b));
    let (mut na, mut nb, mut rounds) = (0, 0, 0);
    while a.is_some() || b.is_some() {
        rounds += 1;
        grt::select! {
            recv(a) -> v => match v {
                Some(x) => { assert!(x < 1000); na += 1 }
                None => a = None,
            },
            recv(b) -> v => match v {
                Some(x) => { assert!(x >= 1000); nb += 1 }
                None => b = None,
            },
        }
    }
    assert_eq!((na, nb, rounds), (100, 100, 202));
}

/// A send case enabled only when there is a value (Go: a nil out channel
/// while the queue is empty), feeding a slow consumer from a queue.
fn send_case_when_there_is_something_to_send() {
    let input = Chan::<u32>::new(0);
    let output = Chan::<u32>::new(0);
    let (i2, o2) = (input.clone(), output.clone());
    grt::go(move || {
        let mut queue = std::collections::VecDeque::new();
        let mut input = Some(i2);
        while input.is_some() || !queue.is_empty() {
            let next = queue.front().copied();
            grt::select! {
                recv(input) -> v => match v {
                    Some(x) => queue.push_back(x),
                    None => input = None,
                },
                send(next.map(|_| &o2), next.unwrap_or(0)) => { queue.pop_front(); }
            }
        }
        o2.close();
    });
    for i in 0..100 {
        input.send(i);
    }
    input.close();
    let got: Vec<u32> = output.iter().collect();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

/// Every form a case takes: a channel, a reference, a reference to a
/// reference, Arc and Box, Option by value or of a reference, a temporary.
fn case_channel_forms() {
    let c = Chan::<u8>::new(8);
    let arc = Arc::new(c.clone());
    let boxed = Box::new(c.clone());
    let some = Some(c.clone());
    let r = &c;
    for _ in 0..7 {
        c.send(1);
    }
    let mut n = 0;
    for k in 0..7 {
        let got = match k {
            0 => grt::select! { recv(c) -> v => v },
            1 => grt::select! { recv(r) -> v => v },
            2 => grt::select! { recv(&r) -> v => v },
            3 => grt::select! { recv(arc) -> v => v },
            4 => grt::select! { recv(boxed) -> v => v },
            5 => grt::select! { recv(some) -> v => v },
            _ => grt::select! { recv(some.as_ref()) -> v => v },
        };
        n += got.unwrap() as usize;
    }
    assert_eq!(n, 7);
    assert_eq!(c.try_recv(), Err(TryRecvError::Empty));
    grt::select! {
        send(Some(&c), 4) => {}
        send(arc, 5) => {}
    }
    assert!(matches!(c.try_recv(), Ok(4 | 5)));
    let v = grt::select! {
        recv(grt::time::after(Duration::ZERO)) -> v => v.is_some(),
    };
    assert!(v);
}

/// The values of send cases that lose are dropped before the chosen body
/// runs; the winner's value is moved, not dropped.
fn losing_sends_drop_their_values_before_the_body() {
    let drops = Arc::new(AtomicUsize::new(0));
    let full = Chan::<Tracked>::new(0);
    let room = Chan::<Tracked>::new(1);
    let d = drops.clone();
    grt::select! {
        send(full, Tracked(drops.clone())) => panic!("sent with no receiver"),
        send(room, Tracked(drops.clone())) => {
            assert_eq!(d.load(Ordering::SeqCst), 1, "the losing value is still alive in the body");
        }
    }
    drop(room.try_recv().unwrap());
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

/// A select with a default works on a thread that is not a goroutine,
/// disabled cases included.
fn default_from_a_thread_with_disabled_cases() {
    let c = Chan::<u8>::new(1);
    c.send(3);
    let c2 = c.clone();
    let r = grt::syscall(move || {
        std::thread::spawn(move || {
            let off: Option<&Chan<u8>> = None;
            let first = grt::select! {
                recv(off) -> _ => 0,
                recv(c2) -> v => v.unwrap(),
                default => 100,
            };
            let second = grt::select! {
                recv(off) -> _ => 0,
                recv(c2) -> v => v.unwrap(),
                default => 100,
            };
            (first, second)
        })
        .join()
    })
    .unwrap();
    assert_eq!(r, (3, 100));
}
