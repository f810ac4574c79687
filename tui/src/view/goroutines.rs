//! The goroutine list (or its groups): only the visible rows are built.

use super::{empty, marked, table, Theme};
use crate::fmt;
use crate::state::{no_safe_point, stacks, AppState, GCol, GroupKey};
use grt_inspector::snapshot::{GView, Snapshot};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};

/// The WAITING FOR column: the wait reason and for how long; for a
/// goroutine that has run too long without a safe point, for how long
/// (it waits for nothing, but everything that needs it to yield waits
/// for it).
pub fn wait_text(s: &Snapshot, g: &GView) -> String {
    match (g.base_status(), s.waitreason_name(g)) {
        (Some(grt_table::G_WAITING), Some(r)) => match s.wait_ns(g) {
            Some(w) => format!("{r} {}", fmt::dur(w)),
            None => r.to_string(),
        },
        (Some(grt_table::G_WAITING), _) => "?".into(),
        (Some(grt_table::G_RUNNING), _) => match no_safe_point(s, g) {
            Some(d) => format!("no safe point {}", fmt::dur(d)),
            None => String::new(),
        },
        _ => String::new(),
    }
}

/// The STACK column: used / size.
pub fn stack_text(g: &GView) -> String {
    let size = match (g.stack_lo, g.stack_hi) {
        (lo, hi) if hi > lo => fmt::size(hi - lo),
        _ => "?".into(),
    };
    match g.stack_used() {
        Some(u) => format!("{}/{size}", fmt::size(u)),
        None => format!("-/{size}"),
    }
}

pub fn render(st: &AppState, t: &Theme, area: Rect, buf: &mut Buffer) {
    let gl = &st.goroutines;
    if gl.grouped {
        return render_groups(st, t, area, buf);
    }
    let snap = &st.snap;
    if gl.rows.is_empty() {
        let msg = if gl.filter.is_empty() {
            "(no goroutines)".to_string()
        } else {
            format!("(no goroutine matches \"{}\"; Esc clears the filter)", gl.filter)
        };
        table(area, buf, t, &GCol::ALL.map(|c| c.title()), None, &widths(), Vec::new(), None);
        return empty(area, buf, t, &msg);
    }
    let win = gl.cursor.window(area.height.saturating_sub(1) as usize, gl.rows.len());
    let sel = gl.cursor.selected.checked_sub(win.start);
    let rows: Vec<Row> = gl.rows[win]
        .iter()
        .map(|&pos| {
            let g = &snap.gs[pos as usize];
            let mark = st.g_mark(g).is_some();
            let hog = if no_safe_point(snap, g).is_some() { t.warn() } else { t.normal() };
            Row::new(vec![
                Cell::from(fmt::opt(g.goid)),
                Cell::from(Span::styled(fmt::g_status(snap, g), t.status(g.base_status(), g.scan()))),
                Cell::from(Span::styled(wait_text(snap, g), hog)),
                Cell::from(Span::styled(st.m_label(g.m), marked(t, mark))),
                Cell::from(Span::styled(st.g_p(g), marked(t, mark))),
                Cell::from(stack_text(g)),
                Cell::from(snap.created_at(g).unwrap_or("-").to_string()),
            ])
        })
        .collect();
    let sorted = GCol::ALL.iter().position(|&c| c == gl.sort).map(|i| (i, gl.desc));
    table(area, buf, t, &GCol::ALL.map(|c| c.title()), sorted, &widths(), rows, sel);
}

fn widths() -> [Constraint; 7] {
    [
        Constraint::Length(7),
        Constraint::Length(17),
        Constraint::Length(24),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(10),
        Constraint::Fill(1),
    ]
}

fn render_groups(st: &AppState, t: &Theme, area: Rect, buf: &mut Buffer) {
    let gl = &st.goroutines;
    let snap = &st.snap;
    let titles = ["COUNT", "STATUS", "TOP FRAME", "AT", "GOROUTINES"];
    let widths = [
        Constraint::Length(6),
        Constraint::Length(22),
        Constraint::Length(36),
        Constraint::Length(26),
        Constraint::Fill(1),
    ];
    if gl.groups.is_empty() {
        table(area, buf, t, &titles, None, &widths, Vec::new(), None);
        return empty(area, buf, t, "(no goroutines)");
    }
    let win = gl.cursor.window(area.height.saturating_sub(1) as usize, gl.groups.len());
    let sel = gl.cursor.selected.checked_sub(win.start);
    let rows: Vec<Row> = gl.groups[win]
        .iter()
        .map(|grp| {
            let first = grp.members.first().and_then(|&p| snap.gs.get(p as usize));
            let mut status = grp.label.clone();
            if grp.other_labels > 0 {
                status = format!("{status} +{} other", grp.other_labels);
            }
            let (top, at) = match (&grp.stack, &grp.key) {
                (Some(s), _) => match s.top_user_frame() {
                    Some(f) => (f.function.clone(), format!("{}:{}", short_file(&f.file), f.line)),
                    None => ("(empty stack)".into(), String::new()),
                },
                (None, GroupKey::NoStack(_)) => {
                    let tid = first.and_then(|g| crate::state::m_of(snap, g)).and_then(|m| m.tid);
                    let key =
                        first.and_then(|g| stacks::key_of(snap, g, tid.and_then(|t| st.control.regs.get(&t).copied())));
                    let why = match (first, key) {
                        (Some(g), None) if g.base_status() == Some(grt_table::G_RUNNING) => {
                            "(running: freeze its thread)"
                        }
                        (_, None) => "(no saved context)",
                        (_, Some((k, _))) if st.stacks.is_pending(&k) => "(symbolizing...)",
                        _ => "(no stack)",
                    };
                    (why.into(), String::new())
                }
                _ => (String::new(), String::new()),
            };
            let ids: Vec<String> = grp
                .members
                .iter()
                .take(12)
                .filter_map(|&p| snap.gs.get(p as usize))
                .map(|g| fmt::opt(g.goid))
                .collect();
            let more = if grp.members.len() > 12 { format!(" +{}", grp.members.len() - 12) } else { String::new() };
            let (base, scan) = first.map_or((None, false), |g| (g.base_status(), g.scan()));
            Row::new(vec![
                Cell::from(grp.members.len().to_string()),
                Cell::from(Span::styled(status, t.status(base, scan))),
                Cell::from(top),
                Cell::from(at),
                Cell::from(format!("{}{more}", ids.join(" "))),
            ])
        })
        .collect();
    table(area, buf, t, &titles, Some((0, !gl.desc)), &widths, rows, sel);
}

/// The last two components of a path ("examples/demo.rs").
pub fn short_file(f: &str) -> String {
    let parts: Vec<&str> = f.rsplit('/').take(2).collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}
