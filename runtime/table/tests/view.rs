//! The reader against tables built in memory: a round trip by field name,
//! pointer translation, and random damage that must never panic, must be
//! caught where it misleads, and must not stop a table whose record data
//! alone is damaged from loading.

use grt_table::build::TableBuilder;
use grt_table::header::SectionKind;
use grt_table::view::{Error, Image};
use grt_table::{Hchan, Sudog, G};

fn load(bytes: &[u8]) -> Result<Image, Error> {
    let len = bytes.len() as u64;
    Image::load(
        |off, len| {
            let off = off as usize;
            bytes
                .get(off..off.checked_add(len).ok_or("overflow")?)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| "short read".to_string())
        },
        len,
        1 << 30,
    )
}

fn sample() -> TableBuilder {
    let mut b = TableBuilder::new(0x7f00_0000_0000, 16);
    b.set_len(SectionKind::G, 3);
    for i in 0..3 {
        b.set::<G>(SectionKind::G, i, "goid", 10 + i);
        b.set::<G>(SectionKind::G, i, "atomicstatus", grt_table::G_WAITING as u64);
        b.set::<G>(SectionKind::G, i, "sched.sp", 0x1000 * (i + 1));
    }
    b.set_len(SectionKind::Sudog, 1);
    b.set_len(SectionKind::Hchan, 1);
    let g1 = b.addr(SectionKind::G, 1);
    let sg = b.addr(SectionKind::Sudog, 0);
    let c = b.addr(SectionKind::Hchan, 0);
    b.set::<G>(SectionKind::G, 1, "waiting", sg);
    b.set::<Sudog>(SectionKind::Sudog, 0, "g", g1);
    b.set::<Sudog>(SectionKind::Sudog, 0, "c", c);
    b.set::<Hchan>(SectionKind::Hchan, 0, "recvq_first", sg);
    b.set::<Hchan>(SectionKind::Hchan, 0, "lock.key", 1);
    b
}

#[test]
fn round_trip_by_field_name() {
    let b = sample();
    let img = load(&b.bytes).unwrap();
    assert_eq!(img.len(SectionKind::G), 3);
    let goid = img.layout.field_path("g", "goid").unwrap();
    let sp = img.layout.field_path("g", "sched.sp").unwrap();
    for i in 0..3 {
        let g = img.record(SectionKind::G, i).unwrap();
        assert_eq!(g.get(goid), Some(10 + i));
        assert_eq!(g.get(sp), Some(0x1000 * (i + 1)));
    }
    // Pointers translate to the right records; a pointer into the middle of
    // a record, or past the used part of a section, does not.
    let waiting = img.layout.field_path("g", "waiting").unwrap();
    let sgp = img.record(SectionKind::G, 1).unwrap().get(waiting).unwrap();
    assert_eq!(img.ptr_index(SectionKind::Sudog, sgp), Ok(Some(0)));
    assert_eq!(img.ptr_index(SectionKind::Sudog, 0), Ok(None));
    assert_eq!(img.ptr_index(SectionKind::Sudog, sgp + 8), Err(()));
    assert_eq!(img.ptr_index(SectionKind::G, b.addr(SectionKind::G, 5)), Err(()), "beyond len");
    assert_eq!(img.ptr_index(SectionKind::G, sgp), Err(()), "wrong section");
    let key = img.layout.field_path("hchan", "lock.key").unwrap();
    assert_eq!(img.record(SectionKind::Hchan, 0).unwrap().get(key), Some(1));
    // String lists travel with the table.
    assert_eq!(
        img.layout.enum_list("waitreason").unwrap()[grt_table::waitreason::CHAN_RECEIVE as usize],
        "chan receive"
    );
    assert_eq!(img.layout.enum_list("gstatus").unwrap()[4], "waiting");
}

#[test]
fn clear_errors_for_bad_tables() {
    let b = sample();
    assert_eq!(
        load(&b.bytes[..10]).unwrap_err(),
        Error::Truncated { need: grt_table::view::HEADER_SIZE as u64, have: 10 }
    );
    let mut bad = b.bytes.clone();
    bad[0] = b'X';
    assert_eq!(load(&bad).unwrap_err(), Error::BadMagic);
    let mut bad = b.bytes.clone();
    bad[8..12].copy_from_slice(&99u32.to_ne_bytes());
    assert_eq!(load(&bad).unwrap_err(), Error::AbiVersion { found: 99, supported: grt_table::ABI_VERSION });
    assert!(
        matches!(load(&b.bytes[..4096]), Err(Error::Truncated { .. })),
        "a table cut after its header must not load"
    );
    let e = load(&bad).unwrap_err().to_string();
    assert!(e.contains("ABI version 99"), "{e}");
}

