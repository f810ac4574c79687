//! `grt::context` against Go's documented semantics: cancellation flows to
//! every descendant and never up; a cancelled child leaves its parent;
//! deadlines fire with DeadlineExceeded, are inherited when earlier, and
//! their timers stop when the context is cancelled first; `done()` works in
//! `select!`, and everything works from threads that are not goroutines.
//! Each test runs at GOMAXPROCS 1 and 4 (support/harness.rs).

#[path = "support/harness.rs"]
mod harness;

use grt::context::{self, background, with_cancel, with_deadline, with_timeout, Context, Error};
use grt::internal::context_children as children;
use grt::sync::WaitGroup;
use grt::{Chan, TryRecvError};
use harness::{ntimers, recv_within, wait_ntimers_at_most, Test};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TESTS: &[Test] = &[
    ("background_is_never_done", background_is_never_done),
    ("cancel_closes_done_and_sets_err", cancel_closes_done_and_sets_err),
    ("cancel_reaches_every_descendant", cancel_reaches_every_descendant),
    ("child_cancel_leaves_parent_and_siblings", child_cancel_leaves_parent_and_siblings),
    ("cancelled_children_leave_the_parent", cancelled_children_leave_the_parent),
    ("child_of_cancelled_parent_is_born_cancelled", child_of_cancelled_parent_is_born_cancelled),
    ("timeout_fires_deadline_exceeded", timeout_fires_deadline_exceeded),
    ("past_deadline_is_done_at_once", past_deadline_is_done_at_once),
    ("earlier_parent_deadline_is_inherited", earlier_parent_deadline_is_inherited),
    ("later_child_deadline_is_its_own", later_child_deadline_is_its_own),
    ("cancel_before_deadline_stops_the_timer", cancel_before_deadline_stops_the_timer),
    ("dropped_deadline_context_stops_its_timer", dropped_deadline_context_stops_its_timer),
    ("workers_stop_on_cancel_in_select", workers_stop_on_cancel_in_select),
    ("concurrent_cancels_and_children", concurrent_cancels_and_children),
    ("deep_chain_cancel_and_drop", deep_chain_cancel_and_drop),
    ("contexts_from_foreign_threads", contexts_from_foreign_threads),
];

fn main() {
    harness::main(TESTS)
}

const HOUR: Duration = Duration::from_secs(3600);

/// Whether `ctx.done()` is closed, without blocking.
fn is_closed(ctx: &Context) -> bool {
    match ctx.done().try_recv() {
        Err(TryRecvError::Closed) => true,
        Err(TryRecvError::Empty) => false,
        Ok(()) => panic!("a value on a done channel"),
    }
}

/// Go: Background is never cancelled, has no deadline; its Done never
/// receives.
fn background_is_never_done() {
    for ctx in [background(), context::todo(), Context::default()] {
        assert_eq!(ctx.err(), None);
        assert_eq!(ctx.deadline(), None);
        assert!(!is_closed(&ctx));
        let ready = grt::select! {
            recv(ctx.done()) -> _ => true,
            default => false,
        };
        assert!(!ready);
    }
}

/// Go: the CancelFunc closes Done and Err becomes Canceled; later calls do
/// nothing.
fn cancel_closes_done_and_sets_err() {
    let (ctx, cancel) = with_cancel(&background());
    assert_eq!(ctx.err(), None);
    assert!(!is_closed(&ctx));
    assert_eq!(ctx.deadline(), None);
    // A goroutine blocked on done wakes.
    let c2 = ctx.clone();
    let woke = Chan::new(1);
    let w = woke.clone();
    grt::go(move || {
        assert_eq!(c2.done().recv(), None);
        w.send(c2.err());
    });
    grt::time::sleep(Duration::from_millis(2));
    cancel();
    assert_eq!(recv_within(&woke, 20, "waiter on done"), Some(Some(Error::Canceled)));
    assert!(is_closed(&ctx));
    assert_eq!(ctx.err(), Some(Error::Canceled));
    assert!(ctx.is_done());
    cancel();
    cancel();
    assert_eq!(ctx.err(), Some(Error::Canceled));
    assert_eq!(Error::Canceled.to_string(), "context canceled");
    assert_eq!(Error::DeadlineExceeded.to_string(), "context deadline exceeded");
}

