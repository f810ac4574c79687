//! Control tests: the target's signals pass through untouched (SIGQUIT
//! dumps and exits 2, a handled SIGUSR1 is delivered, the stack-overflow
//! SIGSEGV and a foreign SIGTRAP do what they do without us), group-stops
//! behave as SIGSTOP/SIGCONT want, and a target that exits or is killed
//! while attached is reported, with every later call failing clearly.

mod control_support;

use control_support::*;
use grt_inspector::control::{Error, Event, ExitStatus, OnHit, Session, ThreadState};
use std::time::{Duration, Instant};

/// Pumps until the process exits; returns its status and the events.
fn to_exit(s: &mut Session, limit: Duration) -> (ExitStatus, Vec<Event>) {
    let end = Instant::now() + limit;
    let mut v = Vec::new();
    loop {
        assert!(Instant::now() < end, "no exit in {limit:?}; events {v:?}");
        match s.wait_event(Duration::from_millis(50)).unwrap() {
            Some(Event::ProcessExited { status, .. }) => return (status, v),
            Some(Event::ProbeHit(h)) => {
                s.thaw(h.tid).unwrap();
                v.push(Event::ProbeHit(h));
            }
            Some(e) => v.push(e),
            None => {}
        }
    }
}

/// Reads what the target printed until it is quiet for 50 ms (at most 1 s).
fn drain(kid: &Kid) {
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end && kid.line(Duration::from_millis(50)).is_some() {}
}

fn signalled(events: &[Event], sig: i32) -> bool {
    events.iter().any(|e| matches!(e, Event::SignalDelivered { signal, .. } if *signal == sig))
}

#[test]
fn sigquit_still_dumps_goroutines_and_exits_2() {
    let _s = serial();
    let kid = target(&["wait"], &[]);
    let mut s = Session::attach(kid.pid).unwrap();
    s.arm_named("gopark", OnHit::Hold).unwrap();
    kid.signal(libc::SIGQUIT);
    let (status, _) = to_exit(&mut s, Duration::from_secs(30));
    assert_eq!(status, ExitStatus::Code(2));
    // Give the stderr reader a moment to drain.
    std::thread::sleep(Duration::from_millis(100));
    let err = kid.stderr();
    assert!(err.contains("SIGQUIT: quit"), "{err}");
    assert!(err.contains("goroutine 1 ["), "{err}");
}

#[test]
fn a_handled_sigusr1_is_delivered() {
    let _s = serial();
    let kid = target(&["signals"], &[]);
    let mut s = Session::attach(kid.pid).unwrap();
    kid.signal(libc::SIGUSR1);
    let (status, events) = to_exit(&mut s, Duration::from_secs(30));
    assert!(signalled(&events, libc::SIGUSR1), "{events:?}");
    assert_eq!(status, ExitStatus::Code(0), "{}", kid.stderr());
    assert_eq!(kid.line_starting("usr1 ", Duration::from_secs(5)).as_deref(), Some("usr1 1"));
}

#[test]
fn a_signal_held_by_a_frozen_thread_arrives_after_thaw() {
    let _s = serial();
    let kid = target(&["signals"], &[]);
    let mut s = Session::attach(kid.pid).unwrap();
    s.freeze_all().unwrap();
    kid.signal(libc::SIGUSR1);
    std::thread::sleep(Duration::from_millis(100));
    // Nothing runs, so nothing is delivered yet. (A thread whose clone
    // was in flight at attach may still be announced: that is not a signal.)
    while let Some(ev) = s.wait_event(Duration::from_millis(100)).unwrap() {
        assert!(matches!(ev, Event::NewThread { .. }), "only a thread announcement, not {ev:?}");
    }
    s.thaw_all().unwrap();
    let (status, events) = to_exit(&mut s, Duration::from_secs(30));
    assert!(signalled(&events, libc::SIGUSR1), "{events:?}");
    assert_eq!(status, ExitStatus::Code(0), "{}", kid.stderr());
}

#[test]
fn stack_overflow_sigsegv_reaches_the_runtime() {
    let _s = serial();
    let mut kid = target(&["overflow"], &[]);
    let mut s = Session::attach(kid.pid).unwrap();
    kid.go();
    let (status, events) = to_exit(&mut s, Duration::from_secs(30));
    assert!(signalled(&events, libc::SIGSEGV), "{events:?}");
    assert_eq!(status, ExitStatus::Code(2));
    std::thread::sleep(Duration::from_millis(100));
    assert!(kid.stderr().contains("stack overflow"), "{}", kid.stderr());
}

#[test]
fn a_sigtrap_that_is_not_ours_is_passed_on() {
    let _s = serial();
    let mut kid = target(&["trap"], &[]);
    let mut s = Session::attach(kid.pid).unwrap();
    s.arm_named("gopark", OnHit::Report).unwrap();
    kid.go();
    let (status, events) = to_exit(&mut s, Duration::from_secs(30));
    assert!(signalled(&events, libc::SIGTRAP), "{events:?}");
    // The runtime's handler saw it and died of it, as Go does.
    std::thread::sleep(Duration::from_millis(100));
    let e = kid.stderr();
    assert!(e.contains("SIGTRAP: trace trap\nPC=0x") && e.contains(" sigcode="), "{e}");
    assert!(e.contains("\ngoroutine 1 ["), "with every goroutine's stack: {e}");
    assert_eq!(status, ExitStatus::Code(2));
}

