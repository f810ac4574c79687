//! The x86-64 stack unwinder: CFI first, the sigreturn trampoline, then frame
//! pointers, over any [`MemoryReader`].

use gimli::{CfaRule, RegisterRule, UnwindContext};

use crate::cfi::{expression, CfiRow, NREGS};
use crate::{Error, MemoryReader, ProcessSymbols, Result};

/// x86-64 DWARF register numbers.
pub mod regs {
    /// `rax`
    pub const RAX: u16 = 0;
    /// `rdx`
    pub const RDX: u16 = 1;
    /// `rcx`
    pub const RCX: u16 = 2;
    /// `rbx`
    pub const RBX: u16 = 3;
    /// `rsi`
    pub const RSI: u16 = 4;
    /// `rdi`
    pub const RDI: u16 = 5;
    /// `rbp`
    pub const RBP: u16 = 6;
    /// `rsp`
    pub const RSP: u16 = 7;
    /// `r8`; `r9`..`r15` follow as 9..15.
    pub const R8: u16 = 8;
    /// `r12`
    pub const R12: u16 = 12;
    /// `r13`
    pub const R13: u16 = 13;
    /// `r14`
    pub const R14: u16 = 14;
    /// `r15`
    pub const R15: u16 = 15;
    /// The return address column, i.e. `rip`.
    pub const RIP: u16 = 16;
}
use regs::*;

/// A register file for unwinding: the 17 x86-64 DWARF registers (`rax`..`r15`
/// and `rip`), each either known or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registers {
    vals: [u64; NREGS],
    valid: u32,
    pc_is_return_address: bool,
}

impl Default for Registers {
    fn default() -> Self {
        Registers { vals: [0; NREGS], valid: 0, pc_is_return_address: false }
    }
}

impl Registers {
    /// A thread's registers: `rip`, `rsp` and `rbp`. Add others with
    /// [`set`](Self::set) if known.
    pub fn new(pc: u64, sp: u64, bp: u64) -> Registers {
        let mut r = Registers::default();
        r.set(RIP, pc);
        r.set(RSP, sp);
        r.set(RBP, bp);
        r
    }

    /// A parked coroutine's saved context. The pc is taken to be exact (the
    /// resume point of the context-switch routine), not a return address.
    pub fn from_parked(sp: u64, pc: u64, bp: u64) -> Registers {
        Registers::new(pc, sp, bp)
    }

    /// Declares that the pc is a return address (the instruction after a
    /// call) rather than the exact next instruction: symbolization and CFI
    /// look-up then use `pc - 1`.
    pub fn with_pc_is_return_address(mut self, yes: bool) -> Registers {
        self.pc_is_return_address = yes;
        self
    }

    /// The value of DWARF register `reg`, if known.
    pub fn get(&self, reg: u16) -> Option<u64> {
        let i = usize::from(reg);
        (i < NREGS && self.valid & (1 << i) != 0).then(|| self.vals[i])
    }

    /// Sets DWARF register `reg` (ignored beyond `rip`).
    pub fn set(&mut self, reg: u16, value: u64) {
        let i = usize::from(reg);
        if i < NREGS {
            self.vals[i] = value;
            self.valid |= 1 << i;
        }
    }

    /// Forgets DWARF register `reg`.
    pub fn clear(&mut self, reg: u16) {
        let i = usize::from(reg);
        if i < NREGS {
            self.valid &= !(1 << i);
        }
    }

    /// `rip` (0 if unknown).
    pub fn pc(&self) -> u64 {
        self.get(RIP).unwrap_or(0)
    }

    /// `rsp` (0 if unknown).
    pub fn sp(&self) -> u64 {
        self.get(RSP).unwrap_or(0)
    }

    /// `rbp`, if known.
    pub fn bp(&self) -> Option<u64> {
        self.get(RBP)
    }
}

