//! Snapshots: a status table decoded into typed, self-contained views of the
//! scheduler (sched, Ps, Ms, Gs, sudogs, channels, locks, the heap), with
//! every inconsistency recorded instead of trusted, and the wait-for report.
//!
//! Decoding is by field name: the descriptor blob in the table names every
//! field, each record kind's `FieldRef`s are resolved once per snapshot
//! (`Fields`) and then read per record, so a table written by an older or
//! newer runtime decodes as far as the fields agree; a missing field is
//! `None` (0 in a field kept as a plain number) and is listed in
//! [`Snapshot::missing_fields`].
//!
//! The views of the big sections (goroutines, sudogs, channels, spans) are
//! plain data: numbers, [`Link`]s and [`ListRef`]s, no heap allocation or
//! reference count per record. Names (status, wait reason, span state) are
//! looked up in [`Snapshot::names`], creation sites in [`Snapshot::sites`],
//! lists live in snapshot-wide arenas ([`Snapshot::waiting`],
//! [`Snapshot::queues`]) and a goroutine's rarely set fields in
//! [`Snapshot::g_extras`]; accessors on [`Snapshot`] put them together.
//!
//! Speed (100k goroutines: about 9 ms on two CPUs; see `decodebench`): the
//! decode is bound by the bytes it reads and writes, so views are small
//! (`GView` is 176 bytes) and the decoder reads fields through its own
//! inlined reader (`Fx`, `R`); when a table's descriptors resolve to the
//! field sets compiled into this inspector (`Sets`: a table of the same
//! runtime) the passes run with those as constants, so a field read is a
//! load at a fixed offset. It translates pointers in O(1) per section with
//! the same rule as `Image::ptr_index`, and caches what links to a G need
//! (goid, stack bounds, status) so that following a pointer never costs a
//! random read of the large G section. A large table is decoded on two
//! threads in two phases: the G pass over the two halves of the records,
//! each thread writing straight into its half of the one view vector; then
//! Ms, Ps and channels on the caller's thread and the heap on the helper's,
//! after which both take chunks of sudog records from the two ends of a
//! queue until none is left. Every part keeps its own damage list, merged
//! in the one-thread order, so the result never depends on the thread
//! count. State two threads write never shares a cache line (the helper's
//! decoder and sinks live on its own stack). [`Snapshot::decode_reusing`]
//! writes a new snapshot over the memory of one no longer needed, as a
//! watcher does frame after frame: fresh memory costs a page fault per 4 KB,
//! which is most of a fresh decode's time. `Taken::phases_us` says where
//! the time went.
//!
//! Invariants:
//! - [`Snapshot::decode`] never fails and never panics, whatever the image
//!   holds. Every pointer must land on the start of a copied record of the
//!   right section (`Image::ptr_index`'s rule); every chain walk is
//!   cycle-checked and bounded by the length of the section it walks; every
//!   index, count and enum value is range-checked. What does not fit is a
//!   [`Damage`] entry and the field shows as unknown ([`Link::Bad`], `None`,
//!   or a name like `"unknown (77)"`).
//! - A snapshot owns all its data: no reference into the image or the table.
//! - The big views need no drop (checked at compile time, with their
//!   sizes): a list or a name in one is a reference into the snapshot's own
//!   tables, which accessors bounds-check (a loaded file is untrusted too).
//! - Damage is classified: [`DamageKind::Corrupt`] is a value no runtime
//!   writes (a pointer outside its section, a status out of range, a loop);
//!   two values that disagree are [`DamageKind::Torn`] in a live capture (the
//!   target changed one while we copied: a torn live read) and
//!   [`DamageKind::Inconsistent`] in a frozen or saved one.
//! - Record views keep their record index (`index`): it is the stable
//!   identity within one snapshot (goids can be reused or damaged).
//!
//! Files: [`Snapshot::save`]/[`Snapshot::load`] write and read the decoded
//! snapshot as JSON (`"format": 2`, the views as above with their
//! tables; a reader refuses other formats with a
//! clear message). The raw table can be kept too, as a [`RawTable`] file
//! (`.grtraw`: the header and the used part of every section, see
//! [`RawTable`] for the byte format), so that a capture can be re-decoded by
//! newer code without the process.

use crate::waitfor;
use grt_table::desc::Kind;
use grt_table::header::{Header, Section, SectionKind, FLAG_DEBUG, FLAG_GUARD_MADVISE, MAX_SECTIONS};
use grt_table::view::{Error as ViewError, FieldRef, Image, Layout};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::mem::{offset_of, size_of, MaybeUninit};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Version of the JSON snapshot format written by [`Snapshot::save`].
pub const SNAPSHOT_FORMAT: u32 = 2;

/// Damage entries kept per snapshot; more are only counted.
pub const MAX_DAMAGE: usize = 1000;

// --- small shared types ----------------------------------------------------

/// An immutable string shared between views (a status name, a wait
/// reason, a creation site). Names that match the compiled-in lists of
/// `grt_table` are `&'static str` (cloning costs nothing); others are
/// reference counted. Serialized as a plain JSON string.
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

/// Every name the compiled-in table lists know.
fn static_names() -> impl Iterator<Item = &'static str> {
    use grt_table::*;
    G_STATUS_NAMES
        .iter()
        .chain(P_STATUS_NAMES.iter())
        .chain(waitreason::NAMES.iter())
        .chain(mrole::NAMES.iter())
        .chain(mstate::NAMES.iter())
        .chain(spanstate::NAMES.iter())
        .chain(gcphase::NAMES.iter())
        .chain(bugs::NAMES.iter())
        .chain(STW_REASONS.iter())
        .copied()
}

impl Text {
    pub fn new(s: &str) -> Text {
        Text(Repr::Shared(Arc::from(s)))
    }

    /// A text for a name from a table list: static when it is a known name.
    pub fn name(s: &str) -> Text {
        match static_names().find(|n| *n == s) {
            Some(n) => Text(Repr::Static(n)),
            None => Text::new(s),
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl Default for Text {
    fn default() -> Text {
        Text(Repr::Static(""))
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Text {
    fn eq(&self, o: &Text) -> bool {
        self.as_str() == o.as_str()
    }
}

impl Eq for Text {}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, o: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Text {
    fn cmp(&self, o: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(o.as_str())
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::new(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(Repr::Shared(Arc::from(s)))
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, o: &str) -> bool {
        self.as_str() == o
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, o: &&str) -> bool {
        self.as_str() == *o
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        String::deserialize(d).map(|s| Text::name(&s))
    }
}

/// A pointer field, translated: nil, a record of the expected section
/// (its index, and its id: goid for a G, M id, P id, channel id, or the
/// index for sudogs and spans), or an address that does not translate.
///
/// 16 bytes: a record index fits 32 bits (the decoder clamps every
/// section to `u32::MAX` records; a table that large cannot be mapped).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Link {
    #[default]
    Nil,
    Rec {
        index: u32,
        id: u64,
    },
    /// The address did not translate (a damage entry says why).
    Bad {
        addr: u64,
    },
}

impl Link {
    /// A link to record `index` (which the decoder keeps below 2^32; a
    /// larger one would be a bug, and saturates).
    pub fn rec(index: u64, id: u64) -> Link {
        Link::Rec { index: u32::try_from(index).unwrap_or(u32::MAX), id }
    }

    pub fn index(&self) -> Option<u64> {
        match *self {
            Link::Rec { index, .. } => Some(index as u64),
            _ => None,
        }
    }

    pub fn id(&self) -> Option<u64> {
        match *self {
            Link::Rec { id, .. } => Some(id),
            _ => None,
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Link::Nil)
    }
}

/// A saved execution context (gobuf): stack pointer, pc and frame pointer.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Context {
    pub sp: u64,
    pub pc: u64,
    pub bp: u64,
}

/// A list of a view that lives in one of the snapshot's arenas (G.waiting
/// in [`Snapshot::waiting`], channel queues in [`Snapshot::queues`]): the
/// big views stay plain data, with no allocation or reference count per
/// record, so decoding, copying and dropping 100k of them is cheap.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ListRef {
    pub start: u32,
    pub len: u32,
}

impl ListRef {
    /// The list's elements in `arena` (empty when the reference does not
    /// fit it, as in a damaged snapshot file).
    pub fn of<'a, T>(&self, arena: &'a [T]) -> &'a [T] {
        let start = self.start as usize;
        arena.get(start..start.saturating_add(self.len as usize)).unwrap_or(&[])
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }
}

/// Appends `items` to `arena` and returns where they are (an arena is
/// bounded by the sections it indexes, far below 2^32 entries).
fn push_list<T: Copy>(arena: &mut Vec<T>, items: &[T]) -> ListRef {
    if items.is_empty() {
        return ListRef::default(); // one spelling of "empty"
    }
    let start = u32::try_from(arena.len()).unwrap_or(u32::MAX);
    arena.extend_from_slice(items);
    ListRef { start, len: u32::try_from(items.len()).unwrap_or(0) }
}

/// The table's own names for the values the big views keep as numbers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct NameLists {
    pub gstatus: Vec<Text>,
    pub waitreason: Vec<Text>,
    pub spanstate: Vec<Text>,
}

/// What kind of problem a [`Damage`] entry reports.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DamageKind {
    /// A value no runtime writes: a pointer outside its section or into the
    /// middle of a record, a status out of range, a chain that loops.
    Corrupt,
    /// Two values disagree in a frozen or saved capture: the runtime broke
    /// an invariant, or a frozen thread was in the middle of an update.
    Inconsistent,
    /// Two values disagree in a live capture: most likely the target
    /// changed one of them while the table was copied (a torn live read).
    Torn,
}

/// Something in the table that could not be trusted.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub kind: DamageKind,
    /// Where: "g 12 (goroutine 40).waiting", "hchan 3 recvq", "sched.pidle".
    pub place: String,
    pub message: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = match self.kind {
            DamageKind::Corrupt => "corrupt",
            DamageKind::Inconsistent => "inconsistent",
            DamageKind::Torn => "torn live read",
        };
        write!(f, "{}: {} ({k})", self.place, self.message)
    }
}

/// How the table was captured.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Capture {
    /// Read while the target ran: values may be torn.
    #[default]
    Live,
    /// Read while every thread was stopped; `pause_us` is how long they were.
    Frozen { pause_us: u64 },
    /// Decoded from a saved raw table.
    Saved,
}

/// When and how a snapshot was taken.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Taken {
    pub capture: Capture,
    /// Wall-clock time of the decode, ns since the Unix epoch.
    pub wall_unix_ns: u64,
    /// CLOCK_MONOTONIC "now" that wait durations are measured against.
    pub mono_ns: u64,
    /// Time spent decoding records, and the wait-for analysis, in microseconds.
    pub decode_us: u64,
    pub waitfor_us: u64,
    /// Decode time by phase ("g", "m+p", "chan", "sudog", "lock+sched", "heap"), in microseconds.
    /// When a helper thread decoded "chan", "sudog" and "heap" (a large
    /// table), those overlap "g" and "m+p": the sum exceeds `decode_us`.
    pub phases_us: Vec<(String, u64)>,
}

/// Options for [`Snapshot::decode`].
#[derive(Clone, Debug, Default)]
pub struct DecodeOptions {
    /// Keep Gidle and Gdead goroutines too.
    pub include_dead: bool,
    pub capture: Capture,
    /// CLOCK_MONOTONIC ns to measure wait durations against (default: now;
    /// for a saved table, the capture time stored with it).
    pub now_mono_ns: Option<u64>,
}

