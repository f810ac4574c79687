//! Render benchmark: one frame of the goroutine view over a synthetic
//! snapshot of 100,000 goroutines (the inspector's `parked_scenario`),
//! plus what a new snapshot, a re-sort, a filter and grouping cost. Goal:
//! a frame under 16 ms; rendering never re-sorts, re-filters or regroups.
//!
//!     cargo run --release -p grt-tui --example render_bench [goroutines]
//!
//! Prints `name=value` lines.

use grt_inspector::snapshot::{Capture, DecodeOptions, Snapshot};
use grt_inspector::synth;
use grt_tui::action::Action;
use grt_tui::app::App;
use grt_tui::state::{AppState, Target, View};
use grt_tui::view::Theme;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::time::Instant;

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let bytes = synth::parked_scenario(n).finish();
    let img = synth::image(&bytes).expect("synthetic image");
    let t = Instant::now();
    let snap = Snapshot::decode(
        &img,
        &DecodeOptions {
            include_dead: false,
            capture: Capture::Frozen { pause_us: 0 },
            now_mono_ns: Some(5_000_000_000),
        },
    );
    println!("goroutines={}", snap.gs.len());
    println!("decode_ms={:.2}", ms(t));

    let mut st = AppState::new(Target { pid: 1, command: "bench".into(), ours: false });
    let copy = snap.clone();
    let t = Instant::now();
    st.set_snapshot(copy);
    println!("set_snapshot_ms={:.2}", ms(t));
    let mut app = App::offline(st, Theme::from_env());
    let mut term = Terminal::new(TestBackend::new(160, 45)).expect("terminal");

    let t = Instant::now();
    app.prepare();
    println!("first_sort_ms={:.2}", ms(t));
    let before = app.state.goroutines.recomputed;

    // Frames with nothing changed: scroll to the middle, then redraw.
    app.apply(Action::PageDown);
    let mut frames = Vec::new();
    for i in 0..60 {
        if i % 2 == 0 {
            app.apply(Action::Down);
        }
        let t = Instant::now();
        app.draw(&mut term).expect("draw");
        frames.push(ms(t));
    }
    println!("frame_ms_median={:.3}", median(frames.clone()));
    println!("frame_ms_max={:.3}", frames.iter().cloned().fold(0.0, f64::max));
    println!("recomputed_during_frames={}", app.state.goroutines.recomputed - before);

    // A new snapshot (every refresh): derive, diff for the timeline, re-sort.
    let copy = snap.clone();
    let t = Instant::now();
    app.state.set_snapshot(copy);
    app.draw(&mut term).expect("draw");
    println!("new_snapshot_and_frame_ms={:.2}", ms(t));

    let t = Instant::now();
    app.apply(Action::SortNext); // STATUS
    app.draw(&mut term).expect("draw");
    println!("sort_by_status_ms={:.2}", ms(t));

    let t = Instant::now();
    app.apply(Action::StartFilter);
    for c in "chan".chars() {
        app.apply(Action::FilterChar(c));
    }
    app.apply(Action::FilterApply);
    app.draw(&mut term).expect("draw");
    println!("filter_chan_ms={:.2} (4 keystrokes)", ms(t));
    println!("filter_matches={}", app.state.goroutines.rows.len());
    app.apply(Action::FilterCancel);

    let t = Instant::now();
    app.apply(Action::ToggleGroup);
    app.draw(&mut term).expect("draw");
    println!("group_ms={:.2}", ms(t));
    let mut frames = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        app.draw(&mut term).expect("draw");
        frames.push(ms(t));
    }
    println!("grouped_frame_ms_median={:.3}", median(frames));
    app.apply(Action::ToggleGroup);

    for v in [View::Channels, View::Heap, View::Timeline] {
        app.apply(Action::ShowView(v));
        app.apply(Action::PageDown);
        let mut frames = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            app.draw(&mut term).expect("draw");
            frames.push(ms(t));
        }
        println!("{}_frame_ms_median={:.3}", v.title().to_lowercase(), median(frames));
    }
    app.apply(Action::ShowView(View::Goroutines));
    app.apply(Action::OpenGoroutine(50_000));
    let t = Instant::now();
    app.draw(&mut term).expect("draw");
    println!("detail_frame_ms={:.3}", ms(t));
}
