//! Wait-for analysis over a [`Snapshot`]: who waits for whom, and the
//! cycles that make a deadlock, named the way a person would say them.
//!
//! The graph has these nodes and edges (all from the snapshot, nothing
//! guessed unless the edge says `certain: false`):
//! - thread M waits for lock L: `M.waitlock`;
//! - lock L is held by thread M': `Lock.owner` (for a lock outside the
//!   table, the M whose `held` list names it);
//! - thread M spins in casgstatus on goroutine G, waiting for status S:
//!   `M.waitcasg`. If G's status has the Gscan bit, the edge goes to
//!   "G's scan bit", otherwise to G itself (a status nobody will restore,
//!   as in seed 000: a sink, no holder);
//! - G's scan bit is held by thread M': the runtime does not record the
//!   scanner yet. When the table has a `g.scanm` field the edge is exact.
//!   Otherwise the scan bit points at an "unknown holder" node and, as
//!   *uncertain* edges, at every other thread that is itself blocked
//!   (waiting for a lock or in casgstatus): a running thread will clear the
//!   bit, so only a blocked one can be holding it forever. A cycle through
//!   such an edge is reported as a possible deadlock;
//! - goroutine G is parked on channel C (from G.waiting and the channel's
//!   queues).
//!
//! Cycles are found with Tarjan's strongly connected components over the
//! thread, lock, scan-bit and goroutine-status nodes (channel edges cannot
//! close a cycle: nothing records which goroutine holds a channel handle),
//! then one simple cycle is extracted per component, preferring certain
//! edges. Channels get a modest check instead: when no goroutine is able to
//! act (running, runnable, in a system call, sleeping, in a network wait)
//! and no timer is pending, every channel with waiters on one side only is
//! reported as possibly unreachable.
//!
//! Invariants: `analyze` never panics on any snapshot (indices that do not
//! resolve are skipped), and its output is deterministic for a given
//! snapshot.

use crate::snapshot::{LockState, Snapshot};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A node of the wait-for graph. Indices are record indices (Ms, Gs,
/// channels) or positions in `Snapshot::locks`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    Thread {
        m: u64,
    },
    Lock {
        lock: usize,
    },
    /// A goroutine's status word (casgstatus waits for it to change).
    Goroutine {
        g: u64,
    },
    /// A goroutine's Gscan bit.
    ScanBit {
        g: u64,
    },
    /// Whoever holds a goroutine's scan bit, when the table does not say.
    UnknownHolder {
        g: u64,
    },
    Chan {
        c: u64,
    },
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    /// Thread -> lock.
    WaitsForLock,
    /// Lock -> thread.
    HeldBy,
    /// Thread -> goroutine: casgstatus waits for status `want`; it is `now`.
    WaitsForStatus { want: u32, now: Option<u32> },
    /// Thread -> scan bit: casgstatus waits for status `want`, the Gscan bit is set.
    WaitsForScanBit { want: u32 },
    /// Scan bit -> thread (or unknown holder).
    ScanBitHeldBy,
    /// Goroutine -> channel.
    ParkedOn { recv: bool },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub from: Node,
    pub to: Node,
    pub kind: EdgeKind,
    /// False for an inferred edge (a scan bit's possible holder).
    pub certain: bool,
    /// How long the wait has lasted, when known.
    pub wait_ns: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    /// The nodes in order; the last waits for the first.
    pub nodes: Vec<Node>,
    pub names: Vec<String>,
    /// True when every edge of the cycle is recorded in the table.
    pub certain: bool,
    /// "M3 (worker, tid 1234) waits for lock sched.lock held by M5 ...".
    pub text: String,
}

