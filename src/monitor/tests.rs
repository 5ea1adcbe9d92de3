use super::*;
use crate::exit::nagios::{
    CRIT as EXIT_CRIT, OK as EXIT_OK, UNKNOWN as EXIT_UNKNOWN, WARN as EXIT_WARN,
};

const NOW: i64 = 1_800_000_000;

fn ds(s: &str) -> Dataset {
    Dataset::new(s).unwrap()
}

fn cand(name: &str, txg: u64, creation: i64) -> Candidate {
    Candidate {
        name: name.into(),
        createtxg: txg,
        creation,
    }
}

fn t() -> Thresholds {
    Thresholds::new(2700, 7200, "test").unwrap()
}

fn disk(name: &str, newest: Vec<Candidate>) -> DiskFacts {
    let n = newest.len() as u64;
    DiskFacts {
        dataset: ds(name),
        newest,
        candidates: n,
        nosnap: None,
    }
}

const H: &str = "autosnap_2027-01-15_08:00:00_hourly";
const F: &str = "autosnap_2027-01-15_08:15:00_frequently";
const S: &str = "autosnap_2027-01-15_08:30:00_stopped";

#[test]
fn thresholds_validation_and_derivation() {
    assert!(Thresholds::new(10, 5, "x").is_err());
    assert!(Thresholds::new(0, 5, "x").is_err());
    assert!(Thresholds::new(5, 5, "x").is_ok());
    let d = Thresholds::from_interval(900, "*/15 * * * *");
    assert_eq!((d.warn(), d.crit()), (3 * 900, 9 * 900));
    assert!(d.source().contains("*/15"), "{}", d.source());
    let f = Thresholds::fallback();
    assert_eq!((f.warn(), f.crit()), (45 * 60, 2 * 3600));
}

#[test]
fn human_table() {
    for (s, want) in [
        (0, "0s"),
        (59, "59s"),
        (60, "1m"),
        (90, "1m30s"),
        (3600, "1h00m"),
        (10_920, "3h02m"),
        (2 * 86_400 + 4 * 3600, "2d04h"),
        (-120, "-2m"),
    ] {
        assert_eq!(human(s), want, "{s}");
    }
}

#[test]
fn vmid_of_table() {
    for (name, want) in [
        ("rpool/data/vm-100-disk-0", Some(100)),
        ("backup/pve1/subvol-200-disk-12", Some(200)),
        ("tank/vm-100-state-x", None),
        ("tank/vm--disk-0", None),
        ("tank/base-100-disk-0", None),
        ("tank/vm-1-disk-", None),
    ] {
        assert_eq!(vmid_of(&ds(name)), want, "{name}");
    }
}

/// Each state, and the thresholds at their boundaries (strictly greater is worse).
#[test]
fn states_table() {
    let cases: Vec<(&str, Vec<Candidate>, u64, State)> = vec![
        ("fresh", vec![cand(H, 10, NOW - 60)], 1, State::Ok),
        ("warn boundary", vec![cand(H, 10, NOW - 2700)], 1, State::Ok),
        (
            "just over warn",
            vec![cand(H, 10, NOW - 2701)],
            1,
            State::Warn,
        ),
        (
            "crit boundary",
            vec![cand(H, 10, NOW - 7200)],
            1,
            State::Warn,
        ),
        (
            "just over crit",
            vec![cand(H, 10, NOW - 7201)],
            1,
            State::Crit,
        ),
        (
            "old stopped",
            vec![cand(S, 10, NOW - 86_400 * 30)],
            1,
            State::Stopped,
        ),
        ("nothing", vec![], 0, State::Missing),
        (
            "only look-alikes, all read",
            vec![cand("autosnap_2027-02-30_00:00:00_hourly", 10, NOW)],
            1,
            State::Missing,
        ),
        (
            "only look-alikes, more unread",
            vec![cand("autosnap_2027-02-30_00:00:00_hourly", 10, NOW)],
            5,
            State::Unknown,
        ),
        (
            "within skew tolerance",
            vec![cand(H, 10, NOW + SKEW_TOLERANCE)],
            1,
            State::Ok,
        ),
        (
            "future: skew",
            vec![cand(H, 10, NOW + SKEW_TOLERANCE + 1)],
            1,
            State::Warn,
        ),
        ("far future", vec![cand(H, 10, NOW + 7201)], 1, State::Crit),
        (
            "newest by txg, not by creation",
            vec![cand(H, 20, NOW - 9000), cand(F, 10, NOW - 60)],
            2,
            State::Crit,
        ),
    ];
    for (what, newest, candidates, want) in cases {
        let d = DiskFacts {
            dataset: ds("tank/vm-100-disk-0"),
            newest,
            candidates,
            nosnap: None,
        };
        let r = evaluate(&[d], vec![], NOW, &t(), &[]);
        assert_eq!(r.records[0].state, want, "{what}: {:?}", r.records[0]);
        assert!(!r.records[0].reason.is_empty(), "{what}");
    }
}