// --- views -----------------------------------------------------------------

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct SectionView {
    pub kind: Text,
    pub stride: u64,
    pub offset: u64,
    pub capacity: u64,
    /// Records (bytes for byte sections) copied into the image.
    pub len: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct HeaderView {
    pub pid: u32,
    pub abi_version: u32,
    pub layout_hash: u64,
    /// Where the runtime mapped the table; record pointers are base + offset.
    pub base: u64,
    pub size: u64,
    pub start_unix_ns: u64,
    pub start_mono_ns: u64,
    pub bugs_mask: u64,
    /// Bug switches in force, by name (the table's "bugs" list).
    pub bugs: Vec<Text>,
    pub flags: u64,
    pub debug_build: bool,
    pub guard_madvise: bool,
    pub stack_size: u64,
    pub ready: bool,
    pub exiting: bool,
    pub exit_code: u32,
    pub heartbeat: u64,
    pub sections: Vec<SectionView>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct SchedView {
    pub goidgen: Option<u64>,
    pub gomaxprocs: Option<i64>,
    pub ncpu: Option<i64>,
    pub npidle: Option<i64>,
    pub nmspinning: Option<i64>,
    pub needspinning: Option<u64>,
    pub nmidle: Option<i64>,
    pub nmidlelocked: Option<i64>,
    pub mnext: Option<i64>,
    pub maxmcount: Option<i64>,
    pub nmsys: Option<i64>,
    pub nthreads: Option<i64>,
    pub runqsize: Option<i64>,
    pub ngfree: Option<i64>,
    pub gcwaiting: Option<bool>,
    pub stopwait: Option<i64>,
    pub stw_reason: Option<u64>,
    pub stw_reason_name: Option<Text>,
    pub sysmonwait: Option<bool>,
    pub safe_point_fn: Option<u64>,
    pub safe_point_wait: Option<i64>,
    pub gcphase: Option<u64>,
    pub gcphase_name: Option<Text>,
    pub numgc: Option<u64>,
    pub ngoroutines: Option<i64>,
    pub lastpoll: Option<i64>,
    pub poll_until: Option<i64>,
    pub ntimers: Option<u64>,
    pub timer0when: Option<i64>,
    pub nchans: Option<i64>,
    pub netpoll_epfd: Option<i64>,
    pub netpoll_waiters: Option<i64>,
    pub worldsema: Option<u64>,
    /// The goroutine holding worldsema (stopping the world).
    pub worldsema_owner: Link,
    pub throwing: Option<bool>,
    /// The idle P list (sched.pidle through P.link), head first.
    pub pidle: Vec<Link>,
    /// The idle M list (sched.midle through M.schedlink).
    pub midle: Vec<Link>,
    /// The global run queue (sched.runqhead through G.schedlink).
    pub runq: Vec<Link>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct PView {
    pub index: u64,
    pub id: Option<i64>,
    pub status: Option<u32>,
    pub status_name: Text,
    pub m: Link,
    /// Local run queue, head to tail.
    pub runq: Vec<Link>,
    pub runnext: Link,
    pub schedtick: Option<u64>,
    pub syscalltick: Option<u64>,
    pub run_safe_point_fn: Option<bool>,
    pub safe_point_runs: Option<u64>,
    pub gfree: Option<i64>,
    pub sudog_cache: Option<u64>,
    pub stack_cache: Option<u64>,
}

/// Where a runtime lock lives.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum LockPlace {
    /// A lock field of a record in the table ("sched" "gfree_lock").
    Field { record: Text, index: u64, field: Text },
    /// The lock of a channel.
    Chan { index: u64, id: u64 },
    /// Outside the table (a semaphore's or a poll descriptor's lock): its
    /// state cannot be read, only who holds it (M.held) and who waits.
    Outside,
    /// Inside the table but not at a lock field (a damaged pointer).
    Misplaced,
}

/// The state of a lock word (key 0, 1, 2).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LockState {
    Free,
    Held,
    /// Held, with sleepers.
    Contended,
    /// Not readable (outside the table) or an impossible key.
    #[default]
    Unknown,
}

/// A lock as something points at it (M.waitlock, M.held).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct LockRef {
    pub addr: u64,
    /// "sched.lock", "hchan 17 lock", "mheap.lock", "lock at 0x7f...".
    pub name: Text,
    /// Index in `Snapshot::locks`.
    pub lock: Option<usize>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LockView {
    pub addr: u64,
    pub name: Text,
    pub place: LockPlace,
    pub rank: Option<u32>,
    pub rank_name: Option<Text>,
    pub key: Option<u32>,
    pub state: LockState,
    /// The holding M (Lock.owner; for a lock outside the table, the M whose
    /// `held` list names it, see `owner_from_held`).
    pub owner: Link,
    pub owner_from_held: bool,
    /// Ms whose waitlock points at this lock.
    pub waiters: Vec<Link>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct MView {
    pub index: u64,
    pub id: Option<i64>,
    /// The OS thread id.
    pub tid: Option<u64>,
    pub role: Option<u32>,
    pub role_name: Text,
    pub state: Option<u32>,
    pub state_name: Text,
    pub curg: Link,
    pub p: Link,
    pub nextp: Link,
    pub oldp: Link,
    pub spinning: Option<bool>,
    pub blocked: Option<bool>,
    pub locks: Option<i64>,
    /// Locks held, innermost last (debug builds of the runtime record them).
    pub held: Vec<LockRef>,
    pub waitlock: Option<LockRef>,
    /// The goroutine this M spins on in casgstatus, the status it waits for.
    pub waitcasg: Link,
    pub waitcasg_status: Option<u32>,
    pub waitcasg_status_name: Option<Text>,
    pub waitsince_ns: Option<i64>,
    /// How long the lock or casgstatus wait has lasted (now - waitsince).
    pub wait_ns: Option<u64>,
    pub g0: Option<Context>,
    pub g0_stack_lo: Option<u64>,
    pub g0_stack_hi: Option<u64>,
    pub lockedg: Link,
    pub lastg: Link,
    pub preemptoff: Option<u64>,
    pub throwing: Option<bool>,
    pub dying: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GView {
    pub index: u64,
    pub goid: Option<u64>,
    /// Times the record was reused (dead to alive).
    pub generation: Option<u32>,
    /// atomicstatus as read, Gscan bit included ([`GView::base_status`]
    /// and [`GView::scan`] split it; [`Snapshot::status_name`] names it).
    pub status: Option<u32>,
    /// Named by [`Snapshot::waitreason_name`] while the G waits.
    pub waitreason: Option<u32>,
    /// The go statement's site: [`Snapshot::created_at`] gives its "file:line".
    pub site: Option<u32>,
    /// Fields below that are plain numbers use the runtime's own 0 for
    /// "none" (no stack yet, not waiting, no parent, unknown pc); whether
    /// the table has them at all is in [`Snapshot::missing_fields`].
    ///
    /// nanotime when it started waiting ([`Snapshot::wait_ns`]: for how long).
    pub waitsince_ns: i64,
    pub m: Link,
    /// Stack bounds [lo, hi).
    pub stack_lo: u64,
    pub stack_hi: u64,
    pub stack_lowest_sp: u64,
    /// Saved context while not running.
    pub sched: Option<Context>,
    /// The go statement's pc, the entry closure's body.
    pub gopc: u64,
    pub startpc: u64,
    /// The goroutine that created it.
    pub parent_goid: u64,
    /// The sudogs of G.waiting (record indices), in waitlink order:
    /// [`Snapshot::waiting`].
    pub waiting: ListRef,
    /// Where its rarely set fields are ([`Snapshot::g_extra`]): 0 when
    /// they are all unset, else 1 + an index into `Snapshot::g_extras`.
    pub extra: u32,
    pub select_done: Option<bool>,
    pub parking_on_chan: Option<bool>,
    pub preempt: Option<bool>,
}

/// A goroutine's fields that are unset nearly always, kept apart so that
/// the view every goroutine has stays small (the decode of 100k
/// goroutines is bound by the bytes it writes).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GExtra {
    /// The M it is locked to (LockOSThread).
    pub lockedm: Link,
    /// The M holding its scan bit, when the runtime records it (the
    /// table's `g.scanm`; Nil when the bit is clear or unrecorded).
    pub scan_holder: Link,
    /// Context at system call entry (sp 0: not in a system call).
    pub syscall: Context,
    /// The wake-up parameter (the sudog that completed), between wake-up
    /// and run.
    pub param: u64,
}

impl GView {
    /// The status without the Gscan bit.
    pub fn base_status(&self) -> Option<u32> {
        self.status.map(|s| s & !grt_table::G_SCAN)
    }

    /// Whether the Gscan bit is set.
    pub fn scan(&self) -> bool {
        self.status.is_some_and(|s| s & grt_table::G_SCAN != 0)
    }

    /// hi - sched.sp for a parked goroutine whose sp lies in its stack.
    pub fn stack_used(&self) -> Option<u64> {
        let parked = matches!(
            self.base_status(),
            Some(grt_table::G_WAITING) | Some(grt_table::G_RUNNABLE) | Some(grt_table::G_PREEMPTED)
        );
        let (lo, hi) = (self.stack_lo, self.stack_hi);
        match (parked, self.sched) {
            (true, Some(c)) if c.sp >= lo && c.sp <= hi && hi > lo => Some(hi - c.sp),
            _ => None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SudogView {
    pub index: u64,
    pub g: Link,
    pub chan: Link,
    /// The value slot (0: none; plain numbers here use the runtime's 0 for
    /// "none", see `GView`).
    pub elem: u64,
    /// Whether elem lies in [stack_lo, stack_hi) of the owning G.
    pub elem_in_stack: Option<bool>,
    pub is_select: Option<bool>,
    pub success: Option<bool>,
    /// nanotime at enqueue.
    pub enqueued_ns: i64,
    /// For a semaphore waiter: the semaphore's address (0: not one).
    pub sema: u64,
    pub waitlink: Link,
}

/// One waiter in a channel's recvq or sendq.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    pub sudog: u64,
    pub g: Link,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ChanView {
    pub index: u64,
    pub id: Option<u64>,
    /// Sites of the element type's name and of the channel's creation
    /// ("file:line"), named by [`Snapshot::site`].
    pub elemtype: Option<u32>,
    pub site: Option<u32>,
    pub cap: Option<u64>,
    pub qcount: Option<u64>,
    pub elemsize: Option<u64>,
    pub closed: Option<bool>,
    pub refs: Option<u64>,
    pub lock_key: Option<u32>,
    pub lock_state: LockState,
    pub lock_owner: Link,
    /// The wait queues, head first: [`Snapshot::recvq`], [`Snapshot::sendq`].
    pub recvq: ListRef,
    pub sendq: ListRef,
    /// False when a queue walk found a broken link, a loop or a sudog
    /// that does not point back (see the damage list).
    pub queues_ok: bool,
}

/// Where a span's sweepgen stands relative to the heap's.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepState {
    /// sweepgen == h.sweepgen - 2
    NeedsSweeping,
    /// sweepgen == h.sweepgen - 1
    BeingSwept,
    /// sweepgen == h.sweepgen
    Swept,
    /// Anything else: the raw values.
    Stale { span: u32, heap: u32 },
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanView {
    /// Position in allspans.
    pub pos: u64,
    pub record: Link,
    /// First byte and size in pages (0: unreadable; see `GView` on plain
    /// numbers).
    pub base: u64,
    pub npages: u64,
    /// Named by [`Snapshot::span_state_name`].
    pub state: Option<u32>,
    /// Where it stands relative to the heap's: [`Snapshot::span_sweep`].
    pub sweepgen: Option<u32>,
    /// For stack spans: the goroutine whose stack it is.
    pub owner: Link,
    /// The guard page's address (0: none).
    pub guard: u64,
}

/// A superseded allspans array the heap remembers.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct OldSpans {
    pub addr: u64,
    pub cap: u64,
    pub gen: u64,
    pub freed: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct HeapView {
    pub arena_start: Option<u64>,
    pub arena_end: Option<u64>,
    pub arena_used: Option<u64>,
    pub pagesize: Option<u64>,
    pub allspans: Option<u64>,
    pub nspan: Option<u64>,
    pub nspancap: Option<u64>,
    pub allspans_gen: Option<u64>,
    pub gcspans: Option<u64>,
    pub sweepgen: Option<u32>,
    pub sweepdone: Option<bool>,
    pub nfree: Option<u64>,
    pub nstackpool: Option<u64>,
    pub stacks_inuse: Option<u64>,
    pub mappings: Option<u64>,
    pub max_map_count: Option<u64>,
    pub old_allspans: Vec<OldSpans>,
    /// The current allspans array, decoded.
    pub spans: Vec<SpanView>,
}

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
}

// The big views are plain data: nothing to drop per record.
const _: () = assert!(!std::mem::needs_drop::<GView>() && !std::mem::needs_drop::<ChanView>());
const _: () = assert!(!std::mem::needs_drop::<SudogView>() && !std::mem::needs_drop::<SpanView>());
const _: () = assert!(size_of::<Link>() == 16);
const _: () = assert!(size_of::<GView>() <= 176 && size_of::<SudogView>() <= 88 && size_of::<SpanView>() <= 80);

/// A value's name in one of the table's lists ("?" when unreadable,
/// "unknown (N)" when out of the list).
fn name_in(list: &[Text], v: Option<u64>) -> Cow<'_, str> {
    lookup(list, v).map_or_else(Cow::Owned, |t| Cow::Borrowed(t.as_str()))
}

/// A value's name in one of the table's lists, or the text shown for a
/// value that has none ("?" when unreadable, "unknown (N)" out of the list).
fn lookup(list: &[Text], v: Option<u64>) -> Result<&Text, String> {
    let v = v.ok_or_else(|| "?".to_string())?;
    usize::try_from(v).ok().and_then(|i| list.get(i)).ok_or_else(|| format!("unknown ({v})"))
}

fn by_index<T>(v: &[T], index: u64, key: impl Fn(&T) -> u64) -> Option<&T> {
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

    /// Decodes an image. Never fails: what cannot be trusted is in `damage`.
    ///
    /// A large table (tens of thousands of records) is decoded on two
    /// threads when the machine has more than one CPU: Gs, Ms and Ps on the
    /// calling thread, channels, sudogs and the heap on a scoped helper. The
    /// result is the same as a decode on one thread, damage order included.
    pub fn decode(img: &Image, opts: &DecodeOptions) -> Snapshot {
        Self::decode_with(img, opts, parallel_worth_it(img))
    }

    /// [`Snapshot::decode`] on the calling thread alone, whatever the
    /// table's size (for a caller that decodes several images at once, or
    /// must not start threads). Same result.
    pub fn decode_on_this_thread(img: &Image, opts: &DecodeOptions) -> Snapshot {
        Self::decode_with(img, opts, false)
    }

    /// [`Snapshot::decode`] into the memory of a snapshot that is no longer
    /// needed: what a watcher decoding at 30 Hz does, so that its views are
    /// written over memory already mapped instead of fresh pages (for 100k
    /// goroutines, tens of MB and thousands of page faults per decode).
    /// Same result as `decode`.
    pub fn decode_reusing(img: &Image, opts: &DecodeOptions, old: Snapshot) -> Snapshot {
        Self::decode_in(img, opts, parallel_worth_it(img), Bufs::from_old(old))
    }

    fn decode_with(img: &Image, opts: &DecodeOptions, parallel: bool) -> Snapshot {
        Self::decode_in(img, opts, parallel, Bufs::default())
    }

    fn decode_in(img: &Image, opts: &DecodeOptions, parallel: bool, bufs: Bufs) -> Snapshot {
        let t0 = Instant::now();
        let now = opts.now_mono_ns.unwrap_or_else(mono_now);
        let mut cx = Cx::new(img, opts, now, bufs);
        let mut s = Snapshot { format: SNAPSHOT_FORMAT, ..Default::default() };
        let mut phases: Vec<(String, u64)> = Vec::with_capacity(6);
        let mut lap = Instant::now();
        let mut phase = |name: &str, lap_us: Option<u64>| {
            let us = lap_us.unwrap_or_else(|| lap.elapsed().as_micros() as u64);
            phases.push((name.to_string(), us));
            lap = Instant::now();
        };
        s.header = cx.header();
        // Phase 1, the G pass: it fills the G cache that links to Gs read
        // (goid, stack bounds, status). On two threads, each decodes half
        // of the records straight into its half of the one view vector.
        let ng = cx.seclen(SectionKind::G);
        let mut gs = std::mem::take(&mut cx.bufs.gs);
        gs.reserve(ng as usize);
        // The helper's decoder and sink live on its own thread (moved in,
        // handed back): state two threads write must not share cache lines.
        let mut helper = parallel.then(|| cx.fork());
        let written = {
            let spare = &mut gs.spare_capacity_mut()[..ng as usize];
            match helper.take() {
                None => {
                    let mut sink = Sink::new(spare);
                    cx.gcache = Arc::new(cx.gs(0..ng, &mut sink));
                    (sink.len, 0)
                }
                Some(h) => {
                    let half = ng / 2;
                    let (lo, hi) = spare.split_at_mut(half as usize);
                    let (ca, la, other) = std::thread::scope(|sc| {
                        let t = std::thread::Builder::new().name("grt-decode".into()).spawn_scoped(sc, move || {
                            let mut h = h;
                            let mut sink = Sink::new(hi);
                            let cache = h.gs(half..ng, &mut sink);
                            (h, cache, sink.len)
                        });
                        let mut sink = Sink::new(lo);
                        let ca = cx.gs(0..half, &mut sink);
                        (ca, sink.len, t.ok().map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))))
                    });
                    let hi = &mut gs.spare_capacity_mut()[half as usize..ng as usize];
                    let (mut h, cb, lb) = match other {
                        Some(r) => r,
                        None => {
                            // No thread could be started: the second half here.
                            let mut h = cx.fork();
                            let mut sink = Sink::new(&mut *hi);
                            let cache = h.gs(half..ng, &mut sink);
                            (h, cache, sink.len)
                        }
                    };
                    let mut cache = ca;
                    cache.extend_from_slice(&cb);
                    cx.gcache = Arc::new(cache);
                    // The second half's lists follow the first's.
                    let shift = u32::try_from(cx.waiting.len()).unwrap_or(u32::MAX);
                    let xshift = u32::try_from(cx.g_extras.len()).unwrap_or(u32::MAX);
                    for v in (Sink { slots: hi, len: lb }).written() {
                        if !v.waiting.is_empty() {
                            v.waiting.start = v.waiting.start.saturating_add(shift);
                        }
                        if v.extra != 0 {
                            v.extra = v.extra.saturating_add(xshift);
                        }
                    }
                    cx.waiting.extend_from_slice(&h.waiting);
                    h.waiting.clear();
                    cx.g_extras.extend_from_slice(&h.g_extras);
                    h.g_extras.clear();
                    let dropped = std::mem::take(&mut h.dropped);
                    cx.absorb(std::mem::take(&mut h.damage), dropped);
                    cx.take_sites(&mut h);
                    helper = Some(h);
                    (la, lb)
                }
            }
        };
        let split = if parallel { (ng / 2) as usize } else { written.0 };
        close_runs(&mut gs, &[(0, written.0), (split, written.1)]);
        s.gs = trim(gs, cx.bufs.reused);
        phase("g", None);

        // Phase 2: Ms, Ps and channels here; sudogs and the heap on the
        // helper. Both read the G cache; the channel pass leaves channel
        // ids and held channel locks for the lock pass.
        let nsg = cx.seclen(SectionKind::Sudog);
        let mut sgs = std::mem::take(&mut cx.bufs.sudogs);
        sgs.clear();
        sgs.reserve(nsg as usize);
        match helper.take() {
            Some(mut h) => {
                h.gcache = cx.gcache.clone();
                let spare = &mut sgs.spare_capacity_mut()[..nsg as usize];
                let queue: ChunkQueue<'_, SudogView> = Mutex::new(spare.chunks_mut(SUDOG_CHUNK).enumerate().collect());
                let (mine, other) = std::thread::scope(|sc| {
                    let q = &queue;
                    let t = std::thread::Builder::new().name("grt-decode".into()).spawn_scoped(sc, move || {
                        let mut h = h;
                        let side = h.side(q);
                        (h, side)
                    });
                    s.ms = cx.ms();
                    s.ps = cx.ps();
                    phase("m+p", None);
                    s.chans = cx.chans();
                    phase("chan", None);
                    let mut mine = Vec::new();
                    while let Some((ci, slots)) = take_chunk(q, true) {
                        let start = ci * SUDOG_CHUNK;
                        let end = start + slots.len();
                        let mut sink = Sink::new(slots);
                        cx.sudogs(start as u64..end as u64, &mut sink);
                        mine.push((start, sink.len));
                    }
                    (mine, t.ok().map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))))
                });
                let (mut h, side) = other.unwrap_or_else(|| {
                    // No thread: the caller took every chunk; the heap here.
                    let mut h = cx.fork();
                    h.gcache = cx.gcache.clone();
                    let side = h.side(&Mutex::new(VecDeque::new()));
                    (h, side)
                });
                // The caller's chunks came first; the helper's, taken from
                // the back, follow in ascending order. Their damage goes
                // where a sequential decode finds it: after the caller's
                // sudogs, before locks, sched and the heap.
                let mut runs = mine;
                for (start, len, damage, dropped) in side.runs.into_iter().rev() {
                    runs.push((start, len));
                    cx.absorb(damage, dropped);
                }
                close_runs(&mut sgs, &runs);
                s.sudogs = trim(sgs, cx.bufs.reused);
                phase("sudog", Some(side.us[1]));
                s.locks = cx.locks(&mut s.ms);
                s.sched = cx.sched();
                phase("lock+sched", None);
                let (heap_damage, heap_dropped) = side.heap_damage;
                cx.absorb(heap_damage, heap_dropped);
                s.heap = side.heap;
                phase("heap", Some(side.us[0]));
                cx.take_sites(&mut h);
                s.sites = cx.site_table();
            }
            None => {
                s.ms = cx.ms();
                s.ps = cx.ps();
                phase("m+p", None);
                s.chans = cx.chans();
                phase("chan", None);
                let mut sink = Sink::new(&mut sgs.spare_capacity_mut()[..nsg as usize]);
                cx.sudogs(0..nsg, &mut sink);
                let n = sink.len;
                close_runs(&mut sgs, &[(0, n)]);
                s.sudogs = trim(sgs, cx.bufs.reused);
                phase("sudog", None);
                s.locks = cx.locks(&mut s.ms);
                s.sched = cx.sched();
                phase("lock+sched", None);
                s.heap = cx.heap();
                phase("heap", None);
                s.sites = cx.site_table();
            }
        }
        s.queues = std::mem::take(&mut cx.queues);
        s.waiting = std::mem::take(&mut cx.waiting);
        s.g_extras = std::mem::take(&mut cx.g_extras);
        s.missing_fields = cx.f.missing();
        s.names = NameLists {
            gstatus: std::mem::take(&mut cx.n.gstatus),
            waitreason: std::mem::take(&mut cx.n.waitreason),
            spanstate: std::mem::take(&mut cx.n.spanstate),
        };
        s.damage = cx.damage;
        s.damage_dropped = cx.dropped;
        let decode_us = t0.elapsed().as_micros() as u64;
        let t1 = Instant::now();
        s.taken.mono_ns = now; // wait times are measured against it
        s.waitfor = waitfor::analyze(&s);
        s.taken = Taken {
            capture: opts.capture,
            wall_unix_ns: wall_now(),
            mono_ns: now,
            decode_us,
            waitfor_us: t1.elapsed().as_micros() as u64,
            phases_us: phases,
        };
        s
    }

    /// Writes the snapshot as JSON.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), FileError> {
        let path = path.as_ref();
        let f = std::fs::File::create(path).map_err(|e| FileError::io(path, "create", e))?;
        let mut w = std::io::BufWriter::new(f);
        serde_json::to_writer(&mut w, self).map_err(|e| FileError::Io {
            path: path.display().to_string(),
            what: "write",
            error: e.to_string(),
        })?;
        std::io::Write::flush(&mut w).map_err(|e| FileError::io(path, "write", e))
    }

    /// Reads a snapshot written by [`Snapshot::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Snapshot, FileError> {
        let path = path.as_ref();
        let f = std::fs::File::open(path).map_err(|e| FileError::io(path, "open", e))?;
        let v: serde_json::Value = serde_json::from_reader(std::io::BufReader::new(f))
            .map_err(|e| FileError::NotASnapshot { path: path.display().to_string(), error: e.to_string() })?;
        let fmt = v.get("format").and_then(|f| f.as_u64());
        match fmt {
            Some(f) if f == SNAPSHOT_FORMAT as u64 => {}
            Some(f) => {
                return Err(FileError::Format {
                    path: path.display().to_string(),
                    found: f,
                    supported: SNAPSHOT_FORMAT,
                })
            }
            None => {
                return Err(FileError::NotASnapshot {
                    path: path.display().to_string(),
                    error: "no \"format\" field".into(),
                })
            }
        }
        serde_json::from_value(v)
            .map_err(|e| FileError::NotASnapshot { path: path.display().to_string(), error: e.to_string() })
    }
}