/// Go: cancelling a context cancels all its descendants.
fn cancel_reaches_every_descendant() {
    let (root, cancel) = with_cancel(&background());
    // A tree: root -> 3 -> 3 each -> 3 each (39 descendants), some made
    // with deadlines, some dropped by the program (their children live on).
    let mut all = Vec::new();
    let mut cancels = Vec::new();
    let mut level = vec![root.clone()];
    for depth in 0..3 {
        let mut next = Vec::new();
        for p in &level {
            for k in 0..3 {
                let (c, cf) = match (depth + k) % 3 {
                    0 => with_cancel(p),
                    1 => with_timeout(p, HOUR),
                    _ => with_deadline(p, Instant::now() + HOUR),
                };
                next.push(c.clone());
                all.push(c);
                cancels.push(cf);
            }
        }
        level = next;
    }
    assert_eq!(all.len(), 39);
    // Drop the handles of the middle level: their children must still be
    // cancelled through them.
    let keep: Vec<Context> = all.iter().enumerate().filter(|(i, _)| !(3..12).contains(i)).map(|(_, c)| c.clone()).collect();
    drop(all);
    drop(level);
    assert!(keep.iter().all(|c| c.err().is_none()));
    cancel();
    for c in &keep {
        assert_eq!(c.err(), Some(Error::Canceled));
        assert!(is_closed(c));
    }
    drop(cancels);
}

/// Go: cancelling a child does not affect its parent or siblings.
fn child_cancel_leaves_parent_and_siblings() {
    let (parent, pcancel) = with_cancel(&background());
    let (a, acancel) = with_cancel(&parent);
    let (b, _bcancel) = with_timeout(&parent, HOUR);
    let (a1, _a1cancel) = with_cancel(&a);
    acancel();
    assert_eq!(a.err(), Some(Error::Canceled));
    assert_eq!(a1.err(), Some(Error::Canceled));
    assert_eq!(parent.err(), None);
    assert!(!is_closed(&parent));
    assert_eq!(b.err(), None);
    pcancel();
    assert_eq!(b.err(), Some(Error::Canceled));
}

/// Go: a cancelled child is removed from its parent, so children that come
/// and go do not pile up in a long-lived parent.
fn cancelled_children_leave_the_parent() {
    let (parent, pcancel) = with_cancel(&background());
    assert_eq!(children(&parent), 0);
    for i in 0..10_000 {
        let (c, cancel) = if i % 2 == 0 { with_cancel(&parent) } else { with_timeout(&parent, HOUR) };
        assert_eq!(children(&parent), 1);
        // A grandchild leaves its own parent, not ours.
        let (g, gcancel) = with_cancel(&c);
        assert_eq!(children(&c), 1);
        gcancel();
        assert_eq!(children(&c), 0);
        assert_eq!(g.err(), Some(Error::Canceled));
        cancel();
        assert_eq!(children(&parent), 0, "run {i}: a cancelled child stayed");
    }
    // Children whose deadline fired leave too.
    let kids: Vec<_> = (0..100).map(|_| with_timeout(&parent, Duration::from_millis(1))).collect();
    for (k, _) in &kids {
        assert_eq!(recv_within(k.done(), 20, "deadline"), None);
        assert_eq!(k.err(), Some(Error::DeadlineExceeded));
    }
    let t = Instant::now();
    while children(&parent) != 0 {
        assert!(t.elapsed() < Duration::from_secs(20), "expired children stayed: {}", children(&parent));
        grt::yield_now();
    }
    // The parent's cancel empties its set.
    let _kids: Vec<_> = (0..100).map(|_| with_cancel(&parent)).collect();
    assert_eq!(children(&parent), 100);
    pcancel();
    assert_eq!(children(&parent), 0);
}

/// Go: a context derived from a cancelled one is cancelled at once, with
/// the parent's error.
fn child_of_cancelled_parent_is_born_cancelled() {
    let (p, cancel) = with_cancel(&background());
    cancel();
    let (c, _cf) = with_cancel(&p);
    assert_eq!(c.err(), Some(Error::Canceled));
    assert!(is_closed(&c));
    assert_eq!(children(&p), 0);
    let (p, _pf) = with_timeout(&background(), Duration::ZERO);
    let (c, _cf) = with_cancel(&p);
    assert_eq!(c.err(), Some(Error::DeadlineExceeded));
    let (c, _cf) = with_timeout(&p, HOUR);
    assert_eq!(c.err(), Some(Error::DeadlineExceeded));
}

