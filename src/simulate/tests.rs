use super::scenario::parse_delta;
use super::*;
use crate::cli::{Cli, Command};
use crate::naming::SnapKind;
use chrono::{DateTime, TimeDelta};
use chrono::{Datelike, Timelike};
use clap::Parser;

fn args(line: &str) -> SimulateOptions {
    let argv = std::iter::once("pve-zfs-snap simulate")
        .flat_map(|s| s.split(' '))
        .chain(line.split(' ').filter(|s| !s.is_empty()));
    match Cli::try_parse_from(argv).unwrap().command {
        Some(Command::Simulate(a)) => crate::cmd::simulate::options(&a, None),
        other => panic!("not simulate: {other:?}"),
    }
}

fn scenario(line: &str) -> Scenario {
    Scenario::from_options(&args(line)).unwrap()
}

// ------------------------------------------------------------ independent retention model
//
// Written from the rules, not from `policy`: one snapshot per dataset per run, named after
// the longest class (count > 0) whose UTC calendar bucket holds no snapshot of that rank or
// longer (else `f` when f > 0); then for each managed class N the newest N of rank ≥ class
// are kept, and the newest is always kept.

#[derive(Clone, Copy, Debug)]
struct Snap {
    t: i64,
    class: usize, // 0 = f … 5 = y
}

fn bucket(class: usize, t: i64) -> (i32, u32, u32) {
    let d = DateTime::from_timestamp(t, 0).unwrap().naive_utc();
    let day = d.date();
    match class {
        1 => (day.num_days_from_ce(), d.hour(), 0),
        2 => (day.num_days_from_ce(), 0, 0),
        3 => (day.iso_week().year(), day.iso_week().week(), 0),
        4 => (day.year(), day.month(), 0),
        5 => (day.year(), 0, 0),
        _ => unreachable!(),
    }
}

fn keep_counts(keys: &str) -> [Option<u32>; 6] {
    let mut c = [None; 6];
    for k in keys.split(' ') {
        let i = "fhdwmy".find(&k[..1]).unwrap();
        c[i] = Some(k[1..].parse().unwrap());
    }
    c
}

fn retain(list: &mut Vec<Snap>, counts: &[Option<u32>; 6]) {
    list.sort_by_key(|s| std::cmp::Reverse(s.t)); // newest first
    let mut keep = vec![false; list.len()];
    keep[0] = true;
    for (class, n) in counts.iter().enumerate() {
        let Some(n) = n else { continue };
        let ranked = (0..list.len()).filter(|&i| list[i].class >= class);
        for i in ranked.take(*n as usize) {
            keep[i] = true;
        }
    }
    let mut k = keep.into_iter();
    list.retain(|_| k.next().unwrap());
}

/// (snapshots, bookmarks) of one always-running disk after `runs` runs `every` apart.
fn model(keys: &str, start: i64, every: i64, runs: i64) -> (Vec<Snap>, Vec<Snap>) {
    let counts = keep_counts(keys);
    // Default bookmarks: the counts doubled, hourly and longer.
    let mut bm_counts = [None; 6];
    for c in 1..6 {
        bm_counts[c] = counts[c].map(|n| n * 2);
    }
    let (mut snaps, mut bms) = (Vec::new(), Vec::new());
    for r in 0..runs {
        let t = start + r * every;
        let due = (1..6).rev().find(|&c| {
            counts[c].unwrap_or(0) > 0
                && !snaps
                    .iter()
                    .any(|s: &Snap| s.class >= c && bucket(c, s.t) == bucket(c, t))
        });
        let class = match due {
            Some(c) => c,
            None if counts[0].unwrap_or(0) > 0 => 0,
            None => continue,
        };
        snaps.push(Snap { t, class });
        retain(&mut snaps, &counts);
        if class >= 1 {
            bms.push(Snap { t, class });
            retain(&mut bms, &bm_counts);
        }
    }
    (snaps, bms)
}

fn per_class(list: &[Snap]) -> [u64; 6] {
    let mut c = [0; 6];
    for s in list {
        c[s.class] += 1;
    }
    c
}

