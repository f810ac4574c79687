//! Decoder tests that need its internals: two threads decode as one, a
//! recycled snapshot decodes as a fresh one, the compiled field sets match
//! the table's, the fast division, the generic pass.

use super::fields::*;
use super::links::*;
use super::{Decoder, ViewBuffers};
use crate::snapshot::*;
use grt_table::header::SectionKind;

/// The two-thread decode gives exactly what the one-thread decode gives
/// (damage, its order and the MAX_DAMAGE cap included) on a clean table
/// and on damaged ones: random words, pointers moved into and beside
/// records, and whole sections wiped on either thread's side (on a
/// larger table, so that each side alone can pass the cap).
#[test]
fn two_threads_decode_as_one() {
    let tables = [crate::synth::parked_scenario(400).finish(), crate::synth::parked_scenario(3000).finish()];
    let layout = |b: &[u8]| {
        let img = crate::synth::image(b).expect("the synthetic table loads");
        let secs: Vec<(usize, usize)> = img
            .segments
            .iter()
            .filter(|s| s.info.stride > 1)
            .map(|s| (s.info.offset as usize, s.bytes.len()))
            .collect();
        (img.header.base, secs)
    };
    let layouts = [layout(&tables[0]), layout(&tables[1])];
    let mut x: u64 = 0x2545F4914F6CDD1D;
    let mut rnd = |n: usize| -> usize {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n.max(1) as u64) as usize
    };
    let (mut capped, mut damaged) = (0, 0);
    for case in 0..160 {
        let wipe = case % 8 == 7;
        let mut b = tables[wipe as usize].clone();
        let (tbase, secs) = &layouts[wipe as usize];
        if wipe {
            // Wipe some sections whole: thousands of bad pointers.
            for (k, &(off, len)) in secs.iter().enumerate() {
                if (case / 8 + k) % 3 == 0 {
                    for w in (off..off + len - 7).step_by(8) {
                        let v = if w % 16 == 0 { 7 } else { tbase + (w as u64 % 4096) };
                        b[w..w + 8].copy_from_slice(&v.to_ne_bytes());
                    }
                }
            }
        } else if case > 0 {
            for _ in 0..1 + rnd(12) {
                let (off, len) = secs[rnd(secs.len())];
                let w = off + rnd(len - 7) / 8 * 8;
                let v = match rnd(4) {
                    0 => (rnd(1 << 30) as u64) << 20 | rnd(1 << 20) as u64,
                    1 => 0,
                    2 => tbase + secs[rnd(secs.len())].0 as u64 + rnd(4096) as u64,
                    _ => rnd(8) as u64,
                };
                b[w..w + 8].copy_from_slice(&v.to_ne_bytes());
            }
        }
        let Ok(img) = crate::synth::image(&b) else { continue };
        for capture in [Capture::Live, Capture::Frozen { pause_us: 1 }] {
            for include_dead in [false, true] {
                let opts = DecodeOptions { capture, include_dead, now_mono_ns: Some(1 << 40) };
                let mut one = Snapshot::decode_with(&img, &opts, false);
                let mut two = Snapshot::decode_with(&img, &opts, true);
                assert_eq!(two.taken.phases_us.len(), one.taken.phases_us.len());
                one.taken = Taken::default();
                two.taken = Taken::default();
                assert!(one == two, "case {case}: the two-thread decode differs");
                damaged += !one.damage.is_empty() as u32;
                capped += (one.damage_dropped > 0) as u32;
            }
        }
    }
    assert!(damaged > 100 && capped > 0, "the cases must exercise damage ({damaged}) and its cap ({capped})");
}

