//! Inspector test target: a process that is *not* a grt program but has a
//! memfd named `grt-status` holding whatever table bytes it is given, so
//! the inspector's tests can open damaged tables through /proc like real ones.
//!
//! `insp_fake FILE [SIZE]`: FILE is a raw table (`.grtraw`, the format of
//! `grt_inspector::snapshot::RawTable`: magic `GRTRAW\0\x01`, size u64,
//! two u64 capture stamps, nchunks u32, pad u32, then (offset u64, len u64,
//! bytes) per chunk, little-endian framing). The memfd is sized to SIZE
//! (default: the table size) after the chunks are written, so a smaller
//! SIZE truncates the table. `insp_fake - 0` makes an empty memfd. Prints
//! `ready <pid>` and sleeps until killed.
use std::io::Write;

fn u64le(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let file = args.get(1).expect("usage: insp_fake FILE [SIZE]");
    // SAFETY: memfd_create takes a NUL-terminated name and flags.
    let fd = unsafe { libc::memfd_create(c"grt-status".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    let mut size = 0u64;
    if file != "-" {
        let b = std::fs::read(file).expect("read the raw table");
        assert_eq!(&b[..8], b"GRTRAW\0\x01", "not a raw table");
        size = u64le(&b, 8);
        let n = u32::from_le_bytes(b[32..36].try_into().unwrap()) as usize;
        // SAFETY: fd is our memfd.
        assert_eq!(unsafe { libc::ftruncate(fd, size as libc::off_t) }, 0);
        let mut at = 40;
        for _ in 0..n {
            let (off, len) = (u64le(&b, at), u64le(&b, at + 8) as usize);
            at += 16;
            let chunk = &b[at..at + len];
            at += len;
            // SAFETY: writes `len` bytes from a live slice to our memfd.
            let w = unsafe { libc::pwrite(fd, chunk.as_ptr() as *const libc::c_void, len, off as libc::off_t) };
            assert_eq!(w, len as isize, "pwrite: {}", std::io::Error::last_os_error());
        }
    }
    if let Some(s) = args.get(2) {
        size = s.parse().expect("SIZE is a number");
    }
    // SAFETY: fd is our memfd.
    assert_eq!(unsafe { libc::ftruncate(fd, size as libc::off_t) }, 0);
    println!("ready {}", std::process::id());
    let _ = std::io::stdout().flush();
    std::thread::sleep(std::time::Duration::from_secs(3600));
}
