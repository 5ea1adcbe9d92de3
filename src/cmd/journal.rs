//! Where a run's trace goes so that `journalctl` shows it: one line per pool and one per
//! failure, for every run that changes something (`--cron` included). Under systemd (the
//! shipped `pve-zfs-snap.service`: `JOURNAL_STREAM` is set) stderr already is the journal, so
//! the pool lines go there; otherwise (cron, a terminal) they are sent to syslog through
//! `<root>/dev/log` with the tag `pve-zfs-snap` (`journalctl -t pve-zfs-snap`), and cron mails
//! nothing for a run that went well. Also the logging setup (`-v`), never coloured when stderr
//! is not a terminal.
//!
//! Losing a journal line must never fail a run: a missing or refusing `/dev/log` is ignored.

use std::io::IsTerminal;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// The syslog tag (journald's `SYSLOG_IDENTIFIER`).
pub(crate) const TAG: &str = "pve-zfs-snap";

/// syslog facility `cron` (9), shifted.
const FACILITY_CRON: u8 = 9 << 3;
/// syslog severity `err`.
const ERR: u8 = 3;
/// syslog severity `info`.
const INFO: u8 = 6;

/// Where the trace goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Journal {
    /// Nowhere (a dry run changes nothing).
    Off,
    /// stderr is the journal (systemd): pool lines on stderr; failures are printed there by
    /// the run anyway.
    Stderr,
    /// The syslog socket at this path.
    Syslog(PathBuf),
}

impl Journal {
    /// For a run under `root`; `journal_stream` is whether `JOURNAL_STREAM` is set.
    pub(crate) fn for_run(root: &Path, dry_run: bool, journal_stream: bool) -> Journal {
        if dry_run {
            Journal::Off
        } else if journal_stream {
            Journal::Stderr
        } else {
            Journal::Syslog(root.join("dev/log"))
        }
    }

    /// For this process: reads `JOURNAL_STREAM`.
    pub(crate) fn for_this_run(root: &Path, dry_run: bool) -> Journal {
        Self::for_run(root, dry_run, std::env::var_os("JOURNAL_STREAM").is_some())
    }

    /// An informational line (a pool's outcome).
    pub(crate) fn info(&self, line: &str) {
        match self {
            Journal::Off => {}
            Journal::Stderr => eprintln!("{TAG}: {line}"),
            Journal::Syslog(path) => send(path, INFO, line),
        }
    }

    /// A failure line (already printed on stderr by the caller: not repeated there).
    pub(crate) fn err(&self, line: &str) {
        if let Journal::Syslog(path) = self {
            send(path, ERR, line);
        }
    }
}

/// One RFC 3164 datagram without a timestamp (journald and rsyslog stamp it on receipt).
fn send(path: &Path, severity: u8, line: &str) {
    let msg = format!(
        "<{}>{TAG}[{}]: {line}",
        FACILITY_CRON | severity,
        std::process::id()
    );
    if let Ok(sock) = UnixDatagram::unbound() {
        let _ = sock.send_to(msg.as_bytes(), path);
    }
}

/// Sets up logging on stderr: `-v` info (the decisions), `-vv` debug, more trace; `RUST_LOG`
/// overrides. ANSI colour only when stderr is a terminal (never in the journal or a cron mail).
pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_the_trace_goes() {
        let root = Path::new("/srv/x");
        assert_eq!(Journal::for_run(root, true, true), Journal::Off);
        assert_eq!(Journal::for_run(root, false, true), Journal::Stderr);
        assert_eq!(
            Journal::for_run(root, false, false),
            Journal::Syslog(PathBuf::from("/srv/x/dev/log"))
        );
    }

    #[test]
    fn syslog_datagrams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let sock = UnixDatagram::bind(&path).unwrap();
        let j = Journal::Syslog(path);
        j.info("pool rpool: 1 snapshots taken");
        j.err("UNPROTECTED x");
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        let first = String::from_utf8_lossy(&buf[..n]).into_owned();
        let n = sock.recv(&mut buf).unwrap();
        let second = String::from_utf8_lossy(&buf[..n]).into_owned();
        let pid = std::process::id();
        assert_eq!(
            first,
            format!("<78>pve-zfs-snap[{pid}]: pool rpool: 1 snapshots taken")
        );
        assert_eq!(second, format!("<75>pve-zfs-snap[{pid}]: UNPROTECTED x"));
        // No socket: silently nothing.
        Journal::Syslog(dir.path().join("none")).info("x");
    }
}
