//! `simulate`: the real run ([`crate::run::run_host`]: inventory, plan, apply with the real
//! `lua/` programs) repeated on a virtual clock against the in-process emulator, to show what
//! a policy keeps over months before it is installed on a node.
//!
//! Builds a synthetic host (N guests × 2 zvols `rpool/data/vm-<id>-disk-<n>`, the last guest
//! stopped during the `--stop-at` windows), steps the clock, and observes the emulated pool
//! after each run. Touches nothing outside its in-memory [`zfs_emu::World`]: no files, no
//! processes, no real clock (the caller measures wall time). Writing the CSV and printing
//! are the caller's.
//!
//! Layout: `scenario.rs` validates the options; `world.rs` builds the synthetic node and its
//! emulated pool and reads disks off it; `runs.rs` is the run loop and what it observes;
//! `render.rs` turns the outcome into the report and the CSV; `tests.rs` checks the end state
//! against an independent model of the rules.

mod render;
mod runs;
mod scenario;
mod world;

pub use render::{csv, kept_per_class, render};
pub use runs::{Outcome, RunRow, TimelineRow, simulate, simulate_with_progress};
pub use scenario::{Scenario, SimulateOptions, StopWindow};
pub use world::{DiskState, KindCounts, disk_state, host, kind_index, world};

/// Node name of the synthetic host.
pub const NODE: &str = "pve1";
/// Pool of the synthetic host.
pub const POOL: &str = "rpool";
/// Disks per synthetic guest.
pub const DISKS_PER_GUEST: u32 = 2;
/// VMID of the first synthetic guest; the others follow.
pub const FIRST_VMID: u32 = 100;

#[cfg(test)]
mod tests;
