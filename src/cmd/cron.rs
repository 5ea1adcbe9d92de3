//! The cron setup of a snapshot run: whether the run installs the cron job (interactive runs
//! only), which of the run's arguments go on the cron line, installing after the run, and the
//! warning about a line of the original Go tool in root's crontab (read with `crontab -l`,
//! never changed; `uninstall` warns too). The cron file's format is [`crate::cron`].
//!
//! This prints (the install notice, the hint, warnings). It must never be reached from a
//! `--cron` run: [`Setup::decide`] returns [`Setup::Skip`] for those before anything else is
//! looked at.

use crate::cli::RunArgs;
use crate::cron::{self, CronSchedule, InstallOutcome, Installed};
use crate::exit::{OK as EXIT_OK, PARTIAL as EXIT_PARTIAL};
use anyhow::Context;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Hidden test hook: when this environment variable is `1`, the run behaves as if stdin and
/// stdout were terminals (the e2e tests cannot always give the binary a TTY). Deliberately not
/// in `--help`.
pub(crate) const ASSUME_TTY_ENV: &str = "PVE_ZFS_SNAP_ASSUME_TTY";

/// The line printed (on stderr) after a non-interactive run that was given neither `--cron`
/// nor `--no-cron`.
pub(crate) const HINT: &str = "not installing the cron job (stdin/stdout are not a terminal): run \
this command once from a terminal to install it, or add --cron (scheduled runs) or --no-cron \
to silence this";

/// What a snapshot run does about the cron job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Setup {
    /// Nothing: a `--cron` run, `--no-cron`, or a dry run.
    Skip,
    /// Not interactive and not told: print [`HINT`] after the run.
    Hint,
    /// Interactive: install this job after a run that produced a report.
    Install(Job),
}

/// A rendered cron file, ready to install; built before the run so that any problem with it
/// is reported before anything is changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Job {
    /// Host root the file goes under.
    pub root: PathBuf,
    /// The whole file.
    pub content: String,
    /// Its command line (`<schedule> root <binary> --cron …`), for messages.
    pub line: String,
    /// The schedule is the installed file's, kept because `--schedule` was not given.
    pub kept_schedule: bool,
}

impl Setup {
    /// Decides from the arguments and whether the run is interactive (see [`is_interactive`]).
    /// For an install, renders the file with `binary` (see [`current_binary`]) and, when
    /// `--schedule` was not given, the schedule of the file of ours already `installed` (a
    /// run without `--schedule` never resets a schedule chosen earlier); an error means the
    /// job cannot be written (e.g. an argument cron cannot carry).
    pub(crate) fn decide(
        args: &RunArgs,
        schedule: &CronSchedule,
        interactive: bool,
        binary: impl FnOnce() -> anyhow::Result<PathBuf>,
        installed: impl FnOnce() -> Installed,
    ) -> anyhow::Result<Setup> {
        if args.cron || args.no_cron || args.dry_run {
            return Ok(Setup::Skip);
        }
        if !interactive {
            return Ok(Setup::Hint);
        }
        let kept = match (&args.schedule, installed()) {
            (None, Installed::Ours(previous, _)) if previous != *schedule => Some(previous),
            _ => None,
        };
        let mut job = Job::new(args, kept.as_ref().unwrap_or(schedule), &binary()?)?;
        job.kept_schedule = kept.is_some();
        Ok(Setup::Install(job))
    }
}

impl Job {
    /// Renders the cron file for `args` run by `binary` (absolute).
    pub(crate) fn new(
        args: &RunArgs,
        schedule: &CronSchedule,
        binary: &Path,
    ) -> anyhow::Result<Job> {
        let content = cron::render(schedule, binary, &cron_args(args)?)?;
        let line = content.lines().last().unwrap_or_default().to_string();
        Ok(Job {
            root: args.host.root.clone(),
            content,
            line,
            kept_schedule: false,
        })
    }

    /// The file's path under the root.
    pub(crate) fn path(&self) -> PathBuf {
        self.root.join(cron::CRON_FILE)
    }

