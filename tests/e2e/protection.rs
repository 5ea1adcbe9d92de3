//! The protection contract (issue 16): every disk of every local guest ends a run snapshotted,
//! stopped, excluded (named) or failed (named, on stderr even under `--cron`, exit 1). Each
//! case stages one bad input or fault on the `basic` fixture and asserts the exit code, the
//! message, that the disks it does not concern are still protected, and that nothing was lost.

use crate::harness::{Env, t};
use std::path::Path;
use std::process::Stdio;

const NOW: &str = "2026-11-21T12:00:00Z";

/// Every snapshot and bookmark that is not ours, and every one of ours, before the run.
fn inventory(env: &Env) -> Vec<String> {
    env.objects().into_iter().map(|(n, _)| n).collect()
}

fn edit(root: &Path, rel: &str, f: impl FnOnce(String) -> String) {
    let p = root.join(rel);
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, f(text)).unwrap();
}

const VM100: &str = "etc/pve/nodes/pve1/qemu-server/100.conf";
const STORAGE: &str = "etc/pve/storage.cfg";
const VMLIST: &str = "etc/pve/.vmlist";

type Setup = fn(&Env);

/// (name, setup, extra args, exit code, stderr must contain, disks that must get a new
/// snapshot of this run).
type Case = (
    &'static str,
    Setup,
    &'static [&'static str],
    i32,
    &'static [&'static str],
    &'static [&'static str],
);

const WEB: &[&str] = &[
    "rpool/data/vm-100-disk-0",
    "rpool/data/vm-100-disk-1",
    "rpool/data/vm-100-disk-2",
];
const CT: &[&str] = &[
    "rpool/data/subvol-200-disk-0",
    "tank/pve/ct/subvol-200-disk-0",
];
const ALL_RUNNING: &[&str] = &[
    "rpool/data/vm-100-disk-0",
    "rpool/data/vm-100-disk-1",
    "rpool/data/vm-100-disk-2",
    "rpool/data/subvol-200-disk-0",
    "tank/pve/ct/subvol-200-disk-0",
];

