//! SystemTap SDT probes: parsing `.note.stapsdt` notes as laid out by
//! `<sys/sdt.h>`, with the `.stapsdt.base` prelink adjustment.

use std::sync::Arc;

use crate::{Error, Result};

/// One SDT probe point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Object the probe lives in.
    pub object: Arc<str>,
    /// Provider name (first string of the note).
    pub provider: String,
    /// Probe name.
    pub name: String,
    /// Runtime address of the probe instruction (link-time address,
    /// `.stapsdt.base`-adjusted, plus the load bias).
    pub address: u64,
    /// Runtime address of the semaphore, 0 if the probe has none.
    pub semaphore: u64,
    /// Link-time, `.stapsdt.base`-adjusted probe address.
    pub link_address: u64,
    /// Link-time, adjusted semaphore address, 0 if none.
    pub link_semaphore: u64,
    /// The argument description string, e.g. `-4@%edi 8@%rsi`.
    pub args: String,
}

const NT_STAPSDT: u32 = 3;

fn read_u32(d: &[u8], at: usize, endian: gimli::RunTimeEndian) -> Option<u32> {
    let b: [u8; 4] = d.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(match endian {
        gimli::RunTimeEndian::Little => u32::from_le_bytes(b),
        gimli::RunTimeEndian::Big => u32::from_be_bytes(b),
    })
}

fn read_addr(d: &[u8], at: usize, endian: gimli::RunTimeEndian, is_64: bool) -> Option<u64> {
    if !is_64 {
        return read_u32(d, at, endian).map(u64::from);
    }
    let b: [u8; 8] = d.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(match endian {
        gimli::RunTimeEndian::Little => u64::from_le_bytes(b),
        gimli::RunTimeEndian::Big => u64::from_be_bytes(b),
    })
}

fn align4(x: usize) -> Option<usize> {
    x.checked_add(3).map(|v| v & !3)
}

/// Parses the notes of a `.note.stapsdt` section.
///
/// `base_section` is the link-time address of the object's `.stapsdt.base`
/// section, if present. Per `<sys/sdt.h>`, each note records the address it
/// believed `_.stapsdt.base` had; if the object was prelinked since, the
/// difference is added to the pc and to a non-zero semaphore address.
pub(crate) fn parse_probes(
    data: &[u8],
    endian: gimli::RunTimeEndian,
    is_64: bool,
    base_section: Option<u64>,
    bias: u64,
    object: &Arc<str>,
) -> Result<Vec<Probe>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    let asz = if is_64 { 8 } else { 4 };
    while at < data.len() {
        let bad = Error::BadProbeNote { offset: at as u64 };
        let namesz = read_u32(data, at, endian).ok_or(bad)? as usize;
        let descsz = read_u32(data, at + 4, endian).ok_or(bad)? as usize;
        let ntype = read_u32(data, at + 8, endian).ok_or(bad)?;
        let name_at = at + 12;
        let desc_at = name_at.checked_add(align4(namesz).ok_or(bad)?).ok_or(bad)?;
        let next = desc_at.checked_add(align4(descsz).ok_or(bad)?).ok_or(bad)?;
        let name = data.get(name_at..name_at + namesz).ok_or(bad)?;
        let desc = data.get(desc_at..desc_at.checked_add(descsz).ok_or(bad)?).ok_or(bad)?;
        if ntype == NT_STAPSDT && name.split(|&b| b == 0).next() == Some(b"stapsdt") {
            let pc = read_addr(desc, 0, endian, is_64).ok_or(bad)?;
            let base = read_addr(desc, asz, endian, is_64).ok_or(bad)?;
            let sem = read_addr(desc, 2 * asz, endian, is_64).ok_or(bad)?;
            let mut strings = desc[3 * asz..].split(|&b| b == 0);
            let mut next_str = || strings.next().map(|s| String::from_utf8_lossy(s).into_owned());
            let provider = next_str().ok_or(bad)?;
            let pname = next_str().ok_or(bad)?;
            let args = next_str().unwrap_or_default();
            let delta = match base_section {
                Some(actual) if base != 0 => actual.wrapping_sub(base),
                _ => 0,
            };
            let link_address = pc.wrapping_add(delta);
            let link_semaphore = if sem != 0 { sem.wrapping_add(delta) } else { 0 };
            out.push(Probe {
                object: object.clone(),
                provider,
                name: pname,
                address: link_address.wrapping_add(bias),
                semaphore: if link_semaphore != 0 { link_semaphore.wrapping_add(bias) } else { 0 },
                link_address,
                link_semaphore,
                args,
            });
        }
        at = next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(pc: u64, base: u64, sem: u64, strings: &[&str]) -> Vec<u8> {
        let mut desc = Vec::new();
        for v in [pc, base, sem] {
            desc.extend_from_slice(&v.to_le_bytes());
        }
        for s in strings {
            desc.extend_from_slice(s.as_bytes());
            desc.push(0);
        }
        let mut n = Vec::new();
        n.extend_from_slice(&8u32.to_le_bytes());
        n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        n.extend_from_slice(&3u32.to_le_bytes());
        n.extend_from_slice(b"stapsdt\0");
        n.extend_from_slice(&desc);
        while n.len() % 4 != 0 {
            n.push(0);
        }
        n
    }

    #[test]
    fn prelink_adjustment_moves_pc_and_semaphore() {
        // The note thinks _.stapsdt.base is at 0x1000; the section is now at
        // 0x5000 (moved by 0x4000).
        let mut data = note(0x2000, 0x1000, 0x3000, &["prov", "name", "8@%rax"]);
        data.extend(note(0x2100, 0x1000, 0, &["prov", "nosem", ""]));
        let obj: Arc<str> = "o".into();
        let p = parse_probes(&data, gimli::RunTimeEndian::Little, true, Some(0x5000), 0x10_0000, &obj).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].link_address, 0x6000);
        assert_eq!(p[0].link_semaphore, 0x7000);
        assert_eq!(p[0].address, 0x10_6000);
        assert_eq!(p[0].semaphore, 0x10_7000);
        assert_eq!(p[0].args, "8@%rax");
        assert_eq!(p[1].semaphore, 0);
        assert_eq!(p[1].link_address, 0x6100);
        // Without a .stapsdt.base section nothing is adjusted.
        let p = parse_probes(&data, gimli::RunTimeEndian::Little, true, None, 0, &obj).unwrap();
        assert_eq!(p[0].link_address, 0x2000);
    }

    #[test]
    fn truncated_notes_are_errors() {
        let data = note(0x2000, 0x1000, 0x3000, &["prov", "name", "args"]);
        let obj: Arc<str> = "o".into();
        for cut in 1..data.len() {
            let r = parse_probes(&data[..cut], gimli::RunTimeEndian::Little, true, None, 0, &obj);
            // Either an error or, when only padding was cut, the same probe.
            if let Ok(p) = r {
                assert!(p.len() <= 1);
            }
        }
        let mut bad = data.clone();
        bad[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse_probes(&bad, gimli::RunTimeEndian::Little, true, None, 0, &obj),
            Err(Error::BadProbeNote { offset: 0 })
        ));
    }
}
