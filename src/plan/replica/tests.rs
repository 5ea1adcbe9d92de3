//! Tests of the replicas' bookmark plan: which snapshots get bookmarks, retention, never
//! `frequently` by default, never a bookmark that is not ours destroyed, never anything but
//! bookmarks, and a property test over random replicas.

use super::*;
use crate::host::{Disk, Guest, GuestKind};
use crate::naming::Class;
use crate::plan::Plan;
use crate::policy::Policy;
use crate::state::{BookmarkInfo, PropSource, PropValue, SnapshotInfo};
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

const D: &str = "rpool/data/vm-300-disk-0";

fn ds(s: &str) -> Dataset {
    Dataset::new(s).unwrap()
}

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// `autosnap_<t0 + minutes>_<suffix>`.
fn name(minutes: i64, suffix: &str) -> String {
    let t = t0() + Duration::minutes(minutes);
    format!("autosnap_{}_{suffix}", t.format("%Y-%m-%d_%H:%M:%S"))
}

/// A replica dataset holding `snaps` and `bms`, each `(short name, createtxg)`; creation
/// follows the txg (one per 15 minutes).
fn replica_state(snaps: &[(&str, u64)], bms: &[(&str, u64)]) -> DatasetState {
    let creation = |txg: u64| t0().timestamp() + txg as i64 * 900;
    DatasetState {
        dataset: ds(D),
        exists: true,
        running: Some(PropValue {
            value: "pve2".into(),
            source: PropSource::Received,
        }),
        nosnap: None,
        snapshots: snaps
            .iter()
            .map(|(n, txg)| SnapshotInfo {
                name: (*n).into(),
                createtxg: *txg,
                creation: creation(*txg),
            })
            .collect(),
        bookmarks: bms
            .iter()
            .map(|(n, txg)| BookmarkInfo {
                name: (*n).into(),
                createtxg: *txg,
                creation: creation(*txg),
            })
            .collect(),
        foreign_snapshots: 0,
        pins: Default::default(),
    }
}

fn host_with(own: &[&str]) -> Host {
    Host {
        node: "pve1".into(),
        guests: vec![Guest {
            vmid: 100,
            name: None,
            tags: vec![],
            kind: GuestKind::Qemu,
            running: true,
            template: false,
            lock: None,
            disks: own
                .iter()
                .map(|d| Disk {
                    key: "scsi0".into(),
                    storage: "local-zfs".into(),
                    dataset: ds(d),
                })
                .collect(),
            other_disks: vec![],
        }],
        unreadable: vec![],
        warnings: vec![],
    }
}

fn replica(d: &str) -> ReplicaDisk {
    ReplicaDisk {
        vmid: 300,
        owner: "pve2".into(),
        dataset: ds(d),
    }
}

fn default_bookmarks(keep: &str) -> BookmarkPolicy {
    BookmarkPolicy::default_for(&Policy::parse(&args(keep)).unwrap())
}

fn plan_of(bookmarks: &BookmarkPolicy, st: DatasetState) -> Vec<ReplicaPlan> {
    let inventory: BTreeMap<Dataset, DatasetState> = [(st.dataset.clone(), st)].into();
    plan_replicas(
        bookmarks,
        &host_with(&["rpool/data/vm-100-disk-0"]),
        &[replica(D)],
        &inventory,
    )
}

/// The changes of the one replica, as `+name` (bookmark) and `-name` (bookmark destroy).
fn changes(plans: &[ReplicaPlan]) -> Vec<String> {
    plans
        .iter()
        .flat_map(|p| &p.changes)
        .map(|p| match &p.change {
            Change::Bookmark { dataset, name } => {
                assert_eq!(dataset.as_str(), D);
                format!("+{name}")
            }
            Change::DestroyBookmark { dataset, name } => {
                assert_eq!(dataset.as_str(), D);
                format!("-{name}")
            }
            other => panic!("a replica got {other:?}"),
        })
        .collect()
}

