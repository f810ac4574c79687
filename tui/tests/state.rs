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
