//! Control tests: seizing, freezing and thawing threads of a live grt
//! process, registers and single steps, new threads under the session's
//! policy. Targets are `runtime/examples/ctl_target.rs` children.

mod control_support;

use control_support::*;
use grt_inspector::control::{Error, Event, Session, ThreadState};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Pumps the session for `d`, returning the events.
fn pump(s: &mut Session, d: Duration) -> Vec<Event> {
    let end = Instant::now() + d;
    let mut v = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match s.wait_event(left) {
            Ok(Some(e)) => v.push(e),
            Ok(None) => {}
            Err(e) => panic!("{e}"),
        }
    }
    v
}

/// Pumps the session until the target prints a line starting with
/// `prefix` (a seized target stalls at thread creation unless pumped).
fn pump_until_line(s: &mut Session, kid: &Kid, prefix: &str, t: Duration) -> Option<String> {
    let end = Instant::now() + t;
    while Instant::now() < end {
        s.wait_event(Duration::from_millis(10)).unwrap();
        if let Some(l) = kid.line_starting(prefix, Duration::ZERO) {
            return Some(l);
        }
    }
    None
}

/// Threads that used CPU during 150 ms of pumping (tried a few times: the
/// machine may be busy with something else).
fn busy_threads(s: &mut Session, pid: i32) -> Vec<i32> {
    for _ in 0..10 {
        let before: HashMap<i32, u64> = s.tids().iter().map(|&t| (t, cpu_ticks(pid, t).unwrap_or(0))).collect();
        pump(s, Duration::from_millis(150));
        let busy: Vec<i32> = s
            .tids()
            .into_iter()
            .filter(|t| cpu_ticks(pid, *t).unwrap_or(0) > before.get(t).copied().unwrap_or(u64::MAX))
            .collect();
        if !busy.is_empty() {
            return busy;
        }
    }
    Vec::new()
}

/// The latest "count N" line printed by a spin target, pumping the
/// session meanwhile if there is one.
fn latest_count(s: Option<&mut Session>, kid: &Kid, t: Duration) -> u64 {
    try_latest_count(s, kid, t).expect("count line")
}

fn try_latest_count(s: Option<&mut Session>, kid: &Kid, t: Duration) -> Option<u64> {
    let first = match s {
        Some(s) => pump_until_line(s, kid, "count ", t),
        None => kid.line_starting("count ", t),
    }?;
    let mut n: u64 = first[6..].parse().unwrap();
    while let Some(l) = kid.line(Duration::ZERO) {
        if let Some(v) = l.strip_prefix("count ") {
            n = v.parse().unwrap();
        }
    }
    Some(n)
}

#[test]
fn freeze_all_stops_every_thread_and_thaw_all_resumes() {
    let _s = serial();
    let kid = target(&["spin", "3"], &[("GRT_MAXPROCS", "2")]);
    let mut s = Session::attach(kid.pid).unwrap();
    // Seizing stops nothing.
    let c0 = latest_count(Some(&mut s), &kid, Duration::from_secs(5));
    let c1 = latest_count(Some(&mut s), &kid, Duration::from_secs(5));
    assert!(c1 > c0, "the target does not run while seized");
    assert_eq!(s.tids(), tasks(kid.pid), "seized threads differ from /proc");
    for _ in 0..20 {
        s.freeze_all().unwrap();
        assert!(s.all_frozen());
        let tids = s.tids();
        assert_eq!(tids, tasks(kid.pid));
        for &tid in &tids {
            assert_eq!(state(kid.pid, tid), Some('t'), "thread {tid} not in a tracing stop");
            assert_eq!(s.thread_state(tid).unwrap(), ThreadState::Frozen);
        }
        let cpu: u64 = tids.iter().map(|&t| cpu_ticks(kid.pid, t).unwrap()).sum();
        std::thread::sleep(Duration::from_millis(30));
        let cpu2: u64 = tids.iter().map(|&t| cpu_ticks(kid.pid, t).unwrap()).sum();
        assert_eq!(cpu, cpu2, "CPU time advanced while frozen");
        s.thaw_all().unwrap();
        for &tid in &tids {
            assert_eq!(s.thread_state(tid).unwrap(), ThreadState::Running);
        }
        pump(&mut s, Duration::from_millis(5));
    }
    // Still making progress after the freeze/thaw rounds.
    let a = latest_count(Some(&mut s), &kid, Duration::from_secs(5));
    let b = latest_count(Some(&mut s), &kid, Duration::from_secs(5));
    assert!(b > a);
    s.detach().unwrap();
    let c = latest_count(None, &kid, Duration::from_secs(5));
    assert!(c > b, "the target stopped after detach");
}

