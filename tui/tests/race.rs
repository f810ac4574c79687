//! `grt-tui race`: every race under scripts/races runs headless, buggy and
//! fixed, against the real runtime example, and must show the outcome its
//! script declares; what the run reports comes from the target itself (its
//! fatal error on stderr, its probes, its numgc), not from the script. Bad
//! scripts and bad targets are clear errors that name the file and line.

use grt_inspector::race::script::{self, Action, Script, Step, Variant};
use std::path::{Path, PathBuf};
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

/// Every script of the workspace's races directory, parsed.
fn scripts() -> Vec<Script> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(races_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "race"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no scripts in {}", races_dir().display());
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            script::parse(&p.display().to_string(), &text).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

#[test]
fn list_names_every_race_with_its_seed() {
    let (o, out, err) = run(tui().args(["race", "list"]));
    assert!(o.status.success(), "{err}");
    let all = scripts();
    for sc in &all {
        assert!(out.lines().any(|l| l.split_whitespace().next() == Some(sc.name.as_str())), "{}: {out}", sc.name);
        assert!(out.contains(&format!("seed {}", sc.seed)), "{}: {out}", sc.name);
    }
    // One entry per script file.
    assert_eq!(out.lines().filter(|l| !l.starts_with(' ')).count(), all.len(), "{out}");
}

/// How many times each race runs per variant.
const RUNS: usize = 3;

/// Every race under scripts/races, buggy and fixed, run headless to its
/// end: each run must show the outcome its script declares for that
/// variant. A new race needs no code here.
#[test]
fn every_race_shows_its_declared_outcome_in_both_variants() {
    let _one = one_race_at_a_time();
    for sc in scripts() {
        for variant in [Variant::Buggy, Variant::Fixed] {
            for i in 0..RUNS {
                let out = run_to_outcome(&sc, variant, i);
                evidence(&sc.name, variant, &out);
            }
        }
    }
}

/// Runs one race headless with a transcript and checks what any race
/// must show; returns the report.
fn run_to_outcome(sc: &Script, variant: Variant, i: usize) -> String {
    let (race, v) = (sc.name.as_str(), variant.name());
    let transcript = std::env::temp_dir().join(format!("grt-race-{}-{race}-{v}-{i}.json", std::process::id()));
    let (o, out, err) = run(tui().args(["race", race, "--variant", v, "--headless", "--transcript"]).arg(&transcript));
    let t = std::fs::read_to_string(&transcript);
    let _ = std::fs::remove_file(&transcript);
    let ctx = format!("run {i} of {race} ({v})");
    assert!(o.status.success(), "{ctx} did not show the expected outcome:\n{out}\n{err}");
    assert!(out.contains("outcome: as expected"), "{ctx}:\n{out}");
    assert!(!target_running(&sc.target), "{ctx}: the target was left running");
    let t: serde_json::Value = serde_json::from_str(&t.expect("transcript written")).expect("transcript is JSON");

    // Every step ran, in order, with its narration filled in for every
    // actor and variable known by then.
    let steps = t["steps"].as_array().expect("steps in the transcript");
    assert_eq!(steps.len(), sc.steps.len(), "{ctx}: every step recorded: {t}");
    let mut known = Vec::new();
    for (k, (rec, step)) in steps.iter().zip(&sc.steps).enumerate() {
        assert_eq!(rec["title"], step.title.as_str(), "{ctx}: step {}", k + 1);
        assert!(out.contains(&format!("step {}/{}: {}", k + 1, sc.steps.len(), step.title)), "{ctx}:\n{out}");
        known.extend(names_defined(step));
        let narration = rec["narration"].as_str().unwrap();
        for n in &known {
            assert!(!narration.contains(&format!("{{{n}}}")), "{ctx}: step {} leaves {{{n}}}: {narration}", k + 1);
        }
    }

    // Each of the variant's expectations, checked, met, with what the
    // runtime did quoted in the report.
    let checks = t["outcome"]["checks"].as_array().expect("checks in the transcript");
    assert_eq!(checks.len(), sc.expectations(variant).count(), "{ctx}: {t}");
    assert_eq!(t["outcome"]["met"], serde_json::Value::Bool(true), "{ctx}: {t}");
    for c in checks {
        let observed = c["observed"].as_str().unwrap();
        assert_eq!(c["met"], serde_json::Value::Bool(true), "{ctx}: {c}");
        assert!(out.contains(&format!("MET: {observed}")), "{ctx}: the report lacks {observed:?}:\n{out}");
    }
    out
}

/// The actors and variables a step defines.
fn names_defined(step: &Step) -> Vec<String> {
    let mut v = Vec::new();
    for a in &step.actions {
        match &a.item {
            Action::Run { actor, saves, .. } => {
                v.extend(actor.clone());
                v.extend(saves.iter().map(|(s, _)| s.clone()));
            }
            Action::BindRunner { actor, .. } => v.push(actor.clone()),
            _ => {}
        }
    }
    v
}

/// What a race shows beyond its declared outcome, where a test knows more.
fn evidence(race: &str, variant: Variant, out: &str) {
    if race == "foreachp-stopwait" {
        // arg2 of entersyscall_gcwait_done at step 11: 1 if m1 took P1
        // from m2 (the ABA the buggy runtime falls for), 0 if it left it.
        let l = out
            .lines()
            .find(|l| l.contains("stopped at probe entersyscall_gcwait_done (args "))
            .expect("step 11 reported");
        let args = l.split("(args ").nth(1).unwrap().split(')').next().unwrap();
        let took: u64 = args.split(", ").nth(2).and_then(|a| a.parse().ok()).expect("three arguments");
        assert_eq!(took, (variant == Variant::Buggy) as u64, "{}: m1 took P1 only if buggy:\n{out}", variant.name());
    }
}

/// A scratch races directory holding one script.
struct Dir(std::path::PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The script goes in `<its race name>.race`, as the race list expects.
fn scratch(name: &str, text: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("grt-races-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let race =
        text.lines().find_map(|l| l.trim().strip_prefix("race ").map(str::trim)).expect("the script names its race");
    std::fs::write(d.join(format!("{race}.race")), text).unwrap();
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

// The error-path tests below run the fixed variant: their target runs free
// while a step waits for what never comes, and the buggy runtime may then
// meet its own race (it throws "forEachP: P did not run fn", ending the run
// before the timeout these tests check; seen under load).
#[test]
fn unknown_probe_is_an_error_at_its_line_and_the_target_is_not_left_behind() {
    let text = mutated("run gc to stw_done", "run gc to stw_dnoe");
    let d = scratch("badprobe", &text);
    let (o, _, err) =
        run(tui().env("GRT_RACES_DIR", &d.0).args(["race", "foreachp-stopwait", "--variant", "fixed", "--headless"]));
    assert_eq!(o.status.code(), Some(1), "{err}");
    let at = format!("foreachp-stopwait.race:{}: unknown probe \"stw_dnoe\"", line_of(&text, "stw_dnoe"));
    assert!(err.contains(&at), "{err}");
    assert!(err.contains("stw_done"), "the error lists the probes there are: {err}");
    assert!(!target_running("foreachp"), "the target was killed");
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
        let (o, _, err) = run(tui().env("GRT_RACES_DIR", &d.0).args([
            "race",
            "foreachp-stopwait",
            "--variant",
            "fixed",
            "--headless",
        ]));
        assert_eq!(o.status.code(), Some(1), "{err}");
        let at = format!("foreachp-stopwait.race:{}: {says}", line_of(&text, to.trim()));
        assert!(err.contains(&at), "expected {at:?} in:\n{err}");
    }
}

#[test]
fn missing_target_and_unknown_race_are_clear() {
    let text = mutated("target  foreachp 2", "target  nosuchprog");
    let d = scratch("notarget", &text);
    let (o, _, err) =
        run(tui().env("GRT_RACES_DIR", &d.0).args(["race", "foreachp-stopwait", "--variant", "fixed", "--headless"]));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("foreachp-stopwait.race:{}:", line_of(&text, "nosuchprog"))), "{err}");
    assert!(err.contains("no runtime example \"nosuchprog\""), "{err}");

    let (o, _, err) = run(tui().args(["race", "no-such-race", "--headless"]));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("no race named \"no-such-race\"") && err.contains("foreachp-stopwait"), "{err}");
}

