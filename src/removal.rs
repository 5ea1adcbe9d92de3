//! Removing everything of ours from this node's guest datasets (`pve-zfs-snap uninstall
//! --destroy-snapshots`): every `autosnap_<time>_<class>` snapshot and bookmark that is
//! exactly ours, and the local `label:running` values, on the datasets of the guests whose
//! config is on this node (templates included). The only way to remove all of it, since an
//! all-zero policy is refused.
//!
//! [`plan_removal`] is pure: what is destroyed is decided from the inventory, by the same
//! rule as the run's ([`crate::naming::ShortName::ours`]); nothing else (a replication
//! snapshot, a PVE snapshot, vzdump's, a user's, `label:nosnap`) is ever part of it. The
//! destroys go through the run's own destroy path (`zfs::apply`, phase 2), the labels through
//! one `zfs inherit`. Never prints: `cmd::uninstall` shows the result.

use crate::change::{Change, Group, LABEL_RUNNING, Outcome};
use crate::exit::RunError;
use crate::host::Host;
use crate::lock::RunLock;
use crate::naming::Dataset;
use crate::state::{DatasetState, PropSource};
use crate::zfs::inventory::ReadSetup;
use crate::zfs::snapcache::SnapCache;
use crate::zfs::{self, Exec, Tool};
use std::collections::BTreeMap;
use std::path::Path;

/// What removing everything of ours on one pool means.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolRemoval {
    /// One group per dataset: its snapshot destroys, then its bookmark destroys.
    pub groups: Vec<Group>,
    /// Datasets whose `label:running` is set locally (reverted with `zfs inherit`).
    pub labels: Vec<Dataset>,
}

impl PoolRemoval {
    /// Snapshots and bookmarks to destroy.
    pub fn counts(&self) -> (usize, usize) {
        let changes = self.groups.iter().flat_map(|g| &g.changes);
        let snaps = changes
            .clone()
            .filter(|c| matches!(c, Change::Destroy { .. }))
            .count();
        (snaps, changes.count() - snaps)
    }
}

/// What to remove from `datasets` given their `inventory`: per dataset, every snapshot and
/// bookmark whose name is exactly ours, and the label when it is set locally. Datasets not in
/// the inventory (or not existing) give nothing.
pub fn plan_removal(
    datasets: &[Dataset],
    inventory: &BTreeMap<Dataset, DatasetState>,
) -> PoolRemoval {
    let mut out = PoolRemoval::default();
    for d in datasets {
        let Some(state) = inventory.get(d).filter(|s| s.exists) else {
            continue;
        };
        let mut changes: Vec<Change> = state
            .snapshots
            .iter()
            .filter_map(|s| s.name.ours())
            .map(|name| Change::Destroy {
                dataset: d.clone(),
                name,
            })
            .collect();
        changes.extend(
            state
                .bookmarks
                .iter()
                .filter_map(|b| b.name.ours())
                .map(|name| Change::DestroyBookmark {
                    dataset: d.clone(),
                    name,
                }),
        );
        if !changes.is_empty() {
            out.groups.push(Group {
                key: d.to_string(),
                changes,
                keeps: vec![],
            });
        }
        if state
            .running
            .as_ref()
            .is_some_and(|p| p.source == PropSource::Local)
        {
            out.labels.push(d.clone());
        }
    }
    out
}

/// One pool's removal, planned and (unless a dry run) done.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolResult {
    /// Pool name.
    pub pool: String,
    /// What was (or would be) removed.
    pub removal: PoolRemoval,
    /// Per group, per change, what happened (empty in a dry run).
    pub outcomes: Vec<Vec<Outcome>>,
    /// Why the pool could not be read, the destroys or the labels failed, one message each.
    pub errors: Vec<String>,
}

impl PoolResult {
    /// (destroyed, kept (held, cloned, busy), failed) over the outcomes.
    pub fn tally(&self) -> (usize, usize, usize) {
        let mut t = (0, 0, 0);
        for o in self.outcomes.iter().flatten() {
            match o {
                Outcome::Ok => t.0 += 1,
                Outcome::Kept(_) => t.1 += 1,
                _ => t.2 += 1,
            }
        }
        t
    }
}

