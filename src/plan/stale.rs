//! Bookmarks of ours that outlived a rollback (issue 19, docs/PULL.md "A bookmark that
//! outlived a rollback").
//!
//! After an HA failover, the replication into the returning old owner (`zfs recv -F`) rolls
//! its dataset back to the last common snapshot, destroying the snapshots it took after its
//! last replication; a `zfs rollback -r` (PVE's rollback to a snapshot) does the same. Their
//! *bookmarks* stay: a rollback does not touch bookmarks. If the third site holds one of those
//! snapshots as its newest, its guid matches the stale bookmark, and OpenZFS accepts
//! `zfs send -i ds#stale ds@new` (for a bookmark it only compares txgs, there is no ancestry
//! check), and the stream applies at the third site on top of a state this dataset's line never
//! had: silent corruption. Nothing in a bookmark's name, guid, txg or creation tells it apart,
//! so this node remembers what it saw and drops its own bookmarks of what a rollback discarded.
//!
//! The rule, per dataset, from [`Previous`] (our snapshots as of the end of the previous run,
//! each by name *and* createtxg: a snapshot of the same name received later is another one):
//!
//! * **survivors**: the previous snapshots still there (same name, same createtxg); `lo` is the
//!   newest survivor's createtxg (0 when none survived);
//! * **discarded**: the previous snapshots gone since and newer than `lo`. A rollback to R
//!   destroys every snapshot newer than R and none older, and R is at least `lo`, so every
//!   snapshot the rollback discarded and that the previous run saw is here. Our own retention
//!   never destroys the newest snapshot of a dataset, and what the previous run itself
//!   destroyed is not in [`Previous`], so it never makes anything *discarded*;
//! * the **stale bookmarks** are then our bookmarks (`autosnap_<time>_<class>`, never another
//!   name) with a createtxg in `(lo, top]`, `top` the newest discarded createtxg, that no
//!   existing snapshot has. That range is wider than the discarded snapshots themselves on
//!   purpose: it also holds bookmarks of snapshots our retention had already rotated away
//!   before the rollback (a class keeps its newest, which the rollback then discarded); such a
//!   bookmark is either newer than R (stale) or older than R and newer than every survivor,
//!   i.e. of a snapshot kept by no class while a newer one of its class existed — a bookmark
//!   the dataset's rollback point may or may not have preceded. Dropped: the cost of a wrong
//!   drop is an incremental resume point less for the third site (it then resumes from an older
//!   point or sets its newest aside, never loses data); the cost of a wrong keep is corruption.
//! * **pending**: a stale bookmark whose destroy did not happen (failed, deferred) is
//!   remembered and selected again while it exists with the same createtxg.
//!
//! What it accepts on purpose: a manual `zfs destroy` of our newest snapshot looks like a
//! rollback to the one before it, and its bookmark is dropped too (the third site then resumes
//! from the snapshot before, or sets its copy aside); on a replica, PVE replication mirroring
//! the owner's rotation of the newest snapshot this node saw (this node missed several
//! replications in a row) looks the same. Snapshots that are not `autosnap_*`
//! (`__replicate_…__`, PVE's, a user's) are not listed and play no part: we never bookmark
//! them. No previous listing (first run, a lost or distrusted cache, a dataset re-created:
//! other guid) drops nothing. No clock is involved: only createtxgs, which never go back
//! on a pool.
//!
//! Pure: no I/O, no clock, no logging.

use std::collections::{BTreeMap, BTreeSet};

use super::replica::{ReplicaPlan, replica_targets};
use super::{Change, LockMode, Plan, Planned, Reason, lock_mode};
use crate::host::{Host, ReplicaDisk};
use crate::naming::{Dataset, ShortName, SnapName};
use crate::nosnap::{NosnapValue, nosnap_value};
use crate::policy::BookmarkPolicy;
use crate::state::DatasetState;

