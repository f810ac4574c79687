//! The terminal: raw mode and the alternate screen, entered by
//! [`TerminalGuard::enter`] and left when the guard drops (normal return,
//! error, or panic unwinding), and by a panic hook that restores the
//! terminal *before* the panic message prints, so the message is readable.
//! A panic inside [`catch_panic`] (a worker thread that reports its own
//! failure to the UI) is the exception: the hook leaves the terminal to the
//! UI, which then ends cleanly with the message.
//!
//! SIGTERM, SIGINT and SIGHUP do not kill the program while the terminal is
//! ours: [`TerminalGuard::enter`] installs handlers that only record the
//! signal ([`signalled`]); the loops that own the screen check it every turn
//! and leave through their normal path, so the terminal is restored, probes
//! and threads are given back and ptrace is detached before `main` ends the
//! process with the signal's default action ([`exit_if_signalled`]), as a
//! shell expects (status 128+signal). A second signal of the same kind
//! while the first is being handled kills at once (a stuck shutdown can
//! still be interrupted).

use crossterm::cursor::{Hide, Show};
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::ExecutableCommand;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::cell::{Cell, RefCell};
use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};

/// Whether the terminal is in our mode (so restoring twice is harmless).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Leaves raw mode and the alternate screen, if we entered them.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let mut out = io::stdout();
        let _ = out.execute(LeaveAlternateScreen);
        let _ = out.execute(Show);
        let _ = disable_raw_mode();
    }
}

thread_local! {
    /// Set on a thread while [`catch_panic`] runs there.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// The message of the panic the hook saw while catching.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The signals that end the program through its normal path.
const QUIT_SIGNALS: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// The flags the signal handlers set: whether one arrived (after which a
/// second one takes the default action) and which (0: none).
fn signal_flags() -> &'static (Arc<AtomicBool>, Arc<AtomicUsize>) {
    static FLAGS: OnceLock<(Arc<AtomicBool>, Arc<AtomicUsize>)> = OnceLock::new();
    FLAGS.get_or_init(|| (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0))))
}

/// Installs the SIGTERM/SIGINT/SIGHUP handlers (once).
pub fn install_signal_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let (got, which) = signal_flags();
        for sig in QUIT_SIGNALS {
            // Order matters: the conditional default sees the flag as it
            // was before this signal's own handler sets it.
            let _ = signal_hook::flag::register_conditional_default(sig, got.clone());
            let _ = signal_hook::flag::register_usize(sig, which.clone(), sig as usize);
            let _ = signal_hook::flag::register(sig, got.clone());
        }
    });
}

/// The quit signal that arrived, if one did.
pub fn signalled() -> Option<i32> {
    match signal_flags().1.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s as i32),
    }
}

/// Ends the process with the default action of the quit signal that
/// arrived, if one did (call when the terminal and the target are given
/// back); falls back to exit status 128+signal.
pub fn exit_if_signalled() {
    if let Some(sig) = signalled() {
        restore();
        let _ = signal_hook::low_level::emulate_default_handler(sig);
        std::process::exit(128 + sig);
    }
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) {
                // Its caller reports it and the UI ends itself: printing
                // now would scribble on the screen, restoring now would
                // leave the UI running on a cooked terminal.
                CAUGHT.with(|c| *c.borrow_mut() = Some(info.to_string().replace('\n', " ")));
                return;
            }
            restore();
            prev(info);
        }));
    });
}

/// Runs `f`, catching a panic in it: `Err` with the panic's message and
/// place ("panicked at file:line:col: message"). Neither the terminal nor
/// stderr is touched when it panics: the caller reports the message (the
/// race engine's thread sends it to the UI, which quits with it).
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_panic_hook();
    let was = CATCHING.with(|c| c.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(was));
    r.map_err(|payload| {
        CAUGHT.with(|c| c.borrow_mut().take()).unwrap_or_else(|| {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            format!("panicked: {msg}")
        })
    })
}

/// The terminal in raw mode on the alternate screen; restored on drop.
pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    pub fn enter() -> io::Result<TerminalGuard> {
        install_panic_hook();
        install_signal_handlers();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut out = io::stdout();
        if let Err(e) = out.execute(EnterAlternateScreen).and_then(|o| o.execute(Hide).map(drop)) {
            restore();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(io::stdout())) {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_is_its_message_and_place() {
        assert_eq!(catch_panic(|| 7), Ok(7));
        let line = line!() + 1;
        let e = catch_panic(|| -> u8 { panic!("the engine broke: {}", 42) }).unwrap_err();
        assert!(e.starts_with(&format!("panicked at tui/src/terminal.rs:{line}:")), "{e}");
        assert!(e.ends_with("the engine broke: 42"), "{e}");
        // Caught on this thread only while inside: the flag is cleared.
        assert!(!CATCHING.with(Cell::get));
    }
}
