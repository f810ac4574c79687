//! Go-format tracebacks: one unwinder-to-text path shared by the runtime's
//! own crash dumps (in-process) and the inspector's dumps (from outside).
//!
//! A goroutine block reads like Go's SIGQUIT output:
//!
//! ```text
//! goroutine 7 [chan receive, 2 minutes]:
//! grt::chan::Chan<T>::recv(...)
//! 	/src/runtime/src/chan.rs:645 +0x53
//! demo::descend(...)
//! 	/src/demo.rs:21 +0x1f
//! created by demo::main::{{closure}} in goroutine 1
//! 	/src/demo.rs:30 +0x65
//! ```
//!
//! Inlined frames print `file:line` without an offset, as Go does. With
//! `level >= 2` the header gains `gp= m= mp=` and each location line
//! `fp= sp= pc=` (Go's traceback level 2).
//!
//! Frames that are the runtime's machinery, not the goroutine's work, are
//! elided: the context switch at the top (`grt_mcall_resume`,
//! `grt::proc::mcall`; the block starts at `grt::proc::gopark`, as Go's
//! starts at `runtime.gopark`) and the catch-unwind plumbing between the
//! goroutine's body and `grt::proc::goroutine_main`, which stays as the
//! bottom frame (Go's `runtime.goexit`).

use crate::{MemoryReader, ProcessSymbols, Registers};
use core::fmt::{self, Write};

/// One line pair of a traceback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceFrame {
    /// Demangled function name without the hash, or `?` if unknown.
    pub function: String,
    /// Source file, or the object name when there is no line information.
    pub file: String,
    /// Source line (0 when unknown).
    pub line: u32,
    /// pc minus the function's entry; `None` for an inlined frame.
    pub offset: Option<u64>,
    /// The frame's pc (a return address except for the first frame).
    pub pc: u64,
    /// The frame's stack pointer.
    pub sp: u64,
    /// Canonical frame address (the caller's sp), 0 if unknown.
    pub fp: u64,
    /// True for an inlined frame (no offset printed).
    pub inlined: bool,
}

/// Where a goroutine was created (Go's "created by F in goroutine N").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedBy {
    /// The function that executed the `go` statement.
    pub function: String,
    /// The goroutine that executed it.
    pub parent: u64,
    /// Source file of the `go` statement.
    pub file: String,
    /// Source line of the `go` statement.
    pub line: u32,
    /// Code offset of the `go` statement in its function.
    pub offset: u64,
}

/// From how long without a safe point a running goroutine's header says so
/// (`[running, 3 seconds without a safe point]`). sysmon asks a goroutine
/// to yield after 10ms, and one that reaches safe points does so at its
/// next runtime call; a second is a hundred such periods, so a goroutine
/// past it runs code that calls none (a loop of computation, or a
/// non-blocking call), not merely code between two calls. Whole seconds,
/// then whole minutes, as Go prints waits: a dump taken twice reads the
/// same.
pub const NO_SAFE_POINT_SHOWN_NS: u64 = 1_000_000_000;

/// `N seconds` under a minute, `N minutes` from one (Go's "1 minutes" kept).
pub fn no_safe_point_text(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    if secs < 60 {
        format!("{secs} seconds")
    } else {
        format!("{} minutes", secs / 60)
    }
}

/// Everything printed for one goroutine.
#[derive(Debug, Clone, Default)]
pub struct GoroutineBlock {
    /// Goroutine id.
    pub goid: u64,
    /// The bracketed status: a wait reason ("chan receive") or a status
    /// name ("running", "runnable", "syscall").
    pub status: String,
    /// The Gscan bit is set (printed as ` (scan)`).
    pub scan: bool,
    /// Whole minutes waited (printed when >= 1).
    pub wait_minutes: u64,
    /// How long a running goroutine has run without passing a safe point,
    /// in nanoseconds (printed from [`NO_SAFE_POINT_SHOWN_NS`] on).
    pub no_safe_point_ns: u64,
    /// Locked to its thread.
    pub locked: bool,
    /// Level-2 header fields: (gp, m id or None, mp).
    pub gp: u64,
    /// Id of the M running it, if any (level 2).
    pub m: Option<i64>,
    /// Address of that M record (level 2).
    pub mp: u64,
    /// The frames, innermost first.
    pub frames: Vec<TraceFrame>,
    /// A line printed instead of (or after) the frames, tab-indented, e.g.
    /// "goroutine running on other thread; stack unavailable".
    pub note: Option<String>,
    /// Where it was created (none for goroutine 1).
    pub created_by: Option<CreatedBy>,
}

