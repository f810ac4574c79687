//! Helpers shared by the inspector's snapshot tests: the runtime's
//! example programs, found by the one rule for examples and started as
//! the one test child type (`grt_inspector::testing`, shared with the
//! control and TUI tests).
#![allow(dead_code)]

#[allow(unused_imports)] // each test crate uses its part
pub use grt_inspector::testing::{example, Child as Kid};
use std::process::Command;

/// Spawns `cmd` and, if `ready` is set, waits for its `ready <pid>` line.
pub fn spawn(mut cmd: Command, ready: bool) -> Kid {
    let kid = Kid::spawn(&mut cmd);
    if ready {
        kid.wait_ready()
    } else {
        kid
    }
}

/// Spawns runtime example `name` with `args` and `env`, waiting for it to be ready.
pub fn spawn_example(name: &str, args: &[&str], env: &[(&str, &str)]) -> Kid {
    Kid::example(name, args, env).wait_ready()
}
