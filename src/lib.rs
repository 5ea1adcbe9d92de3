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
pub(crate) mod clusterpolicy;
pub mod cmd;
pub mod cron;
pub(crate) mod duration;
pub(crate) mod exit;
pub(crate) mod fsutil;
pub(crate) mod host;
pub(crate) mod lock;
pub(crate) mod metrics;
pub(crate) mod monitor;
pub mod naming;
pub(crate) mod nosnap;
pub(crate) mod plan;
pub(crate) mod policy;
pub(crate) mod protection;
pub(crate) mod pull;
pub(crate) mod pve;
pub(crate) mod removal;
pub(crate) mod replica;
pub(crate) mod report;
pub(crate) mod run;
pub mod simulate;
pub(crate) mod state;
pub(crate) mod status;
pub(crate) mod verdict;
pub mod zfs;
