//! A goroutine's detail, as text lines: what it is, what it waits on
//! (its sudogs: which channel queue, where its value slot is), and who
//! could wake it (the goroutines on the other queue of its channel, the
//! holder of the lock its thread waits for, the timer or the netpoller).
//! The stack itself comes from the stack cache (see `stacks`).

use super::{m_of, AppState, Queued};
use crate::fmt;
use grt_inspector::snapshot::{GView, Link};

/// Everything the detail view shows besides the stack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Detail {
    /// "goroutine 12 [chan receive, 2.3s]".
    pub title: String,
    /// (name, value) pairs.
    pub facts: Vec<(String, String)>,
    /// One line per sudog.
    pub sudogs: Vec<String>,
    /// What it waits for.
    pub waits_for: Vec<String>,
    /// Who could wake it.
    pub wakers: Vec<String>,
    /// Other goroutines with the same stack (when grouped).
    pub same_stack: Vec<u64>,
}

fn gl(ids: impl Iterator<Item = Option<u64>>, max: usize) -> String {
    let v: Vec<Option<u64>> = ids.collect();
    let mut s: Vec<String> = v.iter().take(max).map(|&id| fmt::gname(id)).collect();
    if v.len() > max {
        s.push(format!("(+{} more)", v.len() - max));
    }
    s.join(", ")
}

