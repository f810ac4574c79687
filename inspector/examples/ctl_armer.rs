//! A small inspector for the control tests: attaches to a process, arms
//! grt probes, prints "armed <sites>", then either resumes every hit
//! (printing "hits <n>" every 50) or, with `--hold`, never looks at the
//! process again. The tests SIGKILL or SIGTERM it while probes are armed.
//!
//! Usage: ctl_armer <pid> <probe>[,<probe>...] [--hold] [--handlers]
//!        [--setuid <uid>] [--sem <address>]
//! - `--handlers`: `control::install_exit_handlers()` first.
//! - `--setuid`: drop to that uid before attaching (to see the refusal).
//! - `--sem`: arm the first probe's site with this u16 as its semaphore.
use grt_inspector::control::{install_exit_handlers, Event, OnHit, Session};
use std::io::Write;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pid: i32 = args.get(1).and_then(|s| s.parse().ok()).expect("usage: ctl_armer <pid> <probes> [flags]");
    let names: Vec<&str> = args.get(2).map(|s| s.split(',').collect()).unwrap_or_default();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let value = |f: &str| args.iter().position(|a| a == f).and_then(|i| args.get(i + 1)).cloned();
    if let Some(uid) = value("--setuid") {
        let uid: u32 = uid.parse().expect("uid");
        // SAFETY: plain system calls on our own credentials.
        unsafe {
            libc::setgid(uid);
            assert_eq!(libc::setuid(uid), 0, "setuid");
        }
    }
    if flag("--handlers") {
        install_exit_handlers();
    }
    let mut s = match Session::attach(pid) {
        Ok(s) => s,
        Err(e) => {
            println!("error: {e}");
            std::process::exit(1);
        }
    };
    let mut armed = 0;
    for (i, name) in names.iter().enumerate() {
        let r = match value("--sem") {
            Some(sem) if i == 0 => {
                let sem = u64::from_str_radix(sem.trim_start_matches("0x"), 16).expect("sem address");
                let mut p =
                    s.probes().unwrap().iter().find(|p| p.provider == "grt" && p.name == *name).cloned().unwrap();
                p.semaphore = sem;
                s.arm(&p).map(|id| vec![id])
            }
            _ => s.arm_named(name, OnHit::Hold),
        };
        match r {
            Ok(ids) => armed += ids.len(),
            Err(e) => {
                println!("error: {e}");
                std::process::exit(1);
            }
        }
    }
    println!("armed {armed}");
    let _ = std::io::stdout().flush();
    if flag("--hold") {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    let mut hits = 0u64;
    loop {
        match s.wait_event(Duration::from_millis(100)) {
            Ok(Some(Event::ProbeHit(h))) => {
                hits += 1;
                let _ = s.thaw(h.tid);
                if hits.is_multiple_of(50) {
                    println!("hits {hits}");
                    let _ = std::io::stdout().flush();
                }
            }
            Ok(Some(Event::ProcessExited { status, .. })) => {
                println!("exited {status}");
                return;
            }
            Ok(_) => {}
            Err(e) => {
                println!("error: {e}");
                std::process::exit(1);
            }
        }
    }
}