/// Whether a target `name` started by these tests is still alive.
fn target_running(name: &str) -> bool {
    // The kernel keeps the first 15 bytes of a program's name.
    let comm_of_name = &name[..name.len().min(15)];
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
        if comm.trim() == comm_of_name && (ppid == me || ppid == "1") && !stat.contains(" Z ") {
            let cmd = std::fs::read_to_string(p.join("cmdline")).unwrap_or_default();
            if cmd.contains(name) {
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
    let (o, _, err) =
        run(tui().env("GRT_RACES_DIR", &d.0).args(["race", "foreachp-stopwait", "--variant", "fixed", "--headless"]));
    assert_eq!(o.status.code(), Some(1), "{err}");
    let at = format!(
        "foreachp-stopwait.race:{}: unknown field p[$p1].statuss (the table's p record has: ",
        line_of(&text, "statuss")
    );
    assert!(err.contains(&at), "{err}");
    assert!(!target_running("foreachp"), "the target was killed");
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
    let (o, _, err) =
        run(tui().env("GRT_RACES_DIR", &d.0).args(["race", "foreachp-stopwait", "--variant", "fixed", "--headless"]));
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
    assert!(!target_running("foreachp"), "the target was killed");
}

#[test]
fn an_actor_that_never_reaches_its_probe_is_named_at_its_line() {
    let text = mutated("timeout 10s", "timeout 3s").replacen(
        "run m1 to entersyscall_gcwait_done",
        "run m1 to entersyscall_gcwait_done where arg0 == 99",
        1,
    );
    let d = scratch("actor-never", &text);
    let _one = one_race_at_a_time();
    let (o, _, err) =
        run(tui().env("GRT_RACES_DIR", &d.0).args(["race", "foreachp-stopwait", "--variant", "fixed", "--headless"]));
    assert_eq!(o.status.code(), Some(1), "{err}");
    let at = format!(
        "foreachp-stopwait.race:{}: actor m1 did not reach probe entersyscall_gcwait_done with the step's conditions within 3s",
        line_of(&text, "arg0 == 99")
    );
    assert!(err.contains(&at), "{err}");
    assert!(!target_running("foreachp"), "the target was killed");
}

/// A small race that ends on its own: two steps on a foreachp that runs
/// 20000 GC cycles (about 2s) and exits.
const QUICK: &str = r#"
race    quick
title   a short race
seed    none
target  foreachp 2 20000
env     GRT_MAXPROCS=2
bug     foreachp-stopwait
timeout 20s

step The collector stops the world
  run any to stw_gcwaiting as gc

step Everything runs
  thaw all

expect buggy output "gc cycles"
expect fixed numgc +3
expect fixed exit 0
"#;

/// One broken file in the races directory (a parse error, a file that is
/// not text) hides no other race: `race list` lists the good ones, names
/// each broken file with its error on stderr and succeeds; a good race
/// runs; the broken one, asked for by name, is its error.
#[test]
fn a_broken_script_hides_no_other_race() {
    let d = scratch("broken-beside", QUICK);
    let broken = "race broken\ntitle t\ntarget foreachp\nbug b\nstep s\n  walk to nowhere\n";
    std::fs::write(d.0.join("broken.race"), broken).unwrap();
    std::fs::write(d.0.join("binary.race"), b"race \xff\xfe\n").unwrap();
    std::fs::copy(races_dir().join("foreachp-stopwait.race"), d.0.join("foreachp-stopwait.race")).unwrap();

    let (o, out, err) = run(tui().env("GRT_RACES_DIR", &d.0).args(["race", "list"]));
    assert!(o.status.success(), "{out}\n{err}");
    let listed: Vec<&str> =
        out.lines().filter(|l| !l.starts_with(' ')).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(listed, ["foreachp-stopwait", "quick"], "{out}");
    let at = format!("{}:6: unknown keyword \"walk\"", d.0.join("broken.race").display());
    assert!(err.contains(&at), "{err}");
    assert!(err.contains(&format!("cannot read {}", d.0.join("binary.race").display())), "{err}");

    let (o, _, err) = run(tui().env("GRT_RACES_DIR", &d.0).args(["race", "broken", "--headless"]));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&at), "{err}");
    let (o, _, err) = run(tui().env("GRT_RACES_DIR", &d.0).args(["race", "nosuch", "--headless"]));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("no race named \"nosuch\"; races: foreachp-stopwait, quick (not loaded: "), "{err}");

    let _one = one_race_at_a_time();
    let (o, out, err) =
        run(tui().env("GRT_RACES_DIR", &d.0).args(["race", "quick", "--variant", "fixed", "--headless"]));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("expected (fixed): numgc +3\n  MET: numgc went from "), "{out}");
    assert!(out.contains("outcome: as expected"), "{out}");
    assert!(!target_running("foreachp"), "the target was left running");
}

