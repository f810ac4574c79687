//! `Controller`: a session on a thread of its own, for callers on other
//! threads (the TUI, the race engine).
//!
//! Protocol: `Controller::attach(pid)` starts a thread named
//! `grt-ctl <pid>` that attaches and then loops: it answers every queued
//! [`Command`] with one `Result<Reply>` (in order), and between commands
//! pumps the session, forwarding every [`Event`] to the event channel
//! ([`Controller::events`]). Sending a command wakes the pump at once. The
//! thread ends after `Command::Detach`, when the `Controller` is dropped
//! (it detaches), or when the session fails; after the process exits it
//! keeps answering commands with `Error::ProcessExited` until detached.

use super::error::{Error, Result};
use super::session::{Event, OnHit, ProbeId, Session, ThreadInfo, WakeHandle};
use super::Regs;
use grt_symbols::Probe;
use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

/// A request to the controller thread.
#[derive(Debug, Clone)]
pub enum Command {
    FreezeAll,
    ThawAll,
    Freeze(i32),
    Thaw(i32),
    Interrupt(i32),
    Step(i32),
    Regs(i32),
    Threads,
    Arm(Probe, OnHit),
    ArmNamed(String, OnHit),
    Disarm(ProbeId),
    ReadMemory(u64, usize),
    /// The armed probe sites.
    Armed,
    SetThreadNames(HashMap<i32, String>),
    Detach,
}

/// The answer to a command.
#[derive(Debug, Clone)]
pub enum Reply {
    Done,
    /// The new pc (`Step`).
    Pc(u64),
    Regs(Regs),
    Threads(Vec<ThreadInfo>),
    Probes(Vec<ProbeId>),
    Memory(Vec<u8>),
    /// Armed probe sites: id, name, address.
    Armed(Vec<(ProbeId, String, u64)>),
}

type Request = (Command, Sender<Result<Reply>>);

/// A session owned by a dedicated thread. `Send`; see the module docs for
/// the protocol.
pub struct Controller {
    pid: i32,
    tx: Option<Sender<Request>>,
    events: Receiver<Event>,
    wake: WakeHandle,
    thread: Option<JoinHandle<()>>,
}

/// How long the pump waits for an event before looking at commands again
/// (commands also wake it at once).
const PUMP_SLICE: Duration = Duration::from_millis(250);

