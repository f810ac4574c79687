//! Damaged tables never panic the decoder: a proptest that mutates a
//! synthetic table (header, descriptors, records, pointers, lengths,
//! truncation) and a fixed-seed loop that mutates the raw copy of a live
//! child's table and splices two live captures together (torn reads), each
//! running the full path: `Image::load`, `Snapshot::decode` (live and
//! frozen), the wait-for analysis, the raw-table round trip and JSON.

mod common;

use grt_inspector::find::open_table;
use grt_inspector::snapshot::{Capture, DecodeOptions, RawTable, Snapshot};
use grt_inspector::synth::{self, Synth};
use grt_inspector::waitfor;
use grt_table::header::SectionKind;
use grt_table::{mrole, mstate, Sched, G, M};
use proptest::prelude::*;
use std::sync::OnceLock;

/// The table every proptest case starts from, and where its interesting
/// bytes are: (offset, len) of the header and of each copied section, and
/// the address of every record (for planting plausible pointers).
struct Base {
    bytes: Vec<u8>,
    ranges: Vec<(usize, usize)>,
    records: Vec<u64>,
}

fn base() -> &'static Base {
    static B: OnceLock<Base> = OnceLock::new();
    B.get_or_init(|| {
        let mut s: Synth = synth::parked_scenario(40);
        // Some locks held and waited for, a casgstatus wait on a scan bit.
        let m = s.add_m(mrole::WORKER, mstate::LOCKWAIT, 4242);
        s.hold_lock::<Sched>(SectionKind::Sched, 0, "lock", 2, true);
        let l = s.lock_addr::<Sched>(SectionKind::Sched, 0, "lock");
        s.wait_lock(m, l);
        let g = s.add_g(grt_table::G_WAITING | grt_table::G_SCAN, grt_table::waitreason::IO_WAIT, 0);
        s.set::<M>(SectionKind::M, 2, "waitcasg", s.addr(SectionKind::G, g));
        s.set::<G>(SectionKind::G, g, "m", s.addr(SectionKind::M, 2));
        let bytes = s.finish();
        let img = synth::image(&bytes).expect("base table loads");
        let mut ranges = vec![(0, grt_table::view::HEADER_SIZE)];
        let mut records = Vec::new();
        for seg in &img.segments {
            ranges.push((seg.info.offset as usize, seg.bytes.len()));
            if seg.info.stride > 1 {
                for i in 0..seg.info.len {
                    records.push(img.header.base + seg.info.offset + i * seg.info.stride);
                }
            }
        }
        Base { bytes, ranges, records }
    })
}

/// Runs everything a damaged table goes through; must never panic.
fn exercise_image(img: &grt_table::view::Image, json: bool) {
    for capture in [Capture::Live, Capture::Frozen { pause_us: 1 }] {
        let opts =
            DecodeOptions { capture, include_dead: matches!(capture, Capture::Live), now_mono_ns: Some(1 << 40) };
        let s = Snapshot::decode(img, &opts);
        let r = waitfor::analyze(&s);
        assert_eq!(r, s.waitfor);
        let _ = s.count_by_state();
        for d in &s.damage {
            assert!(!d.to_string().is_empty());
        }
        for l in &r.lines {
            assert!(!l.is_empty());
        }
        if json {
            let text = serde_json::to_string(&s).expect("a snapshot serializes");
            let back: Snapshot = serde_json::from_str(&text).expect("and reads back");
            assert_eq!(back, s);
        }
    }
    let raw = RawTable::from_image(img);
    let raw = RawTable::from_bytes(&raw.to_bytes()).expect("a raw table reads back");
    if let Ok(again) = raw.image() {
        let _ = Snapshot::decode(&again, &DecodeOptions::default());
    }
}

