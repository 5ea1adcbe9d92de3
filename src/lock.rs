//! The run lock: a non-blocking `flock` on `<root>/run/lock/pve-zfs-snap.lock`, so that
//! overlapping cron runs never race. Held for the life of the returned guard.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// Where the lock file lives, relative to the host root.
pub const LOCK_PATH: &str = "run/lock/pve-zfs-snap.lock";

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds it.
    #[error(
        "another pve-zfs-snap run holds {0}; not starting a second one (it will finish the work)"
    )]
    Held(PathBuf),
    /// The lock file could not be opened.
    #[error("cannot open lock file {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// A held run lock; released when dropped (or when the process exits).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock under `root` without waiting.
    pub fn acquire(root: &Path) -> Result<RunLock, LockError> {
        let path = root.join(LOCK_PATH);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| LockError::Io(path.clone(), e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| LockError::Io(path.clone(), e))?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(LockError::Held(path)),
            Err(TryLockError::Error(e)) => Err(LockError::Io(path, e)),
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_until_released() {
        let root = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(root.path()).unwrap();
        assert!(first.path().ends_with("run/lock/pve-zfs-snap.lock"));
        assert!(matches!(
            RunLock::acquire(root.path()),
            Err(LockError::Held(_))
        ));
        drop(first);
        assert!(RunLock::acquire(root.path()).is_ok());
    }
}