/// What a dataset looked like to this node at the end of its previous run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Previous {
    /// Our snapshots (`autosnap_*`) by short name, with their createtxg, including the ones
    /// the previous run made and without the ones it destroyed.
    pub snapshots: BTreeMap<ShortName, u64>,
    /// Stale bookmarks selected before whose destroy was not seen to happen (name, createtxg).
    pub pending: BTreeMap<ShortName, u64>,
}

/// Why a bookmark is stale.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StaleWhy {
    /// Snapshots seen at the previous run and newer than every one that is still there are
    /// gone: a rollback discarded them.
    Discarded {
        /// The newest snapshot of ours from the previous run that is still there (none: no
        /// snapshot of ours survived).
        kept: Option<String>,
        /// The snapshots of ours that vanished, oldest first.
        vanished: Vec<String>,
    },
    /// Found stale by an earlier run, and still there.
    Pending,
}

/// One bookmark of ours to destroy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stale {
    /// Its short name (always ours).
    pub name: SnapName,
    /// Its createtxg.
    pub createtxg: u64,
    /// Why.
    pub why: StaleWhy,
}

/// The bookmarks of ours on `st` that a rollback left behind (see the module docs), oldest
/// first. `None` (no previous listing) selects nothing.
pub fn stale_bookmarks(previous: Option<&Previous>, st: &DatasetState) -> Vec<Stale> {
    let Some(prev) = previous else {
        return Vec::new();
    };
    if !st.exists {
        return Vec::new();
    }
    let now: BTreeMap<&str, u64> = st
        .snapshots
        .iter()
        .map(|s| (s.name.as_str(), s.createtxg))
        .collect();
    let txgs: BTreeSet<u64> = st.snapshots.iter().map(|s| s.createtxg).collect();
    let survived = |(n, t): &(&ShortName, &u64)| now.get(n.as_str()) == Some(*t);
    let kept = prev
        .snapshots
        .iter()
        .filter(survived)
        .max_by_key(|(n, t)| (**t, (*n).clone()));
    // Nothing of ours survived: the rollback's target is older than everything the previous
    // run saw, but how much older is unknown; a bookmark older than all of it was already
    // snapshot-less then and is judged as it was (kept), only what changed since counts.
    let lo = kept.map_or_else(
        || {
            prev.snapshots
                .values()
                .copied()
                .min()
                .map_or(0, |t| t.saturating_sub(1))
        },
        |(_, t)| *t,
    );
    let mut vanished: Vec<(&ShortName, u64)> = prev
        .snapshots
        .iter()
        .filter(|e| !survived(e) && *e.1 > lo)
        .map(|(n, t)| (n, *t))
        .collect();
    vanished.sort_by_key(|(n, t)| (*t, (*n).clone()));
    let top = vanished.last().map_or(0, |(_, t)| *t);
    let why = StaleWhy::Discarded {
        kept: kept.map(|(n, _)| n.to_string()),
        vanished: vanished.iter().map(|(n, _)| n.to_string()).collect(),
    };
    let mut out: Vec<Stale> = st
        .bookmarks
        .iter()
        .filter(|b| b.createtxg != 0 && !txgs.contains(&b.createtxg))
        .filter_map(|b| {
            let name = b.name.ours()?;
            let why = if b.createtxg > lo && b.createtxg <= top {
                why.clone()
            } else if prev.pending.get(b.name.as_str()) == Some(&b.createtxg) {
                StaleWhy::Pending
            } else {
                return None;
            };
            Some(Stale {
                name,
                createtxg: b.createtxg,
                why,
            })
        })
        .collect();
    out.sort_by_key(|s| (s.createtxg, s.name.to_string()));
    out
}

/// Takes the `stale` bookmarks out of `inventory`'s bookmark lists, so that no other rule
/// (retention counts, the replicas' bookmarks) counts them as existing; one that shares its
/// name with an existing snapshot stays listed (its name is taken: nothing may make it again
/// before it is destroyed).
pub fn withdraw(
    inventory: &mut BTreeMap<Dataset, DatasetState>,
    stale: &BTreeMap<Dataset, Vec<Stale>>,
) {
    for (ds, list) in stale {
        let Some(st) = inventory.get_mut(ds) else {
            continue;
        };
        let snaps: BTreeSet<ShortName> = st.snapshots.iter().map(|s| s.name.clone()).collect();
        st.bookmarks.retain(|b| {
            snaps.contains(&b.name)
                || !list
                    .iter()
                    .any(|s| s.createtxg == b.createtxg && b.name.ours() == Some(s.name))
        });
    }
}

