//! Control tests: an inspector that dies with probes armed. SIGKILLed,
//! it restores nothing: the kernel detaches the target's threads and the
//! runtime's SIGTRAP handler repairs its probe sites at the next hit, so
//! the target finishes correctly. SIGTERMed with `install_exit_handlers`,
//! it restores every byte and semaphore itself before dying.

mod control_support;

use control_support::*;
use grt_inspector::control::{Event, OnHit, Session};
use std::time::{Duration, Instant};

/// Runs `ctl_armer <pid> <probes> <flags>` and waits for "armed".
fn armer(pid: i32, probes: &str, flags: &[&str]) -> Kid {
    let bin = example("grt-inspector", "ctl_armer");
    let mut args = vec![pid.to_string(), probes.to_string()];
    args.extend(flags.iter().map(|s| s.to_string()));
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let k = spawn(&bin, &a, &[]);
    let l = k.line(Duration::from_secs(20)).unwrap_or_else(|| panic!("armer: no output: {}", k.stderr()));
    assert!(l.starts_with("armed "), "armer: {l} {}", k.stderr());
    k
}

fn sigkill_with_armed_probes(hold: bool) {
    let (loopers, calls) = (3u64, 20_000u64);
    let mut kid = target(&["gc", "200", &loopers.to_string(), &calls.to_string()], &[("GRT_MAXPROCS", "2")]);
    let flags: &[&str] = if hold { &["--hold"] } else { &[] };
    let mut a = armer(kid.pid, "entersyscall,gopark,gc_start", flags);
    kid.go();
    if hold {
        // Threads stop at the probes and nobody answers.
        std::thread::sleep(Duration::from_millis(300));
    } else {
        assert!(a.line_starting("hits ", Duration::from_secs(20)).is_some(), "no hits: {}", a.stderr());
    }
    a.signal(libc::SIGKILL);
    let st = a.wait_exit(Duration::from_secs(5)).expect("armer gone");
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(libc::SIGKILL));
    // The target goes on and finishes correctly.
    let done = kid
        .line_starting("done ", Duration::from_secs(120))
        .unwrap_or_else(|| panic!("no done line: {}", kid.stderr()));
    let st = kid.wait_exit(Duration::from_secs(10)).expect("target exit");
    assert_eq!(st.code(), Some(0), "{done} {}", kid.stderr());
    assert_eq!(field(&done, "syscalls"), loopers * calls);
    assert!(field(&done, "repairs") >= 1, "the runtime never repaired a probe: {done}");
    assert!(!kid.stderr().contains("unexpected SIGTRAP"), "{}", kid.stderr());
}

#[test]
fn sigkilled_inspector_leaves_the_target_alive_and_correct() {
    let _s = serial();
    sigkill_with_armed_probes(false);
}

#[test]
fn sigkilled_inspector_holding_threads_at_probes() {
    let _s = serial();
    sigkill_with_armed_probes(true);
}

/// An inspector SIGKILLed with a probe armed that nothing hit leaves its
/// `int3` there (the runtime repairs sites only when a trap reaches it
/// with no tracer). The next inspector finds the site's owner gone in the
/// table, takes the site back, gets its hits, and leaves a `nop` when it
/// detaches; the runtime never had to repair anything.
#[test]
fn a_probe_left_armed_by_a_killed_inspector_can_be_armed_again() {
    let _s = serial();
    // gc_start is hit only after "go": armed by the armer, never hit
    // before it dies.
    let mut kid = target(&["gc", "20", "1", "100"], &[("GRT_MAXPROCS", "2")]);
    let sites: Vec<u64> = probes(kid.pid, "gc_start").iter().map(|p| p.address).collect();
    assert!(!sites.is_empty());
    let mut a = armer(kid.pid, "gc_start", &[]);
    a.signal(libc::SIGKILL);
    a.wait_exit(Duration::from_secs(5)).expect("armer gone");
    for &s in &sites {
        assert_eq!(byte_at(kid.pid, s), 0xcc, "the killed armer's int3 at {s:#x}");
    }
    let mut s = Session::attach(kid.pid).unwrap();
    let ids = s.arm_named("gc_start", OnHit::Hold).expect("arm a site a killed inspector left armed");
    kid.go();
    let end = Instant::now() + Duration::from_secs(30);
    let hit = loop {
        let left = end.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no gc_start hit: {}", kid.stderr());
        match s.wait_event(left).unwrap() {
            Some(Event::ProbeHit(h)) if ids.contains(&h.probe) => break h,
            _ => {}
        }
    };
    assert!(hit.held && sites.contains(&hit.address), "{hit:?}");
    s.detach().unwrap();
    for &s in &sites {
        assert_eq!(byte_at(kid.pid, s), 0x90, "site {s:#x} after detach");
    }
    let done = kid
        .line_starting("done ", Duration::from_secs(120))
        .unwrap_or_else(|| panic!("no done line: {}", kid.stderr()));
    let st = kid.wait_exit(Duration::from_secs(10)).expect("target exit");
    assert_eq!(st.code(), Some(0), "{done} {}", kid.stderr());
    assert_eq!(field(&done, "repairs"), 0, "the runtime repaired a site the inspector should have: {done}");
}

#[test]
fn sigterm_with_exit_handlers_restores_every_site() {
    let _s = serial();
    let kid = target(&["wait"], &[]);
    let sem_line = kid.line_starting("sem ", Duration::from_secs(5)).unwrap();
    let sem = sem_line[4..].to_string();
    let read_sem = || {
        use std::os::unix::fs::FileExt;
        let addr = u64::from_str_radix(sem.trim_start_matches("0x"), 16).unwrap();
        let mut b = [0u8; 2];
        std::fs::File::open(format!("/proc/{}/mem", kid.pid)).unwrap().read_exact_at(&mut b, addr).unwrap();
        u16::from_le_bytes(b)
    };
    // gc_start and gc_done are never hit in this target: only the handler
    // can restore them.
    let mut a = armer(kid.pid, "gc_start,gc_done", &["--handlers", "--sem", &sem]);
    let sites: Vec<u64> = ["gc_start", "gc_done"].iter().flat_map(|n| probes(kid.pid, n)).map(|p| p.address).collect();
    for &s in &sites {
        assert_eq!(byte_at(kid.pid, s), 0xcc);
    }
    assert_eq!(read_sem(), 1);
    a.signal(libc::SIGTERM);
    let st = a.wait_exit(Duration::from_secs(5)).expect("armer gone");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&st),
        Some(libc::SIGTERM),
        "died of SIGTERM, as without handlers"
    );
    for &s in &sites {
        assert_eq!(byte_at(kid.pid, s), 0x90, "site {s:#x} not restored");
    }
    assert_eq!(read_sem(), 0);
}
