//! Unwinds this test's own stack (live, snapshot, signal frame, parked
//! coroutine, remote child) and checks the result against std's backtrace.

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::Mutex;

use grt_symbols::{
    capture_registers, regs, FrameKind, MemoryReader, ProcessMemory, ProcessSymbols, Registers, SnapshotMemory,
    StopReason, UnwindOptions, UnwoundFrame,
};

thread_local! {
    static PROC: RefCell<Option<ProcessSymbols>> = const { RefCell::new(None) };
}

fn with_proc<T>(f: impl FnOnce(&ProcessSymbols) -> T) -> T {
    PROC.with(|p| {
        let mut p = p.borrow_mut();
        if p.is_none() {
            *p = Some(ProcessSymbols::load_self().expect("load self"));
        }
        f(p.as_ref().unwrap())
    })
}

/// Walks to the end; returns the frames and why the walk stopped.
fn walk<M: MemoryReader + ?Sized>(
    p: &ProcessSymbols,
    regs: Registers,
    mem: &M,
) -> (Vec<UnwoundFrame>, Option<StopReason>) {
    let mut u = p.unwind(regs, mem);
    let mut frames = Vec::new();
    loop {
        match u.next() {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => break,
            Err(e) => {
                eprintln!("unwind error after {} frames: {e}", frames.len());
                break;
            }
        }
    }
    (frames, u.stop_reason())
}

/// Function names of the frames, inline frames expanded innermost first.
fn names(p: &ProcessSymbols, frames: &[UnwoundFrame]) -> Vec<String> {
    let mut out = Vec::new();
    for f in frames {
        match p.symbolize(f.lookup_pc()) {
            Ok(s) if !s.frames().is_empty() => {
                for fr in s.frames() {
                    out.push(fr.function.as_deref().unwrap_or("<unknown>").to_string());
                }
            }
            _ => out.push("<unknown>".to_string()),
        }
    }
    out
}

/// Function names in std's backtrace.
fn backtrace_names() -> Vec<String> {
    let bt = std::backtrace::Backtrace::force_capture().to_string();
    bt.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let (num, rest) = l.split_once(": ")?;
            num.parse::<u32>().ok()?;
            Some(grt_symbols::strip_hash(rest.trim()).to_string())
        })
        .collect()
}

/// glibc's debug info names internal aliases (`__GI___clone3`) where the
/// dynamic symbol table has the public name (`clone3`).
fn same_function(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim_start_matches("__GI_").trim_start_matches('_').to_string();
    a == b || norm(a) == norm(b)
}

fn suffix_from<'a>(v: &'a [String], name: &str) -> &'a [String] {
    let i = v.iter().position(|n| n == name).unwrap_or_else(|| panic!("{name} not in {v:#?}"));
    &v[i..]
}

type StackResult = (Vec<String>, Vec<String>, Option<StopReason>);
static RESULT: Mutex<Option<StackResult>> = Mutex::new(None);

#[inline(never)]
fn recurse(n: u32) -> u32 {
    if n == 0 {
        capture_here();
        return 0;
    }
    black_box(recurse(black_box(n - 1))) + 1
}

#[inline(never)]
fn capture_here() {
    let regs = capture_registers!();
    let mem = ProcessMemory::current();
    let (frames, stop) = with_proc(|p| {
        let (f, s) = walk(p, regs, &mem);
        (names(p, &f), s)
    });
    let bt = backtrace_names();
    if std::env::var("DEBUG_UNWIND").is_ok() {
        with_proc(|p| {
            for o in p.objects() {
                eprintln!("{} bias {:#x} ranges {:x?}", o.name(), o.bias(), o.runtime_ranges().collect::<Vec<_>>());
            }
            let (f, _) = walk(p, regs, &mem);
            for fr in &f {
                eprintln!(
                    "{:x?} {:?} obj {:?}",
                    fr.pc,
                    fr.kind,
                    p.object_for_address(fr.lookup_pc()).map(|o| o.name().to_string())
                );
            }
        });
    }
    *RESULT.lock().unwrap() = Some((frames, bt, stop));
    black_box(());
}

