//! The inventory's side of the snapshot cache: the phases of [`super::read_pool`] that decide,
//! from a pool's [`PoolCache`], which walks `inventory.lua` may skip, which snapshots
//! `snapinfo.lua` must read, and what the cache keeps afterwards (listings, facts, guids),
//! then build each dataset's state from the listing and the facts.
//!
//! The cache is only ever a shortcut: a skipped walk stands only for the dataset it was
//! listed for (same guid), an entry that is not trusted (other guid, too old, a clock gone
//! back) is read again in full, and names that vanished are forgotten. This module spawns
//! nothing itself except through [`list_pool`] (a walk redone); the cache's file format and
//! its freshness rules are `zfs::snapcache`'s, not this module's.

use super::facts::{InfoRead, Which};
use super::join::{Joined, join_listed, snapshot_count};
use super::list::{Ask, Listed, list_pool};
use super::{InventoryStats, ReadLimits, ReadOptions};
use crate::naming::Dataset;
use crate::state::DatasetState;
use crate::zfs::error::ZfsError;
use crate::zfs::exec::Exec;
use crate::zfs::snapcache::{DatasetCache, Listing, PoolCache, max_age};
use std::collections::{BTreeMap, BTreeSet};

use super::budget::ASSUMED_SNAPSHOTS;

/// What to ask `inventory.lua` for each dataset: with `snapshots_changed`, the value of its
/// cached listing (while the entry is fresh; 0, which never matches, when there is none), so
/// that the walk of a dataset unchanged since is skipped; without, a plain walk.
pub(super) fn asks(datasets: &[Dataset], opts: &ReadOptions, cache: &PoolCache) -> Vec<Ask> {
    datasets
        .iter()
        .map(|d| {
            let offer = cache
                .datasets
                .get(d.as_str())
                .filter(|c| c.fresh(opts.now, max_age(d.as_str())))
                .and_then(|c| c.listing.as_ref())
                .map_or(0, |l| l.changed);
            (d.clone(), opts.snapshots_changed.then_some(offer))
        })
        .collect()
}

/// The snapshots per dataset the first `inventory.lua` chunk is sized for: the most a dataset
/// to walk had last time, when known, else [`ASSUMED_SNAPSHOTS`] (a dataset offered a listing
/// is expected to skip its walk; if it does not, inventory.lua's walk budget still bounds the
/// call).
pub(super) fn expected_snapshots(asks: &[Ask], cache: &PoolCache) -> u64 {
    asks.iter()
        .filter(|(_, offer)| offer.is_none_or(|o| o == 0))
        .map(|(d, _)| {
            cache
                .datasets
                .get(d.as_str())
                .map_or(ASSUMED_SNAPSHOTS, |c| c.snaps.len() as u64 + c.foreign + 1)
        })
        .max()
        .unwrap_or(1)
}

/// Walks again every dataset whose walk was skipped but whose cache entry does not vouch for
/// it: a skipped walk stands only for the dataset the listing was made for (same guid).
pub(super) fn redo_unvouched_skips(
    exec: &dyn Exec,
    pool: &str,
    listed: &mut [Listed],
    cache: &PoolCache,
    limits: &ReadLimits,
    stats: &mut InventoryStats,
) -> Result<(), ZfsError> {
    let redo: Vec<usize> = (0..listed.len())
        .filter(|&i| {
            let l = &listed[i];
            l.unchanged
                && !cache
                    .datasets
                    .get(l.state.dataset.as_str())
                    .is_some_and(|c| c.guid == l.guid && c.listing.is_some())
        })
        .collect();
    if !redo.is_empty() {
        let again: Vec<Ask> = redo
            .iter()
            .map(|&i| (listed[i].state.dataset.clone(), Some(0)))
            .collect();
        let relisted = list_pool(exec, pool, &again, limits, ASSUMED_SNAPSHOTS, stats)?;
        for (i, l) in redo.into_iter().zip(relisted) {
            listed[i] = l;
        }
    }
    Ok(())
}

/// A skipped walk's names are its cached listing's (already in order, and left there:
/// [`join_listed`] reads them from the entry), and so is its foreign count; the walked ones
/// are put in order, for the passes after this walk them side by side with the cache's
/// ordered map.
pub(super) fn settle_names(listed: &mut [Listed], cache: &PoolCache, stats: &mut InventoryStats) {
    for l in listed.iter_mut() {
        if l.unchanged {
            l.state.foreign_snapshots = cache.datasets[l.state.dataset.as_str()].foreign;
            stats.walks_skipped += 1;
        } else {
            l.snapshots.sort_unstable();
            l.bookmarks.sort_unstable();
        }
    }
}

