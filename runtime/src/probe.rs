//! SystemTap SDT probes: named points the inspector, gdb (`info probes`),
//! perf and bpftrace can stop at or trace.
//!
//! `probe!(name)` or `probe!(name, a, b, ...)` (up to four u64 arguments)
//! emits a one-byte `nop` and a `.note.stapsdt` note recording its address,
//! provider `grt`, the name and where the arguments are (`8@%reg`). An
//! unarmed probe costs the nop. To arm it, a tracer writes `int3` over the
//! nop; a thread that hits it stops with its pc just past the probe, so the
//! tracer resumes it without ever lifting the breakpoint.
//!
//! If a tracer dies with probes armed, the runtime's SIGTRAP handler
//! (`signal.rs`) recognizes a trap at a probe site, restores every probe
//! site it knows from its own notes, and resumes the thread.
//!
//! The note layout follows `<sys/sdt.h>` (note type 3, owner "stapsdt",
//! then pc, `_.stapsdt.base`, semaphore, provider, name, argument string).
//! `.stapsdt.base` is marked retained (`R`): the linker's section garbage
//! collection would otherwise drop it, and tools then list no probes.

/// Emits an SDT probe `grt:$name` with up to four integer arguments.
#[macro_export]
macro_rules! probe {
    ($name:ident) => {
        $crate::__probe_asm!($name, "")
    };
    ($name:ident, $a0:expr) => {
        $crate::__probe_asm!($name, "8@{a0}", a0 = in(reg) ($a0) as u64)
    };
    ($name:ident, $a0:expr, $a1:expr) => {
        $crate::__probe_asm!($name, "8@{a0} 8@{a1}", a0 = in(reg) ($a0) as u64, a1 = in(reg) ($a1) as u64)
    };
    ($name:ident, $a0:expr, $a1:expr, $a2:expr) => {
        $crate::__probe_asm!(
            $name,
            "8@{a0} 8@{a1} 8@{a2}",
            a0 = in(reg) ($a0) as u64,
            a1 = in(reg) ($a1) as u64,
            a2 = in(reg) ($a2) as u64
        )
    };
    ($name:ident, $a0:expr, $a1:expr, $a2:expr, $a3:expr) => {
        $crate::__probe_asm!(
            $name,
            "8@{a0} 8@{a1} 8@{a2} 8@{a3}",
            a0 = in(reg) ($a0) as u64,
            a1 = in(reg) ($a1) as u64,
            a2 = in(reg) ($a2) as u64,
            a3 = in(reg) ($a3) as u64
        )
    };
}

#[macro_export]
#[doc(hidden)]
macro_rules! __probe_asm {
    ($name:ident, $args:literal $(, $op:ident = in(reg) $e:expr)*) => {
        // SAFETY: the asm is a single nop plus assembler directives that
        // emit notes into non-allocated sections; it reads its argument
        // registers only to name them, and clobbers nothing.
        #[allow(unused_unsafe)]
        unsafe {
            ::core::arch::asm!(
                "990: nop",
                ".pushsection .note.stapsdt,\"\",\"note\"",
                ".balign 4",
                ".4byte 992f-991f, 994f-993f, 3",
                "991: .asciz \"stapsdt\"",
                "992: .balign 4",
                "993: .8byte 990b",
                ".8byte _.stapsdt.base",
                ".8byte 0",
                ".asciz \"grt\"",
                concat!(".asciz \"", stringify!($name), "\""),
                concat!(".asciz \"", $args, "\""),
                "994: .balign 4",
                ".popsection",
                ".ifndef _.stapsdt.base",
                ".pushsection .stapsdt.base,\"aGR\",\"progbits\",.stapsdt.base,comdat",
                ".weak _.stapsdt.base",
                ".hidden _.stapsdt.base",
                "_.stapsdt.base: .space 1",
                ".size _.stapsdt.base, 1",
                ".popsection",
                ".endif",
                $($op = in(reg) $e,)*
                options(att_syntax, nostack, preserves_flags, readonly)
            )
        }
    };
}
