//! `pve-zfs-snap status` end to end: the PVE fixture tree `basic` as host root, its disks on
//! an emulated pool.

use crate::host::Host;

#[test]
fn status_table_and_json() {
    let h = Host::new();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pve/basic/.");
    let ok = std::process::Command::new("cp")
        .args(["-a", fixture, h.root().to_str().unwrap()])
        .status()
        .unwrap();
    assert!(ok.success());
    h.pool("rpool");
    h.dataset("rpool/data/vm-100-disk-0");
    h.emu(
        0,
        "zfs",
        &["set", "label:running=pve1", "rpool/data/vm-100-disk-0"],
    );
    h.snapshot(
        1_800_000_000,
        "rpool/data/vm-100-disk-0@autosnap_2027-01-15_08:00:00_hourly",
    );
    h.snapshot(
        1_800_000_900,
        "rpool/data/vm-100-disk-0@autosnap_2027-01-15_08:15:00_frequently",
    );
    h.snapshot(
        1_800_000_950,
        "rpool/data/vm-100-disk-0@__replicate_100-0_1__",
    );
    let root = h.root();
    let args = ["status", "--root", root.to_str().unwrap(), "--node", "pve1"];
    let r = h.run(&args);
    let mut lines = r.stdout.lines();
    let line = lines
        .find(|l| l.contains("rpool/data/vm-100-disk-0"))
        .unwrap_or_else(|| panic!("{r:?}"));
    assert!(line.contains(" pve1 "), "{line}");
    assert!(line.contains(" f1 h1"), "{line}");
    // The newest per class, in the policy's order, on the line under the disk.
    let newest = lines.next().unwrap();
    assert!(
        newest.contains("newest: f 2027-01-15_08:15:00, h 2027-01-15_08:00:00"),
        "{newest}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let j = h.run(&json_args);
    let v: serde_json::Value =
        serde_json::from_str(&j.stdout).unwrap_or_else(|e| panic!("{e}: {j:?}"));
    let g100 = v
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["vmid"] == 100)
        .unwrap();
    let disk = g100["disks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dataset"] == "rpool/data/vm-100-disk-0")
        .unwrap();
    assert_eq!(disk["counts"]["hourly"], 1);
    assert_eq!(disk["foreign"], 1);
    assert_eq!(disk["label"], "pve1");
}

/// `status` as an admin reads it (golden): guest names from `name:`/`hostname:`, disk keys
/// longer than the old fixed column (`tpmstate0`, `efidisk0`, `mp10`) keep the columns
/// aligned, classes in the policy's order (f h d w m y, not alphabetical), `hourly` shown
/// (from a newer weekly) even when the newest hourly-named one is older, and every line
/// within 120 characters. Old code: no names, `tpmstate0` shifted its line, "daily …,
/// frequently …, hourly …" alphabetically, lines of 150+ characters.
#[test]
fn status_golden_names_odd_keys_policy_order() {
    use crate::harness::{Env, t};
    let env = Env::basic();
    let ct = env.root.join("etc/pve/nodes/pve1/lxc/200.conf");
    let conf = std::fs::read_to_string(&ct).unwrap().replacen(
        "mp1:",
        "mp10: tank-ct:subvol-200-disk-1,mp=/srv/logs,size=8G\nmp1:",
        1,
    );
    std::fs::write(&ct, conf).unwrap();
    env.zfs(&["create", "-p", "tank/pve/ct/subvol-200-disk-1"]);
    let mut now = t("2026-11-16T09:00:00Z");
    // A week of runs every 6 hours: weekly, daily, hourly and frequent names.
    for _ in 0..29 {
        env.run_ok(now, &["--no-cron", "f4", "h24", "d7", "w4"]);
        now += chrono::Duration::hours(6);
    }
    let o = env
        .cmd(crate::harness::PRODUCT)
        .args(["status", "--node", "pve1", "--root"])
        .arg(&env.root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let out = String::from_utf8(o.stdout).unwrap();
    for l in out.lines() {
        assert!(l.chars().count() <= 120, "{} chars: {l}", l.chars().count());
    }
    let tpm = out.lines().find(|l| l.contains("tpmstate0")).unwrap();
    let efi = out.lines().find(|l| l.contains("efidisk0")).unwrap();
    assert_eq!(
        tpm.find("rpool/data/"),
        efi.find("rpool/data/"),
        "columns:\n{out}"
    );
    assert!(out.contains(" web "), "{out}");
    assert!(out.contains(" ct200 "), "{out}");
    insta::assert_snapshot!("status_names_odd_keys", out);
}
