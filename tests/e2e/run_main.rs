//! End-to-end scenarios of the main run (issue 4): the real binary, fixture PVE trees, the
//! emulator-backed `zfs`.

use crate::harness::{BASIC_ZVOLS, Env, RUNNING_DISKS, t};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use std::collections::{BTreeMap, BTreeSet};

const OURS_PREFIX: &str = "autosnap_";

fn ours(names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|n| n.starts_with(OURS_PREFIX))
        .cloned()
        .collect()
}

/// Rank of a class suffix, independent of the product's code: f=0 … y=5, stopped=-1.
fn rank(name: &str) -> i32 {
    match name.rsplit('_').next().unwrap() {
        "frequently" => 0,
        "hourly" => 1,
        "daily" => 2,
        "weekly" => 3,
        "monthly" => 4,
        "yearly" => 5,
        "stopped" => -1,
        other => panic!("unexpected class {other} in {name}"),
    }
}

#[test]
fn first_run_snapshots_running_guests_one_txg_per_pool() {
    let env = Env::basic();
    let now = t("2026-11-21T00:00:00Z");
    let out = env.run_ok(now, &["f4", "h6", "d3"]);
    assert!(out.contains("7 snapshots created"), "{out}");

    let objects = env.objects();
    let new: Vec<&(String, u64)> = objects
        .iter()
        .filter(|(n, _)| n.contains("@autosnap_"))
        .collect();
    for d in RUNNING_DISKS {
        assert_eq!(
            ours(&env.snaps(d)),
            ["autosnap_2026-11-21_00:00:00_daily"],
            "{d}"
        );
        assert_eq!(env.label(d), ("pve1".into(), "local".into()), "{d}");
        assert_eq!(
            env.bookmarks(d),
            ["autosnap_2026-11-21_00:00:00_daily"],
            "{d}"
        );
    }
    for d in ["rpool/data/vm-101-disk-0", "rpool/data/vm-102-disk-0"] {
        assert_eq!(
            env.snaps(d),
            ["autosnap_2026-11-21_00:00:00_stopped"],
            "{d}"
        );
        assert_eq!(env.label(d).0, "stopped", "{d}");
        assert!(
            env.bookmarks(d).is_empty(),
            "no bookmark of a stopped marker: {d}"
        );
    }
    // The template and the guest of pve2 are untouched.
    assert_eq!(env.snaps("rpool/data/base-900-disk-0"), ["__base__"]);
    assert!(env.snaps("rpool/data/vm-300-disk-0").is_empty());
    assert_eq!(env.label("rpool/data/vm-300-disk-0").0, "-");
    assert_eq!(env.label("rpool/data/base-900-disk-0").0, "-");

    // All snapshots of one run on a pool share one createtxg.
    let mut txgs: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    for (name, txg) in &new {
        txgs.entry(name.split('/').next().unwrap())
            .or_default()
            .insert(*txg);
    }
    assert_eq!(txgs["rpool"].len(), 1, "{txgs:?}");
    assert_eq!(txgs["tank"].len(), 1, "{txgs:?}");
    assert_eq!(new.len(), 7);
}

/// Which class a run at `now` takes, from the calendar alone (UTC), given the previous run.
fn class_taken(prev: Option<DateTime<Utc>>, now: DateTime<Utc>) -> &'static str {
    // The first run takes the longest managed class (here weekly): nothing of ours exists yet.
    let Some(p) = prev else { return "weekly" };
    if p.iso_week() != now.iso_week() {
        "weekly"
    } else if p.date_naive() != now.date_naive() {
        "daily"
    } else if p.hour() != now.hour() {
        "hourly"
    } else {
        "frequently"
    }
}

/// The retention rules, written independently: newest N of rank ≥ class for each managed
/// class, plus the newest of all.
fn expected_kept(created: &[String], keep: &[(i32, usize)]) -> Vec<String> {
    let mut kept: BTreeSet<&String> = BTreeSet::new();
    for (class, n) in keep {
        kept.extend(created.iter().rev().filter(|s| rank(s) >= *class).take(*n));
    }
    if let Some(last) = created.last() {
        kept.insert(last);
    }
    created
        .iter()
        .filter(|s| kept.contains(s))
        .cloned()
        .collect()
}