#[test]
fn sigstop_and_sigcont_work_while_attached() {
    let _s = serial();
    let kid = target(&["spin", "2"], &[("GRT_MAXPROCS", "2")]);
    let mut s = Session::attach(kid.pid).unwrap();
    kid.signal(libc::SIGSTOP);
    let end = Instant::now() + Duration::from_secs(10);
    let mut stopped = std::collections::HashSet::new();
    while stopped.len() < s.tids().len() {
        assert!(Instant::now() < end, "not every thread group-stopped: {stopped:?} of {:?}", s.tids());
        if let Some(Event::GroupStop { tid, signal }) = s.wait_event(Duration::from_millis(50)).unwrap() {
            assert_eq!(signal, libc::SIGSTOP);
            stopped.insert(tid);
        }
    }
    for tid in s.tids() {
        assert_eq!(s.thread_state(tid).unwrap(), ThreadState::GroupStopped(libc::SIGSTOP));
    }
    // Stopped means stopped: no CPU, no output.
    let cpu: u64 = s.tids().iter().map(|&t| cpu_ticks(kid.pid, t).unwrap()).sum();
    drain(&kid);
    let _ = s.wait_event(Duration::from_millis(300)).unwrap();
    assert!(kid.line(Duration::ZERO).is_none(), "output while stopped");
    assert_eq!(cpu, s.tids().iter().map(|&t| cpu_ticks(kid.pid, t).unwrap()).sum::<u64>());
    // Freeze and thaw during the group-stop keep it stopped.
    s.freeze_all().unwrap();
    s.thaw_all().unwrap();
    let _ = s.wait_event(Duration::from_millis(100)).unwrap();
    assert!(kid.line(Duration::ZERO).is_none(), "output after thaw_all in a group-stop");
    kid.signal(libc::SIGCONT);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < end, "no output after SIGCONT");
        let _ = s.wait_event(Duration::from_millis(20)).unwrap();
        if kid.line_starting("count ", Duration::ZERO).is_some() {
            break;
        }
    }
    // Every thread hears that the group-stop ended.
    let end = Instant::now() + Duration::from_secs(5);
    while s.tids().iter().any(|&t| s.thread_state(t).unwrap() == ThreadState::GroupStopped(libc::SIGSTOP)) {
        assert!(Instant::now() < end, "threads still group-stopped after SIGCONT");
        let _ = s.wait_event(Duration::from_millis(20)).unwrap();
    }
    s.detach().unwrap();
}

#[test]
fn detach_in_a_group_stop_leaves_it_stopped() {
    let _s = serial();
    let kid = target(&["spin", "2"], &[("GRT_MAXPROCS", "2")]);
    let mut s = Session::attach(kid.pid).unwrap();
    kid.signal(libc::SIGSTOP);
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end
        && !s.tids().iter().all(|&t| matches!(s.thread_state(t), Ok(ThreadState::GroupStopped(_))))
    {
        let _ = s.wait_event(Duration::from_millis(20)).unwrap();
    }
    s.detach().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(state(kid.pid, kid.pid), Some('T'), "not stopped after detach");
    drain(&kid);
    assert!(kid.line(Duration::from_millis(200)).is_none());
    kid.signal(libc::SIGCONT);
    assert!(kid.line_starting("count ", Duration::from_secs(5)).is_some());
}

#[test]
fn exit_while_attached_is_reported_and_later_calls_fail() {
    let _s = serial();
    let mut kid = target(&["exit", "3", "200"], &[]);
    let pid = kid.pid;
    let mut s = Session::attach(pid).unwrap();
    let t = Instant::now();
    let (status, _) = to_exit(&mut s, Duration::from_secs(10));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(status, ExitStatus::Code(3));
    assert_eq!(s.exit_status(), Some(ExitStatus::Code(3)));
    let gone = Error::ProcessExited { pid, status: ExitStatus::Code(3) };
    assert_eq!(gone.to_string(), format!("process {pid} exited with status 3"));
    assert_eq!(s.freeze_all().unwrap_err(), gone);
    assert_eq!(s.thaw_all().unwrap_err(), gone);
    assert_eq!(s.freeze(pid).unwrap_err(), gone);
    assert_eq!(s.regs(pid).unwrap_err(), gone);
    assert_eq!(s.wait_event(Duration::from_secs(1)).unwrap_err(), gone);
    assert_eq!(s.arm_named("gopark", OnHit::Hold).unwrap_err(), gone);
    assert_eq!(s.read_memory(0x1000, 1).unwrap_err(), gone);
    s.detach().unwrap();
    // The session did not reap its parent's child: the parent's wait
    // still gets the status.
    assert_eq!(kid.wait_exit(Duration::from_secs(5)).and_then(|st| st.code()), Some(3));
}

#[test]
fn a_target_killed_while_frozen_with_probes_armed_is_reported() {
    let _s = serial();
    let mut kid = target(&["gc", "1000", "2", "100000"], &[]);
    let pid = kid.pid;
    let mut s = Session::attach(pid).unwrap();
    s.arm_named("entersyscall", OnHit::Hold).unwrap();
    kid.go();
    // Threads held at the probe (holding some may stall the rest: take
    // what comes in a moment), then everything frozen.
    let mut hits = 0;
    let end = Instant::now() + Duration::from_secs(10);
    while hits == 0 || Instant::now() < end.min(Instant::now() + Duration::from_millis(100)) {
        assert!(Instant::now() < end, "no hit");
        if let Some(Event::ProbeHit(_)) = s.wait_event(Duration::from_millis(100)).unwrap() {
            hits += 1;
        } else if hits > 0 {
            break;
        }
    }
    s.freeze_all().unwrap();
    kid.signal(libc::SIGKILL);
    let t = Instant::now();
    let (status, _) = to_exit(&mut s, Duration::from_secs(10));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(status, ExitStatus::Signal(libc::SIGKILL));
    let e = s.thaw_all().unwrap_err();
    assert_eq!(e.to_string(), format!("process {pid} was killed by signal 9 (SIGKILL)"));
    drop(s);
}
