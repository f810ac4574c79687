//! ELF symbols, DWARF lines and inlines, CFI unwinding and SDT probe notes.
//!
//! `grt-symbols` turns addresses of a Linux x86-64 process (this one, a
//! stopped remote one, or a saved snapshot) into function names, source
//! locations and inline chains, walks stacks with call frame information,
//! and lists SystemTap SDT probes. The grt inspector, TUI and in-process dump
//! build on it.
//!
//! # Design
//!
//! **An expensive context, built once and reused.** [`ObjectSymbols`] is one
//! ELF object (executable, shared library, vdso) at a load bias.
//! Construction only parses the ELF headers. Everything else is parsed on
//! first need and cached for the object's lifetime, errors included (a
//! damaged unit fails the same way every time without being parsed again):
//!
//! - the symbol table: code symbols of `.symtab` and `.dynsym` (and of a
//!   separate debug file) in one vector sorted by address, one entry per
//!   address, searched by binary search;
//! - the DWARF context, built with the `addr2line` crate: its unit index is
//!   read on the first look-up; each compilation unit's line program,
//!   functions and inlined functions are parsed when an address first falls
//!   in it;
//! - the CFI: `.eh_frame` is searched through the `.eh_frame_hdr` binary
//!   search table; `.debug_frame` (and `.eh_frame` without a usable header)
//!   through a sorted FDE index built on first use;
//! - per-address results: a bounded map from address to the finished frames
//!   (see [`ObjectSymbols::set_cache_capacity`]), so a repeated look-up does
//!   no parsing and no demangling; demangled names and file paths are shared
//!   (`Arc<str>`) and cached by their position in the object.
//!
//! [`ProcessSymbols`] is an address space: objects plus the sorted,
//! non-overlapping address ranges each occupies. It routes look-ups to the
//! right object and drives the unwinder.
//!
//! **No file I/O in the core.** Objects are built from bytes
//! ([`ObjectData`]: shared heap bytes or a file mapping). All file and
//! `/proc` reading lives in [`loader`]: mapping files, finding separate debug
//! files by build-id, and [`ProcessSymbols::load`], which reads
//! `/proc/<pid>/maps`, groups mappings by file, computes each object's load
//! bias from an *executable* mapping and the `PT_LOAD` segment starting at
//! its file page ([`load_bias`]), and adds the vdso from memory.
//!
//! **Symbolizing** ([`ObjectSymbols::symbolize`], [`ProcessSymbols::symbolize`])
//! returns a [`Symbolization`]: frames innermost inline frame first (DWARF),
//! else one frame from the symbol table, else no frames and the object name
//! plus offset; the covering ELF symbol gives the offset of the pc from its
//! function's start. Names are demangled (Rust legacy and v0) without the
//! `::h0123…` hash. [`FrameIter`] offers the same as a fallible iterator
//! (`next() -> Result<Option<Frame>>`), ending with the DWARF error, if one
//! cut the chain short. Look-ups never panic and never fail outright: what
//! is unknown is absent.
//!
//! **Unwinding** ([`ProcessSymbols::unwind`]) starts from [`Registers`]
//! (a thread's `rip`/`rsp`/`rbp` and any others known, captured in-process
//! with [`capture_registers!`], or a parked coroutine's saved `(sp, pc, bp)`)
//! and reads memory only through a [`MemoryReader`]. [`Unwinder::next`]
//! yields frames innermost first with their pc, sp, CFA and how they were
//! recovered ([`FrameKind`]). The rules, in order:
//!
//! 1. CFI covering the pc (`pc - 1` for return addresses) gives the CFA and
//!    the caller's registers; DWARF expressions (PLT entries, glibc's signal
//!    trampoline) are evaluated. A CIE with the `S` augmentation marks a
//!    signal trampoline: the caller is the interrupted frame, whose pc is
//!    exact.
//! 2. Without CFI, a pc at the `rt_sigreturn` trampoline (`mov $15, %rax;
//!    syscall`, glibc's and musl's `__restore_rt`) restores the registers the
//!    kernel saved in the `ucontext` at the stack pointer, as libgcc does.
//! 3. Otherwise, if enabled, the `rbp` chain.
//! 4. The walk ends cleanly ([`StopReason`]) when the CFI marks the return
//!    address undefined (`_start`, `clone3`, and grt's goroutine entry
//!    trampolines, marked `.cfi_undefined rip`), when the return address is
//!    0, or when a frame-pointer chain reaches a null `rbp`.
//! 5. It fails with an error, after yielding every good frame, when the
//!    stack pointer does not strictly increase (except across a signal
//!    frame, which may switch stacks; a repeated signal frame `(pc, sp)` is a
//!    loop), when the depth limit ([`UnwindOptions`], default 1024) is
//!    reached, or when memory cannot be read.
//!
//! **Reading memory.** [`MemoryReader`] has one required method,
//! `read(addr, buf)`, and helpers (`read_u64`, …). Implementations: this or
//! another live process ([`ProcessMemory`], through `process_vm_readv(2)`,
//! falling back to `/proc/<pid>/mem`, so a bad pointer is an error, never a
//! crash) and a saved [`SnapshotMemory`]. The unwinder is the same for all.
//!
//! **Probes.** [`ObjectSymbols::probes`] parses `.note.stapsdt` as
//! `<sys/sdt.h>` lays it out, adjusting the pc and a non-zero semaphore by
//! the difference between the `.stapsdt.base` section's address and the one
//! the note recorded, then adding the load bias.
//!
//! # Invariants
//!
//! - Addresses passed to and returned by look-ups are runtime addresses
//!   (link-time + bias); [`Symbolization::object_offset`] and the `link_*`
//!   fields of [`Probe`] are link-time.
//! - [`ObjectSymbols`] borrows from its bytes internally; the bytes never
//!   move or change while it lives. It is `Send` but not `Sync` (its caches
//!   use interior mutability): share it behind a `Mutex`.
//! - Malformed input (truncated ELF, corrupt DWARF, garbage CFI, bad notes,
//!   wild registers) yields an [`Error`] or missing information, never a
//!   panic. [`Error`] is one small `Copy` enum whose messages are lowercase
//!   and carry the offending values.
//! - Unwinding is x86-64 only; symbolization and probes read any ELF.
//! - Compressed debug sections (`SHF_COMPRESSED`, zlib or zstd) are
//!   decompressed once, on first use; unusable compressed data counts as an
//!   absent section.

#![warn(missing_docs)]

mod cfi;
mod data;
mod error;
mod frame;
pub mod loader;
mod memory;
mod object;
mod probes;
mod process;
mod symtab;
pub mod traceback;
mod unwind;

pub use data::ObjectData;
pub use error::{Error, Result};
pub use frame::{demangle, strip_hash, Frame, FrameIter, FrameSource, SymbolInfo, Symbolization};
pub use memory::{MemoryReader, ProcessMemory, ReadError, RemoteMemory, SelfMemory, SnapshotMemory};
pub use object::{LoadSegment, ObjectSymbols};
pub use probes::Probe;
pub use process::{load_bias, parse_maps, MapsEntry, ProcessSymbols};
pub use unwind::{regs, FrameKind, Registers, StopReason, UnwindOptions, Unwinder, UnwoundFrame};
