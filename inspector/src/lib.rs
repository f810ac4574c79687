//! The inspector: reads a grt process status table and controls its threads.
