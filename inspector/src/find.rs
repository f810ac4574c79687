//! Finding grt processes and opening their status tables: the watch level,
//! which never stops or ptraces the target.
//!
//! A grt program has a memfd named `grt-status`; it shows in
//! `/proc/<pid>/fd` as a link to `/memfd:grt-status (deleted)`. Opening that
//! link (`/proc/<pid>/fd/N`) needs the same permission as ptrace: the
//! kernel's access check is the inspector's access control.
//!
//! Reading: the table is copied out with `pread` on the opened memfd, never
//! through references into a mapping. A mapping would be as fast, but the
//! target may shrink its memfd (a hostile or dying program), and touching a
//! mapped page past the end of the file raises SIGBUS in the reader;
//! `pread` just returns fewer bytes, which is an error. The copy is what
//! [`Image`] decodes, so values the target changes while we copy are at
//! worst torn (see `snapshot`), never unsafe.
//!
//! Invariants:
//! - Every failure is a distinct [`FindError`] variant whose message names
//!   the cause and the remedy in one line.
//! - A process that exits while we read is reported as exited, not as a
//!   table that happened to load: after copying, the process's start time
//!   is checked again (a pid may be reused).

use crate::snapshot::{Capture, DecodeOptions, Snapshot};
use grt_table::header::{SectionKind, MEMFD_NAME};
use grt_table::view::{Error as ViewError, Image};
use std::fmt;
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::time::Duration;

/// The per-section copy limit [`TableSource::snapshot`] uses: above the
/// used part of any real table (2M goroutines are ~0.6 GiB of G records),
/// and a bound on what a hostile memfd can make the inspector allocate.
pub const MAX_SECTION: u64 = 4 << 30;

/// The per-section copy limit of a dump (`dump::capture`, the TUI's `d`
/// key): 16 GiB, four times [`MAX_SECTION`]. A dump is taken once, on
/// request, and is read for what it leaves out, so it takes the whole of
/// any table the live view would cut short (GRT_MAXG allows 64M
/// goroutines, ~19 GiB of G records at ~300 bytes each; a dump of such a
/// table shows its first 16 GiB). Only the used part of a section
/// (`len x stride`) is copied, so a real table never costs this much; the
/// bound is on what a corrupt or hostile header can make one copy allocate.
pub const MAX_DUMP_SECTION: u64 = 1 << 34;

/// How long after a process starts its table may still say "starting":
/// the runtime sizes and fills it in its first milliseconds, so a table
/// still empty, truncated or not marked ready after this is damaged, not
/// late (the errors then say so instead of "try again in a moment").
pub const STARTUP_GRACE: Duration = Duration::from_secs(3);

/// The process (thread group) that thread `id` belongs to: the Tgid line
/// of `/proc/<id>/status` (a thread id opens under /proc like a pid).
/// `None` if there is no such thread.
pub fn process_of(id: i32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{id}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("Tgid:")).and_then(|v| v.trim().parse().ok())
}

/// The ids of the threads of process `pid`, sorted: the entries of
/// `/proc/<pid>/task`. A thread whose exit has begun stays listed until
/// the kernel releases it (a traced one once its tracer has collected the
/// exit), so a listed thread may be a zombie or already gone when it is
/// used: callers treat ESRCH (or, for a seize, EPERM on a zombie) on a
/// listed thread as "exited", not as an error.
pub fn thread_ids(pid: i32) -> std::io::Result<Vec<i32>> {
    let mut v: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/task"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort_unstable();
    Ok(v)
}

