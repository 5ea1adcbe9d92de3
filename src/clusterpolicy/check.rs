//! The policy file checked against the cluster's guests (every node's, from `/etc/pve`): a
//! tag no guest has, a pool or node that does not exist, a rule that selects no disk, two
//! rules of the same precedence on one disk. `config check` reports them as errors; a run
//! reports the first three as warnings (a guest deleted elsewhere must not stop every node's
//! snapshots) and fails the disks of a conflict.
//!
//! Pure: decides over values; the edge `pve::snapcfg` builds the [`Cluster`].

use super::{Decision, FileError, InForce, PolicyFile, Rule};
use crate::host::{Guest, GuestKind};
use std::collections::{BTreeMap, BTreeSet};

/// A guest of the cluster as the policy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterGuest {
    /// VMID.
    pub vmid: u32,
    /// VM or container.
    pub kind: GuestKind,
    /// The node its config is on.
    pub node: String,
    /// `name:` (VM) or `hostname:` (CT).
    pub name: Option<String>,
    /// `tags:`.
    pub tags: Vec<String>,
    /// The resource pools it is a member of.
    pub pools: Vec<String>,
    /// Its disk config keys.
    pub disks: Vec<String>,
}

impl ClusterGuest {
    /// A local guest of discovery, with its pools from `pools` (name → members).
    pub fn from_guest(g: &Guest, node: &str, pools: &BTreeMap<String, Vec<u32>>) -> ClusterGuest {
        ClusterGuest {
            vmid: g.vmid,
            kind: g.kind,
            node: node.to_string(),
            name: g.name.clone(),
            tags: g.tags.clone(),
            pools: pools_of(g.vmid, pools),
            disks: g.disks.iter().map(|d| d.key.clone()).collect(),
        }
    }
}

/// The pools whose members include `vmid`.
pub fn pools_of(vmid: u32, pools: &BTreeMap<String, Vec<u32>>) -> Vec<String> {
    pools
        .iter()
        .filter(|(_, m)| m.contains(&vmid))
        .map(|(p, _)| p.clone())
        .collect()
}

/// Every guest of the cluster, the resource pools and the nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cluster {
    /// Guests, sorted by VMID.
    pub guests: Vec<ClusterGuest>,
    /// Resource pools: name → member VMIDs.
    pub pools: BTreeMap<String, Vec<u32>>,
    /// Node names.
    pub nodes: Vec<String>,
}

/// What of `file` does not fit `cluster`, each at its rule's line, in line order.
pub fn check(file: &PolicyFile, cluster: &Cluster) -> Vec<FileError> {
    let mut out = Vec::new();
    let tags: BTreeSet<&str> = cluster
        .guests
        .iter()
        .flat_map(|g| g.tags.iter().map(String::as_str))
        .collect();
    for r in &file.rules {
        unknown_names(r, &tags, cluster, &mut out);
        let selects = cluster.guests.iter().any(|g| {
            if r.selectors.disk.is_some() {
                g.disks.iter().any(|d| r.selectors.matches(g, Some(d)))
            } else {
                r.selectors.matches(g, None)
            }
        });
        if !selects {
            out.push(FileError {
                line: r.line,
                message: format!(
                    "rule {} selects no guest disk in the cluster: check its selectors, or \
                     remove the rule",
                    r.name
                ),
            });
        }
    }
    conflicts(file, cluster, &mut out);
    out.sort_by_key(|e| e.line);
    out
}

/// Tags, pools and nodes a rule names that the cluster does not have.
fn unknown_names(r: &Rule, tags: &BTreeSet<&str>, cluster: &Cluster, out: &mut Vec<FileError>) {
    let list = |set: Vec<&str>| {
        if set.is_empty() {
            "none".to_string()
        } else {
            set.join(", ")
        }
    };
    for t in r.selectors.tag.iter().flatten() {
        if !tags.contains(t.as_str()) {
            out.push(FileError {
                line: r.line,
                message: format!(
                    "rule {}: no guest has tag {t:?} (tags in use: {}); tag the guests \
                     (GUI, `qm set <vmid> --tags {t}`) or fix the name",
                    r.name,
                    list(tags.iter().copied().collect())
                ),
            });
        }
    }
    for p in r.selectors.pool.iter().flatten() {
        if !cluster.pools.contains_key(p) {
            out.push(FileError {
                line: r.line,
                message: format!(
                    "rule {}: there is no resource pool {p:?} in /etc/pve/user.cfg (pools: {})",
                    r.name,
                    list(cluster.pools.keys().map(String::as_str).collect())
                ),
            });
        }
    }
    for n in r.selectors.node.iter().flatten() {
        if !cluster.nodes.contains(n) {
            out.push(FileError {
                line: r.line,
                message: format!(
                    "rule {}: {n:?} is not a node of this cluster (nodes: {})",
                    r.name,
                    list(cluster.nodes.iter().map(String::as_str).collect())
                ),
            });
        }
    }
}

/// Every disk of the cluster two rules of the same precedence select: one error per pair of
/// rules, at the later rule's line, naming the first such disk.
fn conflicts(file: &PolicyFile, cluster: &Cluster, out: &mut Vec<FileError>) {
    // Conflicts are between rules: the command line's keys play no part.
    let placeholder = crate::policy::Policy::parse(&["f1".to_string()]).expect("valid");
    let in_force = InForce {
        file: Some(file.clone()),
        cli: super::CommandLine {
            keep: placeholder,
            bookmarks: None,
        },
    };
    let mut seen = BTreeSet::new();
    for g in &cluster.guests {
        let keys: Vec<Option<&str>> = if g.disks.is_empty() {
            vec![None]
        } else {
            g.disks.iter().map(|d| Some(d.as_str())).collect()
        };
        for k in keys {
            if let Decision::Conflict { why } = in_force.decide(g, k) {
                if !seen.insert(why.clone()) {
                    continue;
                }
                let line = file
                    .rules
                    .iter()
                    .filter(|r| why.contains(&format!("{} (line {})", r.name, r.line)))
                    .map(|r| r.line)
                    .max()
                    .unwrap_or(0);
                let what = match k {
                    Some(k) => format!("{} {} {k}", g.kind.label(), g.vmid),
                    None => format!("{} {}", g.kind.label(), g.vmid),
                };
                out.push(FileError {
                    line,
                    message: format!("{what} (on {}): {why}", g.node),
                });
            }
        }
    }
}
