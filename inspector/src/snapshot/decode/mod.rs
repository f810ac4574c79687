//! Decoding an image into a [`Snapshot`]: the decoder's state (`Decoder`), its
//! damage and naming helpers, and the passes, one file per record kind.
//!
//! - `fields`: the field sets (which fields each pass reads, resolved once
//!   per image from the table's descriptors, or compiled in) and the
//!   inlined record reader.
//! - `links`: sections, records, pointer translation and chain walks.
//! - `parallel`: [`Snapshot::decode`] and its two-thread machinery.
//! - the passes: `sched` (header, sched), `ms` (Ms, Ps), `goroutines`,
//!   `channels` (channels, their queues, sudogs), `locks`, `heap`, and
//!   `generic` (every record section with no typed pass, by descriptor).

mod channels;
mod fields;
mod generic;
mod goroutines;
mod heap;
mod links;
mod locks;
mod ms;
mod parallel;
mod sched;
#[cfg(test)]
mod tests;

pub use goroutines::{stack_ranges, StackRange};

use super::*;
use crate::snapshot::access::lookup;
use fields::*;
use grt_table::header::SectionKind;
use grt_table::view::{Image, Layout};
use links::{div_magic, GInfo, SectionRecords};
use std::sync::Arc;

/// The table's string lists, as shared texts.
#[derive(Clone, Default)]
struct TableNames {
    gstatus: Vec<Text>,
    pstatus: Vec<Text>,
    waitreason: Vec<Text>,
    mrole: Vec<Text>,
    mstate: Vec<Text>,
    spanstate: Vec<Text>,
    gcphase: Vec<Text>,
    bugs: Vec<Text>,
    stwreason: Vec<Text>,
    lockrank: Vec<Text>,
}

fn names_of(l: &Layout, name: &str) -> Vec<Text> {
    l.enum_list(name).map(|v| v.iter().map(|s| Text::name(s)).collect()).unwrap_or_default()
}

/// Slots of `Decoder::sections`, indexed by section kind number: one per
/// number up to the largest kind this inspector knows (kind numbers are
/// ABI and never reused, so they are not bounded by `MAX_SECTIONS`; a
/// fixed 16 would silently hide a 16th kind's records).
const KIND_SLOTS: usize = {
    let (mut max, mut i) = (0, 0);
    while i < SectionKind::ALL.len() {
        if SectionKind::ALL[i] as usize > max {
            max = SectionKind::ALL[i] as usize;
        }
        i += 1;
    }
    max + 1
};

/// A lock field in a record: its name and offset.
#[derive(Clone, Debug)]
struct EmbeddedLock {
    name: Text,
    offset: u64,
}

/// A view vector sized for every record of its section, shrunk when most
/// records were not in use (a snapshot may be kept for long), unless its
/// memory is being recycled from snapshot to snapshot.
fn trim<T>(mut v: Vec<T>, reused: bool) -> Vec<T> {
    if !reused && v.len() < v.capacity() / 2 {
        v.shrink_to_fit();
    }
    v
}

fn shifted(f: Option<FieldAt>, by: u64) -> Option<FieldAt> {
    let f = f?;
    Some(FieldAt { off: f.off.checked_add(usize::try_from(by).ok()?)?, ..f })
}

/// One decode: the image, resolved fields, interned names and the damage
/// found so far.
struct Decoder<'a> {
    img: &'a Image,
    /// The big sections' field sets are the compiled ones (see `PassSets`).
    compiled: bool,
    live: bool,
    include_dead: bool,
    now: u64,
    fields: FieldSets,
    names: TableNames,
    damage: Vec<Damage>,
    dropped: u64,
    /// Site index -> its text (lazily filled; None inside = no usable text).
    sites: Vec<Option<Option<Text>>>,
    /// Index of the "lock" record layout.
    lock_rec: Option<usize>,
    /// Lock fields of sched, mheap and hchan records.
    sched_locks: Vec<EmbeddedLock>,
    heap_locks: Vec<EmbeddedLock>,
    /// Per sudog record: already found on a channel queue.
    queued: Vec<bool>,
    /// The image's sections by kind.
    sections: [SectionRecords<'a>; KIND_SLOTS],
    /// Per G record (dead ones too), filled by the G pass: its goid, stack
    /// bounds and status, so links to Gs need no random read of the record.
    gcache: Arc<Vec<GInfo>>,
    /// Per hchan record, filled by the channel pass: its id.
    chan_ids: Vec<Option<u64>>,
    /// Channels (record indices) whose lock is held, from the channel pass.
    held_chans: Vec<u64>,
    /// A reusable buffer for chain walks.
    scratch: Vec<u64>,
    /// Arenas of the views' lists (see `ListRef`): G.waiting (G pass),
    /// channel queues (channel pass).
    waiting: Vec<u64>,
    g_extras: Vec<GExtra>,
    queues: Vec<QueueEntry>,
    /// Empty vectors to decode views into (see `ViewBuffers`).
    bufs: ViewBuffers,
    /// Visit stamps of long chain walks, and the current walk's stamp.
    stamps: Vec<u32>,
    walk_id: u32,
}

