//! Status values, wait reasons, roles and bug switch names, as in Go.
//!
//! Values that Go defines (G and P statuses, the Gscan bit) keep Go's
//! numbers. Wait reasons keep Go's strings; their numbers are grt's own and
//! travel with the table (the descriptor blob carries the string list), so a
//! reader never depends on them being stable.

/// G status: just allocated, not yet initialized.
pub const G_IDLE: u32 = 0;
/// G status: on a run queue; not executing user code; the stack is not owned.
pub const G_RUNNABLE: u32 = 1;
/// G status: may execute user code; the stack is owned by this G; it has an M and a P.
pub const G_RUNNING: u32 = 2;
/// G status: executing a system call; it owns its stack and has an M but no P.
pub const G_SYSCALL: u32 = 3;
/// G status: blocked in the runtime (channel, sleep, netpoll, ...); not on a
/// run queue; recorded somewhere (a channel wait queue, a timer, a pollDesc)
/// so that it can be readied.
pub const G_WAITING: u32 = 4;
/// G status: unused (kept for Go's numbering).
pub const G_MORIBUND_UNUSED: u32 = 5;
/// G status: unused or exited; may be on a free list; no stack owned.
pub const G_DEAD: u32 = 6;
/// G status: unused (kept for Go's numbering).
pub const G_ENQUEUE_UNUSED: u32 = 7;
/// G status: its stack is being moved or shrunk; not executing user code.
pub const G_COPYSTACK: u32 = 8;
/// G status: stopped itself for a preemption request.
pub const G_PREEMPTED: u32 = 9;
/// The Gscan bit: combined with Grunnable, Grunning, Gsyscall or Gwaiting it
/// means the GC is scanning the stack and owns it.
pub const G_SCAN: u32 = 0x1000;

/// Go's names for G statuses, indexed by status value (without Gscan).
pub const G_STATUS_NAMES: [&str; 10] =
    ["idle", "runnable", "running", "syscall", "waiting", "moribund", "dead", "enqueue", "copystack", "preempted"];

/// P status: not running user code or the scheduler; owned by the idle list or by whoever is changing its state.
pub const P_IDLE: u32 = 0;
/// P status: owned by an M running user code or the scheduler.
pub const P_RUNNING: u32 = 1;
/// P status: not running user code; its M is in a system call; may be stolen.
pub const P_SYSCALL: u32 = 2;
/// P status: halted for stop-the-world; owned by the M that stopped the world.
pub const P_GCSTOP: u32 = 3;
/// P status: no longer used (GOMAXPROCS shrank).
pub const P_DEAD: u32 = 4;

/// Go's names for P statuses.
pub const P_STATUS_NAMES: [&str; 5] = ["idle", "running", "syscall", "gcstop", "dead"];

/// Wait reasons, in grt's numbering, with Go's strings.
pub mod waitreason {
    pub const ZERO: u32 = 0;
    pub const IO_WAIT: u32 = 1;
    pub const CHAN_RECEIVE_NIL_CHAN: u32 = 2;
    pub const CHAN_SEND_NIL_CHAN: u32 = 3;
    pub const GARBAGE_COLLECTION: u32 = 4;
    pub const SELECT: u32 = 5;
    pub const SELECT_NO_CASES: u32 = 6;
    pub const CHAN_RECEIVE: u32 = 7;
    pub const CHAN_SEND: u32 = 8;
    pub const SEMACQUIRE: u32 = 9;
    pub const SLEEP: u32 = 10;
    pub const SYNC_MUTEX_LOCK: u32 = 11;
    pub const SYNC_WAIT_GROUP_WAIT: u32 = 12;
    pub const PREEMPTED: u32 = 13;
    pub const GC_MARK_TERMINATION: u32 = 14;
    pub const STOPPING_THE_WORLD: u32 = 15;
    pub const FLUSH_PROC_CACHES: u32 = 16;
    pub const GC_SWEEP_WAIT: u32 = 17;
    pub const FORCE_GC_IDLE: u32 = 18;
    pub const SYNC_COND_WAIT: u32 = 19;
    pub const GC_WORKER_IDLE: u32 = 20;

    /// Go's strings, indexed by the values above. Never reuse an index.
    pub const NAMES: [&str; 21] = [
        "",
        "IO wait",
        "chan receive (nil chan)",
        "chan send (nil chan)",
        "garbage collection",
        "select",
        "select (no cases)",
        "chan receive",
        "chan send",
        "semacquire",
        "sleep",
        "sync.Mutex.Lock",
        "sync.WaitGroup.Wait",
        "preempted",
        "GC mark termination",
        "stopping the world",
        "flushing proc caches",
        "GC sweep wait",
        "force gc (idle)",
        "sync.Cond.Wait",
        "GC worker (idle)",
    ];
}

/// What an M is for.
pub mod mrole {
    /// M0: the process's main thread.
    pub const MAIN: u32 = 0;
    /// An ordinary scheduler thread.
    pub const WORKER: u32 = 1;
    /// The system monitor: no P, retakes Ps and polls the network.
    pub const SYSMON: u32 = 2;
    pub const NAMES: [&str; 3] = ["main", "worker", "sysmon"];
}

/// What an M is doing now (kept up to date at every transition).
pub mod mstate {
    /// Running a goroutine (curg) on its P.
    pub const RUNNING: u32 = 0;
    /// In the scheduler on g0 looking for work.
    pub const SCHEDULING: u32 = 1;
    /// Spinning: holding a P and looking for work to steal.
    pub const SPINNING: u32 = 2;
    /// Parked on its note (on the idle M list, or stopped for GC).
    pub const IDLE: u32 = 3;
    /// Blocked in epoll_wait without a P.
    pub const NETPOLL: u32 = 4;
    /// Its goroutine is in a system call.
    pub const SYSCALL: u32 = 5;
    /// Waiting for a runtime lock (see waitlock).
    pub const LOCKWAIT: u32 = 6;
    /// Sysmon sleeping between rounds.
    pub const SYSMON_SLEEP: u32 = 7;
    /// Not started yet, or exited.
    pub const DEAD: u32 = 8;
    pub const NAMES: [&str; 9] =
        ["running", "scheduling", "spinning", "idle", "netpoll", "syscall", "lockwait", "sysmon-sleep", "dead"];
}

/// Span states (mspan.state).
pub mod spanstate {
    pub const DEAD: u32 = 0;
    /// Allocated for the object heap.
    pub const IN_USE: u32 = 1;
    /// Allocated manually: a goroutine stack.
    pub const MANUAL: u32 = 2;
    /// Free in the page heap.
    pub const FREE: u32 = 3;
    pub const NAMES: [&str; 4] = ["dead", "inuse", "manual", "free"];
}

/// GC phases of the collector skeleton.
pub mod gcphase {
    pub const OFF: u32 = 0;
    pub const SWEEP_TERMINATION: u32 = 1;
    pub const MARK: u32 = 2;
    pub const MARK_TERMINATION: u32 = 3;
    pub const NAMES: [&str; 4] = ["off", "sweep termination", "mark", "mark termination"];
}

/// The documented races' bug switches, as bit numbers in the header's `bugs`
/// mask. `GRT_BUGS=name,...` sets them.
pub mod bugs {
    /// forEachP shares stopwait/stopnote with stopTheWorld (seed 002, Go issue 10618).
    pub const FOREACHP_STOPWAIT: u32 = 0;
    pub const NAMES: [&str; 1] = ["foreachp-stopwait"];
}
