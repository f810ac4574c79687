//! Race scripts: the format and its parser.
//!
//! A script is a plain text file in `scripts/races/<name>.race`. Lines are
//! `keyword arguments...`; `#` starts a comment; indentation is free.
//!
//! ```text
//! race    foreachp-stopwait          # name (= file name)
//! title   runtime: use separate ...   # the seed commit's title
//! seed    002_5895c540a80fe381.txt    # file in shared/seeds
//! upstream Go commit f0dd002 (issue 10618)
//! target  foreachp 3                  # runtime example and its arguments
//! env     GRT_MAXPROCS=2              # any number of env lines
//! bug     foreachp-stopwait           # GRT_BUGS value of the buggy variant
//! timeout 10s                         # limit of every wait (default 10s)
//!
//! step 1. The collector stops the world    # a step: title, actions, narration
//!   run any to stw_gcwaiting where arg0 == 1 as gc
//!   say
//!     | narration, one `|` line each; {gc} becomes the actor's M
//!     | ("M3") and {seq} a saved variable's value, once known
//!
//! expect buggy throw "msg" or "other msg"
//! expect fixed probe foreachp_done by gc
//! ```
//!
//! Actions:
//! - `run <who> to <probe> [where argN == <int|$var>]... [as <actor>] [save <var> = argN]...`
//!   arms `<probe>`, lets `<who>` run (`any`: every thread not frozen by the
//!   script; or one actor), and waits for the first hit that satisfies the
//!   conditions. That thread stays stopped at the probe (frozen) and, with
//!   `as`, becomes the named actor. Hits that do not match resume at once.
//! - `freeze <actor>`, `thaw <actor>`, `thaw all`. `sysmon` is a built-in
//!   actor: the thread whose M has the sysmon role.
//! - `pause <duration>`: let the program run for a while.
//! - `hold <probe> [where argN == <int|$var>]...`: from now until `thaw
//!   all`, every thread that reaches the probe (and meets the conditions) is
//!   held there: keeps threads out of a state the race depends on.
//! - `wait until <field> <op> <value> [and ...]...`: lets the threads the
//!   script does not hold run until the status table shows the condition.
//!   A field is `<record>.<path>` for `sched` and `mheap`, or
//!   `<record>[<n|$var>].<path>` for `p` and `m` (by id), `g` (by goid),
//!   `hchan` and `mspan` (by index); paths are the table's field names
//!   (`sched.stopwait`, `p[$p1].status`, `g[5].lock.owner`). `op` is one of
//!   `== != < <= > >=`; the value is a number, a `$var`, or a name the
//!   table gives the field's values (`syscall` for a P status, `chan
//!   receive` in quotes for a wait reason).
//! - `actor <name> = thread running goroutine <n|$var>`: names the thread
//!   that runs the goroutine, on the CPU or in a system call on its behalf
//!   (waiting until one does).
//!
//! Expectations (what the runtime must do, observed by the engine):
//! - `throw "<message>" [or "<message>"]...`: the program dies with
//!   `fatal error: <message>` on stderr and exit status 2.
//! - `probe <name> by <actor>`: that actor reaches the probe.
//! - `exit <code>`: the program exits with that status.
//! - `numgc +<n>`: sched.numgc grows by n from its value as the last step
//!   begins (read before that step's actions let the threads run).
//! - `output "<text>"`: the program prints text on stdout or stderr.
//! - `spin <actor> in <function> for <duration>`: the actor's thread stays
//!   in a function (by its symbolized stack) for longer than the duration.
//! - `cycle`: the wait-for analysis of the table finds a cycle.
//!
//! Numbers are checked as the script is parsed, each against what it is
//! for, and one out of range is an error at its line (never a wrap, a
//! panic or a wait that cannot end):
//! - durations (`timeout`, `pause`, `spin ... for`): a whole number and a
//!   unit (`us`, `ms`, `s`, `m`), at most a day ([`MAX_DURATION`]);
//!   a `timeout` is at least 1ms;
//! - `numgc +<n>`: at most 2^32 ([`MAX_NUMGC`]); met once sched.numgc has
//!   grown by at least n, compared without any sum that could wrap;
//! - `exit <code>`: 0 to 255, what a process can exit with;
//! - probe arguments, goroutine ids and record indexes (`where argN ==`,
//!   `goroutine <n>`, `g[<n>]`): decimal or `0x` hex, up to 2^64-1, as the
//!   runtime passes them;
//! - values in `wait until` conditions: -2^63 to 2^63-1.
//!
//! A `target` is a runtime example's name (`runtime/examples/<name>.rs`):
//! letters, digits, `_` and `-`, never a path.

use std::fmt;
use std::time::Duration;

/// An error at a line of a script: a parse error, or what stopped a run
/// there (the engine's errors at a step, an expectation or the target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub file: String,
    pub line: usize,
    pub msg: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.msg)
    }
}

