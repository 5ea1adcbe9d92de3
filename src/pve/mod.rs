//! Proxmox VE discovery: node name, the guests whose config is on this node, their ZFS disks
//! and whether they are running, exactly as PVE decides it.
//!
//! Reads files only, always under a configurable root (tests point it at fixture trees);
//! never spawns processes, never logs, and never writes — except `nodestatus`, which writes
//! this node's one status file in `/etc/pve/nodes/<node>/`. Entry point: [`discover`]; the
//! cluster policy file, `user.cfg` and the cluster's guests are read by `snapcfg`.
//!
//! Decisions beyond PVE's own rules (documented here because callers rely on them). Every
//! disk line of a local guest ends in exactly one place: [`Guest::disks`] (a dataset to
//! protect) or [`Guest::other_disks`] (why not, and whether that is a failure); a guest whose
//! config cannot be used at all is in [`Host::unreadable`]. Nothing is dropped silently:
//! * `/etc/pve/.vmlist` missing or unparseable is fatal ([`DiscoverError::VmlistRead`]):
//!   pmxcfs not mounted must never look like "no guests". A node name without a
//!   `nodes/<name>` directory is fatal too ([`DiscoverError::UnknownNode`]).
//! * Guest configs are read as PVE reads them: bytes (comments are free text, any bytes,
//!   decoded lossily), a UTF-8 byte-order mark dropped, a line PVE's parser would not
//!   understand skipped with a warning in [`Host::warnings`] (PVE skips it too).
//! * A local guest whose config cannot be read, or of a type we do not know, is in
//!   [`Host::unreadable`] with the reason; a run reports it as a failure.
//! * Failures ([`OtherDisk::failed`]): a disk on a storage not in `storage.cfg`, on a zfspool
//!   storage disabled or not available on this node or without `pool`, with a volume name that
//!   is not a PVE zfspool name, or a value not understood.
//! * Not failures, but named: a volume owned by another VMID (`vm-100-disk-0` attached to VM
//!   101: not a disk of the guest, same rule as PVE replication's `get_replicatable_volumes`),
//!   and disks on other storage types. CD-ROMs (incl. cloud-init), `none`, passthrough
//!   devices and bind mounts are not storage volumes and are not listed.
//! * Running state is read for every local guest; a read error other than "file absent"
//!   (e.g. permission denied on the pidfile directory) is fatal, never "stopped".

mod config;
mod node;
pub mod nodestatus;
mod running;
pub mod snapcfg;
mod storage;
mod vmlist;

pub use config::{DiskTarget, MainSection, disk_target, is_disk_key};
pub use node::{node_from_hostname, node_from_local_link, validate_node_name};
pub use storage::{StorageConfig, parse_zfs_volname};

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

pub use crate::host::{Disk, Guest, GuestKind, Host, OtherDisk, ReplicaDisk, UnreadableGuest};

/// Why discovery failed as a whole, or (through [`UnreadableGuest::reason`]) why one guest
/// was left out.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The node name (override or hostname) is not a DNS label.
    #[error("invalid node name: {0}")]
    NodeName(String),
    /// The hostname and `/etc/pve/local` disagree.
    #[error(
        "node name mismatch: the hostname gives {hostname_node:?} but {} points to nodes/{link_node}; \
         fix the hostname, or pass --node {link_node} (the name PVE uses: `ls /etc/pve/nodes`)",
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
    /// The node name has no `nodes/<name>` directory in `/etc/pve`: a mistyped `--node`, or
    /// a hostname that is not the PVE node name.
    #[error(
        "node {node:?} is not a node of this cluster: {} does not exist (nodes: {}); \
         pass --node with the name PVE uses (`ls /etc/pve/nodes`)",
        path.display(),
        if known.is_empty() { "none".to_string() } else { known.join(", ") }
    )]
    UnknownNode {
        /// The name we were given or derived.
        node: String,
        /// `<root>/etc/pve/nodes/<node>`.
        path: PathBuf,
        /// The nodes that do exist.
        known: Vec<String>,
    },
}

impl DiscoverError {
    /// True for errors in what the admin configured or typed (node name, `storage.cfg`
    /// syntax): exit code 2, "fix the configuration", rather than a failed run.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            DiscoverError::NodeName(_)
                | DiscoverError::NodeMismatch { .. }
                | DiscoverError::LocalLink { .. }
                | DiscoverError::StorageSyntax { .. }
                | DiscoverError::UnknownNode { .. }
        )
    }
}