#[test]
fn eight_days_of_quarter_hour_runs_keep_exact_counts() {
    let env = Env::basic();
    let keep = [(0, 4usize), (1, 6), (2, 3), (3, 2)];
    let bm_keep = [(1, 12usize), (2, 6), (3, 4)];
    let disk = "rpool/data/vm-100-disk-0";
    // Sunday evening: the weekly bucket changes at the 9th run and again 7 days later, so
    // weeklies rotate (w2) within 8 days.
    let start = t("2026-11-22T22:00:00Z");
    let mut created: Vec<String> = Vec::new();
    let mut prev = None;
    let mut now = start;
    while now < start + Duration::days(8) + Duration::hours(3) {
        env.run_ok(now, &["--cron", "f4", "h6", "d3", "w2"]);
        let name = format!(
            "autosnap_{}_{}",
            now.format("%Y-%m-%d_%H:%M:%S"),
            class_taken(prev, now)
        );
        created.push(name);
        assert_eq!(
            env.snaps(disk),
            expected_kept(&created, &keep),
            "snapshots after the run at {now}"
        );
        let bm_created: Vec<String> = created.iter().filter(|s| rank(s) >= 1).cloned().collect();
        let mut bm_expected = expected_kept(&bm_created, &bm_keep);
        // The newest bookmark is kept as the newest of ours only through the classes.
        bm_expected.retain(|b| {
            bm_keep.iter().any(|(c, n)| {
                bm_created
                    .iter()
                    .rev()
                    .filter(|s| rank(s) >= *c)
                    .take(*n)
                    .any(|x| x == b)
            })
        });
        assert_eq!(
            env.bookmarks(disk),
            bm_expected,
            "bookmarks after the run at {now}"
        );
        prev = Some(now);
        now += Duration::minutes(15);
    }
    // Every running disk went through the same history.
    for d in RUNNING_DISKS {
        assert_eq!(env.snaps(d), env.snaps(disk), "{d}");
    }
    // 2 weeklies, 3 dailies, 6 hourlies, 4 frequents at most, overlapping: exactly what the model says.
    assert_eq!(env.snaps(disk).len(), expected_kept(&created, &keep).len());
}

#[test]
fn stop_and_start_make_exactly_one_stopped_snapshot_per_stop() {
    let env = Env::basic();
    let disks = [
        "rpool/data/vm-100-disk-0",
        "rpool/data/vm-100-disk-1",
        "rpool/data/vm-100-disk-2",
    ];
    let mut now = t("2026-11-21T10:00:00Z");
    let step = Duration::minutes(15);
    env.run_ok(now, &["f4", "h2"]);
    env.stop_vm(100);
    for _ in 0..4 {
        now += step;
        env.run_ok(now, &["f4", "h2"]);
    }
    for d in disks {
        let stopped: Vec<String> = env
            .snaps(d)
            .into_iter()
            .filter(|s| s.ends_with("_stopped"))
            .collect();
        assert_eq!(stopped, ["autosnap_2026-11-21_10:15:00_stopped"], "{d}");
        assert_eq!(env.label(d).0, "stopped");
        // Still there after four runs: the newest snapshot of a stopped guest is never destroyed.
        assert_eq!(
            env.snaps(d).last().unwrap(),
            "autosnap_2026-11-21_10:15:00_stopped"
        );
    }
    env.start_vm(100);
    now += step;
    env.run_ok(now, &["f4", "h2"]);
    for d in disks {
        assert_eq!(env.label(d).0, "pve1");
        assert!(
            env.snaps(d)
                .last()
                .unwrap()
                .starts_with("autosnap_2026-11-21_11:15:00_"),
            "{d}"
        );
    }
    env.stop_vm(100);
    now += step;
    env.run_ok(now, &["f4", "h2"]);
    now += step;
    env.run_ok(now, &["f4", "h2"]);
    for d in disks {
        let stopped: Vec<String> = env
            .snaps(d)
            .into_iter()
            .filter(|s| s.ends_with("_stopped"))
            .collect();
        assert_eq!(
            stopped.last().unwrap(),
            "autosnap_2026-11-21_11:30:00_stopped",
            "{d}"
        );
        assert_eq!(stopped.iter().filter(|s| s.contains("11:30:00")).count(), 1);
    }
}

