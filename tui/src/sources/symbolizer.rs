//! The symbolizer: a thread that owns the target's symbols
//! (`ProcessSymbols` is not `Sync`, and loading it takes a while) and
//! answers requests: a goroutine's stack from a saved context or a
//! thread's registers, the function at a thread's pc, the probe list.
//!
//! Stacks are read from the live process (`/proc/<pid>/mem`) while the
//! goroutine is parked, so they are exact for as long as it stays parked.
//! Requests for stacks are served newest first: the stack of the
//! goroutine just opened comes back before a bulk request (grouping).

use crate::state::{Frame, Stack, StackKey, Start};
use grt_symbols::traceback as tb;
use grt_symbols::{Probe, ProcessMemory, ProcessSymbols, Registers};
use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Frames kept per stack.
const MAX_FRAMES: usize = 64;

pub enum Req {
    Stack(StackKey, Start),
    /// The function at a thread's pc.
    Pc(u64, u64),
    Probes,
}

pub enum Resp {
    Stacks(Vec<(StackKey, Arc<Stack>)>),
    /// (tid, pc, function).
    Pc(u64, u64, String),
    Probes(Result<Vec<Probe>, String>),
}

pub struct Symbolizer {
    tx: Option<Sender<Req>>,
    rx: Receiver<Resp>,
    thread: Option<JoinHandle<()>>,
}

impl Symbolizer {
    pub fn start(pid: i32) -> Symbolizer {
        let (tx, rq) = mpsc::channel::<Req>();
        let (rs, rx) = mpsc::channel::<Resp>();
        let thread = std::thread::Builder::new().name("grt-tui symbols".into()).spawn(move || run(pid, rq, rs)).ok();
        Symbolizer { tx: Some(tx), rx, thread }
    }

    pub fn send(&self, r: Req) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(r);
        }
    }

    pub fn drain(&self) -> Vec<Resp> {
        self.rx.try_iter().collect()
    }
}

impl Drop for Symbolizer {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    pid: i32,
    syms: Option<Result<ProcessSymbols, String>>,
    mem: ProcessMemory,
}

/// The symbols, loaded on first use (the error too, once).
fn load(slot: &mut Option<Result<ProcessSymbols, String>>, pid: i32) -> Result<&ProcessSymbols, String> {
    slot.get_or_insert_with(|| {
        ProcessSymbols::load(pid).map_err(|e| format!("cannot load the symbols of process {pid}: {e}"))
    })
    .as_ref()
    .map_err(|e| e.clone())
}

impl Worker {
    fn syms(&mut self) -> Result<&ProcessSymbols, String> {
        load(&mut self.syms, self.pid)
    }

    fn stack(&mut self, st: Start) -> Stack {
        let regs = match st {
            Start::Parked { sp, pc, bp } => Registers::from_parked(sp, pc, bp),
            Start::Thread { pc, sp, bp } => Registers::new(pc, sp, bp),
        };
        let syms = match load(&mut self.syms, self.pid) {
            Ok(s) => s,
            Err(e) => return Stack::new(Vec::new(), Some(e)),
        };
        let (mut frames, note) = tb::walk_frames(syms, regs, &self.mem, MAX_FRAMES);
        tb::elide_runtime_frames(&mut frames);
        let frames = frames
            .into_iter()
            .map(|f| Frame { function: f.function, file: f.file, line: f.line, inlined: f.inlined })
            .collect();
        Stack::new(frames, note)
    }

    fn function_at(&mut self, pc: u64) -> String {
        let syms = match self.syms() {
            Ok(s) => s,
            Err(_) => return format!("{pc:#x}"),
        };
        let mut out = Vec::new();
        tb::symbolize_pc(syms, pc, pc, 0, 0, &mut out);
        match out.last() {
            Some(f) if f.line > 0 => {
                format!("{} ({}:{})", f.function, crate::view::goroutines::short_file(&f.file), f.line)
            }
            Some(f) => f.function.clone(),
            None => format!("{pc:#x}"),
        }
    }
}

fn run(pid: i32, rq: Receiver<Req>, rs: Sender<Resp>) {
    let mut w = Worker { pid, syms: None, mem: ProcessMemory::new(pid) };
    let mut stacks: VecDeque<(StackKey, Start)> = VecDeque::new();
    let mut urgent: VecDeque<Req> = VecDeque::new();
    loop {
        // Take everything queued; block only when idle.
        let first = if stacks.is_empty() && urgent.is_empty() {
            match rq.recv() {
                Ok(r) => Some(r),
                Err(_) => return,
            }
        } else {
            None
        };
        for r in first.into_iter().chain(rq.try_iter()) {
            match r {
                Req::Stack(k, s) => stacks.push_back((k, s)),
                other => urgent.push_back(other),
            }
        }
        while let Some(r) = urgent.pop_front() {
            let resp = match r {
                Req::Pc(tid, pc) => Resp::Pc(tid, pc, w.function_at(pc)),
                Req::Probes => Resp::Probes(
                    w.syms().and_then(|s| s.probes().map_err(|e| format!("cannot read the probe notes: {e}"))),
                ),
                Req::Stack(..) => continue,
            };
            if rs.send(resp).is_err() {
                return;
            }
        }
        // A batch of stacks, newest request first, for at most ~30 ms.
        let t0 = Instant::now();
        let mut batch = Vec::new();
        while let Some((k, s)) = stacks.pop_back() {
            batch.push((k, Arc::new(w.stack(s))));
            if t0.elapsed() > Duration::from_millis(30) || batch.len() >= 512 {
                break;
            }
        }
        if !batch.is_empty() && rs.send(Resp::Stacks(batch)).is_err() {
            return;
        }
        // Let new requests in between batches.
        if !stacks.is_empty() {
            match rq.recv_timeout(Duration::from_millis(0)) {
                Ok(Req::Stack(k, s)) => stacks.push_back((k, s)),
                Ok(other) => urgent.push_back(other),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}
