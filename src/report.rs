//! The run report: what was planned and what happened to each item, the one-line summary,
//! the JSON form (`--json`) and the exit code. Pure: built from values, prints nothing.

use crate::change::{Change, Group, Outcome};
use crate::naming::Dataset;
use crate::plan::Plan;
use crate::verdict::{self, DiskStatus, State};
use chrono::{DateTime, Utc};

pub mod dryrun;

/// One planned change and what became of it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ItemReport {
    /// Guest.
    pub vmid: u32,
    /// The change (serialized as `action`).
    #[serde(rename = "action")]
    pub change: Change,
    /// Why it was planned.
    pub reason: String,
    /// What happened (`None` in a dry run).
    pub outcome: Option<Outcome>,
}

/// One pool's part of the run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PoolReport {
    /// Pool name.
    pub pool: String,
    /// The createtxg all new snapshots share, if any were made.
    pub txg: Option<u64>,
    /// Why the pool could not be read or written at all, if so.
    pub error: Option<String>,
    /// Destroy programs that failed after the snapshots were taken (their items are failed;
    /// the snapshots stand), one message each.
    pub program_errors: Vec<String>,
    /// Items, in execution order.
    pub items: Vec<ItemReport>,
    /// The datasets on which the plan keeps an existing snapshot of ours ([`Group::keeps`]).
    #[serde(skip)]
    pub keeps: Vec<Dataset>,
}

impl PoolReport {
    /// The pool's changes as `zfs::apply` takes them: one group per guest (consecutive items
    /// of one VMID, as [`from_plan`] lays them out), in item order.
    pub fn groups(&self) -> Vec<Group> {
        let mut groups: Vec<Group> = Vec::new();
        for item in &self.items {
            let key = item.vmid.to_string();
            match groups.last_mut() {
                Some(g) if g.key == key => g.changes.push(item.change.clone()),
                _ => groups.push(Group {
                    key,
                    changes: vec![item.change.clone()],
                    keeps: vec![],
                }),
            }
        }
        for g in &mut groups {
            for c in &g.changes {
                let d = c.dataset();
                if self.keeps.contains(d) && !g.keeps.contains(d) {
                    g.keeps.push(d.clone());
                }
            }
        }
        groups
    }

