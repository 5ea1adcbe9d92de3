//! Command-line definitions (clap). The documentation of each flag lives beside the flag and
//! is what `--help`, the man page and the completions show.
//!
//! Parsing only: no validation beyond syntax here (policy keys are validated by `policy`,
//! durations by `duration`, both called from `cmd`). Imports nothing of the crate: the clap
//! types stop at `cmd`, which hands plain option structs to the rest; the defaults written
//! here are the only definition of each default.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Rotating, transaction-consistent ZFS snapshots of the guests running on this Proxmox VE node.
///
/// `pve-zfs-snap f100 h24 d7` keeps 100 frequent (every run), 24 hourly and 7 daily snapshots
/// of every disk of every guest running on this node; all snapshots of a pool are taken in one
/// ZFS transaction group. Snapshots it did not make are never destroyed.
///
/// Run from a terminal, it also installs itself as a cron job with the same arguments
/// (/etc/cron.d/pve-zfs-snap, every 15 minutes unless --schedule); `uninstall` removes it.
#[derive(Debug, Parser)]
#[command(
    name = "pve-zfs-snap",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    disable_help_subcommand = true
)]
#[command(
    after_help = "EXIT CODES: 0 all done, 1 some items failed or a disk is unprotected, or the \
metrics or node status file could not be written (the rest was done), 2 bad usage or configuration (nothing touched), 75 another run holds the lock (nothing touched)."
)]
pub struct Cli {
    /// Subcommand; without one, the snapshot run.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Log more (repeat for more detail); logs go to stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// The snapshot run's options.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Monitoring (Nagios plugin, JSON, Prometheus): is every guest disk's newest snapshot of
    /// ours recent enough? Works on the node, the replica and the backup site. Read-only.
    #[command(
        after_help = "STATES: OK, STOPPED (newest is a _stopped snapshot: never alerts), WARN, \
CRIT, MISSING (no snapshot of ours: critical), UNKNOWN.\n\
EXIT CODES (Nagios): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (zfs not reachable, nothing found, bad usage)."
    )]
    Check(CheckArgs),
    /// Per guest on this node: running or not, each disk, its label:running, the newest
    /// snapshot of ours per class and the counts. Read-only.
    Status(StatusArgs),
    /// Try a policy before installing it: the real plan and the real channel programs, run
    /// every 15 minutes for 400 virtual days against an in-memory emulated pool (3 guests with
    /// 2 disks each, one stopped for 3 days). Prints what is kept per class, the oldest point
    /// to roll back to, peaks and a timeline. Touches no real pool.
    Simulate(SimulateArgs),
    /// Remove the cron job (/etc/cron.d/pve-zfs-snap) installed by an interactive run (a file
    /// pve-zfs-snap did not write is kept); also reports a line of the original tool in root's
    /// crontab. Snapshots, bookmarks and labels are left in place unless --destroy-snapshots.
    #[command(
        after_help = "REMOVING EVERYTHING: 'pve-zfs-snap uninstall --destroy-snapshots' lists \
every autosnap_<time>_<class> snapshot and bookmark of ours and every local label:running on \
the disks of the guests whose config is on this node, and changes nothing; add --yes to remove \
the cron job and destroy them. Run it on every node. Other snapshots (replication, PVE, vzdump, \
yours) and label:nosnap are never touched."
    )]
    Uninstall(UninstallArgs),
    /// Third site: pull our snapshots of every guest disk below SOURCE (on this host, or on
    /// `--from [user@]host` over ssh) into TARGET_PREFIX, incrementally from the newest common
    /// snapshot or bookmark (by guid). Never rolls the target back: a target that diverged
    /// (e.g. after an HA failover) is kept under `<target>-diverged-<time>` and reported.
    #[command(
        after_help = "EXIT CODES: 0 all done, 1 some disk failed or diverged (set aside), the source \
could not be read or the metrics file not written (the rest was done), 2 bad usage (nothing \
touched), 75 another pull holds the lock (nothing touched)."
    )]
    Pull(PullArgs),
    /// The cluster-wide policy file /etc/pve/pve-zfs-snap.cfg.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the help of the program, or of a command (`pve-zfs-snap help check`).
    Help(HelpArgs),
}

/// `pve-zfs-snap pull`.
#[derive(Debug, Args, Clone)]
pub struct PullArgs {
    /// The source: a pool or dataset (e.g. `rpool/data`); every `vm-N-disk-M` and
    /// `subvol-N-disk-M` below it is pulled.
    #[arg(value_name = "SOURCE")]
    pub source: String,

