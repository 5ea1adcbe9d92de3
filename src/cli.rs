//! Command-line definitions (clap). The documentation of each flag lives beside the flag and
//! is what `--help`, the man page and the completions show.
//!
//! Parsing only: no validation beyond syntax here (policy keys are validated by `policy`).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Exit code: everything was done.
pub const EXIT_OK: i32 = 0;
/// Exit code: some items failed; the rest was done.
pub const EXIT_PARTIAL: i32 = 1;
/// Exit code: bad usage or configuration; nothing was touched.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: another run holds the lock; nothing was touched (EX_TEMPFAIL).
pub const EXIT_LOCKED: i32 = 75;

/// Rotating, transaction-consistent ZFS snapshots of the guests running on this Proxmox VE node.
///
/// `pve-zfs-snap f100 h24 d7` keeps 100 frequent (every run), 24 hourly and 7 daily snapshots
/// of every disk of every guest running on this node; all snapshots of a pool are taken in one
/// ZFS transaction group. Snapshots it did not make are never destroyed.
#[derive(Debug, Parser)]
#[command(
    name = "pve-zfs-snap",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
#[command(
    after_help = "EXIT CODES: 0 all done, 1 some items failed (the rest was done), \
2 bad usage or configuration (nothing touched), 75 another run holds the lock (nothing touched)."
)]
pub struct Cli {
    /// Subcommand; without one, the snapshot run.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The snapshot run's options.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {}

/// Options shared by everything that reads this host.
#[derive(Debug, Args, Clone)]
pub struct HostArgs {
    /// Host root under which /etc/pve, /proc, /run and /etc/cron.d are read (tests, chroots).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// The `zfs` executable (default: first on PATH, then /usr/sbin, /sbin).
    #[arg(long, value_name = "PATH")]
    pub zfs: Option<PathBuf>,

    /// The `zpool` executable (default: first on PATH, then /usr/sbin, /sbin).
    #[arg(long, value_name = "PATH")]
    pub zpool: Option<PathBuf>,

    /// PVE node name (default: the short hostname, cross-checked with /etc/pve/local).
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,

    /// Log more (repeat for more detail); logs go to stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// The snapshot run: `pve-zfs-snap [OPTIONS] <KEEP>...`.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Retention keys: a class letter and how many to keep: f (frequently, every run),
    /// h (hourly), d (daily), w (weekly), m (monthly), y (yearly). A class not given is
    /// unmanaged: never created, destroyed or counted. `m0` removes all monthlies of ours.
    #[arg(value_name = "KEEP", required = true)]
    pub keep: Vec<String>,

    /// Show the plan (what would be created and destroyed, and why); change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Scheduled run: quiet unless something failed; never installs the cron file.
    #[arg(long)]
    pub cron: bool,

    /// Time zone of snapshot names and of the hour/day/week/month/year buckets:
    /// `utc` (default), `local`, or an IANA name such as `Europe/Berlin`.
    #[arg(long, value_name = "ZONE", default_value = "utc")]
    pub timezone: String,

    /// Bookmark retention, same keys as KEEP without `f`, comma-separated (`h48,d14`).
    /// Default: the snapshot counts doubled.
    #[arg(
        long,
        value_name = "KEEP",
        value_delimiter = ',',
        conflicts_with = "no_bookmarks"
    )]
    pub bookmarks: Vec<String>,

    /// Neither create nor destroy bookmarks.
    #[arg(long)]
    pub no_bookmarks: bool,

    /// Print the run report as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Host options.
    #[command(flatten)]
    pub host: HostArgs,

    /// Pretend the time is this RFC 3339 instant (tests and simulation).
    #[arg(long, value_name = "RFC3339", hide = true)]
    pub now: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_a_typical_cron_line() {
        let cli = Cli::try_parse_from([
            "pve-zfs-snap",
            "--cron",
            "f100",
            "h24",
            "d7",
            "--bookmarks",
            "h48,d14",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.run.keep, ["f100", "h24", "d7"]);
        assert_eq!(cli.run.bookmarks, ["h48", "d14"]);
        assert!(cli.run.cron && !cli.run.dry_run);
        assert_eq!(cli.run.host.root, PathBuf::from("/"));
    }

    #[test]
    fn rejects_missing_keys_and_conflicts() {
        assert!(Cli::try_parse_from(["pve-zfs-snap"]).is_err());
        assert!(
            Cli::try_parse_from(["pve-zfs-snap", "f1", "--bookmarks", "h2", "--no-bookmarks"])
                .is_err()
        );
    }
}