#[test]
fn guests_of_other_nodes_and_labels_naming_other_nodes_are_left_alone() {
    let env = Env::basic();
    // A replica of a guest running on pve2: its label arrived with replication.
    env.zfs(&["set", "label:running=pve2", "rpool/data/vm-101-disk-0"]);
    let mut now = t("2026-11-21T10:00:00Z");
    for _ in 0..3 {
        env.run_ok(now, &["f4", "h2"]);
        now += Duration::minutes(15);
    }
    assert!(
        env.snaps("rpool/data/vm-300-disk-0").is_empty(),
        "pve2's guest was touched"
    );
    assert_eq!(env.label("rpool/data/vm-300-disk-0").0, "-");
    assert!(
        env.snaps("rpool/data/vm-101-disk-0").is_empty(),
        "a stopped guest labelled pve2 got a stopped marker"
    );
    assert_eq!(env.label("rpool/data/vm-101-disk-0").0, "pve2");

    // HA recovery moves VM 300 here and starts it: now it is ours to snapshot.
    env.migrate(300, "qemu-server", "pve2", "pve1");
    env.start_vm(300);
    env.run_ok(now, &["f4", "h2"]);
    assert_eq!(env.label("rpool/data/vm-300-disk-0").0, "pve1");
    assert_eq!(ours(&env.snaps("rpool/data/vm-300-disk-0")).len(), 1);

    // VM 100 migrates away: pve1 stops touching its disks entirely.
    let before = env.snaps("rpool/data/vm-100-disk-0");
    env.migrate(100, "qemu-server", "pve1", "pve2");
    for _ in 0..8 {
        now += Duration::minutes(15);
        env.run_ok(now, &["f1", "h1"]);
    }
    assert_eq!(
        env.snaps("rpool/data/vm-100-disk-0"),
        before,
        "a migrated guest's snapshots changed"
    );
    // The one write to a copy of a guest that is not ours: pve1's own stale local label goes
    // (`zfs inherit -S`; no received value here), it must not claim the guest runs on pve1.
    assert_eq!(env.label("rpool/data/vm-100-disk-0").0, "-");
}

/// Issue 18, scenario 4 (found on real OpenZFS 2.3.2 by tests/vm/drill.sh): after A -> B -> A,
/// the replica B has received properties from before, so the receive does not clear B's local
/// `label:running=pve2`, which masks the received `pve1` for as long as it stays. The node
/// whose own stale local value it is reverts it; nothing else on a replica is written.
#[test]
fn a_replica_reverts_its_own_stale_local_label_to_the_received_one() {
    let env = Env::basic();
    let d = "rpool/data/vm-300-disk-0"; // VM 300's config is on pve2; this node is pve1
    env.zfs(&["set", "--received", "label:running=pve2", d]);
    env.zfs(&["set", "label:running=pve1", d]);
    let now = t("2026-11-21T10:00:00Z");
    // A dry run changes nothing.
    env.run_ok(now, &["--dry-run", "f4"]);
    assert_eq!(env.label(d), ("pve1".into(), "local".into()));
    env.run_ok(now, &["f4"]);
    assert_eq!(env.label(d), ("pve2".into(), "received".into()));
    assert!(env.snaps(d).is_empty(), "a replica got a snapshot");
    // Looked for once per change of the guests' placement (.vmlist): a steady-state run
    // spawns nothing for it.
    let vmlist = env.root.join("etc/pve/.vmlist");
    let bump = |from: u32| {
        let text = std::fs::read_to_string(&vmlist).unwrap();
        let (a, b) = (
            format!("\"version\": {from},"),
            format!("\"version\": {},", from + 1),
        );
        assert!(text.contains(&a));
        std::fs::write(&vmlist, text.replace(&a, &b)).unwrap();
    };
    env.zfs(&["set", "label:running=pve1", d]);
    env.run_ok(now + Duration::minutes(15), &["f4"]);
    assert_eq!(
        env.label(d),
        ("pve1".into(), "local".into()),
        "no placement change"
    );
    bump(17);
    env.run_ok(now + Duration::minutes(30), &["f4"]);
    assert_eq!(env.label(d), ("pve2".into(), "received".into()));
    // `stopped` set by this node while it owned the guest is stale there too.
    env.zfs(&["set", "label:running=stopped", d]);
    bump(18);
    env.run_ok(now + Duration::minutes(45), &["f4"]);
    assert_eq!(env.label(d), ("pve2".into(), "received".into()));
    // A local value naming another node is not this node's to judge.
    env.zfs(&["set", "label:running=pve3", d]);
    bump(19);
    env.run_ok(now + Duration::minutes(60), &["f4"]);
    assert_eq!(env.label(d), ("pve3".into(), "local".into()));
}