/// A channel whose waiters nobody seems able to wake.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Stall {
    pub chan: u64,
    pub chan_id: Option<u64>,
    /// Waiters wait to receive (else to send).
    pub recv: bool,
    /// Goroutine ids of the waiters, in queue order.
    pub waiters: Vec<u64>,
    pub text: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Report {
    pub edges: Vec<Edge>,
    pub cycles: Vec<Cycle>,
    pub stalls: Vec<Stall>,
    /// One line per cycle, per waiting thread and per stalled channel.
    pub lines: Vec<String>,
}

/// Formats a duration in ns as "850ns", "12.3us", "4.1ms", "2.50s", "3m12s".
pub fn fmt_ns(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}us", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else if ns < 60_000_000_000 {
        format!("{:.2}s", ns as f64 / 1e9)
    } else {
        format!("{}m{}s", ns / 60_000_000_000, (ns / 1_000_000_000) % 60)
    }
}

/// The short name of a thread: "M3".
fn m_short(s: &Snapshot, m: u64) -> String {
    match s.m(m).and_then(|v| v.id) {
        Some(id) => format!("M{id}"),
        None => format!("M#{m}"),
    }
}

/// The full name of a thread: "M3 (worker, tid 1234)".
fn m_long(s: &Snapshot, m: u64) -> String {
    match s.m(m) {
        Some(v) => match v.tid {
            Some(t) if t != 0 => format!("{} ({}, tid {t})", m_short(s, m), v.role_name),
            _ => format!("{} ({})", m_short(s, m), v.role_name),
        },
        None => m_short(s, m),
    }
}

fn g_name(s: &Snapshot, g: u64) -> String {
    match s.g(g).and_then(|v| v.goid) {
        Some(id) => format!("goroutine {id}"),
        None => format!("goroutine record {g}"),
    }
}

fn lock_name(s: &Snapshot, l: usize) -> String {
    s.locks.get(l).map_or_else(|| format!("lock #{l}"), |v| v.name.to_string())
}

fn status_name(s: &Snapshot, st: u32) -> String {
    let base = st & !grt_table::G_SCAN;
    let name = match s.names.gstatus.get(base as usize) {
        Some(t) => t.to_string(),
        None => {
            grt_table::G_STATUS_NAMES.get(base as usize).map_or_else(|| format!("status {base}"), |s| s.to_string())
        }
    };
    if st & grt_table::G_SCAN != 0 {
        format!("{name} (scan)")
    } else {
        name
    }
}

impl Report {
    /// A node's full name.
    pub fn describe(s: &Snapshot, n: Node) -> String {
        match n {
            Node::Thread { m } => m_long(s, m),
            Node::Lock { lock } => format!("lock {}", lock_name(s, lock)),
            Node::Goroutine { g } => g_name(s, g),
            Node::ScanBit { g } => format!("{}'s scan bit", g_name(s, g)),
            Node::UnknownHolder { g } => {
                format!("the unrecorded holder of {}'s scan bit", g_name(s, g))
            }
            Node::Chan { c } => match s.chan(c).and_then(|v| v.id) {
                Some(id) => format!("channel {id}"),
                None => format!("channel record {c}"),
            },
        }
    }
}

/// Sudog index -> (channel index, receive side): a dense vector when the
/// indices are compact (always, for a decoded table), a hash map otherwise
/// (a hand-edited snapshot file).
enum SudogMap {
    Dense(Vec<Option<(u64, bool)>>),
    Sparse(HashMap<u64, (u64, bool)>),
}

impl SudogMap {
    fn new(s: &Snapshot) -> SudogMap {
        let max = s.queues.iter().map(|q| q.sudog).max().unwrap_or(0);
        let n = s.sudogs.len() as u64;
        if max <= n.saturating_mul(4).saturating_add(1024) {
            SudogMap::Dense(vec![None; max.saturating_add(1).min(1 << 32) as usize])
        } else {
            SudogMap::Sparse(HashMap::new())
        }
    }

    fn insert(&mut self, k: u64, v: (u64, bool)) {
        match self {
            SudogMap::Dense(d) => {
                if let Some(slot) = d.get_mut(k as usize) {
                    *slot = Some(v);
                }
            }
            SudogMap::Sparse(m) => {
                m.insert(k, v);
            }
        }
    }

