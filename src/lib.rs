//! pve-zfs-snap: rotating ZFS snapshots of the guests running on a Proxmox VE node, taken
//! through OpenZFS channel programs so that all snapshots of a run on one pool share one
//! transaction group.
//!
//! Layout (see DESIGN.md): pure modules (`naming`, `policy`, `plan`, `inventory`) return
//! values with reasons and never log; effects (`zfs`, `pve`) live at the edges.

pub mod app;
pub mod check;
pub mod check_cmd;
pub mod cli;
pub mod cron;
pub mod cron_cmd;
pub mod emu;
pub mod fsutil;
pub mod inventory;
pub mod lock;
pub mod metrics;
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
pub mod status;
pub mod zfs;
