//! Both programs on the emulator: what the cache saves, and that it never lies. In-process
//! emulator only: never a real pool.

use super::*;
use crate::state::PropSource;
use crate::zfs::exec::InProcess;
use crate::zfs::program::DEFAULT_MEM_LIMIT;
use crate::zfs::snapcache::MAX_AGE_SECS;
use zfs_emu::{Version, World};

const NOW: i64 = 1_800_000_000;

fn world(n: usize, snaps: usize) -> (InProcess, Vec<Dataset>) {
    world_at(n, snaps, None)
}

/// `n` datasets with `snaps` snapshots of ours and one foreign each, made at `clock` when
/// given.
fn world_at(n: usize, snaps: usize, clock: Option<i64>) -> (InProcess, Vec<Dataset>) {
    let mut w = World::new(Version::new(2, 3, 2));
    w.set_seed(5);
    if let Some(t) = clock {
        w.set_clock(t);
    }
    w.create_pool("tank").unwrap();
    let mut list = vec![];
    for d in 0..n {
        let name = format!("tank/vm-{}-disk-0", 100 + d);
        w.create_dataset(&name, Some(1 << 20), false).unwrap();
        for i in 0..snaps {
            w.snapshot(&format!("{name}@autosnap_{i:03}")).unwrap();
        }
        w.snapshot(&format!("{name}@foreign")).unwrap();
        list.push(Dataset::new(&name).unwrap());
    }
    (InProcess::new(w), list)
}

fn read(
    x: &InProcess,
    list: &[Dataset],
    cache: &mut PoolCache,
    now: i64,
) -> (BTreeMap<Dataset, DatasetState>, InventoryStats) {
    read_with(x, list, cache, now, false)
}

fn read_with(
    x: &InProcess,
    list: &[Dataset],
    cache: &mut PoolCache,
    now: i64,
    snapshots_changed: bool,
) -> (BTreeMap<Dataset, DatasetState>, InventoryStats) {
    let mut stats = InventoryStats::default();
    let opts = ReadOptions {
        with_bookmark_txgs: true,
        limits: ReadLimits::DEFAULT,
        now,
        snapshots_changed,
    };
    let out = read_pool(x, "tank", list, &opts, cache, &mut stats).unwrap();
    (out, stats)
}

#[test]
fn label_values_of_any_length_and_byte_come_back_exactly() {
    // inventory.lua hex-encodes label values 64 bytes per string.format: values shorter
    // than, equal to and longer than one piece, and several pieces, with spaces, a
    // newline, '=' and UTF-8, come back as they were set.
    let values = [
        "pve1".to_string(),
        "x".to_string(),
        "a b\nc=d ü".to_string(),
        "y".repeat(63),
        "z".repeat(64),
        "w".repeat(65),
        "ü-".repeat(70),
    ];
    let (x, list) = world(values.len(), 1);
    for (d, v) in list.iter().zip(&values) {
        x.world_mut()
            .set_user_prop(d.as_str(), "label:running", v)
            .unwrap();
        x.world_mut()
            .set_user_prop(d.as_str(), "label:nosnap", v)
            .unwrap();
    }
    let (got, _) = read(&x, &list, &mut PoolCache::default(), NOW);
    for (d, v) in list.iter().zip(&values) {
        let st = &got[d];
        assert_eq!(
            st.running.as_ref().map(|p| p.value.as_str()),
            Some(v.as_str())
        );
        assert_eq!(
            st.running.as_ref().map(|p| &p.source),
            Some(&PropSource::Local)
        );
        assert_eq!(
            st.nosnap.as_deref(),
            Some(v.as_str()),
            "the value comes back as is"
        );
    }
    x.world_mut()
        .set_user_prop(list[0].as_str(), "label:nosnap", "nosnap")
        .unwrap();
    let (got, _) = read(&x, &list[..1], &mut PoolCache::default(), NOW);
    assert_eq!(got[&list[0]].nosnap.as_deref(), Some("nosnap"));
}

#[test]
fn a_warm_cache_reads_only_new_snapshots_and_gives_the_same_answer() {
    let (x, list) = world(3, 20);
    let mut cache = PoolCache::default();
    let (cold, s) = read(&x, &list, &mut cache, NOW);
    assert_eq!((s.snapshots_read, s.snapshots_cached), (60, 0));
    assert_eq!((s.programs, s.info_programs), (1, 1));
    assert!(
        cold.values()
            .all(|st| st.snapshots.len() == 20 && st.foreign_snapshots == 1)
    );

    // Nothing changed: no snapinfo call at all.
    let (warm, s) = read(&x, &list, &mut cache, NOW + 900);
    assert_eq!(
        (s.snapshots_read, s.snapshots_cached, s.info_programs),
        (0, 60, 0)
    );
    assert_eq!(warm, cold);

    // One new snapshot, one destroyed: only the new one is read.
    x.world_mut()
        .snapshot("tank/vm-100-disk-0@autosnap_new")
        .unwrap();
    x.world_mut()
        .destroy("tank/vm-101-disk-0@autosnap_000")
        .unwrap();
    let (after, s) = read(&x, &list, &mut cache, NOW + 1800);
    assert_eq!((s.snapshots_read, s.info_programs), (1, 1));
    let mut fresh_cache = PoolCache::default();
    let (fresh, _) = read(&x, &list, &mut fresh_cache, NOW + 1800);
    assert_eq!(after, fresh, "cached answer equals a full read");
    assert!(
        !cache.datasets["tank/vm-101-disk-0"]
            .snaps
            .contains_key("autosnap_000")
    );
}

