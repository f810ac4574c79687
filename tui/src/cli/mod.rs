//! The non-interactive commands.

pub mod dump;
pub mod ps;
pub mod race;

/// Writes to stdout; a closed pipe (`grt-tui dump | head`) ends the
/// program quietly instead of panicking.
pub fn out(s: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(s.as_bytes()).and_then(|_| o.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("grt-tui: writing to stdout: {e}");
        std::process::exit(1);
    }
}
