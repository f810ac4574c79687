//! The sampler: a thread that decodes a live snapshot of the target's
//! table at the refresh rate (the target never stops) and hands the
//! newest to the UI. It ends when the target is gone. Snapshots the UI is
//! done with come back (`recycle`) and the next decode writes over their
//! memory, as the next copy of the table writes over the last one's: with
//! 100k goroutines that is tens of MB per frame not faulted in afresh.

use grt_inspector::find::{FindError, TableSource};
use grt_inspector::snapshot::Snapshot;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the sampler saw.
#[derive(Debug)]
pub enum Sample {
    Snap(Box<Snapshot>),
    /// Reading failed but the process is alive (a transient problem).
    Error(FindError),
    /// The process is gone (exited, or its pid was reused), with the exit
    /// status its runtime wrote into the table on the way out, if it did.
    Gone(FindError, Option<u32>),
}

/// The exit status in the table's header, read through the memfd we still
/// hold open (it outlives the process while we do).
fn exit_code(src: &TableSource) -> Option<u32> {
    let mut b = vec![0u8; std::mem::size_of::<grt_table::Header>()];
    src.read_at(0, &mut b).ok()?;
    let h = grt_table::view::HeaderInfo::parse(&b).ok()?;
    h.exiting.then_some(h.exit_code)
}

pub struct Sampler {
    rx: Receiver<Sample>,
    recycle: SyncSender<Snapshot>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    pub fn start(src: TableSource, hz: u32) -> Sampler {
        let (tx, rx) = mpsc::sync_channel::<Sample>(2);
        let (recycle, used) = mpsc::sync_channel::<Snapshot>(1);
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let period = Duration::from_secs_f64(1.0 / hz.clamp(1, 100) as f64);
        let thread = std::thread::Builder::new()
            .name("grt-tui sampler".into())
            .spawn(move || run(src, tx, used, stop2, period))
            .ok();
        Sampler { rx, recycle, stop, thread }
    }

    /// Gives back a snapshot the UI no longer shows, for the next decode
    /// to reuse its memory (dropped when one is already waiting).
    pub fn recycle(&self, s: Snapshot) {
        let _ = self.recycle.try_send(s);
    }

    /// Everything that arrived since the last call, oldest first.
    pub fn drain(&self) -> Vec<Sample> {
        self.rx.try_iter().collect()
    }
}

fn run(src: TableSource, tx: SyncSender<Sample>, used: Receiver<Snapshot>, stop: Arc<AtomicBool>, period: Duration) {
    // The last table copy, whose buffers the next copy reuses.
    let mut image = None;
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        let s = match src.snapshot_reusing(false, used.try_recv().ok(), &mut image) {
            Ok(s) => Sample::Snap(Box::new(s)),
            Err(e) => {
                if matches!(e, FindError::Exited { .. } | FindError::NoProcess { .. }) || !src.alive() {
                    let _ = tx.send(Sample::Gone(e, exit_code(&src)));
                    return;
                }
                Sample::Error(e)
            }
        };
        match tx.try_send(s) {
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => return,
        }
        let spent = t0.elapsed();
        let mut left = period.saturating_sub(spent);
        while !left.is_zero() && !stop.load(Ordering::Relaxed) {
            let step = left.min(Duration::from_millis(20));
            std::thread::sleep(step);
            left = left.saturating_sub(step);
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Unblock a pending `send` by draining.
        while self.rx.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
