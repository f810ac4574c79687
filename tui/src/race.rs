//! The interactive race view: the live views of the app with a narration
//! panel. The engine runs on a thread of its own (it owns the target and
//! the ptrace session); `n` asks it for the next step, and each finished
//! step comes back as narration, what the engine did and saw, the
//! scheduler state, and marks on the threads it holds.
//!
//! An engine that cannot go on takes the UI down with its message: a step
//! that fails (`EngineError`), a panic in the engine's thread (caught with
//! `terminal::catch_panic`, so the terminal stays the UI's until it
//! quits), or a thread that ends without a word all become `Action::Fail`;
//! the app restores the terminal, prints the message and exits non-zero.
//! The engine is dropped on its own thread either way (detached, the
//! target killed).

use crate::action::Action;
use crate::app::Extension;
use crate::state::{AppState, Mark};
use crate::view::{Panel, Placement, Theme};
use crossterm::event::{KeyCode, KeyEvent};
use grt_inspector::race::engine::{Engine, EngineError, Outcome, StepRecord};
use grt_inspector::race::script::Variant;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};
use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};

enum Msg {
    Step(StepRecord, Vec<(i32, String)>),
    Done(Outcome),
    /// The engine cannot go on (an error or a panic): the whole message.
    Failed(String),
}

/// What the engine's thread drives: the race engine (a stand-in in tests).
trait Stepper: Send + 'static {
    fn done(&self) -> bool;
    fn step(&mut self) -> Result<StepRecord, EngineError>;
    fn held_threads(&self) -> Vec<(i32, String)>;
    fn finish(&mut self) -> Outcome;
}

impl Stepper for Engine {
    fn done(&self) -> bool {
        Engine::done(self)
    }
    fn step(&mut self) -> Result<StepRecord, EngineError> {
        Engine::step(self)
    }
    fn held_threads(&self) -> Vec<(i32, String)> {
        Engine::held_threads(self)
    }
    fn finish(&mut self) -> Outcome {
        Engine::finish(self)
    }
}

/// The engine thread's loop: a step per request, the outcome after the
/// last. Returns when a step fails (the error sent) or the panel is gone.
fn drive(mut engine: impl Stepper, cmds: &Receiver<()>, msgs: &Sender<Msg>) {
    while cmds.recv().is_ok() {
        if engine.done() {
            continue;
        }
        match engine.step() {
            Ok(r) => {
                let held = engine.held_threads();
                let _ = msgs.send(Msg::Step(r, held));
                if engine.done() {
                    let o = engine.finish();
                    let _ = msgs.send(Msg::Done(o));
                }
            }
            Err(e) => {
                // The engine goes first (detached, its target killed): the
                // UI quits on this message and the process may end soon.
                drop(engine);
                let _ = msgs.send(Msg::Failed(format!("the race stopped: {e}")));
                return;
            }
        }
    }
    // Dropping the engine detaches and kills the target.
}

/// What the panel shows and the channel to the engine.
pub struct RacePanel {
    race: String,
    title: String,
    variant: Variant,
    nsteps: usize,
    titles: Vec<String>,
    last: Option<StepRecord>,
    outcome: Option<Outcome>,
    error: Option<String>,
    busy: bool,
    tx: Sender<()>,
    rx: Receiver<Msg>,
    dirty: bool,
}

impl RacePanel {
    /// Moves the engine to its own thread and returns the panel driving it.
    pub fn start(engine: Engine) -> RacePanel {
        let race = engine.script.name.clone();
        let title = engine.script.title.clone();
        let variant = engine.variant;
        let titles: Vec<String> = engine.script.steps.iter().map(|s| s.title.clone()).collect();
        RacePanel::spawn(race, title, variant, titles, engine)
    }

