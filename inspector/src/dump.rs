//! Dumps of a live grt process in Go's SIGQUIT format, as JSON, or as Go's
//! schedtrace lines.
//!
//! A dump freezes every thread (ptrace), copies the status table, every
//! thread's registers and the used part of every stack, and thaws: the
//! target pauses for the copy only (milliseconds), then unwinding and
//! symbolization run on the copies. Goroutines are unwound with the same
//! code the runtime uses for its own crash dumps (`grt_symbols::traceback`):
//! a parked goroutine from the saved context in its record, a running one
//! (or one in a system call) from the registers of the thread that runs it,
//! so a running goroutine is shown on its M. Threads not running a
//! goroutine appear, at `--threads`, as Go's `goroutine 0 ... [idle]`
//! blocks with their registers.
//!
//! The target's executable and libraries are opened and mapped (its
//! symbols loaded) *before* the freeze, while the process surely lives:
//! the files are then read through our own mappings, so a target that
//! exits right after the thaw is still symbolized from what was opened
//! while it lived. If they cannot be loaded, [`Dump::symbols_loaded`] is
//! false and [`Dump::symbols_error`] says why.
//!
//! Without freezing (`freeze: false`), the table is read live and parked
//! goroutines are unwound from the live stacks; running goroutines then
//! print Go's "goroutine running on other thread; stack unavailable".

use crate::control::{Controller, Regs};
use crate::find::{self, FindError, TableSource};
use crate::snapshot::{Capture, DecodeOptions, GView, Link, MView, Snapshot};
use grt_symbols::traceback::{self as tb, CreatedBy, GoroutineBlock, TraceFrame};
use grt_symbols::{MemoryReader, ProcessMemory, ProcessSymbols, Registers, SnapshotMemory};
use grt_table::schedtrace::{GLine, MLine, PLine, SchedLine};
use grt_table::view::Image;
use grt_table::{G_RUNNABLE, G_RUNNING, G_SYSCALL, G_WAITING};
use serde::Serialize;
use std::collections::HashSet;
use std::fmt::{self, Write};
use std::time::Instant;

/// Most frames printed per goroutine (as Go).
const MAX_FRAMES: usize = 100;
/// Most stack bytes copied per goroutine or thread.
const MAX_STACK_COPY: u64 = 512 * 1024;

/// What to dump and how.
#[derive(Clone, Copy, Debug)]
pub struct DumpOptions {
    /// Freeze all threads while copying (consistent, and running goroutines
    /// get stacks); otherwise read live without ptrace.
    pub freeze: bool,
    /// Also dump every thread: idle Ms as `goroutine 0` blocks, and the
    /// registers of each thread at the end.
    pub threads: bool,
    /// Go's traceback level: 2 adds `gp= m= mp=` and `fp= sp= pc=`.
    pub level: u8,
}

impl Default for DumpOptions {
    fn default() -> Self {
        DumpOptions { freeze: true, threads: false, level: 1 }
    }
}

/// Why a dump failed (one line: the cause and the remedy).
#[derive(Debug)]
pub enum DumpError {
    Find(FindError),
    Control(crate::control::Error),
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpError::Find(e) => write!(f, "{e}"),
            DumpError::Control(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DumpError {}

impl From<FindError> for DumpError {
    fn from(e: FindError) -> Self {
        DumpError::Find(e)
    }
}

impl From<crate::control::Error> for DumpError {
    fn from(e: crate::control::Error) -> Self {
        DumpError::Control(e)
    }
}

/// One frame, for JSON.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct FrameOut {
    pub function: String,
    pub file: String,
    pub line: u32,
    /// pc minus the function's entry (absent for inlined frames).
    pub offset: Option<u64>,
    pub pc: u64,
    pub sp: u64,
    pub inlined: bool,
}

impl From<&TraceFrame> for FrameOut {
    fn from(f: &TraceFrame) -> Self {
        FrameOut {
            function: f.function.clone(),
            file: f.file.clone(),
            line: f.line,
            offset: f.offset,
            pc: f.pc,
            sp: f.sp,
            inlined: f.inlined,
        }
    }
}

/// "created by", for JSON.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct CreatedOut {
    pub function: String,
    pub parent: u64,
    pub file: String,
    pub line: u32,
    pub offset: u64,
}

