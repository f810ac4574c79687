//! The crate's single error type: small, `Copy`, and carrying the offending values.

use core::fmt;

/// Everything that can go wrong in this crate.
///
/// The enum is `Copy` so that it can be cached next to the data it describes
/// (a compilation unit that failed to parse keeps failing the same way without
/// being parsed again) and handed out any number of times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A file or `/proc` entry could not be read (loader only).
    Io {
        /// The OS error number, or 0 when the failure had none.
        errno: i32,
    },
    /// The bytes are not a well-formed ELF file (or a section or segment in it
    /// points outside the file).
    Elf(object::Error),
    /// The ELF file is for a machine this operation does not support.
    UnsupportedMachine {
        /// The ELF `e_machine` value (or the `object` architecture ordinal).
        machine: u16,
    },
    /// DWARF debug information or call frame information is malformed.
    Dwarf(gimli::Error),
    /// An `.note.stapsdt` note is malformed.
    BadProbeNote {
        /// Offset of the note inside the `.note.stapsdt` section.
        offset: u64,
    },
    /// A line of `/proc/<pid>/maps` could not be parsed.
    BadMapsLine {
        /// One-based line number.
        line: u32,
    },
    /// No loaded object contains the address.
    AddressNotMapped {
        /// The address.
        addr: u64,
    },
    /// Reading target memory failed.
    Read {
        /// First address of the failed read.
        addr: u64,
        /// Length of the failed read.
        len: u64,
        /// The OS error number, or 0 for a snapshot that lacks the bytes.
        errno: i32,
    },
    /// A register needed by the unwind rules has no known value.
    RegisterUnavailable {
        /// The pc of the frame being unwound.
        pc: u64,
        /// The DWARF register number.
        register: u16,
    },
    /// The call frame information uses something this unwinder does not implement.
    UnsupportedCfi {
        /// The pc of the frame being unwound.
        pc: u64,
        /// What was not supported.
        what: &'static str,
    },
    /// Neither call frame information nor a frame pointer could unwind this frame.
    NoUnwindInfo {
        /// The pc of the frame being unwound.
        pc: u64,
        /// Its stack pointer.
        sp: u64,
    },
    /// Unwinding produced a stack pointer that did not move up the stack.
    StackNotIncreasing {
        /// The pc of the frame that was unwound.
        pc: u64,
        /// Its stack pointer.
        sp: u64,
        /// The caller's stack pointer the rules produced.
        caller_sp: u64,
    },
    /// The same (pc, sp) pair came back: the walk would loop forever.
    UnwindLoop {
        /// The repeated pc.
        pc: u64,
        /// The repeated sp.
        sp: u64,
    },
    /// The configured depth limit was reached before the stack ended.
    DepthLimit {
        /// The limit.
        limit: usize,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl From<gimli::Error> for Error {
    fn from(e: gimli::Error) -> Self {
        Error::Dwarf(e)
    }
}

impl From<object::Error> for Error {
    fn from(e: object::Error) -> Self {
        Error::Elf(e)
    }
}

impl From<crate::memory::ReadError> for Error {
    fn from(e: crate::memory::ReadError) -> Self {
        Error::Read { addr: e.addr, len: e.len, errno: e.errno }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io { errno: e.raw_os_error().unwrap_or(0) }
    }
}

/// Writes `s` with its first character lowercased (dependency messages are
/// capitalised; ours are not).
fn write_lower_first(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => {
            for l in c.to_lowercase() {
                write!(f, "{l}")?;
            }
            f.write_str(chars.as_str().trim_end_matches('.'))
        }
        None => Ok(()),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Io { errno } => write!(f, "i/o error (os error {errno})"),
            Error::Elf(e) => {
                f.write_str("malformed elf file: ")?;
                write_lower_first(f, &e.to_string())
            }
            Error::UnsupportedMachine { machine } => {
                write!(f, "unsupported machine {machine} for this operation")
            }
            Error::Dwarf(e) => write!(f, "malformed dwarf or cfi: {e:?}"),
            Error::BadProbeNote { offset } => {
                write!(f, "malformed stapsdt note at offset {offset:#x}")
            }
            Error::BadMapsLine { line } => write!(f, "unparsable /proc maps line {line}"),
            Error::AddressNotMapped { addr } => {
                write!(f, "address {addr:#x} is not in any loaded object")
            }
            Error::Read { addr, len, errno } => {
                write!(f, "cannot read {len} bytes at {addr:#x} (os error {errno})")
            }
            Error::RegisterUnavailable { pc, register } => {
                write!(f, "register {register} needed to unwind pc {pc:#x} is unknown")
            }
            Error::UnsupportedCfi { pc, what } => {
                write!(f, "unsupported cfi at pc {pc:#x}: {what}")
            }
            Error::NoUnwindInfo { pc, sp } => {
                write!(f, "no call frame information or frame pointer to unwind pc {pc:#x} sp {sp:#x}")
            }
            Error::StackNotIncreasing { pc, sp, caller_sp } => {
                write!(f, "stack pointer did not increase unwinding pc {pc:#x}: sp {sp:#x}, caller sp {caller_sp:#x}")
            }
            Error::UnwindLoop { pc, sp } => {
                write!(f, "unwind loop: pc {pc:#x} sp {sp:#x} seen twice")
            }
            Error::DepthLimit { limit } => write!(f, "stack deeper than the limit of {limit} frames"),
        }
    }
}

impl std::error::Error for Error {}