    /// Where the copies go: SOURCE's path below it is kept (`rpool/data/vm-100-disk-0` into
    /// `backup/pve1/vm-100-disk-0`). Must exist.
    #[arg(value_name = "TARGET_PREFIX")]
    pub target: String,

    /// Pull from this host over ssh (`ssh -o BatchMode=yes`, your ssh config applies) instead
    /// of this host's pools.
    #[arg(long, value_name = "[USER@]HOST")]
    pub from: Option<String>,

    /// Retention at the target, as for the snapshot run (`h48 d30 m12`), applied only to our
    /// snapshots there; the newest snapshot in common with the source is never destroyed.
    /// Default: nothing is destroyed.
    #[arg(long, value_name = "KEEP", num_args = 1..)]
    pub keep: Vec<String>,

    /// Pull every snapshot, not only ours (`autosnap_…`).
    #[arg(long)]
    pub all_snapshots: bool,

    /// Limit each transfer to this rate: bytes per second with an optional K, M or G suffix
    /// (powers of 1024), e.g. `20M`. The stream is copied by pve-zfs-snap itself.
    #[arg(long, value_name = "RATE")]
    pub bwlimit: Option<String>,

    /// After this long a transfer is killed (both sides) and its disk counted as failed; a
    /// resumable receive continues next time: a duration (`6h`) or seconds.
    #[arg(long, value_name = "DUR", default_value = "12h")]
    pub transfer_timeout: String,

    /// Show what would be sent from where, and why, and what --keep would destroy; change
    /// nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Print every disk, not only the failed and diverged ones.
    #[arg(long)]
    pub list: bool,

    /// Write the outcome per disk as a Prometheus textfile, atomically. Not in dry runs.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,

    /// The `ssh` executable.
    #[arg(long, value_name = "PATH", default_value = "ssh")]
    pub ssh: PathBuf,

    /// `zfs` on the source host (with --from).
    #[arg(long, value_name = "PATH", default_value = "zfs")]
    pub remote_zfs: String,

    /// Host root under which the lock (/run/pve-zfs-snap/pull.lock) lives (tests, chroots).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// Where `zfs` and `zpool` are.
    #[command(flatten)]
    pub tools: ZfsArgs,

    /// Pretend the time is this RFC 3339 instant (tests and simulation).
    #[arg(long, value_name = "RFC3339", hide = true)]
    pub now: Option<String>,
}

/// `pve-zfs-snap config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the policy file (syntax, retention keys, and against every guest of the
    /// cluster: tags, pools, nodes, rules selecting nothing, conflicting rules) and show the
    /// policy each guest gets and why. Read-only.
    #[command(after_help = "EXIT CODES: 0 valid (or no file), 2 errors (each with file:line).")]
    Check(ConfigCheckArgs),
}

/// `pve-zfs-snap config check`.
#[derive(Debug, Args, Clone)]
pub struct ConfigCheckArgs {
    /// The file to check (default: <root>/etc/pve/pve-zfs-snap.cfg). The guests are always
    /// the cluster's, under --root.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Host root under which /etc/pve is read (tests, chroots).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// The retention keys of the cron line (`f100 h24 d7`), to show what guests that no rule
    /// selects get when the file has no `keep` in `defaults`.
    #[arg(value_name = "KEEP")]
    pub keep: Vec<String>,
}

/// `pve-zfs-snap help`.
#[derive(Debug, Args, Clone)]
pub struct HelpArgs {
    /// The command whose help to print (check, status, simulate, uninstall).
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

/// `pve-zfs-snap simulate`.
#[derive(Debug, Args, Clone)]
pub struct SimulateArgs {
    /// Retention keys, as for the snapshot run (`f100 h24 d7`). Optional with `--config`
    /// when the file's `defaults` has `keep`.
    #[arg(value_name = "KEEP", required_unless_present = "config")]
    pub keep: Vec<String>,

    /// Try a policy file (the syntax of /etc/pve/pve-zfs-snap.cfg) on the simulated guests
    /// (VMIDs 100 up, disks scsi0 and scsi1, node pve1, no tags or pools).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Virtual days to simulate.
    #[arg(long, value_name = "N", default_value_t = 400)]
    pub days: u32,

    /// Time between runs (the cron interval): a duration such as `15m`, `1h` or `1h30m`
    /// (units s, m, h, d, w).
    #[arg(long, value_name = "DUR", default_value = "15m")]
    pub every: String,

    /// Guests on the simulated node, each with 2 zvols.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub guests: u32,

    /// When the last guest is stopped: START:LENGTH after the first run, both durations
    /// (`100d:3d` = stopped from day 100 for 3 days). Repeatable; `none` keeps it running.
    #[arg(long, value_name = "START:LENGTH", default_value = "100d:3d")]
    pub stop_at: Vec<String>,

