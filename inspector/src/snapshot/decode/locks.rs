//! The lock pass: every lock of sched and mheap, held or waited-for
//! channel locks, and locks outside the table that Ms hold or wait for.

use super::{shifted, Decoder, EmbeddedLock};
use crate::snapshot::*;
use grt_table::desc::Kind;
use grt_table::header::SectionKind;
use std::collections::HashMap;

impl<'a> Decoder<'a> {
    /// The lock fields (Struct fields whose target is the lock record) of a record kind.
    pub(super) fn embedded_locks(&self, rec: &str) -> Vec<EmbeddedLock> {
        let Some(lr) = self.lock_rec else {
            return Vec::new();
        };
        let Some((_, r)) = self.img.layout.record(rec) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for f in &r.fields {
            if f.field.kind == Kind::Struct && f.field.target == Some(lr) {
                for k in 0..f.field.count.min(64) {
                    let name = if f.field.count == 1 { f.name.clone() } else { format!("{}[{k}]", f.name) };
                    let off = f.field.offset as u64 + (k * f.field.elem_size) as u64;
                    out.push(EmbeddedLock { name: Text::from(name), offset: off });
                }
            }
        }
        out
    }

    /// Where a lock address points, and its display name.
    pub(super) fn lock_place(&self, addr: u64) -> (LockPlace, Text) {
        let Some(l) = self.img.locate(addr) else {
            return (LockPlace::Outside, Text::from(format!("lock at {addr:#x}")));
        };
        let rn = section_name(l.kind);
        let fields = match l.kind {
            SectionKind::Sched => self.sched_locks.clone(),
            SectionKind::MHeap => self.heap_locks.clone(),
            k => k.record_name().map(|n| self.embedded_locks(n)).unwrap_or_default(),
        };
        match fields.iter().find(|f| f.offset == l.within) {
            None => (LockPlace::Misplaced, Text::from(format!("{rn} {} +{:#x} (not a lock)", l.index, l.within))),
            Some(f) => match l.kind {
                SectionKind::Sched | SectionKind::MHeap => (
                    LockPlace::Field { record: Text::new(rn), index: 0, field: f.name.clone() },
                    Text::from(format!("{rn}.{}", f.name)),
                ),
                SectionKind::Hchan => {
                    let id = self.id_of(SectionKind::Hchan, l.index);
                    let name =
                        if &*f.name == "lock" { format!("hchan {id} lock") } else { format!("hchan {id} {}", f.name) };
                    (LockPlace::Chan { index: l.index, id }, Text::from(name))
                }
                _ => (
                    LockPlace::Field { record: Text::new(rn), index: l.index, field: f.name.clone() },
                    Text::from(format!("{rn} {} {}", l.index, f.name)),
                ),
            },
        }
    }

    /// Reads a lock in the table at `addr` (known to be a lock field).
    pub(super) fn read_lock(&mut self, addr: u64, name: &Text) -> (Option<u32>, Option<u32>, LockState, Link) {
        let Some(l) = self.img.locate(addr) else {
            return (None, None, LockState::Unknown, Link::Nil);
        };
        let Some(r) = self.record(l.kind, l.index) else {
            return (None, None, LockState::Unknown, Link::Nil);
        };
        let lf = self.fields.lock;
        let key = r.opt(shifted(lf.key, l.within)).map(|v| v as u32);
        let rank = r.opt(shifted(lf.rank, l.within)).map(|v| v as u32);
        let owner_addr = r.opt(shifted(lf.owner, l.within));
        let n = name.clone();
        let state = self.lock_state(key, || n.to_string());
        let n = name.clone();
        let owner = self.link(SectionKind::M, owner_addr, || format!("{n}.owner"));
        (key, rank, state, owner)
    }

    pub(super) fn locks(&mut self, ms: &mut [MView]) -> Vec<LockView> {
        let mut out: Vec<LockView> = Vec::new();
        let mut at: HashMap<u64, usize> = HashMap::new();
        let mut add = |cx: &mut Decoder<'a>, out: &mut Vec<LockView>, addr: u64| -> usize {
            if let Some(&i) = at.get(&addr) {
                return i;
            }
            let (place, name) = cx.lock_place(addr);
            let (key, rank, state, owner) = match place {
                LockPlace::Outside | LockPlace::Misplaced => (None, None, LockState::Unknown, Link::Nil),
                _ => cx.read_lock(addr, &name),
            };
            if matches!(place, LockPlace::Misplaced) {
                cx.corrupt(|| name.to_string(), "a lock pointer points inside the table but not at a lock");
            }
            let rank_name = rank.and_then(|r| cx.names.lockrank.get(r as usize).cloned());
            out.push(LockView {
                addr,
                name,
                place,
                rank,
                rank_name,
                key,
                state,
                owner,
                owner_from_held: false,
                waiters: Vec::new(),
            });
            at.insert(addr, out.len() - 1);
            out.len() - 1
        };
        // sched and mheap locks, always.
        for (kind, fields) in
            [(SectionKind::Sched, self.sched_locks.clone()), (SectionKind::MHeap, self.heap_locks.clone())]
        {
            if let Some(base) = self.rec_addr(kind, 0) {
                if self.img.len(kind) > 0 {
                    for f in fields {
                        if let Some(a) = base.checked_add(f.offset) {
                            add(self, &mut out, a);
                        }
                    }
                }
            }
        }
        // Channel locks that are held.
        let chan_locks = self.embedded_locks("hchan");
        if let Some(off) = chan_locks.iter().find(|f| &*f.name == "lock").or(chan_locks.first()).map(|f| f.offset) {
            for ci in std::mem::take(&mut self.held_chans) {
                if let Some(a) = self.rec_addr(SectionKind::Hchan, ci).and_then(|b| b.checked_add(off)) {
                    add(self, &mut out, a);
                }
            }
        }
        // Everything an M holds or waits for.
        for m in ms.iter_mut() {
            let mlink = Link::rec(m.index, m.id.map_or(m.index, |v| v as u64));
            if let Some(w) = m.waitlock.as_mut() {
                let li = add(self, &mut out, w.addr);
                w.lock = Some(li);
                w.name = out[li].name.clone();
                out[li].waiters.push(mlink);
            }
            for h in m.held.iter_mut() {
                let li = add(self, &mut out, h.addr);
                h.lock = Some(li);
                h.name = out[li].name.clone();
                let lv = &mut out[li];
                if matches!(lv.place, LockPlace::Outside) && lv.owner.is_nil() {
                    lv.owner = mlink;
                    lv.owner_from_held = true;
                    lv.state = LockState::Held;
                }
            }
        }
        // Cross-checks: a free lock with an owner, a held one without.
        let free_owned: Vec<Text> =
            out.iter().filter(|l| l.state == LockState::Free && !l.owner.is_nil()).map(|l| l.name.clone()).collect();
        for name in free_owned {
            self.disagree(|| name.to_string(), "the lock is free but names an owner");
        }
        out
    }
}