/// Empty vectors for the views of the larger sections and the arenas,
/// with room: fresh, or a previous snapshot's (see
/// [`Snapshot::decode_reusing`]).
#[derive(Default)]
struct ViewBuffers {
    gs: Vec<GView>,
    chans: Vec<ChanView>,
    sudogs: Vec<SudogView>,
    spans: Vec<SpanView>,
    waiting: Vec<u64>,
    g_extras: Vec<GExtra>,
    queues: Vec<QueueEntry>,
    /// Set when the vectors came from a previous snapshot: keep their room
    /// (no shrinking, the next decode needs it again).
    reused: bool,
}

impl ViewBuffers {
    /// A snapshot's vectors, emptied (the views are plain data: clearing
    /// them costs nothing).
    fn from_old(mut s: Snapshot) -> ViewBuffers {
        fn empty<T>(mut v: Vec<T>) -> Vec<T> {
            v.clear();
            v
        }
        ViewBuffers {
            gs: empty(std::mem::take(&mut s.gs)),
            chans: empty(std::mem::take(&mut s.chans)),
            sudogs: empty(std::mem::take(&mut s.sudogs)),
            spans: empty(std::mem::take(&mut s.heap.spans)),
            waiting: empty(std::mem::take(&mut s.waiting)),
            g_extras: empty(std::mem::take(&mut s.g_extras)),
            queues: empty(std::mem::take(&mut s.queues)),
            reused: true,
        }
    }
}