#[test]
fn received_periodic_snapshots_get_bookmarks_frequent_and_stopped_ones_do_not() {
    let (f1, h1, f2, h2, d1, st, h3) = (
        name(0, "frequently"),
        name(60, "hourly"),
        name(75, "frequently"),
        name(120, "hourly"),
        name(180, "daily"),
        name(195, "stopped"),
        name(240, "hourly"),
    );
    let snaps: Vec<(&str, u64)> = vec![
        (&f1, 1),
        ("__replicate_300-0_1763700000__", 2),
        (&h1, 3),
        (&f2, 4),
        ("autosnap_garbage", 5),
        (&h2, 6),
        (&d1, 7),
        (&st, 8),
        (&h3, 9),
        ("autosnap_2026-11-21_04:00:00_hourly.x", 10),
    ];
    // f4 h24 d7: bookmarks h48 d14 by default.
    let plans = plan_of(&default_bookmarks("f4 h24 d7"), replica_state(&snaps, &[]));
    assert_eq!(
        changes(&plans),
        [
            format!("+{h1}"),
            format!("+{h2}"),
            format!("+{d1}"),
            format!("+{h3}")
        ]
    );
    let p = &plans[0];
    assert_eq!((p.vmid, p.owner.as_str()), (300, "pve2"));
    assert_eq!(
        p.changes[2].reason,
        Reason::BookmarkOfReplica {
            class: Class::Daily
        }
    );
    // A second run with the bookmarks made: nothing to do.
    let bms: Vec<(&str, u64)> = vec![(&h1, 3), (&h2, 6), (&d1, 7), (&h3, 9)];
    assert!(plan_of(&default_bookmarks("f4 h24 d7"), replica_state(&snaps, &bms)).is_empty());
}

#[test]
fn explicit_bookmark_keys_decide_the_classes_and_frequent_ones_are_never_bookmarked() {
    let (f1, h1, d1) = (
        name(0, "frequently"),
        name(60, "hourly"),
        name(120, "daily"),
    );
    let snaps: Vec<(&str, u64)> = vec![(&f1, 1), (&h1, 2), (&d1, 3)];
    // `--bookmarks d30`: hourly snapshots get none either.
    let only_daily = BookmarkPolicy::parse(&args("d30")).unwrap();
    assert_eq!(
        changes(&plan_of(&only_daily, replica_state(&snaps, &[]))),
        [format!("+{d1}")]
    );
    // `f96` alone: no class gets bookmarks, and nothing is planned.
    assert!(plan_of(&default_bookmarks("f96"), replica_state(&snaps, &[])).is_empty());
}

#[test]
fn bookmark_retention_applies_and_a_bookmark_it_would_expire_at_once_is_not_made() {
    let hs: Vec<String> = (0..5).map(|i| name(60 * i, "hourly")).collect();
    let snaps: Vec<(&str, u64)> = hs.iter().zip(1..).map(|(n, t)| (n.as_str(), t)).collect();
    let h2 = BookmarkPolicy::parse(&args("h2")).unwrap();
    // Five received hourlies, h2: the newest two get bookmarks, the others none.
    assert_eq!(
        changes(&plan_of(&h2, replica_state(&snaps, &[]))),
        [format!("+{}", hs[3]), format!("+{}", hs[4])]
    );
    // The snapshots rotated away (replication mirrored the owner's destroys), bookmarks of
    // the three oldest remain, and a new hourly arrived: it gets its bookmark, the retention
    // keeps two bookmarks, the oldest ones go (oldest first), whether or not their snapshot
    // still exists.
    let bms: Vec<(&str, u64)> = vec![(&hs[0], 1), (&hs[1], 2), (&hs[2], 3)];
    let plans = plan_of(&h2, replica_state(&[(&hs[2], 3), (&hs[3], 4)], &bms));
    assert_eq!(
        changes(&plans),
        [
            format!("+{}", hs[3]),
            format!("-{}", hs[0]),
            format!("-{}", hs[1])
        ]
    );
    assert_eq!(
        plans[0].changes[1].reason.to_string(),
        "bookmark expired: 4th newest hourly-or-longer, h2 keeps 2"
    );
    // Bookmarks of a class the bookmark policy does not manage are never destroyed.
    let w = name(500, "weekly");
    assert!(plan_of(&h2, replica_state(&[], &[(&w, 1)])).is_empty());
}

