//! Decode benchmark: how long `Image::load`, `Snapshot::decode` and the
//! wait-for analysis take on a table of 100,000 goroutines, most of them
//! parked on channels through sudogs, as a real busy table is.
//!
//! `decodebench [N]` builds a synthetic table (`synth::parked_scenario`).
//! `decodebench --live [N]` also spawns `insp_parked N` (the runtime
//! example, next to this binary in target/<profile>/examples; build it with
//! `cargo build --release -p grt --example insp_parked`) and measures its
//! live table. Prints `name=value` figures (times in ms, best of the runs,
//! and the median).

use grt_inspector::find::open_table;
use grt_inspector::snapshot::{Capture, DecodeOptions, Snapshot};
use grt_inspector::synth;
use grt_inspector::waitfor;
use grt_table::view::Image;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

const RUNS: usize = 15;

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn stats(name: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.total_cmp(b));
    println!("{name}_ms_min={:.3}", v[0]);
    println!("{name}_ms_median={:.3}", v[v.len() / 2]);
}

/// Times load, decode and wait-for over `RUNS` runs.
fn measure(prefix: &str, mut load: impl FnMut() -> Image) -> Snapshot {
    let (mut tl, mut td, mut tw, mut tt) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let img = load();
        let t1 = Instant::now();
        let opts = DecodeOptions { capture: Capture::Live, ..Default::default() };
        let s = Snapshot::decode(&img, &opts);
        let t2 = Instant::now();
        // decode() already ran the analysis; time it alone as well.
        let r = waitfor::analyze(&s);
        let t3 = Instant::now();
        std::hint::black_box(&r);
        tl.push(ms(t1 - t0));
        td.push(s.taken.decode_us as f64 / 1e3);
        tw.push(ms(t3 - t2));
        tt.push(ms(t2 - t0));
        last = Some(s);
    }
    stats(&format!("{prefix}_image_load"), tl);
    stats(&format!("{prefix}_decode"), td);
    stats(&format!("{prefix}_waitfor"), tw);
    stats(&format!("{prefix}_load_decode_waitfor"), tt);
    let s = last.unwrap_or_default();
    for (name, us) in &s.taken.phases_us {
        println!("{prefix}_decode_{}_ms_last={:.3}", name.replace('+', "_"), *us as f64 / 1e3);
    }
    println!("{prefix}_goroutines={}", s.gs.len());
    println!("{prefix}_sudogs={}", s.sudogs.len());
    println!("{prefix}_chans={}", s.chans.len());
    println!("{prefix}_spans={}", s.heap.spans.len());
    println!("{prefix}_edges={}", s.waitfor.edges.len());
    println!("{prefix}_damage={}", s.damage.len() as u64 + s.damage_dropped);
    s
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let live = args.iter().any(|a| a == "--live");
    let n: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);

    let t = Instant::now();
    let bytes = synth::parked_scenario(n).finish();
    println!("synth_n={n}");
    println!("synth_build_ms={:.1}", ms(t.elapsed()));
    println!("synth_table_bytes={}", bytes.len());
    let s = measure("synth", || synth::image(&bytes).expect("the synthetic table loads"));
    let img = synth::image(&bytes).expect("the synthetic table loads");
    let mut v = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        std::hint::black_box(grt_inspector::snapshot::stack_ranges(&img));
        v.push(ms(t.elapsed()));
    }
    stats("synth_stack_ranges", v);
    let t = Instant::now();
    let json = serde_json::to_vec(&s).expect("serialize");
    println!("synth_json_ms={:.1}", ms(t.elapsed()));
    println!("synth_json_bytes={}", json.len());

    if live {
        let exe = std::env::current_exe().expect("current_exe");
        let prog = exe.with_file_name("insp_parked");
        if !prog.exists() {
            eprintln!(
                "decodebench: {} is missing; build it with cargo build -p grt --example insp_parked (same profile)",
                prog.display()
            );
            std::process::exit(2);
        }
        // insp_parked N makes N receivers, N/2 senders and a few more.
        let recv = n * 2 / 3;
        let mut child = Command::new(&prog)
            .arg(recv.to_string())
            .env("GRT_MAXG", (n * 2).max(4096).to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn insp_parked");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        let t = Instant::now();
        out.read_line(&mut line).expect("ready line");
        println!("live_start_ms={:.0}", ms(t.elapsed()));
        std::thread::sleep(std::time::Duration::from_millis(200));
        let src = open_table(child.id() as i32).expect("open the child's table");
        let img = src.load_image(u64::MAX).expect("load");
        let used: usize = img.segments.iter().map(|s| s.bytes.len()).sum();
        println!("live_table_bytes_copied={used}");
        measure("live", || src.load_image(u64::MAX).expect("load"));
        let _ = child.kill();
        let _ = child.wait();
    }
}
