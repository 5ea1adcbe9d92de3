//! Issue 16 items 3 and 8, end to end: a retention cut too big for one command line no longer
//! stops the snapshots (phase 1 in one program, destroys after it, sized to the real kernel's
//! argv limit); a hung `zfs` is killed at `--zfs-timeout` and fails its pool, loudly.

use crate::harness::{Env, t};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use zfs_emu::World;

/// The running disks of `basic` on `rpool`.
const RPOOL_RUNNING: [&str; 4] = [
    "rpool/data/vm-100-disk-0",
    "rpool/data/vm-100-disk-1",
    "rpool/data/vm-100-disk-2",
    "rpool/data/subvol-200-disk-0",
];

/// Adds `per_disk` frequent snapshots of ours, 15 minutes apart and ending 15 minutes before
/// `now`, to each of `disks`, straight in the emulator's state (as many runs would have).
fn seed_frequent(env: &Env, disks: &[&str], per_disk: i64, now: DateTime<Utc>) {
    let mut w: World = serde_json::from_slice(&std::fs::read(&env.state).unwrap()).unwrap();
    for k in (1..=per_disk).rev() {
        let at = now - Duration::minutes(15 * k);
        w.set_clock(at.timestamp());
        for d in disks {
            w.snapshot(&format!(
                "{d}@autosnap_{}_frequently",
                at.format("%Y-%m-%d_%H:%M:%S")
            ))
            .unwrap();
        }
    }
    std::fs::write(&env.state, serde_json::to_vec(&w).unwrap()).unwrap();
}

/// Runs the product under the default 8 MiB stack limit, whatever the test runner's is: the
/// kernel then allows 2 MiB of arguments and environment, as on a default node.
fn run_default_stack(env: &Env, now: DateTime<Utc>, args: &[&str]) -> (i32, String, String) {
    let c = env.product(now, args);
    let product = c.get_program().to_owned();
    let argv: Vec<_> = c.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = c
        .get_envs()
        .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
        .collect();
    let mut sh = std::process::Command::new("/bin/sh");
    sh.arg("-c")
        .arg("ulimit -Ss 8192 && exec \"$0\" \"$@\"")
        .arg(product)
        .args(argv);
    for (k, v) in envs {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    let o = sh.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Issue 16 item 3: `f4` on disks holding 7,000 frequent snapshots each: ~28,000 destroys,
/// about 2.3 MB in the old single program's argv, which the kernel refused (E2BIG) so that no
/// guest of the pool got a snapshot, run after run. Now every running disk gets its snapshot
/// (one txg per pool) and the cut is done in the same run.
#[test]
fn a_retention_cut_beyond_the_argv_limit_snapshots_then_prunes() {
    let env = Env::basic();
    let now = t("2026-11-21T12:00:00Z");
    let per_disk = 7_000;
    seed_frequent(&env, &RPOOL_RUNNING, per_disk, now);
    let old_argv: usize = RPOOL_RUNNING
        .iter()
        .map(|d| {
            // "D" and "<dataset>@autosnap_…_frequently", each with its NUL and pointer.
            (2 + 8 + d.len() + "@autosnap_2026-11-21_00:00:00_frequently".len() + 1 + 8)
                * per_disk as usize
        })
        .sum();
    assert!(
        old_argv > 2 << 20,
        "{old_argv} bytes must exceed the 2 MiB limit"
    );

    let (code, out, err) = run_default_stack(&env, now, &["f4"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let objects = env.objects();
    let new = format!("@autosnap_{}_frequently", now.format("%Y-%m-%d_%H:%M:%S"));
    let mut txgs = BTreeSet::new();
    for d in RPOOL_RUNNING {
        let (_, txg) = objects
            .iter()
            .find(|(n, _)| *n == format!("{d}{new}"))
            .unwrap_or_else(|| panic!("{d} has no new snapshot:\n{out}\n{err}"));
        txgs.insert(*txg);
        let ours: Vec<String> = env
            .snaps(d)
            .into_iter()
            .filter(|n| n.starts_with("autosnap_"))
            .collect();
        assert_eq!(
            ours.len(),
            4,
            "{d}: f4 keeps 4: {:?}…",
            &ours[..ours.len().min(6)]
        );
        assert!(ours.contains(&new[1..].to_string()), "{d}");
    }
    assert_eq!(
        txgs.len(),
        1,
        "the pool's snapshots share one txg: {txgs:?}"
    );
    // The tank disk of the same guest was snapshotted too.
    assert!(
        env.snaps("tank/pve/ct/subvol-200-disk-0")
            .contains(&new[1..].to_string())
    );
}

/// Issue 16 item 8: a `zfs` that hangs is killed at `--zfs-timeout` and its pool fails with
/// a message that says what to do; the run ends (and frees the lock) instead of hanging.
#[test]
fn a_hung_zfs_is_killed_at_the_timeout_and_fails_its_pool_loudly() {
    let env = Env::basic();
    // Read-only programs (`-n`) and plain commands work; the sync programs hang.
    std::fs::remove_file(env.bin.join("zfs")).unwrap();
    std::fs::write(
        env.bin.join("zfs"),
        format!(
            "#!/bin/bash\nif [ \"$1\" = program ] && [[ \" $* \" != *' -n '* ]]; then exec sleep 60; fi\nexec -a zfs '{}' \"$@\"\n",
            crate::harness::EMU
        ),
    )
    .unwrap();
    std::fs::set_permissions(env.bin.join("zfs"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let started = std::time::Instant::now();
    let (code, out, err) = env.run(t("2026-11-21T12:00:00Z"), &["--zfs-timeout", "1", "f4"]);
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
    assert_ne!(code, 0, "{out}\n{err}");
    let text = format!("{out}\n{err}");
    for pool in ["rpool", "tank"] {
        assert!(
            text.contains(&format!(
                "zfs program on {pool} timed out after 1 s; the pool may be hung — check `zpool status`"
            )),
            "{pool}: {text}"
        );
    }
}

/// `--zfs-timeout` must be a whole number of seconds, at least 1: anything else is a usage
/// error (exit 2) before anything runs.
#[test]
fn a_bad_zfs_timeout_is_a_usage_error() {
    let env = Env::basic();
    for bad in ["0", "-5", "soon", "1.5", ""] {
        let arg = format!("--zfs-timeout={bad}");
        let (code, out, err) = env.run(t("2026-11-21T12:00:00Z"), &[&arg, "f4"]);
        assert_eq!(code, 2, "{bad}: {out}\n{err}");
        assert!(err.contains("--zfs-timeout"), "{bad}: {err}");
    }
    assert!(env.objects().iter().all(|(n, _)| !n.contains("@autosnap_")));
}