/// Captures the current function's `rip`, `rsp`, `rbp`, `rbx` and `r12`..`r15`
/// into a [`Registers`]. Expand it in the function whose stack is to be
/// walked and unwind before that function returns.
#[cfg(target_arch = "x86_64")]
#[macro_export]
macro_rules! capture_registers {
    () => {{
        let (pc, sp, bp, bx, r12, r13, r14, r15): (u64, u64, u64, u64, u64, u64, u64, u64);
        // SAFETY: only copies registers into outputs; touches no memory.
        unsafe {
            ::core::arch::asm!(
                "lea {pc}, [rip]",
                "mov {sp}, rsp",
                "mov {bp}, rbp",
                "mov {bx}, rbx",
                "mov {r12}, r12",
                "mov {r13}, r13",
                "mov {r14}, r14",
                "mov {r15}, r15",
                pc = out(reg) pc,
                sp = out(reg) sp,
                bp = out(reg) bp,
                bx = out(reg) bx,
                r12 = out(reg) r12,
                r13 = out(reg) r13,
                r14 = out(reg) r14,
                r15 = out(reg) r15,
                options(nomem, nostack, preserves_flags),
            );
        }
        let mut regs = $crate::Registers::new(pc, sp, bp);
        regs.set($crate::regs::RBX, bx);
        regs.set($crate::regs::R12, r12);
        regs.set($crate::regs::R13, r13);
        regs.set($crate::regs::R14, r14);
        regs.set($crate::regs::R15, r15);
        regs
    }};
}

/// How a frame's registers were recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameKind {
    /// The registers the walk started from.
    Initial,
    /// Call frame information (`.eh_frame` or `.debug_frame`).
    Cfi,
    /// The `rbp` chain.
    FramePointer,
    /// The registers saved by the kernel in a signal frame: the pc is the
    /// interrupted instruction, not a return address.
    Signal,
}

/// Why a walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The CFI marks the return address undefined: the outermost frame of a
    /// thread (`_start`, `clone3`) or a coroutine entry trampoline.
    ReturnAddressUndefined,
    /// The return address was 0.
    ReturnAddressZero,
    /// The frame-pointer chain ended with a null `rbp`.
    FramePointerZero,
    /// The walk failed; the error was returned by `next`.
    Error(Error),
}

/// One frame of a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnwoundFrame {
    /// The frame's pc: the exact pc for the first frame and a frame
    /// interrupted by a signal, the return address otherwise.
    pub pc: u64,
    /// The frame's stack pointer.
    pub sp: u64,
    /// The frame's canonical frame address (the caller's `rsp`), when it was
    /// computed (it is, unless unwinding from this frame failed or ended).
    pub cfa: Option<u64>,
    /// How this frame's registers were recovered.
    pub kind: FrameKind,
    /// True when `pc` is a return address (see [`lookup_pc`](Self::lookup_pc)).
    pub pc_is_return_address: bool,
    /// True when this frame is the signal return trampoline (`__restore_rt`)
    /// the kernel made the handler return to; the next frame is the
    /// interrupted one (kind [`FrameKind::Signal`]). Go prints such a frame as
    /// a signal boundary.
    pub is_signal_trampoline: bool,
    /// All registers known in this frame.
    pub regs: Registers,
}

impl UnwoundFrame {
    /// The address to symbolize: `pc - 1` for a return address (it may
    /// point past the end of the calling function), `pc` otherwise.
    pub fn lookup_pc(&self) -> u64 {
        if self.pc_is_return_address {
            self.pc.wrapping_sub(1)
        } else {
            self.pc
        }
    }
}

/// Unwinder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnwindOptions {
    /// Most frames to report before failing with [`Error::DepthLimit`].
    pub max_depth: usize,
    /// Follow the `rbp` chain where there is no CFI.
    pub frame_pointers: bool,
}

impl Default for UnwindOptions {
    fn default() -> Self {
        UnwindOptions { max_depth: 1024, frame_pointers: true }
    }
}

impl UnwindOptions {
    /// Sets [`max_depth`](Self::max_depth).
    pub fn max_depth(mut self, n: usize) -> Self {
        self.max_depth = n;
        self
    }

