//! Call frame information of one object: `.eh_frame` (found through the
//! `.eh_frame_hdr` binary search table) and `.debug_frame` (found through a
//! sorted index built lazily on first use).

use std::cell::OnceCell;

use gimli::{
    BaseAddresses, CfaRule, DebugFrame, DebugFrameOffset, EhFrame, EhFrameOffset, ParsedEhFrameHdr, Reader,
    RegisterRule, UnwindContext, UnwindSection,
};

use crate::Error;

pub(crate) type R = gimli::EndianSlice<'static, gimli::RunTimeEndian>;

/// Number of DWARF registers the x86-64 unwinder tracks (0..=16, 16 being the
/// return address column).
pub(crate) const NREGS: usize = 17;

/// The unwind rules in effect at one address, copied out of gimli's context.
#[derive(Debug, Clone)]
pub(crate) struct CfiRow {
    pub cfa: CfaRule<usize>,
    pub regs: [Option<RegisterRule<usize>>; NREGS],
    /// The FDE's CIE has the `S` augmentation: this is a signal trampoline and
    /// the caller's pc is exact (not a return address).
    pub signal: bool,
    pub encoding: gimli::Encoding,
    /// The section the expressions in the rules point into.
    pub section: R,
}

/// Sorted FDE index: (start, end, offset of the FDE in its section).
type FdeIndex = Vec<(u64, u64, usize)>;

/// The CFI sections of one object, with link-time addresses.
pub(crate) struct Cfi {
    bases: BaseAddresses,
    eh_frame: Option<EhFrame<R>>,
    hdr: Option<ParsedEhFrameHdr<R>>,
    debug_frame: Option<DebugFrame<R>>,
    eh_index: OnceCell<FdeIndex>,
    df_index: OnceCell<FdeIndex>,
}

