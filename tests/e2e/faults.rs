//! Reliability under the faults a real host cannot stage on demand (issue 16), injected by
//! the emulator (`ZFS_EMU_FAULTS`, see `zfs-emu --help`): a full pool (ENOSPC at check and at
//! sync), an unreadable dataset (EIO), a pool that vanishes between inventory and apply, a
//! `zfs program` killed midway (the kernel keeps what it did) and a `zfs` that fails to start.
//!
//! Every case runs the real binary on the `basic` fixture and compares with a control world
//! that ran the same plan without the fault. It asserts the exit code, that stderr names the
//! pool or dataset (not the wording, which is being reworked), that nothing was lost (every
//! snapshot of ours that existed before and that the control kept is still there, foreign
//! snapshots untouched), and that the next run without the fault converges on the control.

use crate::harness::{Env, RUNNING_DISKS, t};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeSet;

const POLICY: &[&str] = &["f4", "h6", "d3"];
/// The faulted run's policy: keeps one frequent, so the run also destroys.
const CUT: &[&str] = &["f1", "h6", "d3"];
const FOREIGN: [&str; 2] = [
    "rpool/data/vm-100-disk-0@before-upgrade",
    "tank/pve/ct/subvol-200-disk-0@manual",
];

fn t0() -> DateTime<Utc> {
    t("2026-11-21T00:00:00Z")
}

/// The faulted run's time: an hourly is due and two frequents per disk are beyond `f1`.
fn t1() -> DateTime<Utc> {
    t0() + Duration::minutes(60)
}

fn names(env: &Env) -> BTreeSet<String> {
    env.objects().into_iter().map(|(n, _)| n).collect()
}

/// `basic` after a daily and three frequent runs, with two foreign snapshots.
fn prepared() -> Env {
    let mut env = Env::basic();
    for m in [0, 15, 30, 45] {
        env.run_ok(t0() + Duration::minutes(m), POLICY);
    }
    env.tick(Duration::days(400));
    for f in FOREIGN {
        env.zfs(&["snapshot", f]);
    }
    env
}

/// What the `CUT` run at `t1` leaves without any fault.
fn control() -> BTreeSet<String> {
    let env = prepared();
    env.run_ok(t1(), CUT);
    names(&env)
}

/// The snapshot of `disk` the run at `t1` makes.
fn new_snapshot(disk: &str) -> String {
    format!("{disk}@autosnap_2026-11-21_01:00:00_hourly")
}

/// Nothing lost: what existed before and the control kept is still there, and so is every
/// foreign snapshot; nothing appeared that the control does not have.
fn assert_nothing_lost(
    case: &str,
    before: &BTreeSet<String>,
    after: &BTreeSet<String>,
    control: &BTreeSet<String>,
) {
    let lost: Vec<&String> = before
        .intersection(control)
        .filter(|n| !after.contains(*n))
        .collect();
    assert!(lost.is_empty(), "{case}: lost {lost:?}");
    for f in FOREIGN {
        assert!(after.contains(f), "{case}: foreign {f} gone");
    }
    let unknown: Vec<&String> = after
        .iter()
        .filter(|n| !control.contains(*n) && !before.contains(*n))
        .collect();
    assert!(unknown.is_empty(), "{case}: unexpected {unknown:?}");
}

/// Runs `CUT` at `t1` under `spec`; checks the exit code, the names on stderr and that
/// nothing was lost; then reruns without the fault and checks it converges on the control.
/// Returns the objects right after the faulted run.
fn faulted_case(
    spec: &str,
    want_code: i32,
    named: &[&str],
    control: &BTreeSet<String>,
) -> BTreeSet<String> {
    let env = prepared();
    let before = names(&env);
    let (code, out, err) = env.run_faulted(t1(), CUT, spec);
    assert_eq!(code, want_code, "{spec}: exit code\n{out}\n{err}");
    for n in named {
        assert!(err.contains(n), "{spec}: stderr does not name {n}:\n{err}");
    }
    let after = names(&env);
    assert_nothing_lost(spec, &before, &after, control);
    let (code, out, err) = env.run(t1(), CUT);
    assert_eq!(code, 0, "{spec}: the rerun without the fault\n{out}\n{err}");
    assert_eq!(&names(&env), control, "{spec}: the rerun converges");
    after
}

