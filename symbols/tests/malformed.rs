//! Malformed input: truncated and mutated copies of a real ELF (this test
//! binary) go through symbolization, unwinding and probe listing. Nothing may
//! panic; errors are fine. Fixed seeds, so failures reproduce.

use std::hint::black_box;
use std::sync::Arc;

use grt_symbols::{
    capture_registers, MemoryReader, ObjectSymbols, ProcessMemory, ProcessSymbols, Registers, SnapshotMemory,
    UnwindOptions,
};
use object::{Object, ObjectSection};

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

/// A real stack to unwind: registers plus a snapshot of the stack.
#[inline(never)]
fn capture_stack() -> (Registers, SnapshotMemory) {
    let regs = capture_registers!();
    let mut snap = SnapshotMemory::new();
    let mem = ProcessMemory::current();
    // Copy up to 64 KiB of stack, as much as is readable.
    let mut len = 64 * 1024;
    while len > 0 && snap.capture(&mem, regs.sp(), len).is_err() {
        len /= 2;
    }
    black_box(&snap);
    (regs, snap)
}

/// Exercises everything on one (possibly damaged) image. Returns how many
/// operations returned errors, to show the damage was noticed at times.
fn exercise(bytes: Arc<[u8]>, bias: u64, addrs: &[u64], stack: &(Registers, SnapshotMemory)) -> usize {
    let mut errors = 0;
    let obj = match ObjectSymbols::from_bytes("fuzz", bytes, bias) {
        Ok(o) => o,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return 1;
        }
    };
    errors += usize::from(obj.probes().is_err());
    for &a in addrs {
        let s = obj.symbolize(a);
        errors += usize::from(s.error().is_some());
        let mut it = s.iter();
        let mut n = 0;
        loop {
            match it.next() {
                Ok(Some(_)) => n += 1,
                Ok(None) => break,
                Err(e) => {
                    errors += 1;
                    let _ = e.to_string();
                    break;
                }
            }
            assert!(n < 10_000);
        }
    }
    let mut p = ProcessSymbols::new();
    p.add_object_at_segments(obj);
    let mut u = p.unwind_with(stack.0, &stack.1, UnwindOptions::default().max_depth(256));
    let mut n = 0;
    loop {
        match u.next() {
            Ok(Some(_)) => n += 1,
            Ok(None) => break,
            Err(_) => {
                errors += 1;
                break;
            }
        }
        assert!(n <= 256);
    }
    errors
}

#[test]
fn damaged_elf_never_panics() {
    let exe = std::env::current_exe().unwrap();
    let original: Vec<u8> = std::fs::read(&exe).unwrap();
    let live = ProcessSymbols::load_self().unwrap();
    let bias = live.executable().unwrap().bias();
    let stack = capture_stack();
    // Addresses: the stack's pcs and some code symbols.
    let addrs: Vec<u64> = {
        let mut u = live.unwind(stack.0, &stack.1);
        let mut v = Vec::new();
        while let Ok(Some(f)) = u.next() {
            v.push(f.lookup_pc());
        }
        let syms = live.executable().unwrap().symbol_ranges();
        v.extend(syms.iter().step_by(syms.len() / 20 + 1).map(|s| s.0 + s.1 / 2));
        v
    };
    // Regions worth damaging: headers and the sections this crate reads.
    let file = object::File::parse(&*original).unwrap();
    let mut regions: Vec<(usize, usize)> = vec![(0, 64), (64, 4096)];
    for name in [
        ".eh_frame",
        ".eh_frame_hdr",
        ".debug_info",
        ".debug_abbrev",
        ".debug_line",
        ".debug_str",
        ".debug_ranges",
        ".debug_rnglists",
        ".debug_aranges",
        ".symtab",
        ".strtab",
        ".dynsym",
        ".note.stapsdt",
        ".note.gnu.build-id",
        ".debug_line_str",
    ] {
        if let Some(s) = file.section_by_name(name) {
            if let Some((off, size)) = s.file_range() {
                regions.push((off as usize, size as usize));
            }
        }
    }
    let shoff = u64::from_le_bytes(original[0x28..0x30].try_into().unwrap()) as usize;
    regions.push((shoff, original.len() - shoff));

    let iterations: usize = std::env::var("GRT_SYMBOLS_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut noticed = 0;
    let clean = exercise(original.clone().into(), bias, &addrs, &stack);
    for i in 0..iterations {
        let mut data = original.clone();
        match i % 3 {
            // Truncate anywhere (biased towards the start, where headers are).
            0 => {
                let cut = if rng.next().is_multiple_of(2) { rng.below(8192) } else { rng.below(data.len()) };
                data.truncate(cut);
            }
            // Scribble on random bytes of one interesting region.
            1 => {
                let (off, size) = regions[rng.below(regions.len())];
                for _ in 0..1 + rng.below(64) {
                    let at = off + rng.below(size);
                    if at < data.len() {
                        data[at] = rng.next() as u8;
                    }
                }
            }
            // Fill a run of one region with one value (0, 0xff or random).
            _ => {
                let (off, size) = regions[rng.below(regions.len())];
                let start = off + rng.below(size);
                let len = 1 + rng.below(256);
                let v = [0u8, 0xff, rng.next() as u8][rng.below(3)];
                for b in data.iter_mut().skip(start).take(len) {
                    *b = v;
                }
            }
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exercise(data.into(), bias, &addrs, &stack)));
        match r {
            Ok(errs) => noticed += usize::from(errs > clean),
            Err(_) => panic!("iteration {i} panicked"),
        }
    }
    println!("malformed iterations={iterations} with_more_errors_than_clean={noticed}");
    // Garbage that is not ELF at all.
    for junk in [&b""[..], b"\x7fELF", b"\x7fELF\x02\x01\x01", &[0xffu8; 4096][..]] {
        assert!(ObjectSymbols::from_bytes("junk", junk, 0).is_err());
    }
    // Random memory is no CFI either.
    let mut rng = Rng(7);
    let snap = &stack.1;
    let p = &live;
    for _ in 0..200 {
        let regs = Registers::new(rng.next(), stack.0.sp() + rng.below(4096) as u64, rng.next());
        let mut u = p.unwind_with(regs, snap, UnwindOptions::default().max_depth(64));
        while let Ok(Some(_)) = u.next() {}
    }
    let _ = ProcessMemory::current().read_u64(8);
}
