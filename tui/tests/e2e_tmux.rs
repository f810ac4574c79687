//! End to end, as a person would: the demo runs, `grt-tui attach <pid>`
//! runs inside tmux; keys go in with `send-keys` and the screen comes back
//! with `capture-pane`. Switch through every view, open a goroutine,
//! freeze a thread (its M shows as frozen) and thaw it, quit; afterwards
//! the demo is still running, untraced, and its heartbeat continues.
//! Skipped (with a message) when tmux is not installed.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A tmux server on its own socket, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.socket);
        c
    }

    fn run(&self, args: &[&str]) {
        let st = self.cmd().args(args).status().expect("run tmux");
        assert!(st.success(), "tmux {args:?} failed");
    }

    fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "e2e"];
        a.extend_from_slice(keys);
        self.run(&a);
    }

    fn screen(&self) -> String {
        let o = self.cmd().args(["capture-pane", "-p", "-t", "e2e"]).output().expect("capture-pane");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Waits until the screen satisfies `ok`; panics with the screen if not.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            if t0.elapsed() > Duration::from_secs(20) {
                panic!("timed out waiting for {what}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_text(&self, text: &str) -> String {
        self.wait_for(text, |s| s.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").stderr(Stdio::null()).status();
    }
}

/// Whether tmux is installed; says so when it is not (the test is skipped).
fn have_tmux() -> bool {
    let ok = Command::new("tmux").arg("-V").output().is_ok();
    if !ok {
        eprintln!(
            "SKIPPED: tmux is not installed (CI installs it via .ci/run); the end-to-end terminal test did not run"
        );
    }
    ok
}

fn tracer_of(pid: i32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("TracerPid:")).and_then(|v| v.trim().parse().ok())
}

fn thread_state(pid: i32, tid: u64) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).unwrap_or_default();
    s.lines().find_map(|l| l.strip_prefix("State:")).unwrap_or("").trim().to_string()
}

