//! Tests of the planner: rules, golden output, DST days, and a property test over histories.

use super::*;
use crate::host::Disk;
use crate::state::{BookmarkInfo, PropSource, PropValue, SnapshotInfo};
use chrono::{NaiveDateTime, TimeZone};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn ds(s: &str) -> Dataset {
    Dataset::new(s).unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    Utc.from_utc_datetime(&NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap())
}

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn snap(name: &str, txg: u64, t: &str) -> SnapshotInfo {
    SnapshotInfo {
        name: name.into(),
        createtxg: txg,
        creation: utc(t).timestamp(),
    }
}

fn state(d: &str, label: Option<&str>, snaps: Vec<SnapshotInfo>) -> DatasetState {
    DatasetState {
        dataset: ds(d),
        exists: true,
        running: label.map(|v| PropValue {
            value: v.into(),
            source: PropSource::Local,
        }),
        nosnap: None,
        snapshots: snaps,
        bookmarks: vec![],
        foreign_snapshots: 0,
        pins: Default::default(),
    }
}

fn guest(vmid: u32, kind: GuestKind, running: bool, disks: &[&str]) -> Guest {
    Guest {
        vmid,
        kind,
        running,
        template: false,
        lock: None,
        name: None,
        tags: vec![],
        disks: disks
            .iter()
            .enumerate()
            .map(|(i, d)| Disk {
                key: format!("scsi{i}"),
                storage: "local-zfs".into(),
                dataset: ds(d),
            })
            .collect(),
        other_disks: vec![],
    }
}

fn inv(states: Vec<DatasetState>) -> BTreeMap<Dataset, DatasetState> {
    states.into_iter().map(|s| (s.dataset.clone(), s)).collect()
}

/// Applies a plan to an inventory the way the apply program does: all of a run in one txg.
fn apply(plan: &Plan, inv: &mut BTreeMap<Dataset, DatasetState>, now: DateTime<Utc>, txg: u64) {
    for p in plan.guests.iter().flat_map(|g| &g.changes) {
        let st = inv
            .get_mut(p.change.dataset())
            .expect("planned dataset is in inventory");
        match &p.change {
            Change::SetLabel { value, .. } => {
                st.running = Some(PropValue {
                    value: value.clone(),
                    source: PropSource::Local,
                })
            }
            Change::Snapshot { name, .. } => {
                let n = name.to_string();
                assert!(
                    !st.snapshots.iter().any(|s| s.name == n),
                    "EEXIST: snapshot {n}"
                );
                st.snapshots.push(SnapshotInfo {
                    name: n.into(),
                    createtxg: txg,
                    creation: now.timestamp(),
                });
            }
            Change::Bookmark { name, .. } => {
                let n = name.to_string();
                let s = st
                    .snapshots
                    .iter()
                    .find(|s| s.name == n)
                    .expect("bookmark source exists");
                let b = BookmarkInfo {
                    name: n.clone().into(),
                    createtxg: s.createtxg,
                    creation: s.creation,
                };
                assert!(!st.bookmarks.iter().any(|b| b.name == n), "EEXIST: #{n}");
                st.bookmarks.push(b);
            }
            Change::Destroy { name, .. } => {
                let n = name.to_string();
                let before = st.snapshots.len();
                st.snapshots.retain(|s| s.name != n);
                assert_eq!(st.snapshots.len() + 1, before, "ENOENT: @{n}");
            }
            Change::DestroyBookmark { name, .. } => {
                let n = name.to_string();
                let before = st.bookmarks.len();
                st.bookmarks.retain(|b| b.name != n);
                assert_eq!(st.bookmarks.len() + 1, before, "ENOENT: #{n}");
            }
        }
    }
}

fn run(
    policy: &Policy,
    bookmarks: &BookmarkPolicy,
    zone: Zone,
    host: &Host,
    inventory: &BTreeMap<Dataset, DatasetState>,
    now: DateTime<Utc>,
) -> Plan {
    plan(&PlanInput {
        decisions: None,
        policy,
        bookmarks,
        now,
        zone,
        host,
        inventory,
    })
}

fn ops(p: &Plan) -> Vec<String> {
    p.guests
        .iter()
        .flat_map(|g| &g.changes)
        .map(|a| match &a.change {
            Change::SetLabel { dataset, value } => format!("label {dataset}={value}"),
            Change::Snapshot { dataset, name } => format!("snap {dataset}@{name}"),
            Change::Bookmark { dataset, name } => format!("bm {dataset}#{name}"),
            Change::Destroy { dataset, name } => format!("destroy {dataset}@{name}"),
            Change::DestroyBookmark { dataset, name } => format!("destroy {dataset}#{name}"),
        })
        .collect()
}

