//! What the screen shows, as plain data (no ratatui, no terminal, no
//! clock): the current snapshot with indices derived from it, one cursor
//! per view, the goroutine list's sort/filter/group settings with their
//! cached result, the stack cache, the timeline, what the controller did
//! to the target's threads, the probe list, and the status line.
//!
//! The app mutates this through [`AppState::set_snapshot`], the actions
//! that only change what the screen shows ([`AppState::apply`], in `nav`)
//! and its own action handlers; the views read it through `&AppState`. Derived data that is
//! costly for a big target (the goroutine list's order, groups) is
//! recomputed in [`AppState::prepare`] only when one of its inputs changed.

pub mod detail;
pub mod goroutines;
mod nav;
pub mod stacks;
pub mod timeline;

use grt_inspector::snapshot::{GView, Link, MView, PView, Snapshot};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub use goroutines::{no_safe_point, GCol, GoroutineList, Group, GroupKey};
pub use stacks::{Frame, Stack, StackCache, StackKey, Start};
pub use timeline::Timeline;

/// The views, in tab order. `Extra(i)` is the i-th extension's tab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum View {
    Goroutines,
    Ps,
    Ms,
    Channels,
    Heap,
    Timeline,
    Probes,
    Extra(u8),
}

impl View {
    /// The built-in views; number key k shows `BUILTIN[k-1]`.
    pub const BUILTIN: [View; 7] =
        [View::Goroutines, View::Ps, View::Ms, View::Channels, View::Heap, View::Timeline, View::Probes];

    pub fn title(self) -> &'static str {
        match self {
            View::Goroutines => "Goroutines",
            View::Ps => "Ps",
            View::Ms => "Ms",
            View::Channels => "Channels",
            View::Heap => "Heap",
            View::Timeline => "Timeline",
            View::Probes => "Probes",
            View::Extra(_) => "",
        }
    }
}

/// A selection in a list and the first visible row. The offset is a
/// `Cell` so that rendering (from `&`) can scroll the selection into view.
#[derive(Debug, Default, Clone)]
pub struct Cursor {
    pub selected: usize,
    offset: Cell<usize>,
}

impl Cursor {
    pub fn up(&mut self, n: usize) {
        self.selected = self.selected.saturating_sub(n);
    }

    pub fn down(&mut self, n: usize, len: usize) {
        self.selected = (self.selected + n).min(len.saturating_sub(1));
    }

    pub fn home(&mut self) {
        self.selected = 0;
    }

    pub fn end(&mut self, len: usize) {
        self.selected = len.saturating_sub(1);
    }

    pub fn clamp(&mut self, len: usize) {
        if self.selected >= len {
            self.selected = len.saturating_sub(1);
        }
    }

    pub fn offset(&self) -> usize {
        self.offset.get()
    }

    /// The rows to draw in a viewport of `height` rows over `len` rows,
    /// scrolled (and remembered) so that the selection is visible.
    pub fn window(&self, height: usize, len: usize) -> std::ops::Range<usize> {
        let sel = self.selected.min(len.saturating_sub(1));
        let mut off = self.offset.get().min(len.saturating_sub(height.max(1)));
        if height == 0 {
            return 0..0;
        }
        if sel < off {
            off = sel;
        } else if sel >= off + height {
            off = sel + 1 - height;
        }
        self.offset.set(off);
        off..(off + height).min(len)
    }
}

/// How the controller holds a thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Frozen by us.
    Frozen,
    /// Held just past an armed probe (its name).
    AtProbe(String),
    /// In a group-stop (SIGSTOP and friends).
    GroupStopped,
}

impl Mark {
    /// The marker shown next to the thread, its M, its P and its goroutine.
    pub fn tag(&self) -> &'static str {
        match self {
            Mark::Frozen => "[F]",
            Mark::AtProbe(_) => "[P]",
            Mark::GroupStopped => "[S]",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Mark::Frozen => "frozen by grt-tui".into(),
            Mark::AtProbe(p) => format!("held at probe {p}"),
            Mark::GroupStopped => "stopped (SIGSTOP)".into(),
        }
    }
}

