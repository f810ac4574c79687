//! The actions that change only what the screen shows: moving a cursor,
//! typing a filter, sorting and grouping, the help overlay, pausing the
//! display; and which row names which goroutine or thread. Pure: no
//! ptrace, no I/O. The app applies everything else (control, probes,
//! dumps, views that load data).

use super::{m_of, AppState, Cursor, Load, View};
use crate::action::Action;

/// Rows a page move skips.
const PAGE: usize = 20;

impl AppState {
    /// Applies `a` if it only changes what the screen shows; returns
    /// whether it did (false: the app's to apply).
    pub fn apply(&mut self, a: &Action) -> bool {
        match a {
            Action::Help => self.help = !self.help,
            Action::Back => {
                if self.help {
                    self.help = false;
                } else if self.detail.is_some() {
                    self.detail = None;
                } else if !self.goroutines.filter.is_empty() && self.view == View::Goroutines {
                    self.goroutines.filter.clear();
                }
            }
            Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::Home | Action::End => {
                self.move_cursor(a)
            }
            Action::StartFilter => {
                self.detail = None;
                self.view = View::Goroutines;
                self.filter_edit = Some(self.goroutines.filter.clone());
            }
            Action::FilterChar(ch) => {
                if let Some(f) = &mut self.filter_edit {
                    f.push(*ch);
                    self.goroutines.filter = f.clone();
                }
            }
            Action::FilterBackspace => {
                if let Some(f) = &mut self.filter_edit {
                    f.pop();
                    self.goroutines.filter = f.clone();
                }
            }
            Action::FilterApply => self.filter_edit = None,
            Action::FilterCancel => {
                self.filter_edit = None;
                self.goroutines.filter.clear();
            }
            Action::SortNext | Action::SortReverse | Action::ToggleGroup => {
                if self.view != View::Goroutines {
                    self.say("sorting and grouping apply to the Goroutines view (1)");
                    return true;
                }
                let gl = &mut self.goroutines;
                match a {
                    Action::SortNext => gl.sort = gl.sort.next(),
                    Action::SortReverse => gl.desc = !gl.desc,
                    _ => {
                        gl.grouped = !gl.grouped;
                        gl.cursor.home();
                        self.stacks_asked = None;
                    }
                }
            }
            Action::TogglePause => {
                self.paused = !self.paused;
                let m = if self.paused { "display paused: p resumes (the target keeps running)" } else { "live again" };
                self.say(m);
            }
            _ => return false,
        }
        true
    }

    /// Moves the cursor of what is on screen (the detail's scroll, or the
    /// view's list).
    fn move_cursor(&mut self, a: &Action) {
        let len = if self.detail.is_some() { usize::MAX / 2 } else { self.list_len() };
        if let Some(c) = self.cursor_mut() {
            match a {
                Action::Up => c.up(1),
                Action::Down => c.down(1, len),
                Action::PageUp => c.up(PAGE),
                Action::PageDown => c.down(PAGE, len),
                Action::Home => c.home(),
                _ => {
                    if len < usize::MAX / 2 {
                        c.end(len)
                    } else {
                        c.down(10_000, len)
                    }
                }
            }
        }
        if self.detail.is_some() {
            // The detail view clamps its scroll when drawn; keep the
            // stored value near the text's end.
            let c = &mut self.detail_cursor;
            c.selected = c.selected.min(2000);
        }
    }

    /// The length of the list on screen, for cursor moves.
    pub fn list_len(&self) -> usize {
        let s = &self.snap;
        match self.view {
            View::Goroutines => self.goroutines.len(),
            View::Ps => s.ps.len(),
            View::Ms => s.ms.len(),
            View::Channels => s.chans.len(),
            View::Heap => s.heap.spans.len(),
            View::Timeline => self.timeline.changes.len(),
            View::Probes => match &self.probes {
                Load::Ready(v) => v.len(),
                _ => 0,
            },
            View::Extra(_) => 0,
        }
    }

    /// The cursor of what is on screen (an extension's tab has none).
    pub fn cursor_mut(&mut self) -> Option<&mut Cursor> {
        if self.detail.is_some() {
            return Some(&mut self.detail_cursor);
        }
        Some(match self.view {
            View::Goroutines => &mut self.goroutines.cursor,
            View::Ps => &mut self.ps_cursor,
            View::Ms => &mut self.ms_cursor,
            View::Channels => &mut self.chans_cursor,
            View::Heap => &mut self.heap_cursor,
            View::Timeline => &mut self.timeline_cursor,
            View::Probes => &mut self.probes_cursor,
            View::Extra(_) => return None,
        })
    }

    /// The goroutine the selected row names, if any.
    pub fn selected_goid(&self) -> Option<u64> {
        let s = &self.snap;
        match self.view {
            View::Goroutines => self.selected_goroutine().and_then(|p| s.gs.get(p)).and_then(|g| g.goid),
            View::Ms => s.ms.get(self.ms_cursor.selected).and_then(|m| m.curg.id()),
            View::Ps => {
                s.ps.get(self.ps_cursor.selected)
                    .and_then(|p| p.runnext.id().or_else(|| p.runq.first().and_then(|l| l.id())))
            }
            View::Channels => s
                .chans
                .get(self.chans_cursor.selected)
                .and_then(|c| s.recvq(c).first().or(s.sendq(c).first()))
                .and_then(|q| q.g.id()),
            View::Heap => s.heap.spans.get(self.heap_cursor.selected).and_then(|sp| sp.owner.id()),
            View::Timeline => self.timeline.changes.get(self.timeline_cursor.selected).and_then(|c| match c {
                super::timeline::Change::Status { goid, .. }
                | super::timeline::Change::Created { goid, .. }
                | super::timeline::Change::Exited { goid, .. } => *goid,
                _ => None,
            }),
            _ => None,
        }
    }

    /// The OS thread of the selected row: an M, the M of a goroutine or a
    /// P; else why there is none, as a message for the person.
    pub fn selected_tid(&self) -> Result<u64, String> {
        let s = &self.snap;
        let m = if let Some(goid) = self.detail {
            let g = self.derived.g_by_goid.get(&goid).map(|&i| &s.gs[i]).ok_or("the goroutine is gone")?;
            m_of(s, g)
                .ok_or_else(|| format!("goroutine {goid} is not on a thread (it is {})", crate::fmt::g_label(s, g)))?
        } else {
            match self.view {
                View::Ms => s.ms.get(self.ms_cursor.selected).ok_or("no thread selected")?,
                View::Goroutines => {
                    let g = self.selected_goroutine().and_then(|p| s.gs.get(p)).ok_or("no goroutine selected")?;
                    m_of(s, g).ok_or_else(|| {
                        format!(
                            "{} is not on a thread (it is {}); pick a running goroutine or use the Ms view (3)",
                            crate::fmt::gname(g.goid),
                            crate::fmt::g_label(s, g)
                        )
                    })?
                }
                View::Ps => {
                    let p = s.ps.get(self.ps_cursor.selected).ok_or("no P selected")?;
                    p.m.index().and_then(|i| s.m(i)).ok_or("this P has no M")?
                }
                _ => return Err("select a thread first: Ms view (3), or a running goroutine".into()),
            }
        };
        m.tid
            .filter(|&t| t != 0)
            .ok_or_else(|| format!("M{} has no thread id (not started yet)", crate::fmt::opt(m.id)))
    }
}
