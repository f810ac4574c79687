//! The interactive commands: `grt-tui attach [pid]` (with a picker when
//! no pid is given) and `grt-tui demo` (start the demo program, attach,
//! stop it on quit).

use crate::app::{App, Options};
use crate::sources::launch::OwnedChild;
use crate::state::Cursor;
use crate::terminal::TerminalGuard;
use crate::view::picker::PickerScreen;
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use grt_inspector::find;
use std::io::IsTerminal;
use std::time::Duration;

fn need_terminal() -> Result<(), String> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(
            "the interactive view needs a terminal; for text output use `grt-tui dump <pid>` or `grt-tui ps`".into()
        );
    }
    Ok(())
}

/// Runs the app in the terminal; prints the farewell after restoring it.
/// An app that failed (`Action::Fail`) returns its message as the error.
pub fn run_app(mut app: App) -> Result<(), String> {
    let r = {
        let mut g = TerminalGuard::enter().map_err(|e| format!("cannot set up the terminal: {e}"))?;
        app.run(&mut g.terminal)
    };
    for l in app.shutdown() {
        eprintln!("grt-tui: {l}");
    }
    r.map_err(|e| format!("terminal error: {e}"))?;
    app.take_failure().map_or(Ok(()), Err)
}

/// The process to inspect for an id given as a pid: a thread id (which
/// opens under /proc like a pid) becomes its process, the Tgid, and
/// stderr says so.
pub fn resolve_pid(id: i32) -> i32 {
    match find::process_of(id) {
        Some(tgid) if tgid != id && tgid > 0 => {
            eprintln!("grt-tui: {id} is a thread of process {tgid}, not a process: using process {tgid}");
            tgid
        }
        _ => id,
    }
}

/// `grt-tui attach [pid]`.
pub fn attach(pid: Option<i32>, opts: Options) -> Result<(), String> {
    need_terminal()?;
    let pid = match pid {
        Some(p) => resolve_pid(p),
        None => match pick(opts)? {
            Some(p) => p,
            None => return Ok(()),
        },
    };
    let src = find::open_table(pid).map_err(|e| e.to_string())?;
    run_app(App::new(src, None, opts))
}

/// `grt-tui demo`: find or build the demo, start it, attach.
pub fn demo(opts: Options, args: Vec<String>) -> Result<(), String> {
    need_terminal()?;
    let path = grt_inspector::targets::example("demo")?;
    let mut child = OwnedChild::spawn(&path, &args)?;
    child.wait_ready(Duration::from_secs(10))?;
    let src = find::open_table(child.pid).map_err(|e| e.to_string())?;
    run_app(App::new(src, Some(child), opts))
}

/// The picker: returns the chosen pid, or `None` if the person quit.
fn pick(opts: Options) -> Result<Option<i32>, String> {
    let mut g = TerminalGuard::enter().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let mut scan = find::scan_processes();
    let mut scanned = std::time::Instant::now();
    let mut cursor = Cursor::default();
    let mut message: Option<String> = None;
    loop {
        if crate::terminal::signalled().is_some() {
            return Ok(None);
        }
        let note = scan.denied_note();
        let screen = PickerScreen {
            procs: &scan.procs,
            cursor: &cursor,
            note: note.as_deref(),
            message: message.as_deref(),
            theme: opts.theme,
        };
        g.terminal.draw(|f| f.render_widget(&screen, f.area())).map_err(|e| e.to_string())?;
        // Short waits, so a quit signal is seen soon; a rescan every 2 s.
        if !event::poll(Duration::from_millis(250)).map_err(|e| e.to_string())? {
            if scanned.elapsed() >= Duration::from_secs(2) {
                scan = find::scan_processes();
                scanned = std::time::Instant::now();
                cursor.clamp(scan.procs.len());
            }
            continue;
        }
        let Event::Key(k) = event::read().map_err(|e| e.to_string())? else {
            continue;
        };
        if k.kind == KeyEventKind::Release {
            continue;
        }
        message = None;
        match k.code {
            KeyCode::Char('q') | KeyCode::Esc => return Ok(None),
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => return Ok(None),
            KeyCode::Up | KeyCode::Char('k') => cursor.up(1),
            KeyCode::Down | KeyCode::Char('j') => cursor.down(1, scan.procs.len()),
            KeyCode::Char('r') => {
                scan = find::scan_processes();
                cursor.clamp(scan.procs.len());
            }
            KeyCode::Enter => match scan.procs.get(cursor.selected) {
                Some(p) if p.problem.is_some() => {
                    message = Some(format!("cannot attach to {}: {}", p.pid, p.problem.as_deref().unwrap_or("")))
                }
                Some(p) => return Ok(Some(p.pid)),
                None => {
                    message = Some("nothing to attach to: start a grt program (e.g. `grt-tui demo`), then r".into())
                }
            },
            _ => {}
        }
    }
}
