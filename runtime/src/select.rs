//! `select!`: Go's select over channel sends and receives, with an
//! optional default (Go's selectgo). The syntax and the rules a program
//! sees are documented on the macro ([`crate::select!`]).
//!
//! The enabled cases are polled in a random order (fairness); all their
//! channels are locked in address order (lock order); if none is ready and
//! there is no default, the goroutine enqueues one sudog per case
//! (`isSelect` set, linked on `gp.waiting` in lock order) and parks. The
//! first channel operation to pick one of its sudogs wins the goroutine's
//! `selectDone` CAS; the others skip its stale sudogs. Woken, the goroutine
//! relocks all channels and dequeues its remaining sudogs. A disabled case
//! (a `None` channel, Go's nil channel) has a null `Scase::c` and is in
//! neither order, as Go drops nil-channel cases from both.
//!
//! The macro expands to one `RecvCase`/`SendCase` per case, built in an
//! inner block that runs `selectgo` and hands out each case's result, so
//! no case (nor its borrow of the channel) outlives the choice: the bodies
//! run after it, free to reassign the channels.

use crate::chan::{acquire_sudog, buf_recv, buf_send, recvq, release_sudog, sendq, Chan};
use crate::lock::{lock, unlock};
use crate::proc::{curg, gopark};
use crate::recptr::{Link, RecPtr};
use core::mem::{ManuallyDrop, MaybeUninit};
use core::ptr::null_mut;
use core::sync::atomic::Ordering::Relaxed;
use grt_table::{waitreason, Hchan, Sudog, G};

/// What a `select!` case takes as its channel: a `Chan<T>`, a reference
/// to one (or an `Arc`/`Box` of one), or an `Option` of any of these, where
/// `None` disables the case (Go's nil channel: it is never chosen).
pub trait SelectChan {
    type Elem;
    /// The channel, or None for a disabled case.
    fn select_chan(&self) -> Option<&Chan<Self::Elem>>;
}

impl<T> SelectChan for Chan<T> {
    type Elem = T;
    fn select_chan(&self) -> Option<&Chan<T>> {
        Some(self)
    }
}

impl<C: SelectChan + ?Sized> SelectChan for &C {
    type Elem = C::Elem;
    fn select_chan(&self) -> Option<&Chan<C::Elem>> {
        (**self).select_chan()
    }
}

impl<C: SelectChan + ?Sized> SelectChan for &mut C {
    type Elem = C::Elem;
    fn select_chan(&self) -> Option<&Chan<C::Elem>> {
        (**self).select_chan()
    }
}

impl<C: SelectChan + ?Sized> SelectChan for std::sync::Arc<C> {
    type Elem = C::Elem;
    fn select_chan(&self) -> Option<&Chan<C::Elem>> {
        (**self).select_chan()
    }
}

impl<C: SelectChan + ?Sized> SelectChan for Box<C> {
    type Elem = C::Elem;
    fn select_chan(&self) -> Option<&Chan<C::Elem>> {
        (**self).select_chan()
    }
}

impl<C: SelectChan> SelectChan for Option<C> {
    type Elem = C::Elem;
    fn select_chan(&self) -> Option<&Chan<C::Elem>> {
        self.as_ref().and_then(|c| c.select_chan())
    }
}

/// One case as selectgo sees it; `c` is null for a disabled case.
#[derive(Clone, Copy)]
pub struct Scase {
    pub(crate) c: RecPtr<Hchan>,
    pub(crate) elem: *mut u8,
    pub(crate) send: bool,
}

fn hchan_of<T: Send>(c: Option<&Chan<T>>) -> RecPtr<Hchan> {
    c.map_or(RecPtr::NULL, |c| RecPtr::from_ref(c.hchan()))
}

/// A receive case: the channel (None: disabled) and the slot the value
/// lands in.
pub struct RecvCase<'a, T> {
    c: Option<&'a Chan<T>>,
    slot: MaybeUninit<T>,
}

