//! A goroutine that never reaches a safe point is visible from outside
//! (issue 11): the live table records since when the running goroutine
//! last passed one, the snapshot turns that into a duration, and the dump
//! built from the snapshot says `[running, N seconds without a safe
//! point]`. The target (runtime/examples/insp_spin.rs) says when its
//! spinner has spun for 1.5 s, so nothing here waits on the clock.

mod common;

use common::spawn_example;
use grt_inspector::dump::{self, DumpOptions};
use grt_inspector::find::open_table;
use grt_symbols::traceback::NO_SAFE_POINT_SHOWN_NS;
use std::time::Duration;

#[test]
fn a_goroutine_spinning_without_runtime_calls_shows_without_a_safe_point() {
    let kid = spawn_example("insp_spin", &[], &[("GRT_MAXPROCS", "2")]);
    let line = kid
        .line_starting("spinning ", Duration::from_secs(60))
        .unwrap_or_else(|| panic!("the spinner never said it spun; stderr:\n{}", kid.stderr()));
    let goid: u64 = line["spinning ".len()..].parse().expect("spinner goid");

    let src = open_table(kid.pid).expect("open the child's table");
    let snap = src.snapshot(false).expect("snapshot the child");
    let g = snap.goroutine(goid).expect("the spinner is in the snapshot");
    assert_eq!(g.base_status(), Some(grt_table::G_RUNNING), "the spinner runs");
    let d = snap.no_safe_point_ns(g).expect("a running goroutine has a safe point stamp");
    assert!(d >= NO_SAFE_POINT_SHOWN_NS, "the spinner spun 1.5 s since it was scheduled, snapshot says {d} ns");
    // Only a running goroutine has such a duration.
    for other in snap.gs.iter().filter(|o| o.base_status() != Some(grt_table::G_RUNNING)) {
        assert_eq!(snap.no_safe_point_ns(other), None, "goroutine {:?} does not run", other.goid);
    }

    // The dump's header, from the same snapshot (no registers: running
    // goroutines print "running on other thread").
    let mem = grt_symbols::SnapshotMemory::default();
    let d = dump::build(kid.pid, "insp_spin".into(), &snap, None, &mem, &[], DumpOptions::default());
    let text = d.to_text();
    let header = text
        .lines()
        .find(|l| l.starts_with(&format!("goroutine {goid} ")))
        .unwrap_or_else(|| panic!("no block for goroutine {goid}:\n{text}"));
    assert!(
        header.starts_with(&format!("goroutine {goid} [running, ")) && header.ends_with(" without a safe point]:"),
        "{header}"
    );
    // Goroutine 1 sleeps: its header says nothing of safe points.
    let main = text.lines().find(|l| l.starts_with("goroutine 1 ")).expect("goroutine 1");
    assert!(!main.contains("safe point"), "{main}");
    let gd = d.goroutines.iter().find(|x| x.goid == goid).expect("the spinner's dump");
    assert!(gd.no_safe_point_ns >= NO_SAFE_POINT_SHOWN_NS, "{gd:?}");
    assert!(d.to_json().contains("\"no_safe_point_ns\""), "the JSON dump carries it");
}
