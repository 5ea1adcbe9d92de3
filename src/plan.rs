//! The plan: a pure function of (policy, now, host, inventory) to the label changes,
//! snapshots, bookmarks and destroys of one run, each with its reason.
//!
//! Pure: no I/O, no clock, no logging.