fn exercise(bytes: &[u8], json: bool) {
    if let Ok(img) = synth::image(bytes) {
        exercise_image(&img, json);
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    /// Set one byte of range `r` at fraction `at` of it.
    Byte { r: usize, at: f64, v: u8 },
    /// Overwrite an aligned u64 in range `r` with a chosen value.
    Word { r: usize, at: f64, v: WordValue },
    /// Overwrite an aligned u32 (counts, kinds, statuses).
    Half { r: usize, at: f64, v: u32 },
    /// Cut the table at a fraction of its size.
    Truncate { at: f64 },
}

#[derive(Clone, Debug)]
enum WordValue {
    Raw(u64),
    /// The start of record `k` (any section), plus `delta`.
    Record {
        k: usize,
        delta: i8,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = base().ranges.len();
    prop_oneof![
        4 => (0..n, 0.0..1.0f64, any::<u8>()).prop_map(|(r, at, v)| Mutation::Byte { r, at, v }),
        4 => (0..n, 0.0..1.0f64, prop_oneof![
            any::<u64>().prop_map(WordValue::Raw),
            Just(WordValue::Raw(0)),
            Just(WordValue::Raw(u64::MAX)),
            Just(WordValue::Raw(1 << 40)),
            (any::<usize>(), any::<i8>()).prop_map(|(k, delta)| WordValue::Record { k, delta }),
            any::<usize>().prop_map(|k| WordValue::Record { k, delta: 0 }),
        ]).prop_map(|(r, at, v)| Mutation::Word { r, at, v }),
        3 => (0..n, 0.0..1.0f64, prop_oneof![any::<u32>(), 0..16u32, Just(u32::MAX), Just(0x1004u32)])
            .prop_map(|(r, at, v)| Mutation::Half { r, at, v }),
        1 => (0.0..1.0f64).prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let b = base();
    let pos = |r: usize, at: f64, align: usize| -> Option<usize> {
        let (off, len) = b.ranges[r];
        if len < align {
            return None;
        }
        let p = off + ((len - align) as f64 * at) as usize;
        Some(p - p % align)
    };
    match m {
        Mutation::Byte { r, at, v } => {
            if let Some(p) = pos(*r, *at, 1).filter(|&p| p < bytes.len()) {
                bytes[p] = *v;
            }
        }
        Mutation::Word { r, at, v } => {
            let v = match v {
                WordValue::Raw(x) => *x,
                WordValue::Record { k, delta } => b.records[k % b.records.len()].wrapping_add(*delta as i64 as u64),
            };
            if let Some(p) = pos(*r, *at, 8).filter(|&p| p + 8 <= bytes.len()) {
                bytes[p..p + 8].copy_from_slice(&v.to_ne_bytes());
            }
        }
        Mutation::Half { r, at, v } => {
            if let Some(p) = pos(*r, *at, 4).filter(|&p| p + 4 <= bytes.len()) {
                bytes[p..p + 4].copy_from_slice(&v.to_ne_bytes());
            }
        }
        Mutation::Truncate { at } => {
            let n = (bytes.len() as f64 * at) as usize;
            bytes.truncate(n);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn damaged_synthetic_tables_never_panic(muts in prop::collection::vec(mutation(), 1..10)) {
        let mut bytes = base().bytes.clone();
        for m in &muts {
            apply(&mut bytes, m);
        }
        exercise(&bytes, false);
    }
}

/// Every mutation kind at least once, with JSON round trips.
#[test]
fn undamaged_base_decodes_cleanly() {
    let img = synth::image(&base().bytes).unwrap();
    let s = Snapshot::decode(&img, &DecodeOptions::default());
    assert!(s.damage.is_empty(), "{:#?}", s.damage);
    exercise(&base().bytes, true);
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn live_raw(n: &str) -> (common::Kid, RawTable) {
    let kid = common::spawn_example("insp_parked", &[n], &[("GRT_MAXPROCS", "2"), ("GRT_MAXG", "4096")]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let img = open_table(kid.pid).unwrap().load_image(u64::MAX).unwrap();
    (kid, RawTable::from_image(&img))
}

/// Mutates the raw copy of a live child's table with a fixed seed.
#[test]
fn damaged_live_tables_never_panic() {
    let (_kid, raw) = live_raw("30");
    let img = raw.image().unwrap();
    let clean = Snapshot::decode(&img, &DecodeOptions { capture: Capture::Saved, ..Default::default() });
    assert!(clean.gs.len() >= 45, "{}", clean.gs.len());
    let addrs: Vec<u64> = img
        .segments
        .iter()
        .filter(|s| s.info.stride > 1)
        .flat_map(|s| (0..s.info.len).map(move |i| img.header.base + s.info.offset + i * s.info.stride))
        .collect();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for round in 0..3000 {
        let mut r = raw.clone();
        for _ in 0..1 + rng.below(6) {
            let c = rng.below(r.chunks.len());
            let len = r.chunks[c].1.len();
            if len < 8 {
                continue;
            }
            let at = rng.below(len - 7) & !3;
            let chunk = &mut r.chunks[c].1;
            match rng.below(6) {
                0 => chunk[at] = rng.next() as u8,
                1 => chunk[at..at + 4].copy_from_slice(&(rng.below(20) as u32).to_ne_bytes()),
                2 => {
                    let a = addrs[rng.below(addrs.len())].wrapping_add(rng.below(3) as u64 * 8);
                    chunk[at & !7..(at & !7) + 8].copy_from_slice(&a.to_ne_bytes());
                }
                3 => chunk[at..at + 8].copy_from_slice(&rng.next().to_ne_bytes()),
                4 => {
                    let keep = rng.below(len);
                    chunk.truncate(keep);
                }
                _ => r.size = r.size.min(rng.next() % (r.size + 1)),
            }
        }
        if let Ok(img) = r.image() {
            exercise_image(&img, round % 500 == 0);
        }
    }
}

/// Two captures of a changing program, spliced record by record, as a torn
/// live read would mix them.
#[test]
fn spliced_live_captures_never_panic() {
    let kid = common::spawn_example("insp_parked", &["20"], &[("GRT_MAXPROCS", "2"), ("GRT_MAXG", "4096")]);
    let src = open_table(kid.pid).unwrap();
    // The child is still starting goroutines and parking them around "ready":
    // take captures a little apart.
    let a = RawTable::from_image(&src.load_image(u64::MAX).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(30));
    let b = RawTable::from_image(&src.load_image(u64::MAX).unwrap());
    drop(kid);
    let (_k2, c) = live_raw("25");
    let mut rng = Rng(0xfeed_0000_0042_0001);
    for _ in 0..400 {
        let other = if rng.below(2) == 0 { &b } else { &c };
        let mut r = a.clone();
        for (off, bytes) in r.chunks.iter_mut().skip(1) {
            let Some((_, ob)) = other.chunks.iter().find(|(o, _)| o == off) else {
                continue;
            };
            let n = bytes.len().min(ob.len());
            if n == 0 {
                continue;
            }
            // Copy a random window of the other capture over this one.
            let s = rng.below(n);
            let e = s + rng.below(n - s + 1);
            bytes[s..e].copy_from_slice(&ob[s..e]);
        }
        if let Ok(img) = r.image() {
            exercise_image(&img, false);
        }
    }
}
