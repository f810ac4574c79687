//! [`Snapshot`], a decoded table, and its accessors: records by index,
//! names of the numbers the views keep, lists out of the snapshot-wide
//! arenas. Every accessor bounds-checks (a loaded file is untrusted too).

use super::*;
use crate::waitfor;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::mem::size_of;

/// A decoded table.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub format: u32,
    pub taken: Taken,
    pub header: HeaderView,
    pub sched: SchedView,
    /// allp, in record order.
    pub ps: Vec<PView>,
    /// allm, in record order (Ms are never freed).
    pub ms: Vec<MView>,
    /// Goroutines in record order (Gidle/Gdead only with `include_dead`).
    pub gs: Vec<GView>,
    /// Sudogs in use, in record order.
    pub sudogs: Vec<SudogView>,
    /// Channels in use, in record order.
    pub chans: Vec<ChanView>,
    /// Every lock of sched and mheap, every channel lock that is held or
    /// waited for, and every lock outside the table that an M holds or
    /// waits for. (A free channel lock is in its ChanView only.)
    pub locks: Vec<LockView>,
    pub heap: HeapView,
    pub damage: Vec<Damage>,
    /// Damage entries beyond MAX_DAMAGE, counted only.
    pub damage_dropped: u64,
    pub waitfor: waitfor::Report,
    /// The status, wait reason and span state names of the table.
    pub names: NameLists,
    /// Texts of the creation sites the views name (by site index; None for
    /// a site no view names or whose text is unreadable).
    pub sites: Vec<Option<Text>>,
    /// Arena of the goroutines' waiting lists (sudog record indices).
    pub waiting: Vec<u64>,
    /// The rarely set fields of the goroutines that have any (`GView::extra`).
    pub g_extras: Vec<GExtra>,
    /// Arena of the channels' recvq and sendq entries.
    pub queues: Vec<QueueEntry>,
    /// Fields the decoder reads that this table's layout lacks ("g.gopc"):
    /// an older or newer runtime's table. Empty for a table of this ABI.
    pub missing_fields: Vec<Text>,
    /// The record sections that have no typed view, decoded by descriptor
    /// (see [`RecordTable`]), in section order. Left out of a saved file
    /// when empty, so files of tables without such sections are unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordTable>,
}

// The big views are plain data: nothing to drop per record.
const _: () = assert!(!std::mem::needs_drop::<GView>() && !std::mem::needs_drop::<ChanView>());
const _: () = assert!(!std::mem::needs_drop::<SudogView>() && !std::mem::needs_drop::<SpanView>());
const _: () = assert!(size_of::<Link>() == 16);
const _: () = assert!(size_of::<GView>() <= 176 && size_of::<SudogView>() <= 88 && size_of::<SpanView>() <= 80);

/// A value's name in one of the table's lists ("?" when unreadable,
/// "unknown (N)" when out of the list).
pub(super) fn name_in(list: &[Text], v: Option<u64>) -> Cow<'_, str> {
    lookup(list, v).map_or_else(Cow::Owned, |t| Cow::Borrowed(t.as_str()))
}

/// A value's name in one of the table's lists, or the text shown for a
/// value that has none ("?" when unreadable, "unknown (N)" out of the list).
pub(super) fn lookup(list: &[Text], v: Option<u64>) -> Result<&Text, String> {
    let v = v.ok_or_else(|| "?".to_string())?;
    usize::try_from(v).ok().and_then(|i| list.get(i)).ok_or_else(|| format!("unknown ({v})"))
}

pub(super) fn by_index<T>(v: &[T], index: u64, key: impl Fn(&T) -> u64) -> Option<&T> {
    v.binary_search_by_key(&index, key).ok().map(|i| &v[i])
}

impl Snapshot {
    /// The goroutine whose G record has this index.
    pub fn g(&self, index: u64) -> Option<&GView> {
        by_index(&self.gs, index, |g| g.index)
    }

    /// The goroutine with this goid (the first one, if damaged ids repeat).
    pub fn goroutine(&self, goid: u64) -> Option<&GView> {
        self.gs.iter().find(|g| g.goid == Some(goid))
    }

    /// The M with this record index.
    pub fn m(&self, index: u64) -> Option<&MView> {
        by_index(&self.ms, index, |m| m.index)
    }

    pub fn p(&self, index: u64) -> Option<&PView> {
        by_index(&self.ps, index, |p| p.index)
    }

    pub fn sudog(&self, index: u64) -> Option<&SudogView> {
        by_index(&self.sudogs, index, |s| s.index)
    }

    pub fn chan(&self, index: u64) -> Option<&ChanView> {
        by_index(&self.chans, index, |c| c.index)
    }

