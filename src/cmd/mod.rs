//! The commands: one file per command, and the dispatch `main.rs` calls. This is the edge of
//! the program: the only code that prints, reads the clock, the environment, the hostname or
//! whether stdin/stdout are a terminal (clippy's `print_stdout`/`print_stderr` and
//! `disallowed-methods` in `clippy.toml` keep it so). The clap types of `cli` stop here: each
//! command turns them into the plain options of the module that does the work, reads what
//! the work needs from the host, calls it and prints what it returns.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

pub mod check;
pub mod config;
pub mod cron;
pub mod journal;
pub mod pull;
pub mod run;
pub mod simulate;
pub mod status;
pub mod uninstall;

use crate::cli::{Cli, Command, PolicyArgs, ZfsArgs};
use crate::exit::RunError;
use crate::run::PolicyOptions;
use crate::zfs::Spawn;
pub use journal::init_logging;

/// Runs the parsed command line; returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    match cli.command {
        None => run::run(&cli.run),
        Some(Command::Check(args)) => check::check(&args),
        Some(Command::Status(args)) => status::status(&args),
        Some(Command::Uninstall(args)) => uninstall::uninstall(&args),
        Some(Command::Simulate(args)) => simulate::simulate(&args),
        Some(Command::Pull(args)) => pull::pull(&args),
        Some(Command::Config(crate::cli::ConfigCommand::Check(args))) => config::check(&args),
        Some(Command::Help(args)) => help(args.command.as_deref()),
    }
}

/// `pve-zfs-snap help [COMMAND]`: the long help of the program or of one command.
fn help(command: Option<&str>) -> i32 {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    cli.build();
    let page = match command {
        None => cli.render_long_help(),
        Some(name) => match cli.find_subcommand_mut(name) {
            Some(sub) => sub.render_long_help(),
            None => {
                let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
                eprintln!(
                    "pve-zfs-snap: no command '{name}'; the commands are: {}",
                    names.join(", ")
                );
                return crate::exit::USAGE;
            }
        },
    };
    let text = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        page.ansi().to_string()
    } else {
        page.to_string()
    };
    out(&format!("{text}\n"));
    crate::exit::OK
}

/// Prints the error that stopped a command; returns its exit code.
fn fail(e: &RunError) -> i32 {
    eprintln!("pve-zfs-snap: {e}");
    e.exit_code()
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

/// This machine's hostname (empty when it cannot be read: discovery then needs `--node`).
fn hostname() -> String {
    hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `--zfs-timeout` in seconds: a duration, or a bare number of seconds; at least 1s.
fn zfs_timeout(tools: &ZfsArgs) -> Result<u64, String> {
    match crate::duration::parse_or_secs("--zfs-timeout", &tools.zfs_timeout)? {
        0 => Err(format!(
            "--zfs-timeout: '{}' is below the minimum of 1s",
            tools.zfs_timeout
        )),
        secs => Ok(secs),
    }
}

/// The zfs runner for `tools` (already validated `timeout_secs`), with this process' `PATH`
/// and environment size.
fn spawner(tools: &ZfsArgs, timeout_secs: u64) -> Result<Spawn, crate::zfs::ZfsError> {
    let path = std::env::var("PATH").ok();
    let env_bytes =
        crate::zfs::exec::ArgLimits::env_cost(std::env::vars_os().map(|(k, v)| (k.len(), v.len())));
    Spawn::locate(
        tools.zfs.as_deref(),
        tools.zpool.as_deref(),
        path.as_deref(),
        env_bytes,
        timeout_secs,
    )
}

/// The zone and bookmark options, with the `TZ` variable for `--timezone local`.
fn policy_options(p: &PolicyArgs) -> PolicyOptions {
    PolicyOptions {
        timezone: p.timezone.clone(),
        bookmarks: p.bookmarks.clone(),
        no_bookmarks: p.no_bookmarks,
        tz_env: std::env::var("TZ").ok(),
    }
}
