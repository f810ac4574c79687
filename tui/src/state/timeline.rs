//! The timeline: goroutine counts per status over the last minute, and the
//! recent status changes, found by diffing consecutive snapshots.
//!
//! Times are the target's uptime at each snapshot (from the snapshot
//! itself, never the local clock), so a saved sequence of snapshots always
//! gives the same timeline.

use grt_inspector::snapshot::{GView, Snapshot};
use std::collections::VecDeque;

/// The status categories counted, in display order.
pub const CATS: [&str; 6] = ["running", "runnable", "syscall", "waiting", "scan", "other"];

/// How much history the sparklines cover.
pub const WINDOW_NS: u64 = 60_000_000_000;
/// Changes kept.
pub const MAX_CHANGES: usize = 2000;
/// Changes recorded per snapshot; the rest are counted in one line.
pub const MAX_CHANGES_PER_STEP: usize = 200;

fn cat(g: &GView) -> usize {
    if g.scan() {
        return 4;
    }
    match g.base_status() {
        Some(grt_table::G_RUNNING) => 0,
        Some(grt_table::G_RUNNABLE) => 1,
        Some(grt_table::G_SYSCALL) => 2,
        Some(grt_table::G_WAITING) => 3,
        _ => 5,
    }
}

/// Goroutine counts of one snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Target uptime, ns.
    pub t_ns: u64,
    pub counts: [u32; 6],
}

/// One observed change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A goroutine's label changed ("running" -> "chan receive").
    Status {
        t_ns: u64,
        goid: Option<u64>,
        from: String,
        to: String,
    },
    Created {
        t_ns: u64,
        goid: Option<u64>,
        to: String,
    },
    Exited {
        t_ns: u64,
        goid: Option<u64>,
        from: String,
    },
    /// More changes in one step than are kept.
    More {
        t_ns: u64,
        n: u64,
    },
}

impl Change {
    pub fn t_ns(&self) -> u64 {
        match *self {
            Change::Status { t_ns, .. }
            | Change::Created { t_ns, .. }
            | Change::Exited { t_ns, .. }
            | Change::More { t_ns, .. } => t_ns,
        }
    }

    /// "G17 running -> chan receive".
    pub fn text(&self) -> String {
        let g = |id: &Option<u64>| crate::fmt::gname(*id);
        match self {
            Change::Status { goid, from, to, .. } => format!("{} {from} -> {to}", g(goid)),
            Change::Created { goid, to, .. } => format!("{} created ({to})", g(goid)),
            Change::Exited { goid, from, .. } => format!("{} exited (was {from})", g(goid)),
            Change::More { n, .. } => format!("... and {n} more changes"),
        }
    }
}

#[derive(Debug, Default)]
pub struct Timeline {
    pub samples: VecDeque<Sample>,
    /// Newest first.
    pub changes: VecDeque<Change>,
    pub total_changes: u64,
}

/// What a diff compares: status word, wait reason, generation.
fn sig(g: &GView) -> (Option<u32>, Option<u32>, Option<u32>) {
    (g.status, if g.base_status() == Some(grt_table::G_WAITING) { g.waitreason } else { None }, g.generation)
}

impl Timeline {
    /// Adds a snapshot (and its diff against the previous one).
    pub fn push(&mut self, prev: Option<&Snapshot>, cur: &Snapshot) {
        let t = crate::fmt::uptime_ns(cur).unwrap_or(0);
        let mut counts = [0u32; 6];
        for g in &cur.gs {
            counts[cat(g)] += 1;
        }
        self.samples.push_back(Sample { t_ns: t, counts });
        while self.samples.front().is_some_and(|s| s.t_ns + WINDOW_NS + 1_000_000_000 < t) {
            self.samples.pop_front();
        }
        if self.samples.len() > 100_000 {
            self.samples.pop_front();
        }
        if let Some(prev) = prev {
            self.diff(prev, cur, t);
        }
    }

    fn diff(&mut self, prev: &Snapshot, cur: &Snapshot, t: u64) {
        // Both are in record order: merge by record index.
        let (sa, sb) = (prev, cur);
        let (a, b) = (&prev.gs, &cur.gs);
        let (mut i, mut j) = (0, 0);
        let mut step: Vec<Change> = Vec::new();
        let mut n = 0u64;
        let mut push = |c: Change, step: &mut Vec<Change>| {
            n += 1;
            if step.len() < MAX_CHANGES_PER_STEP {
                step.push(c);
            }
        };
        while i < a.len() || j < b.len() {
            let ai = a.get(i).map(|g| g.index).unwrap_or(u64::MAX);
            let bj = b.get(j).map(|g| g.index).unwrap_or(u64::MAX);
            if ai == bj {
                let (ga, gb) = (&a[i], &b[j]);
                if sig(ga) != sig(gb) {
                    if ga.generation != gb.generation || ga.goid != gb.goid {
                        push(Change::Exited { t_ns: t, goid: ga.goid, from: crate::fmt::g_label(sa, ga) }, &mut step);
                        push(Change::Created { t_ns: t, goid: gb.goid, to: crate::fmt::g_label(sb, gb) }, &mut step);
                    } else {
                        let (from, to) = (crate::fmt::g_label(sa, ga), crate::fmt::g_label(sb, gb));
                        if from != to {
                            push(Change::Status { t_ns: t, goid: gb.goid, from, to }, &mut step);
                        }
                    }
                }
                i += 1;
                j += 1;
            } else if ai < bj {
                push(Change::Exited { t_ns: t, goid: a[i].goid, from: crate::fmt::g_label(sa, &a[i]) }, &mut step);
                i += 1;
            } else {
                push(Change::Created { t_ns: t, goid: b[j].goid, to: crate::fmt::g_label(sb, &b[j]) }, &mut step);
                j += 1;
            }
        }
        self.total_changes += n;
        let kept = step.len() as u64;
        if n > kept {
            self.changes.push_front(Change::More { t_ns: t, n: n - kept });
        }
        for c in step.into_iter().rev() {
            self.changes.push_front(c);
        }
        self.changes.truncate(MAX_CHANGES);
    }

    /// The latest sample.
    pub fn last(&self) -> Option<&Sample> {
        self.samples.back()
    }

    /// Counts of category `c` over the last minute in `buckets` columns,
    /// oldest first; each column holds the last sample taken in it (or
    /// carries the previous value forward).
    pub fn series(&self, c: usize, buckets: usize) -> Vec<u64> {
        let Some(last) = self.samples.back() else {
            return vec![0; buckets];
        };
        if buckets == 0 {
            return Vec::new();
        }
        let end = last.t_ns;
        let start = end.saturating_sub(WINDOW_NS);
        let width = (WINDOW_NS / buckets as u64).max(1);
        let mut out: Vec<Option<u64>> = vec![None; buckets];
        for s in &self.samples {
            if s.t_ns < start {
                continue;
            }
            let k = (((s.t_ns - start) / width) as usize).min(buckets - 1);
            out[k] = Some(s.counts[c] as u64);
        }
        let mut carry = 0;
        let first_known = out.iter().position(|v| v.is_some());
        out.into_iter()
            .enumerate()
            .map(|(k, v)| match v {
                Some(v) => {
                    carry = v;
                    v
                }
                None if first_known.is_some_and(|f| k > f) => carry,
                None => 0,
            })
            .collect()
    }
}
