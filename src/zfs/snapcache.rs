//! What the inventory remembers between runs: the createtxg and creation of our snapshots,
//! which never change once a snapshot exists, so that a run reads the properties of only the
//! snapshots it has not seen before (reading a snapshot's properties instantiates it in the
//! kernel: the dominant cost of a run on a big pool, see BENCHMARKS.md).
//!
//! The file is `<root>/var/cache/pve-zfs-snap/snapshots.json`. It is a cache, never a source of
//! truth: a missing, unreadable or foreign-format file means "read everything", and the file
//! may be deleted at any time. An entry is trusted only while
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
//! This module must not talk to ZFS: `zfs::inventory` fills it, the run loads and saves it.

use crate::naming::ShortName;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Format of the file; another number is read as an empty cache.
pub const FORMAT: u32 = 1;

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
        root.join("var/cache/pve-zfs-snap/snapshots.json")
    }

    /// Reads the cache; anything unusable (missing, unreadable, another format) is an empty
    /// cache, because the cost of a wrong guess is only a slower run.
    pub fn load(root: &Path) -> SnapCache {
        std::fs::read(Self::path(root))
            .ok()
            .and_then(|b| serde_json::from_slice::<SnapCache>(&b).ok())
            .filter(|c| c.format == FORMAT)
            .unwrap_or_else(SnapCache::empty)
    }

    /// An empty cache of the current format.
    pub fn empty() -> SnapCache {
        SnapCache {
            format: FORMAT,
            pools: BTreeMap::new(),
        }
    }

    /// Writes the cache atomically (temporary file + rename), mode 0600.
    pub fn save(&self, root: &Path) -> std::io::Result<()> {
        let path = Self::path(root);
        std::fs::create_dir_all(path.parent().expect("cache path has a parent"))?;
        let bytes = serde_json::to_vec(self)?;
        crate::fsutil::replace_file(&path, &bytes, 0o600, ".snapshots.")
    }

    /// The pool's part, created empty when missing.
    pub fn pool_mut(&mut self, pool: &str) -> &mut PoolCache {
        self.pools.entry(pool.to_string()).or_default()
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

    #[test]
    fn save_load_round_trip_and_bad_files_are_empty() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(SnapCache::load(root.path()), SnapCache::empty());
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
            },
        );
        c.save(root.path()).unwrap();
        assert_eq!(SnapCache::load(root.path()), c);
        for bad in ["", "{", "{\"format\":2,\"pools\":{}}", "[]"] {
            std::fs::write(SnapCache::path(root.path()), bad).unwrap();
            assert_eq!(SnapCache::load(root.path()), SnapCache::empty(), "{bad:?}");
        }
    }

    #[test]
    fn a_file_without_listings_still_loads() {
        let root = tempfile::tempdir().unwrap();
        let old = r#"{"format":1,"pools":{"tank":{"datasets":{"tank/a":{"guid":1,"full_read_at":5,"foreign":0,"snaps":{"autosnap_x":[3,4]}}}}}}"#;
        std::fs::create_dir_all(SnapCache::path(root.path()).parent().unwrap()).unwrap();
        std::fs::write(SnapCache::path(root.path()), old).unwrap();
        let c = SnapCache::load(root.path());
        let d = &c.pools["tank"].datasets["tank/a"];
        assert_eq!((d.guid, d.snaps.len(), d.listing.is_none()), (1, 1, true));
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
