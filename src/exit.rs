//! The process exit codes of every command and the error that stops a snapshot run before its
//! work, in one place. `cmd` turns results into these codes; the pure modules name the codes
//! their verdicts map to (a run report, a monitoring check) without knowing how the process
//! ends.
//!
//! Imports nothing of the crate: a leaf any layer may use. Never prints.

/// Exit code: everything was done.
pub const OK: i32 = 0;
/// Exit code: some items failed; the rest was done.
pub const PARTIAL: i32 = 1;
/// Exit code: bad usage or configuration; nothing was touched.
pub const USAGE: i32 = 2;
/// Exit code: another run holds the lock; nothing was touched (EX_TEMPFAIL).
pub const LOCKED: i32 = 75;

/// Exit codes of `check`: the Nagios plugin convention.
pub mod nagios {
    /// Nagios OK.
    pub const OK: i32 = 0;
    /// Nagios WARNING.
    pub const WARN: i32 = 1;
    /// Nagios CRITICAL.
    pub const CRIT: i32 = 2;
    /// Nagios UNKNOWN (zfs not reachable, nothing found, bad usage).
    pub const UNKNOWN: i32 = 3;
}

/// Why a run (or `simulate`) stopped before doing its work; each maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad arguments or configuration (node name, `storage.cfg` syntax, a mistyped `--root`):
    /// nothing touched.
    #[error("{0}")]
    Usage(String),
    /// Another run holds the lock (the message names it): nothing touched.
    #[error("{0}")]
    Locked(String),
    /// The host or ZFS could not be read, or the lock could not be taken: nothing touched.
    #[error("{}", chain(.0))]
    Failed(anyhow::Error),
}

/// The error and its causes, `outer: inner`, leaving out a cause whose text the message
/// before it already carries (an error that names its `source` in its own message), so that
/// "No such file or directory (os error 2)" is said once.
fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.is_empty() {
            out = text;
        } else if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

impl RunError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Usage(_) => USAGE,
            RunError::Locked(_) => LOCKED,
            RunError::Failed(_) => PARTIAL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_code_and_its_message() {
        let cases = [
            (RunError::Usage("bad".into()), USAGE, "bad"),
            (RunError::Locked("held".into()), LOCKED, "held"),
            (
                RunError::Failed(anyhow::anyhow!("inner").context("outer")),
                PARTIAL,
                "outer: inner",
            ),
        ];
        for (e, code, text) in cases {
            assert_eq!((e.exit_code(), e.to_string()), (code, text.to_string()));
        }
    }

    /// An error whose message already names its source does not repeat it.
    #[test]
    fn a_cause_is_said_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read /etc/pve/.vmlist: {source}; is pve-cluster running?")]
        struct E {
            #[source]
            source: std::io::Error,
        }
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let text = io.to_string();
        let e = RunError::Failed(anyhow::Error::new(E { source: io }));
        let msg = e.to_string();
        assert_eq!(msg.matches(&text).count(), 1, "{msg}");
        assert_eq!(
            RunError::Failed(anyhow::anyhow!("a").context("b").context("c")).to_string(),
            "c: b: a"
        );
    }
}
