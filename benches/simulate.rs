//! Runs per second of `simulate`: the default scenario (`f100 h24 d7`, 400 days of 15-minute
//! runs, 3 guests × 2 zvols, one stopped for 3 days; the real programs on every run), and a
//! bigger policy for comparison. `cargo bench --bench simulate`.
//! An optional argument after `--` replaces the keep keys: `cargo bench --bench simulate -- "f8 h48"`.

use clap::Parser;
use pve_zfs_snap::cli::{Cli, Command};
use pve_zfs_snap::cmd::simulate::scenario as scenario_of;
use pve_zfs_snap::simulate::{Scenario, simulate};
use std::time::Instant;

/// The allocator of the `pve-zfs-snap` binary (src/main.rs), so that the figures match the CLI.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn scenario(line: &str) -> Scenario {
    let argv = ["pve-zfs-snap", "simulate"]
        .into_iter()
        .chain(line.split(' ').filter(|s| !s.is_empty()));
    match Cli::try_parse_from(argv).expect("valid arguments").command {
        Some(Command::Simulate(a)) => scenario_of(&a).expect("valid scenario"),
        _ => unreachable!("simulate"),
    }
}

fn measure(label: &str, line: &str) {
    let sc = scenario(line);
    let t = Instant::now();
    let out = simulate(&sc).expect("simulation runs");
    let wall = t.elapsed().as_secs_f64();
    assert_eq!(out.failed, 0, "{:?}", out.failures);
    println!(
        "{label:<40} {:>6} runs in {wall:>7.2}s = {:>6.0} runs/s  ({} programs)",
        out.runs,
        out.runs as f64 / wall,
        out.programs,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; anything else is the keep keys.
    let keys = std::env::args()
        .skip(1)
        .rfind(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "f100 h24 d7".into());
    measure(&format!("default ({keys})"), &keys);
    measure(
        "f100 h48 d30 w8 m12 y2, 6 guests",
        "f100 h48 d30 w8 m12 y2 --guests 6",
    );
}