    fn spawn(race: String, title: String, variant: Variant, titles: Vec<String>, stepper: impl Stepper) -> RacePanel {
        let (tx, cmd_rx) = channel::<()>();
        let (msg_tx, rx) = channel::<Msg>();
        std::thread::Builder::new()
            .name("race-engine".into())
            .spawn(move || {
                let msgs = msg_tx.clone();
                // A panic unwinds through `drive`, dropping the engine
                // (detach, kill the target), and comes back as a message.
                if let Err(p) = crate::terminal::catch_panic(move || drive(stepper, &cmd_rx, &msgs)) {
                    let _ = msg_tx.send(Msg::Failed(format!("the race engine failed: {p}")));
                }
            })
            .expect("spawn the race engine thread");
        RacePanel {
            race,
            title,
            variant,
            nsteps: titles.len(),
            titles,
            last: None,
            outcome: None,
            error: None,
            busy: false,
            tx,
            rx,
            dirty: true,
        }
    }

    fn next_index(&self) -> usize {
        self.last.as_ref().map_or(0, |r| r.index + 1)
    }
}

impl Drop for RacePanel {
    /// Ends the engine's thread and waits until it has dropped the engine
    /// (every probe restored, the target stopped) before grt-tui exits; a
    /// few seconds at most, as a step in progress may wait longer.
    fn drop(&mut self) {
        // The thread's only command sender: replacing it ends its loop.
        self.tx = channel().0;
        let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
        // The thread holds the message senders until it ends.
        while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
            if let Err(std::sync::mpsc::RecvTimeoutError::Disconnected) = self.rx.recv_timeout(left) {
                break;
            }
        }
    }
}

impl Panel for RacePanel {
    fn title(&self) -> String {
        "Race".into()
    }

    fn placement(&self) -> Placement {
        Placement::Bottom(16)
    }

    fn keys(&self) -> Vec<(String, String)> {
        vec![("n".into(), "run the race's next step (race mode)".into())]
    }

    fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let mut lines: Vec<Line> = Vec::new();
        let head = format!("race {} ({}): {}", self.race, self.variant.name(), self.title);
        lines.push(Line::from(Span::styled(head, theme.title())));
        let next = self.next_index();
        let keys = if self.error.is_some() || self.outcome.is_some() {
            "  [q: quit]".to_string()
        } else if self.busy {
            "  [running the step...]".to_string()
        } else if next < self.nsteps {
            format!("  [n: step {}/{}: {}]", next + 1, self.nsteps, self.titles[next])
        } else {
            "  [waiting for the outcome...]".to_string()
        };
        lines.push(Line::from(Span::styled(keys, theme.dim())));
        if let Some(r) = &self.last {
            lines.push(Line::from(Span::styled(
                format!("step {}/{}: {}", r.index + 1, self.nsteps, r.title),
                theme.title(),
            )));
            for l in r.narration.lines() {
                lines.push(Line::raw(format!("  {l}")));
            }
            for e in &r.events {
                lines.push(Line::from(Span::styled(format!("  > {e}"), theme.warn())));
            }
            for s in &r.state {
                lines.push(Line::from(Span::styled(format!("  | {s}"), theme.dim())));
            }
        } else {
            lines.push(Line::raw("  The target runs freely. Press n to run the first step."));
        }
        if let Some(o) = &self.outcome {
            for c in &o.checks {
                let verdict = if c.met { "MET" } else { "NOT MET" };
                lines.push(Line::from(Span::styled(
                    format!("expected: {}: {verdict}: {}", c.expectation, c.observed),
                    theme.title(),
                )));
            }
            let v = if o.met { "outcome: as expected" } else { "outcome: NOT as expected" };
            lines.push(Line::from(Span::styled(v.to_string(), theme.title())));
        }
        if let Some(e) = &self.error {
            lines.push(Line::from(Span::styled(e.clone(), theme.warn())));
        }
        // The race, the keys and the step's title always show; below them
        // the end (the newest information) stays visible.
        let keep = if self.last.is_some() { 3 } else { 2 };
        let lines = fit_tail(lines, keep, area.width, area.height.saturating_sub(1));
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::TOP).title(" narration ").title_style(theme.title()))
            .render(area, buf);
    }
}

impl Extension for RacePanel {
    fn on_key(&mut self, key: &KeyEvent, _state: &AppState) -> Option<Vec<Action>> {
        if key.code != KeyCode::Char('n') {
            return None;
        }
        if self.busy || self.error.is_some() || self.next_index() >= self.nsteps {
            return Some(vec![]);
        }
        self.busy = true;
        self.dirty = true;
        let _ = self.tx.send(());
        Some(vec![Action::Say(format!("running step {}...", self.next_index() + 1))])
    }

