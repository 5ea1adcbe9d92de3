//! Test harness: a temporary host root copied from a fixture tree, a `bin/` with `zfs` and
//! `zpool` pointing at `zfs-emu`, a state file, and helpers to run and inspect.

#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The product binary.
pub const PRODUCT: &str = env!("CARGO_BIN_EXE_pve-zfs-snap");
/// The emulator stand-in: the `zfs-emu` binary of the workspace's emulator crate
/// (`crates/zfs-emu`), found beside [`PRODUCT`] in the same target directory. Use it wherever a
/// path goes (`symlink`, `Command::new`) or in `format!`; the first use panics with what to run
/// when the binary is missing or older than the emulator's sources.
pub const EMU: Emu = Emu;

/// The `zfs-emu` binary (see [`EMU`]). Cargo gives a test the paths of its own package's
/// binaries only (`CARGO_BIN_EXE_*`), and `zfs-emu` belongs to another package of the
/// workspace, which `cargo build --workspace` (or `cargo test --workspace`) builds into the
/// same `target/<profile>/` as `pve-zfs-snap`.
#[derive(Clone, Copy, Debug)]
pub struct Emu;

impl Emu {
    /// The binary's path, checked once: present, and not older than the emulator's sources
    /// (a stale emulator would test yesterday's emulator).
    pub fn path(self) -> &'static Path {
        static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        PATH.get_or_init(|| {
            let emu = Path::new(PRODUCT).with_file_name("zfs-emu");
            let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/zfs-emu");
            if let Err(e) = check_emu(&emu, &crate_dir) {
                panic!("{e}: run `cargo build --workspace` (./test.sh does) before the e2e tests");
            }
            emu
        })
    }
}

/// `Ok` when `emu` exists and is at least as new as every `.rs` file and `Cargo.toml` of the
/// emulator crate at `crate_dir`.
pub fn check_emu(emu: &Path, crate_dir: &Path) -> Result<(), String> {
    let built = std::fs::metadata(emu)
        .and_then(|m| m.modified())
        .map_err(|e| format!("the emulator binary {} is missing ({e})", emu.display()))?;
    let mut stack = vec![crate_dir.join("src"), crate_dir.join("Cargo.toml")];
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&p).map_err(|e| format!("{}: {e}", p.display()))? {
                stack.push(entry.map_err(|e| format!("{}: {e}", p.display()))?.path());
            }
        } else if (p.extension().is_some_and(|x| x == "rs") || p.ends_with("Cargo.toml"))
            // unit tests (`tests.rs`, `#[cfg(test)]`) are not in the binary: cargo does not
            // rebuild it for them
            && p.file_name().is_none_or(|n| n != "tests.rs")
            && meta.modified().is_ok_and(|m| m > built)
        {
            return Err(format!(
                "the emulator binary {} is older than {}",
                emu.display(),
                p.display()
            ));
        }
    }
    Ok(())
}

impl AsRef<Path> for Emu {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl AsRef<std::ffi::OsStr> for Emu {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path().as_os_str()
    }
}

impl std::fmt::Display for Emu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path().display())
    }
}

/// One test's world.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub bin: PathBuf,
    pub state: PathBuf,
    /// The emulator's clock for setup commands (epoch seconds).
    pub clock: i64,
}

/// Datasets of the `basic` fixture, as PVE would have created them.
pub const BASIC_ZVOLS: [&str; 7] = [
    "rpool/data/vm-100-disk-0",
    "rpool/data/vm-100-disk-1",
    "rpool/data/vm-100-disk-2",
    "rpool/data/vm-101-disk-0",
    "rpool/data/vm-102-disk-0",
    "rpool/data/base-900-disk-0",
    "rpool/data/vm-300-disk-0",
];
/// Filesystems of the `basic` fixture.
pub const BASIC_SUBVOLS: [&str; 2] = [
    "rpool/data/subvol-200-disk-0",
    "tank/pve/ct/subvol-200-disk-0",
];
/// Disks of the guests running on pve1 in `basic`.
pub const RUNNING_DISKS: [&str; 5] = [
    "rpool/data/vm-100-disk-0",
    "rpool/data/vm-100-disk-1",
    "rpool/data/vm-100-disk-2",
    "rpool/data/subvol-200-disk-0",
    "tank/pve/ct/subvol-200-disk-0",
];

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

impl Env {
    /// A copy of `tests/fixtures/pve/<fixture>` as the host root, and an empty emulator state.
    pub fn new(fixture: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pve")
            .join(fixture);
        let st = Command::new("cp")
            .arg("-a")
            .arg(&src)
            .arg(&root)
            .status()
            .unwrap();
        assert!(st.success(), "copy fixture {fixture}");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for name in ["zfs", "zpool"] {
            std::os::unix::fs::symlink(EMU, bin.join(name)).unwrap();
        }
        let state = dir.path().join("state.json");
        Env {
            dir,
            root,
            bin,
            state,
            clock: t("2026-01-01T00:00:00Z").timestamp(),
        }
    }