impl std::error::Error for ScriptError {}

/// A value in a condition: a literal or a saved variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(u64),
    Var(String),
}

/// `where argN == value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cond {
    pub arg: usize,
    pub value: Value,
}

/// Who is let run in a `run` action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Any,
    Actor(String),
}

/// A table record kind a `wait` condition can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableRecord {
    Sched,
    MHeap,
    P,
    M,
    G,
    Hchan,
    MSpan,
}

impl TableRecord {
    fn parse(s: &str) -> Option<TableRecord> {
        Some(match s {
            "sched" => TableRecord::Sched,
            "mheap" => TableRecord::MHeap,
            "p" => TableRecord::P,
            "m" => TableRecord::M,
            "g" => TableRecord::G,
            "hchan" => TableRecord::Hchan,
            "mspan" => TableRecord::MSpan,
            _ => return None,
        })
    }

    /// The record's name in the table's descriptors.
    pub fn name(self) -> &'static str {
        match self {
            TableRecord::Sched => "sched",
            TableRecord::MHeap => "mheap",
            TableRecord::P => "p",
            TableRecord::M => "m",
            TableRecord::G => "g",
            TableRecord::Hchan => "hchan",
            TableRecord::MSpan => "mspan",
        }
    }

    /// Whether the record is one of many (and needs `[index]`).
    pub fn indexed(self) -> bool {
        !matches!(self, TableRecord::Sched | TableRecord::MHeap)
    }
}

/// `p[$p1].status`: a field of one table record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldExpr {
    pub record: TableRecord,
    pub index: Option<Value>,
    pub path: String,
}

impl fmt::Display for FieldExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.record.name())?;
        match &self.index {
            Some(Value::Int(n)) => write!(f, "[{n}]")?,
            Some(Value::Var(v)) => write!(f, "[${v}]")?,
            None => {}
        }
        write!(f, ".{}", self.path)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "==" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            _ => return None,
        })
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    pub fn holds<T: Ord>(self, a: T, b: T) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
        }
    }
}

/// The right-hand side of a table condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableValue {
    Int(i64),
    Var(String),
    /// A value name from the table's enum lists ("syscall", "chan receive").
    Name(String),
}

/// `sched.stopwait == 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCond {
    pub field: FieldExpr,
    pub op: Op,
    pub value: TableValue,
}

impl fmt::Display for TableCond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.field, self.op.symbol())?;
        match &self.value {
            TableValue::Int(n) => write!(f, "{n}"),
            TableValue::Var(v) => write!(f, "${v}"),
            TableValue::Name(n) if n.contains(' ') => write!(f, "{n:?}"),
            TableValue::Name(n) => write!(f, "{n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Run {
        who: Who,
        probe: String,
        conds: Vec<Cond>,
        actor: Option<String>,
        saves: Vec<(String, usize)>,
    },
    Freeze(String),
    Thaw(String),
    ThawAll,
    Pause(Duration),
    Hold {
        probe: String,
        conds: Vec<Cond>,
    },
    Wait(Vec<TableCond>),
    /// `actor <name> = thread running goroutine <n|$var>`.
    BindRunner {
        actor: String,
        goid: Value,
    },
}

/// An action with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    pub line: usize,
    pub item: T,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub line: usize,
    pub title: String,
    pub actions: Vec<Located<Action>>,
    pub narration: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Buggy,
    Fixed,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Buggy => "buggy",
            Variant::Fixed => "fixed",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    Throw(Vec<String>),
    Probe { probe: String, actor: String },
    Exit(i32),
    NumGc(u64),
    Output(String),
    Spin { actor: String, function: String, for_: Duration },
    Cycle,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub file: String,
    pub name: String,
    pub title: String,
    pub seed: String,
    pub upstream: String,
    pub target: String,
    /// Line of the `target` line (for errors about the target).
    pub target_line: usize,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub bug: String,
    pub timeout: Duration,
    pub steps: Vec<Step>,
    pub expect: Vec<(Variant, Located<Expect>)>,
}

impl Script {
    /// An error at line `line` of this script.
    pub fn error_at(&self, line: usize, msg: impl Into<String>) -> ScriptError {
        ScriptError { file: self.file.clone(), line, msg: msg.into() }
    }

    /// The expectations of one variant.
    pub fn expectations(&self, v: Variant) -> impl Iterator<Item = &Located<Expect>> {
        self.expect.iter().filter(move |(w, _)| *w == v).map(|(_, e)| e)
    }

    /// Every probe the script names (for checking against the target).
    pub fn probes(&self) -> Vec<(usize, &str)> {
        let mut v = Vec::new();
        for s in &self.steps {
            for a in &s.actions {
                match &a.item {
                    Action::Run { probe, .. } | Action::Hold { probe, .. } => v.push((a.line, probe.as_str())),
                    _ => {}
                }
            }
        }
        for (_, e) in &self.expect {
            if let Expect::Probe { probe, .. } = &e.item {
                v.push((e.line, probe.as_str()));
            }
        }
        v
    }
}

