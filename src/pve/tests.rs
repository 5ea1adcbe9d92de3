//! Discovery against the fixture trees in `tests/fixtures/pve/` (one test per scenario), plus
//! edge cases built in temporary directories.

use super::*;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pve")
        .join(name)
}

/// `(vmid, kind, running, template, lock, [(key, dataset)])` for compact comparisons.
type Summary = (
    u32,
    GuestKind,
    bool,
    bool,
    Option<String>,
    Vec<(String, String)>,
);

fn summary(host: &Host) -> Vec<Summary> {
    host.guests
        .iter()
        .map(|g| {
            (
                g.vmid,
                g.kind,
                g.running,
                g.template,
                g.lock.clone(),
                g.disks
                    .iter()
                    .map(|d| (d.key.clone(), d.dataset.to_string()))
                    .collect(),
            )
        })
        .collect()
}

fn disks(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, d)| (k.to_string(), d.to_string()))
        .collect()
}

#[test]
fn basic_scenario() {
    let host = discover(&fixture("basic"), None, "pve1").unwrap();
    assert_eq!(host.node, "pve1");
    use GuestKind::{Lxc, Qemu};
    let want: Vec<Summary> = vec![
        (
            100,
            Qemu,
            true,
            false,
            None,
            disks(&[
                ("efidisk0", "rpool/data/vm-100-disk-1"),
                ("scsi0", "rpool/data/vm-100-disk-0"),
                ("tpmstate0", "rpool/data/vm-100-disk-2"),
            ]),
        ),
        // Linked clone of 900, stale pidfile (pid reused by sshd).
        (
            101,
            Qemu,
            false,
            false,
            None,
            disks(&[("scsi0", "rpool/data/vm-101-disk-0")]),
        ),
        // Zombie kvm.
        (
            102,
            Qemu,
            false,
            false,
            None,
            disks(&[("virtio0", "rpool/data/vm-102-disk-0")]),
        ),
        (
            200,
            Lxc,
            true,
            false,
            None,
            disks(&[
                ("mp0", "tank/pve/ct/subvol-200-disk-0"),
                ("rootfs", "rpool/data/subvol-200-disk-0"),
            ]),
        ),
        (
            900,
            Qemu,
            false,
            true,
            None,
            disks(&[("scsi0", "rpool/data/base-900-disk-0")]),
        ),
    ];
    assert_eq!(summary(&host), want);
    assert!(host.unreadable.is_empty(), "{:?}", host.unreadable);
    assert!(host.warnings.is_empty(), "{:?}", host.warnings);
    assert_eq!(host.guests[0].disks[1].storage, "local-zfs");
}

#[test]
fn basic_scenario_as_the_other_node() {
    // Explicit override: the /etc/pve/local cross-check is not applied. VM 300's config is on
    // pve2, and this tree's proc shows its (migration target) process as valid.
    let host = discover(&fixture("basic"), Some("pve2"), "pve1").unwrap();
    assert_eq!(host.node, "pve2");
    let want: Vec<Summary> = vec![(
        300,
        GuestKind::Qemu,
        true,
        false,
        None,
        disks(&[("scsi0", "rpool/data/vm-300-disk-0")]),
    )];
    assert_eq!(summary(&host), want);
}

#[test]
fn empty_vmlist_scenario() {
    let host = discover(&fixture("empty-vmlist"), None, "pve1").unwrap();
    assert_eq!(host.node, "pve1");
    assert!(host.guests.is_empty() && host.unreadable.is_empty() && host.warnings.is_empty());
}