fn check_against_model(keys: &str, days: u32, every: &str) {
    let sc = scenario(&format!(
        "{keys} --days {days} --every {every} --guests 1 --stop-at none"
    ));
    let out = simulate(&sc).unwrap();
    let (snaps, bms) = model(
        keys,
        sc.start.timestamp(),
        sc.every.num_seconds(),
        sc.runs as i64,
    );
    assert_eq!(out.failed, 0, "{:?}", out.failures);
    assert_eq!(out.disks.len(), 2);
    for d in &out.disks {
        assert_eq!(d.snapshots[..6], per_class(&snaps), "{keys}: {}", d.dataset);
        assert_eq!(d.snapshots[6], 0, "no stopped snapshots");
        assert_eq!(d.bookmarks[..6], per_class(&bms), "{keys} bookmarks");
        let oldest = snaps.iter().map(|s| s.t).min().unwrap();
        assert_eq!(d.oldest.map(|(_, c)| c), Some(oldest), "{keys}: oldest");
        assert_eq!(d.newest.map(|(_, c)| c), Some(out.end.timestamp()));
    }
    // Every run's snapshots (two disks) share one txg, and no two runs share one.
    assert_eq!(out.runs_with_snapshots, sc.runs);
    assert_eq!(out.snapshot_txgs, sc.runs);
    assert_eq!(out.end_txgs, out.end_runs);
    assert_eq!(out.end_runs as usize, snaps.len());
    // Per run: inventory.lua, snapinfo.lua (the last run's snapshots), apply.lua, and
    // destroy.lua when the run prunes (destroys run after the snapshots, issue 16).
    assert!(out.programs <= 4 * out.runs, "{} programs", out.programs);
}

#[test]
fn end_state_matches_the_rules_f4_h6_d3() {
    check_against_model("f4 h6 d3", 4, "15m");
}

#[test]
fn end_state_matches_the_rules_f100_h24_d7() {
    check_against_model("f100 h24 d7", 9, "30m");
}

#[test]
fn end_state_matches_the_rules_f8_h48_d30_w8_m12() {
    check_against_model("f8 h48 d30 w8 m12", 400, "12h");
}

#[test]
fn model_sanity() {
    // The model itself: 4 days of 15-minute runs under f4 h6 d3.
    // The newest 4 of rank >= f are 23:45, 23:30, 23:15 and the 23:00 hourly.
    let (s, _) = model("f4 h6 d3", 0, 900, 4 * 96);
    assert_eq!(per_class(&s), [3, 6, 3, 0, 0, 0]);
}

// ------------------------------------------------------------ stopped guest

#[test]
fn stopped_guest_gets_one_stopped_snapshot() {
    // Stopped from 6h on, for a day; the simulation ends inside the window.
    let sc = scenario("f4 h2 --days 1 --every 1h --guests 2 --stop-at 6h:1d");
    let out = simulate(&sc).unwrap();
    assert_eq!(out.failed, 0, "{:?}", out.failures);
    let stop_time = sc.start.timestamp() + 6 * 3600;
    for d in &out.disks {
        if d.vmid == FIRST_VMID {
            assert_eq!(d.snapshots[6], 0);
            assert_eq!(d.newest.unwrap().1, out.end.timestamp());
        } else {
            assert_eq!(d.snapshots[6], 1, "{}", d.dataset);
            let (name, at) = d.newest.unwrap();
            assert_eq!((name.kind(), at), (SnapKind::Stopped, stop_time));
        }
    }
    // The timeline shows the guest stopped.
    assert_eq!(out.timeline.last().unwrap().running, 1);
}

// ------------------------------------------------------------ parsing, rendering, twin