#[test]
fn own_stack_matches_std_backtrace() {
    recurse(6);
    let (ours, theirs, stop) = RESULT.lock().unwrap().take().unwrap();
    let a = suffix_from(&ours, "unwind::capture_here");
    let b = suffix_from(&theirs, "unwind::capture_here");
    println!("ours:   {a:#?}\nstd's:  {b:#?}\nstop: {stop:?}");
    assert_eq!(a.iter().filter(|n| *n == "unwind::recurse").count(), 7);
    // Every frame std names, we name the same way.
    let len = a.len().min(b.len());
    let mut mismatches = Vec::new();
    for i in 0..len {
        if !same_function(&a[i], &b[i]) && b[i] != "<unknown>" {
            mismatches.push((i, &a[i], &b[i]));
        }
    }
    assert!(mismatches.is_empty(), "mismatches {mismatches:#?}");
    assert!(a.len() >= b.len(), "we stopped early: {} < {}", a.len(), b.len());
    // The walk ends cleanly at the bottom of the thread stack.
    assert!(matches!(stop, Some(StopReason::ReturnAddressUndefined | StopReason::ReturnAddressZero)), "{stop:?}");
}

/// The bounds of the mapping in `/proc/self/maps` containing `addr`.
fn mapping_of(addr: u64) -> (u64, u64) {
    let maps = grt_symbols::parse_maps(&std::fs::read_to_string("/proc/self/maps").unwrap()).unwrap();
    let m = maps.iter().find(|m| m.start <= addr && addr < m.end).expect("mapped");
    (m.start, m.end)
}

/// Frames walked in live memory and in a snapshot, the live frames'
/// names, and why each walk stopped.
type SnapResult = (Vec<UnwoundFrame>, Vec<UnwoundFrame>, Vec<String>, [Option<StopReason>; 2]);
static SNAP: Mutex<Option<SnapResult>> = Mutex::new(None);

#[inline(never)]
fn snapshot_here() {
    let regs = capture_registers!();
    let mem = ProcessMemory::current();
    let (_, end) = mapping_of(regs.sp());
    let mut snap = SnapshotMemory::new();
    snap.capture(&mem, regs.sp(), (end - regs.sp()) as usize).unwrap();
    let r = with_proc(|p| {
        let (live, s1) = walk(p, regs, &mem);
        let (snapped, s2) = walk(p, regs, &snap);
        let n = names(p, &live);
        (live, snapped, n, [s1, s2])
    });
    *SNAP.lock().unwrap() = Some(r);
    black_box(());
}

#[test]
fn snapshot_unwinds_like_live_memory() {
    snapshot_here();
    let (live, snapped, names, stops) = SNAP.lock().unwrap().take().unwrap();
    // The whole thread stack, from here to its bottom, in any profile: the
    // test itself (inlined into its closure or not) is on it, and both
    // walks end where the thread began.
    assert_eq!(names.first().map(String::as_str), Some("unwind::snapshot_here"), "{names:#?}");
    assert!(names.iter().any(|n| n == "unwind::snapshot_unwinds_like_live_memory"), "{names:#?}");
    for stop in stops {
        assert!(matches!(stop, Some(StopReason::ReturnAddressUndefined | StopReason::ReturnAddressZero)), "{stop:?}");
    }
    assert_eq!(live, snapped);
    assert_eq!(live[0].kind, FrameKind::Initial);
    assert!(live[1..].iter().all(|f| f.kind == FrameKind::Cfi), "{live:#?}");
    // CFA of each frame is the caller's sp.
    for w in live.windows(2) {
        assert_eq!(w[0].cfa, Some(w[1].sp));
        assert!(w[1].sp > w[0].sp);
    }
}

// ---------------------------------------------------------------------------
// A parked coroutine: a context switch routine with CFI and an entry
// trampoline marked `.cfi_undefined rip`, as the grt runtime does.

#[repr(C)]
#[derive(Default)]
struct Ctx {
    sp: u64,
    pc: u64,
    bp: u64,
}

