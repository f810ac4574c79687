//! Goroutine dumps printed by the runtime itself (fatal errors, stack
//! overflow, an escaped panic, SIGQUIT), in Go's format.
//!
//! The unwinder and the formatter are the symbols crate's
//! (`grt_symbols::traceback`), the same ones the inspector uses from
//! outside: a parked goroutine is unwound from the saved context in its
//! table record, a goroutine in a system call from the context saved at
//! entersyscall, the goroutine that crashed from the registers its thread
//! posted with the crash request. A goroutine running on another thread
//! prints Go's "goroutine running on other thread; stack unavailable".
//!
//! Dumps run on the signal thread (`signal.rs`), never inside a signal
//! handler, so symbolization may allocate. `schedtrace` prints Go's
//! `SCHED` line with per-P and per-M detail.

use crate::os::{nanotime, write_err};
use crate::recptr::{Link, RecPtr};
use crate::status::{table, table_ready};
use core::fmt::Write;
use core::sync::atomic::Ordering::Relaxed;
use grt_symbols::traceback::{self as tb, GoroutineBlock};
use grt_symbols::{MemoryReader, ProcessSymbols, Registers, SelfMemory, SnapshotMemory};
use grt_table::header::SectionKind;
use grt_table::{waitreason, G, G_DEAD, G_IDLE, G_RUNNABLE, G_RUNNING, G_SCAN, G_SYSCALL, G_WAITING};

/// Deepest traceback printed per goroutine (Go prints 100 frames).
const MAX_FRAMES: usize = 100;

/// What the crashing thread knows about itself.
#[derive(Debug, Default)]
pub struct Crashed {
    /// Registers of the crashing code (pc, sp, bp); pc 0 = none.
    pub pc: u64,
    pub sp: u64,
    pub bp: u64,
    /// The goroutine that was running there (0 = none: g0 or a foreign thread).
    pub goid: u64,
    /// For a panic: a copy of the goroutine's stack taken at the panic site,
    /// before unwinding destroyed it; the walk reads from it.
    pub stack_copy: Option<SnapshotMemory>,
}

/// The status text of a goroutine's header, as Go prints it.
pub fn status_text(gp: &G) -> (String, bool) {
    let st = gp.atomicstatus.load(Relaxed);
    let base = st & !G_SCAN;
    let reason = gp.waitreason.load(Relaxed);
    let s = if base == G_WAITING && reason != 0 {
        waitreason::NAMES.get(reason as usize).copied().unwrap_or("waiting")
    } else {
        crate::fatal::status_name(base)
    };
    (s.to_string(), st & G_SCAN != 0)
}

fn wait_minutes(gp: &G, now: i64) -> u64 {
    let base = gp.atomicstatus.load(Relaxed) & !G_SCAN;
    let since = gp.waitsince.load(Relaxed);
    if (base == G_WAITING || base == G_SYSCALL) && since != 0 && now > since {
        ((now - since) / 60_000_000_000) as u64
    } else {
        0
    }
}

/// How long a running goroutine has run without passing a safe point
/// (0 when it is not running or never stamped).
fn no_safe_point_ns(gp: &G, now: i64) -> u64 {
    let since = gp.safepoint_when.load(Relaxed);
    if gp.atomicstatus.load(Relaxed) & !G_SCAN == G_RUNNING && since != 0 && now > since {
        (now - since) as u64
    } else {
        0
    }
}

