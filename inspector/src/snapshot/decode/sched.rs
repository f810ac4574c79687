//! The header and sched passes.

use super::Decoder;
use crate::snapshot::*;
use grt_table::header::{SectionKind, FLAG_DEBUG, FLAG_GUARD_MADVISE};

impl<'a> Decoder<'a> {
    pub(super) fn header(&mut self) -> HeaderView {
        let h = &self.img.header;
        let bugs = (0..64u32)
            .filter(|b| h.bugs & (1u64 << b) != 0)
            .map(|b| self.names.bugs.get(b as usize).cloned().unwrap_or_else(|| Text::from(format!("bug{b}"))))
            .collect();
        if !h.ready {
            self.push_damage(
                DamageKind::Inconsistent,
                "header".into(),
                "the table is not marked ready: the runtime had not finished starting".into(),
            );
        }
        HeaderView {
            pid: h.pid,
            abi_version: h.abi_version,
            layout_hash: h.layout_hash,
            base: h.base,
            size: h.size,
            start_unix_ns: h.start_unix_ns,
            start_mono_ns: h.start_mono_ns,
            bugs_mask: h.bugs,
            bugs,
            flags: h.flags,
            debug_build: h.flags & FLAG_DEBUG != 0,
            guard_madvise: h.flags & FLAG_GUARD_MADVISE != 0,
            stack_size: h.stack_size,
            ready: h.ready,
            exiting: h.exiting,
            exit_code: h.exit_code,
            heartbeat: h.heartbeat,
            sections: self
                .img
                .segments
                .iter()
                .map(|s| SectionView {
                    kind: Text::new(section_name(s.info.kind)),
                    stride: s.info.stride,
                    offset: s.info.offset,
                    capacity: s.info.capacity,
                    len: s.info.len,
                })
                .collect(),
        }
    }

    pub(super) fn sched(&mut self) -> SchedView {
        let Some(r) = self.record(SectionKind::Sched, 0) else {
            self.corrupt(|| "sched".into(), "the table has no sched record");
            return SchedView::default();
        };
        let f = self.fields.sched;
        let i64o = |v: Option<u64>| v.map(|x| x as i64);
        let stw = r.opt(f.stw_reason);
        let stw_name = stw.map(|v| Self::name_in(&self.names.stwreason, Some(v)));
        let phase = r.opt(f.gcphase);
        let phase_name = phase.map(|_| self.enum_name(|n| &n.gcphase, phase, || "sched.gcphase".into()));
        let worldsema_owner = self.link(SectionKind::G, r.opt(f.worldsema_owner), || "sched.worldsema_owner".into());
        let pidle = self.walk(SectionKind::P, r.opt(f.pidle), self.fields.p.link, &|| "sched.pidle".into());
        let midle = self.walk(SectionKind::M, r.opt(f.midle), self.fields.m.schedlink, &|| "sched.midle".into());
        let runq = self.walk(SectionKind::G, r.opt(f.runqhead), self.fields.g.schedlink, &|| "sched.runq".into());
        if let Some(n) = r.opt(f.npidle) {
            if n as i32 as i64 != pidle.len() as i64 {
                self.disagree(
                    || "sched.pidle".into(),
                    format!("npidle is {} but the list has {} Ps", n as i32, pidle.len()),
                );
            }
        }
        if let Some(n) = r.opt(f.nmidle) {
            if n as i32 as i64 != midle.len() as i64 {
                self.disagree(
                    || "sched.midle".into(),
                    format!("nmidle is {} but the list has {} Ms", n as i32, midle.len()),
                );
            }
        }
        if let Some(n) = r.opt(f.runqsize) {
            if n as i32 as i64 != runq.len() as i64 {
                self.disagree(
                    || "sched.runq".into(),
                    format!("runqsize is {} but the queue has {} goroutines", n as i32, runq.len()),
                );
            }
        }
        if let (Some(&last), Some(tail)) = (runq.last(), r.opt(f.runqtail)) {
            if self.rec_addr(SectionKind::G, last) != Some(tail) {
                self.disagree(|| "sched.runq".into(), format!("runqtail is {tail:#x}, the walk ended at g {last}"));
            }
        }
        SchedView {
            goidgen: r.opt(f.goidgen),
            gomaxprocs: i64o(r.opt(f.gomaxprocs)),
            ncpu: i64o(r.opt(f.ncpu)),
            npidle: i64o(r.opt(f.npidle)),
            nmspinning: i64o(r.opt(f.nmspinning)),
            needspinning: r.opt(f.needspinning),
            nmidle: i64o(r.opt(f.nmidle)),
            nmidlelocked: i64o(r.opt(f.nmidlelocked)),
            mnext: i64o(r.opt(f.mnext)),
            maxmcount: i64o(r.opt(f.maxmcount)),
            nmsys: i64o(r.opt(f.nmsys)),
            nthreads: i64o(r.opt(f.nthreads)),
            runqsize: i64o(r.opt(f.runqsize)),
            ngfree: i64o(r.opt(f.ngfree)),
            gcwaiting: r.opt(f.gcwaiting).map(|v| v != 0),
            stopwait: i64o(r.opt(f.stopwait)),
            stw_reason: stw,
            stw_reason_name: stw_name,
            sysmonwait: r.opt(f.sysmonwait).map(|v| v != 0),
            safe_point_fn: r.opt(f.safe_point_fn),
            safe_point_wait: i64o(r.opt(f.safe_point_wait)),
            gcphase: phase,
            gcphase_name: phase_name,
            numgc: r.opt(f.numgc),
            ngoroutines: i64o(r.opt(f.ngoroutines)),
            lastpoll: i64o(r.opt(f.lastpoll)),
            poll_until: i64o(r.opt(f.poll_until)),
            ntimers: r.opt(f.ntimers),
            timer0when: i64o(r.opt(f.timer0when)),
            nchans: i64o(r.opt(f.nchans)),
            netpoll_epfd: i64o(r.opt(f.netpoll_epfd)),
            netpoll_waiters: i64o(r.opt(f.netpoll_waiters)),
            worldsema: r.opt(f.worldsema),
            worldsema_owner,
            throwing: r.opt(f.throwing).map(|v| v != 0),
            pidle: self.links(SectionKind::P, &pidle),
            midle: self.links(SectionKind::M, &midle),
            runq: self.links(SectionKind::G, &runq),
        }
    }
}