    fn get(&self, k: u64) -> Option<(u64, bool)> {
        match self {
            SudogMap::Dense(d) => d.get(usize::try_from(k).ok()?).copied().flatten(),
            SudogMap::Sparse(m) => m.get(&k).copied(),
        }
    }
}

/// Builds the wait-for report of a snapshot.
pub fn analyze(s: &Snapshot) -> Report {
    // Thread edges are few; a parked goroutine has one edge per sudog.
    let mut edges = Vec::with_capacity(s.sudogs.len() + 2 * s.ms.len() + s.locks.len() + 16);
    // Threads waiting for locks; locks held by threads.
    for m in &s.ms {
        if let Some(li) = m.waitlock.as_ref().and_then(|w| w.lock) {
            edges.push(Edge {
                from: Node::Thread { m: m.index },
                to: Node::Lock { lock: li },
                kind: EdgeKind::WaitsForLock,
                certain: true,
                wait_ns: m.wait_ns,
            });
        }
    }
    for (li, l) in s.locks.iter().enumerate() {
        if l.state == LockState::Free {
            continue;
        }
        if let Some(om) = l.owner.index() {
            edges.push(Edge {
                from: Node::Lock { lock: li },
                to: Node::Thread { m: om },
                kind: EdgeKind::HeldBy,
                certain: true,
                wait_ns: None,
            });
        }
    }
    // casgstatus spins.
    let blocked: Vec<u64> =
        s.ms.iter().filter(|m| m.waitlock.is_some() || !m.waitcasg.is_nil()).map(|m| m.index).collect();
    for m in &s.ms {
        let Some(gi) = m.waitcasg.index() else {
            continue;
        };
        let want = m.waitcasg_status.unwrap_or(u32::MAX);
        let g = s.g(gi);
        let from = Node::Thread { m: m.index };
        if let Some(g) = g.filter(|g| g.scan()) {
            edges.push(Edge {
                from,
                to: Node::ScanBit { g: gi },
                kind: EdgeKind::WaitsForScanBit { want },
                certain: true,
                wait_ns: m.wait_ns,
            });
            if let Some(h) = s.g_extra(g).scan_holder.index() {
                edges.push(Edge {
                    from: Node::ScanBit { g: gi },
                    to: Node::Thread { m: h },
                    kind: EdgeKind::ScanBitHeldBy,
                    certain: true,
                    wait_ns: None,
                });
            } else {
                edges.push(Edge {
                    from: Node::ScanBit { g: gi },
                    to: Node::UnknownHolder { g: gi },
                    kind: EdgeKind::ScanBitHeldBy,
                    certain: true,
                    wait_ns: None,
                });
                for &o in blocked.iter().filter(|&&o| o != m.index) {
                    edges.push(Edge {
                        from: Node::ScanBit { g: gi },
                        to: Node::Thread { m: o },
                        kind: EdgeKind::ScanBitHeldBy,
                        certain: false,
                        wait_ns: None,
                    });
                }
            }
        } else {
            let now = g.and_then(|g| g.status);
            edges.push(Edge {
                from,
                to: Node::Goroutine { g: gi },
                kind: EdgeKind::WaitsForStatus { want, now },
                certain: true,
                wait_ns: m.wait_ns,
            });
        }
    }
    // Dedup scan-bit edges (several Ms may spin on the same G).
    {
        let mut seen = std::collections::HashSet::new();
        edges.retain(|e| !matches!(e.from, Node::ScanBit { .. }) || seen.insert((e.from, e.to)));
    }
    let nthread_edges = edges.len();
    // Goroutines parked on channels.
    let mut queue_of = SudogMap::new(s);
    for c in &s.chans {
        for q in s.recvq(c) {
            queue_of.insert(q.sudog, (c.index, true));
        }
        for q in s.sendq(c) {
            queue_of.insert(q.sudog, (c.index, false));
        }
    }
    for g in &s.gs {
        if g.base_status() != Some(grt_table::G_WAITING) {
            continue;
        }
        for &sg in s.waiting(g) {
            let (c, recv) = match queue_of.get(sg) {
                Some((c, r)) => (c, r),
                None => match s.sudog(sg).and_then(|v| v.chan.index()) {
                    Some(c) => (c, !s.waitreason_name(g).is_some_and(|r| r.contains("send"))),
                    None => continue,
                },
            };
            edges.push(Edge {
                from: Node::Goroutine { g: g.index },
                to: Node::Chan { c },
                kind: EdgeKind::ParkedOn { recv },
                certain: true,
                wait_ns: s.wait_ns(g),
            });
        }
    }
    let cycles = find_cycles(s, &edges[..nthread_edges]);
    let stalls = find_stalls(s);
    let mut lines = Vec::new();
    for c in &cycles {
        if c.certain {
            lines.push(format!("deadlock: {}", c.text));
        } else {
            lines.push(format!(
                "possible deadlock (a scan bit's holder is not recorded; guessed from blocked threads): {}",
                c.text
            ));
        }
    }
    for m in &s.ms {
        let dur = m.wait_ns.map(|d| format!(" for {}", fmt_ns(d))).unwrap_or_default();
        if let Some(w) = &m.waitlock {
            let holder = match w.lock.and_then(|l| s.locks.get(l)) {
                Some(l) if l.state == LockState::Free => " (now free)".to_string(),
                Some(l) => match l.owner.index() {
                    Some(o) => format!(" held by {}", m_long(s, o)),
                    None => " (holder not recorded)".to_string(),
                },
                None => String::new(),
            };
            lines.push(format!("{} waits for lock {}{holder}{dur}", m_long(s, m.index), w.name));
        }
        if let Some(gi) = m.waitcasg.index() {
            let want = m.waitcasg_status.map_or("?".to_string(), |w| status_name(s, w));
            let now = s.g(gi).and_then(|g| g.status).map_or("unknown".to_string(), |st| status_name(s, st));
            lines.push(format!(
                "{} spins in casgstatus on {} waiting for status {want}; it is {now}{dur}",
                m_long(s, m.index),
                g_name(s, gi)
            ));
        }
    }
    for st in &stalls {
        lines.push(st.text.clone());
    }
    Report { edges, cycles, stalls, lines }
}