/// One goroutine of a dump.
#[derive(Serialize, Clone, Debug)]
pub struct GoroutineDump {
    pub goid: u64,
    /// Wait reason or status name, as in the header line.
    pub status: String,
    pub scan: bool,
    pub wait_minutes: u64,
    /// Running: for how long it had passed no safe point (0 otherwise).
    pub no_safe_point_ns: u64,
    /// The M running it (running, in a system call).
    pub m: Option<i64>,
    /// Address of its G record.
    pub gp: u64,
    pub frames: Vec<FrameOut>,
    pub note: Option<String>,
    pub created_by: Option<CreatedOut>,
    #[serde(skip)]
    block: GoroutineBlock,
}

/// One OS thread of a dump.
#[derive(Serialize, Clone, Debug)]
pub struct ThreadDump {
    pub tid: i32,
    pub m: Option<i64>,
    pub role: String,
    pub state: String,
    /// The goroutine it runs, if any (its frames are in that goroutine).
    pub goroutine: Option<u64>,
    pub regs: Option<Regs>,
    /// Frames of the thread itself when it runs no goroutine.
    pub frames: Vec<FrameOut>,
    pub note: Option<String>,
    #[serde(skip)]
    block: Option<GoroutineBlock>,
}

/// A whole dump.
#[derive(Serialize, Clone, Debug)]
pub struct Dump {
    pub pid: i32,
    pub command: String,
    /// How long the target was frozen (None: read live).
    pub pause_us: Option<u64>,
    /// Time to unwind and symbolize, after the target was thawed.
    pub symbolize_ms: u64,
    /// Set when the target's symbols could not be loaded at all (or the
    /// executable is stripped).
    pub symbols_error: Option<String>,
    /// Whether the target's symbols were loaded (false: no stack could be
    /// unwound or named; `symbols_error` says why).
    #[serde(skip)]
    pub symbols_loaded: bool,
    pub goroutines: Vec<GoroutineDump>,
    pub threads: Vec<ThreadDump>,
    /// Wait-for cycles and notable waits, by name.
    pub waitfor: Vec<String>,
    /// Table damage found while decoding.
    pub damage: Vec<String>,
    pub snapshot: Snapshot,
    #[serde(skip)]
    level: u8,
    #[serde(skip)]
    show_threads: bool,
}

/// The mapping of /proc/pid/maps containing `addr`: (start, end).
fn mapping_of(maps: &[(u64, u64)], addr: u64) -> Option<(u64, u64)> {
    maps.iter().copied().find(|&(s, e)| addr >= s && addr < e)
}

fn read_maps(pid: i32) -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let r = l.split_whitespace().next()?;
            let (a, b) = r.split_once('-')?;
            Some((u64::from_str_radix(a, 16).ok()?, u64::from_str_radix(b, 16).ok()?))
        })
        .collect()
}

/// Copies what an unwinder reads, while the target is held, so that
/// unwinding can run after it is let go: every parked (or in-syscall)
/// goroutine's used stack, from its saved sp to the top of its stack, and
/// every thread's stack from its sp (to the top of the goroutine stack it
/// is on, or of its mapping). Nothing from the table is trusted: a range
/// that cannot be read shrinks, then is skipped.
pub fn copy_stacks(pid: i32, stacks: &[crate::snapshot::StackRange], regs: &[(i32, Regs)]) -> SnapshotMemory {
    let live = ProcessMemory::new(pid);
    let mut copies = SnapshotMemory::new();
    for g in stacks {
        let Some(hi) = g.hi else { continue };
        for sp in [g.sp, g.syscallsp].into_iter().flatten() {
            copy_stack(&live, &mut copies, sp, hi);
        }
    }
    let maps = read_maps(pid);
    for (_, r) in regs {
        let sp = r.sp();
        let top = stacks
            .iter()
            .find(|g| g.lo.is_some_and(|lo| sp >= lo) && g.hi.is_some_and(|hi| sp < hi))
            .and_then(|g| g.hi)
            .or_else(|| mapping_of(&maps, sp).map(|(_, e)| e))
            .unwrap_or(sp + 64 * 1024);
        copy_stack(&live, &mut copies, sp, top);
    }
    copies
}

