//! Finding the runtime's example programs (race targets, the demo, the
//! test targets) and the race scripts from wherever grt-tui (or a test)
//! runs.
//!
//! The one rule for an example: inside the grt workspace, cargo builds it
//! (`cargo build -p grt --example <name> --message-format=json`) in the
//! profile and target directory of the running executable, and the path
//! is the executable cargo reports. Cargo knows every source the example
//! depends on (the runtime library included) and does nothing when none
//! changed, so a program is never older than the runtime it was built
//! from. Only outside the workspace, or without cargo, is the program
//! next to the executable (target/<profile>/examples/<name>) used as it is.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

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

/// Where the running executable was built: target/<profile> (examples and
/// tests run from target/<profile>/{examples,deps}), and whether that is a
/// cargo target directory (cargo marks one with CACHEDIR.TAG).
fn profile_dir() -> Result<(PathBuf, bool), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate the running program itself: {e}"))?;
    let mut dir = exe.parent().unwrap_or(Path::new(".")).to_path_buf();
    if dir.file_name().is_some_and(|n| n == "examples" || n == "deps") {
        dir = dir.parent().unwrap_or(&dir).to_path_buf();
    }
    let in_target = dir.parent().is_some_and(|t| t.join("CACHEDIR.TAG").is_file());
    Ok((dir, in_target))
}

/// Whether `name` can name an example: letters, digits, `_` and `-`, not
/// starting with `-`. Never a path (a race script's `target ../../bin/x`
/// must not reach outside the examples), nor an option to cargo.
pub fn is_example_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The path of the runtime example `name`, built by cargo if anything it
/// depends on changed (see the module comment). Cargo's progress goes to
/// stderr.
pub fn example(name: &str) -> Result<PathBuf, String> {
    example_of("grt", name)
}

/// The path of example `name` of workspace package `package` (the runtime
/// is `grt`; the control tests' `ctl_armer` is `grt-inspector`'s), by the
/// same rule as [`example`]. Each example is asked of cargo once per
/// process.
pub fn example_of(package: &str, name: &str) -> Result<PathBuf, String> {
    if !is_example_name(name) {
        return Err(format!("{name:?} is not an example's name (letters, digits, _ and -), so not a program to run"));
    }
    static BUILT: Mutex<Option<HashMap<(String, String), PathBuf>>> = Mutex::new(None);
    // Held while cargo runs: threads asking for examples wait for one
    // another instead of queueing on cargo's lock.
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let key = (package.to_string(), name.to_string());
    if let Some(p) = built.get_or_insert_with(HashMap::new).get(&key) {
        return Ok(p.clone());
    }
    let p = find_or_build(package, name)?;
    built.get_or_insert_with(HashMap::new).insert(key, p.clone());
    Ok(p)
}

fn find_or_build(package: &str, name: &str) -> Result<PathBuf, String> {
    let (profile_dir, in_target) = profile_dir()?;
    let beside = profile_dir.join("examples").join(name);
    let Some(root) = workspace_root() else {
        if beside.is_file() {
            return Ok(beside);
        }
        return Err(format!(
            "the {name} program is not built next to this program ({}), and this program is not inside the grt \
             workspace to build it: run `cargo build --release -p {package} --example {name}` in the workspace",
            beside.display()
        ));
    };
    if package == "grt" && !root.join("runtime/examples").join(format!("{name}.rs")).is_file() {
        return Err(format!("there is no runtime example {name:?} (runtime/examples/{name}.rs)"));
    }
    // Built in the profile and target directory of this program; a program
    // installed elsewhere builds in release into the workspace's target.
    let release = !in_target || profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&root).args([
        "build",
        "-p",
        package,
        "--example",
        name,
        "--message-format=json-render-diagnostics",
    ]);
    if release {
        cmd.arg("--release");
    }
    if in_target {
        if let Some(target) = profile_dir.parent() {
            cmd.arg("--target-dir").arg(target);
        }
    }
    let shown = format!(
        "{} build -p {package} --example {name}{} (in {})",
        Path::new(&cargo).display(),
        if release { " --release" } else { "" },
        root.display()
    );
    let out = match cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).output() {
        Ok(o) => o,
        Err(e) if beside.is_file() => {
            eprintln!("note: cannot run {shown}: {e}; using {} as it is", beside.display());
            return Ok(beside);
        }
        Err(e) => {
            return Err(format!("cannot run {shown} to build the {name} program: {e}; install Rust (cargo)"));
        }
    };
    if !out.status.success() {
        return Err(format!(
            "building the {name} program failed ({}): {shown}; see cargo's messages above",
            out.status
        ));
    }
    match executable(&out.stdout, name) {
        Some(p) if p.is_file() => Ok(p),
        Some(p) => Err(format!("cargo built the {name} program but {} does not exist", p.display())),
        None => Err(format!("{shown} succeeded but reported no executable for the {name} example")),
    }
}

/// The executable of example `name` in cargo's `--message-format=json`
/// output: the `compiler-artifact` message whose target is that example.
fn executable(json: &[u8], name: &str) -> Option<PathBuf> {
    let mut found = None;
    for line in json.lines() {
        let Ok(v) = line.map_err(|_| ()).and_then(|l| serde_json::from_str::<serde_json::Value>(&l).map_err(|_| ()))
        else {
            continue;
        };
        let t = &v["target"];
        if v["reason"] == "compiler-artifact"
            && t["name"] == name
            && t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "example"))
        {
            if let Some(p) = v["executable"].as_str() {
                found = Some(PathBuf::from(p));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_is_the_named_examples_artifact() {
        let out = br#"{"reason":"compiler-artifact","target":{"name":"grt","kind":["lib"]},"executable":null}
{"reason":"compiler-artifact","target":{"name":"demo","kind":["example"]},"executable":"/t/debug/examples/demo"}
{"reason":"compiler-artifact","target":{"name":"foreachp","kind":["example"]},"executable":"/t/debug/examples/foreachp"}
{"reason":"build-finished","success":true}
"#;
        assert_eq!(executable(out, "foreachp"), Some(PathBuf::from("/t/debug/examples/foreachp")));
        assert_eq!(executable(out, "demo"), Some(PathBuf::from("/t/debug/examples/demo")));
        assert_eq!(executable(out, "grt"), None, "a library is not an example");
        assert_eq!(executable(out, "nosuch"), None);
    }

    #[test]
    fn an_example_name_is_never_a_path() {
        for ok in ["demo", "ctl_target", "insp-fake", "foreachp2"] {
            assert!(is_example_name(ok), "{ok}");
        }
        for bad in ["", "../../../../../bin/sleep", "/bin/sleep", "a/b", "..", ".", "-v", "--release", "x.rs", "a b"] {
            assert!(!is_example_name(bad), "{bad:?}");
            let e = example(bad).unwrap_err();
            assert!(e.contains("is not an example's name"), "{bad:?}: {e}");
        }
    }
}
