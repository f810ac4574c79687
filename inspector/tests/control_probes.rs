//! Control tests: probes. N executions of an armed probe give exactly N
//! stops while other threads run (and hit probes concurrently), arguments
//! decode, detach restores every byte, disarmed probes stop nobody.

mod control_support;

use control_support::*;
use grt_inspector::control::{Error, Event, ExitStatus, OnHit, ProbeHit, Session, ThreadState};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// Everything the session reported until the process exited.
struct Run {
    hits: BTreeMap<String, Vec<ProbeHit>>,
    /// The most threads held at probes at the same time.
    max_held: usize,
    status: ExitStatus,
    others: Vec<Event>,
}

/// Pumps until the process exits; hits of held probes are thawed at once
/// (after up to `hold_back` of them have been kept held together, to make
/// several threads sit at probes at once).
fn run_to_exit(s: &mut Session, limit: Duration, hold_back: usize) -> Run {
    let end = Instant::now() + limit;
    let mut run = Run { hits: BTreeMap::new(), max_held: 0, status: ExitStatus::Unknown, others: Vec::new() };
    let mut held: Vec<i32> = Vec::new();
    loop {
        assert!(Instant::now() < end, "the target did not exit in {limit:?}");
        match s.wait_event(Duration::from_millis(20)).unwrap() {
            Some(Event::ProbeHit(h)) => {
                if h.held {
                    assert_eq!(s.thread_state(h.tid).unwrap(), ThreadState::AtProbe(h.probe));
                    held.push(h.tid);
                }
                run.hits.entry(h.name.clone()).or_default().push(h);
                run.max_held = run.max_held.max(held.len());
                if held.len() > hold_back {
                    for tid in held.drain(..) {
                        s.thaw(tid).unwrap();
                    }
                }
            }
            Some(Event::ProcessExited { status, .. }) => {
                run.status = status;
                return run;
            }
            Some(e) => run.others.push(e),
            None => {
                // Nothing new: let the held ones go.
                for tid in held.drain(..) {
                    s.thaw(tid).unwrap();
                }
            }
        }
    }
}

fn count(run: &Run, name: &str) -> u64 {
    run.hits.get(name).map_or(0, |v| v.len() as u64)
}

fn check_exact_counts(on_hit: OnHit) {
    let (gcs, loopers, calls) = (25u64, 3u64, 300u64);
    let g = gcs.to_string();
    let l = loopers.to_string();
    let k = calls.to_string();
    let mut kid = target(&["gc", &g, &l, &k], &[("GRT_MAXPROCS", "2")]);
    let mut s = Session::attach(kid.pid).unwrap();
    let mut sites = 0;
    for name in ["gc_start", "stw_begin", "foreachp_begin", "entersyscall"] {
        sites += s.arm_named(name, on_hit).unwrap().len();
    }
    assert!(sites >= 4, "only {sites} probe sites");
    kid.go();
    let run = run_to_exit(&mut s, Duration::from_secs(120), if on_hit == OnHit::Hold { 2 } else { 0 });
    assert_eq!(run.status, ExitStatus::Code(0), "{}", kid.stderr());
    let done = kid.line_starting("done ", Duration::from_secs(5)).expect("done line");
    // The runtime's own counters agree with the stops.
    assert_eq!(count(&run, "gc_start"), gcs, "{done}");
    assert_eq!(count(&run, "foreachp_begin"), gcs);
    assert_eq!(count(&run, "stw_begin"), 2 * gcs, "two stop-the-worlds per gc");
    assert_eq!(field(&done, "gc"), gcs);
    assert_eq!(count(&run, "entersyscall"), field(&done, "syscalls"), "{done}");
    assert_eq!(field(&done, "syscalls"), loopers * calls);
    assert_eq!(field(&done, "repairs"), 0, "a trap of ours reached the target");
    // Arguments: gc_start carries numgc, which counts up by one.
    let numgc: Vec<u64> = run.hits["gc_start"].iter().map(|h| h.args[0]).collect();
    for w in numgc.windows(2) {
        assert_eq!(w[1], w[0] + 1, "gc_start args {numgc:?}");
    }
    // stw_begin's reason alternates sweep termination (1), mark termination (2).
    let reasons: Vec<u64> = run.hits["stw_begin"].iter().map(|h| h.args[0]).collect();
    assert!(reasons.chunks(2).all(|c| c == [1, 2]), "stw_begin args {reasons:?}");
    // entersyscall(goid, p, m): several goroutines, on several threads.
    let sys = &run.hits["entersyscall"];
    let goids: HashSet<u64> = sys.iter().map(|h| h.args[0]).collect();
    let tids: HashSet<i32> = sys.iter().map(|h| h.tid).collect();
    assert!(goids.len() as u64 >= loopers, "goids {goids:?}");
    assert!(tids.len() >= 2, "all entersyscall hits on one thread: {tids:?}");
    assert!(sys.iter().all(|h| h.args[1] < 2), "p ids beyond GOMAXPROCS");
    if on_hit == OnHit::Hold {
        assert!(run.max_held >= 2, "never two threads at probes at once");
    }
    // No trap of ours was passed on as a signal.
    assert!(
        !run.others.iter().any(|e| matches!(e, Event::SignalDelivered { signal: libc::SIGTRAP, .. })),
        "{:?}",
        run.others
    );
    // Later calls say the process exited.
    let e = s.freeze_all().unwrap_err();
    assert_eq!(e, Error::ProcessExited { pid: kid.pid, status: ExitStatus::Code(0) });
}