/// Copies [sp, limit) (at most MAX_STACK_COPY) into `into`, shrinking the
/// range if the top is unreadable.
fn copy_stack(mem: &ProcessMemory, into: &mut SnapshotMemory, sp: u64, limit: u64) {
    if sp == 0 || limit <= sp {
        return;
    }
    let mut len = (limit - sp).min(MAX_STACK_COPY);
    while len >= 64 {
        if let Ok(v) = mem.read_vec(sp, len as usize) {
            into.add_region(sp, v);
            return;
        }
        len /= 2;
    }
}

/// How a goroutine is to be unwound.
enum Start {
    Regs(Registers),
    None(&'static str),
}

/// What a dump copies while the target is held; unwinding and decoding
/// run on it after the target runs again.
struct Held {
    img: Image,
    regs: Vec<(i32, Regs)>,
    stacks: SnapshotMemory,
    pause_us: u64,
}

/// Holds every thread of `pid` through `ctl`, copies the table, every
/// thread's registers and the stacks the unwinder will read, and lets go
/// of exactly the threads it stopped: a thread in `held` (frozen or at a
/// probe for the caller) stays as it was. Nothing held: one
/// `freeze_all`/`thaw_all` (the shortest pause); otherwise the running
/// threads are frozen one by one.
fn copy_held(ctl: &Controller, src: &TableSource, held: &HashSet<i32>) -> Result<Held, DumpError> {
    let pid = src.pid();
    let t0 = Instant::now();
    let all = held.is_empty() && ctl.freeze_all().is_ok();
    let mut frozen_now = Vec::new();
    if !all {
        for tid in find::thread_ids(pid).unwrap_or_default() {
            if !held.contains(&tid) && ctl.freeze(tid).is_ok() {
                frozen_now.push(tid);
            }
        }
    }
    let img = src.load_image(find::MAX_DUMP_SECTION);
    let mut regs: Vec<(i32, Regs)> = Vec::new();
    for tid in find::thread_ids(pid).unwrap_or_default() {
        if let Ok(r) = ctl.regs(tid) {
            regs.push((tid, r));
        }
    }
    // Copy what the unwinder will read, from the G records directly (no
    // decode while the target is held: the pause stays short).
    let stacks = match &img {
        Ok(img) => copy_stacks(pid, &crate::snapshot::stack_ranges(img), &regs),
        Err(_) => SnapshotMemory::new(),
    };
    let pause_us = t0.elapsed().as_micros() as u64;
    // Let go of every thread we stopped before reporting any error.
    let mut released = if all { ctl.thaw_all() } else { Ok(()) };
    for tid in frozen_now {
        released = released.and(ctl.thaw(tid));
    }
    released?;
    Ok(Held { img: img?, regs, stacks, pause_us })
}

/// Takes a dump of process `pid`.
pub fn capture(pid: i32, opts: DumpOptions) -> Result<Dump, DumpError> {
    capture_then(pid, opts, || {})
}

/// [`capture`], running `between` once the target is given back (thawed
/// and detached, or read live) and before the copies are unwound and
/// symbolized: a test ends the target there to show that the dump does not
/// need it any more.
pub fn capture_then(pid: i32, opts: DumpOptions, between: impl FnOnce()) -> Result<Dump, DumpError> {
    let src = find::open_table(pid)?;
    // Open the executable and libraries while the process surely lives.
    let syms = load_symbols(pid);
    if opts.freeze {
        let ctl = Controller::attach(pid)?;
        let held = copy_held(&ctl, &src, &HashSet::new());
        ctl.detach()?;
        let held = held?;
        between();
        return Ok(finish(&src, syms, held, opts));
    }
    let img = src.load_image(find::MAX_DUMP_SECTION)?;
    let snapshot = Snapshot::decode(&img, &DecodeOptions { capture: Capture::Live, ..Default::default() });
    let live = ProcessMemory::new(pid);
    between();
    Ok(symbolize(&src, syms, snapshot, &live, &[], None, opts))
}

/// Takes a dump of process `pid` through a controller the caller already
/// holds (a session owns ptrace, so [`capture`] could not attach): the
/// threads in `held` stay held; the others are frozen for the copy only.
/// Always freezes (`opts.freeze` is ignored).
pub fn capture_attached(ctl: &Controller, held: &HashSet<i32>, opts: DumpOptions) -> Result<Dump, DumpError> {
    let src = find::open_table(ctl.pid())?;
    let syms = load_symbols(ctl.pid());
    let copy = copy_held(ctl, &src, held)?;
    Ok(finish(&src, syms, copy, opts))
}

/// The target's symbols, loaded (files opened and mapped) now.
fn load_symbols(pid: i32) -> Result<ProcessSymbols, String> {
    ProcessSymbols::load(pid).map_err(|e| {
        format!("cannot read the executable or libraries of process {pid} ({e}): no stack can be unwound or named")
    })
}

/// Decodes and symbolizes a frozen copy.
fn finish(src: &TableSource, syms: Result<ProcessSymbols, String>, h: Held, opts: DumpOptions) -> Dump {
    let capture = Capture::Frozen { pause_us: h.pause_us };
    let snapshot = Snapshot::decode(&h.img, &DecodeOptions { capture, ..Default::default() });
    symbolize(src, syms, snapshot, &h.stacks, &h.regs, Some(h.pause_us), opts)
}

/// Unwinds and symbolizes a decoded snapshot: stacks read from `mem`
/// (copies when frozen, the live process otherwise), with the symbols
/// loaded before the capture.
fn symbolize(
    src: &TableSource,
    syms: Result<ProcessSymbols, String>,
    snapshot: Snapshot,
    mem: &dyn MemoryReader,
    regs: &[(i32, Regs)],
    pause_us: Option<u64>,
    opts: DumpOptions,
) -> Dump {
    let pid = src.pid();
    let t1 = Instant::now();
    let (syms, symbols_error) = match syms {
        Ok(s) => {
            // A stripped executable still unwinds (.eh_frame stays), but its
            // frames can only be named by object and offset: say so.
            let note = s.executable().filter(|x| !x.has_dwarf() && x.symbol_count() == 0).map(|x| {
                format!(
                    "{} is stripped (no symbol table, no DWARF): frames show the object and offset; dump an unstripped build for names and lines",
                    x.name()
                )
            });
            (Some(s), note)
        }
        Err(e) => (None, Some(e)),
    };
    let mut dump = build(pid, src.command().to_string(), &snapshot, syms.as_ref(), mem, regs, opts);
    dump.symbols_loaded = syms.is_some();
    dump.pause_us = pause_us;
    dump.symbols_error = symbols_error;
    dump.symbolize_ms = t1.elapsed().as_millis() as u64;
    dump.snapshot = snapshot;
    dump
}

fn m_of(snap: &Snapshot, link: Link) -> Option<&MView> {
    link.index().and_then(|i| snap.m(i))
}

fn walk(syms: Option<&ProcessSymbols>, mem: &dyn MemoryReader, regs: Registers) -> (Vec<TraceFrame>, Option<String>) {
    match syms {
        Some(s) => {
            let (mut frames, note) = tb::walk_frames(s, regs, mem, MAX_FRAMES * 2);
            tb::elide_runtime_frames(&mut frames);
            if frames.len() > MAX_FRAMES {
                frames.truncate(MAX_FRAMES);
                return (frames, Some("...additional frames elided...".into()));
            }
            (frames, note)
        }
        None => (Vec::new(), Some("stack unavailable: no symbols".into())),
    }
}

fn goroutine_block(
    snap: &Snapshot,
    g: &GView,
    syms: Option<&ProcessSymbols>,
    mem: &dyn MemoryReader,
    thread_regs: &dyn Fn(u64) -> Option<Regs>,
    level: u8,
) -> GoroutineBlock {
    let goid = g.goid.unwrap_or(0);
    let base = g.base_status().unwrap_or(u32::MAX);
    let status = snap.state_word(g).into_owned();
    let m = m_of(snap, g.m);
    let mut b = GoroutineBlock {
        goid,
        status,
        scan: g.scan(),
        wait_minutes: snap.wait_ns(g).unwrap_or(0) / 60_000_000_000,
        no_safe_point_ns: snap.no_safe_point_ns(g).unwrap_or(0),
        locked: !snap.g_extra(g).lockedm.is_nil(),
        gp: snap.header.base
            + snap.header.sections.iter().find(|s| s.kind == "g").map_or(0, |s| s.offset + g.index * s.stride),
        m: m.and_then(|m| m.id),
        mp: 0,
        ..Default::default()
    };
    if let Some(m) = m {
        b.mp = snap.header.base
            + snap.header.sections.iter().find(|s| s.kind == "m").map_or(0, |s| s.offset + m.index * s.stride);
    }
    // Running or in a system call: the registers of its thread, if frozen.
    let on_thread = match base {
        G_RUNNING | G_SYSCALL => m.and_then(|m| m.tid).and_then(thread_regs),
        _ => None,
    };
    let start = if let Some(r) = on_thread {
        Start::Regs(Registers::new(r.pc(), r.sp(), r.fp()))
    } else {
        match (base, g.sched, snap.g_extra(g).syscall) {
            (G_WAITING | G_RUNNABLE, Some(c), _) if c.sp != 0 => Start::Regs(Registers::from_parked(c.sp, c.pc, c.bp)),
            (G_SYSCALL, _, c) if c.sp != 0 => Start::Regs(Registers::new(c.pc, c.sp, c.bp)),
            (G_RUNNING, _, _) => Start::None("goroutine running on other thread; stack unavailable"),
            _ => Start::None(""),
        }
    };
    match start {
        Start::Regs(r) => {
            let (frames, note) = walk(syms, mem, r);
            b.frames = frames;
            b.note = note;
        }
        Start::None(n) => {
            if !n.is_empty() {
                b.note = Some(n.into());
            } else if let (Some(s), Some(pc)) = (syms, Some(g.startpc).filter(|&p| p != 0)) {
                // Never ran: show the function it will start in.
                tb::symbolize_pc(s, pc, pc, 0, 0, &mut b.frames);
            }
        }
    }
    if let Some(parent) = Some(g.parent_goid).filter(|&p| p != 0) {
        let site = snap.created_at(g).and_then(|at| {
            let (file, line) = at.rsplit_once(':')?;
            Some((file.to_string(), line.parse::<u32>().ok()?))
        });
        let site = site.as_ref().map(|(f, l)| (f.as_str(), *l));
        b.created_by = match syms {
            Some(s) => tb::created_by(s, g.gopc, parent, site),
            None => {
                site.map(|(file, line)| CreatedBy { function: "?".into(), parent, file: file.into(), line, offset: 0 })
            }
        };
    }
    let _ = level;
    b
}

/// Assembles a dump from a decoded snapshot, symbols, memory and the
/// threads' registers (empty when not frozen). Also used on saved data.
pub fn build(
    pid: i32,
    command: String,
    snap: &Snapshot,
    syms: Option<&ProcessSymbols>,
    mem: &dyn MemoryReader,
    regs: &[(i32, Regs)],
    opts: DumpOptions,
) -> Dump {
    let reg_of = |tid: u64| regs.iter().find(|(t, _)| *t as u64 == tid).map(|(_, r)| *r);
    let mut gs: Vec<&GView> = snap.gs.iter().filter(|g| g.goid.is_some()).collect();
    gs.sort_by_key(|g| g.goid);
    let goroutines = gs
        .iter()
        .map(|g| {
            let b = goroutine_block(snap, g, syms, mem, &reg_of, opts.level);
            GoroutineDump {
                goid: b.goid,
                status: b.status.clone(),
                scan: b.scan,
                wait_minutes: b.wait_minutes,
                no_safe_point_ns: b.no_safe_point_ns,
                m: b.m,
                gp: b.gp,
                frames: b.frames.iter().map(FrameOut::from).collect(),
                note: b.note.clone(),
                created_by: b.created_by.as_ref().map(|c| CreatedOut {
                    function: c.function.clone(),
                    parent: c.parent,
                    file: c.file.clone(),
                    line: c.line,
                    offset: c.offset,
                }),
                block: b,
            }
        })
        .collect();
    // Threads: every tid we have registers for, plus every M's tid.
    let mut all_tids: Vec<i32> = regs.iter().map(|(t, _)| *t).collect();
    for m in &snap.ms {
        if let Some(t) = m.tid.filter(|&t| t != 0) {
            if !all_tids.contains(&(t as i32)) {
                all_tids.push(t as i32);
            }
        }
    }
    all_tids.sort_unstable();
    let threads = all_tids
        .into_iter()
        .map(|tid| {
            let m = snap.ms.iter().find(|m| m.tid == Some(tid as u64));
            let r = reg_of(tid as u64);
            let curg = m.and_then(|m| m.curg.id());
            let mut t = ThreadDump {
                tid,
                m: m.and_then(|m| m.id),
                role: m.map_or_else(|| thread_comm(pid, tid), |m| m.role_name.to_string()),
                state: m.map_or_else(String::new, |m| m.state_name.to_string()),
                goroutine: curg,
                regs: r,
                frames: Vec::new(),
                note: None,
                block: None,
            };
            if curg.is_none() && m.is_some() {
                if let Some(r) = r {
                    let (frames, note) = walk(syms, mem, Registers::new(r.pc(), r.sp(), r.fp()));
                    t.frames = frames.iter().map(FrameOut::from).collect();
                    t.note = note.clone();
                    t.block = Some(GoroutineBlock {
                        goid: 0,
                        status: "idle".into(),
                        m: t.m,
                        mp: m.map_or(0, |m| {
                            snap.header.base
                                + snap
                                    .header
                                    .sections
                                    .iter()
                                    .find(|s| s.kind == "m")
                                    .map_or(0, |s| s.offset + m.index * s.stride)
                        }),
                        frames,
                        note,
                        ..Default::default()
                    });
                }
            }
            t
        })
        .collect();
    Dump {
        pid,
        command,
        pause_us: None,
        symbolize_ms: 0,
        symbols_error: None,
        symbols_loaded: syms.is_some(),
        goroutines,
        threads,
        waitfor: snap.waitfor.lines.clone(),
        damage: snap.damage.iter().map(|d| d.to_string()).collect(),
        snapshot: Snapshot::default(),
        level: opts.level,
        show_threads: opts.threads,
    }
}

fn thread_comm(pid: i32, tid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).map(|s| s.trim().to_string()).unwrap_or_default()
}

