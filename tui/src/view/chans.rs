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

/// Columns of fixed width: CHAN, CAP, LEN, CLOSED, LOCK.
const FIXED: [u16; 5] = [5, 4, 4, 6, 12];
/// The most the two queue columns keep for themselves before TYPE and
/// CREATED AT grow (they take what is left over in any case).
const QUEUES_MIN: u16 = 2 * 20;
/// TYPE and CREATED AT never get less than this when their text is longer
/// (their old fixed widths).
const TYPE_MIN: u16 = 10;
const SITE_MIN: u16 = 22;

/// Widths of TYPE and CREATED AT for texts `type_w` and `site_w` wide in
/// a table `width` columns wide whose queue texts are `queues_w` wide
/// together: the whole texts when they fit beside the fixed columns and
/// the queues (kept to at most [`QUEUES_MIN`]); otherwise each keeps its
/// minimum and what room is left goes to the type first (short, and
/// meaningless when cut), then to the site.
pub fn text_widths(width: u16, type_w: u16, site_w: u16, queues_w: u16) -> (u16, u16) {
    let spacing = 8; // one column between each of the 9
    let room = width.saturating_sub(FIXED.iter().sum::<u16>() + spacing + queues_w.min(QUEUES_MIN));
    if type_w + site_w <= room {
        return (type_w, site_w);
    }
    let (t0, s0) = (type_w.min(TYPE_MIN), site_w.min(SITE_MIN));
    let extra = room.saturating_sub(t0 + s0);
    let t = type_w.min(t0 + extra);
    let s = site_w.min(s0 + extra - (t - t0));
    (t, s)
}

/// `s` in at most `w` columns, cut at the left with "…" (a path keeps its
/// file name and line).
fn cut_left(s: &str, w: u16) -> String {
    let n = s.chars().count();
    if n <= w as usize {
        return s.to_string();
    }
    let keep = (w as usize).saturating_sub(1);
    let tail: String = s.chars().skip(n - keep).collect();
    format!("…{tail}")
}

/// "recvq: G12 -> G40", with "(damaged)" when the queues did not decode.
fn queue_text(name: &str, st: &AppState, q: &[QueueEntry], ok: bool) -> String {
    format!("{name}: {}{}", chain(st, q, 8), if ok { "" } else { " (damaged)" })
}

pub fn render(st: &AppState, t: &Theme, area: Rect, buf: &mut Buffer) {
    let snap = &st.snap;
    let titles = ["CHAN", "TYPE", "CAP", "LEN", "CLOSED", "LOCK", "CREATED AT", "RECVQ", "SENDQ"];
    // Element types and creation sites as the table names them (a site
    // is the path frames show), measured over every channel so that
    // columns do not jump while scrolling.
    let type_w = snap.chans.iter().filter_map(|c| snap.site(c.elemtype)).map(|s| s.chars().count()).max();
    let site_w = snap.chans.iter().filter_map(|c| snap.site(c.site)).map(|s| s.chars().count()).max();
    let queues_w: usize = [
        snap.chans.iter().map(|c| queue_text("recvq", st, snap.recvq(c), c.queues_ok).len()).max(),
        snap.chans.iter().map(|c| queue_text("sendq", st, snap.sendq(c), c.queues_ok).len()).max(),
    ]
    .into_iter()
    .map(|w| w.unwrap_or(0))
    .sum();
    let (type_w, site_w) = text_widths(
        area.width,
        type_w.unwrap_or(0).max(titles[1].len()) as u16,
        site_w.unwrap_or(0).max(titles[6].len()) as u16,
        queues_w.min(u16::MAX as usize) as u16,
    );
    let widths = [
        Constraint::Length(FIXED[0]),
        Constraint::Length(type_w),
        Constraint::Length(FIXED[1]),
        Constraint::Length(FIXED[2]),
        Constraint::Length(FIXED[3]),
        Constraint::Length(FIXED[4]),
        Constraint::Length(site_w),
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
            Row::new(vec![
                Cell::from(fmt::opt(c.id)),
                Cell::from(snap.site(c.elemtype).unwrap_or("?").to_string()),
                Cell::from(fmt::opt(c.cap)),
                Cell::from(fmt::opt(c.qcount)),
                Cell::from(Span::styled(fmt::yn(c.closed), if closed { t.warn() } else { t.normal() })),
                Cell::from(Span::styled(lock, if c.lock_state == LockState::Free { t.normal() } else { t.warn() })),
                Cell::from(snap.site(c.site).map(|s| cut_left(s, site_w)).unwrap_or_else(|| "-".into())),
                Cell::from(queue_text("recvq", st, snap.recvq(c), c.queues_ok)),
                Cell::from(queue_text("sendq", st, snap.sendq(c), c.queues_ok)),
            ])
        })
        .collect();
    table(area, buf, t, &titles, None, &widths, rows, sel);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_terminals_show_whole_types_and_sites() {
        // 160 columns: room for both in full.
        assert_eq!(text_widths(160, 18, 28, 60), (18, 28));
        // 120, long queues: the type gets what is left over the minimums
        // first; short queues leave room for everything.
        assert_eq!(text_widths(120, 18, 28, 60), (18, 23));
        assert_eq!(text_widths(120, 18, 28, 23), (18, 28));
        // Narrow: the old fixed widths.
        assert_eq!(text_widths(80, 18, 28, 60), (10, 22));
        // Short texts never take more than they need.
        assert_eq!(text_widths(80, 4, 12, 60), (4, 12));
        assert_eq!(cut_left("runtime/examples/demo.rs:218", 12), "…demo.rs:218");
        assert_eq!(cut_left("src/a.rs:1", 12), "src/a.rs:1");
    }
}
