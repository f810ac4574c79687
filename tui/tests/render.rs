//! Whole screens rendered on ratatui's TestBackend from fixed snapshots
//! (synthetic ones built in code, and a saved snapshot of the demo),
//! compared with insta snapshots (tests/snapshots/). No clock, no live
//! process: stacks are injected.

mod common;

use common::*;
use grt_tui::action::Action;
use grt_tui::app::Extension;
use grt_tui::state::{stacks, AppState, Frame, Load, Mark, ProbeEntry, Stack, View};
use grt_tui::view::{Panel, Placement, Theme};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use std::sync::Arc;

const W: u16 = 120;
const H: u16 = 40;

fn synth_app() -> grt_tui::app::App {
    app_of(state_of(synth_snapshot(Scenario::default()), "fixture"))
}

fn frames(fs: &[(&str, &str, u32)]) -> Vec<Frame> {
    fs.iter()
        .map(|(f, file, line)| Frame { function: f.to_string(), file: file.to_string(), line: *line, inlined: false })
        .collect()
}

/// Gives every parked goroutine of the state a stack: receivers share one,
/// the rest get one by their creation site.
fn inject_stacks(st: &mut AppState) {
    let recv = Arc::new(Stack::new(
        frames(&[
            ("grt::proc::gopark", "runtime/src/proc.rs", 317),
            ("grt::chan::Chan<T>::recv", "runtime/src/chan.rs", 645),
            ("app::consumer", "src/main.rs", 31),
            ("grt::proc::goroutine_main", "runtime/src/proc.rs", 531),
        ]),
        None,
    ));
    let other = Arc::new(Stack::new(
        frames(&[
            ("grt::proc::gopark", "runtime/src/proc.rs", 317),
            ("app::worker", "src/worker.rs", 44),
            ("grt::proc::goroutine_main", "runtime/src/proc.rs", 531),
        ]),
        Some("unwinding stopped: example note".into()),
    ));
    let snap = st.snap.clone();
    for g in &snap.gs {
        if let Some((k, _)) = stacks::key_of(&snap, g, None) {
            let recv_wait = snap.waitreason_name(g).as_deref() == Some("chan receive");
            let s = if recv_wait { recv.clone() } else { other.clone() };
            st.stacks.insert(k, s);
        }
    }
}

fn check(name: &str, app: &mut grt_tui::app::App) {
    let b = render(app, W, H);
    insta::assert_snapshot!(name, text(&b));
}

#[test]
fn goroutines_view() {
    let mut app = synth_app();
    check("goroutines", &mut app);
}

#[test]
fn goroutines_sorted_by_wait_reversed() {
    let mut app = synth_app();
    app.apply(Action::SortNext);
    app.apply(Action::SortNext);
    app.apply(Action::SortReverse);
    check("goroutines_sorted_wait_desc", &mut app);
}

#[test]
fn goroutines_filtered() {
    let mut app = synth_app();
    app.apply(Action::StartFilter);
    for c in "chan".chars() {
        app.apply(Action::FilterChar(c));
    }
    check("goroutines_filter_typing", &mut app);
    app.apply(Action::FilterApply);
    check("goroutines_filter_applied", &mut app);
    app.apply(Action::Back);
    let b = render(&mut app, W, H);
    assert!(!text(&b).contains("filter \""), "Esc clears the filter");
}

#[test]
fn goroutines_grouped_by_stack() {
    let mut app = synth_app();
    inject_stacks(&mut app.state);
    app.apply(Action::ToggleGroup);
    check("goroutines_grouped", &mut app);
}

#[test]
fn demo_goroutines_and_threads() {
    let mut app = app_of(state_of(demo_snapshot(), "demo"));
    check("demo_goroutines", &mut app);
    app.apply(Action::ShowView(View::Ms));
    check("demo_ms", &mut app);
    app.apply(Action::ShowView(View::Channels));
    check("demo_channels", &mut app);
    app.apply(Action::ShowView(View::Heap));
    check("demo_heap", &mut app);
}