/// Why a snapshot or raw table file could not be written or read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileError {
    Io { path: String, what: &'static str, error: String },
    NotASnapshot { path: String, error: String },
    Format { path: String, found: u64, supported: u32 },
    NotARawTable { path: String, why: String },
}

impl FileError {
    fn io(path: &Path, what: &'static str, e: std::io::Error) -> FileError {
        FileError::Io { path: path.display().to_string(), what, error: e.to_string() }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Io { path, what, error } => write!(f, "cannot {what} {path}: {error}; check the path and its permissions"),
            FileError::NotASnapshot { path, error } => {
                write!(f, "{path} is not a grt snapshot ({error}); pass a file written by Snapshot::save")
            }
            FileError::Format { path, found, supported } => write!(
                f,
                "{path} is a grt snapshot of format {found}; this reader knows format {supported}; use the grt-tui that wrote it"
            ),
            FileError::NotARawTable { path, why } => {
                write!(f, "{path} is not a grt raw table ({why}); pass a file written by RawTable::save")
            }
        }
    }
}

impl std::error::Error for FileError {}

/// CLOCK_MONOTONIC now, in ns (the clock the runtime's `*_ns` stamps use).
pub fn mono_now() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

fn wall_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

// --- field sets ------------------------------------------------------------

/// A field resolved for reading: where one element is and how wide it is.
/// (The decoder reads fields through this rather than `view::Rec`, so that
/// every read inlines: decoding 100k goroutines is a few million reads.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fx {
    off: usize,
    /// Bytes of one element: 1, 2, 4 or 8.
    size: usize,
    count: usize,
    signed: bool,
}

/// A field of `kind` as the decoder reads it: element offset `off`,
/// `count` elements of `elem_size` bytes. Nested records (Struct) and a
/// size that does not match the kind are not read directly.
const fn fx_of(kind: Kind, off: usize, elem_size: usize, count: usize) -> Option<Fx> {
    let (size, signed) = match kind {
        Kind::U8 => (1, false),
        Kind::U16 => (2, false),
        Kind::U32 => (4, false),
        Kind::I32 => (4, true),
        Kind::U64 | Kind::Ptr | Kind::Addr => (8, false),
        Kind::I64 => (8, true),
        Kind::Struct => return None,
    };
    if elem_size != size {
        return None;
    }
    Some(Fx { off, size, count, signed })
}

/// A descriptor's field as an `Fx`.
fn fx(f: FieldRef) -> Option<Fx> {
    fx_of(f.kind, f.offset, f.elem_size, f.count)
}

/// The bytes of one record.
#[derive(Clone, Copy, Debug)]
struct R<'a>(&'a [u8]);

impl R<'_> {
    /// Element `i` of a field as u64 (signed kinds sign-extended); `None`
    /// when the field is absent or does not fit the record.
    #[inline]
    fn get_at(&self, f: Fx, i: usize) -> Option<u64> {
        if i >= f.count {
            return None;
        }
        let off = f.off.checked_add(i.checked_mul(f.size)?)?;
        let b = self.0.get(off..off.checked_add(f.size)?)?;
        Some(match (f.size, f.signed) {
            (8, _) => u64::from_ne_bytes(b.try_into().ok()?),
            (4, false) => u32::from_ne_bytes(b.try_into().ok()?) as u64,
            (4, true) => i32::from_ne_bytes(b.try_into().ok()?) as i64 as u64,
            (2, _) => u16::from_ne_bytes(b.try_into().ok()?) as u64,
            _ => *b.first()? as u64,
        })
    }

    #[inline]
    fn opt(&self, f: Option<Fx>) -> Option<u64> {
        self.get_at(f?, 0)
    }
}

/// A section of the image, for O(1) record access and pointer translation.
#[derive(Clone, Copy, Debug, Default)]
struct Sec<'a> {
    bytes: &'a [u8],
    stride: u64,
    /// Records (bytes) copied.
    len: u64,
    /// Address of record 0 in the target; `None` if base + offset overflows
    /// (then no address translates into the section).
    start: Option<u64>,
    /// ceil(2^64 / stride), for dividing 32-bit offsets without a `div`
    /// (Lemire, Kaser and Kurz, "Faster remainder by direct computation").
    magic: u64,
}

impl Sec<'_> {
    /// (n / stride, n % stride).
    #[inline]
    fn divmod(&self, n: u64) -> (u64, u64) {
        if n <= u32::MAX as u64 && self.stride <= u32::MAX as u64 && self.magic != 0 {
            let q = ((self.magic as u128 * n as u128) >> 64) as u64;
            (q, n - q * self.stride)
        } else {
            (n / self.stride, n % self.stride)
        }
    }
}

/// ceil(2^64 / d) for 1 < d < 2^32 (0 otherwise: use plain division).
fn div_magic(d: u64) -> u64 {
    if d <= 1 || d > u32::MAX as u64 {
        0
    } else {
        (u64::MAX / d).wrapping_add(1)
    }
}

/// Byte strings equal (a `const fn`).
const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The fields of a record of the runtime this inspector was built with,
/// by its table name.
const fn compiled_fields(rec: &[u8]) -> Option<&'static [grt_table::desc::Field]> {
    use grt_table::desc::Record;
    use grt_table::records::*;
    let all: [(&str, &'static [grt_table::desc::Field]); 11] = [
        (Lock::NAME, Lock::FIELDS),
        (Gobuf::NAME, Gobuf::FIELDS),
        (Sched::NAME, Sched::FIELDS),
        (P::NAME, P::FIELDS),
        (M::NAME, M::FIELDS),
        (G::NAME, G::FIELDS),
        (Sudog::NAME, Sudog::FIELDS),
        (Hchan::NAME, Hchan::FIELDS),
        (MSpan::NAME, MSpan::FIELDS),
        (MHeap::NAME, MHeap::FIELDS),
        (Site::NAME, Site::FIELDS),
    ];
    let mut i = 0;
    while i < all.len() {
        if same(all[i].0.as_bytes(), rec) {
            return Some(all[i].1);
        }
        i += 1;
    }
    None
}

/// A field path ("sched.sp") of a compiled-in record as `fx` resolves it
/// from a table's descriptors (`Layout::field_path`), at compile time.
const fn fixed_path(rec: &str, path: &str) -> Option<Fx> {
    let mut fields = match compiled_fields(rec.as_bytes()) {
        Some(f) => f,
        None => return None,
    };
    let p = path.as_bytes();
    let (mut start, mut base) = (0, 0);
    loop {
        let mut end = start;
        while end < p.len() && p[end] != b'.' {
            end += 1;
        }
        let seg = p.split_at(end).0.split_at(start).1;
        let mut i = 0;
        let f = loop {
            if i == fields.len() {
                return None;
            }
            if same(fields[i].name.as_bytes(), seg) {
                break &fields[i];
            }
            i += 1;
        };
        if end == p.len() {
            if f.count == 0 {
                return None;
            }
            return fx_of(f.kind, base + f.offset, f.size / f.count, f.count);
        }
        fields = match (f.kind, f.target) {
            (Kind::Struct, Some(t)) => match compiled_fields(t.as_bytes()) {
                Some(x) => x,
                None => return None,
            },
            _ => return None,
        };
        base += f.offset;
        start = end + 1;
    }
}

