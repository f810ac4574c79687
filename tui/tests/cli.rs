//! The command line: `--help` lists the interactive commands and their
//! flags; the interactive commands refuse to run without a terminal, with
//! a one-line message that says what to use instead.

use std::process::{Command, Stdio};

fn tui() -> Command {
    Command::new(env!("CARGO_BIN_EXE_grt-tui"))
}

#[test]
fn help_lists_attach_and_demo() {
    let o = tui().arg("--help").output().expect("run grt-tui --help");
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(s.contains("attach") && s.contains("Watch a grt process live"), "{s}");
    assert!(s.contains("demo") && s.contains("Start the runtime's demo program"), "{s}");
    let o = tui().args(["attach", "--help"]).output().expect("run grt-tui attach --help");
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("--refresh-hz") && s.contains("[PID]"), "{s}");
}

#[test]
fn refresh_rate_is_checked() {
    let o = tui().args(["attach", "1", "--refresh-hz", "0"]).output().expect("run grt-tui");
    assert_eq!(o.status.code(), Some(2), "bad usage exits 2");
}

#[test]
fn no_terminal_is_a_clear_error() {
    let o = tui()
        .args(["attach", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run grt-tui");
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(e.contains("needs a terminal") && e.contains("grt-tui dump"), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "one line: {e}");
}
