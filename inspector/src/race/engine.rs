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
//! report quotes what the runtime did. Every wait is `Engine::wait_for`:
//! until a condition, a deadline or the target's exit, handling the
//! controller's events meanwhile. When a step's wait ends without its
//! condition, the run ends with an error at the script's line
//! (`EngineError::At`), and the target is killed: no process is left
//! behind.
//!
//! The engine's state is in three parts: the `Target` (the child, its
//! output, its exit), the `Probes` (armed, hits queued for later steps,
//! stale instances, `hold` rules, expectation probes) and the script's own
//! (actors, variables, held threads, the step reached).

use super::script::{Action, Cond, Expect, Located, Script, ScriptError, TableCond, Value, Variant, Who, MAX_DURATION};
use super::table;
use crate::control::{Controller, Event, ExitStatus, OnHit, ProbeHit, ProbeId};
use crate::find;
use crate::snapshot::Snapshot;
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a run could not go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// At a line of the script: the step, expectation or target line that
    /// could not be carried out, and why (`file:line: message`).
    At(ScriptError),
    /// About the target as a whole (reading its probes, attaching to it).
    Target(String),
    /// `step` was called after the last step.
    Done,
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::At(e) => e.fmt(f),
            EngineError::Target(m) => f.write_str(m),
            EngineError::Done => f.write_str("no more steps"),
        }
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

/// The target process: the child, its output and how it ended. Dropping
/// it kills and reaps the child (after the engine has detached).
struct Target {
    pid: i32,
    child: Option<Child>,
    output: Arc<Mutex<Output>>,
    /// How it ended, once the engine saw it end.
    exit: Option<ExitStatus>,
}

impl Target {
    /// Starts `binary` as the script's target (`GRT_BUGS=<bug>` for the
    /// buggy variant), its stdout and stderr collected.
    fn spawn(script: &Script, variant: Variant, binary: &Path) -> std::io::Result<Target> {
        let mut cmd = Command::new(binary);
        cmd.args(&script.args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.env_remove("GRT_BUGS");
        for (k, v) in &script.env {
            cmd.env(k, v);
        }
        if variant == Variant::Buggy {
            cmd.env("GRT_BUGS", &script.bug);
        }
        let mut child = cmd.spawn()?;
        let output = Arc::new(Mutex::new(Output::default()));
        collect(child.stdout.take().unwrap(), output.clone(), false);
        collect(child.stderr.take().unwrap(), output.clone(), true);
        Ok(Target { pid: child.id() as i32, child: Some(child), output, exit: None })
    }

    /// Before the controller is attached (it reaps the target after):
    /// notes the exit if the child has exited.
    fn poll_exit(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            self.exit = Some(match (st.code(), st.signal()) {
                (Some(c), _) => ExitStatus::Code(c),
                (None, Some(s)) => ExitStatus::Signal(s),
                (None, None) => ExitStatus::Unknown,
            });
        }
    }

    fn stderr(&self) -> String {
        self.output.lock().unwrap().stderr.clone()
    }