/// A realistic node: every rule of the planner once.
fn fixture() -> (Host, BTreeMap<Dataset, DatasetState>) {
    let mut g106 = guest(106, GuestKind::Qemu, true, &["rpool/data/vm-106-disk-0"]);
    g106.lock = Some("backup".into());
    let mut g104 = guest(104, GuestKind::Qemu, false, &["rpool/data/base-104-disk-0"]);
    g104.template = true;
    let mut g108 = guest(108, GuestKind::Qemu, true, &["rpool/data/vm-108-disk-0"]);
    g108.lock = Some("migrate".into());
    let host = Host {
        node: "pve1".into(),
        guests: vec![
            guest(
                100,
                GuestKind::Qemu,
                true,
                &["rpool/data/vm-100-disk-0", "tank/vm-100-disk-1"],
            ),
            guest(
                101,
                GuestKind::Lxc,
                false,
                &["rpool/data/subvol-101-disk-0"],
            ),
            guest(102, GuestKind::Qemu, false, &["rpool/data/vm-102-disk-0"]),
            guest(103, GuestKind::Qemu, true, &["rpool/data/vm-103-disk-0"]),
            g104,
            guest(
                105,
                GuestKind::Qemu,
                true,
                &["rpool/data/vm-105-disk-0", "rpool/data/vm-105-disk-1"],
            ),
            g106,
            guest(
                107,
                GuestKind::Lxc,
                false,
                &["rpool/data/subvol-107-disk-0"],
            ),
            g108,
        ],
        unreadable: vec![],
        warnings: vec![],
    };
    let mut s100 = state(
        "rpool/data/vm-100-disk-0",
        Some("pve1"),
        vec![
            snap(
                "autosnap_2026-11-19_00:00:00_daily",
                100,
                "2026-11-19 00:00:03",
            ),
            snap("__replicate_100-0_1763700000__", 101, "2026-11-20 00:00:00"),
            snap(
                "autosnap_2026-11-20_00:00:00_daily",
                102,
                "2026-11-20 00:00:04",
            ),
            snap(
                "autosnap_2026-10-25_02:30:00dst_hourly",
                103,
                "2026-11-20 01:00:00",
            ),
            snap(
                "autosnap_2026-11-21_00:00:00_daily",
                104,
                "2026-11-21 00:00:02",
            ),
            snap(
                "autosnap_2026-11-21_12:00:00_hourly",
                110,
                "2026-11-21 12:00:02",
            ),
            snap(
                "autosnap_2026-11-21_12:15:00_frequently",
                111,
                "2026-11-21 12:15:02",
            ),
            snap(
                "autosnap_2026-11-21_13:00:00_hourly",
                112,
                "2026-11-21 13:00:02",
            ),
            snap(
                "autosnap_2026-11-21_13:15:00_frequently",
                113,
                "2026-11-21 13:15:02",
            ),
            snap(
                "autosnap_2026-11-21_13:30:00_frequently",
                114,
                "2026-11-21 13:30:02",
            ),
            snap(
                "autosnap_2026-11-01_00:00:00_monthly",
                90,
                "2026-11-01 00:00:02",
            ),
        ],
    );
    s100.snapshots.sort_by_key(|s| s.createtxg);
    s100.bookmarks = vec![
        BookmarkInfo {
            name: "autosnap_2026-11-19_00:00:00_daily".into(),
            createtxg: 100,
            creation: utc("2026-11-19 00:00:03").timestamp(),
        },
        BookmarkInfo {
            name: "autosnap_2026-11-20_00:00:00_daily".into(),
            createtxg: 102,
            creation: utc("2026-11-20 00:00:04").timestamp(),
        },
        BookmarkInfo {
            name: "syncoid_pve1_2026-11-20".into(),
            createtxg: 102,
            creation: utc("2026-11-20 00:00:04").timestamp(),
        },
    ];
    for (h, txg) in [(10, 105), (11, 106), (12, 110), (13, 112)] {
        s100.bookmarks.push(BookmarkInfo {
            name: format!("autosnap_2026-11-21_{h}:00:00_hourly").into(),
            createtxg: txg,
            creation: utc(&format!("2026-11-21 {h}:00:02")).timestamp(),
        });
    }
    s100.foreign_snapshots = 1;
    let mut s100b = state("tank/vm-100-disk-1", Some("pve2"), vec![]);
    s100b.running.as_mut().unwrap().source = PropSource::Received;
    let mut s103 = state("rpool/data/vm-103-disk-0", Some("pve1"), vec![]);
    s103.nosnap = Some("nosnap".into());
    let mut s105b = state("rpool/data/vm-105-disk-1", None, vec![]);
    s105b.exists = false;
    let s106 = state(
        "rpool/data/vm-106-disk-0",
        Some("pve1"),
        vec![
            snap(
                "autosnap_2026-11-21_00:00:00_daily",
                50,
                "2026-11-21 00:00:00",
            ),
            snap(
                "autosnap_2026-11-21_13:00:00_hourly",
                51,
                "2026-11-21 13:00:00",
            ),
            snap(
                "autosnap_2026-11-21_13:15:00_frequently",
                52,
                "2026-11-21 13:15:00",
            ),
            snap(
                "autosnap_2026-11-21_13:30:00_frequently",
                53,
                "2026-11-21 13:30:00",
            ),
        ],
    );
    let s107 = state(
        "rpool/data/subvol-107-disk-0",
        Some("stopped"),
        vec![
            snap(
                "autosnap_2026-11-18_00:00:00_daily",
                60,
                "2026-11-18 00:00:00",
            ),
            snap(
                "autosnap_2026-11-18_09:00:00_hourly",
                61,
                "2026-11-18 09:00:00",
            ),
            snap(
                "autosnap_2026-11-18_09:15:00_frequently",
                62,
                "2026-11-18 09:15:00",
            ),
            snap(
                "autosnap_2026-11-18_09:30:00_frequently",
                63,
                "2026-11-18 09:30:00",
            ),
            snap(
                "autosnap_2026-11-18_09:37:12_stopped",
                64,
                "2026-11-18 09:37:12",
            ),
        ],
    );
    let inventory = inv(vec![
        s100,
        s100b,
        state(
            "rpool/data/subvol-101-disk-0",
            Some("pve1"),
            vec![snap(
                "autosnap_2026-11-21_13:30:00_frequently",
                70,
                "2026-11-21 13:30:01",
            )],
        ),
        state("rpool/data/vm-102-disk-0", Some("pve2"), vec![]),
        s103,
        state("rpool/data/vm-105-disk-0", None, vec![]),
        s105b,
        s106,
        s107,
        state("rpool/data/vm-108-disk-0", Some("pve1"), vec![]),
    ]);
    (host, inventory)
}