#[test]
fn foreign_and_unmanaged_snapshots_are_never_destroyed() {
    let mut env = Env::basic();
    let d = "rpool/data/vm-100-disk-0";
    let foreign = [
        "__replicate_100-0_1718000000__",
        "__migration__",
        "vzdump",
        "before-upgrade",
        "rep_default_2026-01-01_00:00:00",
        "syncoid_pve1_2026-01-01:00:00:00",
        "mysnap",
        "autosnap_2026-01-01_00:00:00_monthly",
        "autosnap_2026-01-01_00:00:00_weekly",
        "autosnap_2026-01-01_00:00:00_yearly",
        "autosnap_2026-01-01_02:30:00dst_hourly",
        "autosnap_2026-01-01_00:00:00_frequently.x",
        "autosnap_garbage",
    ];
    for f in foreign {
        env.tick(Duration::hours(1));
        env.zfs(&["snapshot", &format!("{d}@{f}")]);
    }
    let mut now = t("2026-11-20T20:00:00Z");
    while now < t("2026-11-23T00:00:00Z") {
        env.run_ok(now, &["f2", "h2", "d1"]);
        now += Duration::minutes(15);
    }
    let left = env.snaps(d);
    for f in foreign {
        assert!(
            left.iter().any(|s| s == f),
            "{f} was destroyed; left: {left:?}"
        );
    }
    // Ours were rotated meanwhile: the newest 2 frequents, 2 hourlies and 1 daily.
    let mine: Vec<&String> = left
        .iter()
        .filter(|s| !foreign.contains(&s.as_str()))
        .collect();
    assert_eq!(
        mine,
        [
            "autosnap_2026-11-22_00:00:00_daily",
            "autosnap_2026-11-22_22:00:00_hourly",
            "autosnap_2026-11-22_23:00:00_hourly",
            "autosnap_2026-11-22_23:30:00_frequently",
            "autosnap_2026-11-22_23:45:00_frequently"
        ]
    );
}

#[test]
fn nosnap_datasets_get_nothing() {
    let env = Env::basic();
    env.zfs(&["set", "label:nosnap=nosnap", "rpool/data/vm-100-disk-1"]);
    env.run_ok(t("2026-11-21T10:00:00Z"), &["f4"]);
    assert!(env.snaps("rpool/data/vm-100-disk-1").is_empty());
    assert_eq!(env.label("rpool/data/vm-100-disk-1").0, "-");
    assert_eq!(ours(&env.snaps("rpool/data/vm-100-disk-0")).len(), 1);
}

