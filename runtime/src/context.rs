//! Go's `context` package: cancellation and deadlines that flow down a
//! tree of contexts, observed through a `done` channel usable in `select!`.
//!
//! ```
//! use grt::context::{self, Error};
//! use std::time::Duration;
//! grt::run(|| {
//!     let (ctx, cancel) = context::with_timeout(&context::background(), Duration::from_secs(10));
//!     let jobs = grt::Chan::<u32>::new(0);
//!     let (c, j) = (ctx.clone(), jobs.clone());
//!     let worker = grt::Chan::new(1);
//!     let w = worker.clone();
//!     grt::go(move || {
//!         let mut n = 0;
//!         loop {
//!             grt::select! {
//!                 recv(j) -> _ => n += 1,
//!                 recv(c.done()) -> _ => break, // closed on cancel
//!             }
//!         }
//!         w.send((n, c.err()));
//!     });
//!     jobs.send(1);
//!     jobs.send(2);
//!     cancel();
//!     assert_eq!(worker.recv(), Some((2, Some(Error::Canceled))));
//! })
//! ```
//!
//! As in Go: cancelling a context cancels all its descendants, never its
//! parent; a cancelled child leaves its parent's set of children (so
//! short-lived children of a long-lived context do not pile up); a child of
//! a cancelled context is born cancelled; a deadline is inherited when the
//! parent's is earlier; a deadline timer is stopped when the context is
//! cancelled first. Call the `CancelFn` once the work is done, as Go asks:
//! until then a child stays in its parent's set. Every operation may be
//! used from any goroutine or thread; waiting on `done()` from a thread
//! blocks that thread.
//!
//! # How it works
//!
//! A cancelable context is a `Node`: its `done` channel (closed once, by
//! the cancel that sets `err`), its deadline, and under its mutex its
//! children (strong references: a child must be reachable for a parent's
//! cancel to reach it) and its deadline timer (`time::after_func`, which
//! calls `cancel` in its own goroutine). A child refers to its parent
//! weakly, only to leave its set, so a tree nobody holds is freed. `cancel`
//! walks the subtree with a work list, not by recursion, taking one node's
//! mutex at a time: a deep chain cannot overflow a goroutine's stack, and
//! no two context locks are ever held together. `err` is an atomic, set
//! under the mutex before the channel is closed, so whoever sees `done`
//! closed sees `err`.

use crate::chan::Chan;
use crate::sync::Mutex;
use crate::time::Timer;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use core::sync::atomic::{AtomicU64, AtomicU8};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Why a context is done (Go's `context.Canceled` and
/// `context.DeadlineExceeded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// Its `CancelFn`, or an ancestor's, was called.
    Canceled,
    /// Its deadline, or an ancestor's, passed.
    DeadlineExceeded,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::Canceled => "context canceled",
            Error::DeadlineExceeded => "context deadline exceeded",
        })
    }
}

impl std::error::Error for Error {}

/// Cancels a context and its descendants (Go's `CancelFunc`): call it as
/// `cancel()`. Calls after the first do nothing. It may be cloned and
/// called from any goroutine or thread.
pub type CancelFn = Arc<dyn Fn() + Send + Sync>;

const ERR_NONE: u8 = 0;
const ERR_CANCELED: u8 = 1;
const ERR_DEADLINE: u8 = 2;

fn err_code(e: Error) -> u8 {
    match e {
        Error::Canceled => ERR_CANCELED,
        Error::DeadlineExceeded => ERR_DEADLINE,
    }
}

