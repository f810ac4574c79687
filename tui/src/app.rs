//! The app: the event loop that feeds the state from the sources (sampler,
//! symbolizer, controller), maps keys to actions and applies them, and
//! draws the screen when something changed.
//!
//! Extension point: another module (the `race` command) adds a panel and
//! drives the app through [`Extension`]: it draws a [`Panel`] (a tab of its
//! own, or beside or below the body), sees keys before the app does, is
//! polled every loop turn for [`Action`]s to apply (freeze, thaw, arm,
//! open a goroutine, say something), and sees every controller event. If
//! it owns ptrace itself, [`App::disable_control`] keeps the app from
//! attaching a second tracer, and it reports the threads it holds with
//! [`App::set_marks`].

use crate::action::Action;
use crate::input;
use crate::sources::control::Control;
use crate::sources::launch::OwnedChild;
use crate::sources::sampler::{Sample, Sampler};
use crate::sources::symbolizer::{Req, Resp, Symbolizer};
use crate::state::{AppState, Load, Mark, ProbeEntry, View};
use crate::view::{Panel, Placement, Screen, Theme};
use crossterm::event::{self, Event as TermEvent, KeyEvent, KeyEventKind};
use grt_inspector::control::{Event, OnHit, ProbeId, ThreadState};
use grt_inspector::dump::{self, DumpOptions};
use grt_inspector::find::TableSource;
use grt_symbols::Probe;
use ratatui::backend::Backend;
use ratatui::Terminal;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// A module's addition to the app: a panel, keys, actions, events.
pub trait Extension: Panel {
    /// Sees a key before the app: `Some(actions)` consumes it.
    fn on_key(&mut self, _key: &KeyEvent, _state: &AppState) -> Option<Vec<Action>> {
        None
    }
    /// Called every loop turn: actions to apply now.
    fn poll(&mut self, _state: &AppState) -> Vec<Action> {
        Vec::new()
    }
    /// A controller event (probe hit, thread stop, exit).
    fn on_event(&mut self, _ev: &Event) {}
    /// Whether its panel changed since it was last drawn.
    fn dirty(&self) -> bool {
        false
    }
}

/// How the app runs.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub refresh_hz: u32,
    pub theme: Theme,
}

impl Default for Options {
    fn default() -> Options {
        Options { refresh_hz: 10, theme: Theme::from_env() }
    }
}

pub struct App {
    pub state: AppState,
    theme: Theme,
    sampler: Option<Sampler>,
    symbolizer: Option<Symbolizer>,
    control: Control,
    child: Option<OwnedChild>,
    extensions: Vec<Box<dyn Extension>>,
    /// Every probe site, by "provider:name".
    probes: BTreeMap<String, Vec<Probe>>,
    /// Armed sites by "provider:name", and the name of each id.
    armed: HashMap<String, Vec<ProbeId>>,
    probe_names: HashMap<ProbeId, String>,
    /// The exit status the controller reported.
    exit_status: Option<String>,
    dirty: bool,
    quit: bool,
    /// Why the app ended, if it failed (`Action::Fail`).
    failure: Option<String>,
    /// Messages to print after the terminal is restored.
    pub farewell: Vec<String>,
}

impl App {
    /// An app over a live target: `src` is its opened table, `child` the
    /// process if we started it.
    pub fn new(src: TableSource, child: Option<OwnedChild>, opts: Options) -> App {
        let pid = src.pid();
        let target = crate::state::Target { pid, command: src.command().to_string(), ours: child.is_some() };
        let mut state = AppState::new(target);
        state.refresh_hz = opts.refresh_hz;
        // The first snapshot now, so the first frame is not empty, or says
        // why the table cannot be read.
        match src.snapshot(false) {
            Ok(s) => {
                state.set_snapshot(s);
            }
            Err(e) => state.table_error = Some(format!("reading the table: {e}")),
        }
        let mut app = App::offline(state, opts.theme);
        app.sampler = Some(Sampler::start(src, opts.refresh_hz));
        app.symbolizer = Some(Symbolizer::start(pid));
        app.control = Control::new(pid);
        app.child = child;
        app
    }

    /// An app with no sources (tests, saved snapshots): control is off.
    pub fn offline(state: AppState, theme: Theme) -> App {
        let pid = state.target.pid;
        App {
            state,
            theme,
            sampler: None,
            symbolizer: None,
            control: Control::disabled(pid, "no live target"),
            child: None,
            extensions: Vec::new(),
            probes: BTreeMap::new(),
            armed: HashMap::new(),
            probe_names: HashMap::new(),
            exit_status: None,
            dirty: true,
            quit: false,
            failure: None,
            farewell: Vec::new(),
        }
    }

