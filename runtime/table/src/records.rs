//! The runtime's records, as they live in the table.
//!
//! These are the runtime's own structures, not copies: `grt` allocates them
//! inside the shared mapping and schedules with them. Field names follow
//! Go's (`atomicstatus`, `runnext`, `stopwait`, ...) so that a reader who
//! knows Go's runtime knows these. Every field is an atomic: the runtime
//! shares records between threads, and most fields are touched by one owner
//! with `Relaxed` loads and stores, which cost nothing more than plain moves.
//!
//! Ownership of each field (who may write it, under which lock) is stated
//! where the runtime uses it; the comments here say what a field means.

use crate::desc::Addr;
use core::sync::atomic::{AtomicI32, AtomicI64, AtomicPtr, AtomicU32, AtomicU64};

/// Length of a P's local run queue ring.
pub const RUNQ_LEN: usize = 256;
/// Sudogs a P caches locally.
pub const P_SUDOG_CACHE: usize = 64;
/// Stack spans a P caches locally.
pub const P_STACK_CACHE: usize = 16;
/// Locks an M may hold at once (checked in debug builds).
pub const M_HELD_LOCKS: usize = 8;
/// Superseded allspans arrays the heap remembers for display.
pub const OLD_ALLSPANS: usize = 8;

crate::records! {
    /// A runtime lock (Go's `mutex`, futex-based). `key` is 0 when free, 1
    /// when held, 2 when held with sleepers. `owner` is the holding M.
    pub struct Lock as "lock" {
        pub key: AtomicU32,
        /// The lock's rank (see the runtime's lockrank module).
        pub rank: AtomicU32,
        pub owner: AtomicPtr<M>,
    }

    /// A saved execution context (Go's `gobuf`). For a parked goroutine it
    /// is exact: the inspector unwinds from it.
    pub struct Gobuf as "gobuf" {
        pub sp: Addr,
        pub pc: Addr,
        pub bp: Addr,
    }

    /// The scheduler (Go's `schedt`).
    pub struct Sched as "sched" {
        /// Protects the idle M and P lists, the global run queue, stopwait,
        /// safePointWait and the free G list's bookkeeping.
        pub lock: Lock,
        pub goidgen: AtomicU64,
        /// nanotime of the last network poll; 0 while some M is blocked in it.
        pub lastpoll: AtomicI64,
        /// When the M blocked in netpoll will wake (0 = never/none).
        pub poll_until: AtomicI64,

        pub midle: AtomicPtr<M>,
        pub nmidle: AtomicI32,
        pub nmidlelocked: AtomicI32,
        /// Number of Ms created (the next M's id).
        pub mnext: AtomicI64,
        pub maxmcount: AtomicI32,
        /// System Ms (sysmon) not counted for deadlock detection.
        pub nmsys: AtomicI32,

        pub pidle: AtomicPtr<P>,
        pub npidle: AtomicI32,
        pub nmspinning: AtomicI32,
        pub needspinning: AtomicU32,

        /// The global run queue, linked through G.schedlink.
        pub runqhead: AtomicPtr<G>,
        pub runqtail: AtomicPtr<G>,
        pub runqsize: AtomicI32,

        /// Global free list of dead Gs (linked through schedlink).
        pub gfree_lock: Lock,
        pub gfree: AtomicPtr<G>,
        pub ngfree: AtomicI32,

        /// Central sudog cache (linked through next).
        pub sudog_lock: Lock,
        pub sudogcache: AtomicPtr<Sudog>,

        /// Set while the world is being (or is) stopped.
        pub gcwaiting: AtomicU32,
        /// Ps still to stop for stopTheWorld.
        pub stopwait: AtomicI32,
        pub stopnote: AtomicU32,
        /// What the world is stopped for (a waitreason-like string index into STW_REASONS).
        pub stw_reason: AtomicU32,
        /// Incremented when a stop-the-world sets gcwaiting and again when
        /// startTheWorld clears it: the world epoch a thread saw (probes pass
        /// it, so tools can tell events of one stop or one restart apart).
        pub stw_seq: AtomicU64,
        pub sysmonwait: AtomicU32,
        pub sysmonnote: AtomicU32,

        /// The forEachP function (code address), and Ps still to run it.
        pub safe_point_fn: Addr,
        pub safe_point_wait: AtomicI32,
        pub safe_point_note: AtomicU32,

        pub gomaxprocs: AtomicI32,
        pub ncpu: AtomicI32,
        /// Held (1) by the goroutine that is stopping the world.
        pub worldsema: AtomicU32,
        pub worldsema_owner: AtomicPtr<G>,

        /// Collector phase (gcphase::*) and completed cycles.
        pub gcphase: AtomicU32,
        pub numgc: AtomicU64,

        /// Goroutines that are not dead (user goroutines, including main).
        pub ngoroutines: AtomicI64,

        /// Timers: a global heap; `timer0when` is its earliest deadline (0 = none).
        pub timers_lock: Lock,
        pub ntimers: AtomicU32,
        pub timer0when: AtomicI64,

        /// Free hchan records (linked through freelink).
        pub hchan_lock: Lock,
        pub hchanfree: AtomicPtr<Hchan>,
        pub nchans: AtomicI64,

        /// Interning of sites and type names.
        pub sites_lock: Lock,

        /// Netpoller: epoll fd and the number of goroutines parked in it.
        pub netpoll_epfd: AtomicI32,
        pub netpoll_waiters: AtomicI32,

        /// Set once a fatal error started printing.
        pub throwing: AtomicU32,
        /// Goroutine and M records in use (allg, allm lengths) mirror the
        /// section lengths; these count live ones.
        pub nthreads: AtomicI32,
    }

    /// A processor (Go's `p`): what an M needs to run goroutines.
    pub struct P as "p" {
        pub id: AtomicI32,
        pub status: AtomicU32,
        /// Next P on the idle list.
        pub link: AtomicPtr<P>,
        /// Incremented on every scheduler call.
        pub schedtick: AtomicU32,
        /// Incremented on every system call.
        pub syscalltick: AtomicU32,
        /// Sysmon's last observation of the ticks, and when.
        pub sysmon_schedtick: AtomicU32,
        pub sysmon_syscalltick: AtomicU32,
        pub sysmon_schedwhen: AtomicI64,
        pub sysmon_syscallwhen: AtomicI64,
        /// The M this P is attached to (nil if idle).
        pub m: AtomicPtr<M>,

        /// The local run queue: a ring of RUNQ_LEN Gs, head and tail indices.
        pub runqhead: AtomicU32,
        pub runqtail: AtomicU32,
        pub runq: [AtomicPtr<G>; RUNQ_LEN],
        /// A G readied by the running G, to run next, inheriting its time slice.
        pub runnext: AtomicPtr<G>,

        /// Local free list of dead Gs.
        pub gfree: AtomicPtr<G>,
        pub ngfree: AtomicI32,

        pub sudogcache: [AtomicPtr<Sudog>; P_SUDOG_CACHE],
        pub nsudog: AtomicU32,

        pub stackcache: [AtomicPtr<MSpan>; P_STACK_CACHE],
        pub nstack: AtomicU32,

        /// Batch of goroutine ids reserved from sched.goidgen.
        pub goidcache: AtomicU64,
        pub goidcacheend: AtomicU64,

        /// 1 when this P must run sched.safe_point_fn at its next safe point.
        pub run_safe_point_fn: AtomicU32,
        /// Safe-point functions run on behalf of this P (ever).
        pub safe_point_runs: AtomicU64,
        pub gcstoptime: AtomicI64,
    }

    /// An OS thread (Go's `m`).
    pub struct M as "m" {
        pub id: AtomicI64,
        /// The OS thread id (gettid).
        pub procid: AtomicU64,
        pub role: AtomicU32,
        pub state: AtomicU32,
        /// The scheduler context (g0): where mcall switches to.
        pub g0: Gobuf,
        pub g0_stack_lo: Addr,
        pub g0_stack_hi: Addr,
        /// The goroutine running on this M (nil on g0).
        pub curg: AtomicPtr<G>,
        pub p: AtomicPtr<P>,
        /// The P to acquire when woken.
        pub nextp: AtomicPtr<P>,
        /// The P this M had before entering a system call.
        pub oldp: AtomicPtr<P>,
        pub spinning: AtomicU32,
        /// Parked on its note.
        pub blocked: AtomicU32,
        /// The note it parks on.
        pub park: AtomicU32,
        /// Next M on the idle list.
        pub schedlink: AtomicPtr<M>,
        /// Runtime locks held (count).
        pub locks: AtomicI32,
        /// Locks held, innermost last (debug builds).
        pub held: [AtomicPtr<Lock>; M_HELD_LOCKS],
        pub nheld: AtomicU32,
        /// The lock this M is waiting for (nil if none).
        pub waitlock: AtomicPtr<Lock>,
        /// The G whose status this M is spinning on in casgstatus (nil if none),
        /// and the status it waits for.
        pub waitcasg: AtomicPtr<G>,
        pub waitcasg_status: AtomicU32,
        /// nanotime when the lock or casgstatus wait began.
        pub waitsince: AtomicI64,
        pub preemptoff: AtomicU32,
        pub throwing: AtomicU32,
        pub dying: AtomicU32,
        pub lockedg: AtomicPtr<G>,
        /// The G the M ran last (for dumps of the scheduler context).
        pub lastg: AtomicPtr<G>,
    }

    /// A goroutine (Go's `g`).
    pub struct G as "g" {
        pub goid: AtomicU64,
        /// G status (consts G_*), with the Gscan bit. Changed only by casgstatus.
        pub atomicstatus: AtomicU32,
        /// Why it waits (waitreason::*), valid in G_WAITING.
        pub waitreason: AtomicU32,
        /// Stack bounds [lo, hi); 0 before the first run.
        pub stack_lo: Addr,
        pub stack_hi: Addr,
        pub stack_span: AtomicPtr<MSpan>,
        /// Deepest stack pointer seen at a park (how much stack it has touched).
        pub stack_lowest_sp: Addr,
        /// Saved context while not running.
        pub sched: Gobuf,
        /// Context at system call entry (for tracebacks while in Gsyscall).
        pub syscallsp: Addr,
        pub syscallpc: Addr,
        pub syscallbp: Addr,
        /// The M running it (nil unless running or in a syscall).
        pub m: AtomicPtr<M>,
        /// Run queue and free list link.
        pub schedlink: AtomicPtr<G>,
        /// Sudogs this G waits on, linked through waitlink, in lock order.
        pub waiting: AtomicPtr<Sudog>,
        /// Wake-up parameter: the sudog that completed, or 0.
        pub param: AtomicU64,
        /// For select: 0 until a case wins (CAS to 1).
        pub select_done: AtomicU32,
        /// Set while the G is parking on a channel (stack shrinking must not happen).
        pub parking_on_chan: AtomicU32,
        /// A preemption request (set by sysmon, checked at runtime calls).
        pub preempt: AtomicU32,
        /// Coarse nanotime at which the G last passed a safe point: it
        /// started running (execute) or came back from a system call with
        /// a P. Meaningful while Grunning. A safe point check that finds no
        /// request does not write it; sysmon requests one of every G that
        /// ran 10ms, so a G that reaches safe point checks never lags it by
        /// much more, and one far older is running code that never does.
        pub safepoint_when: AtomicI64,
        /// nanotime at which it started waiting (0 when not waiting).
        pub waitsince: AtomicI64,
        /// Code address of the go statement, and its interned file:line site.
        pub gopc: Addr,
        pub site: AtomicU32,
        /// Goroutine that created it.
        pub parentgoid: AtomicU64,
        /// The entry closure (Box<dyn FnOnce()> data and vtable) until it runs.
        pub entry_data: Addr,
        pub entry_vtable: Addr,
        /// Code address of the closure's body (for "created by" and dumps).
        pub startpc: Addr,
        pub lockedm: AtomicPtr<M>,
        /// Number of times this record was reused (dead to alive).
        pub generation: AtomicU32,
        /// The M that holds the Gscan bit (nil while the bit is clear): set
        /// after castogscanstatus wins, cleared before casfrom_Gscanstatus.
        pub scanm: AtomicPtr<M>,
        /// The goroutine's panic state (Go's `_panic`): the address of a
        /// runtime-private record in the bottom frame of its own stack,
        /// touched only by the goroutine itself; 0 when it is not running
        /// its body. An address for the runtime, not a table record.
        pub panicrec: Addr,
    }

    /// A goroutine waiting on a channel or semaphore (Go's `sudog`), or a
    /// thread the runtime does not own (a *thread waiter*: `g` nil, the
    /// thread sleeps on `note`). Fields are protected by the lock of the
    /// channel or semaphore it waits on.
    pub struct Sudog as "sudog" {
        /// The waiting goroutine; nil for a thread waiter.
        pub g: AtomicPtr<G>,
        pub next: AtomicPtr<Sudog>,
        pub prev: AtomicPtr<Sudog>,
        /// The data slot: a location on g's own stack (a thread waiter's:
        /// on that thread's stack).
        pub elem: Addr,
        pub c: AtomicPtr<Hchan>,
        /// Next sudog in g.waiting.
        pub waitlink: AtomicPtr<Sudog>,
        pub is_select: AtomicU32,
        /// True if woken by a value delivered, false if by close.
        pub success: AtomicU32,
        /// nanotime at enqueue.
        pub enqueued: AtomicI64,
        /// For semaphore waiters: the semaphore's address.
        pub sema: Addr,
        /// 1 while in use.
        pub inuse: AtomicU32,
        /// A thread waiter's wake-up note (futex word): 0 while it sleeps,
        /// 1 once woken. Unused for goroutines.
        pub note: AtomicU32,
    }

    /// A channel (Go's `hchan`).
    pub struct Hchan as "hchan" {
        /// Protects every field below and the sudogs on recvq and sendq.
        /// Do not ready a G while holding it.
        pub lock: Lock,
        pub id: AtomicU64,
        /// Elements in the buffer, and its capacity.
        pub qcount: AtomicU64,
        pub dataqsiz: AtomicU64,
        pub buf: Addr,
        pub elemsize: AtomicU32,
        pub elemalign: AtomicU32,
        pub closed: AtomicU32,
        /// 1 while the record is a live channel.
        pub inuse: AtomicU32,
        pub sendx: AtomicU64,
        pub recvx: AtomicU64,
        pub recvq_first: AtomicPtr<Sudog>,
        pub recvq_last: AtomicPtr<Sudog>,
        pub sendq_first: AtomicPtr<Sudog>,
        pub sendq_last: AtomicPtr<Sudog>,
        /// Creation site and element type name (Site indices).
        pub site: AtomicU32,
        pub elemtype: AtomicU32,
        /// Handles alive (Chan clones).
        pub refs: AtomicU64,
        /// Drops one element in place (code address).
        pub elemdrop: Addr,
        pub freelink: AtomicPtr<Hchan>,
    }

    /// A run of pages in the heap (Go's `mspan`).
    pub struct MSpan as "mspan" {
        pub base: Addr,
        pub npages: AtomicU64,
        pub state: AtomicU32,
        /// Relative to mheap.sweepgen: -2 needs sweeping, -1 being swept, 0 swept.
        pub sweepgen: AtomicU32,
        pub next: AtomicPtr<MSpan>,
        /// For stack spans: the goroutine whose stack it is.
        pub owner: AtomicPtr<G>,
        /// Index in allspans.
        pub index: AtomicU32,
        /// Size class (Go's spanclass: class << 1 | noscan). 0 for manual
        /// spans (stacks), the only kind the heap hands out today.
        pub spanclass: AtomicU32,
        /// Bytes of the span that are a guard (stack spans).
        pub guard: AtomicU64,
    }

    /// The page heap (Go's `mheap`).
    pub struct MHeap as "mheap" {
        /// Protects everything below and the span records.
        pub lock: Lock,
        pub arena_start: Addr,
        pub arena_end: Addr,
        /// Bump pointer: pages at and above it were never handed out.
        pub arena_used: Addr,
        pub pagesize: AtomicU64,
        /// The allspans array (in the table's arena), its length and capacity,
        /// and a generation that grows each time the array is reallocated.
        pub allspans: Addr,
        pub nspan: AtomicU64,
        pub nspancap: AtomicU64,
        pub allspans_gen: AtomicU64,
        /// The array the GC holds (Go's gcspans; 0 = none).
        pub gcspans: Addr,
        pub sweepgen: AtomicU32,
        pub sweepdone: AtomicU32,
        /// Free spans (linked through next).
        pub free: AtomicPtr<MSpan>,
        pub nfree: AtomicU64,
        /// Global stack pool (linked through next) and its size.
        pub stackpool: AtomicPtr<MSpan>,
        pub nstackpool: AtomicU64,
        pub stacks_inuse: AtomicU64,
        /// Kernel mappings the stack guards cost (PROT_NONE mode) and the limit.
        pub mappings: AtomicU64,
        pub max_map_count: AtomicU64,
        /// Superseded allspans arrays: address, capacity, generation, and
        /// whether the array was freed (1: its pages went back to the
        /// kernel and read as zeros) or kept (0: the collector held it in
        /// gcspans, or the kernel refused to take the pages).
        pub old_allspans: [Addr; OLD_ALLSPANS],
        pub old_cap: [AtomicU64; OLD_ALLSPANS],
        pub old_gen: [AtomicU64; OLD_ALLSPANS],
        pub old_freed: [AtomicU32; OLD_ALLSPANS],
        pub nold: AtomicU64,
    }

    /// An interned site (file:line of a go statement or channel creation) or
    /// type name. Strings live in the Strings section.
    pub struct Site as "site" {
        /// The runtime's interning key (an address); not for readers.
        pub key: AtomicU64,
        /// 0 = source location, 1 = type name.
        pub kind: AtomicU32,
        pub line: AtomicU32,
        pub col: AtomicU32,
        /// Offset and length of the file name (or type name) in Strings.
        pub name_off: AtomicU32,
        pub name_len: AtomicU32,
        pub _pad: AtomicU32,
    }
}