core::arch::global_asm!(
    ".text",
    ".globl grt_symtest_switch",
    ".type grt_symtest_switch,@function",
    "grt_symtest_switch:",
    ".cfi_startproc",
    "push rbp",
    ".cfi_adjust_cfa_offset 8",
    ".cfi_rel_offset rbp, 0",
    "push rbx",
    ".cfi_adjust_cfa_offset 8",
    ".cfi_rel_offset rbx, 0",
    "push r12",
    ".cfi_adjust_cfa_offset 8",
    ".cfi_rel_offset r12, 0",
    "push r13",
    ".cfi_adjust_cfa_offset 8",
    ".cfi_rel_offset r13, 0",
    "push r14",
    ".cfi_adjust_cfa_offset 8",
    ".cfi_rel_offset r14, 0",
    "push r15",
    ".cfi_adjust_cfa_offset 8",
    ".cfi_rel_offset r15, 0",
    "mov [rdi], rsp",
    "lea rax, [rip + 2f]",
    "mov [rdi + 8], rax",
    "mov [rdi + 16], rbp",
    "mov rsp, [rsi]",
    "mov rbp, [rsi + 16]",
    "jmp qword ptr [rsi + 8]",
    "2:",
    "pop r15",
    ".cfi_adjust_cfa_offset -8",
    ".cfi_restore r15",
    "pop r14",
    ".cfi_adjust_cfa_offset -8",
    ".cfi_restore r14",
    "pop r13",
    ".cfi_adjust_cfa_offset -8",
    ".cfi_restore r13",
    "pop r12",
    ".cfi_adjust_cfa_offset -8",
    ".cfi_restore r12",
    "pop rbx",
    ".cfi_adjust_cfa_offset -8",
    ".cfi_restore rbx",
    "pop rbp",
    ".cfi_adjust_cfa_offset -8",
    ".cfi_restore rbp",
    "ret",
    ".cfi_endproc",
    ".size grt_symtest_switch, .-grt_symtest_switch",
    "",
    ".globl grt_symtest_entry",
    ".type grt_symtest_entry,@function",
    "grt_symtest_entry:",
    ".cfi_startproc",
    ".cfi_undefined rip",
    "mov rdi, [rsp + 8]",
    "call qword ptr [rsp]",
    "ud2",
    ".cfi_endproc",
    ".size grt_symtest_entry, .-grt_symtest_entry",
);

extern "C" {
    fn grt_symtest_switch(from: *mut Ctx, to: *const Ctx);
    fn grt_symtest_entry();
}

#[repr(C)]
struct Pair {
    main: Ctx,
    co: Ctx,
    resumed: bool,
    /// Resumptions `coroutine_park` returned from.
    resumes: u32,
}

/// Parks and, once resumed, counts the resumption, as the runtime's park
/// does work after its switch returns: the switch is not the last thing
/// this function does, so an optimizer cannot turn it into a tail jump
/// that would take this frame off the parked stack.
#[inline(never)]
extern "C" fn coroutine_park(pair: *mut Pair) {
    // SAFETY: `pair` outlives the coroutine; only one side runs at a time.
    unsafe {
        grt_symtest_switch(&mut (*pair).co, &(*pair).main);
        (*pair).resumes += 1;
    }
}

extern "C" fn coroutine_body(pair: *mut Pair) {
    coroutine_park(pair);
    // SAFETY: as above.
    unsafe {
        (*pair).resumed = true;
        loop {
            grt_symtest_switch(&mut (*pair).co, &(*pair).main);
        }
    }
}

