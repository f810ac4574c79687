//! Raw tables: the header and the used part of every section of a
//! captured table, kept as a `.grtraw` file so that a capture can be
//! re-decoded by newer code without the process (byte format on
//! [`RawTable`]).

use super::access::{mono_now, wall_now};
use super::{Capture, DecodeOptions, FileError, Snapshot};
use grt_table::header::{Header, Section, MAX_SECTIONS};
use grt_table::view::{Error as ViewError, Image};
use std::mem::{offset_of, size_of};
use std::path::Path;

/// The raw bytes of a captured table: the header and the used part of every
/// section, enough to rebuild the same [`Image`] later (by newer code, or
/// with the process gone).
///
/// File format (`.grtraw`), little-endian framing, table bytes verbatim:
/// `b"GRTRAW\0\x01"`, `size: u64` (the table size), `captured_mono_ns: u64`,
/// `captured_unix_ns: u64`, `nchunks: u32`, `0u32`, then per chunk
/// `offset: u64`, `len: u64` and `len` bytes. Chunk 0 is the header; bytes
/// no chunk covers read as zero. The header's section lengths are rewritten
/// to what was copied, so a reload never reads past the captured records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawTable {
    pub size: u64,
    pub captured_mono_ns: u64,
    pub captured_unix_ns: u64,
    /// (table offset, bytes), sorted by offset; where chunks overlap (a
    /// hostile header's sections may), the later one wins.
    pub chunks: Vec<(u64, Vec<u8>)>,
}

const RAW_MAGIC: [u8; 8] = *b"GRTRAW\0\x01";
const RAW_MAX_CHUNKS: u32 = 64;

impl RawTable {
    /// The raw form of an image (its header rebuilt from the decoded one).
    pub fn from_image(img: &Image) -> RawTable {
        let h = &img.header;
        let mut hb = vec![0u8; size_of::<Header>()];
        let put32 = |b: &mut [u8], off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        let put64 = |b: &mut [u8], off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        hb[..8].copy_from_slice(&grt_table::MAGIC);
        put32(&mut hb, offset_of!(Header, abi_version), h.abi_version);
        put32(&mut hb, offset_of!(Header, header_size), size_of::<Header>() as u32);
        put64(&mut hb, offset_of!(Header, layout_hash), h.layout_hash);
        put32(&mut hb, offset_of!(Header, pid), h.pid);
        put64(&mut hb, offset_of!(Header, base), h.base);
        put64(&mut hb, offset_of!(Header, size), h.size);
        put64(&mut hb, offset_of!(Header, start_unix_ns), h.start_unix_ns);
        put64(&mut hb, offset_of!(Header, start_mono_ns), h.start_mono_ns);
        put64(&mut hb, offset_of!(Header, bugs), h.bugs);
        put64(&mut hb, offset_of!(Header, flags), h.flags);
        put64(&mut hb, offset_of!(Header, stack_size), h.stack_size);
        put32(&mut hb, offset_of!(Header, ready), h.ready as u32);
        put32(&mut hb, offset_of!(Header, exiting), h.exiting as u32);
        put32(&mut hb, offset_of!(Header, exit_code), h.exit_code);
        put64(&mut hb, offset_of!(Header, heartbeat), h.heartbeat);
        let mut chunks = vec![(0u64, Vec::new())];
        let nsec = img.segments.len().min(MAX_SECTIONS);
        for (i, s) in img.segments.iter().take(nsec).enumerate() {
            let so = offset_of!(Header, sections) + i * size_of::<Section>();
            put32(&mut hb, so + offset_of!(Section, kind), s.info.kind as u32);
            put32(&mut hb, so + offset_of!(Section, stride), s.info.stride as u32);
            put64(&mut hb, so + offset_of!(Section, offset), s.info.offset);
            put64(&mut hb, so + offset_of!(Section, capacity), s.info.capacity);
            put64(&mut hb, so + offset_of!(Section, len), s.info.len);
            if !s.bytes.is_empty() {
                chunks.push((s.info.offset, s.bytes.clone()));
            }
        }
        put32(&mut hb, offset_of!(Header, nsections), nsec as u32);
        chunks[0].1 = hb;
        chunks.sort_by_key(|c| c.0);
        RawTable { size: h.size, captured_mono_ns: mono_now(), captured_unix_ns: wall_now(), chunks }
    }

