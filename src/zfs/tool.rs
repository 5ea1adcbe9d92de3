//! The words of a `zfs`/`zpool` command line that every part of the ZFS layer shares: which
//! executable, and what a finished command returned. Data only: running commands is
//! `exec`'s, reading failures is `error`'s.

/// Which executable a command line is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `zfs`
    Zfs,
    /// `zpool`
    Zpool,
}

impl Tool {
    /// The executable's name.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Zfs => "zfs",
            Tool::Zpool => "zpool",
        }
    }
}

/// What a finished command printed and returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// Exit code; -1 when killed by a signal.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}
