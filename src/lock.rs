//! The run lock: a non-blocking `flock` on `<root>/run/pve-zfs-snap/lock`, so that
//! overlapping cron runs never race. Held for the life of the returned guard.
//!
//! The lock lives in a directory of its own, owned by the effective uid (root) with mode 0700,
//! and is itself 0600 and opened with `O_NOFOLLOW`: no other local user can open it to hold it
//! (and so stop every run), nor plant a symlink that makes root create a file elsewhere. A
//! directory or lock that is not as expected is refused with a message saying what to do; the
//! lock is never taken through it. `<root>/run` itself must already exist: a mistyped `--root`
//! creates nothing. This module must not print or decide anything beyond taking the lock.

use crate::fsutil;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};
use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// The lock's directory, relative to the host root (made with mode 0700).
pub const LOCK_DIR: &str = "run/pve-zfs-snap";

/// Where the lock file lives, relative to the host root (mode 0600).
pub const LOCK_PATH: &str = "run/pve-zfs-snap/lock";

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds it.
    #[error(
        "another pve-zfs-snap run holds {0}; not starting a second one (it will finish the work)"
    )]
    Held(PathBuf),
    /// The lock file could not be opened, or its directory or itself is not safe to use.
    #[error("cannot open lock file {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// A held run lock; released when dropped (or when the process exits).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    #[cfg(test)]
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock under `root` without waiting: makes `<root>/run/pve-zfs-snap` (0700)
    /// when missing, refuses it when it is a symlink, not owned by the effective uid or
    /// group/other-writable, and opens `lock` in it (0600, never following a symlink, a
    /// regular file of the effective uid's only).
    pub fn acquire(root: &Path) -> Result<RunLock, LockError> {
        RunLock::acquire_named(root, LOCK_PATH.rsplit('/').next().unwrap_or("lock"))
    }

    /// [`RunLock::acquire`] with another file in the same directory (`pull.lock`: a pull never
    /// waits for, nor blocks, a snapshot run).
    pub fn acquire_named(root: &Path, name: &str) -> Result<RunLock, LockError> {
        let path = root.join(LOCK_DIR).join(name);
        let io_err = |e: io::Error| LockError::Io(path.clone(), e);
        let run = root.join("run");
        if !run.is_dir() {
            return Err(io_err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} does not exist: is --root right?", run.display()),
            )));
        }
        let dir = root.join(LOCK_DIR);
        let dirfd = fsutil::ensure_private_dir(&dir, 0o700, false).map_err(io_err)?;
        let fd = match nix::fcntl::openat(
            &dirfd,
            name,
            OFlag::O_RDWR
                | OFlag::O_CREAT
                | OFlag::O_NOFOLLOW
                | OFlag::O_NONBLOCK
                | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        ) {
            Ok(fd) => fd,
            Err(Errno::ELOOP) => {
                return Err(io_err(unusable(&path, "it is a symlink")));
            }
            Err(e) => return Err(io_err(io::Error::from_raw_os_error(e as i32))),
        };
        let st = nix::sys::stat::fstat(&fd).map_err(|e| io_err(io::Error::from(e)))?;
        if st.st_mode & SFlag::S_IFMT.bits() != SFlag::S_IFREG.bits() {
            let kind = fsutil::kind_name(st.st_mode);
            return Err(io_err(unusable(&path, &format!("it is {kind}"))));
        }
        if st.st_uid != fsutil::euid() {
            return Err(io_err(unusable(
                &path,
                &format!("it is owned by uid {}", st.st_uid),
            )));
        }
        // Made by us (only we can write the directory): the mode whatever the umask was.
        if st.st_mode & 0o7777 != 0o600 {
            nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(0o600))
                .map_err(|e| io_err(io::Error::from(e)))?;
        }
        let file = File::from(fd);
        match file.try_lock() {
            Ok(()) => Ok(RunLock {
                _file: file,
                #[cfg(test)]
                path,
            }),
            Err(TryLockError::WouldBlock) => Err(LockError::Held(path)),
            Err(TryLockError::Error(e)) => Err(LockError::Io(path, e)),
        }
    }

    /// The lock file's path (tests).
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

