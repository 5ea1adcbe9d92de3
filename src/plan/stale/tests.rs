//! The rule of [`super::stale_bookmarks`]: table-driven cases and a property.

use super::*;
use crate::naming::Dataset;
use crate::state::{BookmarkInfo, SnapshotInfo};
use proptest::prelude::*;

/// `autosnap_2026-11-21_HH:00:00_hourly` for hour `h`.
fn h(hour: u32) -> String {
    format!("autosnap_2026-11-21_{hour:02}:00:00_hourly")
}

fn state(snaps: &[(&str, u64)], bms: &[(&str, u64)]) -> DatasetState {
    DatasetState {
        dataset: Dataset::new("rpool/data/vm-100-disk-0").unwrap(),
        exists: true,
        running: None,
        nosnap: None,
        snapshots: snaps
            .iter()
            .map(|(n, t)| SnapshotInfo {
                name: (*n).into(),
                createtxg: *t,
                creation: 0,
            })
            .collect(),
        bookmarks: bms
            .iter()
            .map(|(n, t)| BookmarkInfo {
                name: (*n).into(),
                createtxg: *t,
                creation: 0,
            })
            .collect(),
        foreign_snapshots: 0,
        pins: Default::default(),
    }
}

fn previous(snaps: &[(&str, u64)], pending: &[(&str, u64)]) -> Previous {
    Previous {
        snapshots: snaps.iter().map(|(n, t)| ((*n).into(), *t)).collect(),
        pending: pending.iter().map(|(n, t)| ((*n).into(), *t)).collect(),
    }
}

fn refs(v: &[(String, u64)]) -> Vec<(&str, u64)> {
    v.iter().map(|(n, t)| (n.as_str(), *t)).collect()
}

fn names(v: &[Stale]) -> Vec<String> {
    v.iter().map(|s| s.name.to_string()).collect()
}

#[test]
fn the_rule_table() {
    let (h1, h2, h3, h4, h5, h6) = (h(1), h(2), h(3), h(4), h(5), h(6));
    let (h1, h2, h3, h4, h5, h6) = (
        h1.as_str(),
        h2.as_str(),
        h3.as_str(),
        h4.as_str(),
        h5.as_str(),
        h6.as_str(),
    );
    type Case<'a> = (
        &'a str,
        Option<Previous>,
        DatasetState,
        Vec<&'a str>, // selected
    );
    let cases: Vec<Case> = vec![
        (
            "the failover: h3 h4 discarded by recv -F, h5 h6 received; their bookmarks go",
            Some(previous(&[(h1, 10), (h2, 20), (h3, 30), (h4, 40)], &[])),
            state(
                &[(h1, 10), (h2, 20), (h5, 60), (h6, 70)],
                &[(h1, 10), (h2, 20), (h3, 30), (h4, 40)],
            ),
            vec![h3, h4],
        ),
        (
            "no previous listing (first run, lost cache): nothing",
            None,
            state(&[(h1, 10)], &[(h3, 30), (h4, 40)]),
            vec![],
        ),
        (
            "steady state: our retention destroyed old ones (not in the listing any more)",
            Some(previous(&[(h2, 20), (h3, 30)], &[])),
            state(
                &[(h2, 20), (h3, 30), (h4, 40)],
                &[(h1, 10), (h2, 20), (h3, 30)],
            ),
            vec![],
        ),
        (
            "older snapshots vanished (replication mirrored the owner's rotation): kept",
            Some(previous(&[(h1, 10), (h2, 20), (h3, 30)], &[])),
            state(&[(h3, 30), (h4, 40)], &[(h1, 10), (h2, 20), (h3, 30)]),
            vec![],
        ),
        (
            "a bookmark between the survivor and the discarded one, its snapshot rotated \
             earlier: dropped too",
            Some(previous(&[(h1, 10), (h3, 30)], &[])),
            state(&[(h1, 10), (h5, 60)], &[(h1, 10), (h2, 20), (h3, 30)]),
            vec![h2, h3],
        ),
        (
            "nothing of ours survived: every vanished one counts as discarded",
            Some(previous(&[(h3, 30), (h4, 40)], &[])),
            state(&[(h5, 60)], &[(h1, 10), (h3, 30), (h4, 40), (h5, 60)]),
            vec![h3, h4],
        ),
        (
            "a bookmark of an existing snapshot, or newer than every discarded one, stays",
            Some(previous(&[(h1, 10), (h3, 30)], &[])),
            state(&[(h1, 10), (h5, 60)], &[(h1, 10), (h5, 60), (h6, 70)]),
            vec![],
        ),
        (
            "same name received again with another createtxg: the old one is discarded",
            Some(previous(&[(h1, 10), (h3, 30)], &[])),
            state(&[(h1, 10), (h3, 55)], &[(h3, 30)]),
            vec![h3],
        ),
        (
            "not ours: never",
            Some(previous(&[(h1, 10), (h3, 30)], &[])),
            state(
                &[(h1, 10)],
                &[
                    ("autosnap_garbage", 30),
                    ("mybookmark", 30),
                    ("__replicate_100-0_1__", 30),
                ],
            ),
            vec![],
        ),
        (
            "a bookmark whose createtxg is unknown (0): never",
            Some(previous(&[(h1, 10), (h3, 30)], &[])),
            state(&[(h1, 10)], &[(h3, 0)]),
            vec![],
        ),
        (
            "pending from an earlier run, still there with the same createtxg: again",
            Some(previous(&[(h1, 10), (h5, 60)], &[(h3, 30), (h4, 99)])),
            state(&[(h1, 10), (h5, 60)], &[(h3, 30), (h4, 40)]),
            vec![h3],
        ),
        (
            "a __replicate_ snapshot vanishing is not in the listing: nothing",
            Some(previous(&[(h1, 10), (h2, 20)], &[])),
            state(&[(h1, 10), (h2, 20)], &[(h1, 10), (h2, 20)]),
            vec![],
        ),
        (
            "a manual destroy of our newest snapshot: its bookmark goes (accepted)",
            Some(previous(&[(h1, 10), (h2, 20)], &[])),
            state(&[(h1, 10)], &[(h1, 10), (h2, 20)]),
            vec![h2],
        ),
    ];
    for (what, prev, st, want) in cases {
        let got = stale_bookmarks(prev.as_ref(), &st);
        assert_eq!(names(&got), want, "{what}");
    }
}

