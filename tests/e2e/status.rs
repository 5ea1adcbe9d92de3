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
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("rpool/data/vm-100-disk-0"))
        .unwrap_or_else(|| panic!("{r:?}"));
    assert!(line.contains(" pve1 "), "{line}");
    assert!(line.contains("hourly 2027-01-15_08:00:00"), "{line}");
    assert!(line.contains("frequently 2027-01-15_08:15:00"), "{line}");
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
