//! A goroutine's detail: facts, symbolized stack, sudogs, what it waits
//! for and who could wake it. One scrolling column of text.

use super::Theme;
use crate::state::{detail, stacks, AppState};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

pub fn lines(st: &AppState, goid: u64, t: &Theme) -> (String, Vec<Line<'static>>) {
    let Some((pos, g)) = detail::find(st, goid) else {
        return (
            format!(" goroutine {goid} "),
            vec![Line::styled(
                format!("goroutine {goid} is gone (it exited or its record was reused); Esc goes back"),
                t.warn(),
            )],
        );
    };
    let d = detail::detail(st, pos);
    let mut out: Vec<Line> = Vec::new();
    let w = d.facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in &d.facts {
        let style = if k == "status" {
            t.status(g.base_status(), g.scan())
        } else if k == "M" && st.g_mark(g).is_some() {
            t.frozen()
        } else {
            t.title()
        };
        out.push(Line::from(vec![Span::styled(format!("{k:>w$}  "), t.dim()), Span::styled(v.clone(), style)]));
    }
    out.push(Line::raw(""));
    out.push(Line::styled("Stack", t.header_row()));
    let tid = crate::state::m_of(&st.snap, g).and_then(|m| m.tid);
    let key = stacks::key_of(&st.snap, g, tid.and_then(|t| st.control.regs.get(&t).copied()));
    match key {
        Some((k, _)) => match st.stacks.get(&k) {
            Some(s) => {
                for f in &s.frames {
                    let name =
                        if f.inlined { format!("  {} (inlined)", f.function) } else { format!("  {}", f.function) };
                    out.push(Line::styled(name, t.title()));
                    out.push(Line::styled(format!("      {}:{}", f.file, f.line), t.dim()));
                }
                if s.frames.is_empty() {
                    out.push(Line::styled("  (no frames)", t.dim()));
                }
                if let Some(n) = &s.note {
                    out.push(Line::styled(format!("  {n}"), t.dim()));
                }
            }
            None if st.stacks.is_pending(&k) => out.push(Line::styled("  symbolizing...", t.dim())),
            None => out.push(Line::styled("  (not symbolized)", t.dim())),
        },
        None => {
            let why = match g.base_status() {
                Some(grt_table::G_RUNNING) => "  running on its thread: freeze the thread (f) to see its stack",
                _ => "  no saved context to unwind from",
            };
            out.push(Line::styled(why, t.dim()));
        }
    }
    let section = |out: &mut Vec<Line<'static>>, title: &str, items: &[String], none: &str| {
        out.push(Line::raw(""));
        out.push(Line::styled(title.to_string(), t.header_row()));
        if items.is_empty() {
            out.push(Line::styled(format!("  {none}"), t.dim()));
        }
        for i in items {
            out.push(Line::raw(format!("  {i}")));
        }
    };
    section(&mut out, "Sudogs", &d.sudogs, "none");
    section(&mut out, "Waits for", &d.waits_for, "nothing: it is not blocked");
    section(&mut out, "Could wake it", &d.wakers, "-");
    if !d.same_stack.is_empty() {
        let ids: Vec<String> = d.same_stack.iter().take(40).map(|g| format!("G{g}")).collect();
        let more =
            if d.same_stack.len() > 40 { format!(" (+{} more)", d.same_stack.len() - 40) } else { String::new() };
        section(
            &mut out,
            &format!("Same stack ({} others)", d.same_stack.len()),
            &[format!("{}{more}", ids.join(" "))],
            "",
        );
    }
    (format!(" {} ", d.title), out)
}

pub fn render(st: &AppState, goid: u64, t: &Theme, area: Rect, buf: &mut Buffer) {
    let (title, lines) = lines(st, goid, t);
    let block = Block::default().borders(Borders::TOP).title(Span::styled(title, t.title()));
    let inner_h = area.height.saturating_sub(1) as usize;
    let max_scroll = lines.len().saturating_sub(inner_h);
    let scroll = st.detail_cursor.selected.min(max_scroll);
    Paragraph::new(lines).block(block).scroll((scroll as u16, 0)).render(area, buf);
}