    /// The name of a goroutine's status (without the scan bit): the
    /// table's name ("waiting"), "unknown (N)" for a value out of its list,
    /// "?" when unreadable.
    pub fn status_name(&self, g: &GView) -> Cow<'_, str> {
        name_in(&self.names.gstatus, g.base_status().map(u64::from))
    }

    /// The wait reason's name while the goroutine waits and the reason is
    /// not the empty one.
    pub fn waitreason_name(&self, g: &GView) -> Option<Cow<'_, str>> {
        if g.base_status() != Some(grt_table::G_WAITING) {
            return None;
        }
        let w = g.waitreason?;
        match self.names.waitreason.get(w as usize) {
            Some(t) if t.is_empty() => None,
            Some(t) => Some(Cow::Borrowed(t.as_str())),
            None => Some(Cow::Owned(format!("unknown wait reason {w}"))),
        }
    }

    /// What a goroutine waits for or does, in a word: the wait reason while
    /// waiting, the status name otherwise (the dump header's word).
    pub fn state_word(&self, g: &GView) -> Cow<'_, str> {
        self.waitreason_name(g).unwrap_or_else(|| self.status_name(g))
    }

    /// "file:line" of the go statement that created the goroutine.
    pub fn created_at(&self, g: &GView) -> Option<&str> {
        self.site(g.site)
    }

    /// The text of a site (a creation site, a channel's element type).
    pub fn site(&self, site: Option<u32>) -> Option<&str> {
        self.sites.get(site? as usize)?.as_ref().map(|t| t.as_str())
    }

    /// The sudogs a goroutine waits on, in waitlink order.
    /// How long a waiting goroutine has waited at the capture (None when
    /// it is not waiting or its start is unknown).
    pub fn wait_ns(&self, g: &GView) -> Option<u64> {
        if g.base_status() != Some(grt_table::G_WAITING) || g.waitsince_ns <= 0 || self.taken.mono_ns == 0 {
            return None;
        }
        self.taken.mono_ns.checked_sub(g.waitsince_ns as u64)
    }

    /// How long a running goroutine had run without passing a safe point at
    /// the capture (None when it is not running or the stamp is unknown).
    /// A goroutine that reaches safe points yields within about 10ms of
    /// sysmon's request, so a long one runs code that never calls the
    /// runtime where it could park; the dump's header shows it from
    /// `grt_symbols::traceback::NO_SAFE_POINT_SHOWN_NS` on.
    pub fn no_safe_point_ns(&self, g: &GView) -> Option<u64> {
        let since = self.g_extra(g).safepoint_when_ns;
        if g.base_status() != Some(grt_table::G_RUNNING) || since <= 0 || self.taken.mono_ns == 0 {
            return None;
        }
        Some(self.taken.mono_ns.saturating_sub(since as u64))
    }

    /// A goroutine's rarely set fields (all unset when it has none).
    pub fn g_extra(&self, g: &GView) -> GExtra {
        match g.extra.checked_sub(1) {
            Some(i) => self.g_extras.get(i as usize).copied().unwrap_or_default(),
            None => GExtra::default(),
        }
    }

    pub fn waiting(&self, g: &GView) -> &[u64] {
        g.waiting.of(&self.waiting)
    }

    /// A channel's receive queue, head first.
    pub fn recvq(&self, c: &ChanView) -> &[QueueEntry] {
        c.recvq.of(&self.queues)
    }

    /// A channel's send queue, head first.
    pub fn sendq(&self, c: &ChanView) -> &[QueueEntry] {
        c.sendq.of(&self.queues)
    }

    /// Where a span's sweepgen stands relative to the heap's.
    pub fn span_sweep(&self, sp: &SpanView) -> Option<SweepState> {
        let (s, hs) = (sp.sweepgen?, self.heap.sweepgen?);
        Some(if s == hs.wrapping_sub(2) {
            SweepState::NeedsSweeping
        } else if s == hs.wrapping_sub(1) {
            SweepState::BeingSwept
        } else if s == hs {
            SweepState::Swept
        } else {
            SweepState::Stale { span: s, heap: hs }
        })
    }

    /// The name of a span's state ("?" when its record did not translate).
    pub fn span_state_name(&self, sp: &SpanView) -> Cow<'_, str> {
        if sp.record.index().is_none() {
            return Cow::Borrowed("?");
        }
        name_in(&self.names.spanstate, sp.state.map(u64::from))
    }

    /// The generic view of the records named `record` ("mcache"): a record
    /// kind with no typed view (see [`RecordTable`]).
    pub fn record_table(&self, record: &str) -> Option<&RecordTable> {
        self.records.iter().find(|t| t.record == record)
    }

    /// Goroutine counts by state: the wait reason for waiting goroutines,
    /// the status name otherwise.
    pub fn count_by_state(&self) -> Vec<(Text, usize)> {
        let mut m: HashMap<Cow<'_, str>, usize> = HashMap::new();
        for g in &self.gs {
            *m.entry(self.state_word(g)).or_default() += 1;
        }
        let mut v: Vec<(Text, usize)> = m.into_iter().map(|(k, n)| (Text::name(&k), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

/// CLOCK_MONOTONIC now, in ns (the clock the runtime's `*_ns` stamps use).
pub fn mono_now() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

pub(super) fn wall_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}