    /// `basic` with its pools and datasets created, plus PVE's own `@__base__` on the template.
    pub fn basic() -> Env {
        Env::with_basic_datasets("basic")
    }

    /// The fixture `fixture` with `basic`'s pools and datasets created (and the template's
    /// `@__base__`): `basic` itself, or a tree that names the same disks (`cluster`).
    pub fn with_basic_datasets(fixture: &str) -> Env {
        let env = Env::new(fixture);
        env.zpool(&["create", "rpool", "/dev/vda3"]);
        env.zpool(&["create", "tank", "/dev/vdb"]);
        env.zfs(&["create", "-p", "rpool/data"]);
        for d in BASIC_ZVOLS {
            env.zfs(&["create", "-s", "-V", "1G", d]);
        }
        for d in BASIC_SUBVOLS {
            env.zfs(&["create", "-p", d]);
        }
        env.zfs(&["snapshot", "rpool/data/base-900-disk-0@__base__"]);
        env
    }

    /// A command with the test's PATH (`bin/` first) and the emulator's environment.
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .env("ZFS_EMU_STATE", &self.state)
            .env("ZFS_EMU_SEED", "7")
            .env("ZFS_EMU_NOW", self.clock.to_string())
            .env_remove("TZ");
        c
    }

    /// Runs `zfs args…` (the emulator) and returns its output, whatever the exit code.
    pub fn zfs_out(&self, args: &[&str]) -> Output {
        self.cmd(&self.bin.join("zfs").display().to_string())
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs `zfs args…` and insists on success; returns stdout.
    pub fn zfs(&self, args: &[&str]) -> String {
        let o = self.zfs_out(args);
        assert!(
            o.status.success(),
            "zfs {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Runs `zpool args…` and insists on success.
    pub fn zpool(&self, args: &[&str]) -> String {
        let o = self
            .cmd(&self.bin.join("zpool").display().to_string())
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "zpool {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// The product command, with `--root`, `--node pve1` and `--now`; the emulator's clock
    /// follows `now`.
    pub fn product(&self, now: DateTime<Utc>, args: &[&str]) -> Command {
        let mut c = self.cmd(PRODUCT);
        c.env("ZFS_EMU_NOW", now.timestamp().to_string())
            .arg("--root")
            .arg(&self.root)
            .args(["--node", "pve1", "--now", &now.to_rfc3339()])
            .args(args);
        c
    }

    /// Runs the product and returns (exit code, stdout, stderr).
    pub fn run(&self, now: DateTime<Utc>, args: &[&str]) -> (i32, String, String) {
        let o = self.product(now, args).output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// Runs the product and insists on exit 0.
    pub fn run_ok(&self, now: DateTime<Utc>, args: &[&str]) -> String {
        let (code, out, err) = self.run(now, args);
        assert_eq!(code, 0, "run at {now} {args:?} failed:\n{out}\n{err}");
        out
    }

    /// Every snapshot and bookmark of the pools: (full name, createtxg), sorted by name.
    pub fn objects(&self) -> Vec<(String, u64)> {
        let out = self.zfs(&[
            "list",
            "-H",
            "-p",
            "-o",
            "name,createtxg",
            "-t",
            "snapshot,bookmark",
        ]);
        let mut v: Vec<(String, u64)> = out
            .lines()
            .map(|l| {
                let (n, t) = l.split_once('\t').unwrap();
                (n.to_string(), t.parse().unwrap())
            })
            .collect();
        v.sort();
        v
    }

    /// Snapshot short names of `ds`, oldest first (by createtxg).
    pub fn snaps(&self, ds: &str) -> Vec<String> {
        self.list_children(ds, "snapshot", '@')
    }

    /// Bookmark short names of `ds`, oldest first.
    pub fn bookmarks(&self, ds: &str) -> Vec<String> {
        self.list_children(ds, "bookmark", '#')
    }

    fn list_children(&self, ds: &str, kind: &str, sep: char) -> Vec<String> {
        let out = self.zfs(&[
            "list",
            "-H",
            "-p",
            "-o",
            "name",
            "-t",
            kind,
            "-s",
            "createtxg",
            "-d",
            "1",
            ds,
        ]);
        out.lines()
            .map(|l| l.split_once(sep).unwrap().1.to_string())
            .collect()
    }

    /// `label:running` of `ds`: (value, source column), value `-` when unset.
    pub fn label(&self, ds: &str) -> (String, String) {
        let out = self.zfs(&["get", "-H", "-p", "-o", "value,source", "label:running", ds]);
        let (v, s) = out.trim_end().split_once('\t').unwrap();
        (v.to_string(), s.to_string())
    }

    /// Stops VM `vmid` the way PVE would see it: no pidfile.
    pub fn stop_vm(&self, vmid: u32) {
        let _ = std::fs::remove_file(self.root.join(format!("run/qemu-server/{vmid}.pid")));
    }

    /// Starts VM `vmid`: a pidfile naming a live kvm process with the right `-pidfile`.
    pub fn start_vm(&self, vmid: u32) {
        let pid = 20_000 + vmid;
        let proc_dir = self.root.join(format!("proc/{pid}"));
        std::fs::create_dir_all(&proc_dir).unwrap();
        std::fs::write(
            proc_dir.join("cmdline"),
            format!(
                "/usr/bin/kvm\0-id\0{vmid}\0-pidfile\0/var/run/qemu-server/{vmid}.pid\0-daemonize\0"
            ),
        )
        .unwrap();
        std::fs::write(proc_dir.join("stat"), format!("{pid} (kvm) S 1 {pid}")).unwrap();
        std::fs::write(
            self.root.join(format!("run/qemu-server/{vmid}.pid")),
            format!("{pid}\n"),
        )
        .unwrap();
    }

    /// Moves guest `vmid`'s config from node `from` to node `to` (migration / HA recovery).
    pub fn migrate(&self, vmid: u32, kind_dir: &str, from: &str, to: &str) {
        let src = self
            .root
            .join(format!("etc/pve/nodes/{from}/{kind_dir}/{vmid}.conf"));
        let dst_dir = self.root.join(format!("etc/pve/nodes/{to}/{kind_dir}"));
        std::fs::create_dir_all(&dst_dir).unwrap();
        std::fs::rename(&src, dst_dir.join(format!("{vmid}.conf"))).unwrap();
        let vmlist = self.root.join("etc/pve/.vmlist");
        let text = std::fs::read_to_string(&vmlist).unwrap();
        let needle = format!("\"{vmid}\": {{ \"node\": \"{from}\"");
        assert!(text.contains(&needle), "vmlist entry for {vmid} on {from}");
        std::fs::write(
            &vmlist,
            text.replace(&needle, &format!("\"{vmid}\": {{ \"node\": \"{to}\"")),
        )
        .unwrap();
    }

    /// Advances the setup clock.
    pub fn tick(&mut self, d: Duration) {
        self.clock += d.num_seconds();
    }
}

impl Env {
    /// Runs the product with `ZFS_EMU_FAULTS=faults` (the `zfs`/`zpool` it spawns inherit
    /// it) and returns (exit code, stdout, stderr); a run killed by a signal gives -1.
    pub fn run_faulted(
        &self,
        now: DateTime<Utc>,
        args: &[&str],
        faults: &str,
    ) -> (i32, String, String) {
        let o = self
            .product(now, args)
            .env("ZFS_EMU_FAULTS", faults)
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// The emulator's fault counters from the state file: (`zfs program` calls, sync calls
    /// of sync programs), 0 when none were counted.
    pub fn fault_counters(&self) -> (u64, u64) {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&self.state).unwrap()).unwrap();
        let c = &v["fault_counters"];
        (
            c["programs"].as_u64().unwrap_or(0),
            c["sync_calls"].as_u64().unwrap_or(0),
        )
    }
}

#[test]
fn the_emulator_binary_is_found_and_checked_for_staleness() {
    // The real one: built by `cargo test --workspace`, beside the product.
    assert!(EMU.path().is_file(), "{EMU}");
    assert_eq!(EMU.path().parent(), Path::new(PRODUCT).parent());
    // A fake emulator crate: a binary older than a source file is stale, a newer one is fine.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("crate");
    std::fs::create_dir_all(fake.join("src/deep")).unwrap();
    let bin = dir.path().join("zfs-emu");
    let now = std::time::SystemTime::now();
    let secs = std::time::Duration::from_secs;
    let file = |path: &Path, modified: std::time::SystemTime| {
        std::fs::write(path, "").unwrap();
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(modified).unwrap();
    };
    file(&fake.join("Cargo.toml"), now - secs(120));
    file(&fake.join("src/deep/x.rs"), now);
    let missing = check_emu(&bin, &fake).unwrap_err();
    assert!(missing.contains("is missing"), "{missing}");
    file(&bin, now - secs(60));
    let stale = check_emu(&bin, &fake).unwrap_err();
    assert!(
        stale.contains("is older than") && stale.ends_with("x.rs"),
        "{stale}"
    );
    file(&bin, now + secs(60));
    assert_eq!(check_emu(&bin, &fake), Ok(()));
    // Unit tests are not in the binary: a newer `tests.rs` does not make it stale.
    file(&fake.join("src/tests.rs"), now + secs(120));
    assert_eq!(check_emu(&bin, &fake), Ok(()));
}
