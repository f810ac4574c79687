//! Rendering: `impl Widget for &Screen` draws the whole screen from a
//! borrow of the state. Views draw only their visible rows; nothing here
//! sorts, filters or symbolizes (that is `state::AppState::prepare`).
//!
//! Layout, top to bottom: two header lines (the target and the
//! scheduler's global state), the tab bar, banners (the target exited; a
//! wait-for cycle), the body (the current view or a goroutine's detail,
//! with extension panels beside or below it), the status line. Below
//! [`MIN_WIDTH`] x [`MIN_HEIGHT`] only a "terminal too small" message is
//! drawn.

pub mod chans;
pub mod detail;
pub mod goroutines;
pub mod heap;
pub mod help;
pub mod picker;
pub mod probes;
pub mod procs;
pub mod theme;
pub mod threads;
pub mod timeline;

use crate::fmt;
use crate::state::{AppState, InputMode, View};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, Widget, Wrap};
pub use theme::Theme;

pub const MIN_WIDTH: u16 = 50;
pub const MIN_HEIGHT: u16 = 10;

/// Where an extension's panel goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A tab of its own (`View::Extra(i)`), keys 8 and 9.
    Tab,
    /// Below the body, this many rows high.
    Bottom(u16),
    /// Right of the body, this many columns wide.
    Right(u16),
}

/// Something another module draws inside the screen (the race command's
/// narration). Its state is its own; it gets an area and the theme.
pub trait Panel {
    fn title(&self) -> String;
    fn placement(&self) -> Placement;
    fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme);
    /// Keys its extension takes (key, what it does), for the help overlay.
    fn keys(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// The whole screen: a borrow of the state, the theme, extension panels.
pub struct Screen<'a> {
    pub state: &'a AppState,
    pub theme: Theme,
    pub panels: Vec<&'a dyn Panel>,
}

impl<'a> Screen<'a> {
    pub fn new(state: &'a AppState, theme: Theme) -> Screen<'a> {
        Screen { state, theme, panels: Vec::new() }
    }
}

impl Widget for &Screen<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = &self.theme;
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            let msg = format!(
                "terminal too small: {}x{}, grt-tui needs {MIN_WIDTH}x{MIN_HEIGHT} (q quits)",
                area.width, area.height
            );
            Paragraph::new(msg).wrap(Wrap { trim: true }).style(t.warn()).render(area, buf);
            return;
        }
        let st = self.state;
        let banners = banners(st);
        let nb = banners.len().min(3) as u16;
        let [h1, h2, tabs, ban, body, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(nb),
            Constraint::Min(1),
            Constraint::Length(1),
        ])
        .areas(area);
        header(st, t, h1, h2, buf);
        tab_bar(st, t, &self.panels, tabs, buf);
        for (i, b) in banners.iter().take(3).enumerate() {
            let r = Rect { y: ban.y + i as u16, height: 1, ..ban };
            buf.set_style(r, t.alert());
            buf.set_stringn(r.x, r.y, format!(" {b}"), r.width as usize, t.alert());
        }
        // Extension panels beside or below the body.
        let mut body = body;
        for p in &self.panels {
            match p.placement() {
                Placement::Bottom(h) if body.height > h + 3 => {
                    let [b, pa] = Layout::vertical([Constraint::Min(3), Constraint::Length(h)]).areas(body);
                    body = b;
                    p.render(pa, buf, t);
                }
                Placement::Right(w) if body.width > w + 30 => {
                    let [b, pa] = Layout::horizontal([Constraint::Min(30), Constraint::Length(w)]).areas(body);
                    body = b;
                    p.render(pa, buf, t);
                }
                _ => {}
            }
        }
        if let Some(goid) = st.detail {
            detail::render(st, goid, t, body, buf);
        } else {
            match st.view {
                View::Goroutines => goroutines::render(st, t, body, buf),
                View::Ps => procs::render(st, t, body, buf),
                View::Ms => threads::render(st, t, body, buf),
                View::Channels => chans::render(st, t, body, buf),
                View::Heap => heap::render(st, t, body, buf),
                View::Timeline => timeline::render(st, t, body, buf),
                View::Probes => probes::render(st, t, body, buf),
                View::Extra(i) => {
                    let tabbed: Vec<&&dyn Panel> =
                        self.panels.iter().filter(|p| p.placement() == Placement::Tab).collect();
                    match tabbed.get(i as usize) {
                        Some(p) => p.render(body, buf, t),
                        None => {
                            buf.set_stringn(body.x + 1, body.y, "(no such view)", body.width as usize, t.dim());
                        }
                    }
                }
            }
        }
        status_line(st, t, status, buf);
        if st.help {
            let extra: Vec<(String, String)> = self.panels.iter().flat_map(|p| p.keys()).collect();
            help::render(t, &extra, area, buf);
        }
    }
}

