//! Reads this executable's own SDT probe sites from `.note.stapsdt`, so
//! the runtime can repair probes a dead tracer left armed (`signal.rs`).
//!
//! A deliberately small ELF64 reader: the section headers, the section name
//! table, the notes. Every offset is bounds-checked; any inconsistency
//! means "no probe sites", never a crash at start-up.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

fn read_at(f: &mut File, off: u64, len: usize) -> Option<Vec<u8>> {
    if len > (64 << 20) {
        return None;
    }
    let mut v = vec![0; len];
    f.seek(SeekFrom::Start(off)).ok()?;
    f.read_exact(&mut v).ok()?;
    Some(v)
}

/// The run-time addresses of this executable's probe sites, sorted.
pub fn read_own_probe_sites() -> Option<Vec<u64>> {
    let mut f = File::open("/proc/self/exe").ok()?;
    let eh = read_at(&mut f, 0, 64)?;
    if eh.get(..4)? != b"\x7fELF" || eh[4] != 2 || eh[5] != 1 {
        return None;
    }
    let shoff = u64_at(&eh, 0x28)?;
    let shentsize = u16_at(&eh, 0x3a)? as usize;
    let shnum = u16_at(&eh, 0x3c)? as usize;
    let shstrndx = u16_at(&eh, 0x3e)? as usize;
    if shentsize < 64 || shnum == 0 || shstrndx >= shnum {
        return None;
    }
    let sh = read_at(&mut f, shoff, shentsize * shnum)?;
    let sec = |i: usize| -> Option<(u32, u64, u64, u64)> {
        let o = i * shentsize;
        Some((u32_at(&sh, o)?, u64_at(&sh, o + 0x10)?, u64_at(&sh, o + 0x18)?, u64_at(&sh, o + 0x20)?))
    };
    let (_, _, stroff, strsize) = sec(shstrndx)?;
    let names = read_at(&mut f, stroff, strsize as usize)?;
    let name_of = |n: u32| -> &[u8] {
        let s = names.get(n as usize..).unwrap_or(&[]);
        &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())]
    };
    let mut notes = None;
    let mut base_addr = None;
    for i in 0..shnum {
        let (name, addr, off, size) = sec(i)?;
        match name_of(name) {
            b".note.stapsdt" => notes = Some((off, size)),
            b".stapsdt.base" => base_addr = Some(addr),
            _ => {}
        }
    }
    let (noff, nsize) = notes?;
    let base_addr = base_addr?;
    let nb = read_at(&mut f, noff, nsize as usize)?;
    // Load bias of the executable: AT_PHDR minus the link-time address of
    // the program headers (PT_PHDR).
    let bias = load_bias(&eh, &mut f)?;
    // Notes of functions the linker discarded keep section-relative pcs:
    // only pcs inside an executable segment are probe sites.
    let text = exec_segments(&eh, &mut f)?;
    let mut out = Vec::new();
    let mut o = 0usize;
    while o + 12 <= nb.len() {
        let namesz = u32_at(&nb, o)? as usize;
        let descsz = u32_at(&nb, o + 4)? as usize;
        let ty = u32_at(&nb, o + 8)?;
        let name_end = o + 12 + ((namesz + 3) & !3);
        let desc_end = name_end + ((descsz + 3) & !3);
        if desc_end > nb.len() {
            break;
        }
        if ty == 3 && nb.get(o + 12..o + 12 + namesz)? == b"stapsdt\0" && descsz >= 24 {
            let pc = u64_at(&nb, name_end)?;
            let note_base = u64_at(&nb, name_end + 8)?;
            let link_pc = pc.wrapping_add(base_addr.wrapping_sub(note_base));
            if text.iter().any(|&(lo, hi)| link_pc >= lo && link_pc < hi) {
                out.push(link_pc.wrapping_add(bias));
            }
        }
        o = desc_end;
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// Link-time [start, end) of every executable PT_LOAD segment.
fn exec_segments(eh: &[u8], f: &mut File) -> Option<Vec<(u64, u64)>> {
    let phoff = u64_at(eh, 0x20)?;
    let phentsize = u16_at(eh, 0x36)? as usize;
    let phnum = u16_at(eh, 0x38)? as usize;
    let ph = read_at(f, phoff, phentsize * phnum)?;
    let mut v = Vec::new();
    for i in 0..phnum {
        let o = i * phentsize;
        if u32_at(&ph, o)? == libc::PT_LOAD && u32_at(&ph, o + 4)? & libc::PF_X != 0 {
            let vaddr = u64_at(&ph, o + 0x10)?;
            v.push((vaddr, vaddr + u64_at(&ph, o + 0x28)?));
        }
    }
    Some(v)
}

fn load_bias(eh: &[u8], f: &mut File) -> Option<u64> {
    let phoff = u64_at(eh, 0x20)?;
    let phentsize = u16_at(eh, 0x36)? as usize;
    let phnum = u16_at(eh, 0x38)? as usize;
    let ph = read_at(f, phoff, phentsize * phnum)?;
    // SAFETY: getauxval reads the process's auxiliary vector.
    let at_phdr = unsafe { libc::getauxval(libc::AT_PHDR) };
    for i in 0..phnum {
        let o = i * phentsize;
        if u32_at(&ph, o)? == libc::PT_PHDR {
            return Some(at_phdr.wrapping_sub(u64_at(&ph, o + 0x10)?));
        }
    }
    // No PT_PHDR: bias from the first PT_LOAD at file offset 0.
    for i in 0..phnum {
        let o = i * phentsize;
        if u32_at(&ph, o)? == libc::PT_LOAD && u64_at(&ph, o + 8)? == 0 {
            return Some(at_phdr.wrapping_sub(u64_at(&ph, o + 0x10)?.wrapping_add(phoff)));
        }
    }
    None
}