#[test]
fn parked_coroutine_ends_at_entry_trampoline() {
    let mut stack = vec![0u64; 16 * 1024];
    let top = (stack.as_mut_ptr() as u64 + (stack.len() as u64) * 8) & !15;
    let mut pair = Box::new(Pair { main: Ctx::default(), co: Ctx::default(), resumed: false, resumes: 0 });
    let sp = top - 16;
    // The entry trampoline calls [rsp] with [rsp + 8] as argument.
    // SAFETY: both words lie inside `stack`.
    unsafe {
        *(sp as *mut u64) = coroutine_body as *const () as u64;
        *((sp + 8) as *mut u64) = &mut *pair as *mut Pair as u64;
    }
    let start = Ctx { sp, pc: grt_symtest_entry as *const () as u64, bp: 0 };
    let pp: *mut Pair = &mut *pair;
    // SAFETY: switches to a fresh stack that parks straight back.
    unsafe { grt_symtest_switch(&mut (*pp).main, &start) };

    // The coroutine is parked: unwind it from its saved (sp, pc, bp), both
    // from live memory and from a snapshot of its stack.
    let regs = Registers::from_parked(pair.co.sp, pair.co.pc, pair.co.bp);
    let mut snap = SnapshotMemory::new();
    snap.capture(&ProcessMemory::current(), pair.co.sp, (top - pair.co.sp) as usize).unwrap();
    let ((frames, stop), (sframes, sstop), names) = with_proc(|p| {
        let live = walk(p, regs, &ProcessMemory::current());
        let snapped = walk(p, regs, &snap);
        let n = names(p, &live.0);
        (live, snapped, n)
    });
    println!("{names:#?} {stop:?}");
    assert_eq!(names, ["grt_symtest_switch", "unwind::coroutine_park", "unwind::coroutine_body", "grt_symtest_entry"]);
    assert_eq!(stop, Some(StopReason::ReturnAddressUndefined));
    assert_eq!(frames, sframes);
    assert_eq!(stop, sstop);
    assert!(frames[1..].iter().all(|f| f.kind == FrameKind::Cfi));
    // Callee-saved registers come back from the switch routine's pushes.
    assert!(frames[1].regs.get(regs::RBX).is_some());

    // Resume once to check the saved context really is the one we walked.
    // SAFETY: resumes the parked coroutine, which parks again.
    unsafe { grt_symtest_switch(&mut (*pp).main, &(*pp).co) };
    assert!(pair.resumed);
    assert_eq!(pair.resumes, 1);
    drop(stack);
}

// ---------------------------------------------------------------------------
// Signal frames.

type SignalResult = (Vec<String>, Vec<FrameKind>, Vec<String>, Vec<String>, usize);
static SIGNAL_RESULT: Mutex<Option<SignalResult>> = Mutex::new(None);

extern "C" fn on_signal(_sig: libc::c_int, _info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    let regs = capture_registers!();
    let mem = ProcessMemory::current();
    // The interrupted context, as a sampling profiler would see it.
    // SAFETY: the kernel passes a valid ucontext to SA_SIGINFO handlers.
    let g = unsafe { &(*(uc as *const libc::ucontext_t)).uc_mcontext.gregs };
    let interrupted = Registers::new(
        g[libc::REG_RIP as usize] as u64,
        g[libc::REG_RSP as usize] as u64,
        g[libc::REG_RBP as usize] as u64,
    );
    let (n, kinds, n2, tramp) = with_proc(|p| {
        let (frames, _) = walk(p, regs, &mem);
        let (frames2, _) = walk(p, interrupted, &mem);
        let tramp = frames.iter().position(|f| f.is_signal_trampoline).unwrap_or(usize::MAX);
        (names(p, &frames), frames.iter().map(|f| f.kind).collect(), names(p, &frames2), tramp)
    });
    let bt = backtrace_names();
    *SIGNAL_RESULT.lock().unwrap() = Some((n, kinds, n2, bt, tramp));
}

#[inline(never)]
fn raise_here() {
    // SAFETY: raising a signal whose handler is installed.
    unsafe { libc::raise(libc::SIGUSR1) };
    black_box(());
}