impl Dump {
    /// The dump in Go's SIGQUIT format.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = self.write_text(&mut out);
        out
    }

    fn write_text(&self, w: &mut String) -> fmt::Result {
        match self.pause_us {
            Some(p) => writeln!(
                w,
                "grt dump of pid {} ({}): {} goroutines, {} threads, target paused {}.{:03} ms",
                self.pid,
                self.command,
                self.goroutines.len(),
                self.threads.len(),
                p / 1000,
                p % 1000
            )?,
            None => writeln!(
                w,
                "grt dump of pid {} ({}): {} goroutines, read live (running goroutines have no stack)",
                self.pid,
                self.command,
                self.goroutines.len()
            )?,
        }
        if let Some(e) = &self.symbols_error {
            writeln!(w, "warning: {e}")?;
        }
        writeln!(w)?;
        if self.show_threads {
            for t in &self.threads {
                if let Some(b) = &t.block {
                    tb::write_goroutine(w, b, 2.max(self.level))?;
                    writeln!(w)?;
                }
            }
        }
        for g in &self.goroutines {
            tb::write_goroutine(w, &g.block, self.level)?;
            writeln!(w)?;
        }
        if !self.waitfor.is_empty() {
            for l in &self.waitfor {
                writeln!(w, "wait-for: {l}")?;
            }
            writeln!(w)?;
        }
        for d in &self.damage {
            writeln!(w, "table damage: {d}")?;
        }
        if self.show_threads {
            for t in &self.threads {
                write!(w, "thread {}", t.tid)?;
                match t.m {
                    Some(m) => write!(w, " m={m} ({}, {})", t.role, t.state)?,
                    None => write!(w, " ({})", t.role)?,
                }
                if let Some(g) = t.goroutine {
                    write!(w, " running goroutine {g}")?;
                }
                writeln!(w, ":")?;
                if let Some(r) = &t.regs {
                    write_regs(w, r)?;
                }
                writeln!(w)?;
            }
        }
        Ok(())
    }

    /// The dump as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Registers in Go's format (`rax    0x...`).
