//! Proxmox VE discovery: node name, the guests whose config is on this node, their ZFS disks
//! and whether they are running, exactly as PVE decides it.
//!
//! Reads files only, always under a configurable root (tests point it at fixture trees);
//! never writes, never spawns processes, never logs. Entry point: [`discover`].
//!
//! Decisions beyond PVE's own rules (documented here because callers rely on them):
//! * `/etc/pve/.vmlist` missing or unparseable is fatal ([`DiscoverError::Vmlist`]): pmxcfs
//!   not mounted must never look like "no guests".
//! * A local guest whose config cannot be read or parsed is left out of [`Host::guests`] and
//!   listed in [`Host::skipped`] with the reason (file and line): its datasets are then not
//!   touched, and the other guests are still served.
//! * A disk volume owned by another VMID (`vm-100-disk-0` attached to VM 101) is not a disk of
//!   the guest (same rule as PVE replication, `get_replicatable_volumes`); it is reported in
//!   [`Host::warnings`]. So are disks on unknown storages, on zfspool storages disabled or not
//!   available on this node, and volume names that are not PVE zfspool names. Disks on other
//!   storage types, CD-ROMs (incl. cloud-init), `none`, passthrough devices and bind mounts are
//!   skipped silently.
//! * Running state is read for every local guest; a read error other than "file absent"
//!   (e.g. permission denied on the pidfile directory) is fatal, never "stopped".

mod config;
mod node;
mod running;
mod storage;
mod vmlist;

pub use config::{ConfigSyntaxError, DiskTarget, MainSection, disk_target, is_disk_key};
pub use node::{node_from_hostname, node_from_local_link, validate_node_name};
pub use running::{active_containers, cmdline_matches, parse_pidfile, qemu_running, stat_state};
pub use storage::{Storage, StorageConfig, ZfsVolname, parse_zfs_volname, split_volume_id};
pub use vmlist::{Vmlist, VmlistEntry, parse_vmid};

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

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

/// A guest whose config is on this node but could not be read or parsed: it is not in
/// [`Host::guests`], so none of its datasets may be touched.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SkippedGuest {
    /// VMID.
    pub vmid: u32,
    /// VM or container.
    pub kind: GuestKind,
    /// Why (names the file, and the line for syntax errors).
    pub reason: String,
}

/// What this node is and what it owns.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Host {
    /// PVE node name (short hostname).
    pub node: String,
    /// Guests whose config is on this node, sorted by VMID.
    pub guests: Vec<Guest>,
    /// Local guests that could not be read (malformed config, config vanished in a migration
    /// race), sorted by VMID. A run reports each as a failed item.
    pub skipped: Vec<SkippedGuest>,
    /// Non-fatal findings worth reporting (disks skipped for a reason, unknown guest types),
    /// each naming the guest (`VM 100: ...`, `CT 200: ...`).
    pub warnings: Vec<String>,
}

/// Why discovery failed as a whole, or (through [`SkippedGuest::reason`]) why one guest was
/// left out.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The node name (override or hostname) is not a DNS label.
    #[error("invalid node name: {0}")]
    NodeName(String),
    /// The hostname and `/etc/pve/local` disagree.
    #[error(
        "node name mismatch: the hostname gives {hostname_node:?} but {} points to nodes/{link_node}; \
         fix the hostname or pass the node name explicitly",
        link.display()
    )]
    NodeMismatch {
        /// Node name derived from the hostname.
        hostname_node: String,
        /// Node name from the symlink.
        link_node: String,
        /// The symlink (`<root>/etc/pve/local`).
        link: PathBuf,
    },
    /// `/etc/pve/local` exists but is unusable.
    #[error("cannot use {}: {reason}", path.display())]
    LocalLink {
        /// The symlink.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `.vmlist` could not be read: pmxcfs is probably not mounted.
    #[error(
        "cannot read {}: {source}; /etc/pve may not be mounted (is pve-cluster running?)",
        path.display()
    )]
    VmlistRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// `.vmlist` is not what pmxcfs writes.
    #[error(
        "cannot parse {}: {reason}; /etc/pve may not be mounted (is pve-cluster running?)",
        path.display()
    )]
    VmlistParse {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file needed to decide (storage.cfg, a guest config, a pidfile, `/proc/...`) could not
    /// be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A syntax error in `storage.cfg`.
    #[error("{}:{line}: {reason}", path.display())]
    StorageSyntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// Why.
        reason: String,
    },
    /// A malformed line in the main section of a guest config.
    #[error("{}:{line}: cannot parse config line {text:?}", path.display())]
    ConfigSyntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The line.
        text: String,
    },
}

