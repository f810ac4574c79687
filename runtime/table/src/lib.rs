//! The grt status table layout.
