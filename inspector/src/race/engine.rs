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

use super::script::{Action, Cond, Expect, Located, Script, Value, Variant, Who};
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
    /// Held hits of the next step's probe that arrived after the current
    /// step matched, oldest first: the next step takes them before waiting.
    pending: Vec<crate::control::ProbeHit>,
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
        let mut child = cmd
            .spawn()
            .map_err(|e| EngineError(format!("{}: cannot start target {}: {e}", script.file, binary.display())))?;
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
        };
        e.wait_ready()?;
        e.check_probes()?;
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

    /// Index of the next step (== number of steps when all have run).
    pub fn next_step(&self) -> usize {
        self.next
    }

    pub fn done(&self) -> bool {
        self.next >= self.script.steps.len()
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
                    "{}: target {} exited ({st}) before its runtime started: {}",
                    self.script.file,
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
                    "{}: target {} did not start a grt runtime within {:?}",
                    self.script.file, self.script.target, self.script.timeout
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
            if let Some(s) = self.snapshot() {
                if let Some(t) = s.ms.iter().find(|m| m.role_name == "sysmon").and_then(|m| m.tid) {
                    self.actors.insert(a.to_string(), t as i32);
                    return Ok(t as i32);
                }
            }
            return err(format!("{}:{line}: the target has no sysmon thread", self.script.file));
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
                if self.expect_probes.contains(&h.probe) {
                    self.expect_hits.push((h.name.clone(), h.tid));
                    log.push(format!("{} reached probe {} (expected)", self.thread_name(h.tid), h.name));
                }
                if h.held && self.is_armed(&h.name) && self.lookahead_probe().as_deref() == Some(h.name.as_str()) {
                    self.pending.push(h); // waits for the next step
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
        for a in &step.actions {
            self.action(a, &mut log)?;
        }
        self.next += 1;
        let rec = StepRecord { index: i, title: step.title.clone(), narration: step.narration.clone(), events: log, state: self.state_lines() };
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
                self.disarm_all();
                self.ctl().thaw_all().map_err(|e| EngineError(format!("{file}:{line}: thaw all: {e}")))?;
                log.push("thawed every thread".into());
            }
            Action::Pause(d) => {
                let end = Instant::now() + *d;
                while let Some(left) = end.checked_duration_since(Instant::now()) {
                    if let Some(ev) = self.ctl().next_event(left) {
                        self.side_event(ev, log);
                    }
                }
            }
            Action::Run { who, probe, conds, actor, saves } => {
                self.arm(probe, line)?;
                // Look ahead: arm the next step's first probe now, so that a
                // thread reaching it right after this step's match is held
                // there and not missed (see `pending`).
                let lookahead = self.lookahead_probe();
                if let Some(q) = &lookahead {
                    self.arm(q, line)?;
                }
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
                // A hit queued while the previous step finished?
                let mut hit = None;
                if let Some(i) = self.pending.iter().position(|h| fits(self, h)) {
                    hit = Some(self.pending.remove(i));
                }
                // Queued hits of this probe that do not fit are released.
                let stale: Vec<i32> = self.pending.iter().filter(|h| h.name == *probe).map(|h| h.tid).collect();
                self.pending.retain(|h| h.name != *probe);
                for t in stale {
                    let _ = self.ctl().thaw(t);
                }
                let deadline = Instant::now() + self.script.timeout;
                let hit = match hit {
                    Some(h) => h,
                    None => loop {
                        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                            let who = match who {
                                Who::Any => "no thread".to_string(),
                                Who::Actor(x) => format!("actor {x}"),
                            };
                            return err(format!(
                                "{file}:{line}: {who} reached probe {probe}{} within {:?}; where the threads were:\n{}",
                                if conds.is_empty() { "" } else { " with the step's conditions" },
                                self.script.timeout,
                                self.where_threads_are()
                            ));
                        };
                        match self.ctl().next_event(left) {
                            Some(Event::ProbeHit(h)) if self.is_armed(&h.name) => {
                                if fits(self, &h) {
                                    break h;
                                }
                                // Not this step's thread, or an early hit of
                                // the next step's probe: let it go.
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
                    },
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
                // This step's probe is done unless the next step waits on it too.
                if lookahead.as_deref() != Some(probe.as_str()) {
                    self.disarm(probe);
                }
                // Collect what raced with the match: hits of the next step's
                // probe stay held and queued; anything else is released.
                while let Some(ev) = self.ctl().next_event(Duration::from_millis(2)) {
                    match ev {
                        Event::ProbeHit(h) if lookahead.as_deref() == Some(h.name.as_str()) && h.held => self.pending.push(h),
                        Event::ProbeHit(h) if self.is_armed(&h.name) || h.name == *probe => {
                            if h.held && !self.held.contains(&h.tid) {
                                let _ = self.ctl().thaw(h.tid);
                            }
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

    /// The probe of the first `run` of the step after the current one.
    fn lookahead_probe(&self) -> Option<String> {
        let next = self.script.steps.get(self.next + 1)?;
        next.actions.iter().find_map(|a| match &a.item {
            Action::Run { probe, .. } => Some(probe.clone()),
            _ => None,
        })
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
        let Ok(syms) = grt_symbols::ProcessSymbols::load(self.pid) else { return "  (no symbols)".into() };
        let mem = grt_symbols::ProcessMemory::new(self.pid);
        let _ = self.ctl().freeze_all();
        let mut out = String::new();
        let threads = self.ctl().threads().unwrap_or_default();
        for t in threads {
            let frames = match self.ctl().regs(t.tid) {
                Ok(r) => {
                    let (mut f, _) = grt_symbols::traceback::walk_frames(&syms, grt_symbols::Registers::new(r.pc(), r.sp(), r.fp()), &mem, 40);
                    f.retain(|f| !f.function.starts_with("core::") && !f.function.starts_with("std::"));
                    f.iter().take(6).map(|f| f.function.clone()).collect::<Vec<_>>().join(" <- ")
                }
                Err(e) => format!("({e})"),
            };
            let held = if self.held.contains(&t.tid) { " [held by the script]" } else { "" };
            out.push_str(&format!("  {}{held}: {frames}\n", self.thread_name(t.tid)));
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
                    let ids = self.ctl().arm_named(&probe, OnHit::Report).map_err(|x| EngineError(format!("arm {probe}: {x}")))?;
                    self.expect_probes.extend(ids);
                    log.push(format!("watching probe {probe}"));
                }
                Expect::NumGc(_) => self.numgc_at_end = self.snapshot().and_then(|s| s.sched.numgc),
                _ => {}
            }
        }
        Ok(())
    }

    /// The scheduler state the races are about, from the table.
    pub fn state_lines(&self) -> Vec<String> {
        let Some(s) = self.snapshot() else { return vec!["(table not readable: the target is gone)".into()] };
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
            if let Some(ev) = self.ctl().next_event(left.min(Duration::from_millis(50))) {
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
                    expectation: format!("throw {}", msgs.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(" or ")),
                    met,
                    observed: match (st, fatal) {
                        (Some(s), Some(f)) => format!("the target {s}; its stderr says: {f}"),
                        (Some(s), None) => format!("the target {s} without a fatal error"),
                        (None, _) => format!("the target did not exit within {:?}", self.script.timeout),
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
                                stderr.lines().find(|l| l.starts_with("fatal error")).map(|l| format!(": {l}")).unwrap_or_default()
                            ),
                            None => format!("no hit within {:?}", self.script.timeout),
                        };
                        break Checked { expectation: format!("probe {probe} by {actor}"), met: false, observed: why };
                    }
                    if let Some(ev) = self.ctl().next_event(Duration::from_millis(50)) {
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
                        break Checked { expectation: format!("numgc +{n}"), met: true, observed: format!("numgc went from {start} to {c}") };
                    }
                    if self.exit.is_some() || Instant::now() >= deadline {
                        break Checked {
                            expectation: format!("numgc +{n}"),
                            met: false,
                            observed: format!("numgc went from {start} to {}", cur.map_or("?".into(), |c| c.to_string())),
                        };
                    }
                    if let Some(ev) = self.ctl().next_event(Duration::from_millis(20)) {
                        self.side_event(ev, log);
                    }
                }
            }
            Expect::Output(text) => loop {
                let o = self.output.lock().unwrap();
                if o.stdout.contains(text.as_str()) || o.stderr.contains(text.as_str()) {
                    break Checked { expectation: format!("output {text:?}"), met: true, observed: format!("the target printed {text:?}") };
                }
                drop(o);
                if self.exit.is_some() || Instant::now() >= deadline {
                    break Checked { expectation: format!("output {text:?}"), met: false, observed: "not printed".into() };
                }
                if let Some(ev) = self.ctl().next_event(Duration::from_millis(20)) {
                    self.side_event(ev, log);
                }
            },
            Expect::Cycle => loop {
                if let Some(c) = self.snapshot().and_then(|s| s.waitfor.cycles.first().cloned()) {
                    break Checked { expectation: "cycle".into(), met: true, observed: format!("{c:?}") };
                }
                if self.exit.is_some() || Instant::now() >= deadline {
                    break Checked { expectation: "cycle".into(), met: false, observed: "no wait-for cycle in the table".into() };
                }
                if let Some(ev) = self.ctl().next_event(Duration::from_millis(20)) {
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
                let (frames, _) = grt_symbols::traceback::walk_frames(&syms, grt_symbols::Registers::new(r.pc(), r.sp(), r.fp()), &mem, 64);
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
                if let Some(ev) = self.ctl().next_event(left) {
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
        let tail = |s: &str| s.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
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