#[test]
fn ps_view() {
    let mut app = synth_app();
    app.apply(Action::ShowView(View::Ps));
    check("ps", &mut app);
}

#[test]
fn ms_view_with_frozen_thread() {
    let mut app = synth_app();
    app.state.control.attached = true;
    app.state.control.marks.insert(1000, Mark::Frozen);
    app.state.control.marks.insert(1002, Mark::AtProbe("grt:entersyscall".into()));
    app.state.control.thread_fn.insert(1000, "app::main (src/main.rs:12)".into());
    app.apply(Action::ShowView(View::Ms));
    check("ms_frozen", &mut app);
    // The frozen thread shows on its goroutine (G1) and its P (P0) too.
    app.apply(Action::ShowView(View::Goroutines));
    let s = text(&render(&mut app, W, H));
    let g1 = s.lines().find(|l| l.starts_with("1 ")).expect("G1's row");
    assert!(g1.contains("M0 [F]") && g1.contains("P0"), "{g1}");
    app.apply(Action::ShowView(View::Ps));
    let s = text(&render(&mut app, W, H));
    assert!(s.lines().any(|l| l.starts_with("0 ") && l.contains("M0 [F]")), "{s}");
}

#[test]
fn channels_view() {
    let mut app = synth_app();
    app.apply(Action::ShowView(View::Channels));
    check("channels", &mut app);
    let s = text(&render(&mut app, W, H));
    assert!(s.contains("recvq: G6 -> G7 -> G9"), "{s}");
}

#[test]
fn heap_view() {
    let mut app = synth_app();
    app.apply(Action::ShowView(View::Heap));
    check("heap", &mut app);
}

#[test]
fn timeline_view() {
    let a = synth_snapshot(Scenario::default());
    let mut b = a.clone();
    b.taken.mono_ns += 30_000_000_000;
    // G6 was woken and runs; G2 parks on a sleep; G4 exits.
    let pos = |s: &grt_inspector::snapshot::Snapshot, id: u64| s.gs.iter().position(|g| g.goid == Some(id)).unwrap();
    let i6 = pos(&b, 6);
    b.gs[i6].status = Some(grt_table::G_RUNNING);
    let i2 = pos(&b, 2);
    b.gs[i2].status = Some(grt_table::G_WAITING);
    b.gs[i2].waitreason = Some(grt_table::waitreason::SLEEP);
    let i4 = pos(&b, 4);
    b.gs.remove(i4);
    let mut st = state_of(a, "fixture");
    st.set_snapshot(b);
    let mut app = app_of(st);
    app.apply(Action::ShowView(View::Timeline));
    check("timeline", &mut app);
    let s = text(&render(&mut app, W, H));
    assert!(s.contains("G6 chan receive -> running"), "{s}");
    assert!(s.contains("G2 runnable -> sleep"), "{s}");
    assert!(s.contains("G4 exited (was runnable)"), "{s}");
}

#[test]
fn probes_view() {
    let mut app = synth_app();
    app.apply(Action::ShowView(View::Probes));
    app.state.probes = Load::Ready(vec![
        ProbeEntry { provider: "grt".into(), name: "casgstatus_spin".into(), sites: 1, armed: false, hits: 0 },
        ProbeEntry { provider: "grt".into(), name: "entersyscall".into(), sites: 2, armed: true, hits: 17 },
        ProbeEntry { provider: "grt".into(), name: "gc_start".into(), sites: 1, armed: false, hits: 0 },
    ]);
    app.apply(Action::Down);
    check("probes", &mut app);
}

#[test]
fn goroutine_detail_parked_on_channel() {
    let mut app = synth_app();
    inject_stacks(&mut app.state);
    app.apply(Action::ToggleGroup);
    app.apply(Action::ToggleGroup);
    app.apply(Action::OpenGoroutine(6));
    check("detail_g6_chan_receive", &mut app);
}

