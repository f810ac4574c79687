//! Freeze/thaw soak: runs a grt program with its own correctness checks on
//! (the demo by default: it panics, exit 2, on any wrong result or when its
//! pipeline stops) and freezes and thaws it over and over through
//! `control::Session`, as `grt-tui attach` + `F` ... `T` does, counting the
//! cycles after which the target died or stopped beating.
//!
//! Each cycle picks at random: freeze every thread or one thread (any of
//! the target's), hold it for a random time in `[min_ms, max_ms]`, thaw,
//! then detach (a fresh attach next cycle) or stay attached. Half the
//! cycles stop the target right after a heartbeat (just after its
//! self-check), the others after a random pause. After every `judge` cycles
//! (and after the last) the target must beat twice, each within 5 s; after
//! every cycle it must be alive. A failed target is reported (the panic
//! message, times relative to the thaw) and replaced by a fresh one.
//!
//! Usage: freezesoak [--judge N (1)] [--target NAME (demo)] [--only all|one]
//!                   [--sigstop] [cycles (50)] [min_ms (0)] [max_ms (2000)]
//! `--only` freezes only every thread, or only one thread, each cycle.
//! `--sigstop` stops the whole process with SIGSTOP/SIGCONT instead of
//! ptrace: the control that tells a ptrace-specific fault from one of any
//! whole-process stop. Environment: `FREEZESOAK_SEED` replays a run (the
//! seed is printed first); `FREEZESOAK_TARGET_ARGS` is passed to the
//! target (space-separated). Prints `name=value` lines; exits 1 if any
//! cycle failed. `scripts/soak-freeze.sh` builds and runs it; the test
//! `control_freeze_soak` runs a short version.
use grt_inspector::control::Session;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A small xorshift generator: reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// The target as a child: stdout lines on a channel, stderr collected;
/// killed and reaped on drop.
struct Target {
    child: Child,
    pid: i32,
    lines: Receiver<(Instant, String)>,
    err: Arc<Mutex<String>>,
    /// When the first byte of stderr arrived (a panic report, usually).
    err_at: Arc<Mutex<Option<Instant>>>,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Target {
    fn spawn(bin: &std::path::Path, args: &[String]) -> Target {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let out = child.stdout.take().unwrap();
        let mut errp = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send((Instant::now(), l)).is_err() {
                    break;
                }
            }
        });
        let err = Arc::new(Mutex::new(String::new()));
        let err2 = err.clone();
        let err_at = Arc::new(Mutex::new(None));
        let err_at2 = err_at.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = errp.read(&mut buf) {
                if n == 0 {
                    break;
                }
                err_at2.lock().unwrap().get_or_insert_with(Instant::now);
                err2.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let pid = child.id() as i32;
        let t = Target { child, pid, lines, err, err_at };
        // The first heartbeat says every kind of goroutine is running.
        if t.heartbeat(Duration::from_secs(20)).is_none() {
            panic!("{} printed no heartbeat: {}", bin.display(), t.err.lock().unwrap());
        }
        t
    }

    /// Waits for the next heartbeat line (`<name>: t=...`).
    fn heartbeat(&self, t: Duration) -> Option<(Instant, String)> {
        let end = Instant::now() + t;
        loop {
            let (at, l) = self.lines.recv_timeout(end.saturating_duration_since(Instant::now())).ok()?;
            if l.contains(" t=") {
                return Some((at, l));
            }
        }
    }

    /// The last heartbeat among the lines printed so far.
    fn drain(&self) -> Option<(Instant, String)> {
        let mut last = None;
        while let Ok((at, l)) = self.lines.try_recv() {
            if l.contains(" t=") {
                last = Some((at, l));
            }
        }
        last
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

/// Pumps a session (a seized target stalls at thread creation unless its
/// events are collected) for `d`.
fn pump(s: &mut Session, d: Duration) {
    let end = Instant::now() + d;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        if s.wait_event(left.min(Duration::from_millis(20))).is_err() {
            return;
        }
    }
}

