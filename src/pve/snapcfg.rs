//! The cluster-wide policy file `/etc/pve/pve-zfs-snap.cfg` and what its selectors are
//! matched against: the resource pools of `/etc/pve/user.cfg` and every guest of the cluster
//! (tags, names, disk keys) from `.vmlist` and the guest configs of every node.
//!
//! Reads files only, always under the product's root; never writes, never logs. The
//! decisions are `clusterpolicy`'s.

use super::{DiskTarget, GuestKind, disk_target, is_disk_key, read_config, vmlist};
use crate::clusterpolicy::{self, Cluster, ClusterGuest, PolicyFile};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// `<root>/etc/pve/pve-zfs-snap.cfg`.
pub fn policy_path(root: &Path) -> PathBuf {
    root.join("etc/pve/pve-zfs-snap.cfg")
}

/// Why the policy file cannot be used: every line is `<file>:<line>: <what to do>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", lines.join("\n"))]
pub struct PolicyFileError {
    /// One message per finding, each naming the file and line.
    pub lines: Vec<String>,
}

/// Reads and parses the policy file at `path`. `Ok(None)`: there is none (today's
/// behaviour). Anything else that is not a valid file is an error: a run must stop.
pub fn load(path: &Path) -> Result<Option<PolicyFile>, PolicyFileError> {
    let one = |what: String| PolicyFileError {
        lines: vec![format!("{}: {what}", path.display())],
    };
    let bytes = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(one(format!("cannot read it: {e}"))),
        Ok(m) if !m.is_file() => {
            return Err(one(
                "is not a regular file; pmxcfs holds regular files only".into(),
            ));
        }
        Ok(_) => std::fs::read(path).map_err(|e| one(format!("cannot read it: {e}")))?,
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        one(format!(
            "is not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    clusterpolicy::parse(&text)
        .map(Some)
        .map_err(|errors| PolicyFileError {
            lines: errors
                .iter()
                .map(|e| format!("{}:{}: {}", path.display(), e.line, e.message))
                .collect(),
        })
}

/// The resource pools of `<root>/etc/pve/user.cfg`: name → member VMIDs. The lines are
/// `pool:<name>:<comment>:<vmid>,<vmid>…:<storage>…:` (pve-access-control's
/// `parse_user_config`). A missing or unreadable file gives no pools.
pub fn read_pools(root: &Path) -> BTreeMap<String, Vec<u32>> {
    let text = std::fs::read(root.join("etc/pve/user.cfg"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    parse_pools(&text)
}

/// The `pool:` lines of a `user.cfg` text.
pub fn parse_pools(text: &str) -> BTreeMap<String, Vec<u32>> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("pool:") else {
            continue;
        };
        let mut fields = rest.split(':');
        let Some(name) = fields.next().map(str::trim).filter(|n| !n.is_empty()) else {
            continue;
        };
        let _comment = fields.next();
        let members = fields
            .next()
            .unwrap_or_default()
            .split(',')
            .filter_map(|v| v.trim().parse::<u32>().ok())
            .collect();
        out.insert(name.to_string(), members);
    }
    out
}

/// The node names: the directories of `<root>/etc/pve/nodes`.
pub fn node_names(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root.join("etc/pve/nodes"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Every guest of the cluster (from `.vmlist` and each node's configs), the pools and the
/// nodes; a guest's disks are its disk keys that name a storage volume (no CD-ROM, no
/// passthrough). A guest whose config cannot be read is listed without tags or disks (so it selects
/// nothing); a `.vmlist` that cannot be read is an error (pmxcfs not mounted).
pub fn cluster(root: &Path) -> Result<Cluster, String> {
    let pve = root.join("etc/pve");
    let path = pve.join(".vmlist");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let list = vmlist::parse(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))?;
    let pools = read_pools(root);
    let mut guests = Vec::new();
    for entry in &list.entries {
        let kind = match entry.kind.as_str() {
            "qemu" => GuestKind::Qemu,
            "lxc" => GuestKind::Lxc,
            _ => continue,
        };
        let conf = pve
            .join("nodes")
            .join(&entry.node)
            .join(kind.config_dir())
            .join(format!("{}.conf", entry.vmid));
        let section = read_config(&conf, kind).unwrap_or_default();
        guests.push(ClusterGuest {
            vmid: entry.vmid,
            kind,
            node: entry.node.clone(),
            name: section.guest_name().map(str::to_string),
            tags: section.tags(),
            pools: clusterpolicy::pools_of(entry.vmid, &pools),
            disks: section
                .entries
                .iter()
                .filter(|(k, v)| {
                    is_disk_key(k, kind) && matches!(disk_target(v), DiskTarget::Volume { .. })
                })
                .map(|(k, _)| k.clone())
                .collect(),
        });
    }
    guests.sort_by_key(|g| g.vmid);
    Ok(Cluster {
        guests,
        pools,
        nodes: node_names(root),
    })
}

/// The datasets of this node's guests that the policy (the file, or without one the
/// `nosnap` tag) excludes, each with why (`policy: tag nosnap`): what `check` must not alert
/// about. Best effort, never an error: not a PVE node (no `.vmlist`), a discovery that fails
/// or a broken file give none (a broken file stops every run, loudly, already).
pub fn excluded_datasets(
    root: &Path,
    node: Option<&str>,
    hostname: &str,
) -> BTreeMap<crate::naming::Dataset, String> {
    let mut out = BTreeMap::new();
    if !root.join("etc/pve/.vmlist").exists() {
        return out;
    }
    let (Ok(host), Ok(file)) = (
        super::discover(root, node, hostname),
        load(&policy_path(root)),
    ) else {
        return out;
    };
    // Exclusions do not depend on the command line's keys.
    let cli = clusterpolicy::CommandLine {
        keep: crate::policy::Policy::parse(&["f1".to_string()]).expect("valid"),
        bookmarks: None,
    };
    let rules = clusterpolicy::InForce { file, cli };
    let decisions = rules.decide_host(&host, &read_pools(root));
    for g in &host.guests {
        for d in &g.disks {
            if let Some(clusterpolicy::Decision::Exclude { why }) =
                decisions.disks.get(&(g.vmid, d.key.clone()))
            {
                out.insert(d.dataset.clone(), format!("policy: {why}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_lines_of_user_cfg() {
        let text = "user:root@pam:1:0:::root@example.com:::\n\
                    pool:web:Web servers:101,102,103::\n\
                    pool:db::105:local-zfs:\n\
                    pool:empty::::\n\
                    pool:nested/inner:x:300\n\
                    group:admins:root@pam::\n";
        let p = parse_pools(text);
        assert_eq!(p["web"], [101, 102, 103]);
        assert_eq!(p["db"], [105]);
        assert!(p["empty"].is_empty());
        assert_eq!(p["nested/inner"], [300]);
        assert_eq!(p.len(), 4);
    }

    #[test]
    fn missing_file_is_none_and_broken_file_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pve-zfs-snap.cfg");
        assert_eq!(load(&path).unwrap(), None);
        std::fs::write(&path, "rule: x\n\ttag db\n\tkeep f96 q1\n").unwrap();
        let e = load(&path).unwrap_err();
        assert_eq!(e.lines.len(), 1, "{e}");
        assert!(
            e.lines[0].starts_with(&format!("{}:3: keep: invalid key 'q1'", path.display())),
            "{e}"
        );
        std::fs::write(&path, b"rule: x\n\ttag \xff\n").unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("not UTF-8"));
    }
}
