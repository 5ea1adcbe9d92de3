use super::plan::*;
use super::report::*;
use crate::naming::Dataset;
use crate::policy::Policy;
use proptest::prelude::*;
use std::collections::BTreeSet;

fn ds(s: &str) -> Dataset {
    Dataset::new(s).unwrap()
}

/// `autosnap_…` names that sort with `n` (hour `n` of a day, class from the letter).
fn our(n: u64, class: &str) -> String {
    format!(
        "autosnap_2026-01-{:02}_{:02}:00:00_{class}",
        1 + n / 24,
        n % 24
    )
}

fn snap(name: &str, guid: u64, txg: u64) -> Point {
    Point {
        name: name.into(),
        kind: PointKind::Snapshot,
        guid,
        createtxg: txg,
        creation: 1_767_225_600 + txg as i64 * 3600,
    }
}

fn bm(name: &str, guid: u64, txg: u64) -> Point {
    Point {
        kind: PointKind::Bookmark,
        ..snap(name, guid, txg)
    }
}

fn source(points: Vec<Point>) -> Source {
    Source {
        dataset: ds("rpool/data/vm-100-disk-0"),
        points,
        encrypted: false,
    }
}

fn target(snaps: Vec<Point>) -> Target {
    Target {
        dataset: ds("backup/pve1/vm-100-disk-0"),
        exists: true,
        snapshots: snaps,
        resume_token: None,
    }
}

fn none() -> Target {
    Target {
        exists: false,
        ..target(vec![])
    }
}

/// Steps as short text: `full X`, `-i F>T`, `-I F>T`, `resume`.
fn steps(p: &DiskPlan) -> Vec<String> {
    p.steps
        .iter()
        .map(|s| match s {
            Step::Resume { .. } => "resume".into(),
            Step::Full { to } => format!("full {to}"),
            Step::Incremental {
                from,
                to,
                intermediates,
                ..
            } => format!(
                "{} {}{}>{to}",
                if *intermediates { "-I" } else { "-i" },
                if from.kind == PointKind::Bookmark {
                    "#"
                } else {
                    "@"
                },
                from.name
            ),
        })
        .collect()
}

fn plan_of(s: &Source, t: &Target) -> DiskPlan {
    plan(s, t, Include::Ours, "20260105T000000Z")
}

#[test]
fn guest_disks_and_target_names() {
    for (leaf, want) in [
        ("vm-100-disk-0", true),
        ("subvol-200-disk-12", true),
        ("vm-100-disk-0-diverged-20260101T000000Z", false),
        ("vm--disk-0", false),
        ("vm-1-disk-", false),
        ("base-100-disk-0", false),
        ("vm-100-state-x", false),
        ("vm-1a-disk-0", false),
    ] {
        assert_eq!(is_guest_disk(leaf), want, "{leaf}");
    }
    let t = target_for(
        &ds("rpool/data"),
        &ds("backup/pve1"),
        &ds("rpool/data/sub/vm-1-disk-0"),
    );
    assert_eq!(t, Some(ds("backup/pve1/sub/vm-1-disk-0")));
    assert_eq!(
        target_for(
            &ds("rpool/data"),
            &ds("b"),
            &ds("rpool/database/vm-1-disk-0")
        ),
        None
    );
    assert_eq!(
        aside_name(&ds("b/vm-1-disk-0"), "X").unwrap().as_str(),
        "b/vm-1-disk-0-diverged-X"
    );
}