fn fixture_plan(now: DateTime<Utc>) -> Plan {
    let (host, inventory) = fixture();
    let policy = Policy::parse(&args("f2 h2 d1")).unwrap();
    let bm = BookmarkPolicy::default_for(&policy);
    run(&policy, &bm, Zone::Utc, &host, &inventory, now)
}

#[test]
fn golden_render_text_and_json() {
    let p = fixture_plan(utc("2026-11-21 14:00:00"));
    insta::assert_snapshot!("render_text", p.render_text());
    insta::assert_snapshot!("plan_json", serde_json::to_string_pretty(&p).unwrap());
}

#[test]
fn fixture_rules() {
    let p = fixture_plan(utc("2026-11-21 14:00:00"));
    let o = ops(&p);
    let has = |s: &str| o.iter().any(|x| x == s);
    let for_guest = |vmid: u32| -> &GuestPlan { p.guests.iter().find(|g| g.vmid == vmid).unwrap() };
    // running, label ok: hourly due (14:00 bucket empty), with bookmark
    assert!(has(
        "snap rpool/data/vm-100-disk-0@autosnap_2026-11-21_14:00:00_hourly"
    ));
    assert!(has(
        "bm rpool/data/vm-100-disk-0#autosnap_2026-11-21_14:00:00_hourly"
    ));
    assert!(
        !o.iter()
            .any(|x| x.starts_with("label rpool/data/vm-100-disk-0"))
    );
    // h2: the 12:00 hourly is the 3rd newest hourly-or-longer -> gone; f2 keeps 14:00 + 13:30
    assert!(has(
        "destroy rpool/data/vm-100-disk-0@autosnap_2026-11-21_12:00:00_hourly"
    ));
    assert!(has(
        "destroy rpool/data/vm-100-disk-0@autosnap_2026-11-21_13:15:00_frequently"
    ));
    assert!(!has(
        "destroy rpool/data/vm-100-disk-0@autosnap_2026-11-21_13:30:00_frequently"
    ));
    // d1: the newest daily stays, the older ones go; the monthly is unmanaged
    assert!(has(
        "destroy rpool/data/vm-100-disk-0@autosnap_2026-11-19_00:00:00_daily"
    ));
    assert!(has(
        "destroy rpool/data/vm-100-disk-0@autosnap_2026-11-20_00:00:00_daily"
    ));
    assert!(!has(
        "destroy rpool/data/vm-100-disk-0@autosnap_2026-11-21_00:00:00_daily"
    ));
    assert!(
        !o.iter()
            .any(|x| x.contains("monthly") || x.contains("__replicate") || x.contains("dst_"))
    );
    // bookmarks: h4 d2 by default: both daily bookmarks kept, the 5th hourly goes, foreign ignored
    let bm_destroys: Vec<&String> = o
        .iter()
        .filter(|x| x.starts_with("destroy") && x.contains('#'))
        .collect();
    assert_eq!(
        bm_destroys,
        ["destroy rpool/data/vm-100-disk-0#autosnap_2026-11-21_10:00:00_hourly"]
    );
    // second disk: label names pve2 but the guest runs here -> relabel, first snapshot: daily
    assert!(has("label tank/vm-100-disk-1=pve1"));
    assert!(has(
        "snap tank/vm-100-disk-1@autosnap_2026-11-21_14:00:00_daily"
    ));
    // stopped guest with label = this node: one _stopped + label stopped, no bookmark
    assert!(has("label rpool/data/subvol-101-disk-0=stopped"));
    assert!(has(
        "snap rpool/data/subvol-101-disk-0@autosnap_2026-11-21_14:00:00_stopped"
    ));
    assert!(!o.iter().any(|x| x.starts_with("bm rpool/data/subvol-101")));
    // not running, label names another node: nothing
    assert!(!o.iter().any(|x| x.contains("vm-102")));
    assert!(for_guest(102).notes[0].contains("label:running names pve2"));
    // nosnap: nothing at all
    assert!(!o.iter().any(|x| x.contains("vm-103")));
    assert!(for_guest(103).notes[0].contains("nosnap"));
    // template, migrate lock: nothing
    assert!(for_guest(104).changes.is_empty() && for_guest(104).notes == ["template: skipped"]);
    assert!(
        for_guest(108).changes.is_empty()
            && for_guest(108).notes == ["locked (migrate): left alone"]
    );
    // unset label, first run: label + daily; missing disk noted
    assert!(has("label rpool/data/vm-105-disk-0=pve1"));
    assert!(has(
        "snap rpool/data/vm-105-disk-0@autosnap_2026-11-21_14:00:00_daily"
    ));
    assert!(
        for_guest(105)
            .notes
            .iter()
            .any(|n| n.contains("vm-105-disk-1 (scsi1): dataset does not exist"))
    );
    // backup lock: snapshot yes, destroys no
    assert!(has(
        "snap rpool/data/vm-106-disk-0@autosnap_2026-11-21_14:00:00_hourly"
    ));
    assert!(!o.iter().any(|x| x.starts_with("destroy rpool/data/vm-106")));
    assert!(
        for_guest(106).notes.iter().any(|n| n
            == "rpool/data/vm-106-disk-0: 1 expired snapshot(s)/bookmark(s) kept while locked")
    );
    // already stopped: retention only; the _stopped newest stays, the cloned hourly stays
    let o107: Vec<&String> = o.iter().filter(|x| x.contains("subvol-107")).collect();
    assert_eq!(
        o107,
        ["destroy rpool/data/subvol-107-disk-0@autosnap_2026-11-18_09:15:00_frequently"],
        "f2 keeps _stopped + 09:30; h2 keeps the cloned hourly and the daily"
    );
}

