//! The heap pass: the mheap record and the spans of allspans.

use super::fields::*;
use super::{trim, Decoder};
use crate::snapshot::*;
use grt_table::header::SectionKind;

impl<'a> Decoder<'a> {
    pub(super) fn heap(&mut self) -> HeapView {
        let Some(r) = self.record(SectionKind::MHeap, 0) else {
            self.corrupt(|| "mheap".into(), "the table has no mheap record");
            return HeapView::default();
        };
        let f = self.fields.heap;
        let sweepgen = r.opt(f.sweepgen).map(|v| v as u32);
        let mut old = Vec::new();
        if let (Some(a), Some(c), Some(g), Some(fr)) = (f.old_allspans, f.old_cap, f.old_gen, f.old_freed) {
            let n = r.opt(f.nold).unwrap_or(a.count as u64).min(a.count as u64) as usize;
            for k in 0..n {
                if let (Some(addr), Some(cap), Some(gen), Some(freed)) =
                    (r.get_at(a, k), r.get_at(c, k), r.get_at(g, k), r.get_at(fr, k))
                {
                    old.push(OldSpans { addr, cap, gen, freed: freed != 0 });
                }
            }
        }
        let mut hv = HeapView {
            arena_start: r.opt(f.arena_start),
            arena_end: r.opt(f.arena_end),
            arena_used: r.opt(f.arena_used),
            pagesize: r.opt(f.pagesize),
            allspans: r.opt(f.allspans),
            nspan: r.opt(f.nspan),
            nspancap: r.opt(f.nspancap),
            allspans_gen: r.opt(f.allspans_gen),
            gcspans: r.opt(f.gcspans),
            sweepgen,
            sweepdone: r.opt(f.sweepdone).map(|v| v != 0),
            nfree: r.opt(f.nfree),
            nstackpool: r.opt(f.nstackpool),
            stacks_inuse: r.opt(f.stacks_inuse),
            mappings: r.opt(f.mappings),
            max_map_count: r.opt(f.max_map_count),
            old_allspans: old,
            spans: Vec::new(),
        };
        hv.spans = self.spans(&hv);
        hv
    }

    pub(super) fn spans(&mut self, h: &HeapView) -> Vec<SpanView> {
        with_sets!(self, set => self.spans_with(set, h))
    }

    #[inline(always)]
    pub(super) fn spans_with<S: PassSets>(&mut self, set: S, h: &HeapView) -> Vec<SpanView> {
        let (Some(addr), Some(mut n)) = (h.allspans, h.nspan) else {
            return Vec::new();
        };
        if addr == 0 || n == 0 {
            return Vec::new();
        }
        if let Some(cap) = h.nspancap {
            if n > cap {
                self.disagree(|| "mheap.allspans".into(), format!("nspan {n} exceeds nspancap {cap}"));
                n = cap;
            }
        }
        let arena_len = self.section_len(SectionKind::Arena);
        if n > arena_len / 8 {
            self.corrupt(|| "mheap.allspans".into(), format!("nspan {n} does not fit the {arena_len}-byte arena"));
            n = arena_len / 8;
        }
        let img = self.img;
        let Some(bytes) = img.bytes_at(SectionKind::Arena, addr, (n * 8) as usize) else {
            self.corrupt(
                || "mheap.allspans".into(),
                format!("the allspans array at {addr:#x} ({n} entries) is not inside the table's arena"),
            );
            return Vec::new();
        };
        let sf = set.span();
        let mut out = std::mem::take(&mut self.bufs.spans);
        out.reserve(n as usize);
        for (pos, ch) in bytes.chunks_exact(8).enumerate() {
            let pos = pos as u64;
            let p = u64::from_ne_bytes(ch.try_into().unwrap_or([0; 8]));
            let record = self.link(SectionKind::Span, Some(p), || format!("allspans[{pos}]"));
            let r = record.index().and_then(|i| self.record(SectionKind::Span, i));
            let get = |f: Option<FieldAt>| r.and_then(|r| r.opt(f));
            let state = get(sf.state);
            if r.is_some() {
                self.check_enum(self.names.spanstate.len(), state, || format!("span {pos}.state"));
            }
            let sg = get(sf.sweepgen).map(|v| v as u32);
            let owner = self.link(SectionKind::G, get(sf.owner), || format!("span {pos}.owner"));
            out.push(SpanView {
                pos,
                record,
                base: get(sf.base).unwrap_or(0),
                npages: get(sf.npages).unwrap_or(0),
                state: state.map(|v| v as u32),
                sweepgen: sg,
                owner,
                guard: get(sf.guard).unwrap_or(0),
            });
        }
        trim(out, self.bufs.reused)
    }
}