#[test]
fn only_our_bookmarks_are_ever_destroyed_on_a_replica() {
    let hs: Vec<String> = (0..3).map(|i| name(60 * i, "hourly")).collect();
    let foreign = [
        "mybookmark",
        "autosnap_garbage",
        "autosnap_2026-11-20_00:00:00_hourly.x",
        "autosnap_2026-11-20_02:30:00dst_hourly",
        "syncoid_pve3_2026-11-20:00:00:00",
        "__replicate_300-0_1763700000__",
    ];
    let mut bms: Vec<(&str, u64)> = foreign.iter().map(|f| (*f, 1)).collect();
    bms.extend(hs.iter().zip(10..).map(|(n, t)| (n.as_str(), t)));
    let h1 = BookmarkPolicy::parse(&args("h1")).unwrap();
    assert_eq!(
        changes(&plan_of(&h1, replica_state(&[], &bms))),
        [format!("-{}", hs[0]), format!("-{}", hs[1])]
    );
}

#[test]
fn not_looked_after_disabled_own_missing_or_nosnap() {
    let h = name(60, "hourly");
    let st = replica_state(&[(&h, 1)], &[]);
    let inventory: BTreeMap<Dataset, DatasetState> = [(st.dataset.clone(), st.clone())].into();
    let b = default_bookmarks("h24");
    // --no-bookmarks: not even read.
    let host = host_with(&[]);
    let r = [replica(D)];
    assert!(replica_targets(&BookmarkPolicy::Disabled, &host, &r).is_empty());
    assert!(plan_replicas(&BookmarkPolicy::Disabled, &host, &r, &inventory).is_empty());
    assert_eq!(replica_targets(&b, &host, &r).len(), 1);
    // A dataset of a guest whose config is here is never a replica, even when another
    // node's config names it.
    let own = host_with(&[D]);
    assert!(replica_targets(&b, &own, &r).is_empty());
    assert!(plan_replicas(&b, &own, &r, &inventory).is_empty());
    // Named twice: looked at once.
    assert_eq!(
        replica_targets(&b, &host, &[replica(D), replica(D)]).len(),
        1
    );
    // Missing here (no replication to this node): nothing, and no note.
    let mut gone = st.clone();
    gone.exists = false;
    assert!(plan_of(&b, gone).is_empty());
    assert!(plan_replicas(&b, &host, &r, &BTreeMap::new()).is_empty());
    // label:nosnap=nosnap (received from the owner): left alone, said once.
    let mut nosnap = st;
    nosnap.nosnap = Some("nosnap".into());
    let plans = plan_of(&b, nosnap);
    assert!(changes(&plans).is_empty());
    assert_eq!(
        plans[0].notes,
        [format!("{D}: label:nosnap=nosnap: left alone")]
    );
}

#[test]
fn the_dry_run_text_names_each_replica_change() {
    let (h1, h2) = (name(60, "hourly"), name(120, "hourly"));
    let mut plan = Plan {
        node: "pve1".into(),
        guests: vec![],
        policy_notes: vec![],
        replicas: plan_of(
            &BookmarkPolicy::parse(&args("h1")).unwrap(),
            replica_state(&[(&h2, 2)], &[(&h1, 1)]),
        ),
        stale_pending: vec![],
    };
    let text = plan.render_text();
    assert_eq!(
        text,
        format!(
            "node pve1: 0 snapshot(s), 0 bookmark(s), 0 snapshot destroy(s), 0 bookmark destroy(s), 0 label change(s)\n\
             replicas of guests on other nodes: 1 bookmark(s), 1 bookmark destroy(s)\n\
             replica {D} (guest 300 on pve2): bookmark {h2}\n      \
             bookmark of the hourly snapshot on a replica (bookmarks do not travel with replication)\n\
             replica {D} (guest 300 on pve2): destroy bookmark {h1}\n      \
             bookmark expired: 2nd newest hourly-or-longer, h1 keeps 1\n"
        )
    );
    // No replica work: the text is what it always was.
    plan.replicas.clear();
    assert!(!plan.render_text().contains("replica"));
}

/// One random object of a replica: a name (ours of some kind, or not), and whether a
/// snapshot and a bookmark of that name exist.
fn object() -> impl Strategy<Value = (u8, bool, bool)> {
    (0u8..9, any::<bool>(), any::<bool>())
}