fn cases() -> Vec<Case> {
    vec![
        // --- item 1: guests that vanished
        (
            "a bad line in a config is ignored as PVE ignores it; the guest is protected",
            |e| {
                edit(&e.root, VM100, |t| {
                    t.replacen("agent: 1\n", "agent: 1\nthis is no config line\n", 1)
                })
            },
            &["--cron"],
            0,
            &["warning: VM 100", "line ignored", "this is no config line"],
            ALL_RUNNING,
        ),
        (
            "a UTF-8 byte-order mark",
            |e| edit(&e.root, VM100, |t| format!("\u{feff}{t}")),
            &["--cron"],
            0,
            &[],
            ALL_RUNNING,
        ),
        (
            "a non-UTF-8 byte in a comment",
            |e| {
                let p = e.root.join(VM100);
                let mut b = b"#caf\xe9 \xff\n".to_vec();
                b.extend(std::fs::read(&p).unwrap());
                std::fs::write(&p, b).unwrap();
            },
            &["--cron"],
            0,
            &[],
            ALL_RUNNING,
        ),
        (
            "a config in .vmlist that is not there is a failure of its own",
            |e| std::fs::remove_file(e.root.join(VM100)).unwrap(),
            &["--cron"],
            1,
            &["UNPROTECTED VM 100 config", "100.conf"],
            CT,
        ),
        (
            "a guest type we do not know is a failure",
            |e| {
                edit(&e.root, VMLIST, |t| {
                    t.replacen("\"ids\": {", "\"ids\": {\n\"777\": { \"node\": \"pve1\", \"type\": \"openvz\", \"version\": 1 },", 1)
                })
            },
            &["--cron"],
            1,
            &["UNPROTECTED guest 777 config", "openvz"],
            ALL_RUNNING,
        ),
        // --- item 2: warnings nobody saw
        (
            "a disk whose dataset does not exist",
            |e| {
                edit(&e.root, VM100, |t| {
                    t.replace("vm-100-disk-2,size=4M", "vm-100-disk-7,size=4M")
                })
            },
            &["--cron"],
            1,
            &[
                "UNPROTECTED VM 100 tpmstate0",
                "rpool/data/vm-100-disk-7 does not exist",
            ],
            &[
                "rpool/data/vm-100-disk-0",
                "rpool/data/vm-100-disk-1",
                "rpool/data/subvol-200-disk-0",
            ],
        ),
        (
            "a zfspool storage whose pool is mistyped",
            |e| {
                edit(&e.root, STORAGE, |t| {
                    t.replace("pool rpool/data", "pool rpool/dta")
                })
            },
            &["--cron"],
            1,
            &[
                "UNPROTECTED VM 100 scsi0",
                "rpool/dta/vm-100-disk-0 does not exist",
            ],
            &["tank/pve/ct/subvol-200-disk-0"],
        ),
        (
            "storage.cfg missing",
            |e| std::fs::remove_file(e.root.join(STORAGE)).unwrap(),
            &["--cron"],
            1,
            &[
                "UNPROTECTED VM 100 scsi0",
                "not defined in /etc/pve/storage.cfg",
            ],
            &[],
        ),
        (
            "a disabled storage used by a running guest",
            |e| {
                edit(&e.root, STORAGE, |t| {
                    t.replace("pool rpool/data\n", "pool rpool/data\n\tdisable\n")
                })
            },
            &["--cron"],
            1,
            &["UNPROTECTED VM 100 scsi0", "is disabled"],
            &["tank/pve/ct/subvol-200-disk-0"],
        ),
        (
            "a storage limited to other nodes",
            |e| {
                edit(&e.root, STORAGE, |t| {
                    t.replace("pool rpool/data\n", "pool rpool/data\n\tnodes pve2\n")
                })
            },
            &["--cron"],
            1,
            &["UNPROTECTED CT 200 rootfs", "not available on node pve1"],
            &["tank/pve/ct/subvol-200-disk-0"],
        ),
        (
            "a node name that is not a node of the cluster is a configuration error",
            |_| {},
            &["--cron", "--node", "PVE1"],
            2,
            &["\"PVE1\" is not a node of this cluster", "--node"],
            &[],
        ),
        (
            "a pool that cannot be read fails its disks, not the others",
            |e| {
                edit(&e.root, STORAGE, |t| {
                    t.replace("pool tank/pve/ct", "pool tonk/pve/ct")
                })
            },
            &["--cron"],
            1,
            &["UNPROTECTED CT 200 mp0", "tonk"],
            WEB,
        ),
        // --- item 8: label:nosnap values (decided: nosnap/1/yes/on/true exclude, named)
        (
            "label:nosnap=on excludes, named, not alarming",
            |e| {
                e.zfs(&["set", "label:nosnap=on", "rpool/data/vm-100-disk-0"]);
            },
            &["--cron"],
            0,
            &[],
            &["rpool/data/vm-100-disk-1", "rpool/data/subvol-200-disk-0"],
        ),
        (
            "a label:nosnap value not understood protects the disk and says so",
            |e| {
                e.zfs(&["set", "label:nosnap=nosanp", "rpool/data/vm-100-disk-0"]);
            },
            &["--cron"],
            0,
            &["label:nosnap=\"nosanp\" is not understood"],
            ALL_RUNNING,
        ),
        // --- item 8: configuration errors exit 2, nothing touched
        (
            "a storage.cfg syntax error is a configuration error",
            |e| {
                edit(&e.root, STORAGE, |t| {
                    format!("{t}\nthis is not storage syntax\n")
                })
            },
            &["--cron"],
            2,
            &["storage.cfg"],
            &[],
        ),
    ]
}

