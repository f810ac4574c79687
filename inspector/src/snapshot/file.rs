//! Saved snapshots: [`Snapshot::save`] and [`Snapshot::load`] (JSON,
//! `"format": 2`), and [`FileError`], why a snapshot or raw table file
//! could not be written or read.

use super::{Snapshot, SNAPSHOT_FORMAT};
use std::fmt;
use std::path::Path;

impl Snapshot {
    /// Writes the snapshot as JSON.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), FileError> {
        let path = path.as_ref();
        let f = std::fs::File::create(path).map_err(|e| FileError::io(path, "create", e))?;
        let mut w = std::io::BufWriter::new(f);
        serde_json::to_writer(&mut w, self).map_err(|e| FileError::Io {
            path: path.display().to_string(),
            what: "write",
            error: e.to_string(),
        })?;
        std::io::Write::flush(&mut w).map_err(|e| FileError::io(path, "write", e))
    }

    /// Reads a snapshot written by [`Snapshot::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Snapshot, FileError> {
        let path = path.as_ref();
        let f = std::fs::File::open(path).map_err(|e| FileError::io(path, "open", e))?;
        let v: serde_json::Value = serde_json::from_reader(std::io::BufReader::new(f))
            .map_err(|e| FileError::NotASnapshot { path: path.display().to_string(), error: e.to_string() })?;
        let fmt = v.get("format").and_then(|f| f.as_u64());
        match fmt {
            Some(f) if f == SNAPSHOT_FORMAT as u64 => {}
            Some(f) => {
                return Err(FileError::Format {
                    path: path.display().to_string(),
                    found: f,
                    supported: SNAPSHOT_FORMAT,
                })
            }
            None => {
                return Err(FileError::NotASnapshot {
                    path: path.display().to_string(),
                    error: "no \"format\" field".into(),
                })
            }
        }
        serde_json::from_value(v)
            .map_err(|e| FileError::NotASnapshot { path: path.display().to_string(), error: e.to_string() })
    }
}

/// Why a snapshot or raw table file could not be written or read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileError {
    Io { path: String, what: &'static str, error: String },
    NotASnapshot { path: String, error: String },
    Format { path: String, found: u64, supported: u32 },
    NotARawTable { path: String, why: String },
}

impl FileError {
    pub(super) fn io(path: &Path, what: &'static str, e: std::io::Error) -> FileError {
        FileError::Io { path: path.display().to_string(), what, error: e.to_string() }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Io { path, what, error } => write!(f, "cannot {what} {path}: {error}; check the path and its permissions"),
            FileError::NotASnapshot { path, error } => {
                write!(f, "{path} is not a grt snapshot ({error}); pass a file written by Snapshot::save")
            }
            FileError::Format { path, found, supported } => write!(
                f,
                "{path} is a grt snapshot of format {found}; this reader knows format {supported}; use the grt-tui that wrote it"
            ),
            FileError::NotARawTable { path, why } => {
                write!(f, "{path} is not a grt raw table ({why}); pass a file written by RawTable::save")
            }
        }
    }
}

impl std::error::Error for FileError {}