    /// Records what `zfs::apply` reported for [`PoolReport::groups`]: per group, per change
    /// (the same shape), so in item order once flattened. An item left without one (never,
    /// unless the shapes differ) is failed, not silently counted as nothing.
    pub fn record(&mut self, outcomes: Vec<Vec<Outcome>>) {
        let mut outcomes = outcomes.into_iter().flatten();
        for item in &mut self.items {
            item.outcome = Some(
                outcomes
                    .next()
                    .unwrap_or_else(|| Outcome::Failed("no outcome reported".into())),
            );
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Totals by kind of change, counting only what was done.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Snapshots created.
    pub snapshots_created: u64,
    /// Snapshots destroyed.
    pub snapshots_destroyed: u64,
    /// Expired snapshots not destroyed because they are held, have clones or are busy (a
    /// `zfs send` in progress), or are the disk's only snapshot of ours while its new one
    /// failed for lack of space.
    pub snapshots_kept: u64,
    /// Bookmarks created.
    pub bookmarks_created: u64,
    /// Bookmarks destroyed.
    pub bookmarks_destroyed: u64,
    /// Bookmarks created on replicas (datasets of guests whose config is on another node),
    /// not counted in `bookmarks_created`.
    pub replica_bookmarks_created: u64,
    /// Bookmarks destroyed on replicas, not counted in `bookmarks_destroyed`.
    pub replica_bookmarks_destroyed: u64,
    /// Of the bookmarks destroyed (own and replicas'), those whose snapshot a rollback had
    /// discarded ([`crate::plan::stale`]); absent from the JSON when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub stale_bookmarks_dropped: u64,
    /// Stale bookmarks this run left in place (`label:nosnap`, a lock that forbids destroys):
    /// a third site could still resume from them; absent from the JSON when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub stale_bookmarks_pending: u64,
    /// `label:running` changes.
    pub labels_set: u64,
    /// Items that failed, were dropped, or belong to a pool that failed.
    pub failed: u64,
    /// Disks per protection state (all zero when the run stopped before discovery).
    pub disks: verdict::Counts,
    /// Snapshots of ours dated after the run's clock.
    pub future_snapshots: u64,
}

/// The whole run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Report {
    /// This node.
    pub node: String,
    /// The run's clock.
    pub now: DateTime<Utc>,
    /// Nothing was changed.
    pub dry_run: bool,
    /// Per pool.
    pub pools: Vec<PoolReport>,
    /// Per pool, the bookmarks of this node's replicas (items carry the replica guest's
    /// VMID), done after every pool's own work; absent from the JSON when there are none.
    /// Their failures count like any other (exit code 1, metrics, stderr).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<PoolReport>,
    /// Notes from discovery and planning (skipped guests and disks, and why).
    pub notes: Vec<String>,
    /// Findings that leave no disk unprotected but need the admin (a config line PVE ignores
    /// too, snapshots dated in the future): printed on stderr even under `--cron`.
    pub warnings: Vec<String>,
    /// Every disk of every guest whose config is on this node, and its state.
    pub disks: Vec<DiskStatus>,
    /// Disks per state.
    pub protection: verdict::Counts,
    /// Snapshots of ours dated after the run's clock, over all disks.
    pub future_snapshots: u64,
    /// Expired snapshots the plan kept because a destroy could not remove them now (held,
    /// busy, cloned), never attempted; counted into `totals.snapshots_kept` by
    /// [`Report::finish`] and into their pool's journal line. Absent from the JSON when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<crate::plan::KeptExpired>,
    /// Stale bookmarks this run left in place, and why ([`crate::plan::stale::StalePending`]);
    /// each is also a warning. Absent from the JSON when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_pending: Vec<crate::plan::stale::StalePending>,
    /// Why this node's status file (`/etc/pve/nodes/<node>/pve-zfs-snap.json`) could not be
    /// written, if so: `status --cluster` then shows the previous run. A failure (exit 1,
    /// stderr), never a block on snapshots. Absent from the JSON when it was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_file_error: Option<String>,
    /// Totals.
    pub totals: Totals,
    /// The policy in force per disk, and why (`clusterpolicy`).
    pub policies: Vec<PolicyRow>,
}

/// The policy in force for one ZFS disk (or a guest without ZFS disks, key `-`), and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PolicyRow {
    /// Guest.
    pub vmid: u32,
    /// `VM` or `CT`.
    pub guest: String,
    /// The guest's name, if set.
    pub name: Option<String>,
    /// Config key.
    pub key: String,
    /// `keep`, `exclude` or `conflict`.
    pub decision: &'static str,
    /// The snapshot retention (`f96 h48 d30 m12`) when kept.
    pub keep: Option<String>,
    /// The bookmark retention (`h96 d60`, `none`) when kept.
    pub bookmarks: Option<String>,
    /// Where it comes from (`tag database; rule db, line 7`, `command line`, …).
    pub why: String,
}

/// One [`PolicyRow`] per ZFS disk of `host`'s guests that `decisions` decided, in guest order.
pub fn policy_rows(
    host: &crate::host::Host,
    decisions: &crate::clusterpolicy::HostDecisions,
) -> Vec<PolicyRow> {
    use crate::clusterpolicy::Decision;
    use crate::policy::BookmarkPolicy;
    let mut out = Vec::new();
    for g in &host.guests {
        for d in &g.disks {
            let Some(dec) = decisions.disks.get(&(g.vmid, d.key.clone())) else {
                continue;
            };
            let (decision, keep, bookmarks, why) = match dec {
                Decision::Keep {
                    policy,
                    bookmarks,
                    why,
                } => (
                    "keep",
                    Some(policy.to_string()),
                    Some(match bookmarks {
                        BookmarkPolicy::Disabled => "none".to_string(),
                        BookmarkPolicy::Keep(c) => c.to_string(),
                    }),
                    why,
                ),
                Decision::Exclude { why } => ("exclude", None, None, why),
                Decision::Conflict { why } => ("conflict", None, None, why),
            };
            out.push(PolicyRow {
                vmid: g.vmid,
                guest: g.kind.label().to_string(),
                name: g.name.clone(),
                key: d.key.clone(),
                decision,
                keep,
                bookmarks,
                why: why.clone(),
            });
        }
    }
    out
}