#[test]
fn future_dated_snapshot_says_clock_skew() {
    let r = evaluate(
        &[disk("tank/vm-1-disk-0", vec![cand(H, 10, NOW + 600)])],
        vec![],
        NOW,
        &t(),
        &[],
    );
    let rec = &r.records[0];
    assert_eq!(rec.age_seconds, Some(-600));
    assert!(
        rec.reason.contains("600 s in the future (clock skew?)"),
        "{}",
        rec.reason
    );
    // Stays WARN as time passes until it really is in the past: never fresh "forever".
    let later = evaluate(
        &[disk("tank/vm-1-disk-0", vec![cand(H, 10, NOW + 600)])],
        vec![],
        NOW + 600 - SKEW_TOLERANCE - 1,
        &t(),
        &[],
    );
    assert_eq!(later.records[0].state, State::Warn);
}

/// `_stopped` newest of ours, with a newer foreign (and a newer look-alike) snapshot: still STOPPED.
#[test]
fn stopped_newest_with_newer_foreign() {
    let d = DiskFacts {
        dataset: ds("tank/vm-100-disk-0"),
        newest: vec![
            cand("autosnap_foo_hourly", 30, NOW),
            cand("autosnap_2027-13-01_00:00:00_hourly", 25, NOW),
            cand(S, 20, NOW - 86_400),
            cand(H, 10, NOW - 90_000),
        ],
        candidates: 4,
        nosnap: None,
    };
    let r = evaluate(&[d], vec![], NOW, &t(), &[]);
    let rec = &r.records[0];
    assert_eq!(rec.state, State::Stopped);
    assert_eq!(rec.newest.as_ref().unwrap().name, S);
    assert_eq!(rec.snapshots, 2);
    assert_eq!(r.exit_code(), EXIT_OK);
}

#[test]
fn overall_status_and_order() {
    let disks = vec![
        disk("tank/vm-1-disk-0", vec![cand(H, 10, NOW - 60)]),
        disk("tank/vm-2-disk-0", vec![cand(H, 10, NOW - 3000)]),
        disk("tank/vm-3-disk-0", vec![]),
        disk("tank/vm-4-disk-0", vec![cand(H, 10, NOW - 8000)]),
        disk("tank/vm-5-disk-0", vec![cand(S, 10, NOW - 8000)]),
    ];
    let r = evaluate(&disks, vec![], NOW, &t(), &[]);
    let order: Vec<&str> = r.records.iter().map(|x| x.dataset.leaf()).collect();
    assert_eq!(
        order,
        [
            "vm-4-disk-0",
            "vm-3-disk-0",
            "vm-2-disk-0",
            "vm-5-disk-0",
            "vm-1-disk-0"
        ]
    );
    assert_eq!(r.exit_code(), EXIT_CRIT);
    assert_eq!(r.max_age(), 8000);

    let only_warn = evaluate(&disks[..2], vec![], NOW, &t(), &[]);
    assert_eq!(only_warn.exit_code(), EXIT_WARN);
    let ok = evaluate(&disks[..1], vec![], NOW, &t(), &[]);
    assert_eq!(ok.exit_code(), EXIT_OK);
    let with_error = evaluate(&disks[..2], vec!["pool x: boom".into()], NOW, &t(), &[]);
    assert_eq!(with_error.exit_code(), EXIT_UNKNOWN);
    let crit_and_error = evaluate(&disks, vec!["pool x: boom".into()], NOW, &t(), &[]);
    assert_eq!(crit_and_error.exit_code(), EXIT_CRIT);
    let empty = evaluate(&[], vec![], NOW, &t(), &[]);
    assert_eq!(empty.exit_code(), EXIT_UNKNOWN);
    assert!(render_nagios(&empty).contains("no guest disks found"));
}