/// What the controller has done to the target's threads.
#[derive(Debug, Default, Clone)]
pub struct ControlState {
    /// A ptrace session is attached.
    pub attached: bool,
    /// Held threads, by tid.
    pub marks: HashMap<u64, Mark>,
    /// Threads thawed to run to their next armed probe.
    pub running_to_probe: HashSet<u64>,
    /// Registers (pc, sp, bp) of held threads.
    pub regs: HashMap<u64, (u64, u64, u64)>,
    /// The function each held thread is in (symbolized pc).
    pub thread_fn: HashMap<u64, String>,
    /// Control is off (another module owns ptrace): why.
    pub disabled: Option<String>,
}

/// Something loaded in the background.
#[derive(Debug, Clone, Default)]
pub enum Load<T> {
    #[default]
    NotLoaded,
    Loading,
    Ready(T),
    Failed(String),
}

/// One probe name of the target (all its sites together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeEntry {
    pub provider: String,
    pub name: String,
    pub sites: usize,
    pub armed: bool,
    pub hits: u64,
}

/// The status line's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub error: bool,
}

/// The input mode: which keys mean what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputMode {
    Normal,
    /// A goroutine's detail is open.
    Detail,
    /// Typing a filter.
    Filter,
    /// The help overlay is open.
    Help,
}

/// Where a runnable goroutine is queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queued {
    /// In P's local run queue (P id).
    Local(i64),
    /// P's runnext.
    Runnext(i64),
    /// The global run queue.
    Global,
}

/// Indices derived once per snapshot.
#[derive(Debug, Default)]
pub struct Derived {
    /// goid -> position in `snap.gs`.
    pub g_by_goid: HashMap<u64, usize>,
    /// G record index -> where it is queued.
    pub queued: HashMap<u64, Queued>,
    /// OS tid -> position in `snap.ms`.
    pub m_by_tid: HashMap<u64, usize>,
    /// Sudog record index -> (channel record index, on the receive queue).
    pub sudog_queue: HashMap<u64, (u64, bool)>,
}

impl Derived {
    pub fn new(s: &Snapshot) -> Derived {
        let mut d = Derived::default();
        d.g_by_goid.reserve(s.gs.len());
        for (i, g) in s.gs.iter().enumerate() {
            if let Some(id) = g.goid {
                d.g_by_goid.entry(id).or_insert(i);
            }
        }
        for p in &s.ps {
            let pid = p.id.unwrap_or(p.index as i64);
            for l in &p.runq {
                if let Some(i) = l.index() {
                    d.queued.insert(i, Queued::Local(pid));
                }
            }
            if let Some(i) = p.runnext.index() {
                d.queued.insert(i, Queued::Runnext(pid));
            }
        }
        for l in &s.sched.runq {
            if let Some(i) = l.index() {
                d.queued.insert(i, Queued::Global);
            }
        }
        for (i, m) in s.ms.iter().enumerate() {
            if let Some(t) = m.tid.filter(|&t| t != 0) {
                d.m_by_tid.insert(t, i);
            }
        }
        for c in &s.chans {
            for q in s.recvq(c) {
                d.sudog_queue.insert(q.sudog, (c.index, true));
            }
            for q in s.sendq(c) {
                d.sudog_queue.insert(q.sudog, (c.index, false));
            }
        }
        d
    }
}

/// Who we are looking at.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub pid: i32,
    pub command: String,
    /// We started it (`grt-tui demo`): quitting stops it.
    pub ours: bool,
}

