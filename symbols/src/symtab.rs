//! ELF symbol table lookup: a sorted vector of code symbols built once, searched
//! by binary search.

use object::{Object, ObjectSection, ObjectSymbol, SectionIndex, SymbolKind, SymbolSection};

/// One code symbol. Addresses are link-time (before the load bias).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sym<'d> {
    pub addr: u64,
    /// 0 when the symbol table gives no size.
    pub size: u64,
    pub name: &'d str,
    /// Sort rank among symbols at the same address: lower wins.
    rank: u8,
}

/// Code symbols from `.symtab` and `.dynsym`, sorted by address, one per address.
///
/// Invariant: `syms` is sorted by `addr` with no two entries at the same address.
#[derive(Debug, Default)]
pub(crate) struct SymbolTable<'d> {
    syms: Vec<Sym<'d>>,
}

/// Symbols of no size are taken to extend to the next symbol, but never
/// further than this.
const MAX_UNSIZED_SPAN: u64 = 1 << 20;

impl<'d> SymbolTable<'d> {
    /// Collects function-like symbols from every symbol table in `files`
    /// (the object itself, then a separate debug file if any). Symbols that do
    /// not parse are skipped: a damaged table gives fewer names, not an error.
    pub fn build(files: &[&object::File<'d>]) -> SymbolTable<'d> {
        let mut syms = Vec::new();
        for (file_rank, file) in files.iter().enumerate() {
            let exec_sections: Vec<SectionIndex> =
                file.sections().filter(|s| s.kind() == object::SectionKind::Text).map(|s| s.index()).collect();
            for (table_rank, iter) in [file.symbols(), file.dynamic_symbols()].into_iter().enumerate() {
                for sym in iter {
                    let SymbolSection::Section(section) = sym.section() else {
                        continue;
                    };
                    let code = match sym.kind() {
                        SymbolKind::Text => true,
                        SymbolKind::Unknown | SymbolKind::Label => exec_sections.contains(&section),
                        _ => false,
                    };
                    if !code || sym.address() == 0 {
                        continue;
                    }
                    let Ok(name) = sym.name() else { continue };
                    if name.is_empty() {
                        continue;
                    }
                    // Prefer: sized, global, from .symtab, from the object itself.
                    let rank = (u8::from(sym.size() == 0) << 3)
                        | (u8::from(!sym.is_global()) << 2)
                        | ((table_rank as u8) << 1)
                        | (file_rank.min(1) as u8);
                    syms.push(Sym { addr: sym.address(), size: sym.size(), name, rank });
                }
            }
        }
        syms.sort_unstable_by_key(|s| (s.addr, s.rank));
        syms.dedup_by_key(|s| s.addr);
        SymbolTable { syms }
    }

    /// The symbol containing link-time address `addr`, if any.
    pub fn lookup(&self, addr: u64) -> Option<Sym<'d>> {
        let idx = self.syms.partition_point(|s| s.addr <= addr);
        let sym = *self.syms.get(idx.checked_sub(1)?)?;
        let end = if sym.size != 0 {
            sym.addr.saturating_add(sym.size)
        } else {
            let next = self.syms.get(idx).map_or(u64::MAX, |n| n.addr);
            next.min(sym.addr.saturating_add(MAX_UNSIZED_SPAN))
        };
        (addr < end).then_some(sym)
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.syms.len()
    }

    /// All symbols, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &Sym<'d>> {
        self.syms.iter()
    }
}