impl<'a, T: Send> RecvCase<'a, T> {
    pub fn new<C: SelectChan<Elem = T> + ?Sized>(c: &'a C) -> Self {
        RecvCase { c: c.select_chan(), slot: MaybeUninit::uninit() }
    }
    pub fn scase(&mut self) -> Scase {
        Scase { c: hchan_of(self.c), elem: self.slot.as_mut_ptr() as *mut u8, send: false }
    }
    /// After selectgo: `Some(received)` if this case was chosen (the value,
    /// or None if the channel was closed), None otherwise.
    pub fn finish(&mut self, chosen: bool, ok: bool) -> Option<Option<T>> {
        if !chosen {
            return None;
        }
        if ok {
            // SAFETY: selectgo reported a value moved into the slot.
            Some(Some(unsafe { self.slot.assume_init_read() }))
        } else {
            Some(None)
        }
    }
}

/// A send case: the channel (None: disabled) and the value to send.
pub struct SendCase<'a, T> {
    c: Option<&'a Chan<T>>,
    v: ManuallyDrop<T>,
    sent: bool,
}

impl<'a, T: Send> SendCase<'a, T> {
    pub fn new<C: SelectChan<Elem = T> + ?Sized>(c: &'a C, v: T) -> Self {
        SendCase { c: c.select_chan(), v: ManuallyDrop::new(v), sent: false }
    }
    pub fn scase(&mut self) -> Scase {
        Scase { c: hchan_of(self.c), elem: &mut *self.v as *mut T as *mut u8, send: true }
    }
    /// After selectgo: if this case was chosen, the value was moved to the
    /// receiver or the buffer; otherwise it is dropped with the case.
    pub fn finish(&mut self, chosen: bool, _ok: bool) {
        if chosen {
            self.sent = true;
        }
    }
}

impl<T> Drop for SendCase<'_, T> {
    fn drop(&mut self) {
        if !self.sent {
            // SAFETY: the value was not moved out; drop it once.
            unsafe { ManuallyDrop::drop(&mut self.v) };
        }
    }
}

/// Parks forever (Go's `select {}`).
pub fn block_forever() -> ! {
    crate::need_runtime("select!");
    if !crate::proc::in_goroutine() {
        // A plain thread: it blocks for good, and can wake nobody again
        // (deadlock detection counts it as blocked in grt, foreign.rs).
        if crate::foreign::is_foreign() {
            crate::foreign::BLOCKED.fetch_add(1, core::sync::atomic::Ordering::SeqCst);
        }
        loop {
            std::thread::park();
        }
    }
    loop {
        gopark(None, 0, waitreason::SELECT_NO_CASES);
    }
}

const MAX_CASES: usize = 32;

fn sellock(cases: &[Scase], lockorder: &[u16]) {
    let mut last = RecPtr::NULL;
    for &o in lockorder {
        let c = cases[o as usize].c;
        if c != last {
            last = c;
            lock(&c.get().lock);
        }
    }
}

fn selunlock(cases: &[Scase], lockorder: &[u16]) {
    // Unlock in reverse order; a channel may appear in several cases.
    for i in (0..lockorder.len()).rev() {
        let c = cases[lockorder[i] as usize].c;
        if i > 0 && c == cases[lockorder[i - 1] as usize].c {
            continue;
        }
        unlock(&c.get().lock);
    }
}

/// On g0 after the park: unlock every channel (they are in lock order on
/// gp.waiting, possibly repeated).
fn selparkcommit(gp: &G, _: usize) -> bool {
    gp.parking_on_chan.store(0, Relaxed);
    let mut lastc = RecPtr::<Hchan>::NULL;
    let mut sg = gp.waiting.rec();
    while !sg.is_null() {
        let c = sg.get().c.rec();
        if c != lastc && !lastc.is_null() {
            unlock(&lastc.get().lock);
        }
        lastc = c;
        sg = sg.get().waitlink.rec();
    }
    if !lastc.is_null() {
        unlock(&lastc.get().lock);
    }
    true
}