/// Builds one goroutine's block: header, frames, creation site.
fn block(syms: Option<&ProcessSymbols>, mem: &SelfMemory, gp: &G, crashed: &Crashed, now: i64) -> GoroutineBlock {
    let goid = gp.goid.load(Relaxed);
    let st = gp.atomicstatus.load(Relaxed) & !G_SCAN;
    let (mut status, scan) = status_text(gp);
    let mut b = GoroutineBlock {
        goid,
        scan,
        wait_minutes: wait_minutes(gp, now),
        no_safe_point_ns: no_safe_point_ns(gp, now),
        ..Default::default()
    };
    let Some(syms) = syms else {
        b.status = status;
        b.note = Some("stack unavailable: this program's symbols could not be loaded".into());
        return b;
    };
    let regs = if crashed.pc != 0 && crashed.goid == goid {
        status = "running".into();
        Some(Registers::new(crashed.pc, crashed.sp, crashed.bp))
    } else {
        match st {
            G_WAITING | G_RUNNABLE if gp.sched.sp.get() != 0 => {
                Some(Registers::from_parked(gp.sched.sp.get(), gp.sched.pc.get(), gp.sched.bp.get()))
            }
            G_SYSCALL if gp.syscallsp.get() != 0 => {
                Some(Registers::new(gp.syscallpc.get(), gp.syscallsp.get(), gp.syscallbp.get()))
            }
            _ => None,
        }
    };
    b.status = status;
    match regs {
        Some(regs) => {
            let copy = if crashed.goid == goid { crashed.stack_copy.as_ref() } else { None };
            let (mut frames, note) = match copy {
                Some(m) => tb::walk_frames(syms, regs, m, MAX_FRAMES * 2),
                None => tb::walk_frames(syms, regs, mem as &dyn MemoryReader, MAX_FRAMES * 2),
            };
            if copy.is_some() {
                // A panic: start at the panic entry point (Go's `panic(...)`),
                // not in the hook machinery that copied the stack.
                if let Some(i) = frames.iter().take(24).rposition(|f| f.function.starts_with("core::panicking::")) {
                    frames.drain(..i);
                }
            }
            tb::elide_runtime_frames(&mut frames);
            if frames.len() > MAX_FRAMES {
                frames.truncate(MAX_FRAMES);
                b.note = Some("...additional frames elided...".into());
            }
            b.frames = frames;
            if note.is_some() {
                b.note = note;
            }
        }
        None if st == G_RUNNING => b.note = Some("goroutine running on other thread; stack unavailable".into()),
        None => {
            // Never ran: show the function it will start in.
            let start = gp.startpc.get();
            if start != 0 {
                tb::symbolize_pc(syms, start, start, 0, 0, &mut b.frames);
            }
        }
    }
    let parent = gp.parentgoid.load(Relaxed);
    if parent != 0 {
        let site = site_of(gp);
        b.created_by = tb::created_by(syms, gp.gopc.get(), parent, site.as_ref().map(|(f, l)| (f.as_str(), *l)));
    }
    b
}

/// The file and line the runtime recorded for gp's `go` call.
fn site_of(gp: &G) -> Option<(String, u32)> {
    let t = table();
    let i = gp.site.load(Relaxed) as u64;
    if i == 0 {
        return None;
    }
    let s = t.record::<grt_table::Site>(SectionKind::Site, i)?;
    let name = t.string(s.name_off.load(Relaxed) as u64, s.name_len.load(Relaxed) as u64)?;
    Some((String::from_utf8_lossy(name).into_owned(), s.line.load(Relaxed)))
}

/// Prints every live goroutine, the crashed one first, separated by blank
/// lines, as Go does.
pub fn dump_all(crashed: &Crashed) {
    if !table_ready() {
        return;
    }
    let syms = ProcessSymbols::load_self().ok();
    crate::signal::DUMP_PROGRESS.fetch_add(1, Relaxed);
    let mem = SelfMemory::current();
    let t = table();
    let now = nanotime();
    let n = t.len(SectionKind::G) as usize;
    let first = (0..n).find(|&i| t.g(i).goid.load(Relaxed) == crashed.goid && crashed.goid != 0);
    let order = first.into_iter().chain((0..n).filter(|&i| Some(i) != first));
    let mut out = String::new();
    for i in order {
        let gp = t.g(i);
        let st = gp.atomicstatus.load(Relaxed) & !G_SCAN;
        if st == G_DEAD || st == G_IDLE {
            continue;
        }
        out.clear();
        let b = block(syms.as_ref(), &mem, gp, crashed, now);
        let _ = tb::write_goroutine(&mut out, &b, 1);
        out.push('\n');
        write_err(out.as_bytes());
        crate::signal::DUMP_PROGRESS.fetch_add(1, Relaxed);
    }
}