/// Go: WithTimeout's context is done with DeadlineExceeded once the time
/// passes, not before; its descendants too.
fn timeout_fires_deadline_exceeded() {
    let t0 = Instant::now();
    let (ctx, cancel) = with_timeout(&background(), Duration::from_millis(20));
    let (child, _cf) = with_cancel(&ctx);
    let dl = ctx.deadline().expect("no deadline");
    assert!(dl >= t0 + Duration::from_millis(20));
    assert_eq!(child.deadline(), Some(dl), "a child inherits the deadline");
    assert_eq!(recv_within(ctx.done(), 20, "timeout"), None);
    assert!(Instant::now() >= dl, "done before the deadline");
    assert_eq!(ctx.err(), Some(Error::DeadlineExceeded));
    assert_eq!(recv_within(child.done(), 20, "child of a timeout"), None);
    assert_eq!(child.err(), Some(Error::DeadlineExceeded));
    // Cancel after the deadline changes nothing.
    cancel();
    assert_eq!(ctx.err(), Some(Error::DeadlineExceeded));
}

/// Go: a deadline already past gives a context done at once.
fn past_deadline_is_done_at_once() {
    let (parent, _pf) = with_cancel(&background());
    let (ctx, cancel) = with_deadline(&parent, Instant::now() - Duration::from_millis(1));
    assert_eq!(ctx.err(), Some(Error::DeadlineExceeded));
    assert!(is_closed(&ctx));
    assert_eq!(children(&parent), 0);
    cancel();
    assert_eq!(ctx.err(), Some(Error::DeadlineExceeded));
    let (ctx, _cf) = with_timeout(&background(), Duration::ZERO);
    assert_eq!(ctx.err(), Some(Error::DeadlineExceeded));
}

/// Go: WithDeadline with a later deadline than the parent's keeps the
/// parent's, and is done when the parent's passes.
fn earlier_parent_deadline_is_inherited() {
    let n0 = ntimers();
    let (p, _pf) = with_timeout(&background(), Duration::from_millis(10));
    let (c, _cf) = with_timeout(&p, HOUR);
    assert_eq!(c.deadline(), p.deadline());
    assert_eq!(ntimers(), n0 + 1, "the child made a timer it does not need");
    assert_eq!(recv_within(c.done(), 20, "inherited deadline"), None);
    assert_eq!(c.err(), Some(Error::DeadlineExceeded));
}

/// An earlier own deadline wins over the parent's; cancelling the parent
/// still cancels the child (Canceled).
fn later_child_deadline_is_its_own() {
    let (p, pcancel) = with_timeout(&background(), HOUR);
    let (c, _cf) = with_timeout(&p, Duration::from_millis(5));
    assert!(c.deadline() < p.deadline());
    assert_eq!(recv_within(c.done(), 20, "own deadline"), None);
    assert_eq!(c.err(), Some(Error::DeadlineExceeded));
    assert_eq!(p.err(), None);
    let (c2, _cf) = with_timeout(&p, Duration::from_secs(1800));
    pcancel();
    assert_eq!(c2.err(), Some(Error::Canceled));
}

/// Go: cancelling a context with a deadline stops its timer.
fn cancel_before_deadline_stops_the_timer() {
    let n0 = ntimers();
    let ctxs: Vec<_> = (0..1000).map(|_| with_timeout(&background(), HOUR)).collect();
    assert_eq!(ntimers(), n0 + 1000);
    for (c, cancel) in &ctxs {
        cancel();
        assert_eq!(c.err(), Some(Error::Canceled));
    }
    assert_eq!(ntimers(), n0, "cancelled contexts left their timers");
    // Through a parent too.
    let (p, pcancel) = with_cancel(&background());
    let kids: Vec<_> = (0..1000).map(|_| with_timeout(&p, HOUR)).collect();
    assert_eq!(ntimers(), n0 + 1000);
    pcancel();
    assert_eq!(ntimers(), n0, "descendants cancelled by the parent left their timers");
    drop(kids);
}

/// A deadline context that nobody holds any more (dropped without cancel)
/// stops its timer rather than keep it until the deadline.
fn dropped_deadline_context_stops_its_timer() {
    let n0 = ntimers();
    for _ in 0..1000 {
        let (ctx, cancel) = with_timeout(&background(), HOUR);
        drop(cancel);
        drop(ctx);
    }
    assert_eq!(ntimers(), n0, "dropped contexts left their timers");
}