    /// Zone and bookmark options.
    #[command(flatten)]
    pub policy: PolicyArgs,

    /// The first run's time (RFC 3339).
    #[arg(long, value_name = "RFC3339", default_value = "2026-01-01T00:00:00Z")]
    pub start: String,

    /// Days per timeline line (default: about 25 lines in all).
    #[arg(long, value_name = "DAYS")]
    pub timeline_every: Option<u32>,

    /// Also write one CSV row per run (time, counts per class on the pool, created,
    /// destroyed, txg) to this file, for plotting.
    #[arg(long, value_name = "PATH")]
    pub csv: Option<PathBuf>,
}

/// `pve-zfs-snap uninstall`.
#[derive(Debug, Args, Clone)]
pub struct UninstallArgs {
    /// Also destroy every snapshot and bookmark of ours (`autosnap_<time>_<class>`) and remove
    /// the local label:running on the disks of the guests whose config is on this node.
    /// Without --yes this is a dry run: it lists them and changes nothing.
    #[arg(long)]
    pub destroy_snapshots: bool,

    /// With --destroy-snapshots: really destroy (after the dry run you read).
    #[arg(long, requires = "destroy_snapshots")]
    pub yes: bool,

    /// Host options (root, zfs, node).
    #[command(flatten)]
    pub host: HostArgs,

    /// Pretend the time is this RFC 3339 instant (tests).
    #[arg(long, value_name = "RFC3339", hide = true)]
    pub now: Option<String>,
}

/// `pve-zfs-snap status`.
#[derive(Debug, Args, Clone)]
pub struct StatusArgs {
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Every node's last run, from /etc/pve/nodes/<node>/pve-zfs-snap.json (written by each
    /// run): counts, failures, unprotected disks, policy fingerprint. Reads no pool.
    #[arg(long)]
    pub cluster: bool,

    /// Pretend the time is this RFC 3339 instant (tests).
    #[arg(long, value_name = "RFC3339", hide = true)]
    pub now: Option<String>,

    /// Host options.
    #[command(flatten)]
    pub host: HostArgs,
}

/// Output format of `check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// One Nagios plugin line with performance data; the exit code is the status.
    Nagios,
    /// A JSON list of per-disk records.
    Json,
    /// Prometheus text exposition format (node_exporter textfile collector).
    Prometheus,
}

/// `pve-zfs-snap check`.
#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// Warn when the newest snapshot of ours is older than this duration (`90m`, `2h`, `1d`,
    /// `1h30m`; units s, m, h, d, w).
    /// Default: 2 missed runs of the installed schedule, else 45m.
    #[arg(long, value_name = "DUR")]
    pub warn: Option<String>,

    /// Critical when older than this. Default: 8 missed runs of the installed schedule, else 2h.
    #[arg(long, value_name = "DUR")]
    pub crit: Option<String>,

    /// Only disks at or below this dataset (repeatable), e.g. `backup/pve1` on a backup pool.
    /// Default: every imported pool.
    #[arg(long = "dataset", value_name = "PREFIX")]
    pub datasets: Vec<String>,

    /// Leave out disks at or below this dataset (repeatable): EXCLUDED, never alerting, like
    /// a disk whose `label:nosnap` excludes it.
    #[arg(long = "exclude", value_name = "PREFIX")]
    pub excludes: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value = "nagios")]
    pub format: CheckFormat,

    /// Also check the health and capacity of the pools (of the --dataset prefixes, else every
    /// imported pool), as sanoid's --monitor-health/--monitor-capacity: DEGRADED warns, any
    /// other health but ONLINE is critical, and so is a pool past the capacity thresholds.
    #[arg(long)]
    pub pools: bool,

    /// With --pools: warn when a pool is at least this full (percent).
    #[arg(long, value_name = "PCT", default_value_t = 80, requires = "pools")]
    pub capacity_warn: u64,

    /// With --pools: critical when a pool is at least this full (percent).
    #[arg(long, value_name = "PCT", default_value_t = 95, requires = "pools")]
    pub capacity_crit: u64,

    /// Host root under which /etc/cron.d is read (tests, chroots).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// PVE node name, for the disks the cluster policy (/etc/pve/pve-zfs-snap.cfg, the
    /// `nosnap` tag) excludes on this node (default: the short hostname).
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,

    /// Where `zfs` and `zpool` are.
    #[command(flatten)]
    pub tools: ZfsArgs,

    /// Pretend the time is this RFC 3339 instant (tests and simulation).
    #[arg(long, value_name = "RFC3339", hide = true)]
    pub now: Option<String>,
}

