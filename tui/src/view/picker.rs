//! The picker of `grt-tui attach` without a pid: the grt processes of
//! `grt-tui ps`, one to choose.

use super::{table, Theme};
use crate::state::Cursor;
use grt_inspector::find::ProcInfo;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Widget, Wrap};

pub struct PickerScreen<'a> {
    pub procs: &'a [ProcInfo],
    pub cursor: &'a Cursor,
    /// "2 processes not shown: permission denied ...".
    pub note: Option<&'a str>,
    pub message: Option<&'a str>,
    pub theme: Theme,
}

fn uptime(d: Option<std::time::Duration>) -> String {
    d.map_or("-".into(), |d| crate::fmt::dur(d.as_nanos() as u64))
}

impl Widget for &PickerScreen<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = &self.theme;
        if area.width < super::MIN_WIDTH || area.height < 6 {
            Paragraph::new(format!("terminal too small: {}x{} (q quits)", area.width, area.height))
                .wrap(Wrap { trim: true })
                .render(area, buf);
            return;
        }
        let [title, list, note, keys] =
            Layout::vertical([Constraint::Length(2), Constraint::Min(2), Constraint::Length(1), Constraint::Length(1)])
                .areas(area);
        buf.set_line(
            title.x,
            title.y,
            &Line::from(vec![
                Span::styled(" grt-tui ", t.tab_active()),
                Span::styled("  attach to which grt process?", t.title()),
            ]),
            title.width,
        );
        let titles = ["PID", "COMMAND", "GOMAXPROCS", "GOROUTINES", "THREADS", "UPTIME", "NOTES"];
        let widths = [
            Constraint::Length(8),
            Constraint::Length(20),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Fill(1),
        ];
        let win = self.cursor.window(list.height.saturating_sub(1) as usize, self.procs.len());
        let sel = self.cursor.selected.checked_sub(win.start);
        let rows: Vec<Row> = self.procs[win]
            .iter()
            .map(|p| {
                let mut notes = Vec::new();
                if !p.bugs.is_empty() {
                    notes.push(format!("GRT_BUGS={}", p.bugs.join(",")));
                }
                if let Some(pr) = &p.problem {
                    notes.push(pr.clone());
                }
                Row::new(vec![
                    Cell::from(p.pid.to_string()),
                    Cell::from(p.command.clone()),
                    Cell::from(crate::fmt::opt(p.gomaxprocs)),
                    Cell::from(crate::fmt::opt(p.goroutines)),
                    Cell::from(crate::fmt::opt(p.threads)),
                    Cell::from(uptime(p.uptime)),
                    Cell::from(notes.join("; ")),
                ])
            })
            .collect();
        table(list, buf, t, &titles, None, &widths, rows, sel);
        if self.procs.is_empty() {
            super::empty(list, buf, t, "(no grt processes: start one, e.g. `grt-tui demo`; r rescans)");
        }
        if let Some(n) = self.message.or(self.note) {
            buf.set_stringn(
                note.x + 1,
                note.y,
                n,
                note.width as usize,
                if self.message.is_some() { t.error() } else { t.dim() },
            );
        }
        let l = Line::from(vec![
            Span::styled(" Enter", t.key()),
            Span::styled(" attach  ", t.dim()),
            Span::styled("Up/Down", t.key()),
            Span::styled(" choose  ", t.dim()),
            Span::styled("r", t.key()),
            Span::styled(" rescan  ", t.dim()),
            Span::styled("q", t.key()),
            Span::styled(" quit", t.dim()),
        ]);
        buf.set_line(keys.x, keys.y, &l, keys.width);
    }
}