/// Tarjan's SCCs (iterative) over the thread-level edges, then one cycle per
/// component.
fn find_cycles(s: &Snapshot, edges: &[Edge]) -> Vec<Cycle> {
    let mut ids: HashMap<Node, usize> = HashMap::new();
    let mut nodes: Vec<Node> = Vec::new();
    let mut id = |n: Node, nodes: &mut Vec<Node>| -> usize {
        *ids.entry(n).or_insert_with(|| {
            nodes.push(n);
            nodes.len() - 1
        })
    };
    let mut adj: Vec<Vec<(usize, usize)>> = Vec::new();
    for (ei, e) in edges.iter().enumerate() {
        let a = id(e.from, &mut nodes);
        let b = id(e.to, &mut nodes);
        if adj.len() < nodes.len() {
            adj.resize(nodes.len(), Vec::new());
        }
        adj[a].push((b, ei));
    }
    adj.resize(nodes.len(), Vec::new());
    let n = nodes.len();
    // Iterative Tarjan.
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut on = vec![false; n];
    let mut stack = Vec::new();
    let mut comp = vec![usize::MAX; n];
    let mut ncomp = 0;
    let mut next = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on[root] = true;
        while let Some(&mut (v, ref mut k)) = call.last_mut() {
            if *k < adj[v].len() {
                let (w, _) = adj[v][*k];
                *k += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on[w] = true;
                    call.push((w, 0));
                } else if on[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                call.pop();
                if let Some(&(u, _)) = call.last() {
                    low[u] = low[u].min(low[v]);
                }
                if low[v] == index[v] {
                    while let Some(w) = stack.pop() {
                        on[w] = false;
                        comp[w] = ncomp;
                        if w == v {
                            break;
                        }
                    }
                    ncomp += 1;
                }
            }
        }
    }
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); ncomp];
    for v in 0..n {
        if comp[v] != usize::MAX {
            members[comp[v]].push(v);
        }
    }
    let mut out = Vec::new();
    for mem in members {
        let selfloop = mem.len() == 1 && adj[mem[0]].iter().any(|&(w, _)| w == mem[0]);
        if mem.len() < 2 && !selfloop {
            continue;
        }
        let c = comp[mem[0]];
        let found = extract(&adj, edges, &comp, c, &mem, &nodes, true)
            .map(|p| (p, true))
            .or_else(|| extract(&adj, edges, &comp, c, &mem, &nodes, false).map(|p| (p, false)));
        if let Some((path, certain)) = found {
            out.push(make_cycle(s, &nodes, edges, &path, certain));
        }
    }
    out.sort_by(|a, b| a.nodes.cmp(&b.nodes));
    out
}