    fn poll(&mut self, _state: &AppState) -> Vec<Action> {
        let mut out = Vec::new();
        loop {
            let m = match self.rx.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    // The thread ended: after a failure it reported, or
                    // without a word (which is a failure too).
                    if self.error.is_none() {
                        let e = "the race engine's thread ended without a word".to_string();
                        self.error = Some(e.clone());
                        out.push(Action::Fail(e));
                    }
                    break;
                }
            };
            self.dirty = true;
            match m {
                Msg::Step(r, held) => {
                    self.busy = false;
                    let marks: HashMap<u64, Mark> =
                        held.into_iter().map(|(t, label)| (t as u64, Mark::AtProbe(label))).collect();
                    out.push(Action::SetMarks(marks));
                    out.push(Action::Say(format!("step {} done: {}", r.index + 1, r.title)));
                    self.last = Some(r);
                }
                Msg::Done(o) => {
                    out.push(Action::Say(if o.met {
                        "the outcome is as expected".into()
                    } else {
                        "the outcome is NOT as expected".into()
                    }));
                    self.outcome = Some(o);
                }
                Msg::Failed(e) => {
                    self.busy = false;
                    out.push(Action::Fail(e.clone()));
                    self.error = Some(e);
                }
            }
        }
        out
    }

    fn dirty(&self) -> bool {
        self.dirty
    }
}

