//! grt: a Go-style M:N runtime.
