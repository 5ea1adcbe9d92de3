//! Issue 16 item 5 and the file part of item 8: the files the run writes as root (the lock,
//! the snapshot cache, the metrics file) are only ever regular files of root's in directories
//! only root can write, with exact modes whatever the umask; a planted cache cannot make a run
//! destroy what the policy keeps; the cache is pruned; a mistyped `--root` makes nothing.

use crate::harness::{Env, PRODUCT, RUNNING_DISKS, t};
use chrono::Duration;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .mode()
        & 0o7777
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

fn cache_path(env: &Env) -> PathBuf {
    env.root.join("var/cache/pve-zfs-snap/snapshots.json")
}

/// FNV-1a 64, as anyone can compute it (the cache's checksum guards against damage, not
/// against someone able to write the file).
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The cache's JSON and its header line, if the file has one (whatever format the build
/// under test writes).
fn read_cache(env: &Env) -> (Option<String>, serde_json::Value) {
    let text = std::fs::read_to_string(cache_path(env)).unwrap();
    match text.split_once('\n') {
        Some((head, json)) if !head.starts_with('{') => {
            (Some(head.to_string()), serde_json::from_str(json).unwrap())
        }
        _ => (None, serde_json::from_str(&text).unwrap()),
    }
}

/// Writes `json` as a well-formed cache of the build under test (header and checksum
/// recomputed when it uses them): what a planter with write access could write.
fn write_cache(env: &Env, head: &Option<String>, json: &serde_json::Value) {
    let body = serde_json::to_string(json).unwrap();
    let text = match head {
        Some(h) => {
            let prefix: Vec<&str> = h.split(' ').collect();
            format!(
                "{} {} {:016x}\n{body}",
                prefix[0],
                prefix[1],
                fnv(body.as_bytes())
            )
        }
        None => body,
    };
    std::fs::write(cache_path(env), text).unwrap();
}

fn ours(names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|n| n.starts_with("autosnap_"))
        .cloned()
        .collect()
}

/// Issue 16: "a planted or corrupted cache with extra names made a run destroy snapshots the
/// policy keeps". The cache directory was left world-writable (made under umask 000) and a
/// local user planted, for every disk, four snapshot names newer than the real ones, with
/// their facts and the dataset's true guid and `snapshots_changed` (any user can read them),
/// so the walk is skipped and the names believed. The next `f4` run kept the four fake ones
/// and destroyed every real snapshot. Now a cache that anyone else could have written is not
/// used (and the run says so): the run keeps exactly the four newest real snapshots.
#[test]
fn a_planted_cache_cannot_make_a_run_destroy_kept_snapshots() {
    let env = Env::basic();
    let start = t("2026-11-21T10:00:00Z");
    for i in 0..4 {
        env.run_ok(start + Duration::minutes(15 * i), &["f4"]);
    }
    let disk = RUNNING_DISKS[0];
    let real = ours(&env.snaps(disk));
    assert_eq!(real.len(), 4, "{real:?}");

    let (head, mut json) = read_cache(&env);
    let mut planted = 0;
    for pool in json["pools"].as_object_mut().unwrap().values_mut() {
        for (name, ds) in pool["datasets"].as_object_mut().unwrap() {
            assert!(
                ds["listing"].is_object(),
                "{name}: the run keeps listings (OpenZFS >= 2.2): {ds}"
            );
            let top = ds["snaps"]
                .as_object()
                .unwrap()
                .values()
                .map(|f| f[0].as_u64().unwrap())
                .max()
                .unwrap_or(0);
            for k in 0..4u64 {
                // Between the last real snapshot (10:45) and the next run (11:00).
                let fake = format!("autosnap_2026-11-21_10:5{k}:00_frequently");
                let creation = start.timestamp() + 50 * 60 + 60 * k as i64;
                ds["snaps"][&fake] = serde_json::json!([top + 1 + k, creation]);
                ds["listing"]["snapshots"]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!(fake));
            }
            planted += 1;
        }
    }
    assert!(planted >= RUNNING_DISKS.len());
    let dir = cache_path(&env).parent().unwrap().to_path_buf();
    chmod(&dir, 0o777);
    write_cache(&env, &head, &json);
    chmod(&cache_path(&env), 0o666);

    let now = start + Duration::minutes(60);
    let (code, out, err) = env.run(now, &["f4"]);
    assert_eq!(code, 0, "{out}\n{err}");
    for d in RUNNING_DISKS {
        let after = ours(&env.snaps(d));
        let before = if d == disk {
            real.clone()
        } else {
            after.clone()
        };
        assert_eq!(after.len(), 4, "{d}: {after:?}\n{out}\n{err}");
        if d == disk {
            // The oldest went, the other three real ones stay, and the new one was taken.
            assert_eq!(after[..3], before[1..], "{d}: {after:?}");
        }
    }
    assert!(err.contains("not using the snapshot cache"), "{err}");
    assert!(err.contains("0777"), "the reason is named: {err}");
    // The cache was rebuilt, private, and without the planted names.
    assert_eq!((mode(&dir), mode(&cache_path(&env))), (0o700, 0o600));
    let text = std::fs::read_to_string(cache_path(&env)).unwrap();
    assert!(!text.contains("10:51:00"), "{text}");
}

