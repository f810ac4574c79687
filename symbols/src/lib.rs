//! ELF symbols, DWARF lines and inlines, CFI unwinding and SDT probe notes.

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
mod unwind;

pub use data::ObjectData;
pub use error::{Error, Result};
pub use frame::{demangle, strip_hash, Frame, FrameIter, FrameSource, SymbolInfo, Symbolization};
pub use memory::{MemoryReader, ProcessMemory, ReadError, RemoteMemory, SelfMemory, SnapshotMemory};
pub use object::{LoadSegment, ObjectSymbols};
pub use probes::Probe;
pub use process::{load_bias, parse_maps, MapsEntry, ProcessSymbols};
pub use unwind::{regs, FrameKind, Registers, StopReason, UnwindOptions, UnwoundFrame, Unwinder};
