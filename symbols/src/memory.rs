//! Reading another address space: the [`MemoryReader`] trait and its three
//! implementations (this process, a live remote process, a saved snapshot).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

/// A failed memory read. `Copy`, so it converts into [`crate::Error::Read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadError {
    /// First address of the read.
    pub addr: u64,
    /// Number of bytes asked for.
    pub len: u64,
    /// OS error number; 0 when the reader has no such notion (snapshots).
    pub errno: i32,
}

impl core::fmt::Display for ReadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "cannot read {} bytes at {:#x} (os error {})", self.len, self.addr, self.errno)
    }
}

impl std::error::Error for ReadError {}

/// Something that can copy bytes out of an address space.
///
/// Only [`read`](MemoryReader::read) is required. It must fill the whole buffer
/// or fail; a bad address must give an error, never a crash. The unwinder only
/// ever reads through this trait, so the same walk works on this process, on a
/// stopped remote process and on a snapshot.
pub trait MemoryReader {
    /// Copies `buf.len()` bytes starting at `addr` into `buf`.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError>;

    /// Reads a native-endian `u64`.
    fn read_u64(&self, addr: u64) -> Result<u64, ReadError> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_ne_bytes(b))
    }

    /// Reads a native-endian `u32`.
    fn read_u32(&self, addr: u64) -> Result<u32, ReadError> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_ne_bytes(b))
    }

    /// Reads a native-endian `u16`.
    fn read_u16(&self, addr: u64) -> Result<u16, ReadError> {
        let mut b = [0u8; 2];
        self.read(addr, &mut b)?;
        Ok(u16::from_ne_bytes(b))
    }

    /// Reads one byte.
    fn read_u8(&self, addr: u64) -> Result<u8, ReadError> {
        let mut b = [0u8; 1];
        self.read(addr, &mut b)?;
        Ok(b[0])
    }

    /// Reads `len` bytes into a new vector.
    fn read_vec(&self, addr: u64, len: usize) -> Result<Vec<u8>, ReadError> {
        let mut v = vec![0u8; len];
        self.read(addr, &mut v)?;
        Ok(v)
    }
}

impl<T: MemoryReader + ?Sized> MemoryReader for &T {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        (**self).read(addr, buf)
    }
}

impl<T: MemoryReader + ?Sized> MemoryReader for Box<T> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        (**self).read(addr, buf)
    }
}

/// Memory of a live process (this one or another), read with
/// `process_vm_readv(2)`.
///
/// Reading this process's own memory through the kernel means a wild pointer
/// gives `EFAULT` instead of a segfault. Where the syscall is refused (some
/// sandboxes forbid it) the reader falls back to `pread` on `/proc/<pid>/mem`,
/// which is just as safe.
#[derive(Debug)]
pub struct ProcessMemory {
    pid: i32,
    mem_file: OnceLock<Option<File>>,
}

/// Memory of the calling process; see [`ProcessMemory`].
pub type SelfMemory = ProcessMemory;

/// Memory of another live process; see [`ProcessMemory`].
pub type RemoteMemory = ProcessMemory;

impl ProcessMemory {
    /// A reader for process `pid`. Reading another process needs ptrace
    /// permission over it (same user and a permissive Yama scope, or
    /// `CAP_SYS_PTRACE`).
    pub fn new(pid: i32) -> ProcessMemory {
        ProcessMemory { pid, mem_file: OnceLock::new() }
    }

    /// A reader for the calling process.
    pub fn current() -> ProcessMemory {
        // SAFETY: getpid has no preconditions.
        ProcessMemory::new(unsafe { libc::getpid() })
    }

    /// The pid this reader reads.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    fn read_proc_mem(&self, addr: u64, buf: &mut [u8], errno: i32) -> Result<(), ReadError> {
        let len = buf.len() as u64;
        let err = |errno| ReadError { addr, len, errno };
        let file = self.mem_file.get_or_init(|| File::open(format!("/proc/{}/mem", self.pid)).ok());
        let Some(file) = file else {
            return Err(err(errno));
        };
        // Offsets above i64::MAX are not valid file offsets.
        if addr > i64::MAX as u64 {
            return Err(err(libc::EIO));
        }
        file.read_exact_at(buf, addr).map_err(|e| err(e.raw_os_error().unwrap_or(libc::EIO)))
    }
}