/// A decode over a finished snapshot's memory gives what a fresh one
/// gives, whatever the old snapshot held (a bigger table, a smaller
/// one, a damaged one, dead goroutines or not).
#[test]
fn reusing_decodes_as_fresh() {
    let tables = [
        crate::synth::parked_scenario(3000).finish(),
        crate::synth::parked_scenario(40).finish(),
        {
            // Dead goroutines between live ones.
            let mut s = crate::synth::parked_scenario(300);
            for g in (5..300).step_by(7) {
                s.set::<grt_table::records::G>(SectionKind::G, g, "atomicstatus", grt_table::G_DEAD as u64);
            }
            s.finish()
        },
        crate::synth::parked_scenario(25_000).finish(),
    ];
    let mut damaged = tables[1].clone();
    for w in (damaged.len() / 2..damaged.len() - 8).step_by(97) {
        damaged[w] ^= 0x5a;
    }
    let mut old = Snapshot::default();
    let mut reused_room = false;
    for round in 0..3 {
        for (k, b) in tables.iter().chain([&damaged]).enumerate() {
            let Ok(img) = crate::synth::image(b) else { continue };
            let opts = DecodeOptions {
                capture: Capture::Frozen { pause_us: 1 },
                include_dead: (round + k) % 2 == 0,
                now_mono_ns: Some(1 << 40),
            };
            let room = old.gs.capacity();
            let mut fresh = Snapshot::decode(&img, &opts);
            let mut again = Snapshot::decode_reusing(&img, &opts, old);
            reused_room |= room >= again.gs.len() && again.gs.capacity() == room && room > 0;
            fresh.taken = Taken::default();
            let keep = again.taken.clone();
            again.taken = Taken::default();
            assert!(fresh == again, "round {round} table {k}: the reusing decode differs");
            again.taken = keep;
            old = again;
        }
    }
    assert!(reused_room, "some decode must have written into the old snapshot's memory");
}

/// The compiled-in field sets are what the descriptors of a table
/// written by this runtime resolve to (so such tables take the fast
/// path), and a set that differs does not pass for them.
#[test]
fn compiled_g_fields_match_the_table() {
    let bytes = crate::synth::parked_scenario(10).finish();
    let img = crate::synth::image(&bytes).unwrap();
    let l = &img.layout;
    assert_eq!(GFields::resolve(l), GFields::COMPILED);
    assert_eq!(SudogFields::resolve(l), SudogFields::COMPILED);
    assert_eq!(ChanFields::resolve(l), ChanFields::COMPILED);
    assert_eq!(SpanFields::resolve(l), SpanFields::COMPILED);
    // Every field of those sets exists here, nested ones too.
    assert!(GFields::COMPILED.goid.is_some() && GFields::COMPILED.sp.is_some() && GFields::COMPILED.scanm.is_some());
    assert!(ChanFields::COMPILED.lock_key.is_some() && ChanFields::COMPILED.lock_owner.is_some());
    assert!(Decoder::new(&img, &DecodeOptions::default(), 1, ViewBuffers::default()).compiled);
    let mut other = GFields::COMPILED;
    other.goid = None;
    assert_ne!(other, GFields::COMPILED);
}

#[test]
fn fast_division_matches_div() {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for d in [2u64, 3, 7, 24, 40, 72, 96, 184, 264, 2888, 4095, 65537, u32::MAX as u64 - 1, u32::MAX as u64] {
        let s = SectionRecords { stride: d, magic: div_magic(d), ..Default::default() };
        for n in [0u64, 1, d - 1, d, d + 1, u32::MAX as u64, u32::MAX as u64 + 1, u64::MAX] {
            assert_eq!(s.divmod(n), (n / d, n % d), "{n} / {d}");
        }
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = x >> (x % 40);
            assert_eq!(s.divmod(n), (n / d, n % d), "{n} / {d}");
        }
    }
}

