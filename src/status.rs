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
    /// `name:`/`hostname:` of its config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The policy in force for its disks and why (`f96 h48 d30 m12 (tag database; …)`),
    /// when the caller decided it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
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
            name: None,
            policy: None,
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
            name: g.name.clone(),
            policy: None,
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

/// Lines of the table stay within this many characters (the newest-per-class line wraps).
pub const WIDTH: usize = 120;
/// Longest guest name shown in the table (longer ones end in `…`; the JSON has them whole).
const NAME_MAX: usize = 16;

/// Per class of retention (f h d w m y, the policy's order), from the shortest class among
/// the names to the longest: the newest snapshot of ours that counts in that class (of that
/// class or longer: a weekly is also the newest hourly when no hourly is newer), then the
/// newest `_stopped` one. `(letter or "stopped", stamp)`.
pub fn newest_per_class(d: &DiskStatus) -> Vec<(String, String)> {
    use crate::naming::Class;
    let stamp = |name: &String| name.get(9..28).unwrap_or(name).to_string();
    let present: Vec<usize> = Class::ALL
        .iter()
        .enumerate()
        .filter(|(_, c)| d.newest.contains_key(c.suffix()))
        .map(|(i, _)| i)
        .collect();
    let mut out = Vec::new();
    if let (Some(&lo), Some(&hi)) = (present.first(), present.last()) {
        for i in lo..=hi {
            // Stamps sort as times (four-digit years, fixed width).
            let newest = Class::ALL[i..]
                .iter()
                .filter_map(|c| d.newest.get(c.suffix()))
                .map(stamp)
                .max();
            if let Some(t) = newest {
                out.push((Class::ALL[i].letter().to_string(), t));
            }
        }
    }
    if let Some(n) = d.newest.get("stopped") {
        out.push(("stopped".into(), stamp(n)));
    }
    out
}

