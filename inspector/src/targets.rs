//! Finding the runtime's example programs (race targets, the demo) and the
//! race scripts from wherever grt-tui runs: next to the grt-tui executable
//! (target/<profile>/examples/<name>), else built with cargo in the
//! workspace that contains the executable or the current directory.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root: the first ancestor of the executable or of the
/// current directory that holds `runtime/examples`.
pub fn workspace_root() -> Option<PathBuf> {
    let mut starts = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        starts.push(exe);
    }
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    for s in starts {
        for dir in s.ancestors() {
            if dir.join("runtime/examples").is_dir() && dir.join("Cargo.toml").is_file() {
                return Some(dir.to_path_buf());
            }
        }
    }
    None
}

/// The directory of race scripts (`GRT_RACES_DIR` overrides).
pub fn races_dir() -> Result<PathBuf, String> {
    if let Ok(d) = std::env::var("GRT_RACES_DIR") {
        return Ok(PathBuf::from(d));
    }
    workspace_root()
        .map(|r| r.join("scripts/races"))
        .ok_or_else(|| "cannot find scripts/races: run grt-tui from the grt workspace or set GRT_RACES_DIR".into())
}

/// The path of the runtime example `name`, building it if needed (in the
/// profile grt-tui itself was built in). Progress goes to stderr.
pub fn example(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate grt-tui itself: {e}"))?;
    let mut profile_dir = exe.parent().unwrap_or(Path::new("."));
    // Examples and tests run from target/<profile>/{examples,deps}.
    if profile_dir.file_name().is_some_and(|n| n == "examples" || n == "deps") {
        profile_dir = profile_dir.parent().unwrap_or(profile_dir);
    }
    let candidate = profile_dir.join("examples").join(name);
    let root = workspace_root();
    let source = root.as_ref().map(|r| r.join("runtime/examples").join(format!("{name}.rs")));
    let stale = match (&source, candidate.metadata().and_then(|m| m.modified())) {
        (Some(src), Ok(built)) => src.metadata().and_then(|m| m.modified()).is_ok_and(|s| s > built),
        _ => false,
    };
    if candidate.is_file() && !stale {
        return Ok(candidate);
    }
    let Some(root) = root else {
        return Err(format!(
            "the runtime example {name:?} is not built next to grt-tui ({}) and no grt workspace was found to build it",
            candidate.display()
        ));
    };
    if !source.as_ref().is_some_and(|s| s.is_file()) {
        return Err(format!("there is no runtime example {name:?} (runtime/examples/{name}.rs)"));
    }
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("grt-tui: building the runtime example {name} ...");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root).args(["build", "-q", "-p", "grt", "--example", name]);
    if release {
        cmd.arg("--release");
    }
    // Build into the same target directory grt-tui lives in.
    if let Some(target_dir) = profile_dir.parent() {
        cmd.env("CARGO_TARGET_DIR", target_dir);
    }
    let st = cmd.status().map_err(|e| format!("cannot run cargo to build the example {name}: {e}"))?;
    if !st.success() {
        return Err(format!("building the runtime example {name} failed ({st})"));
    }
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(format!("cargo built {name} but {} is missing", candidate.display()))
    }
}