#[test]
fn a_new_guid_an_old_entry_or_a_clock_going_back_reads_everything_again() {
    let (x, list) = world(2, 5);
    let mut cache = PoolCache::default();
    read(&x, &list, &mut cache, NOW);
    // Same names, but the dataset was destroyed and re-created: all must be read again.
    {
        let mut w = x.world_mut();
        for i in 0..5 {
            w.destroy(&format!("tank/vm-100-disk-0@autosnap_{i:03}"))
                .unwrap();
        }
        w.destroy("tank/vm-100-disk-0@foreign").unwrap();
        w.destroy("tank/vm-100-disk-0").unwrap();
        w.create_dataset("tank/vm-100-disk-0", Some(1 << 20), false)
            .unwrap();
        for i in 0..5 {
            w.snapshot(&format!("tank/vm-100-disk-0@autosnap_{i:03}"))
                .unwrap();
        }
    }
    let (st, s) = read(&x, &list, &mut cache, NOW + 900);
    assert_eq!(s.snapshots_read, 5, "vm-100 again, vm-101 from the cache");
    let mut fresh_cache = PoolCache::default();
    assert_eq!(st, read(&x, &list, &mut fresh_cache, NOW + 900).0);
    for now in [NOW + 900 + MAX_AGE_SECS, NOW - 60] {
        let mut c = cache.clone();
        let (_, s) = read(&x, &list, &mut c, now);
        assert_eq!(s.snapshots_read, 10, "at {now}");
    }
}

#[test]
fn datasets_no_longer_asked_for_are_forgotten_and_missing_ones_reported() {
    let (x, list) = world(2, 2);
    let mut cache = PoolCache::default();
    read(&x, &list, &mut cache, NOW);
    let gone = Dataset::new("tank/vm-999-disk-0").unwrap();
    let (st, _) = read(&x, &[list[0].clone(), gone.clone()], &mut cache, NOW);
    assert!(!st[&gone].exists);
    assert_eq!(
        cache.datasets.keys().collect::<Vec<_>>(),
        ["tank/vm-100-disk-0"]
    );
}

#[test]
fn bookmarks_take_their_facts_from_the_snapshot_or_the_cache() {
    let (x, list) = world(1, 3);
    x.world_mut()
        .bookmark(
            "tank/vm-100-disk-0@autosnap_000",
            "tank/vm-100-disk-0#autosnap_000",
        )
        .unwrap();
    let mut cache = PoolCache::default();
    let (st, _) = read(&x, &list, &mut cache, NOW);
    let snap_txg = st[&list[0]]
        .snapshots
        .iter()
        .find(|s| s.name == "autosnap_000")
        .unwrap()
        .createtxg;
    assert_eq!(st[&list[0]].bookmarks[0].createtxg, snap_txg);
    // The snapshot goes; the bookmark keeps its facts from the cache: no `zfs list`.
    x.world_mut()
        .destroy("tank/vm-100-disk-0@autosnap_000")
        .unwrap();
    let (st, s) = read(&x, &list, &mut cache, NOW + 900);
    assert_eq!(s.bookmark_listings, 0);
    assert_eq!(st[&list[0]].bookmarks[0].createtxg, snap_txg);
    // Without the cache, one `zfs list -t bookmark` gives the same.
    let (st2, s) = read(&x, &list, &mut PoolCache::default(), NOW + 900);
    assert_eq!(s.bookmark_listings, 1);
    assert_eq!(st2, st);
}

#[test]
fn a_limit_hit_splits_the_snapinfo_call() {
    let (x, list) = world(4, 30);
    // The requests under-state their size (as a stale count would), so the first call
    // carries all four datasets and hits the instruction limit; halving gets through.
    let tight = ReadLimits {
        instr: 3_000,
        mem: DEFAULT_MEM_LIMIT,
    };
    let req: Vec<(Dataset, Which)> = list.iter().map(|d| (d.clone(), Which::All(0))).collect();
    let mut stats = InventoryStats::default();
    let got = read_info(&x, "tank", &req, &tight, &mut stats).unwrap();
    assert!(stats.splits >= 1, "{stats:?}");
    assert_eq!(got.iter().map(|(_, f)| f.len()).sum::<usize>(), 120);
    // A limit that even one dataset cannot fit in is an error, not a loop.
    let tiny = ReadLimits {
        instr: 300,
        mem: DEFAULT_MEM_LIMIT,
    };
    assert!(read_info(&x, "tank", &req, &tiny, &mut InventoryStats::default()).is_err());
}

