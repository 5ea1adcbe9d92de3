//! `pve-zfs-snap`: thin entry point: parse the command line, set up logging, run, exit.

use clap::Parser;
use pve_zfs_snap::cli::Cli;

fn main() {
    let cli = Cli::parse();
    let level = match cli.verbose {
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
        .without_time()
        .init();
    std::process::exit(pve_zfs_snap::app::main_with(cli));
}
