//! `--dry-run` as an admin reads it: on a node of 200 guests (generated here, not committed
//! as 200 files) a summary first, one line per guest, every problem, and the detail of the
//! guests asked for; on a first run no "stopped since last run"; a template is a named
//! exclusion, not a warning.

use crate::harness::{Env, t};
use chrono::Duration;
use std::fmt::Write as _;

/// Guests 100..300 on `empty-vmlist`'s pve1: every 10th stopped, 299 a template, 150 locked
/// by a migration, 160 with a disk whose dataset is missing; a zvol `scsi0` each, every 20th
/// a `tpmstate0` too, on `rpool/data`.
fn node_of_200() -> Env {
    let env = Env::new("empty-vmlist");
    let root = &env.root;
    let mut vmlist = String::from("{\n\"version\": 201,\n\"ids\": {\n");
    env.zpool(&["create", "rpool", "/dev/vda3"]);
    env.zfs(&["create", "-p", "rpool/data"]);
    for vmid in 100..300u32 {
        let sep = if vmid == 299 { "" } else { "," };
        let _ = writeln!(
            vmlist,
            "\"{vmid}\": {{ \"node\": \"pve1\", \"type\": \"qemu\", \"version\": 1 }}{sep}"
        );
        let mut conf = format!("name: app-{vmid}\nscsi0: local-zfs:vm-{vmid}-disk-0,size=8G\n");
        let disks = if vmid % 20 == 0 { 2 } else { 1 };
        if disks == 2 {
            conf.push_str(&format!("tpmstate0: local-zfs:vm-{vmid}-disk-1,size=4M\n"));
        }
        if vmid == 299 {
            conf.push_str("template: 1\n");
        }
        if vmid == 150 {
            conf.push_str("lock: migrate\n");
        }
        std::fs::write(
            root.join(format!("etc/pve/nodes/pve1/qemu-server/{vmid}.conf")),
            conf,
        )
        .unwrap();
        for n in 0..disks {
            if vmid == 160 && n == 1 {
                continue;
            }
            let ds = format!("rpool/data/vm-{vmid}-disk-{n}");
            env.zfs(&["create", "-s", "-V", "1G", &ds]);
        }
        if vmid % 10 != 0 && vmid != 299 {
            env.start_vm(vmid);
        }
    }
    vmlist.push_str("}\n}\n");
    std::fs::write(root.join("etc/pve/.vmlist"), vmlist).unwrap();
    env
}

/// The 200-guest node's first dry run: the summary (counts per action and per disk state),
/// every problem, one line per guest and no per-change detail (200 guests); with
/// `--guest 101`, the detail of that guest only. Old code: 2,000+ lines, "guest stopped since
/// last run (label:running was unset)" on a first run, "! template: skipped".
#[test]
fn dry_run_of_200_guests_summary_first_and_detail_for_one() {
    let env = node_of_200();
    let now = t("2026-11-21T00:00:00Z");
    // VM 160's missing tpmstate0 is UNPROTECTED: exit 1, as the real run.
    let run = |args: &[&str]| {
        let (code, out, err) = env.run(now, args);
        assert_eq!(code, 1, "{out}\n{err}");
        out
    };
    let out = run(&["--dry-run", "f4", "h24", "d7"]);
    assert!(out.starts_with("DRY RUN: nothing is changed\n"), "{out}");
    let lines = out.lines().count();
    assert!(lines < 230, "{lines} lines:\n{out}");
    assert!(!out.contains("stopped since last run"), "{out}");
    assert!(!out.contains("! template"), "{out}");
    assert!(
        out.contains("VM 299 app-299 (not running): excluded: template"),
        "{out}"
    );
    insta::assert_snapshot!("dry_run_200_summary", out);

    let one = run(&["--dry-run", "--guest", "101", "f4", "h24", "d7"]);
    assert!(
        one.contains("  + snapshot rpool/data/vm-101-disk-0@"),
        "{one}"
    );
    assert!(
        !one.contains("  + snapshot rpool/data/vm-102-disk-0@"),
        "{one}"
    );
    // The problems stay listed whatever the detail.
    assert!(one.contains("UNPROTECTED VM 160 tpmstate0"), "{one}");
    let detail = &one[one.find("detail of 1 guest").expect("detail header")..];
    insta::assert_snapshot!("dry_run_200_guest_101", detail);

    // JSON says it is a dry run.
    let json = run(&["--dry-run", "--json", "f4", "h24", "d7"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["dry_run"], true);
}

/// A stopped guest's first run says so (no history), not "stopped since last run"; after a
/// real run that set its label, a later stop does say it.
#[test]
fn first_run_of_a_stopped_guest_says_first_run() {
    let env = Env::basic();
    let now = t("2026-11-21T00:00:00Z");
    let out = env.run_ok(now, &["--dry-run", "f4"]);
    assert!(
        out.contains("guest not running and no label:running yet (first run on this disk)"),
        "{out}"
    );
    assert!(!out.contains("stopped since last run"), "{out}");
    assert!(
        out.contains("excluded: template (PVE templates are never snapshotted)"),
        "{out}"
    );
    assert!(!out.contains("! template"), "{out}");
    env.run_ok(now, &["--no-cron", "f4"]);
    env.stop_vm(100);
    let later = env.run_ok(now + Duration::minutes(15), &["--dry-run", "f4"]);
    assert!(
        later.contains("guest stopped since last run (label:running was pve1)"),
        "{later}"
    );
}