/// The listing the cache keeps for `l`: a skipped walk keeps the one `entry` has; a walked
/// listing is exact for the value it saw only if that value is older than the run's clock (a
/// change later in the same second would leave it equal), and a clone's is never kept.
fn listing_to_keep(l: &Listed, entry: &mut DatasetCache, now: i64) -> Option<Listing> {
    match l.changed {
        _ if l.unchanged => entry.listing.take(),
        Some(c) if c < now && !l.clone => Some(Listing {
            changed: c,
            snapshots: l.snapshots.iter().cloned().collect(),
            bookmarks: l.bookmarks.iter().cloned().collect(),
        }),
        _ => None,
    }
}

/// Which snapshots must be read: all of a dataset the cache does not vouch for (its entry is
/// started again), else the names it does not know. Also returns, per listed dataset, its
/// names joined with the facts already when none was unknown (nothing to read: the join
/// after the reads would give the same). Refreshes each entry's listing and foreign count.
pub(super) fn plan_reads(
    listed: &[Listed],
    cache: &mut PoolCache,
    now: i64,
    stats: &mut InventoryStats,
) -> (Vec<(Dataset, Which)>, Vec<Option<Joined>>) {
    let mut requests: Vec<(Dataset, Which)> = Vec::new();
    let mut joins: Vec<Option<Joined>> = (0..listed.len()).map(|_| None).collect();
    for (l, joined) in listed
        .iter()
        .zip(joins.iter_mut())
        .filter(|(l, _)| l.state.exists)
    {
        let name = l.state.dataset.to_string();
        let entry = cache.datasets.entry(name).or_default();
        let listing = listing_to_keep(l, entry, now);
        if !entry.trusted(l.guid, now, max_age(l.state.dataset.as_str())) {
            // What the last run saw outlives the age of the facts, not a change of dataset.
            let (seen, stale_pending) = if entry.guid == l.guid {
                (entry.seen.take(), std::mem::take(&mut entry.stale_pending))
            } else {
                (None, BTreeMap::new())
            };
            *entry = DatasetCache {
                guid: l.guid,
                full_read_at: now,
                foreign: l.state.foreign_snapshots,
                snaps: BTreeMap::new(),
                listing,
                seen,
                stale_pending,
            };
            let count = snapshot_count(l, entry);
            if count > 0 {
                requests.push((l.state.dataset.clone(), Which::All(count)));
            }
            continue;
        }
        entry.listing = listing;
        entry.foreign = l.state.foreign_snapshots;
        let count = snapshot_count(l, entry);
        let mut j = join_listed(l, entry);
        stats.snapshots_cached += (count - j.unread.len()) as u64;
        if j.unread.is_empty() {
            *joined = Some(j);
        } else {
            requests.push((
                l.state.dataset.clone(),
                Which::Names(std::mem::take(&mut j.unread)),
            ));
        }
    }
    (requests, joins)
}

/// Puts the facts `snapinfo.lua` read into the cache.
pub(super) fn remember_facts(read: InfoRead, cache: &mut PoolCache, stats: &mut InventoryStats) {
    for (ds, facts) in read {
        let entry = cache.datasets.entry(ds.to_string()).or_default();
        stats.snapshots_read += facts.len() as u64;
        entry.snaps.extend(facts);
    }
}

/// Each dataset's state: its names joined with the facts (the join made before the reads, or
/// one made now), snapshots in creation order. Names that vanished (destroyed since, by us or
/// anyone) are forgotten by the cache; a name listed but not read (destroyed between the two
/// programs) is left out.
pub(super) fn assemble(
    listed: Vec<Listed>,
    joins: Vec<Option<Joined>>,
    cache: &mut PoolCache,
) -> BTreeMap<Dataset, DatasetState> {
    let mut out = BTreeMap::new();
    for (l, joined) in listed.into_iter().zip(joins) {
        let state = if l.state.exists {
            let entry = cache
                .datasets
                .get_mut(l.state.dataset.as_str())
                .expect("entry made above");
            let joined = joined.unwrap_or_else(|| join_listed(&l, entry));
            let mut state = l.state;
            for gone in &joined.gone {
                entry.snaps.remove(gone);
            }
            state.snapshots = joined.snapshots;
            state
                .snapshots
                .sort_by(|a, b| (a.createtxg, &a.name).cmp(&(b.createtxg, &b.name)));
            state.bookmarks = joined.bookmarks;
            state
        } else {
            l.state
        };
        out.insert(state.dataset.clone(), state);
    }
    out
}

/// Datasets this run does not look at (guests gone, migrated away) are forgotten.
pub(super) fn forget_others(cache: &mut PoolCache, datasets: &[Dataset]) {
    let wanted: BTreeSet<String> = datasets.iter().map(|d| d.to_string()).collect();
    cache.datasets.retain(|d, _| wanted.contains(d));
}