/// Everything the screen shows.
#[derive(Debug)]
pub struct AppState {
    pub target: Target,
    pub snap: Arc<Snapshot>,
    /// Counts snapshots shown; derived caches key on it.
    pub snap_gen: u64,
    pub derived: Derived,
    pub view: View,
    /// The goroutine whose detail is open (goid), and its scroll.
    pub detail: Option<u64>,
    pub detail_cursor: Cursor,
    pub help: bool,
    /// The filter being typed (`Some` while in filter mode).
    pub filter_edit: Option<String>,
    pub goroutines: GoroutineList,
    pub ps_cursor: Cursor,
    pub ms_cursor: Cursor,
    pub chans_cursor: Cursor,
    pub heap_cursor: Cursor,
    pub timeline_cursor: Cursor,
    pub probes_cursor: Cursor,
    pub stacks: StackCache,
    pub control: ControlState,
    pub probes: Load<Vec<ProbeEntry>>,
    pub timeline: Timeline,
    pub message: Option<Message>,
    /// Set when the target is gone: "process 123 exited with status 0".
    pub exited: Option<String>,
    /// Why the last read of the table failed; shown as a banner (not the
    /// status line, which the next key clears) until a good snapshot is
    /// shown, so a corrupt table is on screen from the first frame on.
    pub table_error: Option<String>,
    /// The display is paused (snapshots are not applied).
    pub paused: bool,
    pub refresh_hz: u32,
    /// Titles of extension tabs, in order (`View::Extra(i)`).
    pub extra_tabs: Vec<String>,
    /// The snapshot for which every stack was asked for (grouping).
    pub stacks_asked: Option<u64>,
}

impl AppState {
    pub fn new(target: Target) -> AppState {
        AppState {
            target,
            snap: Arc::new(Snapshot::default()),
            snap_gen: 0,
            derived: Derived::default(),
            view: View::Goroutines,
            detail: None,
            detail_cursor: Cursor::default(),
            help: false,
            filter_edit: None,
            goroutines: GoroutineList::default(),
            ps_cursor: Cursor::default(),
            ms_cursor: Cursor::default(),
            chans_cursor: Cursor::default(),
            heap_cursor: Cursor::default(),
            timeline_cursor: Cursor::default(),
            probes_cursor: Cursor::default(),
            stacks: StackCache::default(),
            control: ControlState::default(),
            probes: Load::NotLoaded,
            timeline: Timeline::default(),
            message: None,
            exited: None,
            table_error: None,
            paused: false,
            refresh_hz: 10,
            extra_tabs: Vec::new(),
            stacks_asked: None,
        }
    }

    /// Shows a new snapshot: derives its indices and feeds the timeline.
    /// Shows a new snapshot; returns the one it replaces when nothing
    /// else holds it (for the sampler to decode the next one into).
    pub fn set_snapshot(&mut self, s: Snapshot) -> Option<Snapshot> {
        self.goroutines.remember_selection(&self.snap);
        self.table_error = None;
        let s = Arc::new(s);
        let prev = std::mem::replace(&mut self.snap, s.clone());
        self.timeline.push(if self.snap_gen == 0 { None } else { Some(&prev) }, &s);
        self.derived = Derived::new(&s);
        self.snap_gen += 1;
        self.stacks.tick = self.snap_gen;
        self.stacks.trim(s.gs.len());
        Arc::try_unwrap(prev).ok()
    }

    pub fn say(&mut self, text: impl Into<String>) {
        self.message = Some(Message { text: text.into(), error: false });
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.message = Some(Message { text: text.into(), error: true });
    }

    pub fn input_mode(&self) -> InputMode {
        if self.help {
            InputMode::Help
        } else if self.filter_edit.is_some() {
            InputMode::Filter
        } else if self.detail.is_some() {
            InputMode::Detail
        } else {
            InputMode::Normal
        }
    }

    /// All tabs: the built-in views, then the extensions'.
    pub fn tabs(&self) -> Vec<View> {
        let mut v = View::BUILTIN.to_vec();
        v.extend((0..self.extra_tabs.len()).map(|i| View::Extra(i as u8)));
        v
    }