/// Without pins (the inventory reads no holds, to keep a run cheap on big pools), expired
/// snapshots are planned like any other; the run then reads the pins of exactly these
/// (`lua/pins.lua`) and plans again (next test).
#[test]
fn expired_snapshots_are_planned_whatever_holds_or_clones_they_may_have() {
    let (mut host, inventory) = fixture();
    host.guests.retain(|g| g.vmid == 107);
    let policy = Policy::parse(&args("f1")).unwrap();
    let p = run(
        &policy,
        &BookmarkPolicy::Disabled,
        Zone::Utc,
        &host,
        &inventory,
        utc("2026-11-21 14:00:00"),
    );
    assert_eq!(
        ops(&p),
        [
            "destroy rpool/data/subvol-107-disk-0@autosnap_2026-11-18_09:15:00_frequently",
            "destroy rpool/data/subvol-107-disk-0@autosnap_2026-11-18_09:30:00_frequently",
        ],
        "f1: only the _stopped newest is kept; sanoid-made daily/hourly are unmanaged"
    );
    let policy = Policy::parse(&args("f1 h0 d0")).unwrap();
    let p = run(
        &policy,
        &BookmarkPolicy::Disabled,
        Zone::Utc,
        &host,
        &inventory,
        utc("2026-11-21 14:00:00"),
    );
    let o = ops(&p);
    assert_eq!(o.len(), 4, "{o:?}");
    assert!(o.contains(
        &"destroy rpool/data/subvol-107-disk-0@autosnap_2026-11-18_09:00:00_hourly".to_string()
    ));
    assert!(p.guests[0].notes.is_empty(), "{:?}", p.guests[0].notes);
}