    /// Reads `len` bytes at table offset `off` (zeros where no chunk is).
    pub fn read(&self, off: u64, len: usize) -> Result<Vec<u8>, String> {
        let end = off
            .checked_add(len as u64)
            .filter(|&e| e <= self.size)
            .ok_or_else(|| format!("read of {len} bytes at {off:#x} is past the table's {} bytes", self.size))?;
        let mut out = vec![0u8; len];
        for (co, cb) in &self.chunks {
            let ce = co.saturating_add(cb.len() as u64);
            let (s, e) = (off.max(*co), end.min(ce));
            if s < e {
                let (d, c) = ((s - off) as usize, (s - co) as usize);
                let n = (e - s) as usize;
                out[d..d + n].copy_from_slice(&cb[c..c + n]);
            }
        }
        Ok(out)
    }

    /// Rebuilds the image.
    pub fn image(&self) -> Result<Image, ViewError> {
        Image::load(|o, l| self.read(o, l), self.size, u64::MAX)
    }

    /// Decodes the table as a saved capture (wait times relative to the capture).
    pub fn snapshot(&self, include_dead: bool) -> Result<Snapshot, ViewError> {
        let img = self.image()?;
        let opts = DecodeOptions { include_dead, capture: Capture::Saved, now_mono_ns: Some(self.captured_mono_ns) };
        Ok(Snapshot::decode(&img, &opts))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let total: usize = self.chunks.iter().map(|c| 16 + c.1.len()).sum();
        let mut out = Vec::with_capacity(40 + total);
        out.extend_from_slice(&RAW_MAGIC);
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.captured_mono_ns.to_le_bytes());
        out.extend_from_slice(&self.captured_unix_ns.to_le_bytes());
        out.extend_from_slice(&(self.chunks.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for (o, b) in &self.chunks {
            out.extend_from_slice(&o.to_le_bytes());
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        }
        out
    }

    /// Parses the file format; `Err` says what is wrong.
    pub fn from_bytes(b: &[u8]) -> Result<RawTable, String> {
        let u64at = |o: usize| -> Result<u64, String> {
            b.get(o..o + 8)
                .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
                .ok_or_else(|| "file ends early".to_string())
        };
        if b.get(..8) != Some(&RAW_MAGIC[..]) {
            return Err("bad magic".into());
        }
        let size = u64at(8)?;
        let mono = u64at(16)?;
        let unix = u64at(24)?;
        let n = b.get(32..36).map(|s| u32::from_le_bytes(s.try_into().unwrap_or([0; 4]))).ok_or("file ends early")?;
        if n > RAW_MAX_CHUNKS {
            return Err(format!("{n} chunks (at most {RAW_MAX_CHUNKS})"));
        }
        let mut at = 40usize;
        let mut chunks = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let off = u64at(at)?;
            let len = u64at(at + 8)?;
            at += 16;
            let end = off.checked_add(len).filter(|&e| e <= size).ok_or("a chunk lies outside the table")?;
            let _ = end;
            let l = usize::try_from(len).map_err(|_| "chunk too large")?;
            let bytes = b.get(at..at.checked_add(l).ok_or("chunk too large")?).ok_or("file ends early")?;
            chunks.push((off, bytes.to_vec()));
            at += l;
        }
        Ok(RawTable { size, captured_mono_ns: mono, captured_unix_ns: unix, chunks })
    }

    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), FileError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_bytes()).map_err(|e| FileError::io(path, "write", e))
    }

    pub fn load(path: impl AsRef<Path>) -> Result<RawTable, FileError> {
        let path = path.as_ref();
        let b = std::fs::read(path).map_err(|e| FileError::io(path, "read", e))?;
        RawTable::from_bytes(&b).map_err(|why| FileError::NotARawTable { path: path.display().to_string(), why })
    }
}
