//! The goroutine list: sort column and order, filter, grouping by stack,
//! and their result (row order or groups), recomputed only when one of
//! its inputs changes (a new snapshot, new stacks while grouping or
//! filtering, a setting), never per frame. The selection follows the
//! selected goroutine (or group) across recomputations.

use super::stacks::{self, StackCache};
use super::{m_of, Cursor, Derived};
use grt_inspector::snapshot::{GView, Snapshot};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

/// How long a running goroutine has run without a safe point, when that is
/// long enough for the dump's header to say so (the list marks it, the
/// detail names it): Go-style dumps and the TUI use one threshold.
pub fn no_safe_point(snap: &Snapshot, g: &GView) -> Option<u64> {
    snap.no_safe_point_ns(g).filter(|&d| d >= grt_symbols::traceback::NO_SAFE_POINT_SHOWN_NS)
}

/// A column of the goroutine list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum GCol {
    #[default]
    Id,
    Status,
    Wait,
    M,
    P,
    Stack,
    Created,
}

impl GCol {
    pub const ALL: [GCol; 7] = [GCol::Id, GCol::Status, GCol::Wait, GCol::M, GCol::P, GCol::Stack, GCol::Created];

    pub fn title(self) -> &'static str {
        match self {
            GCol::Id => "ID",
            GCol::Status => "STATUS",
            GCol::Wait => "WAITING FOR",
            GCol::M => "M",
            GCol::P => "P",
            GCol::Stack => "STACK",
            GCol::Created => "CREATED BY",
        }
    }

    pub fn next(self) -> GCol {
        let i = GCol::ALL.iter().position(|&c| c == self).unwrap_or(0);
        GCol::ALL[(i + 1) % GCol::ALL.len()]
    }
}

/// What goroutines of a group share.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GroupKey {
    /// The same symbolized stack (its hash).
    Stack(u64),
    /// No stack to compare (running, or not symbolized yet): the same label.
    NoStack(String),
}

/// Goroutines with identical stacks.
#[derive(Clone, Debug)]
pub struct Group {
    pub key: GroupKey,
    /// Positions in `snap.gs`, by goid.
    pub members: Vec<u32>,
    pub stack: Option<Arc<stacks::Stack>>,
    /// The first member's label ("chan receive"), and how many members
    /// have another one (same stack, different state).
    pub label: String,
    pub other_labels: usize,
}

/// Inputs of the last computation.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    snap_gen: u64,
    sort: GCol,
    desc: bool,
    filter: String,
    grouped: bool,
    /// Stack cache generation (only when stacks matter).
    stacks_gen: u64,
    /// Frozen threads' registers matter for running goroutines' stacks.
    regs: usize,
}

#[derive(Debug, Default)]
pub struct GoroutineList {
    pub sort: GCol,
    pub desc: bool,
    /// The applied filter (case-insensitive substring).
    pub filter: String,
    pub grouped: bool,
    pub cursor: Cursor,
    /// Positions in `snap.gs`, filtered and sorted.
    pub rows: Vec<u32>,
    /// Groups (when `grouped`), largest first.
    pub groups: Vec<Group>,
    key: Option<Key>,
    /// The selected goroutine (goid) or group, kept across recomputations.
    sel_goid: Option<u64>,
    sel_group: Option<GroupKey>,
    /// How many times rows were recomputed (tests and the benchmark check
    /// that rendering does not recompute).
    pub recomputed: u64,
}

fn cmp_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