#[test]
fn a_full_or_unreadable_pool_fails_its_disks_loudly_and_loses_nothing() {
    let control = control();
    for d in RUNNING_DISKS {
        assert!(control.contains(&new_snapshot(d)), "control: {d}");
    }
    let tank_disk = "tank/pve/ct/subvol-200-disk-0";
    let rpool_disks: Vec<&str> = RUNNING_DISKS
        .into_iter()
        .filter(|d| d.starts_with("rpool/"))
        .collect();
    // (spec, datasets named on stderr, rpool disks that must lack their snapshot)
    let cases: &[(&str, &[&str], usize)] = &[
        // checks fail: no snapshot on rpool; its destroys still run but the newest one per
        // disk (a_full_pool_still_destroys_what_expired)
        ("enospc:rpool", &["rpool"], 4),
        // checks pass, the snapshots fail at sync time
        ("enospc-sync:rpool", &["rpool"], 4),
        // 1 MiB: the checks and the first syncs fit, the last snapshot does not
        ("enospc:rpool:1M", &["rpool"], 1),
        // a dataset that cannot be read
        (
            "eio:rpool/data/vm-100-disk-1",
            &["rpool/data/vm-100-disk-1"],
            1,
        ),
    ];
    for (spec, named, missing) in cases {
        let after = faulted_case(spec, 1, named, &control);
        assert!(after.contains(&new_snapshot(tank_disk)), "{spec}: tank");
        let lacking = rpool_disks
            .iter()
            .filter(|d| !after.contains(&new_snapshot(d)))
            .count();
        assert!(lacking >= *missing, "{spec}: {lacking} rpool disks lack it");
    }
}

#[test]
fn a_pool_that_vanishes_at_any_program_fails_loudly_and_loses_nothing() {
    let control = control();
    // How many programs a clean run makes (a fault that never fires counts them).
    let env = prepared();
    let (code, ..) = env.run_faulted(t1(), CUT, "vanish-after:1000:tank");
    assert_eq!(code, 0);
    let (programs, _) = env.fault_counters();
    assert!(programs >= 2, "inventory and apply at least: {programs}");
    // N = 1: gone before the inventory; in between: after the inventory, before or during
    // the apply programs; N = programs + 1: never.
    for n in 1..=programs + 1 {
        let spec = format!("vanish-after:{n}:tank");
        let env = prepared();
        let before = names(&env);
        let (code, out, err) = env.run_faulted(t1(), CUT, &spec);
        let after = names(&env);
        assert_nothing_lost(&spec, &before, &after, &control);
        let complete = RUNNING_DISKS
            .iter()
            .all(|d| after.contains(&new_snapshot(d)));
        if n == 1 || !complete {
            assert_eq!(code, 1, "{spec}\n{out}\n{err}");
            assert!(
                err.contains("tank"),
                "{spec}: stderr does not name tank:\n{err}"
            );
        }
        if n > programs {
            assert_eq!(code, 0, "{spec}: never fired\n{out}\n{err}");
        }
        for d in RUNNING_DISKS.iter().filter(|d| d.starts_with("rpool/")) {
            assert!(after.contains(&new_snapshot(d)), "{spec}: {d}");
        }
        let (code, ..) = env.run(t1(), CUT);
        assert_eq!(code, 0, "{spec}: rerun");
        assert_eq!(names(&env), control, "{spec}: the rerun converges");
    }
}