/// A tiny deterministic PRNG (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_damage_never_panics() {
    let b = sample();
    let clean = load(&b.bytes).expect("the undamaged table loads");
    let goid = clean.layout.field_path("g", "goid").unwrap();
    // Everything from the first record section on is record data: damage
    // there must not stop the table from loading, nor change its header.
    let data_start =
        clean.header.sections.iter().filter(|s| s.kind != SectionKind::Desc).map(|s| s.offset).min().unwrap() as usize;
    let g_off = clean.header.section(SectionKind::G).unwrap().offset as usize;
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let (mut loaded, mut rejected, mut data_only) = (0, 0, 0);
    for round in 0..3000 {
        let mut bytes = b.bytes.clone();
        let flips = 1 + rng.next() % 16;
        // Aim at the header and descriptors most of the time: that is
        // where a reader could be misled; every fifth round only at
        // record data.
        let (lo, hi) = match round % 5 {
            0 => (data_start, bytes.len()),
            1 | 2 => (0, bytes.len()),
            _ => (0, 8192.min(bytes.len())),
        };
        let mut touched_g0 = false;
        for _ in 0..flips {
            let at = lo + (rng.next() % (hi - lo) as u64) as usize;
            bytes[at] = rng.next() as u8;
            touched_g0 |= (g_off..g_off + core::mem::size_of::<G>()).contains(&at);
        }
        let cut = round % 7 == 0 && round % 5 != 0;
        if cut {
            let cut = (rng.next() % bytes.len() as u64) as usize;
            bytes.truncate(cut);
        }
        let res = load(&bytes);
        if round % 5 == 0 {
            data_only += 1;
            let img = res.unwrap_or_else(|e| panic!("round {round}: damage to record data only was rejected: {e}"));
            assert_eq!(img.header, clean.header, "round {round}: record data changed the header");
            if !touched_g0 {
                assert_eq!(img.record(SectionKind::G, 0).and_then(|r| r.get(goid)), Some(10), "round {round}");
            }
            loaded += 1;
            continue;
        }
        let Ok(img) = res else {
            rejected += 1;
            continue;
        };
        loaded += 1;
        // What loaded is self-consistent: no section is used past its
        // capacity or copied past its use, and every record in use reads.
        for s in &img.segments {
            assert!(s.info.len <= s.info.capacity, "round {round}: {:?} used past capacity", s.info.kind);
            assert!(s.bytes.len() as u64 <= s.info.len.saturating_mul(s.info.stride), "round {round}");
        }
        // Walk everything a decoder would.
        for s in &img.segments {
            for i in 0..s.info.len.min(64) {
                if let Some(r) = img.record(s.info.kind, i) {
                    if let Some(name) = s.info.kind.record_name() {
                        if let Some((_, rl)) = img.layout.record(name) {
                            for f in &rl.fields {
                                for k in 0..f.field.count.min(4) {
                                    if let Some(v) = r.get_at(f.field, k) {
                                        let _ = img.locate(v);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    // Both outcomes happened: damage was caught, and damage the reader
    // can live with did not stop it.
    assert_eq!(data_only, 600);
    assert!(rejected > 100, "only {rejected} of 3000 damaged tables were rejected");
    assert!(loaded > data_only, "no table with a damaged header or descriptors loaded ({loaded} loaded)");
}

/// Strings appended one after another keep their offsets, and the
/// section's length is the sum of their lengths.
#[test]
fn builder_appends_strings() {
    let mut b = TableBuilder::new(0x7f00_0000_0000, 16);
    let a = b.add_string("runtime/proc.go");
    let c = b.add_string("chan receive");
    assert_eq!((a, c), (0, "runtime/proc.go".len() as u32));
    let img = load(&b.bytes).expect("a built table loads");
    assert_eq!(img.header.section(SectionKind::Strings).map(|s| s.len), Some(27));
    assert_eq!(img.string(a, 15), Some("runtime/proc.go"));
    assert_eq!(img.string(c, 12), Some("chan receive"));
    // The next section's header is untouched.
    assert_eq!(img.header.section(SectionKind::Arena).map(|s| s.len), Some(0));
}
