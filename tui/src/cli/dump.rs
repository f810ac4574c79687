//! `grt-tui dump <pid>`: every goroutine in Go's format, as JSON, or as
//! schedtrace lines.

use grt_inspector::dump::{self, DumpOptions};
use std::path::PathBuf;

pub struct Opts {
    pub pid: i32,
    pub json: bool,
    pub schedtrace: bool,
    pub threads: bool,
    pub live: bool,
    pub level: u8,
    pub save: Option<PathBuf>,
}

pub fn run(o: Opts) -> Result<(), String> {
    let pid = grt_tui::attach::resolve_pid(o.pid);
    let d = dump::capture(pid, DumpOptions { freeze: !o.live, threads: o.threads, level: o.level })
        .map_err(|e| e.to_string())?;
    if let Some(path) = &o.save {
        d.snapshot.save(path).map_err(|e| e.to_string())?;
        eprintln!("grt-tui: snapshot saved to {}", path.display());
    }
    if o.schedtrace {
        super::out(&dump::schedtrace(&d.snapshot));
    } else if o.json {
        super::out(&(d.to_json() + "\n"));
    } else {
        super::out(&d.to_text());
    }
    // Stacks need the target's executable: without it the dump above has
    // the table's content but no stack, which is a failure to say on
    // stderr (the warning in the text may go to a file or a pipe).
    if !d.symbols_loaded && !d.goroutines.is_empty() {
        let why = d.symbols_error.as_deref().unwrap_or("the target's symbols could not be loaded");
        return Err(format!("no stack could be symbolized: {why}"));
    }
    Ok(())
}
