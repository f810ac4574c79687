//! grt-tui: the command line and terminal UI over the inspector.
fn main() {
    eprintln!("grt-tui: no commands yet");
    std::process::exit(2);
}