/// Why a table could not be opened or read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FindError {
    /// `/proc/<pid>` does not exist.
    NoProcess { pid: i32 },
    /// The process has no `grt-status` memfd.
    NotGrt { pid: i32, command: String },
    /// The memfd exists but the runtime has not finished writing it.
    NotReady { pid: i32, command: String },
    /// The kernel refused to show the process's fds or open the memfd.
    PermissionDenied { pid: i32, uid: Option<u32> },
    /// A table of another ABI version.
    Abi { pid: i32, found: u32, supported: u32 },
    /// The memfd is shorter than its header says (or empty, or too short
    /// for a header, [`STARTUP_GRACE`] after the process started).
    Truncated { pid: i32, need: u64, have: u64 },
    /// The header is whole but still says "starting" (zero magic, or not
    /// marked ready) [`STARTUP_GRACE`] after the process started.
    NeverReady { pid: i32, command: String, secs: u64 },
    /// The header or the descriptors are malformed.
    Corrupt { pid: i32, cause: String },
    /// The process exited (before or while we read).
    Exited { pid: i32 },
    /// Another I/O error.
    Io { pid: i32, what: String, error: String },
}

impl FindError {
    pub fn pid(&self) -> i32 {
        match *self {
            FindError::NoProcess { pid }
            | FindError::NotGrt { pid, .. }
            | FindError::NotReady { pid, .. }
            | FindError::PermissionDenied { pid, .. }
            | FindError::Abi { pid, .. }
            | FindError::Truncated { pid, .. }
            | FindError::NeverReady { pid, .. }
            | FindError::Corrupt { pid, .. }
            | FindError::Exited { pid }
            | FindError::Io { pid, .. } => pid,
        }
    }
}

impl fmt::Display for FindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FindError::NoProcess { pid } => write!(f, "no process with pid {pid}"),
            FindError::NotGrt { pid, command } => write!(
                f,
                "process {pid} ({command}) has no grt status table: it is not a grt program, or it has not started the runtime yet"
            ),
            FindError::NotReady { pid, command } => write!(
                f,
                "process {pid} ({command}) is still starting its runtime (status table not ready); try again in a moment"
            ),
            FindError::PermissionDenied { pid, uid } => {
                let owner = uid.map_or(String::new(), |u| format!(" (owned by uid {u})"));
                write!(
                    f,
                    "cannot open the status table of process {pid}{owner}: permission denied; run grt-tui as that user or as root, or set kernel.yama.ptrace_scope=0"
                )
            }
            FindError::Abi { pid, found, supported } => write!(
                f,
                "process {pid} uses status table ABI v{found}; this grt-tui reads v{supported}; use the grt-tui built with that program"
            ),
            FindError::Truncated { pid, need, have: 0 } => write!(
                f,
                "the status table of process {pid} is truncated (the memfd is empty, a header needs {need} bytes) though its runtime has had time to start: the table is damaged; restart the program"
            ),
            FindError::NeverReady { pid, command, secs } => write!(
                f,
                "the status table of process {pid} ({command}) is still not marked ready {secs} s after the process started: the runtime did not finish it; the table is damaged; restart the program"
            ),
            FindError::Truncated { pid, need, have } => write!(
                f,
                "the status table of process {pid} is truncated (its header says {need} bytes, the memfd has {have}): the table is damaged; restart the program"
            ),
            FindError::Corrupt { pid, cause } => write!(
                f,
                "the status table of process {pid} is corrupt ({cause}): the program may have overwritten runtime memory; save a core dump (gcore {pid}) and restart it"
            ),
            FindError::Exited { pid } => write!(f, "process {pid} exited"),
            FindError::Io { pid, what, error } => {
                write!(f, "reading the status table of process {pid} failed ({what}: {error}); check that the process is still running")
            }
        }
    }
}

impl std::error::Error for FindError {}

/// One grt process, as `grt-tui ps` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: i32,
    /// Basename of `argv[0]`, or `/proc/<pid>/comm`.
    pub command: String,
    pub uid: Option<u32>,
    pub gomaxprocs: Option<i64>,
    /// Goroutines that are not dead: the runtime's own count (sched.ngoroutines).
    pub goroutines: Option<i64>,
    /// Threads of the process (`/proc/<pid>/status`).
    pub threads: Option<u32>,
    pub uptime: Option<Duration>,
    /// Bug switches in force.
    pub bugs: Vec<String>,
    /// Why the table could not be read, if it could not (ABI, corrupt, ...):
    /// the process is a grt program but the other columns are unknown.
    pub problem: Option<String>,
}

