//! What the inventory remembers between runs: the createtxg and creation of our snapshots,
//! which never change once a snapshot exists, so that a run reads the properties of only the
//! snapshots it has not seen before (reading a snapshot's properties instantiates it in the
//! kernel: the dominant cost of a run on a big pool, see BENCHMARKS.md).
//!
//! The file is `<root>/var/cache/pve-zfs-snap/snapshots.json`. It is a cache, never a source of
//! truth: a missing, unreadable or foreign-format file means "read everything", and the file
//! may be deleted at any time. Since what it says decides which snapshots a run believes exist
//! and how old they are (and so what it destroys), the file is used only when no one but the
//! effective uid could have written it (a regular file of its own, not group/other-writable,
//! in a directory of its own, 0700, that is not a symlink) and its checksum matches; it is
//! written only there ([`crate::fsutil`]), and pruned on every run of the pools and datasets
//! the run did not look at ([`SnapCache::retain`]). An entry is trusted only while
//! * its dataset still has the same `guid` (a destroyed and re-created or received-over
//!   dataset starts afresh),
//! * the name still exists (names that vanished are dropped), and
//! * it was read in full less than its dataset's [`max_age`] ago: 12 to 24 hours, fixed per
//!   dataset, so that a node's full reads spread over the day (a snapshot destroyed and
//!   re-created under the same name by someone else is picked up within that time).
//!
//!
//! On OpenZFS 2.2 and later it also remembers each dataset's [`Listing`]: the names of our
//! snapshots and bookmarks as of the dataset's `snapshots_changed` (the second its snapshot
//! list last changed), so that the next inventory skips walking a dataset whose value is still
//! the same. A listing is kept only when it is known exact:
//! * read by a walk that saw a `snapshots_changed` older than the run's clock (a change later in
//!   that same second would leave the value equal and go unseen), or
//! * carried through our own apply program, which saw the value the inventory saw before its
//!   changes (nobody else changed the list in between) and reports the value after them; every
//!   change it made is applied to the listing ([`Listing::after_apply`]).
//!
//! What it cannot see, bounded by the periodic full walk ([`max_age`]): a change by someone
//! else in the same second right after our apply (the value stays equal), and bookmarks made or
//! destroyed by someone else (bookmarks do not touch `snapshots_changed`). Neither can make a
//! run destroy anything that is not ours: the plan destroys only names that are ours, and a
//! name that is gone fails with ENOENT, which drops the listing.
//!
//! It also keeps, per dataset, what the last run left there ([`DatasetCache::seen`]: our
//! snapshots by name and createtxg, found + made − destroyed) and the stale bookmarks not yet
//! destroyed, for [`crate::plan::stale`] (bookmarks a rollback left behind). Unlike the facts,
//! these outlive the entry's age (not a change of dataset guid); a lost file only means the
//! next run drops no stale bookmark.
//!
//! This module must not talk to ZFS nor log: `zfs::inventory` fills it, the run loads (and
//! reports why a cache was ignored) and saves it.

use crate::change::{self, Outcome};
use crate::fsutil;
use crate::naming::{Dataset, ShortName};
use crate::plan::stale::{self, Previous, Stale};
use crate::report::PoolReport;
use crate::state::DatasetState;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A watched dataset and its `snapshots_changed` before and after the program (`None` when it
/// does not exist).
pub type Watched = (Dataset, Option<(i64, i64)>);

/// Format of the file; another number is read as an empty cache. 2: a header line with a
/// checksum before the JSON.
pub const FORMAT: u32 = 2;

/// The cache file, relative to the host root (its directory is made with mode 0700).
pub const CACHE_FILE: &str = "var/cache/pve-zfs-snap/snapshots.json";

/// How long a dataset's entries are trusted after they were read in full, at most: each
/// dataset's own limit is between half of this and all of it ([`max_age`]), so that the full
/// reads of a node's datasets spread over the day instead of making one run a day cold.
pub const MAX_AGE_SECS: i64 = 24 * 3600;

/// How long the entries of `dataset` are trusted: [`MAX_AGE_SECS`] less a fixed share of up to
/// a half, from a hash of its name (the same on every run, different between datasets).
pub fn max_age(dataset: &str) -> i64 {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in dataset.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    MAX_AGE_SECS - (h % (MAX_AGE_SECS as u64 / 2)) as i64
}

/// createtxg and creation (seconds since the epoch) of one snapshot.
pub type Facts = (u64, i64);

/// The whole cache: per pool, per dataset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapCache {
    /// [`FORMAT`].
    pub format: u32,
    /// Per pool name.
    pub pools: BTreeMap<String, PoolCache>,
}