impl MemoryReader for ProcessMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        if buf.is_empty() {
            return Ok(());
        }
        let len = buf.len();
        let local = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: len };
        let remote = libc::iovec { iov_base: addr as usize as *mut libc::c_void, iov_len: len };
        // SAFETY: `local` describes exactly `buf`, which we own mutably; the
        // kernel validates the remote range and reports EFAULT instead of
        // faulting.
        let n = unsafe { libc::process_vm_readv(self.pid, &local, 1, &remote, 1, 0) };
        if n == len as isize {
            return Ok(());
        }
        let errno = if n < 0 {
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
        } else {
            // A partial read means the range crosses into unmapped memory.
            libc::EFAULT
        };
        match errno {
            libc::ENOSYS | libc::EPERM => self.read_proc_mem(addr, buf, errno),
            _ => Err(ReadError { addr, len: len as u64, errno }),
        }
    }
}

/// A saved copy of some memory regions, e.g. the stack of a thread taken at a
/// crash or a parked coroutine's stack.
///
/// Invariant: regions are sorted by start address and do not overlap.
#[derive(Debug, Clone, Default)]
pub struct SnapshotMemory {
    regions: Vec<(u64, Vec<u8>)>,
}

impl SnapshotMemory {
    /// An empty snapshot.
    pub fn new() -> SnapshotMemory {
        SnapshotMemory::default()
    }

    /// Adds the bytes found at `addr`. A region overlapping an existing one
    /// replaces the overlapped bytes' region entirely (the older region is
    /// dropped), keeping the regions disjoint.
    pub fn add_region(&mut self, addr: u64, bytes: Vec<u8>) {
        let end = addr.saturating_add(bytes.len() as u64);
        // Sorted and disjoint, so region ends are sorted too: the regions
        // this one overlaps are the contiguous run [first, last).
        let first = self.regions.partition_point(|(a, b)| a.saturating_add(b.len() as u64) <= addr);
        let last = first + self.regions[first..].partition_point(|(a, _)| *a < end);
        self.regions.splice(first..last, std::iter::once((addr, bytes)));
    }

    /// Copies `len` bytes at `addr` from `source` into the snapshot.
    pub fn capture<M: MemoryReader + ?Sized>(&mut self, source: &M, addr: u64, len: usize) -> Result<(), ReadError> {
        let bytes = source.read_vec(addr, len)?;
        self.add_region(addr, bytes);
        Ok(())
    }

    /// The regions, sorted by address.
    pub fn regions(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.regions.iter().map(|(a, b)| (*a, b.as_slice()))
    }
}

impl MemoryReader for SnapshotMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let err = ReadError { addr, len: buf.len() as u64, errno: 0 };
        let idx = self.regions.partition_point(|(a, _)| *a <= addr);
        if idx == 0 {
            return Err(err);
        }
        let (start, bytes) = &self.regions[idx - 1];
        let off = (addr - start) as usize;
        match off.checked_add(buf.len()).and_then(|end| bytes.get(off..end)) {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(m: &SnapshotMemory) -> Vec<(u64, usize)> {
        m.regions().map(|(a, b)| (a, b.len())).collect()
    }

    #[test]
    fn regions_stay_sorted_and_disjoint() {
        let mut m = SnapshotMemory::new();
        m.add_region(300, vec![3; 100]);
        m.add_region(100, vec![1; 100]);
        m.add_region(500, vec![5; 10]);
        assert_eq!(starts(&m), [(100, 100), (300, 100), (500, 10)]);
        // Touching is not overlapping.
        m.add_region(200, vec![2; 100]);
        assert_eq!(starts(&m), [(100, 100), (200, 100), (300, 100), (500, 10)]);
        // A region over [150, 350) replaces the three it touches inside.
        m.add_region(150, vec![9; 200]);
        assert_eq!(starts(&m), [(150, 200), (500, 10)]);
        let mut b = [0u8; 4];
        m.read(348, &mut b[..2]).unwrap();
        assert_eq!(&b[..2], &[9, 9]);
        assert!(m.read(100, &mut b).is_err(), "the old bytes are gone");
        assert!(m.read(349, &mut b).is_err(), "a read past a region's end fails");
        // An empty region inside another removes it, as any overlap does.
        m.add_region(505, Vec::new());
        assert_eq!(starts(&m), [(150, 200), (505, 0)]);
    }
}
