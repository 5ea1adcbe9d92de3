//! A bookmark that outlived a rollback (issue 19, docs/PULL.md): after an HA failover, the
//! replication B → A into the returning old owner (`zfs recv -F`) discards the snapshots A
//! took after its last replication, and leaves their bookmarks. A's next run drops exactly
//! those bookmarks (its own, of the discarded snapshots), and nothing else.

use crate::harness::{Env, PRODUCT, t};
use chrono::{DateTime, Utc};
use std::io::Write;
use std::process::Stdio;

const D: &str = "rpool/data/vm-100-disk-0";

/// The product on `env` as node `node` (the harness's own runs are pve1's).
fn run_as(env: &Env, node: &str, now: DateTime<Utc>, args: &[&str]) -> String {
    let o = env
        .cmd(PRODUCT)
        .env("ZFS_EMU_NOW", now.timestamp().to_string())
        .arg("--root")
        .arg(&env.root)
        .args(["--node", node, "--now", &now.to_rfc3339(), "--no-cron"])
        .args(args)
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert_eq!(o.status.code(), Some(0), "{node} at {now}:\n{out}\n{err}");
    out
}

/// `zfs send send_args` on `from` piped into `zfs recv recv_args` on `to` (two hosts).
fn send_recv(from: &Env, send_args: &[&str], to: &Env, recv_args: &[&str]) {
    let sent = from.zfs_out(&[&["send"], send_args].concat());
    assert!(
        sent.status.success(),
        "send {send_args:?}: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let mut recv = to
        .cmd(&to.bin.join("zfs").display().to_string())
        .args([&["recv"], recv_args].concat())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    recv.stdin.take().unwrap().write_all(&sent.stdout).unwrap();
    let o = recv.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "recv {recv_args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Our hourly snapshot of `at`.
fn hourly(at: &str) -> String {
    format!("autosnap_2026-11-21_{at}:00_hourly")
}

fn failover(lose_cache: bool) -> (Env, String) {
    let keep = ["h24", "d7"];
    let mut a = Env::basic(); // pve1, the owner
    let mut b = Env::basic(); // pve2, the replica
    b.zfs(&["destroy", D]);

    // A snapshots (and bookmarks) at 10:00 and 11:00; pvesr replicates to B at 11:05.
    for now in ["2026-11-21T10:00:00Z", "2026-11-21T11:00:00Z"] {
        run_as(&a, "pve1", t(now), &keep);
    }
    a.clock = t("2026-11-21T11:05:00Z").timestamp();
    let rep1 = "__replicate_100-0_1763723100__";
    a.zfs(&["snapshot", &format!("{D}@{rep1}")]);
    send_recv(&a, &["-Rp", &format!("{D}@{rep1}")], &b, &["-F", D]);
    run_as(&b, "pve2", t("2026-11-21T11:15:00Z"), &keep);

    // A's last snapshots, never replicated: 12:00 and 13:00, with their bookmarks.
    for now in ["2026-11-21T12:00:00Z", "2026-11-21T13:00:00Z"] {
        run_as(&a, "pve1", t(now), &keep);
    }
    let (h10, h11, h12, h13) = (
        "autosnap_2026-11-21_10:00:00_daily".to_string(), // the day's first run
        hourly("11:00"),
        hourly("12:00"),
        hourly("13:00"),
    );
    assert_eq!(
        sorted(a.bookmarks(D)),
        [h10.clone(), h11.clone(), h12.clone(), h13.clone()]
    );

    // A dies; HA recovers VM 100 on B, which snapshots it at 14:00 and 15:00.
    for env in [&a, &b] {
        env.migrate(100, "qemu-server", "pve1", "pve2");
    }
    a.stop_vm(100);
    for now in ["2026-11-21T14:00:00Z", "2026-11-21T15:00:00Z"] {
        run_as(&b, "pve2", t(now), &keep);
    }
    let (h14, h15) = (hourly("14:00"), hourly("15:00"));

    // A is back; the replication now runs B → A, and its recv -F rolls A back to rep1.
    b.clock = t("2026-11-21T15:30:00Z").timestamp();
    let rep2 = "__replicate_100-0_1763739000__";
    b.zfs(&["snapshot", &format!("{D}@{rep2}")]);
    send_recv(
        &b,
        &["-Rp", "-I", &format!("{D}@{rep1}"), &format!("{D}@{rep2}")],
        &a,
        &["-F", D],
    );
    let snaps = a.snaps(D);
    assert!(
        !snaps.contains(&h12) && !snaps.contains(&h13),
        "rolled back: {snaps:?}"
    );
    assert!(snaps.contains(&h14) && snaps.contains(&h15), "{snaps:?}");
    // The rollback left A's bookmarks of what it discarded.
    assert!(a.bookmarks(D).contains(&h13));
    if lose_cache {
        std::fs::remove_file(a.root.join("var/cache/pve-zfs-snap/snapshots.json")).unwrap();
    }

    // A's next run (VM 100 is B's now: A's dataset is a replica).
    a.clock = t("2026-11-21T16:00:00Z").timestamp();
    let out = run_as(
        &a,
        "pve1",
        t("2026-11-21T16:00:00Z"),
        &["--json", keep[0], keep[1]],
    );
    let _ = (h10, h11, h14, h15);
    (a, out)
}

#[test]
fn after_a_failover_the_old_owner_drops_its_bookmarks_of_what_the_rollback_discarded() {
    let (a, json) = failover(false);
    let (h10, h11, h12, h13, h14, h15) = (
        "autosnap_2026-11-21_10:00:00_daily".to_string(), // the day's first run
        hourly("11:00"),
        hourly("12:00"),
        hourly("13:00"),
        hourly("14:00"),
        hourly("15:00"),
    );
    // Exactly the two stale ones went; the received ones got their replica bookmarks.
    assert_eq!(sorted(a.bookmarks(D)), [h10, h11, h14, h15], "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["totals"]["stale_bookmarks_dropped"], 2, "{json}");
    assert_eq!(v["totals"]["failed"], 0, "{json}");
    let stale: Vec<&serde_json::Value> = v["replicas"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["reason"].as_str().unwrap().starts_with("stale bookmark"))
        .collect();
    assert_eq!(stale.len(), 2, "{json}");
    for (i, name) in stale.iter().zip([&h12, &h13]) {
        assert_eq!(i["action"]["op"], "destroy_bookmark", "{json}");
        assert!(i.to_string().contains(name.as_str()), "{i}");
        assert_eq!(i["outcome"]["status"], "ok", "{i}");
    }
    // The next run has nothing more to drop.
    let out = run_as(&a, "pve1", t("2026-11-21T17:00:00Z"), &["h24", "d7"]);
    assert!(!out.contains("stale"), "{out}");
}

#[test]
fn without_a_previous_listing_nothing_is_dropped_and_nothing_alarming_is_said() {
    let (a, json) = failover(true);
    assert!(a.bookmarks(D).contains(&hourly("13:00")), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        v["totals"].get("stale_bookmarks_dropped").is_none(),
        "{json}"
    );
    assert!(v["warnings"].as_array().unwrap().is_empty(), "{json}");
}

/// Our newest snapshots of `D` on a fresh owner, taken hourly 10:00-13:00 with their
/// bookmarks, then the two newest destroyed (what a `zfs rollback -r` to 11:00 does; the
/// emulator has no rollback command): their bookmarks are stale at the next run.
fn rolled_back_owner() -> Env {
    let env = Env::basic();
    for now in [
        "2026-11-21T10:00:00Z",
        "2026-11-21T11:00:00Z",
        "2026-11-21T12:00:00Z",
        "2026-11-21T13:00:00Z",
    ] {
        run_as(&env, "pve1", t(now), &["h24", "d7"]);
    }
    for at in ["13:00", "12:00"] {
        env.zfs(&["destroy", &format!("{D}@{}", hourly(at))]);
    }
    assert!(env.bookmarks(D).contains(&hourly("13:00")));
    env
}

/// Issue 21: a stale bookmark that the run may not drop (the dataset excluded by
/// `label:nosnap`, the guest under a lock that forbids destroys) is pending, and the run says
/// so: a warning per bookmark on stderr (even under `--cron`) and in the JSON, `N stale
/// bookmarks NOT dropped` in the summary and the pool's journal line, `stale_pending` and
/// `totals.stale_bookmarks_pending` in the JSON, and the gauge
/// `pve_zfs_snap_last_run_stale_bookmarks_pending`. The exit code stays 0. Old code: nothing
/// at all (the bookmarks stayed, silently).
#[test]
fn a_stale_bookmark_left_pending_is_said_not_kept_silently() {
    let pending = [hourly("12:00"), hourly("13:00")];
    for how in ["nosnap", "lock"] {
        let env = rolled_back_owner();
        let why = if how == "nosnap" {
            env.zfs(&["set", "label:nosnap=nosnap", D]);
            "label:nosnap=nosnap leaves the dataset alone"
        } else {
            let conf = env.root.join("etc/pve/nodes/pve1/qemu-server/100.conf");
            let text = std::fs::read_to_string(&conf).unwrap();
            std::fs::write(&conf, format!("lock: backup\n{text}")).unwrap();
            "guest 100 is locked (backup): no destroys"
        };
        let now = t("2026-11-21T14:00:00Z");
        let metrics = env.root.join("metrics.prom");
        let o = env
            .product(
                now,
                &[
                    "--no-cron",
                    "--cron",
                    "--metrics-file",
                    metrics.to_str().unwrap(),
                    "h24",
                    "d7",
                ],
            )
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{how}: {err}");
        for name in &pending {
            let line = format!(
                "pve-zfs-snap: warning: {D}#{name}: stale bookmark (a rollback discarded its \
                 snapshot) NOT dropped: {why}; a third site must not resume from it"
            );
            assert!(err.contains(&line), "{how}: {line}\nnot in:\n{err}");
            assert!(env.bookmarks(D).contains(name), "{how}: kept, pending");
        }
        let prom = std::fs::read_to_string(&metrics).unwrap();
        assert!(
            prom.contains("\npve_zfs_snap_last_run_stale_bookmarks_pending 2\n"),
            "{how}: {prom}"
        );

        // The JSON and the text summary (the cache still remembers them as pending).
        let later = t("2026-11-21T14:10:00Z");
        let json = run_as(&env, "pve1", later, &["--json", "h24", "d7"]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["totals"]["stale_bookmarks_pending"], 2, "{how}: {json}");
        assert_eq!(v["stale_pending"][0]["why"], why, "{how}: {json}");
        assert_eq!(v["warnings"].as_array().unwrap().len(), 2, "{how}: {json}");
        let out = run_as(&env, "pve1", t("2026-11-21T14:20:00Z"), &["h24", "d7"]);
        assert!(
            out.contains(", 2 stale bookmarks NOT dropped (see the warnings)"),
            "{how}: {out}"
        );
    }
}
