//! The `zfs-emu` executable as a process: invocation forms, exit codes, the state file shared
//! by successive invocations, `ZFS_EMU_VERSION` and a bad `ZFS_EMU_FAULTS`. (This test also
//! makes `cargo test --workspace` build the binary that the product's e2e tests and the shell
//! tiers run.)

use std::path::Path;
use std::process::{Command, Output};

const EMU: &str = env!("CARGO_BIN_EXE_zfs-emu");

/// Runs `zfs-emu <args>` with the state file `state` and the extra environment `env`.
fn emu(state: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(EMU);
    cmd.args(args)
        .env("ZFS_EMU_STATE", state)
        .env("ZFS_EMU_NOW", "1700000000")
        .env_remove("ZFS_EMU_VERSION")
        .env_remove("ZFS_EMU_FAULTS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("zfs-emu runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn help_and_usage_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let help = emu(&state, &[], &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    for var in ["ZFS_EMU_STATE", "ZFS_EMU_VERSION", "ZFS_EMU_FAULTS"] {
        assert!(stdout(&help).contains(var), "--help documents {var}");
    }
    assert_eq!(emu(&state, &[], &["frobnicate"]).status.code(), Some(2));
    assert!(!state.exists(), "help and usage errors touch no state");
}

#[test]
fn successive_invocations_share_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let run = |args: &[&str]| {
        let o = emu(&state, &[], args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {o:?}");
        stdout(&o)
    };
    run(&["zpool", "create", "tank", "/dev/emu0"]);
    run(&["zfs", "create", "tank/a"]);
    run(&["zfs", "snapshot", "tank/a@one"]);
    assert_eq!(
        run(&["zfs", "list", "-H", "-o", "name", "-t", "all", "-r", "tank"]),
        "tank\ntank/a\ntank/a@one\n"
    );
    // Called by the name `zfs` (how tests put it first on PATH), without the tool argument.
    let zfs = dir.path().join("zfs");
    std::os::unix::fs::symlink(EMU, &zfs).unwrap();
    let o = Command::new(&zfs)
        .args(["list", "-H", "-o", "name", "tank/a"])
        .env("ZFS_EMU_STATE", &state)
        .output()
        .unwrap();
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), "tank/a\n".into()));
}

#[test]
fn the_emulated_version_gates_channel_program_functions() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    emu(&state, &[], &["zpool", "create", "tank", "/dev/emu0"]);
    let script = dir.path().join("p.lua");
    std::fs::write(&script, "return zfs.sync.rename_snapshot ~= nil").unwrap();
    let script = script.to_str().unwrap();
    let has_rename = |version: &str| {
        let o = emu(
            &state,
            &[("ZFS_EMU_VERSION", version)],
            &["zfs", "program", "-j", "tank", script],
        );
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        stdout(&o)
    };
    assert_eq!(has_rename("2.1.11").trim(), r#"{"return":false}"#);
    assert_eq!(has_rename("2.2.0").trim(), r#"{"return":true}"#);
}

#[test]
fn a_bad_fault_spec_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let o = emu(
        &state,
        &[("ZFS_EMU_FAULTS", "no-such-fault:tank")],
        &["zpool", "list", "-H"],
    );
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("zfs-emu: "));
}

/// `zfs-emu zfs <send> | zfs-emu zfs <recv>` through a real pipe, each side with its own
/// state file (two hosts) or the same one; returns both exit codes and the receiver's
/// stderr.
fn pipe(from: &Path, send: &[&str], to: &Path, recv: &[&str]) -> (i32, i32, String) {
    let spawn = |state: &Path, args: &[&str]| {
        let mut cmd = Command::new(EMU);
        cmd.arg("zfs")
            .args(args)
            .env("ZFS_EMU_STATE", state)
            .env("ZFS_EMU_NOW", "1700000000")
            .env_remove("ZFS_EMU_VERSION")
            .env_remove("ZFS_EMU_FAULTS");
        cmd
    };
    let mut tx = spawn(from, send)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let rx = spawn(to, recv)
        .stdin(tx.stdout.take().unwrap())
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let sent = tx.wait().unwrap();
    (
        sent.code().unwrap(),
        rx.status.code().unwrap(),
        String::from_utf8_lossy(&rx.stderr).into_owned(),
    )
}