impl Report {
    /// Adds up the totals from the pools.
    pub fn finish(mut self) -> Report {
        let mut t = Totals {
            snapshots_kept: self.kept.len() as u64,
            stale_bookmarks_pending: self.stale_pending.len() as u64,
            ..Totals::default()
        };
        for p in &self.pools {
            if p.error.is_some() {
                t.failed += p.items.len().max(1) as u64;
                continue;
            }
            for i in &p.items {
                match &i.outcome {
                    Some(o) if o.is_failure() => t.failed += 1,
                    Some(Outcome::Kept(_)) => t.snapshots_kept += 1,
                    // A dry run counts what it would do.
                    None if !self.dry_run => {}
                    Some(_) | None => match i.change {
                        Change::DestroyBookmark { .. } if is_stale(i) => {
                            t.bookmarks_destroyed += 1;
                            t.stale_bookmarks_dropped += 1;
                        }
                        Change::Snapshot { .. } => t.snapshots_created += 1,
                        Change::Destroy { .. } => t.snapshots_destroyed += 1,
                        Change::Bookmark { .. } => t.bookmarks_created += 1,
                        Change::DestroyBookmark { .. } => t.bookmarks_destroyed += 1,
                        Change::SetLabel { .. } => t.labels_set += 1,
                    },
                }
            }
        }
        for p in &self.replicas {
            if p.error.is_some() {
                t.failed += p.items.len().max(1) as u64;
                continue;
            }
            for i in &p.items {
                match &i.outcome {
                    Some(o) if o.is_failure() => t.failed += 1,
                    None if !self.dry_run => {}
                    Some(Outcome::Kept(_)) => {}
                    Some(_) | None => match i.change {
                        Change::Bookmark { .. } => t.replica_bookmarks_created += 1,
                        Change::DestroyBookmark { .. } => {
                            t.replica_bookmarks_destroyed += 1;
                            t.stale_bookmarks_dropped += u64::from(is_stale(i));
                        }
                        // Never planned on a replica.
                        _ => {}
                    },
                }
            }
        }
        t.disks = verdict::Counts::of(&self.disks);
        t.future_snapshots = self.future_snapshots;
        self.protection = t.disks.clone();
        self.totals = t;
        self
    }

    /// 0 when everything was done, 1 when anything failed (an item, a pool, or a disk left
    /// unprotected).
    pub fn exit_code(&self) -> i32 {
        if self.totals.failed > 0 || self.protection.failed > 0 || self.status_file_error.is_some()
        {
            crate::exit::PARTIAL
        } else {
            crate::exit::OK
        }
    }