    /// The notice for an install outcome: `installed|updated|unchanged <path>: <line>`, with
    /// the line it replaced (`previous`) and whether the schedule was kept; for a file we did
    /// not write, the warning that it was kept.
    pub(crate) fn notice(&self, outcome: InstallOutcome, previous: Option<&str>) -> String {
        let verb = match outcome {
            InstallOutcome::Created => "installed",
            InstallOutcome::Updated => "updated",
            InstallOutcome::Unchanged => "unchanged",
            InstallOutcome::Foreign => {
                return format!(
                    "pve-zfs-snap: warning: kept {path}: it was not written by pve-zfs-snap (its \
                     first line is not '{marker} …', or it was edited by hand), so the cron job \
                     was NOT installed or changed. To let pve-zfs-snap manage it, remove that \
                     file and run again; to keep yours, add --no-cron",
                    path = self.path().display(),
                    marker = cron::MARKER,
                );
            }
        };
        let mut s = format!("{verb} {}: {}", self.path().display(), self.line);
        if let (InstallOutcome::Updated, Some(old)) = (outcome, previous)
            && old != self.line
        {
            s.push_str(&format!("\n  (it was: {old})"));
        }
        if self.kept_schedule {
            let sched = self.line.split_whitespace().take(5).collect::<Vec<_>>();
            s.push_str(&format!(
                "\n  (kept the installed schedule '{}'; give --schedule to change it)",
                sched.join(" ")
            ));
        }
        s
    }
}

/// The arguments after `--cron` on the cron line: the KEEP keys and the options that change
/// what a run does, with paths made absolute (cron starts jobs in root's home). Never
/// `--dry-run`, `--json`, `--now`, `-v`, `--schedule`, `--no-cron`.
pub(crate) fn cron_args(args: &RunArgs) -> anyhow::Result<Vec<String>> {
    let abs = |p: &Path| -> anyhow::Result<String> {
        let a = std::path::absolute(p).with_context(|| format!("{}", p.display()))?;
        a.to_str()
            .map(str::to_string)
            .with_context(|| format!("{} is not valid UTF-8", a.display()))
    };
    let mut out = args.keep.clone();
    if args.policy.timezone != "utc" {
        out.extend(["--timezone".into(), args.policy.timezone.clone()]);
    }
    if args.policy.no_bookmarks {
        out.push("--no-bookmarks".into());
    } else if !args.policy.bookmarks.is_empty() {
        out.extend(["--bookmarks".into(), args.policy.bookmarks.join(",")]);
    }
    if let Some(p) = &args.metrics_file {
        out.extend(["--metrics-file".into(), abs(p)?]);
    }
    let host = &args.host;
    if host.root != Path::new("/") {
        out.extend(["--root".into(), abs(&host.root)?]);
    }
    if let Some(p) = &host.tools.zfs {
        out.extend(["--zfs".into(), abs(p)?]);
    }
    if let Some(p) = &host.tools.zpool {
        out.extend(["--zpool".into(), abs(p)?]);
    }
    if let Some(n) = &host.node {
        out.extend(["--node".into(), n.clone()]);
    }
    Ok(out)
}

/// stdin and stdout are both terminals, or [`ASSUME_TTY_ENV`] is `1`.
pub(crate) fn is_interactive() -> bool {
    std::env::var(ASSUME_TTY_ENV).is_ok_and(|v| v == "1")
        || (std::io::stdin().is_terminal() && std::io::stdout().is_terminal())
}

/// The running binary's absolute, canonical path (what a relative `./pve-zfs-snap` resolves to).
pub(crate) fn current_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the running binary's path")?;
    exe.canonicalize()
        .with_context(|| format!("cannot resolve the running binary's path {}", exe.display()))
}

/// After a run that produced a report: prints the hint, or installs the job, prints what it
/// did (on stdout, on stderr under `--json`) and checks root's crontab. Returns the exit code
/// this adds: [`EXIT_PARTIAL`] when the file could not be written.
pub(crate) fn after_run(setup: &Setup, json: bool) -> i32 {
    match setup {
        Setup::Skip => EXIT_OK,
        Setup::Hint => {
            eprintln!("pve-zfs-snap: {HINT}");
            EXIT_OK
        }
        Setup::Install(job) => {
            let previous = installed_line(&job.root);
            let code = match cron::install(&job.root, &job.content) {
                Ok(outcome @ InstallOutcome::Foreign) => {
                    eprintln!("{}", job.notice(outcome, None));
                    EXIT_OK
                }
                Ok(outcome) if json => {
                    eprintln!("{}", job.notice(outcome, previous.as_deref()));
                    EXIT_OK
                }
                Ok(outcome) => {
                    println!("{}", job.notice(outcome, previous.as_deref()));
                    EXIT_OK
                }
                Err(e) => {
                    eprintln!(
                        "pve-zfs-snap: cannot install the cron job {}: {e}",
                        job.path().display()
                    );
                    EXIT_PARTIAL
                }
            };
            warn_legacy("also runs", "so the job doesn't run twice");
            code
        }
    }
}