/// The Go pattern: workers select on their job channel and ctx.Done(),
/// and all return once the context is cancelled.
fn workers_stop_on_cancel_in_select() {
    let (ctx, cancel) = with_cancel(&background());
    let jobs = Chan::<u32>::new(0);
    let wg = Arc::new(WaitGroup::new());
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..50 {
        wg.add(1);
        let (ctx, jobs, wg, done) = (ctx.clone(), jobs.clone(), wg.clone(), done.clone());
        grt::go(move || {
            loop {
                grt::select! {
                    recv(jobs) -> j => { j.unwrap(); done.fetch_add(1, Ordering::Relaxed); }
                    recv(ctx.done()) -> v => { assert!(v.is_none()); break; }
                }
            }
            assert_eq!(ctx.err(), Some(Error::Canceled));
            wg.done();
        });
    }
    for i in 0..500 {
        jobs.send(i);
    }
    cancel();
    let fin = Chan::new(1);
    let f2 = fin.clone();
    grt::go(move || {
        wg.wait();
        f2.send(());
    });
    recv_within(&fin, 20, "workers after cancel");
    assert_eq!(done.load(Ordering::Relaxed), 500);
    // A timeout ends them the same way.
    let (ctx, _cf) = with_timeout(&background(), Duration::from_millis(5));
    let r = grt::select! {
        recv(jobs) -> _ => None,
        recv(ctx.done()) -> _ => ctx.err(),
    };
    assert_eq!(r, Some(Error::DeadlineExceeded));
}

/// Children made and cancelled on many goroutines while the parent is
/// cancelled: every child ends cancelled, none is left in the set.
fn concurrent_cancels_and_children() {
    let n0 = ntimers();
    for round in 0..20 {
        let (parent, pcancel) = with_cancel(&background());
        let wg = Arc::new(WaitGroup::new());
        let made = Chan::<Context>::new(4096);
        for w in 0..8 {
            wg.add(1);
            let (parent, wg, made) = (parent.clone(), wg.clone(), made.clone());
            grt::go(move || {
                for i in 0..200 {
                    let (c, cancel) = if (w + i) % 2 == 0 { with_cancel(&parent) } else { with_timeout(&parent, HOUR) };
                    if i % 3 == 0 {
                        cancel();
                    }
                    made.send(c);
                    if i % 16 == 0 {
                        grt::yield_now();
                    }
                }
                wg.done();
            });
        }
        grt::yield_now();
        pcancel();
        wg.wait();
        made.close();
        let mut n = 0;
        for c in &made {
            n += 1;
            assert!(c.err().is_some(), "round {round}: a child outlived its parent's cancel");
            assert!(is_closed(&c));
        }
        assert_eq!(n, 1600);
        assert_eq!(children(&parent), 0, "round {round}");
    }
    wait_ntimers_at_most(n0, "contexts of concurrent_cancels_and_children");
}

/// A chain 100k deep: cancelling the root reaches the leaf (no recursion),
/// and dropping an uncancelled chain does not overflow the stack.
fn deep_chain_cancel_and_drop() {
    let (root, cancel) = with_cancel(&background());
    let mut leaf = root.clone();
    for _ in 0..100_000 {
        leaf = with_cancel(&leaf).0;
    }
    cancel();
    assert_eq!(leaf.err(), Some(Error::Canceled));
    let (root, cancel) = with_cancel(&background());
    let mut leaf = root.clone();
    for _ in 0..100_000 {
        leaf = with_cancel(&leaf).0;
    }
    drop(cancel);
    drop(root);
    assert_eq!(leaf.err(), None);
    drop(leaf);
}

/// Contexts made, cancelled and waited on by threads the runtime does not
/// own, with goroutines on the other side.
fn contexts_from_foreign_threads() {
    let (ctx, cancel) = with_cancel(&background());
    let c2 = ctx.clone();
    let waiter = std::thread::spawn(move || {
        // Blocks the thread until cancelled.
        assert_eq!(c2.done().recv(), None);
        let (t, _tf) = with_timeout(&c2, HOUR);
        let own = with_timeout(&background(), Duration::from_millis(2)).0;
        assert_eq!(own.done().recv(), None);
        (c2.err(), t.err(), own.err())
    });
    grt::time::sleep(Duration::from_millis(2));
    let canceller = std::thread::spawn(move || cancel());
    let (e, t, own) = grt::syscall(move || {
        canceller.join().unwrap();
        waiter.join()
    })
    .expect("the thread panicked");
    assert_eq!(e, Some(Error::Canceled));
    assert_eq!(t, Some(Error::Canceled));
    assert_eq!(own, Some(Error::DeadlineExceeded));
    assert_eq!(ctx.err(), Some(Error::Canceled));
}
