//! `pve-zfs-snap check` end to end on emulated pools: every state, thresholds at their
//! boundaries, clock skew, `_stopped` under a newer foreign snapshot, an empty pool, zfs
//! unreachable, prefixes, schedule-derived thresholds, and the three formats (goldens).

use crate::host::{Host, Run};
use serde_json::Value;

/// 2027-01-15T08:00:00Z.
const NOW: i64 = 1_800_000_000;

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap().to_rfc3339()
}

fn check(h: &Host, now: i64, extra: &[&str]) -> Run {
    let root = h.root();
    let now = rfc3339(now);
    let mut args = vec!["check", "--root", root.to_str().unwrap(), "--now", &now];
    args.extend_from_slice(extra);
    h.run(&args)
}

/// dataset → (state, reason) from `--format json`.
fn states(r: &Run) -> Vec<(String, String, String)> {
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["dataset"].as_str().unwrap().to_string(),
                x["state"].as_str().unwrap().to_string(),
                x["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn state_of(r: &Run, ds: &str) -> String {
    states(r)
        .into_iter()
        .find(|(d, _, _)| d == ds)
        .unwrap_or_else(|| panic!("{ds} not reported: {}", r.stdout))
        .1
}

/// One host with every state: two pools, disks under different parents.
fn all_states() -> Host {
    let h = Host::new();
    h.pool("rpool");
    h.pool("backup");
    for ds in [
        "rpool/data/vm-100-disk-0",
        "rpool/data/vm-101-disk-0",
        "rpool/data/vm-102-disk-0",
        "rpool/data/vm-103-disk-0",
        "rpool/data/subvol-200-disk-0",
        "rpool/data/not-a-guest",
        "backup/pve1/vm-100-disk-0",
        "backup/pve1/vm-104-disk-1",
    ] {
        h.dataset(ds);
    }
    // OK: 5 minutes old.
    h.snapshot(
        NOW - 7200,
        "rpool/data/vm-100-disk-0@autosnap_2027-01-15_06:00:00_hourly",
    );
    h.snapshot(
        NOW - 300,
        "rpool/data/vm-100-disk-0@autosnap_2027-01-15_07:55:00_frequently",
    );
    // WARN: 1 hour old.
    h.snapshot(
        NOW - 3600,
        "rpool/data/vm-101-disk-0@autosnap_2027-01-15_07:00:00_hourly",
    );
    // CRIT: 1 day old, with a newer foreign look-alike that must not count.
    h.snapshot(
        NOW - 86_400,
        "rpool/data/vm-102-disk-0@autosnap_2027-01-14_08:00:00_daily",
    );
    h.snapshot(
        NOW - 60,
        "rpool/data/vm-102-disk-0@autosnap_2027-02-30_07:59:00_hourly",
    );
    h.snapshot(NOW - 60, "rpool/data/vm-102-disk-0@autosnap_foo");
    // MISSING: only foreign snapshots.
    h.snapshot(
        NOW - 60,
        "rpool/data/vm-103-disk-0@__replicate_103-0_1800000000__",
    );
    // STOPPED: old _stopped, then a newer foreign (PVE replication) snapshot.
    h.snapshot(
        NOW - 30 * 86_400,
        "rpool/data/subvol-200-disk-0@autosnap_2026-12-16_08:00:00_hourly",
    );
    h.snapshot(
        NOW - 29 * 86_400,
        "rpool/data/subvol-200-disk-0@autosnap_2026-12-17_08:00:00_stopped",
    );
    h.snapshot(
        NOW - 60,
        "rpool/data/subvol-200-disk-0@__replicate_200-0_1800000000__",
    );
    // Not a guest disk: ignored whatever it holds.
    h.snapshot(
        NOW - 86_400,
        "rpool/data/not-a-guest@autosnap_2027-01-14_08:00:00_daily",
    );
    // Backup site: OK, and one dated 10 minutes in the future (clock skew).
    h.snapshot(
        NOW - 600,
        "backup/pve1/vm-100-disk-0@autosnap_2027-01-15_07:50:00_frequently",
    );
    h.snapshot(
        NOW + 600,
        "backup/pve1/vm-104-disk-1@autosnap_2027-01-15_08:10:00_frequently",
    );
    h
}

#[test]
fn every_state_on_emulated_pools() {
    let h = all_states();
    let r = check(&h, NOW, &["--format", "json"]);
    assert_eq!(r.code, 2, "{r:?}");
    let got: Vec<(String, String)> = states(&r).into_iter().map(|(d, s, _)| (d, s)).collect();
    let want = [
        ("rpool/data/vm-102-disk-0", "CRIT"),
        ("rpool/data/vm-103-disk-0", "MISSING"),
        ("rpool/data/vm-101-disk-0", "WARN"),
        ("backup/pve1/vm-104-disk-1", "WARN"),
        ("rpool/data/subvol-200-disk-0", "STOPPED"),
        ("backup/pve1/vm-100-disk-0", "OK"),
        ("rpool/data/vm-100-disk-0", "OK"),
    ];
    assert_eq!(
        got,
        want.map(|(d, s)| (d.to_string(), s.to_string())).to_vec()
    );
    let skew = states(&r)
        .into_iter()
        .find(|(d, _, _)| d == "backup/pve1/vm-104-disk-1")
        .unwrap()
        .2;
    assert!(skew.contains("600 s in the future (clock skew?)"), "{skew}");
}

#[test]
fn golden_formats_end_to_end() {
    let h = all_states();
    for (format, code) in [("nagios", 2), ("json", 2), ("prometheus", 2)] {
        let r = check(&h, NOW, &["--format", format]);
        assert_eq!(r.code, code, "{format}: {r:?}");
        insta::assert_snapshot!(format!("e2e_{format}"), r.stdout);
    }
    let prom = check(&h, NOW, &["--format", "prometheus"]).stdout;
    let scrape = prometheus_parse::Scrape::parse(prom.lines().map(|l| Ok(l.to_string())))
        .expect("prometheus text parses");
    let ages: Vec<(&str, f64)> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "pve_zfs_snap_newest_age_seconds")
        .map(|s| {
            let prometheus_parse::Value::Gauge(v) = s.value else {
                panic!("not a gauge")
            };
            (s.labels.get("dataset").unwrap(), v)
        })
        .collect();
    assert!(
        ages.contains(&("backup/pve1/vm-104-disk-1", -600.0)),
        "{ages:?}"
    );
    assert!(
        ages.contains(&("rpool/data/vm-102-disk-0", 86_400.0)),
        "{ages:?}"
    );
}