    /// The one-line summary: the disks by state first (what the run is for), then the changes.
    pub fn summary(&self) -> String {
        let t = &self.totals;
        let p = &self.protection;
        let txgs: Vec<String> = self
            .pools
            .iter()
            .filter_map(|p| p.txg.map(|txg| format!("{} txg {txg}", p.pool)))
            .collect();
        let mut s = format!(
            "pve-zfs-snap on {}{}: {} disks protected ({} snapshotted, {} stopped), {} excluded",
            self.node,
            if self.dry_run {
                " (dry run: what it would do)"
            } else {
                ""
            },
            p.protected(),
            p.snapshotted,
            p.stopped,
            p.excluded,
        );
        if p.failed > 0 {
            s.push_str(&format!(", {} UNPROTECTED", p.failed));
            if p.protected() == 0 {
                s.push_str(" (NOTHING PROTECTED)");
            }
        }
        s.push_str(&format!(
            "; {} snapshots created{}, {} destroyed, {} bookmarks created, {} destroyed, {} labels set",
            t.snapshots_created,
            if txgs.is_empty() {
                String::new()
            } else {
                format!(" ({})", txgs.join(", "))
            },
            t.snapshots_destroyed,
            t.bookmarks_created,
            t.bookmarks_destroyed,
            t.labels_set,
        ));
        if t.replica_bookmarks_created + t.replica_bookmarks_destroyed > 0 {
            s.push_str(&format!(
                ", {} replica bookmarks created, {} destroyed",
                t.replica_bookmarks_created, t.replica_bookmarks_destroyed
            ));
        }
        if t.stale_bookmarks_dropped > 0 {
            s.push_str(&format!(
                ", {} stale bookmarks dropped (a rollback discarded their snapshots)",
                t.stale_bookmarks_dropped
            ));
        }
        if t.stale_bookmarks_pending > 0 {
            s.push_str(&format!(
                ", {} stale bookmarks NOT dropped (see the warnings)",
                t.stale_bookmarks_pending
            ));
        }
        if t.snapshots_kept > 0 {
            s.push_str(&format!(
                ", {} expired kept (held, cloned or busy)",
                t.snapshots_kept
            ));
        }
        if t.failed > 0 {
            s.push_str(&format!(", {} changes FAILED", t.failed));
        }
        s
    }

    /// Human-readable failures, one per line, for stderr (even under `--cron`): the node
    /// status file not written, each disk left unprotected, each pool that failed, each change
    /// that failed.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(e) = &self.status_file_error {
            out.push(format!(
                "FAILED to write this node's status file: {e}; `status --cluster` and whatever \
                 watches it show this node's previous run (snapshots are not affected)"
            ));
        }
        for d in &self.disks {
            if let State::Failed(why) = &d.state {
                let what = match &d.dataset {
                    Some(ds) => format!("{} {} {} ({ds})", d.guest, d.vmid, d.key),
                    None => format!("{} {} {}", d.guest, d.vmid, d.key),
                };
                out.push(format!("UNPROTECTED {what}: {why}"));
            }
        }
        for p in &self.pools {
            failure_lines(p, "pool", "guest", &mut out);
        }
        for p in &self.replicas {
            failure_lines(p, "replicas on pool", "replica of guest", &mut out);
        }
        out
    }
}

/// The failures of one pool's report as lines: `<pool_label> <pool>: <error>` for the pool
/// and its programs, `<item_label> <vmid> on <pool>: <change>: <outcome>` for each failed item.
fn failure_lines(p: &PoolReport, pool_label: &str, item_label: &str, out: &mut Vec<String>) {
    if let Some(e) = &p.error {
        out.push(format!("{pool_label} {}: {e}", p.pool));
    }
    for e in &p.program_errors {
        out.push(format!("{pool_label} {}: {e}", p.pool));
    }
    for i in &p.items {
        if let Some(o) = i.outcome.as_ref().filter(|o| o.is_failure()) {
            out.push(format!(
                "{item_label} {} on {}: {}: {}",
                i.vmid,
                p.pool,
                i.change.describe(),
                failure_text(o)
            ));
        }
    }
}

/// A failed outcome in words: `check failed (out of space (ENOSPC))` rather than the enum.
pub fn failure_text(o: &Outcome) -> String {
    match o {
        Outcome::Dropped => "dropped (another change of the guest failed)".into(),
        Outcome::CheckFailed(e) => format!("check failed ({})", errno_text(e)),
        Outcome::Failed(e) => format!("failed ({})", errno_text(e)),
        Outcome::Kept(w) => format!("kept ({w})"),
        Outcome::Ok => "done".into(),
    }
}

/// An errno name the admin meets often, with its meaning: `out of space (ENOSPC)`; any other
/// text as it is.
pub(crate) fn errno_text(e: &str) -> String {
    let words = match e {
        "ENOSPC" => "out of space",
        "EIO" => "I/O error",
        "EBUSY" => "busy",
        "EEXIST" => "already exists",
        "ENOENT" => "does not exist",
        _ => return e.to_string(),
    };
    format!("{words} ({e})")
}