#[test]
fn n_probe_executions_give_exactly_n_stops() {
    let _s = serial();
    check_exact_counts(OnHit::Hold);
}

#[test]
fn report_mode_counts_exactly_without_holding() {
    let _s = serial();
    check_exact_counts(OnHit::Report);
}

#[test]
fn detach_restores_every_byte_and_the_target_finishes_correctly() {
    let _s = serial();
    let mut kid = target(&["gc", "300", "3", "3000"], &[("GRT_MAXPROCS", "2")]);
    let sites = all_probe_sites(kid.pid);
    let mut s = Session::attach(kid.pid).unwrap();
    let mut armed = Vec::new();
    for name in ["gc_start", "stw_begin", "entersyscall", "exitsyscall", "gopark", "goready"] {
        armed.extend(s.arm_named(name, OnHit::Hold).unwrap());
    }
    let addrs: Vec<u64> = s.armed().iter().map(|a| a.2).collect();
    for &a in &addrs {
        assert_eq!(byte_at(kid.pid, a), 0xcc);
    }
    kid.go();
    // Take 200 hits, then keep the threads of the next few held at their
    // probes (holding one may stall the others: take what comes in 200 ms).
    let mut n = 0;
    let end = Instant::now() + Duration::from_secs(60);
    while n < 200 {
        assert!(Instant::now() < end, "only {n} hits");
        if let Some(Event::ProbeHit(h)) = s.wait_event(Duration::from_millis(100)).unwrap() {
            n += 1;
            s.thaw(h.tid).unwrap();
        }
    }
    let mut held = 0;
    let end = Instant::now() + Duration::from_millis(200);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        if let Some(Event::ProbeHit(_)) = s.wait_event(left).unwrap() {
            held += 1;
        }
    }
    assert!(held > 0, "no hit to hold");
    s.detach().unwrap();
    for &a in &sites {
        assert_eq!(byte_at(kid.pid, a), 0x90, "probe site {a:#x} not restored");
    }
    let done =
        kid.line_starting("done ", Duration::from_secs(60)).unwrap_or_else(|| panic!("no done line: {}", kid.stderr()));
    let st = kid.wait_exit(Duration::from_secs(10)).expect("exit");
    assert_eq!(st.code(), Some(0), "{done} {}", kid.stderr());
    assert_eq!(field(&done, "repairs"), 0, "a trap of ours reached the target after detach");
    assert_eq!(field(&done, "syscalls"), 9000);
}