impl From<running::ReadError> for DiscoverError {
    fn from(e: running::ReadError) -> Self {
        DiscoverError::Read {
            path: e.path,
            source: e.source,
        }
    }
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

/// Discovers this node and the guests it owns, reading only files under `root` (`/` in
/// production).
///
/// The node name is `node_override` (validated) or `hostname` cut at the first `.`; in the
/// second case it must agree with `<root>/etc/pve/local` → `nodes/<name>` when that link
/// exists (an explicit override is trusted as is). Guests come from `<root>/etc/pve/.vmlist`
/// (entries of this node), disks from the main section of each guest config mapped through
/// `<root>/etc/pve/storage.cfg`, running state from pidfiles and `<root>/proc`.
pub fn discover(
    root: &Path,
    node_override: Option<&str>,
    hostname: &str,
) -> Result<Host, DiscoverError> {
    let node = node_name(root, node_override, hostname)?;
    let pve = root.join("etc/pve");

    let vmlist_path = pve.join(".vmlist");
    let vmlist_text =
        std::fs::read_to_string(&vmlist_path).map_err(|source| DiscoverError::VmlistRead {
            path: vmlist_path.clone(),
            source,
        })?;
    let vmlist = vmlist::parse(&vmlist_text).map_err(|reason| DiscoverError::VmlistParse {
        path: vmlist_path.clone(),
        reason,
    })?;

    let storage_path = pve.join("storage.cfg");
    let storages = match std::fs::read_to_string(&storage_path) {
        Ok(text) => StorageConfig::parse(&text).map_err(|e| DiscoverError::StorageSyntax {
            path: storage_path.clone(),
            line: e.line,
            reason: e.reason,
        })?,
        // PVE treats a missing storage.cfg as empty; every zfs disk then warns below.
        Err(e) if e.kind() == io::ErrorKind::NotFound => StorageConfig::default(),
        Err(source) => {
            return Err(DiscoverError::Read {
                path: storage_path,
                source,
            });
        }
    };

    let mut host = Host {
        node: node.clone(),
        guests: Vec::new(),
        skipped: Vec::new(),
        warnings: Vec::new(),
    };
    let mut containers: Option<BTreeSet<u32>> = None;
    for entry in vmlist.entries.iter().filter(|e| e.node == node) {
        let kind = match entry.kind.as_str() {
            "qemu" => GuestKind::Qemu,
            "lxc" => GuestKind::Lxc,
            other => {
                host.warnings.push(format!(
                    "guest {}: type {other:?} is not supported, skipped",
                    entry.vmid
                ));
                continue;
            }
        };
        let vmid = entry.vmid;
        let conf_path = pve
            .join("nodes")
            .join(&node)
            .join(kind.config_dir())
            .join(format!("{vmid}.conf"));
        let section = match read_config(&conf_path, kind) {
            Ok(s) => s,
            Err(e) => {
                host.skipped.push(SkippedGuest {
                    vmid,
                    kind,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let disks = guest_disks(&section, kind, vmid, &node, &storages, &mut host.warnings);
        let running = match kind {
            GuestKind::Qemu => running::qemu_running(root, vmid)?,
            GuestKind::Lxc => {
                if containers.is_none() {
                    let text = running::read_proc_net_unix(root)?;
                    containers = Some(running::active_containers(&text));
                }
                containers.as_ref().is_some_and(|c| c.contains(&vmid))
            }
        };
        host.guests.push(Guest {
            vmid,
            kind,
            running,
            template: section.template(),
            lock: section.lock().map(str::to_string),
            disks,
        });
    }
    Ok(host)
}

/// Node name from the override or the hostname, cross-checked with `/etc/pve/local`.
fn node_name(
    root: &Path,
    node_override: Option<&str>,
    hostname: &str,
) -> Result<String, DiscoverError> {
    if let Some(name) = node_override {
        return validate_node_name(name)
            .map(str::to_string)
            .map_err(DiscoverError::NodeName);
    }
    let from_host = node_from_hostname(hostname).map_err(DiscoverError::NodeName)?;
    let link = root.join("etc/pve/local");
    match std::fs::read_link(&link) {
        Ok(target) => {
            let from_link =
                node_from_local_link(&target).map_err(|reason| DiscoverError::LocalLink {
                    path: link.clone(),
                    reason,
                })?;
            if from_link != from_host {
                return Err(DiscoverError::NodeMismatch {
                    hostname_node: from_host.to_string(),
                    link_node: from_link.to_string(),
                    link,
                });
            }
        }
        // Absent (pmxcfs not mounted: the .vmlist check reports that) — nothing to compare.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(DiscoverError::LocalLink {
                path: link,
                reason: e.to_string(),
            });
        }
    }
    Ok(from_host.to_string())
}

/// Reads and parses a guest config's main section.
fn read_config(path: &Path, kind: GuestKind) -> Result<MainSection, DiscoverError> {
    let text = std::fs::read_to_string(path).map_err(|source| DiscoverError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    MainSection::parse(&text, kind).map_err(|e| DiscoverError::ConfigSyntax {
        path: path.to_path_buf(),
        line: e.line,
        text: e.text,
    })
}

/// The ZFS disks of a guest's main section, in config order; reasons to skip a disk that the
/// admin should know about go to `warnings`.
fn guest_disks(
    section: &MainSection,
    kind: GuestKind,
    vmid: u32,
    node: &str,
    storages: &StorageConfig,
    warnings: &mut Vec<String>,
) -> Vec<Disk> {
    let who = format!("{} {vmid}", kind.label());
    let mut disks = Vec::new();
    for (key, value) in &section.entries {
        if !is_disk_key(key, kind) {
            continue;
        }
        let (storage, volname) = match disk_target(value) {
            DiskTarget::Volume { storage, volname } => (storage, volname),
            DiskTarget::Ignored(_) => continue,
            DiskTarget::Unrecognized(why) => {
                warnings.push(format!("{who}: {key} skipped: {why}"));
                continue;
            }
        };
        let Some(st) = storages.get(&storage) else {
            warnings.push(format!(
                "{who}: {key} skipped: storage {storage:?} is not defined in storage.cfg"
            ));
            continue;
        };
        if st.kind != "zfspool" {
            continue;
        }
        if !st.available_on(node) {
            let why = if st.disabled {
                "is disabled".to_string()
            } else {
                format!("is not available on node {node}")
            };
            warnings.push(format!("{who}: {key} skipped: storage {storage:?} {why}"));
            continue;
        }
        let Some(pool) = st.pool.as_deref() else {
            warnings.push(format!(
                "{who}: {key} skipped: zfspool storage {storage:?} has no 'pool'"
            ));
            continue;
        };
        let parsed = match parse_zfs_volname(&volname) {
            Ok(p) => p,
            Err(why) => {
                warnings.push(format!("{who}: {key} skipped: {why}"));
                continue;
            }
        };
        if parsed.owner != vmid {
            warnings.push(format!(
                "{who}: {key} skipped: volume {storage}:{volname} belongs to guest {}",
                parsed.owner
            ));
            continue;
        }
        match storage::zfs_dataset(pool, &parsed) {
            Ok(dataset) => disks.push(Disk {
                key: key.clone(),
                storage,
                dataset,
            }),
            Err(why) => warnings.push(format!("{who}: {key} skipped: {why}")),
        }
    }
    disks
}

#[cfg(test)]
mod tests;