#[test]
fn a_frozen_thread_makes_no_progress_while_the_others_do() {
    let _s = serial();
    // Four spinning goroutines on three Ps: every thread with a P burns CPU.
    let kid = target(&["spin", "4"], &[("GRT_MAXPROCS", "3")]);
    let mut s = Session::attach(kid.pid).unwrap();
    let mut ok = false;
    for attempt in 0..10 {
        // A thread that is running right now (it will have CPU to lose).
        let busy = busy_threads(&mut s, kid.pid);
        let Some(&victim) = busy.get(attempt % busy.len().max(1)) else {
            continue;
        };
        s.freeze(victim).unwrap();
        assert_eq!(s.thread_state(victim).unwrap(), ThreadState::Frozen);
        assert_eq!(state(kid.pid, victim), Some('t'));
        let frozen_cpu = cpu_ticks(kid.pid, victim).unwrap();
        // The frozen thread may hold a lock the printer needs (stdout's,
        // a runtime lock): then no line comes, and we try another moment.
        let c0 = try_latest_count(Some(&mut s), &kid, Duration::from_secs(1));
        pump(&mut s, Duration::from_millis(400));
        let c1 = try_latest_count(Some(&mut s), &kid, Duration::from_secs(1));
        assert_eq!(cpu_ticks(kid.pid, victim).unwrap(), frozen_cpu, "the frozen thread ran");
        assert_eq!(state(kid.pid, victim), Some('t'));
        s.thaw(victim).unwrap();
        if let (Some(c0), Some(c1)) = (c0, c1) {
            ok = c1 > c0;
        }
        if ok {
            break;
        }
        pump(&mut s, Duration::from_millis(50));
    }
    assert!(ok, "the other threads never made progress while one was frozen");
    // After thawing it runs again.
    s.detach().unwrap();
    let a = latest_count(None, &kid, Duration::from_secs(5));
    let b = latest_count(None, &kid, Duration::from_secs(5));
    assert!(b > a);
}

#[test]
fn registers_and_single_steps_of_a_frozen_thread() {
    let _s = serial();
    let kid = target(&["spin", "2"], &[("GRT_MAXPROCS", "2")]);
    let mut s = Session::attach(kid.pid).unwrap();
    // A spinning thread: a thread blocked in a system call would not
    // finish a step until the call returns.
    let tid = *busy_threads(&mut s, kid.pid).first().expect("a busy thread");
    // A running thread has no registers to read.
    assert!(matches!(s.regs(tid), Err(Error::NotStopped { .. })), "{:?}", s.regs(tid));
    s.freeze(tid).unwrap();
    let r = s.regs(tid).unwrap();
    assert!(r.rip != 0 && r.rsp != 0);
    // Stepping moves the pc and leaves the thread held.
    let mut pc = r.rip;
    let mut moved = 0;
    for _ in 0..20 {
        let npc = s.step(tid).unwrap();
        assert_eq!(npc, s.regs(tid).unwrap().rip);
        assert_eq!(s.thread_state(tid).unwrap(), ThreadState::Frozen);
        if npc != pc {
            moved += 1;
        }
        pc = npc;
    }
    assert!(moved > 0, "twenty steps never moved the pc");
    s.thaw(tid).unwrap();
    s.detach().unwrap();
    let a = latest_count(None, &kid, Duration::from_secs(5));
    let b = latest_count(None, &kid, Duration::from_secs(5));
    assert!(b > a, "the target stopped after single steps");
}