#[test]
fn attach_switch_views_open_freeze_thaw_quit() {
    if !have_tmux() {
        return;
    }
    let demo = common::example("demo");
    let mut kid = common::Kid::spawn(&mut Command::new(&demo));
    let pid = kid.pid;
    // Wait for its first heartbeat (the runtime and its table are up).
    kid.line_starting("demo: t=", Duration::from_secs(20)).expect("the demo printed no heartbeat");

    let tui = env!("CARGO_BIN_EXE_grt-tui");
    let tm = Tmux { socket: format!("grt-tui-e2e-{}-{pid}", std::process::id()) };
    let cmd = format!("{tui} attach {pid}; echo GRT-TUI-EXIT=$?; sleep 60");
    tm.run(&["new-session", "-d", "-s", "e2e", "-x", "160", "-y", "45", &cmd]);

    // The goroutine list of the demo.
    tm.wait_for("the goroutines view", |s| {
        s.contains(&format!("pid {pid} demo")) && s.contains("WAITING FOR") && s.contains("demo.rs")
    });
    // Every view.
    for (key, marker) in [
        ("2", "SCHEDTICK"),
        ("3", "ROLE"),
        ("4", "RECVQ"),
        ("5", "h.sweepgen"),
        ("6", "recent changes"),
        ("7", "PROBE"),
        ("1", "WAITING FOR"),
    ] {
        tm.keys(&[key]);
        tm.wait_text(marker);
    }
    tm.keys(&["Tab"]);
    tm.wait_text("SCHEDTICK");
    tm.keys(&["BTab"]);
    tm.wait_text("WAITING FOR");
    // Help.
    tm.keys(&["?"]);
    tm.wait_text("keys (? or Esc closes)");
    tm.keys(&["Escape"]);
    tm.wait_for("help closed", |s| !s.contains("keys (? or Esc closes)"));

    // Open goroutine 27: the goroutine parked deep in a recursion.
    tm.keys(&["/"]);
    tm.keys(&["-l", "27"]);
    tm.keys(&["Enter"]);
    tm.wait_text("filter \"27\"");
    tm.keys(&["Home", "Enter"]);
    tm.wait_for("goroutine 27's symbolized stack", |s| {
        s.contains("goroutine 27 [chan receive") && s.contains("demo::descend")
    });
    // Its 40 frames of recursion fill the screen: scroll to the sudogs.
    tm.keys(&["End"]);
    let s = tm.wait_text("recvq of channel");
    assert!(s.contains("on its own stack"), "its slot is on its stack:\n{s}");
    assert!(s.contains("Could wake it"), "{s}");
    tm.keys(&["Escape"]);
    tm.wait_text("WAITING FOR");
    tm.keys(&["Escape"]);
    tm.wait_for("the filter cleared", |s| !s.contains("filter \"27\""));

    // Freeze the sysmon thread (M1, the second row of the Ms view).
    tm.keys(&["3"]);
    let s = tm.wait_text("sysmon");
    let row = s.lines().find(|l| l.contains(" sysmon ")).expect("sysmon's row").to_string();
    let tid: u64 = row.split_whitespace().nth(1).and_then(|t| t.parse().ok()).expect("sysmon's tid");
    tm.keys(&["Home", "j", "f"]);
    let s = tm.wait_for("M1 frozen", |s| s.contains("M1 [F]") && s.contains("FROZEN"));
    assert!(s.contains("ptrace attached, 1 held"), "{s}");
    assert!(thread_state(pid, tid).starts_with('t'), "sysmon is in a tracing stop: {}", thread_state(pid, tid));
    tm.keys(&["t"]);
    let s = tm.wait_for("M1 thawed", |s| !s.contains("[F]") && s.contains("thawed"));
    assert!(!s.contains("FROZEN"), "{s}");
    assert!(!thread_state(pid, tid).starts_with('t'), "sysmon runs again: {}", thread_state(pid, tid));

    // Freeze it again and arm a probe that every scheduling thread hits
    // (grt:acquirep, the first of the list), then quit while threads are
    // held: quitting detaches, restores every probe byte, and all runs.
    tm.keys(&["f"]);
    tm.wait_for("M1 frozen again", |s| s.contains("M1 [F]"));
    tm.keys(&["7"]);
    tm.wait_text("grt:acquirep");
    tm.keys(&["Home", "Enter"]);
    tm.wait_for("grt:acquirep armed", |s| s.lines().any(|l| l.starts_with("grt:acquirep") && l.contains("ARMED")));
    let syms = grt_symbols::ProcessSymbols::load(pid).expect("the demo's symbols");
    let sites: Vec<u64> =
        syms.probes().expect("probes").iter().filter(|p| p.provider == "grt").map(|p| p.address).collect();
    assert!(!sites.is_empty());
    let byte_at = |addr: u64| {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(format!("/proc/{pid}/mem")).expect("open the demo's memory");
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, addr).expect("read a probe site");
        b[0]
    };
    assert!(sites.iter().any(|&a| byte_at(a) == 0xcc), "an armed probe site holds int3");

    // A dump while a thread is frozen and a probe armed: written to a file
    // the status line names, every goroutine in Go's format.
    tm.keys(&["d"]);
    let s = tm.wait_text("dump written to ");
    let line = s.lines().find(|l| l.contains("dump written to ")).unwrap();
    let path =
        line.split("dump written to ").nth(1).and_then(|r| r.split(" (").next()).expect("the dump's path").trim();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let _ = std::fs::remove_file(path);
    assert!(text.contains("goroutine 27 [chan receive") && text.contains("demo::descend(...)\n\t"), "{text}");

    // Quit: detached, the demo keeps running.
    tm.keys(&["q"]);
    let s = tm.wait_text("GRT-TUI-EXIT=");
    assert!(s.contains("GRT-TUI-EXIT=0"), "grt-tui exited cleanly:\n{s}");
    assert!(s.contains(&format!("process {pid} keeps running")), "{s}");
    assert!(kid.try_wait().is_none(), "the demo is still running");
    assert_eq!(tracer_of(pid), Some(0), "nobody traces the demo any more");
    for &a in &sites {
        assert_eq!(byte_at(a), 0x90, "probe site {a:#x} is a nop again");
    }
    assert!(!thread_state(pid, tid).starts_with('t'), "sysmon runs: {}", thread_state(pid, tid));
    let before = kid.stdout().lines().count();
    std::thread::sleep(Duration::from_millis(2500));
    let after = kid.stdout();
    let n = after.lines().count();
    assert!(n >= before + 2, "the demo's heartbeat goes on ({before} -> {n} lines)");
    assert!(after.lines().last().is_some_and(|l| l.starts_with("demo: t=")), "{:?}", after.lines().last());
    assert!(kid.try_wait().is_none(), "the demo is still running");
}