/// The longest duration a script may give: a day. Every deadline the
/// engine computes from one is then far from `Instant`'s limits.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// The largest `numgc +<n>`: 2^32 cycles (a race waits for a few).
pub const MAX_NUMGC: u64 = 1 << 32;

/// Parses a duration like `10s`, `250ms`, `3us`, `2m`, at most
/// [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("bad duration {s:?}: a whole number and a unit, like 10s, 250ms, 3us or 2m");
    let i = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = s.split_at(i);
    let us_per: u64 = match unit {
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        _ => return Err(bad()),
    };
    if num.is_empty() {
        return Err(bad());
    }
    // Too many digits for a u64, or a product that overflows: out of range
    // as surely as a value past the limit.
    match num.parse::<u64>().ok().and_then(|n| n.checked_mul(us_per)).map(Duration::from_micros) {
        Some(d) if d <= MAX_DURATION => Ok(d),
        _ => Err(format!("duration {s} is out of range: at most a day (1440m, 86400s)")),
    }
}

/// Splits a line into words, keeping "quoted strings" whole (quotes removed).
fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    while let Some(&c) = it.peek() {
        if c.is_whitespace() {
            it.next();
        } else if c == '"' {
            it.next();
            let mut w = String::new();
            loop {
                match it.next() {
                    Some('"') => break,
                    Some('\\') => w.push(it.next().ok_or("unterminated escape")?),
                    Some(c) => w.push(c),
                    None => return Err("unterminated string".into()),
                }
            }
            out.push(w);
        } else {
            let mut w = String::new();
            while let Some(&c) = it.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                it.next();
            }
            out.push(w);
        }
    }
    Ok(out)
}

fn strip_comment(line: &str) -> &str {
    // A '#' outside quotes starts a comment.
    let mut inq = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => inq = !inq,
            '#' if !inq => return &line[..i],
            _ => {}
        }
    }
    line
}

fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn parse_arg(s: &str) -> Option<usize> {
    s.strip_prefix("arg")?.parse().ok().filter(|&n| n < 4)
}

/// Parses a script. `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Script, ScriptError> {
    let err = |line: usize, msg: String| ScriptError { file: file.to_string(), line, msg };
    let mut sc = Script {
        file: file.to_string(),
        name: String::new(),
        title: String::new(),
        seed: String::new(),
        upstream: String::new(),
        target: String::new(),
        target_line: 1,
        args: Vec::new(),
        env: Vec::new(),
        bug: String::new(),
        timeout: Duration::from_secs(10),
        steps: Vec::new(),
        expect: Vec::new(),
    };
    let mut in_say = false;
    for (i, raw) in text.lines().enumerate() {
        let ln = i + 1;
        let trimmed = raw.trim_start();
        if in_say {
            if let Some(rest) = trimmed.strip_prefix('|') {
                let step = sc.steps.last_mut().unwrap();
                if !step.narration.is_empty() {
                    step.narration.push('\n');
                }
                step.narration.push_str(rest.strip_prefix(' ').unwrap_or(rest));
                continue;
            }
            in_say = false;
        }
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let (kw, rest) = line.split_once(char::is_whitespace).map_or((line, ""), |(a, b)| (a, b.trim()));
        let w = words(rest).map_err(|e| err(ln, e))?;
        let need = |n: usize, usage: &str| -> Result<(), ScriptError> {
            if w.len() < n {
                Err(err(ln, format!("`{kw}` needs {usage}")))
            } else {
                Ok(())
            }
        };
        match kw {
            "race" => {
                need(1, "a name")?;
                sc.name = w[0].clone();
            }
            "title" => sc.title = rest.to_string(),
            "seed" => sc.seed = rest.to_string(),
            "upstream" => sc.upstream = rest.to_string(),
            "target" => {
                need(1, "an example name")?;
                if !crate::targets::is_example_name(&w[0]) {
                    return Err(err(
                        ln,
                        format!(
                            "bad target {:?}: a target is a runtime example's name (runtime/examples/<name>.rs), \
                             not a path",
                            w[0]
                        ),
                    ));
                }
                sc.target = w[0].clone();
                sc.target_line = ln;
                sc.args = w[1..].to_vec();
            }
            "env" => {
                need(1, "KEY=VALUE")?;
                for kv in &w {
                    let (k, v) =
                        kv.split_once('=').ok_or_else(|| err(ln, format!("`env {kv}`: expected KEY=VALUE")))?;
                    sc.env.push((k.to_string(), v.to_string()));
                }
            }
            "bug" => {
                need(1, "a bug switch name")?;
                sc.bug = w[0].clone();
            }
            "timeout" => {
                need(1, "a duration like 10s")?;
                sc.timeout = parse_duration(&w[0]).map_err(|m| err(ln, m))?;
                if sc.timeout < Duration::from_millis(1) {
                    return Err(err(ln, format!("timeout {} would end every wait at once: at least 1ms", w[0])));
                }
            }
            "step" => {
                if rest.is_empty() {
                    return Err(err(ln, "`step` needs a title".into()));
                }
                sc.steps.push(Step {
                    line: ln,
                    title: rest.to_string(),
                    actions: Vec::new(),
                    narration: String::new(),
                });
            }
            "say" => {
                if sc.steps.is_empty() {
                    return Err(err(ln, "`say` outside a step".into()));
                }
                in_say = true;
            }
            "run" | "freeze" | "thaw" | "pause" | "hold" | "wait" | "actor" => {
                let Some(step) = sc.steps.last_mut() else {
                    return Err(err(ln, format!("`{kw}` outside a step")));
                };
                let action = parse_action(kw, &w).map_err(|m| err(ln, m))?;
                step.actions.push(Located { line: ln, item: action });
            }
            "expect" => {
                need(2, "a variant (buggy or fixed) and an expectation")?;
                let v = match w[0].as_str() {
                    "buggy" => Variant::Buggy,
                    "fixed" => Variant::Fixed,
                    other => return Err(err(ln, format!("unknown variant {other:?}: expected buggy or fixed"))),
                };
                let e = parse_expect(&w[1..]).map_err(|m| err(ln, m))?;
                sc.expect.push((v, Located { line: ln, item: e }));
            }
            other => return Err(err(ln, format!("unknown keyword {other:?}"))),
        }
    }
    // Whole-script checks.
    let need_hdr = |v: &str, what: &str| -> Result<(), ScriptError> {
        if v.is_empty() {
            Err(err(1, format!("missing `{what}` line")))
        } else {
            Ok(())
        }
    };
    need_hdr(&sc.name, "race")?;
    need_hdr(&sc.target, "target")?;
    need_hdr(&sc.bug, "bug")?;
    if sc.steps.is_empty() {
        return Err(err(1, "a race needs at least one step".into()));
    }
    for v in [Variant::Buggy, Variant::Fixed] {
        if sc.expectations(v).next().is_none() {
            return Err(err(text.lines().count().max(1), format!("missing `expect {}` line", v.name())));
        }
    }
    check_names(&sc).map_err(|(ln, m)| err(ln, m))?;
    Ok(sc)
}