/// The generic pass reads a record kind by its descriptor alone: decoded
/// generically, P and sched records (which have typed views to check
/// against) give the values their typed passes give, nested records
/// flattened ("lock.rank") and arrays as runs ("runq").
#[test]
fn generic_records_match_the_typed_views() {
    let mut t = crate::synth::parked_scenario(40);
    let (m, p) = (t.add_m(0, 0, 4242), t.add_p(1));
    t.attach(m, p);
    t.set::<grt_table::P>(SectionKind::P, p, "schedtick", 77);
    let bytes = t.finish();
    let img = crate::synth::image(&bytes).unwrap();
    let snap = Snapshot::decode(&img, &DecodeOptions::default());
    assert!(snap.records.is_empty(), "every section of this runtime's table has a typed view");

    let mut dec = Decoder::new(&img, &DecodeOptions::default(), 1, ViewBuffers::default());
    let ps = dec.record_table(SectionKind::P).expect("a record section");
    assert_eq!(ps.record, "p");
    assert_eq!(ps.rows.len(), snap.ps.len());
    let runq = ps.column("runq").expect("the run queue is a column");
    assert!(runq.count > 1, "an array field is one column of its elements");
    for pv in &snap.ps {
        let row = ps.row(pv.index).expect("a row per P");
        assert_eq!(ps.value(row, "id").and_then(|v| v.as_u64()).map(|v| v as i64), pv.id);
        assert_eq!(ps.value(row, "status").and_then(|v| v.as_u64()).map(|v| v as u32), pv.status);
        assert_eq!(ps.value(row, "schedtick").and_then(|v| v.as_u64()), pv.schedtick);
        assert_eq!(ps.value(row, "m"), Some(Value::Link(pv.m)), "pointers translate as links do");
        assert_eq!(ps.values(row, "runq").map(<[Value]>::len), Some(runq.count as usize));
    }
    let row = ps.row(p).unwrap();
    assert_eq!(ps.value(row, "schedtick"), Some(Value::Unsigned(77)));
    assert_eq!(ps.value(row, "m").and_then(|v| v.as_u64()), Some(m));

    let sched = dec.record_table(SectionKind::Sched).unwrap();
    let row = &sched.rows[0];
    assert_eq!(sched.value(row, "gomaxprocs").and_then(|v| v.as_u64()), snap.sched.gomaxprocs.map(|v| v as u64));
    assert_eq!(sched.value(row, "lock.rank"), Some(Value::Unsigned(1)), "nested records are flattened");
    let names: Vec<&str> = sched.fields(row).map(|(n, _)| n).collect();
    assert!(names.contains(&"lock.key") && names.contains(&"ngoroutines"), "{names:?}");
    assert!(dec.damage.is_empty(), "{:?}", dec.damage);
}

/// A section with no typed pass lands in `Snapshot::records` with no code
/// of its own (here P, as if it had none), and a pointer that does not
/// translate is a bad link and a damage entry, as in the typed passes.
#[test]
fn untyped_sections_decode_generically() {
    let mut t = crate::synth::parked_scenario(10);
    let p = t.add_p(1);
    t.set::<grt_table::P>(SectionKind::P, p, "m", 0xdead_beef);
    let bytes = t.finish();
    let img = crate::synth::image(&bytes).unwrap();
    let mut dec = Decoder::new(&img, &DecodeOptions::default(), 1, ViewBuffers::default());
    let typed: Vec<SectionKind> = super::generic::TYPED.iter().copied().filter(|&k| k != SectionKind::P).collect();
    let tables = dec.generic_records(&typed);
    assert_eq!(tables.len(), 1);
    let ps = &tables[0];
    assert_eq!(ps.record, "p");
    let row = ps.row(p).unwrap();
    assert_eq!(ps.value(row, "m"), Some(Value::Link(Link::Bad { addr: 0xdead_beef })));
    assert!(
        dec.damage.iter().any(|d| d.place == format!("p {p}.m") && d.kind == DamageKind::Corrupt),
        "{:?}",
        dec.damage
    );

    // The snapshot keeps and saves them.
    let mut snap = Snapshot::decode(&img, &DecodeOptions::default());
    snap.records = tables;
    let path = std::env::temp_dir().join(format!("grt-generic-{}.json", std::process::id()));
    snap.save(&path).unwrap();
    let back = Snapshot::load(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(back.record_table("p"), snap.record_table("p"));
    assert!(back.record_table("p").is_some());
}

/// The generic pass is for small kinds: a section with more records than
/// `MAX_RECORDS` decodes that many and counts the rest.
#[test]
fn generic_records_are_bounded() {
    let bytes = crate::synth::parked_scenario(4200).finish();
    let img = crate::synth::image(&bytes).unwrap();
    let n = img.len(SectionKind::G);
    assert!(n > RecordTable::MAX_RECORDS as u64, "{n} goroutine records");
    let mut dec = Decoder::new(&img, &DecodeOptions::default(), 1, ViewBuffers::default());
    let gs = dec.record_table(SectionKind::G).unwrap();
    assert_eq!(gs.rows.len(), RecordTable::MAX_RECORDS);
    assert_eq!(gs.records_dropped, n - RecordTable::MAX_RECORDS as u64);
    assert_eq!(gs.values_dropped, 0);
    let per_row: usize = gs.columns.iter().map(|c| c.count as usize).sum();
    assert!(gs.rows.iter().all(|r| r.values.len() == per_row));
}