pub fn write_regs(w: &mut String, r: &Regs) -> fmt::Result {
    for (name, v) in [
        ("rax", r.rax),
        ("rbx", r.rbx),
        ("rcx", r.rcx),
        ("rdx", r.rdx),
        ("rdi", r.rdi),
        ("rsi", r.rsi),
        ("rbp", r.rbp),
        ("rsp", r.rsp),
        ("r8", r.r8),
        ("r9", r.r9),
        ("r10", r.r10),
        ("r11", r.r11),
        ("r12", r.r12),
        ("r13", r.r13),
        ("r14", r.r14),
        ("r15", r.r15),
        ("rip", r.rip),
        ("rflags", r.eflags),
        ("cs", r.cs),
        ("fs", r.fs),
        ("gs", r.gs),
    ] {
        writeln!(w, "{name:<6} {v:#x}")?;
    }
    Ok(())
}

/// Go's schedtrace line with scheddetail P, M and G lines, from a snapshot.
pub fn schedtrace(snap: &Snapshot) -> String {
    let s = &snap.sched;
    let mut out = String::new();
    let ms = snap.taken.mono_ns.saturating_sub(snap.header.start_mono_ns) / 1_000_000;
    let line = SchedLine {
        ms: ms as i64,
        gomaxprocs: s.gomaxprocs.unwrap_or(0),
        idleprocs: s.npidle.unwrap_or(0),
        threads: s.mnext.unwrap_or(0),
        spinningthreads: s.nmspinning.unwrap_or(0),
        needspinning: s.needspinning.unwrap_or(0),
        idlethreads: s.nmidle.unwrap_or(0),
        runqueue: s.runqsize.unwrap_or(0),
        gcwaiting: s.gcwaiting.unwrap_or(false),
        nmidlelocked: s.nmidlelocked.unwrap_or(0),
        stopwait: s.stopwait.unwrap_or(0),
        sysmonwait: s.sysmonwait.unwrap_or(false),
    };
    let _ = writeln!(out, "{line}");
    let mid = |l: Link| m_of(snap, l).and_then(|m| m.id);
    let gomaxprocs = s.gomaxprocs.unwrap_or(snap.ps.len() as i64).max(0) as usize;
    for p in snap.ps.iter().take(gomaxprocs) {
        let pl = PLine {
            id: p.id.unwrap_or(p.index as i64),
            status: p.status.unwrap_or(0),
            schedtick: p.schedtick.unwrap_or(0),
            syscalltick: p.syscalltick.unwrap_or(0),
            m: mid(p.m),
            runqsize: p.runq.len() as u64,
            gfreecnt: p.gfree.unwrap_or(0),
            timerslen: 0,
        };
        let _ = writeln!(out, "{pl}");
    }
    for m in &snap.ms {
        let ml = MLine {
            id: m.id.unwrap_or(m.index as i64),
            p: m.p.index().and_then(|i| snap.p(i)).and_then(|p| p.id),
            curg: m.curg.id(),
            throwing: m.throwing.unwrap_or(false) as u32,
            locks: m.locks.unwrap_or(0),
            dying: m.dying.unwrap_or(false) as u32,
            spinning: m.spinning.unwrap_or(false),
            blocked: m.blocked.unwrap_or(false),
            lockedg: m.lockedg.id(),
        };
        let _ = writeln!(out, "{ml}");
    }
    for g in &snap.gs {
        let gl = GLine {
            goid: g.goid.unwrap_or(0),
            status: g.status.unwrap_or(0),
            waitreason: snap.waitreason_name(g).map(|t| t.into_owned()).unwrap_or_default(),
            m: mid(g.m),
            lockedm: mid(snap.g_extra(g).lockedm),
        };
        let _ = writeln!(out, "{gl}");
    }
    out
}