    /// The first line of its stderr that starts with one of `prefixes`.
    fn stderr_line(&self, prefixes: &[&str]) -> Option<String> {
        self.stderr().lines().find(|l| prefixes.iter().any(|p| l.starts_with(p))).map(str::to_string)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The `hold` rule for a probe: conditions with values resolved.
type HoldRule = (String, Vec<(usize, u64)>);

/// What the engine has armed and the hits it keeps.
#[derive(Default)]
struct Probes {
    /// Probes armed (Hold) by name: the current step's and the next ones'.
    armed: HashMap<String, Vec<ProbeId>>,
    /// Held hits of later steps' probes, oldest first: a step takes them
    /// before waiting (see `queue_ahead`).
    pending: Vec<ProbeHit>,
    /// Per step k: the variables step k-1 would have saved from recent
    /// instances of its probe that did not match it. A hit for step k that
    /// matches its conditions under one of these belongs to such a stale
    /// instance and is released.
    stale: HashMap<usize, Vec<HashMap<String, u64>>>,
    /// `hold` rules in force.
    holds: Vec<HoldRule>,
    /// Threads held by a `hold` rule.
    hold_held: HashSet<i32>,
    /// Probes of expectations, armed to report only.
    expect_probes: Vec<ProbeId>,
    /// Hits of expectation probes seen while the last step ran: (probe, tid).
    expect_hits: Vec<(String, i32)>,
}

impl Probes {
    fn is_armed(&self, name: &str) -> bool {
        self.armed.contains_key(name)
    }

    /// Whether a `hold` rule covers probe `name`.
    fn held_by_rule(&self, name: &str) -> bool {
        self.holds.iter().any(|(p, _)| p == name)
    }

    /// Whether a held hit falls under a `hold` rule; if so, it is kept held.
    fn take_by_hold(&mut self, h: &ProbeHit) -> bool {
        let hit =
            self.holds.iter().any(|(p, conds)| *p == h.name && conds.iter().all(|(a, v)| h.args.get(*a) == Some(v)));
        if hit && h.held {
            trace!("hold {} tid {} args {:?} (hold rule)", h.name, h.tid, h.args);
            self.hold_held.insert(h.tid);
        }
        hit && h.held
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
}

/// The program a script's `target` line names, found or built by
/// `targets::example`; an error is at the target line.
pub fn target_program(script: &Script) -> Result<std::path::PathBuf, EngineError> {
    crate::targets::example(&script.target).map_err(|e| EngineError::At(script.error_at(script.target_line, e)))
}

/// The instant `d` from now. Script durations are at most
/// [`MAX_DURATION`] (the parser checks), but a `Script` can be built by
/// hand: a sum `Instant` cannot hold waits as long as the longest a script
/// may ask for, never panics nor wraps.
fn deadline_in(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).or_else(|| now.checked_add(MAX_DURATION)).unwrap_or(now)
}

/// Whether `numgc` reached `start + n`, compared exactly: a count that went
/// backwards (a table being rewritten) has not grown, and no sum can wrap
/// into a false pass.
fn numgc_grew(start: u64, now: u64, n: u64) -> bool {
    now.checked_sub(start).is_some_and(|grew| grew >= n)
}

/// How a wait ended (see `Engine::wait_for`).
enum Waited<T> {
    /// What the wait was for happened; with what it found.
    Met(T),
    /// The deadline passed first.
    Deadline,
    /// The target exited first.
    Exited(ExitStatus),
}

/// A running race.
pub struct Engine {
    pub script: Script,
    pub variant: Variant,
    target: Target,
    /// Attached once the target's runtime has started.
    ctl: Option<Controller>,
    probes: Probes,
    /// Events read while settling a stale instance, to handle next.
    deferred: VecDeque<Event>,
    actors: HashMap<String, i32>,
    vars: HashMap<String, u64>,
    /// Threads the script holds (frozen or stopped at a probe).
    held: HashSet<i32>,
    /// Thread names by tid (their M and role), for events and reports.
    names: HashMap<i32, String>,
    next: usize,
    steps: Vec<StepRecord>,
    /// sched.numgc as the last step began, before its actions let the
    /// threads run: what `numgc +n` counts from.
    numgc_before_last_step: Option<u64>,
}

impl Engine {
    /// Starts `binary` as the script's target and attaches to it.
    pub fn launch(script: Script, variant: Variant, binary: &Path) -> Result<Engine, EngineError> {
        let target = Target::spawn(&script, variant, binary).map_err(|e| {
            EngineError::At(
                script.error_at(script.target_line, format!("cannot start target {}: {e}", binary.display())),
            )
        })?;
        let mut e = Engine {
            script,
            variant,
            target,
            ctl: None,
            probes: Probes::default(),
            deferred: VecDeque::new(),
            actors: HashMap::new(),
            vars: HashMap::new(),
            held: HashSet::new(),
            names: HashMap::new(),
            next: 0,
            steps: Vec::new(),
            numgc_before_last_step: None,
        };
        e.wait_ready()?;
        e.check_probes()?;
        e.check_fields()?;
        let ctl = Controller::attach(e.target.pid)
            .map_err(|x| EngineError::Target(format!("cannot control the target: {x}")))?;
        e.ctl = Some(ctl);
        e.name_threads();
        Ok(e)
    }

    pub fn pid(&self) -> i32 {
        self.target.pid
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
            .chain(self.probes.hold_held.iter())
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

    /// An error at line `line` of the script.
    fn at(&self, line: usize, msg: impl Into<String>) -> EngineError {
        EngineError::At(self.script.error_at(line, msg))
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

    /// The one wait of the engine: until `check` finds what it waits for,
    /// the deadline passes or the target exits, in that order of
    /// precedence (a check that holds as the target exits still counts).
    /// Between checks it handles one event, waiting at most `poll` for it:
    /// `on_event` may end the wait with a value. Before the controller is
    /// attached there are no events; it polls the child every `poll`.
    fn wait_for<T>(
        &mut self,
        deadline: Instant,
        poll: Duration,
        log: &mut Vec<String>,
        mut check: impl FnMut(&mut Self) -> Result<Option<T>, EngineError>,
        mut on_event: impl FnMut(&mut Self, Event, &mut Vec<String>) -> Result<Option<T>, EngineError>,
    ) -> Result<Waited<T>, EngineError> {
        loop {
            if let Some(t) = check(self)? {
                return Ok(Waited::Met(t));
            }
            if let Some(st) = self.target.exit {
                return Ok(Waited::Exited(st));
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Ok(Waited::Deadline);
            };
            if self.ctl.is_none() {
                self.target.poll_exit();
                if self.target.exit.is_none() {
                    std::thread::sleep(left.min(poll));
                }
                continue;
            }
            if let Some(ev) = self.next_event(left.min(poll)) {
                if let Some(t) = on_event(self, ev, log)? {
                    return Ok(Waited::Met(t));
                }
            }
        }
    }

    /// `wait_for` with every event handled by `side_event`.
    fn wait_until<T>(
        &mut self,
        deadline: Instant,
        poll: Duration,
        log: &mut Vec<String>,
        check: impl FnMut(&mut Self) -> Result<Option<T>, EngineError>,
    ) -> Result<Waited<T>, EngineError> {
        self.wait_for(deadline, poll, log, check, |e, ev, log| {
            e.side_event(ev, log);
            Ok(None)
        })
    }

    /// Lets the target run for `d`, handling events (ends early if it exits).
    fn pause(&mut self, d: Duration, log: &mut Vec<String>) {
        let _ = self.wait_until(deadline_in(d), d, log, |_| Ok(None::<()>));
    }

    fn wait_ready(&mut self) -> Result<(), EngineError> {
        let deadline = deadline_in(self.script.timeout);
        let ready = self.wait_until(deadline, Duration::from_millis(5), &mut Vec::new(), |e| {
            let src = find::open_table(e.target.pid).ok();
            Ok(src.filter(|s| s.snapshot(false).is_ok_and(|s| s.header.ready && !s.ms.is_empty())).map(|_| ()))
        })?;
        let (line, target) = (self.script.target_line, &self.script.target);
        match ready {
            Waited::Met(()) => Ok(()),
            Waited::Exited(st) => Err(self.at(
                line,
                format!(
                    "target {target} {st} before its runtime started: {}",
                    self.target.stderr().lines().last().unwrap_or("")
                ),
            )),
            Waited::Deadline => {
                Err(self
                    .at(line, format!("target {target} did not start a grt runtime within {:?}", self.script.timeout)))
            }
        }
    }

    fn check_probes(&self) -> Result<(), EngineError> {
        let unreadable = |e: grt_symbols::Error| EngineError::Target(format!("cannot read the target's probes: {e}"));
        let syms = grt_symbols::ProcessSymbols::load(self.target.pid).map_err(unreadable)?;
        let probes = syms.probes().map_err(unreadable)?;
        let mut known: Vec<&str> = probes.iter().filter(|p| p.provider == "grt").map(|p| p.name.as_str()).collect();
        known.sort_unstable();
        known.dedup();
        for (line, name) in self.script.probes() {
            if !known.contains(&name) {
                return Err(self.at(
                    line,
                    format!("unknown probe {name:?}: the target has no such probe (it has: {})", known.join(" ")),
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
        let img = self.image().map_err(|e| EngineError::Target(format!("cannot read the target's table: {e}")))?;
        for (line, c) in conds {
            table::check(&img.layout, c).map_err(|m| self.at(line, m))?;
        }
        Ok(())
    }

    /// The target's table, copied now (not frozen: a live read).
    fn image(&self) -> Result<grt_table::view::Image, String> {
        find::open_table(self.target.pid).and_then(|s| s.load_image(1 << 28)).map_err(|e| e.to_string())
    }

    fn snapshot(&self) -> Option<Snapshot> {
        find::open_table(self.target.pid).ok()?.snapshot(false).ok()
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

    fn actor_tid(&mut self, a: &str, line: usize, log: &mut Vec<String>) -> Result<i32, EngineError> {
        if let Some(&t) = self.actors.get(a) {
            return Ok(t);
        }
        if a != "sysmon" {
            return Err(self.at(line, format!("actor {a:?} has no thread yet")));
        }
        // The runtime writes sysmon's M record before the thread has
        // started and stored its tid: wait for the tid.
        let found = self.wait_until(Instant::now() + Duration::from_secs(2), Duration::from_millis(2), log, |e| {
            let tid = e.snapshot().and_then(|s| s.ms.iter().find(|m| m.role_name == "sysmon").and_then(|m| m.tid));
            Ok(tid.filter(|&t| t != 0).map(|t| t as i32))
        })?;
        match found {
            Waited::Met(t) => {
                self.actors.insert(a.to_string(), t);
                Ok(t)
            }
            Waited::Deadline => Err(self.at(line, "the target has no sysmon thread")),
            Waited::Exited(st) => Err(self.at(line, format!("the target {st} while looking for its sysmon thread"))),
        }
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

    /// Handles an event that is not the one a step waits for.
    fn side_event(&mut self, ev: Event, log: &mut Vec<String>) {
        match ev {
            Event::ProbeHit(h) => {
                if self.probes.take_by_hold(&h) {
                    return;
                }
                if self.probes.expect_probes.contains(&h.probe) {
                    self.probes.expect_hits.push((h.name.clone(), h.tid));
                    log.push(format!("{} reached probe {} (expected)", self.thread_name(h.tid), h.name));
                }
                if h.held && self.ahead_step_of(&h.name).is_some() {
                    self.queue_ahead(h); // waits for a later step
                } else if h.held && !self.held.contains(&h.tid) {
                    let _ = self.ctl().thaw(h.tid);
                }
            }
            Event::ProcessExited { status, .. } => {
                log.push(format!("the target {status}"));
                self.target.exit = Some(status);
            }
            Event::NewThread { .. } => self.name_threads(),
            _ => {}
        }
    }

    /// Runs the next step. Returns its record.
    pub fn step(&mut self) -> Result<StepRecord, EngineError> {
        let i = self.next;
        let Some(step) = self.script.steps.get(i).cloned() else {
            return Err(EngineError::Done);
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
        match &a.item {
            Action::Freeze(x) => {
                let tid = self.actor_tid(x, line, log)?;
                self.ctl().freeze(tid).map_err(|e| self.at(line, format!("freeze {x}: {e}")))?;
                self.held.insert(tid);
                log.push(format!("froze {x}: {}", self.thread_name(tid)));
            }
            Action::Thaw(x) => {
                let tid = self.actor_tid(x, line, log)?;
                self.ctl().thaw(tid).map_err(|e| self.at(line, format!("thaw {x}: {e}")))?;
                self.held.remove(&tid);
                log.push(format!("thawed {x}: {}", self.thread_name(tid)));
            }
            Action::ThawAll => {
                self.held.clear();
                self.probes.pending.clear();
                self.probes.holds.clear();
                self.probes.hold_held.clear();
                self.disarm_all();
                self.ctl().thaw_all().map_err(|e| self.at(line, format!("thaw all: {e}")))?;
                log.push("thawed every thread".into());
            }
            Action::Wait(conds) => self.wait_table(conds, line, log)?,
            Action::BindRunner { actor, goid } => {
                let goid = self.value(goid).ok_or_else(|| self.at(line, "variable not set"))?;
                let deadline = deadline_in(self.script.timeout);
                let found = self.wait_until(deadline, Duration::from_millis(1), log, |e| {
                    if e.target.exit.is_some() {
                        return Ok(None);
                    }
                    let img = e.image().map_err(|m| e.at(line, m))?;
                    Ok(table::runner_of(&img, goid).map(|t| t as i32))
                })?;
                let tid = match found {
                    Waited::Met(t) => t,
                    Waited::Deadline => {
                        return Err(
                            self.at(line, format!("no thread ran goroutine {goid} within {:?}", self.script.timeout))
                        )
                    }
                    Waited::Exited(st) => {
                        return Err(self.at(line, format!("the target {st} while waiting for goroutine {goid} to run")))
                    }
                };
                self.actors.insert(actor.clone(), tid);
                self.name_threads();
                log.push(format!("actor {actor} is {}, running goroutine {goid}", self.thread_name(tid)));
            }
            Action::Hold { probe, conds } => {
                let mut resolved = Vec::new();
                for c in conds {
                    let v = self.value(&c.value).ok_or_else(|| self.at(line, "variable not set"))?;
                    resolved.push((c.arg, v));
                }
                self.arm(probe, line)?;
                let desc: Vec<String> = resolved.iter().map(|(a, v)| format!("arg{a} == {v}")).collect();
                log.push(format!(
                    "holding every thread that reaches probe {probe}{}",
                    if desc.is_empty() { String::new() } else { format!(" with {}", desc.join(" and ")) }
                ));
                self.probes.holds.push((probe.clone(), resolved));
            }
            Action::Pause(d) => self.pause(*d, log),
            Action::Run { who, probe, conds, actor, saves } => {
                let hit = self.run_to(who, probe, conds, line, log)?;
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
                                && !self.probes.held_by_rule(&h.name) =>
                        {
                            self.queue_ahead(h)
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

    /// `wait until ...`: lets the threads the script does not hold run
    /// until the table shows every condition.
    fn wait_table(&mut self, conds: &[TableCond], line: usize, log: &mut Vec<String>) -> Result<(), EngineError> {
        let deadline = deadline_in(self.script.timeout);
        let desc = conds.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" and ");
        // Why the conditions did not hold at the last look.
        let mut last = String::new();
        let shown = self.wait_until(deadline, Duration::from_millis(1), log, |e| {
            if e.target.exit.is_some() {
                return Ok(None);
            }
            let img = e.image().map_err(|m| e.at(line, m))?;
            let mut all = true;
            for c in conds {
                match table::eval(&img, c, &e.vars) {
                    Ok((true, _)) => {}
                    Ok((false, r)) => {
                        all = false;
                        last = format!("{} is {}", c.field, r.left.map_or("?".into(), |v| v.to_string()));
                    }
                    Err(m) => {
                        all = false;
                        last = m;
                    }
                }
            }
            Ok(all.then_some(()))
        })?;
        match shown {
            Waited::Met(()) => {
                log.push(format!("the table shows {desc}"));
                Ok(())
            }
            Waited::Deadline => {
                let threads = self.where_threads_are();
                Err(self.at(
                    line,
                    format!(
                        "the table did not show {desc} within {:?} ({last}); where the threads were:\n{threads}",
                        self.script.timeout,
                    ),
                ))
            }
            Waited::Exited(st) => Err(self.at(line, format!("the target {st} while waiting for {desc}"))),
        }
    }

    /// `run <who> to <probe> [where ...]`: the hit that ends the step (its
    /// thread stays stopped at the probe).
    fn run_to(
        &mut self,
        who: &Who,
        probe: &str,
        conds: &[Cond],
        line: usize,
        log: &mut Vec<String>,
    ) -> Result<ProbeHit, EngineError> {
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
                let tid = self.actor_tid(x, line, log)?;
                if self.held.remove(&tid) {
                    self.probes.pending.retain(|h| h.tid != tid);
                    self.ctl().thaw(tid).map_err(|e| self.at(line, format!("thaw {x}: {e}")))?;
                }
                Some(tid)
            }
        };
        let fits =
            |e: &Engine, h: &ProbeHit| h.name == *probe && only.is_none_or(|t| t == h.tid) && e.matches(conds, &h.args);
        // A hit queued earlier, while previous steps ran?
        if let Some(i) = self.probes.pending.iter().position(|h| fits(self, h)) {
            let hit = self.probes.pending.remove(i);
            trace!("step {} takes queued {probe} tid {}", self.next + 1, hit.tid);
            self.release_queued(probe);
            return Ok(hit);
        }
        self.release_queued(probe);
        let deadline = deadline_in(self.script.timeout);
        // Liveness: a hit queued for a later step may hold a thread
        // that holds what this step's thread needs (a lock). Those
        // hits are optional (another instance will come), so after a
        // while without this step matching they are let go.
        let mut valve = Instant::now() + Self::PENDING_PATIENCE;
        let release_when_stuck = |e: &mut Engine| {
            if Instant::now() >= valve && !e.probes.pending.is_empty() {
                for h in std::mem::take(&mut e.probes.pending) {
                    trace!(
                        "release queued {} tid {} args {:?} (this step is stuck; they may block it)",
                        h.name,
                        h.tid,
                        h.args
                    );
                    let _ = e.ctl().thaw(h.tid);
                }
                valve = Instant::now() + Self::PENDING_PATIENCE;
            }
            Ok(None)
        };
        let on_event = |e: &mut Engine, ev: Event, log: &mut Vec<String>| {
            let h = match ev {
                Event::ProbeHit(h) if e.probes.is_armed(&h.name) => h,
                ev => {
                    e.side_event(ev, log);
                    return Ok(None);
                }
            };
            trace!(
                "step {} wants {probe}: hit {} tid {} args {:?} pending {}",
                e.next + 1,
                h.name,
                h.tid,
                h.args,
                e.probes.pending.len()
            );
            if fits(e, &h) {
                return Ok(Some(h));
            }
            if e.probes.take_by_hold(&h) {
                return Ok(None);
            }
            if h.name == *probe {
                // Another instance of this step's probe went by: hits
                // of the next step from that instance are stale.
                e.note_stale(e.next, &h);
                if h.held {
                    e.settle(&h);
                }
            } else if h.held && e.ahead_step_of(&h.name).is_some() {
                // A later step's probe, reached before this step
                // matched: ptrace may report stops out of order, so
                // keep it until the steps before it have matched and
                // its conditions can tell.
                e.queue_ahead(h);
                return Ok(None);
            }
            if h.held && !e.held.contains(&h.tid) {
                let _ = e.ctl().thaw(h.tid);
            }
            Ok(None)
        };
        match self.wait_for(deadline, Duration::from_millis(50), log, release_when_stuck, on_event)? {
            Waited::Met(h) => Ok(h),
            Waited::Deadline => {
                let who = match who {
                    Who::Any => "no thread reached".to_string(),
                    Who::Actor(x) => format!("actor {x} did not reach"),
                };
                let mut threads = self.where_threads_are();
                let stderr = self.target.stderr();
                if !stderr.trim().is_empty() {
                    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
                    threads.push_str("the target's stderr ends:\n");
                    for l in tail.into_iter().rev() {
                        threads.push_str(&format!("  {l}\n"));
                    }
                }
                let state: String = self.state_lines().iter().map(|l| format!("  {l}\n")).collect();
                Err(self.at(
                    line,
                    format!(
                        "{who} probe {probe}{} within {:?}; where the threads were:\n{threads}and the scheduler:\n{state}",
                        if conds.is_empty() { "" } else { " with the step's conditions" },
                        self.script.timeout,
                    ),
                ))
            }
            Waited::Exited(st) => Err(self.at(
                line,
                format!(
                    "the target {st} while waiting for probe {probe}: {}",
                    self.target.stderr_line(&["fatal error", "panic"]).unwrap_or_default()
                ),
            )),
        }
    }

    /// Queued hits of `probe` (that did not fit its step) are released.
    fn release_queued(&mut self, probe: &str) {
        let stale: Vec<i32> = self.probes.pending.iter().filter(|h| h.name == *probe).map(|h| h.tid).collect();
        self.probes.pending.retain(|h| h.name != *probe);
        for t in stale {
            let _ = self.ctl().thaw(t);
        }
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
        if !self.probes.is_armed(probe) || self.first_any_run(self.next).is_none() {
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
    fn settle(&mut self, h: &ProbeHit) {
        if self.lookahead_probes().is_empty() {
            return;
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
                    self.queue_ahead(h2)
                }
                ev => self.deferred.push_back(ev),
            }
        }
    }

    /// How long a step may wait without matching before the hits queued for
    /// later steps are released (see the liveness note in `Run`).
    const PENDING_PATIENCE: Duration = Duration::from_millis(300);

    /// Queues a held hit for the later step that waits on its probe, unless
    /// it cannot match that step.
    fn queue_ahead(&mut self, h: ProbeHit) {
        let Some(k) = self.ahead_step_of(&h.name) else {
            let _ = self.ctl().thaw(h.tid);
            return;
        };
        let conds = self.first_any_run(k).map(|(_, c)| c).unwrap_or_default();
        // It must pass its step's conditions that are known already, and
        // must not be from a stale instance of the step before.
        let known: Vec<Cond> = conds.iter().filter(|c| self.value(&c.value).is_some()).cloned().collect();
        if !self.matches(&known, &h.args) {
            trace!("release {} tid {} args {:?} (cannot match its step)", h.name, h.tid, h.args);
            self.note_stale(k, &h);
            let _ = self.ctl().thaw(h.tid);
            return;
        }
        if self.probes.is_stale(k, &conds, &h.args) {
            trace!("release {} tid {} args {:?} (from a stale instance)", h.name, h.tid, h.args);
            let _ = self.ctl().thaw(h.tid);
            return;
        }
        trace!("queue {} tid {} args {:?} for step {}", h.name, h.tid, h.args, k + 1);
        self.probes.pending.push(h);
        if self.probes.pending.len() > Self::MAX_PENDING {
            let old = self.probes.pending.remove(0);
            let _ = self.ctl().thaw(old.tid);
        }
    }

    /// A hit of step j's probe that does not match step j: remember the
    /// variables step j would have saved from it (they identify a stale
    /// instance for step j+1) and release queued hits of step j+1 from it.
    fn note_stale(&mut self, j: usize, h: &ProbeHit) {
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
        let sets = self.probes.stale.entry(j + 1).or_default();
        sets.push(vars);
        if sets.len() > 8 {
            sets.remove(0);
        }
        let Some((probe, conds)) = self.first_any_run(j + 1) else {
            return;
        };
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.probes.pending)
            .into_iter()
            .partition(|p| p.name == probe && self.probes.is_stale(j + 1, &conds, &p.args));
        self.probes.pending = keep;
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
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.probes.pending)
            .into_iter()
            .partition(|h| h.name == probe && !self.matches(&known, &h.args));
        self.probes.pending = keep;
        for h in gone {
            trace!("release queued {} tid {} args {:?} (cannot match the next step)", h.name, h.tid, h.args);
            let _ = self.ctl().thaw(h.tid);
        }
    }

    fn arm(&mut self, probe: &str, line: usize) -> Result<(), EngineError> {
        if self.probes.is_armed(probe) {
            return Ok(());
        }
        let ids =
            self.ctl().arm_named(probe, OnHit::Hold).map_err(|e| self.at(line, format!("arm probe {probe}: {e}")))?;
        self.probes.armed.insert(probe.to_string(), ids);
        Ok(())
    }

    /// Disarms `probe` unless a `hold` rule keeps it.
    fn disarm(&mut self, probe: &str) {
        if self.probes.held_by_rule(probe) {
            return;
        }
        if let Some(ids) = self.probes.armed.remove(probe) {
            for id in ids {
                let _ = self.ctl().disarm(id);
            }
        }
    }

    fn disarm_all(&mut self) {
        let names: Vec<String> = self.probes.armed.keys().cloned().collect();
        for n in names {
            self.disarm(&n);
        }
    }

    /// Every thread's innermost frames (for a step that timed out), each
    /// thread named by its M (names read again now: the reading at attach
    /// may have failed under load). The threads are frozen for the look and
    /// left frozen (the run is over).
    pub fn where_threads_are(&mut self) -> String {
        self.name_threads();
        let Ok(syms) = grt_symbols::ProcessSymbols::load(self.target.pid) else {
            return "  (no symbols)".into();
        };
        let mem = grt_symbols::ProcessMemory::new(self.target.pid);
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
        let exps: Vec<Located<Expect>> = self.script.expectations(self.variant).cloned().collect();
        for e in exps {
            match e.item {
                Expect::Probe { probe, .. } => {
                    let ids = self
                        .ctl()
                        .arm_named(&probe, OnHit::Report)
                        .map_err(|x| self.at(e.line, format!("arm probe {probe}: {x}")))?;
                    self.probes.expect_probes.extend(ids);
                    log.push(format!("watching probe {probe}"));
                }
                Expect::NumGc(_) => self.numgc_before_last_step = self.snapshot().and_then(|s| s.sched.numgc),
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
        let deadline = deadline_in(self.script.timeout);
        let mut checks = Vec::new();
        let mut log = Vec::new();
        for e in &exps {
            let c = self.observe(&e.item, deadline, &mut log);
            checks.push(c);
        }
        let met = checks.iter().all(|c| c.met);
        Outcome { variant: self.variant, met, checks, exit: self.target.exit.map(|s| s.to_string()) }
    }

    /// Waits for the target to exit; then lets the reader threads drain
    /// the last output.
    fn wait_exit(&mut self, deadline: Instant, log: &mut Vec<String>) -> Option<ExitStatus> {
        let _ = self.wait_until(deadline, Duration::from_millis(50), log, |e| Ok(e.target.exit));
        std::thread::sleep(Duration::from_millis(20));
        self.target.exit
    }

    /// Waits until `check` finds what expectation `what` asks for, and
    /// says what was observed: `met` from what it found, `unmet` from the
    /// wait's end (the deadline or the target's exit).
    fn observe_until<T>(
        &mut self,
        what: String,
        deadline: Instant,
        log: &mut Vec<String>,
        check: impl FnMut(&mut Self) -> Result<Option<T>, EngineError>,
        met: impl FnOnce(&Self, T) -> String,
        unmet: impl FnOnce(&Self, Option<ExitStatus>) -> String,
    ) -> Checked {
        match self.wait_until(deadline, Duration::from_millis(20), log, check) {
            Ok(Waited::Met(t)) => Checked { expectation: what, met: true, observed: met(self, t) },
            Ok(Waited::Exited(st)) => Checked { expectation: what, met: false, observed: unmet(self, Some(st)) },
            Ok(Waited::Deadline) => Checked { expectation: what, met: false, observed: unmet(self, None) },
            Err(e) => Checked { expectation: what, met: false, observed: e.to_string() },
        }
    }

    fn observe(&mut self, e: &Expect, deadline: Instant, log: &mut Vec<String>) -> Checked {
        let timeout = self.script.timeout;
        match e {
            Expect::Throw(msgs) => {
                let st = self.wait_exit(deadline, log);
                let fatal = self.target.stderr_line(&["fatal error: "]);
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
                        (None, _) => format!("the target did not exit within {timeout:?}"),
                    },
                }
            }
            Expect::Probe { probe, actor } => {
                let tid = self.actors.get(actor).copied();
                self.observe_until(
                    format!("probe {probe} by {actor}"),
                    deadline,
                    log,
                    |e| Ok(e.probes.expect_hits.iter().find(|(p, t)| p == probe && Some(*t) == tid).map(|&(_, t)| t)),
                    |e, t| format!("{} reached probe {probe}", e.thread_name(t)),
                    |e, st| match st {
                        Some(s) => format!(
                            "the target {s} first{}",
                            e.target.stderr_line(&["fatal error"]).map(|l| format!(": {l}")).unwrap_or_default()
                        ),
                        None => format!("no hit within {timeout:?}"),
                    },
                )
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
                let what = format!("numgc +{n}");
                let Some(start) = self.numgc_before_last_step else {
                    let observed = "sched.numgc could not be read before the last step".into();
                    return Checked { expectation: what, met: false, observed };
                };
                // The last value read: the target may be gone by the end.
                let last = std::cell::Cell::new(None);
                self.observe_until(
                    what,
                    deadline,
                    log,
                    |e| {
                        last.set(e.snapshot().and_then(|s| s.sched.numgc).or(last.get()));
                        Ok(last.get().filter(|&c| numgc_grew(start, c, *n)))
                    },
                    |_, c| format!("numgc went from {start} (before the last step) to {c}"),
                    |_, _| {
                        format!(
                            "numgc went from {start} (before the last step) to {}",
                            last.get().map_or("?".into(), |c| c.to_string())
                        )
                    },
                )
            }
            Expect::Output(text) => self.observe_until(
                format!("output {text:?}"),
                deadline,
                log,
                |e| {
                    let o = e.target.output.lock().unwrap();
                    Ok((o.stdout.contains(text.as_str()) || o.stderr.contains(text.as_str())).then_some(()))
                },
                |_, ()| format!("the target printed {text:?}"),
                |_, _| "not printed".into(),
            ),
            Expect::Cycle => self.observe_until(
                "cycle".into(),
                deadline,
                log,
                |e| Ok(e.snapshot().and_then(|s| s.waitfor.cycles.first().cloned())),
                |_, c| format!("{c:?}"),
                |_, _| "no wait-for cycle in the table".into(),
            ),
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
        let syms = match grt_symbols::ProcessSymbols::load(self.target.pid) {
            Ok(s) => s,
            Err(e) => return Checked { expectation: what, met: false, observed: format!("no symbols: {e}") },
        };
        let mem = grt_symbols::ProcessMemory::new(self.target.pid);
        const EVERY: Duration = Duration::from_millis(20);
        let start = Instant::now();
        let (mut samples, mut inside) = (0u32, 0u32);
        let mut last_top = String::new();
        let mut next_sample = start;
        // Ends early (Met) when the thread cannot be frozen.
        let _ = self.wait_until(deadline_in(for_), EVERY, log, |e| {
            if Instant::now() < next_sample {
                return Ok(None);
            }
            next_sample = Instant::now() + EVERY;
            let held = e.held.contains(&tid);
            if !held && e.ctl().freeze(tid).is_err() {
                return Ok(Some(()));
            }
            if let Ok(r) = e.ctl().regs(tid) {
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
                let _ = e.ctl().thaw(tid);
            }
            Ok(None)
        });
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
        let o = self.target.output.lock().unwrap();
        let tail =
            |s: &str| s.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        Transcript {
            race: self.script.name.clone(),
            title: self.script.title.clone(),
            seed: self.script.seed.clone(),
            variant: self.variant,
            pid: self.target.pid,
            steps: self.steps.clone(),
            outcome,
            error,
            stdout_tail: tail(&o.stdout),
            stderr_tail: tail(&o.stderr),
        }
    }

    /// The target's output so far.
    pub fn output(&self) -> (String, String) {
        let o = self.target.output.lock().unwrap();
        (o.stdout.clone(), o.stderr.clone())
    }
}

impl Drop for Engine {
    /// Detaches (restoring every probe); then the target, dropped with the
    /// engine's fields, is killed: a run never leaves a process behind.
    fn drop(&mut self) {
        if let Some(ctl) = self.ctl.take() {
            let _ = ctl.detach();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_at_a_line_name_the_file_and_line() {
        let text = "race r\ntitle t\nseed s\ntarget foreachp\nbug b\n\nstep one\n  thaw all\n\nexpect buggy exit 2\nexpect fixed exit 0\n";
        let sc = super::super::script::parse("scripts/races/r.race", text).unwrap();
        let e = EngineError::At(sc.error_at(8, "thaw all: no such process"));
        assert_eq!(e.to_string(), "scripts/races/r.race:8: thaw all: no such process");
        assert_eq!(
            EngineError::Target("cannot control the target: x".into()).to_string(),
            "cannot control the target: x"
        );
        assert_eq!(EngineError::Done.to_string(), "no more steps");
    }

    #[test]
    fn deadlines_never_overflow() {
        let now = Instant::now();
        let d = deadline_in(Duration::from_secs(5));
        assert!(d >= now + Duration::from_secs(5) && d < now + Duration::from_secs(60));
        // Past what Instant holds: the longest a script may wait, no panic.
        let far = deadline_in(Duration::MAX);
        assert!(far >= now + MAX_DURATION && far < now + MAX_DURATION + Duration::from_secs(60), "{far:?}");
    }

    #[test]
    fn numgc_growth_is_compared_without_wrapping() {
        assert!(numgc_grew(7, 10, 3));
        assert!(numgc_grew(7, 11, 3));
        assert!(!numgc_grew(7, 9, 3));
        // start + n would wrap to 6 and pass: it must not.
        assert!(!numgc_grew(7, 7, u64::MAX));
        assert!(!numgc_grew(7, u64::MAX, u64::MAX));
        assert!(numgc_grew(0, u64::MAX, u64::MAX));
        // A count that went backwards has not grown.
        assert!(!numgc_grew(7, 3, 0));
    }
}