#[test]
fn target_exit_is_shown_and_the_last_state_kept() {
    if !have_tmux() {
        return;
    }
    let demo = common::example("demo");
    // The demo exits (status 0) after its heartbeat at t=4s.
    let kid = common::Kid::spawn(Command::new(&demo).arg("4"));
    let pid = kid.pid;
    let t0 = Instant::now();
    while grt_inspector::find::open_table(pid).and_then(|s| s.load_image(64 << 10)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(20), "the demo did not start its runtime");
        std::thread::sleep(Duration::from_millis(20));
    }
    let tui = env!("CARGO_BIN_EXE_grt-tui");
    let tm = Tmux { socket: format!("grt-tui-e2e-exit-{}-{pid}", std::process::id()) };
    let cmd = format!("{tui} attach {pid}; echo GRT-TUI-EXIT=$?; sleep 60");
    tm.run(&["new-session", "-d", "-s", "e2e", "-x", "160", "-y", "45", &cmd]);
    tm.wait_text("WAITING FOR");
    // Attach ptrace (freeze and thaw every thread) before it exits.
    tm.keys(&["F"]);
    tm.wait_text("every thread frozen");
    tm.keys(&["T"]);
    tm.wait_text("every thread thawed");
    let s = tm.wait_text("TARGET GONE");
    assert!(s.contains(&format!("process {pid} exited with status 0")), "{s}");
    assert!(s.contains("demo.rs"), "the last goroutines stay readable:\n{s}");
    tm.keys(&["3"]);
    tm.wait_text("ROLE");
    tm.keys(&["q"]);
    let s = tm.wait_text("GRT-TUI-EXIT=");
    assert!(s.contains("GRT-TUI-EXIT=0"), "{s}");
    // Nothing was restored in a process that is gone: say so, not the
    // "probes restored, every thread runs" of a live one.
    assert!(!s.contains("probes restored"), "{s}");
    assert!(s.contains(&format!("process {pid} exited with status 0; nothing to restore")), "{s}");
    drop(kid);
}