#[test]
fn goroutine_detail_select_and_lock_wait() {
    let mut app = synth_app();
    inject_stacks(&mut app.state);
    app.apply(Action::OpenGoroutine(9));
    check("detail_g9_select", &mut app);
    app.apply(Action::Back);
    app.apply(Action::OpenGoroutine(12));
    check("detail_g12_lock_wait", &mut app);
    app.apply(Action::Back);
    app.apply(Action::OpenGoroutine(11));
    let s = text(&render(&mut app, W, H));
    assert!(s.contains("waiting (scan)"), "{s}");
    assert!(s.contains("Gscan"), "{s}");
}

#[test]
fn detail_opened_with_enter_and_closed_with_esc() {
    let mut app = synth_app();
    inject_stacks(&mut app.state);
    for _ in 0..5 {
        app.apply(Action::Down);
    }
    app.apply(Action::Open);
    let s = text(&render(&mut app, W, H));
    assert!(s.contains("goroutine 6 [chan receive, 1.2s]"), "{s}");
    assert!(s.contains("app::consumer"), "{s}");
    assert!(s.contains("recvq of channel 1"), "{s}");
    assert!(s.contains("on its own stack"), "{s}");
    app.apply(Action::Back);
    let s = text(&render(&mut app, W, H));
    assert!(s.contains("WAITING FOR"), "{s}");
}

#[test]
fn help_overlay() {
    let mut app = synth_app();
    app.apply(Action::Help);
    check("help", &mut app);
}

#[test]
fn banners_for_deadlock_and_exit() {
    let mut st = state_of(synth_snapshot(Scenario { deadlock: true, ..Default::default() }), "fixture");
    st.exited = Some("process 4242 exited with status 2".into());
    let mut app = app_of(st);
    check("banners", &mut app);
}

#[test]
fn tiny_terminal() {
    let mut app = synth_app();
    let b = render(&mut app, 20, 5);
    insta::assert_snapshot!("tiny_20x5", text(&b));
    // Every size from nothing up renders without panicking.
    for (w, h) in [(0, 0), (1, 1), (49, 40), (50, 9), (50, 10), (51, 11), (200, 3), (3, 200)] {
        render(&mut app, w, h);
    }
    app.apply(Action::Help);
    app.apply(Action::OpenGoroutine(6));
    for (w, h) in [(50, 10), (60, 12)] {
        render(&mut app, w, h);
    }
}

#[test]
fn no_color_means_no_color() {
    let st = state_of(synth_snapshot(Scenario { deadlock: true, ..Default::default() }), "fixture");
    let mut app = grt_tui::app::App::offline(st, Theme::plain());
    let b = render(&mut app, W, H);
    for c in b.buffer().content() {
        assert!(c.fg == Color::Reset && c.bg == Color::Reset, "a colored cell with NO_COLOR: {c:?}");
    }
    let st = state_of(synth_snapshot(Scenario { deadlock: true, ..Default::default() }), "fixture");
    let mut app = grt_tui::app::App::offline(st, Theme { color: true });
    let b = render(&mut app, W, H);
    assert!(b.buffer().content().iter().any(|c| c.fg != Color::Reset), "colors when allowed");
}

#[test]
fn picker_screen() {
    use grt_inspector::find::ProcInfo;
    use grt_tui::state::Cursor;
    use grt_tui::view::picker::PickerScreen;
    let procs = vec![
        ProcInfo {
            pid: 4242,
            command: "demo".into(),
            uid: Some(0),
            gomaxprocs: Some(2),
            goroutines: Some(33),
            threads: Some(9),
            uptime: Some(std::time::Duration::from_secs(75)),
            bugs: vec![],
            problem: None,
        },
        ProcInfo {
            pid: 4343,
            command: "foreachp".into(),
            uid: Some(0),
            gomaxprocs: None,
            goroutines: None,
            threads: Some(4),
            uptime: None,
            bugs: vec!["foreachp-stopwait".into()],
            problem: Some("process 4343 uses status table ABI v9; this grt-tui reads v1".into()),
        },
    ];
    let mut cursor = Cursor::default();
    cursor.down(1, procs.len());
    let screen = PickerScreen {
        procs: &procs,
        cursor: &cursor,
        note: Some("1 process not shown: permission denied"),
        message: None,
        theme: Theme::plain(),
    };
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 12)).unwrap();
    term.draw(|f| f.render_widget(&screen, f.area())).unwrap();
    insta::assert_snapshot!("picker", text(term.backend()));
}