#[test]
fn a_program_killed_after_any_sync_call_keeps_its_changes_and_the_next_run_converges() {
    let control = control();
    let env = prepared();
    let (code, ..) = env.run_faulted(t1(), CUT, "kill-after:100000");
    assert_eq!(code, 0);
    let (_, sync_calls) = env.fault_counters();
    assert!(
        sync_calls >= 15,
        "5 snapshots and 10 destroys at least: {sync_calls}"
    );
    // K = 0: killed before its first change; K = sync_calls: killed once everything was
    // done (only the output is lost); every point in between.
    let mut partial = 0;
    for k in 0..=sync_calls {
        let spec = format!("kill-after:{k}");
        let env = prepared();
        let before = names(&env);
        let (code, out, err) = env.run_faulted(t1(), CUT, &spec);
        assert_eq!(code, 1, "{spec}\n{out}\n{err}");
        assert!(
            err.contains("rpool") || err.contains("tank"),
            "{spec}: stderr names no pool:\n{err}"
        );
        let after = names(&env);
        assert_nothing_lost(&spec, &before, &after, &control);
        if after != before && after != control {
            partial += 1;
        }
        let (code, out, err) = env.run(t1(), CUT);
        assert_eq!(code, 0, "{spec}: the rerun\n{out}\n{err}");
        assert_eq!(
            snapshots(&names(&env)),
            snapshots(&control),
            "{spec}: the rerun converges"
        );
    }
    assert!(partial > 0, "some kill left a partial state");
}

/// Only the snapshots of a set of names (no bookmarks).
fn snapshots(all: &BTreeSet<String>) -> BTreeSet<&String> {
    all.iter().filter(|n| n.contains('@')).collect()
}

/// Found by the kill sweep: a program killed between a snapshot and its bookmark leaves the
/// snapshot without its bookmark, and no later run makes it (the planner bookmarks only the
/// snapshots it creates). Open: a repair must agree with bookmark retention and the history
/// proptest (tried and reverted in issue 16's session; see the issue note).
#[test]
#[ignore = "OPEN BUG (issue 16 note): a bookmark missed by a killed apply is never made"]
fn a_bookmark_missed_by_a_killed_program_is_made_by_the_next_run() {
    let control = control();
    let env = prepared();
    let (code, ..) = env.run_faulted(t1(), CUT, "kill-after:1");
    assert_eq!(code, 1);
    let (code, ..) = env.run(t1(), CUT);
    assert_eq!(code, 0);
    assert_eq!(names(&env), control, "bookmarks converge too");
}

#[test]
fn a_zfs_that_cannot_start_changes_nothing_and_fails_the_pools() {
    let control = control();
    for (spec, named) in [
        ("fail-exec:program-sync", &["rpool", "tank"][..]),
        ("fail-exec:program", &["rpool", "tank"][..]),
    ] {
        let env = prepared();
        let before = names(&env);
        let (code, out, err) = env.run_faulted(t1(), CUT, spec);
        assert_eq!(code, 1, "{spec}\n{out}\n{err}");
        for n in named {
            assert!(err.contains(n), "{spec}: stderr does not name {n}:\n{err}");
        }
        assert_eq!(names(&env), before, "{spec}: nothing changed");
        let (code, ..) = env.run(t1(), CUT);
        assert_eq!(code, 0, "{spec}: rerun");
        assert_eq!(names(&env), control, "{spec}: the rerun converges");
    }
}

#[test]
fn a_bad_fault_spec_is_an_emulator_usage_error() {
    let env = Env::basic();
    let (code, out, err) = env.run_faulted(t1(), CUT, "enospc:rpool/data");
    assert_ne!(code, 0, "{out}\n{err}");
    assert!(err.contains("ZFS_EMU_FAULTS"), "{err}");
    let o = env
        .cmd(&env.bin.join("zfs").display().to_string())
        .args(["version"])
        .env("ZFS_EMU_FAULTS", "kill-after:soon")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("kill-after:soon"));
}

/// Ours on `disk` (snapshots only), by name.
fn ours_on(all: &BTreeSet<String>, disk: &str) -> Vec<String> {
    all.iter()
        .filter(|n| n.starts_with(&format!("{disk}@autosnap_")))
        .cloned()
        .collect()
}