/// Result of a scan of /proc.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcScan {
    pub procs: Vec<ProcInfo>,
    /// Processes whose fds we may not list (permission denied): they may be
    /// grt programs of other users.
    pub denied: usize,
}

impl ProcScan {
    /// The note `grt-tui ps` prints under the list, if any process was hidden.
    pub fn denied_note(&self) -> Option<String> {
        match self.denied {
            0 => None,
            n => Some(format!(
                "{n} process{} not shown: permission denied; run as their user or root",
                if n == 1 { "" } else { "es" }
            )),
        }
    }
}

/// Every grt process we can read, by pid.
pub fn list_processes() -> Vec<ProcInfo> {
    scan_processes().procs
}

/// Every grt process we can read, and how many processes we could not look at.
pub fn scan_processes() -> ProcScan {
    let mut scan = ProcScan::default();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return scan;
    };
    let mut pids: Vec<i32> = rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    pids.sort_unstable();
    for pid in pids {
        match memfd_links(pid) {
            Err(FindError::PermissionDenied { .. }) => scan.denied += 1,
            Err(_) => {}
            Ok(fds) if fds.is_empty() => {}
            Ok(_) => match open_table(pid) {
                Ok(src) => scan.procs.push(src.info()),
                Err(FindError::PermissionDenied { .. }) => scan.denied += 1,
                Err(FindError::NoProcess { .. }) | Err(FindError::Exited { .. }) | Err(FindError::NotGrt { .. }) => {}
                Err(e) => scan.procs.push(ProcInfo {
                    pid,
                    command: command_of(pid),
                    uid: uid_of(pid),
                    gomaxprocs: None,
                    goroutines: None,
                    threads: threads_of(pid),
                    uptime: None,
                    bugs: Vec::new(),
                    problem: Some(e.to_string()),
                }),
            },
        }
    }
    scan
}

/// The fds of `pid` that link to the grt-status memfd.
fn memfd_links(pid: i32) -> Result<Vec<u32>, FindError> {
    let dir = format!("/proc/{pid}/fd");
    let rd = std::fs::read_dir(&dir).map_err(|e| match e.kind() {
        ErrorKind::NotFound => FindError::NoProcess { pid },
        ErrorKind::PermissionDenied => FindError::PermissionDenied { pid, uid: uid_of(pid) },
        _ => FindError::Io { pid, what: dir.clone(), error: e.to_string() },
    })?;
    let want = format!("/memfd:{MEMFD_NAME}");
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue;
        };
        let t = target.to_string_lossy();
        if t == want || t == format!("{want} (deleted)") {
            out.push(fd);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The process's start time (field 22 of /proc/<pid>/stat, clock ticks
/// after boot) and state letter.
fn stat_of(pid: i32) -> Option<(u64, char)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    let mut it = rest.split_whitespace();
    let state = it.next()?.chars().next()?;
    // rest's fields are stat fields 3.., so starttime (22) is the 20th here.
    let start = it.nth(18)?.parse().ok()?;
    Some((start, state))
}

fn uid_of(pid: i32) -> Option<u32> {
    std::fs::metadata(format!("/proc/{pid}")).ok().map(|m| m.uid())
}

fn threads_of(pid: i32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|v| v.trim().parse().ok())
}