    /// Sets [`frame_pointers`](Self::frame_pointers).
    pub fn frame_pointers(mut self, on: bool) -> Self {
        self.frame_pointers = on;
        self
    }
}

enum State {
    Next(Registers, FrameKind),
    Failed(Error),
    Done,
}

enum Step {
    Caller(Registers, FrameKind, u64),
    End(StopReason, Option<u64>),
}

/// A stack walk in progress; see [`ProcessSymbols::unwind`].
///
/// Rules: CFI (`.eh_frame` via `.eh_frame_hdr`, then `.debug_frame`) is used
/// where it covers the pc; a pc at the `rt_sigreturn` trampoline with no CFI
/// restores the kernel's saved `ucontext`; elsewhere the `rbp` chain is
/// followed. A return address the CFI marks undefined, a zero return address
/// or a null frame pointer end the walk cleanly. The stack pointer must
/// strictly increase from frame to frame except across a signal frame (which
/// may switch stacks), and a signal frame's (pc, sp) must not repeat.
pub struct Unwinder<'a, M: MemoryReader + ?Sized> {
    syms: &'a ProcessSymbols,
    mem: &'a M,
    opts: UnwindOptions,
    ctx: Box<UnwindContext<usize>>,
    state: State,
    depth: usize,
    signal_frames: Vec<(u64, u64)>,
    stop: Option<StopReason>,
}

/// The x86-64 `rt_sigreturn` trampoline (glibc and musl `__restore_rt`):
/// `mov $15, %rax; syscall`.
const SIGRETURN_CODE: [u8; 9] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];
/// Offset of `uc_mcontext.gregs` in the x86-64 `ucontext_t`.
const UC_GREGS: u64 = 40;
/// DWARF register for each of the first 17 `gregs` (glibc `REG_R8`..`REG_RIP`).
const GREG_TO_DWARF: [u16; 17] = [8, 9, 10, 11, 12, 13, 14, 15, 5, 4, 6, 3, 1, 0, 2, 7, 16];

fn is_callee_saved(reg: u16) -> bool {
    matches!(reg, RBX | RBP | 12..=15)
}

impl<'a, M: MemoryReader + ?Sized> Unwinder<'a, M> {
    pub(crate) fn new(syms: &'a ProcessSymbols, regs: Registers, mem: &'a M, opts: UnwindOptions) -> Self {
        Unwinder {
            syms,
            mem,
            opts,
            ctx: Box::new(UnwindContext::new()),
            state: State::Next(regs, FrameKind::Initial),
            depth: 0,
            signal_frames: Vec::new(),
            stop: None,
        }
    }