/// The per-call snapshot budget: a cold read of more snapshots than
/// [`SNAPSHOTS_PER_CALL`] takes several calls, each within the budget.
#[test]
fn snapinfo_calls_stay_within_the_snapshot_budget() {
    let per = (SNAPSHOTS_PER_CALL / 3 + 7) as usize;
    let (x, list) = world(4, per);
    let req: Vec<(Dataset, Which)> = list.iter().map(|d| (d.clone(), Which::All(per))).collect();
    let mut stats = InventoryStats::default();
    let got = read_info(&x, "tank", &req, &ReadLimits::SHIPPED_MAX, &mut stats).unwrap();
    // 4 × (budget/3 + 7) snapshots: two per call at most → 2 calls.
    assert_eq!((stats.info_programs, stats.splits), (2, 0));
    assert_eq!(got.iter().map(|(_, f)| f.len()).sum::<usize>(), 4 * per);
}

/// Chunk sizes follow what the pool really holds, not the first guess.
#[test]
fn later_inventory_chunks_are_sized_from_what_was_seen() {
    let (x, list) = world(400, 3);
    // Default limits, first chunk sized for 300 snapshots per dataset: 2.5 MiB - 10,300 ×
    // 100 B left for 3,000 B per dataset = 530 datasets, all of the 400: one call. Sized
    // for an assumed 30,000 per dataset (4.0 MB of walk: more than the quarter), the first
    // chunk is 1 dataset; then 4 seen (3 + 1 foreign) → 6 → the other 399 in one call.
    let asks: Vec<Ask> = list.iter().map(|d| (d.clone(), None)).collect();
    for (expected, calls) in [(ASSUMED_SNAPSHOTS, 1), (30_000, 2)] {
        let mut stats = InventoryStats::default();
        let got = list_pool(
            &x,
            "tank",
            &asks,
            &ReadLimits::DEFAULT,
            expected,
            &mut stats,
        )
        .unwrap();
        assert_eq!(got.len(), 400);
        assert_eq!(stats.programs, calls, "{expected}: {stats:?}");
        assert_eq!(stats.splits, 0, "{expected}: {stats:?}");
    }
}

/// A world whose history was made an hour before [`NOW`] (so the values of
/// `snapshots_changed` are older than the run's clock).
fn aged_world(n: usize, snaps: usize) -> (InProcess, Vec<Dataset>) {
    world_at(n, snaps, Some(NOW - 3600))
}

fn full_read(x: &InProcess, list: &[Dataset], now: i64) -> BTreeMap<Dataset, DatasetState> {
    read(x, list, &mut PoolCache::default(), now).0
}

#[test]
fn unchanged_datasets_are_not_walked_and_changed_ones_are() {
    let (x, list) = aged_world(3, 20);
    let mut cache = PoolCache::default();
    let (cold, s) = read_with(&x, &list, &mut cache, NOW, true);
    assert_eq!(s.walks_skipped, 0);
    assert!(cache.datasets.values().all(|c| c.listing.is_some()));
    assert_eq!(cold, full_read(&x, &list, NOW));

    let (warm, s) = read_with(&x, &list, &mut cache, NOW + 900, true);
    assert_eq!((s.walks_skipped, s.programs, s.info_programs), (3, 1, 0));
    assert_eq!(warm, cold, "a skipped walk gives the same answer");

    // Someone else destroys one of ours and makes a foreign snapshot elsewhere: those
    // two datasets are walked again, the third is not.
    {
        let mut w = x.world_mut();
        w.set_clock(NOW + 1000);
        w.destroy("tank/vm-100-disk-0@autosnap_005").unwrap();
        w.snapshot("tank/vm-101-disk-0@someone").unwrap();
    }
    let (after, s) = read_with(&x, &list, &mut cache, NOW + 1800, true);
    assert_eq!(s.walks_skipped, 1);
    assert_eq!(after, full_read(&x, &list, NOW + 1800));
    assert_eq!(after[&list[0]].snapshots.len(), 19);
    assert_eq!(after[&list[1]].foreign_snapshots, 2);
}