/// A cancelable context.
struct Node {
    id: u64,
    /// The parent, if it is cancelable: only to leave its `children`.
    parent: Option<Weak<Node>>,
    /// Its own deadline or an ancestor's, whichever is earlier.
    deadline: Option<Instant>,
    /// ERR_*: set once, under `st`, before `done` is closed.
    err: AtomicU8,
    /// Closed by the cancel that sets `err`.
    done: Chan<()>,
    st: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Live children by id: strong, so a cancel reaches them.
    children: HashMap<u64, Arc<Node>>,
    /// The deadline timer, until the context is cancelled.
    timer: Option<Timer>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Node {
    fn err(&self) -> Option<Error> {
        match self.err.load(Acquire) {
            ERR_NONE => None,
            ERR_CANCELED => Some(Error::Canceled),
            _ => Some(Error::DeadlineExceeded),
        }
    }

    /// Go's `cancelCtx.cancel`: cancels this node and its subtree with
    /// `err`, stops their deadline timers, and (if `remove`) takes this
    /// node out of its parent's children. A node already cancelled is left
    /// as it is.
    fn cancel(self: &Arc<Node>, err: Error, remove: bool) {
        let mut work = vec![self.clone()];
        let mut first = true;
        while let Some(n) = work.pop() {
            let mut st = n.st.lock();
            if n.err.load(Relaxed) != ERR_NONE {
                if first {
                    // Already cancelled, and then already out of its parent.
                    return;
                }
                continue;
            }
            first = false;
            n.err.store(err_code(err), Release);
            // Closed once: only here, under the lock, with err set just now.
            // (A program that closed it itself gets no second close.)
            if n.done.hchan().closed.load(Relaxed) == 0 {
                n.done.close();
            }
            let children = core::mem::take(&mut st.children);
            let timer = st.timer.take();
            drop(st);
            if let Some(t) = timer {
                t.stop();
            }
            // The children were taken out: they need not leave the set.
            work.extend(children.into_values());
        }
        if remove {
            if let Some(p) = self.parent.as_ref().and_then(Weak::upgrade) {
                let gone = p.st.lock().children.remove(&self.id);
                // Dropped after the parent's lock.
                drop(gone);
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let mut st = self.st.lock();
        // Nobody can wait on this context any more: its timer has nothing
        // left to do.
        if let Some(t) = st.timer.take() {
            t.stop();
        }
        // Children that go with it are taken apart here, one at a time: a
        // long chain dropped by recursion would overflow the stack.
        let mut orphans: Vec<Arc<Node>> = core::mem::take(&mut st.children).into_values().collect();
        drop(st);
        while let Some(c) = orphans.pop() {
            if let Ok(c) = Arc::try_unwrap(c) {
                orphans.extend(core::mem::take(&mut c.st.lock().children).into_values());
                // `c` drops here, childless.
            }
        }
    }
}

/// A context: carries a cancellation signal and maybe a deadline (Go's
/// `context.Context`). Cloning gives another handle to the same context.
#[derive(Clone, Default)]
pub struct Context {
    /// None for `background()`: never cancelled, no deadline.
    n: Option<Arc<Node>>,
}

/// The root of every context tree: never cancelled, no deadline (Go's
/// `context.Background`).
pub fn background() -> Context {
    Context { n: None }
}

/// Same as `background`, to mark a context still to be decided (Go's
/// `context.TODO`).
pub fn todo() -> Context {
    Context { n: None }
}

/// The channel `done()` returns for a context that is never cancelled.
/// Nothing ever sends on it or closes it.
fn never_done() -> &'static Chan<()> {
    static NEVER: OnceLock<Chan<()>> = OnceLock::new();
    NEVER.get_or_init(|| Chan::new(0))
}

impl Context {
    /// A channel that is closed when the context is cancelled or its
    /// deadline passes, so a receive from it returns `None` from then on
    /// (Go's `ctx.Done()`). For `background()`, a channel that never
    /// receives. Use it in `select!` as `recv(ctx.done()) -> _ => ...`.
    /// Do not close it or send on it.
    #[track_caller]
    pub fn done(&self) -> &Chan<()> {
        match &self.n {
            Some(n) => &n.done,
            None => {
                crate::need_runtime("context::Context::done");
                never_done()
            }
        }
    }

    /// Why the context is done, or `None` while it is not (Go's
    /// `ctx.Err()`). Once `done()` is closed this is `Some` and never
    /// changes.
    pub fn err(&self) -> Option<Error> {
        self.n.as_ref().and_then(|n| n.err())
    }

    /// When the context will be cancelled by a deadline, its own or an
    /// ancestor's; `None` if no deadline applies (Go's `ctx.Deadline()`).
    pub fn deadline(&self) -> Option<Instant> {
        self.n.as_ref().and_then(|n| n.deadline)
    }

    /// Whether the context is done (a shorthand for `err().is_some()`).
    pub fn is_done(&self) -> bool {
        self.err().is_some()
    }
}

impl core::fmt::Debug for Context {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.n {
            None => f.write_str("Context(background)"),
            Some(n) => f.debug_struct("Context").field("deadline", &n.deadline).field("err", &n.err()).finish(),
        }
    }
}

/// A new node under `parent`, cancelled at once if the parent is (Go's
/// `propagateCancel`).
#[track_caller]
fn new_node(parent: &Context, deadline: Option<Instant>) -> Arc<Node> {
    crate::need_runtime("context::with_cancel");
    let n = Arc::new(Node {
        id: NEXT_ID.fetch_add(1, Relaxed),
        parent: parent.n.as_ref().map(Arc::downgrade),
        deadline,
        err: AtomicU8::new(ERR_NONE),
        done: Chan::new(0),
        st: Mutex::new(State::default()),
    });
    if let Some(p) = &parent.n {
        let mut st = p.st.lock();
        match p.err() {
            None => {
                st.children.insert(n.id, n.clone());
            }
            Some(e) => {
                drop(st);
                n.cancel(e, false);
            }
        }
    }
    n
}

fn cancel_fn(n: &Arc<Node>, remove: bool) -> CancelFn {
    let n = n.clone();
    Arc::new(move || n.cancel(Error::Canceled, remove))
}

/// A child of `parent` that is cancelled when `cancel` is called or when
/// `parent` is (Go's `context.WithCancel`).
#[track_caller]
pub fn with_cancel(parent: &Context) -> (Context, CancelFn) {
    let n = new_node(parent, parent.deadline());
    let cancel = cancel_fn(&n, true);
    (Context { n: Some(n) }, cancel)
}

/// A child of `parent` that is also cancelled, with
/// `Error::DeadlineExceeded`, once `deadline` passes (Go's
/// `context.WithDeadline`). If `parent`'s deadline is earlier, the child
/// has that one (and is a `with_cancel` child).
#[track_caller]
pub fn with_deadline(parent: &Context, deadline: Instant) -> (Context, CancelFn) {
    if parent.deadline().is_some_and(|cur| cur < deadline) {
        return with_cancel(parent);
    }
    let n = new_node(parent, Some(deadline));
    let now = Instant::now();
    if deadline <= now {
        // Already past: done at once, and out of the parent already.
        n.cancel(Error::DeadlineExceeded, true);
        let cancel = cancel_fn(&n, false);
        return (Context { n: Some(n) }, cancel);
    }
    {
        let mut st = n.st.lock();
        if n.err().is_none() {
            // Weak: the timer alone does not keep the context alive (a
            // context nobody holds stops its timer when dropped).
            let w = Arc::downgrade(&n);
            st.timer = Some(crate::time::after_func(deadline - now, move || {
                if let Some(n) = w.upgrade() {
                    n.cancel(Error::DeadlineExceeded, true);
                }
            }));
        }
    }
    let cancel = cancel_fn(&n, true);
    (Context { n: Some(n) }, cancel)
}

/// `with_deadline(parent, now + timeout)` (Go's `context.WithTimeout`). A
/// timeout too large to represent means no deadline.
#[track_caller]
pub fn with_timeout(parent: &Context, timeout: Duration) -> (Context, CancelFn) {
    match Instant::now().checked_add(timeout) {
        Some(d) => with_deadline(parent, d),
        None => with_cancel(parent),
    }
}

/// The number of live children of `ctx` (for the runtime's tests).
#[doc(hidden)]
pub fn children_of(ctx: &Context) -> usize {
    ctx.n.as_ref().map_or(0, |n| n.st.lock().children.len())
}