/// How snapshots are named and bucketed, and bookmark retention: shared by the snapshot run
/// and `simulate`.
#[derive(Debug, Args, Clone)]
pub struct PolicyArgs {
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
}

/// Where `zfs` and `zpool` are.
#[derive(Debug, Args, Clone)]
pub struct ZfsArgs {
    /// The `zfs` executable (default: first on PATH, then /usr/sbin, /sbin).
    #[arg(long, value_name = "PATH")]
    pub zfs: Option<PathBuf>,

    /// The `zpool` executable (default: first on PATH, then /usr/sbin, /sbin).
    #[arg(long, value_name = "PATH")]
    pub zpool: Option<PathBuf>,

    /// After this long a `zfs`/`zpool` process is killed and its pool counted as failed (a
    /// hung pool must not hold the lock for ever): a duration (`10m`, `90s`) or a number of
    /// seconds. At least 1s.
    #[arg(long, value_name = "DUR", default_value = "600")]
    pub zfs_timeout: String,
}

/// Options shared by everything that reads this host's PVE configuration and pools.
#[derive(Debug, Args, Clone)]
pub struct HostArgs {
    /// Host root under which /etc/pve, /proc, /run and /etc/cron.d are read (tests, chroots).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// Where `zfs` and `zpool` are.
    #[command(flatten)]
    pub tools: ZfsArgs,

    /// PVE node name (default: the short hostname, cross-checked with /etc/pve/local).
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
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

    /// With --dry-run: show every change and its reason only for these guests (VMIDs,
    /// comma-separated or repeated); the summary, one line per guest and every problem are
    /// always shown.
    #[arg(
        long,
        value_name = "VMID[,VMID]",
        value_delimiter = ',',
        requires = "dry_run"
    )]
    pub guest: Vec<u32>,

    /// With --dry-run: show every change and its reason for every guest (the default on
    /// nodes of at most 20 guests).
    #[arg(long, requires = "dry_run", conflicts_with = "guest")]
    pub detail: bool,

    /// Scheduled run: quiet unless something failed; never installs the cron file.
    #[arg(long)]
    pub cron: bool,

    /// Do not install or update the cron job, even when run from a terminal.
    #[arg(long)]
    pub no_cron: bool,

    /// Schedule of the cron job installed by this (interactive) run: five cron fields
    /// (minute hour day-of-month month day-of-week). Default: `*/15 * * * *`.
    #[arg(long, value_name = "EXPR", conflicts_with = "no_cron")]
    pub schedule: Option<String>,

    /// Zone and bookmark options.
    #[command(flatten)]
    pub policy: PolicyArgs,

    /// Print the run report as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Write the run's outcome (last run, last success, duration, snapshots created and
    /// destroyed, failures) as a Prometheus textfile, atomically (node_exporter textfile
    /// collector, e.g. /var/lib/prometheus/node-exporter/pve-zfs-snap.prom). Not in dry runs.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,

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
        assert_eq!(cli.run.policy.bookmarks, ["h48", "d14"]);
        assert!(cli.run.cron && !cli.run.dry_run);
        assert_eq!(cli.run.host.root, PathBuf::from("/"));
    }

    #[test]
    fn parses_simulate_with_defaults() {
        let cli = Cli::try_parse_from(["pve-zfs-snap", "simulate", "f100", "h24", "d7"]).unwrap();
        let Some(Command::Simulate(a)) = cli.command else {
            panic!("not simulate: {:?}", cli.command);
        };
        assert_eq!(a.keep, ["f100", "h24", "d7"]);
        assert_eq!((a.days, a.every.as_str(), a.guests), (400, "15m", 3));
        assert_eq!(a.stop_at, ["100d:3d"]);
        let cli = Cli::try_parse_from([
            "pve-zfs-snap",
            "simulate",
            "--stop-at",
            "1d:2h",
            "--stop-at",
            "5d:1d",
            "h24",
        ])
        .unwrap();
        let Some(Command::Simulate(a)) = cli.command else {
            panic!("not simulate");
        };
        assert_eq!(a.stop_at, ["1d:2h", "5d:1d"]);
    }

    /// `help --help` prints help (it was "unrecognized subcommand '--help'"); `help check`
    /// names the command.
    #[test]
    fn help_subcommand_takes_help() {
        let err = Cli::try_parse_from(["pve-zfs-snap", "help", "--help"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{err}");
        let cli = Cli::try_parse_from(["pve-zfs-snap", "help", "check"]).unwrap();
        let Some(Command::Help(h)) = cli.command else {
            panic!("not help: {:?}", cli.command);
        };
        assert_eq!(h.command.as_deref(), Some("check"));
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
