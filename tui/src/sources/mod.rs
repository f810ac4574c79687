//! The threads and handles that feed the app: the table sampler (live
//! snapshots at the refresh rate), the symbolizer (stacks, thread pcs, the
//! probe list, off the UI thread), the controller (ptrace, attached on the
//! first control action), and the demo child we may have started.

pub mod control;
pub mod launch;
pub mod sampler;
pub mod symbolizer;
