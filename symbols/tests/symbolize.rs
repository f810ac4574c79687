//! Symbolizes this test binary's own functions, including an inlined chain.

use std::hint::black_box;
use std::sync::OnceLock;

use grt_symbols::{demangle, strip_hash, FrameSource, ObjectSymbols, ProcessSymbols};

fn process() -> &'static std::sync::Mutex<ProcessSymbols> {
    static P: OnceLock<std::sync::Mutex<ProcessSymbols>> = OnceLock::new();
    P.get_or_init(|| std::sync::Mutex::new(ProcessSymbols::load_self().expect("load self")))
}

/// Returns the address of an instruction inside itself; always inlined.
#[inline(always)]
fn inlined_leaf(x: u64) -> (u64, u32) {
    let pc: u64;
    // SAFETY: reads rip only.
    unsafe { core::arch::asm!("2:", "lea {}, [rip + 2b]", out(reg) pc, options(nomem, nostack)) };
    (pc ^ black_box(x) ^ x, line!() - 1)
}

#[inline(never)]
fn not_inlined_caller(x: u64) -> (u64, u32) {
    let r = inlined_leaf(black_box(x));
    black_box(r)
}

#[inline(never)]
pub fn plain_function(a: u64) -> u64 {
    black_box(a).wrapping_mul(3)
}

#[test]
fn own_function_name_file_line() {
    let p = process().lock().unwrap_or_else(|e| e.into_inner());
    let addr = plain_function as *const () as u64;
    let s = p.symbolize(addr).expect("in an object");
    let f = &s.frames()[0];
    assert_eq!(f.function.as_deref(), Some("symbolize::plain_function"), "{s:?}");
    assert!(f.file.as_deref().unwrap().ends_with("tests/symbolize.rs"), "{f:?}");
    assert!(f.line.is_some());
    assert_eq!(f.source, FrameSource::Dwarf);
    assert!(!f.inlined);
    assert_eq!(s.function_offset(), Some(0));
    let sym = s.symbol().expect("symbol");
    assert_eq!(&*sym.name, "symbolize::plain_function");
    assert!(sym.mangled.starts_with("_R") || sym.mangled.starts_with("_ZN"));
    assert!(s.object_name().contains("symbolize"));
    // Same answer from the cache, and the cache was hit.
    let obj = p.object_for_address(addr).unwrap();
    let (h0, _) = obj.cache_stats();
    let again = p.symbolize(addr).unwrap();
    assert_eq!(again.frames(), s.frames());
    assert_eq!(obj.cache_stats().0, h0 + 1);
    plain_function(1);
}

#[test]
fn inline_chain_innermost_first() {
    let (pc, line) = not_inlined_caller(7);
    let pc = pc ^ 7 ^ 7;
    let p = process().lock().unwrap_or_else(|e| e.into_inner());
    let s = p.symbolize(pc).unwrap();
    let names: Vec<_> = s.frames().iter().map(|f| f.function.as_deref().unwrap_or("?")).collect();
    assert_eq!(names, ["symbolize::inlined_leaf", "symbolize::not_inlined_caller"], "{s:#?}");
    assert!(s.frames()[0].inlined);
    assert!(!s.frames()[1].inlined);
    assert_eq!(s.frames()[0].line, Some(line));
    // The outer frame's line is the call site of the inlined function.
    assert!(s.frames()[1].file.as_deref().unwrap().ends_with("tests/symbolize.rs"));
    // Fallible iteration yields the same, innermost first.
    let mut it = s.iter();
    assert_eq!(it.next().unwrap().unwrap().function.as_deref(), Some("symbolize::inlined_leaf"));
    assert_eq!(it.next().unwrap().unwrap().function.as_deref(), Some("symbolize::not_inlined_caller"));
    assert!(it.next().unwrap().is_none());
    assert!(it.next().unwrap().is_none());
}

#[test]
fn single_file_object_at_bias_zero() {
    let exe = std::env::current_exe().unwrap();
    let bytes = std::fs::read(&exe).unwrap();
    let obj = ObjectSymbols::from_bytes("self", bytes, 0).unwrap();
    assert!(obj.has_dwarf());
    assert!(obj.build_id().is_some_and(|b| !b.is_empty()));
    // Link-time address of plain_function: runtime address minus this
    // process's bias.
    let p = process().lock().unwrap_or_else(|e| e.into_inner());
    let runtime = plain_function as *const () as u64;
    let bias = p.object_for_address(runtime).unwrap().bias();
    let s = obj.symbolize(runtime - bias);
    assert_eq!(s.frames()[0].function.as_deref(), Some("symbolize::plain_function"));
    assert_eq!(s.object_offset(), runtime - bias);
}

#[test]
fn unknown_addresses_do_not_fail() {
    let p = process().lock().unwrap_or_else(|e| e.into_inner());
    assert!(p.symbolize(0).is_err());
    assert!(p.symbolize(u64::MAX).is_err());
    let obj = ObjectSymbols::from_bytes("self", std::fs::read(std::env::current_exe().unwrap()).unwrap(), 0).unwrap();
    let s = obj.symbolize(1);
    assert!(s.frames().is_empty());
    assert_eq!(s.object_offset(), 1);
}

#[test]
fn demangling_helpers() {
    assert_eq!(demangle("_ZN4core3fmt5write17h0123456789abcdefE"), "core::fmt::write");
    assert_eq!(demangle("_RNvCs1234_7mycrate3foo"), "mycrate::foo");
    assert_eq!(demangle("memcpy"), "memcpy");
    assert_eq!(strip_hash("core::fmt::write::h0123456789abcdef"), "core::fmt::write");
    assert_eq!(strip_hash("core::fmt::write"), "core::fmt::write");
    assert_eq!(strip_hash("ééééééééééééééééééééé"), "ééééééééééééééééééééé");
}

#[test]
fn object_symbols_is_send() {
    fn send<T: Send>() {}
    send::<ObjectSymbols>();
    send::<ProcessSymbols>();
}

#[test]
fn compressed_debug_sections_are_read() {
    let exe = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir().join(format!("grt-symbols-zdebug-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("compressed");
    let ok = std::process::Command::new("objcopy")
        .arg("--compress-debug-sections=zlib")
        .arg(&exe)
        .arg(&out)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIP: objcopy --compress-debug-sections unavailable");
        return;
    }
    let plain = ObjectSymbols::from_bytes("plain", std::fs::read(&exe).unwrap(), 0).unwrap();
    let z = ObjectSymbols::from_bytes("z", std::fs::read(&out).unwrap(), 0).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(z.has_dwarf());
    let p = process().lock().unwrap_or_else(|e| e.into_inner());
    let runtime = plain_function as *const () as u64;
    let link = runtime - p.object_for_address(runtime).unwrap().bias();
    let (pc, _) = not_inlined_caller(3);
    let inl = (pc ^ 3 ^ 3) - p.object_for_address(runtime).unwrap().bias();
    for a in [link, inl, link + 1] {
        assert_eq!(plain.symbolize(a).frames(), z.symbolize(a).frames());
        assert!(z.symbolize(a).frames()[0].line.is_some());
    }
}