/// Runs a select over `cases`. Returns (index of the chosen case, whether a
/// receive got a value); index `usize::MAX` means nothing was ready and
/// `block` was false (the default case).
pub fn selectgo(cases: &[Scase], block: bool) -> (usize, bool) {
    if cases.len() > MAX_CASES {
        panic!("select: more than {MAX_CASES} cases");
    }
    if block {
        // A safe point: a select without default may park.
        crate::proc::preempt_check();
    }
    // Poll order: a random permutation of the enabled cases (a disabled
    // case, Go's nil channel, takes no part: it is never chosen).
    let mut pollorder = [0u16; MAX_CASES];
    let mut n = 0;
    for (i, cas) in cases.iter().enumerate() {
        if cas.c.is_null() {
            continue;
        }
        let j = crate::proc::fastrand() as usize % (n + 1);
        pollorder[n] = pollorder[j];
        pollorder[j] = i as u16;
        n += 1;
    }
    if n == 0 {
        // Only disabled cases: Go's `select {}` unless there is a default.
        if block {
            block_forever();
        }
        return (usize::MAX, false);
    }
    let pollorder = &pollorder[..n];
    // Lock order: by channel address, built from the poll order with a
    // stable sort (insertion; n is small), so cases on the same channel keep
    // their random poll order. Pass 2 enqueues in lock order, so this is
    // what makes a blocked select with several cases on one channel pick
    // among them at random (Go gets the same from its heap sort of the poll
    // order; a sort of the case order made the first case always win).
    // Equal channels end up adjacent, which sellock/selunlock rely on.
    let mut lockorder = [0u16; MAX_CASES];
    for (k, &i) in pollorder.iter().enumerate() {
        let mut j = k;
        let c = cases[i as usize].c.as_ptr() as usize;
        while j > 0 && cases[lockorder[j - 1] as usize].c.as_ptr() as usize > c {
            lockorder[j] = lockorder[j - 1];
            j -= 1;
        }
        lockorder[j] = i;
    }
    let lockorder = &lockorder[..n];

    // Expired timer channels get their value first (Go 1.23+), before any
    // channel lock is taken: timers rank after hchan.
    for &i in pollorder {
        let cas = cases[i as usize];
        if !cas.send {
            crate::time::maybe_run_chan(cas.c.get());
        }
    }

    sellock(cases, lockorder);

    // Pass 1: look for something already waiting.
    for &i in pollorder {
        let cas = cases[i as usize];
        let c = cas.c.get();
        if cas.send {
            if c.closed.load(Relaxed) != 0 {
                selunlock(cases, lockorder);
                panic!("send on closed channel");
            }
            if let Some(sg) = recvq(c).dequeue() {
                crate::chan::send(c, sg, cas.elem, &|| selunlock(cases, lockorder));
                return (i as usize, false);
            }
            if buf_send(c, cas.elem) {
                selunlock(cases, lockorder);
                return (i as usize, false);
            }
        } else {
            if let Some(sg) = sendq(c).dequeue() {
                crate::chan::recv(c, sg, cas.elem, &|| selunlock(cases, lockorder));
                return (i as usize, true);
            }
            if buf_recv(c, cas.elem) {
                selunlock(cases, lockorder);
                return (i as usize, true);
            }
            if c.closed.load(Relaxed) != 0 {
                selunlock(cases, lockorder);
                return (i as usize, false);
            }
        }
    }

    if !block {
        selunlock(cases, lockorder);
        return (usize::MAX, false);
    }

    // Pass 2: enqueue on all channels.
    if crate::foreign::is_foreign() {
        selunlock(cases, lockorder);
        panic!("grt: a blocking select! runs only on a goroutine (on other threads, add a default case)");
    }
    let gp = curg();
    gp.waiting.store(null_mut(), Relaxed);
    let mut prev = RecPtr::<Sudog>::NULL;
    let now = crate::os::coarse_nanotime();
    for &i in lockorder {
        let cas = cases[i as usize];
        let c = cas.c.get();
        let sg = acquire_sudog();
        sg.g.store(gp as *const G as *mut G, Relaxed);
        sg.is_select.store(1, Relaxed);
        sg.elem.set(cas.elem as u64);
        sg.c.set_rec(cas.c);
        sg.enqueued.store(now, Relaxed);
        sg.waitlink.store(null_mut(), Relaxed);
        let sgp = RecPtr::from_ref(sg);
        match prev.opt() {
            None => gp.waiting.set_rec(sgp),
            Some(p) => p.waitlink.set_rec(sgp),
        }
        prev = sgp;
        if cas.send {
            sendq(c).enqueue(sg);
        } else {
            recvq(c).enqueue(sg);
        }
    }

    // Wait for someone to wake us up.
    gp.param.store(0, Relaxed);
    gp.parking_on_chan.store(1, Relaxed);
    gopark(Some(selparkcommit), 0, waitreason::SELECT);

    sellock(cases, lockorder);
    gp.select_done.store(0, Relaxed);
    let winner = gp.param.swap(0, Relaxed) as *mut Sudog;

    // Pass 3: dequeue from the unsuccessful channels.
    // Clear all elems before unlinking from gp.waiting.
    let mut sg1 = gp.waiting.rec();
    while !sg1.is_null() {
        let s = sg1.get();
        s.is_select.store(0, Relaxed);
        s.elem.set(0);
        sg1 = s.waitlink.rec();
    }
    let mut sglist = gp.waiting.swap_rec(RecPtr::NULL, Relaxed);
    let mut chosen: Option<(usize, bool)> = None;
    for &i in lockorder {
        let cas = cases[i as usize];
        let s = sglist.get();
        if sglist.as_ptr() == winner {
            // Already dequeued by the goroutine that woke us.
            chosen = Some((i as usize, s.success.load(Relaxed) != 0));
        } else {
            let c = cas.c.get();
            if cas.send {
                sendq(c).dequeue_sudog(s);
            } else {
                recvq(c).dequeue_sudog(s);
            }
        }
        let next = s.waitlink.swap_rec(RecPtr::NULL, Relaxed);
        s.c.store(null_mut(), Relaxed);
        release_sudog(sglist.get());
        sglist = next;
    }
    let Some((i, success)) = chosen else { crate::fatal::throw("selectgo: bad wakeup") };
    selunlock(cases, lockorder);
    if cases[i].send && !success {
        panic!("send on closed channel");
    }
    (i, success)
}