/// Builds the detail of the goroutine at position `pos` of `st.snap.gs`.
pub fn detail(st: &AppState, pos: usize) -> Detail {
    let snap = &st.snap;
    let Some(g) = snap.gs.get(pos) else {
        return Detail::default();
    };
    let mut d = Detail::default();
    let label = fmt::g_label(snap, g);
    d.title = match (snap.wait_ns(g), super::no_safe_point(snap, g)) {
        (Some(w), _) => format!("goroutine {} [{label}, {}]", fmt::opt(g.goid), fmt::dur(w)),
        (None, Some(d)) => format!("goroutine {} [{label}, {} without a safe point]", fmt::opt(g.goid), fmt::dur(d)),
        (None, None) => format!("goroutine {} [{label}]", fmt::opt(g.goid)),
    };
    let mut fact = |k: &str, v: String| d.facts.push((k.to_string(), v));
    fact("status", fmt::g_status(snap, g) + if g.scan() { "  (Gscan bit set: the GC owns its stack)" } else { "" });
    if let Some(r) = snap.waitreason_name(g) {
        fact("waiting", format!("{r}{}", snap.wait_ns(g).map(|w| format!(" for {}", fmt::dur(w))).unwrap_or_default()));
    }
    if let Some(n) = snap.no_safe_point_ns(g) {
        let why = if super::no_safe_point(snap, g).is_some() {
            "  (it calls nothing that could park: it keeps its P; stop-the-world waits for it)"
        } else {
            ""
        };
        fact("safe point", format!("last passed {} ago{why}", fmt::dur(n)));
    }
    let m = m_of(snap, g);
    let mut mtext = st.m_label(g.m);
    if let Some(m) = m {
        if let Some(t) = m.tid {
            mtext.push_str(&format!("  tid {t}, {}", m.role_name));
        }
        if let Some(k) = st.m_mark(m) {
            mtext.push_str(&format!("  ({})", k.describe()));
        }
    }
    fact("M", mtext);
    fact("P", st.g_p(g));
    if let (lo, hi @ 1..) = (g.stack_lo, g.stack_hi) {
        let used = g.stack_used().map(fmt::size).unwrap_or_else(|| "?".into());
        fact("stack", format!("{lo:#x}-{hi:#x}  used {used} of {}", fmt::size(hi.saturating_sub(lo))));
    }
    if let Some(c) = g.sched.filter(|c| c.sp != 0) {
        fact("saved context", format!("sp {:#x} pc {:#x} bp {:#x}", c.sp, c.pc, c.bp));
    }
    let created = match (snap.created_at(g), Some(g.parent_goid).filter(|&p| p != 0)) {
        (Some(at), Some(p)) => format!("{at} in goroutine {p}"),
        (Some(at), None) => at.to_string(),
        (None, Some(p)) => format!("goroutine {p}"),
        (None, None) => "-".into(),
    };
    fact("created by", created);
    let extra = snap.g_extra(g);
    if !extra.lockedm.is_nil() {
        fact("locked to", st.m_label(extra.lockedm));
    }

    // Sudogs: G.waiting, and sudogs that name it but are not on that list
    // (semaphore waiters).
    let mut sids: Vec<u64> = snap.waiting(g).to_vec();
    for sv in &snap.sudogs {
        if sv.g.index() == Some(g.index) && !sids.contains(&sv.index) {
            sids.push(sv.index);
        }
    }
    for &si in &sids {
        let Some(sv) = snap.sudog(si) else {
            d.sudogs.push(format!("sudog {si}: not in the snapshot (damaged link)"));
            continue;
        };
        let mut line = format!("sudog {si}: ");
        match st.derived.sudog_queue.get(&si) {
            Some(&(ci, recv)) => {
                let c = snap.chan(ci);
                let cid = c.and_then(|c| c.id).map_or("?".into(), |i| i.to_string());
                let ty =
                    c.and_then(|c| snap.site(c.elemtype)).map(|t| format!("chan {t}")).unwrap_or_else(|| "chan".into());
                line.push_str(&format!(
                    "{} of channel {cid} ({ty}, cap {})",
                    if recv { "recvq" } else { "sendq" },
                    fmt::opt(c.and_then(|c| c.cap))
                ));
            }
            None => match (sv.chan, sv.sema) {
                (Link::Rec { id, .. }, _) => {
                    line.push_str(&format!("channel {id}, not on its queues (dequeued, being woken)"))
                }
                (_, sema) if sema != 0 => line.push_str(&format!("semaphore at {sema:#x}")),
                _ => line.push_str("no channel"),
            },
        }
        if sv.is_select == Some(true) {
            line.push_str(", select case");
        }
        match (sv.elem, sv.elem_in_stack) {
            (0, _) => line.push_str("; no value slot"),
            (e, Some(true)) => line.push_str(&format!("; slot {e:#x} on its own stack")),
            (e, Some(false)) => line.push_str(&format!("; slot {e:#x} NOT on its own stack")),
            (e, None) => line.push_str(&format!("; slot {e:#x}")),
        }
        d.sudogs.push(line);
    }

    // What it waits for, and who could wake it.
    let goid = g.goid;
    for &si in &sids {
        let Some(sv) = snap.sudog(si) else { continue };
        if let Some(&(ci, recv)) = st.derived.sudog_queue.get(&si) {
            let Some(c) = snap.chan(ci) else { continue };
            let cid = fmt::opt(c.id);
            let (verb, other, other_q) =
                if recv { ("a value on", snap.sendq(c), "sendq") } else { ("room on", snap.recvq(c), "recvq") };
            let buffered = match (c.qcount, c.cap) {
                (Some(q), Some(cap)) if cap > 0 => format!(" (buffer {q}/{cap})"),
                _ => String::new(),
            };
            d.waits_for.push(format!("{verb} channel {cid}{buffered}"));
            if c.closed == Some(true) {
                d.wakers.push(format!("channel {cid} is closed: it should be woken at once"));
            }
            if !other.is_empty() {
                d.wakers.push(format!("channel {cid} {other_q}: {}", gl(other.iter().map(|q| q.g.id()), 12)));
            } else {
                d.wakers.push(format!(
                    "channel {cid}: nobody waits on its {other_q}; any goroutine that {} it (who holds it is not recorded)",
                    if recv { "sends on or closes" } else { "receives from" }
                ));
            }
            if let Some(o) = c.lock_owner.index().and_then(|i| snap.m(i)) {
                d.wakers.push(format!(
                    "channel {cid}'s lock is held by {}",
                    st.m_label(Link::rec(o.index, o.id.unwrap_or(0) as u64))
                ));
            }
        } else if let Some(sema) = Some(sv.sema).filter(|&s| s != 0) {
            d.waits_for.push(format!("the semaphore at {sema:#x}"));
            let others: Vec<Option<u64>> = snap
                .sudogs
                .iter()
                .filter(|o| o.sema == sema && o.index != si)
                .filter_map(|o| o.g.index().and_then(|i| snap.g(i)).map(|g| g.goid))
                .collect();
            if !others.is_empty() {
                d.wakers.push(format!("also waiting on it: {}", gl(others.into_iter(), 12)));
            }
            d.wakers.push("whoever releases it (the holder of a mutex is not recorded)".into());
        }
    }
    match g.base_status() {
        Some(grt_table::G_WAITING) if sids.is_empty() => {
            let r = snap.waitreason_name(g);
            match r.as_deref().unwrap_or("") {
                "sleep" => {
                    d.waits_for.push("a timer".into());
                    d.wakers.push(format!("the timer heap ({} timers pending)", fmt::opt(snap.sched.ntimers)));
                }
                "IO wait" => {
                    d.waits_for.push("a file descriptor to become ready".into());
                    d.wakers.push(format!("the netpoller ({} waiters)", fmt::opt(snap.sched.netpoll_waiters)));
                }
                "" => d.waits_for.push("(no wait reason recorded)".into()),
                r => d.waits_for.push(r.to_string()),
            }
        }
        Some(grt_table::G_RUNNABLE) => {
            d.waits_for.push("a P to run on".into());
            match st.derived.queued.get(&g.index) {
                Some(Queued::Local(p)) => {
                    d.wakers.push(format!("P{p}'s M picks it from P{p}'s local run queue (or another P steals it)"))
                }
                Some(Queued::Runnext(p)) => d.wakers.push(format!("P{p}'s M runs it next (runnext)")),
                Some(Queued::Global) => d.wakers.push("any M with a P takes it from the global run queue".into()),
                None => d.wakers.push("not on any run queue in this snapshot (being moved)".into()),
            }
        }
        Some(grt_table::G_SYSCALL) => d.waits_for.push("its system call to return".into()),
        _ => {}
    }
    // Its thread waiting for a runtime lock.
    if let Some(m) = m {
        if let Some(w) = &m.waitlock {
            let holder = w.lock.and_then(|l| snap.locks.get(l)).map(|l| l.owner).unwrap_or(Link::Nil);
            let hm = holder.index().and_then(|i| snap.m(i));
            let running = hm.map(|hm| st.g_link(hm.curg)).filter(|s| s != "-");
            d.waits_for.push(format!(
                "its thread {} waits for lock {}{}",
                st.m_label(g.m),
                w.name,
                m.wait_ns.map(|n| format!(" for {}", fmt::dur(n))).unwrap_or_default()
            ));
            match hm {
                Some(hm) => d.wakers.push(format!(
                    "the holder of {}: {}{}",
                    w.name,
                    st.m_label(Link::rec(hm.index, hm.id.unwrap_or(0) as u64)),
                    running.map(|r| format!(" (running {r})")).unwrap_or_default()
                )),
                None => d.wakers.push(format!("the holder of {} (not recorded)", w.name)),
            }
        }
    }
    // Threads spinning in casgstatus on it.
    for om in &snap.ms {
        if om.waitcasg.index() == Some(g.index) {
            d.wakers.push(format!(
                "{} spins in casgstatus until it becomes {}",
                st.m_label(Link::rec(om.index, om.id.unwrap_or(0) as u64)),
                om.waitcasg_status_name.as_deref().unwrap_or("?")
            ));
        }
    }
    if g.scan() {
        d.waits_for.push("the GC to finish scanning its stack (Gscan)".into());
        match snap.g_extra(g).scan_holder {
            h @ Link::Rec { .. } => d.wakers.push(format!("the scanner {}", st.m_label(h))),
            _ => d.wakers.push("the thread scanning it (the table does not record which)".into()),
        }
    }
    // Wait-for lines that name it.
    if let Some(id) = goid {
        let me = format!("goroutine {id}");
        for l in &snap.waitfor.lines {
            if let Some(at) = l.find(&me) {
                let after = l[at + me.len()..].chars().next();
                if !after.is_some_and(|c| c.is_ascii_digit()) {
                    d.waits_for.push(format!("wait-for: {l}"));
                }
            }
        }
    }
    // Goroutines with the same stack.
    if let Some(s) = st.stack_of(g) {
        if let Some(grp) = st.goroutines.groups.iter().find(|x| x.stack.as_ref().is_some_and(|gs| gs.hash == s.hash)) {
            d.same_stack = grp
                .members
                .iter()
                .filter_map(|&p| snap.gs.get(p as usize))
                .filter(|o| o.goid != goid)
                .filter_map(|o| o.goid)
                .collect();
        }
    }
    d
}

/// The goroutine with `goid`, if it is in the snapshot.
pub fn find(st: &AppState, goid: u64) -> Option<(usize, &GView)> {
    st.derived.g_by_goid.get(&goid).map(|&i| (i, &st.snap.gs[i]))
}