/// The first `keep` lines, then as many of the last ones as fit `height`
/// rows of `width` columns once wrapped (a long line takes several rows).
fn fit_tail(lines: Vec<Line<'_>>, keep: usize, width: u16, height: u16) -> Vec<Line<'_>> {
    let rows = |l: &Line| Paragraph::new(l.clone()).wrap(Wrap { trim: false }).line_count(width).max(1);
    let keep = keep.min(lines.len());
    let mut budget = (height as usize).saturating_sub(lines[..keep].iter().map(rows).sum());
    let mut start = lines.len();
    while start > keep {
        let h = rows(&lines[start - 1]);
        if h > budget {
            break;
        }
        budget -= h;
        start -= 1;
    }
    let mut out: Vec<Line> = lines[..keep].to_vec();
    out.extend(lines.into_iter().skip(start));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &[Line]) -> Vec<String> {
        v.iter().map(|l| l.to_string()).collect()
    }

    use crate::app::App;
    use crate::state::Target;
    use crate::view::Theme;
    use crossterm::event::KeyEvent;
    use grt_inspector::race::script::ScriptError;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// A stand-in engine: `steps` steps, the one at index `fail_at` fails
    /// as `how` says.
    struct Fake {
        next: usize,
        steps: usize,
        fail_at: usize,
        how: &'static str,
        /// Set when it is dropped (a real engine detaches and kills then).
        dropped: Arc<AtomicBool>,
    }

    fn fake(steps: usize, fail_at: usize, how: &'static str) -> Fake {
        Fake { next: 0, steps, fail_at, how, dropped: Arc::default() }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            // As slow as a detach can be.
            std::thread::sleep(Duration::from_millis(200));
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    impl Stepper for Fake {
        fn done(&self) -> bool {
            self.next >= self.steps
        }
        fn step(&mut self) -> Result<StepRecord, EngineError> {
            let i = self.next;
            if i == self.fail_at {
                match self.how {
                    "panic" => panic!("step {} found the engine in pieces", i + 1),
                    _ => {
                        let at =
                            ScriptError { file: "r.race".into(), line: 12, msg: "no thread reached probe p".into() };
                        return Err(EngineError::At(at));
                    }
                }
            }
            self.next += 1;
            let rec = StepRecord {
                index: i,
                title: format!("step {i}"),
                narration: String::new(),
                events: vec![],
                state: vec![],
            };
            Ok(rec)
        }
        fn held_threads(&self) -> Vec<(i32, String)> {
            Vec::new()
        }
        fn finish(&mut self) -> Outcome {
            Outcome { variant: Variant::Buggy, met: true, checks: Vec::new(), exit: None }
        }
    }

    /// An app (no live target) with the race panel over `fake`, after `n`
    /// pressed `presses` times: the app, once it quit or 10s passed.
    fn run_app(fake: Fake, presses: usize) -> App {
        let titles = (0..fake.steps).map(|i| format!("step {i}")).collect();
        let panel = RacePanel::spawn("r".into(), "t".into(), Variant::Buggy, titles, fake);
        let state = AppState::new(Target { pid: 1, command: "fake".into(), ours: false });
        let mut app = App::offline(state, Theme::from_env());
        app.add_extension(Box::new(panel));
        for p in 0..presses {
            app.key(KeyEvent::from(KeyCode::Char('n')));
            let t0 = Instant::now();
            // Until the step is answered (the panel shows the next key).
            while !app.quitting() && t0.elapsed() < Duration::from_secs(10) {
                app.pump();
                std::thread::sleep(Duration::from_millis(5));
                let answered = |t: &str| t.starts_with(&format!("step {} done", p + 1)) || t.starts_with("the outcome");
                if app.state.message.as_ref().is_some_and(|m| answered(&m.text)) {
                    break;
                }
            }
        }
        let t0 = Instant::now();
        while !app.quitting() && t0.elapsed() < Duration::from_millis(300) {
            app.pump();
            std::thread::sleep(Duration::from_millis(5));
        }
        app
    }

    #[test]
    fn an_engine_that_panics_takes_the_app_down_with_its_message() {
        let mut app = run_app(fake(3, 1, "panic"), 2);
        assert!(app.quitting(), "the app goes on after its engine died");
        let e = app.take_failure().expect("the app failed");
        assert!(e.starts_with("the race engine failed: panicked at tui/src/race.rs:"), "{e}");
        assert!(e.ends_with("step 2 found the engine in pieces"), "{e}");
    }

    #[test]
    fn an_engine_error_takes_the_app_down_with_its_message() {
        let mut app = run_app(fake(3, 0, "error"), 1);
        assert!(app.quitting());
        assert_eq!(app.take_failure().as_deref(), Some("the race stopped: r.race:12: no thread reached probe p"));
    }

    #[test]
    fn a_race_that_runs_to_its_outcome_keeps_the_app() {
        let mut app = run_app(fake(2, 99, ""), 2);
        assert!(!app.quitting());
        assert_eq!(app.take_failure(), None);
        assert_eq!(app.state.message.as_ref().map(|m| m.text.as_str()), Some("the outcome is as expected"));
    }

    #[test]
    fn a_failed_engine_is_dropped_before_the_app_hears_of_it() {
        let f = fake(3, 0, "error");
        let dropped = f.dropped.clone();
        let app = run_app(f, 1);
        assert!(app.quitting());
        assert!(dropped.load(Ordering::SeqCst), "the UI would quit with the target still running");
    }

    #[test]
    fn quitting_waits_for_the_engine_to_be_dropped() {
        let f = fake(3, 99, "");
        let dropped = f.dropped.clone();
        let app = run_app(f, 1);
        assert!(!app.quitting() && !dropped.load(Ordering::SeqCst));
        drop(app);
        assert!(dropped.load(Ordering::SeqCst), "grt-tui would exit before the engine detached");
    }

    #[test]
    fn the_tail_fits_once_wrapped() {
        let long = "x ".repeat(50); // 100 columns: 4 rows at 30
        let lines: Vec<Line> =
            ["race", "keys", "step 3/9", &long, "a", "b", "outcome"].iter().map(|s| Line::raw(s.to_string())).collect();
        // Enough room: everything.
        assert_eq!(fit_tail(lines.clone(), 3, 30, 20).len(), 7);
        // 3 head rows + 3 tail rows: the long line (4 rows) is left out and
        // the newest lines show.
        assert_eq!(text(&fit_tail(lines.clone(), 3, 30, 6)), ["race", "keys", "step 3/9", "a", "b", "outcome"]);
        // Room for the long line too.
        assert_eq!(fit_tail(lines.clone(), 3, 30, 10).len(), 7);
        assert_eq!(text(&fit_tail(lines, 3, 30, 9))[3..], ["a", "b", "outcome"]);
    }
}
