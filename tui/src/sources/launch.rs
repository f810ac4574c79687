//! `grt-tui demo`: start the runtime's demo program (found or built by
//! `grt_inspector::targets::example`) and stop it again when we are done.
//! The demo's output goes to a log file, not to our terminal.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A program we started; killed (and reaped) when dropped.
pub struct OwnedChild {
    child: Option<Child>,
    pub pid: i32,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl OwnedChild {
    /// Starts `path` with its output to a log file in the temp directory,
    /// and asks the kernel to kill it if we die without cleaning up.
    pub fn spawn(path: &Path, args: &[String]) -> Result<OwnedChild, String> {
        let log = std::env::temp_dir().join(format!("grt-tui-demo-{}.log", std::process::id()));
        let out = File::create(&log).map_err(|e| format!("cannot create the demo's log {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| format!("cannot create the demo's log {}: {e}", log.display()))?;
        let mut cmd = Command::new(path);
        cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
        // SAFETY: prctl is async-signal-safe; the closure touches nothing else.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", path.display()))?;
        let pid = child.id() as i32;
        Ok(OwnedChild { child: Some(child), pid, log })
    }

    /// Waits until its status table can be read (the runtime has started).
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.try_wait() {
                return Err(format!("the demo exited at start ({st}); its output is in {}", self.log.display()));
            }
            match grt_inspector::find::open_table(self.pid).and_then(|s| s.load_image(64 << 10)) {
                Ok(_) => return Ok(()),
                Err(e) if t0.elapsed() > timeout => {
                    return Err(format!("the demo did not start its runtime in time: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Its exit status, if it has exited (reaps it).
    pub fn try_wait(&mut self) -> Option<String> {
        let c = self.child.as_mut()?;
        match c.try_wait() {
            Ok(Some(st)) => Some(describe(st)),
            _ => None,
        }
    }

    /// Stops it (SIGTERM, then SIGKILL after a grace period) and reaps it.
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        if matches!(c.try_wait(), Ok(Some(_))) {
            return;
        }
        // SAFETY: kill(2) on our own child's pid, which we have not reaped.
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_millis(500) {
            if matches!(c.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

fn describe(st: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("was killed by signal {s} ({})", grt_inspector::control::signal_name(s)),
        _ => "exited".into(),
    }
}

impl Drop for OwnedChild {
    fn drop(&mut self) {
        self.stop();
    }
}
