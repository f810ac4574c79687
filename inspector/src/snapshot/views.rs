//! The views: what a snapshot holds of each record kind (header, sched,
//! Ps, Ms, Gs, sudogs, channels, locks, the heap), and the small plain
//! types they are made of ([`Link`], [`Context`], [`ListRef`]).
//!
//! The views of the big sections (`GView`, `SudogView`, `ChanView`,
//! `SpanView`) are plain data: numbers, links and list references into the
//! snapshot's own tables, no allocation per record (checked at compile
//! time in `access.rs`).

#[cfg(doc)]
use super::Snapshot;
use super::Text;
use serde::{Deserialize, Serialize};

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
pub(super) fn push_list<T: Copy>(arena: &mut Vec<T>, items: &[T]) -> ListRef {
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
    /// While it runs: nanotime at which it last passed a safe point (the
    /// table's `g.safepoint_when`; 0 otherwise or unknown):
    /// [`Snapshot::no_safe_point_ns`].
    #[serde(default)]
    pub safepoint_when_ns: i64,
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