/// What is installed under `root` (a file that cannot be read counts as not ours).
pub(crate) fn installed(root: &Path) -> Installed {
    cron::read_installed(root).unwrap_or(Installed::Foreign)
}

/// The command line of the file of ours installed under `root`, if any.
fn installed_line(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join(cron::CRON_FILE)).ok()?;
    if !cron::is_ours(&text) {
        return None;
    }
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_string)
}

/// Prints one warning per line of root's crontab that runs pve-zfs-snap (the original tool
/// installed itself there), or one when the crontab cannot be read.
pub(crate) fn warn_legacy(verb: &str, purpose: &str) {
    match crontab_l() {
        Ok(text) => {
            for line in cron::legacy_crontab_lines(&text) {
                eprintln!(
                    "pve-zfs-snap: warning: root's crontab {verb} pve-zfs-snap: {line}; \
                     remove that line with 'crontab -e' {purpose}"
                );
            }
        }
        Err(e) => eprintln!(
            "pve-zfs-snap: warning: cannot check root's crontab for a pve-zfs-snap line: {e}"
        ),
    }
}

/// Output of `crontab -l` (the `crontab` found on PATH): empty when there is no `crontab`
/// program or the user has no crontab ("no crontab for root", exit 1).
fn crontab_l() -> Result<String, String> {
    let out = match Command::new("crontab")
        .arg("-l")
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(format!("crontab -l: {e}")),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else if stderr.contains("no crontab for") {
        Ok(String::new())
    } else {
        Err(format!("crontab -l: {} {}", out.status, stderr.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn run_args(argv: &[&str]) -> RunArgs {
        let mut full = vec!["pve-zfs-snap"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).unwrap().run
    }

    #[test]
    fn cron_args_table() {
        let cwd = std::env::current_dir().unwrap();
        let rel = |p: &str| cwd.join(p).to_str().unwrap().to_string();
        let cases: Vec<(&[&str], Vec<String>)> = vec![
            (
                &["f100", "h24", "d7"],
                vec!["f100".into(), "h24".into(), "d7".into()],
            ),
            // Options that do not change what a scheduled run does are dropped.
            (
                &[
                    "-v",
                    "--dry-run",
                    "--json",
                    "--now",
                    "2026-01-01T00:00:00Z",
                    "f4",
                ],
                vec!["f4".into()],
            ),
            (
                &["--schedule", "0 * * * *", "--timezone", "utc", "f4"],
                vec!["f4".into()],
            ),
            (
                &[
                    "--timezone",
                    "Europe/Berlin",
                    "--bookmarks",
                    "h48,d14",
                    "f4",
                ],
                [
                    "f4",
                    "--timezone",
                    "Europe/Berlin",
                    "--bookmarks",
                    "h48,d14",
                ]
                .map(String::from)
                .to_vec(),
            ),
            (
                &["--no-bookmarks", "--root", "/", "--node", "pve1", "f4"],
                ["f4", "--no-bookmarks", "--node", "pve1"]
                    .map(String::from)
                    .to_vec(),
            ),
            (
                &[
                    "--root",
                    "r",
                    "--zfs",
                    "bin/zfs",
                    "--zpool",
                    "/sbin/zpool",
                    "--metrics-file",
                    "m.prom",
                    "f4",
                ],
                vec![
                    "f4".into(),
                    "--metrics-file".into(),
                    rel("m.prom"),
                    "--root".into(),
                    rel("r"),
                    "--zfs".into(),
                    rel("bin/zfs"),
                    "--zpool".into(),
                    "/sbin/zpool".into(),
                ],
            ),
        ];
        for (argv, want) in cases {
            assert_eq!(cron_args(&run_args(argv)).unwrap(), want, "{argv:?}");
        }
    }

    #[test]
    fn decide_table() {
        let sched = CronSchedule::default();
        let bin = || Ok(PathBuf::from("/usr/local/sbin/pve-zfs-snap"));
        let cases: &[(&[&str], bool, &str)] = &[
            (&["--cron", "f4"], true, "skip"),
            (&["--no-cron", "f4"], true, "skip"),
            (&["--dry-run", "f4"], true, "skip"),
            (&["--cron", "f4"], false, "skip"),
            (&["f4"], false, "hint"),
            (&["f4"], true, "install"),
        ];
        for (argv, interactive, want) in cases {
            let got = Setup::decide(&run_args(argv), &sched, *interactive, bin, || {
                Installed::Absent
            })
            .unwrap();
            let kind = match got {
                Setup::Skip => "skip",
                Setup::Hint => "hint",
                Setup::Install(_) => "install",
            };
            assert_eq!(kind, *want, "{argv:?} interactive={interactive}");
        }
        // A cron run never even resolves the binary.
        let never = || -> anyhow::Result<PathBuf> { panic!("binary resolved for a cron run") };
        let no_read = || -> Installed { panic!("cron file read for a cron run") };
        assert_eq!(
            Setup::decide(&run_args(&["--cron", "f4"]), &sched, true, never, no_read).unwrap(),
            Setup::Skip
        );
    }

    /// A run without `--schedule` keeps the schedule of the file of ours (and says so); one
    /// with `--schedule` replaces it; a foreign file's schedule is never read as ours.
    #[test]
    fn decide_keeps_the_installed_schedule() {
        let default = CronSchedule::default();
        let hourly = CronSchedule::parse("0 * * * *").unwrap();
        let bin = || Ok(PathBuf::from("/usr/local/sbin/pve-zfs-snap"));
        let job = |argv: &[&str], installed: Installed| {
            let given = run_args(argv)
                .schedule
                .map(|s| CronSchedule::parse(&s).unwrap())
                .unwrap_or_default();
            match Setup::decide(&run_args(argv), &given, true, bin, || installed).unwrap() {
                Setup::Install(j) => j,
                other => panic!("{other:?}"),
            }
        };
        let j = job(&["f4"], Installed::Ours(hourly.clone(), vec!["f8".into()]));
        assert!(j.line.starts_with("0 * * * * root "), "{}", j.line);
        assert!(j.kept_schedule);
        let notice = j.notice(InstallOutcome::Updated, Some("0 * * * * root /x --cron f8"));
        assert!(
            notice.contains("(it was: 0 * * * * root /x --cron f8)")
                && notice.contains("kept the installed schedule '0 * * * *'"),
            "{notice}"
        );
        let j = job(
            &["--schedule", "*/15 * * * *", "f4"],
            Installed::Ours(hourly.clone(), vec![]),
        );
        assert!(j.line.starts_with("*/15 * * * * root "), "{}", j.line);
        assert!(!j.kept_schedule);
        for other in [Installed::Absent, Installed::Foreign] {
            let j = job(&["f4"], other);
            assert!(
                j.line.starts_with(&format!("{default} root ")),
                "{}",
                j.line
            );
            assert!(!j.kept_schedule);
        }
        let j = job(&["f4"], Installed::Ours(default, vec![]));
        assert!(!j.kept_schedule, "the same schedule is not news");
    }

    #[test]
    fn job_line_and_notice() {
        let sched = CronSchedule::parse("0 */2 * * *").unwrap();
        let job = Job::new(
            &run_args(&["--root", "/srv/x", "f4", "h2"]),
            &sched,
            Path::new("/opt/pve-zfs-snap"),
        )
        .unwrap();
        assert_eq!(
            job.line,
            "0 */2 * * * root /opt/pve-zfs-snap --cron f4 h2 --root /srv/x"
        );
        assert_eq!(
            job.notice(InstallOutcome::Updated, None),
            "updated /srv/x/etc/cron.d/pve-zfs-snap: 0 */2 * * * root /opt/pve-zfs-snap --cron f4 h2 --root /srv/x"
        );
        // An argument cron cannot carry is refused up front.
        let bad = Job::new(
            &run_args(&["--node", "a\\b", "f4"]),
            &sched,
            Path::new("/opt/pve-zfs-snap"),
        );
        assert!(bad.is_err());
    }
}
