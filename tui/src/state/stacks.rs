//! Symbolized goroutine stacks, cached.
//!
//! Symbolizing a stack costs tens of microseconds (unwinding and DWARF
//! look-ups), far too much to do for thousands of goroutines per frame.
//! Stacks are therefore computed off the UI thread (the symbolizer in
//! `sources`) and cached by [`StackKey`]: the goroutine's id and
//! generation (G records are reused) and the saved context it unwinds
//! from. A parked goroutine keeps its saved context while it stays parked,
//! so its stack is computed once per park. The state only records which
//! keys it wants ([`StackCache::want`]); the app hands them to the
//! symbolizer and inserts what comes back. Tests insert stacks directly.

use grt_inspector::snapshot::{GView, Snapshot};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Identifies one stack of one goroutine incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StackKey {
    pub goid: u64,
    pub generation: u64,
    pub pc: u64,
    pub sp: u64,
}

/// Where to start unwinding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// A parked goroutine's saved context (G.sched).
    Parked { sp: u64, pc: u64, bp: u64 },
    /// A thread's registers, or a goroutine's system call entry context.
    Thread { pc: u64, sp: u64, bp: u64 },
}

/// One symbolized frame.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    pub function: String,
    pub file: String,
    pub line: u32,
    pub inlined: bool,
}

/// A symbolized stack, innermost frame first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stack {
    pub frames: Vec<Frame>,
    /// Why the walk ended early, if it did.
    pub note: Option<String>,
    /// Hash of the frames (functions and lines): equal stacks group together.
    pub hash: u64,
    /// The walk reached the bottom of a goroutine (`goroutine_main`)
    /// without an error. A live walk can go wrong when the goroutine runs
    /// while its stack is read; an incomplete stack is asked for again
    /// later (see [`StackCache::want`]).
    pub complete: bool,
}

/// Snapshots after which an incomplete stack is asked for again.
pub const RETRY_AFTER: u64 = 10;

impl Stack {
    pub fn new(frames: Vec<Frame>, note: Option<String>) -> Stack {
        let mut h = DefaultHasher::new();
        frames.hash(&mut h);
        let complete = note.is_none() && frames.last().is_some_and(|f| f.function == "grt::proc::goroutine_main");
        Stack { hash: h.finish(), frames, note, complete }
    }

    /// The innermost frame that is not the runtime's (what the goroutine's
    /// own code is doing), else the innermost frame.
    pub fn top_user_frame(&self) -> Option<&Frame> {
        self.frames.iter().find(|f| !is_runtime(&f.function)).or(self.frames.first())
    }
}

/// Whether a function belongs to the runtime or the standard library:
/// its path, or for a trait method (`<T as Trait>::f`) the type it is
/// called on, starts in `grt`, `core`, `std` or `alloc`. A reference or
/// pointer type counts as its pointee (`<&grt::net::TcpStream as
/// std::io::Read>::read` is the runtime's; `<app::Conn as std::io::Read>`
/// is the program's own).
fn is_runtime(function: &str) -> bool {
    let mut f = function;
    if let Some(rest) = f.strip_prefix('<') {
        f = rest;
        loop {
            let t = f.trim_start_matches('&');
            let t = ["mut ", "dyn ", "*const ", "*mut "].iter().find_map(|p| t.strip_prefix(p)).unwrap_or(t);
            if t == f {
                break;
            }
            f = t;
        }
    }
    ["grt::", "core::", "std::", "alloc::"].iter().any(|p| f.starts_with(p))
}

/// The key and start of a goroutine's stack, if it can be unwound now:
/// a parked or runnable goroutine from its saved context, one in a system
/// call from its entry context, a running one only from the registers of
/// its (frozen) thread.
pub fn key_of(s: &Snapshot, g: &GView, thread_regs: Option<(u64, u64, u64)>) -> Option<(StackKey, Start)> {
    let goid = g.goid?;
    let generation = g.generation.unwrap_or(0) as u64;
    let key = |pc: u64, sp: u64| StackKey { goid, generation, pc, sp };
    match g.base_status()? {
        grt_table::G_WAITING | grt_table::G_RUNNABLE | grt_table::G_PREEMPTED => {
            let c = g.sched.filter(|c| c.sp != 0)?;
            Some((key(c.pc, c.sp), Start::Parked { sp: c.sp, pc: c.pc, bp: c.bp }))
        }
        grt_table::G_SYSCALL => {
            if let Some((pc, sp, bp)) = thread_regs {
                return Some((key(pc, sp), Start::Thread { pc, sp, bp }));
            }
            let c = Some(s.g_extra(g).syscall).filter(|c| c.sp != 0)?;
            Some((key(c.pc, c.sp), Start::Thread { pc: c.pc, sp: c.sp, bp: c.bp }))
        }
        grt_table::G_RUNNING => {
            let (pc, sp, bp) = thread_regs?;
            Some((key(pc, sp), Start::Thread { pc, sp, bp }))
        }
        _ => None,
    }
}

