//! Joins a dataset's listed names (snapshots and bookmarks, sorted) with the facts the cache
//! remembers, in one ordered pass: which snapshots have facts, which names must be read,
//! which remembered names are gone. Bookmarks take the facts of the snapshot of the same name
//! (a bookmark keeps its snapshot's createtxg).
//!
//! Pure: no I/O, no lookups per name (on a steady-state run this is most of what the
//! inventory costs the host), and it changes nothing in the cache itself.

use super::list::Listed;
use crate::naming::ShortName;
use crate::state::{BookmarkInfo, SnapshotInfo};
use crate::zfs::snapcache::{DatasetCache, Facts, Listing};
use std::collections::BTreeMap;

/// Where the names of `l` are: for a skipped walk, the listing in its cache `entry` (put back
/// there by [`super::cache::plan_reads`] before any reader); `None` for a walk (its own, sorted).
fn cached_names<'a>(l: &Listed, entry: &'a DatasetCache) -> Option<&'a Listing> {
    l.unchanged.then(|| {
        entry
            .listing
            .as_ref()
            .expect("a skipped walk always has its listing (checked above)")
    })
}

/// How many snapshot names `l` has ([`cached_names`]).
pub(super) fn snapshot_count(l: &Listed, entry: &DatasetCache) -> usize {
    cached_names(l, entry).map_or(l.snapshots.len(), |c| c.snapshots.len())
}

/// The names of `l` ([`cached_names`]) joined with the facts of its cache `entry`, each source
/// by its own instance of [`join`].
pub(super) fn join_listed(l: &Listed, entry: &DatasetCache) -> Joined {
    match cached_names(l, entry) {
        Some(c) => join(c.snapshots.iter(), c.bookmarks.iter(), &entry.snaps),
        None => join(l.snapshots.iter(), l.bookmarks.iter(), &entry.snaps),
    }
}

/// Advances the sorted names (`current`, then `rest`) past those before `key`, handing each
/// to `skipped`; takes the name equal to `key`, if any. One comparison per name looked at.
fn seek<'a>(
    current: &mut Option<&'a ShortName>,
    rest: &mut impl Iterator<Item = &'a ShortName>,
    key: &ShortName,
    mut skipped: impl FnMut(&'a ShortName),
) -> Option<&'a ShortName> {
    while let Some(n) = *current {
        match n.cmp(key) {
            std::cmp::Ordering::Less => {
                skipped(n);
                *current = rest.next();
            }
            std::cmp::Ordering::Equal => {
                *current = rest.next();
                return Some(n);
            }
            std::cmp::Ordering::Greater => return None,
        }
    }
    None
}

/// A dataset's names joined with the remembered facts.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Joined {
    /// Snapshots with facts (a name without facts is left out).
    pub(super) snapshots: Vec<SnapshotInfo>,
    /// Every bookmark (facts 0 when unknown).
    pub(super) bookmarks: Vec<BookmarkInfo>,
    /// Remembered names that are neither a snapshot nor a bookmark any more.
    pub(super) gone: Vec<ShortName>,
    /// Snapshot names without facts (to be read), in order.
    pub(super) unread: Vec<ShortName>,
}

/// Joins sorted snapshot and bookmark names with `facts` in one ordered pass (no lookups: on
/// a steady-state run this is most of what the inventory costs the host).
pub(super) fn join<'a>(
    snaps: impl IntoIterator<Item = &'a ShortName>,
    bms: impl IntoIterator<Item = &'a ShortName>,
    facts: &BTreeMap<ShortName, Facts>,
) -> Joined {
    let (mut s, mut b) = (snaps.into_iter(), bms.into_iter());
    let mut out = Joined {
        snapshots: Vec::with_capacity(s.size_hint().0),
        bookmarks: Vec::with_capacity(b.size_hint().0),
        gone: Vec::new(),
        unread: Vec::new(),
    };
    let unknown_bm = |n: &ShortName| BookmarkInfo {
        name: n.clone(),
        createtxg: 0,
        creation: 0,
    };
    let (mut cs, mut cb) = (s.next(), b.next());
    for (k, &(createtxg, creation)) in facts {
        let mut used = false;
        if let Some(n) = seek(&mut cs, &mut s, k, |n| out.unread.push(n.clone())) {
            out.snapshots.push(SnapshotInfo {
                name: n.clone(),
                createtxg,
                creation,
            });
            used = true;
        }
        if let Some(n) = seek(&mut cb, &mut b, k, |n| out.bookmarks.push(unknown_bm(n))) {
            out.bookmarks.push(BookmarkInfo {
                name: n.clone(),
                createtxg,
                creation,
            });
            used = true;
        }
        if !used {
            out.gone.push(k.clone());
        }
    }
    out.unread.extend(cs.into_iter().chain(s).cloned());
    out.bookmarks
        .extend(cb.into_iter().chain(b).map(unknown_bm));
    out
}