impl GoroutineList {
    /// Number of rows shown (groups when grouped).
    pub fn len(&self) -> usize {
        if self.grouped {
            self.groups.len()
        } else {
            self.rows.len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Position in `snap.gs` of the selected goroutine (a group's first).
    pub fn selected_pos(&self) -> Option<usize> {
        let i = self.cursor.selected;
        if self.grouped {
            self.groups.get(i).and_then(|g| g.members.first()).map(|&p| p as usize)
        } else {
            self.rows.get(i).map(|&p| p as usize)
        }
    }

    /// Remembers the selection's identity before the rows change.
    pub fn remember_selection(&mut self, snap: &Snapshot) {
        if self.grouped {
            self.sel_group = self.groups.get(self.cursor.selected).map(|g| g.key.clone());
        }
        self.sel_goid = self.selected_pos().and_then(|p| snap.gs.get(p)).and_then(|g| g.goid);
    }

    /// Recomputes rows and groups if an input changed.
    pub fn refresh(
        &mut self,
        snap: &Snapshot,
        snap_gen: u64,
        derived: &Derived,
        stacks: &StackCache,
        regs: &HashMap<u64, (u64, u64, u64)>,
    ) {
        let stacks_matter = self.grouped || !self.filter.is_empty();
        let key = Key {
            snap_gen,
            sort: self.sort,
            desc: self.desc,
            filter: self.filter.clone(),
            grouped: self.grouped,
            stacks_gen: if stacks_matter { stacks.gen } else { 0 },
            regs: regs.len(),
        };
        if self.key.as_ref() == Some(&key) {
            return;
        }
        // The selection's identity, before the rows change. When the
        // snapshot changed, the old positions point into the old snapshot:
        // `AppState::set_snapshot` remembered the selection before that.
        if self.key.as_ref().is_some_and(|k| k.snap_gen == snap_gen) {
            self.remember_selection(snap);
        }
        self.key = Some(key);
        self.recomputed += 1;
        let stack_of = |g: &GView| {
            let tid = m_of(snap, g).and_then(|m| m.tid);
            stacks::key_of(snap, g, tid.and_then(|t| regs.get(&t).copied())).and_then(|(k, _)| stacks.get(&k))
        };
        // Filter.
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<u32> = Vec::with_capacity(snap.gs.len());
        for (i, g) in snap.gs.iter().enumerate() {
            if needle.is_empty() || matches(g, snap, &needle, stack_of(g).map(|s| &**s)) {
                rows.push(i as u32);
            }
        }
        // Sort (stable: ties keep goid order).
        let gs = &snap.gs;
        let label = |g: &GView| crate::fmt::g_label(snap, g);
        match self.sort {
            GCol::Id => rows.sort_unstable_by(|&a, &b| cmp_opt(gs[a as usize].goid, gs[b as usize].goid)),
            GCol::Status => {
                let mut keyed: Vec<(String, u32)> =
                    rows.iter().map(|&r| (crate::fmt::g_status(snap, &gs[r as usize]), r)).collect();
                keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| cmp_opt(gs[a.1 as usize].goid, gs[b.1 as usize].goid)));
                rows = keyed.into_iter().map(|k| k.1).collect();
            }
            GCol::Wait => {
                let mut keyed: Vec<(String, u32)> = rows.iter().map(|&r| (label(&gs[r as usize]), r)).collect();
                keyed.sort_by(|a, b| {
                    a.0.cmp(&b.0)
                        .then_with(|| cmp_opt(snap.wait_ns(&gs[b.1 as usize]), snap.wait_ns(&gs[a.1 as usize])))
                        .then_with(|| cmp_opt(gs[a.1 as usize].goid, gs[b.1 as usize].goid))
                });
                rows = keyed.into_iter().map(|k| k.1).collect();
            }
            GCol::M => rows.sort_by(|&a, &b| {
                let (ga, gb) = (&gs[a as usize], &gs[b as usize]);
                let ma = m_of(snap, ga).and_then(|m| m.id);
                let mb = m_of(snap, gb).and_then(|m| m.id);
                cmp_opt(ma, mb).then_with(|| cmp_opt(ga.goid, gb.goid))
            }),
            GCol::P => {
                let pkey = |g: &GView| -> Option<i64> {
                    if let Some(p) = m_of(snap, g).and_then(|m| m.p.index()).and_then(|i| snap.p(i)) {
                        return Some(p.id.unwrap_or(p.index as i64));
                    }
                    match derived.queued.get(&g.index) {
                        Some(super::Queued::Local(p)) | Some(super::Queued::Runnext(p)) => Some(*p),
                        Some(super::Queued::Global) => Some(i64::MAX),
                        None => None,
                    }
                };
                rows.sort_by(|&a, &b| {
                    let (ga, gb) = (&gs[a as usize], &gs[b as usize]);
                    cmp_opt(pkey(ga), pkey(gb)).then_with(|| cmp_opt(ga.goid, gb.goid))
                })
            }
            GCol::Stack => rows.sort_by(|&a, &b| {
                let (ga, gb) = (&gs[a as usize], &gs[b as usize]);
                cmp_opt(gb.stack_used(), ga.stack_used()).then_with(|| cmp_opt(ga.goid, gb.goid))
            }),
            GCol::Created => rows.sort_by(|&a, &b| {
                let (ga, gb) = (&gs[a as usize], &gs[b as usize]);
                cmp_opt(snap.created_at(ga), snap.created_at(gb)).then_with(|| cmp_opt(ga.goid, gb.goid))
            }),
        }
        if self.desc {
            rows.reverse();
        }
        // Groups.
        let mut groups = Vec::new();
        if self.grouped {
            let mut at: HashMap<GroupKey, usize> = HashMap::new();
            let mut ordered: Vec<u32> = rows.clone();
            ordered.sort_unstable_by(|&a, &b| cmp_opt(gs[a as usize].goid, gs[b as usize].goid));
            for r in ordered {
                let g = &gs[r as usize];
                let st = stack_of(g);
                let l = label(g);
                let k = match st {
                    Some(s) => GroupKey::Stack(s.hash),
                    None => GroupKey::NoStack(l.clone()),
                };
                let i = *at.entry(k.clone()).or_insert_with(|| {
                    groups.push(Group {
                        key: k,
                        members: Vec::new(),
                        stack: st.cloned(),
                        label: l.clone(),
                        other_labels: 0,
                    });
                    groups.len() - 1
                });
                if groups[i].label != l {
                    groups[i].other_labels += 1;
                }
                groups[i].members.push(r);
            }
            groups.sort_by(|a: &Group, b: &Group| {
                b.members.len().cmp(&a.members.len()).then_with(|| a.members.first().cmp(&b.members.first()))
            });
            if self.desc {
                groups.reverse();
            }
        }
        self.rows = rows;
        self.groups = groups;
        // Restore the selection.
        let found = if self.grouped {
            self.sel_group.as_ref().and_then(|k| self.groups.iter().position(|g| &g.key == k)).or_else(|| {
                let goid = self.sel_goid?;
                self.groups.iter().position(|g| g.members.iter().any(|&m| gs[m as usize].goid == Some(goid)))
            })
        } else {
            self.sel_goid.and_then(|goid| self.rows.iter().position(|&r| gs[r as usize].goid == Some(goid)))
        };
        if let Some(i) = found {
            self.cursor.selected = i;
        }
        let n = self.len();
        self.cursor.clamp(n);
    }
}

/// Whether a goroutine matches a (lowercase) filter: its id ("g12" or
/// "12"), status, wait reason, M, creation site, or a function of its stack.
fn matches(g: &GView, snap: &Snapshot, needle: &str, stack: Option<&stacks::Stack>) -> bool {
    let has = |s: &str| s.to_lowercase().contains(needle);
    if let Some(id) = g.goid {
        let t = format!("g{id}");
        if t == needle || t[1..] == *needle {
            return true;
        }
    }
    if has(&snap.status_name(g))
        || snap.waitreason_name(g).as_deref().is_some_and(has)
        || snap.created_at(g).is_some_and(has)
    {
        return true;
    }
    if g.scan() && "scan".contains(needle) {
        return true;
    }
    if let Some(m) = m_of(snap, g).and_then(|m| m.id) {
        if format!("m{m}") == needle {
            return true;
        }
    }
    stack.is_some_and(|s| s.frames.iter().any(|f| has(&f.function) || has(&f.file)))
}
