//! The bookmarks of this node's replicas (issue 19, "Bookmarks where C pulls from").
//!
//! Bookmarks do not travel with `zfs send -R`: PVE replication copies our `autosnap_`
//! snapshots from the owner A to the replica B, but not A's bookmarks. After a takeover, or
//! when the third site pulls from B, B would have no bookmark of the snapshots it received,
//! and once they rotate away nothing could resume incrementally from B. So each node also
//! bookmarks the snapshots of ours on its replicas (datasets of guests whose config is on
//! another node, [`ReplicaDisk`]), under the same rule as its own:
//!
//! * a bookmark is named after its snapshot (`ds#autosnap_…`), and only a periodic snapshot
//!   whose class the bookmark policy makes bookmarks for gets one
//!   ([`BookmarkPolicy::creates_for`]: never `frequently`, never `_stopped`);
//! * the bookmark retention of the run applies to the replica's bookmarks of ours, counting
//!   the bookmarks to be made as if they existed, so a bookmark that retention would expire
//!   at once is not made (no create-then-destroy churn, and a bookmark expired while its
//!   snapshot still exists is not made again). As for a node's own bookmarks, retention is
//!   the rule whether or not the bookmark's snapshot still exists: the replica's bookmarks
//!   then match what the owner keeps, so a takeover continues the same series.
//!
//! Decides bookmarks only: it never plans a snapshot, a snapshot destroy or a property
//! change, never a destroy of a bookmark whose name is not ours (`autosnap_<time>_<class>`),
//! never anything on a dataset of a guest whose config is on this node (even when a replica
//! names it too), on a dataset that does not exist, or on one `label:nosnap` excludes.
//!
//! Pure: no I/O, no clock, no logging.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::dataset::{Ours, expired, ours};
use super::{Change, Planned, Reason};
use crate::host::{Host, ReplicaDisk};
use crate::naming::{Dataset, SnapKind, SnapName};
use crate::nosnap::{NosnapValue, nosnap_value};
use crate::policy::BookmarkPolicy;
use crate::state::DatasetState;

/// What happens to the bookmarks of one replica dataset.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ReplicaPlan {
    /// The guest's VMID.
    pub vmid: u32,
    /// The node whose directory holds the guest's config.
    pub owner: String,
    /// The replica dataset on this node.
    pub dataset: Dataset,
    /// `Bookmark` (oldest first), then `DestroyBookmark` (oldest first); nothing else
    /// (serialized as `actions`).
    #[serde(rename = "actions")]
    pub changes: Vec<Planned>,
    /// Why something was left alone.
    pub notes: Vec<String>,
}

/// The datasets of `replicas` whose bookmarks a run may look after: none when bookmarks are
/// disabled; never a dataset of a guest whose config is on this node (templates included);
/// each dataset once (the first replica naming it).
pub fn replica_targets<'a>(
    bookmarks: &BookmarkPolicy,
    host: &Host,
    replicas: &'a [ReplicaDisk],
) -> Vec<&'a ReplicaDisk> {
    if bookmarks.counts().is_none() {
        return Vec::new();
    }
    let own: BTreeSet<&Dataset> = host
        .guests
        .iter()
        .flat_map(|g| &g.disks)
        .map(|d| &d.dataset)
        .collect();
    let mut seen = BTreeSet::new();
    replicas
        .iter()
        .filter(|r| !own.contains(&r.dataset) && seen.insert(&r.dataset))
        .collect()
}

/// Plans the bookmarks of `replicas` (see the module docs), from what `inventory` says of
/// their datasets. Only replicas with a change or a note are returned, in the order given.
pub fn plan_replicas(
    bookmarks: &BookmarkPolicy,
    host: &Host,
    replicas: &[ReplicaDisk],
    inventory: &BTreeMap<Dataset, DatasetState>,
) -> Vec<ReplicaPlan> {
    replica_targets(bookmarks, host, replicas)
        .into_iter()
        .filter_map(|r| {
            let st = inventory.get(&r.dataset).filter(|s| s.exists)?;
            let (changes, notes) = plan_one(bookmarks, st);
            (!changes.is_empty() || !notes.is_empty()).then(|| ReplicaPlan {
                vmid: r.vmid,
                owner: r.owner.clone(),
                dataset: r.dataset.clone(),
                changes,
                notes,
            })
        })
        .collect()
}

/// The bookmark changes of one existing replica dataset, and notes.
fn plan_one(bookmarks: &BookmarkPolicy, st: &DatasetState) -> (Vec<Planned>, Vec<String>) {
    let ds = &st.dataset;
    let Some(counts) = bookmarks.counts() else {
        return (Vec::new(), Vec::new());
    };
    if let Some(v) = &st.nosnap
        && nosnap_value(v) == NosnapValue::Excludes
    {
        return (
            Vec::new(),
            vec![format!("{ds}: label:nosnap={v}: left alone")],
        );
    }
    let bms = ours(
        st.bookmarks
            .iter()
            .map(|b| (&b.name, b.createtxg, b.creation)),
    );
    let have: HashSet<SnapName> = bms.iter().map(|o| o.name).collect();
    // The snapshots of ours the policy bookmarks and that have no bookmark yet.
    let wanted: Vec<Ours> = ours(
        st.snapshots
            .iter()
            .map(|s| (&s.name, s.createtxg, s.creation)),
    )
    .into_iter()
    .filter(|o| {
        matches!(o.name.kind(), SnapKind::Periodic(c) if bookmarks.creates_for(c))
            && !have.contains(&o.name)
    })
    .collect();
    let n_existing = bms.len();
    let mut all = bms;
    all.extend(wanted);
    let gone: HashMap<SnapName, super::Expiry> = expired(counts, &all, None)
        .into_iter()
        .map(|(o, e)| (o.name, e))
        .collect();
    let mut creates: Vec<&Ours> = all[n_existing..]
        .iter()
        .filter(|o| !gone.contains_key(&o.name))
        .collect();
    creates.sort_by_key(|o| o.entry.createtxg);
    let mut destroys: Vec<&Ours> = all[..n_existing]
        .iter()
        .filter(|o| gone.contains_key(&o.name))
        .collect();
    destroys.sort_by_key(|o| o.entry.createtxg);
    let mut changes: Vec<Planned> = creates
        .into_iter()
        .map(|o| Planned {
            change: Change::Bookmark {
                dataset: ds.clone(),
                name: o.name,
            },
            reason: Reason::BookmarkOfReplica {
                class: match o.name.kind() {
                    SnapKind::Periodic(c) => c,
                    SnapKind::Stopped => unreachable!("only periodic snapshots are wanted"),
                },
            },
        })
        .collect();
    changes.extend(destroys.into_iter().map(|o| Planned {
        change: Change::DestroyBookmark {
            dataset: ds.clone(),
            name: o.name,
        },
        reason: Reason::ExpiredBookmark(gone[&o.name]),
    }));
    (changes, Vec::new())
}

#[cfg(test)]
mod tests;
