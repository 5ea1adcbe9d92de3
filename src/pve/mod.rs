//! Proxmox VE discovery: node name, the guests whose config is on this node, their ZFS disks
//! and whether they are running, exactly as PVE decides it.
//!
//! Reads files only, always under a configurable root (tests point it at fixture trees);
//! never writes, never spawns processes, never logs.

use crate::naming::Dataset;

/// QEMU VM or LXC container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    /// `qemu-server`
    Qemu,
    /// `lxc`
    Lxc,
}

/// One disk of a guest that lives on a `zfspool` storage.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Disk {
    /// Config key (`scsi0`, `rootfs`, `mp0`, `efidisk0`, ...).
    pub key: String,
    /// Storage id from the config (`local-zfs`).
    pub storage: String,
    /// The dataset behind the volume.
    pub dataset: Dataset,
}

/// A guest whose config is on this node.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Guest {
    /// VMID.
    pub vmid: u32,
    /// VM or container.
    pub kind: GuestKind,
    /// Running on this node, as PVE decides it.
    pub running: bool,
    /// `template: 1`.
    pub template: bool,
    /// `lock:` value, if any (`backup`, `migrate`, `snapshot`, ...).
    pub lock: Option<String>,
    /// ZFS disks, in config order.
    pub disks: Vec<Disk>,
}

/// What this node is and what it owns.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Host {
    /// PVE node name (short hostname).
    pub node: String,
    /// Guests whose config is on this node, sorted by VMID.
    pub guests: Vec<Guest>,
}
