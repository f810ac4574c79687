//! Finding the runtime's example programs (race targets, the demo) and the
//! race scripts from wherever grt-tui runs: next to the grt-tui executable
//! (target/<profile>/examples/<name>), else built with cargo in the
//! workspace that contains the executable or the current directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
/// profile grt-tui itself was built in, into its target directory), when it
/// is missing or older than its source. Cargo's progress goes to stderr.
pub fn example(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate grt-tui itself: {e}"))?;
    let mut profile_dir = exe.parent().unwrap_or(Path::new("."));
    // Examples and tests run from target/<profile>/{examples,deps}.
    if profile_dir.file_name().is_some_and(|n| n == "examples" || n == "deps") {
        profile_dir = profile_dir.parent().unwrap_or(profile_dir);
    }
    let path = profile_dir.join("examples").join(name);
    let root = workspace_root();
    let source = root.as_ref().map(|r| r.join("runtime/examples").join(format!("{name}.rs")));
    let built = path.metadata().and_then(|m| m.modified()).ok();
    let src_time = source.as_ref().and_then(|s| s.metadata().and_then(|m| m.modified()).ok());
    let stale = matches!((built, src_time), (Some(b), Some(s)) if s > b);
    if built.is_some() && !stale {
        return Ok(path);
    }
    let Some(root) = root else {
        return Err(format!(
            "the {name} program is not built next to grt-tui ({}), and grt-tui is not inside the grt workspace to build it: \
             run `cargo build --release -p grt --example {name}` in the workspace",
            path.display()
        ));
    };
    if !source.as_ref().is_some_and(|s| s.is_file()) {
        return Err(format!("there is no runtime example {name:?} (runtime/examples/{name}.rs)"));
    }
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&root).args(["build", "-p", "grt", "--example", name]);
    if release {
        cmd.arg("--release");
    }
    if let Some(target) = profile_dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    eprintln!(
        "grt-tui: building the {name} program: {} build -p grt --example {name}{} (in {})",
        Path::new(&cargo).display(),
        if release { " --release" } else { "" },
        root.display()
    );
    let st = cmd.stdin(Stdio::null()).status().map_err(|e| {
        format!(
            "cannot run {} to build the {name} program: {e}; install Rust (cargo) or build it yourself",
            Path::new(&cargo).display()
        )
    })?;
    if !st.success() {
        return Err(format!("building the {name} program failed ({st}); see cargo's messages above"));
    }
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("cargo built the {name} program but {} does not exist", path.display()))
    }
}