/// A simple cycle inside component `c`, as edge indices, starting at the
/// lowest thread node when there is one. BFS from each start back to it.
fn extract(
    adj: &[Vec<(usize, usize)>],
    edges: &[Edge],
    comp: &[usize],
    c: usize,
    mem: &[usize],
    nodes: &[Node],
    certain_only: bool,
) -> Option<Vec<usize>> {
    let mut starts = mem.to_vec();
    starts.sort_by_key(|&v| (!matches!(nodes[v], Node::Thread { .. }), nodes[v]));
    for &st in &starts {
        // BFS over the component; prev edge per node.
        let mut prev: HashMap<usize, usize> = HashMap::new();
        let mut q = std::collections::VecDeque::new();
        q.push_back(st);
        let mut closing = None;
        'bfs: while let Some(v) = q.pop_front() {
            for &(w, ei) in &adj[v] {
                if comp[w] != c || (certain_only && !edges[ei].certain) {
                    continue;
                }
                if w == st {
                    closing = Some((v, ei));
                    break 'bfs;
                }
                if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(w) {
                    e.insert(ei);
                    q.push_back(w);
                }
            }
        }
        if let Some((mut v, last)) = closing {
            let mut path = vec![last];
            let mut guard = 0;
            while v != st {
                let ei = *prev.get(&v)?;
                path.push(ei);
                v = node_index(nodes, edges[ei].from)?;
                guard += 1;
                if guard > nodes.len() {
                    return None;
                }
            }
            path.reverse();
            return Some(path);
        }
    }
    None
}

fn node_index(nodes: &[Node], n: Node) -> Option<usize> {
    nodes.iter().position(|&x| x == n)
}