impl Controller {
    /// Starts the controller thread and attaches to `pid` from it.
    pub fn attach(pid: i32) -> Result<Controller> {
        let (tx, rx) = mpsc::channel::<Request>();
        let (ev_tx, events) = mpsc::channel::<Event>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<WakeHandle>>();
        let thread = std::thread::Builder::new()
            .name(format!("grt-ctl {pid}"))
            .spawn(move || {
                let s = match Session::attach(pid) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(s.wake_handle()));
                run(s, rx, ev_tx);
            })
            .map_err(|_| Error::ControllerGone)?;
        let wake = ready_rx.recv().map_err(|_| Error::ControllerGone)??;
        Ok(Controller { pid, tx: Some(tx), events, wake, thread: Some(thread) })
    }

    /// The target's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The event channel.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// The next event, waiting up to `timeout`.
    pub fn next_event(&self, timeout: Duration) -> Option<Event> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Sends a command and waits for its answer. Every command is bounded
    /// by the session's stop timeout, so this does not hang.
    pub fn call(&self, cmd: Command) -> Result<Reply> {
        let tx = self.tx.as_ref().ok_or(Error::ControllerGone)?;
        let (rtx, rrx) = mpsc::channel();
        tx.send((cmd, rtx)).map_err(|_| Error::ControllerGone)?;
        self.wake.wake();
        rrx.recv().map_err(|_| Error::ControllerGone)?
    }

    fn done(&self, cmd: Command) -> Result<()> {
        self.call(cmd).map(drop)
    }

    pub fn freeze_all(&self) -> Result<()> {
        self.done(Command::FreezeAll)
    }
    pub fn thaw_all(&self) -> Result<()> {
        self.done(Command::ThawAll)
    }
    pub fn freeze(&self, tid: i32) -> Result<()> {
        self.done(Command::Freeze(tid))
    }
    pub fn thaw(&self, tid: i32) -> Result<()> {
        self.done(Command::Thaw(tid))
    }
    pub fn interrupt(&self, tid: i32) -> Result<()> {
        self.done(Command::Interrupt(tid))
    }
    pub fn set_thread_names(&self, names: HashMap<i32, String>) -> Result<()> {
        self.done(Command::SetThreadNames(names))
    }
    pub fn disarm(&self, id: ProbeId) -> Result<()> {
        self.done(Command::Disarm(id))
    }
    pub fn step(&self, tid: i32) -> Result<u64> {
        match self.call(Command::Step(tid))? {
            Reply::Pc(pc) => Ok(pc),
            _ => Err(Error::ControllerGone),
        }
    }
    pub fn regs(&self, tid: i32) -> Result<Regs> {
        match self.call(Command::Regs(tid))? {
            Reply::Regs(r) => Ok(r),
            _ => Err(Error::ControllerGone),
        }
    }
    pub fn threads(&self) -> Result<Vec<ThreadInfo>> {
        match self.call(Command::Threads)? {
            Reply::Threads(t) => Ok(t),
            _ => Err(Error::ControllerGone),
        }
    }
    pub fn arm(&self, probe: Probe, on_hit: OnHit) -> Result<ProbeId> {
        match self.call(Command::Arm(probe, on_hit))? {
            Reply::Probes(p) if p.len() == 1 => Ok(p[0]),
            _ => Err(Error::ControllerGone),
        }
    }
    pub fn arm_named(&self, name: &str, on_hit: OnHit) -> Result<Vec<ProbeId>> {
        match self.call(Command::ArmNamed(name.to_string(), on_hit))? {
            Reply::Probes(p) => Ok(p),
            _ => Err(Error::ControllerGone),
        }
    }
    pub fn armed(&self) -> Result<Vec<(ProbeId, String, u64)>> {
        match self.call(Command::Armed)? {
            Reply::Armed(v) => Ok(v),
            _ => Err(Error::ControllerGone),
        }
    }
    pub fn read_memory(&self, addr: u64, len: usize) -> Result<Vec<u8>> {
        match self.call(Command::ReadMemory(addr, len))? {
            Reply::Memory(m) => Ok(m),
            _ => Err(Error::ControllerGone),
        }
    }

    /// Detaches (restoring every patch) and ends the thread.
    pub fn detach(mut self) -> Result<()> {
        let r = self.call(Command::Detach).map(drop);
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        r
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if self.tx.take().is_some() {
            // The thread sees the closed channel and detaches.
            self.wake.wake();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn execute(s: &mut Session, cmd: Command) -> Result<Reply> {
    Ok(match cmd {
        Command::FreezeAll => s.freeze_all().map(|()| Reply::Done)?,
        Command::ThawAll => s.thaw_all().map(|()| Reply::Done)?,
        Command::Freeze(t) => s.freeze(t).map(|()| Reply::Done)?,
        Command::Thaw(t) => s.thaw(t).map(|()| Reply::Done)?,
        Command::Interrupt(t) => s.interrupt(t).map(|()| Reply::Done)?,
        Command::Step(t) => Reply::Pc(s.step(t)?),
        Command::Regs(t) => Reply::Regs(s.regs(t)?),
        Command::Threads => Reply::Threads(s.threads()?),
        Command::Arm(p, h) => Reply::Probes(vec![s.arm_with(&p, h)?]),
        Command::ArmNamed(n, h) => Reply::Probes(s.arm_named(&n, h)?),
        Command::Disarm(id) => s.disarm(id).map(|()| Reply::Done)?,
        Command::ReadMemory(a, n) => Reply::Memory(s.read_memory(a, n)?),
        Command::Armed => Reply::Armed(s.armed()),
        Command::SetThreadNames(m) => {
            s.set_thread_names(m);
            Reply::Done
        }
        Command::Detach => unreachable!("handled by the loop"),
    })
}

/// The controller thread's loop.
fn run(mut s: Session, rx: Receiver<Request>, ev_tx: Sender<Event>) {
    loop {
        // Commands first, in order.
        loop {
            match rx.try_recv() {
                Ok((Command::Detach, reply)) => {
                    let r = s.detach();
                    let _ = reply.send(r.map(|()| Reply::Done));
                    return;
                }
                Ok((cmd, reply)) => {
                    let r = execute(&mut s, cmd);
                    let _ = reply.send(r);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    let _ = s.detach();
                    return;
                }
            }
            // Events the command produced go out before the next command.
            for e in s.pending_events() {
                let _ = ev_tx.send(e);
            }
        }
        match s.wait_event(PUMP_SLICE) {
            Ok(Some(e)) => {
                let _ = ev_tx.send(e);
            }
            Ok(None) => {}
            Err(err) => {
                // The process is gone (or the session failed): keep
                // answering commands with the error until told to stop.
                loop {
                    match rx.recv_timeout(Duration::from_secs(3600)) {
                        Ok((Command::Detach, reply)) => {
                            let _ = reply.send(Ok(Reply::Done));
                            return;
                        }
                        Ok((_, reply)) => {
                            let _ = reply.send(Err(err));
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            }
        }
    }
}
