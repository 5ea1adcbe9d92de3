//! Typed errors of the ZFS layer: callers branch on [`FailureKind`] (retry smaller chunks on a
//! limit, report a pool as unavailable, ...). Carries argv, exit code and stderr for the report.

use super::tool::{Output, Tool};
use std::path::PathBuf;

/// What kind of failure a non-zero `zfs`/`zpool` exit was, read from its stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// `Channel program timed out.`: the instruction limit (`-t`) was hit.
    InstructionLimit,
    /// `Memory limit exhausted.`: the memory limit (`-m`) was hit.
    MemoryLimit,
    /// `Return value too large.`: the output did not fit.
    OutputTooLarge,
    /// The pool could not be opened (unknown, exported, suspended, read-only).
    PoolUnavailable,
    /// Not root (`Channel programs must be run as root`, `permission denied`).
    NotPermitted,
    /// The Lua program failed (syntax or runtime error); stderr has the message.
    ProgramError,
    /// The command line was rejected (exit 2, usage text).
    Usage,
    /// The command did not finish within the timeout (`--zfs-timeout`) and was killed.
    TimedOut,
    /// The command line was too long to start (`E2BIG`); nothing ran.
    ArgumentsTooLong,
    /// Anything else.
    Other,
}

impl FailureKind {
    /// Classifies a failed command from its exit code and stderr.
    pub fn classify(code: i32, stderr: &str) -> FailureKind {
        let s = stderr.to_ascii_lowercase();
        if code == 2 || s.starts_with("usage:") {
            FailureKind::Usage
        } else if s.contains("channel program timed out") {
            FailureKind::InstructionLimit
        } else if s.contains("memory limit exhausted") {
            FailureKind::MemoryLimit
        } else if s.contains("return value too large") {
            FailureKind::OutputTooLarge
        } else if s.contains("must be run as root") || s.contains("permission denied") {
            FailureKind::NotPermitted
        } else if s.contains("cannot open")
            || s.contains("pool is suspended")
            || s.contains("read-only")
        {
            FailureKind::PoolUnavailable
        } else if s.contains("channel program execution failed") {
            FailureKind::ProgramError
        } else {
            FailureKind::Other
        }
    }
}

/// An error of the ZFS layer.
#[derive(Debug, thiserror::Error)]
pub enum ZfsError {
    /// No executable found.
    #[error("cannot find the `{name}` executable (looked in: {}); install zfsutils-linux or pass --{name} <PATH>", searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound {
        /// `zfs` or `zpool`.
        name: &'static str,
        /// Where it looked.
        searched: Vec<PathBuf>,
    },
    /// The process could not be started.
    #[error("cannot run {}: {source}", program.display())]
    Spawn {
        /// The executable.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The command exited non-zero.
    #[error("`{}` failed (exit {code}, {kind:?}): {}", display_argv(argv), stderr.trim())]
    Failed {
        /// Full command line (tool name first).
        argv: Vec<String>,
        /// Exit code (-1 when killed by a signal).
        code: i32,
        /// Its stderr.
        stderr: String,
        /// What kind of failure it was.
        kind: FailureKind,
    },
    /// The output could not be understood.
    #[error(
        "cannot parse the output of `{}`: {detail}; output was: {}",
        display_argv(argv),
        excerpt(stdout)
    )]
    Parse {
        /// Full command line.
        argv: Vec<String>,
        /// What was wrong.
        detail: String,
        /// The output.
        stdout: String,
    },
    /// OpenZFS older than 2.0, or a version that could not be read.
    #[error("{0}")]
    UnsupportedVersion(String),
    /// The command did not finish within the timeout and was killed (SIGKILL). What a killed
    /// `zfs program` already did stays done; the pool's state is unknown until it is read again.
    #[error(
        "{} timed out after {secs} s; the pool may be hung — check `zpool status`",
        describe(argv)
    )]
    Timeout {
        /// Full command line (tool name first).
        argv: Vec<String>,
        /// The timeout, in seconds.
        secs: u64,
    },
}

impl ZfsError {
    /// A [`ZfsError::Failed`] from a finished command.
    pub fn failed(tool: Tool, args: &[String], out: &Output) -> ZfsError {
        ZfsError::Failed {
            argv: full_argv(tool, args),
            code: out.code,
            stderr: out.stderr.clone(),
            kind: FailureKind::classify(out.code, &out.stderr),
        }
    }

    /// A [`ZfsError::Parse`] for a finished command.
    pub fn parse(tool: Tool, args: &[String], detail: impl Into<String>, stdout: &str) -> ZfsError {
        ZfsError::Parse {
            argv: full_argv(tool, args),
            detail: detail.into(),
            stdout: stdout.to_string(),
        }
    }

    /// A [`ZfsError::Timeout`] for `tool args…` killed after `secs` seconds.
    pub fn timeout(tool: Tool, args: &[String], secs: u64) -> ZfsError {
        ZfsError::Timeout {
            argv: full_argv(tool, args),
            secs,
        }
    }