/// Go's `select`: waits until one of several channel operations can
/// proceed and runs that case's body; with a `default` case, runs
/// `default` instead of waiting when none can proceed right now.
///
/// ```text
/// grt::select! {
///     recv(ch) -> v => body,      // v: Option<T>; None once ch is closed and drained
///     send(out, value) => body,
///     default => body,            // at most one; optional
/// }
/// ```
///
/// - A body is an expression followed by a comma, or a block; the
///   `select!` is an expression whose value is the chosen body's.
/// - `ch` may be a `Chan<T>`, a reference to one (or an `Arc`/`Box` of
///   one), or an `Option` of any of these. `None` disables the case: it is
///   never chosen, like a case on a nil channel in Go. The usual Go idiom of
///   setting a drained channel to nil works by assigning `None` in a body.
/// - When several cases are ready, one is chosen uniformly at random.
/// - Channel and value expressions are all evaluated once, in order, before
///   the select (as in Go, also for a disabled case); a send that is not
///   chosen drops its value before any body runs.
/// - A receive from a timer channel ([`time::after`](crate::time::after),
///   `Timer`, `Ticker`) whose deadline has passed is ready, even if no
///   thread has run the timer yet (Go 1.23).
/// - `select! {}` blocks forever, and so does a select whose cases are
///   all disabled and that has no `default`.
/// - A send on a closed channel panics, as in Go. Up to 32 cases.
/// - A blocking select runs on a goroutine only; on another thread it
///   panics. A select with a `default` works anywhere.
///
/// Waiting with a timeout, and polling with `default`:
///
/// ```
/// use std::time::Duration;
/// grt::run(|| {
///     let c = grt::Chan::new(1);
///     let got = grt::select! {
///         recv(c) -> v => v,
///         default => None, // nothing to receive yet
///     };
///     assert_eq!(got, None);
///     grt::select! {
///         send(c, 7) => {}
///         recv(grt::time::after(Duration::from_secs(10))) -> _ => panic!("timed out"),
///     }
///     let v = grt::select! {
///         recv(c) -> v => v.unwrap(),
///         recv(grt::time::after(Duration::from_secs(10))) -> _ => panic!("timed out"),
///     };
///     assert_eq!(v, 7);
/// })
/// ```
///
/// Merging two channels until both are closed, disabling each one once it
/// is drained (Go's nil-channel idiom):
///
/// ```
/// grt::run(|| {
///     let (a, b) = (grt::Chan::new(0), grt::Chan::new(0));
///     for (c, n) in [(a.clone(), 3), (b.clone(), 2)] {
///         grt::go(move || {
///             for i in 0..n {
///                 c.send(i);
///             }
///             c.close();
///         });
///     }
///     let (mut a, mut b) = (Some(a), Some(b));
///     let mut sum = 0;
///     while a.is_some() || b.is_some() {
///         grt::select! {
///             recv(a) -> v => match v {
///                 Some(x) => sum += x,
///                 None => a = None, // closed: never chosen again
///             },
///             recv(b) -> v => match v {
///                 Some(x) => sum += x,
///                 None => b = None,
///             },
///         }
///     }
///     assert_eq!(sum, 0 + 1 + 2 + 0 + 1);
/// })
/// ```
///
/// A send that only happens when there is something to send:
///
/// ```
/// grt::run(|| {
///     let out = grt::Chan::new(1);
///     let pending: Option<i32> = None;
///     let sent = grt::select! {
///         send(pending.map(|_| &out), pending.unwrap_or(0)) => true,
///         default => false,
///     };
///     assert!(!sent && out.is_empty());
/// })
/// ```
#[macro_export]
macro_rules! select {
    () => { $crate::__select::block_forever() };
    ($($tokens:tt)+) => {
        $crate::__select_parse!(
            @cases ()
            @ids [(__grt_c0 __grt_h0 0) (__grt_c1 __grt_h1 1) (__grt_c2 __grt_h2 2) (__grt_c3 __grt_h3 3) (__grt_c4 __grt_h4 4) (__grt_c5 __grt_h5 5) (__grt_c6 __grt_h6 6) (__grt_c7 __grt_h7 7) (__grt_c8 __grt_h8 8) (__grt_c9 __grt_h9 9) (__grt_c10 __grt_h10 10) (__grt_c11 __grt_h11 11) (__grt_c12 __grt_h12 12) (__grt_c13 __grt_h13 13) (__grt_c14 __grt_h14 14) (__grt_c15 __grt_h15 15) (__grt_c16 __grt_h16 16) (__grt_c17 __grt_h17 17) (__grt_c18 __grt_h18 18) (__grt_c19 __grt_h19 19) (__grt_c20 __grt_h20 20) (__grt_c21 __grt_h21 21) (__grt_c22 __grt_h22 22) (__grt_c23 __grt_h23 23) (__grt_c24 __grt_h24 24) (__grt_c25 __grt_h25 25) (__grt_c26 __grt_h26 26) (__grt_c27 __grt_h27 27) (__grt_c28 __grt_h28 28) (__grt_c29 __grt_h29 29) (__grt_c30 __grt_h30 30) (__grt_c31 __grt_h31 31)]
            @default ()
            $($tokens)+
        )
    };
}