/// How a cycle stops the target.
#[derive(Clone, Copy, PartialEq)]
enum How {
    /// `Session::freeze_all`: every thread, as the TUI's `F`.
    All,
    /// `Session::freeze` of one thread; the others run on.
    One(i32),
    /// SIGSTOP, then SIGCONT (`--sigstop`).
    Signal,
}

fn main() {
    let (mut judge, mut name, mut sigstop, mut nums) = (1u64, "demo".to_string(), false, Vec::new());
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--judge" => judge = args.next().and_then(|v| v.parse().ok()).filter(|&n| n > 0).expect("--judge N"),
            "--target" => name = args.next().expect("--target NAME"),
            "--sigstop" => sigstop = true,
            "--only" => only = Some(args.next().filter(|v| v == "all" || v == "one").expect("--only all|one")),
            _ => nums.push(a.parse::<u64>().unwrap_or_else(|_| panic!("bad argument {a:?}"))),
        }
    }
    let num = |i: usize, d: u64| nums.get(i).copied().unwrap_or(d);
    let (cycles, min_ms) = (num(0, 50), num(1, 0));
    let max_ms = num(2, 2000).max(min_ms);
    let seed = std::env::var("FREEZESOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    let targs: Vec<String> = std::env::var("FREEZESOAK_TARGET_ARGS")
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let bin = grt_inspector::targets::example(&name).unwrap_or_else(|e| panic!("{e}"));
    println!("seed={seed}");
    let mut rng = Rng(seed);
    // The target beats about once a second; a cycle passes when it beats
    // twice after the thaw (the first beat may come from a check that began
    // before the freeze), each within `stall`.
    let stall = Duration::from_secs(5);
    let mut target = Target::spawn(&bin, &targs);
    let mut session: Option<Session> = None;
    let mut last_beat: Option<(Instant, String)> = None;
    let (mut failures, mut all, mut one, mut kept, mut synced, mut frozen_ms) = (0u64, 0, 0, 0, 0, 0);
    let t0 = Instant::now();
    // Whether the last cycle ended on a heartbeat just read.
    let mut fresh_beat = true;
    for cycle in 0..cycles {
        let hold = Duration::from_millis(min_ms + rng.below(max_ms - min_ms + 1));
        let judged = (cycle + 1) % judge == 0 || cycle + 1 == cycles;
        // Half the cycles that follow a heartbeat stop the target at once
        // (just after its self-check), the others after a random pause of
        // up to a heartbeat period.
        if fresh_beat && rng.below(2) == 0 {
            synced += 1;
        } else {
            let d = Duration::from_millis(rng.below(max_ms.min(1000) + 1));
            match session.as_mut() {
                Some(s) => pump(s, d),
                None => std::thread::sleep(d),
            }
        }
        if let Some(b) = target.drain() {
            last_beat = Some(b);
        }
        let mut verdict = None;
        let mut s = match (sigstop, session.take()) {
            (true, _) => None,
            (false, Some(s)) => Some(s),
            (false, None) => match Session::attach(target.pid) {
                Ok(s) => Some(s),
                Err(e) => {
                    verdict = Some(format!("attach: {e}"));
                    None
                }
            },
        };
        let how = match s.as_ref() {
            None if !sigstop => How::All, // not attached: the verdict says why
            None => How::Signal,
            Some(_) if only.as_deref().map_or(rng.below(2) == 0, |o| o == "all") => How::All,
            Some(s) => {
                let tids = s.tids();
                How::One(tids[rng.below(tids.len() as u64) as usize])
            }
        };
        let frozen_at = Instant::now();
        let stopped = match (how, s.as_mut()) {
            _ if verdict.is_some() => Ok(()),
            (How::All, Some(s)) => {
                all += 1;
                s.freeze_all().map_err(|e| e.to_string())
            }
            (How::One(tid), Some(s)) => {
                one += 1;
                match s.freeze(tid) {
                    // The thread ended since it was picked: nothing to hold.
                    Err(grt_inspector::control::Error::NoSuchThread { .. }) => Ok(()),
                    r => r.map_err(|e| e.to_string()),
                }
            }
            _ => send_signal(target.pid, libc::SIGSTOP),
        };
        if let Err(e) = stopped {
            verdict = Some(format!("freeze: {e}"));
        }
        let what = match how {
            How::One(tid) => format!("one ({})", s.as_ref().map_or(String::new(), |s| s.thread_name(tid))),
            How::All => "all".into(),
            How::Signal => "sigstop".into(),
        };
        if verdict.is_none() {
            match (how, s.as_mut()) {
                // The other threads run on: keep collecting their events.
                (How::One(_), Some(s)) => pump(s, hold),
                _ => std::thread::sleep(hold),
            }
            frozen_ms += frozen_at.elapsed().as_millis() as u64;
            let thawed = match s.as_mut() {
                Some(s) => s.thaw_all().map_err(|e| e.to_string()),
                None => send_signal(target.pid, libc::SIGCONT),
            };
            verdict = thawed.err().map(|e| format!("thaw: {e}"));
        }
        let thawed_at = Instant::now();
        if let Some(s) = s {
            if verdict.is_none() && rng.below(4) == 0 {
                kept += 1;
                session = Some(s);
            } else {
                let _ = s.detach();
            }
        }
        let mut after = Vec::new();
        if !judged && verdict.is_none() && target.exited().is_some() {
            verdict = Some("exited".to_string());
        }
        while judged && verdict.is_none() && after.len() < 2 {
            let end = Instant::now() + stall;
            let mut got = None;
            while got.is_none() && Instant::now() < end {
                match session.as_mut() {
                    Some(s) => {
                        pump(s, Duration::from_millis(20));
                        got = target.drain();
                    }
                    None => got = target.heartbeat(Duration::from_millis(50)),
                }
                if got.is_none() && target.exited().is_some() {
                    break;
                }
            }
            match got {
                Some(b) => after.push(b),
                None => verdict = Some("no heartbeat".to_string()),
            }
        }
        if let Some(why) = verdict {
            failures += 1;
            session = None;
            std::thread::sleep(Duration::from_millis(100));
            let status = target.exited();
            let err = target.err.lock().unwrap().clone();
            // Times relative to the thaw, in ms.
            let rel = |at: Instant| {
                at.duration_since(thawed_at.min(at)).as_millis() as i64
                    - thawed_at.duration_since(at.min(thawed_at)).as_millis() as i64
            };
            println!("FAIL cycle={cycle} {what} hold_ms={} why={why:?} exit={status:?}", hold.as_millis());
            println!("  ms from the thaw: {:>6} frozen", rel(frozen_at));
            for (at, l) in last_beat.iter().chain(&after) {
                println!("  {:>6} {l}", rel(*at));
            }
            if let Some(at) = *target.err_at.lock().unwrap() {
                println!("  {:>6} stderr:", rel(at));
            }
            // The panic message and the first lines of the report after it.
            let from = err.find("panic").unwrap_or(0);
            for l in err[from..].lines().take(6) {
                println!("    {l}");
            }
            target = Target::spawn(&bin, &targs);
            last_beat = None;
            fresh_beat = true;
        } else {
            fresh_beat = !after.is_empty();
            if let Some(b) = after.pop() {
                last_beat = Some(b);
            }
        }
    }
    drop(session);
    println!("cycles={cycles}");
    println!("cycles.freeze_all={all}");
    println!("cycles.freeze_one={one}");
    println!("cycles.sigstop={}", if sigstop { cycles } else { 0 });
    println!("cycles.right_after_heartbeat={synced}");
    println!("cycles.kept_attached={kept}");
    println!("frozen_ms.total={frozen_ms}");
    println!("seconds={:.1}", t0.elapsed().as_secs_f64());
    println!("failures={failures}");
    if failures > 0 {
        std::process::exit(1);
    }
}

/// `kill(pid, sig)`, its failure as text.
fn send_signal(pid: i32, sig: i32) -> Result<(), String> {
    // SAFETY: kill takes no pointers.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().to_string())
    }
}
