//! The help overlay: every key (from `input::HELP`, then the keys of the
//! extension panels on screen) and the markers.

use super::Theme;
use crate::input::HELP;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget, Wrap};

pub const LEGEND: &[(&str, &str)] = &[
    ("[F]", "thread frozen by grt-tui (on its M, its goroutine, its P)"),
    ("[P]", "thread held at an armed probe"),
    ("[S]", "thread stopped by a signal (SIGSTOP)"),
    ("(scan)", "the goroutine's Gscan bit is set: the GC owns its stack"),
];

pub fn render(t: &Theme, extra: &[(String, String)], area: Rect, buf: &mut Buffer) {
    let keys = HELP.iter().map(|(k, w)| (*k, *w)).chain(extra.iter().map(|(k, w)| (k.as_str(), w.as_str())));
    let kw = keys.clone().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut lines: Vec<Line> = keys
        .map(|(k, what)| Line::from(vec![Span::styled(format!(" {k:<kw$}  "), t.key()), Span::raw(what)]))
        .collect();
    lines.push(Line::raw(""));
    for (k, what) in LEGEND {
        lines.push(Line::from(vec![Span::styled(format!(" {k:<kw$}  "), t.frozen()), Span::raw(*what)]));
    }
    let w = (area.width.saturating_sub(4)).min(96);
    let h = (lines.len() as u16 + 2).min(area.height.saturating_sub(2));
    let r = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    Clear.render(r, buf);
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(Block::default().borders(Borders::ALL).title(Span::styled(" keys (? or Esc closes) ", t.title())))
        .render(r, buf);
}
