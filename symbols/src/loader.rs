//! File loading: mapping object files, finding separate debug files, and
//! building a [`ProcessSymbols`] from `/proc/<pid>/maps`. All of the crate's
//! file I/O lives here.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::process::{load_bias, parse_maps, MapsEntry};
use crate::{Error, MemoryReader, ObjectData, ObjectSymbols, ProcessMemory, ProcessSymbols, Result};

/// Maps a file read-only.
///
/// Like any file mapping, the bytes are only as stable as the file: do not
/// use this on a file that may be truncated while mapped (copy it into an
/// `Arc<[u8]>` instead).
pub fn map_file(path: &Path) -> Result<ObjectData> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(ObjectData::from(Vec::new()));
    }
    // SAFETY: the mapping is read-only and private; see the caveat above.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(map.into())
}

/// Where a separate debug file for an object with this build-id would live.
pub fn build_id_debug_path(build_id: &[u8]) -> Option<PathBuf> {
    let (first, rest) = build_id.split_first()?;
    if rest.is_empty() {
        return None;
    }
    let hex: String = rest.iter().map(|b| format!("{b:02x}")).collect();
    Some(PathBuf::from(format!("/usr/lib/debug/.build-id/{first:02x}/{hex}.debug")))
}

/// Loads the object file at `path` with load bias `bias`, attaching a
/// separate debug file from `/usr/lib/debug/.build-id/` when the object has
/// no DWARF of its own and one exists.
pub fn load_file(path: &Path, bias: u64) -> Result<ObjectSymbols> {
    let name = path.to_string_lossy();
    load_file_named(path, &name, bias)
}

fn load_file_named(path: &Path, name: &str, bias: u64) -> Result<ObjectSymbols> {
    let data = map_file(path)?;
    let obj = ObjectSymbols::from_bytes(name, data.clone(), bias)?;
    if obj.has_dwarf() {
        return Ok(obj);
    }
    let debug = obj.build_id().and_then(build_id_debug_path).filter(|p| p.is_file()).and_then(|p| map_file(&p).ok());
    match debug {
        Some(d) => match ObjectSymbols::with_debug_data(name, data, Some(d), bias) {
            Ok(o) => Ok(o),
            // A broken debug file must not lose the object itself.
            Err(_) => Ok(obj),
        },
        None => Ok(obj),
    }
}

fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == *b"\x7fELF"
}

impl ProcessSymbols {
    /// Loads the executable and every shared object mapped into process
    /// `pid`, each at its load bias, plus the vdso (read from the process's
    /// memory). Files that are not ELF (fonts, locale archives) are skipped,
    /// as are objects that fail to parse.
    pub fn load(pid: i32) -> Result<ProcessSymbols> {
        // The kernel produces the maps text in chunks, so a file that changes
        // while it is read (other threads mapping memory) can lose or repeat
        // lines: read until two reads agree.
        let path = format!("/proc/{pid}/maps");
        let mut maps_text = std::fs::read_to_string(&path)?;
        for _ in 0..4 {
            let again = std::fs::read_to_string(&path)?;
            if again == maps_text {
                break;
            }
            maps_text = again;
        }
        let maps = parse_maps(&maps_text)?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        let mut procs = ProcessSymbols::new();
        procs.set_pid(pid);

        // Group file-backed mappings by file, keeping first-seen order.
        let mut order: Vec<(String, u64)> = Vec::new();
        let mut groups: HashMap<(String, u64), Vec<&MapsEntry>> = HashMap::new();
        for m in &maps {
            if m.inode == 0 || !m.path.starts_with('/') {
                continue;
            }
            let key = (m.path.clone(), m.inode);
            groups
                .entry(key.clone())
                .or_insert_with(|| {
                    order.push(key);
                    Vec::new()
                })
                .push(m);
        }
        for key in order {
            let group = &groups[&key];
            let Some(first) = group.first() else { continue };
            let path = open_path(pid, first);
            if !is_elf(&path) {
                continue;
            }
            let name = key.0.trim_end_matches(" (deleted)");
            // Compute the bias from the headers, then build the object.
            let Ok(data) = map_file(&path) else { continue };
            let Ok(probe) = ObjectSymbols::from_bytes(name, data, 0) else {
                continue;
            };
            // The bias comes from an executable mapping: a file can also be
            // mapped whole (offset 0, read-only) by someone reading it, this
            // crate included, and such mappings say nothing about where the
            // dynamic loader put it. Files with no executable mapping are
            // not loaded code.
            let bias = group
                .iter()
                .filter(|m| m.is_executable())
                .find_map(|m| load_bias(probe.load_segments(), m.start, m.offset));
            let Some(bias) = bias else { continue };
            drop(probe);
            let Ok(obj) = load_file_named(&path, name, bias) else {
                continue;
            };
            // The segments say where the object is even if a maps line was
            // missed; the maps lines consistent with the bias add anything
            // mapped beyond them.
            let mut ranges: Vec<_> = obj.runtime_ranges().collect();
            ranges.extend(
                group
                    .iter()
                    .filter(|m| load_bias(obj.load_segments(), m.start, m.offset) == Some(bias))
                    .map(|m| m.start..m.end),
            );
            let idx = procs.add_object(obj, ranges);
            if exe.as_deref() == Some(Path::new(name)) {
                procs.set_executable(idx);
            }
        }
        if let Some(vdso) = maps.iter().find(|m| m.path == "[vdso]") {
            let mem = ProcessMemory::new(pid);
            let len = vdso.end.saturating_sub(vdso.start);
            if let Ok(bytes) = mem.read_vec(vdso.start, len.min(1 << 20) as usize) {
                if let Ok(probe) = ObjectSymbols::from_bytes("[vdso]", bytes.clone(), 0) {
                    if let Some(bias) = load_bias(probe.load_segments(), vdso.start, 0) {
                        drop(probe);
                        if let Ok(obj) = ObjectSymbols::from_bytes("[vdso]", bytes, bias) {
                            procs.add_object(obj, std::iter::once(vdso.start..vdso.end));
                        }
                    }
                }
            }
        }
        Ok(procs)
    }

    /// [`load`](Self::load) for the calling process.
    pub fn load_self() -> Result<ProcessSymbols> {
        // SAFETY: getpid has no preconditions.
        ProcessSymbols::load(unsafe { libc::getpid() })
    }

    /// An address space holding just the file at `path`, placed at its
    /// link-time addresses plus `bias`.
    pub fn load_file(path: &Path, bias: u64) -> Result<ProcessSymbols> {
        let mut p = ProcessSymbols::new();
        let obj = load_file(path, bias)?;
        let idx = p.add_object_at_segments(obj);
        p.set_executable(idx);
        Ok(p)
    }
}

/// The path to open for a mapping: through `/proc/<pid>/root` (right for
/// processes in other mount namespaces), or `/proc/<pid>/map_files` for a
/// file deleted since it was mapped.
fn open_path(pid: i32, m: &MapsEntry) -> PathBuf {
    if m.path.ends_with(" (deleted)") {
        return PathBuf::from(format!("/proc/{pid}/map_files/{:x}-{:x}", m.start, m.end));
    }
    let rooted = PathBuf::from(format!("/proc/{pid}/root{}", m.path));
    if rooted.exists() {
        rooted
    } else {
        PathBuf::from(&m.path)
    }
}

#[allow(dead_code)]
fn _assert_error_is_copy(e: Error) -> (Error, Error) {
    (e, e)
}
