//! Freezing and thawing the demo with its self-checks on (issue 12): a
//! freeze must never kill the target. The demo panics (exit 2) on any
//! wrong result and when its pipeline makes no progress, so a lost
//! wake-up in the runtime or a self-check fooled by the freeze ends it.

mod control_support;

use control_support::*;
use grt_inspector::control::Session;
use std::time::{Duration, Instant};

/// Pumps the session until the demo prints a heartbeat; `Err` with the
/// demo's stderr if it died or stayed silent for `t`.
fn next_beat(s: &mut Session, kid: &Kid, t: Duration) -> Result<String, String> {
    let end = Instant::now() + t;
    while Instant::now() < end {
        // Collect what the threads report (a seized target stalls at
        // thread creation otherwise), and take the line the moment it
        // comes: the freeze that follows should land right after the check.
        if let Err(e) = s.wait_event(Duration::ZERO) {
            return Err(format!("{e}\n{}", kid.stderr()));
        }
        if let Some(l) = kid.line_starting("demo: t=", Duration::from_millis(1)) {
            return Ok(l);
        }
    }
    Err(format!("no heartbeat for {t:?}\n{}", kid.stderr()))
}

/// A freeze of every thread that begins right after the demo's progress
/// check and outlasts its check period. The pipeline is stopped with the
/// checker, so this is no stall; a check that counted wall-clock time saw
/// none of the messages it expected and panicked "the pipeline stopped"
/// (in about half of such freezes before the fix). Five freezes, each
/// right after a heartbeat of a demo running freely (the heartbeat that
/// comes at the thaw is skipped: the whole pipeline wakes with it and gets
/// messages through before the next freeze lands).
#[test]
fn demo_survives_whole_freezes_right_after_its_self_check() {
    let _g = serial();
    let kid = spawn(&example("grt", "demo"), &[], &[]);
    let mut s = Session::attach(kid.pid).unwrap();
    let mut beat = next_beat(&mut s, &kid, Duration::from_secs(20)).unwrap();
    let first = field(&beat, "msgs");
    for round in 0..5 {
        s.freeze_all().unwrap();
        std::thread::sleep(Duration::from_millis(1300));
        s.thaw_all().unwrap();
        for _ in 0..2 {
            beat = next_beat(&mut s, &kid, Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("after freeze {round}, following {beat:?}: {e}"));
        }
    }
    // And it still makes progress.
    let last = next_beat(&mut s, &kid, Duration::from_secs(10)).unwrap();
    assert!(field(&last, "msgs") > first, "{beat} -> {last}");
    s.detach().unwrap();
}

/// Runs the `freezesoak` example (the long version is
/// `scripts/soak-freeze.sh`) against the demo and expects no failure.
fn soak(args: &[&str]) {
    // Built before the soak looks for the demo next to itself.
    example("grt", "demo");
    let soak = example("grt-inspector", "freezesoak");
    let out = std::process::Command::new(soak).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "freezesoak {args:?}:\n{text}");
    assert!(text.contains("\nfailures=0\n"), "{text}");
    assert!(text.contains(&format!("\ncycles={}\n", args[2])), "{text}");
}

/// The short soak: 20 cycles of 0-50 ms freezes of every thread or of one
/// random thread, attached anew or kept. Judged after the tenth and the
/// last cycle (the demo beats twice within 5 s each) and alive after
/// every cycle.
#[test]
fn freeze_thaw_soak_short() {
    let _g = serial();
    soak(&["--judge", "10", "20", "0", "50"]);
}

/// 300 freezes and thaws back to back, without a pause: every thread's
/// futex waits, epoll_wait and nanosleep are interrupted again and again
/// (restarted, or returning early with EINTR), and the demo must run on.
#[test]
fn freeze_thaw_storm() {
    let _g = serial();
    soak(&["--judge", "300", "300", "0", "0"]);
}
