//! `pve-zfs-snap pull`, the third site's puller: what to send from the source to the target
//! for each guest disk ([`plan`]), what to destroy at the target under its own retention
//! ([`plan::retention`]), and what the run amounts to ([`report`]).
//!
//! Pure: it decides from the facts it is given (snapshots and bookmarks with their guids and
//! txgs) and returns values with reasons. It never runs `zfs`, `ssh` or anything else, never
//! prints and never reads the clock: `cmd::pull` gathers the facts and `zfs::transfer` runs
//! the plan. See `docs/PULL.md` for the rules and why.

pub mod plan;
pub mod report;

#[cfg(test)]
mod tests;
