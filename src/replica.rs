//! Stale `label:running` on this node's replicas (issue 18, scenario 4: a migration back).
//!
//! PVE replication sends `label:running` with `zfs send -p`, so a replica shows the owner's
//! value as *received*. A value this node set *locally* while it owned the guest (its own
//! name, or `stopped`) outlives the ownership: ZFS lets a local value win over a received one,
//! and the first-receive rule that clears local properties applies only to a dataset that never
//! received any. After A → B → A, B's local `pve2` masks the received `pve1` for ever.
//!
//! The rule: on a dataset of a guest whose config is on another node (a replica here), a
//! *local* `label:running` equal to this node's name or `stopped` is this node's own stale
//! write, and is reverted with `zfs inherit -S` (the received value shows again, or none).
//! This is one of the two writes to a replica (the other: bookmarks of the snapshots of
//! ours there, [`crate::plan::replica`]): it only ever removes a value this node wrote for
//! itself; it never sets a value, never touches a local value naming another node, a
//! received or inherited value, a snapshot, or a guest whose config is here.
//!
//! When: only after the cluster's guest placement changed (the bytes of `/etc/pve/.vmlist`
//! differ from the last pass that succeeded, remembered in [`STAMP`]), since a stale value
//! appears only when a guest moves and nothing re-creates it once reverted: a steady-state run
//! spawns no process for this (it stays at its two channel programs per pool).
//!
//! May not plan snapshots or destroys, print or read the clock; effects only through
//! [`Exec`] and the stamp file.

use std::path::{Path, PathBuf};

use crate::pve::ReplicaDisk;
use crate::zfs::{Exec, Tool};

/// Under the root: the `.vmlist` digest of the last replica pass that succeeded.
pub const STAMP: &str = "var/cache/pve-zfs-snap/replica-labels";

fn stamp_path(root: &Path) -> PathBuf {
    root.join(STAMP)
}

/// The digest of `<root>/etc/pve/.vmlist` for `node` (`None`: unreadable; no pass then).
pub fn placement_digest(root: &Path, node: &str) -> Option<String> {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(root.join("etc/pve/.vmlist")).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    node.hash(&mut h);
    bytes.hash(&mut h);
    Some(format!("{:016x}", h.finish()))
}

/// True when the placement changed since the last successful pass (or none was recorded).
pub fn due(root: &Path, digest: &str) -> bool {
    match std::fs::read_to_string(stamp_path(root)) {
        Ok(s) => s.trim() != digest,
        Err(_) => true,
    }
}

/// Remembers a successful pass, as a 0600 file in the snapshot cache's private directory
/// (made by the cache save before; best effort: a lost stamp only costs one more pass).
pub fn record(root: &Path, digest: &str) {
    let _ = crate::fsutil::replace_file(
        &stamp_path(root),
        format!("{digest}\n").as_bytes(),
        0o600,
        ".replica-labels.",
    );
}

/// What [`revert_stale_labels`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reverted {
    /// `<dataset>: label:running=<value> (local, stale: VM <vmid> is on <owner>) reverted`.
    pub notes: Vec<String>,
    /// Why a read or a revert failed (the label stays; a later run retries).
    pub failures: Vec<String>,
}

/// True when a replica's `label:running` is this node's own stale local value.
pub fn is_own_stale(node: &str, value: &str, source: &str) -> bool {
    source == "local" && (value == node || value == "stopped")
}

/// Reads `label:running` of `disks` (one `zfs get`), then reverts this node's own stale
/// local values (one `zfs inherit -S`). Datasets that do not exist here are skipped.
pub fn revert_stale_labels(exec: &dyn Exec, node: &str, disks: &[ReplicaDisk]) -> Reverted {
    let mut out = Reverted::default();
    if disks.is_empty() {
        return out;
    }
    let mut args: Vec<String> = [
        "get",
        "-H",
        "-p",
        "-o",
        "name,value,source",
        "label:running",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(disks.iter().map(|d| d.dataset.to_string()));
    // A dataset missing here makes `zfs get` exit 1 with the others still listed.
    let got = match exec.run(Tool::Zfs, &args, None) {
        Ok(o) => o.stdout,
        Err(e) => {
            out.failures
                .push(format!("cannot read label:running of the replicas: {e}"));
            return out;
        }
    };
    let mut stale = Vec::new();
    for line in got.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [name, value, source] = f[..] else {
            continue;
        };
        if !is_own_stale(node, value, source) {
            continue;
        }
        if let Some(d) = disks.iter().find(|d| d.dataset.to_string() == name) {
            stale.push((d, value.to_string()));
        }
    }
    if stale.is_empty() {
        return out;
    }
    let mut args: Vec<String> = vec!["inherit".into(), "-S".into(), "label:running".into()];
    args.extend(stale.iter().map(|(d, _)| d.dataset.to_string()));
    match exec.run(Tool::Zfs, &args, None) {
        Ok(o) if o.code == 0 => {
            for (d, v) in &stale {
                out.notes.push(format!(
                    "{}: label:running={v} (local, stale: VM {} is on {}) reverted to the received value",
                    d.dataset, d.vmid, d.owner
                ));
            }
        }
        Ok(o) => out.failures.push(format!(
            "cannot revert the stale label:running of {} replica dataset(s): {}",
            stale.len(),
            o.stderr.trim()
        )),
        Err(e) => out.failures.push(format!(
            "cannot revert the stale label:running of {} replica dataset(s): {e}",
            stale.len()
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_nodes_own_local_values_are_stale() {
        assert!(is_own_stale("pve2", "pve2", "local"));
        assert!(is_own_stale("pve2", "stopped", "local"));
        assert!(
            !is_own_stale("pve2", "pve1", "local"),
            "another node's value"
        );
        assert!(!is_own_stale("pve2", "pve2", "received"));
        assert!(!is_own_stale("pve2", "pve2", "inherited from B/data"));
        assert!(!is_own_stale("pve2", "-", "-"));
    }
}