/// Reads the pools of `host`'s guests (templates included) and removes everything of ours
/// there (`dry_run`: only says what). Takes the run lock unless a dry run, so no snapshot run
/// is in between; drops the snapshot cache afterwards (its listings are stale).
pub fn remove_all(
    root: &Path,
    host: &Host,
    exec: &dyn Exec,
    now: i64,
    dry_run: bool,
) -> Result<Vec<PoolResult>, RunError> {
    let _lock = if dry_run {
        None
    } else {
        Some(RunLock::acquire(root).map_err(|e| RunError::Failed(anyhow::Error::new(e)))?)
    };
    let version = zfs::version::detect_on(exec, root).map_err(|e| RunError::Failed(e.into()))?;
    let setup = ReadSetup::for_host(root, version);
    let pools = crate::run::datasets_by_pool(host, true);
    let mut cache = SnapCache::empty();
    let (inventory, mut errors) =
        crate::run::read_pools(exec, &pools, &setup, now, true, &mut cache);
    let mut out = Vec::new();
    for (pool, datasets) in &pools {
        let mut result = PoolResult {
            pool: pool.clone(),
            removal: plan_removal(datasets, &inventory),
            outcomes: Vec::new(),
            errors: Vec::new(),
        };
        if let Some(e) = errors.remove(pool) {
            result.errors.push(format!("cannot read the pool: {e}"));
        } else if !dry_run {
            apply(exec, &mut result);
        }
        out.push(result);
    }
    if !dry_run {
        let _ = std::fs::remove_file(SnapCache::path(root));
    }
    Ok(out)
}

