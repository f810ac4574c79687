//! Registers of a stopped thread, and SDT probe arguments decoded from
//! them.
//!
//! A probe's note describes its arguments as `<sdt.h>` does: space
//! separated `[-]size@operand`, the operand in AT&T syntax: a register
//! (`8@%rax`, `-4@%edi`), a constant (`4@$42`), or memory
//! (`8@-16(%rbp)`, `8@8(%rsp,%rax,1)` without the index form). A negative
//! size means signed.

/// The general registers of an x86-64 thread (`user_regs_struct`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Regs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub orig_rax: u64,
    pub rip: u64,
    pub cs: u64,
    pub eflags: u64,
    pub rsp: u64,
    pub ss: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    pub ds: u64,
    pub es: u64,
    pub fs: u64,
    pub gs: u64,
}

impl From<libc::user_regs_struct> for Regs {
    fn from(r: libc::user_regs_struct) -> Regs {
        Regs {
            r15: r.r15,
            r14: r.r14,
            r13: r.r13,
            r12: r.r12,
            rbp: r.rbp,
            rbx: r.rbx,
            r11: r.r11,
            r10: r.r10,
            r9: r.r9,
            r8: r.r8,
            rax: r.rax,
            rcx: r.rcx,
            rdx: r.rdx,
            rsi: r.rsi,
            rdi: r.rdi,
            orig_rax: r.orig_rax,
            rip: r.rip,
            cs: r.cs,
            eflags: r.eflags,
            rsp: r.rsp,
            ss: r.ss,
            fs_base: r.fs_base,
            gs_base: r.gs_base,
            ds: r.ds,
            es: r.es,
            fs: r.fs,
            gs: r.gs,
        }
    }
}

/// The 64-bit registers by number in the order of the 16 general ones
/// (rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15), then rip.
const NAMES64: [&str; 17] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip",
];
const NAMES32: [&str; 17] = [
    "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d",
    "r15d", "eip",
];
const NAMES16: [&str; 16] =
    ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"];
const NAMES8: [&str; 16] =
    ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"];

impl Regs {
    /// The program counter.
    pub fn pc(&self) -> u64 {
        self.rip
    }
    /// The stack pointer.
    pub fn sp(&self) -> u64 {
        self.rsp
    }
    /// The frame pointer.
    pub fn fp(&self) -> u64 {
        self.rbp
    }

    fn by_index(&self, i: usize) -> u64 {
        [
            self.rax, self.rcx, self.rdx, self.rbx, self.rsp, self.rbp, self.rsi, self.rdi, self.r8, self.r9, self.r10,
            self.r11, self.r12, self.r13, self.r14, self.r15, self.rip,
        ][i]
    }

    /// A register by its AT&T name without `%` (`rax`, `edi`, `r9d`,
    /// `ax`, `al`, `ah`...), truncated to its width.
    pub fn get(&self, name: &str) -> Option<u64> {
        if let Some(i) = NAMES64.iter().position(|&n| n == name) {
            return Some(self.by_index(i));
        }
        if let Some(i) = NAMES32.iter().position(|&n| n == name) {
            return Some(self.by_index(i) & 0xffff_ffff);
        }
        if let Some(i) = NAMES16.iter().position(|&n| n == name) {
            return Some(self.by_index(i) & 0xffff);
        }
        if let Some(i) = NAMES8.iter().position(|&n| n == name) {
            return Some(self.by_index(i) & 0xff);
        }
        match name {
            "ah" => Some((self.rax >> 8) & 0xff),
            "bh" => Some((self.rbx >> 8) & 0xff),
            "ch" => Some((self.rcx >> 8) & 0xff),
            "dh" => Some((self.rdx >> 8) & 0xff),
            _ => None,
        }
    }
}

/// Where a probe argument is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgLoc {
    /// In a register (AT&T name without `%`).
    Reg(String),
    /// A constant.
    Imm(i64),
    /// In memory at `base + disp`.
    Mem { base: String, disp: i64 },
}

/// One probe argument: its size in bytes, signedness and location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgSpec {
    pub size: u8,
    pub signed: bool,
    pub loc: ArgLoc,
}

fn parse_int(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let v = match s.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16).ok()?,
        None => s.parse().ok()?,
    };
    Some(if neg { -v } else { v })
}

