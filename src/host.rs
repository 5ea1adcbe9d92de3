//! What a Proxmox VE node is and owns, as discovery found it: its name, its guests (kind,
//! running or not, template, lock), their ZFS disks and the disk lines that give no dataset.
//! The input of the planner, the status table and the protection verdict.
//!
//! Pure data: `pve::discover` builds it from the files under a root; nothing here reads them.

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
    /// `name:` (VM) or `hostname:` (CT), if set.
    pub name: Option<String>,
    /// `tags:` (PVE tags, lowercase, in config order).
    pub tags: Vec<String>,
    /// ZFS disks, in config order.
    pub disks: Vec<Disk>,
    /// Disk lines that give no dataset to snapshot, in config order, and why.
    pub other_disks: Vec<OtherDisk>,
}

/// A disk line of a guest that gives no dataset to snapshot.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OtherDisk {
    /// Config key (`scsi1`, `mp0`, ...).
    pub key: String,
    /// Why it is not snapshotted (names the storage or volume).
    pub reason: String,
    /// True when the disk should be protected and cannot be (a failure of the run); false for
    /// a deliberate, named exclusion (another storage type, another guest's volume).
    pub failed: bool,
}

/// A guest whose config is on this node but cannot be used: it is not in [`Host::guests`],
/// so none of its datasets may be touched, and the run reports it as failed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UnreadableGuest {
    /// VMID.
    pub vmid: u32,
    /// VM or container; `None` for a `.vmlist` type we do not know.
    pub kind: Option<GuestKind>,
    /// Why (names the file).
    pub reason: String,
}

impl UnreadableGuest {
    /// `VM`, `CT` or `guest` (unknown type), for messages.
    pub fn label(&self) -> &'static str {
        self.kind.map_or("guest", GuestKind::label)
    }
}

/// A dataset on this node's pools of a guest whose config is on another node: a replica
/// (PVE storage replication's target), or a stale copy the guest left behind (migration,
/// HA recovery). `pve::replica_disks` finds them; only bookmarks and this node's own stale
/// label are ever written there (`replica`, `plan::replica`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaDisk {
    /// VMID.
    pub vmid: u32,
    /// The node whose directory holds the config (the guest's owner).
    pub owner: String,
    /// The dataset, mapped through this node's `storage.cfg`.
    pub dataset: Dataset,
}

/// What this node is and what it owns.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Host {
    /// PVE node name (short hostname).
    pub node: String,
    /// Guests whose config is on this node, sorted by VMID.
    pub guests: Vec<Guest>,
    /// Local guests whose config cannot be used (unreadable, vanished in a migration race,
    /// unknown type), sorted by VMID. A run reports each as failed.
    pub unreadable: Vec<UnreadableGuest>,
    /// Findings that do not leave a disk unprotected but are worth fixing (config lines PVE
    /// ignores too), each naming the guest (`VM 100: ...`).
    pub warnings: Vec<String>,
}

impl GuestKind {
    /// Directory of its configs under `nodes/<node>/` (`qemu-server`, `lxc`).
    pub fn config_dir(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu-server",
            GuestKind::Lxc => "lxc",
        }
    }

    /// `VM` or `CT`, for messages.
    pub fn label(self) -> &'static str {
        match self {
            GuestKind::Qemu => "VM",
            GuestKind::Lxc => "CT",
        }
    }
}
