//! The probes view: the target's SDT probes by name, whether armed, hits.

use super::{empty, table, Theme};
use crate::state::{AppState, Load};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};

pub fn render(st: &AppState, t: &Theme, area: Rect, buf: &mut Buffer) {
    let [note, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    buf.set_stringn(
        note.x,
        note.y,
        " Enter arms/disarms a probe (attaches ptrace); a thread that reaches an armed probe is held there. r in Ms runs a thread to the next one.",
        note.width as usize,
        t.dim(),
    );
    let titles = ["PROBE", "SITES", "ARMED", "HITS"];
    let widths = [Constraint::Length(40), Constraint::Length(6), Constraint::Length(6), Constraint::Fill(1)];
    let probes = match &st.probes {
        Load::Ready(p) => p,
        Load::NotLoaded | Load::Loading => {
            table(list, buf, t, &titles, None, &widths, Vec::new(), None);
            return empty(list, buf, t, "loading the probe list from the target's symbols...");
        }
        Load::Failed(e) => {
            table(list, buf, t, &titles, None, &widths, Vec::new(), None);
            return empty(list, buf, t, &format!("no probes: {e}"));
        }
    };
    if probes.is_empty() {
        table(list, buf, t, &titles, None, &widths, Vec::new(), None);
        return empty(list, buf, t, "(the target has no SDT probes)");
    }
    let win = st.probes_cursor.window(list.height.saturating_sub(1) as usize, probes.len());
    let sel = st.probes_cursor.selected.checked_sub(win.start);
    let rows: Vec<Row> = probes[win]
        .iter()
        .map(|p| {
            Row::new(vec![
                Cell::from(format!("{}:{}", p.provider, p.name)),
                Cell::from(p.sites.to_string()),
                Cell::from(Span::styled(
                    if p.armed { "ARMED" } else { "-" },
                    if p.armed { t.warn() } else { t.normal() },
                )),
                Cell::from(p.hits.to_string()),
            ])
        })
        .collect();
    table(list, buf, t, &titles, None, &widths, rows, sel);
}