#[test]
fn held_and_cloned_snapshots_do_not_break_the_run() {
    let env = Env::basic();
    let d = "rpool/data/vm-100-disk-0";
    let mut now = t("2026-11-21T10:00:00Z");
    env.run_ok(now, &["f2"]);
    let first = env.snaps(d)[0].clone();
    now += Duration::minutes(15);
    env.run_ok(now, &["f2"]);
    let second = env.snaps(d)[1].clone();
    env.zfs(&["hold", "backup", &format!("{d}@{first}")]);
    env.zfs(&["clone", &format!("{d}@{second}"), "rpool/data/restore-test"]);
    for _ in 0..4 {
        now += Duration::minutes(15);
        env.run_ok(now, &["f2"]);
    }
    let left = env.snaps(d);
    assert!(left.contains(&first) && left.contains(&second), "{left:?}");
    assert_eq!(
        left.len(),
        4,
        "2 kept + the held and the cloned one: {left:?}"
    );
    // Other guests rotated normally.
    assert_eq!(ours(&env.snaps("rpool/data/vm-100-disk-1")).len(), 2);
    // Released, the held one goes at the next run.
    env.zfs(&["release", "backup", &format!("{d}@{first}")]);
    now += Duration::minutes(15);
    env.run_ok(now, &["f2"]);
    assert!(!env.snaps(d).contains(&first));
}