/// Issue 21: an expired snapshot the inventory knows to be held, busy or cloned is not
/// planned for destroy but kept, with where retention puts it and why, and the dry run's text
/// says `= kept … (held)`; the others are destroyed as before. Old code: planned as destroys.
#[test]
fn pinned_expired_snapshots_are_kept_with_why() {
    let (mut host, mut inventory) = fixture();
    host.guests.retain(|g| g.vmid == 107);
    let d = ds("rpool/data/subvol-107-disk-0");
    let st = inventory.get_mut(&d).unwrap();
    st.pins.insert(
        "autosnap_2026-11-18_09:15:00_frequently".into(),
        crate::state::Pin::Held,
    );
    st.pins.insert(
        "autosnap_2026-11-18_09:00:00_hourly".into(),
        crate::state::Pin::Cloned,
    );
    let policy = Policy::parse(&args("f1 h0 d0")).unwrap();
    let p = run(
        &policy,
        &BookmarkPolicy::Disabled,
        Zone::Utc,
        &host,
        &inventory,
        utc("2026-11-21 14:00:00"),
    );
    let o = ops(&p);
    assert_eq!(o.len(), 2, "4 expired, 2 of them pinned: {o:?}");
    assert!(
        !o.iter().any(|op| op.contains("09:15:00_frequently")),
        "{o:?}"
    );
    assert!(!o.iter().any(|op| op.contains("09:00:00_hourly")), "{o:?}");
    let kept: Vec<(String, &str)> = p.guests[0]
        .kept
        .iter()
        .map(|k| (format!("{}@{}", k.dataset, k.name), k.pin.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            (format!("{d}@autosnap_2026-11-18_09:00:00_hourly"), "cloned"),
            (
                format!("{d}@autosnap_2026-11-18_09:15:00_frequently"),
                "held"
            ),
        ]
    );
    let text = p.render_text();
    assert!(
        text.contains(&format!(
            "  = kept     {d}@autosnap_2026-11-18_09:15:00_frequently (held)\n      expired: "
        )),
        "{text}"
    );
    assert!(
        text.contains("; kept:held (a later run destroys it once the hold is released"),
        "{text}"
    );
    // A pin on a snapshot that retention keeps changes nothing.
    let policy = Policy::parse(&args("f10 h10 d10")).unwrap();
    let p = run(
        &policy,
        &BookmarkPolicy::Disabled,
        Zone::Utc,
        &host,
        &inventory,
        utc("2026-11-21 14:00:00"),
    );
    assert!(p.guests[0].kept.is_empty());
}

#[test]
fn rerun_at_same_now_is_idempotent() {
    let (host, mut inventory) = fixture();
    let policy = Policy::parse(&args("f2 h2 d1")).unwrap();
    let bm = BookmarkPolicy::default_for(&policy);
    let now = utc("2026-11-21 14:00:00");
    let first = run(&policy, &bm, Zone::Utc, &host, &inventory, now);
    assert!(first.totals()[1] >= 4, "the fixture creates snapshots");
    apply(&first, &mut inventory, now, 1000);
    let second = run(&policy, &bm, Zone::Utc, &host, &inventory, now);
    assert_eq!(ops(&second), Vec::<String>::new());
    // a run 15 minutes later takes frequently snapshots only where running
    let later = run(
        &policy,
        &bm,
        Zone::Utc,
        &host,
        &inventory,
        utc("2026-11-21 14:15:00"),
    );
    let snaps: Vec<String> = ops(&later)
        .into_iter()
        .filter(|x| x.starts_with("snap"))
        .collect();
    assert_eq!(
        snaps,
        [
            "snap rpool/data/vm-100-disk-0@autosnap_2026-11-21_14:15:00_frequently",
            "snap tank/vm-100-disk-1@autosnap_2026-11-21_14:15:00_frequently",
            "snap rpool/data/vm-105-disk-0@autosnap_2026-11-21_14:15:00_frequently",
            "snap rpool/data/vm-106-disk-0@autosnap_2026-11-21_14:15:00_frequently",
        ]
    );
}

#[test]
fn name_collision_moves_seconds() {
    let host = Host {
        node: "pve1".into(),
        guests: vec![guest(100, GuestKind::Qemu, true, &["rpool/vm-100-disk-0"])],
        unreadable: vec![],
        warnings: vec![],
    };
    let inventory = inv(vec![state(
        "rpool/vm-100-disk-0",
        Some("pve1"),
        vec![
            // taken earlier by a clock that was ahead: same wall-clock name, creation in another hour
            snap(
                "autosnap_2026-11-21_14:00:00_hourly",
                5,
                "2026-11-21 12:00:00",
            ),
            snap(
                "autosnap_2026-11-21_14:00:01_hourly",
                6,
                "2026-11-21 12:30:00",
            ),
        ],
    )]);
    let policy = Policy::parse(&args("h5")).unwrap();
    let p = run(
        &policy,
        &BookmarkPolicy::Disabled,
        Zone::Utc,
        &host,
        &inventory,
        utc("2026-11-21 14:00:00"),
    );
    assert_eq!(
        ops(&p),
        ["snap rpool/vm-100-disk-0@autosnap_2026-11-21_14:00:02_hourly"]
    );
    assert_eq!(
        p.guests[0].notes,
        [
            "rpool/vm-100-disk-0: autosnap_2026-11-21_14:00:00_hourly is taken (DST repeat or rerun); named autosnap_2026-11-21_14:00:02_hourly"
        ]
    );
}

