//! The OpenZFS version (`zfs version`) and the gate that refuses versions the programs in
//! `lua/` cannot run on (set_prop, bookmark and list.bookmarks need 2.0).

use super::error::ZfsError;
use super::exec::{Exec, Tool};
use std::fmt;
use std::path::Path;

/// An OpenZFS userland/kernel version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct ZfsVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

/// The oldest OpenZFS the shipped programs run on.
pub const MINIMUM: ZfsVersion = ZfsVersion {
    major: 2,
    minor: 0,
    patch: 0,
};

impl fmt::Display for ZfsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The first OpenZFS whose channel programs can read `snapshots_changed`.
pub const SNAPSHOTS_CHANGED: ZfsVersion = ZfsVersion {
    major: 2,
    minor: 2,
    patch: 0,
};

impl From<zfs_emu::Version> for ZfsVersion {
    /// The version the in-process emulator plays (for `simulate`, which gates on it like a run).
    fn from(v: zfs_emu::Version) -> ZfsVersion {
        ZfsVersion {
            major: v.major,
            minor: v.minor,
            patch: v.patch,
        }
    }
}

impl ZfsVersion {
    /// True when `zfs.get_prop(ds, "snapshots_changed")` works (2.2.0 and later; 2.1 raises
    /// "not a valid property").
    pub fn has_snapshots_changed(&self) -> bool {
        *self >= SNAPSHOTS_CHANGED
    }

    /// Parses `2.1.11`, `2.3.2-pve1`, `zfs-2.1.11-1`, `zfs-kmod-2.2.7-pve2`, `0.8.6-1ubuntu`.
    pub fn parse_token(token: &str) -> Option<ZfsVersion> {
        let t = token.trim();
        let t = t
            .strip_prefix("zfs-kmod-")
            .or_else(|| t.strip_prefix("zfs-"))
            .unwrap_or(t);
        let numeric: String = t
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let mut parts = numeric
            .split('.')
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<u32>());
        let major = parts.next()?.ok()?;
        let minor = parts.next()?.ok()?;
        let patch = parts.next().unwrap_or(Ok(0)).ok()?;
        Some(ZfsVersion {
            major,
            minor,
            patch,
        })
    }

    /// Reads `zfs version` output: the userland line `zfs-X` and the kernel line `zfs-kmod-Y`.
    /// The kernel module is what runs channel programs, so its version decides; without a
    /// `zfs-kmod` line (module not loaded) the userland version is used.
    pub fn parse_output(stdout: &str) -> Option<ZfsVersion> {
        let mut user = None;
        let mut kmod = None;
        for line in stdout.lines().map(str::trim) {
            if line.starts_with("zfs-kmod-") {
                kmod = ZfsVersion::parse_token(line);
            } else if line.starts_with("zfs-") {
                user = ZfsVersion::parse_token(line);
            }
        }
        kmod.or(user)
    }
}

/// The loaded kernel module's version from `<root>/sys/module/zfs/version` (Linux), without
/// spawning a process; `None` when the file is absent or unreadable.
pub fn from_sysfs(root: &Path) -> Option<ZfsVersion> {
    let text = std::fs::read_to_string(root.join("sys/module/zfs/version")).ok()?;
    ZfsVersion::parse_token(&text)
}

/// The kernel module's version from sysfs under `root` when it is there (no process), else
/// `zfs version`; refuses anything older than [`MINIMUM`].
pub fn detect_on(exec: &dyn Exec, root: &Path) -> Result<ZfsVersion, ZfsError> {
    match from_sysfs(root) {
        Some(v) => check(v),
        None => detect(exec),
    }
}

/// Runs `zfs version` and refuses anything older than [`MINIMUM`].
pub fn detect(exec: &dyn Exec) -> Result<ZfsVersion, ZfsError> {
    let args = vec!["version".to_string()];
    let out = exec.run(Tool::Zfs, &args, None)?;
    if out.code != 0 {
        // OpenZFS 0.7 and older have no `zfs version` subcommand.
        return Err(ZfsError::UnsupportedVersion(format!(
            "`zfs version` failed (exit {}): {}; pve-zfs-snap needs OpenZFS {MINIMUM} or later",
            out.code,
            out.stderr.trim()
        )));
    }
    let v = ZfsVersion::parse_output(&out.stdout)
        .ok_or_else(|| ZfsError::parse(Tool::Zfs, &args, "no zfs-X.Y.Z line", &out.stdout))?;
    check(v)?;
    Ok(v)
}

/// Refuses versions older than [`MINIMUM`] with a message that says why.
pub fn check(v: ZfsVersion) -> Result<ZfsVersion, ZfsError> {
    if v < MINIMUM {
        return Err(ZfsError::UnsupportedVersion(format!(
            "OpenZFS {v} is too old: pve-zfs-snap needs {MINIMUM} or later \
             (channel programs gained zfs.sync.set_prop, zfs.sync.bookmark and zfs.list.bookmarks in 2.0; \
             Proxmox VE 7 and later ship 2.0+)"
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let v = |a, b, c| {
            Some(ZfsVersion {
                major: a,
                minor: b,
                patch: c,
            })
        };
        let cases = [
            ("zfs-2.1.11-1\nzfs-kmod-2.1.11-1\n", v(2, 1, 11)),
            (
                "zfs-2.3.2-1~bpo12+1\nzfs-kmod-2.3.2-1~bpo12+1\n",
                v(2, 3, 2),
            ),
            ("zfs-2.2.7-pve2\nzfs-kmod-2.2.6-pve1\n", v(2, 2, 6)),
            ("zfs-2.2.7-pve2\n", v(2, 2, 7)),
            ("zfs-0.8.6-1\nzfs-kmod-0.8.6-1\n", v(0, 8, 6)),
            ("zfs-2.4.0-rc1\nzfs-kmod-2.4.0-rc1\n", v(2, 4, 0)),
            ("garbage\n", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(ZfsVersion::parse_output(input), want, "{input:?}");
        }
    }

    #[test]
    fn sysfs_version_wins_and_needs_no_process() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(from_sysfs(root.path()), None);
        std::fs::create_dir_all(root.path().join("sys/module/zfs")).unwrap();
        std::fs::write(root.path().join("sys/module/zfs/version"), "2.2.7-pve2\n").unwrap();
        assert_eq!(from_sysfs(root.path()), ZfsVersion::parse_token("2.2.7"));
        std::fs::write(root.path().join("sys/module/zfs/version"), "0.8.6-1\n").unwrap();
        struct NoProcess;
        impl Exec for NoProcess {
            fn run(
                &self,
                _: Tool,
                args: &[String],
                _: Option<&str>,
            ) -> Result<crate::zfs::Output, ZfsError> {
                panic!("spawned {args:?} although sysfs had the version")
            }
            fn commands_run(&self) -> u64 {
                0
            }
        }
        let e = detect_on(&NoProcess, root.path()).unwrap_err().to_string();
        assert!(e.contains("0.8.6 is too old"), "{e}");
    }

    #[test]
    fn gate() {
        let old = ZfsVersion::parse_token("0.8.6").unwrap();
        let msg = check(old).unwrap_err().to_string();
        assert!(
            msg.contains("0.8.6 is too old") && msg.contains("2.0.0"),
            "{msg}"
        );
        assert!(check(ZfsVersion::parse_token("2.0.0").unwrap()).is_ok());
        assert!(check(ZfsVersion::parse_token("2.1.11").unwrap()).is_ok());
    }
}
