//! Shared by the control tests: finding (and if need be building) the
//! runtime's `ctl_*` example targets and spawning them as the one test
//! child type (`grt_inspector::testing::Child`: output lines with
//! timeouts, killed and reaped on drop), and a few /proc readers.
#![allow(dead_code)]

pub use grt_inspector::testing::Child as Kid;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

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
    grt_inspector::testing::example_of(package, name)
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

/// Spawns `bin <args>` with `env` added.
pub fn spawn(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Kid {
    let mut c = Command::new(bin);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    Kid::spawn(&mut c)
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