/// One pool's datasets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolCache {
    /// Per dataset full name.
    pub datasets: BTreeMap<String, DatasetCache>,
}

/// One dataset's remembered snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetCache {
    /// The dataset's `guid` when the entries were read.
    pub guid: i64,
    /// When all of its snapshots were last read in full (the run's clock).
    pub full_read_at: i64,
    /// How many foreign snapshots it had at the last run (sizes the next inventory call).
    #[serde(default)]
    pub foreign: u64,
    /// Short snapshot name → facts.
    pub snaps: BTreeMap<ShortName, Facts>,
    /// Our names as of a `snapshots_changed` value, when known exact (OpenZFS >= 2.2).
    #[serde(default)]
    pub listing: Option<Listing>,
    /// Our snapshots (`autosnap_*`) with their createtxg at the end of the last run that read
    /// the dataset: those it found, plus those it made, less those it destroyed. What the
    /// next run compares with to find the bookmarks a rollback left behind
    /// ([`crate::plan::stale`]). Kept with the dataset's guid, whatever the age of the facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<BTreeMap<ShortName, u64>>,
    /// Stale bookmarks (name, createtxg) selected by a run and not seen destroyed yet.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stale_pending: BTreeMap<ShortName, u64>,
}

/// The names of our snapshots and bookmarks on a dataset, exact as of `changed`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The dataset's `snapshots_changed` (seconds) the names are exact for.
    pub changed: i64,
    /// Short names of our snapshots.
    pub snapshots: BTreeSet<ShortName>,
    /// Short names of our bookmarks.
    pub bookmarks: BTreeSet<ShortName>,
}

/// What our apply program did to a dataset's names, item by item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The snapshot was made.
    Created(ShortName),
    /// The snapshot is gone (destroyed, or already gone).
    Destroyed(ShortName),
    /// The bookmark was made.
    BookmarkCreated(ShortName),
    /// The bookmark is gone.
    BookmarkDestroyed(ShortName),
    /// Something failed in a way that leaves the names unknown.
    Unknown,
}

impl Listing {
    /// The listing after our apply program, which found `snapshots_changed` = `before` ahead
    /// of its changes and `after` behind them, and did `changes`. `None` when it can no longer
    /// be vouched for: someone else changed the list since it was read (`before` differs), or
    /// an item ended in an unknown state.
    pub fn after_apply(mut self, before: i64, after: i64, changes: &[Change]) -> Option<Listing> {
        if before != self.changed {
            return None;
        }
        for c in changes {
            match c {
                Change::Created(n) => self.snapshots.insert(n.clone()),
                Change::Destroyed(n) => self.snapshots.remove(n),
                Change::BookmarkCreated(n) => self.bookmarks.insert(n.clone()),
                Change::BookmarkDestroyed(n) => self.bookmarks.remove(n),
                Change::Unknown => return None,
            };
        }
        self.changed = after;
        Some(self)
    }
}

impl DatasetCache {
    /// True when the entries may be used for a dataset whose guid is `guid` at `now`, with
    /// `max_age` its [`max_age`].
    pub fn trusted(&self, guid: i64, now: i64, max_age: i64) -> bool {
        self.guid == guid && self.fresh(now, max_age)
    }

    /// True while the last full read is younger than `max_age` and the clock did not go back.
    pub fn fresh(&self, now: i64, max_age: i64) -> bool {
        self.full_read_at <= now && now - self.full_read_at < max_age
    }
}

impl SnapCache {
    /// The cache file under `root`.
    pub fn path(root: &Path) -> PathBuf {
        root.join(CACHE_FILE)
    }

    /// Reads the cache; anything unusable is an empty cache, because the cost of a wrong guess
    /// is only a slower run. See [`SnapCache::load_checked`].
    pub fn load(root: &Path) -> SnapCache {
        Self::load_checked(root).0
    }