    /// Recomputes what is stale (the goroutine list) and asks for the
    /// stacks the screen needs. Call before rendering.
    pub fn prepare(&mut self) {
        let regs = &self.control.regs;
        let snap = &self.snap;
        // Stacks the screen needs: all of them when grouping or filtering
        // (a filter matches the functions of every goroutine's stack;
        // asked once per snapshot, and the cache keeps a parked
        // goroutine's stack for as long as it stays parked), the open one.
        let all = self.goroutines.grouped || !self.goroutines.filter.is_empty();
        if all && self.stacks_asked != Some(self.snap_gen) {
            self.stacks_asked = Some(self.snap_gen);
            for g in &snap.gs {
                let tid = self::m_of(snap, g).and_then(|m| m.tid);
                if let Some((k, st)) = stacks::key_of(snap, g, tid.and_then(|t| regs.get(&t).copied())) {
                    self.stacks.want(k, st);
                }
            }
        }
        if let Some(g) = self.detail.and_then(|id| self.derived.g_by_goid.get(&id)).map(|&i| &snap.gs[i]) {
            let tid = self::m_of(snap, g).and_then(|m| m.tid);
            if let Some((k, st)) = stacks::key_of(snap, g, tid.and_then(|t| regs.get(&t).copied())) {
                self.stacks.want(k, st);
            }
        }
        self.goroutines.refresh(&self.snap, self.snap_gen, &self.derived, &self.stacks, &self.control.regs);
    }

    /// The stack key of a goroutine (if it can be unwound now).
    pub fn stack_of(&self, g: &GView) -> Option<&Arc<Stack>> {
        let tid = m_of(&self.snap, g).and_then(|m| m.tid);
        let (k, _) = stacks::key_of(&self.snap, g, tid.and_then(|t| self.control.regs.get(&t).copied()))?;
        self.stacks.get(&k)
    }

    /// The mark of the thread an M is.
    pub fn m_mark(&self, m: &MView) -> Option<&Mark> {
        m.tid.and_then(|t| self.control.marks.get(&t))
    }

    /// The mark of the thread running goroutine `g`.
    pub fn g_mark(&self, g: &GView) -> Option<&Mark> {
        m_of(&self.snap, g).and_then(|m| self.m_mark(m))
    }

    /// The mark of the thread holding P `p`.
    pub fn p_mark(&self, p: &PView) -> Option<&Mark> {
        p.m.index().and_then(|i| self.snap.m(i)).and_then(|m| self.m_mark(m))
    }

    /// "M3" with its mark: "M3 [F]".
    pub fn m_label(&self, l: Link) -> String {
        match l {
            Link::Nil => "-".into(),
            Link::Bad { .. } => "M?".into(),
            Link::Rec { index, id } => {
                let m = self.snap.m(index as u64);
                let id = m.and_then(|m| m.id).unwrap_or(id as i64);
                match m.and_then(|m| self.m_mark(m)) {
                    Some(k) => format!("M{id} {}", k.tag()),
                    None => format!("M{id}"),
                }
            }
        }
    }

    /// "G12" for a goroutine link.
    pub fn g_link(&self, l: Link) -> String {
        match l {
            Link::Nil => "-".into(),
            Link::Bad { .. } => "G?".into(),
            Link::Rec { id, .. } => format!("G{id}"),
        }
    }

    /// The P column of a goroutine: the P of its M, or where it is queued.
    pub fn g_p(&self, g: &GView) -> String {
        if let Some(p) = m_of(&self.snap, g).and_then(|m| m.p.index()).and_then(|i| self.snap.p(i)) {
            return format!("P{}", p.id.unwrap_or(p.index as i64));
        }
        match self.derived.queued.get(&g.index) {
            Some(Queued::Local(p)) => format!("q:P{p}"),
            Some(Queued::Runnext(p)) => format!("next:P{p}"),
            Some(Queued::Global) => "global q".into(),
            None => "-".into(),
        }
    }

    /// The selected goroutine of the list (its position in `snap.gs`).
    pub fn selected_goroutine(&self) -> Option<usize> {
        self.goroutines.selected_pos()
    }
}

/// The M a goroutine is on.
pub fn m_of<'a>(s: &'a Snapshot, g: &GView) -> Option<&'a MView> {
    g.m.index().and_then(|i| s.m(i))
}