fn make_cycle(s: &Snapshot, _nodes: &[Node], edges: &[Edge], path: &[usize], certain: bool) -> Cycle {
    let cyc_nodes: Vec<Node> = path.iter().map(|&e| edges[e].from).collect();
    let names = cyc_nodes.iter().map(|&n| Report::describe(s, n)).collect();
    let mut mentioned = std::collections::HashSet::new();
    let mut thread = |m: u64| -> String {
        if mentioned.insert(m) {
            m_long(s, m)
        } else {
            m_short(s, m)
        }
    };
    let mut clauses: Vec<String> = Vec::new();
    for &ei in path {
        let e = &edges[ei];
        match (e.kind, e.from, e.to) {
            (EdgeKind::WaitsForLock, Node::Thread { m }, Node::Lock { lock }) => {
                clauses.push(format!("{} waits for lock {}", thread(m), lock_name(s, lock)));
            }
            (EdgeKind::HeldBy, Node::Lock { lock }, Node::Thread { m }) => {
                let t = thread(m);
                match clauses.last_mut() {
                    Some(c) if c.ends_with(&lock_name(s, lock)) => c.push_str(&format!(" held by {t}")),
                    _ => clauses.push(format!("lock {} is held by {t}", lock_name(s, lock))),
                }
            }
            (EdgeKind::WaitsForScanBit { want }, Node::Thread { m }, Node::ScanBit { g }) => {
                clauses.push(format!(
                    "{} waits for {}'s scan bit (in casgstatus, for status {})",
                    thread(m),
                    g_name(s, g),
                    status_name(s, want)
                ));
            }
            (EdgeKind::ScanBitHeldBy, Node::ScanBit { g }, Node::Thread { m }) => {
                if e.certain {
                    clauses.push(format!("{}'s scan bit is held by {}", g_name(s, g), thread(m)));
                } else {
                    clauses.push(format!("{}'s scan bit may be held by {} (not recorded)", g_name(s, g), thread(m)));
                }
            }
            (EdgeKind::WaitsForStatus { want, .. }, Node::Thread { m }, Node::Goroutine { g }) => {
                clauses.push(format!("{} waits for {} to become {}", thread(m), g_name(s, g), status_name(s, want)));
            }
            _ => clauses.push(format!("{} waits for {}", Report::describe(s, e.from), Report::describe(s, e.to))),
        }
    }
    Cycle { nodes: cyc_nodes, names, certain, text: clauses.join("; ") }
}

/// Wait reasons that end without another goroutine's help.
const SELF_WAKING: [&str; 12] = [
    "sleep",
    "IO wait",
    "preempted",
    "garbage collection",
    "GC mark termination",
    "stopping the world",
    "flushing proc caches",
    "GC sweep wait",
    "force gc (idle)",
    "GC worker (idle)",
    "select (no cases)",
    "",
];

fn find_stalls(s: &Snapshot) -> Vec<Stall> {
    let able = s.gs.iter().any(|g| match g.base_status() {
        Some(grt_table::G_WAITING) => {
            let r = s.waitreason_name(g);
            let r = r.as_deref().unwrap_or("");
            r != "select (no cases)" && SELF_WAKING.contains(&r)
        }
        Some(grt_table::G_DEAD) | Some(grt_table::G_IDLE) => false,
        _ => true,
    });
    let timers = s.sched.ntimers.unwrap_or(0) > 0;
    if able || timers {
        return Vec::new();
    }
    let mut out = Vec::new();
    for c in &s.chans {
        let (recv, q) = match (c.recvq.is_empty(), c.sendq.is_empty()) {
            (false, true) => (true, s.recvq(c)),
            (true, false) => (false, s.sendq(c)),
            _ => continue,
        };
        let waiters: Vec<u64> = q.iter().filter_map(|e| e.g.id()).collect();
        let what = match (s.site(c.elemtype), s.site(c.site)) {
            (Some(t), Some(at)) => format!(" (chan {t}, made at {at})"),
            (Some(t), None) => format!(" (chan {t})"),
            (None, Some(at)) => format!(" (made at {at})"),
            _ => String::new(),
        };
        let shown: Vec<String> = waiters.iter().take(8).map(|g| g.to_string()).collect();
        let more = if waiters.len() > 8 { format!(", and {} more", waiters.len() - 8) } else { String::new() };
        let name = c.id.map_or(format!("channel record {}", c.index), |id| format!("channel {id}"));
        let text = format!(
            "{name}{what}: {} goroutine{} wait{} to {} (goroutines {}{more}) and every other goroutine is blocked too, with no timer pending: possibly unreachable",
            waiters.len(),
            if waiters.len() == 1 { "" } else { "s" },
            if waiters.len() == 1 { "s" } else { "" },
            if recv { "receive" } else { "send" },
            shown.join(", "),
        );
        out.push(Stall { chan: c.index, chan_id: c.id, recv, waiters, text });
    }
    out
}