fn object_name(i: usize, kind: u8) -> String {
    let minutes = i as i64 * 15;
    match kind {
        0 => name(minutes, "frequently"),
        1 => name(minutes, "hourly"),
        2 => name(minutes, "daily"),
        3 => name(minutes, "weekly"),
        4 => name(minutes, "monthly"),
        5 => name(minutes, "stopped"),
        6 => format!("__replicate_300-0_{}__", 1_763_700_000 + i),
        7 => format!("{}.x", name(minutes, "hourly")),
        _ => format!("user-{i}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Whatever a replica holds and whatever the policy: only bookmarks are planned; a
    /// bookmark is made only of a snapshot that exists, is ours, periodic, of a class the
    /// policy bookmarks (never `frequently`), and has none; a destroy only ever names a
    /// bookmark that exists and is ours; and once the plan is applied, planning again
    /// changes nothing (no churn).
    #[test]
    fn a_replica_gets_bookmarks_only_and_loses_none_that_is_not_ours(
        objects in prop::collection::vec(object(), 0..40),
        keep in prop::sample::select(vec!["f4 h24 d7", "h2 d1", "f8 h1", "d3 m1", "h0 d2", "f96"]),
        explicit in prop::option::of(prop::sample::select(vec!["h2", "d1 w1", "h1 d1 m1", "h0"])),
    ) {
        let bookmarks = match explicit {
            Some(k) => BookmarkPolicy::parse(&args(k)).unwrap(),
            None => default_bookmarks(keep),
        };
        let names: Vec<String> =
            objects.iter().enumerate().map(|(i, (k, _, _))| object_name(i, *k)).collect();
        let snaps: Vec<(&str, u64)> = objects
            .iter()
            .zip(&names)
            .zip(1..)
            .filter(|(((_, s, _), _), _)| *s)
            .map(|((_, n), t)| (n.as_str(), t))
            .collect();
        let bms: Vec<(&str, u64)> = objects
            .iter()
            .zip(&names)
            .zip(1..)
            .filter(|(((_, _, b), _), _)| *b)
            .map(|((_, n), t)| (n.as_str(), t))
            .collect();
        let st = replica_state(&snaps, &bms);
        let plans = plan_of(&bookmarks, st.clone());
        let mut after = st;
        for p in plans.iter().flat_map(|p| &p.changes) {
            match &p.change {
                Change::Bookmark { name, .. } => {
                    let n = name.to_string();
                    let s = after.snapshots.iter().find(|s| s.name.as_str() == n);
                    prop_assert!(s.is_some(), "bookmark of a missing snapshot {n}");
                    prop_assert!(!bms.iter().any(|(b, _)| *b == n), "made twice: {n}");
                    let SnapKind::Periodic(c) = name.kind() else {
                        return Err(TestCaseError::fail(format!("bookmark of {n}")));
                    };
                    prop_assert!(c != Class::Frequently && bookmarks.creates_for(c), "{n}");
                    let s = s.unwrap().clone();
                    after.bookmarks.push(BookmarkInfo {
                        name: n.as_str().into(),
                        createtxg: s.createtxg,
                        creation: s.creation,
                    });
                }
                Change::DestroyBookmark { name, .. } => {
                    let n = name.to_string();
                    prop_assert!(
                        crate::naming::ShortName::from(n.as_str()).ours().is_some(),
                        "destroyed a bookmark that is not ours: {n}"
                    );
                    let before = after.bookmarks.len();
                    after.bookmarks.retain(|b| b.name.as_str() != n);
                    prop_assert_eq!(before, after.bookmarks.len() + 1, "no such bookmark {}", n);
                }
                other => {
                    return Err(TestCaseError::fail(format!("a replica got {other:?}")));
                }
            }
        }
        // Everything not ours is still there.
        for (b, _) in &bms {
            if crate::naming::ShortName::from(*b).ours().is_none() {
                prop_assert!(after.bookmarks.iter().any(|x| x.name.as_str() == *b));
            }
        }
        prop_assert_eq!(after.snapshots.len(), snaps.len());
        after.bookmarks.sort_by_key(|b| b.createtxg);
        let again = plan_of(&bookmarks, after);
        prop_assert!(
            again.iter().all(|p| p.changes.is_empty()),
            "a second plan changes more: {:?}", changes(&again)
        );
    }
}
