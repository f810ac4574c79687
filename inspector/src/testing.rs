//! Test support for the workspace's test crates (hidden from the docs):
//! finding the runtime's example programs (through the one rule in
//! [`crate::targets`]) and starting them as a [`Child`] that captures
//! its output lines and is killed and reaped when dropped. The inspector's
//! tests and the TUI's tests start every target through this one type.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long `expect_line` and `wait_ready` wait for a line: long enough
/// for a debug-built example to start on a loaded machine.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// The path of runtime example `name` (package `grt`), found or built by
/// the one rule for examples ([`crate::targets::example`]); panics with
/// the reason when there is none.
pub fn example(name: &str) -> PathBuf {
    crate::targets::example(name).unwrap_or_else(|e| panic!("example {name}: {e}"))
}

/// The path of example `name` of `package` ([`crate::targets::example_of`]).
pub fn example_of(package: &str, name: &str) -> PathBuf {
    crate::targets::example_of(package, name).unwrap_or_else(|e| panic!("example {name} of {package}: {e}"))
}

/// A child process for a test. Its stdout lines arrive on a channel (and
/// are kept, with its stderr, for messages); its stdin is a pipe. Dropping
/// it kills the child and reaps it.
pub struct Child {
    pub child: std::process::Child,
    pub pid: i32,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
}

impl Child {
    /// Spawns `cmd` with its stdin, stdout and stderr piped (whatever the
    /// command said about them): a reader thread per stream keeps the
    /// pipes drained, so the child never blocks on a full one.
    pub fn spawn(cmd: &mut Command) -> Child {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", cmd.get_program().to_string_lossy()));
        let pid = child.id() as i32;
        let (tx, lines) = mpsc::channel();
        let out = Arc::new(Mutex::new(String::new()));
        let err = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let o = out.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                o.lock().unwrap_or_else(|e| e.into_inner()).push_str(&format!("{l}\n"));
                // The receiver is gone with the Child: keep draining.
                let _ = tx.send(l);
            }
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let e = err.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines() {
                let Ok(l) = l else { break };
                e.lock().unwrap_or_else(|e| e.into_inner()).push_str(&format!("{l}\n"));
            }
        });
        let stdin = child.stdin.take();
        Child { child, pid, stdin, lines, out, err }
    }

    /// Spawns runtime example `name` with `args` and `env` (not waiting
    /// for anything).
    pub fn example(name: &str, args: &[&str], env: &[(&str, &str)]) -> Child {
        let mut c = Command::new(example(name));
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        Child::spawn(&mut c)
    }

    /// Waits for the child's first line, which must be `ready <pid>` (the
    /// examples built as targets print it once their runtime is up).
    pub fn wait_ready(self) -> Child {
        let l = self.expect_line();
        assert_eq!(l, format!("ready {}", self.pid), "expected the child's ready line; stderr:\n{}", self.stderr());
        self
    }

    /// The next stdout line, waiting up to `t`; `None` on timeout or once
    /// the child closed its stdout.
    pub fn line(&self, t: Duration) -> Option<String> {
        self.lines.recv_timeout(t).ok()
    }

    /// The next stdout line; panics (with the child's stderr) if none
    /// comes within 30 s.
    pub fn expect_line(&self) -> String {
        self.line(LINE_TIMEOUT).unwrap_or_else(|| {
            panic!("no line from child {} within {LINE_TIMEOUT:?}; stderr:\n{}", self.pid, self.stderr())
        })
    }

    /// The next line that starts with `prefix` (others are skipped),
    /// waiting up to `t` in all.
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

    /// Everything it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.err.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Everything it wrote to stdout so far (lines taken or not).
    pub fn stdout(&self) -> String {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Its exit status if it has ended (reaping it), without waiting.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `t` for the child to end (when nobody else reaped it).
    pub fn wait_exit(&mut self, t: Duration) -> Option<ExitStatus> {
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

    /// Kills the child and reaps it (what dropping it does).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        // Bounded: if a session of this test left threads traced, their
        // zombies must be reaped (any thread may wait for tracees) before
        // the process can be; never hang the test run on it.
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            for tid in crate::find::thread_ids(self.pid).unwrap_or_default() {
                let mut st = 0;
                // SAFETY: st is a valid out-pointer.
                unsafe { libc::waitpid(tid, &mut st, libc::WNOHANG | libc::__WALL) };
            }
            match self.child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                _ => return,
            }
        }
        eprintln!("testing: child {} did not go away", self.pid);
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let err = self.stderr();
            if !err.is_empty() {
                eprintln!("stderr of child {}:\n{err}", self.pid);
            }
        }
        self.kill();
    }
}
