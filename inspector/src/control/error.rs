//! The control module's one error type: `Copy`, carrying the offending
//! values, with one-line messages that name the cause and the remedy.

use core::fmt;

/// How a process or thread ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ExitStatus {
    /// It exited with this status.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
    /// It is gone, but someone else collected its status.
    Unknown,
}

/// A process's name (its `comm`, at most 15 bytes), kept inline so that
/// `Error` stays `Copy`. Empty when it could not be read.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Comm {
    len: u8,
    bytes: [u8; 15],
}

impl Comm {
    /// The first 15 bytes of `name`, cut at a character boundary.
    pub fn new(name: &str) -> Comm {
        let mut end = name.len().min(15);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0; 15];
        bytes[..end].copy_from_slice(&name.as_bytes()[..end]);
        Comm { len: end as u8, bytes }
    }

    pub fn as_str(&self) -> &str {
        // `new` copied whole characters of a `str`.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Debug for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ExitStatus {
    /// Decodes a `waitpid` status word of an exit (`WIFEXITED` or
    /// `WIFSIGNALED`).
    pub fn from_wait(status: i32) -> ExitStatus {
        if libc::WIFEXITED(status) {
            ExitStatus::Code(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            ExitStatus::Signal(libc::WTERMSIG(status))
        } else {
            ExitStatus::Unknown
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExitStatus::Code(c) => write!(f, "exited with status {c}"),
            ExitStatus::Signal(s) => write!(f, "was killed by signal {s} ({})", signal_name(s)),
            ExitStatus::Unknown => write!(f, "exited (its status was collected by another waiter)"),
        }
    }
}

/// The usual name of a Linux signal number ("SIGKILL"), or "SIG?".
pub fn signal_name(sig: i32) -> &'static str {
    const NAMES: [&str; 32] = [
        "SIG0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match sig {
        0..=31 => NAMES[sig as usize],
        32..=64 => "SIGRT",
        _ => "SIG?",
    }
}