impl From<running::ReadError> for DiscoverError {
    fn from(e: running::ReadError) -> Self {
        DiscoverError::Read {
            path: e.path,
            source: e.source,
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

    check_node_dir(&pve, &node)?;

    let mut host = Host {
        node: node.clone(),
        guests: Vec::new(),
        unreadable: Vec::new(),
        warnings: Vec::new(),
    };
    let mut containers: Option<BTreeSet<u32>> = None;
    for entry in vmlist.entries.iter().filter(|e| e.node == node) {
        let kind = match entry.kind.as_str() {
            "qemu" => GuestKind::Qemu,
            "lxc" => GuestKind::Lxc,
            other => {
                host.unreadable.push(UnreadableGuest {
                    vmid: entry.vmid,
                    kind: None,
                    reason: format!(
                        "type {other:?} in .vmlist is not one pve-zfs-snap knows (qemu, lxc)"
                    ),
                });
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
                host.unreadable.push(UnreadableGuest {
                    vmid,
                    kind: Some(kind),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        for bad in &section.ignored {
            host.warnings.push(format!(
                "{} {vmid}: {}:{}: line ignored, as PVE ignores it: {:?}",
                kind.label(),
                conf_path.display(),
                bad.line,
                bad.text
            ));
        }
        let (disks, other_disks) = guest_disks(&section, kind, vmid, &node, &storages);
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
            name: section.guest_name().map(str::to_string),
            tags: section.tags(),
            disks,
            other_disks,
        });
    }
    Ok(host)
}

/// `nodes/<node>` must exist under `pve` (pmxcfs makes it for every cluster member): a node
/// name without it serves nothing, which must not look like "no guests here".
fn check_node_dir(pve: &Path, node: &str) -> Result<(), DiscoverError> {
    let nodes = pve.join("nodes");
    let path = nodes.join(node);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(DiscoverError::UnknownNode {
            node: node.to_string(),
            path,
            known: vec![],
        }),
        // No `nodes/` at all: pmxcfs is not mounted; the .vmlist check says so.
        Err(_) if !nodes.exists() => Ok(()),
        Err(_) => {
            let mut known: Vec<String> = std::fs::read_dir(&nodes)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            known.sort();
            Err(DiscoverError::UnknownNode {
                node: node.to_string(),
                path,
                known,
            })
        }
    }
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

/// Reads and parses a guest config's main section, as bytes decoded lossily (PVE's configs
/// are bytes: a description comment may hold anything).
fn read_config(path: &Path, kind: GuestKind) -> Result<MainSection, DiscoverError> {
    let bytes = std::fs::read(path).map_err(|source| DiscoverError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(MainSection::parse(&String::from_utf8_lossy(&bytes), kind))
}

/// The ZFS disks of a guest's main section, in config order, and the disk lines that give no
/// dataset, with why (and whether that is a failure).
fn guest_disks(
    section: &MainSection,
    kind: GuestKind,
    vmid: u32,
    node: &str,
    storages: &StorageConfig,
) -> (Vec<Disk>, Vec<OtherDisk>) {
    let mut disks = Vec::new();
    let mut other = Vec::new();
    for (key, value) in &section.entries {
        if !is_disk_key(key, kind) {
            continue;
        }
        let mut no = |reason: String, failed: bool| {
            other.push(OtherDisk {
                key: key.clone(),
                reason,
                failed,
            })
        };
        let (storage, volname) = match disk_target(value) {
            DiskTarget::Volume { storage, volname } => (storage, volname),
            DiskTarget::Ignored(_) => continue,
            DiskTarget::Unrecognized(why) => {
                no(why, true);
                continue;
            }
        };
        let Some(st) = storages.get(&storage) else {
            no(
                format!("storage {storage:?} is not defined in /etc/pve/storage.cfg"),
                true,
            );
            continue;
        };
        if st.kind != "zfspool" {
            no(
                format!("on {} storage {storage:?}, not a zfspool storage", st.kind),
                false,
            );
            continue;
        }
        if !st.available_on(node) {
            let why = if st.disabled {
                "is disabled in storage.cfg".to_string()
            } else {
                format!("is not available on node {node} (storage.cfg 'nodes')")
            };
            no(format!("storage {storage:?} {why}"), true);
            continue;
        }
        let Some(pool) = st.pool.as_deref() else {
            no(
                format!("zfspool storage {storage:?} has no 'pool' in storage.cfg"),
                true,
            );
            continue;
        };
        let parsed = match parse_zfs_volname(&volname) {
            Ok(p) => p,
            Err(why) => {
                no(why, true);
                continue;
            }
        };
        if parsed.owner != vmid {
            no(
                format!(
                    "volume {storage}:{volname} belongs to guest {} (as for PVE replication)",
                    parsed.owner
                ),
                false,
            );
            continue;
        }
        match storage::zfs_dataset(pool, &parsed) {
            Ok(dataset) => disks.push(Disk {
                key: key.clone(),
                storage,
                dataset,
            }),
            Err(why) => no(why, true),
        }
    }
    (disks, other)
}

#[cfg(test)]
mod tests;

/// The disks of the guests whose config is on another node, as datasets of this node's
/// storages (what PVE replication writes here). Best effort and read-only: a config or
/// `storage.cfg` that cannot be read gives nothing (nothing is ever written for a dataset
/// not found here), and a disk whose storage is not available on `node` is left out.
pub fn replica_disks(root: &Path, node: &str) -> Vec<ReplicaDisk> {
    let pve = root.join("etc/pve");
    let Ok(text) = std::fs::read_to_string(pve.join(".vmlist")) else {
        return vec![];
    };
    let Ok(vmlist) = vmlist::parse(&text) else {
        return vec![];
    };
    let Some(storages) = std::fs::read_to_string(pve.join("storage.cfg"))
        .ok()
        .and_then(|t| StorageConfig::parse(&t).ok())
    else {
        return vec![];
    };
    let mut out = Vec::new();
    for entry in vmlist.entries.iter().filter(|e| e.node != node) {
        let kind = match entry.kind.as_str() {
            "qemu" => GuestKind::Qemu,
            "lxc" => GuestKind::Lxc,
            _ => continue,
        };
        let path = pve
            .join("nodes")
            .join(&entry.node)
            .join(kind.config_dir())
            .join(format!("{}.conf", entry.vmid));
        let Ok(section) = read_config(&path, kind) else {
            continue;
        };
        let (disks, _) = guest_disks(&section, kind, entry.vmid, node, &storages);
        for d in disks {
            out.push(ReplicaDisk {
                vmid: entry.vmid,
                owner: entry.node.clone(),
                dataset: d.dataset,
            });
        }
    }
    out
}
