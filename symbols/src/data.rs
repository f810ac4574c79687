//! Owned bytes of an object file: either shared heap memory or a file mapping.

use std::sync::Arc;

/// The bytes of an ELF file.
///
/// Invariant relied on by [`crate::ObjectSymbols`]: the address of the bytes
/// never changes while the value lives, even when the value itself is moved
/// (both variants own an out-of-line buffer), and the bytes are never written.
#[derive(Debug, Clone)]
pub enum ObjectData {
    /// Bytes in shared heap memory.
    Shared(Arc<[u8]>),
    /// A read-only file mapping.
    Mapped(Arc<memmap2::Mmap>),
}

impl ObjectData {
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            ObjectData::Shared(b) => b,
            ObjectData::Mapped(m) => m,
        }
    }
}

impl From<Arc<[u8]>> for ObjectData {
    fn from(b: Arc<[u8]>) -> Self {
        ObjectData::Shared(b)
    }
}

impl From<Vec<u8>> for ObjectData {
    fn from(b: Vec<u8>) -> Self {
        ObjectData::Shared(b.into())
    }
}

impl From<&[u8]> for ObjectData {
    fn from(b: &[u8]) -> Self {
        ObjectData::Shared(b.into())
    }
}

impl From<memmap2::Mmap> for ObjectData {
    fn from(m: memmap2::Mmap) -> Self {
        ObjectData::Mapped(Arc::new(m))
    }
}

impl From<Arc<memmap2::Mmap>> for ObjectData {
    fn from(m: Arc<memmap2::Mmap>) -> Self {
        ObjectData::Mapped(m)
    }
}
