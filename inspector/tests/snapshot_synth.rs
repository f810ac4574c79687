//! Snapshot decoding and wait-for analysis on tables built in memory: round
//! trips (decode, JSON, raw table), damage that must be reported and never
//! trusted, and the wait-for cycles of the documented races, by name.

use grt_inspector::snapshot::{
    Capture, DamageKind, DecodeOptions, Link, LockPlace, LockState, RawTable, Snapshot, SweepState,
};
use grt_inspector::synth::{self, Synth};
use grt_inspector::waitfor::{EdgeKind, Node};
use grt_table::header::SectionKind;
use grt_table::{mrole, mstate, waitreason, Hchan, MHeap, Sched, Sudog, G, M, P};

fn decode_with(bytes: &[u8], capture: Capture) -> Snapshot {
    let img = synth::image(bytes).expect("synthetic table loads");
    Snapshot::decode(&img, &DecodeOptions { capture, now_mono_ns: Some(3_000_000), ..Default::default() })
}

fn decode(bytes: &[u8]) -> Snapshot {
    decode_with(bytes, Capture::Frozen { pause_us: 100 })
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("grt-insp-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn decodes_a_busy_table() {
    let n = 400;
    let bytes = synth::parked_scenario(n).finish();
    let s = decode(&bytes);
    assert!(s.damage.is_empty(), "{:#?}", s.damage);
    assert_eq!(s.gs.len() as u64, n);
    assert_eq!(s.ps.len(), 4);
    assert_eq!(s.ms.len(), 4);
    assert_eq!(s.sched.gomaxprocs, Some(4));
    assert_eq!(s.sched.pidle.iter().map(|l| l.index().unwrap()).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(s.sched.runq.len(), 2);
    assert_eq!(s.ps[0].runq.len(), 3);
    assert_eq!(s.ps[1].runq.len(), 3);
    assert_eq!(s.ps[0].m.id(), Some(0));
    assert_eq!(s.ms[0].curg.id(), Some(1), "M0 runs goroutine 1");
    assert_eq!(s.ms[0].tid, Some(1000));
    assert_eq!(&*s.ms[1].role_name, "sysmon");
    // Goroutines by state.
    let by = s.count_by_state();
    let get = |k: &str| by.iter().find(|(n, _)| n == k).map_or(0, |x| x.1);
    assert_eq!(get("running"), 2);
    assert_eq!(get("runnable"), 8);
    assert!(get("chan receive") > 100 && get("chan send") > 40 && get("select") > 10 && get("sleep") > 10, "{by:?}");
    assert_eq!(by.iter().map(|x| x.1).sum::<usize>() as u64, n);
    // Every waiting goroutine on a channel has its sudogs, elems on its stack.
    for g in s.gs.iter().filter(|g| s.waitreason_name(g).is_some_and(|r| r.starts_with("chan") || r == "select")) {
        assert!(!g.waiting.is_empty(), "goroutine {:?} has no sudog", g.goid);
        for &sg in s.waiting(g) {
            let v = s.sudog(sg).unwrap();
            assert_eq!(v.g.index(), Some(g.index));
            assert_eq!(v.elem_in_stack, Some(true));
        }
        assert_eq!(s.created_at(g).map(|c| c.starts_with("src/")), Some(true));
        assert_eq!(s.wait_ns(g), Some(2_000_000));
        assert_eq!(g.stack_used(), Some(0x200));
    }
    // Channels: groups of 10 receivers on shared channels, queues consistent.
    assert!(s.chans.iter().all(|c| c.queues_ok));
    let shared = s.chans.iter().find(|c| c.cap == Some(4)).unwrap();
    assert_eq!(shared.recvq.len(), 10);
    assert_eq!(s.site(shared.elemtype), Some("u64"));
    assert_eq!(s.site(shared.site), Some("src/main.rs:42"));
    let goids: Vec<u64> = s.recvq(shared).iter().map(|q| q.g.id().unwrap()).collect();
    assert!(goids.windows(2).all(|w| w[0] < w[1]), "recvq in order: {goids:?}");
    // The heap: one stack span per goroutine, owned by it, swept.
    assert_eq!(s.heap.spans.len() as u64, n);
    assert!(s
        .heap
        .spans
        .iter()
        .all(|sp| s.span_sweep(sp) == Some(SweepState::Swept) && s.span_state_name(sp) == "manual"));
    assert_eq!(s.heap.spans[5].owner.index(), Some(5));
    // Locks: every sched and mheap lock, all free.
    let names: Vec<&str> = s.locks.iter().map(|l| &*l.name).collect();
    for want in [
        "sched.lock",
        "sched.gfree_lock",
        "sched.sudog_lock",
        "sched.timers_lock",
        "sched.hchan_lock",
        "sched.sites_lock",
        "mheap.lock",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    assert!(s.locks.iter().all(|l| l.state == LockState::Free));
    assert_eq!(s.locks.iter().find(|l| &*l.name == "sched.lock").unwrap().rank_name.as_deref(), Some("sched"));
    // Nothing to report: timers pending, goroutines running.
    assert!(s.waitfor.cycles.is_empty() && s.waitfor.stalls.is_empty(), "{:?}", s.waitfor.lines);
    assert!(s.waitfor.edges.iter().filter(|e| matches!(e.kind, EdgeKind::ParkedOn { .. })).count() > 150);
}

#[test]
fn json_and_raw_round_trips() {
    let bytes = synth::parked_scenario(120).finish();
    let img = synth::image(&bytes).unwrap();
    let opts = DecodeOptions { capture: Capture::Saved, now_mono_ns: Some(5_000_000), ..Default::default() };
    let s = Snapshot::decode(&img, &opts);
    let p = tmp("round.json");
    s.save(&p).unwrap();
    let back = Snapshot::load(&p).unwrap();
    assert_eq!(back, s);
    // The raw table rebuilds the same image and the same snapshot.
    let raw = RawTable::from_image(&img);
    let rp = tmp("round.grtraw");
    raw.save(&rp).unwrap();
    let raw2 = RawTable::load(&rp).unwrap();
    assert_eq!(raw2, raw);
    let img2 = raw2.image().unwrap();
    let mut s2 = Snapshot::decode(&img2, &opts);
    s2.taken = s.taken.clone();
    assert_eq!(s2, s);
    // Bad files give one-line errors with a remedy.
    std::fs::write(&p, b"{\"format\": 99}").unwrap();
    let e = Snapshot::load(&p).unwrap_err().to_string();
    assert!(e.contains("format 99") && e.contains("use the grt-tui that wrote it"), "{e}");
    std::fs::write(&p, b"hello").unwrap();
    let e = Snapshot::load(&p).unwrap_err().to_string();
    assert!(e.contains("is not a grt snapshot"), "{e}");
    let e = RawTable::load(&p).unwrap_err().to_string();
    assert!(e.contains("is not a grt raw table (bad magic)"), "{e}");
    let mut short = raw.to_bytes();
    short.truncate(short.len() - 10);
    assert_eq!(RawTable::from_bytes(&short).unwrap_err(), "file ends early");
}

/// Two Ms, two locks: M1 waits for sched.lock held by M2, M2 waits for
/// mheap.lock held by M1.
#[test]
fn lock_cycle_is_named() {
    let mut s = Synth::new(16);
    let _m0 = s.add_m(mrole::MAIN, mstate::IDLE, 100);
    let m1 = s.add_m(mrole::WORKER, mstate::LOCKWAIT, 101);
    let m2 = s.add_m(mrole::WORKER, mstate::LOCKWAIT, 102);
    s.hold_lock::<Sched>(SectionKind::Sched, 0, "lock", m2, true);
    s.hold_lock::<MHeap>(SectionKind::MHeap, 0, "lock", m1, true);
    let l1 = s.lock_addr::<Sched>(SectionKind::Sched, 0, "lock");
    let l2 = s.lock_addr::<MHeap>(SectionKind::MHeap, 0, "lock");
    s.wait_lock(m1, l1);
    s.wait_lock(m2, l2);
    let snap = decode(&s.finish());
    assert!(snap.damage.is_empty(), "{:#?}", snap.damage);
    let sl = snap.locks.iter().find(|l| &*l.name == "sched.lock").unwrap();
    assert_eq!(sl.state, LockState::Contended);
    assert_eq!(sl.owner.index(), Some(m2));
    assert_eq!(sl.waiters, vec![Link::rec(m1, m1)]);
    assert!(matches!(sl.place, LockPlace::Field { .. }));
    assert_eq!(snap.ms[m1 as usize].waitlock.as_ref().unwrap().name, "sched.lock");
    assert_eq!(snap.ms[m1 as usize].held[0].name, "mheap.lock");
    assert_eq!(snap.ms[m1 as usize].wait_ns, Some(2_000_000));
    let r = &snap.waitfor;
    assert_eq!(r.cycles.len(), 1, "{:?}", r.lines);
    let c = &r.cycles[0];
    assert!(c.certain);
    assert_eq!(
        c.text,
        "M1 (worker, tid 101) waits for lock sched.lock held by M2 (worker, tid 102); M2 waits for lock mheap.lock held by M1"
    );
    assert_eq!(c.nodes.len(), 4);
    assert_eq!(c.names[0], "M1 (worker, tid 101)");
    assert!(r.lines[0].starts_with("deadlock: M1 (worker, tid 101) waits for lock sched.lock"), "{:?}", r.lines);
    assert!(
        r.lines
            .iter()
            .any(|l| l == "M2 (worker, tid 102) waits for lock mheap.lock held by M1 (worker, tid 101) for 2.0ms"),
        "{:?}",
        r.lines
    );
}

/// Seed 003's shape: the injector M1 holds sched.lock and spins in
/// casgstatus on goroutine G (in "IO wait (scan)") waiting for Gwaiting; the
/// scanner M2 waits for sched.lock. The scan bit's holder is not recorded,
/// so the cycle is a possible one, through the blocked M2.
#[test]
fn casgstatus_on_a_scan_bit_shows_its_edge_and_the_possible_cycle() {
    let mut s = Synth::new(16);
    let m0 = s.add_m(mrole::MAIN, mstate::RUNNING, 100);
    let m1 = s.add_m(mrole::WORKER, mstate::RUNNING, 101);
    let m2 = s.add_m(mrole::WORKER, mstate::LOCKWAIT, 102);
    let _ = m0;
    let g1 = s.add_g(grt_table::G_WAITING, waitreason::IO_WAIT, 0);
    let g = s.add_g(grt_table::G_WAITING | grt_table::G_SCAN, waitreason::IO_WAIT, 0);
    let _ = g1;
    s.hold_lock::<Sched>(SectionKind::Sched, 0, "lock", m1, true);
    s.set::<M>(SectionKind::M, m1, "waitcasg", s.addr(SectionKind::G, g));
    s.set::<M>(SectionKind::M, m1, "waitcasg_status", grt_table::G_WAITING as u64);
    s.set::<M>(SectionKind::M, m1, "waitsince", 500_000);
    let l = s.lock_addr::<Sched>(SectionKind::Sched, 0, "lock");
    s.wait_lock(m2, l);
    let snap = decode(&s.finish());
    assert!(snap.damage.is_empty(), "{:#?}", snap.damage);
    let gv = snap.g(g).unwrap();
    assert!(gv.scan());
    assert_eq!(snap.waitreason_name(gv).as_deref(), Some("IO wait"));
    let r = &snap.waitfor;
    assert!(r.edges.iter().any(|e| e.from == Node::Thread { m: m1 }
        && e.to == Node::ScanBit { g }
        && e.kind == EdgeKind::WaitsForScanBit { want: grt_table::G_WAITING }
        && e.wait_ns == Some(2_500_000)));
    assert!(r.edges.iter().any(|e| e.from == Node::ScanBit { g } && e.to == Node::UnknownHolder { g } && e.certain));
    assert!(r.edges.iter().any(|e| e.from == Node::ScanBit { g } && e.to == Node::Thread { m: m2 } && !e.certain));
    assert_eq!(r.cycles.len(), 1, "{:?}", r.lines);
    let c = &r.cycles[0];
    assert!(!c.certain);
    assert_eq!(
        c.text,
        "M1 (worker, tid 101) waits for goroutine 2's scan bit (in casgstatus, for status waiting); goroutine 2's scan bit may be held by M2 (worker, tid 102) (not recorded); M2 waits for lock sched.lock held by M1"
    );
    assert!(r.lines.iter().any(|l| l.starts_with("possible deadlock")), "{:?}", r.lines);
    assert!(
        r.lines.iter().any(|l| l == "M1 (worker, tid 101) spins in casgstatus on goroutine 2 waiting for status waiting; it is waiting (scan) for 2.5ms"),
        "{:?}",
        r.lines
    );
}

/// The same, with the runtime's `g.scanm` recording the scanner: the
/// cycle is certain and named by the threads that hold what.
#[test]
fn a_recorded_scan_bit_holder_makes_the_cycle_certain() {
    let mut s = Synth::new(16);
    let _m0 = s.add_m(mrole::MAIN, mstate::RUNNING, 100);
    let m1 = s.add_m(mrole::WORKER, mstate::RUNNING, 101);
    let m2 = s.add_m(mrole::WORKER, mstate::LOCKWAIT, 102);
    let g = s.add_g(grt_table::G_WAITING | grt_table::G_SCAN, waitreason::IO_WAIT, 0);
    s.set::<G>(SectionKind::G, g, "scanm", s.addr(SectionKind::M, m2));
    s.hold_lock::<Sched>(SectionKind::Sched, 0, "lock", m1, true);
    s.set::<M>(SectionKind::M, m1, "waitcasg", s.addr(SectionKind::G, g));
    s.set::<M>(SectionKind::M, m1, "waitcasg_status", grt_table::G_WAITING as u64);
    let l = s.lock_addr::<Sched>(SectionKind::Sched, 0, "lock");
    s.wait_lock(m2, l);
    let snap = decode(&s.finish());
    assert!(snap.damage.is_empty(), "{:#?}", snap.damage);
    assert_eq!(snap.g_extra(snap.g(g).unwrap()).scan_holder.index(), Some(m2));
    let r = &snap.waitfor;
    assert!(r.edges.iter().any(|e| e.from == Node::ScanBit { g } && e.to == Node::Thread { m: m2 } && e.certain));
    assert!(!r.edges.iter().any(|e| e.to == Node::UnknownHolder { g }), "{:?}", r.edges);
    assert_eq!(r.cycles.len(), 1, "{:?}", r.lines);
    assert!(r.cycles[0].certain);
    assert_eq!(
        r.cycles[0].text,
        "M1 (worker, tid 101) waits for goroutine 1's scan bit (in casgstatus, for status waiting); goroutine 1's scan bit is held by M2 (worker, tid 102); M2 waits for lock sched.lock held by M1"
    );
}

/// Seed 000's shape: casgstatus(G, Gwaiting, Gcopystack) while G is
/// Grunnable: a wait with no holder, no cycle.
#[test]
fn casgstatus_on_a_status_that_will_not_come_back() {
    let mut s = Synth::new(16);
    let m = s.add_m(mrole::WORKER, mstate::RUNNING, 7);
    let g = s.add_g(grt_table::G_RUNNABLE, 0, 0);
    s.set::<M>(SectionKind::M, m, "waitcasg", s.addr(SectionKind::G, g));
    s.set::<M>(SectionKind::M, m, "waitcasg_status", grt_table::G_WAITING as u64);
    let snap = decode(&s.finish());
    let r = &snap.waitfor;
    assert!(r.cycles.is_empty());
    assert!(r.edges.iter().any(|e| e.to == Node::Goroutine { g }
        && e.kind == EdgeKind::WaitsForStatus { want: grt_table::G_WAITING, now: Some(grt_table::G_RUNNABLE) }));
    assert!(
        r.lines
            .iter()
            .any(|l| l.contains("spins in casgstatus on goroutine 1 waiting for status waiting; it is runnable")),
        "{:?}",
        r.lines
    );
}

/// A lock outside the table (a semaphore's): its holder is known from
/// M.held, its waiter from M.waitlock.
#[test]
fn lock_outside_the_table() {
    let mut s = Synth::new(16);
    let a = s.add_m(mrole::WORKER, mstate::RUNNING, 1);
    let b = s.add_m(mrole::WORKER, mstate::LOCKWAIT, 2);
    let sema = 0x5555_1234_5000u64;
    s.set_at::<M>(SectionKind::M, a, "held", 0, sema);
    s.set::<M>(SectionKind::M, a, "nheld", 1);
    s.wait_lock(b, sema);
    let snap = decode(&s.finish());
    let l = snap.locks.iter().find(|l| l.addr == sema).unwrap();
    assert_eq!(l.place, LockPlace::Outside);
    assert_eq!(l.name, "lock at 0x555512345000");
    assert!(l.owner_from_held);
    assert_eq!(l.owner.index(), Some(a));
    assert!(
        snap.waitfor
            .lines
            .iter()
            .any(|x| x
                == "M1 (worker, tid 2) waits for lock lock at 0x555512345000 held by M0 (worker, tid 1) for 2.0ms"),
        "{:?}",
        snap.waitfor.lines
    );
}

/// Everyone parked on channels, no timers: the channels are reported.
#[test]
fn stalled_channels_are_reported() {
    let mut s = Synth::new(32);
    let ty = s.site("i32", 0, 1);
    let at = s.site("src/deadlock.rs", 9, 0);
    let c = s.add_chan(0, ty, at);
    for _ in 0..3 {
        let g = s.add_g(grt_table::G_WAITING, 0, at);
        s.park_on_chan(g, c, true);
    }
    let snap = decode(&s.finish());
    let r = &snap.waitfor;
    assert_eq!(r.stalls.len(), 1, "{:?}", r.lines);
    assert_eq!(r.stalls[0].waiters, vec![1, 2, 3]);
    assert_eq!(
        r.stalls[0].text,
        "channel 1 (chan i32, made at src/deadlock.rs:9): 3 goroutines wait to receive (goroutines 1, 2, 3) and every other goroutine is blocked too, with no timer pending: possibly unreachable"
    );
}

#[test]
fn damage_is_reported_never_trusted() {
    let mut s = synth::parked_scenario(60);
    // A G whose m points into the middle of an M record.
    let mid = s.addr(SectionKind::M, 1) + 8;
    s.set::<G>(SectionKind::G, 0, "m", mid);
    // A G status out of range.
    s.set::<G>(SectionKind::G, 1, "atomicstatus", 77);
    // A P run queue that claims more than the ring holds.
    s.set::<P>(SectionKind::P, 2, "runqtail", 1000);
    // A sudog queue that loops: find a channel with a receiver and point its sudog at itself.
    let snap0 = decode(&s.b.bytes.clone());
    let ch = snap0.chans.iter().find(|c| c.recvq.len() == 1).unwrap().index;
    let sg = snap0.recvq(&snap0.chans[snap0.chans.iter().position(|c| c.index == ch).unwrap()])[0].sudog;
    s.set::<Sudog>(SectionKind::Sudog, sg, "next", s.addr(SectionKind::Sudog, sg));
    // A sudog on a queue that points at another channel.
    let other = snap0.chans.iter().find(|c| c.sendq.len() == 1).unwrap();
    let osg = snap0.sendq(other)[0].sudog;
    s.set::<Sudog>(SectionKind::Sudog, osg, "c", s.addr(SectionKind::Hchan, ch));
    // A lock key that is not 0, 1 or 2.
    s.set::<Hchan>(SectionKind::Hchan, other.index, "lock.key", 9);
    // allspans longer than the arena.
    s.set::<MHeap>(SectionKind::MHeap, 0, "allspans", s.addr(SectionKind::Arena, 0));
    s.set::<MHeap>(SectionKind::MHeap, 0, "nspan", 1 << 40);
    s.set::<MHeap>(SectionKind::MHeap, 0, "nspancap", 1 << 41);
    let bytes = s.b.bytes.clone();
    let snap = decode(&bytes);
    let has = |k: DamageKind, place: &str, msg: &str| {
        snap.damage.iter().any(|d| d.kind == k && d.place.contains(place) && d.message.contains(msg))
    };
    assert!(has(DamageKind::Corrupt, "g 0 (goroutine 1).m", "points 8 bytes into m record 1"), "{:#?}", snap.damage);
    assert_eq!(snap.gs[0].m, Link::Bad { addr: mid });
    assert!(has(DamageKind::Corrupt, "g 1 (goroutine 2)", "status 0x4d is out of range"), "{:#?}", snap.damage);
    assert_eq!(snap.status_name(snap.g(1).unwrap()), "unknown (77)");
    assert!(has(DamageKind::Inconsistent, "p 2.runq", "the ring holds 256"), "{:#?}", snap.damage);
    assert!(has(DamageKind::Corrupt, "recvq", "chain loops back to sudog record"), "{:#?}", snap.damage);
    assert!(has(DamageKind::Inconsistent, "sendq", "not back at this one"), "{:#?}", snap.damage);
    assert!(has(DamageKind::Corrupt, "lock", "lock key 9 is not 0, 1 or 2"), "{:#?}", snap.damage);
    assert!(has(DamageKind::Corrupt, "mheap.allspans", "does not fit"), "{:#?}", snap.damage);
    assert!(!snap.chans.iter().find(|c| c.index == ch).unwrap().queues_ok);
    for d in &snap.damage {
        assert!(!d.to_string().is_empty());
    }
    // Live, the relational ones are torn reads instead.
    let live = decode_with(&bytes, Capture::Live);
    assert!(live.damage.iter().any(|d| d.kind == DamageKind::Torn && d.place == "p 2.runq"), "{:#?}", live.damage);
    assert!(live.damage.iter().all(|d| d.kind != DamageKind::Inconsistent));
}

/// A pointer to a record allocated after the copy (past the section's len):
/// torn in a live capture, corrupt in a frozen one.
#[test]
fn pointer_past_the_copied_records() {
    let mut s = synth::parked_scenario(20);
    let late = s.addr(SectionKind::G, 25);
    s.set::<Sched>(SectionKind::Sched, 0, "worldsema_owner", late);
    let bytes = s.finish();
    let live = decode_with(&bytes, Capture::Live);
    let d = live.damage.iter().find(|d| d.place == "sched.worldsema_owner").unwrap();
    assert_eq!(d.kind, DamageKind::Torn);
    assert!(d.message.contains("names g record 25, past the 20 records in use"), "{d}");
    let frozen = decode(&bytes);
    assert_eq!(frozen.damage.iter().find(|d| d.place == "sched.worldsema_owner").unwrap().kind, DamageKind::Corrupt);
}

/// A table whose descriptors lack a field (an older runtime): the field is
/// None (0 for a plain number), the snapshot names it as missing, nothing
/// else changes, nothing is damage.
#[test]
fn missing_fields_are_none() {
    let s = synth::parked_scenario(30);
    let mut bytes = s.finish();
    let img = synth::image(&bytes).unwrap();
    let desc = img.segment(SectionKind::Desc).unwrap().info.offset as usize;
    let dlen = img.segment(SectionKind::Desc).unwrap().bytes.len();
    let mut name = [0u8; 24];
    name[..10].copy_from_slice(b"parentgoid");
    let pos = bytes[desc..desc + dlen].windows(24).position(|w| w == name).expect("parentgoid in the blob");
    bytes[desc + pos..desc + pos + 10].copy_from_slice(b"parentgoiX");
    let snap = decode(&bytes);
    assert!(snap.damage.is_empty(), "{:#?}", snap.damage);
    assert!(snap.gs.iter().all(|g| g.parent_goid == 0));
    assert_eq!(snap.missing_fields, ["g.parentgoid"]);
    assert!(snap.gs.iter().all(|g| g.goid.is_some()));
}

#[test]
fn dead_goroutines_only_when_asked() {
    let mut s = synth::parked_scenario(20);
    let g = s.add_g(grt_table::G_DEAD, 0, 0);
    let img = synth::image(&s.finish()).unwrap();
    let without = Snapshot::decode(&img, &DecodeOptions::default());
    assert!(without.g(g).is_none());
    let with = Snapshot::decode(&img, &DecodeOptions { include_dead: true, ..Default::default() });
    assert_eq!(with.status_name(with.g(g).unwrap()), "dead");
    assert_eq!(with.gs.len(), without.gs.len() + 1);
}

/// A loop far down a long queue (past the short-chain check) is found, and
/// the queue's other waiters are still listed.
#[test]
fn loop_in_a_long_queue() {
    let mut s = Synth::new(128);
    let c = s.add_chan(0, 0, 0);
    let mut sgs = Vec::new();
    for _ in 0..60 {
        let g = s.add_g(grt_table::G_WAITING, 0, 0);
        sgs.push(s.park_on_chan(g, c, true));
    }
    let c2 = s.add_chan(0, 0, 0);
    for _ in 0..40 {
        let g = s.add_g(grt_table::G_WAITING, 0, 0);
        s.park_on_chan(g, c2, false);
    }
    s.set::<Sudog>(SectionKind::Sudog, sgs[59], "next", s.addr(SectionKind::Sudog, sgs[10]));
    let snap = decode(&s.finish());
    let d: Vec<_> = snap.damage.iter().filter(|d| d.place.contains("recvq")).collect();
    assert!(
        d.iter().any(|d| d.kind == DamageKind::Corrupt
            && d.message == format!("chain loops back to sudog record {} after 60 links", sgs[10])),
        "{d:#?}"
    );
    let ch = snap.chan(c).unwrap();
    assert_eq!(ch.recvq.len(), 60);
    assert!(!ch.queues_ok);
    // The other channel's long queue is intact.
    let ch2 = snap.chan(c2).unwrap();
    assert_eq!(ch2.sendq.len(), 40);
    assert!(ch2.queues_ok);
}

/// The freezer's quick query agrees with the full decode.
#[test]
fn stack_ranges_match_the_snapshot() {
    let mut s = synth::parked_scenario(50);
    s.add_g(grt_table::G_DEAD, 0, 0);
    let img = synth::image(&s.finish()).unwrap();
    let snap = Snapshot::decode(&img, &DecodeOptions::default());
    let ranges = grt_inspector::snapshot::stack_ranges(&img);
    assert_eq!(ranges.len(), snap.gs.len());
    for (r, g) in ranges.iter().zip(&snap.gs) {
        assert_eq!((r.index, r.goid, r.lo, r.hi), (g.index, g.goid, Some(g.stack_lo), Some(g.stack_hi)));
        assert_eq!(r.sp, g.sched.map(|c| c.sp));
    }
}