fn command_of(pid: i32) -> String {
    if let Ok(b) = std::fs::read(format!("/proc/{pid}/cmdline")) {
        if let Some(arg0) = b.split(|&c| c == 0).next().filter(|a| !a.is_empty()) {
            let a = String::from_utf8_lossy(arg0);
            return a.rsplit('/').next().unwrap_or(&a).to_string();
        }
    }
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Seconds since boot per /proc/uptime, and clock ticks per second.
fn boot_uptime() -> Option<f64> {
    std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()
}

/// An opened status table of a live process.
#[derive(Debug)]
pub struct TableSource {
    pid: i32,
    /// The target's fd number of the memfd.
    fd: u32,
    file: File,
    /// Start time of the process when we opened it (to notice exit and pid reuse).
    start: Option<u64>,
    command: String,
    uid: Option<u32>,
}

/// Opens the status table of `pid`.
pub fn open_table(pid: i32) -> Result<TableSource, FindError> {
    if pid <= 0 {
        return Err(FindError::NoProcess { pid });
    }
    let stat = stat_of(pid);
    if stat.is_some_and(|(_, state)| matches!(state, 'Z' | 'X' | 'x')) {
        return Err(FindError::Exited { pid });
    }
    let start = stat.map(|s| s.0);
    let fds = memfd_links(pid)?;
    let command = command_of(pid);
    if fds.is_empty() {
        if stat_of(pid).is_none() {
            return Err(FindError::Exited { pid });
        }
        return Err(FindError::NotGrt { pid, command });
    }
    let uid = uid_of(pid);
    let mut last = None;
    // Usually one; if a grt program forked without exec, the child also has
    // its parent's memfd: prefer the table whose header names this pid.
    let mut opened = Vec::new();
    for fd in fds {
        let path = PathBuf::from(format!("/proc/{pid}/fd/{fd}"));
        match File::open(&path) {
            Ok(file) => opened.push(TableSource { pid, fd, file, start, command: command.clone(), uid }),
            Err(e) => {
                last = Some(match e.kind() {
                    ErrorKind::NotFound => {
                        if stat_of(pid).is_none() {
                            FindError::Exited { pid }
                        } else {
                            FindError::NotGrt { pid, command: command.clone() }
                        }
                    }
                    ErrorKind::PermissionDenied => FindError::PermissionDenied { pid, uid },
                    _ => FindError::Io { pid, what: path.display().to_string(), error: e.to_string() },
                });
            }
        }
    }
    if opened.len() > 1 {
        if let Some(i) = opened.iter().position(|t| t.header_pid() == Some(pid as u32)) {
            return Ok(opened.swap_remove(i));
        }
    }
    opened.into_iter().next().ok_or_else(|| last.unwrap_or(FindError::NotGrt { pid, command }))
}

impl TableSource {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The target's fd number of the memfd.
    pub fn fd(&self) -> u32 {
        self.fd
    }

    pub fn command(&self) -> &str {
        &self.command
    }

    pub fn uid(&self) -> Option<u32> {
        self.uid
    }

    /// The memfd's current size.
    pub fn len(&self) -> Result<u64, FindError> {
        self.file.metadata().map(|m| m.len()).map_err(|e| self.io("fstat", e))
    }

    pub fn is_empty(&self) -> Result<bool, FindError> {
        self.len().map(|l| l == 0)
    }

    fn io(&self, what: &str, e: std::io::Error) -> FindError {
        FindError::Io { pid: self.pid, what: what.to_string(), error: e.to_string() }
    }

    /// Copies `buf.len()` bytes at table offset `off`.
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<(), FindError> {
        self.file.read_exact_at(buf, off).map_err(|e| {
            if e.kind() == ErrorKind::UnexpectedEof {
                FindError::Truncated {
                    pid: self.pid,
                    need: off.saturating_add(buf.len() as u64),
                    have: self.len().unwrap_or(0),
                }
            } else {
                self.io("pread", e)
            }
        })
    }

    fn header_pid(&self) -> Option<u32> {
        let mut b = [0u8; 4];
        self.read_at(std::mem::offset_of!(grt_table::Header, pid) as u64, &mut b).ok()?;
        Some(u32::from_ne_bytes(b))
    }

    /// Whether the process we opened is still running (not exited, not a
    /// zombie, and its pid not reused).
    pub fn alive(&self) -> bool {
        match stat_of(self.pid) {
            None => false,
            Some((start, state)) => {
                !matches!(state, 'Z' | 'X' | 'x') && (self.start.is_none() || self.start == Some(start))
            }
        }
    }

    /// Copies the table into an [`Image`], at most `max_section` bytes per section.
    pub fn load_image(&self, max_section: u64) -> Result<Image, FindError> {
        self.load_image_reusing(max_section, None)
    }

    /// [`TableSource::load_image`] into the section buffers of an image no
    /// longer needed (each large read takes the best-fitting one).
    pub fn load_image_reusing(&self, max_section: u64, old: Option<Image>) -> Result<Image, FindError> {
        let len = self.len()?;
        let mut pool: Vec<Vec<u8>> = old.map(|i| i.segments.into_iter().map(|s| s.bytes).collect()).unwrap_or_default();
        let r = Image::load(
            |off, n| {
                let mut v = reuse_buffer(&mut pool, n);
                self.file.read_exact_at(&mut v, off).map_err(|e| e.to_string())?;
                Ok(v)
            },
            len,
            max_section,
        );
        if !self.alive() {
            return Err(FindError::Exited { pid: self.pid });
        }
        let img = r.map_err(|e| self.view_error(e))?;
        if !img.header.ready {
            return Err(self.not_ready(None));
        }
        Ok(img)
    }

    /// "Still starting" while the process is younger than
    /// [`STARTUP_GRACE`]; after that the table will not get better: it is
    /// truncated (`truncated`: what the view needed and the memfd has) or
    /// never marked ready.
    fn not_ready(&self, truncated: Option<(u64, u64)>) -> FindError {
        let pid = self.pid;
        match self.uptime_from_stat() {
            Some(age) if age >= STARTUP_GRACE => match truncated {
                Some((need, have)) => FindError::Truncated { pid, need, have },
                None => FindError::NeverReady { pid, command: self.command.clone(), secs: age.as_secs() },
            },
            _ => FindError::NotReady { pid, command: self.command.clone() },
        }
    }

    fn view_error(&self, e: ViewError) -> FindError {
        let pid = self.pid;
        match e {
            ViewError::Truncated { need, have } => {
                if have == 0 || self.all_zero_magic() {
                    self.not_ready(Some((need, have)))
                } else {
                    FindError::Truncated { pid, need, have }
                }
            }
            ViewError::BadMagic if self.all_zero_magic() => self.not_ready(None),
            ViewError::AbiVersion { found, supported } => FindError::Abi { pid, found, supported },
            ViewError::Read(error) => FindError::Io { pid, what: "pread".into(), error },
            other => FindError::Corrupt { pid, cause: other.to_string() },
        }
    }

    /// The runtime sizes the memfd, then writes the header: zeros mean "starting".
    fn all_zero_magic(&self) -> bool {
        let mut b = [0u8; 8];
        self.file.read_exact_at(&mut b, 0).map(|_| b == [0; 8]).unwrap_or(true)
    }

    /// Loads and decodes a live snapshot (the target keeps running).
    pub fn snapshot(&self, include_dead: bool) -> Result<Snapshot, FindError> {
        self.snapshot_reusing(include_dead, None, &mut None)
    }

    /// [`TableSource::snapshot`] for a watcher's loop: the table is copied
    /// into the buffers of the last image (`image`, which keeps the new
    /// one) and decoded into the memory of a snapshot no longer needed
    /// (see [`Snapshot::decode_reusing`]), so that a frame writes over
    /// memory already mapped instead of faulting in tens of MB afresh.
    pub fn snapshot_reusing(
        &self,
        include_dead: bool,
        old: Option<Snapshot>,
        image: &mut Option<Image>,
    ) -> Result<Snapshot, FindError> {
        let img = self.load_image_reusing(MAX_SECTION, image.take())?;
        let opts = DecodeOptions { include_dead, capture: Capture::Live, now_mono_ns: None };
        let s = match old {
            Some(old) => Snapshot::decode_reusing(&img, &opts, old),
            None => Snapshot::decode(&img, &opts),
        };
        *image = Some(img);
        Ok(s)
    }

    /// What `grt-tui ps` shows about this process (reads the header and the
    /// sched record only).
    pub fn info(&self) -> ProcInfo {
        let mut p = ProcInfo {
            pid: self.pid,
            command: self.command.clone(),
            uid: self.uid,
            gomaxprocs: None,
            goroutines: None,
            threads: threads_of(self.pid),
            uptime: None,
            bugs: Vec::new(),
            problem: None,
        };
        // 64 KiB per section is plenty for the header, sched and mheap.
        match self.load_image(64 << 10) {
            Err(e) => p.problem = Some(e.to_string()),
            Ok(img) => {
                if let Some(r) = img.record(SectionKind::Sched, 0) {
                    let l = &img.layout;
                    p.gomaxprocs = r.opt(l.field_path("sched", "gomaxprocs")).map(|v| v as i64);
                    p.goroutines = r.opt(l.field_path("sched", "ngoroutines")).map(|v| v as i64);
                }
                let names = img.layout.enum_list("bugs").unwrap_or(&[]);
                p.bugs = (0..64)
                    .filter(|b| img.header.bugs & (1u64 << b) != 0)
                    .map(|b| names.get(b).cloned().unwrap_or_else(|| format!("bug{b}")))
                    .collect();
                let now = crate::snapshot::mono_now();
                p.uptime = match now.checked_sub(img.header.start_mono_ns) {
                    Some(d) if img.header.start_mono_ns != 0 => Some(Duration::from_nanos(d)),
                    _ => self.uptime_from_stat(),
                };
            }
        }
        p
    }

    fn uptime_from_stat(&self) -> Option<Duration> {
        // SAFETY: sysconf has no memory effects.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if hz <= 0 {
            return None;
        }
        let (start, _) = stat_of(self.pid)?;
        let up = boot_uptime()? - start as f64 / hz as f64;
        (up >= 0.0).then(|| Duration::from_secs_f64(up))
    }
}