#[test]
fn a_listing_read_in_the_second_of_its_last_change_is_not_kept() {
    let (x, list) = aged_world(1, 3);
    x.world_mut().set_clock(NOW);
    x.world_mut()
        .snapshot("tank/vm-100-disk-0@autosnap_new")
        .unwrap();
    let mut cache = PoolCache::default();
    read_with(&x, &list, &mut cache, NOW, true);
    assert_eq!(cache.datasets["tank/vm-100-disk-0"].listing, None);
    // A change later in that same second would leave the value equal: the next run
    // walks again and sees it.
    x.world_mut()
        .destroy("tank/vm-100-disk-0@autosnap_000")
        .unwrap();
    let (st, s) = read_with(&x, &list, &mut cache, NOW + 900, true);
    assert_eq!(s.walks_skipped, 0);
    assert_eq!(st, full_read(&x, &list, NOW + 900));
    assert!(cache.datasets["tank/vm-100-disk-0"].listing.is_some());
}

#[test]
fn a_skipped_walk_of_another_dataset_with_the_same_value_is_redone() {
    let (x, list) = aged_world(1, 3);
    let mut cache = PoolCache::default();
    read_with(&x, &list, &mut cache, NOW, true);
    // Destroyed and re-created with other snapshots in the same second as the last
    // change: the same snapshots_changed, another guid.
    {
        let mut w = x.world_mut();
        w.set_clock(NOW + 100);
        for s in ["autosnap_000", "autosnap_001", "autosnap_002", "foreign"] {
            w.destroy(&format!("tank/vm-100-disk-0@{s}")).unwrap();
        }
        w.destroy("tank/vm-100-disk-0").unwrap();
        w.set_clock(NOW - 3600);
        w.create_dataset("tank/vm-100-disk-0", Some(1 << 20), false)
            .unwrap();
        w.snapshot("tank/vm-100-disk-0@autosnap_other").unwrap();
    }
    let (st, s) = read_with(&x, &list, &mut cache, NOW + 900, true);
    assert_eq!((s.walks_skipped, s.programs), (0, 2), "{s:?}");
    assert_eq!(st, full_read(&x, &list, NOW + 900));
    assert_eq!(st[&list[0]].snapshots.len(), 1);
}

#[test]
fn listings_older_than_a_day_or_from_the_future_are_walked_again() {
    let (x, list) = aged_world(2, 3);
    let mut cache = PoolCache::default();
    read_with(&x, &list, &mut cache, NOW, true);
    for now in [NOW + MAX_AGE_SECS, NOW - 60] {
        let mut c = cache.clone();
        let (_, s) = read_with(&x, &list, &mut c, now, true);
        assert_eq!(s.walks_skipped, 0, "at {now}");
    }
}

/// One call walks at most about [`SNAPSHOTS_PER_CALL`] snapshots even when every
/// dataset turns out to need a walk; the rest go into the next call.
#[test]
fn the_walk_budget_defers_datasets_to_the_next_call() {
    let per = (SNAPSHOTS_PER_CALL / 3 + 7) as usize;
    let (x, list) = world(4, per);
    let asks: Vec<Ask> = list.iter().map(|d| (d.clone(), None)).collect();
    let mut stats = InventoryStats::default();
    let got = list_pool(&x, "tank", &asks, &ReadLimits::SHIPPED_MAX, 1, &mut stats).unwrap();
    assert_eq!((stats.programs, stats.splits), (2, 0), "{stats:?}");
    let names: Vec<&Dataset> = got.iter().map(|l| &l.state.dataset).collect();
    assert_eq!(names, list.iter().collect::<Vec<_>>(), "in the order asked");
    assert!(got.iter().all(|l| l.snapshots.len() == per));
}

/// A promote moves snapshots onto the clone without changing its snapshots_changed
/// (kernel, conformance case 099): a clone is walked every time.
#[test]
fn a_clone_is_walked_every_time_so_a_promote_is_seen() {
    let (x, mut list) = aged_world(1, 3);
    {
        let mut w = x.world_mut();
        w.clone_snapshot("tank/vm-100-disk-0@autosnap_001", "tank/vm-101-disk-0")
            .unwrap();
        w.snapshot("tank/vm-101-disk-0@autosnap_on_clone").unwrap();
    }
    list.push(Dataset::new("tank/vm-101-disk-0").unwrap());
    let mut cache = PoolCache::default();
    read_with(&x, &list, &mut cache, NOW, true);
    assert!(cache.datasets["tank/vm-101-disk-0"].listing.is_none());
    let (_, s) = read_with(&x, &list, &mut cache, NOW + 900, true);
    assert_eq!(s.walks_skipped, 1, "only the origin's head is skipped");
    x.world_mut().promote("tank/vm-101-disk-0").unwrap();
    let (st, _) = read_with(&x, &list, &mut cache, NOW + 1800, true);
    assert_eq!(st, full_read(&x, &list, NOW + 1800));
    assert_eq!(
        st[&list[1]].snapshots.len(),
        3,
        "two moved over by the promote"
    );
}
