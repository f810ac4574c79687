//! Goroutine dumps printed by the runtime itself (fatal errors, SIGQUIT).
//!
//! Formats each goroutine's header as Go does (`goroutine N [status]:`,
//! with ` (scan)` for the Gscan bit and `, N minutes` for long waits) and
//! its creation site. Frame-by-frame tracebacks come from the shared
//! unwinder and formatter once the runtime links the symbols crate; until
//! then the dump says so instead of inventing frames.

use crate::os::{nanotime, write_err, StackBuf};
use crate::proc::getg;
use crate::status::{table, table_ready};
use core::fmt::Write;
use core::sync::atomic::Ordering::Relaxed;
use grt_table::header::SectionKind;
use grt_table::{waitreason, G, G_DEAD, G_SCAN, G_SYSCALL, G_WAITING, G_IDLE};

/// Writes the header line of one goroutine into `b`.
pub fn goroutine_header<const N: usize>(b: &mut StackBuf<N>, gp: &G, now: i64) {
    let st = gp.atomicstatus.load(Relaxed);
    let base = st & !G_SCAN;
    let reason = gp.waitreason.load(Relaxed);
    let status = if base == G_WAITING && reason != 0 {
        waitreason::NAMES.get(reason as usize).copied().unwrap_or("waiting")
    } else {
        crate::fatal::status_name(base)
    };
    let since = gp.waitsince.load(Relaxed);
    let minutes = if (base == G_WAITING || base == G_SYSCALL) && since != 0 { (now - since) / 60_000_000_000 } else { 0 };
    let _ = write!(b, "goroutine {} [{}", gp.goid.load(Relaxed), status);
    if st & G_SCAN != 0 {
        let _ = write!(b, " (scan)");
    }
    if minutes >= 1 {
        let _ = write!(b, ", {} minutes", minutes);
    }
    let _ = writeln!(b, "]:");
}

/// Writes the "created in" line of a goroutine (site from the table).
fn creation_site<const N: usize>(b: &mut StackBuf<N>, gp: &G) {
    let parent = gp.parentgoid.load(Relaxed);
    if parent == 0 {
        return; // goroutine 1: started by the runtime
    }
    let site = gp.site.load(Relaxed);
    let t = table();
    if site != 0 && (site as u64) < t.len(SectionKind::Site) {
        // SAFETY: site < len of the Site section.
        let s = unsafe { &*t.sites.add(site as usize) };
        let off = s.name_off.load(Relaxed) as usize;
        let len = s.name_len.load(Relaxed) as usize;
        // SAFETY: the name lies in the Strings section, written once at interning.
        let name = unsafe { core::slice::from_raw_parts(t.strings.add(off), len) };
        let name = core::str::from_utf8(name).unwrap_or("?");
        let _ = writeln!(b, "created in goroutine {} at\n\t{}:{}", parent, name, s.line.load(Relaxed));
    } else if parent != 0 {
        let _ = writeln!(b, "created in goroutine {}", parent);
    }
}

/// Prints every live goroutine, the current one first.
pub fn dump_all() {
    if !table_ready() {
        return;
    }
    let t = table();
    let now = nanotime();
    let cur = getg();
    let n = t.len(SectionKind::G);
    let mut order: [usize; 1] = [usize::MAX];
    if !cur.is_null() {
        order[0] = (cur as usize - t.allg as usize) / core::mem::size_of::<G>();
    }
    let mut b = StackBuf::<1024>::new();
    for pass in 0..2 {
        for i in 0..n as usize {
            if (pass == 0) != (i == order[0]) {
                continue;
            }
            let gp = t.g(i);
            let st = gp.atomicstatus.load(Relaxed) & !G_SCAN;
            if st == G_DEAD || st == G_IDLE {
                continue;
            }
            b.clear();
            if i == order[0] {
                let _ = writeln!(b, "goroutine {} [running]:", gp.goid.load(Relaxed));
            } else {
                goroutine_header(&mut b, gp, now);
            }
            let _ = writeln!(b, "\t(frames unavailable: this build has no in-process unwinder)");
            creation_site(&mut b, gp);
            let _ = writeln!(b);
            write_err(b.as_bytes());
        }
    }
}

/// Prints Go's schedtrace line and, with `detail`, one line per P and M
/// (GODEBUG=schedtrace,scheddetail style).
pub fn schedtrace(detail: bool) {
    if !table_ready() {
        return;
    }
    use crate::status::sched;
    let t = table();
    let s = sched();
    let start = t.header().start_mono_ns as i64;
    let mut b = StackBuf::<1024>::new();
    let gmp = s.gomaxprocs.load(Relaxed);
    let _ = writeln!(
        b,
        "SCHED {}ms: gomaxprocs={} idleprocs={} threads={} spinningthreads={} needspinning={} idlethreads={} runqueue={} gcwaiting={} nmidlelocked={} stopwait={} sysmonwait={}",
        (nanotime() - start) / 1_000_000,
        gmp,
        s.npidle.load(Relaxed),
        s.mnext.load(Relaxed),
        s.nmspinning.load(Relaxed),
        s.needspinning.load(Relaxed),
        s.nmidle.load(Relaxed),
        s.runqsize.load(Relaxed),
        s.gcwaiting.load(Relaxed) != 0,
        s.nmidlelocked.load(Relaxed),
        s.stopwait.load(Relaxed),
        s.sysmonwait.load(Relaxed) != 0
    );
    write_err(b.as_bytes());
    if !detail {
        return;
    }
    for i in 0..gmp.max(0) as usize {
        let pp = t.p(i);
        let m = pp.m.load(Relaxed);
        b.clear();
        let _ = write!(
            b,
            "  P{}: status={} schedtick={} syscalltick={} m=",
            i,
            pp.status.load(Relaxed),
            pp.schedtick.load(Relaxed),
            pp.syscalltick.load(Relaxed)
        );
        if m.is_null() {
            let _ = write!(b, "nil");
        } else {
            // SAFETY: M records live in the table for the process's life.
            let _ = write!(b, "{}", unsafe { (*m).id.load(Relaxed) });
        }
        let next = pp.runnext.load(Relaxed);
        let _ = writeln!(
            b,
            " runqsize={} runnext={} gfreecnt={} timerslen=0",
            crate::proc::runqlen(pp),
            // SAFETY: as above for G records.
            if next.is_null() { 0 } else { unsafe { (*next).goid.load(Relaxed) } },
            pp.ngfree.load(Relaxed)
        );
        write_err(b.as_bytes());
    }
    for i in 0..t.len(SectionKind::M) as usize {
        let mp = t.m(i);
        let pp = mp.p.load(Relaxed);
        let g = mp.curg.load(Relaxed);
        b.clear();
        let _ = writeln!(
            b,
            "  M{}: p={} curg={} mallocing=0 throwing={} preemptoff= locks={} dying=0 spinning={} blocked={} lockedg=nil",
            mp.id.load(Relaxed),
            // SAFETY: P and G records live in the table.
            if pp.is_null() { -1 } else { unsafe { (*pp).id.load(Relaxed) } },
            if g.is_null() { 0 } else { unsafe { (*g).goid.load(Relaxed) } },
            mp.throwing.load(Relaxed),
            mp.locks.load(Relaxed),
            mp.spinning.load(Relaxed) != 0,
            mp.blocked.load(Relaxed) != 0
        );
        write_err(b.as_bytes());
    }
}