    /// Reads the cache, and says why it was not used when it existed but was not: its
    /// directory is not a directory of the effective uid's that only it can write (or is a
    /// symlink), the file is not a regular file of the effective uid's that only it can write,
    /// or its content is not a whole cache of this [`FORMAT`] with a matching checksum (edited,
    /// cut short, bit rot). The cache decides which snapshots exist and how old they are, and
    /// so what a run destroys: it is used only when no one but us could have written it and it
    /// is exactly what we wrote. A missing file is an empty cache with no reason.
    pub fn load_checked(root: &Path) -> (SnapCache, Option<String>) {
        let path = Self::path(root);
        let dir = path.parent().expect("cache path has a parent");
        let empty = |why: String| (SnapCache::empty(), Some(why));
        match std::fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (SnapCache::empty(), None);
            }
            Err(e) => return empty(format!("cannot look at {}: {e}", dir.display())),
            Ok(m) if m.file_type().is_symlink() => {
                return empty(format!("{} is a symlink", dir.display()));
            }
            Ok(m) if !m.is_dir() => return empty(format!("{} is not a directory", dir.display())),
            Ok(m) if m.uid() != fsutil::euid() || m.mode() & 0o022 != 0 => {
                return empty(format!(
                    "{} is owned by uid {} with mode {:04o}: only uid {} may write it",
                    dir.display(),
                    m.uid(),
                    m.mode() & 0o7777,
                    fsutil::euid()
                ));
            }
            Ok(_) => {}
        }
        let file = match fsutil::read_regular(&path) {
            Ok(Some(f)) => f,
            Ok(None) => return (SnapCache::empty(), None),
            Err(e) => return empty(e.to_string()),
        };
        if file.uid != fsutil::euid() || file.mode & 0o022 != 0 {
            return empty(format!(
                "{} is owned by uid {} with mode {:04o}: only uid {} may write it",
                path.display(),
                file.uid,
                file.mode,
                fsutil::euid()
            ));
        }
        match decode(&file.bytes) {
            Ok(c) => (c, None),
            Err(why) => empty(format!("{}: {why}", path.display())),
        }
    }

    /// An empty cache of the current format.
    pub fn empty() -> SnapCache {
        SnapCache {
            format: FORMAT,
            pools: BTreeMap::new(),
        }
    }

    /// Writes the cache atomically (temporary file + rename), mode 0600, in its directory,
    /// mode 0700, made when missing (and `var/cache` under `root`, mode 0755), whatever the
    /// umask. A cache directory of ours left writable by others (an older version under umask
    /// 000) gets its mode back; one that is a symlink or someone else's is refused.
    pub fn save(&self, root: &Path) -> std::io::Result<()> {
        let path = Self::path(root);
        let dir = path.parent().expect("cache path has a parent");
        let mut parent = root.to_path_buf();
        for part in ["var", "cache"] {
            parent.push(part);
            fsutil::ensure_dir(&parent, 0o755)?;
        }
        let dirfd = fsutil::ensure_private_dir(dir, 0o700, true)?;
        let bytes = encode(self)?;
        fsutil::replace_file_in(
            &dirfd,
            dir,
            Path::new(path.file_name().expect("cache path has a file name")),
            &bytes,
            0o600,
            ".snapshots.",
        )
    }

    /// The pool's part, created empty when missing.
    pub fn pool_mut(&mut self, pool: &str) -> &mut PoolCache {
        self.pools.entry(pool.to_string()).or_default()
    }

    /// Forgets every pool and dataset not in `wanted` (per pool, the datasets a run looked
    /// at), so that the cache holds only what exists and cannot grow without bound: guests
    /// gone or migrated away, pools destroyed or exported.
    pub fn retain(&mut self, wanted: &BTreeMap<String, Vec<Dataset>>) {
        self.pools.retain(|pool, c| match wanted.get(pool) {
            Some(list) => {
                let keep: BTreeSet<&str> = list.iter().map(Dataset::as_str).collect();
                c.datasets.retain(|d, _| keep.contains(d.as_str()));
                true
            }
            None => false,
        });
    }
}

/// The file's first line: this, the format, and the checksum of the rest.
const MAGIC: &str = "pve-zfs-snap-cache";