/// Everything that can go wrong while controlling a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// There is no process with this pid (or it is a zombie).
    NoSuchProcess { pid: i32 },
    /// The kernel refused ptrace access.
    PermissionDenied { pid: i32 },
    /// Another tracer (gdb, strace, another session) holds the process:
    /// `tracer` is its process id (not the id of the thread that traces)
    /// and `name` its `comm`.
    AlreadyTraced { pid: i32, tracer: i32, name: Comm },
    /// The process ended while attached; every later call says so.
    ProcessExited { pid: i32, status: ExitStatus },
    /// The session was detached.
    Detached { pid: i32 },
    /// The thread is not (or no longer) a thread of the process.
    NoSuchThread { pid: i32, tid: i32 },
    /// The operation needs the thread stopped by this session.
    NotStopped { tid: i32, op: &'static str },
    /// The probe site does not hold the one-byte `nop` a probe is.
    ProbeSiteNotNop { addr: u64, found: u8 },
    /// No probe of this session is armed there (or the id is stale).
    ProbeNotArmed { addr: u64 },
    /// No probe by the requested name in the process.
    NoSuchProbe { pid: i32 },
    /// A probe's argument description names something the decoder does
    /// not know.
    BadProbeArgs { addr: u64, index: u32 },
    /// The static table of patched sites is full.
    TooManyPatches { capacity: u32 },
    /// A thread did not reach the expected stop in time.
    Timeout { tid: i32, op: &'static str, ms: u32 },
    /// A ptrace request failed for a reason not covered above.
    Ptrace { op: &'static str, tid: i32, errno: i32 },
    /// Reading or writing the target's memory failed.
    Memory { addr: u64, len: u32, errno: i32 },
    /// Reading a `/proc` file failed.
    Proc { what: &'static str, pid: i32, errno: i32 },
    /// Loading the target's symbols (for its probe list) failed.
    Symbols(grt_symbols::Error),
    /// The controller's thread is gone.
    ControllerGone,
}

/// `Result` with this module's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

fn os(errno: i32) -> std::io::Error {
    std::io::Error::from_raw_os_error(errno)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::NoSuchProcess { pid } => {
                write!(
                    f,
                    "no such process: {pid} (it has exited, or the pid is wrong: `grt-tui ps` lists grt processes)"
                )
            }
            Error::PermissionDenied { pid } => write!(
                f,
                "permission denied to ptrace process {pid}: run as the target's user or root; in a container the \
                 inspector needs CAP_SYS_PTRACE; check kernel.yama.ptrace_scope"
            ),
            Error::AlreadyTraced { pid, tracer, name } if name.as_str().is_empty() => write!(
                f,
                "process {pid} is already traced by process {tracer} (gdb, strace or another inspector): detach that \
                 tracer first"
            ),
            Error::AlreadyTraced { pid, tracer, name } => write!(
                f,
                "process {pid} is already traced by process {tracer} `{name}` (gdb, strace or another inspector): \
                 detach that tracer first"
            ),
            Error::ProcessExited { pid, status } => write!(f, "process {pid} {status}"),
            Error::Detached { pid } => write!(f, "the session with process {pid} is detached: attach again"),
            Error::NoSuchThread { pid, tid } => {
                write!(f, "thread {tid} is not a thread of process {pid} (it may have exited): list the threads again")
            }
            Error::NotStopped { tid, op } => write!(f, "thread {tid} is running: freeze it before {op}"),
            Error::ProbeSiteNotNop { addr, found } => write!(
                f,
                "probe site {addr:#x} holds {found:#04x}, not a nop (0x90): another tracer has it armed, or the \
                 address is not a probe; refusing to patch it"
            ),
            Error::ProbeNotArmed { addr } => write!(f, "no probe of this session is armed at {addr:#x}"),
            Error::NoSuchProbe { pid } => write!(
                f,
                "process {pid} has no probe by that name (`gdb -batch -ex 'info probes' <binary>` lists them)"
            ),
            Error::BadProbeArgs { addr, index } => write!(
                f,
                "probe at {addr:#x}: argument {index} of its note is not a register, constant or memory operand this \
                 decoder knows; arm it without arguments or extend control::args"
            ),
            Error::TooManyPatches { capacity } => {
                write!(f, "more than {capacity} patched sites in this inspector: disarm probes you no longer need")
            }
            Error::Timeout { tid, op, ms } => write!(
                f,
                "thread {tid} did not {op} within {ms} ms (uninterruptible sleep? see the state in \
                 /proc/<pid>/task/{tid}/stat; raise Options::stop_timeout)"
            ),
            Error::Ptrace { op, tid, errno } => write!(f, "ptrace {op} on thread {tid} failed: {}", os(errno)),
            Error::Memory { addr, len, errno } => {
                write!(f, "cannot access {len} bytes of target memory at {addr:#x}: {}", os(errno))
            }
            Error::Proc { what, pid, errno } => write!(f, "cannot read /proc/{pid}/{what}: {}", os(errno)),
            Error::Symbols(e) => write!(f, "cannot list the target's probes: {e}"),
            Error::ControllerGone => {
                write!(f, "the controller thread has ended (its session was detached or failed): attach again")
            }
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_the_values() {
        let all = [
            Error::NoSuchProcess { pid: 7 },
            Error::PermissionDenied { pid: 7 },
            Error::AlreadyTraced { pid: 7, tracer: 9, name: Comm::new("strace") },
            Error::AlreadyTraced { pid: 7, tracer: 9, name: Comm::default() },
            Error::ProcessExited { pid: 7, status: ExitStatus::Code(3) },
            Error::ProcessExited { pid: 7, status: ExitStatus::Signal(9) },
            Error::Detached { pid: 7 },
            Error::NoSuchThread { pid: 7, tid: 8 },
            Error::NotStopped { tid: 8, op: "reading its registers" },
            Error::ProbeSiteNotNop { addr: 0x1000, found: 0xcc },
            Error::ProbeNotArmed { addr: 0x1000 },
            Error::NoSuchProbe { pid: 7 },
            Error::BadProbeArgs { addr: 0x1000, index: 1 },
            Error::TooManyPatches { capacity: 1024 },
            Error::Timeout { tid: 8, op: "stop", ms: 2000 },
            Error::Ptrace { op: "GETREGS", tid: 8, errno: libc::ESRCH },
            Error::Memory { addr: 0x1000, len: 1, errno: libc::EIO },
            Error::Proc { what: "task", pid: 7, errno: libc::ENOENT },
            Error::ControllerGone,
        ];
        for e in all {
            let s = e.to_string();
            assert!(!s.contains('\n'), "{s}");
            assert!(s.chars().next().unwrap().is_lowercase(), "{s}");
        }
        assert_eq!(
            Error::ProcessExited { pid: 7, status: ExitStatus::Code(3) }.to_string(),
            "process 7 exited with status 3"
        );
        assert_eq!(
            Error::ProcessExited { pid: 7, status: ExitStatus::Signal(9) }.to_string(),
            "process 7 was killed by signal 9 (SIGKILL)"
        );
        assert!(Error::PermissionDenied { pid: 7 }.to_string().contains("CAP_SYS_PTRACE"));
        assert!(Error::AlreadyTraced { pid: 7, tracer: 9, name: Comm::default() }
            .to_string()
            .contains("traced by process 9 (gdb"));
        assert!(Error::AlreadyTraced { pid: 7, tracer: 9, name: Comm::new("strace") }
            .to_string()
            .contains("traced by process 9 `strace` (gdb"));
    }

    #[test]
    fn a_comm_keeps_15_bytes_and_whole_characters() {
        assert_eq!(Comm::new("strace").as_str(), "strace");
        assert_eq!(Comm::new("a-very-long-program-name").as_str(), "a-very-long-pro");
        // 'é' is two bytes: 14 ASCII bytes and half of it do not make 15.
        assert_eq!(Comm::new("abcdefghijklmné").as_str(), "abcdefghijklmn");
        assert_eq!(Comm::default().as_str(), "");
    }
}
