//! The timeline: a sparkline per goroutine status over the last minute,
//! and the recent status changes, newest first.

use super::Theme;
use crate::fmt;
use crate::state::timeline::{Change, CATS};
use crate::state::AppState;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Sparkline, Widget};

pub fn render(st: &AppState, t: &Theme, area: Rect, buf: &mut Buffer) {
    let tl = &st.timeline;
    let [head, sparks, gap, title, list] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(CATS.len() as u16),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(area);
    buf.set_stringn(
        head.x,
        head.y,
        " goroutines per status, last 60 s (one column per bucket; now at the right)",
        head.width as usize,
        t.header_row(),
    );
    let label_w = 10u16;
    let count_w = 14u16;
    let spark_w = sparks.width.saturating_sub(label_w + count_w + 2);
    for (i, name) in CATS.iter().enumerate() {
        let y = sparks.y + i as u16;
        buf.set_stringn(sparks.x + 1, y, *name, label_w as usize, t.cat(i));
        let data = tl.series(i, spark_w as usize);
        let max = data.iter().copied().max().unwrap_or(0);
        let r = Rect { x: sparks.x + 1 + label_w, y, width: spark_w, height: 1 };
        Sparkline::default().data(&data).max(max.max(1)).style(t.cat(i)).render(r, buf);
        let now = tl.last().map_or(0, |s| s.counts[i]);
        buf.set_stringn(r.x + spark_w + 1, y, format!("{now:>5} (max {max})"), count_w as usize, t.title());
    }
    let _ = gap;
    buf.set_stringn(
        title.x,
        title.y,
        format!(" recent changes ({} seen; newest first)", tl.total_changes),
        title.width as usize,
        t.header_row(),
    );
    if tl.changes.is_empty() {
        super::empty(
            Rect { y: list.y.saturating_sub(1), height: list.height + 1, ..list },
            buf,
            t,
            "(none yet: changes appear as snapshots arrive)",
        );
        return;
    }
    let win = st.timeline_cursor.window(list.height as usize, tl.changes.len());
    let sel = st.timeline_cursor.selected;
    for (k, i) in win.enumerate() {
        let c = &tl.changes[i];
        let when = format!(" {:>9}  ", fmt::dur(c.t_ns()));
        let style = match c {
            Change::More { .. } => t.dim(),
            _ => t.normal(),
        };
        let mut l = Line::from(vec![Span::styled(when, t.dim()), Span::styled(c.text(), style)]);
        if i == sel {
            l = l.style(t.selected());
        }
        buf.set_line(list.x, list.y + k as u16, &l, list.width);
    }
}