/// The table: source points, target snapshots → decision and steps.
#[test]
fn plans_table() {
    let a = our(0, "hourly");
    let b = our(1, "hourly");
    let c = our(2, "frequently");
    let d = our(3, "hourly");
    let rep = "__replicate_100-0_1767236400__";
    type Case = (
        &'static str,
        Vec<Point>,
        Option<Vec<Point>>,
        Decision,
        Vec<String>,
    );
    let cases: Vec<Case> = vec![
        (
            "first transfer: full of the oldest, then -I to the newest",
            vec![snap(&a, 1, 10), snap(&b, 2, 11), snap(&c, 3, 12)],
            None,
            Decision::Full,
            vec![
                format!("full {a}"),
                format!("-i @{a}>{b}"),
                format!("-i @{b}>{c}"),
            ],
        ),
        (
            "incremental from the common snapshot",
            vec![
                snap(&a, 1, 10),
                snap(&b, 2, 11),
                snap(&c, 3, 12),
                snap(&d, 4, 13),
            ],
            Some(vec![snap(&a, 1, 5)]),
            Decision::Incremental,
            vec![format!("-i @{a}>{b}"), format!("-I @{b}>{d}")],
        ),
        (
            "resume from a bookmark after the source rotated the snapshot away",
            vec![
                bm(&a, 1, 10),
                bm(&b, 2, 11),
                snap(&c, 3, 12),
                snap(&d, 4, 13),
            ],
            Some(vec![snap(&a, 1, 5), snap(&b, 2, 6)]),
            Decision::Incremental,
            vec![format!("-i #{b}>{c}"), format!("-i @{c}>{d}")],
        ),
        (
            "a newer common bookmark beats an older common snapshot (syncoid 2.2's rollback)",
            vec![snap(&a, 1, 10), bm(&b, 2, 11), snap(&c, 3, 12)],
            Some(vec![snap(&a, 1, 5), snap(&b, 2, 6)]),
            Decision::Incremental,
            vec![format!("-i #{b}>{c}")],
        ),
        (
            "a snapshot is preferred to its own bookmark",
            vec![
                snap(&a, 1, 10),
                bm(&a, 1, 10),
                snap(&b, 2, 11),
                snap(&c, 3, 12),
            ],
            Some(vec![snap(&a, 1, 5)]),
            Decision::Incremental,
            vec![format!("-i @{a}>{b}"), format!("-i @{b}>{c}")],
        ),
        (
            "foreign snapshots between are hopped over with -i, never sent",
            vec![
                snap(&a, 1, 10),
                snap(&b, 2, 11),
                snap(rep, 9, 12),
                snap(&c, 3, 13),
                snap(&d, 4, 14),
            ],
            Some(vec![snap(&a, 1, 5)]),
            Decision::Incremental,
            vec![
                format!("-i @{a}>{b}"),
                format!("-i @{b}>{c}"),
                format!("-i @{c}>{d}"),
            ],
        ),
        (
            "up to date",
            vec![snap(&a, 1, 10), snap(&b, 2, 11), snap(rep, 9, 12)],
            Some(vec![snap(&a, 1, 5), snap(&b, 2, 6)]),
            Decision::UpToDate,
            vec![],
        ),
        (
            "diverged: the target's newest are not on the source; the base is the common \
             snapshot, never the bookmark (it may be on a rolled-back branch)",
            vec![snap(&a, 1, 10), bm(&b, 2, 11), snap(&c, 3, 20)],
            Some(vec![snap(&a, 1, 5), snap(&b, 2, 6), snap(&d, 77, 7)]),
            Decision::Diverged,
            vec![format!("-i @{a}>{c}")],
        ),
        (
            "nothing in common: refused, never overwritten",
            vec![snap(&c, 3, 12)],
            Some(vec![snap(&a, 1, 5)]),
            Decision::Refused,
            vec![],
        ),
        (
            "a target without snapshots is never overwritten",
            vec![snap(&c, 3, 12)],
            Some(vec![]),
            Decision::Refused,
            vec![],
        ),
        (
            "nothing of ours on the source",
            vec![snap(rep, 9, 12)],
            None,
            Decision::NothingToSend,
            vec![],
        ),
    ];
    for (what, src, tgt, decision, want) in cases {
        let t = tgt.map_or_else(none, target);
        let p = plan_of(&source(src), &t);
        assert_eq!(
            (p.decision, steps(&p)),
            (decision, want),
            "{what}: {}",
            p.reason
        );
    }
}

#[test]
fn diverged_plan_names_what_it_keeps() {
    let (a, b, c, d) = (
        our(0, "hourly"),
        our(1, "hourly"),
        our(2, "hourly"),
        our(3, "hourly"),
    );
    let p = plan_of(
        &source(vec![snap(&a, 1, 10), snap(&c, 3, 20)]),
        &target(vec![snap(&a, 1, 5), snap(&b, 66, 6), snap(&d, 77, 7)]),
    );
    let s = p.set_aside.as_ref().unwrap();
    assert_eq!(
        s.aside.as_str(),
        "backup/pve1/vm-100-disk-0-diverged-20260105T000000Z"
    );
    assert_eq!(
        (s.common.as_str(), s.diverged.clone()),
        (a.as_str(), vec![b, d])
    );
    assert!(p.reason.starts_with("DIVERGED"), "{}", p.reason);
    // Up to date with target-only snapshots: kept, warned, nothing set aside.
    let p = plan_of(
        &source(vec![snap(&a, 1, 10)]),
        &target(vec![snap(&a, 1, 5), snap("manual", 66, 6)]),
    );
    assert_eq!(
        (p.decision, p.set_aside.is_none()),
        (Decision::UpToDate, true)
    );
    assert!(p.warnings[0].contains("manual"), "{:?}", p.warnings);
}