/// Issue 16: the cache was never pruned (a 100 MB cache cost 9 s and 587 MB per run). A cache
/// holding 1,000 datasets that no longer exist (a pool gone, guests gone) holds only the
/// run's datasets after one run.
#[test]
fn a_cache_of_stale_datasets_shrinks_after_one_run() {
    let env = Env::basic();
    let now = t("2026-11-21T10:00:00Z");
    env.run_ok(now, &["f4"]);
    let (head, mut json) = read_cache(&env);
    let want = dataset_names(&json);
    assert!(want.len() >= RUNNING_DISKS.len(), "{want:?}");
    let template = json["pools"]["rpool"]["datasets"][RUNNING_DISKS[0]].clone();
    for i in 0..500 {
        json["pools"]["oldpool"]["datasets"][format!("oldpool/vm-{i}-disk-0")] = template.clone();
        json["pools"]["rpool"]["datasets"][format!("rpool/data/vm-{}-disk-0", 1000 + i)] =
            template.clone();
    }
    write_cache(&env, &head, &json);
    let planted = std::fs::metadata(cache_path(&env)).unwrap().len();
    env.run_ok(now + Duration::minutes(15), &["f4"]);
    let (_, json) = read_cache(&env);
    assert_eq!(dataset_names(&json), want);
    assert!(json["pools"].get("oldpool").is_none());
    let after = std::fs::metadata(cache_path(&env)).unwrap().len();
    assert!(after * 50 < planted, "{planted} -> {after} bytes");
}

/// Every dataset named in a cache, sorted.
fn dataset_names(json: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = json["pools"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|p| p["datasets"].as_object().unwrap().keys().cloned())
        .collect();
    names.sort();
    names
}

/// Runs the product and gives up (killing it) after 60 s: writing to a FIFO or reading one
/// can hang for ever.
fn run_with_timeout(mut c: std::process::Command) -> (i32, String, String) {
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("the run hung (reading or writing a FIFO?)");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Issue 16: `--metrics-file /dev/null` was renamed over. Stand-ins for the device (tests
/// never touch the real /dev): a FIFO, and a symlink. Each is refused on stderr, naming the
/// path and what it is, and is left as it was; the snapshots are still taken. A metrics
/// directory others can write is refused the same way.
#[test]
fn a_metrics_path_that_is_not_a_regular_file_is_left_alone() {
    let env = Env::basic();
    let dir = env.dir.path().join("textfile");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o755);
    let fifo = dir.join("null");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    let target = dir.join("target");
    std::fs::write(&target, "precious\n").unwrap();
    let link = dir.join("link.prom");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let open = env.dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    chmod(&open, 0o777);
    let in_open = open.join("m.prom");
    // (path, words the message must hold)
    let cases: [(&Path, &str); 3] = [
        (&fifo, "a FIFO"),
        (&link, "a symlink"),
        (&in_open, "group/other-writable"),
    ];
    let mut now = t("2026-11-21T10:00:00Z");
    for (p, words) in cases {
        let before = std::fs::symlink_metadata(p)
            .ok()
            .map(|m| (m.ino(), m.mode()));
        let mut c = env.product(now, &["--metrics-file", p.to_str().unwrap(), "f4"]);
        c.stdin(std::process::Stdio::null());
        let (code, out, err) = run_with_timeout(c);
        // Loud (exit 1: the monitoring depends on the file), but the snapshots were taken.
        assert_eq!(code, 1, "{p:?}\n{out}\n{err}");
        assert!(
            out.contains("7 disks protected") && !out.contains("UNPROTECTED"),
            "{p:?}: the snapshots do not depend on it\n{out}\n{err}"
        );
        assert!(
            err.contains(&p.display().to_string()) && err.contains(words),
            "{p:?}: {err}"
        );
        let after = std::fs::symlink_metadata(p)
            .ok()
            .map(|m| (m.ino(), m.mode()));
        assert_eq!(before, after, "{p:?} untouched");
        now += Duration::minutes(15);
    }
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        3,
        "no temporary file left"
    );
    assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0);
    assert_eq!(ours(&env.snaps(RUNNING_DISKS[0])).len(), 3);
}