/// FNV-1a, 64 bits: catches an edit or bit rot (not a security measure: only we can write
/// the file, [`SnapCache::load_checked`]).
fn checksum(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The file's bytes: `<MAGIC> <FORMAT> <checksum of the JSON, 16 hex digits>\n<JSON>`.
fn encode(c: &SnapCache) -> std::io::Result<Vec<u8>> {
    let json = serde_json::to_vec(c)?;
    let mut out = format!("{MAGIC} {FORMAT} {:016x}\n", checksum(&json)).into_bytes();
    out.extend_from_slice(&json);
    Ok(out)
}

/// The cache in `bytes`, or why not.
fn decode(bytes: &[u8]) -> Result<SnapCache, String> {
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("no header line")?;
    let (head, json) = (&bytes[..nl], &bytes[nl + 1..]);
    let head = std::str::from_utf8(head).map_err(|_| "bad header line")?;
    let want = format!("{MAGIC} {FORMAT} ");
    let sum = head
        .strip_prefix(&want)
        .ok_or_else(|| format!("not a cache of format {FORMAT}"))?;
    if u64::from_str_radix(sum, 16).ok() != Some(checksum(json)) {
        return Err("checksum mismatch (edited or damaged)".into());
    }
    let c: SnapCache = serde_json::from_slice(json).map_err(|e| format!("cannot parse it: {e}"))?;
    if c.format != FORMAT {
        return Err(format!("format {} is not {FORMAT}", c.format));
    }
    Ok(c)
}

// ------------------------------------------------------------ after an apply

/// Keeps the cached listings of the `touched` datasets (with whether a snapshot was made or
/// destroyed there) exact after the apply recorded in `report`, given the `snapshots_changed`
/// the program saw for the watched ones; drops those it can no longer vouch for.
pub(crate) fn follow_apply(
    cache: &mut PoolCache,
    report: &PoolReport,
    touched: &[(Dataset, bool)],
    changed: &[Watched],
) {
    let changed: BTreeMap<&Dataset, (i64, i64)> = changed
        .iter()
        .filter_map(|(d, c)| c.map(|c| (d, c)))
        .collect();
    let failed_whole = report.error.is_some();
    for (d, snaps) in touched {
        let Some(entry) = cache.datasets.get_mut(d.as_str()) else {
            continue;
        };
        let seen = match (snaps, changed.get(d)) {
            (true, Some(&c)) => Some(c),
            // Bookmarks only: the snapshot list, and so its value, stay as they were.
            (false, _) if !failed_whole => entry.listing.as_ref().map(|l| (l.changed, l.changed)),
            _ => None,
        };
        entry.listing = match (entry.listing.take(), seen) {
            (Some(l), Some((before, after))) => {
                let changes: Vec<Change> = report
                    .items
                    .iter()
                    .filter(|i| i.change.dataset() == d)
                    .filter_map(|i| change_of(&i.change, i.outcome.as_ref()))
                    .collect();
                l.after_apply(before, after, &changes)
            }
            _ => None,
        };
    }
}

/// What an applied item did to its dataset's snapshot and bookmark names (`None`: nothing).
pub(crate) fn change_of(a: &change::Change, o: Option<&Outcome>) -> Option<Change> {
    use Outcome as O;
    use change::Change as C;
    match (a, o?) {
        (C::SetLabel { .. }, _) => None,
        (_, O::Dropped | O::CheckFailed(_) | O::Kept(_)) => None,
        (C::Snapshot { name, .. }, O::Ok) => Some(Change::Created(ShortName::from(*name))),
        (C::Destroy { name, .. }, O::Ok) => Some(Change::Destroyed(ShortName::from(*name))),
        (C::Destroy { name, .. }, O::Failed(e)) if e == "ENOENT" => {
            Some(Change::Destroyed(ShortName::from(*name)))
        }
        (C::Bookmark { name, .. }, O::Ok) => Some(Change::BookmarkCreated(ShortName::from(*name))),
        (C::DestroyBookmark { name, .. }, O::Ok) => {
            Some(Change::BookmarkDestroyed(ShortName::from(*name)))
        }
        (_, O::Failed(_)) => Some(Change::Unknown),
    }
}

// ------------------------------------------------ what the last run saw (stale bookmarks)

/// What the last run saw of each dataset of `read` (per pool), with the dataset guid it saw
/// it for: the input of [`crate::plan::stale`]. Taken before the inventory refreshes the
/// cache. A dataset with neither a listing nor pending bookmarks is left out.
pub fn previous_listings(
    cache: &SnapCache,
    read: &BTreeMap<String, Vec<Dataset>>,
) -> BTreeMap<Dataset, (i64, Previous)> {
    let mut out = BTreeMap::new();
    for (pool, list) in read {
        let Some(pc) = cache.pools.get(pool) else {
            continue;
        };
        for d in list {
            let Some(e) = pc.datasets.get(d.as_str()) else {
                continue;
            };
            let Some(seen) = &e.seen else { continue };
            out.insert(
                d.clone(),
                (
                    e.guid,
                    Previous {
                        snapshots: seen.clone(),
                        pending: e.stale_pending.clone(),
                    },
                ),
            );
        }
    }
    out
}

/// The stale bookmarks of every dataset of `inventory` ([`stale::stale_bookmarks`]), for
/// those whose `previous` listing was made for the dataset the inventory just read (same
/// guid in the refreshed `cache`); only datasets with some.
pub fn stale_bookmarks(
    cache: &SnapCache,
    previous: &BTreeMap<Dataset, (i64, Previous)>,
    inventory: &BTreeMap<Dataset, DatasetState>,
) -> BTreeMap<Dataset, Vec<Stale>> {
    let mut out = BTreeMap::new();
    for (d, st) in inventory {
        let guid = cache
            .pools
            .get(d.pool())
            .and_then(|p| p.datasets.get(d.as_str()))
            .map(|e| e.guid);
        let prev = previous
            .get(d)
            .filter(|(g, _)| Some(*g) == guid)
            .map(|(_, p)| p);
        let list = stale::stale_bookmarks(prev, st);
        if !list.is_empty() {
            out.insert(d.clone(), list);
        }
    }
    out
}

/// Records, for the next run, what this one leaves on each dataset of `inventory` that
/// exists: the snapshots of ours it found, plus those `reports` say were made (their
/// createtxg is the pool's program txg), less those destroyed (or already gone); and, as
/// pending, the `stale` bookmarks whose destroy was not seen done (failed, left out, dropped
/// with a guest whose snapshot failed).
pub fn remember_seen(
    cache: &mut SnapCache,
    inventory: &BTreeMap<Dataset, DatasetState>,
    reports: &[&PoolReport],
    stale: &BTreeMap<Dataset, Vec<Stale>>,
) {
    let mut made: BTreeMap<&Dataset, Vec<(ShortName, u64)>> = BTreeMap::new();
    let mut gone: BTreeSet<(&Dataset, String)> = BTreeSet::new();
    let mut bookmarks_gone: BTreeSet<(&Dataset, String)> = BTreeSet::new();
    for r in reports {
        for i in &r.items {
            let done = match &i.outcome {
                Some(Outcome::Ok) => true,
                Some(Outcome::Failed(e)) => e == "ENOENT",
                _ => false,
            };
            match (&i.change, done) {
                (change::Change::Snapshot { dataset, name }, true) => {
                    if let (Some(txg), Some(Outcome::Ok)) = (r.txg, &i.outcome) {
                        made.entry(dataset)
                            .or_default()
                            .push((ShortName::from(*name), txg));
                    }
                }
                (change::Change::Destroy { dataset, name }, true) => {
                    gone.insert((dataset, name.to_string()));
                }
                (change::Change::DestroyBookmark { dataset, name }, true) => {
                    bookmarks_gone.insert((dataset, name.to_string()));
                }
                _ => {}
            }
        }
    }
    for (d, st) in inventory.iter().filter(|(_, st)| st.exists) {
        let Some(entry) = cache
            .pools
            .get_mut(d.pool())
            .and_then(|p| p.datasets.get_mut(d.as_str()))
        else {
            continue;
        };
        let mut seen: BTreeMap<ShortName, u64> = st
            .snapshots
            .iter()
            .filter(|s| !gone.contains(&(d, s.name.to_string())))
            .map(|s| (s.name.clone(), s.createtxg))
            .collect();
        seen.extend(made.remove(d).unwrap_or_default());
        entry.seen = Some(seen);
        entry.stale_pending = stale
            .get(d)
            .into_iter()
            .flatten()
            .filter(|s| !bookmarks_gone.contains(&(d, s.name.to_string())))
            .map(|s| (ShortName::from(s.name), s.createtxg))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_table() {
        let c = DatasetCache {
            guid: 7,
            full_read_at: 1_000_000,
            foreign: 0,
            snaps: BTreeMap::new(),
            listing: None,
            ..Default::default()
        };
        // (guid, now, trusted)
        let cases = [
            (7, 1_000_000, true),
            (7, 1_000_000 + MAX_AGE_SECS - 1, true),
            (7, 1_000_000 + MAX_AGE_SECS, false),
            (7, 999_999, false), // the clock went back: read again
            (8, 1_000_001, false),
        ];
        for (guid, now, want) in cases {
            assert_eq!(
                c.trusted(guid, now, MAX_AGE_SECS),
                want,
                "guid {guid} now {now}"
            );
        }
        assert!(c.trusted(7, 1_000_000 + 3600, 3601));
        assert!(!c.trusted(7, 1_000_000 + 3601, 3601));
    }

    #[test]
    fn max_age_is_stable_per_dataset_and_spread_over_half_a_day() {
        assert_eq!(
            max_age("rpool/data/vm-100-disk-0"),
            max_age("rpool/data/vm-100-disk-0")
        );
        let ages: Vec<i64> = (0..1000)
            .map(|i| max_age(&format!("rpool/data/vm-{}-disk-0", 100 + i)))
            .collect();
        assert!(
            ages.iter()
                .all(|&a| a > MAX_AGE_SECS / 2 && a <= MAX_AGE_SECS)
        );
        // Spread: every hour of the half day holds some of them.
        let hours: BTreeSet<i64> = ages.iter().map(|a| (MAX_AGE_SECS - a) / 3600).collect();
        assert_eq!(hours.len(), 12, "{hours:?}");
    }

    fn sample() -> SnapCache {
        let mut c = SnapCache::empty();
        c.pool_mut("tank").datasets.insert(
            "tank/a".into(),
            DatasetCache {
                guid: -5,
                full_read_at: 10,
                foreign: 2,
                snaps: [(ShortName::new("autosnap_x"), (3, 4))].into(),
                listing: Some(Listing {
                    changed: 9,
                    snapshots: [ShortName::new("autosnap_x")].into(),
                    bookmarks: BTreeSet::new(),
                }),
                ..Default::default()
            },
        );
        c
    }

    #[test]
    fn save_load_round_trip_and_bad_files_are_empty() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(
            SnapCache::load_checked(root.path()),
            (SnapCache::empty(), None)
        );
        let c = sample();
        c.save(root.path()).unwrap();
        assert_eq!(SnapCache::load_checked(root.path()), (c.clone(), None));
        let good = std::fs::read(SnapCache::path(root.path())).unwrap();
        let text = String::from_utf8(good.clone()).unwrap();
        let (head, json) = text.split_once('\n').unwrap();
        // A hand edit that keeps the JSON valid (an extra snapshot name) breaks the checksum.
        let edited = format!(
            "{head}\n{}",
            json.replace("\"autosnap_x\"]", "\"autosnap_x\",\"autosnap_y\"]")
        );
        assert_ne!(edited, text, "the edit applies");
        let old_format = r#"{"format":1,"pools":{"tank":{"datasets":{"tank/a":{"guid":1,"full_read_at":5,"foreign":0,"snaps":{"autosnap_x":[3,4]}}}}}}"#;
        let other_format = text.replacen(&format!(" {FORMAT} "), " 3 ", 1);
        // (content, words of the reason)
        let cases: [(&[u8], &str); 8] = [
            (b"", "no header line"),
            (b"{", "no header line"),
            (old_format.as_bytes(), "no header line"),
            (other_format.as_bytes(), "not a cache of format"),
            (edited.as_bytes(), "checksum mismatch"),
            (&good[..good.len() - 1], "checksum mismatch"),
            (b"pve-zfs-snap-cache 2 cbf29ce484222325\n", "cannot parse"),
            (b"pve-zfs-snap-cache 2 zz\n{}", "checksum mismatch"),
        ];
        for (bad, why) in cases {
            std::fs::write(SnapCache::path(root.path()), bad).unwrap();
            let (got, reason) = SnapCache::load_checked(root.path());
            assert_eq!(got, SnapCache::empty(), "{why}");
            let reason = reason.unwrap_or_default();
            assert!(reason.contains(why), "{why}: {reason}");
            assert!(reason.contains("snapshots.json"), "{reason}");
        }
    }

    /// The cache says what exists and how old it is, so what a run destroys: one anybody but
    /// us could have written (a file or directory writable by others, someone else's, a
    /// symlink) is ignored, and the reason given.
    #[test]
    fn a_cache_others_could_have_written_is_ignored() {
        use crate::fsutil::tests::chmod;
        let c = sample();
        type Setup = fn(&Path);
        // (what, spoil it, words of the reason)
        let cases: Vec<(&str, Setup, &str)> = vec![
            (
                "file 0666",
                |r| chmod(&SnapCache::path(r), 0o666),
                "mode 0666",
            ),
            (
                "file 0620",
                |r| chmod(&SnapCache::path(r), 0o620),
                "mode 0620",
            ),
            (
                "directory 0777",
                |r| chmod(SnapCache::path(r).parent().unwrap(), 0o777),
                "mode 0777",
            ),
            (
                "directory 1777",
                |r| chmod(SnapCache::path(r).parent().unwrap(), 0o1777),
                "mode 1777",
            ),
            (
                "file is a symlink",
                |r| {
                    let p = SnapCache::path(r);
                    let real = r.join("real.json");
                    std::fs::rename(&p, &real).unwrap();
                    std::os::unix::fs::symlink(&real, &p).unwrap();
                },
                "a symlink",
            ),
            (
                "directory is a symlink",
                |r| {
                    let d = SnapCache::path(r).parent().unwrap().to_path_buf();
                    let real = r.join("realdir");
                    std::fs::rename(&d, &real).unwrap();
                    std::os::unix::fs::symlink(&real, &d).unwrap();
                },
                "is a symlink",
            ),
        ];
        for (what, spoil, why) in cases {
            let root = tempfile::tempdir().unwrap();
            c.save(root.path()).unwrap();
            assert_eq!(SnapCache::load(root.path()), c, "{what}: usable before");
            spoil(root.path());
            let (got, reason) = SnapCache::load_checked(root.path());
            assert_eq!(got, SnapCache::empty(), "{what}");
            let reason = reason.unwrap_or_default();
            assert!(reason.contains(why), "{what}: {reason}");
        }
        if fsutil::euid() == 0 {
            for chown_dir in [false, true] {
                let root = tempfile::tempdir().unwrap();
                c.save(root.path()).unwrap();
                let p = SnapCache::path(root.path());
                let target = if chown_dir { p.parent().unwrap() } else { &p };
                std::os::unix::fs::chown(target, Some(65534), None).unwrap();
                let (got, reason) = SnapCache::load_checked(root.path());
                assert_eq!(got, SnapCache::empty());
                assert!(reason.unwrap_or_default().contains("uid 65534"));
            }
        }
    }

    /// Under umask 000 the directory used to be made 0777; now its modes are exact, and a
    /// directory of ours left 0777 gets 0700 back on save (its old content was not used).
    #[test]
    fn save_makes_exact_modes_and_heals_its_own_directory() {
        use crate::fsutil::tests::chmod;
        let root = tempfile::tempdir().unwrap();
        let c = sample();
        c.save(root.path()).unwrap();
        let p = SnapCache::path(root.path());
        let m = |p: &Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o7777;
        let d = p.parent().unwrap();
        assert_eq!((m(d), m(&p)), (0o700, 0o600));
        assert_eq!(m(&root.path().join("var/cache")), 0o755);
        chmod(d, 0o777);
        assert_eq!(SnapCache::load(root.path()), SnapCache::empty());
        c.save(root.path()).unwrap();
        assert_eq!(m(d), 0o700);
        assert_eq!(SnapCache::load(root.path()), c);
        // A symlink in the directory's place is never written through.
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::remove_file(&p).unwrap();
        std::fs::remove_dir(d).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), d).unwrap();
        assert!(c.save(root.path()).is_err());
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    /// Issue 16: the cache was never pruned (a 100 MB cache cost 9 s per run).
    #[test]
    fn retain_keeps_only_what_was_looked_at() {
        let mut c = SnapCache::empty();
        for pool in ["tank", "gone"] {
            for i in 0..1000 {
                c.pool_mut(pool)
                    .datasets
                    .insert(format!("{pool}/vm-{i}-disk-0"), DatasetCache::default());
            }
        }
        let wanted: BTreeMap<String, Vec<Dataset>> = [(
            "tank".to_string(),
            vec![Dataset::new("tank/vm-7-disk-0").unwrap()],
        )]
        .into();
        c.retain(&wanted);
        assert_eq!(c.pools.keys().collect::<Vec<_>>(), ["tank"]);
        assert_eq!(
            c.pools["tank"].datasets.keys().collect::<Vec<_>>(),
            ["tank/vm-7-disk-0"]
        );
    }

    fn listing(changed: i64, snaps: &[&str], bms: &[&str]) -> Listing {
        Listing {
            changed,
            snapshots: snaps.iter().map(|&s| ShortName::new(s)).collect(),
            bookmarks: bms.iter().map(|&s| ShortName::new(s)).collect(),
        }
    }

    #[test]
    fn after_apply_table() {
        use Change::*;
        let c = ShortName::new;
        let start = listing(100, &["a", "b"], &["a"]);
        // (before, after, changes, expected)
        let cases: Vec<(i64, i64, Vec<Change>, Option<Listing>)> = vec![
            // Ours only: the names follow, the value moves to `after`.
            (
                100,
                200,
                vec![Created(c("c")), Destroyed(c("a")), BookmarkCreated(c("c"))],
                Some(listing(200, &["b", "c"], &["a", "c"])),
            ),
            (
                100,
                100,
                vec![BookmarkDestroyed(c("a"))],
                Some(listing(100, &["a", "b"], &[])),
            ),
            // Someone changed the list between the inventory and the program.
            (101, 200, vec![Created(c("c"))], None),
            (99, 200, vec![], None),
            // An item in an unknown state.
            (100, 200, vec![Created(c("c")), Unknown], None),
        ];
        for (before, after, changes, want) in cases {
            assert_eq!(
                start.clone().after_apply(before, after, &changes),
                want,
                "{before} {after} {changes:?}"
            );
        }
    }
}