/// After an HA failover the old owner is rolled back by a `recv -F`, which leaves the bookmark
/// of a discarded snapshot behind with the guid the target has: with a diverged target that
/// bookmark must not be the base (the diff would miss what the rollback discarded), only a
/// common snapshot that still exists.
#[test]
fn a_diverged_target_never_resumes_from_a_bookmark() {
    let (a, b, c, d) = (
        our(0, "hourly"),
        our(1, "hourly"),
        our(2, "hourly"),
        our(3, "frequently"),
    );
    let p = plan_of(
        &source(vec![snap(&a, 1, 10), bm(&b, 2, 11), snap(&c, 3, 20)]),
        &target(vec![snap(&a, 1, 5), snap(&b, 2, 6), snap(&d, 77, 7)]),
    );
    let common = p.common.as_ref().unwrap();
    assert_eq!(
        (common.name.as_str(), common.kind),
        (a.as_str(), PointKind::Snapshot)
    );
    assert_eq!(p.set_aside.as_ref().unwrap().diverged, vec![b.clone(), d]);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains(&b) && w.contains("not trusted")),
        "{:?}",
        p.warnings
    );
    // Not diverged: the newer common bookmark is the base (the outage case).
    let p = plan_of(
        &source(vec![snap(&a, 1, 10), bm(&b, 2, 11), snap(&c, 3, 20)]),
        &target(vec![snap(&a, 1, 5), snap(&b, 2, 6)]),
    );
    let common = p.common.as_ref().unwrap();
    assert_eq!(
        (common.name.as_str(), common.kind),
        (b.as_str(), PointKind::Bookmark)
    );
}

#[test]
fn resume_token_first_and_all_snapshots_option() {
    let a = our(0, "hourly");
    let mut t = target(vec![snap(&a, 1, 5)]);
    t.resume_token = Some("1-abc".into());
    let p = plan_of(&source(vec![snap(&a, 1, 10), snap("x", 2, 11)]), &t);
    assert_eq!(
        (p.decision, steps(&p)),
        (Decision::Resume, vec!["resume".to_string()])
    );
    t.resume_token = None;
    let p = plan(
        &source(vec![snap(&a, 1, 10), snap("x", 2, 11), snap("y", 3, 12)]),
        &t,
        Include::All,
        "s",
    );
    assert_eq!(steps(&p), [format!("-i @{a}>x"), "-i @x>y".to_string()]);
}

#[test]
fn commands_are_argv_vectors() {
    let (a, b, c) = (our(0, "hourly"), our(1, "hourly"), our(2, "hourly"));
    let mut s = source(vec![bm(&a, 1, 10), snap(&b, 2, 11), snap(&c, 3, 12)]);
    s.encrypted = true;
    let p = plan_of(&s, &target(vec![snap(&a, 1, 5)]));
    assert!(p.raw);
    assert_eq!(
        send_args(&p.steps[0], &p.source, p.raw),
        [
            "send",
            "-p",
            "-w",
            "-i",
            &format!("rpool/data/vm-100-disk-0#{a}"),
            &format!("rpool/data/vm-100-disk-0@{b}")
        ]
    );
    assert_eq!(
        send_args(
            &Step::Resume {
                token: "1-x".into()
            },
            &p.source,
            true
        ),
        ["send", "-t", "1-x"]
    );
    assert_eq!(
        recv_args(&p.target),
        ["recv", "-s", "-u", "backup/pve1/vm-100-disk-0"]
    );
}

#[test]
fn retention_at_the_target_never_destroys_the_common_snapshot() {
    let keep = Policy::parse(&["h2".to_string()]).unwrap();
    let snaps: Vec<Point> = (0..5)
        .map(|i| snap(&our(i, "hourly"), i + 1, 10 + i))
        .chain([snap("manual", 99, 9), snap(&our(6, "daily"), 50, 8)])
        .collect();
    let mut protect = BTreeSet::new();
    protect.insert(our(0, "hourly"));
    let got: Vec<(String, bool)> = retention(keep.keep(), &snaps, &protect)
        .into_iter()
        .map(|e| (e.name, e.destroy))
        .collect();
    assert_eq!(
        got,
        [
            (our(0, "hourly"), false),
            (our(1, "hourly"), true),
            (our(2, "hourly"), true),
            (our(3, "hourly"), false),
            (our(4, "hourly"), false),
            (our(6, "daily"), false), // d not in --keep: unmanaged
        ]
    );
    assert_eq!(
        newest_common(&[bm(&our(1, "hourly"), 2, 3)], &snaps),
        Some(our(1, "hourly"))
    );
}