#[test]
fn send_and_recv_through_a_pipe_between_two_hosts_and_within_one() {
    let dir = tempfile::tempdir().unwrap();
    let (a, c) = (dir.path().join("a.json"), dir.path().join("c.json"));
    let run = |state: &Path, args: &[&str]| {
        let o = emu(state, &[], args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {o:?}");
        stdout(&o)
    };
    run(&a, &["zpool", "create", "rpool", "/dev/emu0"]);
    run(&c, &["zpool", "create", "backup", "/dev/emu1"]);
    run(&a, &["zfs", "create", "-V", "8M", "rpool/vm-100-disk-0"]);
    run(
        &a,
        &["zfs", "set", "label:running=pve1", "rpool/vm-100-disk-0"],
    );
    for s in ["s1", "s2", "s3"] {
        run(
            &a,
            &["zfs", "snapshot", &format!("rpool/vm-100-disk-0@{s}")],
        );
    }
    let d = "rpool/vm-100-disk-0";
    run(
        &a,
        &["zfs", "bookmark", &format!("{d}@s1"), &format!("{d}#s1")],
    );
    // Full, then incremental from the bookmark after the source dropped s1, then -I.
    assert_eq!(
        pipe(
            &a,
            &["send", "-p", &format!("{d}@s1")],
            &c,
            &["recv", "backup/vm-100-disk-0"]
        ),
        (0, 0, String::new())
    );
    run(&a, &["zfs", "destroy", &format!("{d}@s1")]);
    assert_eq!(
        pipe(
            &a,
            &["send", "-p", "-i", &format!("{d}#s1"), &format!("{d}@s2")],
            &c,
            &["recv", "-s", "backup/vm-100-disk-0"]
        ),
        (0, 0, String::new())
    );
    assert_eq!(
        pipe(
            &a,
            &["send", "-p", "-I", "@s2", &format!("{d}@s3")],
            &c,
            &["recv", "-s", "backup/vm-100-disk-0"]
        ),
        (0, 0, String::new())
    );
    let guids = |state: &Path, ds: &str| {
        run(
            state,
            &["zfs", "list", "-H", "-o", "name,guid", "-t", "snapshot", ds],
        )
        .lines()
        .map(|l| l.split_once('@').unwrap().1.to_string())
        .collect::<Vec<_>>()
    };
    let at_c = guids(&c, "backup/vm-100-disk-0");
    assert_eq!(at_c.len(), 3);
    assert_eq!(at_c[1..], guids(&a, d)[..], "same guids as the source");
    assert_eq!(
        run(
            &c,
            &[
                "zfs",
                "get",
                "-H",
                "-o",
                "value,source",
                "label:running",
                "backup/vm-100-disk-0"
            ]
        ),
        "pve1\treceived\n"
    );
    // A mismatch: the kernel's message and exit status; the sender is fine.
    let (tx, rx, e) = pipe(
        &a,
        &["send", "-i", "@s2", &format!("{d}@s3")],
        &a,
        &["recv", "rpool/copy"],
    );
    assert_eq!((tx, rx), (0, 1));
    assert_eq!(
        e,
        "cannot receive incremental stream: destination 'rpool/copy' does not exist\n"
    );
    // Within one host (one state file): the sender releases the lock before the receiver
    // takes it.
    assert_eq!(
        pipe(
            &a,
            &["send", "-R", &format!("{d}@s3")],
            &a,
            &["recv", "rpool/copy"]
        ),
        (0, 0, String::new())
    );
    assert_eq!(guids(&a, "rpool/copy"), guids(&a, d));
}