/// A buffer of `n` bytes for a read that overwrites all of them: for a
/// large read, the pooled buffer with the least room that fits (else the
/// largest, grown), its old bytes kept rather than zeroed; small reads get
/// a fresh one.
fn reuse_buffer(pool: &mut Vec<Vec<u8>>, n: usize) -> Vec<u8> {
    const SMALL: usize = 64 << 10;
    let pick = if n < SMALL || pool.is_empty() {
        None
    } else {
        let fits = (0..pool.len()).filter(|&i| pool[i].capacity() >= n).min_by_key(|&i| pool[i].capacity());
        fits.or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].capacity()))
    };
    let mut v = match pick {
        Some(i) => pool.swap_remove(i),
        None => return vec![0u8; n],
    };
    if v.len() >= n {
        v.truncate(n);
    } else {
        v.resize(n, 0);
    }
    v
}

#[cfg(test)]
mod buffer_tests {
    use super::reuse_buffer;

    #[test]
    fn reads_take_the_best_fitting_buffer() {
        let mut pool = vec![vec![1u8; 100 << 10], vec![2u8; 300 << 10], vec![3u8; 200 << 10]];
        let v = reuse_buffer(&mut pool, 150 << 10);
        assert_eq!((v.len(), v[0]), (150 << 10, 3), "the 200 KiB buffer, cut to size");
        let v = reuse_buffer(&mut pool, 400 << 10);
        assert_eq!((v.len(), v[0]), (400 << 10, 2), "the largest, grown");
        let v = reuse_buffer(&mut pool, 100);
        assert_eq!((v.len(), pool.len()), (100, 1), "a small read takes a fresh buffer");
    }
}