#[test]
fn nagios_line_names_the_worst_first() {
    let h = all_states();
    let r = check(&h, NOW, &[]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    let line = r.stdout.trim_end();
    assert!(
        line.starts_with("PVE-ZFS-SNAP CRITICAL - 7 disks:"),
        "{line}"
    );
    let crit = line.find("rpool/data/vm-102-disk-0").unwrap();
    let missing = line.find("rpool/data/vm-103-disk-0").unwrap();
    let warn = line.find("rpool/data/vm-101-disk-0").unwrap();
    assert!(crit < missing && missing < warn, "{line}");
    assert!(line.contains("| max_age=86400s;2700;7200;0 "), "{line}");
    assert!(
        !line.contains("subvol-200"),
        "STOPPED is not a problem: {line}"
    );
}

/// A single disk at exactly the thresholds and one second beyond (strictly older is worse).
#[test]
fn thresholds_at_the_boundary() {
    let h = Host::new();
    h.pool("tank");
    h.dataset("tank/vm-1-disk-0");
    h.snapshot(NOW, "tank/vm-1-disk-0@autosnap_2027-01-15_08:00:00_hourly");
    let opts = ["--warn", "45m", "--crit", "2h"];
    for (age, code) in [(2700, 0), (2701, 1), (7200, 1), (7201, 2)] {
        let r = check(&h, NOW + age, &opts);
        assert_eq!(r.code, code, "age {age}: {r:?}");
    }
    // 90m/1d forms, and a bad duration is UNKNOWN.
    assert_eq!(
        check(&h, NOW + 5401, &["--warn", "90m", "--crit", "1d"]).code,
        1
    );
    assert_eq!(
        check(&h, NOW + 5400, &["--warn", "90m", "--crit", "1d"]).code,
        0
    );
    let bad = check(&h, NOW, &["--warn", "soon"]);
    assert_eq!(bad.code, 3);
    assert!(
        bad.stdout.starts_with("PVE-ZFS-SNAP UNKNOWN - --warn"),
        "{bad:?}"
    );
    let inverted = check(&h, NOW, &["--warn", "2h", "--crit", "1h"]);
    assert_eq!(inverted.code, 3, "{inverted:?}");
}

/// A snapshot from a clock that runs ahead is WARN (then CRIT when far ahead), never fresh.
#[test]
fn future_dated_snapshot_is_reported() {
    let h = Host::new();
    h.pool("tank");
    h.dataset("tank/vm-1-disk-0");
    h.snapshot(
        NOW + 86_400,
        "tank/vm-1-disk-0@autosnap_2027-01-16_08:00:00_daily",
    );
    let r = check(&h, NOW, &["--format", "json"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(state_of(&r, "tank/vm-1-disk-0"), "CRIT");
    let r = check(&h, NOW + 86_400 - 3600, &["--format", "json"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(states(&r)[0].2.contains("clock skew"), "{r:?}");
    // Once the clock catches up it ages like any other.
    assert_eq!(check(&h, NOW + 86_400 + 60, &[]).code, 0);
}

/// `_stopped` is the newest of ours; a newer foreign snapshot does not change that.
#[test]
fn stopped_newest_with_newer_foreign_is_ok() {
    let h = Host::new();
    h.pool("tank");
    h.dataset("tank/data/vm-7-disk-0");
    h.snapshot(
        NOW - 90 * 86_400,
        "tank/data/vm-7-disk-0@autosnap_2026-10-17_08:00:00_stopped",
    );
    h.snapshot(
        NOW - 60,
        "tank/data/vm-7-disk-0@__replicate_7-0_1800000000__",
    );
    h.snapshot(NOW - 30, "tank/data/vm-7-disk-0@autosnap_foo_hourly");
    let r = check(&h, NOW, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("1 disk: 1 stopped"), "{}", r.stdout);
}

#[test]
fn empty_pool_is_unknown() {
    let h = Host::new();
    h.pool("tank");
    for format in ["nagios", "json", "prometheus"] {
        let r = check(&h, NOW, &["--format", format]);
        assert_eq!(r.code, 3, "{format}: {r:?}");
    }
    let r = check(&h, NOW, &[]);
    assert!(
        r.stdout
            .starts_with("PVE-ZFS-SNAP UNKNOWN - no guest disks found"),
        "{r:?}"
    );
    assert_eq!(check(&h, NOW, &["--format", "json"]).stdout.trim(), "[]");
}

#[test]
fn zfs_unavailable_is_unknown() {
    let h = Host::without_zfs();
    let r = check(&h, NOW, &[]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.starts_with("PVE-ZFS-SNAP UNKNOWN"), "{r:?}");
    assert!(r.stdout.contains("zfs"), "{r:?}");
    let p = check(&h, NOW, &["--format", "prometheus"]);
    assert_eq!(p.code, 3);
    assert!(
        p.stdout.contains("\npve_zfs_snap_check_status 3\n"),
        "{p:?}"
    );
    assert!(
        p.stdout.contains("\npve_zfs_snap_check_errors 1\n"),
        "{p:?}"
    );

    // zfs present but the pool listing fails (no state file is fine; a broken one is not).
    let h = Host::new();
    std::fs::write(h.dir.path().join("state.json"), "not json").unwrap();
    let r = check(&h, NOW, &[]);
    assert_eq!(r.code, 3, "{r:?}");
}

#[test]
fn dataset_prefixes_restrict_the_scan() {
    let h = all_states();
    let r = check(&h, NOW, &["--dataset", "backup/pve1", "--format", "json"]);
    let names: Vec<String> = states(&r).into_iter().map(|(d, _, _)| d).collect();
    assert_eq!(
        names,
        ["backup/pve1/vm-104-disk-1", "backup/pve1/vm-100-disk-0"]
    );
    assert_eq!(r.code, 1);
    let one = check(&h, NOW, &["--dataset", "rpool/data/vm-100-disk-0"]);
    assert_eq!(one.code, 0, "{one:?}");
    let gone = check(&h, NOW, &["--dataset", "backup/nope"]);
    assert_eq!(gone.code, 3, "{gone:?}");
    assert!(
        gone.stdout.contains("backup/nope does not exist"),
        "{gone:?}"
    );
}

/// Defaults follow the installed schedule: hourly runs warn after 3h, crit after 9h.
#[test]
fn thresholds_follow_the_installed_schedule() {
    let h = Host::new();
    h.pool("tank");
    h.dataset("tank/vm-1-disk-0");
    h.snapshot(NOW, "tank/vm-1-disk-0@autosnap_2027-01-15_08:00:00_hourly");
    // Without a schedule: 45m / 2h.
    assert_eq!(check(&h, NOW + 2 * 3600, &[]).code, 1);
    h.write(
        "etc/cron.d/pve-zfs-snap",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
         0 * * * * root /usr/local/sbin/pve-zfs-snap --cron f100 h24 d7\n",
    );
    assert_eq!(check(&h, NOW + 2 * 3600, &[]).code, 0);
    assert_eq!(check(&h, NOW + 3 * 3600, &[]).code, 0);
    assert_eq!(check(&h, NOW + 3 * 3600 + 1, &[]).code, 1);
    let r = check(&h, NOW + 9 * 3600 + 1, &[]);
    assert_eq!(r.code, 2);
    assert!(r.stdout.contains("max_age=32401s;10800;32400;0"), "{r:?}");
    // An explicit option replaces only its own threshold.
    assert_eq!(check(&h, NOW + 2 * 3600, &["--warn", "1h"]).code, 1);
}

/// `check` never writes: the state file is byte-identical afterwards.
#[test]
fn check_is_read_only() {
    let h = all_states();
    let before = std::fs::read(h.dir.path().join("state.json")).unwrap();
    for format in ["nagios", "json", "prometheus"] {
        check(&h, NOW, &["--format", format]);
    }
    assert_eq!(
        before,
        std::fs::read(h.dir.path().join("state.json")).unwrap()
    );
}