/// Issue 21: the dry run sees holds. A held expired snapshot is shown by the dry run as kept
/// (held), not as `destroy … expired`, as the real run then reports it: kept (held) by
/// `destroy.lua`'s check at apply time, not a failure, counted as "expired kept" (the real
/// run does not read holds before its snapshots: they never wait for a read that only serves
/// destroys). Old code: the dry run printed `- destroy  …@<held>`.
#[test]
fn a_held_snapshot_is_kept_by_the_plan_and_the_dry_run_says_so() {
    let env = Env::basic();
    let d = "rpool/data/vm-100-disk-0";
    let mut now = t("2026-11-21T10:00:00Z");
    for _ in 0..2 {
        env.run_ok(now, &["f2"]);
        now += Duration::minutes(15);
    }
    let first = ours(&env.snaps(d))[0].clone();
    env.zfs(&["hold", "backup", &format!("{d}@{first}")]);

    let out = env.run_ok(now, &["--dry-run", "f2"]);
    assert!(
        !out.contains(&format!("- destroy  {d}@{first}")),
        "the dry run must not plan the held snapshot's destroy:\n{out}"
    );
    assert!(
        out.contains(&format!("  = kept     {d}@{first} (held)")),
        "{out}"
    );
    assert!(out.contains("; kept:held (a later run destroys it once the hold is released"));
    assert!(
        out.contains("1 expired kept (held, cloned or busy)"),
        "{out}"
    );

    let (code, json, err) = env.run(now, &["--json", "f2"]);
    assert_eq!(code, 0, "{json}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let items = v["pools"][0]["items"].as_array().unwrap();
    let held = first.clone();
    let item = items
        .iter()
        .find(|i| {
            i["action"]["op"] == "destroy"
                && i["action"]["dataset"] == d
                && i["action"]["name"] == held.as_str()
        })
        .unwrap_or_else(|| panic!("no destroy item for the held snapshot: {items:#?}"));
    assert_eq!(item["outcome"]["status"], "kept", "{item:#?}");
    assert_eq!(item["outcome"]["error"], "held", "{item:#?}");
    assert_eq!(v["totals"]["snapshots_kept"], 1, "{json}");
    assert_eq!(v["totals"]["failed"], 0, "{json}");
    assert!(env.snaps(d).contains(&first));
    // The other disk rotated as usual.
    assert_eq!(ours(&env.snaps("rpool/data/vm-100-disk-1")).len(), 2);
}

#[test]
fn dry_run_changes_nothing_and_prints_the_plan() {
    let env = Env::basic();
    let now = t("2026-11-21T00:00:00Z");
    env.run_ok(now - Duration::minutes(15), &["f1", "h1", "d1"]);
    let before = (
        env.objects(),
        env.label("rpool/data/vm-100-disk-0"),
        std::fs::read(&env.state).unwrap().len(),
    );
    let out = env.run_ok(now, &["--dry-run", "f1", "h1", "d1"]);
    let after = (
        env.objects(),
        env.label("rpool/data/vm-100-disk-0"),
        std::fs::read(&env.state).unwrap().len(),
    );
    assert_eq!(before, after);
    insta::assert_snapshot!("dry_run_basic", out);
}

#[test]
fn json_report_golden() {
    let env = Env::basic();
    let (code, out, _) = env.run(t("2026-11-21T00:00:00Z"), &["--json", "f4", "h6", "d3"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["totals"]["snapshots_created"], 7);
    insta::assert_snapshot!("json_report_basic", out);
}

#[test]
fn a_second_run_at_the_same_instant_creates_nothing() {
    let env = Env::basic();
    let now = t("2026-11-21T10:00:00Z");
    env.run_ok(now, &["f4", "h2"]);
    let before = env.objects();
    let out = env.run_ok(now, &["f4", "h2"]);
    assert!(out.contains("0 snapshots created"), "{out}");
    assert_eq!(env.objects(), before);
}

#[test]
fn concurrent_runs_do_not_double_anything() {
    let env = Env::basic();
    let now = t("2026-11-21T10:00:00Z");
    let children: Vec<_> = (0..3)
        .map(|_| env.product(now, &["--cron", "f4", "h2"]).spawn().unwrap())
        .collect();
    let codes: Vec<i32> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code().unwrap())
        .collect();
    assert!(codes.iter().all(|c| *c == 0 || *c == 75), "{codes:?}");
    assert!(codes.contains(&0), "{codes:?}");
    for d in RUNNING_DISKS {
        assert_eq!(ours(&env.snaps(d)).len(), 1, "{d}");
    }
}

#[test]
fn bad_keys_exit_2_and_touch_nothing() {
    let env = Env::basic();
    let before = env.objects();
    // (arguments, the text the one-line error must name)
    let cases: &[(&[&str], &str)] = &[
        (&["x5"], "x5"),
        (&["f"], "'f'"),
        (&["f-1"], "f-1"),
        (&["f1.5"], "f1.5"),
        (&["f5", "f6"], "f6"),
        (&["f99999999999999999999"], "f99999999999999999999"),
        (&["f0"], "f0"),
        (&["f4", "--timezone", "Mars/Olympus"], "Mars/Olympus"),
        (&["f4", "--bookmarks", "f2"], "f2"),
    ];
    for (args, offending) in cases {
        let (code, out, err) = env.run(t("2026-11-21T10:00:00Z"), args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert_eq!(
            err.lines().filter(|l| !l.is_empty()).count(),
            1,
            "one clear line for {args:?}: {err}"
        );
        assert!(
            err.contains(offending),
            "{args:?}: message should name {offending}: {err}"
        );
    }
    let (code, _, err) = env.run(t("2026-11-21T10:00:00Z"), &[]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(env.objects(), before);
}

#[test]
fn unmounted_etc_pve_is_fatal_not_all_stopped() {
    let env = Env::basic();
    std::fs::remove_file(env.root.join("etc/pve/.vmlist")).unwrap();
    let before = env.objects();
    let (code, _, err) = env.run(t("2026-11-21T10:00:00Z"), &["f4"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("may not be mounted"), "{err}");
    assert_eq!(env.objects(), before);
    assert_eq!(env.label("rpool/data/vm-101-disk-0").0, "-");
}

#[test]
fn a_failing_pool_does_not_stop_the_others() {
    let env = Env::basic();
    env.zfs(&["destroy", "tank/pve/ct/subvol-200-disk-0"]);
    env.zpool(&["destroy", "tank"]);
    let (code, out, err) = env.run(t("2026-11-21T10:00:00Z"), &["f4"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("pool tank"), "{err}");
    assert_eq!(ours(&env.snaps("rpool/data/vm-100-disk-0")).len(), 1);
    assert_eq!(ours(&env.snaps(BASIC_ZVOLS[0])).len(), 1);
}

/// Issue 9: on a node (version and limits in sysfs), a steady-state run spawns per pool
/// exactly the inventory, the snapinfo for the snapshots the cache does not know yet (the
/// last run's), and the apply program: no `zfs version`, no listing, nothing per dataset.
#[test]
fn a_steady_state_run_spawns_two_zfs_processes_per_pool() {
    let mut env = Env::basic();
    let sys = env.root.join("sys/module/zfs");
    std::fs::create_dir_all(sys.join("parameters")).unwrap();
    std::fs::write(sys.join("version"), "2.3.2-1~bpo12+1\n").unwrap();
    std::fs::write(sys.join("parameters/zfs_lua_max_instrlimit"), "100000000\n").unwrap();
    std::fs::write(sys.join("parameters/zfs_lua_max_memlimit"), "104857600\n").unwrap();
    // `zfs` logs its arguments, then is the emulator under its own name.
    let log = env.dir.path().join("zfs-calls.log");
    std::fs::remove_file(env.bin.join("zfs")).unwrap();
    std::fs::write(
        env.bin.join("zfs"),
        format!(
            "#!/bin/bash\nprintf '%s\\n' \"$*\" >> '{}'\nexec -a zfs '{}' \"$@\"\n",
            log.display(),
            crate::harness::EMU
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(env.bin.join("zfs"), std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut now = t("2026-11-21T10:00:00Z");
    let mut per_run = vec![];
    for _ in 0..3 {
        let _ = std::fs::remove_file(&log);
        env.clock = now.timestamp();
        env.run_ok(now, &["f4", "h2"]);
        per_run.push(std::fs::read_to_string(&log).unwrap_or_default());
        now += Duration::minutes(15);
    }
    assert!(
        env.root
            .join("var/cache/pve-zfs-snap/snapshots.json")
            .is_file()
    );
    for (i, calls) in per_run.iter().enumerate().skip(1) {
        let lines: Vec<&str> = calls.lines().collect();
        assert!(
            lines.iter().all(|l| l.starts_with("program ")),
            "run {i}: only channel programs: {lines:#?}"
        );
        let mut per_pool: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for l in &lines {
            let pool = l
                .split(" -- ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .unwrap();
            per_pool.entry(pool.to_string()).or_default().push(l);
        }
        assert_eq!(
            per_pool.keys().collect::<Vec<_>>(),
            ["rpool", "tank"],
            "{lines:#?}"
        );
        for (pool, calls) in &per_pool {
            // inventory + apply: the facts of the last run's snapshots came back from its
            // apply, so there is nothing left for snapinfo.lua to read.
            assert_eq!(calls.len(), 2, "run {i}, {pool}: {calls:#?}");
            assert_eq!(
                calls.iter().filter(|c| c.contains(" -n ")).count(),
                1,
                "{calls:#?}"
            );
            // The limits come from sysfs: one call can carry a big node.
            assert!(calls[0].contains("-t 100000000 -m 104857600"), "{calls:#?}");
            // OpenZFS 2.3: every dataset is offered the snapshots_changed value its listing
            // is exact for (kept through the last run's apply, which watched it), so its
            // walk can be skipped; the walk budget comes first.
            let inv: Vec<&str> = calls[0].split(" - ").nth(1).unwrap().split(' ').collect();
            assert_eq!(inv[0], "-w10000", "{calls:#?}");
            // The replica VM 300 (config on pve2) is read in the same program for its
            // bookmarks; it never had a snapshot, so its exact listing is as of 0.
            let (replica, inv): (Vec<&str>, Vec<&str>) = inv
                .into_iter()
                .partition(|a| a.starts_with("rpool/data/vm-300-disk-0="));
            let want: &[&str] = if pool == "rpool" {
                &["rpool/data/vm-300-disk-0=0"]
            } else {
                &[]
            };
            assert_eq!(replica, want, "{calls:#?}");
            assert!(
                inv[1..].iter().all(|a| a
                    .split_once('=')
                    .is_some_and(|(_, c)| c.parse::<i64>().unwrap() > 0)),
                "{calls:#?}"
            );
            assert!(calls[1].contains(" C "), "apply watches: {calls:#?}");
        }
    }
}
