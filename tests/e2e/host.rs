//! Harness for monitoring tests: pools built with `zfs-emu`, no PVE tree needed.
//! emulator's state in `<tmp>/state.json`, and runs of the real binary with that PATH.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary emulated host.
pub struct Host {
    pub dir: tempfile::TempDir,
}

/// What a command printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Host {
    /// An empty host (no pools).
    pub fn new() -> Host {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for tool in ["zfs", "zpool"] {
            std::os::unix::fs::symlink(crate::harness::EMU, bin.join(tool)).unwrap();
        }
        std::fs::create_dir(dir.path().join("root")).unwrap();
        Host { dir }
    }

    /// A host without `zfs`/`zpool` anywhere on PATH.
    pub fn without_zfs() -> Host {
        let h = Host::new();
        for tool in ["zfs", "zpool"] {
            std::fs::remove_file(h.bin().join(tool)).unwrap();
        }
        h
    }

    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// The host root (`--root`): `<tmp>/root`.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn path_var(&self) -> String {
        format!("{}:/usr/bin:/bin", self.bin().display())
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    /// Runs `zfs-emu <tool> <args>` with the emulator's clock at `now`; panics on failure.
    pub fn emu(&self, now: i64, tool: &str, args: &[&str]) -> Run {
        let r: Run = Command::new(crate::harness::EMU)
            .arg(tool)
            .args(args)
            .env("ZFS_EMU_STATE", self.state())
            .env("ZFS_EMU_NOW", now.to_string())
            .output()
            .expect("zfs-emu runs")
            .into();
        assert_eq!(r.code, 0, "zfs-emu {tool} {args:?}: {r:?}");
        r
    }

    /// `zpool create <pool>`.
    pub fn pool(&self, name: &str) {
        self.emu(0, "zpool", &["create", name]);
    }

    /// `zfs create -p <ds>`.
    pub fn dataset(&self, name: &str) {
        self.emu(0, "zfs", &["create", "-p", name]);
    }

    /// `zfs snapshot <full>` at time `now`.
    pub fn snapshot(&self, now: i64, full: &str) {
        self.emu(now, "zfs", &["snapshot", full]);
    }

    /// Runs `pve-zfs-snap <args>` with PATH = `<tmp>/bin:/usr/bin:/bin`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// [`Host::run`] with more environment variables (`ZFS_EMU_FAULTS`).
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        Command::new(env!("CARGO_BIN_EXE_pve-zfs-snap"))
            .args(args)
            .env_clear()
            .env("PATH", self.path_var())
            .env("ZFS_EMU_STATE", self.state())
            .env("LC_ALL", "C.UTF-8")
            .envs(env.iter().copied())
            .output()
            .expect("pve-zfs-snap runs")
            .into()
    }

    /// Writes a file under the host root.
    pub fn write(&self, rel: &str, text: &str) {
        let p: &Path = &self.root().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}