impl<'a> Decoder<'a> {
    fn new(img: &'a Image, opts: &DecodeOptions, now: u64, mut bufs: ViewBuffers) -> Decoder<'a> {
        let l = &img.layout;
        let f = FieldSets {
            sched: SchedFields::resolve(l),
            p: PFields::resolve(l),
            m: MFields::resolve(l),
            g: GFields::resolve(l),
            sudog: SudogFields::resolve(l),
            hchan: ChanFields::resolve(l),
            span: SpanFields::resolve(l),
            heap: HeapFields::resolve(l),
            site: SiteFields::resolve(l),
            lock: LockFields::resolve(l),
        };
        let n = TableNames {
            gstatus: names_of(l, "gstatus"),
            pstatus: names_of(l, "pstatus"),
            waitreason: names_of(l, "waitreason"),
            mrole: names_of(l, "mrole"),
            mstate: names_of(l, "mstate"),
            spanstate: names_of(l, "spanstate"),
            gcphase: names_of(l, "gcphase"),
            bugs: names_of(l, "bugs"),
            stwreason: names_of(l, "stwreason"),
            lockrank: names_of(l, "lockrank"),
        };
        let lock_rec = l.record("lock").map(|(i, _)| i);
        let mut cx = Decoder {
            img,
            compiled: f.compiled(),
            live: matches!(opts.capture, Capture::Live),
            include_dead: opts.include_dead,
            now,
            fields: f,
            names: n,
            damage: Vec::new(),
            dropped: 0,
            sites: Vec::new(),
            lock_rec,
            sched_locks: Vec::new(),
            heap_locks: Vec::new(),
            queued: Vec::new(),
            sections: [SectionRecords::default(); KIND_SLOTS],
            gcache: Arc::default(),
            chan_ids: Vec::new(),
            held_chans: Vec::new(),
            scratch: Vec::new(),
            waiting: std::mem::take(&mut bufs.waiting),
            g_extras: std::mem::take(&mut bufs.g_extras),
            queues: std::mem::take(&mut bufs.queues),
            bufs,
            stamps: Vec::new(),
            walk_id: 0,
        };
        for seg in &img.segments {
            let i = &seg.info;
            let start = img.header.base.checked_add(i.offset);
            if let Some(slot) = cx.sections.get_mut(i.kind as usize) {
                let stride = i.stride.max(1);
                // Record indices are u32 in links (see `Link`).
                let len = i.len.min(u32::MAX as u64);
                *slot = SectionRecords { bytes: &seg.bytes, stride, len, start, magic: div_magic(stride) };
            }
        }
        cx.queued = vec![false; cx.section_len(SectionKind::Sudog).min(1 << 28) as usize];
        cx.sched_locks = cx.embedded_locks("sched");
        cx.heap_locks = cx.embedded_locks("mheap");
        // Sites are few (one per go statement and channel creation); a
        // hostile table could claim millions: cache the first 64k only.
        let nsites = img.len(SectionKind::Site).min(1 << 16) as usize;
        cx.sites = vec![None; nsites];
        cx
    }

    fn push_damage(&mut self, kind: DamageKind, place: String, message: String) {
        if self.damage.len() < MAX_DAMAGE {
            self.damage.push(Damage { kind, place, message });
        } else {
            self.dropped += 1;
        }
    }

    fn corrupt(&mut self, place: impl FnOnce() -> String, message: impl Into<String>) {
        let p = place();
        self.push_damage(DamageKind::Corrupt, p, message.into());
    }

    /// Two values disagree: torn in a live capture, inconsistent otherwise.
    fn disagree(&mut self, place: impl FnOnce() -> String, message: impl Into<String>) {
        let k = if self.live { DamageKind::Torn } else { DamageKind::Inconsistent };
        let p = place();
        self.push_damage(k, p, message.into());
    }

    // --- naming

    fn name_in(list: &[Text], v: Option<u64>) -> Text {
        lookup(list, v).map_or_else(Text::from, Text::clone)
    }

    /// A name from a list; an out-of-range value is damage.
    fn enum_name(
        &mut self,
        which: fn(&TableNames) -> &Vec<Text>,
        v: Option<u64>,
        place: impl FnOnce() -> String,
    ) -> Text {
        self.check_enum(which(&self.names).len(), v, place);
        Self::name_in(which(&self.names), v)
    }

    /// A value of a list of `len` names: out of range is damage.
    fn check_enum(&mut self, len: usize, v: Option<u64>, place: impl FnOnce() -> String) {
        if let Some(x) = v {
            if len > 0 && usize::try_from(x).map_or(true, |i| i >= len) {
                self.corrupt(place, format!("value {x} is out of range (the table's list has {len} names)"));
            }
        }
    }

    /// A site index a view may keep: nonzero (site 0 is "unknown"), among
    /// the sites this decoder caches, with a readable text (resolved here,
    /// once, into `sites`; the snapshot takes the texts its views name).
    #[inline]
    fn site(&mut self, idx: Option<u64>) -> Option<u32> {
        let i = u32::try_from(idx?).ok()?;
        match self.sites.get(i as usize)? {
            _ if i == 0 => None,
            Some(t) => t.is_some().then_some(i),
            None => self.site_slow(i),
        }
    }

    /// `site` for a site not resolved yet.
    #[inline(never)]
    fn site_slow(&mut self, i: u32) -> Option<u32> {
        let r = self.record(SectionKind::Site, i as u64);
        let sf = self.fields.site;
        let text = r.and_then(|r| match (r.opt(sf.name_off), r.opt(sf.name_len)) {
            (Some(o), Some(l)) if o <= u32::MAX as u64 && l <= u32::MAX as u64 => {
                self.img.string(o as u32, l as u32).map(|name| match r.opt(sf.kind) {
                    Some(1) => Text::new(name),
                    _ => match r.opt(sf.line) {
                        Some(line) if line > 0 => Text::from(format!("{name}:{line}")),
                        _ => Text::new(name),
                    },
                })
            }
            _ => None,
        });
        let ok = text.is_some();
        if let Some(slot) = self.sites.get_mut(i as usize) {
            *slot = Some(text);
        }
        ok.then_some(i)
    }

    /// The site texts this decoder resolved, as the snapshot keeps them
    /// (trailing unnamed sites cut).
    fn site_table(&mut self) -> Vec<Option<Text>> {
        let mut out: Vec<Option<Text>> = std::mem::take(&mut self.sites).into_iter().map(Option::flatten).collect();
        while out.last().is_some_and(|t| t.is_none()) {
            out.pop();
        }
        out
    }
}
