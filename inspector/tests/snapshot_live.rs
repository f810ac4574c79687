//! The watch level against live processes: a grt child with a known set of
//! parked goroutines (runtime/examples/insp_parked.rs) is found, opened and
//! decoded; and every way of failing (no process, not a grt program,
//! another ABI, a truncated or corrupt table, a table not ready yet, an
//! exit while reading, another user's process) gives its own error and
//! message. Children are killed when a test ends.

mod common;

use common::{spawn, spawn_example, Kid};
use grt_inspector::find::{list_processes, open_table, scan_processes, FindError};
use grt_inspector::snapshot::{DamageKind, RawTable, Snapshot};
use grt_table::header::{Header, SectionKind};
use std::mem::offset_of;
use std::process::Command;
use std::time::{Duration, Instant};

const N: usize = 200;

/// Counts of goroutines by wait reason (or status).
fn count(s: &Snapshot, k: &str) -> usize {
    s.count_by_state().into_iter().find(|(n, _)| n == k).map_or(0, |x| x.1)
}

/// Snapshots `pid` until every goroutine of insp_parked is parked.
fn parked_snapshot(pid: i32) -> Snapshot {
    let src = open_table(pid).expect("open the child's table");
    let t = Instant::now();
    loop {
        let s = src.snapshot(false).expect("snapshot the child");
        let shared_full = s.chans.iter().any(|c| c.recvq.len() == N);
        let main_asleep = s.goroutine(1).is_some_and(|g| s.waitreason_name(g).as_deref() == Some("sleep"));
        if shared_full
            && main_asleep
            && count(&s, "chan send") == N / 2
            && count(&s, "sync.Mutex.Lock") == 2
            && count(&s, "select") == 1
        {
            return s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the child's goroutines did not all park: {:?}",
            s.count_by_state()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn live_child_is_found_and_decoded() {
    let mut kid = spawn_example("insp_parked", &[&N.to_string()], &[("GRT_MAXPROCS", "2"), ("GRT_MAXG", "65536")]);
    let pid = kid.pid;
    let line: u32 = kid.expect_line().strip_prefix("line shared ").unwrap().parse().unwrap();

    // ps
    let procs = list_processes();
    let p = procs.iter().find(|p| p.pid == pid).unwrap_or_else(|| panic!("pid {pid} not in {procs:?}"));
    assert_eq!(p.command, "insp_parked");
    assert_eq!(p.gomaxprocs, Some(2));
    assert!(p.goroutines.unwrap() >= (N + N / 2 + 7) as i64, "{p:?}");
    assert!(p.threads.unwrap() >= 2, "{p:?}");
    assert!(p.uptime.unwrap() < Duration::from_secs(120), "{p:?}");
    assert!(p.problem.is_none(), "{p:?}");
    assert!(p.bugs.is_empty());

    let s = parked_snapshot(pid);
    assert_eq!(s.header.pid as i32, pid);
    assert!(s.header.ready && !s.header.exiting);
    assert!(s.damage.iter().all(|d| d.kind != DamageKind::Corrupt), "{:#?}", s.damage);
    // Goroutines by wait reason.
    assert_eq!(count(&s, "chan receive"), N);
    assert_eq!(count(&s, "chan send"), N / 2);
    assert_eq!(count(&s, "select"), 1);
    assert_eq!(count(&s, "sync.Mutex.Lock"), 2);
    assert!(count(&s, "sleep") >= 4, "three sleepers and main: {:?}", s.count_by_state());
    let main = s.goroutine(1).expect("goroutine 1");
    assert_eq!(s.waitreason_name(main).as_deref(), Some("sleep"));
    assert!(s.wait_ns(main).is_some_and(|w| w < 60_000_000_000), "{main:?}");
    // The shared channel: N receivers in order, elems on their stacks.
    let shared = s.chans.iter().find(|c| c.recvq.len() == N).unwrap();
    assert!(shared.queues_ok);
    assert_eq!(s.site(shared.elemtype), Some("u64"));
    assert_eq!(shared.cap, Some(0));
    let at = s.site(shared.site).unwrap();
    assert!(at.ends_with(&format!("insp_parked.rs:{line}")), "{at}");
    for q in s.recvq(shared) {
        let sg = s.sudog(q.sudog).unwrap();
        assert_eq!(sg.elem_in_stack, Some(true), "{sg:?}");
        assert_eq!(sg.g, q.g);
        let g = s.g(q.g.index().unwrap()).unwrap();
        assert_eq!(s.waiting(g), [q.sudog]);
        assert_eq!(s.waitreason_name(g).as_deref(), Some("chan receive"));
        assert!(s.created_at(g).unwrap().contains("insp_parked.rs:"));
        assert!(g.stack_used().is_some_and(|u| u > 0 && u < 1 << 20), "{g:?}");
        assert!(g.sched.is_some_and(|c| c.pc != 0 && c.sp != 0));
        assert_eq!(g.parent_goid, 1);
    }
    let sink = s.chans.iter().find(|c| c.sendq.len() == N / 2).unwrap();
    assert!(sink.recvq.is_empty());
    // The select waiter has two sudogs, on two channels, marked select.
    let sel = s.gs.iter().find(|g| s.waitreason_name(g).as_deref() == Some("select")).unwrap();
    assert_eq!(sel.waiting.len(), 2);
    assert!(s.waiting(sel).iter().all(|&i| s.sudog(i).unwrap().is_select == Some(true)));
    // Mutex waiters are semaphore sudogs.
    assert_eq!(s.sudogs.iter().filter(|sg| sg.sema != 0).count(), 2);
    // Ps = GOMAXPROCS; Ms are real threads.
    assert_eq!(s.sched.gomaxprocs, Some(2));
    assert_eq!(s.ps.iter().filter(|p| &*p.status_name != "dead").count(), 2);
    let tids: Vec<u64> = s.ms.iter().filter_map(|m| m.tid).filter(|&t| t != 0).collect();
    assert!(tids.contains(&(pid as u64)), "M0's tid is the pid: {tids:?}");
    for t in &tids {
        assert!(
            std::path::Path::new(&format!("/proc/{pid}/task/{t}")).exists(),
            "M tid {t} is not a thread of the child"
        );
    }
    assert!(s.ms.iter().any(|m| &*m.role_name == "sysmon"));
    // Locks: the scheduler's and the heap's, none stuck.
    assert!(s.locks.iter().any(|l| &*l.name == "sched.lock"));
    assert!(s.locks.iter().any(|l| &*l.name == "mheap.lock"));
    assert!(s.waitfor.cycles.is_empty(), "{:?}", s.waitfor.lines);
    // The heap: stack spans owned by the goroutines.
    assert!(s.heap.spans.len() >= N + N / 2);
    let owned = s.heap.spans.iter().filter(|sp| sp.owner.index().is_some()).count();
    assert!(owned >= N + N / 2, "{owned} stack spans with owners");
    assert!(s.heap.spans.iter().all(|sp| s.span_sweep(sp).is_some()));
    // Capture details.
    assert!(s.taken.decode_us > 0 || s.gs.len() < 10);

    // A watcher's loop (the sampler's): each copy of the table goes into
    // the last copy's buffers, each decode into the last snapshot; the
    // parked goroutines read the same every time.
    let src = open_table(pid).unwrap();
    let (mut image, mut last) = (None, None);
    for _ in 0..3 {
        let w = src.snapshot_reusing(false, last.take(), &mut image).unwrap();
        assert_eq!(count(&w, "chan receive"), N);
        assert_eq!(count(&w, "chan send"), N / 2);
        assert!(w.damage.iter().all(|d| d.kind == DamageKind::Torn), "{:?}", w.damage);
        last = Some(w);
    }
    let reused = image.expect("the loop keeps the last image");
    let fresh = src.load_image(u64::MAX).unwrap();
    let desc = |i: &grt_table::view::Image| i.segment(SectionKind::Desc).map(|s| s.bytes.clone());
    assert_eq!(desc(&reused), desc(&fresh));

    // A raw copy decodes the same without the process.
    let img = src.load_image(u64::MAX).unwrap();
    let raw = RawTable::from_image(&img);
    kid.kill();
    let again = raw.snapshot(false).unwrap();
    assert_eq!(count(&again, "chan receive"), N);
    assert_eq!(again.chans.iter().filter(|c| c.recvq.len() == N).count(), 1);
}

fn raw_of_child() -> RawTable {
    let kid = spawn_example("insp_parked", &["8"], &[("GRT_MAXPROCS", "1"), ("GRT_MAXG", "4096")]);
    let img = open_table(kid.pid).unwrap().load_image(u64::MAX).unwrap();
    RawTable::from_image(&img)
}

fn fake(raw: &RawTable, size: Option<u64>, name: &str) -> Kid {
    let dir = std::env::temp_dir().join(format!("grt-insp-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    raw.save(&path).unwrap();
    let mut c = Command::new(common::example("insp_fake"));
    c.arg(&path);
    if let Some(s) = size {
        c.arg(s.to_string());
    }
    spawn(c, true)
}

fn header_put32(raw: &mut RawTable, off: usize, v: u32) {
    raw.chunks[0].1[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

#[test]
fn no_such_process() {
    let pid = 0x7fff_fff0;
    let e = open_table(pid).unwrap_err();
    assert_eq!(e, FindError::NoProcess { pid });
    assert_eq!(e.to_string(), format!("no process with pid {pid}"));
    assert_eq!(open_table(-3).unwrap_err(), FindError::NoProcess { pid: -3 });
}

#[test]
fn not_a_grt_process() {
    let mut c = Command::new("sleep");
    c.arg("30");
    let kid = spawn(c, false);
    let e = open_table(kid.pid).unwrap_err();
    assert_eq!(e, FindError::NotGrt { pid: kid.pid, command: "sleep".into() });
    assert_eq!(
        e.to_string(),
        format!("process {} (sleep) has no grt status table: it is not a grt program, or it has not started the runtime yet", kid.pid)
    );
    assert!(!list_processes().iter().any(|p| p.pid == kid.pid));
}

#[test]
fn another_abi_version() {
    let mut raw = raw_of_child();
    header_put32(&mut raw, offset_of!(Header, abi_version), 99);
    let kid = fake(&raw, None, "abi.grtraw");
    let src = open_table(kid.pid).unwrap();
    let e = src.load_image(u64::MAX).unwrap_err();
    assert_eq!(e, FindError::Abi { pid: kid.pid, found: 99, supported: grt_table::ABI_VERSION });
    assert_eq!(
        e.to_string(),
        format!(
            "process {} uses status table ABI v99; this grt-tui reads v1; use the grt-tui built with that program",
            kid.pid
        )
    );
    // ps still lists it, with the problem.
    let p = scan_processes().procs.into_iter().find(|p| p.pid == kid.pid).unwrap();
    assert_eq!(p.problem.as_deref(), Some(e.to_string().as_str()));
    assert_eq!(p.command, "insp_fake");
}

#[test]
fn truncated_table() {
    let raw = raw_of_child();
    let kid = fake(&raw, Some(raw.size / 2), "trunc.grtraw");
    let e = open_table(kid.pid).unwrap().load_image(u64::MAX).unwrap_err();
    assert_eq!(e, FindError::Truncated { pid: kid.pid, need: raw.size, have: raw.size / 2 });
    assert!(e.to_string().contains("is truncated (its header says"), "{e}");
}

#[test]
fn corrupt_table() {
    let mut raw = raw_of_child();
    // A field kind no reader knows, in the descriptor blob: the first
    // FieldDesc's kind byte (after the blob header and the record descs).
    let img = raw.image().unwrap();
    let desc = img.segment(SectionKind::Desc).unwrap().info.offset;
    let nrec = img.layout.records.len();
    let kind_at = desc as usize + 16 + nrec * 40 + 24 + 12;
    let chunk = raw.chunks.iter_mut().find(|c| c.0 == desc).unwrap();
    chunk.1[kind_at - desc as usize] = 77;
    let kid = fake(&raw, None, "corrupt.grtraw");
    let e = open_table(kid.pid).unwrap().load_image(u64::MAX).unwrap_err();
    assert!(matches!(e, FindError::Corrupt { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "the status table of process {0} is corrupt (corrupt table descriptors: unknown field kind): the program may have overwritten runtime memory; save a core dump (gcore {0}) and restart it",
            kid.pid
        )
    );
    // A bad magic is corrupt too.
    let mut raw2 = raw_of_child();
    raw2.chunks[0].1[0] = b'X';
    let kid2 = fake(&raw2, None, "magic.grtraw");
    let e = open_table(kid2.pid).unwrap().load_image(u64::MAX).unwrap_err();
    assert!(matches!(&e, FindError::Corrupt { cause, .. } if cause.contains("bad magic")), "{e:?}");
}

#[test]
fn table_not_ready_yet() {
    // An empty memfd: the runtime has created it but not sized it.
    let mut c = Command::new(common::example("insp_fake"));
    c.args(["-", "0"]);
    let kid = spawn(c, true);
    let e = open_table(kid.pid).unwrap().load_image(u64::MAX).unwrap_err();
    assert_eq!(e, FindError::NotReady { pid: kid.pid, command: "insp_fake".into() });
    assert!(
        e.to_string().ends_with("is still starting its runtime (status table not ready); try again in a moment"),
        "{e}"
    );
    // A header with ready = 0.
    let mut raw = raw_of_child();
    header_put32(&mut raw, offset_of!(Header, ready), 0);
    let kid = fake(&raw, None, "notready.grtraw");
    let e = open_table(kid.pid).unwrap().load_image(u64::MAX).unwrap_err();
    assert!(matches!(e, FindError::NotReady { .. }), "{e:?}");
}

/// Waits until process `pid` is older than the startup grace.
fn past_startup_grace(pid: i32) {
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start: f64 = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().nth(19).unwrap().parse().unwrap();
    let up: f64 = std::fs::read_to_string("/proc/uptime").unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let age = up - start / hz;
    let wait = grt_inspector::find::STARTUP_GRACE.as_secs_f64() + 0.2 - age;
    if wait > 0.0 {
        std::thread::sleep(std::time::Duration::from_secs_f64(wait));
    }
}

/// Once the runtime has had time to start, an empty or never-ready table
/// is reported as damaged, not as "still starting; try again".
#[test]
fn table_still_not_ready_after_startup_is_damaged() {
    let mut c = Command::new(common::example("insp_fake"));
    c.args(["-", "0"]);
    let kid = spawn(c, true);
    past_startup_grace(kid.pid);
    let e = open_table(kid.pid).unwrap().load_image(u64::MAX).unwrap_err();
    assert!(matches!(e, FindError::Truncated { have: 0, .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("is truncated (the memfd is empty") && !text.contains("try again"), "{text}");
    let mut raw = raw_of_child();
    header_put32(&mut raw, offset_of!(Header, ready), 0);
    let kid = fake(&raw, None, "neverready.grtraw");
    past_startup_grace(kid.pid);
    let e = open_table(kid.pid).unwrap().load_image(u64::MAX).unwrap_err();
    assert!(matches!(e, FindError::NeverReady { .. }), "{e:?}");
    assert!(e.to_string().contains("is still not marked ready") && !e.to_string().contains("try again"), "{e}");
}

#[test]
fn process_exits_while_open() {
    let mut kid = spawn_example("insp_parked", &["4"], &[("GRT_MAXG", "4096")]);
    let pid = kid.pid;
    let src = open_table(pid).unwrap();
    assert!(src.alive());
    src.load_image(u64::MAX).unwrap();
    kid.kill();
    let e = src.load_image(u64::MAX).unwrap_err();
    assert_eq!(e, FindError::Exited { pid });
    assert_eq!(e.to_string(), format!("process {pid} exited"));
    assert!(!src.alive());
}

/// Run as an unprivileged user (re-executing this test binary with the
/// ignored helper below), opening a root-owned grt child must fail with
/// PermissionDenied, and `ps` must count it as hidden.
#[test]
fn other_users_process_is_permission_denied() {
    // SAFETY: geteuid has no arguments and no memory effects.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run a helper as another user");
        return;
    }
    let kid = spawn_example("insp_parked", &["4"], &[("GRT_MAXG", "4096")]);
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "denied_helper", "--nocapture", "--test-threads=1"])
        .env("GRT_INSP_DENIED_PID", kid.pid.to_string())
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "helper failed:\n{text}");
    assert!(text.contains("denied helper: ok"), "the helper did not run:\n{text}");
}

use std::os::unix::process::CommandExt;

#[test]
#[ignore = "run by other_users_process_is_permission_denied as another user"]
fn denied_helper() {
    let Ok(pid) = std::env::var("GRT_INSP_DENIED_PID") else {
        return;
    };
    let pid: i32 = pid.parse().unwrap();
    let e = open_table(pid).unwrap_err();
    assert_eq!(e, FindError::PermissionDenied { pid, uid: Some(0) });
    assert_eq!(
        e.to_string(),
        format!("cannot open the status table of process {pid} (owned by uid 0): permission denied; run grt-tui as that user or as root, or set kernel.yama.ptrace_scope=0")
    );
    let scan = scan_processes();
    assert!(scan.denied >= 1);
    assert!(!scan.procs.iter().any(|p| p.pid == pid));
    let note = scan.denied_note().unwrap();
    assert!(note.ends_with("not shown: permission denied; run as their user or root"), "{note}");
    println!("denied helper: ok");
}
