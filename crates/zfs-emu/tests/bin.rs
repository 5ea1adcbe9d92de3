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