fn parse_one(tok: &str) -> Option<ArgSpec> {
    let (size, op) = match tok.split_once('@') {
        Some((s, op)) => (parse_int(s)?, op),
        // Old notes have no size: the operand alone, 8 bytes.
        None => (8, tok),
    };
    let signed = size < 0;
    let size = size.unsigned_abs();
    if ![1, 2, 4, 8].contains(&size) {
        return None;
    }
    let reg_ok = |r: &str| Regs::default().get(r).is_some();
    let loc = if let Some(r) = op.strip_prefix('%') {
        if !reg_ok(r) {
            return None;
        }
        ArgLoc::Reg(r.to_string())
    } else if let Some(c) = op.strip_prefix('$') {
        ArgLoc::Imm(parse_int(c)?)
    } else if let Some(open) = op.find('(') {
        let disp = if open == 0 { 0 } else { parse_int(&op[..open])? };
        let inner = op[open + 1..].strip_suffix(')')?;
        let base = inner.strip_prefix('%')?;
        if !reg_ok(base) {
            return None;
        }
        ArgLoc::Mem { base: base.to_string(), disp }
    } else {
        return None;
    };
    Some(ArgSpec { size: size as u8, signed, loc })
}

/// Parses a note's argument string; `Err(i)` names the first argument
/// (0-based) that is not understood.
pub fn parse_arg_spec(spec: &str) -> Result<Vec<ArgSpec>, usize> {
    spec.split_whitespace().enumerate().map(|(i, t)| parse_one(t).ok_or(i)).collect()
}

impl ArgSpec {
    /// The argument's value in a thread with registers `regs`; `read`
    /// reads target memory for memory operands. Signed arguments are
    /// sign-extended to 64 bits.
    pub fn value(&self, regs: &Regs, read: impl Fn(u64, &mut [u8]) -> bool) -> Option<u64> {
        let raw = match &self.loc {
            ArgLoc::Reg(r) => regs.get(r)?,
            ArgLoc::Imm(v) => *v as u64,
            ArgLoc::Mem { base, disp } => {
                let a = regs.get(base)?.wrapping_add(*disp as u64);
                let mut b = [0u8; 8];
                if !read(a, &mut b[..self.size as usize]) {
                    return None;
                }
                u64::from_le_bytes(b)
            }
        };
        let bits = self.size as u32 * 8;
        if bits == 64 {
            return Some(raw);
        }
        let v = raw & ((1u64 << bits) - 1);
        if self.signed && v >> (bits - 1) & 1 == 1 {
            Some(v | !((1u64 << bits) - 1))
        } else {
            Some(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: &str, regs: &Regs, want: &[u64]) {
        let args = parse_arg_spec(spec).unwrap();
        let mem = |a: u64, b: &mut [u8]| {
            // Memory reads return the address's low bytes.
            b.copy_from_slice(&a.to_le_bytes()[..b.len()]);
            true
        };
        let got: Vec<u64> = args.iter().map(|a| a.value(regs, mem).unwrap()).collect();
        assert_eq!(got, want, "{spec}");
    }

    #[test]
    fn decodes_registers_constants_and_memory() {
        let r =
            Regs { rax: 0x1122_3344_5566_7788, rdi: 0xffff_ffff_ffff_fffe, r9: 7, rbp: 0x1000, ..Default::default() };
        check("8@%rax 8@%rdi", &r, &[0x1122_3344_5566_7788, 0xffff_ffff_ffff_fffe]);
        check("-4@%edi 4@%edi", &r, &[(-2i64) as u64, 0xffff_fffe]);
        check("8@%r9 1@%al 1@%ah 2@%r9w", &r, &[7, 0x88, 0x77, 7]);
        check("4@$42 -4@$-1", &r, &[42, u64::MAX]);
        check("8@-16(%rbp) 2@(%rbp)", &r, &[0x1000 - 16, 0x1000]);
        check("%rax", &r, &[0x1122_3344_5566_7788]);
        check("", &r, &[]);
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        assert_eq!(parse_arg_spec("8@%rax 8@%xmm0"), Err(1));
        assert_eq!(parse_arg_spec("3@%rax"), Err(0));
        assert_eq!(parse_arg_spec("8@8(%rsp,%rax,1)"), Err(0));
    }
}
