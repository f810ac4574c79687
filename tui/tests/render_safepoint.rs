//! A goroutine running without a safe point is marked (issue 11): the
//! goroutine list says so in its WAITING FOR column, in the warning style,
//! and its detail names it, from the dump's threshold on; a running
//! goroutine under it, or one with no stamp, is not marked.

mod common;

use common::*;
use grt_tui::action::Action;
use grt_tui::app::App;
use grt_tui::view::Theme;
use ratatui::style::{Color, Modifier};

const W: u16 = 120;
const H: u16 = 40;

fn app(hog: bool, theme: Theme) -> App {
    App::offline(state_of(synth_snapshot(Scenario { hog, ..Default::default() }), "fixture"), theme)
}

/// The screen row holding `needle`, and the column it starts at.
fn find(b: &ratatui::backend::TestBackend, needle: &str) -> Option<(u16, u16)> {
    text(b).lines().enumerate().find_map(|(y, l)| l.find(needle).map(|x| (x as u16, y as u16)))
}

#[test]
fn goroutine_list_marks_a_goroutine_without_a_safe_point() {
    let mut a = app(true, Theme::default());
    let b = render(&mut a, W, H);
    let s = text(&b);
    let (x, y) = find(&b, "no safe point 1m15s").unwrap_or_else(|| panic!("G1 is not marked:\n{s}"));
    let row = s.lines().nth(y as usize).unwrap();
    assert!(row.trim_start().starts_with("1 ") && row.contains("running"), "the mark is on G1's row: {row}");
    let cell = &b.buffer()[(x, y)];
    assert_eq!(cell.fg, Color::Yellow, "the mark is in the warning style");
    assert!(cell.modifier.contains(Modifier::BOLD));
    // G12 also runs, with no stamp: not marked. One mark on the screen.
    assert_eq!(s.matches("safe point").count(), 1, "{s}");

    // Plain theme (NO_COLOR): the text alone says it.
    let mut a = app(true, Theme::plain());
    assert!(text(&render(&mut a, W, H)).contains("no safe point 1m15s"));
}

#[test]
fn no_mark_without_a_stamp() {
    let mut a = app(false, Theme::plain());
    let s = text(&render(&mut a, W, H));
    assert!(!s.contains("safe point"), "{s}");
}

#[test]
fn detail_names_the_missing_safe_point() {
    let mut a = app(true, Theme::plain());
    a.apply(Action::OpenGoroutine(1));
    let s = text(&render(&mut a, W, H));
    assert!(s.contains("goroutine 1 [running, 1m15s without a safe point]"), "{s}");
    assert!(s.contains("last passed 1m15s ago") && s.contains("keeps its P"), "{s}");
}