macro_rules! fieldset {
    ($(#[$m:meta])* $name:ident for $rec:literal { $($f:ident: $path:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        struct $name { $($f: Option<Fx>),* }
        impl $name {
            fn resolve(l: &Layout) -> $name {
                $name { $($f: l.field_path($rec, $path).and_then(fx)),* }
            }

            /// The set of the runtime this inspector was built with: what
            /// `resolve` gives for a table it writes.
            #[allow(dead_code)]
            const COMPILED: $name = $name { $($f: fixed_path($rec, $path)),* };

            /// "record.field" for each field the table's layout lacks.
            fn missing(&self, out: &mut Vec<Text>) {
                $(if self.$f.is_none() { out.push(Text::from(format!("{}.{}", $rec, $path))); })*
            }
        }
    };
}

fieldset!(SchedF for "sched" {
    goidgen: "goidgen", lastpoll: "lastpoll", poll_until: "poll_until", midle: "midle", nmidle: "nmidle",
    nmidlelocked: "nmidlelocked", mnext: "mnext", maxmcount: "maxmcount", nmsys: "nmsys", pidle: "pidle",
    npidle: "npidle", nmspinning: "nmspinning", needspinning: "needspinning", runqhead: "runqhead",
    runqtail: "runqtail", runqsize: "runqsize", ngfree: "ngfree", gcwaiting: "gcwaiting", stopwait: "stopwait",
    stw_reason: "stw_reason", sysmonwait: "sysmonwait", safe_point_fn: "safe_point_fn",
    safe_point_wait: "safe_point_wait", gomaxprocs: "gomaxprocs", ncpu: "ncpu", worldsema: "worldsema",
    worldsema_owner: "worldsema_owner", gcphase: "gcphase", numgc: "numgc", ngoroutines: "ngoroutines",
    ntimers: "ntimers", timer0when: "timer0when", nchans: "nchans", netpoll_epfd: "netpoll_epfd",
    netpoll_waiters: "netpoll_waiters", throwing: "throwing", nthreads: "nthreads",
});

fieldset!(PF for "p" {
    id: "id", status: "status", link: "link", schedtick: "schedtick", syscalltick: "syscalltick", m: "m",
    runqhead: "runqhead", runqtail: "runqtail", runq: "runq", runnext: "runnext", ngfree: "ngfree",
    nsudog: "nsudog", nstack: "nstack", run_safe_point_fn: "run_safe_point_fn", safe_point_runs: "safe_point_runs",
});

fieldset!(MF for "m" {
    id: "id", procid: "procid", role: "role", state: "state", g0_sp: "g0.sp", g0_pc: "g0.pc", g0_bp: "g0.bp",
    g0_stack_lo: "g0_stack_lo", g0_stack_hi: "g0_stack_hi", curg: "curg", p: "p", nextp: "nextp", oldp: "oldp",
    spinning: "spinning", blocked: "blocked", schedlink: "schedlink", locks: "locks", held: "held", nheld: "nheld",
    waitlock: "waitlock", waitcasg: "waitcasg", waitcasg_status: "waitcasg_status", waitsince: "waitsince",
    preemptoff: "preemptoff", throwing: "throwing", dying: "dying", lockedg: "lockedg", lastg: "lastg",
});

fieldset!(GF for "g" {
    goid: "goid", atomicstatus: "atomicstatus", waitreason: "waitreason", stack_lo: "stack_lo",
    stack_hi: "stack_hi", stack_lowest_sp: "stack_lowest_sp", sp: "sched.sp", pc: "sched.pc", bp: "sched.bp",
    syscallsp: "syscallsp", syscallpc: "syscallpc", syscallbp: "syscallbp", m: "m", schedlink: "schedlink",
    waiting: "waiting", param: "param", select_done: "select_done", parking_on_chan: "parking_on_chan",
    preempt: "preempt", waitsince: "waitsince", gopc: "gopc", site: "site", parentgoid: "parentgoid",
    startpc: "startpc", lockedm: "lockedm", generation: "generation", scanm: "scanm",
});

fieldset!(SudogF for "sudog" {
    g: "g", next: "next", prev: "prev", elem: "elem", c: "c", waitlink: "waitlink", is_select: "is_select",
    success: "success", enqueued: "enqueued", sema: "sema", inuse: "inuse",
});

fieldset!(HchanF for "hchan" {
    lock_key: "lock.key", lock_owner: "lock.owner", id: "id", qcount: "qcount", dataqsiz: "dataqsiz",
    elemsize: "elemsize", closed: "closed", inuse: "inuse", recvq_first: "recvq_first", recvq_last: "recvq_last",
    sendq_first: "sendq_first", sendq_last: "sendq_last", site: "site", elemtype: "elemtype", refs: "refs",
});

fieldset!(SpanF for "mspan" {
    base: "base", npages: "npages", state: "state", sweepgen: "sweepgen", owner: "owner", guard: "guard",
});

fieldset!(HeapF for "mheap" {
    arena_start: "arena_start", arena_end: "arena_end", arena_used: "arena_used", pagesize: "pagesize",
    allspans: "allspans", nspan: "nspan", nspancap: "nspancap", allspans_gen: "allspans_gen", gcspans: "gcspans",
    sweepgen: "sweepgen", sweepdone: "sweepdone", nfree: "nfree", nstackpool: "nstackpool",
    stacks_inuse: "stacks_inuse", mappings: "mappings", max_map_count: "max_map_count",
    old_allspans: "old_allspans", old_cap: "old_cap", old_gen: "old_gen", old_freed: "old_freed", nold: "nold",
});

fieldset!(SiteF for "site" {
    kind: "kind", line: "line", name_off: "name_off", name_len: "name_len",
});

fieldset!(LockF for "lock" { key: "key", rank: "rank", owner: "owner" });

/// Every field the decoder reads, resolved once per image.
#[derive(Clone, Copy, Debug, Default)]
struct Fields {
    sched: SchedF,
    p: PF,
    m: MF,
    g: GF,
    sudog: SudogF,
    hchan: HchanF,
    span: SpanF,
    heap: HeapF,
    site: SiteF,
    lock: LockF,
}

/// The field sets the passes over the big sections read, from the table
/// (`TableSets`) or compiled in (`CompiledSets`): when a table's
/// descriptors resolve to the compiled sets (a table of this runtime), the
/// passes run with them as constants, and every field read compiles to a
/// load at a fixed offset. Other tables take the same code, reading the
/// resolved offsets and widths.
trait Sets: Copy {
    fn g(self) -> GF;
    fn sudog(self) -> SudogF;
    fn hchan(self) -> HchanF;
    fn span(self) -> SpanF;
}

#[derive(Clone, Copy)]
struct TableSets(GF, SudogF, HchanF, SpanF);

impl Sets for TableSets {
    #[inline(always)]
    fn g(self) -> GF {
        self.0
    }
    #[inline(always)]
    fn sudog(self) -> SudogF {
        self.1
    }
    #[inline(always)]
    fn hchan(self) -> HchanF {
        self.2
    }
    #[inline(always)]
    fn span(self) -> SpanF {
        self.3
    }
}

#[derive(Clone, Copy)]
struct CompiledSets;

impl Sets for CompiledSets {
    #[inline(always)]
    fn g(self) -> GF {
        GF::COMPILED
    }
    #[inline(always)]
    fn sudog(self) -> SudogF {
        SudogF::COMPILED
    }
    #[inline(always)]
    fn hchan(self) -> HchanF {
        HchanF::COMPILED
    }
    #[inline(always)]
    fn span(self) -> SpanF {
        SpanF::COMPILED
    }
}

/// Runs `$body` with `$set` bound to the compiled sets when the table's
/// are the same, else to the table's (one monomorphic copy each).
macro_rules! with_sets {
    ($cx:expr, $set:ident => $body:expr) => {
        if $cx.compiled {
            let $set = CompiledSets;
            $body
        } else {
            let $set = TableSets($cx.f.g, $cx.f.sudog, $cx.f.hchan, $cx.f.span);
            $body
        }
    };
}

impl Fields {
    /// Whether the big sections' sets are the compiled ones.
    fn compiled(&self) -> bool {
        self.g == GF::COMPILED
            && self.sudog == SudogF::COMPILED
            && self.hchan == HchanF::COMPILED
            && self.span == SpanF::COMPILED
    }

    /// The fields the decoder reads that the table's layout lacks (their
    /// views show `None`, or 0 where a view keeps a plain number).
    fn missing(&self) -> Vec<Text> {
        let mut out = Vec::new();
        self.sched.missing(&mut out);
        self.p.missing(&mut out);
        self.m.missing(&mut out);
        self.g.missing(&mut out);
        self.sudog.missing(&mut out);
        self.hchan.missing(&mut out);
        self.span.missing(&mut out);
        self.heap.missing(&mut out);
        self.site.missing(&mut out);
        self.lock.missing(&mut out);
        out
    }
}

/// The table's string lists, as shared texts.
#[derive(Clone, Default)]
struct Names {
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

/// A lock field in a record: its name and offset.
#[derive(Clone, Debug)]
struct LockField {
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

fn shifted(f: Option<Fx>, by: u64) -> Option<Fx> {
    let f = f?;
    Some(Fx { off: f.off.checked_add(usize::try_from(by).ok()?)?, ..f })
}

// --- the decoder -----------------------------------------------------------

/// Records a table needs before decoding it on two threads pays: a thread
/// costs tens of microseconds, a record tens of nanoseconds.
const PARALLEL_MIN_RECORDS: u64 = 20_000;

/// Whether [`Snapshot::decode`] should use a helper thread for this image.
fn parallel_worth_it(img: &Image) -> bool {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let records: u64 = [SectionKind::G, SectionKind::Sudog, SectionKind::Hchan, SectionKind::Span]
        .iter()
        .map(|&k| img.len(k))
        .fold(0, u64::saturating_add);
    records >= PARALLEL_MIN_RECORDS
        && *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get())) > 1
}

/// Views written in place into a vector's spare room, so that two threads
/// can fill the two halves of one vector with no copy afterwards.
struct Sink<'v, T> {
    slots: &'v mut [MaybeUninit<T>],
    len: usize,
}

impl<'v, T> Sink<'v, T> {
    fn new(slots: &'v mut [MaybeUninit<T>]) -> Self {
        Sink { slots, len: 0 }
    }

    /// The views written so far.
    fn written(&mut self) -> &mut [T] {
        let init = &mut self.slots[..self.len];
        // SAFETY: `push` wrote every slot below `len`, and MaybeUninit<T>
        // has T's layout.
        unsafe { &mut *(init as *mut [MaybeUninit<T>] as *mut [T]) }
    }

    /// Writes the next view; a full sink drops it (callers size sinks to
    /// their record ranges, one view per record at most).
    #[inline]
    fn push(&mut self, v: T) {
        if let Some(slot) = self.slots.get_mut(self.len) {
            slot.write(v);
            self.len += 1;
        }
    }
}

/// What the helper did in the second phase: the heap, then sudog chunks
/// taken from the back of the queue, each with its own damage (merged in
/// sequential order).
struct Side {
    heap: HeapView,
    heap_damage: (Vec<Damage>, u64),
    /// Per chunk, in the order taken (last chunk first): its first record,
    /// the views written, its damage and the damage only counted.
    runs: Vec<(usize, usize, Vec<Damage>, u64)>,
    /// Microseconds spent on the heap and on sudogs.
    us: [u64; 2],
}

/// Sudog records per chunk of the second phase's shared queue.
const SUDOG_CHUNK: usize = 2048;

/// The chunks of a view vector's spare room still to decode, taken from
/// the front by the caller and from the back by the helper, so that both
/// finish together whatever the table's shape (a few channels with huge
/// queues, or many small ones).
type ChunkQueue<'v, T> = Mutex<VecDeque<(usize, &'v mut [MaybeUninit<T>])>>;

fn take_chunk<'v, T>(q: &ChunkQueue<'v, T>, front: bool) -> Option<(usize, &'v mut [MaybeUninit<T>])> {
    let mut q = q.lock().unwrap_or_else(|e| e.into_inner());
    if front {
        q.pop_front()
    } else {
        q.pop_back()
    }
}

/// Ends sinks' runs in one vector's spare room: `runs` are (first slot,
/// views written), in ascending and disjoint order. Moves each run down
/// behind the previous one and sets the length.
fn close_runs<T: Copy>(v: &mut Vec<T>, runs: &[(usize, usize)]) {
    let room = v.capacity();
    let mut at = 0usize;
    for &(start, len) in runs {
        assert!(start >= at && start.checked_add(len).is_some_and(|end| end <= room), "sink runs out of order");
        // SAFETY: the run's sink initialized [start, start + len), inside
        // the allocation (checked); everything below `at` is initialized
        // and `at <= start`; `copy` allows the overlap. T is Copy: nothing
        // is dropped or doubled.
        unsafe {
            let base = v.as_mut_ptr();
            if len > 0 && start != at {
                std::ptr::copy(base.add(start), base.add(at), len);
            }
        }
        at += len;
    }
    // SAFETY: [0, at) was initialized by the moves above.
    unsafe { v.set_len(at) }
}

/// One decode: the image, resolved fields, interned names and the damage
/// found so far.
struct Cx<'a> {
    img: &'a Image,
    /// The big sections' field sets are the compiled ones (see `Sets`).
    compiled: bool,
    live: bool,
    include_dead: bool,
    now: u64,
    f: Fields,
    n: Names,
    damage: Vec<Damage>,
    dropped: u64,
    /// Site index -> its text (lazily filled; None inside = no usable text).
    sites: Vec<Option<Option<Text>>>,
    /// Index of the "lock" record layout.
    lock_rec: Option<usize>,
    /// Lock fields of sched, mheap and hchan records.
    sched_locks: Vec<LockField>,
    heap_locks: Vec<LockField>,
    /// Per sudog record: already found on a channel queue.
    queued: Vec<bool>,
    /// The image's sections by kind.
    secs: [Sec<'a>; 16],
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
    /// Empty vectors to decode views into (see `Bufs`).
    bufs: Bufs,
    /// Visit stamps of long chain walks, and the current walk's stamp.
    stamps: Vec<u32>,
    walk_id: u32,
}

