//! `pve-zfs-snap status`: per guest on this node, whether it runs, each disk, its
//! `label:running`, the newest snapshot of ours per class and the counts — the table an
//! admin reads first. Pure: built from discovery and inventory values, returns text/JSON.

use crate::host::{GuestKind, Host};
use crate::naming::Dataset;
use crate::state::DatasetState;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One disk's line.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DiskStatus {
    /// Config key (`scsi0`, `rootfs`).
    pub key: String,
    /// The dataset.
    pub dataset: Dataset,
    /// False when the dataset is missing (or its pool could not be read).
    pub exists: bool,
    /// `label:running`, if set.
    pub label: Option<String>,
    /// Newest snapshot of ours per kind (`hourly`, `stopped`, …): its short name.
    pub newest: BTreeMap<String, String>,
    /// Snapshots of ours per kind.
    pub counts: BTreeMap<String, u64>,
    /// Snapshots that are not ours.
    pub foreign: u64,
}

/// One guest's block.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GuestStatus {
    /// VMID.
    pub vmid: u32,
    /// VM or container (`None`: a `.vmlist` type pve-zfs-snap does not know).
    pub kind: Option<GuestKind>,
    /// Running on this node.
    pub running: bool,
    /// A template (never snapshotted).
    pub template: bool,
    /// Its ZFS disks.
    pub disks: Vec<DiskStatus>,
    /// Disks (or the whole config, key `config`) that give no dataset: unprotected ones and
    /// named exclusions.
    pub problems: Vec<Problem>,
}

/// A disk line of a guest that is not snapshotted, or a config that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Config key, or `config`.
    pub key: String,
    /// True: should be protected and is not (a failure); false: a named exclusion.
    pub unprotected: bool,
    /// Why.
    pub reason: String,
}

/// Joins discovery and inventory (datasets absent from `inventory` show as not existing).
/// Guests whose config cannot be used come as guests with one `config` problem.
pub fn build(host: &Host, inventory: &BTreeMap<Dataset, DatasetState>) -> Vec<GuestStatus> {
    let mut out: Vec<GuestStatus> = host
        .unreadable
        .iter()
        .map(|u| GuestStatus {
            vmid: u.vmid,
            kind: u.kind,
            running: false,
            template: false,
            disks: vec![],
            problems: vec![Problem {
                key: "config".into(),
                unprotected: true,
                reason: u.reason.clone(),
            }],
        })
        .collect();
    out.extend(host.guests.iter().map(|g| {
        GuestStatus {
            vmid: g.vmid,
            kind: Some(g.kind),
            running: g.running,
            template: g.template,
            problems: g
                .other_disks
                .iter()
                .map(|o| Problem {
                    key: o.key.clone(),
                    unprotected: o.failed,
                    reason: o.reason.clone(),
                })
                .collect(),
            disks: g
                .disks
                .iter()
                .map(|d| {
                    let st = inventory.get(&d.dataset);
                    let mut s = DiskStatus {
                        key: d.key.clone(),
                        dataset: d.dataset.clone(),
                        exists: st.is_some_and(|s| s.exists),
                        label: st.and_then(|s| s.running.as_ref().map(|p| p.value.clone())),
                        newest: BTreeMap::new(),
                        counts: BTreeMap::new(),
                        foreign: st.map_or(0, |s| s.foreign_snapshots),
                    };
                    // Snapshots are sorted by createtxg ascending: the last one of a kind wins.
                    for snap in st.map_or(&[][..], |s| &s.snapshots[..]) {
                        match snap.name.ours() {
                            Some(n) => {
                                let k = n.kind().suffix().to_string();
                                *s.counts.entry(k.clone()).or_default() += 1;
                                s.newest.insert(k, snap.name.to_string());
                            }
                            None => s.foreign += 1,
                        }
                    }
                    s
                })
                .collect(),
        }
    }));
    out.sort_by_key(|g| g.vmid);
    out
}

