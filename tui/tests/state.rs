//! The goroutine list's state over a fixed snapshot, with stacks answered
//! the way the symbolizer answers them: what the filter and grouping ask
//! for and what they make of the stacks that come back.

mod common;

use common::*;
use grt_tui::action::Action;
use grt_tui::state::{stacks, AppState, Frame, Stack};
use std::sync::Arc;

fn frame(function: &str, file: &str) -> Frame {
    Frame { function: function.into(), file: file.into(), line: 1, inlined: false }
}

/// The goroutines of the snapshot that have a stack to unwind now.
fn unwindable(st: &AppState) -> usize {
    st.snap.gs.iter().filter(|g| stacks::key_of(&st.snap, g, None).is_some()).count()
}

/// Answers every stack the state asked for with `stack` (as the
/// symbolizer would); returns how many were asked for.
fn answer(st: &mut AppState, stack: &Arc<Stack>) -> usize {
    let wanted = st.stacks.take_wanted();
    for (k, _) in &wanted {
        st.stacks.insert(*k, stack.clone());
    }
    wanted.len()
}

#[test]
fn filter_matches_a_function_in_every_stack_without_opening_any() {
    let mut st = state_of(synth_snapshot(Scenario::default()), "fixture");
    let n = unwindable(&st);
    assert!(n >= 5, "the fixture parks several goroutines: {n}");
    st.goroutines.filter = "shared_helper".into();
    st.prepare();
    assert!(st.goroutines.rows.is_empty(), "no stack is known yet");
    // The filter asked for every goroutine's stack, not only an open one.
    let every = Arc::new(Stack::new(
        vec![
            frame("grt::proc::gopark", "runtime/src/proc.rs"),
            frame("app::shared_helper", "src/main.rs"),
            frame("grt::proc::goroutine_main", "runtime/src/proc.rs"),
        ],
        None,
    ));
    assert_eq!(answer(&mut st, &every), n);
    st.prepare();
    assert_eq!(st.goroutines.rows.len(), n, "every goroutine with a stack matches");
    // Nothing asked twice for the same snapshot.
    st.prepare();
    assert_eq!(answer(&mut st, &every), 0);
}

#[test]
fn io_wait_groups_are_titled_by_the_programs_own_frame() {
    let mut st = state_of(synth_snapshot(Scenario::default()), "fixture");
    st.goroutines.grouped = true;
    st.prepare();
    let io = Arc::new(Stack::new(
        vec![
            frame("grt::proc::gopark", "runtime/src/proc.rs"),
            frame("grt::netpoll::wait", "runtime/src/netpoll.rs"),
            frame("<&grt::net::TcpStream as std::io::Read>::read", "runtime/src/net.rs"),
            frame("std::io::default_read_exact", "library/std/src/io/mod.rs"),
            frame("app::serve_conn", "src/server.rs"),
            frame("grt::proc::goroutine_main", "runtime/src/proc.rs"),
        ],
        None,
    ));
    assert!(answer(&mut st, &io) > 0);
    st.prepare();
    let mut app = app_of(st);
    app.apply(Action::ShowView(grt_tui::state::View::Goroutines));
    let screen = text(&render(&mut app, 160, 30));
    assert!(screen.contains("app::serve_conn"), "{screen}");
    assert!(screen.contains("src/server.rs:1"), "{screen}");
    assert!(!screen.contains("TcpStream"), "{screen}");
}

#[test]
fn navigation_filter_and_sort_apply_to_the_state_alone() {
    let mut st = state_of(synth_snapshot(Scenario::default()), "fixture");
    st.prepare();
    let n = st.goroutines.len();
    assert!(st.apply(&Action::End));
    assert_eq!(st.goroutines.cursor.selected, n - 1);
    assert!(st.apply(&Action::Up) && st.apply(&Action::Home));
    assert_eq!(st.goroutines.cursor.selected, 0);
    // Typing a filter narrows the list; Esc (Back) clears it.
    assert!(st.apply(&Action::StartFilter));
    for c in "g1".chars() {
        assert!(st.apply(&Action::FilterChar(c)));
    }
    assert!(st.apply(&Action::FilterApply));
    st.prepare();
    assert_eq!(st.goroutines.len(), 1, "g1 names one goroutine");
    assert!(st.apply(&Action::Back));
    st.prepare();
    assert_eq!(st.goroutines.len(), n);
    assert!(st.apply(&Action::SortReverse));
    st.prepare();
    let first = st.snap.gs[st.goroutines.rows[0] as usize].goid;
    let max = st.snap.gs.iter().filter_map(|g| g.goid).max();
    assert_eq!(first, max, "reversed: the highest id first");
    assert_eq!(st.selected_goid(), Some(1), "the selection follows its goroutine");
    // Control and views that load data are the app's.
    assert!(!st.apply(&Action::FreezeAll));
    assert!(!st.apply(&Action::ShowView(grt_tui::state::View::Probes)));
}