#[test]
fn nagios_names_at_most_five_problems() {
    let disks: Vec<DiskFacts> = (1..=8)
        .map(|i| disk(&format!("tank/vm-{i}-disk-0"), vec![]))
        .collect();
    let out = render_nagios(&evaluate(&disks, vec![], NOW, &t(), &[]));
    let line = out.lines().next().unwrap();
    assert_eq!(line.matches(": no snapshot of ours").count(), NAGIOS_NAMED);
    assert!(line.contains("; and 3 more |"), "{line}");
    // The first named problem says what to do; the long output has all 8, each with it.
    assert_eq!(
        line.matches("or set label:nosnap=nosnap").count(),
        1,
        "{line}"
    );
    let long: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(long.len(), 8, "{out}");
    assert!(
        long.iter().all(|l| l.starts_with("MISSING tank/vm-")
            && l.contains("no snapshot of ours: run pve-zfs-snap on the node that runs VM ")),
        "{out}"
    );
}

/// The long output is capped; the first line stays one line whatever the messages hold.
#[test]
fn nagios_long_output_is_capped_and_first_line_single() {
    let disks: Vec<DiskFacts> = (1..=NAGIOS_LONG_LINES + 7)
        .map(|i| disk(&format!("tank/vm-{i}-disk-0"), vec![]))
        .collect();
    let out = render_nagios(&evaluate(
        &disks,
        vec!["cannot scan x: line one\nline two".into()],
        NOW,
        &t(),
        &[],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("cannot scan x: line one line two;"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 1 + NAGIOS_LONG_LINES + 1, "{out}");
    assert_eq!(lines[1], "ERROR cannot scan x: line one line two");
    assert_eq!(
        *lines.last().unwrap(),
        "and 8 more (pve-zfs-snap check --format json lists every disk)"
    );
}

fn sample() -> CheckReport {
    let disks = vec![
        disk("rpool/data/vm-100-disk-0", vec![cand(F, 500, NOW - 300)]),
        disk(
            "rpool/data/subvol-200-disk-0",
            vec![
                cand(S, 400, NOW - 86_400),
                cand("__replicate_200-0_1__", 600, NOW),
            ],
        ),
        disk("backup/pve1/vm-101-disk-0", vec![cand(H, 300, NOW - 3600)]),
        disk(
            "backup/pve1/vm-102-disk-1",
            vec![cand(H, 300, NOW - 90_000)],
        ),
        disk("backup/pve1/vm-103-disk-0", vec![]),
        disk("backup/pve1/vm-104-disk-0", vec![cand(H, 300, NOW + 900)]),
        labelled(
            "rpool/data/vm-105-disk-0",
            vec![cand(H, 300, NOW - 90_000)],
            "nosnap",
            "rpool/data/vm-105-disk-0",
        ),
        labelled(
            "rpool/scratch/subvol-106-disk-0",
            vec![],
            "on",
            "rpool/scratch",
        ),
        disk("rpool/test/vm-107-disk-0", vec![]),
        labelled(
            "rpool/data/vm-108-disk-0",
            vec![cand(F, 500, NOW - 120)],
            "nosanp",
            "rpool/data/vm-108-disk-0",
        ),
    ];
    evaluate(&disks, vec![], NOW, &t(), &[ds("rpool/test")])
}

fn labelled(name: &str, newest: Vec<Candidate>, value: &str, source: &str) -> DiskFacts {
    DiskFacts {
        nosnap: Some(NosnapLabel {
            value: value.into(),
            source: source.into(),
        }),
        ..disk(name, newest)
    }
}

#[test]
fn at_or_below_and_guest_of_table() {
    for (d, prefix, want) in [
        ("rpool/data/vm-1-disk-0", "rpool/data", true),
        ("rpool/data/vm-1-disk-0", "rpool", true),
        ("rpool/data/vm-1-disk-0", "rpool/data/vm-1-disk-0", true),
        ("rpool/data2/vm-1-disk-0", "rpool/data", false),
        ("rpool/data/vm-1-disk-0", "rpool/dat", false),
        ("rpool/data/vm-1-disk-0", "rpool/data/vm-1-disk-0/x", false),
        ("rpool2/vm-1-disk-0", "rpool", false),
    ] {
        assert_eq!(at_or_below(&ds(d), &ds(prefix)), want, "{d} under {prefix}");
    }
    for (d, want) in [
        ("rpool/data/vm-100-disk-0", "VM 100"),
        ("rpool/data/subvol-200-disk-1", "CT 200"),
        ("rpool/data/base-300-disk-0", "the guest"),
    ] {
        assert_eq!(guest_of(&ds(d)), want, "{d}");
    }
}

/// `label:nosnap` (by the product-wide table) and `--exclude`: what is EXCLUDED, with which
/// reason, and which values only earn a note.
#[test]
fn exclusion_table() {
    const D: &str = "rpool/data/vm-100-disk-0";
    let old = || vec![cand(H, 10, NOW - 90_000)];
    type Case = (
        &'static str,
        Option<(&'static str, &'static str)>,
        &'static [&'static str],
        State,
        Option<ExcludedBy>,
        &'static str,
        Option<&'static str>,
    );
    let cases: &[Case] = &[
        (
            "nosnap on the disk",
            Some(("nosnap", D)),
            &[],
            State::Excluded,
            Some(ExcludedBy::Label),
            "label:nosnap=nosnap",
            None,
        ),
        (
            "inherited ON",
            Some(("ON", "rpool/data")),
            &[],
            State::Excluded,
            Some(ExcludedBy::Label),
            "label:nosnap=ON (inherited from rpool/data)",
            None,
        ),
        (
            "received yes",
            Some(("yes", "$recvd")),
            &[],
            State::Excluded,
            Some(ExcludedBy::Label),
            "label:nosnap=yes (received)",
            None,
        ),
        (
            "1",
            Some(("1", D)),
            &[],
            State::Excluded,
            Some(ExcludedBy::Label),
            "label:nosnap=1",
            None,
        ),
        (
            "true",
            Some((" true ", D)),
            &[],
            State::Excluded,
            Some(ExcludedBy::Label),
            "label:nosnap= true ",
            None,
        ),
        (
            "off",
            Some(("off", D)),
            &[],
            State::Crit,
            None,
            "is 1d01h old",
            None,
        ),
        (
            "dash",
            Some(("-", D)),
            &[],
            State::Crit,
            None,
            "is 1d01h old",
            None,
        ),
        (
            "empty",
            Some(("", D)),
            &[],
            State::Crit,
            None,
            "is 1d01h old",
            None,
        ),
        (
            "typo",
            Some(("nosanp", D)),
            &[],
            State::Crit,
            None,
            "is 1d01h old",
            Some("label:nosnap=nosanp not understood: use nosnap"),
        ),
        (
            "control characters are escaped",
            Some(("no\nsnap", D)),
            &[],
            State::Crit,
            None,
            "is 1d01h old",
            Some("label:nosnap=no\\nsnap not understood: use nosnap"),
        ),
        (
            "--exclude parent",
            None,
            &["rpool/data"],
            State::Excluded,
            Some(ExcludedBy::Option),
            "--exclude rpool/data",
            None,
        ),
        (
            "--exclude the disk",
            None,
            &["rpool/other", D],
            State::Excluded,
            Some(ExcludedBy::Option),
            "--exclude rpool/data/vm-100-disk-0",
            None,
        ),
        (
            "--exclude a partial component",
            None,
            &["rpool/dat"],
            State::Crit,
            None,
            "old",
            None,
        ),
        (
            "both: the label is named",
            Some(("nosnap", "rpool")),
            &["rpool/data"],
            State::Excluded,
            Some(ExcludedBy::Label),
            "label:nosnap=nosnap (inherited from rpool)",
            None,
        ),
        (
            "typo under --exclude: excluded, with the note",
            Some(("maybe", D)),
            &["rpool"],
            State::Excluded,
            Some(ExcludedBy::Option),
            "--exclude rpool",
            Some("label:nosnap=maybe not understood: use nosnap"),
        ),
    ];
    for (what, label, excludes, state, by, reason, note) in cases {
        let d = match label {
            Some((v, src)) => labelled(D, old(), v, src),
            None => disk(D, old()),
        };
        let excludes: Vec<Dataset> = excludes.iter().map(|p| ds(p)).collect();
        let r = evaluate(&[d], vec![], NOW, &t(), &excludes);
        let rec = &r.records[0];
        assert_eq!(rec.state, *state, "{what}: {rec:?}");
        assert_eq!(rec.excluded_by, *by, "{what}");
        assert!(rec.reason.contains(reason), "{what}: {}", rec.reason);
        assert_eq!(rec.note.as_deref(), *note, "{what}");
        if *state == State::Excluded {
            assert_eq!(rec.action, None, "{what}");
            assert_eq!(r.exit_code(), EXIT_OK, "{what}: never alerts");
            // The facts are kept for JSON readers.
            assert_eq!(rec.age_seconds, Some(90_000), "{what}");
        }
    }
}

/// Excluded disks alert in no format: Nagios OK with the count and a long-output line,
/// Prometheus with a count and no age series.
#[test]
fn excluded_never_alerts_in_any_format() {
    let disks = vec![
        disk("rpool/data/vm-1-disk-0", vec![cand(H, 10, NOW - 60)]),
        labelled("rpool/data/vm-2-disk-0", vec![], "nosnap", "rpool/data"),
        disk("rpool/test/vm-3-disk-0", vec![cand(H, 10, NOW - 900_000)]),
    ];
    let r = evaluate(&disks, vec![], NOW, &t(), &[ds("rpool/test")]);
    assert_eq!(r.exit_code(), EXIT_OK);
    assert_eq!(r.max_age(), 60, "an excluded disk's age is not the max");
    let nagios = render_nagios(&r);
    let first = nagios.lines().next().unwrap();
    assert!(
        first.starts_with(
            "PVE-ZFS-SNAP OK - 3 disks: 1 ok, 2 excluded; newest snapshot at most 1m old |"
        ),
        "{first}"
    );
    assert!(
        first.ends_with(" disks=3 excluded=2 ok=1 stopped=0 warn=0 unknown=0 missing=0 crit=0"),
        "{first}"
    );
    let long: Vec<&str> = nagios.lines().skip(1).collect();
    assert_eq!(
        long,
        [
            "EXCLUDED rpool/test/vm-3-disk-0: --exclude rpool/test",
            "EXCLUDED rpool/data/vm-2-disk-0: label:nosnap=nosnap (inherited from rpool/data)",
        ]
    );
    let json: serde_json::Value = serde_json::from_str(&render_json(&r)).unwrap();
    let by: Vec<(&str, &str)> = json
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["state"] == "EXCLUDED")
        .map(|x| {
            (
                x["excluded_by"].as_str().unwrap(),
                x["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by,
        [
            ("--exclude", "--exclude rpool/test"),
            (
                "label:nosnap",
                "label:nosnap=nosnap (inherited from rpool/data)"
            )
        ]
    );
    let prom = render_prometheus(&r);
    for want in [
        "\npve_zfs_snap_check_status 0\n",
        "\npve_zfs_snap_datasets{state=\"excluded\"} 2\n",
        "\npve_zfs_snap_excluded_datasets{by=\"label\"} 1\n",
        "\npve_zfs_snap_excluded_datasets{by=\"option\"} 1\n",
        "\npve_zfs_snap_dataset_state{dataset=\"rpool/test/vm-3-disk-0\",state=\"excluded\"} 1\n",
    ] {
        assert!(prom.contains(want), "{want} in {prom}");
    }
    assert!(
        !prom.contains("newest_age_seconds{dataset=\"rpool/test/vm-3-disk-0\"}"),
        "no age series for an excluded disk: {prom}"
    );
    assert_exposition_is_strict(&prom);

    // Every disk excluded: still OK (deliberate), and the line says so.
    let all = evaluate(&disks[1..2], vec![], NOW, &t(), &[]);
    assert_eq!(all.exit_code(), EXIT_OK);
    let line = render_nagios(&all);
    assert!(
        line.starts_with("PVE-ZFS-SNAP OK - 1 disk: 1 excluded | "),
        "{line}"
    );
}

/// Every alerting state says what to do, naming the guest; the others say nothing.
#[test]
fn every_alert_names_what_to_do() {
    let cases: Vec<(&str, DiskFacts, State, Option<&str>)> = vec![
        (
            "stale VM",
            disk("rpool/data/vm-100-disk-0", vec![cand(H, 10, NOW - 3000)]),
            State::Warn,
            Some(
                "is the pve-zfs-snap cron job / timer running on the node that runs VM 100? (pve-zfs-snap status; journalctl -u pve-zfs-snap)",
            ),
        ),
        (
            "very stale CT",
            disk(
                "rpool/data/subvol-200-disk-0",
                vec![cand(H, 10, NOW - 9000)],
            ),
            State::Crit,
            Some("on the node that runs CT 200?"),
        ),
        (
            "clock skew",
            disk("rpool/data/vm-101-disk-0", vec![cand(H, 10, NOW + 600)]),
            State::Warn,
            Some("fix the clock of the node that runs VM 101 (timedatectl, NTP)"),
        ),
        (
            "far skew",
            disk("rpool/data/vm-101-disk-0", vec![cand(H, 10, NOW + 9000)]),
            State::Crit,
            Some("fix the clock of the node that runs VM 101"),
        ),
        (
            "missing",
            disk("rpool/data/vm-102-disk-0", vec![]),
            State::Missing,
            Some(
                "run pve-zfs-snap on the node that runs VM 102, or set label:nosnap=nosnap on the dataset to exclude it",
            ),
        ),
        (
            "look-alikes",
            DiskFacts {
                candidates: 9,
                ..disk(
                    "rpool/data/vm-103-disk-0",
                    vec![cand("autosnap_2027-02-30_00:00:00_hourly", 10, NOW)],
                )
            },
            State::Unknown,
            Some("zfs list -t snapshot rpool/data/vm-103-disk-0"),
        ),
        (
            "ok",
            disk("rpool/data/vm-104-disk-0", vec![cand(H, 10, NOW)]),
            State::Ok,
            None,
        ),
        (
            "stopped",
            disk("rpool/data/vm-105-disk-0", vec![cand(S, 10, NOW - 900_000)]),
            State::Stopped,
            None,
        ),
        (
            "excluded",
            labelled("rpool/data/vm-106-disk-0", vec![], "nosnap", "rpool"),
            State::Excluded,
            None,
        ),
    ];
    for (what, d, state, action) in cases {
        let r = evaluate(&[d], vec![], NOW, &t(), &[]);
        let rec = &r.records[0];
        assert_eq!(rec.state, state, "{what}");
        match action {
            Some(a) => {
                let got = rec
                    .action
                    .as_deref()
                    .unwrap_or_else(|| panic!("{what}: no action"));
                assert!(got.contains(a), "{what}: {got}");
                assert!(got.len() <= 130, "{what}: keep it short: {got}");
                // The Nagios line carries it for the worst problem.
                assert!(
                    render_nagios(&r).lines().next().unwrap().contains(got),
                    "{what}"
                );
            }
            None => assert_eq!(rec.action, None, "{what}"),
        }
    }
    // And in the sample: every record that alerts has an action, every other has none.
    for rec in &sample().records {
        assert_eq!(
            rec.action.is_some(),
            rec.state.nagios() != Status::Ok,
            "{rec:?}"
        );
    }
}

#[test]
fn golden_nagios() {
    insta::assert_snapshot!(render_nagios(&sample()));
}

#[test]
fn golden_json() {
    insta::assert_snapshot!(render_json(&sample()));
}

#[test]
fn golden_prometheus() {
    insta::assert_snapshot!(render_prometheus(&sample()));
}

/// The exposition text parses, and the parser sees what we meant.
#[test]
fn prometheus_parses() {
    let text = render_prometheus(&sample());
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
    let get = |name: &str, ds: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get("dataset") == Some(ds))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v) => v,
                ref other => panic!("{name} is not a gauge: {other:?}"),
            })
    };
    assert_eq!(
        get(
            "pve_zfs_snap_newest_age_seconds",
            "backup/pve1/vm-104-disk-0"
        ),
        Some(-900.0)
    );
    assert_eq!(
        get(
            "pve_zfs_snap_newest_age_seconds",
            "backup/pve1/vm-103-disk-0"
        ),
        None
    );
    assert_eq!(
        get("pve_zfs_snap_snapshots", "rpool/data/vm-100-disk-0"),
        Some(1.0)
    );
    let status = scrape
        .samples
        .iter()
        .find(|s| s.metric == "pve_zfs_snap_check_status")
        .unwrap();
    assert!(matches!(status.value, prometheus_parse::Value::Gauge(v) if v == 2.0));
    assert!(
        scrape.docs.contains_key("pve_zfs_snap_dataset_state"),
        "HELP lines are read"
    );
    assert_exposition_is_strict(&text);
}

