//! What a scheduled run leaves in the journal (issue 21): one line per pool and one per
//! failure, sent to syslog through `<root>/dev/log` (a datagram socket this test binds, never
//! the real `/dev/log`), or on stderr when stderr is the journal (`JOURNAL_STREAM`, systemd);
//! `-v` shows each decision; no ANSI colour when stderr is not a terminal.

use crate::harness::{Env, t};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Binds `<root>/dev/log`.
fn syslog(env: &Env) -> UnixDatagram {
    let dev = env.root.join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    let sock = UnixDatagram::bind(dev.join("log")).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    sock
}

/// Every datagram waiting, with the pid replaced by `PID`.
fn drain(sock: &UnixDatagram) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = sock.recv(&mut buf) {
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        let (head, rest) = msg.split_once("]: ").unwrap();
        let head = head.split_once('[').unwrap().0;
        out.push(format!("{head}[PID]: {rest}"));
    }
    out
}

/// The golden: three scheduled runs (the first on an empty pool, the second rotates, the
/// third with a held snapshot that expires and a VM whose disk went away).
#[test]
fn scheduled_runs_leave_one_line_per_pool() {
    let env = Env::basic();
    let sock = syslog(&env);
    let mut all = Vec::new();
    let d = "rpool/data/vm-100-disk-0";
    for (i, now) in [
        "2026-11-21T00:00:00Z",
        "2026-11-21T00:15:00Z",
        "2026-11-21T00:30:00Z",
    ]
    .iter()
    .enumerate()
    {
        if i == 2 {
            let first = env.snaps(d)[0].clone();
            env.zfs(&["hold", "backup", &format!("{d}@{first}")]);
            let gone = "rpool/data/vm-100-disk-2";
            for s in env.snaps(gone) {
                env.zfs(&["destroy", &format!("{gone}@{s}")]);
            }
            for b in env.bookmarks(gone) {
                env.zfs(&["destroy", &format!("{gone}#{b}")]);
            }
            env.zfs(&["destroy", gone]);
        }
        let (code, out, err) = env.run(t(now), &["--cron", "f1"]);
        assert!(out.is_empty() || code != 0, "{out}");
        assert_eq!(code, if i == 2 { 1 } else { 0 }, "{out}\n{err}");
        all.push(format!("# --cron f1 at {now}"));
        all.extend(drain(&sock));
    }
    insta::assert_snapshot!("journal_scheduled_runs", all.join("\n"));
}

/// Under systemd (`JOURNAL_STREAM` set) the pool lines go to stderr, nothing to syslog; a dry
/// run leaves no trace.
#[test]
fn systemd_stderr_and_dry_run() {
    let env = Env::basic();
    let sock = syslog(&env);
    let o = env
        .product(t("2026-11-21T00:00:00Z"), &["--cron", "f4"])
        .env("JOURNAL_STREAM", "8:1234")
        .output()
        .unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("pve-zfs-snap: pool rpool: 6 snapshots taken"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("pve-zfs-snap: pool tank: 1 snapshots taken"),
        "{err}"
    );
    assert!(drain(&sock).is_empty());

    let (code, _, err) = env.run(t("2026-11-21T00:15:00Z"), &["--dry-run", "f4"]);
    assert_eq!(code, 0);
    assert!(drain(&sock).is_empty());
    assert!(!err.contains("pool rpool"), "{err}");
}

/// `-v` shows why each change was made and what became of it; `-vv` on a pipe has no ANSI.
#[test]
fn verbose_shows_decisions_without_colour() {
    let env = Env::basic();
    env.run_ok(t("2026-11-21T00:00:00Z"), &["--no-cron", "f1"]);
    let (code, _, err) = env.run(t("2026-11-21T00:15:00Z"), &["--no-cron", "-v", "f1"]);
    assert_eq!(code, 0, "{err}");
    let destroy = err
        .lines()
        .find(|l| l.contains("guest 100: destroy rpool/data/vm-100-disk-0@autosnap_"))
        .unwrap_or_else(|| panic!("no destroy decision:\n{err}"));
    assert!(destroy.contains(" => done"), "{destroy}");
    assert!(
        err.lines().any(
            |l| l.contains("guest 100: snapshot rpool/data/vm-100-disk-0@")
                && l.contains(" => done")
        ),
        "{err}"
    );
    for v in ["-v", "-vv", "-vvv"] {
        let (_, _, err) = env.run(t("2026-11-21T00:30:00Z"), &["--no-cron", v, "f1"]);
        assert!(!err.contains('\u{1b}'), "{v}: ANSI on a pipe:\n{err}");
    }
}
