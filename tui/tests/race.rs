//! `grt-tui race`: the documented races run headless, buggy and fixed,
//! against the real runtime example; what the run reports comes from the
//! target itself (its fatal error on stderr, its probes, its numgc), not
//! from the script. Bad scripts and bad targets are clear errors that
//! name the file and line.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn tui() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_grt-tui"));
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn run(c: &mut Command) -> (Output, String, String) {
    let o = c.output().expect("run grt-tui");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    (o, out, err)
}

/// Races that run to their outcome run one at a time: a race steers a few
/// threads of its target while the rest of the runtime runs freely, and
/// the tests of this file running side by side on two CPUs starve it.
fn one_race_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The workspace's own scripts directory.
fn races_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/races")
}

#[test]
fn list_names_every_race_with_its_seed() {
    let (o, out, err) = run(tui().args(["race", "list"]));
    assert!(o.status.success(), "{err}");
    assert!(out.contains("foreachp-stopwait"), "{out}");
    assert!(out.contains("seed 002_5895c540a80fe381.txt"), "{out}");
    // One entry per script file.
    let n = std::fs::read_dir(races_dir())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "race"))
        .count();
    assert_eq!(out.lines().filter(|l| !l.starts_with(' ')).count(), n, "{out}");
}

/// Runs one variant headless `times` times; each run must meet the
/// expectations, and the evidence must be in the report.
fn headless(race: &str, variant: &str, times: usize, evidence: &[&str], check: impl Fn(&str)) {
    let _one = one_race_at_a_time();
    for i in 0..times {
        let transcript =
            std::env::temp_dir().join(format!("grt-race-{}-{race}-{variant}-{i}.json", std::process::id()));
        let (o, out, err) =
            run(tui().args(["race", race, "--variant", variant, "--headless", "--transcript"]).arg(&transcript));
        assert!(o.status.success(), "run {i} of {race} ({variant}) did not show the expected outcome:\n{out}\n{err}");
        assert!(out.contains("outcome: as expected"), "{out}");
        for e in evidence {
            assert!(out.contains(e), "run {i}: the report lacks {e:?}:\n{out}");
        }
        check(&out);
        let t: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&transcript).expect("transcript written"))
                .expect("transcript is JSON");
        let _ = std::fs::remove_file(&transcript);
        let steps = t["steps"].as_array().expect("steps in the transcript");
        assert_eq!(steps.len(), 9, "every step recorded: {t}");
        assert_eq!(t["outcome"]["met"], serde_json::Value::Bool(true), "{t}");
    }
}

#[test]
fn foreachp_stopwait_buggy_reaches_the_historical_throw() {
    // The target's own fatal error, as the runtime printed it, and the
    // step where m1 took P1 out from under m2 (arg2 == 1: it took the P).
    headless(
        "foreachp-stopwait",
        "buggy",
        3,
        &[
            "MET: the target exited with status 2; its stderr says: fatal error: forEachP: ",
            "stopped at probe entersyscall_gcwait_done (args",
        ],
        |out| assert_eq!(took_p1(out), 1, "buggy: m1 took P1 from m2:\n{out}"),
    );
}

#[test]
fn foreachp_stopwait_fixed_completes_the_cycle() {
    headless(
        "foreachp-stopwait",
        "fixed",
        3,
        &["MET: thread", "reached probe foreachp_done", "MET: numgc went from"],
        |out| assert_eq!(took_p1(out), 0, "fixed: m1 left P1 alone:\n{out}"),
    );
}

/// arg2 of entersyscall_gcwait_done at step 11: 1 if m1 took the P.
fn took_p1(out: &str) -> u64 {
    let l =
        out.lines().find(|l| l.contains("stopped at probe entersyscall_gcwait_done (args ")).expect("step 11 reported");
    let args = l.split("(args ").nth(1).unwrap().split(')').next().unwrap();
    args.split(", ").nth(2).and_then(|a| a.parse().ok()).expect("three arguments")
}

