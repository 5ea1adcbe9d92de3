//! What each command prints and which exit code it returns: the glue between the parsed
//! command line and the modules that do the work. The only place that reads the real clock,
//! the environment and the hostname.

use crate::cli::{Cli, RunArgs};
use crate::run::{self, RunError};
use chrono::Utc;

/// Runs the parsed command line; returns the process exit code.
pub fn main_with(cli: Cli) -> i32 {
    match cli.command {
        None => snapshot_run(&cli.run),
        Some(c) => match c {},
    }
}

fn fail(e: &RunError) -> i32 {
    eprintln!("pve-zfs-snap: {e}");
    e.exit_code()
}

fn snapshot_run(args: &RunArgs) -> i32 {
    let v = match run::validate(args, Utc::now) {
        Ok(v) => v,
        Err(e) => return fail(&e),
    };
    let path = std::env::var("PATH").ok();
    let exec = match crate::zfs::Cli::locate(
        args.host.zfs.as_deref(),
        args.host.zpool.as_deref(),
        path.as_deref(),
    ) {
        Ok(x) => x,
        Err(e) => return fail(&RunError::Failed(e.into())),
    };
    let hostname = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (plan, report) = match run::execute(args, &v, &hostname, &exec) {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        );
    } else if args.dry_run {
        print!("{}", plan.render_text());
    } else if !args.cron || report.exit_code() != 0 {
        println!("{}", report.summary());
    }
    for line in report.failures() {
        eprintln!("pve-zfs-snap: {line}");
    }
    report.exit_code()
}