#[test]
fn crosses_signal_frames() {
    with_proc(|_| ());
    // SAFETY: installs a handler for SIGUSR1, which nothing else uses here.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    raise_here();
    let (names, kinds, from_uc, bt, trampoline) = SIGNAL_RESULT.lock().unwrap().take().unwrap();
    println!("{names:#?}\n{kinds:?}\nstd: {bt:#?}");
    assert_eq!(names[0], "unwind::on_signal");
    let sig = kinds.iter().position(|k| *k == FrameKind::Signal).expect("a signal frame");
    assert!(sig >= 2, "{kinds:?}");
    assert_eq!(trampoline, sig - 1, "the frame before the interrupted one is __restore_rt");
    let after = suffix_from(&names, "unwind::raise_here");
    assert_eq!(after[1], "unwind::crosses_signal_frames");
    // Walking from the ucontext gives the interrupted part of the stack.
    assert_eq!(suffix_from(&from_uc, "unwind::raise_here"), after);
    // And std agrees on the interrupted part.
    let theirs = suffix_from(&bt, "unwind::raise_here");
    for (a, b) in after.iter().zip(theirs) {
        assert!(same_function(a, b) || b == "<unknown>", "{a} vs {b}");
    }
}

// ---------------------------------------------------------------------------
// Synthetic stacks: sigreturn without CFI, frame pointers, limits.

#[test]
fn sigreturn_trampoline_without_cfi() {
    let empty = ProcessSymbols::new();
    let mut snap = SnapshotMemory::new();
    let code = 0x1000_0000u64;
    snap.add_region(code, vec![0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x90]);
    // A ucontext at sp: gregs at offset 40, in glibc REG_* order.
    let sp = 0x7000_0000u64;
    let mut uc = vec![0u8; 40 + 23 * 8];
    let set = |uc: &mut Vec<u8>, idx: usize, v: u64| uc[40 + idx * 8..48 + idx * 8].copy_from_slice(&v.to_ne_bytes());
    set(&mut uc, libc::REG_RIP as usize, 0x2000_1234);
    set(&mut uc, libc::REG_RSP as usize, 0x6000_0000);
    set(&mut uc, libc::REG_RBP as usize, 0);
    set(&mut uc, libc::REG_RBX as usize, 77);
    snap.add_region(sp, uc);
    let (frames, stop) = walk(&empty, Registers::new(code, sp, 0x5), &snap);
    assert_eq!(frames.len(), 2, "{frames:#?}");
    assert_eq!(frames[1].kind, FrameKind::Signal);
    assert_eq!(frames[1].pc, 0x2000_1234);
    assert_eq!(frames[1].sp, 0x6000_0000);
    assert_eq!(frames[1].lookup_pc(), 0x2000_1234, "interrupted pc is exact");
    assert_eq!(frames[1].regs.get(regs::RBX), Some(77));
    assert_eq!(stop, Some(StopReason::FramePointerZero));
}

/// Builds a frame-pointer chain of `n` frames in a snapshot; returns the
/// registers of the innermost frame.
fn fp_chain(n: usize) -> (SnapshotMemory, Registers) {
    let base = 0x7f00_0000u64;
    let mut words = vec![0u64; n * 4 + 4];
    // Frame i has its saved rbp at base + 32*i, return address above it.
    for i in 0..n {
        let next_bp = if i + 1 < n { base + 32 * (i as u64 + 1) } else { 0 };
        words[i * 4] = next_bp;
        words[i * 4 + 1] = 0x4000_0000 + i as u64;
    }
    let mut snap = SnapshotMemory::new();
    snap.add_region(base, words.iter().flat_map(|w| w.to_ne_bytes()).collect());
    (snap, Registers::new(0x3000_0000, base - 64, base))
}

#[test]
fn frame_pointer_fallback() {
    let empty = ProcessSymbols::new();
    let (snap, regs) = fp_chain(5);
    let (frames, stop) = walk(&empty, regs, &snap);
    assert_eq!(frames.len(), 6, "{frames:#?}");
    assert!(frames[1..].iter().all(|f| f.kind == FrameKind::FramePointer));
    assert_eq!(frames[1].pc, 0x4000_0000);
    assert_eq!(frames[5].pc, 0x4000_0004);
    assert_eq!(stop, Some(StopReason::FramePointerZero));
    // Without frame pointers the walk cannot start.
    let mut u = empty.unwind_with(regs, &snap, UnwindOptions::default().frame_pointers(false));
    assert!(u.next().unwrap().is_some());
    assert!(matches!(u.next(), Err(grt_symbols::Error::NoUnwindInfo { .. })));
    assert!(u.next().unwrap().is_none());
}