fn unusable(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "refusing to use {}: {why}, not a regular file of uid {}; remove it (no run holds it \
             then) and run again",
            path.display(),
            fsutil::euid()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::tests::chmod;
    use std::os::unix::fs::MetadataExt;

    /// A host root with its `run` directory, as on a real host.
    fn host_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("run")).unwrap();
        root
    }

    #[test]
    fn second_acquire_fails_until_released() {
        let root = host_root();
        let first = RunLock::acquire(root.path()).unwrap();
        assert!(first.path().ends_with("run/pve-zfs-snap/lock"));
        assert!(matches!(
            RunLock::acquire(root.path()),
            Err(LockError::Held(_))
        ));
        drop(first);
        assert!(RunLock::acquire(root.path()).is_ok());
    }

    #[test]
    fn the_lock_is_private_and_its_modes_are_exact() {
        let root = host_root();
        let lock = RunLock::acquire(root.path()).unwrap();
        let m = |p: &Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(m(&root.path().join(LOCK_DIR)), 0o700);
        assert_eq!(m(lock.path()), 0o600);
        drop(lock);
        // A lock file left with a wider mode (an older version) is narrowed.
        chmod(&root.path().join(LOCK_PATH), 0o644);
        let lock = RunLock::acquire(root.path()).unwrap();
        assert_eq!(m(lock.path()), 0o600);
    }

    /// A mistyped `--root` used to get `run/lock` made under it.
    #[test]
    fn a_root_without_run_is_refused_and_nothing_is_made() {
        let root = tempfile::tempdir().unwrap();
        let e = RunLock::acquire(root.path()).unwrap_err().to_string();
        assert!(e.contains("run does not exist: is --root right?"), "{e}");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }

    /// Each way the lock or its directory can be planted or left unsafe: refused with the
    /// path and the reason, and nothing is made through it.
    #[test]
    fn planted_or_unsafe_locks_are_refused() {
        type Setup = fn(&Path, &Path);
        // (what, setup(root, elsewhere), words the message must hold)
        let cases: Vec<(&str, Setup, &str)> = vec![
            (
                "directory is a symlink",
                |root, elsewhere| {
                    std::os::unix::fs::symlink(elsewhere, root.join(LOCK_DIR)).unwrap()
                },
                "is a symlink",
            ),
            (
                "directory is world-writable",
                |root, _| {
                    std::fs::create_dir(root.join(LOCK_DIR)).unwrap();
                    chmod(&root.join(LOCK_DIR), 0o777);
                },
                "group/other-writable",
            ),
            (
                "directory is a file",
                |root, _| std::fs::write(root.join(LOCK_DIR), "").unwrap(),
                "not a directory",
            ),
            (
                "lock is a symlink",
                |root, elsewhere| {
                    std::fs::create_dir(root.join(LOCK_DIR)).unwrap();
                    chmod(&root.join(LOCK_DIR), 0o700);
                    std::os::unix::fs::symlink(elsewhere.join("made"), root.join(LOCK_PATH))
                        .unwrap();
                },
                "it is a symlink",
            ),
            (
                "lock is a FIFO",
                |root, _| {
                    std::fs::create_dir(root.join(LOCK_DIR)).unwrap();
                    chmod(&root.join(LOCK_DIR), 0o700);
                    nix::unistd::mkfifo(&root.join(LOCK_PATH), Mode::from_bits_truncate(0o600))
                        .unwrap();
                },
                "it is a FIFO",
            ),
            (
                "lock is a directory",
                |root, _| {
                    std::fs::create_dir(root.join(LOCK_DIR)).unwrap();
                    chmod(&root.join(LOCK_DIR), 0o700);
                    std::fs::create_dir(root.join(LOCK_PATH)).unwrap();
                },
                "",
            ),
        ];
        for (what, setup, words) in cases {
            let root = host_root();
            let elsewhere = tempfile::tempdir().unwrap();
            setup(root.path(), elsewhere.path());
            let e = RunLock::acquire(root.path()).unwrap_err();
            assert!(matches!(e, LockError::Io(..)), "{what}: {e:?}");
            let msg = e.to_string();
            assert!(msg.contains(LOCK_PATH), "{what}: {msg}");
            assert!(msg.contains(words), "{what}: {msg}");
            assert_eq!(
                std::fs::read_dir(elsewhere.path()).unwrap().count(),
                0,
                "{what}: nothing made through a symlink"
            );
        }
        if fsutil::euid() == 0 {
            let root = host_root();
            std::fs::create_dir(root.path().join(LOCK_DIR)).unwrap();
            chmod(&root.path().join(LOCK_DIR), 0o700);
            std::os::unix::fs::chown(root.path().join(LOCK_DIR), Some(65534), None).unwrap();
            let e = RunLock::acquire(root.path()).unwrap_err().to_string();
            assert!(e.contains("owned by uid 65534"), "{e}");
        }
    }
}
