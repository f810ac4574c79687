//! Fixtures and helpers for the render and state tests: deterministic
//! snapshots built in code (a synthetic table decoded at a fixed "now"),
//! the saved demo snapshot (tests/fixtures/demo.json), and rendering on
//! ratatui's TestBackend.
#![allow(dead_code)]

use grt_inspector::snapshot::{Capture, DecodeOptions, Snapshot};
use grt_inspector::synth::{self, Synth};
use grt_table::header::SectionKind;
use grt_table::{mrole, mstate, waitreason, Hchan, Header, MHeap, MSpan, Sched, G, M, P};
use grt_tui::app::App;
use grt_tui::state::{AppState, Target};
use grt_tui::view::Theme;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::mem::offset_of;

/// The fixed "now" of synthetic snapshots (CLOCK_MONOTONIC ns).
pub const NOW: u64 = 200_000_000_000;
/// When the synthetic runtime started: uptime 3 minutes.
pub const START: u64 = 20_000_000_000;

#[derive(Clone, Copy, Default)]
pub struct Scenario {
    /// Two threads each waiting for a lock the other holds.
    pub deadlock: bool,
    /// G1 (running) last passed a safe point 75 s ago.
    pub hog: bool,
}

fn put64(s: &mut Synth, off: usize, v: u64) {
    s.b.bytes[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}

/// A small scheduler with one of everything: running, runnable (local,
/// runnext and global queues), syscall, goroutines parked on channels
/// (receive, send, select), sleepers, a Gscan goroutine, a closed buffered
/// channel, a thread waiting for a lock, spans in every sweep state, and
/// two earlier allspans arrays (one still referenced).
pub fn synth_table(sc: Scenario) -> Vec<u8> {
    let mut s = Synth::new(64);
    let main_rs = s.site("src/main.rs", 10, 0);
    let worker_rs = s.site("src/worker.rs", 20, 0);
    let ty = s.site("u64", 0, 1);
    let m0 = s.add_m(mrole::MAIN, mstate::RUNNING, 1000);
    let _m1 = s.add_m(mrole::SYSMON, mstate::SYSMON_SLEEP, 1001);
    let m2 = s.add_m(mrole::WORKER, mstate::SYSCALL, 1002);
    let _m3 = s.add_m(mrole::WORKER, mstate::IDLE, 1003);
    let m4 = s.add_m(mrole::WORKER, mstate::RUNNING, 1004);
    let p0 = s.add_p(grt_table::P_RUNNING);
    let p1 = s.add_p(grt_table::P_IDLE);
    s.attach(m0, p0);
    let pa1 = s.addr(SectionKind::P, p1);
    s.set::<Sched>(SectionKind::Sched, 0, "pidle", pa1);
    s.set::<Sched>(SectionKind::Sched, 0, "npidle", 1);
    s.set::<P>(SectionKind::P, p0, "schedtick", 1234);
    s.set::<P>(SectionKind::P, p0, "syscalltick", 56);
    s.set::<P>(SectionKind::P, p0, "safe_point_runs", 3);
    // G1 running on M0.
    let g1 = s.add_g(grt_table::G_RUNNING, 0, main_rs);
    s.run_on(g1, m0);
    s.set::<G>(SectionKind::G, g1, "parentgoid", 0);
    if sc.hog {
        s.set::<G>(SectionKind::G, g1, "safepoint_when", NOW - 75_000_000_000);
    }
    // G2, G3 runnable: local queue and runnext of P0; G4 global.
    let g2 = s.add_g(grt_table::G_RUNNABLE, 0, worker_rs);
    s.runqput(p0, g2);
    let g3 = s.add_g(grt_table::G_RUNNABLE, 0, worker_rs);
    let ga3 = s.addr(SectionKind::G, g3);
    s.set::<P>(SectionKind::P, p0, "runnext", ga3);
    let g4 = s.add_g(grt_table::G_RUNNABLE, 0, worker_rs);
    s.globrunqput(g4);
    // G5 in a system call on M2.
    let g5 = s.add_g(grt_table::G_SYSCALL, 0, worker_rs);
    s.run_on(g5, m2);
    // Channel 1 (unbuffered): G6 and G7 receive. Channel 2: G8 sends.
    let c1 = s.add_chan(0, ty, main_rs);
    let c2 = s.add_chan(0, ty, worker_rs);
    let g6 = s.add_g(grt_table::G_WAITING, 0, main_rs);
    s.park_on_chan(g6, c1, true);
    let g7 = s.add_g(grt_table::G_WAITING, 0, main_rs);
    s.park_on_chan(g7, c1, true);
    let g8 = s.add_g(grt_table::G_WAITING, 0, worker_rs);
    s.park_on_chan(g8, c2, false);
    // G9 in a select: receive on channel 1, send on channel 2.
    let g9 = s.add_g(grt_table::G_WAITING, 0, worker_rs);
    s.park_select(g9, &[(c1, true), (c2, false)]);
    // Channel 3: closed, buffered, 2 of 4 queued.
    let c3 = s.add_chan(4, ty, worker_rs);
    s.set::<Hchan>(SectionKind::Hchan, c3, "qcount", 2);
    s.set::<Hchan>(SectionKind::Hchan, c3, "closed", 1);
    // G10 sleeps; G11 waits with its Gscan bit set (the GC scans it).
    let g10 = s.add_g(grt_table::G_WAITING, waitreason::SLEEP, main_rs);
    let g11 = s.add_g(grt_table::G_WAITING | grt_table::G_SCAN, waitreason::SYNC_MUTEX_LOCK, worker_rs);
    // G12 runs on M4, which waits for sched.lock held by M0.
    let g12 = s.add_g(grt_table::G_RUNNING, 0, worker_rs);
    s.run_on(g12, m4);
    s.hold_lock::<Sched>(SectionKind::Sched, 0, "lock", m0, true);
    let sl = s.lock_addr::<Sched>(SectionKind::Sched, 0, "lock");
    s.wait_lock(m4, sl);
    s.set::<M>(SectionKind::M, m4, "waitsince", NOW - 1_500_000);
    if sc.deadlock {
        // ... and M0 waits for mheap.lock, which M4 holds.
        s.hold_lock::<MHeap>(SectionKind::MHeap, 0, "lock", m4, true);
        let hl = s.lock_addr::<MHeap>(SectionKind::MHeap, 0, "lock");
        s.wait_lock(m0, hl);
        s.set::<M>(SectionKind::M, m0, "waitsince", NOW - 2_000_000_000);
    }
    // Waits of different lengths.
    for (k, g) in [g6, g7, g8, g9, g10, g11].into_iter().enumerate() {
        s.set::<G>(SectionKind::G, g, "waitsince", NOW - (k as u64 + 1) * 1_250_000_000);
    }
    s.set::<G>(SectionKind::G, g10, "waitsince", NOW - 95_000_000_000);
    // Stack used: sched.sp below hi (synth sets hi - 0x200).
    // Scheduler state for the header.
    s.set::<Sched>(SectionKind::Sched, 0, "gcwaiting", 1);
    s.set::<Sched>(SectionKind::Sched, 0, "stopwait", 1);
    s.set::<Sched>(SectionKind::Sched, 0, "safe_point_wait", 0);
    s.set::<Sched>(SectionKind::Sched, 0, "gcphase", grt_table::gcphase::MARK as u64);
    s.set::<Sched>(SectionKind::Sched, 0, "numgc", 7);
    s.set::<Sched>(SectionKind::Sched, 0, "ncpu", 2);
    s.set::<Sched>(SectionKind::Sched, 0, "ntimers", 1);
    // Heap: h.sweepgen 4 (synth); spans 1 and 2 need / are being swept.
    s.set::<MSpan>(SectionKind::Span, 1, "sweepgen", 2);
    s.set::<MSpan>(SectionKind::Span, 2, "sweepgen", 3);
    s.set_at::<MHeap>(SectionKind::MHeap, 0, "old_allspans", 0, 0x7f00_0010_0000);
    s.set_at::<MHeap>(SectionKind::MHeap, 0, "old_cap", 0, 8);
    s.set_at::<MHeap>(SectionKind::MHeap, 0, "old_gen", 0, 1);
    s.set_at::<MHeap>(SectionKind::MHeap, 0, "old_freed", 0, 1);
    s.set_at::<MHeap>(SectionKind::MHeap, 0, "old_allspans", 1, 0x7f00_0020_0000);
    s.set_at::<MHeap>(SectionKind::MHeap, 0, "old_cap", 1, 16);
    s.set_at::<MHeap>(SectionKind::MHeap, 0, "old_gen", 1, 2);
    s.set::<MHeap>(SectionKind::MHeap, 0, "nold", 2);
    s.set::<MHeap>(SectionKind::MHeap, 0, "mappings", 40);
    s.set::<MHeap>(SectionKind::MHeap, 0, "max_map_count", 65530);
    let _ = (g2, g4, g5);
    put64(&mut s, offset_of!(Header, start_mono_ns), START);
    put64(&mut s, offset_of!(Header, bugs), 1);
    let at = offset_of!(Header, pid);
    s.b.bytes[at..at + 4].copy_from_slice(&4242u32.to_ne_bytes());
    s.finish()
}

/// Decodes a table at the fixed "now", as a frozen capture.
pub fn decode(bytes: &[u8]) -> Snapshot {
    let img = synth::image(bytes).expect("the synthetic table loads");
    let mut s = Snapshot::decode(
        &img,
        &DecodeOptions { include_dead: false, capture: Capture::Frozen { pause_us: 0 }, now_mono_ns: Some(NOW) },
    );
    s.taken.wall_unix_ns = 0;
    s.taken.decode_us = 0;
    s.taken.waitfor_us = 0;
    s
}

pub fn synth_snapshot(sc: Scenario) -> Snapshot {
    decode(&synth_table(sc))
}

/// The demo's saved snapshot (see tests/fixtures/README.md).
pub fn demo_snapshot() -> Snapshot {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo.json");
    Snapshot::load(&p).expect("tests/fixtures/demo.json loads")
}

pub fn state_of(snap: Snapshot, command: &str) -> AppState {
    let mut st = AppState::new(Target { pid: snap.header.pid as i32, command: command.into(), ours: false });
    st.set_snapshot(snap);
    st
}

/// An offline app (no sources, control off) over a state, plain theme.
pub fn app_of(st: AppState) -> App {
    App::offline(st, Theme::plain())
}

/// Renders the app at `w` x `h` and returns the backend (Display: the
/// screen's text, one quoted line per row).
pub fn render(app: &mut App, w: u16, h: u16) -> TestBackend {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    app.draw(&mut term).expect("draw");
    term.backend().clone()
}

/// The screen as plain text lines.
pub fn text(b: &TestBackend) -> String {
    let buf = b.buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The runtime example `name` (found or built by the one rule for
/// examples), and the one test child type that starts it: output lines
/// captured, killed and reaped on drop.
#[allow(unused_imports)] // each test crate uses its part
pub use grt_inspector::testing::{example, Child as Kid};