#[test]
fn new_threads_follow_the_sessions_policy() {
    let _s = serial();
    let mut kid = target(&["newthreads", "4"], &[("GRT_MAXPROCS", "2")]);
    let mut s = Session::attach(kid.pid).unwrap();
    let before = s.tids();
    // Frozen policy, but every existing thread thawed: threads created
    // from now on must start held.
    s.freeze_all().unwrap();
    for &t in &before {
        s.thaw(t).unwrap();
    }
    kid.go();
    let mut new = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while new.len() < 2 && Instant::now() < end {
        if let Some(Event::NewThread { tid, .. }) = s.wait_event(Duration::from_millis(100)).unwrap() {
            new.push(tid);
        }
    }
    assert!(new.len() >= 2, "no new threads: {new:?}");
    // Let them report their first stop.
    pump(&mut s, Duration::from_millis(100));
    for &t in &new {
        if !s.tids().contains(&t) {
            continue; // exited already
        }
        assert_eq!(s.thread_state(t).unwrap(), ThreadState::Frozen, "new thread {t} is not held");
        assert_eq!(state(kid.pid, t), Some('t'));
    }
    // Running policy: everything runs, and threads created now run at once.
    s.thaw_all().unwrap();
    let l = pump_until_line(&mut s, &kid, "threads ", Duration::from_secs(10));
    assert!(l.is_some(), "the target did not go on after thaw_all: {}", kid.stderr());
    pump(&mut s, Duration::from_millis(50));
    // Every thread of the process is traced.
    s.freeze_all().unwrap();
    assert_eq!(s.tids(), tasks(kid.pid));
    s.detach().unwrap();
}

#[test]
fn thread_names_come_from_the_caller_or_comm() {
    let _s = serial();
    let kid = target(&["wait"], &[]);
    let mut s = Session::attach(kid.pid).unwrap();
    let tids = s.tids();
    let mut names = HashMap::new();
    names.insert(kid.pid, "M0 main".to_string());
    s.set_thread_names(names);
    let th = s.threads().unwrap();
    assert_eq!(th.iter().find(|t| t.tid == kid.pid).unwrap().name, "M0 main");
    // The others by their comm (threads name themselves once they run).
    for t in th.iter().filter(|t| t.tid != kid.pid) {
        assert!(!t.name.is_empty() && t.name != "M0 main", "{th:?}");
    }
    assert_eq!(th.len(), tids.len());
}

#[test]
fn an_exited_thread_is_reported_and_remembered() {
    let _s = serial();
    let mut kid = target(&["threadexit"], &[]);
    let mut s = Session::attach(kid.pid).unwrap();
    kid.go();
    let mut new = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < end, "no thread exit");
        match s.wait_event(Duration::from_millis(50)).unwrap() {
            Some(Event::NewThread { tid, .. }) => new.push(tid),
            Some(Event::ThreadExited { tid, status }) => {
                assert!(new.contains(&tid), "an exit of a thread we never saw created: {tid} not in {new:?}");
                assert_eq!(status, grt_inspector::control::ExitStatus::Code(0));
                assert_eq!(s.thread_state(tid).unwrap(), ThreadState::Exited(status));
                assert!(!s.tids().contains(&tid));
                break;
            }
            _ => {}
        }
    }
    assert!(pump_until_line(&mut s, &kid, "joined", Duration::from_secs(5)).is_some());
    assert_eq!(s.tids(), tasks(kid.pid));
    s.detach().unwrap();
}

/// Attaching while threads are being created leaves none of them
/// untraced: a thread inside clone(2) when its parent is seized would
/// otherwise create its child untraced (and that child's chain after it).
#[test]
fn attach_during_thread_churn_traces_every_thread() {
    let _s = serial();
    let kid = target(&["churn", "2", "100"], &[]);
    for round in 0..100 {
        let mut s = Session::attach(kid.pid).unwrap();
        s.freeze_all().unwrap();
        for tid in tasks(kid.pid) {
            let st = std::fs::read_to_string(format!("/proc/{}/task/{tid}/status", kid.pid)).unwrap_or_default();
            let tracer = st.lines().find_map(|l| l.strip_prefix("TracerPid:")).map(|v| v.trim().to_string());
            let state = st.lines().find_map(|l| l.strip_prefix("State:")).map(str::trim).unwrap_or("");
            // A thread whose exit began before the seize cannot be traced
            // and runs nothing more: it may be listed, as a zombie or dead.
            let exited = state.starts_with('Z') || state.starts_with('X');
            if let Some(t) = tracer {
                assert!(t != "0" || exited, "round {round}: thread {tid} is not traced:\n{st}");
            }
        }
        s.detach().unwrap();
    }
}
