//! The M and P passes.

use super::Decoder;
use crate::snapshot::*;
use grt_table::header::SectionKind;

impl<'a> Decoder<'a> {
    pub(super) fn ms(&mut self) -> Vec<MView> {
        let n = self.section_len(SectionKind::M);
        let mf = self.fields.m;
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let Some(r) = self.record(SectionKind::M, i) else {
                break;
            };
            let place = || format!("m {i}");
            let role = r.opt(mf.role);
            let state = r.opt(mf.state);
            let role_name = self.enum_name(|n| &n.mrole, role, || format!("m {i}.role"));
            let state_name = self.enum_name(|n| &n.mstate, state, || format!("m {i}.state"));
            let curg = self.link(SectionKind::G, r.opt(mf.curg), || format!("m {i}.curg"));
            let p = self.link(SectionKind::P, r.opt(mf.p), || format!("m {i}.p"));
            let nextp = self.link(SectionKind::P, r.opt(mf.nextp), || format!("m {i}.nextp"));
            let oldp = self.link(SectionKind::P, r.opt(mf.oldp), || format!("m {i}.oldp"));
            let waitcasg = self.link(SectionKind::G, r.opt(mf.waitcasg), || format!("m {i}.waitcasg"));
            let lockedg = self.link(SectionKind::G, r.opt(mf.lockedg), || format!("m {i}.lockedg"));
            let lastg = self.link(SectionKind::G, r.opt(mf.lastg), || format!("m {i}.lastg"));
            let waitcasg_status = if waitcasg.is_nil() { None } else { r.opt(mf.waitcasg_status).map(|v| v as u32) };
            let waitcasg_status_name = waitcasg_status.map(|s| Self::name_in(&self.names.gstatus, Some(s as u64)));
            let waitsince = r.opt(mf.waitsince).map(|v| v as i64);
            // Held locks: up to nheld entries of held[] (debug builds).
            let mut held = Vec::new();
            if let (Some(hf), Some(nh)) = (mf.held, r.opt(mf.nheld)) {
                // More locks than the array holds: the runtime stops
                // recording them, but not by a million.
                if nh > hf.count as u64 && nh > 1 << 20 {
                    self.corrupt(place, format!("nheld {nh} is implausible"));
                }
                for k in 0..(nh.min(hf.count as u64)) as usize {
                    if let Some(a) = r.get_at(hf, k) {
                        if a != 0 {
                            held.push(LockRef { addr: a, ..Default::default() });
                        }
                    }
                }
            }
            let waitlock = r.opt(mf.waitlock).filter(|&a| a != 0).map(|a| LockRef { addr: a, ..Default::default() });
            let g0 = match (r.opt(mf.g0_sp), r.opt(mf.g0_pc), r.opt(mf.g0_bp)) {
                (Some(sp), Some(pc), Some(bp)) => Some(Context { sp, pc, bp }),
                _ => None,
            };
            let busy = waitlock.is_some() || !waitcasg.is_nil();
            out.push(MView {
                index: i,
                id: r.opt(mf.id).map(|v| v as i64),
                tid: r.opt(mf.procid),
                role: role.map(|v| v as u32),
                role_name,
                state: state.map(|v| v as u32),
                state_name,
                curg,
                p,
                nextp,
                oldp,
                spinning: r.opt(mf.spinning).map(|v| v != 0),
                blocked: r.opt(mf.blocked).map(|v| v != 0),
                locks: r.opt(mf.locks).map(|v| v as i64),
                held,
                waitlock,
                waitcasg,
                waitcasg_status,
                waitcasg_status_name,
                waitsince_ns: waitsince,
                wait_ns: if busy { self.wait_for(waitsince) } else { None },
                g0,
                g0_stack_lo: r.opt(mf.g0_stack_lo),
                g0_stack_hi: r.opt(mf.g0_stack_hi),
                lockedg,
                lastg,
                preemptoff: r.opt(mf.preemptoff),
                throwing: r.opt(mf.throwing).map(|v| v != 0),
                dying: r.opt(mf.dying).map(|v| v != 0),
            });
        }
        out
    }

    // --- Ps

    pub(super) fn ps(&mut self) -> Vec<PView> {
        let n = self.section_len(SectionKind::P);
        let pf = self.fields.p;
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let Some(r) = self.record(SectionKind::P, i) else {
                break;
            };
            let status = r.opt(pf.status);
            let status_name = self.enum_name(|n| &n.pstatus, status, || format!("p {i}.status"));
            let m = self.link(SectionKind::M, r.opt(pf.m), || format!("p {i}.m"));
            let runnext = self.link(SectionKind::G, r.opt(pf.runnext), || format!("p {i}.runnext"));
            let mut runq = Vec::new();
            if let (Some(qf), Some(head), Some(tail)) = (pf.runq, r.opt(pf.runqhead), r.opt(pf.runqtail)) {
                let (head, tail) = (head as u32, tail as u32);
                let len = tail.wrapping_sub(head) as u64;
                let cap = qf.count as u64;
                let take = if len > cap {
                    self.disagree(
                        || format!("p {i}.runq"),
                        format!("runqhead {head} and runqtail {tail} say {len} goroutines; the ring holds {cap}"),
                    );
                    0
                } else {
                    len
                };
                for k in 0..take {
                    let slot = (head as u64 + k) % cap.max(1);
                    let a = r.get_at(qf, slot as usize);
                    let l = self.link(SectionKind::G, a, || format!("p {i}.runq[{slot}]"));
                    runq.push(l);
                }
            }
            out.push(PView {
                index: i,
                id: r.opt(pf.id).map(|v| v as i64),
                status: status.map(|v| v as u32),
                status_name,
                m,
                runq,
                runnext,
                schedtick: r.opt(pf.schedtick),
                syscalltick: r.opt(pf.syscalltick),
                run_safe_point_fn: r.opt(pf.run_safe_point_fn).map(|v| v != 0),
                safe_point_runs: r.opt(pf.safe_point_runs),
                gfree: r.opt(pf.ngfree).map(|v| v as i64),
                sudog_cache: r.opt(pf.nsudog),
                stack_cache: r.opt(pf.nstack),
            });
        }
        out
    }
}