#[cfg(test)]
mod follow_tests {
    use super::*;
    use crate::change::Change as C;
    use crate::change::Outcome as O;
    use crate::naming::SnapName;

    #[test]
    fn what_each_outcome_did_to_the_names() {
        let d = Dataset::new("tank/a").unwrap();
        let n = SnapName::parse("autosnap_2026-11-21_12:00:00_hourly").unwrap();
        let short = ShortName::from(n);
        let snap = C::Snapshot {
            dataset: d.clone(),
            name: n,
        };
        let destroy = C::Destroy {
            dataset: d.clone(),
            name: n,
        };
        let bm = C::Bookmark {
            dataset: d.clone(),
            name: n,
        };
        let dbm = C::DestroyBookmark {
            dataset: d.clone(),
            name: n,
        };
        let label = C::SetLabel {
            dataset: d.clone(),
            value: "pve1".into(),
        };
        let failed = |e: &str| O::Failed(e.into());
        let cases: Vec<(&C, Option<O>, Option<Change>)> = vec![
            (&snap, Some(O::Ok), Some(Change::Created(short.clone()))),
            (&snap, Some(failed("EEXIST")), Some(Change::Unknown)),
            (&snap, Some(O::Dropped), None),
            (&snap, Some(O::CheckFailed("EEXIST".into())), None),
            (&snap, None, None),
            (
                &destroy,
                Some(O::Ok),
                Some(Change::Destroyed(short.clone())),
            ),
            (
                &destroy,
                Some(failed("ENOENT")),
                Some(Change::Destroyed(short.clone())),
            ),
            (&destroy, Some(failed("EIO")), Some(Change::Unknown)),
            (&destroy, Some(O::Kept("held".into())), None),
            (
                &bm,
                Some(O::Ok),
                Some(Change::BookmarkCreated(short.clone())),
            ),
            (&bm, Some(failed("EEXIST")), Some(Change::Unknown)),
            (
                &dbm,
                Some(O::Ok),
                Some(Change::BookmarkDestroyed(short.clone())),
            ),
            (
                &dbm,
                Some(failed("permission denied")),
                Some(Change::Unknown),
            ),
            (&label, Some(O::Ok), None),
            (&label, Some(failed("EIO")), None),
        ];
        for (a, o, want) in cases {
            assert_eq!(change_of(a, o.as_ref()), want, "{a:?} {o:?}");
        }
    }
}