/// A scratch races directory holding one script.
struct Dir(std::path::PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str, text: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("grt-races-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let file = if text.contains("race    table-steps") { "table-steps.race" } else { "foreachp-stopwait.race" };
    std::fs::write(d.join(file), text).unwrap();
    Dir(d)
}

/// The real script with one line replaced.
fn mutated(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(races_dir().join("foreachp-stopwait.race")).unwrap();
    assert!(text.contains(from), "the script has {from:?}");
    text.replacen(from, to, 1)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect("needle in the script") + 1
}

#[test]
fn unknown_probe_is_an_error_at_its_line_and_the_target_is_not_left_behind() {
    let text = mutated("run gc to stw_done", "run gc to stw_dnoe");
    let d = scratch("badprobe", &text);
    let (o, _, err) = run(tui().env("GRT_RACES_DIR", &d.0).args(["race", "foreachp-stopwait", "--headless"]));
    assert_eq!(o.status.code(), Some(1), "{err}");
    let at = format!("foreachp-stopwait.race:{}: unknown probe \"stw_dnoe\"", line_of(&text, "stw_dnoe"));
    assert!(err.contains(&at), "{err}");
    assert!(err.contains("stw_done"), "the error lists the probes there are: {err}");
    assert!(!target_running(), "the target was killed");
}

#[test]
fn script_errors_name_file_and_line() {
    for (from, to, says) in [
        ("thaw m1\n", "thaw m9\n", "unknown actor \"m9\""),
        ("where arg2 == $seq", "where arg2 == $sq", "unknown variable $sq"),
        ("timeout 10s", "timeout soon", "bad duration \"soon\""),
        ("run gc to starttheworld", "walk gc to starttheworld", "unknown keyword \"walk\""),
    ] {
        let text = mutated(from, to);
        let d = scratch("bad", &text);
        let (o, _, err) = run(tui().env("GRT_RACES_DIR", &d.0).args(["race", "foreachp-stopwait", "--headless"]));
        assert_eq!(o.status.code(), Some(1), "{err}");
        let at = format!("foreachp-stopwait.race:{}: {says}", line_of(&text, to.trim()));
        assert!(err.contains(&at), "expected {at:?} in:\n{err}");
    }
}

#[test]
fn missing_target_and_unknown_race_are_clear() {
    let text = mutated("target  foreachp 2", "target  nosuchprog");
    let d = scratch("notarget", &text);
    let (o, _, err) = run(tui().env("GRT_RACES_DIR", &d.0).args(["race", "foreachp-stopwait", "--headless"]));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("foreachp-stopwait.race:{}:", line_of(&text, "nosuchprog"))), "{err}");
    assert!(err.contains("no runtime example \"nosuchprog\""), "{err}");

    let (o, _, err) = run(tui().args(["race", "no-such-race", "--headless"]));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("no race named \"no-such-race\"") && err.contains("foreachp-stopwait"), "{err}");
}

/// Whether a foreachp target started by these tests is still alive.
fn target_running() -> bool {
    let me = std::process::id().to_string();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let p = e.path();
        let Ok(stat) = std::fs::read_to_string(p.join("stat")) else {
            continue;
        };
        let Some(rest) = stat.rsplit_once(") ").map(|x| x.1) else {
            continue;
        };
        let ppid = rest.split_whitespace().nth(1).unwrap_or("");
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        // The target is grt-tui's child; grt-tui is ours and has exited.
        if comm.trim() == "foreachp" && (ppid == me || ppid == "1") && !stat.contains(" Z ") {
            let cmd = std::fs::read_to_string(p.join("cmdline")).unwrap_or_default();
            if cmd.contains("foreachp") {
                return true;
            }
        }
    }
    false
}

