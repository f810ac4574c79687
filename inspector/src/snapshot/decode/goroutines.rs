//! The G pass (goroutine views, the G cache, waiting lists) and
//! [`stack_ranges`], a goroutine's stack bounds read without a decode.

use super::fields::*;
use super::links::GInfo;
use super::parallel::Sink;
use super::Decoder;
use crate::snapshot::*;
use grt_table::header::SectionKind;
use grt_table::view::Image;
use serde::{Deserialize, Serialize};

impl<'a> Decoder<'a> {
    /// Decodes G records `range` into `out` (one slot per record at most)
    /// and returns what the G cache holds for them.
    pub(super) fn gs(&mut self, range: std::ops::Range<u64>, out: &mut Sink<'_, GView>) -> Vec<GInfo> {
        with_sets!(self, set => self.gs_with(set, range, out))
    }

    /// The G pass with field sets known at compile time or not.
    #[inline(always)]
    pub(super) fn gs_with<S: PassSets>(
        &mut self,
        set: S,
        range: std::ops::Range<u64>,
        out: &mut Sink<'_, GView>,
    ) -> Vec<GInfo> {
        let gf = set.g();
        let sf = set.sudog();
        let (nstatus, nreasons) = (self.names.gstatus.len(), self.names.waitreason.len());
        let mut cache = Vec::with_capacity(range.end.saturating_sub(range.start) as usize);
        for i in range {
            let Some(r) = self.record(SectionKind::G, i) else {
                break;
            };
            let status = r.opt(gf.atomicstatus).map(|v| v as u32);
            let goid = r.opt(gf.goid);
            let (lo, hi) = (r.opt(gf.stack_lo), r.opt(gf.stack_hi));
            cache.push(GInfo::new(goid, lo, hi, status));
            let (lo, hi) = (lo.unwrap_or(0), hi.unwrap_or(0));
            let base = status.map(|s| s & !grt_table::G_SCAN);
            if !self.include_dead && matches!(base, Some(grt_table::G_DEAD) | Some(grt_table::G_IDLE)) {
                continue;
            }
            let place = move || match goid {
                Some(id) => format!("g {i} (goroutine {id})"),
                None => format!("g {i}"),
            };
            if let Some(b) = base {
                if b as usize >= nstatus {
                    self.corrupt(place, format!("status {:#x} is out of range", status.unwrap_or(0)));
                }
            }
            let waiting_status = base == Some(grt_table::G_WAITING);
            let waitreason = r.opt(gf.waitreason).map(|v| v as u32);
            if let Some(w) = waitreason {
                if waiting_status && w as usize >= nreasons {
                    self.corrupt(|| format!("{}.waitreason", place()), format!("wait reason {w} is out of range"));
                }
            }
            let waitsince = r.opt(gf.waitsince).map(|v| v as i64);
            let sched = match (r.opt(gf.sp), r.opt(gf.pc), r.opt(gf.bp)) {
                (Some(sp), Some(pc), Some(bp)) => Some(Context { sp, pc, bp }),
                _ => None,
            };
            let m = self.link(SectionKind::M, r.opt(gf.m), || format!("{}.m", place()));
            let lockedm = self.link(SectionKind::M, r.opt(gf.lockedm), || format!("{}.lockedm", place()));
            let scan_holder = self.link(SectionKind::M, r.opt(gf.scanm), || format!("{}.scanm", place()));
            let syscall = match r.opt(gf.syscallsp) {
                Some(sp) if sp != 0 => {
                    Context { sp, pc: r.opt(gf.syscallpc).unwrap_or(0), bp: r.opt(gf.syscallbp).unwrap_or(0) }
                }
                _ => Context::default(),
            };
            let param = r.opt(gf.param).unwrap_or(0);
            // Only a running G's stamp means anything (it is left stale
            // when the G stops), and few Gs run: an extra, not in GView.
            let safepoint_when_ns = match base {
                Some(grt_table::G_RUNNING) => r.opt(gf.safepoint_when).map_or(0, |v| v as i64),
                _ => 0,
            };
            let x = GExtra { lockedm, scan_holder, syscall, param, safepoint_when_ns };
            let extra = if x == GExtra::default() {
                0
            } else {
                self.g_extras.push(x);
                u32::try_from(self.g_extras.len()).unwrap_or(u32::MAX)
            };
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            self.walk_into(
                SectionKind::Sudog,
                r.opt(gf.waiting),
                sf.waitlink,
                &|| format!("{}.waiting", place()),
                &mut scratch,
            );
            let waiting = push_list(&mut self.waiting, &scratch);
            // Every sudog on G.waiting must point back at G.
            for &s in &scratch {
                let back = self.record(SectionKind::Sudog, s).and_then(|sr| sr.opt(sf.g));
                if let Some(b) = back {
                    if self.index_of(SectionKind::G, b) != Ok(Some(i)) {
                        self.disagree(
                            || format!("{}.waiting", place()),
                            format!("sudog {s} on its waiting list belongs to {b:#x}"),
                        );
                    }
                }
            }
            self.scratch = scratch;
            let site = self.site(r.opt(gf.site));
            out.push(GView {
                index: i,
                goid,
                generation: r.opt(gf.generation).map(|v| v as u32),
                status,
                waitreason,
                site,
                waitsince_ns: waitsince.unwrap_or(0),
                m,
                stack_lo: lo,
                stack_hi: hi,
                stack_lowest_sp: r.opt(gf.stack_lowest_sp).unwrap_or(0),
                sched,
                gopc: r.opt(gf.gopc).unwrap_or(0),
                startpc: r.opt(gf.startpc).unwrap_or(0),
                parent_goid: r.opt(gf.parentgoid).unwrap_or(0),
                waiting,
                extra,
                select_done: r.opt(gf.select_done).map(|v| v != 0),
                parking_on_chan: r.opt(gf.parking_on_chan).map(|v| v != 0),
                preempt: r.opt(gf.preempt).map(|v| v != 0),
            });
        }
        cache
    }
}

