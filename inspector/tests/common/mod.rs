//! Helpers shared by the inspector's process tests: locating (and if need
//! be building) the runtime's example programs, and children that are
//! killed when the test ends.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};

/// The path of runtime example `name`, found or built by the one rule
/// for examples (`grt_inspector::targets::example`: cargo builds it in
/// this test's profile when anything it depends on changed).
pub fn example(name: &str) -> PathBuf {
    grt_inspector::targets::example(name).unwrap_or_else(|e| panic!("example {name}: {e}"))
}

/// A child process killed (and reaped) on drop.
pub struct Kid {
    pub child: Child,
    pub pid: i32,
    pub out: BufReader<ChildStdout>,
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Kid {
    /// Reads one line of the child's stdout.
    pub fn line(&mut self) -> String {
        let mut l = String::new();
        self.out.read_line(&mut l).expect("read the child's stdout");
        l.trim_end().to_string()
    }

    /// Kills the child and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` and, if `ready` is set, waits for its `ready <pid>` line.
pub fn spawn(mut cmd: Command, ready: bool) -> Kid {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("spawn the child");
    let pid = child.id() as i32;
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut k = Kid { child, pid, out };
    if ready {
        let l = k.line();
        assert_eq!(l, format!("ready {pid}"), "expected the child's ready line");
    }
    k
}

/// Spawns runtime example `name` with `args` and `env`, waiting for it to be ready.
pub fn spawn_example(name: &str, args: &[&str], env: &[(&str, &str)]) -> Kid {
    let mut c = Command::new(example(name));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    spawn(c, true)
}
