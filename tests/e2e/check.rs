//! `pve-zfs-snap check` end to end on emulated pools: every state, thresholds at their
//! boundaries, clock skew, `_stopped` under a newer foreign snapshot, an empty pool, zfs
//! unreachable, prefixes, schedule-derived thresholds, exclusions (`label:nosnap`,
//! `--exclude`), what every alert says to do, and the three formats (goldens).

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
        "rpool/data/vm-105-disk-0",
    ] {
        h.dataset(ds);
    }
    // EXCLUDED: label:nosnap=nosnap, no snapshot of ours at all (was MISSING, so CRITICAL).
    h.emu(
        0,
        "zfs",
        &["set", "label:nosnap=nosnap", "rpool/data/vm-105-disk-0"],
    );
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
        ("rpool/data/vm-105-disk-0", "EXCLUDED"),
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
    let line = r.stdout.lines().next().unwrap();
    assert!(
        line.starts_with("PVE-ZFS-SNAP CRITICAL - 8 disks:"),
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
    assert!(
        !line.contains("vm-105"),
        "EXCLUDED is not a problem: {line}"
    );
    // The worst problem says what to do on the first line already.
    assert!(
        line.contains(
            "1d00h old: is the pve-zfs-snap cron job / timer running on the node that runs VM 102?"
        ),
        "{line}"
    );
}

/// Every alert names what to do, one long-output line each: stale, clock skew, missing; the
/// excluded disk is listed with its reason and no alert.
#[test]
fn every_alert_names_what_to_do() {
    let h = all_states();
    let r = check(&h, NOW, &[]);
    let long: Vec<&str> = r.stdout.lines().skip(1).collect();
    let want = [
        "CRIT rpool/data/vm-102-disk-0: newest autosnap_2027-01-14_08:00:00_daily is 1d00h old: \
         is the pve-zfs-snap cron job / timer running on the node that runs VM 102? \
         (pve-zfs-snap status; journalctl -u pve-zfs-snap)",
        "MISSING rpool/data/vm-103-disk-0: no snapshot of ours: run pve-zfs-snap on the node \
         that runs VM 103, or set label:nosnap=nosnap on the dataset to exclude it",
        "WARN rpool/data/vm-101-disk-0: newest autosnap_2027-01-15_07:00:00_hourly is 1h00m old: \
         is the pve-zfs-snap cron job / timer running on the node that runs VM 101? \
         (pve-zfs-snap status; journalctl -u pve-zfs-snap)",
        "WARN backup/pve1/vm-104-disk-1: newest autosnap_2027-01-15_08:10:00_frequently is 600 s \
         in the future (clock skew?): fix the clock of the node that runs VM 104 (timedatectl, \
         NTP); its next snapshot clears this",
        "EXCLUDED rpool/data/vm-105-disk-0: label:nosnap=nosnap",
    ];
    assert_eq!(long, want, "{}", r.stdout);
    // JSON: an action on exactly the alerting records.
    let j = check(&h, NOW, &["--format", "json"]);
    let v: Value = serde_json::from_str(&j.stdout).unwrap();
    for x in v.as_array().unwrap() {
        let alerting = matches!(
            x["state"].as_str().unwrap(),
            "WARN" | "CRIT" | "MISSING" | "UNKNOWN"
        );
        assert_eq!(x.get("action").is_some(), alerting, "{x}");
    }
}