/// Issue 21: a full pool whose snapshots fail with ENOSPC (at check or at sync) still gets
/// the destroys of what expired, which is what frees space: all of them, since the plan keeps
/// other snapshots of ours on every disk (the daily), so none can lose its last one; the next
/// run without the fault converges.
#[test]
fn a_full_pool_still_destroys_what_expired() {
    let control = control();
    let rpool_disks: Vec<&str> = RUNNING_DISKS
        .into_iter()
        .filter(|d| d.starts_with("rpool/"))
        .collect();
    for spec in ["enospc:rpool", "enospc-sync:rpool"] {
        let env = prepared();
        let before = names(&env);
        let (code, out, err) = env.run_faulted(t1(), CUT, spec);
        assert_eq!(code, 1, "{spec}\n{out}\n{err}");
        assert!(err.contains("ENOSPC"), "{spec}: {err}");
        let after = names(&env);
        assert_nothing_lost(spec, &before, &after, &control);
        for d in &rpool_disks {
            let (b, a, c) = (
                ours_on(&before, d),
                ours_on(&after, d),
                ours_on(&control, d),
            );
            assert!(
                !a.contains(&new_snapshot(d)),
                "{spec}: {d} got its snapshot"
            );
            // The control destroyed some of them; so did the faulted run, every one.
            let expired: Vec<&String> = b.iter().filter(|n| !c.contains(n)).collect();
            assert!(expired.len() >= 2, "{spec}: {d}: {expired:?}");
            let destroyed: Vec<&String> = b.iter().filter(|n| !a.contains(n)).collect();
            assert_eq!(destroyed, expired, "{spec}: {d}: before {b:?} after {a:?}");
            assert!(!a.is_empty(), "{spec}: {d} kept nothing");
        }
        let (code, out, err) = env.run(t1(), CUT);
        assert_eq!(code, 0, "{spec}: rerun\n{out}\n{err}");
        assert_eq!(names(&env), control, "{spec}: the rerun converges");
    }
}

/// Issue 21, the steady state: under `f2` exactly one snapshot per disk expires per run. On a
/// full pool the run's snapshot fails with ENOSPC and that one expired snapshot must still be
/// destroyed (the disk keeps its other one), or nothing is ever freed and every later run
/// fails alike; the next run, with room again, snapshots as usual. Under `f1` (no other
/// snapshot of ours) the expired one is the disk's last and stays, reported as kept with the
/// reason, not as a failure.
#[test]
fn a_full_pool_in_the_steady_state_frees_space_and_recovers() {
    let env = Env::basic();
    let steady = &["f2"];
    for m in [15, 30] {
        env.run_ok(t0() + Duration::minutes(m), steady);
    }
    let disks: Vec<&str> = RUNNING_DISKS
        .into_iter()
        .filter(|d| d.starts_with("rpool/"))
        .collect();
    let snap = |hm: &str| format!("autosnap_2026-11-21_{hm}:00_frequently");
    for d in &disks {
        assert_eq!(env.snaps(d), [snap("00:15"), snap("00:30")], "{d}");
    }
    let (code, out, err) =
        env.run_faulted(t0() + Duration::minutes(45), &["-v", "f2"], "enospc:rpool");
    assert_eq!(code, 1, "{out}\n{err}");
    for d in &disks {
        assert_eq!(
            env.snaps(d),
            [snap("00:30")],
            "{d}: 00:15 destroyed\n{out}\n{err}"
        );
    }
    assert!(
        err.contains("on rpool: snapshot rpool/data/vm-100-disk-0@")
            && err.contains("check failed (out of space (ENOSPC))"),
        "{err}"
    );
    assert!(!err.contains("CheckFailed"), "{err}");
    // Room again: the steady state resumes.
    let out = env.run_ok(t0() + Duration::minutes(60), steady);
    for d in &disks {
        assert_eq!(env.snaps(d), [snap("00:30"), snap("01:00")], "{d}\n{out}");
    }

    // f1: the one expired snapshot is the disk's only one: it stays, said why, not a failure.
    let (code, out, err) =
        env.run_faulted(t0() + Duration::minutes(75), &["-v", "f1"], "enospc:rpool");
    assert_eq!(code, 1, "{out}\n{err}");
    for d in &disks {
        assert_eq!(env.snaps(d), [snap("01:00")], "{d}\n{out}\n{err}");
    }
    let all = format!("{out}{err}");
    assert!(
        all.contains("kept (the disk's only snapshot while the new one failed (ENOSPC))"),
        "{all}"
    );
    assert!(
        !err.lines().any(|l| l.contains("on rpool: destroy ")),
        "a held-back destroy is not a failure: {err}"
    );
}