    /// Adds an extension (its tab becomes key 8, then 9).
    pub fn add_extension(&mut self, e: Box<dyn Extension>) {
        if e.placement() == Placement::Tab {
            self.state.extra_tabs.push(e.title());
        }
        self.extensions.push(e);
        self.dirty = true;
    }

    /// Keeps the app from attaching ptrace (another module owns it).
    pub fn disable_control(&mut self, why: &str) {
        let _ = self.control.detach();
        self.control = Control::disabled(self.state.target.pid, why);
        self.state.control.disabled = Some(why.to_string());
    }

    /// Marks threads as held by someone else's controller.
    pub fn set_marks(&mut self, marks: HashMap<u64, Mark>) {
        self.state.control.marks = marks;
        self.dirty = true;
    }

    pub fn theme(&self) -> Theme {
        self.theme
    }

    /// The screen to draw (prepare the state first).
    pub fn screen(&self) -> Screen<'_> {
        let mut s = Screen::new(&self.state, self.theme);
        s.panels = self.extensions.iter().map(|e| &**e as &dyn Panel).collect();
        s
    }

    pub fn quitting(&self) -> bool {
        self.quit
    }

    /// Why the app ended, if an extension failed (`Action::Fail`).
    pub fn take_failure(&mut self) -> Option<String> {
        self.failure.take()
    }

    /// The event loop; returns when the person quits.
    pub fn run<B: Backend>(&mut self, term: &mut Terminal<B>) -> std::io::Result<()> {
        let min_frame = Duration::from_millis(33);
        let mut last_draw = Instant::now() - min_frame;
        while !self.quit {
            if crate::terminal::signalled().is_some() {
                self.quit = true;
                break;
            }
            self.pump();
            if self.dirty && last_draw.elapsed() >= min_frame {
                self.draw(term)?;
                last_draw = Instant::now();
            }
            if event::poll(Duration::from_millis(25))? {
                match event::read()? {
                    TermEvent::Key(k) if k.kind != KeyEventKind::Release => {
                        self.key(k);
                        // Answer keys at once, even within a frame's time.
                        if self.dirty && !self.quit {
                            self.draw(term)?;
                            last_draw = Instant::now();
                        }
                    }
                    TermEvent::Resize(..) => self.dirty = true,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Prepares the state, asks for the stacks it needs, and draws.
    pub fn draw<B: Backend>(&mut self, term: &mut Terminal<B>) -> std::io::Result<()> {
        self.prepare();
        let screen = self.screen();
        term.draw(|f| f.render_widget(&screen, f.area()))?;
        self.dirty = false;
        Ok(())
    }

    /// Recomputes what is stale and sends stack requests.
    pub fn prepare(&mut self) {
        self.state.prepare();
        let wanted = self.state.stacks.take_wanted();
        match &self.symbolizer {
            Some(s) => {
                for (k, st) in wanted {
                    s.send(Req::Stack(k, st));
                }
            }
            // Nobody to ask (offline): say "not symbolized", not "symbolizing".
            None => self.state.stacks.forget_pending(),
        }
    }

    /// A key: extensions first, then the key map.
    pub fn key(&mut self, k: KeyEvent) {
        for i in 0..self.extensions.len() {
            if let Some(actions) = self.extensions[i].on_key(&k, &self.state) {
                for a in actions {
                    self.apply(a);
                }
                self.dirty = true;
                return;
            }
        }
        if let Some(a) = input::map_key(k, self.state.input_mode()) {
            self.apply(a);
        }
    }

    /// Takes in what the sources produced.
    pub fn pump(&mut self) {
        if let Some(s) = &self.sampler {
            let mut latest = None;
            let mut gone = None;
            let mut table_exit = None;
            for m in s.drain() {
                match m {
                    Sample::Snap(s) => latest = Some(s),
                    Sample::Error(e) => {
                        // Newer than any snapshot before it in this batch.
                        latest = None;
                        let e = Some(format!("reading the table: {e}"));
                        if self.state.table_error != e {
                            self.state.table_error = e;
                            self.dirty = true;
                        }
                    }
                    Sample::Gone(e, code) => {
                        gone = Some(e);
                        table_exit = code;
                    }
                }
            }
            if let Some(s) = latest {
                if !self.state.paused {
                    let old = self.state.set_snapshot(*s);
                    if let (Some(old), Some(sampler)) = (old, &self.sampler) {
                        sampler.recycle(old);
                    }
                    self.dirty = true;
                }
            }
            if gone.is_some() {
                self.sampler = None;
                // Let the controller's exit event arrive, if we are attached.
                if self.control.is_attached() && self.exit_status.is_none() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                self.control_events();
                self.target_gone(table_exit);
                self.dirty = true;
            }
        }
        if let Some(sym) = &self.symbolizer {
            for r in sym.drain() {
                match r {
                    Resp::Stacks(v) => {
                        for (k, s) in v {
                            self.state.stacks.insert(k, s);
                        }
                    }
                    Resp::Pc(tid, pc, f) => {
                        if self.state.control.regs.get(&tid).is_some_and(|r| r.0 == pc) {
                            self.state.control.thread_fn.insert(tid, f);
                        }
                    }
                    Resp::Probes(Ok(list)) => {
                        self.probes.clear();
                        for p in list {
                            self.probes.entry(format!("{}:{}", p.provider, p.name)).or_default().push(p);
                        }
                        self.sync_probe_entries();
                    }
                    Resp::Probes(Err(e)) => self.state.probes = Load::Failed(e),
                }
                self.dirty = true;
            }
        }
        self.control_events();
        let mut actions = Vec::new();
        for e in &mut self.extensions {
            actions.extend(e.poll(&self.state));
            if e.dirty() {
                self.dirty = true;
            }
        }
        for a in actions {
            self.apply(a);
        }
    }

    fn control_events(&mut self) {
        let evs = self.control.events();
        if evs.is_empty() {
            return;
        }
        let mut refresh = false;
        for ev in &evs {
            match ev {
                Event::ProbeHit(h) => {
                    let name = format!("{}:{}", h.provider, h.name);
                    if let Load::Ready(list) = &mut self.state.probes {
                        if let Some(p) = list.iter_mut().find(|p| format!("{}:{}", p.provider, p.name) == name) {
                            p.hits += 1;
                        }
                    }
                    let tid = h.tid as u64;
                    let who = self.thread_name(tid);
                    if self.state.control.running_to_probe.remove(&tid) || h.held {
                        self.state.say(format!("{who} {} probe {name}", if h.held { "stopped at" } else { "passed" }));
                    }
                    refresh |= h.held;
                }
                Event::ProcessExited { pid, status } => {
                    self.exit_status = Some(format!("process {pid} {status}"));
                    if self.state.exited.is_some() {
                        self.state.exited = self.exit_status.clone();
                    }
                }
                Event::ThreadStopped { .. }
                | Event::NewThread { .. }
                | Event::ThreadExited { .. }
                | Event::GroupStop { .. } => refresh = true,
                Event::Exec { .. } => {
                    self.armed.clear();
                    self.probe_names.clear();
                    self.sync_probe_entries();
                    self.state.error("the target called execve: its probes and symbols are gone");
                }
                _ => {}
            }
        }
        for e in &mut self.extensions {
            for ev in &evs {
                e.on_event(ev);
            }
        }
        if refresh && self.state.exited.is_none() {
            self.refresh_marks();
        }
        self.dirty = true;
    }

    /// The target is gone: say how it ended, keep the last state.
    fn target_gone(&mut self, table_exit: Option<u32>) {
        let pid = self.state.target.pid;
        let text = if let Some(s) = &self.exit_status {
            s.clone()
        } else if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait()) {
            format!("process {pid} {st}")
        } else if let Some(st) = zombie_status(pid) {
            format!("process {pid} {st}")
        } else if let Some(code) =
            table_exit.or(self.state.snap.header.exiting.then_some(self.state.snap.header.exit_code))
        {
            format!("process {pid} exited with status {code} (from its status table)")
        } else {
            format!("process {pid} exited (status unknown)")
        };
        self.state.exited = Some(text);
        self.state.control.marks.clear();
        self.state.control.running_to_probe.clear();
        self.symbolizer = None;
        self.state.stacks.forget_pending();
    }

    fn thread_name(&self, tid: u64) -> String {
        match self.state.derived.m_by_tid.get(&tid).and_then(|&i| self.state.snap.ms.get(i)) {
            Some(m) => format!("thread {tid} (M{})", crate::fmt::opt(m.id)),
            None => format!("thread {tid}"),
        }
    }

    /// Re-reads which threads the controller holds; fetches the registers
    /// and asks for the function of newly held ones.
    fn refresh_marks(&mut self) {
        let held = match self.control.held() {
            Ok(h) => h,
            Err(e) => {
                self.state.error(e);
                return;
            }
        };
        let c = &mut self.state.control;
        c.attached = self.control.is_attached();
        let mut marks = HashMap::new();
        for (tid, st) in held {
            let m = match st {
                ThreadState::Frozen => Mark::Frozen,
                ThreadState::AtProbe(id) => {
                    Mark::AtProbe(self.probe_names.get(&id).cloned().unwrap_or_else(|| format!("probe #{}", id.0)))
                }
                ThreadState::GroupStopped(_) => Mark::GroupStopped,
                ThreadState::Running | ThreadState::Exited(_) => continue,
            };
            marks.insert(tid as u64, m);
        }
        c.regs.retain(|t, _| marks.contains_key(t));
        c.thread_fn.retain(|t, _| marks.contains_key(t));
        let new: Vec<u64> = marks.keys().filter(|t| !c.regs.contains_key(t)).copied().collect();
        c.marks = marks;
        if let Some(ctl) = self.control.attached() {
            for tid in new {
                if let Ok(r) = ctl.regs(tid as i32) {
                    self.state.control.regs.insert(tid, (r.pc(), r.sp(), r.fp()));
                    if let Some(s) = &self.symbolizer {
                        s.send(Req::Pc(tid, r.pc()));
                    }
                }
            }
        }
        self.dirty = true;
    }

    fn sync_probe_entries(&mut self) {
        let list: Vec<ProbeEntry> = self
            .probes
            .iter()
            .map(|(key, sites)| {
                let (provider, name) = key.split_once(':').unwrap_or(("", key));
                let old_hits = match &self.state.probes {
                    Load::Ready(v) => v.iter().find(|p| p.provider == provider && p.name == name).map_or(0, |p| p.hits),
                    _ => 0,
                };
                ProbeEntry {
                    provider: provider.into(),
                    name: name.into(),
                    sites: sites.len(),
                    armed: self.armed.contains_key(key),
                    hits: old_hits,
                }
            })
            .collect();
        self.state.probes = Load::Ready(list);
    }

    fn load_probes(&mut self) {
        if matches!(self.state.probes, Load::NotLoaded) {
            match &self.symbolizer {
                Some(s) => {
                    s.send(Req::Probes);
                    self.state.probes = Load::Loading;
                }
                None => self.state.probes = Load::Failed("no live target".into()),
            }
        }
    }

    fn show_view(&mut self, v: View) {
        if let View::Extra(i) = v {
            if i as usize >= self.state.extra_tabs.len() {
                return;
            }
        }
        self.state.detail = None;
        self.state.view = v;
        if v == View::Probes {
            self.load_probes();
        }
    }

    fn open_goroutine(&mut self, goid: Option<u64>) {
        match goid {
            Some(id) if self.state.derived.g_by_goid.contains_key(&id) => {
                self.state.detail = Some(id);
                self.state.detail_cursor = Default::default();
            }
            Some(id) => self.state.error(format!("goroutine {id} is not in the current snapshot")),
            None => self.state.say("no goroutine there"),
        }
    }

    fn with_control(&mut self, f: impl FnOnce(&grt_inspector::control::Controller, &App) -> Result<String, String>) {
        if self.state.exited.is_some() {
            self.state.error("the target is gone: nothing to control");
            return;
        }
        let first = !self.control.is_attached();
        let r = match self.control.get() {
            Ok(_) => {
                let ctl = self.control.attached().expect("attached");
                if first {
                    let names: HashMap<i32, String> = self
                        .state
                        .snap
                        .ms
                        .iter()
                        .filter_map(|m| Some((m.tid? as i32, format!("M{} ({})", crate::fmt::opt(m.id), m.role_name))))
                        .collect();
                    let _ = ctl.set_thread_names(names);
                }
                f(ctl, self)
            }
            Err(e) => Err(e),
        };
        self.state.control.attached = self.control.is_attached();
        match r {
            Ok(msg) => self.state.say(msg),
            Err(e) => self.state.error(e),
        }
        if self.control.is_attached() {
            self.refresh_marks();
        }
    }

    fn freeze(&mut self, tid: u64) {
        self.with_control(|c, app| {
            c.freeze(tid as i32).map_err(|e| e.to_string())?;
            Ok(format!("{} frozen", app.thread_name(tid)))
        });
    }

    fn thaw(&mut self, tid: u64) {
        self.with_control(|c, app| {
            c.thaw(tid as i32).map_err(|e| e.to_string())?;
            Ok(format!("{} thawed: it runs again", app.thread_name(tid)))
        });
    }

    fn arm(&mut self, key: &str, on: bool) {
        self.load_probes();
        let Some(sites) = self.probes.get(key).cloned() else {
            self.state.error(match &self.state.probes {
                Load::Ready(_) => format!("the target has no probe {key}"),
                _ => "the probe list is still loading; try again in a moment".to_string(),
            });
            return;
        };
        let was = self.armed.get(key).cloned();
        let mut ids: Vec<ProbeId> = Vec::new();
        self.with_control(|c, _| {
            if on {
                if was.is_some() {
                    return Ok(format!("{key} is armed already"));
                }
                for p in &sites {
                    match c.arm(p.clone(), OnHit::Hold) {
                        Ok(id) => ids.push(id),
                        Err(e) => {
                            for id in ids.drain(..) {
                                let _ = c.disarm(id);
                            }
                            return Err(format!("arming {key}: {e}"));
                        }
                    }
                }
                Ok(format!("{key} armed ({} sites): threads that reach it stop there", sites.len()))
            } else {
                let Some(was) = &was else {
                    return Ok(format!("{key} is not armed"));
                };
                for id in was {
                    c.disarm(*id).map_err(|e| format!("disarming {key}: {e}"))?;
                }
                Ok(format!("{key} disarmed (threads held there stay held: thaw them)"))
            }
        });
        if on && !ids.is_empty() {
            for id in &ids {
                self.probe_names.insert(*id, key.to_string());
            }
            self.armed.insert(key.to_string(), ids);
        } else if !on && self.state.message.as_ref().is_some_and(|m| !m.error) {
            if let Some(old) = self.armed.remove(key) {
                for id in old {
                    self.probe_names.remove(&id);
                }
            }
        }
        self.sync_probe_entries();
    }

    /// Applies one action.
    pub fn apply(&mut self, a: Action) {
        self.dirty = true;
        // Lists must be current before a move or an open picks a row (a
        // no-op when nothing changed).
        self.prepare();
        if !matches!(a, Action::Say(_)) {
            self.state.message = None;
        }
        if self.state.apply(&a) {
            return;
        }
        match a {
            Action::Quit => self.quit = true,
            Action::Fail(why) => {
                self.failure = Some(why);
                self.quit = true;
            }
            Action::Open => match self.state.view {
                View::Probes => {
                    if let Load::Ready(list) = &self.state.probes {
                        if let Some(p) = list.get(self.state.probes_cursor.selected) {
                            let key = format!("{}:{}", p.provider, p.name);
                            let on = !p.armed;
                            self.arm(&key, on);
                        }
                    }
                }
                _ => {
                    let g = self.state.selected_goid();
                    self.open_goroutine(g);
                }
            },
            Action::OpenGoroutine(id) => self.open_goroutine(Some(id)),
            Action::NextView | Action::PrevView => {
                let tabs = self.state.tabs();
                let i = tabs.iter().position(|&v| v == self.state.view).unwrap_or(0);
                let n = tabs.len();
                let j = if a == Action::NextView { (i + 1) % n } else { (i + n - 1) % n };
                self.show_view(tabs[j]);
            }
            Action::ShowView(v) => self.show_view(v),
            // What only changes the screen was applied by the state above.
            Action::Help
            | Action::Back
            | Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Home
            | Action::End
            | Action::StartFilter
            | Action::FilterChar(_)
            | Action::FilterBackspace
            | Action::FilterApply
            | Action::FilterCancel
            | Action::SortNext
            | Action::SortReverse
            | Action::ToggleGroup
            | Action::TogglePause => {}
            Action::FreezeSelected | Action::ThawSelected | Action::RunToProbe => match self.state.selected_tid() {
                Err(e) => self.state.error(e),
                Ok(tid) => match a {
                    Action::FreezeSelected => self.freeze(tid),
                    Action::ThawSelected => self.thaw(tid),
                    _ => self.run_to_probe(tid),
                },
            },
            Action::Freeze(tid) => self.freeze(tid as u64),
            Action::Thaw(tid) => self.thaw(tid as u64),
            Action::FreezeAll => self.with_control(|c, _| {
                c.freeze_all().map_err(|e| e.to_string())?;
                Ok("every thread frozen (T thaws them)".into())
            }),
            Action::ThawAll => self.with_control(|c, _| {
                c.thaw_all().map_err(|e| e.to_string())?;
                Ok("every thread thawed".into())
            }),
            Action::Arm(name) => {
                let key = if name.contains(':') { name } else { format!("grt:{name}") };
                self.arm(&key, true)
            }
            Action::Disarm(name) => {
                let key = if name.contains(':') { name } else { format!("grt:{name}") };
                self.arm(&key, false)
            }
            Action::Dump => self.dump(),
            Action::Say(m) => self.state.say(m),
            Action::SetMarks(m) => self.set_marks(m),
        }
    }

    fn run_to_probe(&mut self, tid: u64) {
        if self.armed.is_empty() {
            self.state.error("no probe is armed: arm one in the Probes view (7, Enter) first");
            return;
        }
        let held = self.state.control.marks.contains_key(&tid);
        self.state.control.running_to_probe.insert(tid);
        self.with_control(|c, app| {
            if held {
                c.thaw(tid as i32).map_err(|e| e.to_string())?;
            }
            Ok(format!("{} runs to the next armed probe", app.thread_name(tid)))
        });
    }

    /// Writes a dump in Go's format to a file and says where.
    fn dump(&mut self) {
        let pid = self.state.target.pid;
        if self.state.exited.is_some() {
            self.state.error("the target is gone: nothing to dump");
            return;
        }
        let opts = DumpOptions { freeze: true, threads: true, level: 1 };
        let d = match self.control.attached() {
            // Our session holds ptrace, so `dump::capture` cannot attach:
            // the dump goes through it, and threads already held stay held.
            Some(ctl) => {
                let held: HashSet<i32> = self.control.held().unwrap_or_default().into_iter().map(|(t, _)| t).collect();
                dump::capture_attached(ctl, &held, opts)
            }
            None => dump::capture(pid, opts),
        }
        .map_err(|e| e.to_string());
        let d = match d {
            Ok(d) => d,
            Err(e) => return self.state.error(format!("dump failed: {e}")),
        };
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let name = format!("grt-dump-{pid}-{stamp}.txt");
        let text = d.to_text();
        let mut written = None;
        for dir in [std::env::current_dir().ok(), Some(std::env::temp_dir())].into_iter().flatten() {
            let path = dir.join(&name);
            if std::fs::write(&path, &text).is_ok() {
                written = Some(path);
                break;
            }
        }
        match written {
            Some(p) => self.state.say(format!(
                "dump written to {} ({} goroutines, target paused {:.1} ms)",
                p.display(),
                d.goroutines.len(),
                d.pause_us.unwrap_or(0) as f64 / 1000.0
            )),
            None => self.state.error(format!("cannot write {name} in the current or temp directory")),
        }
        if self.control.is_attached() {
            self.refresh_marks();
        }
    }

    /// Detaches (restoring every probe byte; held threads run again) and
    /// stops the target if we started it. Returns what to tell the person.
    pub fn shutdown(&mut self) -> Vec<String> {
        let mut out = std::mem::take(&mut self.farewell);
        let pid = self.state.target.pid;
        self.sampler = None;
        self.symbolizer = None;
        let was = self.control.is_attached();
        match self.control.detach() {
            // A target that is gone has no probes or threads to give back.
            Ok(()) if was && self.state.exited.is_some() => {}
            Ok(()) if was => out.push(format!("detached from process {pid}: probes restored, every thread runs")),
            Ok(()) => {}
            Err(_) if self.state.exited.is_some() => {}
            Err(e) => out.push(e),
        }
        if let Some(mut c) = self.child.take() {
            c.stop();
            out.push(format!("stopped the demo (pid {}); its output is in {}", c.pid, c.log.display()));
        } else if let Some(how) = &self.state.exited {
            out.push(format!("{how}; nothing to restore"));
        } else if !self.state.target.ours {
            out.push(format!("process {pid} keeps running"));
        }
        out
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // Detach and stop our child on every path (errors, panics).
        let _ = self.control.detach();
        if let Some(mut c) = self.child.take() {
            c.stop();
        }
    }
}

/// The exit status of a process that is a zombie (its parent has not
/// reaped it yet): field 52 of /proc/<pid>/stat, a waitpid status word.
fn zombie_status(pid: i32) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state).
    if f.first() != Some(&"Z") {
        return None;
    }
    let w: i32 = f.get(52 - 3)?.parse().ok()?;
    Some(grt_inspector::control::ExitStatus::from_wait(w).to_string())
}