/// Numbers past what they are for are errors at their line, before any
/// target starts: no panic (a timeout past Instant's range), no wrap (a
/// minute count that wraps to zero), no false pass (a numgc count that
/// wraps the sum it is compared with).
#[test]
fn numbers_out_of_range_are_errors_at_their_line() {
    for (from, to, says) in [
        ("timeout 10s", "timeout 18446744073709551615s", "duration 18446744073709551615s is out of range"),
        ("timeout 10s", "timeout 4611686018427387904m", "duration 4611686018427387904m is out of range"),
        ("  thaw gc\n", "  pause 18446744073709551615s\n", "duration 18446744073709551615s is out of range"),
        (
            "expect fixed ",
            "expect fixed numgc +18446744073709551615\nexpect fixed ",
            "numgc +18446744073709551615 is out of range: at most +4294967296",
        ),
        ("expect fixed ", "expect fixed exit 256\nexpect fixed ", "exit status 256 is out of range"),
    ] {
        let text = mutated(from, to);
        let d = scratch("bignum", &text);
        let (o, _, err) = run(tui().env("GRT_RACES_DIR", &d.0).args([
            "race",
            "foreachp-stopwait",
            "--variant",
            "fixed",
            "--headless",
        ]));
        assert_eq!(o.status.code(), Some(1), "{to}: {err}");
        let line = line_of(&text, to.trim().lines().next().unwrap());
        assert!(err.contains(&format!("foreachp-stopwait.race:{line}: {says}")), "{to}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(!target_running("foreachp"), "no target was left behind");
}

/// A target is a runtime example's name: a path is an error at the target
/// line, and nothing is started.
#[test]
fn a_target_outside_the_examples_is_an_error() {
    for t in ["../../../../../bin/sleep", "/bin/sleep"] {
        let text = mutated("target  foreachp 2", &format!("target  {t} 37"));
        let d = scratch("path-target", &text);
        let (o, out, err) = run(tui().env("GRT_RACES_DIR", &d.0).args([
            "race",
            "foreachp-stopwait",
            "--variant",
            "fixed",
            "--headless",
        ]));
        assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
        let at = format!(
            "foreachp-stopwait.race:{}: bad target {t:?}: a target is a runtime example's name",
            line_of(&text, t)
        );
        assert!(err.contains(&at), "{err}");
        assert!(!target_running("sleep"), "{t} was started");
    }
}
