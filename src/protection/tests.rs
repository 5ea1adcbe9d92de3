use super::*;
use crate::host::{GuestKind, UnreadableGuest};
use crate::naming::{Dataset, SnapName};
use crate::plan::{DiskPlan, GuestPlan, Plan};
use crate::report::ItemReport;
use crate::verdict::Counts;

fn ds(s: &str) -> Dataset {
    Dataset::new(s).unwrap()
}

fn disk(key: &str, d: &str, state: State, snap: bool) -> DiskPlan {
    DiskPlan {
        key: key.into(),
        dataset: Some(ds(d)),
        state,
        snapshot: snap.then(|| SnapName::parse("autosnap_2026-11-21_12:00:00_hourly").unwrap()),
        future: None,
        nosnap_unknown: None,
        kept: 0,
    }
}

fn snap_item(d: &str, outcome: Option<Outcome>) -> ItemReport {
    ItemReport {
        vmid: 100,
        change: Change::Snapshot {
            dataset: ds(d),
            name: SnapName::parse("autosnap_2026-11-21_12:00:00_hourly").unwrap(),
        },
        reason: String::new(),
        outcome,
    }
}

/// (what, plan state, snapshot planned, pool error, snapshot outcome) → resolved state name.
#[test]
fn every_disk_ends_in_exactly_one_state() {
    type Case = (
        &'static str,
        State,
        bool,
        bool,
        Option<Outcome>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "snapshot taken",
            State::Snapshotted,
            true,
            false,
            Some(Outcome::Ok),
            "snapshotted",
        ),
        (
            "dry run",
            State::Snapshotted,
            true,
            false,
            None,
            "snapshotted",
        ),
        (
            "already current",
            State::Snapshotted,
            false,
            false,
            None,
            "snapshotted",
        ),
        (
            "stopped taken",
            State::Stopped,
            true,
            false,
            Some(Outcome::Ok),
            "stopped",
        ),
        (
            "snapshot failed",
            State::Snapshotted,
            true,
            false,
            Some(Outcome::Failed("EIO".into())),
            "failed",
        ),
        (
            "check failed",
            State::Stopped,
            true,
            false,
            Some(Outcome::CheckFailed("ENOSPC".into())),
            "failed",
        ),
        (
            "dropped",
            State::Snapshotted,
            true,
            false,
            Some(Outcome::Dropped),
            "failed",
        ),
        (
            "pool failed",
            State::Snapshotted,
            true,
            true,
            None,
            "failed",
        ),
        (
            "pool failed, already current",
            State::Snapshotted,
            false,
            true,
            None,
            "failed",
        ),
        (
            "excluded stays excluded on a failed pool",
            State::Excluded("x".into()),
            false,
            true,
            None,
            "excluded",
        ),
        (
            "failed by plan",
            State::Failed("missing".into()),
            false,
            false,
            None,
            "failed",
        ),
    ];
    for (what, state, snap, pool_err, outcome, want) in cases {
        let host = Host {
            node: "pve1".into(),
            guests: vec![],
            unreadable: vec![],
            warnings: vec![],
        };
        let d = "rpool/data/vm-100-disk-0";
        let plan = Plan {
            node: "pve1".into(),
            policy_notes: vec![],
            guests: vec![GuestPlan {
                vmid: 100,
                kind: GuestKind::Qemu,
                name: None,
                template: false,
                running: true,
                policy: None,
                changes: vec![],
                kept: vec![],
                notes: vec![],
                disks: vec![disk("scsi0", d, state, snap)],
            }],
            replicas: vec![],
            stale_pending: vec![],
        };
        let pools = vec![PoolReport {
            pool: "rpool".into(),
            txg: None,
            error: pool_err.then(|| "cannot read the pool: EIO".to_string()),
            program_errors: vec![],
            items: if snap {
                vec![snap_item(d, outcome)]
            } else {
                vec![]
            },
            keeps: vec![],
        }];
        let got = resolve(&host, &plan, &pools);
        assert_eq!(got.len(), 1, "{what}");
        assert_eq!(got[0].state.name(), want, "{what}: {:?}", got[0].state);
        if let State::Failed(why) = &got[0].state {
            assert!(!why.is_empty(), "{what}: a failure names its reason");
        }
    }
}

#[test]
fn unusable_configs_are_failures_of_their_own() {
    let host = Host {
        node: "pve1".into(),
        guests: vec![],
        unreadable: vec![
            UnreadableGuest {
                vmid: 101,
                kind: Some(GuestKind::Qemu),
                reason: "cannot read 101.conf: permission denied".into(),
            },
            UnreadableGuest {
                vmid: 400,
                kind: None,
                reason: "type \"openvz\"".into(),
            },
        ],
        warnings: vec![],
    };
    let plan = Plan {
        node: "pve1".into(),
        policy_notes: vec![],
        guests: vec![],
        replicas: vec![],
        stale_pending: vec![],
    };
    let got = resolve(&host, &plan, &[]);
    let rows: Vec<(u32, &str, &str, &str)> = got
        .iter()
        .map(|d| (d.vmid, d.guest.as_str(), d.key.as_str(), d.state.name()))
        .collect();
    assert_eq!(
        rows,
        [
            (101, "VM", "config", "failed"),
            (400, "guest", "config", "failed")
        ]
    );
    let c = Counts::of(&got);
    assert_eq!((c.failed, c.protected()), (2, 0));
}