/// The replicas' items of the plan ([`Plan::replicas`]), in execution order, with no
/// outcomes yet.
pub fn from_replicas(plan: &Plan) -> Vec<ItemReport> {
    plan.replicas
        .iter()
        .flat_map(|r| {
            r.changes.iter().map(move |p| ItemReport {
                vmid: r.vmid,
                change: p.change.clone(),
                reason: p.reason.to_string(),
                outcome: None,
            })
        })
        .collect()
}

impl Report {
    /// One concise line per pool for the journal (every run, `--cron` included): snapshots
    /// taken, destroyed, kept, failed, and its disks by state. `pool <name>: …`.
    pub fn pool_lines(&self) -> Vec<String> {
        self.pools
            .iter()
            .map(|p| {
                let disks = verdict::Counts::of(
                    &self
                        .disks
                        .iter()
                        .filter(|d| d.dataset.as_ref().is_some_and(|ds| ds.pool() == p.pool))
                        .cloned()
                        .collect::<Vec<_>>(),
                );
                let disks = format!(
                    "{} disks snapshotted, {} stopped, {} excluded{}",
                    disks.snapshotted,
                    disks.stopped,
                    disks.excluded,
                    if disks.failed > 0 {
                        format!(", {} UNPROTECTED", disks.failed)
                    } else {
                        String::new()
                    }
                );
                if let Some(e) = &p.error {
                    return format!("pool {}: FAILED ({e}); {disks}", p.pool);
                }
                let mut kept = self
                    .kept
                    .iter()
                    .filter(|k| k.dataset.pool() == p.pool)
                    .count();
                let (mut taken, mut destroyed, mut failed) = (0, 0, 0);
                for i in &p.items {
                    match (&i.change, &i.outcome) {
                        (_, Some(o)) if o.is_failure() => failed += 1,
                        (_, Some(Outcome::Kept(_))) => kept += 1,
                        (Change::Snapshot { .. }, Some(Outcome::Ok)) => taken += 1,
                        (Change::Destroy { .. }, Some(Outcome::Ok)) => destroyed += 1,
                        _ => {}
                    }
                }
                let txg = p.txg.map(|t| format!(" (txg {t})")).unwrap_or_default();
                let pending = self
                    .stale_pending
                    .iter()
                    .filter(|s| s.dataset.pool() == p.pool)
                    .count();
                let pending = if pending > 0 {
                    format!(", {pending} stale bookmarks NOT dropped")
                } else {
                    String::new()
                };
                format!(
                    "pool {}: {taken} snapshots taken{txg}, {destroyed} destroyed, {kept} \
                     expired kept, {} failed{pending}; {disks}",
                    p.pool,
                    failed + p.program_errors.len()
                )
            })
            .collect()
    }

    /// Every planned change with why it was planned and what became of it (`-v`):
    /// `guest <vmid>: <change>: <reason> => <outcome>`.
    pub fn decisions(&self) -> Vec<String> {
        self.pools
            .iter()
            .flat_map(|p| &p.items)
            .map(|i| {
                let outcome = match &i.outcome {
                    None => "not done (dry run)".to_string(),
                    Some(Outcome::Ok) => "done".to_string(),
                    Some(Outcome::Kept(why)) => format!("kept ({why}); a later run destroys it"),
                    Some(Outcome::Dropped) => "dropped (another change of the guest failed)".into(),
                    Some(Outcome::CheckFailed(e)) => format!("check failed ({})", errno_text(e)),
                    Some(Outcome::Failed(e)) => format!("FAILED ({})", errno_text(e)),
                };
                format!(
                    "guest {}: {}: {} => {outcome}",
                    i.vmid,
                    i.change.describe(),
                    i.reason
                )
            })
            .collect()
    }
}