#[macro_export]
#[doc(hidden)]
macro_rules! __select_parse {
    // Done: emit.
    (@cases ($($case:tt)*) @ids [$($unused:tt)*] @default ($($def:tt)*)) => {
        $crate::__select_emit!(($($case)*) ($($def)*))
    };
    // Skip a separating comma.
    (@cases $cases:tt @ids $ids:tt @default $def:tt , $($tail:tt)*) => {
        $crate::__select_parse!(@cases $cases @ids $ids @default $def $($tail)*)
    };
    // recv(ch) -> pat => { block }
    (@cases ($($case:tt)*) @ids [($id:ident $h:ident $n:literal) $($ids:tt)*] @default $def:tt
        recv($ch:expr) -> $pat:pat => $body:block $($tail:tt)*) => {
        $crate::__select_parse!(@cases ($($case)* (recv $id $h $n ($ch) () ($pat) ($body))) @ids [$($ids)*] @default $def $($tail)*)
    };
    // recv(ch) -> pat => expr,
    (@cases ($($case:tt)*) @ids [($id:ident $h:ident $n:literal) $($ids:tt)*] @default $def:tt
        recv($ch:expr) -> $pat:pat => $body:expr $(, $($tail:tt)*)?) => {
        $crate::__select_parse!(@cases ($($case)* (recv $id $h $n ($ch) () ($pat) ($body))) @ids [$($ids)*] @default $def $($($tail)*)?)
    };
    // send(ch, v) => { block }
    (@cases ($($case:tt)*) @ids [($id:ident $h:ident $n:literal) $($ids:tt)*] @default $def:tt
        send($ch:expr, $v:expr) => $body:block $($tail:tt)*) => {
        $crate::__select_parse!(@cases ($($case)* (send $id $h $n ($ch) ($v) (_) ($body))) @ids [$($ids)*] @default $def $($tail)*)
    };
    // send(ch, v) => expr,
    (@cases ($($case:tt)*) @ids [($id:ident $h:ident $n:literal) $($ids:tt)*] @default $def:tt
        send($ch:expr, $v:expr) => $body:expr $(, $($tail:tt)*)?) => {
        $crate::__select_parse!(@cases ($($case)* (send $id $h $n ($ch) ($v) (_) ($body))) @ids [$($ids)*] @default $def $($($tail)*)?)
    };
    // default => { block }
    (@cases $cases:tt @ids $ids:tt @default () default => $body:block $($tail:tt)*) => {
        $crate::__select_parse!(@cases $cases @ids $ids @default ($body) $($tail)*)
    };
    // default => expr,
    (@cases $cases:tt @ids $ids:tt @default () default => $body:expr $(, $($tail:tt)*)?) => {
        $crate::__select_parse!(@cases $cases @ids $ids @default ($body) $($($tail)*)?)
    };
}