/// Checks what `prometheus-parse` does not: every family has HELP then TYPE before its
/// samples, no family appears twice, names and label syntax are valid, values are numbers.
pub(crate) fn assert_exposition_is_strict(text: &str) {
    let mut seen = std::collections::BTreeSet::new();
    let mut current: Option<String> = None;
    let mut lines = text.lines().peekable();
    assert!(text.ends_with('\n'), "must end with a newline");
    let valid_name = |n: &str| {
        !n.is_empty()
            && !n.starts_with(|c: char| c.is_ascii_digit())
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(valid_name(name), "{line}");
            assert!(seen.insert(name.to_string()), "family {name} twice");
            let ty = lines.next().expect("TYPE after HELP");
            assert_eq!(ty, format!("# TYPE {name} gauge"), "after {line}");
            current = Some(name.to_string());
            continue;
        }
        assert!(!line.starts_with('#'), "stray comment {line}");
        let name = current.as_deref().expect("sample before HELP");
        let (series, value) = line.rsplit_once(' ').expect("value");
        assert!(value.parse::<f64>().is_ok(), "value in {line}");
        let metric = series.split('{').next().unwrap();
        assert_eq!(metric, name, "sample outside its family: {line}");
        if let Some(labels) = series.strip_prefix(metric).filter(|l| !l.is_empty()) {
            let inner = labels
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .expect("braces");
            for pair in inner.split("\",") {
                let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                assert!(valid_name(k) && !k.contains(':'), "label name in {line}");
                assert!(
                    !v.trim_end_matches('"').contains('"') || v.contains("\\\""),
                    "{line}"
                );
            }
        }
    }
}
