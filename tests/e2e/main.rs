//! The one integration-test binary: runs the real `pve-zfs-snap` binary against fixture PVE
//! trees (`tests/fixtures/pve/`) and pools built with the `zfs-emu` stand-in (symlinked as
//! `zfs`/`zpool` first on PATH).
#![allow(clippy::disallowed_methods)] // tests drive the binary from outside: their own clock and environment

/// PVE fixture tree + emulator pools: the main run's world.
mod harness;
/// A bare ZFS host (no PVE tree): the monitoring side's world.
mod host;

mod apply;
mod check;
mod cron;
mod dryrun;
mod faults;
mod files;
mod journal;
mod policy;
mod protection;
mod pull;
mod readme;
mod replica;
mod run_main;
mod stale_bookmarks;
mod status;
