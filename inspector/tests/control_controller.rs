//! Control tests: the `Controller`, a session on its own thread driven
//! from other threads by commands, with events on a channel.

mod control_support;

use control_support::*;
use grt_inspector::control::{Controller, Error, Event, ExitStatus, OnHit, ThreadState};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[test]
fn a_controller_is_driven_from_other_threads() {
    let _s = serial();
    let mut kid = target(&["gc", "20", "2", "200"], &[("GRT_MAXPROCS", "2")]);
    let pid = kid.pid;
    // Attached from one thread, used from another (Controller is Send).
    let ctl = std::thread::spawn(move || Controller::attach(pid).unwrap()).join().unwrap();
    ctl.freeze_all().unwrap();
    let threads = ctl.threads().unwrap();
    assert!(threads.iter().all(|t| t.state == ThreadState::Frozen), "{threads:?}");
    let regs = ctl.regs(pid).unwrap();
    assert!(regs.rip != 0);
    ctl.set_thread_names(HashMap::from([(pid, "M0 main".to_string())])).unwrap();
    assert!(ctl.threads().unwrap().iter().any(|t| t.tid == pid && t.name == "M0 main"));
    ctl.thaw_all().unwrap();
    let ids = ctl.arm_named("gc_start", OnHit::Hold).unwrap();
    assert!(!ids.is_empty());
    kid.go();
    let worker = std::thread::spawn(move || {
        let mut hits = 0;
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < end, "no exit");
            match ctl.next_event(Duration::from_millis(100)) {
                Some(Event::ProbeHit(h)) => {
                    hits += 1;
                    // The thread is held until we thaw it.
                    let st = ctl.threads().unwrap().into_iter().find(|t| t.tid == h.tid).unwrap().state;
                    assert_eq!(st, ThreadState::AtProbe(h.probe));
                    ctl.thaw(h.tid).unwrap();
                }
                Some(Event::ProcessExited { status, .. }) => {
                    assert_eq!(status, ExitStatus::Code(0));
                    break;
                }
                _ => {}
            }
        }
        // After the exit, commands answer with the exit.
        assert_eq!(ctl.freeze_all().unwrap_err(), Error::ProcessExited { pid, status: ExitStatus::Code(0) });
        ctl.detach().unwrap();
        hits
    });
    assert_eq!(worker.join().unwrap(), 20);
    let done = kid.line_starting("done ", Duration::from_secs(5)).unwrap();
    assert_eq!(field(&done, "gc"), 20);
}

#[test]
fn dropping_a_controller_detaches_and_restores() {
    let _s = serial();
    let mut kid = target(&["gc", "200", "2", "20000"], &[("GRT_MAXPROCS", "2")]);
    let ctl = Controller::attach(kid.pid).unwrap();
    ctl.arm_named("entersyscall", OnHit::Hold).unwrap();
    let sites: Vec<u64> = probes(kid.pid, "entersyscall").iter().map(|p| p.address).collect();
    assert!(sites.iter().all(|&a| byte_at(kid.pid, a) == 0xcc));
    kid.go();
    // One hit held, then the controller goes away.
    let mut got = false;
    let end = Instant::now() + Duration::from_secs(20);
    while !got && Instant::now() < end {
        got = matches!(ctl.next_event(Duration::from_millis(100)), Some(Event::ProbeHit(_)));
    }
    assert!(got, "no hit");
    drop(ctl);
    assert!(sites.iter().all(|&a| byte_at(kid.pid, a) == 0x90));
    let done = kid.line_starting("done ", Duration::from_secs(60)).unwrap_or_else(|| panic!("{}", kid.stderr()));
    assert_eq!(field(&done, "repairs"), 0);
    assert_eq!(kid.wait_exit(Duration::from_secs(10)).unwrap().code(), Some(0));
}

#[test]
fn controller_attach_errors_are_the_sessions() {
    assert_eq!(Controller::attach(0x3fff_fff0).err(), Some(Error::NoSuchProcess { pid: 0x3fff_fff0 }));
}