/// Banner lines: the target exited; wait-for cycles.
fn banners(st: &AppState) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(e) = &st.exited {
        v.push(format!("TARGET GONE: {e}; showing its last state"));
    }
    if let Some(e) = &st.table_error {
        let shown = if st.snap_gen == 0 { "nothing to show" } else { "showing the last good state" };
        v.push(format!("TABLE UNREADABLE: {e}; {shown}"));
    } else if st.snap.gs.is_empty() && !st.snap.damage.is_empty() {
        // Damage that left no goroutine: say why the list is empty.
        let more = st.snap.damage.len() - 1;
        let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
        v.push(format!("TABLE DAMAGED: {}{more}", st.snap.damage[0]));
    }
    for c in &st.snap.waitfor.cycles {
        let kind = if c.certain { "DEADLOCK" } else { "POSSIBLE DEADLOCK" };
        v.push(format!("{kind}: {}", c.text));
    }
    v
}

fn sep<'a>(t: &Theme) -> Span<'a> {
    Span::styled(" | ", t.dim())
}

fn kv<'a>(t: &Theme, k: &'a str, v: String) -> Vec<Span<'a>> {
    vec![Span::styled(k, t.dim()), Span::raw(" "), Span::styled(v, t.title())]
}

fn header(st: &AppState, t: &Theme, a1: Rect, a2: Rect, buf: &mut Buffer) {
    let s = &st.snap;
    let sc = &s.sched;
    let mut l1: Vec<Span> = vec![Span::styled(" grt-tui ", t.tab_active()), Span::raw(" ")];
    l1.extend(kv(t, "pid", st.target.pid.to_string()));
    l1.push(Span::raw(" "));
    l1.push(Span::styled(st.target.command.clone(), t.title()));
    if st.target.ours {
        l1.push(Span::styled(" (started by grt-tui)", t.dim()));
    }
    l1.push(sep(t));
    l1.extend(kv(t, "up", fmt::uptime_ns(s).map(fmt::dur).unwrap_or_else(|| "-".into())));
    l1.push(sep(t));
    l1.extend(kv(t, "GOMAXPROCS", fmt::opt(sc.gomaxprocs)));
    l1.push(sep(t));
    l1.extend(kv(t, "idle Ps", fmt::opt(sc.npidle)));
    l1.push(sep(t));
    l1.extend(kv(t, "spinning Ms", fmt::opt(sc.nmspinning)));
    l1.push(sep(t));
    l1.extend(kv(t, "goroutines", s.gs.len().to_string()));
    l1.push(sep(t));
    l1.extend(kv(t, "Ms", s.ms.len().to_string()));
    buf.set_line(a1.x, a1.y, &Line::from(l1), a1.width);

    let mut l2: Vec<Span> = vec![Span::raw(" ")];
    let gcw = sc.gcwaiting == Some(true);
    l2.push(Span::styled("gcwaiting ", t.dim()));
    l2.push(Span::styled(fmt::yn(sc.gcwaiting), if gcw { t.warn() } else { t.title() }));
    l2.push(sep(t));
    l2.extend(kv(t, "stopwait", fmt::opt(sc.stopwait)));
    l2.push(sep(t));
    l2.extend(kv(t, "safePointWait", fmt::opt(sc.safe_point_wait)));
    l2.push(sep(t));
    l2.extend(kv(t, "GC", sc.gcphase_name.as_ref().map_or("-".to_string(), |n| n.to_string())));
    l2.push(sep(t));
    l2.extend(kv(t, "numgc", fmt::opt(sc.numgc)));
    l2.push(sep(t));
    let bugs = if s.header.bugs.is_empty() {
        "none".to_string()
    } else {
        s.header.bugs.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(",")
    };
    l2.push(Span::styled("bugs ", t.dim()));
    l2.push(Span::styled(bugs, if s.header.bugs.is_empty() { t.title() } else { t.warn() }));
    l2.push(sep(t));
    let c = &st.control;
    let ctl = if let Some(d) = &c.disabled {
        format!("off ({d})")
    } else if c.attached {
        let held = c.marks.len();
        if held == 0 {
            "attached".to_string()
        } else {
            format!("attached, {held} held")
        }
    } else {
        "not attached".to_string()
    };
    l2.push(Span::styled("ptrace ", t.dim()));
    l2.push(Span::styled(ctl, if c.marks.is_empty() { t.title() } else { t.frozen() }));
    if st.paused {
        l2.push(sep(t));
        l2.push(Span::styled("PAUSED", t.warn()));
    }
    buf.set_line(a2.x, a2.y, &Line::from(l2), a2.width);
}

