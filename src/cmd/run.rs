//! The snapshot run, `pve-zfs-snap [OPTIONS] <KEEP>...`: validates, decides about the cron
//! job, runs the pipeline (`crate::run`), writes `--metrics-file`, prints the report and
//! installs the cron job after an interactive run.

use super::journal::Journal;
use super::{cron, fail, hostname, out, policy_options, spawner, zfs_timeout};
use crate::cli::RunArgs;
use crate::exit::{self, RunError};
use crate::metrics;
use crate::report::dryrun::{self, Detail};
use crate::run::{self, RunOptions};
use chrono::Utc;

/// The pipeline's options from the command line.
pub(crate) fn options(args: &RunArgs) -> RunOptions {
    RunOptions {
        keep: args.keep.clone(),
        policy: policy_options(&args.policy),
        schedule: args.schedule.clone(),
        now: args.now.clone(),
        dry_run: args.dry_run,
        root: args.host.root.clone(),
        node: args.host.node.clone(),
    }
}

/// Writes `--metrics-file` (never in dry runs). A failure to write never stops the run, and
/// is loud: a line on stderr and exit code 1 (the monitoring depends on the file). Returns the
/// exit code it adds.
fn record_metrics(
    args: &RunArgs,
    write: impl FnOnce(&std::path::Path) -> std::io::Result<()>,
) -> i32 {
    if let (Some(path), false) = (&args.metrics_file, args.dry_run)
        && let Err(e) = write(path)
    {
        eprintln!(
            "pve-zfs-snap: cannot write the metrics file {}: {e}",
            path.display()
        );
        return exit::PARTIAL;
    }
    exit::OK
}

/// The snapshot run; returns the exit code.
pub fn run(args: &RunArgs) -> i32 {
    let started = std::time::Instant::now();
    let timeout = match zfs_timeout(&args.host.tools) {
        Ok(t) => t,
        Err(e) => return fail(&RunError::Usage(e)),
    };
    let opts = options(args);
    let v = match run::validate(&opts, Utc::now) {
        Ok(v) => v,
        Err(e) => return fail(&e),
    };
    // The cron job is rendered before the run (a problem with it changes nothing) and
    // installed after a run that produced a report, so a broken setup is not scheduled.
    let interactive = cron::is_interactive();
    let cron_setup =
        match cron::Setup::decide(args, &v.schedule, interactive, cron::current_binary, || {
            cron::installed(&args.host.root)
        }) {
            Ok(s) => s,
            Err(e) => {
                let msg =
                    format!("cannot write the cron job: {e:#}; add --no-cron to run without it");
                return fail(&RunError::Usage(msg));
            }
        };
    let journal = Journal::for_this_run(&args.host.root, args.dry_run);
    let exec = match spawner(&args.host.tools, timeout) {
        Ok(x) => x,
        Err(e) => {
            record_metrics(args, |p| metrics::write_failed(p, v.now, started.elapsed()));
            let e = RunError::Failed(e.into());
            journal.err(&e.to_string());
            return fail(&e);
        }
    };
    let (plan, report) = match run::execute(&opts, &v, &hostname(), &exec) {
        Ok(x) => x,
        Err(e) => {
            if matches!(e, RunError::Failed(_)) {
                record_metrics(args, |p| metrics::write_failed(p, v.now, started.elapsed()));
            }
            journal.err(&e.to_string());
            return fail(&e);
        }
    };
    for line in report.decisions() {
        tracing::info!("{line}");
    }
    let metrics_code = record_metrics(args, |p| metrics::write(p, &report, started.elapsed()));
    if args.json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).expect("report serializes")
        ));
    } else if args.dry_run {
        let detail = if args.detail {
            Detail::All
        } else if !args.guest.is_empty() {
            Detail::Guests(args.guest.clone())
        } else {
            Detail::Auto
        };
        out(&dryrun::render(&plan, &report, &detail));
    } else if !args.cron || report.exit_code() != 0 {
        out(&format!("{}\n", report.summary()));
        // Odd but valid policy (the file's defaults overriding the command line's keys): a
        // line under the summary; the dry run shows it among its counts.
        for n in &plan.policy_notes {
            out(&format!("pve-zfs-snap: policy: {n}\n"));
        }
    }
    for line in report.pool_lines() {
        journal.info(&line);
    }
    for n in &plan.policy_notes {
        journal.info(&format!("policy: {n}"));
    }
    // A bookmark dropped because a rollback discarded its snapshot: the third site's resume
    // point changed; one line each (a failed one is among the failures below).
    for i in report
        .pools
        .iter()
        .chain(&report.replicas)
        .flat_map(|p| &p.items)
    {
        if crate::report::is_stale(i) && i.outcome == Some(crate::change::Outcome::Ok) {
            journal.info(&format!(
                "guest {}: {} done: {}",
                i.vmid,
                i.change.describe(),
                i.reason
            ));
        }
    }
    for w in &report.warnings {
        eprintln!("pve-zfs-snap: warning: {w}");
        journal.err(&format!("warning: {w}"));
    }
    for line in report.failures() {
        eprintln!("pve-zfs-snap: {line}");
        journal.err(&line);
    }
    // A run that protected nothing while it should have is not a setup to schedule.
    let p = &report.protection;
    let cron_code = if p.failed > 0 && p.protected() == 0 {
        if matches!(cron_setup, cron::Setup::Install(_)) {
            eprintln!(
                "pve-zfs-snap: the cron job was NOT installed: this run protected no disk; \
                 fix the failures above and run again"
            );
        }
        exit::OK
    } else {
        cron::after_run(&cron_setup, args.json)
    };
    report.exit_code().max(cron_code).max(metrics_code)
}