#[test]
fn a_disarmed_probe_stops_nobody() {
    let _s = serial();
    let mut kid = target(&["gc", "100", "2", "4000"], &[("GRT_MAXPROCS", "2")]);
    let mut s = Session::attach(kid.pid).unwrap();
    let ids = s.arm_named("entersyscall", OnHit::Hold).unwrap();
    kid.go();
    let mut n = 0;
    let end = Instant::now() + Duration::from_secs(30);
    while n < 100 {
        assert!(Instant::now() < end, "only {n} hits");
        if let Some(Event::ProbeHit(h)) = s.wait_event(Duration::from_millis(100)).unwrap() {
            s.thaw(h.tid).unwrap();
            n += 1;
        }
    }
    for id in ids {
        s.disarm(id).unwrap();
    }
    // Hits collected before the disarm may still be queued.
    for e in s.pending_events() {
        if let Event::ProbeHit(h) = e {
            s.thaw(h.tid).unwrap();
        }
    }
    // Traps taken just before the disarm are swallowed; after that, the
    // probe stops nobody, and no SIGTRAP reaches the target.
    let mut late = 0;
    loop {
        match s.wait_event(Duration::from_secs(60)).unwrap() {
            Some(Event::ProbeHit(h)) => {
                late += 1;
                s.thaw(h.tid).unwrap();
            }
            Some(Event::SignalDelivered { signal, .. }) => assert_ne!(signal, libc::SIGTRAP),
            Some(Event::ProcessExited { status, .. }) => {
                assert_eq!(status, ExitStatus::Code(0), "{}", kid.stderr());
                break;
            }
            Some(_) => {}
            None => panic!("no exit"),
        }
    }
    assert_eq!(late, 0, "hits after disarm");
    let done = kid.line_starting("done ", Duration::from_secs(5)).unwrap();
    assert_eq!(field(&done, "repairs"), 0);
}

#[test]
fn arming_checks_the_site_and_is_idempotent() {
    let _s = serial();
    let kid = target(&["wait"], &[]);
    let mut s = Session::attach(kid.pid).unwrap();
    let p = probes(kid.pid, "gc_start").remove(0);
    let a = s.arm(&p).unwrap();
    let b = s.arm(&p).unwrap();
    assert_eq!(a, b);
    assert_eq!(s.armed().len(), 1);
    // A site that does not hold a nop.
    let mut bad = p.clone();
    let mem = s.read_memory(p.address - 16, 16).unwrap();
    let off = mem.iter().rposition(|&b| b != 0x90 && b != 0xcc).expect("a non-nop byte");
    bad.address = p.address - 16 + off as u64;
    let e = s.arm(&bad).unwrap_err();
    assert_eq!(e, Error::ProbeSiteNotNop { addr: bad.address, found: mem[off] });
    assert!(e.to_string().contains("not a nop"), "{e}");
    // Our own armed site is not a nop either: a second session refuses it.
    assert_eq!(byte_at(kid.pid, p.address), 0xcc);
    // Unknown names and undecodable argument specs.
    assert_eq!(s.arm_named("no_such_probe", OnHit::Hold).unwrap_err(), Error::NoSuchProbe { pid: kid.pid });
    let mut weird = probes(kid.pid, "gopark").remove(0);
    weird.args = "8@%rax 8@%xmm3".into();
    assert_eq!(s.arm(&weird).unwrap_err(), Error::BadProbeArgs { addr: weird.address, index: 1 });
    assert_eq!(byte_at(kid.pid, weird.address), 0x90, "a refused probe was patched");
    s.disarm(a).unwrap();
    assert_eq!(byte_at(kid.pid, p.address), 0x90);
    assert!(matches!(s.disarm(a), Err(Error::ProbeNotArmed { .. })));
}

#[test]
fn semaphores_are_counted_up_and_down() {
    let _s = serial();
    let kid = target(&["wait"], &[]);
    let sem_line = kid.line_starting("sem ", Duration::from_secs(5)).unwrap();
    let sem = u64::from_str_radix(sem_line[4..].trim_start_matches("0x"), 16).unwrap();
    let read_sem = || {
        let mut b = [0u8; 2];
        use std::os::unix::fs::FileExt;
        std::fs::File::open(format!("/proc/{}/mem", kid.pid)).unwrap().read_exact_at(&mut b, sem).unwrap();
        u16::from_le_bytes(b)
    };
    let mut s = Session::attach(kid.pid).unwrap();
    let mut ps = Vec::new();
    for name in ["gc_start", "gc_done"] {
        let mut p = probes(kid.pid, name).remove(0);
        p.semaphore = sem;
        ps.push(p);
    }
    let a = s.arm(&ps[0]).unwrap();
    assert_eq!(read_sem(), 1);
    s.arm(&ps[1]).unwrap();
    assert_eq!(read_sem(), 2);
    s.disarm(a).unwrap();
    assert_eq!(read_sem(), 1);
    // Detach undoes the rest.
    drop(s);
    assert_eq!(read_sem(), 0);
    assert_eq!(byte_at(kid.pid, ps[1].address), 0x90);
}