/// Empty vectors for the views of the larger sections and the arenas,
/// with room: fresh, or a previous snapshot's (see
/// [`Snapshot::decode_reusing`]).
#[derive(Default)]
struct Bufs {
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

impl Bufs {
    /// A snapshot's vectors, emptied (the views are plain data: clearing
    /// them costs nothing).
    fn from_old(mut s: Snapshot) -> Bufs {
        fn empty<T>(mut v: Vec<T>) -> Vec<T> {
            v.clear();
            v
        }
        Bufs {
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

/// What links to a G need from its record: goid, stack bounds and status
/// (32 bytes, `has` says which were readable: the cache is read at random).
#[derive(Clone, Copy, Debug, Default)]
struct GInfo {
    goid: u64,
    lo: u64,
    hi: u64,
    status: u32,
    has: u8,
}

impl GInfo {
    fn new(goid: Option<u64>, lo: Option<u64>, hi: Option<u64>, status: Option<u32>) -> GInfo {
        let has = goid.is_some() as u8
            | (lo.is_some() as u8) << 1
            | (hi.is_some() as u8) << 2
            | (status.is_some() as u8) << 3;
        GInfo { goid: goid.unwrap_or(0), lo: lo.unwrap_or(0), hi: hi.unwrap_or(0), status: status.unwrap_or(0), has }
    }

    #[inline]
    fn read(r: R<'_>, gf: &GF) -> GInfo {
        GInfo::new(r.opt(gf.goid), r.opt(gf.stack_lo), r.opt(gf.stack_hi), r.opt(gf.atomicstatus).map(|v| v as u32))
    }

    fn goid(&self) -> Option<u64> {
        (self.has & 1 != 0).then_some(self.goid)
    }

    /// The stack bounds, when both were readable.
    fn stack(&self) -> Option<(u64, u64)> {
        (self.has & 6 == 6).then_some((self.lo, self.hi))
    }

    fn status(&self) -> Option<u32> {
        (self.has & 8 != 0).then_some(self.status)
    }
}

impl<'a> Cx<'a> {
    fn new(img: &'a Image, opts: &DecodeOptions, now: u64, mut bufs: Bufs) -> Cx<'a> {
        let l = &img.layout;
        let f = Fields {
            sched: SchedF::resolve(l),
            p: PF::resolve(l),
            m: MF::resolve(l),
            g: GF::resolve(l),
            sudog: SudogF::resolve(l),
            hchan: HchanF::resolve(l),
            span: SpanF::resolve(l),
            heap: HeapF::resolve(l),
            site: SiteF::resolve(l),
            lock: LockF::resolve(l),
        };
        let n = Names {
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
        let mut cx = Cx {
            img,
            compiled: f.compiled(),
            live: matches!(opts.capture, Capture::Live),
            include_dead: opts.include_dead,
            now,
            f,
            n,
            damage: Vec::new(),
            dropped: 0,
            sites: Vec::new(),
            lock_rec,
            sched_locks: Vec::new(),
            heap_locks: Vec::new(),
            queued: Vec::new(),
            secs: [Sec::default(); 16],
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
            if let Some(slot) = cx.secs.get_mut(i.kind as usize) {
                let stride = i.stride.max(1);
                // Record indices are u32 in links (see `Link`).
                let len = i.len.min(u32::MAX as u64);
                *slot = Sec { bytes: &seg.bytes, stride, len, start, magic: div_magic(stride) };
            }
        }
        cx.queued = vec![false; cx.seclen(SectionKind::Sudog).min(1 << 28) as usize];
        cx.sched_locks = cx.lock_fields("sched");
        cx.heap_locks = cx.lock_fields("mheap");
        // Sites are few (one per go statement and channel creation); a
        // hostile table could claim millions: cache the first 64k only.
        let nsites = img.len(SectionKind::Site).min(1 << 16) as usize;
        cx.sites = vec![None; nsites];
        cx
    }

    /// A decoder for the same image with the same resolved fields and
    /// names, and none of the state one pass leaves for the next (G cache,
    /// channel ids, damage). Its links read ids from the records themselves,
    /// which is what the caches hold.
    fn fork(&mut self) -> Cx<'a> {
        fn with_room<T>(mut v: Vec<T>, n: u64) -> Vec<T> {
            v.reserve(usize::try_from(n).unwrap_or(0));
            v
        }
        Cx {
            img: self.img,
            compiled: self.compiled,
            live: self.live,
            include_dead: self.include_dead,
            now: self.now,
            f: self.f,
            n: self.n.clone(),
            damage: Vec::new(),
            dropped: 0,
            sites: vec![None; self.sites.len()],
            lock_rec: self.lock_rec,
            sched_locks: self.sched_locks.clone(),
            heap_locks: self.heap_locks.clone(),
            // Only the channel pass (the caller's) marks queued sudogs.
            queued: Vec::new(),
            secs: self.secs,
            gcache: Arc::default(),
            chan_ids: Vec::new(),
            held_chans: Vec::new(),
            scratch: Vec::new(),
            waiting: Vec::new(),
            g_extras: Vec::new(),
            queues: Vec::new(),
            // Allocated here, not on the helper: the calling thread's
            // allocator arena is the one that has the last snapshot's
            // memory to reuse (fresh memory costs a page fault per 4 KB).
            bufs: Bufs {
                spans: with_room(std::mem::take(&mut self.bufs.spans), self.seclen(SectionKind::Span)),
                reused: self.bufs.reused,
                ..Bufs::default()
            },
            stamps: Vec::new(),
            walk_id: 0,
        }
    }

    /// The helper's second phase: the heap, then sudog chunks from the
    /// back of the queue until it is empty.
    fn side(&mut self, q: &ChunkQueue<'_, SudogView>) -> Side {
        let t0 = Instant::now();
        let heap = self.heap();
        let heap_damage = (std::mem::take(&mut self.damage), std::mem::take(&mut self.dropped));
        let t1 = Instant::now();
        let mut runs = Vec::new();
        while let Some((ci, slots)) = take_chunk(q, false) {
            let start = ci * SUDOG_CHUNK;
            let end = start + slots.len();
            let mut sink = Sink::new(slots);
            self.sudogs(start as u64..end as u64, &mut sink);
            runs.push((start, sink.len, std::mem::take(&mut self.damage), std::mem::take(&mut self.dropped)));
        }
        Side { heap, heap_damage, runs, us: [(t1 - t0).as_micros() as u64, t1.elapsed().as_micros() as u64] }
    }

    /// Takes damage another decoder found (and `dropped` more it only
    /// counted) as if found here, in order.
    fn absorb(&mut self, damage: Vec<Damage>, dropped: u64) {
        for d in damage {
            self.push_damage(d.kind, d.place, d.message);
        }
        self.dropped = self.dropped.saturating_add(dropped);
    }

    // --- damage

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
    fn enum_name(&mut self, which: fn(&Names) -> &Vec<Text>, v: Option<u64>, place: impl FnOnce() -> String) -> Text {
        self.check_enum(which(&self.n).len(), v, place);
        Self::name_in(which(&self.n), v)
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
        let r = self.rec(SectionKind::Site, i as u64);
        let sf = self.f.site;
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

    /// Takes the site texts another decoder resolved.
    fn take_sites(&mut self, other: &mut Cx<'_>) {
        for (slot, t) in self.sites.iter_mut().zip(other.sites.iter_mut()) {
            if slot.is_none() {
                *slot = t.take();
            }
        }
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

    // --- records and pointers

    fn sec(&self, kind: SectionKind) -> Sec<'a> {
        self.secs.get(kind as usize).copied().unwrap_or_default()
    }

    /// Records (bytes) of a section in the image.
    fn seclen(&self, kind: SectionKind) -> u64 {
        self.sec(kind).len
    }

    #[inline]
    fn rec(&self, kind: SectionKind, index: u64) -> Option<R<'a>> {
        let s = self.secs.get(kind as usize)?;
        if index >= s.len {
            return None;
        }
        let off = usize::try_from(index.checked_mul(s.stride)?).ok()?;
        Some(R(s.bytes.get(off..off.checked_add(s.stride as usize)?)?))
    }

    /// `Image::ptr_index` in O(1): nil is `Ok(None)`, the start of a copied
    /// record of `kind` is its index, anything else `Err(())`.
    #[inline]
    fn index_of(&self, kind: SectionKind, addr: u64) -> Result<Option<u64>, ()> {
        if addr == 0 {
            return Ok(None);
        }
        let s = self.secs.get(kind as usize).ok_or(())?;
        let rel = addr.checked_sub(s.start.ok_or(())?).ok_or(())?;
        let (q, r) = s.divmod(rel);
        if q >= s.len || r != 0 {
            return Err(());
        }
        Ok(Some(q))
    }

    /// The id a Link carries for a record.
    fn id_of(&self, kind: SectionKind, index: u64) -> u64 {
        match kind {
            SectionKind::G => {
                if let Some(g) = self.gcache.get(index as usize) {
                    return g.goid().unwrap_or(index);
                }
            }
            SectionKind::Hchan => {
                if let Some(c) = self.chan_ids.get(index as usize) {
                    return c.unwrap_or(index);
                }
            }
            _ => {}
        }
        let f = match kind {
            SectionKind::G => self.f.g.goid,
            SectionKind::M => self.f.m.id,
            SectionKind::P => self.f.p.id,
            SectionKind::Hchan => self.f.hchan.id,
            _ => None,
        };
        self.rec(kind, index).and_then(|r| r.opt(f)).unwrap_or(index)
    }

    /// What the G pass saw of G record `i` (read from the record before it ran).
    fn ginfo(&self, i: u64) -> Option<GInfo> {
        if let Some(g) = self.gcache.get(i as usize) {
            return Some(*g);
        }
        Some(GInfo::read(self.rec(SectionKind::G, i)?, &self.f.g))
    }

    /// Translates a pointer to a record of `kind`. A pointer that does not
    /// translate is damage: torn when it points past the copied records of
    /// its section in a live capture (allocated after the copy).
    fn link(&mut self, kind: SectionKind, addr: Option<u64>, place: impl FnOnce() -> String) -> Link {
        let Some(addr) = addr else { return Link::Nil };
        match self.index_of(kind, addr) {
            Ok(None) => Link::Nil,
            Ok(Some(index)) => Link::rec(index, self.id_of(kind, index)),
            Err(()) => {
                let msg = self.why_bad(kind, addr);
                if self.live && msg.1 {
                    self.push_damage(DamageKind::Torn, place(), msg.0);
                } else {
                    self.push_damage(DamageKind::Corrupt, place(), msg.0);
                }
                Link::Bad { addr }
            }
        }
    }

    /// `link` to a G, with what the G pass saw of it (one lookup for both).
    #[inline]
    fn link_g(&mut self, addr: Option<u64>, place: impl FnOnce() -> String) -> (Link, Option<GInfo>) {
        let Some(a) = addr else { return (Link::Nil, None) };
        match self.index_of(SectionKind::G, a) {
            Ok(None) => (Link::Nil, None),
            Ok(Some(index)) => {
                let info = self.ginfo(index);
                let id = info.and_then(|g| g.goid()).unwrap_or(index);
                (Link::rec(index, id), info)
            }
            Err(()) => (self.link(SectionKind::G, addr, place), None),
        }
    }

    /// Says why `addr` is not a record of `kind`; the flag tells whether a
    /// record allocated after the copy explains it.
    fn why_bad(&self, kind: SectionKind, addr: u64) -> (String, bool) {
        let kn = section_name(kind);
        if let Some(l) = self.img.locate(addr) {
            if l.kind != kind {
                return (
                    format!("pointer {addr:#x} points into the {} section, not at a {kn}", section_name(l.kind)),
                    false,
                );
            }
            return (format!("pointer {addr:#x} points {} bytes into {kn} record {}", l.within, l.index), false);
        }
        if let Some(s) = self.img.header.section(kind) {
            let off = addr.wrapping_sub(self.img.header.base);
            let end = s.offset.saturating_add(s.capacity.saturating_mul(s.stride));
            if addr >= self.img.header.base && off >= s.offset && off < end && (off - s.offset).is_multiple_of(s.stride)
            {
                let idx = (off - s.offset) / s.stride;
                return (
                    format!("pointer {addr:#x} names {kn} record {idx}, past the {} records in use", self.seclen(kind)),
                    true,
                );
            }
        }
        (format!("pointer {addr:#x} is not in the table's {kn} section"), false)
    }

    /// Address of record `index` of `kind` in the target.
    fn rec_addr(&self, kind: SectionKind, index: u64) -> Option<u64> {
        let s = self.sec(kind);
        s.start?.checked_add(index.checked_mul(s.stride)?)
    }

    /// Follows a chain of records of `kind` linked through `next`, from the
    /// address `start`, for at most the section's length. Returns the
    /// record indices; a bad pointer, a loop or excess length ends the walk
    /// with a damage entry.
    fn walk(
        &mut self,
        kind: SectionKind,
        start: Option<u64>,
        next: Option<Fx>,
        place: &dyn Fn() -> String,
    ) -> Vec<u64> {
        let mut out = Vec::new();
        self.walk_into(kind, start, next, place, &mut out);
        out
    }

    /// `walk`, appending to `out` (which must start empty).
    fn walk_into(
        &mut self,
        kind: SectionKind,
        start: Option<u64>,
        next: Option<Fx>,
        place: &dyn Fn() -> String,
        out: &mut Vec<u64>,
    ) {
        let Some(mut cur) = start else { return };
        let limit = self.seclen(kind);
        // Loops: a linear search while the chain is short, then a stamp per
        // record (`stamps[i] == walk` means visited in this walk).
        let mut stamped = false;
        loop {
            let idx = match self.index_of(kind, cur) {
                Ok(None) => break,
                Ok(Some(i)) => i,
                Err(()) => {
                    let (msg, late) = self.why_bad(kind, cur);
                    let k = if self.live && late { DamageKind::Torn } else { DamageKind::Corrupt };
                    self.push_damage(k, place(), msg);
                    break;
                }
            };
            let looped = if stamped {
                !self.stamp(idx)
            } else if out.contains(&idx) {
                true
            } else if out.len() >= 32 {
                self.new_walk(limit);
                for &k in out.iter() {
                    self.stamp(k);
                }
                stamped = true;
                !self.stamp(idx)
            } else {
                false
            };
            if looped {
                let msg = format!("chain loops back to {} record {idx} after {} links", section_name(kind), out.len());
                if self.live {
                    self.push_damage(DamageKind::Torn, place(), msg);
                } else {
                    self.push_damage(DamageKind::Corrupt, place(), msg);
                }
                break;
            }
            if out.len() as u64 >= limit {
                self.corrupt(place, format!("chain longer than the {limit} {} records in use", section_name(kind)));
                break;
            }
            out.push(idx);
            match self.rec(kind, idx).and_then(|r| r.opt(next)) {
                Some(n) => cur = n,
                None => break,
            }
        }
    }

    /// Starts a stamped walk over a section of `len` records.
    fn new_walk(&mut self, len: u64) {
        let len = len as usize;
        if self.stamps.len() < len {
            self.stamps.resize(len, 0);
        }
        self.walk_id = self.walk_id.wrapping_add(1);
        if self.walk_id == 0 {
            self.stamps.iter_mut().for_each(|s| *s = 0);
            self.walk_id = 1;
        }
    }

    /// Marks record `i` visited in the current walk; false if it already was.
    fn stamp(&mut self, i: u64) -> bool {
        match self.stamps.get_mut(i as usize) {
            Some(s) if *s == self.walk_id => false,
            Some(s) => {
                *s = self.walk_id;
                true
            }
            None => true,
        }
    }

    fn links(&self, kind: SectionKind, idx: &[u64]) -> Vec<Link> {
        idx.iter().map(|&i| Link::rec(i, self.id_of(kind, i))).collect()
    }

    fn wait_for(&self, since: Option<i64>) -> Option<u64> {
        let s = since?;
        if s <= 0 || self.now == 0 {
            return None;
        }
        self.now.checked_sub(s as u64)
    }

    // --- header

    fn header(&mut self) -> HeaderView {
        let h = &self.img.header;
        let bugs = (0..64u32)
            .filter(|b| h.bugs & (1u64 << b) != 0)
            .map(|b| self.n.bugs.get(b as usize).cloned().unwrap_or_else(|| Text::from(format!("bug{b}"))))
            .collect();
        if !h.ready {
            self.push_damage(
                DamageKind::Inconsistent,
                "header".into(),
                "the table is not marked ready: the runtime had not finished starting".into(),
            );
        }
        HeaderView {
            pid: h.pid,
            abi_version: h.abi_version,
            layout_hash: h.layout_hash,
            base: h.base,
            size: h.size,
            start_unix_ns: h.start_unix_ns,
            start_mono_ns: h.start_mono_ns,
            bugs_mask: h.bugs,
            bugs,
            flags: h.flags,
            debug_build: h.flags & FLAG_DEBUG != 0,
            guard_madvise: h.flags & FLAG_GUARD_MADVISE != 0,
            stack_size: h.stack_size,
            ready: h.ready,
            exiting: h.exiting,
            exit_code: h.exit_code,
            heartbeat: h.heartbeat,
            sections: self
                .img
                .segments
                .iter()
                .map(|s| SectionView {
                    kind: Text::new(section_name(s.info.kind)),
                    stride: s.info.stride,
                    offset: s.info.offset,
                    capacity: s.info.capacity,
                    len: s.info.len,
                })
                .collect(),
        }
    }

    // --- Ms

    fn ms(&mut self) -> Vec<MView> {
        let n = self.seclen(SectionKind::M);
        let mf = self.f.m;
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let Some(r) = self.rec(SectionKind::M, i) else {
                break;
            };
            let place = || format!("m {i}");
            let role = r.opt(mf.role);
            let state = r.opt(mf.state);
            let role_name = self.enum_name(|n| &n.mrole, role, || format!("m {i}.role"));
            let state_name = self.enum_name(|n| &n.mstate, state, || format!("m {i}.state"));
            let curg = self.link(SectionKind::G, r.opt(mf.curg), || format!("m {i}.curg"));
            let p = self.link(SectionKind::P, r.opt(mf.p), || format!("m {i}.p"));
            let nextp = self.link(SectionKind::P, r.opt(mf.nextp), || format!("m {i}.nextp"));
            let oldp = self.link(SectionKind::P, r.opt(mf.oldp), || format!("m {i}.oldp"));
            let waitcasg = self.link(SectionKind::G, r.opt(mf.waitcasg), || format!("m {i}.waitcasg"));
            let lockedg = self.link(SectionKind::G, r.opt(mf.lockedg), || format!("m {i}.lockedg"));
            let lastg = self.link(SectionKind::G, r.opt(mf.lastg), || format!("m {i}.lastg"));
            let waitcasg_status = if waitcasg.is_nil() { None } else { r.opt(mf.waitcasg_status).map(|v| v as u32) };
            let waitcasg_status_name = waitcasg_status.map(|s| Self::name_in(&self.n.gstatus, Some(s as u64)));
            let waitsince = r.opt(mf.waitsince).map(|v| v as i64);
            // Held locks: up to nheld entries of held[] (debug builds).
            let mut held = Vec::new();
            if let (Some(hf), Some(nh)) = (mf.held, r.opt(mf.nheld)) {
                // More locks than the array holds: the runtime stops
                // recording them, but not by a million.
                if nh > hf.count as u64 && nh > 1 << 20 {
                    self.corrupt(place, format!("nheld {nh} is implausible"));
                }
                for k in 0..(nh.min(hf.count as u64)) as usize {
                    if let Some(a) = r.get_at(hf, k) {
                        if a != 0 {
                            held.push(LockRef { addr: a, ..Default::default() });
                        }
                    }
                }
            }
            let waitlock = r.opt(mf.waitlock).filter(|&a| a != 0).map(|a| LockRef { addr: a, ..Default::default() });
            let g0 = match (r.opt(mf.g0_sp), r.opt(mf.g0_pc), r.opt(mf.g0_bp)) {
                (Some(sp), Some(pc), Some(bp)) => Some(Context { sp, pc, bp }),
                _ => None,
            };
            let busy = waitlock.is_some() || !waitcasg.is_nil();
            out.push(MView {
                index: i,
                id: r.opt(mf.id).map(|v| v as i64),
                tid: r.opt(mf.procid),
                role: role.map(|v| v as u32),
                role_name,
                state: state.map(|v| v as u32),
                state_name,
                curg,
                p,
                nextp,
                oldp,
                spinning: r.opt(mf.spinning).map(|v| v != 0),
                blocked: r.opt(mf.blocked).map(|v| v != 0),
                locks: r.opt(mf.locks).map(|v| v as i64),
                held,
                waitlock,
                waitcasg,
                waitcasg_status,
                waitcasg_status_name,
                waitsince_ns: waitsince,
                wait_ns: if busy { self.wait_for(waitsince) } else { None },
                g0,
                g0_stack_lo: r.opt(mf.g0_stack_lo),
                g0_stack_hi: r.opt(mf.g0_stack_hi),
                lockedg,
                lastg,
                preemptoff: r.opt(mf.preemptoff),
                throwing: r.opt(mf.throwing).map(|v| v != 0),
                dying: r.opt(mf.dying).map(|v| v != 0),
            });
        }
        out
    }

    // --- Ps

    fn ps(&mut self) -> Vec<PView> {
        let n = self.seclen(SectionKind::P);
        let pf = self.f.p;
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let Some(r) = self.rec(SectionKind::P, i) else {
                break;
            };
            let status = r.opt(pf.status);
            let status_name = self.enum_name(|n| &n.pstatus, status, || format!("p {i}.status"));
            let m = self.link(SectionKind::M, r.opt(pf.m), || format!("p {i}.m"));
            let runnext = self.link(SectionKind::G, r.opt(pf.runnext), || format!("p {i}.runnext"));
            let mut runq = Vec::new();
            if let (Some(qf), Some(head), Some(tail)) = (pf.runq, r.opt(pf.runqhead), r.opt(pf.runqtail)) {
                let (head, tail) = (head as u32, tail as u32);
                let len = tail.wrapping_sub(head) as u64;
                let cap = qf.count as u64;
                let take = if len > cap {
                    self.disagree(
                        || format!("p {i}.runq"),
                        format!("runqhead {head} and runqtail {tail} say {len} goroutines; the ring holds {cap}"),
                    );
                    0
                } else {
                    len
                };
                for k in 0..take {
                    let slot = (head as u64 + k) % cap.max(1);
                    let a = r.get_at(qf, slot as usize);
                    let l = self.link(SectionKind::G, a, || format!("p {i}.runq[{slot}]"));
                    runq.push(l);
                }
            }
            out.push(PView {
                index: i,
                id: r.opt(pf.id).map(|v| v as i64),
                status: status.map(|v| v as u32),
                status_name,
                m,
                runq,
                runnext,
                schedtick: r.opt(pf.schedtick),
                syscalltick: r.opt(pf.syscalltick),
                run_safe_point_fn: r.opt(pf.run_safe_point_fn).map(|v| v != 0),
                safe_point_runs: r.opt(pf.safe_point_runs),
                gfree: r.opt(pf.ngfree).map(|v| v as i64),
                sudog_cache: r.opt(pf.nsudog),
                stack_cache: r.opt(pf.nstack),
            });
        }
        out
    }

    // --- Gs

    /// Decodes G records `range` into `out` (one slot per record at most)
    /// and returns what the G cache holds for them.
    fn gs(&mut self, range: std::ops::Range<u64>, out: &mut Sink<'_, GView>) -> Vec<GInfo> {
        with_sets!(self, set => self.gs_with(set, range, out))
    }

    /// The G pass with field sets known at compile time or not.
    #[inline(always)]
    fn gs_with<S: Sets>(&mut self, set: S, range: std::ops::Range<u64>, out: &mut Sink<'_, GView>) -> Vec<GInfo> {
        let gf = set.g();
        let sf = set.sudog();
        let (nstatus, nreasons) = (self.n.gstatus.len(), self.n.waitreason.len());
        let mut cache = Vec::with_capacity(range.end.saturating_sub(range.start) as usize);
        for i in range {
            let Some(r) = self.rec(SectionKind::G, i) else {
                break;
            };
            let status = r.opt(gf.atomicstatus).map(|v| v as u32);
            let goid = r.opt(gf.goid);
            let (lo, hi) = (r.opt(gf.stack_lo), r.opt(gf.stack_hi));
            cache.push(GInfo::new(goid, lo, hi, status));
            let (lo, hi) = (lo.unwrap_or(0), hi.unwrap_or(0));
            let base = status.map(|s| s & !grt_table::G_SCAN);
            if !self.include_dead && matches!(base, Some(grt_table::G_DEAD) | Some(grt_table::G_IDLE)) {
                continue;
            }
            let place = move || match goid {
                Some(id) => format!("g {i} (goroutine {id})"),
                None => format!("g {i}"),
            };
            if let Some(b) = base {
                if b as usize >= nstatus {
                    self.corrupt(place, format!("status {:#x} is out of range", status.unwrap_or(0)));
                }
            }
            let waiting_status = base == Some(grt_table::G_WAITING);
            let waitreason = r.opt(gf.waitreason).map(|v| v as u32);
            if let Some(w) = waitreason {
                if waiting_status && w as usize >= nreasons {
                    self.corrupt(|| format!("{}.waitreason", place()), format!("wait reason {w} is out of range"));
                }
            }
            let waitsince = r.opt(gf.waitsince).map(|v| v as i64);
            let sched = match (r.opt(gf.sp), r.opt(gf.pc), r.opt(gf.bp)) {
                (Some(sp), Some(pc), Some(bp)) => Some(Context { sp, pc, bp }),
                _ => None,
            };
            let m = self.link(SectionKind::M, r.opt(gf.m), || format!("{}.m", place()));
            let lockedm = self.link(SectionKind::M, r.opt(gf.lockedm), || format!("{}.lockedm", place()));
            let scan_holder = self.link(SectionKind::M, r.opt(gf.scanm), || format!("{}.scanm", place()));
            let syscall = match r.opt(gf.syscallsp) {
                Some(sp) if sp != 0 => {
                    Context { sp, pc: r.opt(gf.syscallpc).unwrap_or(0), bp: r.opt(gf.syscallbp).unwrap_or(0) }
                }
                _ => Context::default(),
            };
            let param = r.opt(gf.param).unwrap_or(0);
            let x = GExtra { lockedm, scan_holder, syscall, param };
            let extra = if x == GExtra::default() {
                0
            } else {
                self.g_extras.push(x);
                u32::try_from(self.g_extras.len()).unwrap_or(u32::MAX)
            };
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            self.walk_into(
                SectionKind::Sudog,
                r.opt(gf.waiting),
                sf.waitlink,
                &|| format!("{}.waiting", place()),
                &mut scratch,
            );
            let waiting = push_list(&mut self.waiting, &scratch);
            // Every sudog on G.waiting must point back at G.
            for &s in &scratch {
                let back = self.rec(SectionKind::Sudog, s).and_then(|sr| sr.opt(sf.g));
                if let Some(b) = back {
                    if self.index_of(SectionKind::G, b) != Ok(Some(i)) {
                        self.disagree(
                            || format!("{}.waiting", place()),
                            format!("sudog {s} on its waiting list belongs to {b:#x}"),
                        );
                    }
                }
            }
            self.scratch = scratch;
            let site = self.site(r.opt(gf.site));
            out.push(GView {
                index: i,
                goid,
                generation: r.opt(gf.generation).map(|v| v as u32),
                status,
                waitreason,
                site,
                waitsince_ns: waitsince.unwrap_or(0),
                m,
                stack_lo: lo,
                stack_hi: hi,
                stack_lowest_sp: r.opt(gf.stack_lowest_sp).unwrap_or(0),
                sched,
                gopc: r.opt(gf.gopc).unwrap_or(0),
                startpc: r.opt(gf.startpc).unwrap_or(0),
                parent_goid: r.opt(gf.parentgoid).unwrap_or(0),
                waiting,
                extra,
                select_done: r.opt(gf.select_done).map(|v| v != 0),
                parking_on_chan: r.opt(gf.parking_on_chan).map(|v| v != 0),
                preempt: r.opt(gf.preempt).map(|v| v != 0),
            });
        }
        cache
    }

    // --- sudogs

    /// Decodes the sudog records `range` into `out` (one slot per record
    /// at most).
    fn sudogs(&mut self, range: std::ops::Range<u64>, out: &mut Sink<'_, SudogView>) {
        with_sets!(self, set => self.sudogs_with(set, range, out))
    }

    #[inline(always)]
    fn sudogs_with<S: Sets>(&mut self, set: S, range: std::ops::Range<u64>, out: &mut Sink<'_, SudogView>) {
        let sf = set.sudog();
        for i in range {
            let Some(r) = self.rec(SectionKind::Sudog, i) else {
                break;
            };
            let inuse = match r.opt(sf.inuse) {
                Some(v) => v != 0,
                None => r.opt(sf.g).is_some_and(|g| g != 0),
            };
            if !inuse {
                continue;
            }
            let (g, ginfo) = self.link_g(r.opt(sf.g), || format!("sudog {i}.g"));
            let chan = self.link(SectionKind::Hchan, r.opt(sf.c), || format!("sudog {i}.c"));
            let waitlink = self.link(SectionKind::Sudog, r.opt(sf.waitlink), || format!("sudog {i}.waitlink"));
            let elem = r.opt(sf.elem).unwrap_or(0);
            let elem_in_stack = match ginfo {
                Some(gi) if elem != 0 => gi.stack().map(|(lo, hi)| elem >= lo && elem < hi),
                _ => None,
            };
            out.push(SudogView {
                index: i,
                g,
                chan,
                elem,
                elem_in_stack,
                is_select: r.opt(sf.is_select).map(|v| v != 0),
                success: r.opt(sf.success).map(|v| v != 0),
                enqueued_ns: r.opt(sf.enqueued).unwrap_or(0) as i64,
                sema: r.opt(sf.sema).unwrap_or(0),
                waitlink,
            });
        }
    }

    // --- channels

    fn chans(&mut self) -> Vec<ChanView> {
        with_sets!(self, set => self.chans_with(set))
    }

    #[inline(always)]
    fn chans_with<S: Sets>(&mut self, set: S) -> Vec<ChanView> {
        let n = self.seclen(SectionKind::Hchan);
        let hf = set.hchan();
        let mut out = std::mem::take(&mut self.bufs.chans);
        out.reserve(n as usize);
        // Channel ids, for links to channels after this pass (nothing in
        // it links to a channel).
        let mut ids = std::mem::take(&mut self.chan_ids);
        ids.clear();
        ids.reserve(n as usize);
        for i in 0..n {
            let Some(r) = self.rec(SectionKind::Hchan, i) else {
                break;
            };
            let id = r.opt(hf.id);
            ids.push(id);
            if r.opt(hf.inuse) == Some(0) {
                continue;
            }
            let mut ok = true;
            let recvq = self.queue(set, i, id, &r, hf.recvq_first, hf.recvq_last, true, &mut ok);
            let sendq = self.queue(set, i, id, &r, hf.sendq_first, hf.sendq_last, false, &mut ok);
            let key = r.opt(hf.lock_key).map(|v| v as u32);
            let lock_state = self.lock_state(key, || format!("hchan {i} lock"));
            if matches!(lock_state, LockState::Held | LockState::Contended) {
                self.held_chans.push(i);
            }
            let lock_owner = self.link(SectionKind::M, r.opt(hf.lock_owner), || format!("hchan {i} lock.owner"));
            let (cap, qcount) = (r.opt(hf.dataqsiz), r.opt(hf.qcount));
            if let (Some(c), Some(q)) = (cap, qcount) {
                if q > c {
                    self.disagree(|| format!("hchan {i}"), format!("qcount {q} exceeds the capacity {c}"));
                }
            }
            let elemtype = self.site(r.opt(hf.elemtype));
            let site = self.site(r.opt(hf.site));
            out.push(ChanView {
                index: i,
                id,
                elemtype,
                site,
                cap,
                qcount,
                elemsize: r.opt(hf.elemsize),
                closed: r.opt(hf.closed).map(|v| v != 0),
                refs: r.opt(hf.refs),
                lock_key: key,
                lock_state,
                lock_owner,
                recvq,
                sendq,
                queues_ok: ok,
            });
        }
        self.chan_ids = ids;
        trim(out, self.bufs.reused)
    }

    /// Walks one wait queue of channel `ci`: first -> next, checking each
    /// prev link, each sudog's `c`, and the queue's `last`.
    #[allow(clippy::too_many_arguments)]
    fn queue<S: Sets>(
        &mut self,
        set: S,
        ci: u64,
        id: Option<u64>,
        r: &R<'a>,
        first: Option<Fx>,
        last: Option<Fx>,
        recv: bool,
        ok: &mut bool,
    ) -> ListRef {
        let sf = set.sudog();
        let qn = if recv { "recvq" } else { "sendq" };
        let place = move || match id {
            Some(id) => format!("hchan {ci} (channel {id}) {qn}"),
            None => format!("hchan {ci} {qn}"),
        };
        let nd = self.damage.len() + self.dropped as usize;
        let mut idx = std::mem::take(&mut self.scratch);
        idx.clear();
        self.walk_into(SectionKind::Sudog, r.opt(first), sf.next, &place, &mut idx);
        if self.damage.len() + self.dropped as usize != nd {
            *ok = false;
        }
        let me = self.rec_addr(SectionKind::Hchan, ci);
        let start = self.queues.len();
        let mut prev_addr = 0u64;
        for &s in &idx {
            let Some(sr) = self.rec(SectionKind::Sudog, s) else {
                break;
            };
            let c = sr.opt(sf.c);
            if c.is_some() && c != me {
                *ok = false;
                self.disagree(
                    place,
                    format!("sudog {s} points at channel {:#x}, not back at this one", c.unwrap_or(0)),
                );
            }
            if let Some(p) = sr.opt(sf.prev) {
                if p != prev_addr {
                    *ok = false;
                    self.disagree(place, format!("sudog {s}.prev is {p:#x}, expected {prev_addr:#x}"));
                }
            }
            let (g, ginfo) = self.link_g(sr.opt(sf.g), || format!("sudog {s}.g"));
            if g.index().is_some() {
                if let Some(st) = ginfo.and_then(|g| g.status()) {
                    if st & !grt_table::G_SCAN != grt_table::G_WAITING {
                        *ok = false;
                        self.disagree(
                            place,
                            format!("goroutine {} on the queue is not waiting (status {st:#x})", g.id().unwrap_or(0)),
                        );
                    }
                }
            }
            let _ = recv;
            if std::mem::replace(self.queued.get_mut(s as usize).unwrap_or(&mut false), true) {
                *ok = false;
                self.corrupt(place, format!("sudog {s} is on two channel queues"));
            }
            prev_addr = self.rec_addr(SectionKind::Sudog, s).unwrap_or(0);
            self.queues.push(QueueEntry { sudog: s, g });
        }
        let want_last = if idx.is_empty() { 0 } else { prev_addr };
        if let Some(l) = r.opt(last) {
            if *ok && l != want_last {
                *ok = false;
                self.disagree(place, format!("{qn}_last is {l:#x}, the walk ended at {want_last:#x}"));
            }
        }
        self.scratch = idx;
        let len = self.queues.len() - start;
        if len == 0 {
            return ListRef::default();
        }
        ListRef { start: u32::try_from(start).unwrap_or(u32::MAX), len: u32::try_from(len).unwrap_or(0) }
    }

    fn lock_state(&mut self, key: Option<u32>, place: impl FnOnce() -> String) -> LockState {
        match key {
            None => LockState::Unknown,
            Some(0) => LockState::Free,
            Some(1) => LockState::Held,
            Some(2) => LockState::Contended,
            Some(k) => {
                self.corrupt(place, format!("lock key {k} is not 0, 1 or 2"));
                LockState::Unknown
            }
        }
    }

    // --- locks

    /// The lock fields (Struct fields whose target is the lock record) of a record kind.
    fn lock_fields(&self, rec: &str) -> Vec<LockField> {
        let Some(lr) = self.lock_rec else {
            return Vec::new();
        };
        let Some((_, r)) = self.img.layout.record(rec) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for f in &r.fields {
            if f.field.kind == Kind::Struct && f.field.target == Some(lr) {
                for k in 0..f.field.count.min(64) {
                    let name = if f.field.count == 1 { f.name.clone() } else { format!("{}[{k}]", f.name) };
                    let off = f.field.offset as u64 + (k * f.field.elem_size) as u64;
                    out.push(LockField { name: Text::from(name), offset: off });
                }
            }
        }
        out
    }

    /// Where a lock address points, and its display name.
    fn lock_place(&self, addr: u64) -> (LockPlace, Text) {
        let Some(l) = self.img.locate(addr) else {
            return (LockPlace::Outside, Text::from(format!("lock at {addr:#x}")));
        };
        let rn = section_name(l.kind);
        let fields = match l.kind {
            SectionKind::Sched => self.sched_locks.clone(),
            SectionKind::MHeap => self.heap_locks.clone(),
            k => k.record_name().map(|n| self.lock_fields(n)).unwrap_or_default(),
        };
        match fields.iter().find(|f| f.offset == l.within) {
            None => (LockPlace::Misplaced, Text::from(format!("{rn} {} +{:#x} (not a lock)", l.index, l.within))),
            Some(f) => match l.kind {
                SectionKind::Sched | SectionKind::MHeap => (
                    LockPlace::Field { record: Text::new(rn), index: 0, field: f.name.clone() },
                    Text::from(format!("{rn}.{}", f.name)),
                ),
                SectionKind::Hchan => {
                    let id = self.id_of(SectionKind::Hchan, l.index);
                    let name =
                        if &*f.name == "lock" { format!("hchan {id} lock") } else { format!("hchan {id} {}", f.name) };
                    (LockPlace::Chan { index: l.index, id }, Text::from(name))
                }
                _ => (
                    LockPlace::Field { record: Text::new(rn), index: l.index, field: f.name.clone() },
                    Text::from(format!("{rn} {} {}", l.index, f.name)),
                ),
            },
        }
    }

    /// Reads a lock in the table at `addr` (known to be a lock field).
    fn read_lock(&mut self, addr: u64, name: &Text) -> (Option<u32>, Option<u32>, LockState, Link) {
        let Some(l) = self.img.locate(addr) else {
            return (None, None, LockState::Unknown, Link::Nil);
        };
        let Some(r) = self.rec(l.kind, l.index) else {
            return (None, None, LockState::Unknown, Link::Nil);
        };
        let lf = self.f.lock;
        let key = r.opt(shifted(lf.key, l.within)).map(|v| v as u32);
        let rank = r.opt(shifted(lf.rank, l.within)).map(|v| v as u32);
        let owner_addr = r.opt(shifted(lf.owner, l.within));
        let n = name.clone();
        let state = self.lock_state(key, || n.to_string());
        let n = name.clone();
        let owner = self.link(SectionKind::M, owner_addr, || format!("{n}.owner"));
        (key, rank, state, owner)
    }

    fn locks(&mut self, ms: &mut [MView]) -> Vec<LockView> {
        let mut out: Vec<LockView> = Vec::new();
        let mut at: HashMap<u64, usize> = HashMap::new();
        let mut add = |cx: &mut Cx<'a>, out: &mut Vec<LockView>, addr: u64| -> usize {
            if let Some(&i) = at.get(&addr) {
                return i;
            }
            let (place, name) = cx.lock_place(addr);
            let (key, rank, state, owner) = match place {
                LockPlace::Outside | LockPlace::Misplaced => (None, None, LockState::Unknown, Link::Nil),
                _ => cx.read_lock(addr, &name),
            };
            if matches!(place, LockPlace::Misplaced) {
                cx.corrupt(|| name.to_string(), "a lock pointer points inside the table but not at a lock");
            }
            let rank_name = rank.and_then(|r| cx.n.lockrank.get(r as usize).cloned());
            out.push(LockView {
                addr,
                name,
                place,
                rank,
                rank_name,
                key,
                state,
                owner,
                owner_from_held: false,
                waiters: Vec::new(),
            });
            at.insert(addr, out.len() - 1);
            out.len() - 1
        };
        // sched and mheap locks, always.
        for (kind, fields) in
            [(SectionKind::Sched, self.sched_locks.clone()), (SectionKind::MHeap, self.heap_locks.clone())]
        {
            if let Some(base) = self.rec_addr(kind, 0) {
                if self.img.len(kind) > 0 {
                    for f in fields {
                        if let Some(a) = base.checked_add(f.offset) {
                            add(self, &mut out, a);
                        }
                    }
                }
            }
        }
        // Channel locks that are held.
        let chan_locks = self.lock_fields("hchan");
        if let Some(off) = chan_locks.iter().find(|f| &*f.name == "lock").or(chan_locks.first()).map(|f| f.offset) {
            for ci in std::mem::take(&mut self.held_chans) {
                if let Some(a) = self.rec_addr(SectionKind::Hchan, ci).and_then(|b| b.checked_add(off)) {
                    add(self, &mut out, a);
                }
            }
        }
        // Everything an M holds or waits for.
        for m in ms.iter_mut() {
            let mlink = Link::rec(m.index, m.id.map_or(m.index, |v| v as u64));
            if let Some(w) = m.waitlock.as_mut() {
                let li = add(self, &mut out, w.addr);
                w.lock = Some(li);
                w.name = out[li].name.clone();
                out[li].waiters.push(mlink);
            }
            for h in m.held.iter_mut() {
                let li = add(self, &mut out, h.addr);
                h.lock = Some(li);
                h.name = out[li].name.clone();
                let lv = &mut out[li];
                if matches!(lv.place, LockPlace::Outside) && lv.owner.is_nil() {
                    lv.owner = mlink;
                    lv.owner_from_held = true;
                    lv.state = LockState::Held;
                }
            }
        }
        // Cross-checks: a free lock with an owner, a held one without.
        let free_owned: Vec<Text> =
            out.iter().filter(|l| l.state == LockState::Free && !l.owner.is_nil()).map(|l| l.name.clone()).collect();
        for name in free_owned {
            self.disagree(|| name.to_string(), "the lock is free but names an owner");
        }
        out
    }

    // --- sched

    fn sched(&mut self) -> SchedView {
        let Some(r) = self.rec(SectionKind::Sched, 0) else {
            self.corrupt(|| "sched".into(), "the table has no sched record");
            return SchedView::default();
        };
        let f = self.f.sched;
        let i64o = |v: Option<u64>| v.map(|x| x as i64);
        let stw = r.opt(f.stw_reason);
        let stw_name = stw.map(|v| Self::name_in(&self.n.stwreason, Some(v)));
        let phase = r.opt(f.gcphase);
        let phase_name = phase.map(|_| self.enum_name(|n| &n.gcphase, phase, || "sched.gcphase".into()));
        let worldsema_owner = self.link(SectionKind::G, r.opt(f.worldsema_owner), || "sched.worldsema_owner".into());
        let pidle = self.walk(SectionKind::P, r.opt(f.pidle), self.f.p.link, &|| "sched.pidle".into());
        let midle = self.walk(SectionKind::M, r.opt(f.midle), self.f.m.schedlink, &|| "sched.midle".into());
        let runq = self.walk(SectionKind::G, r.opt(f.runqhead), self.f.g.schedlink, &|| "sched.runq".into());
        if let Some(n) = r.opt(f.npidle) {
            if n as i32 as i64 != pidle.len() as i64 {
                self.disagree(
                    || "sched.pidle".into(),
                    format!("npidle is {} but the list has {} Ps", n as i32, pidle.len()),
                );
            }
        }
        if let Some(n) = r.opt(f.nmidle) {
            if n as i32 as i64 != midle.len() as i64 {
                self.disagree(
                    || "sched.midle".into(),
                    format!("nmidle is {} but the list has {} Ms", n as i32, midle.len()),
                );
            }
        }
        if let Some(n) = r.opt(f.runqsize) {
            if n as i32 as i64 != runq.len() as i64 {
                self.disagree(
                    || "sched.runq".into(),
                    format!("runqsize is {} but the queue has {} goroutines", n as i32, runq.len()),
                );
            }
        }
        if let (Some(&last), Some(tail)) = (runq.last(), r.opt(f.runqtail)) {
            if self.rec_addr(SectionKind::G, last) != Some(tail) {
                self.disagree(|| "sched.runq".into(), format!("runqtail is {tail:#x}, the walk ended at g {last}"));
            }
        }
        SchedView {
            goidgen: r.opt(f.goidgen),
            gomaxprocs: i64o(r.opt(f.gomaxprocs)),
            ncpu: i64o(r.opt(f.ncpu)),
            npidle: i64o(r.opt(f.npidle)),
            nmspinning: i64o(r.opt(f.nmspinning)),
            needspinning: r.opt(f.needspinning),
            nmidle: i64o(r.opt(f.nmidle)),
            nmidlelocked: i64o(r.opt(f.nmidlelocked)),
            mnext: i64o(r.opt(f.mnext)),
            maxmcount: i64o(r.opt(f.maxmcount)),
            nmsys: i64o(r.opt(f.nmsys)),
            nthreads: i64o(r.opt(f.nthreads)),
            runqsize: i64o(r.opt(f.runqsize)),
            ngfree: i64o(r.opt(f.ngfree)),
            gcwaiting: r.opt(f.gcwaiting).map(|v| v != 0),
            stopwait: i64o(r.opt(f.stopwait)),
            stw_reason: stw,
            stw_reason_name: stw_name,
            sysmonwait: r.opt(f.sysmonwait).map(|v| v != 0),
            safe_point_fn: r.opt(f.safe_point_fn),
            safe_point_wait: i64o(r.opt(f.safe_point_wait)),
            gcphase: phase,
            gcphase_name: phase_name,
            numgc: r.opt(f.numgc),
            ngoroutines: i64o(r.opt(f.ngoroutines)),
            lastpoll: i64o(r.opt(f.lastpoll)),
            poll_until: i64o(r.opt(f.poll_until)),
            ntimers: r.opt(f.ntimers),
            timer0when: i64o(r.opt(f.timer0when)),
            nchans: i64o(r.opt(f.nchans)),
            netpoll_epfd: i64o(r.opt(f.netpoll_epfd)),
            netpoll_waiters: i64o(r.opt(f.netpoll_waiters)),
            worldsema: r.opt(f.worldsema),
            worldsema_owner,
            throwing: r.opt(f.throwing).map(|v| v != 0),
            pidle: self.links(SectionKind::P, &pidle),
            midle: self.links(SectionKind::M, &midle),
            runq: self.links(SectionKind::G, &runq),
        }
    }

    // --- heap

    fn heap(&mut self) -> HeapView {
        let Some(r) = self.rec(SectionKind::MHeap, 0) else {
            self.corrupt(|| "mheap".into(), "the table has no mheap record");
            return HeapView::default();
        };
        let f = self.f.heap;
        let sweepgen = r.opt(f.sweepgen).map(|v| v as u32);
        let mut old = Vec::new();
        if let (Some(a), Some(c), Some(g), Some(fr)) = (f.old_allspans, f.old_cap, f.old_gen, f.old_freed) {
            let n = r.opt(f.nold).unwrap_or(a.count as u64).min(a.count as u64) as usize;
            for k in 0..n {
                if let (Some(addr), Some(cap), Some(gen), Some(freed)) =
                    (r.get_at(a, k), r.get_at(c, k), r.get_at(g, k), r.get_at(fr, k))
                {
                    old.push(OldSpans { addr, cap, gen, freed: freed != 0 });
                }
            }
        }
        let mut hv = HeapView {
            arena_start: r.opt(f.arena_start),
            arena_end: r.opt(f.arena_end),
            arena_used: r.opt(f.arena_used),
            pagesize: r.opt(f.pagesize),
            allspans: r.opt(f.allspans),
            nspan: r.opt(f.nspan),
            nspancap: r.opt(f.nspancap),
            allspans_gen: r.opt(f.allspans_gen),
            gcspans: r.opt(f.gcspans),
            sweepgen,
            sweepdone: r.opt(f.sweepdone).map(|v| v != 0),
            nfree: r.opt(f.nfree),
            nstackpool: r.opt(f.nstackpool),
            stacks_inuse: r.opt(f.stacks_inuse),
            mappings: r.opt(f.mappings),
            max_map_count: r.opt(f.max_map_count),
            old_allspans: old,
            spans: Vec::new(),
        };
        hv.spans = self.spans(&hv);
        hv
    }

    fn spans(&mut self, h: &HeapView) -> Vec<SpanView> {
        with_sets!(self, set => self.spans_with(set, h))
    }

    #[inline(always)]
    fn spans_with<S: Sets>(&mut self, set: S, h: &HeapView) -> Vec<SpanView> {
        let (Some(addr), Some(mut n)) = (h.allspans, h.nspan) else {
            return Vec::new();
        };
        if addr == 0 || n == 0 {
            return Vec::new();
        }
        if let Some(cap) = h.nspancap {
            if n > cap {
                self.disagree(|| "mheap.allspans".into(), format!("nspan {n} exceeds nspancap {cap}"));
                n = cap;
            }
        }
        let arena_len = self.seclen(SectionKind::Arena);
        if n > arena_len / 8 {
            self.corrupt(|| "mheap.allspans".into(), format!("nspan {n} does not fit the {arena_len}-byte arena"));
            n = arena_len / 8;
        }
        let img = self.img;
        let Some(bytes) = img.bytes_at(SectionKind::Arena, addr, (n * 8) as usize) else {
            self.corrupt(
                || "mheap.allspans".into(),
                format!("the allspans array at {addr:#x} ({n} entries) is not inside the table's arena"),
            );
            return Vec::new();
        };
        let sf = set.span();
        let mut out = std::mem::take(&mut self.bufs.spans);
        out.reserve(n as usize);
        for (pos, ch) in bytes.chunks_exact(8).enumerate() {
            let pos = pos as u64;
            let p = u64::from_ne_bytes(ch.try_into().unwrap_or([0; 8]));
            let record = self.link(SectionKind::Span, Some(p), || format!("allspans[{pos}]"));
            let r = record.index().and_then(|i| self.rec(SectionKind::Span, i));
            let get = |f: Option<Fx>| r.and_then(|r| r.opt(f));
            let state = get(sf.state);
            if r.is_some() {
                self.check_enum(self.n.spanstate.len(), state, || format!("span {pos}.state"));
            }
            let sg = get(sf.sweepgen).map(|v| v as u32);
            let owner = self.link(SectionKind::G, get(sf.owner), || format!("span {pos}.owner"));
            out.push(SpanView {
                pos,
                record,
                base: get(sf.base).unwrap_or(0),
                npages: get(sf.npages).unwrap_or(0),
                state: state.map(|v| v as u32),
                sweepgen: sg,
                owner,
                guard: get(sf.guard).unwrap_or(0),
            });
        }
        trim(out, self.bufs.reused)
    }
}

/// A goroutine's stack as a freezer needs it (see [`stack_ranges`]).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackRange {
    /// G record index.
    pub index: u64,
    pub goid: Option<u64>,
    /// Saved context sp (parked goroutines) and system call sp.
    pub sp: Option<u64>,
    pub syscallsp: Option<u64>,
    pub lo: Option<u64>,
    pub hi: Option<u64>,
}

/// Every non-dead goroutine's stack pointers and bounds, read straight from
/// the G records without decoding a snapshot: what a dump copies while the
/// target is frozen (a few ms for 100k goroutines, against tens for a full
/// decode, so the pause stays short). Values are as untrusted as the table:
/// check them against the process's mappings before reading memory.
pub fn stack_ranges(img: &Image) -> Vec<StackRange> {
    let gf = GF::resolve(&img.layout);
    let Some(seg) = img.segment(SectionKind::G) else {
        return Vec::new();
    };
    let stride = seg.info.stride.max(1) as usize;
    let mut out = Vec::new();
    for (i, rec) in seg.bytes.chunks_exact(stride).enumerate() {
        let r = R(rec);
        let status = r.opt(gf.atomicstatus).map(|v| v as u32 & !grt_table::G_SCAN);
        if matches!(status, Some(grt_table::G_DEAD) | Some(grt_table::G_IDLE)) {
            continue;
        }
        out.push(StackRange {
            index: i as u64,
            goid: r.opt(gf.goid),
            sp: r.opt(gf.sp).filter(|&v| v != 0),
            syscallsp: r.opt(gf.syscallsp).filter(|&v| v != 0),
            lo: r.opt(gf.stack_lo),
            hi: r.opt(gf.stack_hi),
        });
    }
    out
}

/// The short name of a section ("g", "sudog", "arena").
pub fn section_name(k: SectionKind) -> &'static str {
    match k {
        SectionKind::Desc => "desc",
        SectionKind::Strings => "strings",
        SectionKind::Arena => "arena",
        other => other.record_name().unwrap_or("?"),
    }
}