fn parse_action(kw: &str, w: &[String]) -> Result<Action, String> {
    match kw {
        "freeze" => match w {
            [a] if is_ident(a) => Ok(Action::Freeze(a.clone())),
            _ => Err("usage: freeze <actor>".into()),
        },
        "thaw" => match w {
            [a] if a == "all" => Ok(Action::ThawAll),
            [a] if is_ident(a) => Ok(Action::Thaw(a.clone())),
            _ => Err("usage: thaw <actor>|all".into()),
        },
        "pause" => match w {
            [d] => Ok(Action::Pause(parse_duration(d)?)),
            _ => Err("usage: pause <duration>".into()),
        },
        "wait" => {
            let usage = "usage: wait until <field> <op> <value> [and <field> <op> <value>]...";
            if w.first().map(String::as_str) != Some("until") {
                return Err(usage.into());
            }
            let mut conds = Vec::new();
            let mut i = 1;
            loop {
                let [f, op, v] = w.get(i..i + 3).and_then(|x| <&[String; 3]>::try_from(x).ok()).ok_or(usage)?;
                let field = parse_field(f)?;
                let op = Op::parse(op).ok_or_else(|| format!("bad comparison {op:?}: use == != < <= > >="))?;
                let value = if let Some(var) = v.strip_prefix('$') {
                    TableValue::Var(var.to_string())
                } else if let Some(n) = parse_signed(v) {
                    TableValue::Int(n)
                } else if looks_numeric(v) {
                    return Err(format!("number {v} is out of range: a table value is {} to {}", i64::MIN, i64::MAX));
                } else {
                    TableValue::Name(v.clone())
                };
                conds.push(TableCond { field, op, value });
                i += 3;
                match w.get(i).map(String::as_str) {
                    None => break,
                    Some("and") => i += 1,
                    Some(other) => return Err(format!("unexpected {other:?}; {usage}")),
                }
            }
            Ok(Action::Wait(conds))
        }
        "actor" => match w {
            [name, eq, th, run, gr, g]
                if eq == "=" && th == "thread" && run == "running" && gr == "goroutine" && is_ident(name) =>
            {
                let goid = match g.strip_prefix('$') {
                    Some(v) => Value::Var(v.to_string()),
                    None => Value::Int(parse_u64(g, "goroutine id")?),
                };
                Ok(Action::BindRunner { actor: name.clone(), goid })
            }
            _ => Err("usage: actor <name> = thread running goroutine <n|$var>".into()),
        },
        "hold" => {
            let usage = "usage: hold <probe> [where argN == <n|$var>]...";
            let Some(probe) = w.first().filter(|p| is_ident(p)) else {
                return Err(usage.into());
            };
            let mut conds = Vec::new();
            let mut i = 1;
            while i < w.len() {
                if (w[i] == "where" || w[i] == "and")
                    && i + 3 < w.len()
                    && w.get(i + 2).map(String::as_str) == Some("==")
                {
                    let arg =
                        parse_arg(&w[i + 1]).ok_or_else(|| format!("`where` wants arg0..arg3, not {:?}", w[i + 1]))?;
                    let v = &w[i + 3];
                    let value = match v.strip_prefix('$') {
                        Some(var) => Value::Var(var.to_string()),
                        None => Value::Int(parse_u64(v, "number")?),
                    };
                    conds.push(Cond { arg, value });
                    i += 4;
                } else {
                    return Err(format!("unexpected {:?}; {usage}", w[i]));
                }
            }
            Ok(Action::Hold { probe: probe.clone(), conds })
        }
        _ => {
            // run <who> to <probe> [where argN == v]... [as actor] [save var = argN]...
            let usage =
                "usage: run <any|actor> to <probe> [where argN == <n|$var>]... [as <actor>] [save <var> = argN]...";
            if w.len() < 3 || w[1] != "to" {
                return Err(usage.into());
            }
            let who = if w[0] == "any" {
                Who::Any
            } else if is_ident(&w[0]) {
                Who::Actor(w[0].clone())
            } else {
                return Err(usage.into());
            };
            let probe = w[2].clone();
            if !is_ident(&probe) {
                return Err(format!("bad probe name {probe:?}"));
            }
            let mut conds = Vec::new();
            let mut actor = None;
            let mut saves = Vec::new();
            let mut i = 3;
            while i < w.len() {
                match w[i].as_str() {
                    "where" | "and" if i + 3 < w.len() && w.get(i + 2).map(String::as_str) == Some("==") => {
                        let arg = parse_arg(&w[i + 1])
                            .ok_or_else(|| format!("`where` wants arg0..arg3, not {:?}", w[i + 1]))?;
                        let v = &w[i + 3];
                        let value = if let Some(var) = v.strip_prefix('$') {
                            Value::Var(var.to_string())
                        } else {
                            Value::Int(parse_u64(v, "number")?)
                        };
                        conds.push(Cond { arg, value });
                        i += 4;
                    }
                    "as" if i + 1 < w.len() && is_ident(&w[i + 1]) => {
                        actor = Some(w[i + 1].clone());
                        i += 2;
                    }
                    "save" if i + 3 < w.len() && w[i + 2] == "=" => {
                        let arg = parse_arg(&w[i + 3])
                            .ok_or_else(|| format!("`save` wants arg0..arg3, not {:?}", w[i + 3]))?;
                        saves.push((w[i + 1].clone(), arg));
                        i += 4;
                    }
                    other => return Err(format!("unexpected {other:?}; {usage}")),
                }
            }
            Ok(Action::Run { who, probe, conds, actor, saves })
        }
    }
}

