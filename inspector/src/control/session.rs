//! `Session`: one ptrace attachment to a process, used from the thread
//! that attached. See the module docs of `control` for the design.
//!
//! # Thread states
//!
//! A seized thread's ptrace state is one `Run` (what the kernel has it
//! doing, as far as we know); what the session wants of it is one `Want`
//! (run or hold); the two are independent. Gone threads are removed once
//! reaped.
//!
//! ```text
//!              seized by us                 seized by the kernel (clone)
//!                   |                                  |
//!                   v                                  v
//!   +--------> Running <------------+              Starting
//!   |   (CONT)      | stop collected |                 | its first stop
//!   |               v                |                 | (an EVENT_STOP)
//!   |   Held{why, inject} <----------+-----------------+
//!   |      |        |      \___ SINGLESTEP ___> Stepping --(any stop)--> Held
//!   +------+        | LISTEN (group-stop, no signal to inject)
//!                   v
//!               Listening --(any stop: interrupt, SIGCONT)--> Held
//!
//!   Running / Stepping / Listening --EVENT_EXIT, or INTERRUPT says ESRCH--> Exiting --reap--> gone
//! ```
//!
//! A collected stop moves the thread to `Held`; `hold_or_resume` then
//! resumes it at once unless its `Want` is to hold it. `Want` is set by
//! freeze/interrupt, cleared by thaw; new threads take the session's
//! `default_frozen`, set by freeze_all and cleared by thaw_all. Two kinds
//! of stop ignore `Want`: probe hits are held until thawed (or resumed at
//! once for `OnHit::Report`), and exit stops are always resumed.
//!
//! `PTRACE_INTERRUPT` goes only to a `Running`, `Stepping` or `Listening`
//! thread: a held one is stopped already, an exiting one never stops
//! again, and a starting one stops anyway. It is answered by exactly one
//! interrupt stop, but a thread may stop for another reason first (a
//! probe, a signal, a clone); the interrupt then stays pending in the
//! kernel and its stop comes right after the thread is resumed. Such a
//! late stop is an interrupt stop like any other: it holds the thread if
//! it should be held and else resumes it silently.
//!
//! The group-stop a thread is in (`Thread::group_stop`) outlives the
//! states: it is set by a group-stop and cleared by the next interrupt
//! stop that is not one (a listening thread is told so when SIGCONT ends
//! the group-stop), and only names the signal shown for `Held{Group}` and
//! `Listening`.

use super::args::{parse_arg_spec, ArgSpec, Regs};
use super::error::{Comm, Error, ExitStatus, Result};
use super::{patch, sys, waiter};
use grt_symbols::Probe;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::marker::PhantomData;
use std::mem::{offset_of, size_of};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Seize options, one flag per reason:
/// - `TRACECLONE`: new threads are seized as they are created (and start
///   stopped), so freeze-all has no thread it does not know and every new
///   thread gets the session's frozen/running policy before it runs.
/// - `TRACEEXIT`: each thread stops once before it exits, with the exit
///   status; we learn that the process is going away even when its last
///   thread's reap is collected by somebody else.
/// - `TRACEEXEC`: after a successful execve the kernel would otherwise
///   send a plain SIGTRAP that looks like a foreign trap; the event tells
///   us the image (and so every patch) is gone.
///
/// Not set: `EXITKILL` (a dying inspector must not kill its target),
/// `TRACESYSGOOD` (we never use syscall stops), `TRACEFORK`/`TRACEVFORK`
/// (children are other processes; a forked child that inherits an armed
/// probe has it repaired by the runtime's own SIGTRAP handler).
const SEIZE_OPTIONS: i32 = libc::PTRACE_O_TRACECLONE | libc::PTRACE_O_TRACEEXIT | libc::PTRACE_O_TRACEEXEC;

/// x86 `int3`, and the one-byte `nop` every probe site holds unarmed.
const INT3: u8 = 0xcc;
const NOP: u8 = 0x90;

/// Rounds of `sched_yield` polling before a stop wait sleeps on the waiter.
const SPIN_ROUNDS: u32 = 64;

/// Session settings.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How long freeze, step and detach wait for a thread to stop.
    pub stop_timeout: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options { stop_timeout: Duration::from_secs(2) }
    }
}

/// An armed probe, by session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ProbeId(pub u32);

/// What a thread that hits an armed probe does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnHit {
    /// It stays stopped at the probe until thawed.
    #[default]
    Hold,
    /// It is resumed at once; the hit is still reported.
    Report,
}

/// What a thread is doing, as far as the session knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ThreadState {
    /// Running (or stopping: an interrupt was sent, the stop is not
    /// collected yet).
    Running,
    /// Held stopped by the session (interrupt, step, signal, clone).
    Frozen,
    /// Held just past an armed probe.
    AtProbe(ProbeId),
    /// In a group-stop (SIGSTOP and friends), held or listening.
    GroupStopped(i32),
    /// Gone (reaped), with its exit status.
    Exited(ExitStatus),
}

/// One thread of the process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ThreadInfo {
    pub tid: i32,
    /// The name from `set_thread_names`, else the thread's `comm`.
    pub name: String,
    pub state: ThreadState,
}

/// A thread reached an armed probe.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProbeHit {
    pub tid: i32,
    pub probe: ProbeId,
    pub provider: String,
    pub name: String,
    /// The probe's address (the thread's pc is one past it).
    pub address: u64,
    /// The probe's arguments, decoded from its note with the thread's
    /// registers (a memory operand that cannot be read decodes as 0).
    pub args: Vec<u64>,
    /// Whether the thread is held at the probe (`OnHit::Hold`).
    pub held: bool,
}

/// Something that happened in the target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Event {
    ProbeHit(ProbeHit),
    /// An asynchronous `interrupt` completed: the thread is held.
    ThreadStopped {
        tid: i32,
    },
    /// A thread was created (`parent` is known when its creator's clone
    /// stop was seen first). It is running, or held if the session is
    /// frozen.
    NewThread {
        tid: i32,
        parent: Option<i32>,
    },
    ThreadExited {
        tid: i32,
        status: ExitStatus,
    },
    /// The process is gone; every later call returns
    /// `Error::ProcessExited`.
    ProcessExited {
        pid: i32,
        status: ExitStatus,
    },
    /// A signal is being delivered to the thread (passed through).
    SignalDelivered {
        tid: i32,
        signal: i32,
    },
    /// The thread entered a group-stop (SIGSTOP, SIGTSTP, ...).
    GroupStop {
        tid: i32,
        signal: i32,
    },
    /// The process called execve; armed probes are gone with the old
    /// image.
    Exec {
        pid: i32,
        former_tid: i32,
    },
}