// --- raw tables ------------------------------------------------------------

/// The raw bytes of a captured table: the header and the used part of every
/// section, enough to rebuild the same [`Image`] later (by newer code, or
/// with the process gone).
///
/// File format (`.grtraw`), little-endian framing, table bytes verbatim:
/// `b"GRTRAW\0\x01"`, `size: u64` (the table size), `captured_mono_ns: u64`,
/// `captured_unix_ns: u64`, `nchunks: u32`, `0u32`, then per chunk
/// `offset: u64`, `len: u64` and `len` bytes. Chunk 0 is the header; bytes
/// no chunk covers read as zero. The header's section lengths are rewritten
/// to what was copied, so a reload never reads past the captured records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawTable {
    pub size: u64,
    pub captured_mono_ns: u64,
    pub captured_unix_ns: u64,
    /// (table offset, bytes), sorted by offset; where chunks overlap (a
    /// hostile header's sections may), the later one wins.
    pub chunks: Vec<(u64, Vec<u8>)>,
}

const RAW_MAGIC: [u8; 8] = *b"GRTRAW\0\x01";
const RAW_MAX_CHUNKS: u32 = 64;

impl RawTable {
    /// The raw form of an image (its header rebuilt from the decoded one).
    pub fn from_image(img: &Image) -> RawTable {
        let h = &img.header;
        let mut hb = vec![0u8; size_of::<Header>()];
        let put32 = |b: &mut [u8], off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        let put64 = |b: &mut [u8], off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        hb[..8].copy_from_slice(&grt_table::MAGIC);
        put32(&mut hb, offset_of!(Header, abi_version), h.abi_version);
        put32(&mut hb, offset_of!(Header, header_size), size_of::<Header>() as u32);
        put64(&mut hb, offset_of!(Header, layout_hash), h.layout_hash);
        put32(&mut hb, offset_of!(Header, pid), h.pid);
        put64(&mut hb, offset_of!(Header, base), h.base);
        put64(&mut hb, offset_of!(Header, size), h.size);
        put64(&mut hb, offset_of!(Header, start_unix_ns), h.start_unix_ns);
        put64(&mut hb, offset_of!(Header, start_mono_ns), h.start_mono_ns);
        put64(&mut hb, offset_of!(Header, bugs), h.bugs);
        put64(&mut hb, offset_of!(Header, flags), h.flags);
        put64(&mut hb, offset_of!(Header, stack_size), h.stack_size);
        put32(&mut hb, offset_of!(Header, ready), h.ready as u32);
        put32(&mut hb, offset_of!(Header, exiting), h.exiting as u32);
        put32(&mut hb, offset_of!(Header, exit_code), h.exit_code);
        put64(&mut hb, offset_of!(Header, heartbeat), h.heartbeat);
        let mut chunks = vec![(0u64, Vec::new())];
        let nsec = img.segments.len().min(MAX_SECTIONS);
        for (i, s) in img.segments.iter().take(nsec).enumerate() {
            let so = offset_of!(Header, sections) + i * size_of::<Section>();
            put32(&mut hb, so + offset_of!(Section, kind), s.info.kind as u32);
            put32(&mut hb, so + offset_of!(Section, stride), s.info.stride as u32);
            put64(&mut hb, so + offset_of!(Section, offset), s.info.offset);
            put64(&mut hb, so + offset_of!(Section, capacity), s.info.capacity);
            put64(&mut hb, so + offset_of!(Section, len), s.info.len);
            if !s.bytes.is_empty() {
                chunks.push((s.info.offset, s.bytes.clone()));
            }
        }
        put32(&mut hb, offset_of!(Header, nsections), nsec as u32);
        chunks[0].1 = hb;
        chunks.sort_by_key(|c| c.0);
        RawTable { size: h.size, captured_mono_ns: mono_now(), captured_unix_ns: wall_now(), chunks }
    }