#[test]
fn report_exit_codes_and_renderings() {
    let a = our(0, "hourly");
    let p = plan_of(&source(vec![snap(&a, 1, 10)]), &none());
    let mut ok = DiskOutcome::new(p.clone());
    ok.received = 1;
    let mut r = PullReport {
        now: 1_767_225_600,
        from: "root@pve1".into(),
        dry_run: true,
        disks: vec![ok],
        errors: vec![],
    };
    assert_eq!(r.exit_code(), 0);
    let text = render_text(&r, false);
    assert!(
        text.contains(&format!(
            "would run: zfs send -p rpool/data/vm-100-disk-0@{a} | zfs recv -s -u backup/pve1/vm-100-disk-0"
        )),
        "{text}"
    );
    let prom = render_prometheus(&r);
    assert!(prom.contains("pve_zfs_snap_pull_disk_state{source=\"rpool/data/vm-100-disk-0\",target=\"backup/pve1/vm-100-disk-0\",state=\"ok\"} 1"), "{prom}");
    let parsed = prometheus_parse::Scrape::parse(prom.lines().map(|l| Ok(l.to_string()))).unwrap();
    assert!(!parsed.samples.is_empty());
    let mut failed = DiskOutcome::new(p);
    failed.error = Some("ssh: connect refused".into());
    r.disks.push(failed);
    assert_eq!(r.exit_code(), 1);
    let v: serde_json::Value = serde_json::from_str(&render_json(&r)).unwrap();
    assert_eq!(v["disks"][1]["error"], "ssh: connect refused");
    assert_eq!(v["disks"][0]["plan"]["decision"], "full");
    r.disks.clear();
    r.errors.push("cannot list".into());
    assert_eq!(r.exit_code(), 1);
}

