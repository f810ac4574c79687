//! The context switch (x86-64 SysV): `grt_mcall`, `grt_gogo` and the
//! goroutine entry trampoline `grt_gostart`.
//!
//! The saved context of a goroutine is Go's gobuf: (sp, pc, bp), stored in
//! the goroutine's table record. A parked goroutine's pc is always
//! `grt_mcall_resume` and its sp points at the six callee-saved registers
//! that `grt_mcall` pushed, so the context is exact and the CFI below lets
//! an unwinder walk from it into the goroutine's own frames.
//!
//! - `grt_mcall(save, g0sp, f, arg)`: pushes the callee-saved registers,
//!   saves (sp, pc, bp) into `*save`, switches to the scheduler stack at
//!   `g0sp` and calls `f(arg)`, which must not return (it ends in
//!   `grt_gogo`). When the goroutine is resumed, `grt_mcall` returns to its
//!   caller as if from an ordinary call.
//! - `grt_gogo(buf)`: loads (sp, bp) and jumps to pc. Never returns.
//! - `grt_gostart`: where a new goroutine starts; calls `goroutine_main`.
//!   Its CFI marks the return address undefined: the clean bottom of every
//!   goroutine stack for unwinders.
//!
//! The floating-point control words (MXCSR, x87 CW) are not saved:
//! goroutine code must not change them, as with most coroutine libraries.

use grt_table::Gobuf;

core::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl grt_gogo",
    ".type grt_gogo,@function",
    "grt_gogo:",
    ".cfi_startproc",
    "mov rsp, [rdi]",
    "mov rbp, [rdi + 16]",
    "jmp qword ptr [rdi + 8]",
    ".cfi_endproc",
    ".size grt_gogo, .-grt_gogo",
    "",
    ".p2align 4",
    ".globl grt_mcall",
    ".type grt_mcall,@function",
    "grt_mcall:",
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
    "lea rax, [rip + grt_mcall_resume]",
    "mov [rdi + 8], rax",
    "mov [rdi + 16], rbp",
    ".cfi_remember_state",
    "mov rsp, rsi",
    // From here on this frame runs on the scheduler stack; the goroutine's
    // frames are on another stack, so an unwinder stops here.
    ".cfi_undefined rip",
    "xor ebp, ebp",
    "mov rdi, rcx",
    "call rdx",
    "ud2",
    ".globl grt_mcall_resume",
    "grt_mcall_resume:",
    ".cfi_restore_state",
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
    ".size grt_mcall, .-grt_mcall",
    "",
    ".p2align 4",
    ".globl grt_gostart",
    ".type grt_gostart,@function",
    "grt_gostart:",
    ".cfi_startproc",
    ".cfi_undefined rip",
    "xor ebp, ebp",
    "call {main}",
    "ud2",
    ".cfi_endproc",
    ".size grt_gostart, .-grt_gostart",
    main = sym crate::proc::goroutine_main,
);

extern "C" {
    /// See the module docs. `f` runs on the scheduler stack and never returns.
    pub fn grt_mcall(
        save: *const Gobuf,
        g0sp: u64,
        f: extern "C" fn(crate::recptr::RecPtr<grt_table::G>),
        arg: crate::recptr::RecPtr<grt_table::G>,
    );
    /// Resumes the context in `buf`.
    pub fn grt_gogo(buf: *const Gobuf) -> !;
    /// Entry trampoline of every goroutine.
    pub fn grt_gostart();
}
// `grt_mcall_resume`, the pc of every parked goroutine, is only ever
// jumped to by `grt_gogo` and named by unwinders: Rust never calls it.

/// The address of the next instruction of the (inlined) caller: with
/// `#[inline(always)]` callers this is a pc inside the function that
/// called them, which symbolizes to that function and its line.
#[inline(always)]
pub fn current_pc() -> u64 {
    let pc: u64;
    // SAFETY: lea of rip has no side effects.
    unsafe { core::arch::asm!("lea {}, [rip]", out(reg) pc, options(nomem, nostack, preserves_flags)) };
    pc
}
