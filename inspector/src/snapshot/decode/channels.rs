//! The channel pass (channel views and their recvq/sendq, checked against
//! the sudogs' own links) and the sudog pass.

use super::fields::*;
use super::parallel::Sink;
use super::{trim, Decoder};
use crate::snapshot::*;
use grt_table::header::SectionKind;

impl<'a> Decoder<'a> {
    /// Decodes the sudog records `range` into `out` (one slot per record
    /// at most).
    pub(super) fn sudogs(&mut self, range: std::ops::Range<u64>, out: &mut Sink<'_, SudogView>) {
        with_sets!(self, set => self.sudogs_with(set, range, out))
    }

    #[inline(always)]
    pub(super) fn sudogs_with<S: PassSets>(
        &mut self,
        set: S,
        range: std::ops::Range<u64>,
        out: &mut Sink<'_, SudogView>,
    ) {
        let sf = set.sudog();
        for i in range {
            let Some(r) = self.record(SectionKind::Sudog, i) else {
                break;
            };
            let inuse = match r.opt(sf.inuse) {
                Some(v) => v != 0,
                None => r.opt(sf.g).is_some_and(|g| g != 0),
            };
            if !inuse {
                continue;
            }
            let (g, ginfo) = self.link_g(r.opt(sf.g), || format!("sudog {i}.g"));
            let chan = self.link(SectionKind::Hchan, r.opt(sf.c), || format!("sudog {i}.c"));
            let waitlink = self.link(SectionKind::Sudog, r.opt(sf.waitlink), || format!("sudog {i}.waitlink"));
            let elem = r.opt(sf.elem).unwrap_or(0);
            let elem_in_stack = match ginfo {
                Some(gi) if elem != 0 => gi.stack().map(|(lo, hi)| elem >= lo && elem < hi),
                _ => None,
            };
            out.push(SudogView {
                index: i,
                g,
                chan,
                elem,
                elem_in_stack,
                is_select: r.opt(sf.is_select).map(|v| v != 0),
                success: r.opt(sf.success).map(|v| v != 0),
                enqueued_ns: r.opt(sf.enqueued).unwrap_or(0) as i64,
                sema: r.opt(sf.sema).unwrap_or(0),
                waitlink,
            });
        }
    }

    // --- channels

    pub(super) fn chans(&mut self) -> Vec<ChanView> {
        with_sets!(self, set => self.chans_with(set))
    }

    #[inline(always)]
    pub(super) fn chans_with<S: PassSets>(&mut self, set: S) -> Vec<ChanView> {
        let n = self.section_len(SectionKind::Hchan);
        let hf = set.hchan();
        let mut out = std::mem::take(&mut self.bufs.chans);
        out.reserve(n as usize);
        // Channel ids, for links to channels after this pass (nothing in
        // it links to a channel).
        let mut ids = std::mem::take(&mut self.chan_ids);
        ids.clear();
        ids.reserve(n as usize);
        for i in 0..n {
            let Some(r) = self.record(SectionKind::Hchan, i) else {
                break;
            };
            let id = r.opt(hf.id);
            ids.push(id);
            if r.opt(hf.inuse) == Some(0) {
                continue;
            }
            let mut ok = true;
            let recvq = self.queue(set, i, id, &r, hf.recvq_first, hf.recvq_last, true, &mut ok);
            let sendq = self.queue(set, i, id, &r, hf.sendq_first, hf.sendq_last, false, &mut ok);
            let key = r.opt(hf.lock_key).map(|v| v as u32);
            let lock_state = self.lock_state(key, || format!("hchan {i} lock"));
            if matches!(lock_state, LockState::Held | LockState::Contended) {
                self.held_chans.push(i);
            }
            let lock_owner = self.link(SectionKind::M, r.opt(hf.lock_owner), || format!("hchan {i} lock.owner"));
            let (cap, qcount) = (r.opt(hf.dataqsiz), r.opt(hf.qcount));
            if let (Some(c), Some(q)) = (cap, qcount) {
                if q > c {
                    self.disagree(|| format!("hchan {i}"), format!("qcount {q} exceeds the capacity {c}"));
                }
            }
            let elemtype = self.site(r.opt(hf.elemtype));
            let site = self.site(r.opt(hf.site));
            out.push(ChanView {
                index: i,
                id,
                elemtype,
                site,
                cap,
                qcount,
                elemsize: r.opt(hf.elemsize),
                closed: r.opt(hf.closed).map(|v| v != 0),
                refs: r.opt(hf.refs),
                lock_key: key,
                lock_state,
                lock_owner,
                recvq,
                sendq,
                queues_ok: ok,
            });
        }
        self.chan_ids = ids;
        trim(out, self.bufs.reused)
    }

