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
//! * it was read less than [`MAX_AGE_SECS`] ago (a snapshot destroyed and re-created under the
//!   same name by someone else is picked up within that time).
//!
//! This module must not talk to ZFS: `zfs::inventory` fills it, the run loads and saves it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Format of the file; another number is read as an empty cache.
pub const FORMAT: u32 = 1;

/// How long a dataset's entries are trusted after they were read in full.
pub const MAX_AGE_SECS: i64 = 24 * 3600;

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
    pub snaps: BTreeMap<String, Facts>,
}

impl DatasetCache {
    /// True when the entries may be used for a dataset whose guid is `guid` at `now`.
    pub fn trusted(&self, guid: i64, now: i64) -> bool {
        self.guid == guid && self.full_read_at <= now && now - self.full_read_at < MAX_AGE_SECS
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
            assert_eq!(c.trusted(guid, now), want, "guid {guid} now {now}");
        }
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
                snaps: [("autosnap_x".to_string(), (3, 4))].into(),
            },
        );
        c.save(root.path()).unwrap();
        assert_eq!(SnapCache::load(root.path()), c);
        for bad in ["", "{", "{\"format\":2,\"pools\":{}}", "[]"] {
            std::fs::write(SnapCache::path(root.path()), bad).unwrap();
            assert_eq!(SnapCache::load(root.path()), SnapCache::empty(), "{bad:?}");
        }
    }
}
