//! What each command prints and which exit code it returns: the glue between the parsed
//! command line and the modules that do the work. The only place that reads the real clock,
//! the environment and the hostname.

use crate::cli::{Cli, Command, RunArgs, StatusArgs};
use crate::metrics;
use crate::run::{self, RunError};
use chrono::Utc;

/// Runs the parsed command line; returns the process exit code.
pub fn main_with(cli: Cli) -> i32 {
    match cli.command {
        None => snapshot_run(&cli.run),
        Some(Command::Check(args)) => {
            let (out, code) = crate::check_cmd::run(&args, Utc::now);
            print!("{out}");
            code
        }
        Some(Command::Status(args)) => status(&args),
        Some(Command::Uninstall(args)) => crate::cron_cmd::uninstall(&args),
        Some(Command::Simulate(args)) => simulate(&args),
    }
}

/// `simulate`: run the scenario, print the report, write `--csv`.
fn simulate(args: &crate::cli::SimulateArgs) -> i32 {
    use crate::simulate::{self, Scenario};
    let sc = match Scenario::from_args(args) {
        Ok(sc) => sc,
        Err(e) => return fail(&RunError::Usage(e)),
    };
    let started = std::time::Instant::now();
    let out = match simulate::simulate(&sc) {
        Ok(o) => o,
        Err(e) => return fail(&RunError::Failed(anyhow::anyhow!(e))),
    };
    print!("{}", simulate::render(&sc, &out, started.elapsed()));
    if let Some(path) = &args.csv
        && let Err(e) = std::fs::write(path, simulate::csv(&out))
    {
        eprintln!("pve-zfs-snap: cannot write {}: {e}", path.display());
        return crate::cli::EXIT_PARTIAL;
    }
    if out.failed > 0 {
        crate::cli::EXIT_PARTIAL
    } else {
        crate::cli::EXIT_OK
    }
}

fn fail(e: &RunError) -> i32 {
    eprintln!("pve-zfs-snap: {e}");
    e.exit_code()
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
        return crate::cli::EXIT_PARTIAL;
    }
    crate::cli::EXIT_OK
}

fn snapshot_run(args: &RunArgs) -> i32 {
    let started = std::time::Instant::now();
    let v = match run::validate(args, Utc::now) {
        Ok(v) => v,
        Err(e) => return fail(&e),
    };
    // The cron job is rendered before the run (a problem with it changes nothing) and
    // installed after a run that produced a report, so a broken setup is not scheduled.
    let interactive = crate::cron_cmd::is_interactive();
    let cron_setup = match crate::cron_cmd::Setup::decide(
        args,
        &v.schedule,
        interactive,
        crate::cron_cmd::current_binary,
    ) {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("cannot write the cron job: {e:#}; add --no-cron to run without it");
            return fail(&RunError::Usage(msg));
        }
    };
    let exec = match crate::zfs::Cli::locate_from_env(&args.host.tools) {
        Ok(x) => x,
        Err(e) => {
            record_metrics(args, |p| metrics::write_failed(p, v.now, started.elapsed()));
            return fail(&RunError::Failed(e.into()));
        }
    };
    let hostname = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (plan, report) = match run::execute(args, &v, &hostname, &exec) {
        Ok(x) => x,
        Err(e) => {
            if matches!(e, RunError::Failed(_)) {
                record_metrics(args, |p| metrics::write_failed(p, v.now, started.elapsed()));
            }
            return fail(&e);
        }
    };
    let metrics_code = record_metrics(args, |p| metrics::write(p, &report, started.elapsed()));
    if args.json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).expect("report serializes")
        ));
    } else if args.dry_run {
        out(&format!(
            "DRY RUN: nothing is changed\n{}\ndisks:\n{}{}\n",
            plan.render_text(),
            report.render_disks(),
            report.summary()
        ));
    } else if !args.cron || report.exit_code() != 0 {
        out(&format!("{}\n", report.summary()));
    }
    for w in &report.warnings {
        eprintln!("pve-zfs-snap: warning: {w}");
    }
    for line in report.failures() {
        eprintln!("pve-zfs-snap: {line}");
    }
    // A run that protected nothing while it should have is not a setup to schedule.
    let p = &report.protection;
    let cron_code = if p.failed > 0 && p.protected() == 0 {
        if matches!(cron_setup, crate::cron_cmd::Setup::Install(_)) {
            eprintln!(
                "pve-zfs-snap: the cron job was NOT installed: this run protected no disk; \
                 fix the failures above and run again"
            );
        }
        crate::cli::EXIT_OK
    } else {
        crate::cron_cmd::after_run(&cron_setup, args.json)
    };
    report.exit_code().max(cron_code).max(metrics_code)
}

/// Writes `text` to stdout. A reader that went away (`--dry-run | head`) is not an error of
/// the run: the rest of the output is dropped quietly.
fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("pve-zfs-snap: cannot write to stdout: {e}");
    }
}

/// `status`: discovery + read-only inventory, then the table (or JSON).
fn status(args: &StatusArgs) -> i32 {
    let hostname = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let host = match crate::pve::discover(&args.host.root, args.host.node.as_deref(), &hostname) {
        Ok(h) => h,
        Err(e) => return fail(&RunError::Failed(e.into())),
    };
    let exec = match crate::zfs::Cli::locate_from_env(&args.host.tools) {
        Ok(x) => x,
        Err(e) => return fail(&RunError::Failed(e.into())),
    };
    let version = match crate::zfs::version::detect_on(&exec, &args.host.root) {
        Ok(v) => v,
        Err(e) => return fail(&RunError::Failed(e.into())),
    };
    // Templates too; read-only: uses the run's cache of snapshot facts but never writes it.
    let pools = crate::run::datasets_by_pool(&host, true);
    let setup = crate::zfs::inventory::ReadSetup::for_host(&args.host.root, version);
    let mut cache = crate::zfs::snapcache::SnapCache::load(&args.host.root);
    let now = chrono::Utc::now().timestamp();
    let (inventory, errors) = crate::run::read_pools(&exec, &pools, &setup, now, false, &mut cache);
    let mut code = crate::cli::EXIT_OK;
    for (pool, e) in &errors {
        eprintln!("pve-zfs-snap: cannot read pool {pool}: {e}");
        code = crate::cli::EXIT_PARTIAL;
    }
    let guests = crate::status::build(&host, &inventory);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&guests).expect("status serializes")
        );
    } else {
        print!("{}", crate::status::render_table(&host.node, &guests));
    }
    code
}
