//! The race engine: runs a race script against a live target, one step at
//! a time, and observes the outcome.
//!
//! The engine starts the target (with `GRT_BUGS=<bug>` for the buggy
//! variant), waits for its status table, checks every probe the script
//! names against the target's SDT notes, and seizes its threads
//! (`control::Controller`). Threads run freely unless the script holds
//! them. A `run ... to <probe>` arms the probe (threads that reach it stop),
//! resumes hits that do not match the step's conditions at once, keeps the
//! first match stopped (it becomes the named actor) and disarms the probe.
//! Between steps, actors stay frozen where the script left them.
//!
//! Expectations are observed, never assumed: a throw is the target's own
//! exit status and `fatal error:` text on its stderr; a probe expectation is
//! a hit by that actor; `numgc +n` is the table's counter. The engine's
//! report quotes what the runtime did. Every wait has a time limit; when it
//! passes, the run ends with a message naming the step and line, and the
//! target is killed: no process is left behind.

use super::script::{Action, Cond, Expect, Located, Script, TableCond, Value, Variant, Who};
use super::table;
use crate::control::{Controller, Event, ExitStatus, OnHit, ProbeId};
use crate::find;
use crate::snapshot::Snapshot;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a run could not go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineError(pub String);

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EngineError {}

/// `GRT_RACE_TRACE=1` logs every event the engine handles to stderr.
fn trace_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("GRT_RACE_TRACE").is_some())
}

macro_rules! trace {
    ($($a:tt)*) => {
        if trace_on() {
            eprintln!("[race] {}", format!($($a)*));
        }
    };
}

fn err<T>(msg: impl Into<String>) -> Result<T, EngineError> {
    Err(EngineError(msg.into()))
}

/// What happened in one step.
#[derive(Serialize, Clone, Debug)]
pub struct StepRecord {
    pub index: usize,
    pub title: String,
    pub narration: String,
    /// What the engine did and saw, one line each.
    pub events: Vec<String>,
    /// Scheduler state after the step, from the table.
    pub state: Vec<String>,
}

/// One expectation, checked.
#[derive(Serialize, Clone, Debug)]
pub struct Checked {
    pub expectation: String,
    pub met: bool,
    /// What the runtime did, quoted.
    pub observed: String,
}

/// The end of a run.
#[derive(Serialize, Clone, Debug)]
pub struct Outcome {
    pub variant: Variant,
    pub met: bool,
    pub checks: Vec<Checked>,
    /// The target's exit status, if it exited.
    pub exit: Option<String>,
}

/// The whole run, for `--transcript`.
#[derive(Serialize, Clone, Debug)]
pub struct Transcript {
    pub race: String,
    pub title: String,
    pub seed: String,
    pub variant: Variant,
    pub pid: i32,
    pub steps: Vec<StepRecord>,
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
    pub stdout_tail: String,
    pub stderr_tail: String,
}

/// Output of the target, collected by reader threads.
#[derive(Default)]
struct Output {
    stdout: String,
    stderr: String,
}

fn collect(mut r: impl Read + Send + 'static, out: Arc<Mutex<Output>>, err: bool) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let s = String::from_utf8_lossy(&buf[..n]);
                    let mut o = out.lock().unwrap();
                    let dst = if err { &mut o.stderr } else { &mut o.stdout };
                    dst.push_str(&s);
                    // Keep the tail bounded.
                    if dst.len() > 1 << 20 {
                        let cut = dst.len() - (1 << 19);
                        let cut = (cut..dst.len()).find(|&i| dst.is_char_boundary(i)).unwrap_or(cut);
                        dst.drain(..cut);
                    }
                }
            }
        }
    });
}

/// A running race.
pub struct Engine {
    pub script: Script,
    pub variant: Variant,
    pid: i32,
    child: Option<Child>,
    ctl: Option<Controller>,
    output: Arc<Mutex<Output>>,
    actors: HashMap<String, i32>,
    vars: HashMap<String, u64>,
    /// Threads the script holds (frozen or stopped at a probe).
    held: HashSet<i32>,
    next: usize,
    steps: Vec<StepRecord>,
    exit: Option<ExitStatus>,
    /// Hits of expectation probes seen while the last steps ran: (probe, tid).
    expect_hits: Vec<(String, i32)>,
    expect_probes: Vec<ProbeId>,
    numgc_at_end: Option<u64>,
    names: HashMap<i32, String>,
    /// Probes armed (Hold) by name: the current step's and the next one's.
    armed: HashMap<String, Vec<ProbeId>>,
    /// Held hits of later steps' probes, oldest first: a step takes them
    /// before waiting (see `queue_ahead`).
    pending: Vec<crate::control::ProbeHit>,
    /// Per step k: the variables step k-1 would have saved from recent
    /// instances of its probe that did not match it. A hit for step k that
    /// matches its conditions under one of these belongs to such a stale
    /// instance and is released.
    stale: HashMap<usize, Vec<HashMap<String, u64>>>,
    /// `hold` rules in force: (probe, conditions with values resolved).
    holds: Vec<(String, Vec<(usize, u64)>)>,
    /// Threads held by a `hold` rule.
    hold_held: HashSet<i32>,
    /// Events read while settling a stale instance, to handle next.
    deferred: std::collections::VecDeque<Event>,
}

