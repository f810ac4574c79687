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
