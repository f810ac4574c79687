//! SDT probes: a fixture emitting `.note.stapsdt` notes the way `<sys/sdt.h>`
//! does, listed from the running process, from the file (checked against gdb
//! when present) and from a stripped copy; plus symbolization of the stripped
//! copy.

use std::path::PathBuf;
use std::process::Command;

use grt_symbols::{ObjectSymbols, ProcessSymbols};

/// Emits an SDT probe point (a `nop`) with a `.note.stapsdt` note describing
/// it and evaluates to the probe's runtime address. `$sem` is an optional
/// semaphore symbol operand. Follows the note layout of `<sys/sdt.h>`:
/// owner "stapsdt", type 3, then pc, `_.stapsdt.base`, semaphore address,
/// provider, name and argument string; `_.stapsdt.base` lives in a comdat
/// `.stapsdt.base` section so that every object has exactly one (marked
/// retained, since Rust links with `--gc-sections`).
macro_rules! sdt_probe {
    ($provider:literal, $name:literal, $args:literal) => {
        sdt_probe!(@emit $provider, $name, $args, ".8byte 0", )
    };
    ($provider:literal, $name:literal, $args:literal, sem = $sem:path) => {
        sdt_probe!(@emit $provider, $name, $args, ".8byte {sem}", sem = sym $sem,)
    };
    (@emit $provider:literal, $name:literal, $args:literal, $semline:literal, $($op:tt)*) => {{
        let pc: u64;
        // SAFETY: a nop plus notes in non-executed sections.
        unsafe {
            core::arch::asm!(
                "990: nop",
                ".pushsection .note.stapsdt,\"\",\"note\"",
                ".balign 4",
                ".4byte 992f-991f, 994f-993f, 3",
                "991: .asciz \"stapsdt\"",
                "992: .balign 4",
                "993: .8byte 990b",
                ".8byte _.stapsdt.base",
                $semline,
                concat!(".asciz \"", $provider, "\""),
                concat!(".asciz \"", $name, "\""),
                concat!(".asciz \"", $args, "\""),
                "994: .balign 4",
                ".popsection",
                ".ifndef _.stapsdt.base",
                // "R" (SHF_GNU_RETAIN): nothing allocated refers to the section, and
                // --gc-sections would drop it otherwise.
                ".pushsection .stapsdt.base,\"aGR\",\"progbits\",.stapsdt.base,comdat",
                ".weak _.stapsdt.base",
                ".hidden _.stapsdt.base",
                "_.stapsdt.base: .space 1",
                ".size _.stapsdt.base, 1",
                ".popsection",
                ".endif",
                "lea 990b(%rip), {pc}",
                pc = out(reg) pc,
                $($op)*
                options(att_syntax, nostack, preserves_flags),
            );
        }
        pc
    }};
}

#[no_mangle]
#[used]
#[link_section = ".probes"]
static mut GRT_TEST_SEMAPHORE: u16 = 0;

#[inline(never)]
fn probe_sites() -> (u64, u64) {
    let a = sdt_probe!("grt_test", "hello", "-4@%edi 8@%rsi");
    let b = sdt_probe!("grt_test", "with_sem", "", sem = GRT_TEST_SEMAPHORE);
    (a, b)
}

fn own_probes() -> (ProcessSymbols, Vec<grt_symbols::Probe>) {
    let p = ProcessSymbols::load_self().unwrap();
    let probes = p.executable().expect("executable").probes().unwrap();
    (p, probes)
}

#[test]
fn lists_own_probes_at_runtime_addresses() {
    let (hello_pc, sem_pc) = probe_sites();
    let (p, probes) = own_probes();
    let hello = probes.iter().find(|q| q.name == "hello").expect("hello probe");
    assert_eq!(hello.provider, "grt_test");
    assert_eq!(hello.args, "-4@%edi 8@%rsi");
    assert_eq!(hello.address, hello_pc);
    assert_eq!(hello.semaphore, 0);
    let exe = p.executable().unwrap();
    assert_eq!(hello.link_address, hello_pc - exe.bias());
    let with_sem = probes.iter().find(|q| q.name == "with_sem").expect("with_sem probe");
    assert_eq!(with_sem.address, sem_pc);
    assert_eq!(with_sem.semaphore, std::ptr::addr_of!(GRT_TEST_SEMAPHORE) as u64);
    assert_eq!(with_sem.link_semaphore, with_sem.semaphore - exe.bias());
    // The process-wide list has them too.
    let all = p.probes().unwrap();
    assert!(all.iter().any(|q| q.address == hello_pc));
    // The probe pc symbolizes to the function holding it.
    let s = p.symbolize(hello_pc).unwrap();
    assert_eq!(s.outer_frame().unwrap().function.as_deref(), Some("probes::probe_sites"));
}