impl Engine {
    /// Starts `binary` as the script's target and attaches to it.
    pub fn launch(script: Script, variant: Variant, binary: &Path) -> Result<Engine, EngineError> {
        let mut cmd = Command::new(binary);
        cmd.args(&script.args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.env_remove("GRT_BUGS");
        for (k, v) in &script.env {
            cmd.env(k, v);
        }
        if variant == Variant::Buggy {
            cmd.env("GRT_BUGS", &script.bug);
        }
        let mut child = cmd.spawn().map_err(|e| {
            EngineError(format!(
                "{}:{}: cannot start target {}: {e}",
                script.file,
                script.target_line,
                binary.display()
            ))
        })?;
        let output = Arc::new(Mutex::new(Output::default()));
        collect(child.stdout.take().unwrap(), output.clone(), false);
        collect(child.stderr.take().unwrap(), output.clone(), true);
        let pid = child.id() as i32;
        let mut e = Engine {
            script,
            variant,
            pid,
            child: Some(child),
            ctl: None,
            output,
            actors: HashMap::new(),
            vars: HashMap::new(),
            held: HashSet::new(),
            next: 0,
            steps: Vec::new(),
            exit: None,
            expect_hits: Vec::new(),
            expect_probes: Vec::new(),
            numgc_at_end: None,
            names: HashMap::new(),
            armed: HashMap::new(),
            pending: Vec::new(),
            stale: HashMap::new(),
            holds: Vec::new(),
            hold_held: HashSet::new(),
            deferred: Default::default(),
        };
        e.wait_ready()?;
        e.check_probes()?;
        e.check_fields()?;
        let ctl = Controller::attach(pid).map_err(|x| EngineError(format!("cannot control the target: {x}")))?;
        e.ctl = Some(ctl);
        e.name_threads();
        Ok(e)
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Steps run so far.
    pub fn steps(&self) -> &[StepRecord] {
        &self.steps
    }

    /// The threads the script holds, each with the actor name(s) it has.
    pub fn held_threads(&self) -> Vec<(i32, String)> {
        let mut v: Vec<(i32, String)> = self
            .held
            .iter()
            .chain(self.hold_held.iter())
            .map(|&t| {
                let mut names: Vec<&str> =
                    self.actors.iter().filter(|(_, &x)| x == t).map(|(a, _)| a.as_str()).collect();
                names.sort_unstable();
                let label = if names.is_empty() { "held".to_string() } else { names.join(",") };
                (t, label)
            })
            .collect();
        v.sort();
        v.dedup_by_key(|(t, _)| *t);
        v
    }

    /// Index of the next step (== number of steps when all have run).
    pub fn next_step(&self) -> usize {
        self.next
    }

    pub fn done(&self) -> bool {
        self.next >= self.script.steps.len()
    }

    /// The next event: one deferred by `settle` first, then the controller's.
    fn next_event(&mut self, timeout: Duration) -> Option<Event> {
        match self.deferred.pop_front() {
            Some(ev) => Some(ev),
            None => self.ctl().next_event(timeout),
        }
    }

    fn ctl(&self) -> &Controller {
        self.ctl.as_ref().expect("controller")
    }

    fn wait_ready(&mut self) -> Result<(), EngineError> {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let e = self.output.lock().unwrap().stderr.clone();
                return err(format!(
                    "{}:{}: target {} exited ({st}) before its runtime started: {}",
                    self.script.file,
                    self.script.target_line,
                    self.script.target,
                    e.lines().last().unwrap_or("")
                ));
            }
            if let Ok(src) = find::open_table(self.pid) {
                if src.snapshot(false).is_ok_and(|s| s.header.ready && !s.ms.is_empty()) {
                    return Ok(());
                }
            }
            if t.elapsed() > self.script.timeout {
                return err(format!(
                    "{}:{}: target {} did not start a grt runtime within {:?}",
                    self.script.file, self.script.target_line, self.script.target, self.script.timeout
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn check_probes(&self) -> Result<(), EngineError> {
        let syms = grt_symbols::ProcessSymbols::load(self.pid)
            .map_err(|e| EngineError(format!("cannot read the target's probes: {e}")))?;
        let probes = syms.probes().map_err(|e| EngineError(format!("cannot read the target's probes: {e}")))?;
        let mut known: Vec<&str> = probes.iter().filter(|p| p.provider == "grt").map(|p| p.name.as_str()).collect();
        known.sort_unstable();
        known.dedup();
        for (line, name) in self.script.probes() {
            if !known.contains(&name) {
                return err(format!(
                    "{}:{}: unknown probe {name:?}: the target has no such probe (it has: {})",
                    self.script.file,
                    line,
                    known.join(" ")
                ));
            }
        }
        Ok(())
    }

    /// Every table condition of the script names a field the target's
    /// table has (and value names it gives that field).
    fn check_fields(&self) -> Result<(), EngineError> {
        let conds: Vec<(usize, &TableCond)> = self
            .script
            .steps
            .iter()
            .flat_map(|s| s.actions.iter())
            .filter_map(|a| match &a.item {
                Action::Wait(cs) => Some(cs.iter().map(move |c| (a.line, c))),
                _ => None,
            })
            .flatten()
            .collect();
        if conds.is_empty() {
            return Ok(());
        }
        let img = self.image().map_err(|e| EngineError(format!("cannot read the target's table: {e}")))?;
        for (line, c) in conds {
            table::check(&img.layout, c).map_err(|m| EngineError(format!("{}:{line}: {m}", self.script.file)))?;
        }
        Ok(())
    }

    /// The target's table, copied now (not frozen: a live read).
    fn image(&self) -> Result<grt_table::view::Image, String> {
        find::open_table(self.pid).and_then(|s| s.load_image(1 << 28)).map_err(|e| e.to_string())
    }

    fn snapshot(&self) -> Option<Snapshot> {
        find::open_table(self.pid).ok()?.snapshot(false).ok()
    }

    /// Names threads by their M and role, for events and the controller.
    fn name_threads(&mut self) {
        if let Some(s) = self.snapshot() {
            for m in &s.ms {
                if let (Some(tid), Some(id)) = (m.tid, m.id) {
                    if tid != 0 {
                        self.names.insert(tid as i32, format!("M{id} {}", m.role_name));
                    }
                }
            }
        }
        let _ = self.ctl().set_thread_names(self.names.clone());
    }

    fn thread_name(&self, tid: i32) -> String {
        match self.names.get(&tid) {
            Some(n) => format!("thread {tid} ({n})"),
            None => format!("thread {tid}"),
        }
    }

    fn actor_tid(&mut self, a: &str, line: usize) -> Result<i32, EngineError> {
        if let Some(&t) = self.actors.get(a) {
            return Ok(t);
        }
        if a == "sysmon" {
            // The runtime writes sysmon's M record before the thread has
            // started and stored its tid: wait for the tid.
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                let tid =
                    self.snapshot().and_then(|s| s.ms.iter().find(|m| m.role_name == "sysmon").and_then(|m| m.tid));
                if let Some(t) = tid.filter(|&t| t != 0) {
                    self.actors.insert(a.to_string(), t as i32);
                    return Ok(t as i32);
                }
                if Instant::now() >= deadline {
                    return err(format!("{}:{line}: the target has no sysmon thread", self.script.file));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        err(format!("{}:{line}: actor {a:?} has no thread yet", self.script.file))
    }

    fn value(&self, v: &Value) -> Option<u64> {
        match v {
            Value::Int(n) => Some(*n),
            Value::Var(name) => self.vars.get(name).copied(),
        }
    }

    fn matches(&self, conds: &[Cond], args: &[u64]) -> bool {
        conds.iter().all(|c| args.get(c.arg).copied() == self.value(&c.value))
    }

    fn on_exit(&mut self, status: ExitStatus) {
        self.exit = Some(status);
    }

    /// Handles an event that is not the one a step waits for.
    fn side_event(&mut self, ev: Event, log: &mut Vec<String>) {
        match ev {
            Event::ProbeHit(h) => {
                if self.take_by_hold(&h) {
                    return;
                }
                if self.expect_probes.contains(&h.probe) {
                    self.expect_hits.push((h.name.clone(), h.tid));
                    log.push(format!("{} reached probe {} (expected)", self.thread_name(h.tid), h.name));
                }
                if h.held && self.ahead_step_of(&h.name).is_some() {
                    let _ = self.queue_ahead(h, 0); // waits for a later step
                } else if h.held && !self.held.contains(&h.tid) {
                    let _ = self.ctl().thaw(h.tid);
                }
            }
            Event::ProcessExited { status, .. } => {
                log.push(format!("the target exited: {status}"));
                self.on_exit(status);
            }
            Event::NewThread { tid, .. } => {
                self.name_threads();
                let _ = tid;
            }
            _ => {}
        }
    }

    /// Runs the next step. Returns its record.
    pub fn step(&mut self) -> Result<StepRecord, EngineError> {
        let i = self.next;
        let Some(step) = self.script.steps.get(i).cloned() else {
            return err("no more steps");
        };
        let last = i + 1 == self.script.steps.len();
        let mut log = Vec::new();
        if last {
            self.arm_expectations(&mut log)?;
        }
        // Arm every probe this step waits on before any of its actions run
        // (a `thaw x` followed by `run x to p` must not let x pass p unseen),
        // after the look-ahead ones, the furthest first.
        for q in self.lookahead_probes().into_iter().rev() {
            self.arm(&q, step.line)?;
        }
        for a in step.actions.iter().rev() {
            if let Action::Run { probe, .. } = &a.item {
                self.arm(probe, a.line)?;
            }
        }
        for a in &step.actions {
            self.action(a, &mut log)?;
        }
        self.next += 1;
        let rec = StepRecord {
            index: i,
            title: step.title.clone(),
            narration: self.fill(&step.narration),
            events: log,
            state: self.state_lines(),
        };
        self.steps.push(rec.clone());
        Ok(rec)
    }

    fn action(&mut self, a: &Located<Action>, log: &mut Vec<String>) -> Result<(), EngineError> {
        let line = a.line;
        let file = self.script.file.clone();
        match &a.item {
            Action::Freeze(x) => {
                let tid = self.actor_tid(x, line)?;
                self.ctl().freeze(tid).map_err(|e| EngineError(format!("{file}:{line}: freeze {x}: {e}")))?;
                self.held.insert(tid);
                log.push(format!("froze {x}: {}", self.thread_name(tid)));
            }
            Action::Thaw(x) => {
                let tid = self.actor_tid(x, line)?;
                self.ctl().thaw(tid).map_err(|e| EngineError(format!("{file}:{line}: thaw {x}: {e}")))?;
                self.held.remove(&tid);
                log.push(format!("thawed {x}: {}", self.thread_name(tid)));
            }
            Action::ThawAll => {
                self.held.clear();
                self.pending.clear();
                self.holds.clear();
                self.hold_held.clear();
                self.disarm_all();
                self.ctl().thaw_all().map_err(|e| EngineError(format!("{file}:{line}: thaw all: {e}")))?;
                log.push("thawed every thread".into());
            }
            Action::Wait(conds) => {
                let deadline = Instant::now() + self.script.timeout;
                let desc: Vec<String> = conds.iter().map(|c| c.to_string()).collect();
                loop {
                    let img = self.image().map_err(|e| EngineError(format!("{file}:{line}: {e}")))?;
                    let mut last = String::new();
                    let mut all = true;
                    for c in conds {
                        match table::eval(&img, c, &self.vars) {
                            Ok((true, _)) => {}
                            Ok((false, r)) => {
                                all = false;
                                last = format!("{} is {}", c.field, r.left.map_or("?".into(), |v| v.to_string()));
                            }
                            Err(e) => {
                                all = false;
                                last = e;
                            }
                        }
                    }
                    if all {
                        log.push(format!("the table shows {}", desc.join(" and ")));
                        break;
                    }
                    if Instant::now() >= deadline {
                        return err(format!(
                            "{file}:{line}: the table did not show {} within {:?} ({last}); where the threads were:\n{}",
                            desc.join(" and "),
                            self.script.timeout,
                            self.where_threads_are()
                        ));
                    }
                    if let Some(ev) = self.next_event(Duration::from_millis(1)) {
                        self.side_event(ev, log);
                    }
                    if self.exit.is_some() {
                        return err(format!(
                            "{file}:{line}: the target exited while waiting for {}",
                            desc.join(" and ")
                        ));
                    }
                }
            }
            Action::BindRunner { actor, goid } => {
                let goid = self.value(goid).ok_or_else(|| EngineError(format!("{file}:{line}: variable not set")))?;
                let deadline = Instant::now() + self.script.timeout;
                let tid = loop {
                    let img = self.image().map_err(|e| EngineError(format!("{file}:{line}: {e}")))?;
                    if let Some(t) = table::runner_of(&img, goid) {
                        break t as i32;
                    }
                    if Instant::now() >= deadline {
                        return err(format!(
                            "{file}:{line}: no thread ran goroutine {goid} within {:?}",
                            self.script.timeout
                        ));
                    }
                    if let Some(ev) = self.next_event(Duration::from_millis(1)) {
                        self.side_event(ev, log);
                    }
                };
                self.actors.insert(actor.clone(), tid);
                self.name_threads();
                log.push(format!("actor {actor} is {}, running goroutine {goid}", self.thread_name(tid)));
            }
            Action::Hold { probe, conds } => {
                let mut resolved = Vec::new();
                for c in conds {
                    let v =
                        self.value(&c.value).ok_or_else(|| EngineError(format!("{file}:{line}: variable not set")))?;
                    resolved.push((c.arg, v));
                }
                self.arm(probe, line)?;
                let desc: Vec<String> = resolved.iter().map(|(a, v)| format!("arg{a} == {v}")).collect();
                log.push(format!(
                    "holding every thread that reaches probe {probe}{}",
                    if desc.is_empty() { String::new() } else { format!(" with {}", desc.join(" and ")) }
                ));
                self.holds.push((probe.clone(), resolved));
            }
            Action::Pause(d) => {
                let end = Instant::now() + *d;
                while let Some(left) = end.checked_duration_since(Instant::now()) {
                    if let Some(ev) = self.next_event(left) {
                        self.side_event(ev, log);
                    }
                }
            }
            Action::Run { who, probe, conds, actor, saves } => {
                // Look ahead: arm the probes of the next steps that any thread
                // may satisfy, so a thread reaching one right after this
                // step's match (microseconds later, before the engine could
                // react) is held there; see `queue_ahead`. The furthest first:
                // a probe is never armed while the ones after it are not.
                for q in self.lookahead_probes().into_iter().rev() {
                    self.arm(&q, line)?;
                }
                self.arm(probe, line)?;
                let only = match who {
                    Who::Any => None,
                    Who::Actor(x) => {
                        let tid = self.actor_tid(x, line)?;
                        if self.held.remove(&tid) {
                            self.pending.retain(|h| h.tid != tid);
                            self.ctl().thaw(tid).map_err(|e| EngineError(format!("{file}:{line}: thaw {x}: {e}")))?;
                        }
                        Some(tid)
                    }
                };
                let fits = |e: &Engine, h: &crate::control::ProbeHit| {
                    h.name == *probe && only.is_none_or(|t| t == h.tid) && e.matches(conds, &h.args)
                };
                // A hit queued earlier, while previous steps ran?
                let mut hit = None;
                if let Some(i) = self.pending.iter().position(|h| fits(self, h)) {
                    hit = Some(self.pending.remove(i));
                    trace!("step {} takes queued {probe} tid {}", self.next + 1, hit.as_ref().unwrap().tid);
                }
                // Queued hits of this probe that do not fit are released.
                let stale: Vec<i32> = self.pending.iter().filter(|h| h.name == *probe).map(|h| h.tid).collect();
                self.pending.retain(|h| h.name != *probe);
                for t in stale {
                    let _ = self.ctl().thaw(t);
                }
                let deadline = Instant::now() + self.script.timeout;
                // Liveness: a hit queued for a later step may hold a thread
                // that holds what this step's thread needs (a lock). Those
                // hits are optional (another instance will come), so after a
                // while without this step matching they are let go.
                let mut valve = Instant::now() + Self::PENDING_PATIENCE;
                let hit = match hit {
                    Some(h) => h,
                    None => {
                        loop {
                            if Instant::now() >= valve && !self.pending.is_empty() {
                                for h in std::mem::take(&mut self.pending) {
                                    trace!(
                                        "release queued {} tid {} args {:?} (this step is stuck; they may block it)",
                                        h.name,
                                        h.tid,
                                        h.args
                                    );
                                    let _ = self.ctl().thaw(h.tid);
                                }
                                valve = Instant::now() + Self::PENDING_PATIENCE;
                            }
                            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                                let who = match who {
                                    Who::Any => "no thread".to_string(),
                                    Who::Actor(x) => format!("actor {x}"),
                                };
                                let mut threads = self.where_threads_are();
                                let stderr = self.output.lock().unwrap().stderr.clone();
                                if !stderr.trim().is_empty() {
                                    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
                                    threads.push_str("the target's stderr ends:\n");
                                    for l in tail.into_iter().rev() {
                                        threads.push_str(&format!("  {l}\n"));
                                    }
                                }
                                let state: String = self.state_lines().iter().map(|l| format!("  {l}\n")).collect();
                                return err(format!(
                                "{file}:{line}: {who} reached probe {probe}{} within {:?}; where the threads were:\n{threads}and the scheduler:\n{state}",
                                if conds.is_empty() { "" } else { " with the step's conditions" },
                                self.script.timeout,
                            ));
                            };
                            let ev = self.next_event(left.min(Duration::from_millis(50)));
                            if let Some(Event::ProbeHit(h)) = &ev {
                                trace!(
                                    "step {} wants {probe}: hit {} tid {} args {:?} pending {}",
                                    self.next + 1,
                                    h.name,
                                    h.tid,
                                    h.args,
                                    self.pending.len()
                                );
                            }
                            match ev {
                                Some(Event::ProbeHit(h)) if self.is_armed(&h.name) => {
                                    if fits(self, &h) {
                                        break h;
                                    }
                                    if self.take_by_hold(&h) {
                                        continue;
                                    }
                                    if h.name == *probe {
                                        // Another instance of this step's probe went
                                        // by: hits of the next step from that
                                        // instance are stale.
                                        self.note_stale(self.next, &h);
                                        if h.held {
                                            self.settle(&h, line)?;
                                        }
                                    } else if h.held && self.ahead_step_of(&h.name).is_some() {
                                        // A later step's probe, reached before this
                                        // step matched: ptrace may report stops out of
                                        // order, so keep it until the steps before it
                                        // have matched and its conditions can tell.
                                        self.queue_ahead(h, line)?;
                                        continue;
                                    }
                                    if h.held && !self.held.contains(&h.tid) {
                                        let _ = self.ctl().thaw(h.tid);
                                    }
                                }
                                Some(Event::ProcessExited { status, .. }) => {
                                    self.on_exit(status);
                                    let stderr = self.output.lock().unwrap().stderr.clone();
                                    return err(format!(
                                    "{file}:{line}: the target exited ({status}) while waiting for probe {probe}: {}",
                                    stderr.lines().find(|l| l.starts_with("fatal error") || l.starts_with("panic")).unwrap_or("")
                                ));
                                }
                                Some(ev) => self.side_event(ev, log),
                                None => {}
                            }
                        }
                    }
                };
                self.held.insert(hit.tid);
                if let Some(x) = actor {
                    self.actors.insert(x.clone(), hit.tid);
                }
                for (v, arg) in saves {
                    if let Some(&val) = hit.args.get(*arg) {
                        self.vars.insert(v.clone(), val);
                    }
                }
                // Now that this step's variables are known, release queued
                // hits that cannot satisfy the next step.
                self.prune_pending();
                // This step's probe is done unless a later step waits on it too.
                if self.ahead_step_of(probe).is_none() {
                    self.disarm(probe);
                }
                // Collect what raced with the match.
                while let Some(ev) = self.next_event(Duration::from_millis(2)) {
                    match ev {
                        Event::ProbeHit(h)
                            if h.held
                                && self.ahead_step_of(&h.name).is_some()
                                && !self.holds.iter().any(|(p, _)| *p == h.name) =>
                        {
                            self.queue_ahead(h, line)?
                        }
                        ev => self.side_event(ev, log),
                    }
                }
                let args: Vec<String> = hit.args.iter().map(|a| a.to_string()).collect();
                log.push(format!(
                    "{} stopped at probe {} (args {}){}",
                    self.thread_name(hit.tid),
                    probe,
                    args.join(", "),
                    actor.as_ref().map(|a| format!(": actor {a}")).unwrap_or_default()
                ));
            }
        }
        Ok(())
    }

    /// Whether a held hit falls under a `hold` rule; if so, keeps it held.
    fn take_by_hold(&mut self, h: &crate::control::ProbeHit) -> bool {
        let hit =
            self.holds.iter().any(|(p, conds)| *p == h.name && conds.iter().all(|(a, v)| h.args.get(*a) == Some(v)));
        if hit && h.held {
            trace!("hold {} tid {} args {:?} (hold rule)", h.name, h.tid, h.args);
            self.hold_held.insert(h.tid);
        }
        hit && h.held
    }

    /// The first `run` of step `k`.
    fn first_run(&self, k: usize) -> Option<(String, Vec<Cond>)> {
        self.script.steps.get(k)?.actions.iter().find_map(|a| match &a.item {
            Action::Run { probe, conds, .. } => Some((probe.clone(), conds.clone())),
            _ => None,
        })
    }

    /// How many steps ahead the engine arms `run any` probes.
    const LOOKAHEAD: usize = 2;

    /// The first run of step `k` if any thread may satisfy it (`run any`).
    fn first_any_run(&self, k: usize) -> Option<(String, Vec<Cond>)> {
        self.script.steps.get(k)?.actions.iter().find_map(|a| match &a.item {
            Action::Run { who: Who::Any, probe, conds, .. } => Some((probe.clone(), conds.clone())),
            _ => None,
        })
    }

    /// Probes to arm ahead: the `run any` probes of the next LOOKAHEAD
    /// steps, while the current step itself waits for any thread. While it
    /// waits for a named actor, nothing is held ahead: the actor must be
    /// free to progress, and a thread held ahead could hold a lock it needs.
    fn lookahead_probes(&self) -> Vec<String> {
        if self.first_any_run(self.next).is_none() {
            return Vec::new();
        }
        (self.next + 1..=self.next + Self::LOOKAHEAD).filter_map(|k| self.first_any_run(k).map(|(p, _)| p)).collect()
    }

    /// The later step (within the look-ahead) whose `run any` waits on
    /// `probe`, if that probe is armed.
    fn ahead_step_of(&self, probe: &str) -> Option<usize> {
        if !self.is_armed(probe) || self.first_any_run(self.next).is_none() {
            return None;
        }
        (self.next + 1..=self.next + Self::LOOKAHEAD).find(|&k| self.first_any_run(k).is_some_and(|(p, _)| p == probe))
    }

    /// Most hits queued for later steps; older ones are released.
    const MAX_PENDING: usize = 16;

    /// How long a non-matching instance of a step's probe stays held so
    /// that later steps' hits from it can be let go first (see `settle`).
    const SETTLE: Duration = Duration::from_millis(1);

    /// `h` is an instance of the current step's probe that does not match.
    /// Threads that raced ahead into later steps' probes because of it
    /// (look-ahead hits of the same instance) are stale and get released;
    /// releasing them only after `h`'s thread has run on would have delayed
    /// them behind it, which is itself an interleaving the script did not
    /// ask for (in foreachp-stopwait: a thread entering sched.lock late, the
    /// very bug). So `h`'s thread stays where it is for a moment while such
    /// hits are collected and released; other events wait their turn.
    fn settle(&mut self, h: &crate::control::ProbeHit, line: usize) -> Result<(), EngineError> {
        if self.lookahead_probes().is_empty() {
            return Ok(());
        }
        let end = Instant::now() + Self::SETTLE;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let Some(ev) = self.ctl().next_event(left) else {
                break;
            };
            match ev {
                Event::ProbeHit(h2)
                    if h2.tid != h.tid && h2.held && h2.name != h.name && self.ahead_step_of(&h2.name).is_some() =>
                {
                    self.queue_ahead(h2, line)?
                }
                ev => self.deferred.push_back(ev),
            }
        }
        Ok(())
    }

    /// How long a step may wait without matching before the hits queued for
    /// later steps are released (see the liveness note in `Run`).
    const PENDING_PATIENCE: Duration = Duration::from_millis(300);

    /// Queues a held hit for the later step that waits on its probe, unless
    /// it cannot match that step.
    fn queue_ahead(&mut self, h: crate::control::ProbeHit, line: usize) -> Result<(), EngineError> {
        let _ = line;
        let Some(k) = self.ahead_step_of(&h.name) else {
            let _ = self.ctl().thaw(h.tid);
            return Ok(());
        };
        let conds = self.first_any_run(k).map(|(_, c)| c).unwrap_or_default();
        // It must pass its step's conditions that are known already, and
        // must not be from a stale instance of the step before.
        let known: Vec<Cond> = conds.iter().filter(|c| self.value(&c.value).is_some()).cloned().collect();
        if !self.matches(&known, &h.args) {
            trace!("release {} tid {} args {:?} (cannot match its step)", h.name, h.tid, h.args);
            self.note_stale(k, &h);
            let _ = self.ctl().thaw(h.tid);
            return Ok(());
        }
        if self.is_stale(k, &conds, &h.args) {
            trace!("release {} tid {} args {:?} (from a stale instance)", h.name, h.tid, h.args);
            let _ = self.ctl().thaw(h.tid);
            return Ok(());
        }
        trace!("queue {} tid {} args {:?} for step {}", h.name, h.tid, h.args, k + 1);
        self.pending.push(h);
        if self.pending.len() > Self::MAX_PENDING {
            let old = self.pending.remove(0);
            let _ = self.ctl().thaw(old.tid);
        }
        Ok(())
    }

    /// Whether `args` match step k's conditions on the variables of a stale
    /// instance of step k-1 (only conditions that use such variables count).
    fn is_stale(&self, k: usize, conds: &[Cond], args: &[u64]) -> bool {
        let Some(sets) = self.stale.get(&k) else {
            return false;
        };
        sets.iter().any(|vars| {
            let mut uses = false;
            let ok = conds.iter().all(|c| match &c.value {
                Value::Var(v) => match vars.get(v) {
                    Some(&x) => {
                        uses = true;
                        args.get(c.arg) == Some(&x)
                    }
                    None => true,
                },
                Value::Int(n) => args.get(c.arg) == Some(n),
            });
            uses && ok
        })
    }

    /// A hit of step j's probe that does not match step j: remember the
    /// variables step j would have saved from it (they identify a stale
    /// instance for step j+1) and release queued hits of step j+1 from it.
    fn note_stale(&mut self, j: usize, h: &crate::control::ProbeHit) {
        let saves: Vec<(String, usize)> = self
            .script
            .steps
            .get(j)
            .and_then(|st| {
                st.actions.iter().find_map(|a| match &a.item {
                    Action::Run { saves, .. } => Some(saves.clone()),
                    _ => None,
                })
            })
            .unwrap_or_default();
        if saves.is_empty() {
            return;
        }
        let vars: HashMap<String, u64> =
            saves.iter().filter_map(|(v, a)| Some((v.clone(), *h.args.get(*a)?))).collect();
        let sets = self.stale.entry(j + 1).or_default();
        sets.push(vars);
        if sets.len() > 8 {
            sets.remove(0);
        }
        let Some((probe, conds)) = self.first_any_run(j + 1) else {
            return;
        };
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.name == probe && self.is_stale(j + 1, &conds, &p.args));
        self.pending = keep;
        for p in gone {
            trace!("release queued {} tid {} args {:?} (from a stale instance)", p.name, p.tid, p.args);
            let _ = self.ctl().thaw(p.tid);
        }
    }

    /// Releases queued hits that the next step's conditions rule out (only
    /// conditions whose values are known now are applied).
    fn prune_pending(&mut self) {
        let Some((probe, conds)) = self.first_run(self.next + 1) else {
            return;
        };
        let known: Vec<Cond> = conds.into_iter().filter(|c| self.value(&c.value).is_some()).collect();
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|h| h.name == probe && !self.matches(&known, &h.args));
        self.pending = keep;
        for h in gone {
            trace!("release queued {} tid {} args {:?} (cannot match the next step)", h.name, h.tid, h.args);
            let _ = self.ctl().thaw(h.tid);
        }
    }

    fn is_armed(&self, name: &str) -> bool {
        self.armed.contains_key(name)
    }

    fn arm(&mut self, probe: &str, line: usize) -> Result<(), EngineError> {
        if self.armed.contains_key(probe) {
            return Ok(());
        }
        let ids = self
            .ctl()
            .arm_named(probe, OnHit::Hold)
            .map_err(|e| EngineError(format!("{}:{line}: arm probe {probe}: {e}", self.script.file)))?;
        self.armed.insert(probe.to_string(), ids);
        Ok(())
    }

    fn disarm(&mut self, probe: &str) {
        if self.holds.iter().any(|(p, _)| p == probe) {
            return;
        }
        if let Some(ids) = self.armed.remove(probe) {
            for id in ids {
                let _ = self.ctl().disarm(id);
            }
        }
    }

    fn disarm_all(&mut self) {
        let names: Vec<String> = self.armed.keys().cloned().collect();
        for n in names {
            self.disarm(&n);
        }
    }

    /// Every thread's innermost frames (for a step that timed out): the
    /// threads are frozen for the look and left frozen (the run is over).
    pub fn where_threads_are(&self) -> String {
        let Ok(syms) = grt_symbols::ProcessSymbols::load(self.pid) else {
            return "  (no symbols)".into();
        };
        let mem = grt_symbols::ProcessMemory::new(self.pid);
        let _ = self.ctl().freeze_all();
        let mut out = String::new();
        let threads = self.ctl().threads().unwrap_or_default();
        for t in threads {
            let frames = match self.ctl().regs(t.tid) {
                Ok(r) => {
                    let (mut f, _) = grt_symbols::traceback::walk_frames(
                        &syms,
                        grt_symbols::Registers::new(r.pc(), r.sp(), r.fp()),
                        &mem,
                        40,
                    );
                    f.retain(|f| !f.function.starts_with("core::") && !f.function.starts_with("std::"));
                    f.iter().take(6).map(|f| f.function.clone()).collect::<Vec<_>>().join(" <- ")
                }
                Err(e) => format!("({e})"),
            };
            let held = if self.held.contains(&t.tid) { " [held by the script]" } else { "" };
            out.push_str(&format!("  {}{held}: {frames}\n", self.thread_name(t.tid)));
        }
        // The armed probe sites and what they hold now (0xcc: armed).
        if let Ok(armed) = self.ctl().armed() {
            let mut sites: Vec<String> = armed
                .iter()
                .map(|(_, name, addr)| {
                    let b = self.ctl().read_memory(*addr, 1).ok().and_then(|v| v.first().copied());
                    format!("{name}@{addr:#x}={}", b.map_or("?".into(), |b| format!("{b:#04x}")))
                })
                .collect();
            sites.sort();
            out.push_str(&format!(
                "  armed probe sites: {}\n",
                if sites.is_empty() { "none".into() } else { sites.join(" ") }
            ));
        }
        out
    }

    /// Arms the probes of this variant's `probe` expectations (reporting
    /// only) and notes numgc, before the last step lets things run.
    fn arm_expectations(&mut self, log: &mut Vec<String>) -> Result<(), EngineError> {
        let exps: Vec<Expect> = self.script.expectations(self.variant).map(|e| e.item.clone()).collect();
        for e in exps {
            match e {
                Expect::Probe { probe, .. } => {
                    let ids = self
                        .ctl()
                        .arm_named(&probe, OnHit::Report)
                        .map_err(|x| EngineError(format!("arm {probe}: {x}")))?;
                    self.expect_probes.extend(ids);
                    log.push(format!("watching probe {probe}"));
                }
                Expect::NumGc(_) => self.numgc_at_end = self.snapshot().and_then(|s| s.sched.numgc),
                _ => {}
            }
        }
        Ok(())
    }

    /// Narration with `{actor}` replaced by the actor's M (or thread) and
    /// `{var}` by the variable's value, for names known at this point;
    /// anything else in braces stays as written.
    fn fill(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find('{') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let Some(j) = after.find('}') else {
                out.push_str(&rest[i..]);
                return out;
            };
            let key = &after[..j];
            let val = if let Some(&tid) = self.actors.get(key) {
                Some(match self.names.get(&tid).and_then(|n| n.split_whitespace().next()) {
                    Some(m) => m.to_string(),
                    None => format!("thread {tid}"),
                })
            } else {
                self.vars.get(key).map(|v| v.to_string())
            };
            match val {
                Some(v) => out.push_str(&v),
                None => out.push_str(&rest[i..i + j + 2]),
            }
            rest = &after[j + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The scheduler state the races are about, from the table.
    pub fn state_lines(&self) -> Vec<String> {
        let Some(s) = self.snapshot() else {
            return vec!["(table not readable: the target is gone)".into()];
        };
        let mut v = Vec::new();
        let sc = &s.sched;
        v.push(format!(
            "sched: gcwaiting={} stopwait={} safePointWait={} gomaxprocs={} npidle={} numgc={} gcphase={}",
            sc.gcwaiting.map_or("?".into(), |b| (b as u8).to_string()),
            sc.stopwait.map_or("?".into(), |x| x.to_string()),
            sc.safe_point_wait.map_or("?".into(), |x| x.to_string()),
            sc.gomaxprocs.map_or("?".into(), |x| x.to_string()),
            sc.npidle.map_or("?".into(), |x| x.to_string()),
            sc.numgc.map_or("?".into(), |x| x.to_string()),
            sc.gcphase_name.as_ref().map_or("?".into(), |x| x.to_string()),
        ));
        let gmp = sc.gomaxprocs.unwrap_or(0).max(0) as usize;
        for p in s.ps.iter().take(gmp) {
            let m = p.m.index().and_then(|i| s.m(i)).and_then(|m| m.id);
            v.push(format!(
                "P{}: {} m={} runSafePointFn={}",
                p.id.unwrap_or(p.index as i64),
                p.status_name,
                m.map_or("nil".into(), |m| m.to_string()),
                p.run_safe_point_fn.map_or("?".into(), |b| (b as u8).to_string())
            ));
        }
        let mut actors: Vec<(&String, &i32)> = self.actors.iter().collect();
        actors.sort();
        for (a, tid) in actors {
            if let Some(m) = s.ms.iter().find(|m| m.tid == Some(*tid as u64)) {
                v.push(format!(
                    "{a}: M{} {} p={} oldp={} curg={}{}",
                    m.id.unwrap_or(-1),
                    m.state_name,
                    m.p.index().and_then(|i| s.p(i)).and_then(|p| p.id).map_or("nil".into(), |x| x.to_string()),
                    m.oldp.index().and_then(|i| s.p(i)).and_then(|p| p.id).map_or("nil".into(), |x| x.to_string()),
                    m.curg.id().map_or("nil".into(), |g| format!("G{g}")),
                    if self.held.contains(tid) { " [held]" } else { "" }
                ));
            }
        }
        v
    }

    /// After the last step: observes this variant's expectations.
    pub fn finish(&mut self) -> Outcome {
        let exps: Vec<Located<Expect>> = self.script.expectations(self.variant).cloned().collect();
        let deadline = Instant::now() + self.script.timeout;
        let mut checks = Vec::new();
        let mut log = Vec::new();
        for e in &exps {
            let c = self.observe(&e.item, deadline, &mut log);
            checks.push(c);
        }
        let met = checks.iter().all(|c| c.met);
        Outcome { variant: self.variant, met, checks, exit: self.exit.map(|s| s.to_string()) }
    }

    fn wait_exit(&mut self, deadline: Instant, log: &mut Vec<String>) -> Option<ExitStatus> {
        while self.exit.is_none() {
            let left = deadline.checked_duration_since(Instant::now())?;
            if let Some(ev) = self.next_event(left.min(Duration::from_millis(50))) {
                self.side_event(ev, log);
            }
        }
        // Let the reader threads drain the last output.
        std::thread::sleep(Duration::from_millis(20));
        self.exit
    }

    fn observe(&mut self, e: &Expect, deadline: Instant, log: &mut Vec<String>) -> Checked {
        match e {
            Expect::Throw(msgs) => {
                let st = self.wait_exit(deadline, log);
                let stderr = self.output.lock().unwrap().stderr.clone();
                let fatal = stderr.lines().find(|l| l.starts_with("fatal error: ")).map(str::to_string);
                let met = st == Some(ExitStatus::Code(2))
                    && fatal.as_ref().is_some_and(|f| msgs.iter().any(|m| f == &format!("fatal error: {m}")));
                Checked {
                    expectation: format!(
                        "throw {}",
                        msgs.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(" or ")
                    ),
                    met,
                    observed: match (st, fatal) {
                        (Some(s), Some(f)) => format!("the target {s}; its stderr says: {f}"),
                        (Some(s), None) => format!("the target {s} without a fatal error"),
                        (None, _) => {
                            format!("the target did not exit within {:?}", self.script.timeout)
                        }
                    },
                }
            }
            Expect::Probe { probe, actor } => {
                let tid = self.actors.get(actor).copied();
                loop {
                    if let Some(&(_, t)) = self.expect_hits.iter().find(|(p, t)| p == probe && Some(*t) == tid) {
                        break Checked {
                            expectation: format!("probe {probe} by {actor}"),
                            met: true,
                            observed: format!("{} reached probe {probe}", self.thread_name(t)),
                        };
                    }
                    if self.exit.is_some() || Instant::now() >= deadline {
                        let stderr = self.output.lock().unwrap().stderr.clone();
                        let why = match self.exit {
                            Some(s) => format!(
                                "the target {s} first{}",
                                stderr
                                    .lines()
                                    .find(|l| l.starts_with("fatal error"))
                                    .map(|l| format!(": {l}"))
                                    .unwrap_or_default()
                            ),
                            None => format!("no hit within {:?}", self.script.timeout),
                        };
                        break Checked { expectation: format!("probe {probe} by {actor}"), met: false, observed: why };
                    }
                    if let Some(ev) = self.next_event(Duration::from_millis(50)) {
                        self.side_event(ev, log);
                    }
                }
            }
            Expect::Exit(code) => {
                let st = self.wait_exit(deadline, log);
                Checked {
                    expectation: format!("exit {code}"),
                    met: st == Some(ExitStatus::Code(*code)),
                    observed: st.map_or_else(|| "the target did not exit".into(), |s| format!("the target {s}")),
                }
            }
            Expect::NumGc(n) => {
                let start = self.numgc_at_end.unwrap_or(0);
                loop {
                    let cur = self.snapshot().and_then(|s| s.sched.numgc);
                    if let Some(c) = cur.filter(|&c| c >= start + n) {
                        break Checked {
                            expectation: format!("numgc +{n}"),
                            met: true,
                            observed: format!("numgc went from {start} to {c}"),
                        };
                    }
                    if self.exit.is_some() || Instant::now() >= deadline {
                        break Checked {
                            expectation: format!("numgc +{n}"),
                            met: false,
                            observed: format!(
                                "numgc went from {start} to {}",
                                cur.map_or("?".into(), |c| c.to_string())
                            ),
                        };
                    }
                    if let Some(ev) = self.next_event(Duration::from_millis(20)) {
                        self.side_event(ev, log);
                    }
                }
            }
            Expect::Output(text) => loop {
                let o = self.output.lock().unwrap();
                if o.stdout.contains(text.as_str()) || o.stderr.contains(text.as_str()) {
                    break Checked {
                        expectation: format!("output {text:?}"),
                        met: true,
                        observed: format!("the target printed {text:?}"),
                    };
                }
                drop(o);
                if self.exit.is_some() || Instant::now() >= deadline {
                    break Checked {
                        expectation: format!("output {text:?}"),
                        met: false,
                        observed: "not printed".into(),
                    };
                }
                if let Some(ev) = self.next_event(Duration::from_millis(20)) {
                    self.side_event(ev, log);
                }
            },
            Expect::Cycle => loop {
                if let Some(c) = self.snapshot().and_then(|s| s.waitfor.cycles.first().cloned()) {
                    break Checked { expectation: "cycle".into(), met: true, observed: format!("{c:?}") };
                }
                if self.exit.is_some() || Instant::now() >= deadline {
                    break Checked {
                        expectation: "cycle".into(),
                        met: false,
                        observed: "no wait-for cycle in the table".into(),
                    };
                }
                if let Some(ev) = self.next_event(Duration::from_millis(20)) {
                    self.side_event(ev, log);
                }
            },
            Expect::Spin { actor, function, for_ } => self.observe_spin(actor, function, *for_, log),
        }
    }

    /// Samples the actor's thread every 20ms for `for_`: frozen, its stack
    /// unwound and symbolized, thawed. Met if every sample has `function`
    /// among its frames (a thread spinning there for the whole time).
    fn observe_spin(&mut self, actor: &str, function: &str, for_: Duration, log: &mut Vec<String>) -> Checked {
        let what = format!("spin {actor} in {function} for {for_:?}");
        let Some(&tid) = self.actors.get(actor) else {
            return Checked { expectation: what, met: false, observed: format!("actor {actor} has no thread") };
        };
        let syms = match grt_symbols::ProcessSymbols::load(self.pid) {
            Ok(s) => s,
            Err(e) => return Checked { expectation: what, met: false, observed: format!("no symbols: {e}") },
        };
        let mem = grt_symbols::ProcessMemory::new(self.pid);
        let start = Instant::now();
        let (mut samples, mut inside) = (0u32, 0u32);
        let mut last_top = String::new();
        while start.elapsed() < for_ {
            if self.exit.is_some() {
                break;
            }
            let held = self.held.contains(&tid);
            if !held && self.ctl().freeze(tid).is_err() {
                break;
            }
            if let Ok(r) = self.ctl().regs(tid) {
                let (frames, _) = grt_symbols::traceback::walk_frames(
                    &syms,
                    grt_symbols::Registers::new(r.pc(), r.sp(), r.fp()),
                    &mem,
                    64,
                );
                samples += 1;
                if frames.iter().any(|f| f.function.contains(function)) {
                    inside += 1;
                }
                last_top = frames.first().map(|f| f.function.clone()).unwrap_or_default();
            }
            if !held {
                let _ = self.ctl().thaw(tid);
            }
            let end = Instant::now() + Duration::from_millis(20);
            while let Some(left) = end.checked_duration_since(Instant::now()) {
                if let Some(ev) = self.next_event(left) {
                    self.side_event(ev, log);
                }
            }
        }
        let met = samples > 0 && inside == samples && start.elapsed() >= for_;
        Checked {
            expectation: what,
            met,
            observed: format!(
                "{} was in {function} in {inside} of {samples} samples over {:?} (last top frame: {last_top})",
                self.thread_name(tid),
                start.elapsed()
            ),
        }
    }

    /// Everything so far, for `--transcript`.
    pub fn transcript(&self, outcome: Option<Outcome>, error: Option<String>) -> Transcript {
        let o = self.output.lock().unwrap();
        let tail =
            |s: &str| s.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        Transcript {
            race: self.script.name.clone(),
            title: self.script.title.clone(),
            seed: self.script.seed.clone(),
            variant: self.variant,
            pid: self.pid,
            steps: self.steps.clone(),
            outcome,
            error,
            stdout_tail: tail(&o.stdout),
            stderr_tail: tail(&o.stderr),
        }
    }

    /// The target's output so far.
    pub fn output(&self) -> (String, String) {
        let o = self.output.lock().unwrap();
        (o.stdout.clone(), o.stderr.clone())
    }
}

impl Drop for Engine {
    /// Detaches (restoring every probe) and kills the target: a run never
    /// leaves a process behind.
    fn drop(&mut self) {
        if let Some(ctl) = self.ctl.take() {
            let _ = ctl.detach();
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
