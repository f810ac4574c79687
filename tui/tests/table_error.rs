//! A table that cannot be read is on screen from the first frame, and
//! stays there through keys, messages and the sampler's later results,
//! until a good table is read: `attach` to a corrupt table never shows an
//! empty "(no goroutines)" screen with no error.

mod common;

use grt_inspector::snapshot::RawTable;
use grt_tui::action::Action;
use grt_tui::app::{App, Options};
use grt_tui::view::Theme;
use std::process::Command;
use std::time::{Duration, Instant};

/// Starts `insp_fake` over `raw` (a process with that table in its memfd).
fn fake(raw: &RawTable) -> common::Kid {
    let dir = std::env::temp_dir().join(format!("grt-tui-table-error-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("corrupt.grtraw");
    raw.save(&path).unwrap();
    common::Kid::spawn(Command::new(common::example("insp_fake")).arg(&path)).wait_ready()
}

#[test]
fn a_corrupt_table_is_on_screen_every_frame() {
    let img = grt_inspector::synth::image(&common::synth_table(Default::default())).expect("the synthetic table");
    let mut raw = RawTable::from_image(&img);
    raw.chunks[0].1[0] = b'X'; // bad magic: corrupt, not "starting"
    let kid = fake(&raw);
    let pid = kid.pid;
    let src = grt_inspector::find::open_table(pid).expect("the memfd opens");
    let mut app = App::new(src, None, Options { refresh_hz: 50, theme: Theme::plain() });
    let corrupt = format!("the status table of process {pid} is corrupt");
    // The very first frame, before the sampler has said anything.
    let s = common::text(&common::render(&mut app, 160, 30));
    assert!(s.contains("TABLE UNREADABLE") && s.contains(&corrupt), "first frame:\n{s}");
    // Every later frame, whatever the sampler sent and the person did.
    let t0 = Instant::now();
    let mut i = 0;
    while t0.elapsed() < Duration::from_millis(600) {
        app.pump();
        match i % 3 {
            0 => app.apply(Action::Down),
            1 => app.apply(Action::Say("a message".into())),
            _ => app.apply(Action::NextView),
        }
        let s = common::text(&common::render(&mut app, 160, 30));
        assert!(s.contains(&corrupt), "frame {i}:\n{s}");
        i += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(app);
    drop(kid);
}
