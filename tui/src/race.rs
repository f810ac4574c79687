//! The interactive race view: the live views of the app with a narration
//! panel. The engine runs on a thread of its own (it owns the target and
//! the ptrace session); `n` asks it for the next step, and each finished
//! step comes back as narration, what the engine did and saw, the
//! scheduler state, and marks on the threads it holds.

use crate::action::Action;
use crate::app::Extension;
use crate::state::{AppState, Mark};
use crate::view::{Panel, Placement, Theme};
use crossterm::event::{KeyCode, KeyEvent};
use grt_inspector::race::engine::{Engine, Outcome, StepRecord};
use grt_inspector::race::script::Variant;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};
use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender};

enum Msg {
    Step(StepRecord, Vec<(i32, String)>),
    Done(Outcome),
    Error(String),
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
        let (tx, cmd_rx) = channel::<()>();
        let (msg_tx, rx) = channel::<Msg>();
        std::thread::Builder::new()
            .name("race-engine".into())
            .spawn(move || {
                let mut engine = engine;
                while cmd_rx.recv().is_ok() {
                    if engine.done() {
                        continue;
                    }
                    match engine.step() {
                        Ok(r) => {
                            let held = engine.held_threads();
                            let _ = msg_tx.send(Msg::Step(r, held));
                            if engine.done() {
                                let o = engine.finish();
                                let _ = msg_tx.send(Msg::Done(o));
                            }
                        }
                        Err(e) => {
                            let _ = msg_tx.send(Msg::Error(e.to_string()));
                            break;
                        }
                    }
                }
                // Dropping the engine detaches and kills the target.
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
            lines.push(Line::from(Span::styled(format!("the run stopped: {e}"), theme.warn())));
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
        while let Ok(m) = self.rx.try_recv() {
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
                Msg::Error(e) => {
                    self.busy = false;
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