#[test]
fn no_vmlist_scenario_is_fatal() {
    let err = discover(&fixture("no-vmlist"), None, "pve1").unwrap_err();
    assert!(matches!(err, DiscoverError::VmlistRead { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("etc/pve/.vmlist") && msg.contains("may not be mounted"),
        "{msg}"
    );
}

#[test]
fn fqdn_scenario() {
    let root = fixture("fqdn");
    let host = discover(&root, None, "pve1.example.com").unwrap();
    assert_eq!(host.node, "pve1");
    let got: Vec<(u32, bool)> = host.guests.iter().map(|g| (g.vmid, g.running)).collect();
    assert_eq!(got, [(110, true), (210, true)]);

    let err = discover(&root, None, "pve2.example.com").unwrap_err();
    assert!(matches!(err, DiscoverError::NodeMismatch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("\"pve2\"") && msg.contains("nodes/pve1") && msg.contains("--node pve1"),
        "{msg}"
    );

    let err = discover(&root, None, "-bad.example.com").unwrap_err();
    assert!(matches!(err, DiscoverError::NodeName(_)), "{err:?}");
    let err = discover(&root, Some("pve1.example.com"), "pve1").unwrap_err();
    assert!(matches!(err, DiscoverError::NodeName(_)), "{err:?}");
}

#[test]
fn malformed_scenario() {
    let host = discover(&fixture("malformed"), None, "pve1").unwrap();
    use GuestKind::{Lxc, Qemu};
    let want: Vec<Summary> = vec![
        (
            100,
            Qemu,
            false,
            false,
            Some("backup".into()),
            disks(&[("scsi0", "rpool/data/vm-100-disk-0")]),
        ),
        (
            101,
            Qemu,
            false,
            false,
            None,
            disks(&[("scsi0", "rpool/data/vm-101-disk-0")]),
        ),
        (
            102,
            Qemu,
            false,
            false,
            None,
            disks(&[("scsi0", "rpool/data/vm-102-disk-0")]),
        ),
        (
            104,
            Qemu,
            false,
            false,
            None,
            disks(&[("scsi0", "rpool/data/vm-104-disk-0")]),
        ),
        (
            105,
            Qemu,
            false,
            false,
            None,
            disks(&[("scsi0", "rpool/data/vm-105-disk-0")]),
        ),
        (
            200,
            Lxc,
            false,
            false,
            None,
            disks(&[("rootfs", "rpool/data/subvol-200-disk-0")]),
        ),
    ];
    // Issue 16 item 1: 101 (a bad line), 104 (a byte-order mark) and 105 (a latin-1 comment)
    // vanished from the run; PVE reads them, and so do we now.
    assert_eq!(summary(&host), want);

    // What cannot be used at all is a failure, named: 103's config is missing, 400's type is
    // unknown.
    let unreadable: Vec<(u32, Option<GuestKind>, &str)> = host
        .unreadable
        .iter()
        .map(|s| (s.vmid, s.kind, s.reason.as_str()))
        .collect();
    assert_eq!(unreadable.len(), 2, "{unreadable:?}");
    assert_eq!(unreadable[0].0, 103);
    assert!(
        unreadable[0].2.contains("qemu-server/103.conf"),
        "{unreadable:?}"
    );
    assert_eq!((unreadable[1].0, unreadable[1].1), (400, None));
    assert!(unreadable[1].2.contains("\"openvz\""), "{unreadable:?}");

    // The bad line is a warning, as PVE warns about it.
    assert_eq!(host.warnings.len(), 1, "{:#?}", host.warnings);
    assert!(
        host.warnings[0].starts_with("VM 101: ")
            && host.warnings[0].contains("qemu-server/101.conf:4:")
            && host.warnings[0].contains("this line is not a config line"),
        "{}",
        host.warnings[0]
    );

    // Every disk line that gives no dataset is named, with whether it is a failure.
    let other: Vec<(u32, &str, bool, &str)> = host
        .guests
        .iter()
        .flat_map(|g| {
            g.other_disks
                .iter()
                .map(move |o| (g.vmid, o.key.as_str(), o.failed, o.reason.as_str()))
        })
        .collect();
    let expect: [(u32, &str, bool, &str); 5] = [
        (102, "scsi1", true, "storage \"gone-zfs\" is not defined"),
        (102, "scsi2", true, "storage \"old-zfs\" is disabled"),
        (
            102,
            "scsi3",
            false,
            "volume local-zfs:vm-100-disk-0 belongs to guest 100",
        ),
        (102, "scsi4", true, "volume name \"vm102disk\""),
        (
            200,
            "mp0",
            true,
            "storage \"tank-ct\" is not available on node pve1",
        ),
    ];
    assert_eq!(other.len(), expect.len(), "{other:#?}");
    for (got, want) in other.iter().zip(expect) {
        assert_eq!((got.0, got.1, got.2), (want.0, want.1, want.2), "{got:?}");
        assert!(got.3.starts_with(want.3), "{got:?} vs {want:?}");
    }
}

#[test]
fn a_node_name_without_its_directory_is_a_configuration_error() {
    // Issue 16 item 2: `--node PVE1` served nothing and exited 0.
    let err = discover(&fixture("basic"), Some("PVE1"), "pve1").unwrap_err();
    assert!(matches!(err, DiscoverError::UnknownNode { .. }), "{err:?}");
    assert!(err.is_configuration());
    let msg = err.to_string();
    assert!(
        msg.contains("\"PVE1\"") && msg.contains("nodes: pve1, pve2") && msg.contains("--node"),
        "{msg}"
    );
}

/// A copy of a fixture in a temp dir, for tests that change it.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let (src, dst) = (entry.path(), to.join(entry.file_name()));
            let ft = entry.file_type().unwrap();
            if ft.is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
            } else if ft.is_dir() {
                copy(&src, &dst);
            } else {
                std::fs::copy(&src, &dst).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&fixture(name), dir.path());
    dir
}

#[test]
fn flipping_state_and_migrating_as_the_readme_describes() {
    let dir = copy_fixture("basic");
    let root = dir.path();
    let running = |root: &Path| -> Vec<u32> {
        discover(root, None, "pve1")
            .unwrap()
            .guests
            .iter()
            .filter(|g| g.running)
            .map(|g| g.vmid)
            .collect()
    };
    assert_eq!(running(root), [100, 200]);
    // Stop VM 100 (remove its pidfile) and CT 200 (drop its socket line).
    std::fs::remove_file(root.join("run/qemu-server/100.pid")).unwrap();
    let unix = std::fs::read_to_string(root.join("proc/net/unix")).unwrap();
    let unix: String = unix
        .lines()
        .filter(|l| !l.ends_with("@/var/lib/lxc/200/command"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(root.join("proc/net/unix"), unix).unwrap();
    assert_eq!(running(root), [] as [u32; 0]);
    // Start VM 101: point its pidfile at a kvm process started with its pidfile.
    std::fs::create_dir_all(root.join("proc/4101")).unwrap();
    std::fs::write(
        root.join("proc/4101/cmdline"),
        b"/usr/bin/kvm\0-id\x00101\0-pidfile\0/var/run/qemu-server/101.pid\0-daemonize\0",
    )
    .unwrap();
    std::fs::write(root.join("proc/4101/stat"), "4101 (kvm) S 1 4101").unwrap();
    std::fs::write(root.join("run/qemu-server/101.pid"), "4101\n").unwrap();
    assert_eq!(running(root), [101]);
    // Finish the migration of VM 300 to pve1: move the config, update the vmlist.
    std::fs::rename(
        root.join("etc/pve/nodes/pve2/qemu-server/300.conf"),
        root.join("etc/pve/nodes/pve1/qemu-server/300.conf"),
    )
    .unwrap();
    let vmlist = std::fs::read_to_string(root.join("etc/pve/.vmlist")).unwrap();
    let vmlist = vmlist.replace(
        "\"300\": { \"node\": \"pve2\"",
        "\"300\": { \"node\": \"pve1\"",
    );
    std::fs::write(root.join("etc/pve/.vmlist"), vmlist).unwrap();
    assert_eq!(running(root), [101, 300]);
}

#[test]
fn garbled_vmlist_is_fatal() {
    let dir = copy_fixture("empty-vmlist");
    for text in [
        "",
        "{}",
        "{\"version\": 1, \"ids\": {\"12\": {}}}",
        "<html>",
    ] {
        std::fs::write(dir.path().join("etc/pve/.vmlist"), text).unwrap();
        let err = discover(dir.path(), None, "pve1").unwrap_err();
        assert!(
            matches!(err, DiscoverError::VmlistParse { .. }),
            "{text:?}: {err:?}"
        );
        assert!(err.to_string().contains("may not be mounted"), "{err}");
    }
}

#[test]
fn storage_cfg_syntax_error_is_fatal_with_line() {
    let dir = copy_fixture("empty-vmlist");
    std::fs::write(
        dir.path().join("etc/pve/storage.cfg"),
        "dir: local\n\tpath /var/lib/vz\n\n\torphan 1\n",
    )
    .unwrap();
    let err = discover(dir.path(), None, "pve1").unwrap_err();
    assert!(
        matches!(err, DiscoverError::StorageSyntax { line: 4, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("storage.cfg:4:"), "{err}");
}

#[test]
fn missing_proc_net_unix_is_fatal_when_containers_exist() {
    let dir = copy_fixture("fqdn");
    std::fs::remove_file(dir.path().join("proc/net/unix")).unwrap();
    let err = discover(dir.path(), None, "pve1").unwrap_err();
    assert!(
        matches!(&err, DiscoverError::Read { path, .. } if path.ends_with("proc/net/unix")),
        "{err:?}"
    );
}

#[test]
fn unreadable_pidfile_is_an_error_not_stopped() {
    // A directory where the pidfile should be: reading fails with something other than
    // "not found" (as EACCES would for a non-root user), which must not read as "stopped".
    let dir = copy_fixture("fqdn");
    let pidfile = dir.path().join("run/qemu-server/110.pid");
    std::fs::remove_file(&pidfile).unwrap();
    std::fs::create_dir(&pidfile).unwrap();
    let err = discover(dir.path(), None, "pve1").unwrap_err();
    assert!(
        matches!(&err, DiscoverError::Read { path, .. } if path.ends_with("110.pid")),
        "{err:?}"
    );
}

#[test]
fn local_link_that_is_not_a_node_dir_is_an_error() {
    let dir = copy_fixture("empty-vmlist");
    let link = dir.path().join("etc/pve/local");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("elsewhere", &link).unwrap();
    let err = discover(dir.path(), None, "pve1").unwrap_err();
    assert!(matches!(err, DiscoverError::LocalLink { .. }), "{err:?}");
    // Absent link: nothing to cross-check.
    std::fs::remove_file(&link).unwrap();
    assert_eq!(discover(dir.path(), None, "pve1").unwrap().node, "pve1");
}