#[test]
fn probes_agree_with_gdb() {
    let exe = std::env::current_exe().unwrap();
    let out = match Command::new("gdb").args(["-nx", "-batch", "-ex", "info probes"]).arg(&exe).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => {
            eprintln!("SKIP: gdb not available; the label-address check covers the pc");
            return;
        }
    };
    let obj = ObjectSymbols::from_bytes("exe", std::fs::read(&exe).unwrap(), 0).unwrap();
    let ours = obj.probes().unwrap();
    // Lines look like: "stap  grt_test  hello  0x000000000000a1b2  /path".
    let mut seen = 0;
    for line in out.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 4 || cols[0] != "stap" {
            continue;
        }
        let addr = u64::from_str_radix(cols[3].trim_start_matches("0x"), 16).unwrap();
        let q = ours
            .iter()
            .find(|q| q.provider == cols[1] && q.name == cols[2])
            .unwrap_or_else(|| panic!("gdb lists {line} which we do not"));
        assert_eq!(q.link_address, addr, "{line}");
        if cols.len() >= 5 && cols[4].starts_with("0x") {
            let sem = u64::from_str_radix(cols[4].trim_start_matches("0x"), 16).unwrap();
            assert_eq!(q.link_semaphore, sem, "{line}");
        }
        seen += 1;
    }
    println!("{out}");
    assert_eq!(seen, ours.len(), "gdb and we list the same number of probes");
    assert!(seen >= 2);
}

fn stripped_copy() -> Option<PathBuf> {
    let exe = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir().join(format!("grt-symbols-strip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let out = dir.join("stripped");
    let ok =
        Command::new("objcopy").arg("--strip-all").arg(&exe).arg(&out).status().map(|s| s.success()).unwrap_or(false);
    ok.then_some(out)
}

#[test]
fn stripped_binary_keeps_probes_and_gives_fallback_names() {
    let Some(path) = stripped_copy() else {
        eprintln!("SKIP: objcopy not available");
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let full = ObjectSymbols::from_bytes("full", std::fs::read(&exe).unwrap(), 0).unwrap();
    let stripped = ObjectSymbols::from_bytes("stripped", std::fs::read(&path).unwrap(), 0).unwrap();
    assert!(!stripped.has_dwarf());
    let mut a = full.probes().unwrap();
    let mut b = stripped.probes().unwrap();
    for v in [&mut a, &mut b] {
        v.sort_by_key(|q| q.link_address);
        for q in v.iter_mut() {
            q.object = "x".into();
        }
    }
    assert_eq!(a, b);
    // A function address symbolizes to a .dynsym name if it is exported,
    // else to object + offset (no frames).
    let (p, _) = own_probes();
    let bias = p.executable().unwrap().bias();
    let link = probe_sites as *const () as u64 - bias;
    let s = stripped.symbolize(link);
    match s.outer_frame() {
        Some(f) => assert!(f.function.is_some()),
        None => assert_eq!(s.object_offset(), link),
    }
    assert_eq!(s.object_name(), "stripped");
    // An exported symbol still has a name: the test binary exports nothing
    // with a body by default, so check every .dynsym code symbol resolves.
    let dynamic = stripped.symbol_ranges();
    for (start, _) in dynamic.iter().take(50) {
        let s = stripped.symbolize(*start);
        assert!(s.outer_frame().and_then(|f| f.function.clone()).is_some(), "{start:#x}");
        assert_eq!(s.function_offset(), Some(0));
    }
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