/// The table.
pub fn render_table(node: &str, guests: &[GuestStatus]) -> String {
    let mut out = format!("node {node}: {} guests\n", guests.len());
    let _ = writeln!(
        out,
        "{:<6} {:<5} {:<9} {:<8} {:<40} {:<9} {:>5} {:>7}  NEWEST PER CLASS",
        "VMID", "TYPE", "STATE", "DISK", "DATASET", "LABEL", "OURS", "FOREIGN"
    );
    let mut problems = String::new();
    for g in guests {
        let kind = match g.kind {
            Some(GuestKind::Qemu) => "qemu",
            Some(GuestKind::Lxc) => "lxc",
            None => "?",
        };
        for p in &g.problems {
            let _ = writeln!(
                problems,
                "  {} {} {}: {}",
                if p.unprotected {
                    "UNPROTECTED"
                } else {
                    "excluded   "
                },
                g.vmid,
                p.key,
                p.reason
            );
        }
        for d in g.disks.iter().filter(|d| !d.exists) {
            let _ = writeln!(
                problems,
                "  UNPROTECTED {} {}: dataset {} does not exist",
                g.vmid, d.key, d.dataset
            );
        }
        let state = if g.template {
            "template"
        } else if g.running {
            "running"
        } else {
            "stopped"
        };
        if g.disks.is_empty() {
            let what = if g.problems.is_empty() {
                "(no ZFS disks)"
            } else {
                "(see below)"
            };
            let _ = writeln!(out, "{:<6} {kind:<5} {state:<9} {what}", g.vmid);
        }
        for d in &g.disks {
            let newest: Vec<String> = d
                .newest
                .iter()
                .map(|(k, name)| {
                    let stamp = name.get(9..28).unwrap_or(name);
                    format!("{k} {stamp}")
                })
                .collect();
            let _ = writeln!(
                out,
                "{:<6} {kind:<5} {state:<9} {:<8} {:<40} {:<9} {:>5} {:>7}  {}",
                g.vmid,
                d.key,
                d.dataset.as_str(),
                if d.exists {
                    d.label.as_deref().unwrap_or("-")
                } else {
                    "(missing)"
                },
                d.counts.values().sum::<u64>(),
                d.foreign,
                if newest.is_empty() {
                    "-".to_string()
                } else {
                    newest.join(", ")
                }
            );
        }
    }
    if !problems.is_empty() {
        out.push_str("\nnot snapshotted:\n");
        out.push_str(&problems);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{Disk, Guest};
    use crate::state::{PropSource, PropValue, SnapshotInfo};

    fn snap(name: &str, txg: u64) -> SnapshotInfo {
        SnapshotInfo {
            name: name.into(),
            createtxg: txg,
            creation: txg as i64,
        }
    }

    #[test]
    fn builds_and_renders() {
        let ds = Dataset::new("rpool/data/vm-100-disk-0").unwrap();
        let gone = Dataset::new("rpool/data/vm-100-disk-1").unwrap();
        let host = Host {
            node: "pve1".into(),
            guests: vec![Guest {
                vmid: 100,
                kind: GuestKind::Qemu,
                running: true,
                template: false,
                lock: None,
                disks: vec![
                    Disk {
                        key: "scsi0".into(),
                        storage: "local-zfs".into(),
                        dataset: ds.clone(),
                    },
                    Disk {
                        key: "scsi1".into(),
                        storage: "local-zfs".into(),
                        dataset: gone.clone(),
                    },
                ],
                other_disks: vec![],
            }],
            unreadable: vec![],
            warnings: vec![],
        };
        let mut inv = BTreeMap::new();
        inv.insert(
            ds.clone(),
            DatasetState {
                dataset: ds.clone(),
                exists: true,
                running: Some(PropValue {
                    value: "pve1".into(),
                    source: PropSource::Local,
                }),
                nosnap: None,
                snapshots: vec![
                    snap("autosnap_2027-01-15_07:00:00_hourly", 10),
                    snap("autosnap_2027-01-15_07:45:00_frequently", 20),
                    snap("autosnap_2027-01-15_08:00:00_hourly", 30),
                    snap("autosnap_2027-02-30_08:00:00_hourly", 40),
                ],
                bookmarks: vec![],
                foreign_snapshots: 2,
            },
        );
        let g = build(&host, &inv);
        let d = &g[0].disks[0];
        assert_eq!(d.label.as_deref(), Some("pve1"));
        assert_eq!(d.counts["hourly"], 2);
        assert_eq!(d.newest["hourly"], "autosnap_2027-01-15_08:00:00_hourly");
        assert_eq!(d.foreign, 3, "the impossible date is foreign");
        assert!(!g[0].disks[1].exists);
        insta::assert_snapshot!(render_table("pve1", &g));
    }
}
