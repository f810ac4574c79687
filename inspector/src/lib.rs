//! The inspector: finds grt processes, reads their status tables into
//! snapshots, controls their threads with ptrace, unwinds and symbolizes
//! goroutines and threads, and formats dumps. It never links the runtime.
//!
//! Modules:
//! - `find`: discover grt processes and open their tables (watch level).
//! - `snapshot`: decode a table into typed, self-contained snapshots; save
//!   and reload them.
//! - `waitfor`: who waits for whom (locks, scan bits, channels), cycles.
//! - `control`: ptrace sessions: seize, freeze, thaw, registers, probes.
//! - `stacks`, `dump`: unwinding and Go-format dumps.

pub mod control;
pub mod dump;
pub mod find;
pub mod race;
pub mod snapshot;
pub mod synth;
pub mod targets;
#[doc(hidden)]
pub mod testing;
pub mod waitfor;
