//! The heap view: h.sweepgen, the allspans array (its generation, length
//! and capacity, and the earlier arrays still referenced or freed), and
//! every span with its state and where its sweepgen stands against the
//! heap's; stack spans name their goroutine.

use super::{facts, table, Theme};
use crate::fmt;
use crate::state::AppState;
use grt_inspector::snapshot::{HeapView, SweepState};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

pub fn sweep_text(s: Option<SweepState>) -> String {
    match s {
        Some(SweepState::NeedsSweeping) => "needs sweeping (h-2)".into(),
        Some(SweepState::BeingSwept) => "being swept (h-1)".into(),
        Some(SweepState::Swept) => "swept (h)".into(),
        Some(SweepState::Stale { span, heap }) => format!("STALE: {span} vs h {heap}"),
        None => "-".into(),
    }
}

/// How much of the arena is handed out, "used of reserved": `arena_used`
/// is the bump pointer (an address), so the bytes used are its distance
/// from `arena_start`. Values that do not fit together (a torn or damaged
/// table) show as "-", never as a size computed from them.
pub fn arena_text(h: &HeapView) -> String {
    let (Some(start), Some(used), Some(end)) = (h.arena_start, h.arena_used, h.arena_end) else {
        return "-".into();
    };
    if !(start <= used && used <= end) {
        return "-".into();
    }
    format!("{} of {}", fmt::size(used - start), fmt::size(end - start))
}

pub fn render(st: &AppState, t: &Theme, area: Rect, buf: &mut Buffer) {
    let h = &st.snap.heap;
    let nold = h.old_allspans.len().min(4) as u16;
    let [sum, old, list] =
        Layout::vertical([Constraint::Length(2), Constraint::Length(nold + 1), Constraint::Min(1)]).areas(area);
    let l1 = facts(
        t,
        &[
            ("h.sweepgen", fmt::opt(h.sweepgen)),
            ("sweepdone", fmt::yn(h.sweepdone).to_string()),
            ("allspans", h.allspans.map_or("-".into(), |a| format!("{a:#x}"))),
            ("gen", fmt::opt(h.allspans_gen)),
            ("len", fmt::opt(h.nspan)),
            ("cap", fmt::opt(h.nspancap)),
        ],
    );
    let l2 = facts(
        t,
        &[
            ("stacks in use", fmt::opt(h.stacks_inuse)),
            ("stack pool", fmt::opt(h.nstackpool)),
            ("free spans", fmt::opt(h.nfree)),
            ("arena used", arena_text(h)),
            ("mappings", format!("{} of {}", fmt::opt(h.mappings), fmt::opt(h.max_map_count))),
        ],
    );
    buf.set_line(sum.x, sum.y, &l1, sum.width);
    buf.set_line(sum.x, sum.y + 1, &l2, sum.width);
    let head = if h.old_allspans.is_empty() {
        " earlier allspans arrays: none".to_string()
    } else {
        " earlier allspans arrays:".to_string()
    };
    buf.set_stringn(old.x, old.y, head, old.width as usize, t.header_row());
    for (i, o) in h.old_allspans.iter().take(4).enumerate() {
        let state = if o.freed { Span::styled("freed", t.dim()) } else { Span::styled("STILL REFERENCED", t.warn()) };
        let l = Line::from(vec![Span::raw(format!("   gen {:<4} cap {:<7} at {:#x}  ", o.gen, o.cap, o.addr)), state]);
        buf.set_line(old.x, old.y + 1 + i as u16, &l, old.width);
    }
    let titles = ["POS", "BASE", "PAGES", "STATE", "SWEEPGEN", "SWEEP", "OWNER"];
    let widths = [
        Constraint::Length(6),
        Constraint::Length(15),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(9),
        Constraint::Length(24),
        Constraint::Fill(1),
    ];
    let win = st.heap_cursor.window(list.height.saturating_sub(1) as usize, h.spans.len());
    let sel = st.heap_cursor.selected.checked_sub(win.start);
    let rows: Vec<Row> = h.spans[win]
        .iter()
        .map(|s| {
            let sw = st.snap.span_sweep(s);
            let sweep = sweep_text(sw);
            let style = match sw {
                Some(SweepState::Swept) => t.normal(),
                Some(SweepState::Stale { .. }) => t.error(),
                _ => t.warn(),
            };
            let owner = if s.owner.is_nil() { String::new() } else { format!("stack of {}", st.g_link(s.owner)) };
            Row::new(vec![
                Cell::from(s.pos.to_string()),
                Cell::from(if s.base == 0 { "-".into() } else { format!("{:#x}", s.base) }),
                Cell::from(s.npages.to_string()),
                Cell::from(st.snap.span_state_name(s).into_owned()),
                Cell::from(fmt::opt(s.sweepgen)),
                Cell::from(Span::styled(sweep, style)),
                Cell::from(owner),
            ])
        })
        .collect();
    table(list, buf, t, &titles, None, &widths, rows, sel);
    if h.spans.is_empty() {
        super::empty(list, buf, t, "(no spans)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_used_is_a_size_not_an_address() {
        let start = 0x7e3c_6f80_0000;
        let h = HeapView {
            arena_start: Some(start),
            arena_used: Some(start + (3 << 20)),
            arena_end: Some(start + (1 << 40)),
            ..Default::default()
        };
        assert_eq!(arena_text(&h), "3M of 1024G");
        // A bump pointer outside its arena is damage, not a size.
        assert_eq!(arena_text(&HeapView { arena_used: Some(start - 1), ..h.clone() }), "-");
        assert_eq!(arena_text(&HeapView { arena_start: None, ..h }), "-");
    }
}