/// Writes one goroutine block (without the trailing blank line).
pub fn write_goroutine<W: Write>(w: &mut W, b: &GoroutineBlock, level: u8) -> fmt::Result {
    write!(w, "goroutine {}", b.goid)?;
    if level >= 2 {
        write!(w, " gp={:#x} m=", b.gp)?;
        match b.m {
            Some(m) => write!(w, "{m} mp={:#x}", b.mp)?,
            None => write!(w, "nil")?,
        }
    }
    write!(w, " [{}", b.status)?;
    if b.scan {
        write!(w, " (scan)")?;
    }
    if b.wait_minutes >= 1 {
        write!(w, ", {} minutes", b.wait_minutes)?;
    }
    if b.no_safe_point_ns >= NO_SAFE_POINT_SHOWN_NS {
        write!(w, ", {} without a safe point", no_safe_point_text(b.no_safe_point_ns))?;
    }
    if b.locked {
        write!(w, ", locked to thread")?;
    }
    writeln!(w, "]:")?;
    for f in &b.frames {
        write_frame(w, f, level)?;
    }
    if let Some(n) = &b.note {
        writeln!(w, "\t{n}")?;
    }
    if let Some(c) = &b.created_by {
        writeln!(w, "created by {} in goroutine {}", c.function, c.parent)?;
        writeln!(w, "\t{}:{} +{:#x}", c.file, c.line, c.offset)?;
    }
    Ok(())
}

/// Writes one frame: `function(...)` then the tab-indented location.
pub fn write_frame<W: Write>(w: &mut W, f: &TraceFrame, level: u8) -> fmt::Result {
    writeln!(w, "{}(...)", f.function)?;
    write!(w, "\t{}:{}", f.file, f.line)?;
    if let Some(off) = f.offset {
        write!(w, " +{off:#x}")?;
        if level >= 2 {
            write!(w, " fp={:#x} sp={:#x} pc={:#x}", f.fp, f.sp, f.pc)?;
        }
    }
    writeln!(w)
}