/// Our snapshots by how their names read, in the policy's order: `f75 h24 d7 stopped1`.
fn counts_by_name(d: &DiskStatus) -> String {
    use crate::naming::Class;
    let mut parts: Vec<String> = Class::ALL
        .iter()
        .filter_map(|c| {
            d.counts
                .get(c.suffix())
                .map(|n| format!("{}{n}", c.letter()))
        })
        .collect();
    if let Some(n) = d.counts.get("stopped") {
        parts.push(format!("stopped{n}"));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

fn short_name(n: Option<&str>) -> String {
    match n {
        None => "-".into(),
        Some(n) if n.chars().count() <= NAME_MAX => n.into(),
        Some(n) => format!("{}…", n.chars().take(NAME_MAX - 1).collect::<String>()),
    }
}

/// `items` joined by ", " after `head`, wrapped at [`WIDTH`] with continuation lines
/// indented like the first item.
fn wrapped(head: &str, items: &[String]) -> String {
    let mut out = String::new();
    let mut line = head.to_string();
    for (i, it) in items.iter().enumerate() {
        let sep = if i + 1 < items.len() { ", " } else { "" };
        if line.len() > head.len() && line.len() + it.len() + sep.len() > WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(head.len());
        }
        line.push_str(it);
        line.push_str(sep);
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// The table: one line per disk (columns as wide as their longest value), and under it the
/// newest snapshot per class of retention; then what is not snapshotted, then the policies.
pub fn render_table(node: &str, guests: &[GuestStatus]) -> String {
    let mut out = format!("node {node}: {} guests\n", guests.len());
    let disks = guests.iter().flat_map(|g| &g.disks);
    let w_key = disks.clone().map(|d| d.key.len()).max().unwrap_or(0).max(4);
    let w_ds = disks
        .clone()
        .map(|d| d.dataset.as_str().len())
        .max()
        .unwrap_or(0)
        .max(7);
    let w_label = disks
        .map(|d| d.label.as_deref().map_or(1, str::len))
        .max()
        .unwrap_or(0)
        .max(9);
    let w_name = guests
        .iter()
        .map(|g| short_name(g.name.as_deref()).chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let _ = writeln!(
        out,
        "{:<6} {:<4} {:<8} {:<w_name$} {:<w_key$} {:<w_ds$} {:<w_label$} {:>4} {:>7}  BY NAME",
        "VMID", "TYPE", "STATE", "NAME", "DISK", "DATASET", "LABEL", "OURS", "FOREIGN"
    );
    let mut problems = String::new();
    for g in guests {
        let kind = match g.kind {
            Some(GuestKind::Qemu) => "qemu",
            Some(GuestKind::Lxc) => "lxc",
            None => "?",
        };
        let name = short_name(g.name.as_deref());
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
            let _ = writeln!(
                out,
                "{:<6} {kind:<4} {state:<8} {name:<w_name$} {what}",
                g.vmid
            );
        }
        for d in &g.disks {
            let _ = writeln!(
                out,
                "{:<6} {kind:<4} {state:<8} {name:<w_name$} {:<w_key$} {:<w_ds$} {:<w_label$} \
                 {:>4} {:>7}  {}",
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
                counts_by_name(d),
            );
            let newest: Vec<String> = newest_per_class(d)
                .into_iter()
                .map(|(c, t)| format!("{c} {t}"))
                .collect();
            if !newest.is_empty() {
                out.push_str(&wrapped("       newest: ", &newest));
            }
        }
    }
    if !problems.is_empty() {
        out.push_str("\nnot snapshotted:\n");
        out.push_str(&problems);
    }
    let policies: Vec<String> = guests
        .iter()
        .filter_map(|g| {
            let p = g.policy.as_ref()?;
            let title = match g.kind {
                Some(k) => crate::clusterpolicy::guest_title(k, g.vmid, g.name.as_deref()),
                None => format!("guest {}", g.vmid),
            };
            Some(format!("  {title}: {p}\n"))
        })
        .collect();
    if !policies.is_empty() {
        out.push_str("\npolicy:\n");
        out.push_str(&policies.concat());
    }
    out
}

/// What one run of a node left in `/etc/pve/nodes/<node>/pve-zfs-snap.json`, for
/// `status --cluster` on any node. Small by design (pmxcfs): at most
/// [`NodeStatus::MAX_LISTED`] failures and unprotected disks are listed, the counts are exact.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeStatus {
    /// Format version (1).
    pub version: u32,
    /// The node.
    pub node: String,
    /// The run's clock.
    pub last_run: chrono::DateTime<chrono::Utc>,
    /// The run's exit code.
    pub exit_code: i32,
    /// Disks snapshotted by the run.
    pub snapshotted: u64,
    /// Disks of stopped guests, protected by their `_stopped` snapshot.
    pub stopped: u64,
    /// Disks left out on purpose.
    pub excluded: u64,
    /// Disks that should be protected and are not.
    pub failed: u64,
    /// Snapshots created.
    pub snapshots_created: u64,
    /// Snapshots destroyed.
    pub snapshots_destroyed: u64,
    /// Failures of the run (pools, programs, changes), one line each.
    pub failures: Vec<String>,
    /// The disks left unprotected.
    pub unprotected: Vec<UnprotectedDisk>,
    /// Fingerprint of the policy in force (file and command line).
    pub policy_hash: String,
    /// Whether `/etc/pve/pve-zfs-snap.cfg` was in force.
    pub policy_file: bool,
}

/// One unprotected disk in a [`NodeStatus`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnprotectedDisk {
    /// `VM 105 scsi0 (rpool/data/vm-105-disk-0)`.
    pub disk: String,
    /// Why.
    pub reason: String,
}

impl NodeStatus {
    /// The most failures and unprotected disks listed (the counts stay exact).
    pub const MAX_LISTED: usize = 50;

    /// The status of a finished (not dry) run.
    pub fn from_report(
        r: &crate::report::Report,
        exit_code: i32,
        policy_hash: String,
        policy_file: bool,
    ) -> NodeStatus {
        use crate::verdict::State;
        let unprotected = r
            .disks
            .iter()
            .filter_map(|d| match &d.state {
                State::Failed(why) => Some(UnprotectedDisk {
                    disk: match &d.dataset {
                        Some(ds) => format!("{} {} {} ({ds})", d.guest, d.vmid, d.key),
                        None => format!("{} {} {}", d.guest, d.vmid, d.key),
                    },
                    reason: why.clone(),
                }),
                _ => None,
            })
            .take(Self::MAX_LISTED)
            .collect();
        let failures = r
            .failures()
            .into_iter()
            .filter(|l| !l.starts_with("UNPROTECTED "))
            .take(Self::MAX_LISTED)
            .collect();
        NodeStatus {
            version: 1,
            node: r.node.clone(),
            last_run: r.now,
            exit_code,
            snapshotted: r.protection.snapshotted,
            stopped: r.protection.stopped,
            excluded: r.protection.excluded,
            failed: r.protection.failed,
            snapshots_created: r.totals.snapshots_created,
            snapshots_destroyed: r.totals.snapshots_destroyed,
            failures,
            unprotected,
            policy_hash,
            policy_file,
        }
    }
}

/// What `status --cluster` found for one node: its status, none (never ran), or why its
/// file cannot be used.
pub type NodeRow = (String, Result<Option<NodeStatus>, String>);

/// The `status --cluster` table: one line per node (last run, its age at `now`, exit code,
/// disk counts, policy fingerprint), then every unprotected disk and failure by node, then
/// whether all nodes ran with the same policy.
pub fn render_cluster(now: chrono::DateTime<chrono::Utc>, rows: &[NodeRow]) -> String {
    let mut out = format!("cluster: {} node(s)\n", rows.len());
    let _ = writeln!(
        out,
        "{:<12} {:<20} {:>6} {:>4} {:>11} {:>7} {:>8} {:>6}  POLICY",
        "NODE", "LAST RUN (UTC)", "AGE", "EXIT", "SNAPSHOTTED", "STOPPED", "EXCLUDED", "FAILED"
    );
    let mut problems = String::new();
    // Fingerprint → nodes, in node order.
    let mut hashes: Vec<(&str, Vec<&str>)> = Vec::new();
    for (node, row) in rows {
        let s = match row {
            Ok(Some(s)) => s,
            Ok(None) => {
                let _ = writeln!(out, "{node:<12} never (no status file: has it run here?)");
                continue;
            }
            Err(why) => {
                let _ = writeln!(out, "{node:<12} UNKNOWN: {why}");
                continue;
            }
        };
        match hashes.iter_mut().find(|(h, _)| *h == s.policy_hash) {
            Some((_, nodes)) => nodes.push(node),
            None => hashes.push((&s.policy_hash, vec![node])),
        }
        let _ = writeln!(
            out,
            "{node:<12} {:<20} {:>6} {:>4} {:>11} {:>7} {:>8} {:>6}  {}{}",
            s.last_run.format("%Y-%m-%d %H:%M:%S"),
            age(now, s.last_run),
            s.exit_code,
            s.snapshotted,
            s.stopped,
            s.excluded,
            s.failed,
            s.policy_hash,
            if s.policy_file { "" } else { " (no file)" }
        );
        for u in &s.unprotected {
            let _ = writeln!(problems, "  {node}: UNPROTECTED {}: {}", u.disk, u.reason);
        }
        if s.failed > s.unprotected.len() as u64 {
            let _ = writeln!(
                problems,
                "  {node}: … and {} more unprotected disk(s)",
                s.failed - s.unprotected.len() as u64
            );
        }
        for f in &s.failures {
            let _ = writeln!(problems, "  {node}: {f}");
        }
    }
    if !problems.is_empty() {
        out.push_str("\nunprotected disks and failures:\n");
        out.push_str(&problems);
    }
    if hashes.len() > 1 {
        out.push_str("\nWARNING: the nodes ran with different policies (their command lines or the file differ):\n");
        for (h, nodes) in &hashes {
            let _ = writeln!(out, "  {h}: {}", nodes.join(", "));
        }
    }
    out
}

/// `15m`, `3h`, `2d` (`-` when the run is dated after `now`).
fn age(now: chrono::DateTime<chrono::Utc>, then: chrono::DateTime<chrono::Utc>) -> String {
    let secs = (now - then).num_seconds();
    match secs {
        s if s < 0 => "-".into(),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 * 2 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
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
                name: None,
                tags: vec![],
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
                pins: Default::default(),
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