/// Like `Env::run`, with `--node pve1` only when the case gives none.
fn run(env: &Env, now: chrono::DateTime<chrono::Utc>, args: &[&str]) -> (i32, String, String) {
    let mut c = env.cmd(crate::harness::PRODUCT);
    c.env("ZFS_EMU_NOW", now.timestamp().to_string())
        .arg("--root")
        .arg(&env.root)
        .args(["--now", &now.to_rfc3339()]);
    if !args.contains(&"--node") {
        c.args(["--node", "pve1"]);
    }
    let o = c.args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn every_disk_is_protected_excluded_or_loudly_failed() {
    let now = t(NOW);
    for (name, setup, args, code, stderr, fresh) in cases() {
        let env = Env::basic();
        // A first run, so there is history that must survive.
        env.run_ok(t("2026-11-21T11:45:00Z"), &["--cron", "f4", "h2", "d2"]);
        setup(&env);
        let before = inventory(&env);
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["f4", "h2", "d2"]);
        let (got, out, err) = run(&env, now, &full);
        assert_eq!(
            got, code,
            "{name}: exit code\nstdout:\n{out}\nstderr:\n{err}"
        );
        for s in stderr {
            assert!(err.contains(s), "{name}: stderr lacks {s:?}:\n{err}");
        }
        if code != 0 {
            assert!(
                !err.trim().is_empty(),
                "{name}: a failure under --cron must say something on stderr"
            );
        }
        if code == 1 {
            assert!(out.contains("UNPROTECTED"), "{name}: summary:\n{out}");
        }
        // Nothing lost: every object that was there is still there (the policy keeps all of
        // one earlier run's snapshots).
        let after = inventory(&env);
        for o in &before {
            assert!(after.contains(o), "{name}: {o} was lost");
        }
        for d in fresh {
            let snaps = env.snaps(d);
            assert!(
                snaps
                    .iter()
                    .any(|s| s.starts_with("autosnap_2026-11-21_12:00:00")),
                "{name}: {d} got no snapshot: {snaps:?}\n{err}"
            );
        }
    }
}

