//! grt-tui: the command line over the inspector: `ps`, `dump`, and the
//! interactive `attach` and `demo` (the library `grt_tui`).
//!
//! Every failure ends with a one-line message naming the cause and the
//! remedy and a non-zero exit status (1 for a problem with the target, 2 for
//! bad usage).

mod cli;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Watch, dump and step the goroutines of grt programs.
#[derive(Parser, Debug)]
#[command(name = "grt-tui", version, about, long_about = None)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// List the grt processes you may inspect.
    Ps,
    /// Watch a grt process live (without a pid: pick one from a list).
    Attach {
        /// Process id of a grt program.
        pid: Option<i32>,
        /// Screen refreshes per second (snapshots read from the table).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=60))]
        refresh_hz: u32,
    },
    /// Start the runtime's demo program and watch it (stopped on quit).
    Demo {
        /// Screen refreshes per second (snapshots read from the table).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=60))]
        refresh_hz: u32,
    },
    /// Print every goroutine of a process in Go's SIGQUIT format.
    Dump {
        /// Process id of a grt program.
        pid: i32,
        /// Print the same content as JSON.
        #[arg(long)]
        json: bool,
        /// Print Go's schedtrace line with scheddetail P, M and G lines instead.
        #[arg(long)]
        schedtrace: bool,
        /// Also print every thread: idle Ms as goroutine 0 and all registers.
        #[arg(long)]
        threads: bool,
        /// Read the table live without stopping the target (running
        /// goroutines then have no stack).
        #[arg(long)]
        live: bool,
        /// Go traceback level: 2 adds gp/m/mp and fp/sp/pc fields.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
        level: u8,
        /// Also save the decoded snapshot (JSON) to this file.
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
    },
    /// Step through a documented race (`race list` lists them).
    Race {
        /// The race's name, or `list`.
        name: String,
        /// Which runtime to race: the historical code path or the fix.
        #[arg(long, value_enum, default_value_t = VariantArg::Buggy)]
        variant: VariantArg,
        /// Run every step without a screen and report the outcome (exit 0 only
        /// if the runtime did what the script expects).
        #[arg(long)]
        headless: bool,
        /// Write a JSON transcript of the run to this file.
        #[arg(long, value_name = "FILE")]
        transcript: Option<PathBuf>,
        /// Screen refreshes per second (interactive mode).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=60))]
        refresh_hz: u32,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum VariantArg {
    Buggy,
    Fixed,
}

fn ui_options(refresh_hz: u32) -> grt_tui::app::Options {
    grt_tui::app::Options { refresh_hz, ..Default::default() }
}

fn main() {
    let args = Args::parse();
    let r = match args.cmd {
        Cmd::Ps => cli::ps::run(),
        Cmd::Attach { pid, refresh_hz } => grt_tui::attach::attach(pid, ui_options(refresh_hz)),
        Cmd::Demo { refresh_hz } => grt_tui::attach::demo(ui_options(refresh_hz), Vec::new()),
        Cmd::Dump { pid, json, schedtrace, threads, live, level, save } => {
            cli::dump::run(cli::dump::Opts { pid, json, schedtrace, threads, live, level, save })
        }
        Cmd::Race { name, variant, headless, transcript, refresh_hz } => {
            let variant = match variant {
                VariantArg::Buggy => grt_inspector::race::script::Variant::Buggy,
                VariantArg::Fixed => grt_inspector::race::script::Variant::Fixed,
            };
            if name == "list" {
                cli::race::list()
            } else if headless {
                match cli::race::headless(&name, variant, transcript) {
                    Ok(true) => Ok(()),
                    Ok(false) => std::process::exit(1),
                    Err(e) => Err(e),
                }
            } else {
                cli::race::interactive(&name, variant, refresh_hz)
            }
        }
    };
    // A quit signal ended an interactive command through its normal path
    // (terminal restored, target given back): end as the signal would.
    grt_tui::terminal::exit_if_signalled();
    if let Err(e) = r {
        eprintln!("grt-tui: {e}");
        std::process::exit(1);
    }
}