/// A script that steers by the table rather than by probes alone: it holds
/// a goroutine's thread at its system call, waits for the table to show
/// the goroutine and its P in _Gsyscall/_Psyscall, lets it go, names the
/// thread that runs the goroutine next, and waits for GC cycles to pass.
#[test]
fn table_conditions_and_actors_by_goroutine() {
    let text = r#"
race    table-steps
title   steps that wait on the status table
seed    none
target  foreachp 2
env     GRT_MAXPROCS=2
bug     foreachp-stopwait
timeout 20s

step Catch a goroutine entering a system call
  run any to entersyscall as m1 save g = arg0 save p = arg1
  say
    | {m1} holds goroutine {g} at its system call, on P{p}.

step The table agrees
  wait until g[$g].atomicstatus == syscall and p[$p].status == syscall and m[0].role == main
  say
    | goroutine {g} is in _Gsyscall and P{p} in _Psyscall.

step Let it go; whoever runs it next is named
  thaw m1
  actor runner = thread running goroutine $g
  say
    | {runner} runs goroutine {g}.

step The collector goes on
  thaw all
  wait until sched.numgc >= 100
  say
    | numgc reached 100.

expect buggy exit 0
expect fixed output "gc cycles"
"#;
    let d = scratch("table", text);
    let _one = one_race_at_a_time();
    let (o, out, err) =
        run(tui().env("GRT_RACES_DIR", &d.0).args(["race", "table-steps", "--variant", "fixed", "--headless"]));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("the table shows g[$g].atomicstatus == syscall and p[$p].status == syscall and m[0].role == main"),
        "{out}"
    );
    assert!(out.contains(", running goroutine "), "{out}");
    assert!(out.contains("the table shows sched.numgc >= 100"), "{out}");
    // The narration names the run's own goroutine and thread.
    let g = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("goroutine ").and_then(|r| r.split_whitespace().next()))
        .expect("narration with the goroutine");
    assert!(g.parse::<u64>().is_ok(), "{g}");
    assert!(!out.contains("{g}") && !out.contains("{runner}"), "{out}");
}

#[test]
fn unknown_table_field_is_an_error_at_its_line() {
    let text = mutated("  thaw gc\n", "  thaw gc\n  wait until p[$p1].statuss == idle\n");
    let d = scratch("badfield", &text);
    let (o, _, err) = run(tui().env("GRT_RACES_DIR", &d.0).args(["race", "foreachp-stopwait", "--headless"]));
    assert_eq!(o.status.code(), Some(1), "{err}");
    let at = format!(
        "foreachp-stopwait.race:{}: unknown field p[$p1].statuss (the table's p record has: ",
        line_of(&text, "statuss")
    );
    assert!(err.contains(&at), "{err}");
    assert!(!target_running(), "the target was killed");
}

#[test]
fn a_step_that_never_comes_times_out_and_leaves_no_process() {
    let text = mutated("timeout 10s", "timeout 1s").replacen(
        "run any to stw_gcwaiting where arg0 == 1 and arg2 == 1",
        "run any to stw_gcwaiting where arg0 == 99",
        1,
    );
    let d = scratch("never", &text);
    let t0 = std::time::Instant::now();
    let (o, _, err) = run(tui().env("GRT_RACES_DIR", &d.0).args(["race", "foreachp-stopwait", "--headless"]));
    assert!(t0.elapsed() < std::time::Duration::from_secs(20), "{:?}", t0.elapsed());
    assert_eq!(o.status.code(), Some(1), "{err}");
    let at = format!(
        "foreachp-stopwait.race:{}: no thread reached probe stw_gcwaiting with the step's conditions within 1s; where the threads were:",
        line_of(&text, "arg0 == 99")
    );
    assert!(err.contains(&at), "{err}");
    // Where each thread was, by its M, and the scheduler's state.
    assert!(
        err.contains("(M0 main)") && err.contains("and the scheduler:") && err.contains("sched: gcwaiting="),
        "{err}"
    );
    assert!(!target_running(), "the target was killed");
}
