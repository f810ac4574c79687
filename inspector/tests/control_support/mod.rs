//! Shared by the control tests: finding (and if need be building) the
//! runtime's `ctl_*` example targets, spawning them as children that are
//! killed and reaped on drop, reading their output with timeouts, and a
//! few /proc readers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Tests of one file run one at a time: they time threads on 2 cores.
pub fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

/// The path of an example binary of `package`, found or built by the one
/// rule for examples (`grt_inspector::targets::example_of`: cargo builds
/// it once per test run, and does nothing when it is up to date; this also
/// catches a runtime library changed since the example was built, which
/// `cargo test -p grt-inspector` does not rebuild).
pub fn example(package: &str, name: &str) -> PathBuf {
    grt_inspector::targets::example_of(package, name).unwrap_or_else(|e| panic!("example {name}: {e}"))
}

/// A child process: its stdout lines arrive on a channel, its stderr is
/// collected; killed and reaped on drop.
pub struct Kid {
    pub child: Child,
    pub pid: i32,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    pub out: Arc<Mutex<String>>,
    pub err: Arc<Mutex<String>>,
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        // Bounded: if a session of this test left threads traced, their
        // zombies must be reaped (any thread may wait for tracees) before
        // the process can be; never hang the test run on it.
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            for tid in tasks(self.pid) {
                let mut st = 0;
                // SAFETY: st is a valid out-pointer.
                unsafe { libc::waitpid(tid, &mut st, libc::WNOHANG | libc::__WALL) };
            }
            match self.child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                _ => return,
            }
        }
        eprintln!("control_support: child {} did not go away", self.pid);
    }
}

/// Spawns `ctl_target <args>` and waits for its "ready <pid>" line.
pub fn target(args: &[&str], env: &[(&str, &str)]) -> Kid {
    let bin = example("grt", "ctl_target");
    let kid = spawn(&bin, args, env);
    let line = kid
        .line(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no ready line from ctl_target {args:?}: {}", kid.stderr()));
    assert_eq!(line, format!("ready {}", kid.pid), "{}", kid.stderr());
    kid
}

pub fn spawn(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Kid {
    let mut c = Command::new(bin);
    c.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let pid = child.id() as i32;
    let (tx, lines) = mpsc::channel();
    let out = Arc::new(Mutex::new(String::new()));
    let err = Arc::new(Mutex::new(String::new()));
    let stdout = child.stdout.take().unwrap();
    let o = out.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            o.lock().unwrap().push_str(&format!("{l}\n"));
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let stderr = child.stderr.take().unwrap();
    let e = err.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines() {
            let Ok(l) = l else { break };
            e.lock().unwrap().push_str(&format!("{l}\n"));
        }
    });
    let stdin = child.stdin.take();
    Kid { child, pid, stdin, lines, out, err }
}

impl Kid {
    /// The next stdout line, waiting up to `t`.
    pub fn line(&self, t: Duration) -> Option<String> {
        self.lines.recv_timeout(t).ok()
    }

    /// The next line that starts with `prefix` (others are skipped).
    pub fn line_starting(&self, prefix: &str, t: Duration) -> Option<String> {
        let end = Instant::now() + t;
        loop {
            let l = self.line(end.saturating_duration_since(Instant::now()))?;
            if l.starts_with(prefix) {
                return Some(l);
            }
        }
    }

    /// Writes "go" to its stdin.
    pub fn go(&mut self) {
        let w = self.stdin.as_mut().expect("stdin");
        w.write_all(b"go\n").unwrap();
        w.flush().unwrap();
    }

    pub fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    pub fn stdout(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Waits for the child to end (when nobody else reaped it).
    pub fn wait_exit(&mut self, t: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + t;
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) => return Some(s),
                Ok(None) => {}
                Err(_) => return None,
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends a signal.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill has no memory preconditions.
        assert_eq!(unsafe { libc::kill(self.pid, sig) }, 0);
    }
}

/// utime + stime of a thread, in clock ticks.
pub fn cpu_ticks(pid: i32, tid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the comm: state is field 3, utime 14, stime 15 (1-based).
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The one-letter state of a thread.
pub fn state(pid: i32, tid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    s[s.rfind(')')? + 1..].trim_start().chars().next()
}

/// The threads of `pid`, sorted (empty once it is gone).
pub fn tasks(pid: i32) -> Vec<i32> {
    grt_inspector::find::thread_ids(pid).unwrap_or_default()
}

/// The grt probes of a process named `name`.
pub fn probes(pid: i32, name: &str) -> Vec<grt_symbols::Probe> {
    let syms = grt_symbols::ProcessSymbols::load(pid).expect("load symbols");
    syms.probes().expect("probes").into_iter().filter(|p| p.provider == "grt" && p.name == name).collect()
}

/// Every grt probe site of a process.
pub fn all_probe_sites(pid: i32) -> Vec<u64> {
    let syms = grt_symbols::ProcessSymbols::load(pid).expect("load symbols");
    syms.probes().expect("probes").into_iter().filter(|p| p.provider == "grt").map(|p| p.address).collect()
}

/// The byte at `addr` in the process.
pub fn byte_at(pid: i32, addr: u64) -> u8 {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, addr).unwrap();
    b[0]
}

/// Parses "key=value" words of a line.
pub fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
        .parse()
        .unwrap()
}