/// Stacks by key, the keys asked for, and a generation that changes
/// whenever a stack arrives (so grouping knows to recompute).
#[derive(Debug, Default)]
pub struct StackCache {
    map: HashMap<StackKey, Arc<Stack>>,
    /// The tick at which each incomplete stack arrived.
    incomplete: HashMap<StackKey, u64>,
    /// Advanced once per snapshot by the state.
    pub tick: u64,
    pending: HashSet<StackKey>,
    wanted: Vec<(StackKey, Start)>,
    pub gen: u64,
}

impl StackCache {
    pub fn get(&self, k: &StackKey) -> Option<&Arc<Stack>> {
        self.map.get(k)
    }

    pub fn is_pending(&self, k: &StackKey) -> bool {
        self.pending.contains(k)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn insert(&mut self, k: StackKey, s: Arc<Stack>) {
        self.pending.remove(&k);
        if s.complete {
            self.incomplete.remove(&k);
        } else {
            self.incomplete.insert(k, self.tick);
        }
        self.map.insert(k, s);
        self.gen += 1;
    }

    /// Asks for a stack: once per key, and again now and then while what
    /// came back is incomplete (the old one is shown meanwhile).
    pub fn want(&mut self, k: StackKey, st: Start) {
        let retry = self.incomplete.get(&k).is_some_and(|&t| self.tick >= t + RETRY_AFTER);
        if (!self.map.contains_key(&k) || retry) && self.pending.insert(k) {
            if retry {
                self.incomplete.insert(k, self.tick);
            }
            self.wanted.push((k, st));
        }
    }

    /// The stacks asked for since the last call.
    pub fn take_wanted(&mut self) -> Vec<(StackKey, Start)> {
        std::mem::take(&mut self.wanted)
    }

    /// Forgets a pending request (the symbolizer is gone).
    pub fn forget_pending(&mut self) {
        self.pending.clear();
        self.wanted.clear();
    }

    /// Bounds the cache: when it holds far more stacks than there are
    /// goroutines, it starts over (parked goroutines' stacks come back
    /// from the symbolizer; this is rare and cheap next to a leak).
    pub fn trim(&mut self, live: usize) {
        if self.map.len() > 4 * live + 4096 {
            self.map.clear();
            self.incomplete.clear();
            self.gen += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(f: &str) -> Frame {
        Frame { function: f.into(), file: "x.rs".into(), line: 1, inlined: false }
    }

    #[test]
    fn top_user_frame_skips_runtime_trait_impls_on_references() {
        let s = Stack::new(
            vec![
                frame("grt::proc::gopark"),
                frame("grt::netpoll::wait_io"),
                frame("<&grt::net::TcpStream as std::io::Read>::read"),
                frame("<&mut dyn std::io::Read as std::io::Read>::read"),
                frame("std::io::default_read_exact"),
                frame("<app::Conn as std::io::Read>::read"),
                frame("app::handle"),
                frame("grt::proc::goroutine_main"),
            ],
            None,
        );
        assert_eq!(s.top_user_frame().unwrap().function, "<app::Conn as std::io::Read>::read");
        // No frame of the program: the innermost one.
        let rt = Stack::new(vec![frame("<*const grt::G as core::fmt::Debug>::fmt"), frame("std::rt::x")], None);
        assert_eq!(rt.top_user_frame().unwrap().function, "<*const grt::G as core::fmt::Debug>::fmt");
    }

    #[test]
    fn asked_once_and_retried_only_when_incomplete() {
        let mut c = StackCache::default();
        let k = StackKey { goid: 7, generation: 1, pc: 0x10, sp: 0x20 };
        let st = Start::Parked { sp: 0x20, pc: 0x10, bp: 0 };
        c.want(k, st);
        c.want(k, st);
        assert_eq!(c.take_wanted().len(), 1, "asked once while pending");
        // A torn live walk: incomplete.
        c.insert(k, Arc::new(Stack::new(vec![frame("?")], None)));
        c.want(k, st);
        assert!(c.take_wanted().is_empty(), "not again at once");
        c.tick += RETRY_AFTER;
        c.want(k, st);
        assert_eq!(c.take_wanted().len(), 1, "asked again later");
        assert!(c.get(&k).is_some(), "the old stack is shown meanwhile");
        c.insert(k, Arc::new(Stack::new(vec![frame("app::f"), frame("grt::proc::goroutine_main")], None)));
        c.tick += 100;
        c.want(k, st);
        assert!(c.take_wanted().is_empty(), "a complete stack is final");
        assert!(c.get(&k).unwrap().complete);
    }
}