#[test]
fn the_reason_names_what_survived_and_what_vanished() {
    let (h1, h2, h3, h4) = (h(1), h(2), h(3), h(4));
    let prev = previous(&[(&h1, 10), (&h2, 20), (&h3, 30)], &[(&h4, 40)]);
    let st = state(&[(&h1, 10)], &[(&h2, 20), (&h4, 40)]);
    let got = stale_bookmarks(Some(&prev), &st);
    assert_eq!(
        got,
        vec![
            Stale {
                name: SnapName::parse(&h2).unwrap(),
                createtxg: 20,
                why: StaleWhy::Discarded {
                    kept: Some(h1.clone()),
                    vanished: vec![h2.clone(), h3.clone()],
                },
            },
            Stale {
                name: SnapName::parse(&h4).unwrap(),
                createtxg: 40,
                why: StaleWhy::Pending,
            },
        ]
    );
}

/// A name among a few of ours and a few that are not.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..12).prop_map(h),
        Just("autosnap_garbage".to_string()),
        Just("mybookmark".to_string()),
        Just("__replicate_100-0_1__".to_string()),
    ]
}

fn entries() -> impl Strategy<Value = Vec<(String, u64)>> {
    prop::collection::vec((name(), 1u64..40), 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Whatever the previous listing, the pending list and the dataset hold: a selected
    /// bookmark exists, is ours, and no snapshot of the dataset has its createtxg (its
    /// snapshot still exists by neither name nor txg); each is selected once.
    #[test]
    fn never_a_bookmark_not_ours_or_whose_snapshot_exists(
        prev in entries(),
        pending in entries(),
        snaps in entries(),
        bms in entries(),
    ) {
        let p = previous(&refs(&prev), &refs(&pending));
        // A dataset holds one snapshot per name and per txg, and one bookmark per name.
        let mut seen_n = BTreeSet::new();
        let mut seen_t = BTreeSet::new();
        let snaps: Vec<(&str, u64)> = refs(&snaps)
            .into_iter()
            .filter(|(n, t)| seen_n.insert(*n) && seen_t.insert(*t))
            .collect();
        let mut seen_b = BTreeSet::new();
        let bms: Vec<(&str, u64)> = refs(&bms).into_iter().filter(|(n, _)| seen_b.insert(*n)).collect();
        let st = state(&snaps, &bms);
        let got = stale_bookmarks(Some(&p), &st);
        let mut once = BTreeSet::new();
        for s in &got {
            let n = s.name.to_string();
            prop_assert!(once.insert(n.clone()), "{n} twice");
            prop_assert!(bms.contains(&(n.as_str(), s.createtxg)), "{n} is not a bookmark there");
            prop_assert!(ShortName::new(&n).ours().is_some(), "{n} is not ours");
            prop_assert!(!snaps.iter().any(|(_, t)| *t == s.createtxg), "{n}: its snapshot exists");
        }
        // And nothing at all without a previous listing.
        prop_assert!(stale_bookmarks(None, &st).is_empty());
    }
}
