//! `pve-zfs-snap simulate`: validates the scenario, runs it (`crate::simulate`), prints the
//! report with the wall time it took and writes `--csv`.

use super::{fail, policy_options};
use crate::cli::SimulateArgs;
use crate::exit::{self, RunError};
use crate::simulate::{self, Scenario, SimulateOptions};
use std::io::IsTerminal as _;

/// The scenario's options from the command line; `tz_env` replaces the `TZ` variable when
/// given (tests, benches).
pub fn options(a: &SimulateArgs, tz_env: Option<String>) -> SimulateOptions {
    let mut policy = policy_options(&a.policy);
    if tz_env.is_some() {
        policy.tz_env = tz_env;
    }
    SimulateOptions {
        keep: a.keep.clone(),
        days: a.days,
        every: a.every.clone(),
        guests: a.guests,
        stop_at: a.stop_at.clone(),
        policy,
        start: a.start.clone(),
        timeline_every: a.timeline_every,
        keep_rows: a.csv.is_some(),
        config: a.config.clone(),
    }
}

/// The validated scenario of a `simulate` command line (benches use it too).
pub fn scenario(a: &SimulateArgs) -> Result<Scenario, String> {
    Scenario::from_options(&options(a, None))
}

/// Runs `simulate`; returns the exit code.
pub fn simulate(args: &SimulateArgs) -> i32 {
    let sc = match scenario(args) {
        Ok(sc) => sc,
        Err(e) => return fail(&RunError::Usage(e)),
    };
    let started = std::time::Instant::now();
    // Progress on a terminal only (never in a pipe, a file or cron): one line, rewritten.
    let tty = std::io::stderr().is_terminal();
    let mut shown = 0u64;
    let mut progress = |done: u64, all: u64| {
        let pct = done * 100 / all.max(1);
        if tty && pct != shown && started.elapsed().as_secs() >= 1 {
            shown = pct;
            eprint!("\rsimulating: {pct:>3}% ({done} of {all} runs)");
        }
    };
    let result = simulate::simulate_with_progress(&sc, &mut progress);
    if tty && shown > 0 {
        eprint!("\r{:60}\r", "");
    }
    let out = match result {
        Ok(o) => o,
        Err(e) => return fail(&RunError::Failed(anyhow::anyhow!(e))),
    };
    print!("{}", simulate::render(&sc, &out, started.elapsed()));
    if let Some(path) = &args.csv
        && let Err(e) = std::fs::write(path, simulate::csv(&out))
    {
        eprintln!("pve-zfs-snap: cannot write {}: {e}", path.display());
        return exit::PARTIAL;
    }
    if out.failed > 0 {
        exit::PARTIAL
    } else {
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(line: &str) -> SimulateArgs {
        let argv = ["pve-zfs-snap", "simulate"]
            .into_iter()
            .chain(line.split(' ').filter(|s| !s.is_empty()));
        match Cli::try_parse_from(argv).unwrap().command {
            Some(Command::Simulate(a)) => a,
            other => panic!("not simulate: {other:?}"),
        }
    }

    /// `--every 1h30m` (refused before the one duration grammar) is 90 minutes.
    #[test]
    fn every_takes_compound_durations() {
        let sc = scenario(&args("f4 --days 1 --every 1h30m --stop-at none")).unwrap();
        assert_eq!(sc.every, chrono::TimeDelta::minutes(90));
        assert_eq!(sc.runs, 16);
    }

    /// A bare number is a usage error (exit 2) naming the flag and the fix.
    #[test]
    fn a_bare_every_is_a_usage_error_with_a_hint() {
        let e = scenario(&args("f4 --every 90")).unwrap_err();
        assert_eq!(
            e,
            "--every: '90' has no unit: use 90m or 90s (units: s, m, h, d, w)"
        );
        assert_eq!(simulate(&args("f4 --every 90")), exit::USAGE);
    }
}
