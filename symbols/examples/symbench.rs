//! Benchmark: cold and warm symbolization of 10,000 addresses, 10,000 unwinds
//! of a saved ~30-frame stack, and binutils `addr2line` on the same addresses.
//! Prints `name=value` lines.
//!
//! Usage: `symbench [BINARY]` (default: target/release/examples/demo if it
//! exists, else this binary).

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use grt_symbols::{capture_registers, loader, MemoryReader, ProcessMemory, ProcessSymbols, Registers, SnapshotMemory};

const N: usize = 10_000;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn pick_addresses(path: &Path) -> Vec<u64> {
    let obj = loader::load_file(path, 0).expect("load binary");
    let syms: Vec<(u64, u64)> = obj.symbol_ranges().into_iter().filter(|s| s.1 > 0).collect();
    assert!(!syms.is_empty(), "no sized code symbols in {}", path.display());
    let mut rng = Rng(0x243f_6a88_85a3_08d3);
    let mut set = std::collections::BTreeSet::new();
    let mut tries = 0;
    while set.len() < N && tries < N * 100 {
        let (start, size) = syms[(rng.next() % syms.len() as u64) as usize];
        set.insert(start + rng.next() % size);
        tries += 1;
    }
    let mut v: Vec<u64> = set.into_iter().collect();
    // Visit in random order, as a profiler would.
    for i in (1..v.len()).rev() {
        v.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    v
}

fn binutils(path: &Path, addrs: &[u64]) -> Option<f64> {
    let t = Instant::now();
    let mut child = Command::new("addr2line")
        .args(["-f", "-i", "-C", "-e"])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let input: String = addrs.iter().map(|a| format!("{a:#x}\n")).collect();
    let mut stdin = child.stdin.take()?;
    let w = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().ok()?;
    w.join().ok()?.ok()?;
    black_box(out.stdout.len());
    out.status.success().then(|| t.elapsed().as_secs_f64())
}

static mut CAPTURED: Option<(Registers, SnapshotMemory)> = None;

#[inline(never)]
fn deep(n: u32) -> u32 {
    if n == 0 {
        let regs = capture_registers!();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let maps = grt_symbols::parse_maps(&maps).unwrap();
        let m = maps.iter().find(|m| m.start <= regs.sp() && regs.sp() < m.end).unwrap();
        let mut snap = SnapshotMemory::new();
        snap.capture(&ProcessMemory::current(), regs.sp(), (m.end - regs.sp()) as usize).unwrap();
        // SAFETY: single-threaded benchmark setup.
        unsafe { CAPTURED = Some((regs, snap)) };
        return 0;
    }
    black_box(deep(black_box(n - 1))) + 1
}

fn main() {
    let path: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .or_else(|| {
            let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/examples/demo");
            demo.exists().then_some(demo)
        })
        .unwrap_or_else(|| std::env::current_exe().unwrap());
    println!("binary={}", path.display());
    println!("binary_bytes={}", std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0));
    let addrs = pick_addresses(&path);
    println!("addresses={}", addrs.len());

    // Cold: build the context and symbolize everything once.
    let t = Instant::now();
    let obj = loader::load_file(&path, 0).expect("load");
    let mut frames = 0usize;
    for &a in &addrs {
        frames += obj.symbolize(a).frames().len();
    }
    let cold = t.elapsed().as_secs_f64();
    println!("frames={frames}");
    println!("cold_total_ms={:.2}", cold * 1e3);
    println!("cold_ns_per_addr={:.0}", cold * 1e9 / addrs.len() as f64);

    // Warm: the same addresses again (answered from the per-address cache).
    let rounds = 20;
    let t = Instant::now();
    for _ in 0..rounds {
        for &a in &addrs {
            black_box(obj.symbolize(a).frames().len());
        }
    }
    let warm = t.elapsed().as_secs_f64() / (rounds * addrs.len()) as f64;
    println!("warm_ns_per_lookup={:.1}", warm * 1e9);

    // Warm context, addresses not seen before (units parsed, results not
    // cached): nearby addresses one byte further on.
    obj.set_cache_capacity(0);
    let t = Instant::now();
    for &a in &addrs {
        black_box(obj.symbolize(a + 1).frames().len());
    }
    let warm_new = t.elapsed().as_secs_f64() / addrs.len() as f64;
    println!("warm_uncached_ns_per_lookup={:.0}", warm_new * 1e9);
    let (hits, misses) = obj.cache_stats();
    println!("cache_hits={hits} cache_misses={misses}");

    // Unwind: a real ~30-deep stack of this process, saved into a snapshot.
    deep(30);
    // SAFETY: set above, single-threaded.
    let (regs, snap) = unsafe { (*std::ptr::addr_of!(CAPTURED)).clone().unwrap() };
    let procs = ProcessSymbols::load_self().expect("load self");
    let count = |p: &ProcessSymbols| {
        let mut u = p.unwind(regs, &snap);
        let mut n = 0;
        while let Ok(Some(_)) = u.next() {
            n += 1;
        }
        (n, u.stop_reason())
    };
    let (depth, stop) = count(&procs);
    println!("unwind_depth={depth}");
    println!("unwind_stop={stop:?}");
    let snap_bytes: usize = snap.regions().map(|r| r.1.len()).sum();
    println!("snapshot_bytes={snap_bytes}");
    let t = Instant::now();
    for _ in 0..N {
        black_box(count(&procs));
    }
    let unwind = t.elapsed().as_secs_f64();
    println!("unwind_total_ms={:.2}", unwind * 1e3);
    println!("unwind_us_per_stack={:.2}", unwind * 1e6 / N as f64);
    println!("unwind_ns_per_frame={:.0}", unwind * 1e9 / (N * depth) as f64);
    let _ = ProcessMemory::current().read_u64(regs.sp());

    match binutils(&path, &addrs) {
        Some(b) => {
            println!("binutils_total_ms={:.2}", b * 1e3);
            println!("binutils_over_cold_ratio={:.2}", b / cold);
        }
        None => println!("binutils_total_ms=unavailable"),
    }
}