/// A narration panel, as the race command would add.
struct Narration {
    lines: Vec<String>,
}

impl Panel for Narration {
    fn title(&self) -> String {
        "Race".into()
    }
    fn placement(&self) -> Placement {
        Placement::Bottom(5)
    }
    fn keys(&self) -> Vec<(String, String)> {
        vec![("n".into(), "next step of the narration".into())]
    }
    fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        use ratatui::widgets::{Block, Borders, Paragraph, Widget};
        let text: Vec<ratatui::text::Line> = self.lines.iter().map(|l| ratatui::text::Line::raw(l.clone())).collect();
        Paragraph::new(text)
            .block(Block::default().borders(Borders::TOP).title(" narration ").title_style(theme.title()))
            .render(area, buf);
    }
}

impl Extension for Narration {
    fn poll(&mut self, _state: &AppState) -> Vec<Action> {
        if self.lines.len() == 1 {
            self.lines.push("step 2: freeze the thread that hits grt:foreachp_begin".into());
            return vec![Action::OpenGoroutine(9), Action::Say("step 1 done".into())];
        }
        Vec::new()
    }
}

#[test]
fn extension_adds_a_panel_and_drives_actions() {
    let mut app = synth_app();
    app.add_extension(Box::new(Narration { lines: vec!["step 1: run the target until forEachP begins".into()] }));
    app.pump();
    check("extension_panel", &mut app);
    assert_eq!(app.state.detail, Some(9));
    // Its keys are in the help overlay, after the app's own.
    app.apply(Action::Back);
    app.apply(Action::Help);
    let text = text(&render(&mut app, W, H));
    let (d, n) = (text.find(" d ").expect("the app's keys"), text.find(" n ").expect("the extension's key"));
    assert!(d < n && text.contains("next step of the narration"), "{text}");
}

#[test]
fn rendering_does_not_recompute_the_list() {
    let mut app = synth_app();
    render(&mut app, W, H);
    let n = app.state.goroutines.recomputed;
    for _ in 0..5 {
        render(&mut app, W, H);
    }
    assert_eq!(app.state.goroutines.recomputed, n, "rendering recomputed the goroutine list");
    app.apply(Action::SortNext);
    render(&mut app, W, H);
    assert_eq!(app.state.goroutines.recomputed, n + 1);
}

#[test]
fn selection_follows_the_goroutine_across_snapshots_and_sorts() {
    let mut app = synth_app();
    for _ in 0..5 {
        app.apply(Action::Down);
    }
    render(&mut app, W, H);
    let goid = |app: &grt_tui::app::App| app.state.selected_goroutine().and_then(|p| app.state.snap.gs[p].goid);
    assert_eq!(goid(&app), Some(6));
    app.apply(Action::SortNext);
    app.apply(Action::SortReverse);
    render(&mut app, W, H);
    assert_eq!(goid(&app), Some(6), "sorting keeps the selection");
    let next = synth_snapshot(Scenario::default());
    app.state.set_snapshot(next);
    render(&mut app, W, H);
    assert_eq!(goid(&app), Some(6), "a new snapshot keeps the selection");
}

/// Regenerates tests/fixtures/demo.json from a live demo (see the README there).
#[test]
#[ignore]
fn regen_demo_fixture() {
    use grt_inspector::dump::{self, DumpOptions};
    let demo = example("demo");
    let kid = Kid::spawn(&mut std::process::Command::new(demo));
    std::thread::sleep(std::time::Duration::from_secs(3));
    let d = dump::capture(kid.pid, DumpOptions::default()).expect("capture the demo");
    let mut s = d.snapshot;
    s.taken.wall_unix_ns = 0;
    s.taken.decode_us = 0;
    s.taken.waitfor_us = 0;
    s.heap.spans.truncate(40);
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo.json");
    s.save(&p).expect("save");
    eprintln!("wrote {}", p.display());
}
