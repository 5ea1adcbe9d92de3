//! `pve-zfs-snap check`: gathers the facts (thresholds from the options or the installed cron
//! schedule, guest disks from a read-only ZFS scan), renders the verdict of
//! [`crate::monitor`] and prints it. Never writes anything. Everything that goes wrong becomes
//! part of the report (UNKNOWN, exit 3), so every format still prints something a monitor
//! can read.

use super::spawner;
use crate::cli::{CheckArgs, CheckFormat};
use crate::cron::{self, CronSchedule};
use crate::duration;
use crate::exit::nagios;
use crate::monitor::{self, CheckReport, Thresholds};
use crate::naming::Dataset;
use crate::zfs::{self, Exec, scan};
use chrono::{DateTime, Utc};
use std::path::Path;

/// Runs `check`, prints its output; returns the exit code (Nagios).
pub fn check(args: &CheckArgs) -> i32 {
    let (out, code) = run(args, Utc::now);
    print!("{out}");
    code
}

/// Runs the check; returns what to print on stdout and the exit code. `clock` is read only
/// when `--now` is not given.
pub(crate) fn run(args: &CheckArgs, clock: impl FnOnce() -> DateTime<Utc>) -> (String, i32) {
    let usage = |msg: String| (format!("PVE-ZFS-SNAP UNKNOWN - {msg}\n"), nagios::UNKNOWN);
    let now = match &args.now {
        Some(s) => match duration::parse_instant("--now", s) {
            Ok(t) => t,
            Err(e) => return usage(e),
        },
        None => clock(),
    };
    let timeout = match super::zfs_timeout(&args.tools) {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    let thresholds = match thresholds(args, &args.root, now) {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    let roots = match prefixes("--dataset", &args.datasets) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let excludes = match prefixes("--exclude", &args.excludes) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let capacity = match args
        .pools
        .then(|| monitor::CapacityThresholds::new(args.capacity_warn, args.capacity_crit))
        .transpose()
    {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let pool_names: Vec<String> = roots.iter().map(|d| d.pool().to_string()).collect();
    let mut report = match spawner(&args.tools, timeout) {
        Ok(exec) => {
            let mut report = gather(&exec, roots, now.timestamp(), &thresholds, &excludes);
            if let Some(c) = capacity {
                add_pools(&exec, &mut report, &pool_names, c);
            }
            report
        }
        Err(e) => monitor::evaluate(
            &[],
            vec![e.to_string()],
            now.timestamp(),
            &thresholds,
            &excludes,
        ),
    };
    honour_policy(&mut report, args);
    let out = match args.format {
        CheckFormat::Nagios => monitor::render_nagios(&report),
        CheckFormat::Json => monitor::render_json(&report),
        CheckFormat::Prometheus => monitor::render_prometheus(&report),
    };
    if args.format != CheckFormat::Nagios {
        for e in &report.errors {
            eprintln!("pve-zfs-snap check: {e}");
        }
    }
    (out, report.exit_code())
}

/// On a PVE node: the disks the cluster policy excludes here are EXCLUDED, never alerting,
/// with the policy's reason.
fn honour_policy(report: &mut CheckReport, args: &CheckArgs) {
    let excluded = crate::pve::snapcfg::excluded_datasets(
        &args.root,
        args.node.as_deref(),
        &super::hostname(),
    );
    for rec in &mut report.records {
        if rec.excluded_by.is_some() {
            continue;
        }
        if let Some(why) = excluded.get(&rec.dataset) {
            rec.state = monitor::State::Excluded;
            rec.reason = why.clone();
            rec.action = None;
            // Counted with `--exclude` (`by="option"`): the reason names the policy.
            rec.excluded_by = Some(monitor::ExcludedBy::Option);
        }
    }
    // The report's order: most severe first.
    report.records.sort_by(|a, b| {
        b.state
            .cmp(&a.state)
            .then(b.age_seconds.cmp(&a.age_seconds))
            .then(a.dataset.cmp(&b.dataset))
    });
}

/// Adds the health and capacity of `pools` (every imported pool when empty) to `report`.
fn add_pools(
    exec: &dyn Exec,
    report: &mut CheckReport,
    pools: &[String],
    c: monitor::CapacityThresholds,
) {
    report.capacity = Some(c);
    match zfs::pool_facts(exec) {
        Ok(facts) => {
            let wanted: Vec<monitor::PoolFacts> = facts
                .into_iter()
                .filter(|f| pools.is_empty() || pools.contains(&f.name))
                .collect();
            report.pools = monitor::evaluate_pools(&wanted, &c);
        }
        Err(e) => report
            .errors
            .push(format!("cannot read pool health and capacity: {e}")),
    }
}

/// Dataset prefixes given with `option` (`rpool/data`, a trailing `/` allowed), validated.
fn prefixes(option: &str, given: &[String]) -> Result<Vec<Dataset>, String> {
    given
        .iter()
        .map(|p| {
            Dataset::new(p.trim_end_matches('/'))
                .map_err(|e| format!("{option}: {e}: give a dataset name such as rpool/data"))
        })
        .collect()
}

/// Scans `roots` (every pool when empty) and evaluates; disks at or below `excludes` are
/// EXCLUDED.
pub(crate) fn gather(
    exec: &dyn Exec,
    roots: Vec<Dataset>,
    now: i64,
    t: &Thresholds,
    excludes: &[Dataset],
) -> CheckReport {
    let roots = if roots.is_empty() {
        match zfs::list_pools(exec) {
            Ok(pools) => pools.iter().filter_map(|p| Dataset::new(p).ok()).collect(),
            Err(e) => {
                let msg = format!(
                    "zfs not reachable: {e} (run check as root; is the zfs module loaded? zpool status)"
                );
                return monitor::evaluate(&[], vec![msg], now, t, excludes);
            }
        }
    } else {
        roots
    };
    let (disks, errors) = scan::scan(exec, &roots, &mut scan::ScanStats::default());
    monitor::evaluate(&disks, errors, now, t, excludes)
}

/// `--warn`/`--crit`, else derived from the installed schedule, else the defaults; a single
/// given option replaces only its own value.
fn thresholds(args: &CheckArgs, root: &Path, now: DateTime<Utc>) -> Result<Thresholds, String> {
    let base = installed_schedule(root)
        .map(|s| Thresholds::from_interval(s.interval_hint(&now).as_secs(), s.as_str()))
        .unwrap_or_else(Thresholds::fallback);
    if args.warn.is_none() && args.crit.is_none() {
        return Ok(base);
    }
    let warn = match &args.warn {
        Some(w) => duration::parse("--warn", w)?,
        None => base.warn(),
    };
    let crit = match &args.crit {
        Some(c) => duration::parse("--crit", c)?,
        None => base.crit(),
    };
    Thresholds::new(warn, crit, "command line").map_err(|e| match (&args.warn, &args.crit) {
        _ if warn <= crit => e,
        (Some(_), Some(_)) => format!("{e}: give --warn <= --crit"),
        (Some(_), None) => format!("{e} (from {}): give --crit too", base.source()),
        _ => format!("{e} (from {}): give --warn too", base.source()),
    })
}

/// The schedule in `<root>/etc/cron.d/pve-zfs-snap`, if that file is ours and readable.
fn installed_schedule(root: &Path) -> Option<CronSchedule> {
    let text = std::fs::read_to_string(root.join(cron::CRON_FILE)).ok()?;
    cron::parse_installed(&text).map(|(s, _)| s)
}