fn parse_signed(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        // i64::MIN's magnitude is one past i64::MAX.
        Some(r) => parse_int(r).and_then(|n| 0i64.checked_sub_unsigned(n)),
        None => parse_int(s).and_then(|n| i64::try_from(n).ok()),
    }
}

/// `sched.stopwait`, `p[$p1].status`, `g[5].lock.owner`.
fn parse_field(s: &str) -> Result<FieldExpr, String> {
    let (head, path) =
        s.split_once('.').ok_or_else(|| format!("bad field {s:?}: expected <record>.<field>, like sched.stopwait"))?;
    let (name, index) = match head.split_once('[') {
        Some((n, rest)) => {
            let inner = rest.strip_suffix(']').ok_or_else(|| format!("bad field {s:?}: unclosed ["))?;
            let v = match inner.strip_prefix('$') {
                Some(v) if is_ident(v) => Value::Var(v.to_string()),
                _ => Value::Int(parse_u64(inner, "index").map_err(|m| format!("{m} in {s:?}"))?),
            };
            (n, Some(v))
        }
        None => (head, None),
    };
    let record = TableRecord::parse(name)
        .ok_or_else(|| format!("unknown record {name:?} in {s:?} (sched, mheap, p, m, g, hchan, mspan)"))?;
    if record.indexed() != index.is_some() {
        return Err(if record.indexed() {
            format!("{name} needs an index: {name}[<n|$var>].{path}")
        } else {
            format!("{name} has one record: {name}.{path}, without an index")
        });
    }
    if path.is_empty() || !path.split('.').all(is_ident) {
        return Err(format!("bad field path {path:?} in {s:?}"));
    }
    Ok(FieldExpr { record, index, path: path.to_string() })
}

