//! Control tests: bad input gives the error that names cause and remedy
//! (no such process, zombie, already traced by ourselves or by strace,
//! permission denied), and a process that is not a grt program is fine
//! to control.

mod control_support;

use control_support::*;
use grt_inspector::control::{Comm, Error, OnHit, Session};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_pid_that_does_not_exist() {
    for pid in [0, -5, 0x3fff_fff0] {
        let e = Session::attach(pid).unwrap_err();
        assert_eq!(e, Error::NoSuchProcess { pid });
        assert!(e.to_string().starts_with(&format!("no such process: {pid}")), "{e}");
    }
}

#[test]
fn a_zombie_is_no_process() {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id() as i32;
    let end = Instant::now() + Duration::from_secs(5);
    while state(pid, pid) != Some('Z') {
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(Session::attach(pid).unwrap_err(), Error::NoSuchProcess { pid });
    c.wait().unwrap();
}

#[test]
fn a_process_that_is_not_grt_can_be_controlled() {
    let _s = serial();
    let mut c = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = c.id() as i32;
    let mut s = Session::attach(pid).unwrap();
    assert_eq!(s.tids(), vec![pid]);
    s.freeze_all().unwrap();
    assert_eq!(state(pid, pid), Some('t'));
    assert!(s.regs(pid).unwrap().rip != 0);
    s.thaw_all().unwrap();
    assert_eq!(s.arm_named("gc_start", OnHit::Hold).unwrap_err(), Error::NoSuchProbe { pid });
    s.detach().unwrap();
    assert_eq!(sys_tracer(pid), 0);
    c.kill().unwrap();
    c.wait().unwrap();
}

fn sys_tracer(pid: i32) -> i32 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn attaching_twice_says_already_traced() {
    let _s = serial();
    let kid = target(&["wait"], &[]);
    // Attached from a thread that is not this process's first, so that
    // the tracer's thread id (the target's `TracerPid`) is not our pid.
    let pid = kid.pid;
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let s = Session::attach(pid).unwrap();
        // SAFETY: gettid has no preconditions.
        tx.send(unsafe { libc::syscall(libc::SYS_gettid) } as i32).unwrap();
        done_rx.recv().unwrap();
        drop(s);
    });
    let tracer_tid = rx.recv().unwrap();
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    assert_ne!(tracer_tid, me);
    assert_eq!(sys_tracer(pid), tracer_tid);
    let my_name = std::fs::read_to_string("/proc/self/comm").unwrap().trim_end().to_string();
    let e = Session::attach(pid).unwrap_err();
    assert_eq!(e, Error::AlreadyTraced { pid, tracer: me, name: Comm::new(&my_name) });
    // From another thread too.
    let e2 = std::thread::spawn(move || Session::attach(pid).unwrap_err()).join().unwrap();
    assert_eq!(e2, e);
    assert!(e.to_string().contains(&format!("already traced by process {me} `{my_name}`")), "{e}");
    done_tx.send(()).unwrap();
    holder.join().unwrap();
    // Detached: attaching works again.
    Session::attach(kid.pid).unwrap().detach().unwrap();
}

#[test]
fn a_process_under_strace_says_already_traced() {
    let _s = serial();
    if Command::new("strace").arg("-V").stdout(Stdio::null()).status().is_err() {
        eprintln!("skipped: no strace");
        return;
    }
    let kid = target(&["wait"], &[]);
    let mut st = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "-p", &kid.pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let strace = st.id() as i32;
    let end = Instant::now() + Duration::from_secs(10);
    while sys_tracer(kid.pid) != strace {
        assert!(Instant::now() < end, "strace did not attach");
        std::thread::sleep(Duration::from_millis(10));
    }
    let e = Session::attach(kid.pid).unwrap_err();
    assert_eq!(e, Error::AlreadyTraced { pid: kid.pid, tracer: strace, name: Comm::new("strace") });
    assert!(e.to_string().contains("gdb, strace"), "{e}");
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(strace, libc::SIGINT) };
    let _ = st.wait();
}

#[test]
fn permission_denied_names_the_remedy() {
    let _s = serial();
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        eprintln!("skipped: needs root to drop to another user");
        return;
    }
    let kid = target(&["wait"], &[]);
    let armer = example("grt-inspector", "ctl_armer");
    let o = Command::new(armer).args([&kid.pid.to_string(), "gc_start", "--setuid", "65534"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        out.trim(),
        format!(
            "error: permission denied to ptrace process {}: run as the target's user or root; in a container the \
             inspector needs CAP_SYS_PTRACE; check kernel.yama.ptrace_scope",
            kid.pid
        )
    );
    assert_eq!(sys_tracer(kid.pid), 0);
}