#[test]
fn durations_and_stop_windows() {
    let cases: [(&str, Option<i64>); 10] = [
        ("15m", Some(900)),
        ("2h", Some(7200)),
        ("3d", Some(259_200)),
        ("1w", Some(604_800)),
        ("30s", Some(30)),
        ("1h30m", Some(5400)),
        ("0s", Some(0)),
        ("15", None),
        ("m", None),
        ("1.5h", None),
    ];
    for (s, want) in cases {
        assert_eq!(
            parse_delta("--every", s).ok().map(|d| d.num_seconds()),
            want,
            "{s}"
        );
    }
    assert_eq!(
        StopWindow::parse("100d:3d").unwrap(),
        StopWindow {
            from: TimeDelta::days(100),
            length: TimeDelta::days(3)
        }
    );
    for bad in ["100d", "100d:0", "x:1d", "1d:"] {
        assert!(StopWindow::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn scenario_defaults_and_errors() {
    let sc = scenario("f100 h24 d7");
    assert_eq!(sc.runs, 38_400);
    assert_eq!(sc.every, TimeDelta::minutes(15));
    assert_eq!(sc.guests, 3);
    assert_eq!(sc.stops.len(), 1);
    assert_eq!(sc.timeline_every, 16);
    for bad in [
        "f0",
        "f1 --every 30s",
        "f1 --days 0",
        "f1 --guests 0",
        "f1 --stop-at 1d",
        "f1 --timezone Mars/Base",
        "f1 --start yesterday",
    ] {
        assert!(Scenario::from_options(&args(bad)).is_err(), "{bad}");
    }
    assert!(scenario("f1 --stop-at none").stops.is_empty());
}

#[test]
fn render_and_csv() {
    let sc = scenario("f3 h2 --days 1 --every 2h --guests 2 --stop-at 4h:4h --csv x.csv");
    let out = simulate(&sc).unwrap();
    let text = render(&sc, &out, std::time::Duration::from_millis(5));
    for want in [
        "simulated 12 runs every 2h",
        "rpool/data/vm-101-disk-1",
        "oldest autosnap_",
        "peak:",
        "transaction group",
        "timeline",
    ] {
        assert!(text.contains(want), "{want} missing in\n{text}");
    }
    let csv = csv(&out);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 13);
    assert!(lines[0].starts_with("time,running_guests,"));
    // Run 3 (04:00) is the first with the second guest stopped.
    assert!(
        lines[3].starts_with("2026-01-01T04:00:00+00:00,1,"),
        "{}",
        lines[3]
    );
    let cols = lines[0].split(',').count();
    assert!(lines.iter().all(|l| l.split(',').count() == cols));
}

#[test]
fn every_run_runs_the_real_programs() {
    let sc = scenario("f2 --days 1 --every 6h --guests 1 --stop-at none");
    let out = simulate(&sc).unwrap();
    // 4 runs (0, 6, 12, 18 h): inventory + apply each. No snapinfo: the first run finds no
    // snapshot, and the facts of the ones each apply makes come back from apply itself;
    // except for the periodic full re-read (once a disk's 12-24 h are up, one snapinfo call
    // reads them all again).
    let disks = (0..DISKS_PER_GUEST).map(|n| format!("{POOL}/data/vm-{FIRST_VMID}-disk-{n}"));
    let ages: Vec<i64> = disks.map(|d| crate::zfs::snapcache::max_age(&d)).collect();
    let refresh = ages.iter().any(|&a| a <= 18 * 3600);
    // Runs 3 and 4 prune (f2): one destroy.lua program each, after the snapshots (issue 16).
    assert_eq!(out.programs, 4 * 2 + 2 + u64::from(refresh), "{ages:?}");
}

/// What the report says, as an admin reads it (golden, the wall time fixed): `f100 h24 d7`
/// over 3 days reads `kept f100 h24 d3` (the policy's classes as retention counts them), with
/// `names f75 h24 d3` beside it; the default stop at day 100 is outside the 3 days and is
/// not announced as if it happened; the timeline says "3/3 running". Old code: `f75 h24 d3`
/// only (the policy looked ignored), "guest 102 stopped from 100d after the start", `run 3/3`.
#[test]
fn report_golden_kept_per_class_and_header() {
    let sc = scenario("f100 h24 d7 --days 3 --timeline-every 1");
    let out = simulate(&sc).unwrap();
    let text = render(&sc, &out, std::time::Duration::from_secs(1));
    assert!(text.contains("kept f100 h24 d3"), "{text}");
    assert!(text.contains("names f75 h24 d3"), "{text}");
    assert!(!text.contains("stopped from 100d"), "{text}");
    assert!(text.contains("3/3 running"), "{text}");
    insta::assert_snapshot!("simulate_report_3_days", text);
}

/// `h24 d7 w4 m12` over 60 days at 1h: each weekly class slot is filled (a monthly counts as
/// a weekly too): `kept h24 d7 w4 m3`, never the `w0`-looking name counts alone.
#[test]
fn weekly_kept_counts_monthlies_too() {
    let sc = scenario("h24 d7 w4 m12 --days 60 --every 1h --stop-at none --guests 1");
    let out = simulate(&sc).unwrap();
    let text = render(&sc, &out, std::time::Duration::from_secs(1));
    assert!(text.contains("kept h24 d7 w4 m3 "), "{text}");
}

/// The kept counts follow retention's rule exactly: a class counts every snapshot of its
/// rank or longer (`_stopped` as the shortest managed class), capped at its count; unmanaged
/// names count nowhere.
#[test]
fn kept_per_class_counts_rank_or_longer() {
    let p = crate::policy::Policy::parse(&["f4".into(), "h2".into(), "w3".into()]).unwrap();
    // f h d w m y stopped
    let c = [1, 1, 5, 1, 1, 0, 2];
    // f: f1+h1+w1+m? (m unmanaged) + stopped2 = 5 -> 4; h: h1+w1 = 2; w: 1.
    assert_eq!(kept_per_class(&c, &p), "f4 h2 w1");
}