/// A goroutine's stack as a freezer needs it (see [`stack_ranges`]).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackRange {
    /// G record index.
    pub index: u64,
    pub goid: Option<u64>,
    /// Saved context sp (parked goroutines) and system call sp.
    pub sp: Option<u64>,
    pub syscallsp: Option<u64>,
    pub lo: Option<u64>,
    pub hi: Option<u64>,
}

/// Every non-dead goroutine's stack pointers and bounds, read straight from
/// the G records without decoding a snapshot: what a dump copies while the
/// target is frozen (a few ms for 100k goroutines, against tens for a full
/// decode, so the pause stays short). Values are as untrusted as the table:
/// check them against the process's mappings before reading memory.
pub fn stack_ranges(img: &Image) -> Vec<StackRange> {
    let gf = GFields::resolve(&img.layout);
    let Some(seg) = img.segment(SectionKind::G) else {
        return Vec::new();
    };
    let stride = seg.info.stride.max(1) as usize;
    let mut out = Vec::new();
    for (i, rec) in seg.bytes.chunks_exact(stride).enumerate() {
        let r = RecordBytes(rec);
        let status = r.opt(gf.atomicstatus).map(|v| v as u32 & !grt_table::G_SCAN);
        if matches!(status, Some(grt_table::G_DEAD) | Some(grt_table::G_IDLE)) {
            continue;
        }
        out.push(StackRange {
            index: i as u64,
            goid: r.opt(gf.goid),
            sp: r.opt(gf.sp).filter(|&v| v != 0),
            syscallsp: r.opt(gf.syscallsp).filter(|&v| v != 0),
            lo: r.opt(gf.stack_lo),
            hi: r.opt(gf.stack_hi),
        });
    }
    out
}