    /// Walks one wait queue of channel `ci`: first -> next, checking each
    /// prev link, each sudog's `c`, and the queue's `last`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn queue<S: PassSets>(
        &mut self,
        set: S,
        ci: u64,
        id: Option<u64>,
        r: &RecordBytes<'a>,
        first: Option<FieldAt>,
        last: Option<FieldAt>,
        recv: bool,
        ok: &mut bool,
    ) -> ListRef {
        let sf = set.sudog();
        let qn = if recv { "recvq" } else { "sendq" };
        let place = move || match id {
            Some(id) => format!("hchan {ci} (channel {id}) {qn}"),
            None => format!("hchan {ci} {qn}"),
        };
        let nd = self.damage.len() + self.dropped as usize;
        let mut idx = std::mem::take(&mut self.scratch);
        idx.clear();
        self.walk_into(SectionKind::Sudog, r.opt(first), sf.next, &place, &mut idx);
        if self.damage.len() + self.dropped as usize != nd {
            *ok = false;
        }
        let me = self.rec_addr(SectionKind::Hchan, ci);
        let start = self.queues.len();
        let mut prev_addr = 0u64;
        for &s in &idx {
            let Some(sr) = self.record(SectionKind::Sudog, s) else {
                break;
            };
            let c = sr.opt(sf.c);
            if c.is_some() && c != me {
                *ok = false;
                self.disagree(
                    place,
                    format!("sudog {s} points at channel {:#x}, not back at this one", c.unwrap_or(0)),
                );
            }
            if let Some(p) = sr.opt(sf.prev) {
                if p != prev_addr {
                    *ok = false;
                    self.disagree(place, format!("sudog {s}.prev is {p:#x}, expected {prev_addr:#x}"));
                }
            }
            let (g, ginfo) = self.link_g(sr.opt(sf.g), || format!("sudog {s}.g"));
            if g.index().is_some() {
                if let Some(st) = ginfo.and_then(|g| g.status()) {
                    if st & !grt_table::G_SCAN != grt_table::G_WAITING {
                        *ok = false;
                        self.disagree(
                            place,
                            format!("goroutine {} on the queue is not waiting (status {st:#x})", g.id().unwrap_or(0)),
                        );
                    }
                }
            }
            let _ = recv;
            if std::mem::replace(self.queued.get_mut(s as usize).unwrap_or(&mut false), true) {
                *ok = false;
                self.corrupt(place, format!("sudog {s} is on two channel queues"));
            }
            prev_addr = self.rec_addr(SectionKind::Sudog, s).unwrap_or(0);
            self.queues.push(QueueEntry { sudog: s, g });
        }
        let want_last = if idx.is_empty() { 0 } else { prev_addr };
        if let Some(l) = r.opt(last) {
            if *ok && l != want_last {
                *ok = false;
                self.disagree(place, format!("{qn}_last is {l:#x}, the walk ended at {want_last:#x}"));
            }
        }
        self.scratch = idx;
        let len = self.queues.len() - start;
        if len == 0 {
            return ListRef::default();
        }
        ListRef { start: u32::try_from(start).unwrap_or(u32::MAX), len: u32::try_from(len).unwrap_or(0) }
    }

    pub(super) fn lock_state(&mut self, key: Option<u32>, place: impl FnOnce() -> String) -> LockState {
        match key {
            None => LockState::Unknown,
            Some(0) => LockState::Free,
            Some(1) => LockState::Held,
            Some(2) => LockState::Contended,
            Some(k) => {
                self.corrupt(place, format!("lock key {k} is not 0, 1 or 2"));
                LockState::Unknown
            }
        }
    }
}