    /// The failure kind, when the command ran and failed, timed out, or could not start
    /// because its command line was too long.
    pub fn kind(&self) -> Option<FailureKind> {
        match self {
            ZfsError::Failed { kind, .. } => Some(*kind),
            ZfsError::Timeout { .. } => Some(FailureKind::TimedOut),
            ZfsError::Spawn { source, .. } if source.raw_os_error() == Some(E2BIG) => {
                Some(FailureKind::ArgumentsTooLong)
            }
            _ => None,
        }
    }
}

/// Linux' `E2BIG` ("Argument list too long").
pub const E2BIG: i32 = 7;

/// `zfs program on <pool>`, `zfs destroy on <name>`, `zpool list`: what a command was, short,
/// for messages about it as a whole.
fn describe(argv: &[String]) -> String {
    let head = argv.iter().take(2).cloned().collect::<Vec<_>>().join(" ");
    let target = match argv.get(1).map(String::as_str) {
        Some("program") => argv
            .iter()
            .position(|a| a == "--")
            .and_then(|i| argv.get(i + 1)),
        Some("destroy") => argv.last(),
        _ => None,
    };
    match target {
        Some(t) => format!("{head} on {t}"),
        None => head,
    }
}

fn full_argv(tool: Tool, args: &[String]) -> Vec<String> {
    std::iter::once(tool.name().to_string())
        .chain(args.iter().cloned())
        .collect()
}

/// Command lines can hold thousands of dataset names: show the start and the count.
fn display_argv(argv: &[String]) -> String {
    const SHOWN: usize = 12;
    let head = argv
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if argv.len() > SHOWN {
        format!("{head} … (+{} more arguments)", argv.len() - SHOWN)
    } else {
        head
    }
}

fn excerpt(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return format!("{s:?}");
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes)", &s[..end], s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        let cases: &[(i32, &str, FailureKind)] = &[
            (
                1,
                "Channel program execution failed:\nChannel program timed out.\nstack traceback:",
                FailureKind::InstructionLimit,
            ),
            (
                1,
                "Channel program execution failed:\nMemory limit exhausted.",
                FailureKind::MemoryLimit,
            ),
            (
                1,
                "Channel program execution failed:\nReturn value too large.",
                FailureKind::OutputTooLarge,
            ),
            (
                1,
                "cannot open 'nopool': no such pool",
                FailureKind::PoolUnavailable,
            ),
            (
                1,
                "Channel program execution failed:\nPermission denied. Channel programs must be run as root.",
                FailureKind::NotPermitted,
            ),
            (
                1,
                "Channel program execution failed:\n[string \"channel program\"]:3: boom",
                FailureKind::ProgramError,
            ),
            (2, "usage:\n\tprogram [-jn] ...", FailureKind::Usage),
            (1, "something else", FailureKind::Other),
        ];
        for (code, stderr, want) in cases {
            assert_eq!(FailureKind::classify(*code, stderr), *want, "{stderr}");
        }
    }

    #[test]
    fn a_timeout_names_the_command_and_the_pool_and_says_what_to_do() {
        let args: Vec<String> = ["program", "-j", "--", "rpool", "-", "G", "100"]
            .map(String::from)
            .to_vec();
        let e = ZfsError::timeout(Tool::Zfs, &args, 600);
        assert_eq!(
            e.to_string(),
            "zfs program on rpool timed out after 600 s; the pool may be hung — check `zpool status`"
        );
        assert_eq!(e.kind(), Some(FailureKind::TimedOut));
        let bm = ZfsError::timeout(Tool::Zfs, &["destroy".into(), "t/a#x".into()], 5);
        assert!(
            bm.to_string()
                .starts_with("zfs destroy on t/a#x timed out after 5 s")
        );
        let list = ZfsError::timeout(Tool::Zpool, &["list".into(), "-H".into()], 5);
        assert!(
            list.to_string().starts_with("zpool list timed out"),
            "{list}"
        );
    }

    #[test]
    fn e2big_at_spawn_is_its_own_kind() {
        let e = ZfsError::Spawn {
            program: "/sbin/zfs".into(),
            source: std::io::Error::from_raw_os_error(E2BIG),
        };
        assert_eq!(e.kind(), Some(FailureKind::ArgumentsTooLong));
        let other = ZfsError::Spawn {
            program: "/sbin/zfs".into(),
            source: std::io::Error::from_raw_os_error(2),
        };
        assert_eq!(other.kind(), None);
    }

    #[test]
    fn long_argv_is_abbreviated() {
        let argv: Vec<String> = (0..100).map(|i| format!("a{i}")).collect();
        let shown = display_argv(&argv);
        assert!(shown.starts_with("a0 a1"));
        assert!(shown.ends_with("(+88 more arguments)"), "{shown}");
    }
}
