//! Control benchmarks, printed as `name=value` lines.
//!
//! - Seize, freeze-all (interrupt every thread and wait for all stops) and
//!   thaw-all of a ~16-thread target: median and p99 over many rounds.
//! - Probe hit round trip: trap, event, resume, with one goroutine hitting
//!   `entersyscall` as fast as it can.
//! - The target's pingpong throughput alone, with a 30 Hz watcher (what
//!   `grt-tui attach` does: a live table snapshot 30 times a second, no
//!   ptrace), with an attached but idle session (a controller pumping
//!   events), and with a 30 Hz freeze/thaw loop. Watcher and alone runs
//!   alternate, and the overhead is the median of the pairs' ratios.
//!
//! Targets are `runtime/examples/ctl_target.rs`, found or built in this
//! binary's profile by `grt_inspector::targets::example`:
//! `cargo run --release -p grt-inspector --example ctlbench`
//! Usage: ctlbench [rounds (500)]
use grt_inspector::control::{Controller, Event, OnHit, Session};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

struct Target {
    child: Child,
    pid: i32,
    lines: Receiver<String>,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Target {
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Target {
        let bin = grt_inspector::targets::example("ctl_target").unwrap_or_else(|e| panic!("{e}"));
        let mut c = Command::new(bin);
        c.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("spawn ctl_target");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let pid = child.id() as i32;
        let t = Target { child, pid, lines };
        let l = t.lines.recv_timeout(Duration::from_secs(20)).expect("ready line");
        assert!(l.starts_with("ready "), "{l}");
        t
    }

    fn go(&mut self) {
        let w = self.child.stdin.as_mut().unwrap();
        w.write_all(b"go\n").unwrap();
        w.flush().unwrap();
    }

    fn line_starting(&self, prefix: &str, t: Duration) -> Option<String> {
        let end = Instant::now() + t;
        loop {
            let l = self.lines.recv_timeout(end.saturating_duration_since(Instant::now())).ok()?;
            if l.starts_with(prefix) {
                return Some(l);
            }
        }
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn pump(s: &mut Session, d: Duration) {
    let end = Instant::now() + d;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        if s.wait_event(left).is_err() {
            return;
        }
    }
}

fn freeze_thaw(rounds: usize) {
    let t = Target::spawn(&["threads", "13"], &[("GRT_MAXPROCS", "4")]);
    let threads = std::fs::read_dir(format!("/proc/{}/task", t.pid)).unwrap().count();
    println!("freeze.threads={threads}");
    // Seize (attach) and detach.
    let (mut attach, mut detach) = (Vec::new(), Vec::new());
    for _ in 0..50 {
        let t0 = Instant::now();
        let s = Session::attach(t.pid).unwrap();
        attach.push(us(t0.elapsed()));
        let t1 = Instant::now();
        s.detach().unwrap();
        detach.push(us(t1.elapsed()));
    }
    println!("seize_all_us.median={:.1}", percentile(&mut attach, 0.5));
    println!("detach_all_us.median={:.1}", percentile(&mut detach, 0.5));
    let mut s = Session::attach(t.pid).unwrap();
    let (mut freeze, mut thaw) = (Vec::new(), Vec::new());
    let mut n_frozen = 0;
    for _ in 0..rounds {
        let t0 = Instant::now();
        s.freeze_all().unwrap();
        freeze.push(us(t0.elapsed()));
        n_frozen = n_frozen.max(s.tids().len());
        let t1 = Instant::now();
        s.thaw_all().unwrap();
        thaw.push(us(t1.elapsed()));
        pump(&mut s, Duration::from_millis(2));
    }
    println!("freeze_all.threads_max={n_frozen}");
    println!("freeze_all_us.median={:.1}", percentile(&mut freeze, 0.5));
    println!("freeze_all_us.p99={:.1}", percentile(&mut freeze, 0.99));
    println!("thaw_all_us.median={:.1}", percentile(&mut thaw, 0.5));
    println!("thaw_all_us.p99={:.1}", percentile(&mut thaw, 0.99));
    // One thread.
    let tid = t.pid;
    let mut one = Vec::new();
    for _ in 0..rounds {
        let t0 = Instant::now();
        s.freeze(tid).unwrap();
        one.push(us(t0.elapsed()));
        s.thaw(tid).unwrap();
        pump(&mut s, Duration::from_millis(1));
    }
    println!("freeze_one_us.median={:.1}", percentile(&mut one, 0.5));
    println!("freeze_one_us.p99={:.1}", percentile(&mut one, 0.99));
    s.detach().unwrap();
}

/// Calls per second of the `hot` target from its "calls N" lines.
fn calls_rate(t: &Target, secs: f64) -> f64 {
    let first = t.line_starting("calls ", Duration::from_secs(5)).unwrap();
    let t0 = Instant::now();
    let a: f64 = first[6..].parse().unwrap();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let mut last = a;
    while let Ok(l) = t.lines.try_recv() {
        if let Some(v) = l.strip_prefix("calls ") {
            last = v.parse().unwrap();
        }
    }
    (last - a) / t0.elapsed().as_secs_f64()
}

fn probe_round_trip() {
    let mut t = Target::spawn(&["hot"], &[("GRT_MAXPROCS", "2")]);
    t.go();
    let unarmed = calls_rate(&t, 1.0);
    println!("probe.unarmed_calls_per_s={unarmed:.0}");
    let mut s = Session::attach(t.pid).unwrap();
    s.arm_named("entersyscall", OnHit::Hold).unwrap();
    // Warm up, then time hits: thaw -> next hit event.
    let mut gaps = Vec::new();
    let mut hits = 0u64;
    let t0 = Instant::now();
    let mut last_thaw: Option<Instant> = None;
    while t0.elapsed() < Duration::from_secs(3) {
        match s.wait_event(Duration::from_millis(100)).unwrap() {
            Some(Event::ProbeHit(h)) => {
                if let Some(lt) = last_thaw {
                    gaps.push(us(lt.elapsed()));
                }
                hits += 1;
                s.thaw(h.tid).unwrap();
                last_thaw = Some(Instant::now());
            }
            _ => last_thaw = None,
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!("probe_hold.hits_per_s={:.0}", hits as f64 / secs);
    println!("probe_round_trip_us.mean={:.1}", secs * 1e6 / hits as f64);
    println!("probe_round_trip_us.median={:.1}", percentile(&mut gaps, 0.5));
    println!("probe_round_trip_us.p99={:.1}", percentile(&mut gaps, 0.99));
    // Report mode: the thread is resumed while the event is being built.
    s.arm_named("entersyscall", OnHit::Report).unwrap();
    let t0 = Instant::now();
    let mut hits = 0u64;
    while t0.elapsed() < Duration::from_secs(2) {
        if let Some(Event::ProbeHit(_)) = s.wait_event(Duration::from_millis(100)).unwrap() {
            hits += 1;
        }
    }
    println!("probe_report.hits_per_s={:.0}", hits as f64 / t0.elapsed().as_secs_f64());
    s.detach().unwrap();
    let after = calls_rate(&t, 1.0);
    println!("probe.after_detach_calls_per_s={after:.0}");
}

/// Pingpong round trips per second, with `during` running meanwhile.
fn pingpong(secs: u64, mode: &str) -> f64 {
    let s = secs.to_string();
    let mut t = Target::spawn(&["pingpong", &s], &[("GRT_MAXPROCS", "2")]);
    let ctl = match mode {
        "alone" | "watch30hz" => None,
        _ => Some(Controller::attach(t.pid).unwrap()),
    };
    t.go();
    let t0 = Instant::now();
    let mut rounds = 0;
    if mode == "watch30hz" {
        let src = grt_inspector::find::open_table(t.pid).expect("the target's table");
        // As grt-tui's sampler: each copy and decode reuses the last one's memory.
        let (mut image, mut last) = (None, None);
        while t0.elapsed() < Duration::from_secs(secs) {
            let tick = Instant::now();
            match src.snapshot_reusing(false, last.take(), &mut image) {
                Ok(s) => last = Some(s),
                Err(_) => break,
            }
            rounds += 1;
            std::thread::sleep(Duration::from_millis(33).saturating_sub(tick.elapsed()));
        }
    }
    if mode == "freeze30hz" {
        let ctl = ctl.as_ref().unwrap();
        while t0.elapsed() < Duration::from_secs(secs) {
            let tick = Instant::now();
            if ctl.freeze_all().is_err() || ctl.thaw_all().is_err() {
                break;
            }
            rounds += 1;
            std::thread::sleep(Duration::from_millis(33).saturating_sub(tick.elapsed()));
        }
    }
    let l = t.line_starting("pingpong ", Duration::from_secs(secs + 20)).expect("pingpong line");
    let n: f64 = l[9..].parse().unwrap();
    if mode != "alone" && mode != "idle" {
        println!("pingpong.{mode}_rounds={rounds}");
    }
    drop(ctl);
    n / secs as f64
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(500);
    freeze_thaw(rounds);
    probe_round_trip();
    // Watcher overhead: alternate runs, median of the per-pair ratios.
    let mut ratios = Vec::new();
    let (mut a_sum, mut w_sum) = (0.0, 0.0);
    for _ in 0..5 {
        let a = pingpong(2, "alone");
        let w = pingpong(2, "watch30hz");
        a_sum += a;
        w_sum += w;
        ratios.push(w / a);
    }
    ratios.sort_by(|a, b| a.total_cmp(b));
    println!("pingpong.alone_per_s={:.0}", a_sum / 5.0);
    println!("pingpong.watch30hz_per_s={:.0}", w_sum / 5.0);
    println!("pingpong.watch30hz_overhead_pct_median={:.1}", (1.0 - ratios[2]) * 100.0);
    println!(
        "pingpong.watch30hz_overhead_pct_range={:.1}..{:.1}",
        (1.0 - ratios[4]) * 100.0,
        (1.0 - ratios[0]) * 100.0
    );
    let alone = pingpong(3, "alone");
    let idle = pingpong(3, "idle");
    let hz = pingpong(3, "freeze30hz");
    println!("pingpong.alone3_per_s={alone:.0}");
    println!("pingpong.seized_idle_per_s={idle:.0}");
    println!("pingpong.freeze30hz_per_s={hz:.0}");
    println!("pingpong.seized_idle_overhead_pct={:.1}", (1.0 - idle / alone) * 100.0);
    println!("pingpong.freeze30hz_overhead_pct={:.1}", (1.0 - hz / alone) * 100.0);
}
