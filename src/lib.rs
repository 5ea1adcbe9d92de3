//! pve-zfs-snap: rotating ZFS snapshots of the guests running on a Proxmox VE node, taken
//! through OpenZFS channel programs so that all snapshots of a run on one pool share one
//! transaction group.
//!
//! Layers, lowest first (checked by `cargo test --test architecture`): leaves (`cli`, `exit`,
//! `duration`); names (`naming`); pure rules and data (`policy`, `nosnap`, `state`, `change`, `host`,
//! `verdict`);
//! pure decisions (`plan`, `monitor`); pure results (`report`, `protection`, `status`); edges
//! (`fsutil`, `lock`, `cron`, `metrics`, `pve`, `zfs`); pipelines (`run`, `simulate`); and
//! `cmd`, the only code that prints or reads the clock, the environment, the hostname or the
//! TTY. Pure modules return values with reasons and never log.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod change;
pub mod cli;
pub mod cmd;
pub mod cron;
pub mod duration;
pub mod exit;
pub mod fsutil;
pub mod host;
pub mod lock;
pub mod metrics;
pub mod monitor;
pub mod naming;
pub mod nosnap;
pub mod plan;
pub mod policy;
pub mod protection;
pub mod pve;
pub mod replica;
pub mod report;
pub mod run;
pub mod simulate;
pub mod state;
pub mod status;
pub mod verdict;
pub mod zfs;
