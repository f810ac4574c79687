//! The Ps view: status, M, run queue, runnext, ticks, safe-point flags.

use super::{empty, marked, table, Theme};
use crate::fmt;
use crate::state::AppState;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};

pub fn render(st: &AppState, t: &Theme, area: Rect, buf: &mut Buffer) {
    let snap = &st.snap;
    let titles = ["P", "STATUS", "M", "RUNQ", "RUNNEXT", "SCHEDTICK", "SYSCALLTICK", "SAFE-POINT", "RUN QUEUE"];
    let widths = [
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(11),
        Constraint::Length(14),
        Constraint::Fill(1),
    ];
    if snap.ps.is_empty() {
        table(area, buf, t, &titles, None, &widths, Vec::new(), None);
        return empty(area, buf, t, "(no Ps)");
    }
    let win = st.ps_cursor.window(area.height.saturating_sub(1) as usize, snap.ps.len());
    let sel = st.ps_cursor.selected.checked_sub(win.start);
    let rows: Vec<Row> = snap.ps[win]
        .iter()
        .map(|p| {
            let mark = st.p_mark(p).is_some();
            let sp = match (p.run_safe_point_fn, p.safe_point_runs) {
                (Some(true), r) => format!("pending, {} runs", fmt::opt(r)),
                (Some(false), r) => format!("-, {} runs", fmt::opt(r)),
                (None, r) => format!("?, {} runs", fmt::opt(r)),
            };
            let q: Vec<String> = p.runq.iter().take(16).map(|l| st.g_link(*l)).collect();
            let more = if p.runq.len() > 16 { format!(" +{}", p.runq.len() - 16) } else { String::new() };
            let status = p.status_name.to_string();
            let status_style = if mark { t.frozen() } else { t.normal() };
            Row::new(vec![
                Cell::from(fmt::opt(p.id)),
                Cell::from(Span::styled(status, status_style)),
                Cell::from(Span::styled(st.m_label(p.m), marked(t, mark))),
                Cell::from(p.runq.len().to_string()),
                Cell::from(st.g_link(p.runnext)),
                Cell::from(fmt::opt(p.schedtick)),
                Cell::from(fmt::opt(p.syscalltick)),
                Cell::from(sp),
                Cell::from(format!("{}{more}", q.join(" "))),
            ])
        })
        .collect();
    table(area, buf, t, &titles, None, &widths, rows, sel);
}