/// Wakes a session's `wait_event` from any thread: the current call, or
/// else the next one, returns `Ok(None)`.
#[derive(Debug, Clone)]
pub struct WakeHandle {
    poke: Arc<AtomicU64>,
}

impl WakeHandle {
    pub fn wake(&self) {
        waiter::hub().poke(&self.poke);
    }
}

/// Why a held thread is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Interrupt,
    Probe(ProbeId),
    Signal,
    Group,
    New,
    Clone,
    Step,
    Exec,
    /// A late trap at a site we had disarmed, swallowed.
    Trap,
}

/// What the kernel has a thread doing, as far as the session knows (the
/// diagram is in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Run {
    /// Resumed with `PTRACE_CONT`, or never stopped since we seized it
    /// (an interrupt sent to it may be pending).
    #[default]
    Running,
    /// Seized by the kernel at its creation; its first stop (an
    /// `EVENT_STOP`, always its first) is not collected yet.
    Starting,
    /// Resumed with `PTRACE_SINGLESTEP`: its next stop ends the step.
    Stepping,
    /// In a group-stop, answered with `PTRACE_LISTEN`.
    Listening,
    /// In a ptrace-stop we collected and hold; `inject` is the signal it
    /// receives when resumed.
    Held { why: Stop, inject: i32 },
    /// Past its exit stop (or found dying): only its reap is left, it
    /// never stops again.
    Exiting,
}

/// What the session wants of a thread whose stop it collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Want {
    /// Resume it.
    #[default]
    Run,
    /// Hold it; `announce`: report its next interrupt stop as
    /// `Event::ThreadStopped` (an asynchronous `interrupt`).
    Hold { announce: bool },
}

impl Want {
    fn holds(self) -> bool {
        matches!(self, Want::Hold { .. })
    }

    /// `Hold`, keeping a pending announcement.
    fn hold(self) -> Want {
        match self {
            Want::Run => Want::Hold { announce: false },
            held => held,
        }
    }

    fn from_frozen(frozen: bool) -> Want {
        if frozen {
            Want::Hold { announce: false }
        } else {
            Want::Run
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Thread {
    run: Run,
    want: Want,
    /// A `NewThread` event was emitted for it.
    announced: bool,
    /// The stop signal while a group-stop is in effect.
    group_stop: Option<i32>,
}

impl Thread {
    fn held(&self) -> bool {
        matches!(self.run, Run::Held { .. })
    }

    /// Neither held nor exiting: a stop of it is still to come.
    fn may_stop(&self) -> bool {
        !matches!(self.run, Run::Held { .. } | Run::Exiting)
    }
}

struct Armed {
    probe: Probe,
    args: Vec<ArgSpec>,
    on_hit: OnHit,
    byte_slot: usize,
    sem_slot: Option<usize>,
}

/// A ptrace attachment to every thread of a process. Not `Send`: ptrace
/// only takes requests from the thread that attached. Dropping it
/// detaches (restoring every patch).
pub struct Session {
    pid: i32,
    tracer: i32,
    opts: Options,
    mem: Option<File>,
    threads: BTreeMap<i32, Thread>,
    armed: Vec<Option<Armed>>,
    by_addr: HashMap<u64, ProbeId>,
    ever_armed: HashSet<u64>,
    events: VecDeque<Event>,
    exited: Option<ExitStatus>,
    /// The status of the last exit stop (the process's exit status).
    last_exit: Option<ExitStatus>,
    detached: bool,
    default_frozen: bool,
    names: HashMap<i32, String>,
    /// Threads reaped so far (the most recent few thousand).
    gone: HashMap<i32, ExitStatus>,
    probes: Option<Vec<Probe>>,
    poke: Arc<AtomicU64>,
    /// The poke count the last wake-up took.
    seen_poke: u64,
    /// The target is a child of this process: its exit is peeked at, not
    /// reaped, so that the code that spawned it can still wait for it.
    parent_is_us: bool,
    /// The target's status table opened to read and write its probe
    /// owner (`Header::probe_owner`), once looked for; `Some(None)`: it
    /// has none (not a grt program).
    owner_table: Option<Option<File>>,
    /// Our pid is the table's probe owner (we armed a probe).
    owner_written: bool,
    _not_send: PhantomData<*mut ()>,
}

/// `GRT_CTL_TRACE=1` prints every collected state change to stderr.
fn trace_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("GRT_CTL_TRACE").is_some_and(|v| v == "1"))
}

/// `Error::AlreadyTraced` for a `TracerPid`: it names the thread that
/// traces, the error names its process.
fn already_traced(pid: i32, tracer_tid: i32) -> Error {
    let (tracer, name) = sys::tracer_process(tracer_tid);
    Error::AlreadyTraced { pid, tracer, name: name.map(|n| Comm::new(&n)).unwrap_or_default() }
}

fn is_group_stop_signal(sig: i32) -> bool {
    matches!(sig, libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU)
}

impl Session {
    /// Seizes every thread of `pid` with default options.
    pub fn attach(pid: i32) -> Result<Session> {
        Session::attach_with(pid, Options::default())
    }

    /// Seizes every thread of `pid`: lists `/proc/<pid>/task` and seizes
    /// what it has not seized yet until a listing finds nothing new
    /// (threads created by seized threads are seized by the kernel).
    /// Nothing is stopped.
    pub fn attach_with(pid: i32, opts: Options) -> Result<Session> {
        if pid <= 0 {
            return Err(Error::NoSuchProcess { pid });
        }
        match sys::task_state(pid, pid) {
            None | Some('Z') | Some('X') => return Err(Error::NoSuchProcess { pid }),
            _ => {}
        }
        let tracer = sys::gettid();
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };
        match sys::tracer_of(pid, pid) {
            Ok(0) => {}
            Ok(t) => return Err(already_traced(pid, t)),
            Err(_) => return Err(Error::NoSuchProcess { pid }),
        }
        let mem = match std::fs::OpenOptions::new().read(true).write(true).open(format!("/proc/{pid}/mem")) {
            Ok(f) => f,
            Err(e) => {
                return Err(match e.raw_os_error() {
                    Some(libc::ENOENT) | Some(libc::ESRCH) => Error::NoSuchProcess { pid },
                    _ => Error::PermissionDenied { pid },
                })
            }
        };
        let mut s = Session {
            pid,
            tracer,
            opts,
            mem: Some(mem),
            threads: BTreeMap::new(),
            armed: Vec::new(),
            by_addr: HashMap::new(),
            ever_armed: HashSet::new(),
            events: VecDeque::new(),
            exited: None,
            last_exit: None,
            detached: false,
            default_frozen: false,
            names: HashMap::new(),
            gone: HashMap::new(),
            probes: None,
            poke: Arc::new(AtomicU64::new(0)),
            seen_poke: 0,
            parent_is_us: sys::status_field(&format!("/proc/{pid}/status"), "PPid")
                .ok()
                .flatten()
                .and_then(|v| v.parse::<i32>().ok())
                == Some(me),
            owner_table: None,
            owner_written: false,
            _not_send: PhantomData,
        };
        waiter::hub();
        while s.seize_new_threads(tracer, me)? > 0 {}
        waiter::hub().ack();
        // A thread that was inside clone(2) when its parent was seized may
        // create its child untraced (the kernel decided on TRACECLONE when
        // the call began), and the child may appear in /proc/<pid>/task
        // only after the passes above read it. Such a thread would run
        // into our int3s with nobody to catch them. Stopping every thread
        // ends any clone in flight; a listing taken then is complete.
        loop {
            s.freeze_all()?;
            if s.seize_new_threads(tracer, me)? == 0 {
                break;
            }
        }
        s.thaw_all()?;
        Ok(s)
    }