/// Runs every 15 minutes through one Berlin DST day; returns (all names ever created, inventory).
fn dst_day(day: &str, hours: i64) {
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let zone = Zone::Tz(berlin);
    let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
    let day_start = d
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_local_timezone(berlin)
        .unwrap()
        .with_timezone(&Utc);
    let day_end = d
        .succ_opt()
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_local_timezone(berlin)
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!((day_end - day_start).num_hours(), hours);
    let host = Host {
        node: "pve1".into(),
        guests: vec![guest(100, GuestKind::Qemu, true, &["rpool/vm-100-disk-0"])],
        unreadable: vec![],
        warnings: vec![],
    };
    let mut inventory = inv(vec![state("rpool/vm-100-disk-0", Some("pve1"), vec![])]);
    let policy = Policy::parse(&args("f1000 h1000 d1000")).unwrap();
    let bm = BookmarkPolicy::default_for(&policy);
    let mut names = BTreeSet::new();
    let mut now = day_start - chrono::TimeDelta::hours(3);
    let mut txg = 1;
    while now < day_end + chrono::TimeDelta::hours(3) {
        let p = run(&policy, &bm, zone, &host, &inventory, now);
        for a in p.guests.iter().flat_map(|g| &g.changes) {
            if let Change::Snapshot { name, .. } = &a.change {
                assert!(names.insert(name.to_string()), "duplicate name {name}");
            }
            assert!(
                !matches!(a.change, Change::Destroy { .. }),
                "nothing expires"
            );
        }
        apply(&p, &mut inventory, now, txg);
        txg += 1;
        now += chrono::TimeDelta::minutes(15);
    }
    // the repeated fall-back hour (four runs) gets names moved by a second; nothing else does
    let moved: Vec<&String> = names.iter().filter(|n| !n.contains(":00_")).collect();
    assert_eq!(moved.len(), if hours == 25 { 4 } else { 0 }, "{moved:?}");
    assert!(
        moved
            .iter()
            .all(|n| n.contains("_02:") && n.contains(":01_"))
    );
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("autosnap_2026-03-29_02:")),
        "no wall-clock time that does not exist"
    );
    let st = &inventory[&ds("rpool/vm-100-disk-0")];
    let in_day: Vec<(SnapName, i64)> = st
        .snapshots
        .iter()
        .filter(|s| (day_start.timestamp()..day_end.timestamp()).contains(&s.creation))
        .map(|s| (s.name.ours().unwrap(), s.creation))
        .collect();
    assert_eq!(
        in_day.len() as i64,
        hours * 4,
        "a run every 15 minutes, one snapshot each"
    );
    let rank = |n: &SnapName, c: Class| matches!(n.kind(), SnapKind::Periodic(k) if k >= c);
    assert_eq!(
        in_day.iter().filter(|(n, _)| rank(n, Class::Daily)).count(),
        1,
        "one daily per calendar day"
    );
    let hourly: Vec<i64> = in_day
        .iter()
        .filter(|(n, _)| rank(n, Class::Hourly))
        .map(|x| x.1)
        .collect();
    assert_eq!(
        hourly.len() as i64,
        hours,
        "one hourly-or-longer per real hour"
    );
    for w in hourly.windows(2) {
        assert_eq!(w[1] - w[0], 3600, "hourlies exactly one real hour apart");
    }
    // bookmarks follow the hourly-or-longer snapshots one to one
    let bms = st
        .bookmarks
        .iter()
        .filter(|b| (day_start.timestamp()..day_end.timestamp()).contains(&b.creation))
        .count();
    assert_eq!(bms as i64, hours);
}

#[test]
fn dst_spring_forward_berlin() {
    dst_day("2026-03-29", 23);
}

#[test]
fn dst_fall_back_berlin() {
    dst_day("2026-10-25", 25);
}

// ---------------------------------------------------------------------------------------------
// Property test: random policies, histories and foreign/unmanaged snapshots.

const FOREIGN: [&str; 6] = [
    "__replicate_100-0_1718000000__",
    "autosnap_2026-01-01_00:00:00_hourly.x",
    "autosnap_2026-10-25_02:30:00dst_hourly",
    "autosnap_2026-02-30_00:00:00_daily",
    "rep_default_2026-01-01_00:00:00",
    "syncoid_pve9_2026",
];