/// Prints Go's schedtrace line and, with `detail`, one line per P, M and
/// G (GODEBUG=schedtrace,scheddetail style), in the shared format of
/// `grt_table::schedtrace`.
pub fn schedtrace(detail: bool) {
    use grt_table::schedtrace::{GLine, MLine, PLine, SchedLine};
    if !table_ready() {
        return;
    }
    let t = table();
    let s = crate::status::sched();
    let gmp = s.gomaxprocs.load(Relaxed);
    let mut out = String::new();
    let line = SchedLine {
        ms: (nanotime() - t.header().start_mono_ns as i64) / 1_000_000,
        gomaxprocs: gmp as i64,
        idleprocs: s.npidle.load(Relaxed) as i64,
        threads: s.mnext.load(Relaxed),
        spinningthreads: s.nmspinning.load(Relaxed) as i64,
        needspinning: s.needspinning.load(Relaxed) as u64,
        idlethreads: s.nmidle.load(Relaxed) as i64,
        runqueue: s.runqsize.load(Relaxed) as i64,
        gcwaiting: s.gcwaiting.load(Relaxed) != 0,
        nmidlelocked: s.nmidlelocked.load(Relaxed) as i64,
        stopwait: s.stopwait.load(Relaxed) as i64,
        sysmonwait: s.sysmonwait.load(Relaxed) != 0,
    };
    let _ = writeln!(out, "{line}");
    if detail {
        let mid = |m: RecPtr<grt_table::M>| m.opt().map(|m| m.id.load(Relaxed));
        for i in 0..gmp.max(0) as usize {
            let pp = t.p(i);
            let p = PLine {
                id: i as i64,
                status: pp.status.load(Relaxed),
                schedtick: pp.schedtick.load(Relaxed) as u64,
                syscalltick: pp.syscalltick.load(Relaxed) as u64,
                m: mid(pp.m.rec()),
                runqsize: crate::proc::runqlen(pp) as u64,
                gfreecnt: pp.ngfree.load(Relaxed) as i64,
                timerslen: 0,
            };
            let _ = writeln!(out, "{p}");
        }
        for i in 0..t.len(SectionKind::M) as usize {
            let mp = t.m(i);
            let pp = mp.p.rec();
            let g = mp.curg.rec();
            let m = MLine {
                id: mp.id.load(Relaxed),
                p: if pp.is_null() { None } else { Some(pp.get().id.load(Relaxed) as i64) },
                curg: if g.is_null() { None } else { Some(g.get().goid.load(Relaxed)) },
                throwing: mp.throwing.load(Relaxed),
                locks: mp.locks.load(Relaxed) as i64,
                dying: mp.dying.load(Relaxed),
                spinning: mp.spinning.load(Relaxed) != 0,
                blocked: mp.blocked.load(Relaxed) != 0,
                lockedg: None,
            };
            let _ = writeln!(out, "{m}");
        }
        for i in 0..t.len(SectionKind::G) as usize {
            let gp = t.g(i);
            let st = gp.atomicstatus.load(Relaxed);
            if st & !G_SCAN == G_DEAD || st == G_IDLE {
                continue;
            }
            let reason = if st & !G_SCAN == G_WAITING {
                waitreason::NAMES.get(gp.waitreason.load(Relaxed) as usize).copied().unwrap_or("")
            } else {
                ""
            };
            let gl = GLine {
                goid: gp.goid.load(Relaxed),
                status: st,
                waitreason: reason.into(),
                m: mid(gp.m.rec()),
                lockedm: None,
            };
            let _ = writeln!(out, "{gl}");
        }
    }
    write_err(out.as_bytes());
}