#[test]
fn depth_limit_and_loops() {
    let empty = ProcessSymbols::new();
    let (snap, regs) = fp_chain(50);
    let mut u = empty.unwind_with(regs, &snap, UnwindOptions::default().max_depth(3));
    for _ in 0..3 {
        assert!(u.next().unwrap().is_some());
    }
    assert_eq!(u.next(), Err(grt_symbols::Error::DepthLimit { limit: 3 }));
    assert_eq!(u.stop_reason(), Some(StopReason::Error(grt_symbols::Error::DepthLimit { limit: 3 })));

    // A frame pointer pointing at itself: sp stops increasing.
    let mut snap = SnapshotMemory::new();
    let b = 0x7f00_0000u64;
    snap.add_region(b, [b, 0x4000_0000u64, b, 0x4000_0000].iter().flat_map(|w| w.to_ne_bytes()).collect());
    let mut u = empty.unwind(Registers::new(0x3000_0000, b - 8, b), &snap);
    let mut n = 0;
    while let Ok(Some(_)) = u.next() {
        n += 1;
        assert!(n < 10);
    }
    assert!(matches!(u.stop_reason(), Some(StopReason::Error(_))));
}

#[test]
fn garbage_registers_give_errors() {
    let mem = ProcessMemory::current();
    with_proc(|p| {
        for (pc, sp, bp) in [(0x1234, 0x10, 0x20), (0, 0, 0), (u64::MAX, u64::MAX, u64::MAX), (8, 16, 1 << 47)] {
            let mut u = p.unwind(Registers::new(pc, sp, bp), &mem);
            let mut n = 0;
            while let Ok(Some(_)) = u.next() {
                n += 1;
                assert!(n < 1100);
            }
        }
    });
    assert!(mem.read_u64(0).is_err());
    assert!(mem.read_u64(u64::MAX - 3).is_err());
}

// ---------------------------------------------------------------------------
// A live remote process, stopped with ptrace.

#[test]
fn remote_process_via_ptrace() {
    let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep");
    let pid = child.id() as i32;
    std::thread::sleep(std::time::Duration::from_millis(200));
    // SAFETY: plain ptrace calls on our own child.
    let attached = unsafe {
        libc::ptrace(libc::PTRACE_SEIZE, pid, 0, 0) == 0 && libc::ptrace(libc::PTRACE_INTERRUPT, pid, 0, 0) == 0
    };
    if !attached {
        eprintln!("SKIP: ptrace not permitted here: {}", std::io::Error::last_os_error());
        let _ = child.kill();
        let _ = child.wait();
        return;
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
    // SAFETY: user_regs_struct is plain data filled by the kernel.
    let mut r: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ptrace(libc::PTRACE_GETREGS, pid, 0, &mut r) } == 0;
    assert!(ok);
    let p = ProcessSymbols::load(pid).expect("load child");
    let mem = ProcessMemory::new(pid);
    let mut regs = Registers::new(r.rip, r.rsp, r.rbp);
    regs.set(regs::RBX, r.rbx);
    regs.set(regs::R12, r.r12);
    regs.set(regs::R13, r.r13);
    regs.set(regs::R14, r.r14);
    regs.set(regs::R15, r.r15);
    let (frames, stop) = walk(&p, regs, &mem);
    let n = names(&p, &frames);
    println!("{n:#?} {stop:?}");
    let _ = child.kill();
    let _ = child.wait();
    assert!(p.executable().is_some_and(|e| e.name().ends_with("sleep")));
    assert!(frames.len() >= 3, "{frames:#?}");
    assert!(matches!(stop, Some(StopReason::ReturnAddressUndefined | StopReason::ReturnAddressZero)), "{stop:?}");
}