    /// Reads `len` bytes at table offset `off` (zeros where no chunk is).
    pub fn read(&self, off: u64, len: usize) -> Result<Vec<u8>, String> {
        let end = off
            .checked_add(len as u64)
            .filter(|&e| e <= self.size)
            .ok_or_else(|| format!("read of {len} bytes at {off:#x} is past the table's {} bytes", self.size))?;
        let mut out = vec![0u8; len];
        for (co, cb) in &self.chunks {
            let ce = co.saturating_add(cb.len() as u64);
            let (s, e) = (off.max(*co), end.min(ce));
            if s < e {
                let (d, c) = ((s - off) as usize, (s - co) as usize);
                let n = (e - s) as usize;
                out[d..d + n].copy_from_slice(&cb[c..c + n]);
            }
        }
        Ok(out)
    }

    /// Rebuilds the image.
    pub fn image(&self) -> Result<Image, ViewError> {
        Image::load(|o, l| self.read(o, l), self.size, u64::MAX)
    }

    /// Decodes the table as a saved capture (wait times relative to the capture).
    pub fn snapshot(&self, include_dead: bool) -> Result<Snapshot, ViewError> {
        let img = self.image()?;
        let opts = DecodeOptions { include_dead, capture: Capture::Saved, now_mono_ns: Some(self.captured_mono_ns) };
        Ok(Snapshot::decode(&img, &opts))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let total: usize = self.chunks.iter().map(|c| 16 + c.1.len()).sum();
        let mut out = Vec::with_capacity(40 + total);
        out.extend_from_slice(&RAW_MAGIC);
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.captured_mono_ns.to_le_bytes());
        out.extend_from_slice(&self.captured_unix_ns.to_le_bytes());
        out.extend_from_slice(&(self.chunks.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for (o, b) in &self.chunks {
            out.extend_from_slice(&o.to_le_bytes());
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        }
        out
    }

    /// Parses the file format; `Err` says what is wrong.
    pub fn from_bytes(b: &[u8]) -> Result<RawTable, String> {
        let u64at = |o: usize| -> Result<u64, String> {
            b.get(o..o + 8)
                .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
                .ok_or_else(|| "file ends early".to_string())
        };
        if b.get(..8) != Some(&RAW_MAGIC[..]) {
            return Err("bad magic".into());
        }
        let size = u64at(8)?;
        let mono = u64at(16)?;
        let unix = u64at(24)?;
        let n = b.get(32..36).map(|s| u32::from_le_bytes(s.try_into().unwrap_or([0; 4]))).ok_or("file ends early")?;
        if n > RAW_MAX_CHUNKS {
            return Err(format!("{n} chunks (at most {RAW_MAX_CHUNKS})"));
        }
        let mut at = 40usize;
        let mut chunks = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let off = u64at(at)?;
            let len = u64at(at + 8)?;
            at += 16;
            let end = off.checked_add(len).filter(|&e| e <= size).ok_or("a chunk lies outside the table")?;
            let _ = end;
            let l = usize::try_from(len).map_err(|_| "chunk too large")?;
            let bytes = b.get(at..at.checked_add(l).ok_or("chunk too large")?).ok_or("file ends early")?;
            chunks.push((off, bytes.to_vec()));
            at += l;
        }
        Ok(RawTable { size, captured_mono_ns: mono, captured_unix_ns: unix, chunks })
    }

    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), FileError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_bytes()).map_err(|e| FileError::io(path, "write", e))
    }

    pub fn load(path: impl AsRef<Path>) -> Result<RawTable, FileError> {
        let path = path.as_ref();
        let b = std::fs::read(path).map_err(|e| FileError::io(path, "read", e))?;
        RawTable::from_bytes(&b).map_err(|why| FileError::NotARawTable { path: path.display().to_string(), why })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two-thread decode gives exactly what the one-thread decode gives
    /// (damage, its order and the MAX_DAMAGE cap included) on a clean table
    /// and on damaged ones: random words, pointers moved into and beside
    /// records, and whole sections wiped on either thread's side (on a
    /// larger table, so that each side alone can pass the cap).
    #[test]
    fn two_threads_decode_as_one() {
        let tables = [crate::synth::parked_scenario(400).finish(), crate::synth::parked_scenario(3000).finish()];
        let layout = |b: &[u8]| {
            let img = crate::synth::image(b).expect("the synthetic table loads");
            let secs: Vec<(usize, usize)> = img
                .segments
                .iter()
                .filter(|s| s.info.stride > 1)
                .map(|s| (s.info.offset as usize, s.bytes.len()))
                .collect();
            (img.header.base, secs)
        };
        let layouts = [layout(&tables[0]), layout(&tables[1])];
        let mut x: u64 = 0x2545F4914F6CDD1D;
        let mut rnd = |n: usize| -> usize {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n.max(1) as u64) as usize
        };
        let (mut capped, mut damaged) = (0, 0);
        for case in 0..160 {
            let wipe = case % 8 == 7;
            let mut b = tables[wipe as usize].clone();
            let (tbase, secs) = &layouts[wipe as usize];
            if wipe {
                // Wipe some sections whole: thousands of bad pointers.
                for (k, &(off, len)) in secs.iter().enumerate() {
                    if (case / 8 + k) % 3 == 0 {
                        for w in (off..off + len - 7).step_by(8) {
                            let v = if w % 16 == 0 { 7 } else { tbase + (w as u64 % 4096) };
                            b[w..w + 8].copy_from_slice(&v.to_ne_bytes());
                        }
                    }
                }
            } else if case > 0 {
                for _ in 0..1 + rnd(12) {
                    let (off, len) = secs[rnd(secs.len())];
                    let w = off + rnd(len - 7) / 8 * 8;
                    let v = match rnd(4) {
                        0 => (rnd(1 << 30) as u64) << 20 | rnd(1 << 20) as u64,
                        1 => 0,
                        2 => tbase + secs[rnd(secs.len())].0 as u64 + rnd(4096) as u64,
                        _ => rnd(8) as u64,
                    };
                    b[w..w + 8].copy_from_slice(&v.to_ne_bytes());
                }
            }
            let Ok(img) = crate::synth::image(&b) else { continue };
            for capture in [Capture::Live, Capture::Frozen { pause_us: 1 }] {
                for include_dead in [false, true] {
                    let opts = DecodeOptions { capture, include_dead, now_mono_ns: Some(1 << 40) };
                    let mut one = Snapshot::decode_with(&img, &opts, false);
                    let mut two = Snapshot::decode_with(&img, &opts, true);
                    assert_eq!(two.taken.phases_us.len(), one.taken.phases_us.len());
                    one.taken = Taken::default();
                    two.taken = Taken::default();
                    assert!(one == two, "case {case}: the two-thread decode differs");
                    damaged += !one.damage.is_empty() as u32;
                    capped += (one.damage_dropped > 0) as u32;
                }
            }
        }
        assert!(damaged > 100 && capped > 0, "the cases must exercise damage ({damaged}) and its cap ({capped})");
    }

    /// A decode over a finished snapshot's memory gives what a fresh one
    /// gives, whatever the old snapshot held (a bigger table, a smaller
    /// one, a damaged one, dead goroutines or not).
    #[test]
    fn reusing_decodes_as_fresh() {
        let tables = [
            crate::synth::parked_scenario(3000).finish(),
            crate::synth::parked_scenario(40).finish(),
            {
                // Dead goroutines between live ones.
                let mut s = crate::synth::parked_scenario(300);
                for g in (5..300).step_by(7) {
                    s.set::<grt_table::records::G>(SectionKind::G, g, "atomicstatus", grt_table::G_DEAD as u64);
                }
                s.finish()
            },
            crate::synth::parked_scenario(25_000).finish(),
        ];
        let mut damaged = tables[1].clone();
        for w in (damaged.len() / 2..damaged.len() - 8).step_by(97) {
            damaged[w] ^= 0x5a;
        }
        let mut old = Snapshot::default();
        let mut reused_room = false;
        for round in 0..3 {
            for (k, b) in tables.iter().chain([&damaged]).enumerate() {
                let Ok(img) = crate::synth::image(b) else { continue };
                let opts = DecodeOptions {
                    capture: Capture::Frozen { pause_us: 1 },
                    include_dead: (round + k) % 2 == 0,
                    now_mono_ns: Some(1 << 40),
                };
                let room = old.gs.capacity();
                let mut fresh = Snapshot::decode(&img, &opts);
                let mut again = Snapshot::decode_reusing(&img, &opts, old);
                reused_room |= room >= again.gs.len() && again.gs.capacity() == room && room > 0;
                fresh.taken = Taken::default();
                let keep = again.taken.clone();
                again.taken = Taken::default();
                assert!(fresh == again, "round {round} table {k}: the reusing decode differs");
                again.taken = keep;
                old = again;
            }
        }
        assert!(reused_room, "some decode must have written into the old snapshot's memory");
    }

    /// The compiled-in field sets are what the descriptors of a table
    /// written by this runtime resolve to (so such tables take the fast
    /// path), and a set that differs does not pass for them.
    #[test]
    fn compiled_g_fields_match_the_table() {
        let bytes = crate::synth::parked_scenario(10).finish();
        let img = crate::synth::image(&bytes).unwrap();
        let l = &img.layout;
        assert_eq!(GF::resolve(l), GF::COMPILED);
        assert_eq!(SudogF::resolve(l), SudogF::COMPILED);
        assert_eq!(HchanF::resolve(l), HchanF::COMPILED);
        assert_eq!(SpanF::resolve(l), SpanF::COMPILED);
        // Every field of those sets exists here, nested ones too.
        assert!(GF::COMPILED.goid.is_some() && GF::COMPILED.sp.is_some() && GF::COMPILED.scanm.is_some());
        assert!(HchanF::COMPILED.lock_key.is_some() && HchanF::COMPILED.lock_owner.is_some());
        assert!(Cx::new(&img, &DecodeOptions::default(), 1, Bufs::default()).compiled);
        let mut other = GF::COMPILED;
        other.goid = None;
        assert_ne!(other, GF::COMPILED);
    }

    #[test]
    fn fast_division_matches_div() {
        let mut x: u64 = 0x9E3779B97F4A7C15;
        for d in [2u64, 3, 7, 24, 40, 72, 96, 184, 264, 2888, 4095, 65537, u32::MAX as u64 - 1, u32::MAX as u64] {
            let s = Sec { stride: d, magic: div_magic(d), ..Default::default() };
            for n in [0u64, 1, d - 1, d, d + 1, u32::MAX as u64, u32::MAX as u64 + 1, u64::MAX] {
                assert_eq!(s.divmod(n), (n / d, n % d), "{n} / {d}");
            }
            for _ in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let n = x >> (x % 40);
                assert_eq!(s.divmod(n), (n / d, n % d), "{n} / {d}");
            }
        }
    }
}