/// A bookmark destroy because a rollback discarded its snapshot ([`crate::plan::stale`]).
pub fn is_stale(i: &ItemReport) -> bool {
    matches!(i.change, Change::DestroyBookmark { .. })
        && i.reason.starts_with(crate::plan::STALE_BOOKMARK)
}

/// The plan's items in execution order, with no outcomes yet (what a dry run reports).
pub fn from_plan(plan: &Plan) -> Vec<ItemReport> {
    plan.guests
        .iter()
        .flat_map(|g| {
            g.changes.iter().map(move |p| ItemReport {
                vmid: g.vmid,
                change: p.change.clone(),
                reason: p.reason.to_string(),
                outcome: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::{Dataset, SnapName};

    fn item(vmid: u32, d: &str) -> ItemReport {
        ItemReport {
            vmid,
            change: Change::Snapshot {
                dataset: Dataset::new(d).unwrap(),
                name: SnapName::parse("autosnap_2026-11-21_12:00:00_hourly").unwrap(),
            },
            reason: String::new(),
            outcome: None,
        }
    }

    /// A failed change reads in words on stderr (`out of space (ENOSPC)`, never the enum's
    /// debug form); a kept destroy (held back for a failed snapshot, say) is no failure line.
    #[test]
    fn failure_lines_say_what_failed_in_words() {
        let mut p = PoolReport {
            pool: "rpool".into(),
            txg: None,
            error: None,
            program_errors: vec![],
            items: vec![
                item(100, "rpool/a"),
                item(100, "rpool/b"),
                item(101, "rpool/c"),
            ],
            keeps: vec![],
        };
        p.items[0].outcome = Some(Outcome::CheckFailed("ENOSPC".into()));
        p.items[1].outcome = Some(Outcome::Failed("EZZZ".into()));
        p.items[2].outcome = Some(Outcome::Kept("held".into()));
        let mut out = Vec::new();
        failure_lines(&p, "pool", "guest", &mut out);
        assert_eq!(
            out,
            [
                "guest 100 on rpool: snapshot rpool/a@autosnap_2026-11-21_12:00:00_hourly: \
                 check failed (out of space (ENOSPC))",
                "guest 100 on rpool: snapshot rpool/b@autosnap_2026-11-21_12:00:00_hourly: \
                 failed (EZZZ)",
            ]
        );
    }

    /// The groups `zfs::apply` gets are the report's own changes, one group per guest, and
    /// its outcomes (same shape) land on the items they belong to; an item the apply left
    /// without one is failed, never counted as done or as nothing.
    #[test]
    fn groups_and_outcomes_line_up_with_the_items() {
        let mut p = PoolReport {
            pool: "tank".into(),
            txg: None,
            error: None,
            program_errors: vec![],
            items: vec![
                item(100, "tank/a"),
                item(100, "tank/b"),
                item(101, "tank/c"),
            ],
            keeps: vec![Dataset::new("tank/b").unwrap()],
        };
        let groups = p.groups();
        assert_eq!(groups[0].keeps, [Dataset::new("tank/b").unwrap()]);
        assert!(groups[1].keeps.is_empty());
        assert_eq!(
            groups.iter().map(|g| g.key.as_str()).collect::<Vec<_>>(),
            ["100", "101"]
        );
        assert_eq!(
            groups[0].changes,
            [p.items[0].change.clone(), p.items[1].change.clone()]
        );
        assert_eq!(groups[1].changes, [p.items[2].change.clone()]);
        p.record(vec![
            vec![Outcome::Ok, Outcome::Dropped],
            vec![Outcome::Kept("held".into())],
        ]);
        let got: Vec<_> = p.items.iter().map(|i| i.outcome.clone().unwrap()).collect();
        assert_eq!(
            got,
            [Outcome::Ok, Outcome::Dropped, Outcome::Kept("held".into())]
        );
        p.record(vec![vec![Outcome::Ok]]);
        assert!(
            p.items[1..]
                .iter()
                .all(|i| i.outcome == Some(Outcome::Failed("no outcome reported".into())))
        );
    }
}