#[derive(Clone, Debug)]
struct Step {
    minutes: i64,
    running: bool,
    inject: u8,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop_oneof![
            Just(1i64),
            Just(15),
            Just(60),
            Just(61),
            1i64..3000,
            Just(1440),
            Just(10080),
            Just(44640)
        ],
        prop::bool::weighted(0.85),
        0u8..20,
    )
        .prop_map(|(minutes, running, inject)| Step {
            minutes,
            running,
            inject,
        })
}

fn counts_args(v: &[Option<u32>; 6], skip_f: bool) -> Vec<String> {
    Class::ALL
        .iter()
        .zip(v)
        .filter(|(c, _)| !(skip_f && **c == Class::Frequently))
        .filter_map(|(c, n)| n.map(|n| format!("{}{n}", c.letter())))
        .collect()
}

fn counts_strategy() -> impl Strategy<Value = [Option<u32>; 6]> {
    prop::array::uniform6(prop::option::weighted(0.6, 0u32..5))
}

/// The class a snapshot counts as, written independently of `Counts::effective_class`:
/// periodic of a class without a count is unmanaged, a stopped marker counts as the shortest
/// class with a count.
fn eff_class(keep: &crate::policy::Counts, kind: SnapKind) -> Option<Class> {
    match kind {
        SnapKind::Periodic(c) => keep.get(c).map(|_| c),
        SnapKind::Stopped => Class::ALL.into_iter().find(|c| keep.get(*c).is_some()),
    }
}

/// Snapshot/bookmark entries of ours, newest first, with their effective class.
fn ours_newest_first(
    names: &[(String, u64)],
    keep: &crate::policy::Counts,
) -> Vec<(String, u64, Option<Class>)> {
    let mut v: Vec<(String, u64, Option<Class>)> = names
        .iter()
        .filter_map(|(n, t)| SnapName::parse(n).map(|s| (n.clone(), *t, eff_class(keep, s.kind()))))
        .collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.1));
    v
}

