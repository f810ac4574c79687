//! grt-tui's interactive face: a live terminal UI over the inspector.
//!
//! The crate is split the way ratatui programs should be (see
//! shared/STYLE.md, "tokio-console and ratatui"):
//!
//! - [`state`]: what the screen shows, as plain data: the current snapshot
//!   and its derived indices, cursors, sort/filter/group settings and their
//!   cached results, the stack cache, the timeline, the control marks. It
//!   knows nothing about ratatui or the terminal.
//! - [`view`]: renders a [`view::Screen`] (a borrow of the state) into a
//!   ratatui buffer: `impl Widget for &Screen`. Rendering never mutates
//!   state (cursors keep their scroll offset in a `Cell`) and only touches
//!   the visible rows.
//! - [`input`]: a pure function from a key and the input mode to an
//!   [`action::Action`].
//! - [`terminal`]: raw mode and the alternate screen behind a drop guard and
//!   a panic hook.
//! - [`sources`]: the threads that feed the state: the table sampler, the
//!   symbolizer, the ptrace controller (attached lazily), the demo child.
//! - [`app`]: the event loop that ties them together, and the
//!   [`app::Extension`] trait through which another module (the `race`
//!   command) adds a panel and drives actions.
//!
//! Invariants:
//! - The target is never stopped to be watched: snapshots are live reads
//!   of the status table. Only an explicit control action (freeze, thaw,
//!   run to probe, arm, dump) attaches ptrace, and quitting detaches, which
//!   restores every patched byte. A process we did not start is never
//!   killed.
//! - Nothing in `state` or `view` reads the clock or the target: tests
//!   render saved or synthetic snapshots and injected stacks.

pub mod action;
pub mod app;
pub mod attach;
pub mod fmt;
pub mod input;
pub mod race;
pub mod sources;
pub mod state;
pub mod terminal;
pub mod view;