#[macro_export]
#[doc(hidden)]
macro_rules! __select_emit {
    (($(($kind:ident $id:ident $h:ident $n:literal ($ch:expr) ($($v:expr)?) ($pat:pat) ($body:expr)))*) ($($def:expr)?)) => {{
        // The cases live in this inner block, which yields the index chosen
        // and, per case, what it got: the channels' borrows end before any
        // body runs, so a body may assign to them (`a = None` to disable a
        // case, as Go sets a channel to nil), and a losing send's value is
        // dropped here.
        #[allow(unused_variables)]
        let (__grt_i, $( $id, )*) = {
            // Bind each channel by reference first: a temporary (`after(d)`)
            // lives to the end of the select this way.
            $( let $h = &$ch; )*
            $( let mut $id = $crate::__select_case_new!($kind ($h) ($($v)?)); )*
            let __grt_has_default = false $( || { let _ = stringify!($def); true } )?;
            let (__grt_i, __grt_ok) = $crate::__select::selectgo(&[$( $id.scase() ),*], !__grt_has_default);
            (__grt_i, $( $id.finish(__grt_i == $n, __grt_ok), )*)
        };
        match __grt_i {
            $( $n => { $crate::__select_case_take!($kind $id ($pat)); $body } )*
            _ => $crate::__select_default!($($def)?),
        }
    }};
}

#[macro_export]
#[doc(hidden)]
macro_rules! __select_default {
    () => {
        unreachable!("a blocking select returned without a case")
    };
    ($def:expr) => {
        $def
    };
}

#[macro_export]
#[doc(hidden)]
macro_rules! __select_case_new {
    (recv ($h:ident) ()) => {
        $crate::__select::RecvCase::new($h)
    };
    (send ($h:ident) ($v:expr)) => {
        $crate::__select::SendCase::new($h, $v)
    };
}

#[macro_export]
#[doc(hidden)]
macro_rules! __select_case_take {
    (recv $id:ident ($pat:pat)) => {
        #[allow(unused_variables)]
        let $pat = match $id {
            Some(v) => v,
            None => unreachable!("select: the chosen case has no result"),
        };
    };
    (send $id:ident ($pat:pat)) => {};
}