/// Destroys through the run's destroy path, then reverts the labels.
fn apply(exec: &dyn Exec, r: &mut PoolResult) {
    if !r.removal.groups.is_empty() {
        match zfs::apply::apply_pool(exec, &r.pool, &r.removal.groups, &[]) {
            Ok(applied) => {
                r.outcomes = applied.outcomes;
                r.errors.extend(applied.program_errors);
            }
            Err(e) => r.errors.push(format!("destroying failed: {e}")),
        }
    }
    if !r.removal.labels.is_empty() {
        let mut args: Vec<String> = vec!["inherit".into(), LABEL_RUNNING.into()];
        args.extend(r.removal.labels.iter().map(|d| d.to_string()));
        match exec.run(Tool::Zfs, &args, None) {
            Ok(o) if o.code == 0 => {}
            Ok(o) => r.errors.push(format!(
                "cannot remove {LABEL_RUNNING} of {} dataset(s): {}",
                r.removal.labels.len(),
                o.stderr.trim()
            )),
            Err(e) => r.errors.push(format!(
                "cannot remove {LABEL_RUNNING} of {} dataset(s): {e}",
                r.removal.labels.len()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::ShortName;
    use crate::state::{BookmarkInfo, PropValue, SnapshotInfo};
    use proptest::prelude::*;

    fn state(
        d: &Dataset,
        snaps: &[String],
        bms: &[String],
        label: Option<PropSource>,
    ) -> DatasetState {
        DatasetState {
            dataset: d.clone(),
            exists: true,
            running: label.map(|source| PropValue {
                value: "pve1".into(),
                source,
            }),
            nosnap: None,
            snapshots: snaps
                .iter()
                .enumerate()
                .map(|(i, n)| SnapshotInfo {
                    name: ShortName::from(n.as_str()),
                    createtxg: i as u64 + 1,
                    creation: i as i64,
                })
                .collect(),
            bookmarks: bms
                .iter()
                .enumerate()
                .map(|(i, n)| BookmarkInfo {
                    name: ShortName::from(n.as_str()),
                    createtxg: i as u64 + 1,
                    creation: i as i64,
                })
                .collect(),
            foreign_snapshots: 0,
            pins: Default::default(),
        }
    }

    #[test]
    fn only_ours_and_only_local_labels() {
        let a = Dataset::new("rpool/data/vm-100-disk-0").unwrap();
        let b = Dataset::new("rpool/data/vm-101-disk-0").unwrap();
        let gone = Dataset::new("rpool/data/vm-102-disk-0").unwrap();
        let names: Vec<String> = [
            "autosnap_2026-11-21_00:00:00_frequently",
            "autosnap_2026-11-21_00:00:00_stopped",
            "autosnap_2026-11-21_00:00:00_hourly_x",
            "autosnap_manual",
            "__replicate_100-0_1700000000__",
        ]
        .map(String::from)
        .to_vec();
        let inv: BTreeMap<Dataset, DatasetState> = [
            (
                a.clone(),
                state(&a, &names, &names, Some(PropSource::Local)),
            ),
            (b.clone(), state(&b, &[], &[], Some(PropSource::Received))),
        ]
        .into_iter()
        .collect();
        let r = plan_removal(&[a.clone(), b.clone(), gone], &inv);
        assert_eq!(r.groups.len(), 1);
        let described: Vec<String> = r.groups[0].changes.iter().map(Change::describe).collect();
        assert_eq!(
            described,
            [
                "destroy rpool/data/vm-100-disk-0@autosnap_2026-11-21_00:00:00_frequently",
                "destroy rpool/data/vm-100-disk-0@autosnap_2026-11-21_00:00:00_stopped",
                "destroy bookmark rpool/data/vm-100-disk-0#autosnap_2026-11-21_00:00:00_frequently",
                "destroy bookmark rpool/data/vm-100-disk-0#autosnap_2026-11-21_00:00:00_stopped",
            ]
        );
        assert_eq!(r.counts(), (2, 2));
        assert_eq!(r.labels, [a]);
    }

    proptest! {
        /// Whatever the names on the datasets, the removal destroys exactly the ones that are
        /// ours (by the run's own rule), only on the datasets it was given, and nothing but
        /// destroys.
        #[test]
        fn removes_exactly_ours(
            names in proptest::collection::vec(
                prop_oneof![
                    "autosnap_20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9])_([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]_(frequently|hourly|daily|weekly|monthly|yearly|stopped)",
                    "autosnap_[ -~]{0,30}",
                    "[a-zA-Z_][a-zA-Z0-9_:.-]{0,30}",
                ],
                0..20,
            ),
            on_other in proptest::collection::vec(any::<bool>(), 20),
        ) {
            let mine = Dataset::new("tank/vm-100-disk-0").unwrap();
            let other = Dataset::new("tank/vm-999-disk-0").unwrap();
            let pick = |other: bool| -> Vec<String> {
                names
                    .iter()
                    .zip(&on_other)
                    .filter(|(_, o)| **o == other)
                    .map(|(n, _)| n.clone())
                    .collect()
            };
            let (m, o) = (pick(false), pick(true));
            let inv: BTreeMap<Dataset, DatasetState> = [
                (mine.clone(), state(&mine, &m, &m, None)),
                (other.clone(), state(&other, &o, &o, Some(PropSource::Local))),
            ]
            .into_iter()
            .collect();
            let r = plan_removal(std::slice::from_ref(&mine), &inv);
            prop_assert!(r.labels.is_empty());
            let want: Vec<String> = m
                .iter()
                .filter(|n| crate::naming::SnapName::parse(n).is_some())
                .cloned()
                .collect();
            let mut snaps = Vec::new();
            let mut bms = Vec::new();
            for c in r.groups.iter().flat_map(|g| &g.changes) {
                prop_assert_eq!(c.dataset(), &mine);
                match c {
                    Change::Destroy { name, .. } => snaps.push(name.to_string()),
                    Change::DestroyBookmark { name, .. } => bms.push(name.to_string()),
                    other => prop_assert!(false, "not a destroy: {:?}", other),
                }
            }
            for n in snaps.iter().chain(&bms) {
                prop_assert!(n.starts_with("autosnap_"));
            }
            prop_assert_eq!(&snaps, &want);
            prop_assert_eq!(&bms, &want);
        }
    }
}
