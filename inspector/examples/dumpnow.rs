//! Development aid: `dumpnow <pid> [--live] [--threads]` prints a dump.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pid: i32 = args[1].parse().unwrap();
    let opts = grt_inspector::dump::DumpOptions {
        freeze: !args.iter().any(|a| a == "--live"),
        threads: args.iter().any(|a| a == "--threads"),
        level: 1,
    };
    match grt_inspector::dump::capture(pid, opts) {
        Ok(d) => print!("{}", d.to_text()),
        Err(e) => {
            eprintln!("grt-tui: {e}");
            std::process::exit(1);
        }
    }
}