/// Checks exact retention: `before` (with the new one) → `after`.
fn check_retention(
    what: &str,
    keep: &crate::policy::Counts,
    before: &[(String, u64)],
    after: &[(String, u64)],
) -> Result<(), TestCaseError> {
    let all = ours_newest_first(before, keep);
    let after_names: BTreeSet<&String> = after.iter().map(|x| &x.0).collect();
    let before_names: BTreeSet<&String> = before.iter().map(|x| &x.0).collect();
    prop_assert!(
        after_names.is_subset(&before_names),
        "{what}: nothing appears from nowhere"
    );
    // foreign and unmanaged: all still there
    for (n, _) in before {
        let managed = SnapName::parse(n).is_some_and(|s| eff_class(keep, s.kind()).is_some());
        if !managed {
            prop_assert!(
                after_names.contains(n),
                "{what}: {n} (foreign/unmanaged) destroyed"
            );
        }
    }
    if let Some(newest) = all.first() {
        prop_assert!(
            after_names.contains(&newest.0),
            "{what}: newest of ours destroyed"
        );
    }
    let mut kept: BTreeSet<&String> = BTreeSet::new();
    for (class, n) in keep.managed() {
        let top: Vec<&String> = all
            .iter()
            .filter(|x| x.2.is_some_and(|c| c >= class))
            .take(n as usize)
            .map(|x| &x.0)
            .collect();
        for t in &top {
            prop_assert!(
                after_names.contains(t),
                "{what}: {t} is among the newest {n} of rank >= {class}"
            );
        }
        kept.extend(top);
    }
    for (n, _, eff) in &all {
        if eff.is_some() && after_names.contains(n) {
            prop_assert!(
                kept.contains(n) || Some(n) == all.first().map(|x| &x.0),
                "{what}: {n} survived without a reason"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn histories_keep_exactly_and_never_touch_foreign(
        counts in counts_strategy(),
        bm_mode in 0u8..3,
        bm_counts in counts_strategy(),
        berlin in any::<bool>(),
        start in 1_767_225_600i64..1_830_297_600, // 2026..2028
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let Ok(policy) = Policy::parse(&counts_args(&counts, false)) else {
            return Ok(()); // rejected policies are covered by the parse tests
        };
        let bookmarks = match bm_mode {
            0 => BookmarkPolicy::default_for(&policy),
            1 => BookmarkPolicy::Disabled,
            _ => match BookmarkPolicy::parse(&counts_args(&bm_counts, true)) {
                Ok(b) => b,
                Err(_) => BookmarkPolicy::default_for(&policy),
            },
        };
        let zone = if berlin { Zone::Tz(chrono_tz::Europe::Berlin) } else { Zone::Utc };
        let d = ds("rpool/data/vm-100-disk-0");
        let mut inventory = inv(vec![state(d.as_str(), None, vec![])]);
        let mut host = Host {
            node: "pve1".into(),
            guests: vec![guest(100, GuestKind::Qemu, true, &[d.as_str()])],
            unreadable: vec![],
            warnings: vec![],
        };
        let unmanaged: Vec<Class> = Class::ALL.into_iter().filter(|c| policy.keep().get(*c).is_none()).collect();
        let mut now = DateTime::from_timestamp(start, 0).unwrap();
        let mut txg = 10u64;
        for s in steps {
            now += chrono::TimeDelta::minutes(s.minutes);
            txg += 2;
            // things others do between runs
            {
                let st = inventory.get_mut(&d).unwrap();
                let i = s.inject as usize;
                let name = if i < FOREIGN.len() {
                    Some(FOREIGN[i].to_string())
                } else if i < FOREIGN.len() + 3 && !unmanaged.is_empty() {
                    let c = unmanaged[i % unmanaged.len()];
                    let t = zone.wall_clock(now - chrono::TimeDelta::seconds(7));
                    Some(SnapName::new(t, SnapKind::Periodic(c)).unwrap().to_string())
                } else { None };
                if let Some(name) = name {
                    if !st.snapshots.iter().any(|x| x.name == name) {
                        st.snapshots.push(SnapshotInfo { name: name.clone().into(), createtxg: txg - 1, creation: now.timestamp() - 7 });
                    }
                    if i.is_multiple_of(2) && !st.bookmarks.iter().any(|x| x.name == name) {
                        st.bookmarks.push(BookmarkInfo { name: name.into(), createtxg: txg - 1, creation: now.timestamp() - 7 });
                    }
                }
            }
            host.guests[0].running = s.running;
            let before = inventory[&d].clone();
            let p = run(&policy, &bookmarks, zone, &host, &inventory, now);
            let creates: Vec<&SnapName> = p.guests[0].changes.iter().filter_map(|a| match &a.change { Change::Snapshot { name, .. } => Some(name), _ => None }).collect();
            prop_assert!(creates.len() <= 1, "at most one snapshot per dataset per run");
            if matches!(bookmarks, BookmarkPolicy::Disabled) {
                prop_assert!(!p.guests[0].changes.iter().any(|a| matches!(a.change, Change::Bookmark { .. } | Change::DestroyBookmark { .. })), "bookmarks disabled: untouched");
            }
            apply(&p, &mut inventory, now, txg);
            let after = &inventory[&d];
            let pairs = |v: &[SnapshotInfo]| -> Vec<(String, u64)> { v.iter().map(|x| (x.name.to_string(), x.createtxg)).collect() };
            let bpairs = |v: &[BookmarkInfo]| -> Vec<(String, u64)> { v.iter().map(|x| (x.name.to_string(), x.createtxg)).collect() };
            let mut snaps_before = pairs(&before.snapshots);
            let mut bms_before = bpairs(&before.bookmarks);
            for a in &p.guests[0].changes {
                match &a.change {
                    Change::Snapshot { name, .. } => snaps_before.push((name.to_string(), txg)),
                    Change::Bookmark { name, .. } => bms_before.push((name.to_string(), txg)),
                    _ => {}
                }
            }
            check_retention("snapshots", policy.keep(), &snaps_before, &pairs(&after.snapshots))?;
            match bookmarks.counts() {
                Some(c) => check_retention("bookmarks", c, &bms_before, &bpairs(&after.bookmarks))?,
                None => prop_assert_eq!(&before.bookmarks, &after.bookmarks),
            }
            // a running guest leaves every due class covered in its current bucket
            if s.running {
                for (class, n) in policy.keep().managed() {
                    if n == 0 || class == Class::Frequently { continue; }
                    let cur = crate::policy::Bucket::of(&zone, class, now).unwrap();
                    let covered = after.snapshots.iter().any(|x| {
                        x.name.ours().and_then(|s| eff_class(policy.keep(), s.kind())).is_some_and(|c| c >= class)
                            && crate::policy::Bucket::of(&zone, class, DateTime::from_timestamp(x.creation, 0).unwrap()).unwrap().same(&cur)
                    });
                    prop_assert!(covered, "{} not covered at {}", class, now);
                }
                prop_assert_eq!(after.running.as_ref().map(|l| l.value.as_str()), Some("pve1"));
            } else {
                prop_assert_eq!(after.running.as_ref().map(|l| l.value.as_str()), Some("stopped"));
                prop_assert!(after.snapshots.iter().filter(|x| x.name.ours().is_some()).max_by_key(|x| x.createtxg).unwrap().name.ours().unwrap().kind() == SnapKind::Stopped || before.running.as_ref().is_some_and(|l| l.value == "stopped"), "stopped guest: newest is the marker");
            }
            // rerun at the same instant: nothing new
            let again = run(&policy, &bookmarks, zone, &host, &inventory, now);
            prop_assert!(!again.guests[0].changes.iter().any(|a| matches!(a.change, Change::Snapshot { .. } | Change::SetLabel { .. })), "rerun creates nothing");
        }
    }
}