/// The field bug: a disk with `label:nosnap` was MISSING, so CRITICAL for ever. Now EXCLUDED
/// (never alerting) for every value the product-wide table excludes, wherever it is set; the
/// values that do not exclude still alert, and one that is not understood is named.
#[test]
fn label_nosnap_excludes_in_every_format() {
    // (value, set on, how, state, exit code, Nagios long-output line)
    let cases: &[(&str, &str, &str, &str, i32, &str)] = &[
        (
            "nosnap",
            "tank/data/vm-2-disk-0",
            "local",
            "EXCLUDED",
            0,
            "EXCLUDED tank/data/vm-2-disk-0: label:nosnap=nosnap",
        ),
        (
            "on",
            "tank/data",
            "local",
            "EXCLUDED",
            0,
            "EXCLUDED tank/data/vm-2-disk-0: label:nosnap=on (inherited from tank/data)",
        ),
        (
            "YES",
            "tank/data/vm-2-disk-0",
            "received",
            "EXCLUDED",
            0,
            "EXCLUDED tank/data/vm-2-disk-0: label:nosnap=YES (received)",
        ),
        (
            "1",
            "tank/data",
            "local",
            "EXCLUDED",
            0,
            "EXCLUDED tank/data/vm-2-disk-0: label:nosnap=1 (inherited from tank/data)",
        ),
        (
            "off",
            "tank/data/vm-2-disk-0",
            "local",
            "MISSING",
            2,
            "MISSING tank/data/vm-2-disk-0: no snapshot of ours: run pve-zfs-snap",
        ),
        (
            "nosanp",
            "tank/data/vm-2-disk-0",
            "local",
            "MISSING",
            2,
            "; label:nosnap=nosanp not understood: use nosnap",
        ),
    ];
    for (value, on, how, state, code, long) in cases {
        let h = Host::new();
        h.pool("tank");
        h.dataset("tank/vm-1-disk-0");
        h.dataset("tank/data/vm-2-disk-0");
        h.snapshot(
            NOW - 300,
            "tank/vm-1-disk-0@autosnap_2027-01-15_07:55:00_frequently",
        );
        let prop = format!("label:nosnap={value}");
        let mut set = vec!["set"];
        if *how == "received" {
            set.push("--received");
        }
        set.extend([prop.as_str(), on]);
        h.emu(0, "zfs", &set);
        let what = format!("{value} on {on} ({how})");

        let j = check(&h, NOW, &["--format", "json"]);
        assert_eq!(j.code, *code, "{what}: {j:?}");
        assert_eq!(state_of(&j, "tank/data/vm-2-disk-0"), *state, "{what}");

        let n = check(&h, NOW, &[]);
        assert_eq!(n.code, *code, "{what}: {n:?}");
        let first = n.stdout.lines().next().unwrap();
        let counts = if *code == 0 {
            "2 disks: 1 ok, 1 excluded; newest snapshot at most 5m old |"
        } else {
            "2 disks: 1 missing, 1 ok; tank/data/vm-2-disk-0: no snapshot of ours: run pve-zfs-snap"
        };
        assert!(first.contains(counts), "{what}: {first}");
        let excluded = usize::from(*code == 0);
        assert!(
            first.ends_with(&format!(
                "excluded={excluded} ok=1 stopped=0 warn=0 unknown=0 missing={} crit=0",
                1 - excluded
            )),
            "{what}: {first}"
        );
        assert!(
            n.stdout.lines().skip(1).any(|l| l.contains(long)),
            "{what}: {}",
            n.stdout
        );

        let p = check(&h, NOW, &["--format", "prometheus"]);
        assert_eq!(p.code, *code, "{what}");
        for want in [
            format!("\npve_zfs_snap_check_status {code}\n"),
            format!("\npve_zfs_snap_datasets{{state=\"excluded\"}} {excluded}\n"),
            format!("\npve_zfs_snap_excluded_datasets{{by=\"label\"}} {excluded}\n"),
            format!(
                "\npve_zfs_snap_dataset_state{{dataset=\"tank/data/vm-2-disk-0\",state=\"{}\"}} 1\n",
                state.to_lowercase()
            ),
        ] {
            assert!(p.stdout.contains(&want), "{what}: {want} in {}", p.stdout);
        }
    }
}

