//! Fuzz target: arbitrary bytes as an ELF object through symbolization,
//! probe listing and unwinding over a snapshot made of the same bytes.
#![no_main]

use grt_symbols::{ObjectSymbols, ProcessSymbols, Registers, SnapshotMemory, UnwindOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(obj) = ObjectSymbols::from_bytes("fuzz", data, 0x1000) else {
        return;
    };
    let _ = obj.probes();
    let ranges: Vec<_> = obj.runtime_ranges().take(4).collect();
    for r in &ranges {
        for a in [r.start, r.start + (r.end - r.start) / 2, r.end.saturating_sub(1)] {
            let mut it = obj.find_frames(a);
            while let Ok(Some(_)) = it.next() {}
        }
    }
    let mut snap = SnapshotMemory::new();
    snap.add_region(0x10_0000, data.iter().copied().take(4096).collect());
    let mut p = ProcessSymbols::new();
    p.add_object_at_segments(obj);
    for r in ranges {
        let regs = Registers::new(r.start + 1, 0x10_0000, 0x10_0010);
        let mut u = p.unwind_with(regs, &snap, UnwindOptions::default().max_depth(64));
        while let Ok(Some(_)) = u.next() {}
    }
});
