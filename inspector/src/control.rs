//! Control: ptrace sessions over a live process. Seize every thread,
//! freeze and thaw them, read registers, single-step, and stop threads at
//! SDT probes with `int3`, with every patched byte restored on every exit
//! path.
//!
//! # Sessions
//!
//! A [`Session`] is a guard object (py-spy/remoteprocess style): `attach`
//! seizes every thread of the process with `PTRACE_SEIZE`, which does not
//! stop anything, so an idle session costs the target nothing but the
//! kernel's notifications (clone, exit, signals). Dropping the session
//! detaches: it restores every probe byte and semaphore it changed, stops
//! every thread, drains the `SIGTRAP`s our own `int3`s left queued, and
//! detaches each thread with the signal it still has to receive.
//!
//! ptrace requests are only accepted from the thread that attached, so
//! `Session` is `!Send` and is used from one thread. [`Controller`] runs a
//! session on a thread of its own, driven by a command channel and
//! producing an event channel, for the TUI and the race engine.
//!
//! # The event pump
//!
//! A seized process stops whenever the kernel has something to tell its
//! tracer: a new thread (its creator stops at the clone, the new thread
//! at its first instruction), a thread exit, a signal to deliver, a probe
//! hit. It continues only when the tracer answers, so a session must be
//! pumped: call [`Session::wait_event`] regularly (the controller does it
//! all the time). Each stop is classified once, in `Session::handle_status`:
//!
//! | stop | answer |
//! |---|---|
//! | our `int3` (SIGTRAP, `SI_KERNEL`, pc-1 an armed site) | held; `ProbeHit` |
//! | a late trap at a site we have since disarmed | swallowed |
//! | any other signal | passed through (re-injected on resume); `SignalDelivered` |
//! | interrupt (`PTRACE_EVENT_STOP`, SIGTRAP) | held if the thread should be frozen, else resumed |
//! | group-stop (`PTRACE_EVENT_STOP`, SIGSTOP/SIGTSTP/SIGTTIN/SIGTTOU) | `PTRACE_LISTEN` (stays stopped, as the signal wants) |
//! | clone / new thread's first stop | the new thread follows the session's policy; `NewThread` |
//! | exit (`PTRACE_EVENT_EXIT`) | resumed, always (never hold up an exit) |
//! | exec | our patches died with the old image; `Exec` |
//!
//! A thread the session should hold frozen keeps any signal it stopped
//! for and receives it when thawed. A thread is frozen, at a probe, or
//! group-stopped only while the session holds it; thawing resumes it with
//! `PTRACE_CONT` (or `PTRACE_LISTEN` in a group-stop).
//!
//! Probes are never lifted: a thread that traps on our `int3` has its pc
//! at probe+1, already past the one-byte `nop` the `int3` replaced, so
//! resuming it needs no step-over and other threads keep hitting the
//! probe meanwhile (lifting and re-arming around hits missed 42% of hits).
//!
//! # Waiting with a timeout
//!
//! `waitpid` has no timeout, and `waitpid(-1)` would reap children that
//! are not ours (the TUI's, the test harness's). A process-wide waiter
//! thread (`waiter.rs`) blocks in `waitid(P_ALL, WNOWAIT)`, which peeks at
//! the next state change without consuming it, and wakes the sessions;
//! each session consumes only its own threads' changes with
//! `waitpid(tid, WNOHANG)`. Every wait in this module ends at a deadline.
//! When the target is a child of this process (the race engine spawns its
//! targets), its exit is only peeked at (`waitid(WNOWAIT)`), so the code
//! that spawned it still gets the status from its own `Child::wait`.
//!
//! # Exit paths
//!
//! Every patched byte and semaphore is recorded in a static, lock-free
//! table (`patch.rs`) as well as in its session. Normal detach and `Drop`
//! (errors, panics) restore through the session;
//! [`install_exit_handlers`] lets a CLI restore from SIGINT, SIGTERM and
//! SIGHUP handlers and at `exit()`, with async-signal-safe `pwrite`s to
//! `/proc/<pid>/mem`. A SIGKILLed inspector restores nothing: the kernel
//! detaches its tracees and the grt runtime's own SIGTRAP handler writes
//! `nop` back over its probe sites at the next hit.
//!
//! x86-64 only, like the runtime.

mod args;
mod controller;
mod error;
mod patch;
mod session;
mod sys;
mod waiter;

pub use args::{parse_arg_spec, ArgLoc, ArgSpec, Regs};
pub use controller::{Command, Controller, Reply};
pub use error::{signal_name, Comm, Error, ExitStatus, Result};
pub use patch::{install_exit_handlers, restore_all_patched_sites};
pub use session::{Event, OnHit, Options, ProbeHit, ProbeId, Session, ThreadInfo, ThreadState, WakeHandle};