fn tab_bar(st: &AppState, t: &Theme, panels: &[&dyn Panel], a: Rect, buf: &mut Buffer) {
    let mut spans: Vec<Span> = vec![Span::raw(" ")];
    let tabbed: Vec<String> = panels.iter().filter(|p| p.placement() == Placement::Tab).map(|p| p.title()).collect();
    let mut views: Vec<(View, String)> = View::BUILTIN.iter().map(|v| (*v, v.title().to_string())).collect();
    for (i, title) in tabbed.iter().enumerate().take(2) {
        views.push((View::Extra(i as u8), title.clone()));
    }
    for (k, (v, title)) in views.iter().enumerate() {
        let style = if *v == st.view && st.detail.is_none() { t.tab_active() } else { t.tab() };
        spans.push(Span::styled(format!(" {} {title} ", k + 1), style));
    }
    if st.view == View::Goroutines || st.detail.is_some() {
        let gl = &st.goroutines;
        let mut info = format!("  sort {}{}", gl.sort.title(), if gl.desc { " desc" } else { "" });
        if !gl.filter.is_empty() {
            info.push_str(&format!("  filter \"{}\" ({} of {})", gl.filter, gl.rows.len(), st.snap.gs.len()));
        }
        if gl.grouped {
            info.push_str(&format!("  grouped ({} groups)", gl.groups.len()));
        }
        spans.push(Span::styled(info, t.dim()));
    }
    buf.set_line(a.x, a.y, &Line::from(spans), a.width);
}

fn status_line(st: &AppState, t: &Theme, a: Rect, buf: &mut Buffer) {
    if let Some(f) = &st.filter_edit {
        let l = Line::from(vec![
            Span::styled(" /", t.key()),
            Span::styled(f.clone(), t.title()),
            Span::styled("_", t.key()),
            Span::styled(format!("   {}", crate::input::FILTER_HELP), t.dim()),
        ]);
        buf.set_line(a.x, a.y, &l, a.width);
        return;
    }
    if let Some(m) = &st.message {
        let style = if m.error { t.error() } else { t.ok() };
        buf.set_stringn(a.x, a.y, format!(" {}", m.text), a.width as usize, style);
        return;
    }
    let hints: &[(&str, &str)] = match st.input_mode() {
        InputMode::Detail => {
            &[("Esc", "back"), ("j/k", "scroll"), ("f/t", "freeze/thaw its thread"), ("?", "help"), ("q", "quit")]
        }
        _ => &[
            ("?", "help"),
            ("q", "quit"),
            ("Tab/1-7", "views"),
            ("Enter", "open"),
            ("/", "filter"),
            ("s", "sort"),
            ("g", "group"),
            ("f/t", "freeze/thaw"),
            ("d", "dump"),
        ],
    };
    let mut spans = vec![Span::raw(" ")];
    for (k, what) in hints {
        spans.push(Span::styled(*k, t.key()));
        spans.push(Span::styled(format!(" {what}  "), t.dim()));
    }
    buf.set_line(a.x, a.y, &Line::from(spans), a.width);
}

/// A table of the visible rows: a header row with the sort column marked,
/// then `rows` (already cut to the window), `sel` the selected row among
/// them. (Eight arguments, all of them different parts of one table.)
#[allow(clippy::too_many_arguments)]
pub(crate) fn table(
    area: Rect,
    buf: &mut Buffer,
    t: &Theme,
    titles: &[&str],
    sorted: Option<(usize, bool)>,
    widths: &[Constraint],
    rows: Vec<Row<'_>>,
    sel: Option<usize>,
) {
    let header = Row::new(titles.iter().enumerate().map(|(i, h)| match sorted {
        Some((c, desc)) if c == i => Span::styled(format!("{h}{}", if desc { " v" } else { " ^" }), t.sorted()),
        _ => Span::styled(h.to_string(), t.header_row()),
    }));
    let rows: Vec<Row> =
        rows.into_iter().enumerate().map(|(i, r)| if Some(i) == sel { r.style(t.selected()) } else { r }).collect();
    Widget::render(Table::new(rows, widths.to_vec()).header(header).column_spacing(1), area, buf);
}

/// A line of "name value" facts for summary areas.
pub(crate) fn facts<'a>(t: &Theme, kvs: &[(&'a str, String)]) -> Line<'a> {
    let mut spans = vec![Span::raw(" ")];
    for (i, (k, v)) in kvs.iter().enumerate() {
        if i > 0 {
            spans.push(sep(t));
        }
        spans.push(Span::styled(*k, t.dim()));
        spans.push(Span::raw(" "));
        spans.push(Span::styled(v.clone(), t.title()));
    }
    Line::from(spans)
}

/// A one-line note in the middle of an empty area.
pub(crate) fn empty(area: Rect, buf: &mut Buffer, t: &Theme, text: &str) {
    if area.height > 1 {
        buf.set_stringn(area.x + 1, area.y + 1, text, area.width.saturating_sub(2) as usize, t.dim());
    }
}

/// The style for a value with an optional thread mark.
pub(crate) fn marked(t: &Theme, marked: bool) -> Style {
    if marked {
        t.frozen()
    } else {
        t.normal()
    }
}