fn parse_int(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Whether `s` is written as a number (decimal or `0x` hex), in range or not.
fn looks_numeric(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    match s.strip_prefix("0x") {
        Some(h) => !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()),
        None => !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()),
    }
}

/// A probe argument, goroutine id or record index: a u64, or an error
/// that says whether it is out of range or no number at all.
fn parse_u64(s: &str, what: &str) -> Result<u64, String> {
    match parse_int(s) {
        Some(n) => Ok(n),
        None if looks_numeric(s) && !s.starts_with('-') => {
            Err(format!("{what} {s} is out of range: at most {} (2^64-1)", u64::MAX))
        }
        None => Err(format!("bad {what} {s:?}")),
    }
}

fn parse_expect(w: &[String]) -> Result<Expect, String> {
    match w[0].as_str() {
        "throw" => {
            let mut msgs = Vec::new();
            let mut i = 1;
            while i < w.len() {
                msgs.push(w[i].clone());
                i += 1;
                if i < w.len() {
                    if w[i] != "or" {
                        return Err(format!("expected `or` between messages, found {:?}", w[i]));
                    }
                    i += 1;
                }
            }
            if msgs.is_empty() {
                return Err("usage: throw \"message\" [or \"message\"]...".into());
            }
            Ok(Expect::Throw(msgs))
        }
        "probe" => match w {
            [_, p, by, a] if by == "by" => Ok(Expect::Probe { probe: p.clone(), actor: a.clone() }),
            _ => Err("usage: probe <name> by <actor>".into()),
        },
        "exit" => match w {
            [_, c] => match c.parse::<i32>() {
                Ok(code) if (0..=255).contains(&code) => Ok(Expect::Exit(code)),
                _ if looks_numeric(c) => Err(format!("exit status {c} is out of range: 0 to 255")),
                _ => Err(format!("bad exit status {c:?}")),
            },
            _ => Err("usage: exit <status>".into()),
        },
        "numgc" => match w {
            [_, n] => {
                let digits = n
                    .strip_prefix('+')
                    .filter(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
                    .ok_or_else(|| format!("usage: numgc +<n>, not {n:?}"))?;
                match digits.parse::<u64>() {
                    Ok(k) if k <= MAX_NUMGC => Ok(Expect::NumGc(k)),
                    _ => Err(format!("numgc {n} is out of range: at most +{MAX_NUMGC} (2^32)")),
                }
            }
            _ => Err("usage: numgc +<n>".into()),
        },
        "output" => match w {
            [_, t] => Ok(Expect::Output(t.clone())),
            _ => Err("usage: output \"text\"".into()),
        },
        "spin" => match w {
            [_, a, inn, f, fr, d] if inn == "in" && fr == "for" => {
                Ok(Expect::Spin { actor: a.clone(), function: f.clone(), for_: parse_duration(d)? })
            }
            _ => Err("usage: spin <actor> in <function> for <duration>".into()),
        },
        "cycle" if w.len() == 1 => Ok(Expect::Cycle),
        other => Err(format!("unknown expectation {other:?} (throw, probe, exit, numgc, output, spin, cycle)")),
    }
}

/// Actors must be named (by `as`, or built in) before they are used, and
/// variables saved before they are read.
fn check_names(sc: &Script) -> Result<(), (usize, String)> {
    let mut actors: Vec<String> = vec!["sysmon".into()];
    let mut vars: Vec<String> = Vec::new();
    let known = |a: &str, actors: &[String]| actors.iter().any(|x| x == a);
    for s in &sc.steps {
        for a in &s.actions {
            let ln = a.line;
            match &a.item {
                Action::Run { who, conds, actor, saves, .. } => {
                    if let Who::Actor(x) = who {
                        if !known(x, &actors) {
                            return Err((ln, format!("unknown actor {x:?} (name it first with `as {x}`)")));
                        }
                    }
                    for c in conds {
                        if let Value::Var(v) = &c.value {
                            if !vars.contains(v) {
                                return Err((
                                    ln,
                                    format!("unknown variable ${v} (save it first with `save {v} = argN`)"),
                                ));
                            }
                        }
                    }
                    if let Some(x) = actor {
                        if x == "all" || x == "any" {
                            return Err((ln, format!("{x:?} cannot name an actor")));
                        }
                        actors.push(x.clone());
                    }
                    vars.extend(saves.iter().map(|(v, _)| v.clone()));
                }
                Action::Freeze(x) | Action::Thaw(x) => {
                    if !known(x, &actors) {
                        return Err((ln, format!("unknown actor {x:?}")));
                    }
                }
                Action::Hold { conds, .. } => {
                    for c in conds {
                        if let Value::Var(v) = &c.value {
                            if !vars.contains(v) {
                                return Err((
                                    ln,
                                    format!("unknown variable ${v} (save it first with `save {v} = argN`)"),
                                ));
                            }
                        }
                    }
                }
                Action::Wait(conds) => {
                    for c in conds {
                        let mut used = Vec::new();
                        if let Some(Value::Var(v)) = &c.field.index {
                            used.push(v);
                        }
                        if let TableValue::Var(v) = &c.value {
                            used.push(v);
                        }
                        for v in used {
                            if !vars.contains(v) {
                                return Err((
                                    ln,
                                    format!("unknown variable ${v} (save it first with `save {v} = argN`)"),
                                ));
                            }
                        }
                    }
                }
                Action::BindRunner { actor, goid } => {
                    if let Value::Var(v) = goid {
                        if !vars.contains(v) {
                            return Err((ln, format!("unknown variable ${v} (save it first with `save {v} = argN`)")));
                        }
                    }
                    if actor == "all" || actor == "any" {
                        return Err((ln, format!("{actor:?} cannot name an actor")));
                    }
                    actors.push(actor.clone());
                }
                Action::ThawAll | Action::Pause(_) => {}
            }
        }
    }
    for (_, e) in &sc.expect {
        if let Expect::Probe { actor, .. } | Expect::Spin { actor, .. } = &e.item {
            if !known(actor, &actors) {
                return Err((e.line, format!("unknown actor {actor:?}")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
race demo-race
title a title
seed 002_x.txt
target foreachp 3   # comment
env GRT_MAXPROCS=2
bug foreachp-stopwait
timeout 5s
step one
  run any to stw_gcwaiting where arg0 == 1 as gc save p = arg1
  say
    | first line
    | second line
step two
  run any to entersyscall where arg1 == $p and arg2 == 0x10 as m2
  thaw all
expect buggy throw "forEachP: P did not run fn" or "forEachP: not stopped"
expect fixed probe foreachp_done by gc
expect fixed numgc +3
"#;

    #[test]
    fn parses_a_script() {
        let s = parse("t.race", OK).unwrap();
        assert_eq!(s.name, "demo-race");
        assert_eq!(s.target, "foreachp");
        assert_eq!(s.args, ["3"]);
        assert_eq!(s.env, [("GRT_MAXPROCS".to_string(), "2".to_string())]);
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.steps.len(), 2);
        assert_eq!(s.steps[0].narration, "first line\nsecond line");
        assert_eq!(
            s.steps[0].actions[0].item,
            Action::Run {
                who: Who::Any,
                probe: "stw_gcwaiting".into(),
                conds: vec![Cond { arg: 0, value: Value::Int(1) }],
                actor: Some("gc".into()),
                saves: vec![("p".into(), 1)],
            }
        );
        match &s.steps[1].actions[0].item {
            Action::Run { conds, .. } => {
                assert_eq!(conds[0].value, Value::Var("p".into()));
                assert_eq!(conds[1].value, Value::Int(16));
            }
            a => panic!("{a:?}"),
        }
        assert_eq!(s.expectations(Variant::Fixed).count(), 2);
        assert_eq!(
            s.expectations(Variant::Buggy).next().unwrap().item,
            Expect::Throw(vec!["forEachP: P did not run fn".into(), "forEachP: not stopped".into()])
        );
        assert_eq!(s.probes().len(), 3);
    }

    #[test]
    fn errors_point_at_the_line() {
        let bad = OK.replace("thaw all", "thaw m9");
        let e = parse("t.race", &bad).unwrap_err();
        assert_eq!((e.line, e.msg.as_str()), (16, "unknown actor \"m9\""));
        let bad = OK.replace("$p and", "$q and");
        let e = parse("t.race", &bad).unwrap_err();
        assert!(e.msg.contains("unknown variable $q"), "{e}");
        assert_eq!(e.line, 15);
        let bad = OK.replace("run any to entersyscall", "run any entersyscall");
        assert!(parse("t.race", &bad).unwrap_err().msg.starts_with("usage: run"));
        let bad = OK.replace("expect fixed probe", "expect maybe probe");
        assert!(parse("t.race", &bad).unwrap_err().msg.contains("unknown variant"));
        let bad = OK.replace("timeout 5s", "timeout 5 seconds");
        assert_eq!(parse("t.race", &bad).unwrap_err().line, 8);
        let e = parse("x.race", "race a\ntarget t\nbug b\n").unwrap_err();
        assert!(e.to_string().starts_with("x.race:1: a race needs at least one step"), "{e}");
    }

    /// The error `OK` gives with line `from` replaced by `to`: at that line.
    fn error_with(from: &str, to: &str) -> String {
        assert!(OK.contains(from), "{from:?}");
        let text = OK.replacen(from, to, 1);
        let e = parse("t.race", &text).expect_err(to);
        let line = text.lines().position(|l| l.contains(to.trim())).unwrap() + 1;
        assert_eq!(e.line, line, "{e}");
        e.msg
    }

    #[test]
    fn durations_are_range_checked() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("86400s"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("1440m"), Ok(MAX_DURATION));
        for big in ["86401s", "1441m", "18446744073709551615s", "4611686018427387904m", "99999999999999999999us"] {
            let e = parse_duration(big).unwrap_err();
            assert!(e.contains("out of range: at most a day"), "{big}: {e}");
        }
        for bad in ["s", "10", "10h", "-1s", "1.5s", ""] {
            assert!(parse_duration(bad).unwrap_err().starts_with("bad duration"), "{bad}");
        }
        // In a script: each use names the line.
        assert!(error_with("timeout 5s", "timeout 18446744073709551615s").contains("out of range"));
        assert!(error_with("timeout 5s", "timeout 4611686018427387904m").contains("out of range"));
        assert!(error_with("timeout 5s", "timeout 0ms").contains("at least 1ms"));
        assert!(error_with("  thaw all", "  pause 18446744073709551615s").contains("out of range"));
        let spin = "expect fixed spin gc in foo for 18446744073709551615s";
        assert!(error_with("expect fixed numgc +3", spin).contains("out of range"));
        let s = parse("t.race", &OK.replacen("  thaw all", "  pause 1440m", 1)).unwrap();
        assert_eq!(s.steps[1].actions[1].item, Action::Pause(MAX_DURATION));
    }

    #[test]
    fn counts_and_values_are_range_checked() {
        let numgc = |n: &str| error_with("expect fixed numgc +3", &format!("expect fixed numgc {n}"));
        assert!(numgc("+18446744073709551615").contains("out of range: at most +4294967296"));
        assert!(numgc("+4294967297").contains("out of range"));
        assert!(numgc("+99999999999999999999999").contains("out of range"));
        assert!(numgc("3").starts_with("usage: numgc +<n>"));
        assert!(numgc("+-3").starts_with("usage: numgc +<n>"));
        let s = parse("t.race", &OK.replacen("numgc +3", "numgc +4294967296", 1)).unwrap();
        assert!(s.expectations(Variant::Fixed).any(|e| e.item == Expect::NumGc(MAX_NUMGC)));

        let exit = |c: &str| error_with("expect fixed numgc +3", &format!("expect fixed exit {c}"));
        assert!(exit("256").contains("out of range: 0 to 255"));
        assert!(exit("-1").contains("out of range"));
        assert!(exit("99999999999").contains("out of range"));
        assert!(exit("x").starts_with("bad exit status"));

        let arg = error_with("arg2 == 0x10", "arg2 == 18446744073709551616");
        assert!(arg.contains("number 18446744073709551616 is out of range"), "{arg}");
        let arg = error_with("arg2 == 0x10", "arg2 == 0x10000000000000000");
        assert!(arg.contains("out of range"), "{arg}");
        let s = parse("t.race", &OK.replacen("arg2 == 0x10", "arg2 == 18446744073709551615", 1)).unwrap();
        match &s.steps[1].actions[0].item {
            Action::Run { conds, .. } => assert_eq!(conds[1].value, Value::Int(u64::MAX)),
            a => panic!("{a:?}"),
        }
        let g = error_with("  thaw all", "  actor x = thread running goroutine 99999999999999999999");
        assert!(g.contains("goroutine id 99999999999999999999 is out of range"), "{g}");
        let w = error_with("  thaw all", "  wait until sched.numgc >= 9223372036854775808");
        assert!(w.contains("out of range: a table value is"), "{w}");
        let w = error_with("  thaw all", "  wait until g[18446744073709551616].status == 1");
        assert!(w.contains("index 18446744073709551616 is out of range"), "{w}");
        let s = parse("t.race", &OK.replacen("  thaw all", "  wait until sched.stopwait > -9223372036854775808", 1))
            .unwrap();
        match &s.steps[1].actions[1].item {
            Action::Wait(c) => assert_eq!(c[0].value, TableValue::Int(i64::MIN)),
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn a_target_is_an_example_name_not_a_path() {
        for t in ["../../../../../bin/sleep", "/bin/sleep", "a/b", "..", "-v", "x.rs", "~x"] {
            let m = error_with("target foreachp 3", &format!("target {t} 30"));
            assert!(m.contains("a target is a runtime example's name"), "{t}: {m}");
        }
        let s = parse("t.race", &OK.replacen("target foreachp 3", "target ctl_target-2 ../x", 1)).unwrap();
        assert_eq!((s.target.as_str(), s.args.as_slice()), ("ctl_target-2", &["../x".to_string()][..]));
    }

    #[test]
    fn the_shipped_scripts_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/races");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "race") {
                let text = std::fs::read_to_string(&p).unwrap();
                let s = parse(&p.display().to_string(), &text).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(
                    Some(s.name.as_str()),
                    p.file_stem().and_then(|s| s.to_str()),
                    "race name must match the file name"
                );
                n += 1;
            }
        }
        assert!(n >= 1);
    }
}