#[test]
fn an_excluded_disk_gets_no_snapshot_and_is_named() {
    let env = Env::basic();
    env.zfs(&["set", "label:nosnap=yes", "rpool/data/vm-100-disk-0"]);
    let (code, out, err) = env.run(t(NOW), &["--dry-run", "f4"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("VM 100 scsi0 (rpool/data/vm-100-disk-0): excluded: label:nosnap=yes"),
        "{out}"
    );
    env.run_ok(t(NOW), &["--cron", "f4"]);
    assert!(env.snaps("rpool/data/vm-100-disk-0").is_empty());
}

#[test]
fn a_run_killed_at_any_point_loses_nothing_and_the_next_run_converges() {
    // SIGKILL of pve-zfs-snap itself at several points of a run whose programs are slowed
    // down (the emulator's `hang`): the lock goes with the process, what the kernel did
    // stays, the next run finishes the work.
    for delay_ms in [0u64, 150, 400, 900, 1600, 2600] {
        let env = Env::basic();
        env.run_ok(t("2026-11-21T11:00:00Z"), &["--cron", "f2", "h2"]);
        env.run_ok(t("2026-11-21T11:30:00Z"), &["--cron", "f2", "h2"]);
        let before: Vec<String> = inventory(&env)
            .into_iter()
            .filter(|n| !n.contains("autosnap_"))
            .collect();
        let mut child = env
            .product(t(NOW), &["--cron", "f2", "h2"])
            .env("ZFS_EMU_FAULTS", "hang:program:1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // The emulator stand-in the run started may still be sleeping; let it finish.
        std::thread::sleep(std::time::Duration::from_millis(1200));
        let (code, _out, err) = env.run(t("2026-11-21T12:00:00Z"), &["--cron", "f2", "h2"]);
        assert_eq!(
            code, 0,
            "killed after {delay_ms} ms: the rerun works\n{err}"
        );
        let after = inventory(&env);
        for o in &before {
            assert!(
                after.contains(o),
                "killed after {delay_ms} ms: {o} was lost"
            );
        }
        for d in ALL_RUNNING {
            let snaps = env.snaps(d);
            assert!(
                snaps.contains(&"autosnap_2026-11-21_12:00:00_hourly".to_string()),
                "killed after {delay_ms} ms: {d}: {snaps:?}"
            );
            assert!(
                snaps.len() <= 3,
                "killed after {delay_ms} ms: {d}: retention f2 h2 holds: {snaps:?}"
            );
        }
    }
}

#[test]
fn a_run_with_the_clock_a_year_ahead_does_not_stop_frequent_snapshots() {
    // Issue 16 item 4: `due` took no `f` while a snapshot of ours had creation >= now.
    let env = Env::basic();
    env.run_ok(t("2027-11-21T12:00:00Z"), &["--cron", "f96"]);
    let (code, _out, err) = env.run(t(NOW), &["--cron", "f96"]);
    assert_eq!(code, 0, "{err}");
    let snaps = env.snaps("rpool/data/vm-100-disk-0");
    assert!(
        snaps.contains(&"autosnap_2026-11-21_12:00:00_frequently".to_string()),
        "{snaps:?}"
    );
    assert!(
        err.contains("warning: rpool/data/vm-100-disk-0: 1 snapshot(s) of ours dated after"),
        "the skew is named even under --cron:\n{err}"
    );
    let (_, json, _) = env.run(t("2026-11-21T12:15:00Z"), &["--json", "--no-cron", "f96"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    // The 5 running disks and the 2 stopped ones each hold one from 2027.
    assert_eq!(v["totals"]["future_snapshots"], 7, "{json}");
}

#[test]
fn a_reader_that_goes_away_is_not_a_panic() {
    // Issue 16 item 8: `--dry-run | head` panicked (exit 101).
    let env = Env::basic();
    let mut child = env
        .product(t(NOW), &["--dry-run", "f4", "h2", "d2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(101), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn failed_disks_reach_json_and_metrics() {
    let env = Env::basic();
    env.zfs(&["destroy", "rpool/data/vm-100-disk-2"]);
    let metrics = env.dir.path().join("metrics");
    std::fs::create_dir(&metrics).unwrap();
    let prom = metrics.join("pve-zfs-snap.prom");
    let (code, out, _err) = env.run(
        t(NOW),
        &[
            "--json",
            "--no-cron",
            "--metrics-file",
            prom.to_str().unwrap(),
            "f4",
        ],
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["protection"]["failed"], 1, "{out}");
    let failed: Vec<&serde_json::Value> = v["disks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["state"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{out}");
    assert_eq!(failed[0]["key"], "tpmstate0");
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.lines()
            .any(|l| l == "pve_zfs_snap_unprotected_disks 1"),
        "{text}"
    );
}

#[test]
fn the_cron_job_is_not_installed_after_a_run_that_protected_nothing() {
    // Issue 16 item 7.
    let env = Env::basic();
    std::fs::create_dir_all(env.root.join("etc/cron.d")).unwrap();
    edit(&env.root, STORAGE, |t| {
        t.replace("pool rpool/data", "pool rpool/dta")
            .replace("pool tank/pve/ct", "pool tank/nope")
    });
    let o = env
        .product(t(NOW), &["f4"])
        .env("PVE_ZFS_SNAP_ASSUME_TTY", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("cron job was NOT installed"), "{err}");
    assert!(
        !env.root.join("etc/cron.d/pve-zfs-snap").exists(),
        "a run that protected nothing must not schedule itself"
    );
    // The same run with the storage fixed installs it.
    edit(&env.root, STORAGE, |t| {
        t.replace("pool rpool/dta", "pool rpool/data")
            .replace("pool tank/nope", "pool tank/pve/ct")
    });
    let o = env
        .product(t("2026-11-21T12:15:00Z"), &["f4"])
        .env("PVE_ZFS_SNAP_ASSUME_TTY", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(env.root.join("etc/cron.d/pve-zfs-snap").exists());
}