/// `grt-tui race foreachp-stopwait` by hand: press n for each of the nine
/// steps, see each step's narration, the scheduler lines and the threads
/// the script holds marked in the Ms view, then the runtime's own fatal
/// error as the outcome; quitting leaves no target behind.
#[test]
fn race_stepped_by_hand_shows_each_step_and_the_outcome() {
    if !have_tmux() {
        return;
    }
    // The race's target, built next to grt-tui.
    let _ = common::example("foreachp");
    let tui = env!("CARGO_BIN_EXE_grt-tui");
    let tm = Tmux { socket: format!("grt-tui-e2e-race-{}", std::process::id()) };
    let cmd = format!("{tui} race foreachp-stopwait --variant buggy; echo GRT-TUI-EXIT=$?; sleep 60");
    tm.run(&["new-session", "-d", "-s", "e2e", "-x", "200", "-y", "60", &cmd]);
    tm.wait_text("Press n to run the first step");
    let s = tm.wait_text("[n: step 1/9: Hold sysmon still]");
    assert!(s.contains("race foreachp-stopwait (buggy)"), "{s}");
    let pid = s
        .lines()
        .find_map(|l| {
            l.split("pid ").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|p| p.parse::<i32>().ok())
        })
        .expect("the target's pid in the header");
    for i in 1..=9 {
        tm.keys(&["n"]);
        let s = tm.wait_for(&format!("step {i}/9 done"), |s| {
            s.contains(&format!("step {i}/9: "))
                && !s.contains("[running the step...]")
                && !s.contains(&format!("[n: step {i}/9"))
        });
        assert!(!s.contains("the run stopped"), "step {i} failed:\n{s}");
        match i {
            1 => assert!(s.contains("stopped at probe sysmon_sleep"), "{s}"),
            2 => {
                assert!(s.contains("stopped at probe stw_gcwaiting") && s.contains("gcwaiting=1"), "{s}");
                // The held thread is marked in the Ms view.
                tm.keys(&["3"]);
                tm.wait_for("the gc thread marked at its probe", |s| s.contains("ROLE") && s.contains("[P]"));
                tm.keys(&["1"]);
                tm.wait_text("WAITING FOR");
            }
            3 => assert!(s.contains("stopped at probe entersyscall_gcwait"), "{s}"),
            8 => assert!(s.contains("stopped at probe entersyscall_gcwait_done"), "{s}"),
            _ => {}
        }
    }
    let s = tm.wait_for("the outcome", |s| s.contains("outcome: "));
    assert!(s.contains("outcome: as expected"), "{s}");
    assert!(s.contains("MET") && s.contains("fatal error: forEachP"), "the runtime's own error is shown:\n{s}");
    tm.keys(&["q"]);
    let s = tm.wait_text("GRT-TUI-EXIT=");
    assert!(s.contains("GRT-TUI-EXIT=0"), "{s}");
    // The target died of its fatal error, or was killed and reaped: gone.
    let t0 = Instant::now();
    while std::fs::metadata(format!("/proc/{pid}")).is_ok() {
        assert!(t0.elapsed() < Duration::from_secs(10), "the race's target {pid} is still there");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An interactive race whose step fails takes the UI down cleanly: the
/// terminal is back to normal (no alternate screen, the cursor shown), the
/// engine's error is printed with its file and line, and the exit status
/// is 1; the target is not left behind.
#[test]
fn a_race_step_that_fails_ends_the_ui_with_its_message() {
    if !have_tmux() {
        return;
    }
    let _ = common::example("foreachp");
    let script =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/races/foreachp-stopwait.race"))
            .unwrap();
    let step2 = "run any to stw_gcwaiting where arg0 == 1 and arg2 == 1";
    assert!(script.contains(step2) && script.contains("timeout 10s"));
    let text =
        script.replacen(step2, "run any to stw_gcwaiting where arg0 == 99", 1).replacen("timeout 10s", "timeout 1s", 1);
    let line = text.lines().position(|l| l.contains("arg0 == 99")).unwrap() + 1;
    let dir = std::env::temp_dir().join(format!("grt-e2e-races-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("foreachp-stopwait.race"), &text).unwrap();

    let tui = env!("CARGO_BIN_EXE_grt-tui");
    let tm = Tmux { socket: format!("grt-tui-e2e-racefail-{}", std::process::id()) };
    let cmd = format!(
        "GRT_RACES_DIR={} {tui} race foreachp-stopwait --variant buggy; echo GRT-TUI-EXIT=$?; sleep 60",
        dir.display()
    );
    tm.run(&["new-session", "-d", "-s", "e2e", "-x", "200", "-y", "60", &cmd]);
    let s = tm.wait_text("[n: step 1/9: Hold sysmon still]");
    let pid = s
        .lines()
        .find_map(|l| {
            l.split("pid ").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|p| p.parse::<i32>().ok())
        })
        .expect("the target's pid in the header");
    tm.keys(&["n"]);
    tm.wait_text("step 1 done");
    tm.keys(&["n"]);
    let s = tm.wait_text("GRT-TUI-EXIT=");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(s.contains("GRT-TUI-EXIT=1"), "{s}");
    let at = format!("foreachp-stopwait.race:{line}: no thread reached probe stw_gcwaiting");
    assert!(s.contains("grt-tui: the race stopped: ") && s.contains(&at), "{s}");
    assert!(!s.contains("keeps running"), "the engine stops the race's target:\n{s}");
    // The terminal is the shell's again.
    let o = tm.cmd().args(["display-message", "-p", "-t", "e2e", "#{alternate_on} #{cursor_flag}"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "0 1", "alternate screen and cursor:\n{s}");
    let t0 = Instant::now();
    while std::fs::metadata(format!("/proc/{pid}")).is_ok() {
        assert!(t0.elapsed() < Duration::from_secs(10), "the race's target {pid} is still there");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The pid of the `grt-tui` the pane's shell started.
fn tui_pid(tm: &Tmux) -> i32 {
    let o = tm.cmd().args(["display", "-p", "-t", "e2e", "#{pane_pid}"]).output().expect("tmux display");
    let shell: i32 = String::from_utf8_lossy(&o.stdout).trim().parse().expect("the pane's pid");
    let t0 = Instant::now();
    loop {
        for e in std::fs::read_dir("/proc").expect("read /proc").flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
            let ppid = rest.split_whitespace().nth(1).and_then(|v| v.parse::<i32>().ok());
            if ppid == Some(shell) && stat.contains("(grt-tui)") {
                return p;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "no grt-tui under the pane's shell {shell}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A tmux format variable of the pane (`alternate_on`, `cursor_flag`, ...).
fn pane_var(tm: &Tmux, var: &str) -> String {
    let o = tm.cmd().args(["display", "-p", "-t", "e2e", &format!("#{{{var}}}")]).output().expect("tmux display");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// SIGTERM, SIGINT or SIGHUP sent to `grt-tui attach` while it holds every
/// thread of the demo frozen: the terminal comes back (main screen, cursor
/// shown, cooked mode with echo), the demo runs on untraced, and the
/// shell sees grt-tui end by that signal (status 128+signal).
#[test]
fn quit_signal_restores_the_terminal_and_the_target() {
    if !have_tmux() {
        return;
    }
    let demo = common::example("demo");
    let mut kid = common::Kid::spawn(&mut Command::new(&demo));
    let pid = kid.pid;
    let t0 = Instant::now();
    while grt_inspector::find::open_table(pid).and_then(|s| s.load_image(64 << 10)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(20), "the demo did not start its runtime");
        std::thread::sleep(Duration::from_millis(20));
    }
    let tui = env!("CARGO_BIN_EXE_grt-tui");
    for (sig, name) in [(libc::SIGTERM, "TERM"), (libc::SIGINT, "INT"), (libc::SIGHUP, "HUP")] {
        let tm = Tmux { socket: format!("grt-tui-e2e-sig{name}-{}-{pid}", std::process::id()) };
        let cmd = format!("{tui} attach {pid}; echo GRT-TUI-EXIT=$?; sleep 60");
        tm.run(&["new-session", "-d", "-s", "e2e", "-x", "160", "-y", "45", &cmd]);
        tm.wait_text("WAITING FOR");
        tm.keys(&["F"]);
        tm.wait_text("every thread frozen");
        assert_eq!(pane_var(&tm, "alternate_on"), "1", "SIG{name}: the UI is on the alternate screen");
        assert_eq!(pane_var(&tm, "cursor_flag"), "0", "SIG{name}: the UI hides the cursor");
        let tty = pane_var(&tm, "pane_tty");
        let stty = |tty: &str| {
            let o = Command::new("stty").args(["-F", tty, "-a"]).output().expect("stty");
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        assert!(stty(&tty).contains("-icanon"), "SIG{name}: the UI runs in raw mode: {}", stty(&tty));
        let tp = tui_pid(&tm);
        // SAFETY: kill(2) on the grt-tui this test started.
        assert_eq!(unsafe { libc::kill(tp, sig) }, 0, "kill -{name} {tp}");
        let s = tm.wait_text("GRT-TUI-EXIT=");
        assert!(s.contains(&format!("GRT-TUI-EXIT={}", 128 + sig)), "SIG{name}: grt-tui ends by the signal:\n{s}");
        assert!(s.contains(&format!("detached from process {pid}")), "SIG{name}: {s}");
        assert_eq!(pane_var(&tm, "alternate_on"), "0", "SIG{name}: back on the main screen:\n{s}");
        assert_eq!(pane_var(&tm, "cursor_flag"), "1", "SIG{name}: the cursor is shown again");
        let modes = stty(&tty);
        assert!(!modes.contains("-icanon") && !modes.contains("-echo "), "SIG{name}: cooked mode again: {modes}");
        assert!(kid.try_wait().is_none(), "SIG{name}: the demo still runs");
        assert_eq!(tracer_of(pid), Some(0), "SIG{name}: nobody traces the demo any more");
        let states: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("the demo's threads")
            .flatten()
            .filter_map(|e| e.file_name().to_string_lossy().parse::<u64>().ok())
            .map(|t| thread_state(pid, t))
            .collect();
        assert!(states.iter().all(|s| !s.starts_with('t')), "SIG{name}: every thread runs: {states:?}");
    }
}