/// Symbolizes a stack walk into traceback frames: each physical frame
/// becomes its inlined callees (innermost first) and then itself.
/// Returns the frames and, if the walk ended in an error, a note for it.
pub fn walk_frames<M: MemoryReader + ?Sized>(
    syms: &ProcessSymbols,
    regs: Registers,
    mem: &M,
    max_frames: usize,
) -> (Vec<TraceFrame>, Option<String>) {
    let mut out = Vec::new();
    let mut w = syms.unwind(regs, mem);
    let mut note = None;
    loop {
        match w.next() {
            Ok(Some(fr)) => {
                symbolize_pc(syms, fr.pc, fr.lookup_pc(), fr.sp, fr.cfa.unwrap_or(0), &mut out);
                if out.len() >= max_frames {
                    note = Some("...additional frames elided...".to_string());
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                note = Some(format!("unwinding stopped: {e}"));
                break;
            }
        }
    }
    (out, note)
}

/// Appends the frames of one pc (`lookup` is the address to symbolize:
/// pc - 1 for a return address).
pub fn symbolize_pc(syms: &ProcessSymbols, pc: u64, lookup: u64, sp: u64, fp: u64, out: &mut Vec<TraceFrame>) {
    match syms.symbolize(lookup) {
        Ok(s) => {
            let entry = s.symbol().map(|sym| sym.address);
            let frames = s.frames();
            if frames.is_empty() {
                let (function, offset) = match s.symbol() {
                    Some(sym) => (crate::strip_hash(&sym.name).to_string(), pc.wrapping_sub(sym.address)),
                    None => ("?".to_string(), s.object_offset()),
                };
                out.push(TraceFrame {
                    function,
                    file: s.object_name().to_string(),
                    line: 0,
                    offset: Some(offset),
                    pc,
                    sp,
                    fp,
                    inlined: false,
                });
                return;
            }
            let n = frames.len();
            for (i, f) in frames.iter().enumerate() {
                let outer = i + 1 == n;
                out.push(TraceFrame {
                    function: f
                        .function
                        .as_deref()
                        .map(|x| crate::strip_hash(x).to_string())
                        .unwrap_or_else(|| "?".into()),
                    file: f.file.as_deref().map(str::to_string).unwrap_or_else(|| s.object_name().to_string()),
                    line: f.line.unwrap_or(0),
                    offset: if outer { Some(entry.map_or(s.object_offset(), |e| pc.wrapping_sub(e))) } else { None },
                    pc,
                    sp,
                    fp,
                    inlined: !outer,
                });
            }
        }
        Err(_) => out.push(TraceFrame {
            function: "?".into(),
            file: "?".into(),
            line: 0,
            offset: Some(pc),
            pc,
            sp,
            fp,
            inlined: false,
        }),
    }
}

/// Removes the runtime's machinery from a goroutine's frames (see the
/// module docs): the context switch on top, the catch-unwind plumbing and
/// the entry trampoline at the bottom.
pub fn elide_runtime_frames(frames: &mut Vec<TraceFrame>) {
    let top = frames
        .iter()
        .take_while(|f| matches!(f.function.as_str(), "grt_mcall_resume" | "grt_mcall" | "grt::proc::mcall"))
        .count();
    frames.drain(..top);
    if let Some(main) = frames.iter().rposition(|f| f.function == "grt::proc::goroutine_main") {
        frames.truncate(main + 1);
        if let Some(thunk) = frames[..main].iter().position(|f| f.function == "grt::proc::run_thunk") {
            frames.drain(thunk..main);
        }
    }
}

/// Where a goroutine was created (Go's "created by F in goroutine N").
///
/// `F` is the function that executed the `go` call. The runtime's `go` is
/// inlined into its caller, so the frames at `gopc` are, innermost first,
/// the runtime's `go` and then the caller (itself perhaps inlined further,
/// for example a closure inlined into the runtime's `run_thunk`). Runtime
/// frames are skipped; of the rest, the innermost frame in the file of the
/// recorded call `site` is taken (the optimizer can blur the pc's inline
/// attribution, but not the file:line the runtime recorded through
/// `#[track_caller]`), else the innermost frame outside the standard
/// library, else the outermost frame. File and line come from `site` when
/// given.
pub fn created_by(syms: &ProcessSymbols, gopc: u64, parent: u64, site: Option<(&str, u32)>) -> Option<CreatedBy> {
    fn is_runtime(name: &str) -> bool {
        name.starts_with("grt::proc::") || name.starts_with("grt::asm::") || name == "grt::run"
    }
    fn is_std(name: &str) -> bool {
        ["core::", "std::", "alloc::", "<core::", "<std::", "<alloc::"].iter().any(|p| name.starts_with(p))
    }
    let s = if gopc != 0 { syms.symbolize(gopc).ok() } else { None };
    let entry = s.as_ref().and_then(|s| s.symbol().map(|sym| sym.address));
    let name_of = |f: &crate::Frame| {
        f.function.as_deref().map(|x| crate::strip_hash(x).to_string()).unwrap_or_else(|| "?".into())
    };
    let (function, file, line) = match s.as_ref() {
        Some(s) => {
            let cands: Vec<&crate::Frame> = s.frames().iter().filter(|f| !is_runtime(&name_of(f))).collect();
            let by_site = site.and_then(|(sf, _)| {
                cands.iter().find(|f| {
                    f.file.as_deref().is_some_and(|ff| !sf.is_empty() && (ff == sf || ff.ends_with(&format!("/{sf}"))))
                })
            });
            let pick = by_site.or_else(|| cands.iter().find(|f| !is_std(&name_of(f)))).or(cands.last());
            match pick {
                Some(f) => (name_of(f), f.file.as_deref().unwrap_or("?").to_string(), f.line.unwrap_or(0)),
                None => match s.symbol() {
                    Some(sym) => (crate::strip_hash(&sym.name).to_string(), s.object_name().to_string(), 0),
                    None => ("?".to_string(), s.object_name().to_string(), 0),
                },
            }
        }
        None if site.is_some() => ("?".to_string(), String::new(), 0),
        None => return None,
    };
    let (file, line) = match site {
        Some((f, l)) if !f.is_empty() => (f.to_string(), l),
        _ => (file, line),
    };
    Some(CreatedBy { function, parent, file, line, offset: entry.map_or(0, |e| gopc.wrapping_sub(e)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(function: &str, offset: Option<u64>) -> TraceFrame {
        TraceFrame {
            function: function.into(),
            file: "/src/x.rs".into(),
            line: 7,
            offset,
            pc: 0x1000,
            sp: 0x2000,
            fp: 0x2010,
            inlined: offset.is_none(),
        }
    }

    #[test]
    fn formats_like_go() {
        let b = GoroutineBlock {
            goid: 7,
            status: "chan receive".into(),
            scan: true,
            wait_minutes: 2,
            frames: vec![fr("a::inlined", None), fr("a::outer", Some(0x1f))],
            created_by: Some(CreatedBy {
                function: "main::main".into(),
                parent: 1,
                file: "/src/main.rs".into(),
                line: 3,
                offset: 0x45,
            }),
            ..Default::default()
        };
        let mut s = String::new();
        write_goroutine(&mut s, &b, 1).unwrap();
        assert_eq!(
            s,
            "goroutine 7 [chan receive (scan), 2 minutes]:\n\
             a::inlined(...)\n\t/src/x.rs:7\n\
             a::outer(...)\n\t/src/x.rs:7 +0x1f\n\
             created by main::main in goroutine 1\n\t/src/main.rs:3 +0x45\n"
        );
        let mut s = String::new();
        write_goroutine(&mut s, &GoroutineBlock { m: Some(3), gp: 0x10, mp: 0x20, ..b }, 2).unwrap();
        assert!(s.starts_with("goroutine 7 gp=0x10 m=3 mp=0x20 [chan receive (scan), 2 minutes]:\n"), "{s}");
        assert!(s.contains("\t/src/x.rs:7 +0x1f fp=0x2010 sp=0x2000 pc=0x1000\n"), "{s}");
    }

    #[test]
    fn running_without_a_safe_point_shows_from_a_second() {
        let header = |ns: u64| {
            let b = GoroutineBlock { goid: 7, status: "running".into(), no_safe_point_ns: ns, ..Default::default() };
            let mut s = String::new();
            write_goroutine(&mut s, &b, 1).unwrap();
            s.lines().next().unwrap().to_string()
        };
        assert_eq!(header(0), "goroutine 7 [running]:");
        assert_eq!(header(999_999_999), "goroutine 7 [running]:");
        assert_eq!(header(1_000_000_000), "goroutine 7 [running, 1 seconds without a safe point]:");
        assert_eq!(header(59_999_999_999), "goroutine 7 [running, 59 seconds without a safe point]:");
        assert_eq!(header(60_000_000_000), "goroutine 7 [running, 1 minutes without a safe point]:");
        assert_eq!(header(185_000_000_000), "goroutine 7 [running, 3 minutes without a safe point]:");
    }

    #[test]
    fn elides_switch_and_entry_plumbing() {
        let mut v: Vec<TraceFrame> = [
            "grt_mcall_resume",
            "grt::proc::mcall",
            "grt::proc::gopark",
            "user::body",
            "grt::proc::run_thunk",
            "grt::proc::goroutine_main::{{closure}}",
            "std::panicking::catch_unwind",
            "grt::proc::goroutine_main",
            "grt_gostart",
        ]
        .iter()
        .map(|f| fr(f, Some(1)))
        .collect();
        elide_runtime_frames(&mut v);
        let names: Vec<&str> = v.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(names, ["grt::proc::gopark", "user::body", "grt::proc::goroutine_main"]);
    }
}