/// Issue 16: "under `umask 000` the cache directory is created 0777". Nothing the run makes
/// is group/other-writable whatever the umask, and each has its exact mode.
#[test]
fn under_umask_000_nothing_made_is_writable_by_others() {
    let env = Env::basic();
    let metrics_dir = env.dir.path().join("textfile");
    std::fs::create_dir(&metrics_dir).unwrap();
    chmod(&metrics_dir, 0o755);
    let metrics = metrics_dir.join("pve-zfs-snap.prom");
    let now = t("2026-11-21T10:00:00Z");
    let product = env.product(now, &["--metrics-file", metrics.to_str().unwrap(), "f4"]);
    let mut c = env.cmd("sh");
    c.arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(PRODUCT)
        .args(product.get_args())
        .env("ZFS_EMU_NOW", now.timestamp().to_string());
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = &env.root;
    // (path, exact mode)
    let cases = [
        (r.join("run/pve-zfs-snap"), 0o700),
        (r.join("run/pve-zfs-snap/lock"), 0o600),
        (r.join("var"), 0o755),
        (r.join("var/cache"), 0o755),
        (r.join("var/cache/pve-zfs-snap"), 0o700),
        (r.join("var/cache/pve-zfs-snap/snapshots.json"), 0o600),
        (metrics.clone(), 0o644),
    ];
    for (p, want) in &cases {
        assert_eq!(mode(p), *want, "{}", p.display());
    }
    // The old lock place is not used.
    assert!(!r.join("run/lock").exists());
    // A second run under umask 000 uses them all again (the cache too: nothing re-read).
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("not using the snapshot cache"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Issue 16 item 8: "a mistyped `--root` creates `run/lock` on the host". A root without
/// `run/` is refused before anything is made, and the message says what to check.
#[test]
fn a_mistyped_root_makes_nothing() {
    let env = Env::basic();
    let wrong = env.dir.path().join("rot");
    std::fs::create_dir(&wrong).unwrap();
    let now = t("2026-11-21T10:00:00Z");
    let mut c = env.cmd(PRODUCT);
    c.arg("--root")
        .arg(&wrong)
        .args(["--node", "pve1", "--now", &now.to_rfc3339(), "f4"]);
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a mistyped --root is a usage error: {err}"
    );
    assert!(
        err.contains("run does not exist: is --root right?"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&wrong).unwrap().count(),
        0,
        "nothing made under the wrong root"
    );
}

/// The lock is not in world-writable `/run/lock` any more, and a symlink planted where it
/// goes is refused, never followed: nothing is made at its target and nothing is snapshotted.
#[test]
fn a_planted_lock_symlink_is_refused() {
    let env = Env::basic();
    let elsewhere = env.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, env.root.join("run/pve-zfs-snap")).unwrap();
    let before = env.objects();
    let (code, out, err) = env.run(t("2026-11-21T10:00:00Z"), &["f4"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("run/pve-zfs-snap") && err.contains("symlink"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    assert_eq!(env.objects(), before);
}