/// Section data and link-time address.
pub(crate) struct CfiSections {
    pub eh_frame: Option<(u64, &'static [u8])>,
    pub eh_frame_hdr: Option<(u64, &'static [u8])>,
    pub debug_frame: Option<&'static [u8]>,
    pub text: Option<u64>,
    pub got: Option<u64>,
    pub endian: gimli::RunTimeEndian,
    pub address_size: u8,
}

impl Cfi {
    pub fn new(s: CfiSections) -> Cfi {
        let mut bases = BaseAddresses::default();
        if let Some((a, _)) = s.eh_frame_hdr {
            bases = bases.set_eh_frame_hdr(a);
        }
        if let Some((a, _)) = s.eh_frame {
            bases = bases.set_eh_frame(a);
        }
        if let Some(a) = s.text {
            bases = bases.set_text(a);
        }
        if let Some(a) = s.got {
            bases = bases.set_got(a);
        }
        let eh_frame = s.eh_frame.map(|(_, d)| {
            let mut e = EhFrame::new(d, s.endian);
            e.set_address_size(s.address_size);
            e
        });
        // A header that does not parse or has no table is ignored; lookups
        // then use the lazily built index instead.
        let hdr = match (eh_frame.as_ref(), s.eh_frame_hdr) {
            (Some(_), Some((_, d))) => {
                gimli::EhFrameHdr::new(d, s.endian).parse(&bases, s.address_size).ok().filter(|h| h.table().is_some())
            }
            _ => None,
        };
        let debug_frame = s.debug_frame.map(|d| {
            let mut f = DebugFrame::new(d, s.endian);
            f.set_address_size(s.address_size);
            f
        });
        Cfi { bases, eh_frame, hdr, debug_frame, eh_index: OnceCell::new(), df_index: OnceCell::new() }
    }

    /// True when the object has any CFI at all.
    pub fn is_present(&self) -> bool {
        self.eh_frame.is_some() || self.debug_frame.is_some()
    }

    /// The rules for link-time address `addr`, `Ok(None)` when no FDE covers it.
    pub fn find_row(&self, addr: u64, ctx: &mut UnwindContext<usize>) -> Result<Option<CfiRow>, Error> {
        let mut first_err = None;
        if let Some(eh) = &self.eh_frame {
            match self.eh_fde(eh, addr) {
                Ok(Some(fde)) => match row_of(eh, &self.bases, &fde, ctx, addr) {
                    Ok(Some(row)) => return Ok(Some(row)),
                    Ok(None) => {}
                    Err(e) => first_err = Some(e),
                },
                Ok(None) => {}
                Err(e) => first_err = Some(e),
            }
        }
        if let Some(df) = &self.debug_frame {
            let index = self.df_index.get_or_init(|| build_index(df, &self.bases));
            if let Some(off) = search(index, addr) {
                let fde = df.fde_from_offset(&self.bases, DebugFrameOffset(off), DebugFrame::cie_from_offset);
                match fde {
                    Ok(fde) => match row_of(df, &self.bases, &fde, ctx, addr) {
                        Ok(Some(row)) => return Ok(Some(row)),
                        Ok(None) => {}
                        Err(e) => first_err = first_err.or(Some(e)),
                    },
                    Err(e) => first_err = first_err.or(Some(e.into())),
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    fn eh_fde(&self, eh: &EhFrame<R>, addr: u64) -> Result<Option<gimli::FrameDescriptionEntry<R>>, Error> {
        if let Some((hdr, table)) = self.hdr.as_ref().and_then(|h| Some((h, h.table()?))) {
            // gimli's fde_for_address, with the pointer arithmetic checked:
            // a damaged table may point before .eh_frame (gimli subtracts
            // unchecked and panics on that in debug builds).
            let found = table.lookup(addr, &self.bases).and_then(|p| {
                let off = p
                    .direct()?
                    .checked_sub(hdr.eh_frame_ptr().direct()?)
                    .ok_or(gimli::Error::OffsetOutOfBounds(p.direct()?))?;
                let off = usize::try_from(off).map_err(|_| gimli::Error::OffsetOutOfBounds(off))?;
                eh.fde_from_offset(&self.bases, EhFrameOffset(off), EhFrame::cie_from_offset)
            });
            match found {
                Ok(fde) if fde.contains(addr) => return Ok(Some(fde)),
                Ok(_) | Err(gimli::Error::NoUnwindInfoForAddress) => return Ok(None),
                // A damaged table: fall through to the index.
                Err(_) => {}
            }
        }
        let index = self.eh_index.get_or_init(|| build_index(eh, &self.bases));
        match search(index, addr) {
            Some(off) => eh
                .fde_from_offset(&self.bases, EhFrameOffset(off), EhFrame::cie_from_offset)
                .map(Some)
                .map_err(Error::from),
            None => Ok(None),
        }
    }
}

/// Walks every entry of an unwind section once and records where each FDE is.
/// Entries after a malformed one cannot be found (lengths chain the entries),
/// so the index simply stops there.
fn build_index<S: UnwindSection<R>>(section: &S, bases: &BaseAddresses) -> FdeIndex
where
    S::Offset: gimli::UnwindOffset<usize>,
{
    let mut index = Vec::new();
    let mut entries = section.entries(bases);
    while let Ok(Some(entry)) = entries.next() {
        if let gimli::CieOrFde::Fde(partial) = entry {
            if let Ok(fde) = partial.parse(S::cie_from_offset) {
                let start = fde.initial_address();
                let end = start.saturating_add(fde.len());
                if end > start {
                    index.push((start, end, fde.offset()));
                }
            }
        }
    }
    index.sort_unstable();
    index
}

fn search(index: &FdeIndex, addr: u64) -> Option<usize> {
    let i = index.partition_point(|e| e.0 <= addr);
    let e = index.get(i.checked_sub(1)?)?;
    (addr < e.1).then_some(e.2)
}

fn row_of<S: UnwindSection<R> + gimli::Section<R>>(
    section: &S,
    bases: &BaseAddresses,
    fde: &gimli::FrameDescriptionEntry<R>,
    ctx: &mut UnwindContext<usize>,
    addr: u64,
) -> Result<Option<CfiRow>, Error> {
    if !fde.contains(addr) {
        return Ok(None);
    }
    let row = match fde.unwind_info_for_address(section, bases, ctx, addr) {
        Ok(row) => row,
        Err(gimli::Error::NoUnwindInfoForAddress) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut regs: [Option<RegisterRule<usize>>; NREGS] = Default::default();
    for (reg, rule) in row.registers() {
        if let Some(slot) = regs.get_mut(usize::from(reg.0)) {
            *slot = Some(rule.clone());
        }
    }
    Ok(Some(CfiRow {
        cfa: row.cfa().clone(),
        regs,
        signal: fde.is_signal_trampoline(),
        encoding: fde.cie().encoding(),
        section: section_reader(section),
    }))
}

fn section_reader<S: UnwindSection<R> + gimli::Section<R>>(section: &S) -> R {
    *gimli::Section::reader(section)
}

/// Resolves an unwind expression to its bytes within `section`.
pub(crate) fn expression(section: &R, e: &gimli::UnwindExpression<usize>) -> Result<gimli::Expression<R>, Error> {
    let mut r = *section;
    r.skip(e.offset)?;
    let data = r.split(e.length)?;
    Ok(gimli::Expression(data))
}
