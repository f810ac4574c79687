//! Race stepping: scripts (`script`), the engine that runs them against a
//! live target (`engine`), and the scripts' table conditions (`table`).

pub mod engine;
pub mod script;
pub mod table;
