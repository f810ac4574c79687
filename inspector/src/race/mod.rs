//! Race stepping: scripts (`script`), and the engine that runs them
//! against a live target.

pub mod script;