/// Names for sched.stw_reason.
pub const STW_REASONS: [&str; 5] = ["", "GC sweep termination", "GC mark termination", "GOMAXPROCS", "forEachP"];

/// Every record type, in the order the descriptor blob lists them.
pub fn all_records() -> Vec<crate::desc::RecordInfo> {
    use crate::desc::RecordInfo;
    vec![
        RecordInfo::of::<Lock>(),
        RecordInfo::of::<Gobuf>(),
        RecordInfo::of::<Sched>(),
        RecordInfo::of::<P>(),
        RecordInfo::of::<M>(),
        RecordInfo::of::<G>(),
        RecordInfo::of::<Sudog>(),
        RecordInfo::of::<Hchan>(),
        RecordInfo::of::<MSpan>(),
        RecordInfo::of::<MHeap>(),
        RecordInfo::of::<Site>(),
    ]
}

/// Builds the descriptor blob: every record, and the string lists a reader
/// needs to name values. `lockranks` are the runtime's lock rank names.
pub fn descriptor_blob(lockranks: &[&str]) -> Vec<u8> {
    use crate::consts::*;
    crate::desc::encode_blob(
        &all_records(),
        &[
            ("gstatus", &G_STATUS_NAMES),
            ("pstatus", &P_STATUS_NAMES),
            ("waitreason", &waitreason::NAMES),
            ("mrole", &mrole::NAMES),
            ("mstate", &mstate::NAMES),
            ("spanstate", &spanstate::NAMES),
            ("gcphase", &gcphase::NAMES),
            ("bugs", &bugs::NAMES),
            ("stwreason", &STW_REASONS),
            ("lockrank", lockranks),
        ],
    )
}
