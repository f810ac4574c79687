//! Race stepping: scripts (`script`), and the engine that runs them
//! against a live target (`engine`).

pub mod engine;
pub mod script;
