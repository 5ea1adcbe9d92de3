//! Bookmarks on replicas (issue 19, "Bookmarks where C pulls from"): bookmarks do not travel
//! with `zfs send -R`, so each node bookmarks the `autosnap_` snapshots it received for the
//! guests of other nodes, under the run's bookmark policy and retention, and writes nothing
//! else there.

use crate::harness::{Env, RUNNING_DISKS, t};
use chrono::{DateTime, Duration, Utc};

/// VM 300's config is on pve2; the runs are pve1's: its disk here is a replica.
const R: &str = "rpool/data/vm-300-disk-0";

/// Makes `R@autosnap_<at>_<class>` as a receive would (creation = the emulator's clock).
fn receive(env: &mut Env, at: DateTime<Utc>, class: &str) -> String {
    env.clock = at.timestamp();
    let name = format!("autosnap_{}_{class}", at.format("%Y-%m-%d_%H:%M:%S"));
    env.zfs(&["snapshot", &format!("{R}@{name}")]);
    name
}

/// The bookmarks of `R`, sorted by name.
fn bookmarks(env: &Env) -> Vec<String> {
    let mut b = env.bookmarks(R);
    b.sort();
    b
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Every property of `R` with its source: a replica's properties are never written.
fn props(env: &Env) -> String {
    env.zfs(&["get", "-H", "-p", "-o", "property,value,source", "all", R])
}

#[test]
fn a_replica_bookmarks_its_received_snapshots_and_keeps_them_per_retention() {
    let mut env = Env::basic();
    env.zfs(&["set", "--received", "label:running=pve2", R]);
    // What pve2's runs made and PVE replication brought here: frequents and hourlies (the
    // owner's bookmarks did not travel), plus a replication snapshot and bookmarks not ours.
    let start = t("2026-11-21T05:00:00Z");
    let mut hourly = Vec::new();
    let mut frequent = Vec::new();
    for h in 0..5 {
        let at = start + Duration::hours(h);
        hourly.push(receive(&mut env, at, "hourly"));
        frequent.push(receive(&mut env, at + Duration::minutes(15), "frequently"));
    }
    env.zfs(&["snapshot", &format!("{R}@__replicate_300-0_1763708400__")]);
    for b in ["mybookmark", "autosnap_garbage"] {
        env.zfs(&[
            "bookmark",
            &format!("{R}@{}", hourly[0]),
            &format!("{R}#{b}"),
        ]);
    }
    let snaps_before = env.snaps(R);
    let props_before = props(&env);

    // f4 h2: bookmarks h4 by default, none of frequent snapshots.
    let keep = ["f4", "h2"];
    let now = t("2026-11-21T10:00:00Z");
    let dry = env.run_ok(now, &["--dry-run", keep[0], keep[1]]);
    for h in &hourly[1..] {
        let line = format!("replica {R} (guest 300 on pve2): bookmark {h}\n");
        assert!(dry.contains(&line), "{line:?} not in:\n{dry}");
    }
    assert!(
        dry.contains("replicas of guests on other nodes: 4 bookmark(s), 0 bookmark destroy(s)"),
        "{dry}"
    );
    let replica_lines: Vec<&str> = dry.lines().filter(|l| l.starts_with("replica ")).collect();
    assert_eq!(replica_lines.len(), 4, "{dry}");
    assert!(
        replica_lines
            .iter()
            .all(|l| !l.contains(&hourly[0]) && !l.contains("frequently")),
        "{dry}"
    );
    assert_eq!(bookmarks(&env), ["autosnap_garbage", "mybookmark"]);

    let metrics = env.dir.path().join("pve-zfs-snap.prom");
    let m = metrics.display().to_string();
    let json = env.run_ok(now, &["--json", "--metrics-file", &m, keep[0], keep[1]]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["totals"]["replica_bookmarks_created"], 4, "{json}");
    assert_eq!(v["totals"]["failed"], 0, "{json}");
    let items = v["replicas"][0]["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|i| i["vmid"] == 300
        && i["action"]["op"] == "bookmark"
        && i["outcome"]["status"] == "ok"));
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains("\npve_zfs_snap_last_run_replica_bookmarks{action=\"created\"} 4\n"),
        "{text}"
    );
    let mut want = vec!["mybookmark".to_string(), "autosnap_garbage".to_string()];
    want.extend(hourly[1..].iter().cloned());
    assert_eq!(bookmarks(&env), sorted(want.clone()));
    // Bookmarks only: the snapshots and properties of the replica are as received.
    assert_eq!(env.snaps(R), snaps_before);
    assert_eq!(props(&env), props_before);
    // The guests of this node got their snapshots as usual.
    for d in RUNNING_DISKS {
        assert!(!env.snaps(d).is_empty(), "{d}");
    }

    // Two hours later: replication brought two new hourlies and mirrored the owner's destroys
    // of the old ones. The new ones get bookmarks; the bookmark retention (h4) expires the
    // two oldest of ours, whose snapshots are gone; the others' stay.
    for h in &hourly[..4] {
        env.zfs(&["destroy", &format!("{R}@{h}")]);
    }
    for f in &frequent[..4] {
        env.zfs(&["destroy", &format!("{R}@{f}")]);
    }
    let h10 = receive(&mut env, t("2026-11-21T10:00:00Z"), "hourly");
    let h11 = receive(&mut env, t("2026-11-21T11:00:00Z"), "hourly");
    let snaps_before = env.snaps(R);
    let now = t("2026-11-21T11:15:00Z");
    let out = env.run_ok(now, keep.as_slice());
    assert!(
        out.contains("2 replica bookmarks created, 2 destroyed"),
        "{out}"
    );
    let mut want = vec!["mybookmark".to_string(), "autosnap_garbage".to_string()];
    want.extend([hourly[3].clone(), hourly[4].clone(), h10, h11]);
    assert_eq!(bookmarks(&env), sorted(want.clone()));
    assert_eq!(env.snaps(R), snaps_before);
    assert_eq!(props(&env), props_before);

    // A steady run: nothing more to do there.
    let out = env.run_ok(now + Duration::minutes(15), keep.as_slice());
    assert!(!out.contains("replica bookmarks"), "{out}");
    assert_eq!(bookmarks(&env), sorted(want.clone()));

    // --no-bookmarks: the replica is not even looked at.
    receive(&mut env, t("2026-11-21T12:00:00Z"), "hourly");
    let out = env.run_ok(
        now + Duration::minutes(75),
        &["--no-bookmarks", keep[0], keep[1]],
    );
    assert!(!out.contains("replica"), "{out}");
    assert_eq!(bookmarks(&env), sorted(want.clone()));
}

/// A replica that cannot be read costs this node none of its own snapshots: the pool is read
/// again without it, the run goes on, and the replica's failure is loud (exit 1, stderr).
#[test]
fn a_replica_that_cannot_be_read_never_blocks_this_nodes_snapshots() {
    let mut env = Env::basic();
    receive(&mut env, t("2026-11-21T09:00:00Z"), "hourly");
    let now = t("2026-11-21T10:00:00Z");
    let (code, out, err) = env.run_faulted(now, &["f4", "h2"], &format!("eio:{R}"));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("replicas on pool rpool: cannot read the pool"),
        "{err}"
    );
    assert!(!err.contains("UNPROTECTED"), "{err}");
    for d in RUNNING_DISKS {
        assert_eq!(env.snaps(d).len(), 1, "{d}: {out}\n{err}");
    }
    assert!(bookmarks(&env).is_empty());
    // Once readable again, it gets its bookmark.
    env.run_ok(now + Duration::minutes(15), &["f4", "h2"]);
    assert_eq!(bookmarks(&env), ["autosnap_2026-11-21_09:00:00_hourly"]);
}