    /// Seizes the threads of the process not yet traced; returns how many.
    fn seize_new_threads(&mut self, tracer: i32, me: i32) -> Result<usize> {
        let pid = self.pid;
        let tids = sys::list_tasks(pid).map_err(|_| Error::NoSuchProcess { pid })?;
        let mut new = 0;
        for tid in tids {
            if self.threads.contains_key(&tid) {
                continue;
            }
            match sys::seize(tid, SEIZE_OPTIONS) {
                Ok(()) => {
                    self.threads.insert(tid, Thread::default());
                    new += 1;
                }
                Err(libc::EPERM) => match sys::tracer_of(pid, tid) {
                    // Seized by the kernel when a seized thread created it.
                    Ok(t) if t == tracer || t == me => {
                        self.threads.insert(tid, Thread { run: Run::Starting, ..Thread::default() });
                        new += 1;
                    }
                    Ok(t) if t != 0 => return Err(already_traced(pid, t)),
                    // The kernel refuses to trace a thread whose exit has
                    // begun (its exit_state is set, which never reverts):
                    // it is still listed until it is released, and shows
                    // as a zombie or dead, but runs nothing more. Under
                    // thread churn a listing often holds one.
                    Ok(_) => match sys::task_state(pid, tid) {
                        None | Some('Z' | 'X' | 'x') if tid != pid => {}
                        _ => return Err(Error::PermissionDenied { pid }),
                    },
                    Err(_) if tid == pid => return Err(Error::NoSuchProcess { pid }),
                    Err(_) => {} // the thread exited meanwhile
                },
                Err(libc::ESRCH) if tid == pid => return Err(Error::NoSuchProcess { pid }),
                Err(libc::ESRCH) => {}
                Err(e) => return Err(Error::Ptrace { op: "SEIZE", tid, errno: e }),
            }
        }
        Ok(new)
    }

    /// The target's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// A handle that wakes `wait_event` from another thread.
    pub fn wake_handle(&self) -> WakeHandle {
        WakeHandle { poke: self.poke.clone() }
    }