/// A stale bookmark this run does not drop, and why: the run says so (a warning, the JSON,
/// a gauge) because a third site could still resume from it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StalePending {
    /// The dataset.
    pub dataset: Dataset,
    /// The bookmark's short name.
    pub name: SnapName,
    /// What keeps the run from dropping it (`label:nosnap=nosnap`, the guest's lock, …).
    pub why: String,
}

/// Adds a `DestroyBookmark` (reason [`Reason::StaleBookmark`]) for each of `stale` to
/// `plan`: at the end of the changes of the guest of this node that owns the dataset, or to
/// the replica's bookmarks (`replicas`, as [`replica_targets`] keeps them: nothing when
/// bookmarks are off). Left out, and so left for a later run (the caller keeps them pending),
/// each named in `plan.stale_pending` with why: datasets of a guest whose lock forbids
/// destroys, or that `label:nosnap` excludes, and datasets the run plans nothing for (a
/// template's). Returns how many were added.
pub fn add_to_plan(
    plan: &mut Plan,
    host: &Host,
    bookmarks: &BookmarkPolicy,
    replicas: &[ReplicaDisk],
    inventory: &BTreeMap<Dataset, DatasetState>,
    stale: &BTreeMap<Dataset, Vec<Stale>>,
) -> usize {
    let mut added = 0;
    let targets = replica_targets(bookmarks, host, replicas);
    for (ds, list) in stale.iter().filter(|(_, l)| !l.is_empty()) {
        let pending = |plan: &mut Plan, why: String| {
            plan.stale_pending.extend(list.iter().map(|s| StalePending {
                dataset: ds.clone(),
                name: s.name,
                why: why.clone(),
            }));
        };
        let excluded = inventory
            .get(ds)
            .and_then(|st| st.nosnap.as_deref())
            .filter(|v| nosnap_value(v) == NosnapValue::Excludes);
        if let Some(v) = excluded {
            pending(plan, format!("label:nosnap={v} leaves the dataset alone"));
            continue;
        }
        let changes = |list: &[Stale]| -> Vec<Planned> {
            list.iter()
                .map(|s| Planned {
                    change: Change::DestroyBookmark {
                        dataset: ds.clone(),
                        name: s.name,
                    },
                    reason: Reason::StaleBookmark(s.why.clone()),
                })
                .collect()
        };
        let own = host
            .guests
            .iter()
            .find(|g| !g.template && g.disks.iter().any(|d| &d.dataset == ds));
        if let Some(g) = own {
            if lock_mode(g.lock.as_deref()) != LockMode::Normal {
                let lock = g.lock.as_deref().unwrap_or_default();
                pending(
                    plan,
                    format!("guest {} is locked ({lock}): no destroys", g.vmid),
                );
                continue;
            }
            let Some(gp) = plan.guests.iter_mut().find(|p| p.vmid == g.vmid) else {
                pending(plan, format!("guest {} is not planned", g.vmid));
                continue;
            };
            gp.changes.extend(changes(list));
            added += list.len();
        } else if let Some(r) = targets.iter().find(|r| &r.dataset == ds) {
            match plan.replicas.iter_mut().find(|p| &p.dataset == ds) {
                Some(p) => p.changes.extend(changes(list)),
                None => plan.replicas.push(ReplicaPlan {
                    vmid: r.vmid,
                    owner: r.owner.clone(),
                    dataset: ds.clone(),
                    changes: changes(list),
                    notes: Vec::new(),
                }),
            }
            added += list.len();
        } else {
            pending(
                plan,
                "no guest of this node plans the dataset (a template's, or bookmarks are off)"
                    .into(),
            );
        }
    }
    added
}

#[cfg(test)]
mod tests;