    /// Why the walk ended, once it has.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.stop
    }

    /// Frames reported so far.
    pub fn depth(&self) -> usize {
        self.depth
    }

    fn fail(&mut self, e: Error) -> Result<Option<UnwoundFrame>> {
        self.state = State::Done;
        self.stop = Some(StopReason::Error(e));
        Err(e)
    }

    /// The next frame, innermost first; `Ok(None)` after a clean end. After an
    /// error, every later call returns `Ok(None)`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<UnwoundFrame>> {
        let (regs, kind) = match std::mem::replace(&mut self.state, State::Done) {
            State::Next(r, k) => (r, k),
            State::Failed(e) => return self.fail(e),
            State::Done => return Ok(None),
        };
        if self.depth >= self.opts.max_depth {
            return self.fail(Error::DepthLimit { limit: self.opts.max_depth });
        }
        self.depth += 1;
        let pc_is_return_address = match kind {
            FrameKind::Initial => regs.pc_is_return_address,
            FrameKind::Signal => false,
            FrameKind::Cfi | FrameKind::FramePointer => true,
        };
        let mut frame = UnwoundFrame {
            pc: regs.pc(),
            sp: regs.sp(),
            cfa: None,
            kind,
            pc_is_return_address,
            is_signal_trampoline: false,
            regs,
        };
        match self.step(&regs, frame.lookup_pc()) {
            Ok(Step::Caller(caller, ckind, cfa)) => {
                frame.cfa = Some(cfa);
                if ckind == FrameKind::Signal {
                    // The kernel "called" the handler with the trampoline's
                    // first instruction as return address: that pc is exact.
                    frame.is_signal_trampoline = true;
                    frame.pc_is_return_address = false;
                }
                self.state = self.check(&frame, caller, ckind);
            }
            Ok(Step::End(reason, cfa)) => {
                frame.cfa = cfa;
                self.stop = Some(reason);
            }
            Err(e) => self.state = State::Failed(e),
        }
        Ok(Some(frame))
    }

    fn check(&mut self, frame: &UnwoundFrame, caller: Registers, kind: FrameKind) -> State {
        let (pc, sp) = (caller.pc(), caller.sp());
        if kind == FrameKind::Signal {
            if self.signal_frames.contains(&(pc, sp)) {
                return State::Failed(Error::UnwindLoop { pc, sp });
            }
            self.signal_frames.push((pc, sp));
        } else if sp <= frame.sp {
            return State::Failed(Error::StackNotIncreasing { pc: frame.pc, sp: frame.sp, caller_sp: sp });
        }
        State::Next(caller, kind)
    }

    fn step(&mut self, regs: &Registers, lookup_pc: u64) -> Result<Step> {
        let pc = regs.pc();
        let sp = regs.sp();
        let mut cfi_err = None;
        if let Some(obj) = self.syms.object_for_address(lookup_pc) {
            match obj.cfi_row(lookup_pc, &mut self.ctx) {
                Ok(Some(row)) => return self.cfi_step(regs, &row, obj.bias()),
                Ok(None) => {}
                Err(e) => cfi_err = Some(e),
            }
        }
        let mut code = [0u8; 9];
        if self.mem.read(pc, &mut code).is_ok() && code == SIGRETURN_CODE {
            return self.sigreturn_step(sp);
        }
        if self.opts.frame_pointers {
            if let Some(bp) = regs.bp() {
                if bp == 0 {
                    return Ok(Step::End(StopReason::FramePointerZero, None));
                }
                if bp >= sp && bp % 8 == 0 {
                    let mut caller = Registers::default();
                    let ra = self.mem.read_u64(bp.wrapping_add(8))?;
                    let saved_bp = self.mem.read_u64(bp)?;
                    let cfa = bp.wrapping_add(16);
                    if ra == 0 {
                        return Ok(Step::End(StopReason::ReturnAddressZero, Some(cfa)));
                    }
                    caller.set(RIP, ra);
                    caller.set(RSP, cfa);
                    caller.set(RBP, saved_bp);
                    for r in [RBX, R12, R13, R14, R15] {
                        if let Some(v) = regs.get(r) {
                            caller.set(r, v);
                        }
                    }
                    return Ok(Step::Caller(caller, FrameKind::FramePointer, cfa));
                }
            }
        }
        Err(cfi_err.unwrap_or(Error::NoUnwindInfo { pc, sp }))
    }

    fn sigreturn_step(&mut self, sp: u64) -> Result<Step> {
        let mut raw = [0u8; 8 * 17];
        self.mem.read(sp.wrapping_add(UC_GREGS), &mut raw)?;
        let mut caller = Registers::default();
        for (i, chunk) in raw.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            caller.set(GREG_TO_DWARF[i], u64::from_ne_bytes(b));
        }
        Ok(Step::Caller(caller, FrameKind::Signal, sp))
    }

    fn cfi_step(&mut self, regs: &Registers, row: &CfiRow, bias: u64) -> Result<Step> {
        let pc = regs.pc();
        let need = |r: u16| regs.get(r).ok_or(Error::RegisterUnavailable { pc, register: r });
        let cfa = match &row.cfa {
            CfaRule::RegisterAndOffset { register, offset } => need(register.0)?.wrapping_add(*offset as u64),
            CfaRule::Expression(e) => self.eval(row, e, regs, None, bias)?,
        };
        let mut caller = Registers::default();
        for i in 0..NREGS as u16 {
            let value = match &row.regs[usize::from(i)] {
                None if i == RSP => Some(cfa),
                None if is_callee_saved(i) => regs.get(i),
                None if i == RIP => return Err(Error::UnsupportedCfi { pc, what: "no rule for the return address" }),
                None => None,
                Some(RegisterRule::Undefined) => None,
                Some(RegisterRule::SameValue) => regs.get(i),
                Some(RegisterRule::Offset(n)) => Some(self.mem.read_u64(cfa.wrapping_add(*n as u64))?),
                Some(RegisterRule::ValOffset(n)) => Some(cfa.wrapping_add(*n as u64)),
                Some(RegisterRule::Register(r)) => regs.get(r.0),
                Some(RegisterRule::Expression(e)) => {
                    let at = self.eval(row, e, regs, Some(cfa), bias)?;
                    Some(self.mem.read_u64(at)?)
                }
                Some(RegisterRule::ValExpression(e)) => Some(self.eval(row, e, regs, Some(cfa), bias)?),
                Some(RegisterRule::Constant(c)) => Some(*c),
                Some(_) => None,
            };
            if let Some(v) = value {
                caller.set(i, v);
            }
        }
        let Some(ra) = caller.get(RIP) else {
            return Ok(Step::End(StopReason::ReturnAddressUndefined, Some(cfa)));
        };
        if ra == 0 {
            return Ok(Step::End(StopReason::ReturnAddressZero, Some(cfa)));
        }
        let kind = if row.signal { FrameKind::Signal } else { FrameKind::Cfi };
        Ok(Step::Caller(caller, kind, cfa))
    }

    /// Evaluates a DWARF expression from a CFI rule. For register rules the
    /// CFA is pushed first, as the DWARF standard requires.
    fn eval(
        &self,
        row: &CfiRow,
        e: &gimli::UnwindExpression<usize>,
        regs: &Registers,
        cfa: Option<u64>,
        bias: u64,
    ) -> Result<u64> {
        use gimli::EvaluationResult as E;
        let pc = regs.pc();
        let unsupported = |what| Error::UnsupportedCfi { pc, what };
        let expr = expression(&row.section, e)?;
        let mut ev = expr.evaluation(row.encoding);
        ev.set_max_iterations(10_000);
        if let Some(c) = cfa {
            ev.set_initial_value(c);
        }
        let mut res = ev.evaluate()?;
        loop {
            res = match res {
                E::Complete => break,
                E::RequiresMemory { address, size, .. } => {
                    let size = usize::from(size).min(8);
                    let mut b = [0u8; 8];
                    self.mem.read(address, &mut b[..size])?;
                    ev.resume_with_memory(gimli::Value::Generic(u64::from_le_bytes(b)))?
                }
                E::RequiresRegister { register, .. } => {
                    let v = regs.get(register.0).ok_or(Error::RegisterUnavailable { pc, register: register.0 })?;
                    ev.resume_with_register(gimli::Value::Generic(v))?
                }
                E::RequiresRelocatedAddress(a) => ev.resume_with_relocated_address(a.wrapping_add(bias))?,
                E::RequiresCallFrameCfa => match cfa {
                    Some(c) => ev.resume_with_call_frame_cfa(c)?,
                    None => return Err(unsupported("DW_OP_call_frame_cfa in a cfa rule")),
                },
                _ => return Err(unsupported("dwarf expression operation")),
            };
        }
        if let Some(v) = ev.value_result() {
            return Ok(v.to_u64(u64::MAX)?);
        }
        match ev.as_result().first().map(|p| &p.location) {
            Some(gimli::Location::Address { address }) => Ok(*address),
            Some(gimli::Location::Value { value }) => Ok(value.to_u64(u64::MAX)?),
            _ => Err(unsupported("dwarf expression result is not an address")),
        }
    }
}
