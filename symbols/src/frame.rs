//! Results of symbolizing one address: frames (innermost inline frame first),
//! the covering ELF symbol, and name helpers for Go-style tracebacks.

use std::borrow::Cow;
use std::sync::Arc;

use crate::Error;

/// Where a frame's facts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameSource {
    /// DWARF debug information (function, file, line, inlining).
    Dwarf,
    /// The ELF symbol table (function name only).
    SymbolTable,
}

/// One source-level frame at an address. Several frames share one address when
/// functions were inlined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Demangled function name without the `::h0123…` hash suffix.
    pub function: Option<Arc<str>>,
    /// The name as stored in the object (mangled for Rust and C++).
    pub mangled: Option<Arc<str>>,
    /// Source file path, joined with the compilation directory where DWARF
    /// gives a relative one.
    pub file: Option<Arc<str>>,
    /// One-based source line; `None` when unknown (DWARF line 0).
    pub line: Option<u32>,
    /// One-based column; `None` when unknown.
    pub column: Option<u32>,
    /// True for a frame that was inlined into the next (outer) one.
    pub inlined: bool,
    /// Where the facts came from.
    pub source: FrameSource,
}

/// The ELF symbol covering an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolInfo {
    /// Demangled name without hash suffix.
    pub name: Arc<str>,
    /// The name as stored.
    pub mangled: Arc<str>,
    /// Runtime start address (link address plus load bias).
    pub address: u64,
    /// Size in bytes; 0 when the symbol table gives none.
    pub size: u64,
}

/// What is cached per address inside an object.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub frames: Vec<Frame>,
    pub symbol: Option<SymbolInfo>,
    /// A DWARF error met while resolving; the frames before it are valid.
    pub error: Option<Error>,
}

/// Everything known about one address. Cheap to clone (it shares the cached
/// result).
#[derive(Debug, Clone)]
pub struct Symbolization {
    pub(crate) address: u64,
    pub(crate) object: Arc<str>,
    pub(crate) object_offset: u64,
    pub(crate) resolved: Arc<Resolved>,
}

impl Symbolization {
    /// The runtime address that was looked up.
    pub fn address(&self) -> u64 {
        self.address
    }

    /// Name (path) of the object containing the address.
    pub fn object_name(&self) -> &str {
        &self.object
    }

    /// The address relative to the object's load bias, i.e. the link-time
    /// address that `addr2line -e object` accepts. "object+offset" is the last
    /// resort when nothing else is known.
    pub fn object_offset(&self) -> u64 {
        self.object_offset
    }

    /// Frames, innermost inline frame first; empty when nothing is known.
    pub fn frames(&self) -> &[Frame] {
        &self.resolved.frames
    }

    /// The physical (outermost) frame, if any.
    pub fn outer_frame(&self) -> Option<&Frame> {
        self.resolved.frames.last()
    }

    /// A DWARF error met while resolving the address, if any. The frames are
    /// still valid (possibly a symbol-table fallback).
    pub fn error(&self) -> Option<Error> {
        self.resolved.error
    }

    /// The ELF symbol covering the address.
    pub fn symbol(&self) -> Option<&SymbolInfo> {
        self.resolved.symbol.as_ref()
    }

    /// Offset of the address from the start of its (physical) function, as
    /// in Go's `+0x1a`.
    pub fn function_offset(&self) -> Option<u64> {
        self.symbol().map(|s| self.address.wrapping_sub(s.address))
    }

    /// Iterates over the frames with the crate's fallible-iterator shape.
    pub fn iter(&self) -> FrameIter {
        FrameIter { resolved: Some(self.resolved.clone()), pos: 0 }
    }
}

/// Fallible iterator over the frames at one address, innermost inline frame
/// first. After the frames it yields the DWARF error met while resolving, if
/// there was one, then `Ok(None)` forever.
#[derive(Debug, Clone)]
pub struct FrameIter {
    resolved: Option<Arc<Resolved>>,
    pos: usize,
}

impl FrameIter {
    /// The next frame.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Frame>, Error> {
        let Some(r) = &self.resolved else {
            return Ok(None);
        };
        if let Some(f) = r.frames.get(self.pos) {
            self.pos += 1;
            return Ok(Some(f.clone()));
        }
        let err = r.error;
        self.resolved = None;
        match err {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }
}

/// Demangles a Rust (legacy or v0) symbol name, leaving the hash suffix out.
/// An ELF symbol version suffix (`memcpy@GLIBC_2.14`, `@@`) is dropped.
/// Other names come back unchanged.
pub fn demangle(name: &str) -> Cow<'_, str> {
    let name = match name.find('@') {
        Some(i) if i > 0 => &name[..i],
        _ => name,
    };
    match rustc_demangle::try_demangle(name) {
        Ok(d) => Cow::Owned(format!("{d:#}")),
        Err(_) => Cow::Borrowed(name),
    }
}

/// Removes a trailing legacy Rust hash (`::h` and 16 hex digits) from an
/// already demangled name.
pub fn strip_hash(name: &str) -> &str {
    let b = name.as_bytes();
    if b.len() >= 19 {
        let cut = b.len() - 19;
        let tail = &b[cut..];
        if tail.starts_with(b"::h") && tail[3..].iter().all(u8::is_ascii_hexdigit) {
            // `cut` is followed by ASCII ':' so it is a char boundary.
            return &name[..cut];
        }
    }
    name
}