/// Issue 21: a diverged target that was set aside (the real pull, no error) is exit 1 and
/// `…_last_run_success 0`, with `state="diverged"`: C's newest copy was not simply extended,
/// an admin must look at the aside copy the text names. Old code: exit 0, success 1.
#[test]
fn a_diverged_disk_set_aside_is_partial_not_ok() {
    let (a, b, c, d) = (
        our(0, "hourly"),
        our(1, "hourly"),
        our(2, "hourly"),
        our(3, "hourly"),
    );
    let p = plan_of(
        &source(vec![snap(&a, 1, 10), snap(&b, 2, 11), snap(&c, 3, 20)]),
        &target(vec![snap(&a, 1, 5), snap(&b, 2, 6), snap(&d, 77, 7)]),
    );
    assert_eq!(p.decision, Decision::Diverged);
    let aside = p.set_aside.as_ref().unwrap().aside.to_string();
    let mut done = DiskOutcome::new(p);
    done.received = 1;
    done.set_aside = Some(aside.clone());
    let r = PullReport {
        now: 1_767_225_600,
        from: "root@pve1".into(),
        dry_run: false,
        disks: vec![done],
        errors: vec![],
    };
    assert_eq!(r.exit_code(), crate::exit::PARTIAL);
    let text = render_text(&r, false);
    assert!(
        text.contains(&format!("they are kept on {aside}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("keeps the target as {aside}")),
        "{text}"
    );
    let prom = render_prometheus(&r);
    assert!(
        prom.contains("\npve_zfs_snap_pull_last_run_success 0\n"),
        "{prom}"
    );
    assert!(prom.contains("state=\"diverged\"} 1"), "{prom}");
}

// The property: whatever the source and target hold, a plan never loses a target snapshot.
// Receives never use `-F`, so the only way a target snapshot could go is a receive into a
// target whose newest snapshot is not the stream's start: the plan must then have set the
// target aside (keeping every snapshot after the common point) or refused. And every
// incremental starts at the common point or at a snapshot an earlier step sent.

fn arb_case() -> impl Strategy<Value = (Vec<Point>, Vec<Point>, bool)> {
    // A shared history of up to 12 snapshots; the source keeps each as a snapshot, a
    // bookmark or nothing, then may add its own; the target has a prefix of the history
    // (maybe with gaps) and may add its own.
    (
        1usize..12,
        proptest::collection::vec(0u8..3, 12),
        proptest::collection::vec(any::<bool>(), 12),
        0usize..12,
        0usize..4,
        0usize..4,
        any::<bool>(),
        proptest::collection::vec(any::<bool>(), 4),
    )
        .prop_map(
            |(n, src_keep, tgt_has, tgt_len, src_own, tgt_own, exists, foreign)| {
                let mut src = Vec::new();
                let mut tgt = Vec::new();
                for i in 0..n {
                    let name = our(i as u64, "hourly");
                    let g = 1000 + i as u64;
                    match src_keep[i] {
                        0 => src.push(snap(&name, g, 10 + i as u64)),
                        1 => src.push(bm(&name, g, 10 + i as u64)),
                        _ => {}
                    }
                    if exists && i < tgt_len && tgt_has[i] {
                        tgt.push(snap(&name, g, 100 + i as u64));
                    }
                }
                for (j, foreign) in foreign.iter().enumerate().take(src_own) {
                    let name = if *foreign {
                        format!("__replicate_{j}__")
                    } else {
                        our(30 + j as u64, "frequently")
                    };
                    src.push(snap(&name, 5000 + j as u64, 50 + j as u64));
                }
                for j in 0..tgt_own {
                    tgt.push(snap(
                        &our(60 + j as u64, "hourly"),
                        9000 + j as u64,
                        200 + j as u64,
                    ));
                }
                (src, tgt, exists || tgt_own > 0)
            },
        )
}

proptest! {
    #[test]
    fn never_loses_a_target_snapshot((src, tgt, exists) in arb_case()) {
        let s = source(src.clone());
        let t = Target { exists, snapshots: tgt.clone(), ..target(vec![]) };
        let p = plan_of(&s, &t);
        // The target as it will be named after a set-aside: snapshots up to the common point.
        let mut at_target: Vec<u64> = match (&p.set_aside, p.decision) {
            (_, Decision::Refused | Decision::UpToDate | Decision::NothingToSend) => {
                prop_assert!(p.steps.is_empty());
                return Ok(());
            }
            (Some(a), Decision::Diverged) => {
                let common = tgt.iter().find(|x| x.name == a.common).unwrap();
                // Everything after the common point is kept on the aside, by name.
                let after: Vec<&String> = tgt.iter()
                    .filter(|x| x.createtxg > common.createtxg).map(|x| &x.name).collect();
                prop_assert_eq!(after.len(), a.diverged.len());
                for x in after { prop_assert!(a.diverged.contains(x)); }
                let mut v: Vec<&Point> = tgt.iter()
                    .filter(|x| x.createtxg <= common.createtxg).collect();
                v.sort_by_key(|x| x.createtxg);
                v.iter().map(|x| x.guid).collect()
            }
            (None, Decision::Full) => {
                prop_assert!(tgt.is_empty());
                vec![]
            }
            (None, Decision::Incremental) => {
                let mut v: Vec<&Point> = tgt.iter().collect();
                v.sort_by_key(|x| x.createtxg);
                v.iter().map(|x| x.guid).collect()
            }
            (sa, d) => {
                prop_assert!(false, "unexpected {:?} with set-aside {:?}", d, sa);
                unreachable!()
            }
        };
        // Play the steps: each receive must start at the target's newest snapshot (no -F).
        let by_name = |n: &str| src.iter().find(|x| x.name == n && x.kind == PointKind::Snapshot).unwrap();
        for step in &p.steps {
            match step {
                Step::Full { to } => {
                    prop_assert!(at_target.is_empty());
                    at_target.push(by_name(to).guid);
                }
                Step::Incremental { from, to, intermediates, .. } => {
                    prop_assert_eq!(at_target.last().copied(), Some(from.guid));
                    prop_assert!(!*intermediates || from.kind == PointKind::Snapshot);
                    let to = by_name(to);
                    prop_assert!(to.createtxg > from.createtxg);
                    if *intermediates {
                        // -I sends every source snapshot between: all must travel.
                        for x in src.iter().filter(|x| x.kind == PointKind::Snapshot
                            && x.createtxg > from.createtxg && x.createtxg < to.createtxg) {
                            prop_assert!(Include::Ours.wants(&x.name), "{} would travel", x.name);
                            at_target.push(x.guid);
                        }
                    }
                    at_target.push(to.guid);
                }
                Step::Resume { .. } => prop_assert!(false, "no token given"),
            }
        }
        // Afterwards the target has the source's newest wanted snapshot.
        let newest = src.iter().filter(|x| x.kind == PointKind::Snapshot && Include::Ours.wants(&x.name))
            .max_by_key(|x| x.createtxg).unwrap();
        prop_assert_eq!(at_target.last().copied(), Some(newest.guid));
    }
}
