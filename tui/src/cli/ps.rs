//! `grt-tui ps`: the grt processes this user may inspect.

use grt_inspector::find;
use std::time::Duration;

fn uptime(d: Option<Duration>) -> String {
    match d {
        None => "-".into(),
        Some(d) => {
            let s = d.as_secs();
            if s >= 3600 {
                format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
            } else if s >= 60 {
                format!("{}m{:02}s", s / 60, s % 60)
            } else {
                format!("{}.{}s", s, d.subsec_millis() / 100)
            }
        }
    }
}

fn num<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

pub fn run() -> Result<(), String> {
    use std::fmt::Write;
    let scan = find::scan_processes();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:>8}  {:<20} {:>10} {:>10} {:>7} {:>9}  NOTES",
        "PID", "COMMAND", "GOMAXPROCS", "GOROUTINES", "THREADS", "UPTIME"
    );
    for p in &scan.procs {
        let mut notes = Vec::new();
        if !p.bugs.is_empty() {
            notes.push(format!("GRT_BUGS={}", p.bugs.join(",")));
        }
        if let Some(pr) = &p.problem {
            notes.push(pr.clone());
        }
        let _ = writeln!(
            o,
            "{:>8}  {:<20} {:>10} {:>10} {:>7} {:>9}  {}",
            p.pid,
            p.command,
            num(p.gomaxprocs),
            num(p.goroutines),
            num(p.threads),
            uptime(p.uptime),
            notes.join("; ")
        );
    }
    if scan.procs.is_empty() {
        o.push_str("(no grt processes)\n");
    }
    if let Some(n) = scan.denied_note() {
        let _ = writeln!(o, "{n}");
    }
    super::out(&o);
    Ok(())
}
