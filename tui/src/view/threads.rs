//! The Ms (threads) view: tid, role, what it runs, its P, its state (ours
//! first: frozen, at a probe), the locks it holds or waits for, and the
//! function it is in (symbolized from its pc while we hold it).

use super::{empty, marked, table, Theme};
use crate::fmt;
use crate::state::AppState;
use grt_inspector::snapshot::MView;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};

/// A thread's state in words: ours (frozen, at a probe) first, then the
/// runtime's (running, in syscall, spinning, lock wait, idle, netpoll).
pub fn m_state(st: &AppState, m: &MView) -> String {
    if let Some(k) = st.m_mark(m) {
        return match k {
            crate::state::Mark::Frozen => format!("FROZEN (was {})", m.state_name),
            crate::state::Mark::AtProbe(p) => format!("AT PROBE {p}"),
            crate::state::Mark::GroupStopped => "STOPPED (SIGSTOP)".into(),
        };
    }
    if let Some(w) = &m.waitlock {
        return format!("lock wait: {}{}", w.name, m.wait_ns.map(|n| format!(" {}", fmt::dur(n))).unwrap_or_default());
    }
    if !m.waitcasg.is_nil() {
        return format!("casgstatus on {}", st.g_link(m.waitcasg));
    }
    if m.tid.is_some_and(|t| st.control.running_to_probe.contains(&t)) {
        return format!("{} (to probe)", m.state_name);
    }
    match m.state_name.as_str() {
        "syscall" => "in syscall".into(),
        "spinning" => "spinning".into(),
        s if m.spinning == Some(true) && s != "spinning" => format!("{s}, spinning"),
        s => s.to_string(),
    }
}

/// What the thread is executing: its function while we hold it, else
/// what the runtime says.
pub fn m_function(st: &AppState, m: &MView) -> String {
    if let Some(f) = m.tid.and_then(|t| st.control.thread_fn.get(&t)) {
        return f.clone();
    }
    if st.m_mark(m).is_some() {
        return "(symbolizing...)".into();
    }
    match m.state_name.as_str() {
        "running" if !m.curg.is_nil() => format!("{}'s code", st.g_link(m.curg)),
        "syscall" if !m.curg.is_nil() => format!("{}'s system call", st.g_link(m.curg)),
        "idle" => "parked (stopm)".into(),
        "netpoll" => "epoll_wait".into(),
        "scheduling" | "spinning" => "schedule (findRunnable)".into(),
        "sysmon-sleep" => "sysmon (sleeping)".into(),
        "lockwait" => "lock (futex wait)".into(),
        _ => "-".into(),
    }
}

pub fn render(st: &AppState, t: &Theme, area: Rect, buf: &mut Buffer) {
    let snap = &st.snap;
    let titles = ["M", "TID", "ROLE", "STATE", "CURG", "P", "LOCKS", "FUNCTION"];
    let widths = [
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(28),
        Constraint::Length(7),
        Constraint::Length(4),
        Constraint::Length(16),
        Constraint::Fill(1),
    ];
    if snap.ms.is_empty() {
        table(area, buf, t, &titles, None, &widths, Vec::new(), None);
        return empty(area, buf, t, "(no Ms)");
    }
    let win = st.ms_cursor.window(area.height.saturating_sub(1) as usize, snap.ms.len());
    let sel = st.ms_cursor.selected.checked_sub(win.start);
    let rows: Vec<Row> = snap.ms[win]
        .iter()
        .map(|m| {
            let mark = st.m_mark(m).is_some();
            let p = m.p.index().and_then(|i| snap.p(i)).map_or("-".to_string(), |p| format!("P{}", fmt::opt(p.id)));
            let locks = if !m.held.is_empty() {
                m.held.iter().map(|l| l.name.to_string()).collect::<Vec<_>>().join(",")
            } else {
                match m.locks {
                    Some(n) if n > 0 => format!("{n} held"),
                    _ => "-".into(),
                }
            };
            let state = m_state(st, m);
            let state_style = if mark {
                t.frozen()
            } else if m.waitlock.is_some() {
                t.warn()
            } else {
                t.normal()
            };
            Row::new(vec![
                Cell::from(Span::styled(
                    st.m_label(grt_inspector::snapshot::Link::rec(m.index, m.id.unwrap_or(0) as u64)),
                    marked(t, mark),
                )),
                Cell::from(fmt::opt(m.tid)),
                Cell::from(m.role_name.to_string()),
                Cell::from(Span::styled(state, state_style)),
                Cell::from(st.g_link(m.curg)),
                Cell::from(p),
                Cell::from(locks),
                Cell::from(m_function(st, m)),
            ])
        })
        .collect();
    table(area, buf, t, &titles, None, &widths, rows, sel);
}