#[test]
fn single_steps_run_into_an_armed_probe_without_executing_int3() {
    let _s = serial();
    let mut kid = target(&["hot"], &[("GRT_MAXPROCS", "1")]);
    kid.go();
    assert!(kid.line_starting("calls ", Duration::from_secs(5)).is_some());
    let mut s = Session::attach(kid.pid).unwrap();
    // Sysmon held at its sleep (where it holds nothing): stepped, a system
    // call lasts long enough for sysmon to retake the P, and the thread's
    // exitsyscall would then park it on a futex with its goroutine queued
    // for another thread.
    let hold = s.arm_named("sysmon_sleep", OnHit::Hold).unwrap();
    let wait_hit = |s: &mut Session, ids: &[grt_inspector::control::ProbeId]| {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < end, "no hit");
            if let Some(Event::ProbeHit(h)) = s.wait_event(Duration::from_millis(100)).unwrap() {
                if ids.contains(&h.probe) {
                    return h;
                }
            }
        }
    };
    let sysmon = wait_hit(&mut s, &hold).tid;
    let ids = s.arm_named("entersyscall", OnHit::Hold).unwrap();
    let sites: HashSet<u64> = s.armed().iter().filter(|a| ids.contains(&a.0)).map(|a| a.2).collect();
    // A thread held just past the probe...
    let h = wait_hit(&mut s, &ids);
    assert_ne!(h.tid, sysmon);
    let tid = h.tid;
    assert_eq!(s.regs(tid).unwrap().rip, h.address + 1);
    // ...is stepped around its loop until it is at the probe again. The
    // step over the probe reports the hit and moves past the nop.
    let mut steps = 0;
    loop {
        let pc = s.regs(tid).unwrap_or_else(|e| panic!("{e}: {}", kid.stderr())).rip;
        let npc = s.step(tid).unwrap_or_else(|e| {
            let rd = |f: &str| std::fs::read_to_string(format!("/proc/{}/task/{tid}/{f}", kid.pid)).unwrap_or_default();
            panic!("{e} (step {steps}, pc {pc:#x}; in the kernel at {}, system call {})", rd("wchan"), rd("syscall"))
        });
        steps += 1;
        assert!(steps < 200_000, "never came back to the probe");
        if sites.contains(&pc) {
            assert_eq!(npc, pc + 1);
            match s.pending_events().pop() {
                Some(Event::ProbeHit(h2)) => {
                    assert_eq!((h2.tid, h2.address), (tid, pc));
                    assert!(ids.contains(&h2.probe));
                }
                other => panic!("no hit reported for the step over the probe: {other:?}"),
            }
            assert_eq!(
                s.thread_state(tid).unwrap(),
                ThreadState::AtProbe(s.armed().iter().find(|a| a.2 == pc).unwrap().0)
            );
            break;
        }
    }
    s.thaw(tid).unwrap();
    // The target goes on, and no trap of ours reached it.
    s.detach().unwrap();
    // Lines printed while the thread was held repeat one count: read on
    // until the count moves.
    let count =
        |kid: &Kid| -> u64 { kid.line_starting("calls ", Duration::from_secs(5)).unwrap()[6..].parse().unwrap() };
    let a = count(&kid);
    let end = Instant::now() + Duration::from_secs(5);
    while count(&kid) == a {
        assert!(Instant::now() < end, "the target made no progress after detach (calls stuck at {a})");
    }
    assert!(!kid.stderr().contains("SIGTRAP"), "{}", kid.stderr());
}

#[test]
fn a_panic_with_probes_armed_restores_every_byte() {
    let _s = serial();
    let mut kid = target(&["gc", "300", "2", "20000"], &[("GRT_MAXPROCS", "2")]);
    let pid = kid.pid;
    let sites: Vec<u64> = probes(pid, "entersyscall").iter().map(|p| p.address).collect();
    kid.go();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut s = Session::attach(pid).unwrap();
        s.arm_named("entersyscall", OnHit::Hold).unwrap();
        // Some threads held at the probe when the panic comes.
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Some(Event::ProbeHit(_)) = s.wait_event(Duration::from_millis(100)).unwrap() {
                break;
            }
        }
        assert!(sites.iter().all(|&a| byte_at(pid, a) == 0xcc));
        panic!("inspector bug");
    }));
    assert!(r.is_err());
    assert!(sites.iter().all(|&a| byte_at(pid, a) == 0x90), "not restored after a panic");
    let done = kid.line_starting("done ", Duration::from_secs(60)).unwrap_or_else(|| panic!("{}", kid.stderr()));
    assert_eq!(field(&done, "repairs"), 0);
    assert_eq!(kid.wait_exit(Duration::from_secs(10)).unwrap().code(), Some(0));
}
