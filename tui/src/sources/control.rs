//! The controller, attached on the first control action (watching never
//! needs ptrace), with one-line errors that say what to do.

use grt_inspector::control::{self, Controller, Event, ThreadState};

pub struct Control {
    pid: i32,
    ctl: Option<Controller>,
    /// Control is off: why (another module owns ptrace, or a test).
    pub disabled: Option<String>,
}

impl Control {
    pub fn new(pid: i32) -> Control {
        Control { pid, ctl: None, disabled: None }
    }

    pub fn disabled(pid: i32, why: impl Into<String>) -> Control {
        Control { pid, ctl: None, disabled: Some(why.into()) }
    }

    pub fn is_attached(&self) -> bool {
        self.ctl.is_some()
    }

    /// The controller, attaching now if needed.
    pub fn get(&mut self) -> Result<&Controller, String> {
        if let Some(d) = &self.disabled {
            return Err(format!("control is off: {d}"));
        }
        if self.ctl.is_none() {
            let c = Controller::attach(self.pid).map_err(|e| format!("cannot control process {}: {e}", self.pid))?;
            // Restore patched probe sites even if we are killed by a signal.
            control::install_exit_handlers();
            self.ctl = Some(c);
        }
        Ok(self.ctl.as_ref().expect("attached above"))
    }

    pub fn attached(&self) -> Option<&Controller> {
        self.ctl.as_ref()
    }

    /// Events that arrived, oldest first.
    pub fn events(&self) -> Vec<Event> {
        match &self.ctl {
            Some(c) => c.events().try_iter().collect(),
            None => Vec::new(),
        }
    }

    /// The threads the session holds, by tid (frozen, at a probe id,
    /// group-stopped); running threads are left out.
    pub fn held(&self) -> Result<Vec<(i32, ThreadState)>, String> {
        let Some(c) = &self.ctl else {
            return Ok(Vec::new());
        };
        let t = c.threads().map_err(|e| e.to_string())?;
        Ok(t.into_iter().filter(|t| t.state != ThreadState::Running).map(|t| (t.tid, t.state)).collect())
    }

    /// Detaches (restoring every probe byte; held threads run again).
    pub fn detach(&mut self) -> Result<(), String> {
        match self.ctl.take() {
            Some(c) => c.detach().map_err(|e| format!("detaching from process {}: {e}", self.pid)),
            None => Ok(()),
        }
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        let _ = self.detach();
    }
}
