//! The channels view: capacity, length, closed, lock holder, and the
//! receive and send queues drawn as chains of goroutines.

use super::{empty, table, Theme};
use crate::fmt;
use crate::state::AppState;
use grt_inspector::snapshot::{LockState, QueueEntry};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};

/// "G12 -> G40 -> G41", at most `max` goroutines then "(+N)"; "-" when empty.
pub fn chain(st: &AppState, q: &[QueueEntry], max: usize) -> String {
    if q.is_empty() {
        return "-".into();
    }
    let mut s: Vec<String> = q.iter().take(max).map(|e| st.g_link(e.g)).collect();
    if q.len() > max {
        s.push(format!("(+{})", q.len() - max));
    }
    s.join(" -> ")
}

pub fn render(st: &AppState, t: &Theme, area: Rect, buf: &mut Buffer) {
    let snap = &st.snap;
    let titles = ["CHAN", "TYPE", "CAP", "LEN", "CLOSED", "LOCK", "CREATED AT", "RECVQ", "SENDQ"];
    let widths = [
        Constraint::Length(5),
        Constraint::Length(10),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(6),
        Constraint::Length(12),
        Constraint::Length(22),
        Constraint::Fill(1),
        Constraint::Fill(1),
    ];
    if snap.chans.is_empty() {
        table(area, buf, t, &titles, None, &widths, Vec::new(), None);
        return empty(area, buf, t, "(no channels in use)");
    }
    let win = st.chans_cursor.window(area.height.saturating_sub(1) as usize, snap.chans.len());
    let sel = st.chans_cursor.selected.checked_sub(win.start);
    let rows: Vec<Row> = snap.chans[win]
        .iter()
        .map(|c| {
            let lock = match c.lock_state {
                LockState::Free => "free".to_string(),
                LockState::Held | LockState::Contended => {
                    let who = st.m_label(c.lock_owner);
                    if c.lock_state == LockState::Contended {
                        format!("{who} +waiters")
                    } else {
                        who
                    }
                }
                LockState::Unknown => "?".into(),
            };
            let closed = c.closed == Some(true);
            let bad = if c.queues_ok { "" } else { " (damaged)" };
            Row::new(vec![
                Cell::from(fmt::opt(c.id)),
                Cell::from(snap.site(c.elemtype).unwrap_or("?").to_string()),
                Cell::from(fmt::opt(c.cap)),
                Cell::from(fmt::opt(c.qcount)),
                Cell::from(Span::styled(fmt::yn(c.closed), if closed { t.warn() } else { t.normal() })),
                Cell::from(Span::styled(lock, if c.lock_state == LockState::Free { t.normal() } else { t.warn() })),
                Cell::from(snap.site(c.site).map(super::goroutines::short_file).unwrap_or_else(|| "-".into())),
                Cell::from(format!("recvq: {}{bad}", chain(st, snap.recvq(c), 8))),
                Cell::from(format!("sendq: {}{bad}", chain(st, snap.sendq(c), 8))),
            ])
        })
        .collect();
    table(area, buf, t, &titles, None, &widths, rows, sel);
}