    /// How the process ended, once it has.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.exited
    }

    fn check_alive(&self) -> Result<()> {
        if let Some(status) = self.exited {
            return Err(Error::ProcessExited { pid: self.pid, status });
        }
        if self.detached {
            return Err(Error::Detached { pid: self.pid });
        }
        Ok(())
    }

    fn mem_fd(&self) -> Result<i32> {
        self.check_alive()?;
        self.mem.as_ref().map(|f| f.as_raw_fd()).ok_or(Error::Detached { pid: self.pid })
    }

    fn thread(&self, tid: i32) -> Result<&Thread> {
        self.check_alive()?;
        self.threads.get(&tid).ok_or(Error::NoSuchThread { pid: self.pid, tid })
    }

    fn thread_mut(&mut self, tid: i32) -> Result<&mut Thread> {
        self.check_alive()?;
        let pid = self.pid;
        self.threads.get_mut(&tid).ok_or(Error::NoSuchThread { pid, tid })
    }

    // ---- names and listing ----

    /// Names threads (e.g. "M3 worker" from the status table); tids not in
    /// the map are named by their `comm`.
    pub fn set_thread_names(&mut self, names: HashMap<i32, String>) {
        self.names = names;
    }

    /// The name of a thread.
    pub fn thread_name(&self, tid: i32) -> String {
        match self.names.get(&tid) {
            Some(n) => n.clone(),
            None => sys::comm(self.pid, tid).unwrap_or_else(|| format!("thread {tid}")),
        }
    }

    /// The thread ids the session traces.
    pub fn tids(&self) -> Vec<i32> {
        self.threads.keys().copied().collect()
    }

    /// Every traced thread with its name and state.
    pub fn threads(&self) -> Result<Vec<ThreadInfo>> {
        self.check_alive()?;
        Ok(self
            .threads
            .iter()
            .map(|(&tid, t)| ThreadInfo { tid, name: self.thread_name(tid), state: t.state() })
            .collect())
    }

    /// One thread's state (`Exited` for a thread reaped recently).
    pub fn thread_state(&self, tid: i32) -> Result<ThreadState> {
        match self.thread(tid) {
            Err(Error::NoSuchThread { .. }) if self.gone.contains_key(&tid) => Ok(ThreadState::Exited(self.gone[&tid])),
            r => Ok(r?.state()),
        }
    }

    // ---- the event pump ----

    /// The next event, waiting up to `timeout`; `Ok(None)` on timeout or
    /// when woken through a `WakeHandle`. After `ProcessExited` has been
    /// returned, every call returns `Error::ProcessExited`.
    pub fn wait_event(&mut self, timeout: Duration) -> Result<Option<Event>> {
        if let Some(e) = self.events.pop_front() {
            return Ok(Some(e));
        }
        self.check_alive()?;
        let hub = waiter::hub();
        // A wake-up that came since the last one was taken ends this call
        // at once, however early it came.
        let seen_poke = self.seen_poke;
        if self.poke.load(Relaxed) != seen_poke {
            self.seen_poke = self.poke.load(Relaxed);
            return Ok(None);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let seen = hub.generation();
            self.poll_all()?;
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            // Wake up every 100 ms anyway: a missed wake-up costs latency,
            // never a hang.
            let (pid, poked) =
                hub.wait_change(seen, &self.poke, seen_poke, deadline.min(now + Duration::from_millis(100)));
            if poked {
                self.seen_poke = self.poke.load(Relaxed);
                return Ok(None);
            }
            if pid > 0 && self.owns(pid) {
                self.collect(pid)?;
                if let Some(e) = self.events.pop_front() {
                    return Ok(Some(e));
                }
            }
        }
    }

    /// Events already collected, without waiting.
    pub fn pending_events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    fn owns(&self, tid: i32) -> bool {
        self.threads.contains_key(&tid) || std::path::Path::new(&format!("/proc/{}/task/{tid}", self.pid)).exists()
    }

    /// Collects the state changes of every thread, without waiting.
    fn poll_all(&mut self) -> Result<()> {
        let tids: Vec<i32> = self.threads.keys().copied().collect();
        for tid in tids {
            if self.exited.is_some() {
                break;
            }
            if self.threads.contains_key(&tid) {
                self.collect(tid)?;
            }
        }
        Ok(())
    }

    /// Collects one state change of `tid`, if it has one.
    fn collect(&mut self, tid: i32) -> Result<bool> {
        if self.exited.is_some() {
            return Ok(false);
        }
        if tid == self.pid && self.parent_is_us {
            // Our own child: leave its zombie to our `Child::wait`.
            if let Ok(Some(status)) = sys::peek_exit(tid) {
                self.thread_gone(tid, status);
                waiter::hub().ack();
                return Ok(true);
            }
        }
        match sys::wait_nohang(tid) {
            Ok(Some(status)) => {
                self.handle_status(tid, status)?;
                waiter::hub().ack();
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(libc::ECHILD) => {
                // Not (or no longer) our tracee: reaped by somebody else.
                self.thread_gone(tid, ExitStatus::Unknown);
                Ok(true)
            }
            Err(e) => Err(Error::Ptrace { op: "waitpid", tid, errno: e }),
        }
    }

    fn thread_gone(&mut self, tid: i32, status: ExitStatus) {
        if tid == self.pid {
            // The leader is reaped last: the process is gone.
            let status = if status == ExitStatus::Unknown { self.last_exit.unwrap_or(status) } else { status };
            self.exited = Some(status);
            self.threads.clear();
            self.forget_patches();
            self.mem = None;
            self.events.push_back(Event::ProcessExited { pid: self.pid, status });
        } else if self.threads.remove(&tid).is_some() {
            if self.gone.len() >= 4096 {
                self.gone.clear();
            }
            self.gone.insert(tid, status);
            self.events.push_back(Event::ThreadExited { tid, status });
        }
    }

    /// Classifies one `waitpid` status of `tid` and answers it (see the
    /// table in the module docs).
    fn handle_status(&mut self, tid: i32, status: sys::WaitStatus) -> Result<()> {
        if trace_enabled() {
            eprintln!(
                "grt-ctl: pid {} tid {tid} status {status:?} known={} run={:?}",
                self.pid,
                self.threads.contains_key(&tid),
                self.threads.get(&tid).map(|t| t.run)
            );
        }
        let (sig, event) = match status {
            sys::WaitStatus::Ended(how) => {
                self.thread_gone(tid, how);
                return Ok(());
            }
            sys::WaitStatus::Other => return Ok(()),
            sys::WaitStatus::Stopped { sig, event } => (sig, event),
        };
        if !self.threads.contains_key(&tid) {
            // A new thread whose first stop came before its creator's
            // clone stop.
            let want = Want::from_frozen(self.default_frozen);
            self.threads.insert(tid, Thread { run: Run::Starting, announced: true, want, ..Thread::default() });
            self.events.push_back(Event::NewThread { tid, parent: None });
        }
        let t = self.threads.get_mut(&tid).expect("thread just inserted");
        // It was running (in one of the ways a thread runs) until this
        // stop; `hold_or_resume` says where it goes from here.
        let was = std::mem::replace(&mut t.run, Run::Running);
        let was_stepping = was == Run::Stepping;
        match event {
            Some(libc::PTRACE_EVENT_STOP) => {
                let group = is_group_stop_signal(sig);
                if was == Run::Starting {
                    t.group_stop = group.then_some(sig);
                    return self.hold_or_resume(tid, if group { Stop::Group } else { Stop::New });
                }
                if group {
                    if t.group_stop.replace(sig).is_none() {
                        self.events.push_back(Event::GroupStop { tid, signal: sig });
                    }
                    self.hold_or_resume(tid, Stop::Group)
                } else {
                    // An interrupt stop, or a listening thread told that
                    // the group-stop ended (SIGCONT).
                    t.group_stop = None;
                    if t.want == (Want::Hold { announce: true }) {
                        t.want = Want::Hold { announce: false };
                        self.events.push_back(Event::ThreadStopped { tid });
                    }
                    self.hold_or_resume(tid, Stop::Interrupt)
                }
            }
            Some(libc::PTRACE_EVENT_CLONE) => {
                if let Ok(child) = sys::geteventmsg(tid) {
                    let child = child as i32;
                    let want = Want::from_frozen(self.default_frozen);
                    let c = self.threads.entry(child).or_insert_with(|| Thread {
                        run: Run::Starting,
                        want,
                        ..Thread::default()
                    });
                    if !c.announced {
                        c.announced = true;
                        self.events.push_back(Event::NewThread { tid: child, parent: Some(tid) });
                    }
                }
                self.hold_or_resume(tid, Stop::Clone)
            }
            Some(libc::PTRACE_EVENT_EXIT) => {
                t.run = Run::Exiting;
                if let Ok(msg) = sys::geteventmsg(tid) {
                    self.last_exit = Some(ExitStatus::from_wait(msg as i32));
                }
                // Never hold up an exit.
                match sys::cont(tid, 0) {
                    Ok(()) | Err(libc::ESRCH) => Ok(()),
                    Err(e) => Err(Error::Ptrace { op: "CONT", tid, errno: e }),
                }
            }
            Some(libc::PTRACE_EVENT_EXEC) => self.handle_exec(tid),
            None => {
                if sig == libc::SIGTRAP && self.handle_trap(tid, was_stepping)? {
                    return Ok(());
                }
                // Anything else is the target's: pass it through.
                let t = self.threads.get_mut(&tid).expect("known thread");
                t.run = Run::Held { why: Stop::Signal, inject: sig };
                self.events.push_back(Event::SignalDelivered { tid, signal: sig });
                self.hold_or_resume(tid, Stop::Signal)
            }
            Some(_) => self.hold_or_resume(tid, Stop::Interrupt),
        }
    }

    /// A SIGTRAP signal-delivery-stop: ours (probe hit, step, late trap at
    /// a disarmed site) or not. Returns whether it was ours.
    fn handle_trap(&mut self, tid: i32, was_stepping: bool) -> Result<bool> {
        let info = match sys::getsiginfo(tid) {
            Ok(i) => i,
            Err(libc::ESRCH) => return Ok(true), // killed meanwhile; the reap follows
            Err(e) => return Err(Error::Ptrace { op: "GETSIGINFO", tid, errno: e }),
        };
        // A step ends with TRAP_TRACE, or TRAP_BRKPT when the stepped
        // instruction was `syscall` (x86 reports the step at syscall exit).
        if was_stepping && (info.si_code == libc::TRAP_TRACE || info.si_code == libc::TRAP_BRKPT) {
            self.hold_or_resume(tid, Stop::Step)?;
            return Ok(true);
        }
        if info.si_code != libc::SI_KERNEL {
            return Ok(false);
        }
        let regs = match sys::getregs(tid) {
            Ok(r) => Regs::from(r),
            Err(libc::ESRCH) => return Ok(true),
            Err(e) => return Err(Error::Ptrace { op: "GETREGS", tid, errno: e }),
        };
        let addr = regs.rip.wrapping_sub(1);
        if let Some(&id) = self.by_addr.get(&addr) {
            self.report_hit(tid, id, &regs)?;
            return Ok(true);
        }
        if self.ever_armed.contains(&addr) {
            self.hold_or_resume(tid, Stop::Trap)?;
            return Ok(true);
        }
        Ok(false)
    }

    fn report_hit(&mut self, tid: i32, id: ProbeId, regs: &Regs) -> Result<()> {
        let a = self.armed[id.0 as usize].as_ref().expect("armed probe");
        let fd = self.mem.as_ref().map(|f| f.as_raw_fd()).unwrap_or(-1);
        let read = |addr: u64, buf: &mut [u8]| sys::pread_all(fd, buf, addr).is_ok();
        let args = a.args.iter().map(|s| s.value(regs, read).unwrap_or(0)).collect();
        let held = a.on_hit == OnHit::Hold;
        self.events.push_back(Event::ProbeHit(ProbeHit {
            tid,
            probe: id,
            provider: a.probe.provider.clone(),
            name: a.probe.name.clone(),
            address: a.probe.address,
            args,
            held,
        }));
        self.threads.get_mut(&tid).expect("known thread").set_held(Stop::Probe(id));
        if !held {
            self.resume(tid)?;
        }
        Ok(())
    }

    fn handle_exec(&mut self, tid: i32) -> Result<()> {
        let former = sys::geteventmsg(tid).map(|v| v as i32).unwrap_or(tid);
        // The execing thread now has the leader's tid; the old leader is
        // gone without a report; other threads report their exits.
        let t = self.threads.remove(&former).or_else(|| self.threads.remove(&tid)).unwrap_or_default();
        self.threads.remove(&self.pid);
        self.threads.insert(self.pid, t);
        self.forget_patches();
        self.probes = None;
        // The new image has a table of its own (if any), owned by nobody.
        self.owner_table = None;
        self.owner_written = false;
        self.mem = std::fs::OpenOptions::new().read(true).write(true).open(format!("/proc/{}/mem", self.pid)).ok();
        self.events.push_back(Event::Exec { pid: self.pid, former_tid: former });
        self.hold_or_resume(self.pid, Stop::Exec)
    }

    /// The thread is in a collected stop: hold it if it should be frozen,
    /// else resume it.
    fn hold_or_resume(&mut self, tid: i32, why: Stop) -> Result<()> {
        let t = self.threads.get_mut(&tid).expect("known thread");
        t.set_held(why);
        if t.want.holds() {
            Ok(())
        } else {
            self.resume(tid)
        }
    }

    /// Resumes a held thread: `PTRACE_LISTEN` in a group-stop, else
    /// `PTRACE_CONT` with the signal it stopped for.
    fn resume(&mut self, tid: i32) -> Result<()> {
        self.resume_as(tid, false)
    }

    /// Resumes a held thread as `resume` does, or with `step` for one
    /// instruction (`PTRACE_SINGLESTEP`, with the signal it stopped for).
    /// A thread not held is left alone.
    fn resume_as(&mut self, tid: i32, step: bool) -> Result<()> {
        let t = self.threads.get_mut(&tid).expect("known thread");
        let Run::Held { why, inject } = t.run else { return Ok(()) };
        let (r, next, op) = if step {
            (sys::singlestep(tid, inject), Run::Stepping, "SINGLESTEP")
        } else if why == Stop::Group && inject == 0 {
            (sys::listen(tid), Run::Listening, "LISTEN")
        } else {
            (sys::cont(tid, inject), Run::Running, "CONT")
        };
        match r {
            // ESRCH: killed while stopped; its reap will follow.
            Ok(()) | Err(libc::ESRCH) => {
                t.run = next;
                Ok(())
            }
            Err(e) => Err(Error::Ptrace { op, tid, errno: e }),
        }
    }

    // ---- freeze and thaw ----

    /// Sends `PTRACE_INTERRUPT` to a thread that is not held. Sent even if
    /// one may be pending: a pending trap can be dropped by the kernel (an
    /// exec clears it), and a second request while one is pending still
    /// gives one stop.
    fn send_interrupt(&mut self, tid: i32) -> Result<()> {
        let t = self.threads.get_mut(&tid).expect("known thread");
        if matches!(t.run, Run::Held { .. } | Run::Exiting | Run::Starting) {
            return Ok(());
        }
        let r = sys::interrupt(tid);
        if trace_enabled() {
            eprintln!("grt-ctl: pid {} interrupt {tid}: {r:?}", self.pid);
        }
        match r {
            Ok(()) => Ok(()),
            Err(libc::ESRCH) => {
                // Dying: it will be reaped instead of stopping.
                t.run = Run::Exiting;
                Ok(())
            }
            Err(e) => Err(Error::Ptrace { op: "INTERRUPT", tid, errno: e }),
        }
    }

    /// Waits until each of `tids` (every thread if `None`, including ones
    /// created meanwhile) is held or gone.
    fn wait_stopped(&mut self, tids: Option<&[i32]>, op: &'static str) -> Result<()> {
        let hub = waiter::hub();
        let deadline = Instant::now() + self.opts.stop_timeout;
        let never = AtomicU64::new(0);
        let mut rounds = 0u32;
        loop {
            self.check_alive()?;
            let seen = hub.generation();
            let list: Vec<i32> = match tids {
                Some(t) => t.to_vec(),
                None => self.threads.keys().copied().collect(),
            };
            for &tid in &list {
                // Exiting threads never stop again (an exiting leader is
                // reaped only after all the others): nothing to wait for.
                if self.threads.get(&tid).is_some_and(Thread::may_stop) {
                    self.collect(tid)?;
                    self.check_alive()?;
                }
            }
            // Collecting may have found new threads (clone stops): they
            // count too when waiting for every thread.
            let pending = |tid: &i32| self.threads.get(tid).is_some_and(Thread::may_stop);
            let waiting = match tids {
                Some(_) => list.iter().copied().find(pending),
                None => self.threads.keys().copied().find(pending),
            };
            let Some(tid) = waiting else { return Ok(()) };
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout { tid, op, ms: self.opts.stop_timeout.as_millis() as u32 });
            }
            if rounds < SPIN_ROUNDS {
                rounds += 1;
                std::thread::yield_now();
                continue;
            }
            // Every 100 ms, ask the threads that should stop again (not a
            // thread in a single step: its step is the stop we wait for).
            if rounds.is_multiple_of(10) {
                let late: Vec<i32> = match tids {
                    Some(_) => list.iter().copied().filter(pending).collect(),
                    None => self.threads.keys().copied().filter(pending).collect(),
                };
                for tid in late {
                    let t = &self.threads[&tid];
                    if t.want.holds() && t.run != Run::Stepping {
                        self.send_interrupt(tid)?;
                    }
                }
            }
            rounds += 1;
            hub.wait_change(seen, &never, 0, deadline.min(now + Duration::from_millis(10)));
        }
    }

    /// Stops one thread and holds it (`PTRACE_INTERRUPT`, then wait for
    /// the stop). A thread already held stays held.
    pub fn freeze(&mut self, tid: i32) -> Result<()> {
        let t = self.thread_mut(tid)?;
        t.want = t.want.hold();
        self.send_interrupt(tid)?;
        self.wait_stopped(Some(&[tid]), "stop")
    }

    /// Asks a thread to stop without waiting: `Event::ThreadStopped`
    /// follows (at once if it is already held).
    pub fn interrupt(&mut self, tid: i32) -> Result<()> {
        let t = self.thread_mut(tid)?;
        if t.held() {
            t.want = t.want.hold();
            self.events.push_back(Event::ThreadStopped { tid });
            return Ok(());
        }
        t.want = Want::Hold { announce: true };
        self.send_interrupt(tid)
    }

    /// Resumes a held thread (frozen, at a probe, or stopped for a
    /// signal, which it then receives) and lets it run.
    pub fn thaw(&mut self, tid: i32) -> Result<()> {
        self.thread_mut(tid)?.want = Want::Run;
        self.resume(tid)
    }

    /// Stops every thread, new ones included, and returns when all are
    /// held (or gone). Threads created while frozen start held.
    pub fn freeze_all(&mut self) -> Result<()> {
        self.check_alive()?;
        self.default_frozen = true;
        let tids: Vec<i32> = self.threads.keys().copied().collect();
        for &tid in &tids {
            let t = self.threads.get_mut(&tid).expect("known thread");
            t.want = t.want.hold();
        }
        for tid in tids {
            self.send_interrupt(tid)?;
        }
        self.wait_stopped(None, "stop")
    }

    /// Resumes every held thread, including threads at probes.
    pub fn thaw_all(&mut self) -> Result<()> {
        self.check_alive()?;
        self.default_frozen = false;
        let tids: Vec<i32> = self.threads.keys().copied().collect();
        for tid in tids {
            self.threads.get_mut(&tid).expect("known thread").want = Want::Run;
            self.resume(tid)?;
        }
        Ok(())
    }

    /// Whether every traced thread is held.
    pub fn all_frozen(&self) -> bool {
        self.threads.values().all(|t| !t.may_stop())
    }

    // ---- registers, stepping, memory ----

    fn held(&self, tid: i32, op: &'static str) -> Result<&Thread> {
        let t = self.thread(tid)?;
        if !t.held() {
            return Err(Error::NotStopped { tid, op });
        }
        Ok(t)
    }

    /// The registers of a held thread.
    pub fn regs(&self, tid: i32) -> Result<Regs> {
        self.held(tid, "reading its registers")?;
        sys::getregs(tid).map(Regs::from).map_err(|e| Error::Ptrace { op: "GETREGS", tid, errno: e })
    }

    /// Executes one instruction of a held thread and holds it again;
    /// returns its new pc. At an armed probe the step reports the hit
    /// (`Event::ProbeHit`) and moves past the probe's one-byte `nop`
    /// without executing our `int3`.
    pub fn step(&mut self, tid: i32) -> Result<u64> {
        self.held(tid, "single-stepping it")?;
        let raw = sys::getregs(tid).map_err(|e| Error::Ptrace { op: "GETREGS", tid, errno: e })?;
        if let Some(&id) = self.by_addr.get(&raw.rip) {
            let mut moved = raw;
            moved.rip += 1;
            sys::setregs(tid, &moved).map_err(|e| Error::Ptrace { op: "SETREGS", tid, errno: e })?;
            let t = self.threads.get_mut(&tid).expect("known thread");
            t.want = t.want.hold();
            let held = self.armed[id.0 as usize].as_ref().map(|a| a.on_hit) == Some(OnHit::Hold);
            self.report_hit(tid, id, &Regs::from(moved))?;
            if !held {
                // Report mode resumed it; a step leaves it held.
                self.freeze(tid)?;
            }
            return Ok(moved.rip);
        }
        let t = self.threads.get_mut(&tid).expect("known thread");
        t.want = t.want.hold();
        self.resume_as(tid, true)?;
        self.wait_stopped(Some(&[tid]), "finish a single step")?;
        self.regs(tid).map(|r| r.rip)
    }

    /// Reads target memory (through `/proc/<pid>/mem`; no thread needs to
    /// be stopped).
    pub fn read_memory(&self, addr: u64, len: usize) -> Result<Vec<u8>> {
        let fd = self.mem_fd()?;
        let mut v = vec![0; len];
        sys::pread_all(fd, &mut v, addr).map_err(|e| Error::Memory { addr, len: len as u32, errno: e })?;
        Ok(v)
    }

    // ---- probes ----

    /// The SDT probes of the process (every provider), loaded once.
    pub fn probes(&mut self) -> Result<&[Probe]> {
        self.check_alive()?;
        if self.probes.is_none() {
            let syms = grt_symbols::ProcessSymbols::load(self.pid).map_err(Error::Symbols)?;
            self.probes = Some(syms.probes().map_err(Error::Symbols)?);
        }
        Ok(self.probes.as_deref().unwrap_or(&[]))
    }

    /// Arms every site of the runtime's probe `grt:<name>`.
    pub fn arm_named(&mut self, name: &str, on_hit: OnHit) -> Result<Vec<ProbeId>> {
        let sites: Vec<Probe> =
            self.probes()?.iter().filter(|p| p.provider == "grt" && p.name == name).cloned().collect();
        if sites.is_empty() {
            return Err(Error::NoSuchProbe { pid: self.pid });
        }
        let mut ids = Vec::new();
        for p in &sites {
            match self.arm_with(p, on_hit) {
                Ok(id) => ids.push(id),
                Err(e) => {
                    for id in ids {
                        let _ = self.disarm(id);
                    }
                    return Err(e);
                }
            }
        }
        Ok(ids)
    }

    /// Arms a probe; threads that reach it are held there.
    pub fn arm(&mut self, probe: &Probe) -> Result<ProbeId> {
        self.arm_with(probe, OnHit::Hold)
    }

    /// Arms a probe: checks that its site holds `nop`, writes `int3` over
    /// it and increments its semaphore, if it has one. Arming an armed
    /// site returns its id (with the new `on_hit`).
    pub fn arm_with(&mut self, probe: &Probe, on_hit: OnHit) -> Result<ProbeId> {
        let fd = self.mem_fd()?;
        let addr = probe.address;
        if let Some(&id) = self.by_addr.get(&addr) {
            if let Some(a) = self.armed[id.0 as usize].as_mut() {
                a.on_hit = on_hit;
            }
            return Ok(id);
        }
        let args = parse_arg_spec(&probe.args).map_err(|i| Error::BadProbeArgs { addr, index: i as u32 })?;
        let mut b = [0u8; 1];
        sys::pread_all(fd, &mut b, addr).map_err(|e| Error::Memory { addr, len: 1, errno: e })?;
        if b[0] == INT3 && self.restore_abandoned_sites()? {
            sys::pread_all(fd, &mut b, addr).map_err(|e| Error::Memory { addr, len: 1, errno: e })?;
        }
        if b[0] != NOP {
            return Err(Error::ProbeSiteNotNop { addr, found: b[0] });
        }
        if !self.owner_written {
            // SAFETY: getpid has no preconditions.
            self.owner_written = self.set_probe_owner(unsafe { libc::getpid() } as u32);
        }
        let cap = Error::TooManyPatches { capacity: patch::CAPACITY as u32 };
        let byte_slot = patch::record(fd, addr, patch::Kind::Byte, NOP as u64).ok_or(cap)?;
        if let Err(e) = sys::pwrite_all(fd, &[INT3], addr) {
            patch::claim(byte_slot);
            return Err(Error::Memory { addr, len: 1, errno: e });
        }
        let mut sem_slot = None;
        if probe.semaphore != 0 {
            let sem = probe.semaphore;
            let Some(slot) = patch::record(fd, sem, patch::Kind::Semaphore, 1) else {
                let _ = self.unpatch(byte_slot, addr, patch::Kind::Byte, NOP as u64);
                return Err(cap);
            };
            let mut s = [0u8; 2];
            let r = sys::pread_all(fd, &mut s, sem)
                .and_then(|()| sys::pwrite_all(fd, &u16::from_le_bytes(s).wrapping_add(1).to_le_bytes(), sem));
            if let Err(e) = r {
                patch::claim(slot);
                let _ = self.unpatch(byte_slot, addr, patch::Kind::Byte, NOP as u64);
                return Err(Error::Memory { addr: sem, len: 2, errno: e });
            }
            sem_slot = Some(slot);
        }
        let id = ProbeId(self.armed.len() as u32);
        self.armed.push(Some(Armed { probe: probe.clone(), args, on_hit, byte_slot, sem_slot }));
        self.by_addr.insert(addr, id);
        self.ever_armed.insert(addr);
        Ok(id)
    }

    /// Restores a probe's `nop` and semaphore. Threads held at it stay
    /// held; a thread that trapped on it just before is recognized and
    /// resumed as usual.
    pub fn disarm(&mut self, id: ProbeId) -> Result<()> {
        self.check_alive()?;
        let a = self.armed.get_mut(id.0 as usize).and_then(|a| a.take()).ok_or(Error::ProbeNotArmed { addr: 0 })?;
        self.by_addr.remove(&a.probe.address);
        let mut r = self.unpatch(a.byte_slot, a.probe.address, patch::Kind::Byte, NOP as u64);
        if let Some(s) = a.sem_slot {
            r = r.and(self.unpatch(s, a.probe.semaphore, patch::Kind::Semaphore, 1));
        }
        r
    }

    /// The armed probes: id, name and address.
    pub fn armed(&self) -> Vec<(ProbeId, String, u64)> {
        self.armed
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.as_ref().map(|a| (ProbeId(i as u32), a.probe.name.clone(), a.probe.address)))
            .collect()
    }

    fn unpatch(&self, slot: usize, addr: u64, kind: patch::Kind, value: u64) -> Result<()> {
        if !patch::claim(slot) {
            return Ok(()); // a signal handler restored it already
        }
        let Some(f) = self.mem.as_ref() else {
            return Ok(());
        };
        patch::restore(f.as_raw_fd(), addr, kind, value).map_err(|e| Error::Memory { addr, len: 1, errno: e })
    }

    /// The target's status table opened read-write, for its probe owner:
    /// only a table whose header names this process (a forked child
    /// shares its parent's) and holds a whole header. Looked for once.
    fn owner_table(&mut self) -> Option<&File> {
        if self.owner_table.is_none() {
            let pid = self.pid;
            let open = || -> Option<File> {
                let src = crate::find::open_table(pid).ok()?;
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(format!("/proc/{pid}/fd/{}", src.fd()))
                    .ok()?;
                let mut b = [0u8; 4];
                sys::pread_all(f.as_raw_fd(), &mut b, offset_of!(grt_table::Header, pid) as u64).ok()?;
                let whole = f.metadata().ok()?.len() >= size_of::<grt_table::Header>() as u64;
                (whole && u32::from_ne_bytes(b) == pid as u32).then_some(f)
            };
            self.owner_table = Some(open());
        }
        self.owner_table.as_ref().and_then(|t| t.as_ref())
    }

    /// The table's probe owner (0: none), if the target has a table.
    fn probe_owner(&mut self) -> Option<u32> {
        let fd = self.owner_table()?.as_raw_fd();
        let mut b = [0u8; 4];
        sys::pread_all(fd, &mut b, offset_of!(grt_table::Header, probe_owner) as u64).ok()?;
        Some(u32::from_ne_bytes(b))
    }

    /// Records `owner` as the table's probe owner; whether it was written.
    fn set_probe_owner(&mut self, owner: u32) -> bool {
        let Some(fd) = self.owner_table().map(|f| f.as_raw_fd()) else { return false };
        sys::pwrite_all(fd, &owner.to_ne_bytes(), offset_of!(grt_table::Header, probe_owner) as u64).is_ok()
    }

    /// Found a probe site holding `int3` that is not ours. We are the
    /// only tracer, so a tracer that wrote it has lost the process: an
    /// inspector killed (SIGKILL) with probes armed leaves them so, and
    /// the runtime repairs them only when one is hit with no tracer
    /// attached. If the table's probe owner is a process that is gone (or
    /// this one: none of its sessions is attached any more), every probe
    /// site still holding `int3` is its, and is restored to `nop` (and
    /// remembered as ours, so that a trap already taken there is
    /// swallowed as at a disarmed site); returns true. With no owner (not
    /// a grt program, or an `int3` somebody else wrote, such as a uprobe)
    /// or a live one, nothing is touched. The dead inspector's semaphore
    /// increments cannot be told apart and stay (they cost the probes'
    /// argument set-up, nothing else).
    fn restore_abandoned_sites(&mut self) -> Result<bool> {
        let Some(owner) = self.probe_owner() else { return Ok(false) };
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };
        let owner = owner as i32;
        let gone = owner > 0 && matches!(sys::task_state(owner, owner), None | Some('Z' | 'X' | 'x'));
        if owner == 0 || !(owner == me || gone) {
            return Ok(false);
        }
        let fd = self.mem_fd()?;
        let sites: Vec<u64> = self.probes()?.iter().map(|p| p.address).collect();
        for addr in sites {
            let mut b = [0u8; 1];
            if self.by_addr.contains_key(&addr) || sys::pread_all(fd, &mut b, addr).is_err() || b[0] != INT3 {
                continue;
            }
            sys::pwrite_all(fd, &[NOP], addr).map_err(|e| Error::Memory { addr, len: 1, errno: e })?;
            self.ever_armed.insert(addr);
        }
        if !self.owner_written {
            self.set_probe_owner(0);
        }
        Ok(true)
    }

    /// The image our patches were in is gone (exit, exec): free their
    /// slots without writing.
    fn forget_patches(&mut self) {
        for a in self.armed.iter_mut().filter_map(|a| a.take()) {
            patch::claim(a.byte_slot);
            if let Some(s) = a.sem_slot {
                patch::claim(s);
            }
        }
        self.by_addr.clear();
        self.ever_armed.clear();
    }

    // ---- detach ----

    /// Detaches: restores every patched byte and semaphore, stops every
    /// thread, drains the SIGTRAPs our `int3`s left queued, and detaches
    /// each thread with the signal it has yet to receive. A process that
    /// exited meanwhile is not an error.
    pub fn detach(mut self) -> Result<()> {
        self.detach_inner()
    }

    fn detach_inner(&mut self) -> Result<()> {
        if self.detached {
            return Ok(());
        }
        if self.exited.is_some() {
            self.detached = true;
            return Ok(());
        }
        let mut first_err: Option<Error> = None;
        let ids: Vec<usize> = (0..self.armed.len()).filter(|&i| self.armed[i].is_some()).collect();
        for i in ids {
            if let Err(e) = self.disarm(ProbeId(i as u32)) {
                first_err.get_or_insert(e);
            }
        }
        if first_err.is_none() && std::mem::take(&mut self.owner_written) {
            // Every site we patched is restored: nobody owns them.
            self.set_probe_owner(0);
        }
        let mut res = self.freeze_all();
        if res.is_ok() && !self.ever_armed.is_empty() {
            res = self.drain_traps();
        }
        match res {
            Err(Error::ProcessExited { .. }) => {
                self.detached = true;
                return Ok(());
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
            Ok(()) => {}
        }
        let mut exiting = Vec::new();
        for (&tid, t) in &self.threads {
            match t.run {
                // ESRCH: it died meanwhile. A thread that would not stop
                // (timeout) stays traced until this thread exits.
                Run::Held { inject, .. } => {
                    let _ = sys::detach(tid, inject);
                }
                Run::Exiting => exiting.push(tid),
                _ => {}
            }
        }
        // Threads past their exit stop are still ours to reap: a traced
        // zombie thread would keep the process from being reaped.
        let deadline = Instant::now() + self.opts.stop_timeout;
        while !exiting.is_empty() && Instant::now() < deadline {
            exiting.retain(|&tid| matches!(sys::wait_nohang(tid), Ok(None)));
            if !exiting.is_empty() {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        self.threads.clear();
        self.detached = true;
        self.mem = None;
        waiter::hub().ack();
        first_err.map_or(Ok(()), Err)
    }

    /// A thread that trapped on our `int3` and was interrupted before its
    /// SIGTRAP was dequeued would get it after detach. Resume each such
    /// thread until the trap is collected (and swallowed).
    fn drain_traps(&mut self) -> Result<()> {
        for _ in 0..4 {
            let trapped: Vec<i32> =
                self.threads.keys().copied().filter(|&tid| sys::sigtrap_pending(self.pid, tid)).collect();
            if trapped.is_empty() {
                return Ok(());
            }
            for &tid in &trapped {
                if self.threads.get(&tid).is_some_and(Thread::held) {
                    self.resume(tid)?;
                }
            }
            self.wait_stopped(Some(&trapped), "collect its trap")?;
        }
        Ok(())
    }
}

impl Thread {
    /// Held for `why`, keeping the signal it was held with, if any (a
    /// thread held for a signal and stepped onto a probe still gets it).
    fn set_held(&mut self, why: Stop) {
        let inject = match self.run {
            Run::Held { inject, .. } => inject,
            _ => 0,
        };
        self.run = Run::Held { why, inject };
    }

    fn state(&self) -> ThreadState {
        match self.run {
            Run::Held { why: Stop::Probe(id), .. } => ThreadState::AtProbe(id),
            Run::Held { why: Stop::Group, .. } | Run::Listening => {
                ThreadState::GroupStopped(self.group_stop.unwrap_or(libc::SIGSTOP))
            }
            Run::Held { .. } => ThreadState::Frozen,
            Run::Running | Run::Starting | Run::Stepping | Run::Exiting => ThreadState::Running,
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.detach_inner();
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("pid", &self.pid)
            .field("tracer", &self.tracer)
            .field("threads", &self.threads.len())
            .field("armed", &self.by_addr.len())
            .field("exited", &self.exited)
            .finish()
    }
}