/// `--exclude PREFIX` (repeatable, at or below, a trailing `/` allowed) excludes like the
/// label; a bad prefix is UNKNOWN in every format, naming the option.
#[test]
fn exclude_option() {
    let h = all_states();
    let r = check(
        &h,
        NOW,
        &[
            "--exclude",
            "rpool/data/vm-102-disk-0",
            "--exclude",
            "rpool/data/vm-103-disk-0/",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 1, "only the WARN disks are left: {r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let excluded: Vec<(&str, &str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["state"] == "EXCLUDED")
        .map(|x| {
            (
                x["dataset"].as_str().unwrap(),
                x["reason"].as_str().unwrap(),
                x["excluded_by"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        excluded,
        [
            (
                "rpool/data/vm-102-disk-0",
                "--exclude rpool/data/vm-102-disk-0",
                "--exclude"
            ),
            (
                "rpool/data/vm-103-disk-0",
                "--exclude rpool/data/vm-103-disk-0",
                "--exclude"
            ),
            (
                "rpool/data/vm-105-disk-0",
                "label:nosnap=nosnap",
                "label:nosnap"
            ),
        ]
    );
    // A whole subtree; `rpool/dat` is not a parent of `rpool/data/…`.
    let all = check(&h, NOW, &["--exclude", "rpool", "--exclude", "backup/pve1"]);
    assert_eq!(all.code, 0, "{all:?}");
    assert!(
        all.stdout
            .starts_with("PVE-ZFS-SNAP OK - 8 disks: 8 excluded |"),
        "{all:?}"
    );
    assert_eq!(check(&h, NOW, &["--exclude", "rpool/dat"]).code, 2);
    let p = check(&h, NOW, &["--exclude", "rpool", "--format", "prometheus"]);
    assert!(
        p.stdout
            .contains("\npve_zfs_snap_excluded_datasets{by=\"option\"} 5\n"),
        "{}",
        p.stdout
    );

    for bad in ["rpool//data", "rpool/data@snap", "", "/rpool"] {
        for format in ["nagios", "json", "prometheus"] {
            let r = check(&h, NOW, &["--exclude", bad, "--format", format]);
            assert_eq!(r.code, 3, "{bad:?} {format}: {r:?}");
            assert!(
                r.stdout.starts_with("PVE-ZFS-SNAP UNKNOWN - --exclude: "),
                "{bad:?}: {r:?}"
            );
        }
    }
}

/// `--warn 90` used to mean 90 seconds; now UNKNOWN naming the fix. `--warn` above `--crit`
/// (given or derived) is refused too.
#[test]
fn durations_must_have_a_unit() {
    let h = Host::new();
    h.pool("tank");
    h.dataset("tank/vm-1-disk-0");
    h.snapshot(NOW, "tank/vm-1-disk-0@autosnap_2027-01-15_08:00:00_hourly");
    for (args, want) in [
        (
            &["--warn", "90"][..],
            "PVE-ZFS-SNAP UNKNOWN - --warn: '90' has no unit: use 90m or 90s",
        ),
        (
            &["--warn", "1h", "--crit", "7200"][..],
            "PVE-ZFS-SNAP UNKNOWN - --crit: '7200' has no unit: use 7200m or 7200s",
        ),
        (
            &["--warn", "2h", "--crit", "1h"][..],
            "PVE-ZFS-SNAP UNKNOWN - the warning threshold (2h00m) is larger than the critical one (1h00m): give --warn <= --crit",
        ),
        (
            &["--warn", "3h"][..],
            "PVE-ZFS-SNAP UNKNOWN - the warning threshold (3h00m) is larger than the critical one (2h00m) (from default (no installed schedule found)): give --crit too",
        ),
        (
            &["--crit", "10m"][..],
            "PVE-ZFS-SNAP UNKNOWN - the warning threshold (45m) is larger than the critical one (10m) (from default (no installed schedule found)): give --warn too",
        ),
        (
            &["--warn", "0s"][..],
            "PVE-ZFS-SNAP UNKNOWN - thresholds must be greater than 0 (e.g. 45m, 2h)",
        ),
    ] {
        let r = check(&h, NOW, args);
        assert_eq!(r.code, 3, "{args:?}: {r:?}");
        assert!(r.stdout.starts_with(want), "{args:?}: {}", r.stdout);
        assert_eq!(r.stdout.lines().count(), 1, "{args:?}: {}", r.stdout);
    }
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
        gone.stdout
            .contains("backup/nope does not exist: check the --dataset prefix (zfs list -o name)"),
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

/// `check --pools`: pool health and capacity (sanoid's `--monitor-health` and
/// `--monitor-capacity`) in the three formats, from `zpool list` on the emulator with its
/// `pool-state` fault: `tank` DEGRADED and 85 % full, `backup` 97 % full, `rpool` fine; the
/// disks themselves are all OK, so the pools alone make the verdict.
#[test]
fn pool_health_and_capacity_goldens() {
    let h = Host::new();
    for pool in ["rpool", "tank", "backup"] {
        h.pool(pool);
    }
    for ds in [
        "rpool/data/vm-100-disk-0",
        "tank/data/vm-101-disk-0",
        "backup/pve1/vm-100-disk-0",
    ] {
        h.dataset(ds);
        h.snapshot(
            NOW - 300,
            &format!("{ds}@autosnap_2027-01-15_07:55:00_frequently"),
        );
    }
    let faults = [(
        "ZFS_EMU_FAULTS",
        "pool-state:DEGRADED:85:tank,pool-state:ONLINE:97:backup",
    )];
    let root = h.root();
    let now = rfc3339(NOW);
    let run = |extra: &[&str]| {
        let mut args = vec!["check", "--root", root.to_str().unwrap(), "--now", &now];
        args.extend_from_slice(extra);
        h.run_env(&args, &faults)
    };
    // Without --pools nothing changes: the disks are OK.
    let r = run(&[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.contains("pool"), "{}", r.stdout);
    for format in ["nagios", "json", "prometheus"] {
        let r = run(&["--pools", "--format", format]);
        assert_eq!(r.code, 2, "{format}: {r:?}");
        insta::assert_snapshot!(format!("pools_{format}"), r.stdout);
    }
    let prom = run(&["--pools", "--format", "prometheus"]).stdout;
    prometheus_parse::Scrape::parse(prom.lines().map(|l| Ok(l.to_string()))).unwrap();
    // Thresholds as options; only the pools of the --dataset prefixes.
    let r = run(&[
        "--pools",
        "--capacity-warn",
        "98",
        "--capacity-crit",
        "99",
        "--dataset",
        "backup",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("1 pool: all ok"), "{}", r.stdout);
    let r = run(&["--pools", "--capacity-warn", "90", "--capacity-crit", "80"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(run(&["--capacity-warn", "90"]).code, 2, "needs --pools");
}
