//! A simulation's scenario: the options of `simulate` as given, and validated (policy, start,
//! run interval and count, guests, stop windows, timeline spacing). Validation only: nothing
//! is run here.

use chrono::{DateTime, TimeDelta, Utc};

use crate::duration;
use crate::run::{self, PolicyOptions, Validated};

/// A window during which the last guest is stopped, as offsets from the start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopWindow {
    /// When it stops, after the start.
    pub from: TimeDelta,
    /// How long it stays stopped.
    pub length: TimeDelta,
}

impl StopWindow {
    /// Parses `START:LENGTH`, both durations (`100d:3d`, `36h:90m`).
    pub fn parse(s: &str) -> Result<StopWindow, String> {
        let (a, b) = s.split_once(':').ok_or_else(|| {
            format!("--stop-at '{s}': expected START:LENGTH like 100d:3d (day 100, for 3 days)")
        })?;
        let from = parse_delta(&format!("--stop-at '{s}'"), a)?;
        let length = parse_delta(&format!("--stop-at '{s}'"), b)?;
        if length <= TimeDelta::zero() {
            return Err(format!("--stop-at '{s}': the length must be above 0"));
        }
        Ok(StopWindow { from, length })
    }

    /// True when `since_start` falls in the window.
    pub(super) fn contains(&self, since_start: TimeDelta) -> bool {
        since_start >= self.from && since_start < self.from + self.length
    }
}

/// A duration of `option` ([`duration::parse`]) as a `TimeDelta`.
pub(super) fn parse_delta(option: &str, s: &str) -> Result<TimeDelta, String> {
    let secs = duration::parse(option, s)?;
    Ok(TimeDelta::seconds(
        i64::try_from(secs).expect("at most 100 years"),
    ))
}

/// The options of `simulate`, as given.
#[derive(Clone, Debug)]
pub struct SimulateOptions {
    /// Retention keys.
    pub keep: Vec<String>,
    /// Virtual days.
    pub days: u32,
    /// `--every`: time between runs.
    pub every: String,
    /// Guests on the synthetic node.
    pub guests: u32,
    /// `--stop-at` windows (`START:LENGTH`, or `none`).
    pub stop_at: Vec<String>,
    /// Zone and bookmarks.
    pub policy: PolicyOptions,
    /// The first run's time (RFC 3339).
    pub start: String,
    /// Days per timeline line (default: about 25 lines).
    pub timeline_every: Option<u32>,
    /// Keep per-run rows (for `--csv`).
    pub keep_rows: bool,
    /// `--config`: a policy file to try (the cluster file's syntax).
    pub config: Option<std::path::PathBuf>,
}

/// A validated simulation.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Policy, bookmarks and zone of every run (`now` is the start; each run sets its own).
    pub validated: Validated,
    /// The first run's time.
    pub start: DateTime<Utc>,
    /// How many runs.
    pub runs: u64,
    /// Time between runs.
    pub every: TimeDelta,
    /// Number of guests (each with [`super::DISKS_PER_GUEST`] disks).
    pub guests: u32,
    /// When the last guest is stopped.
    pub stops: Vec<StopWindow>,
    /// Keep per-run rows for `--csv`.
    pub keep_rows: bool,
    /// Days per timeline line (at least 1).
    pub timeline_every: u32,
}

/// Most lines the automatic timeline prints.
const TIMELINE_LINES: u32 = 25;

impl Scenario {
    /// Validates the options. `--days` × `--every` gives the number of runs.
    pub fn from_options(a: &SimulateOptions) -> Result<Scenario, String> {
        let file = match &a.config {
            Some(path) => Some(
                crate::pve::snapcfg::load(path)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("--config {}: no such file", path.display()))?,
            ),
            None => None,
        };
        let keep = match (&a.keep[..], &file) {
            ([], Some(f)) => match &f.default_keep {
                Some((p, _)) => p.to_string().split(' ').map(str::to_string).collect(),
                None => {
                    return Err("give retention keys (KEEP), or a 'keep' line in the \
                                'defaults' section of the --config file"
                        .into());
                }
            },
            _ => a.keep.clone(),
        };
        let (policy, bookmarks, zone) = run::validate_policy(&keep, &a.policy)?;
        let mut rules = crate::clusterpolicy::InForce::command_line(run::command_line(
            &policy, &bookmarks, &a.policy,
        ));
        rules.file = file;
        let start = duration::parse_instant("--start", &a.start)?;
        let every = parse_delta("--every", &a.every)?;
        if every < TimeDelta::minutes(1) {
            return Err("--every must be at least 1m".into());
        }
        if a.days == 0 {
            return Err("--days must be at least 1".into());
        }
        if a.guests == 0 || a.guests > 1000 {
            return Err("--guests must be between 1 and 1000".into());
        }
        let stops = if a.stop_at.iter().any(|s| s == "none") {
            vec![]
        } else {
            a.stop_at
                .iter()
                .map(|s| StopWindow::parse(s))
                .collect::<Result<_, _>>()?
        };
        let runs = (TimeDelta::days(i64::from(a.days)).num_seconds() / every.num_seconds()) as u64;
        Ok(Scenario {
            validated: Validated {
                policy,
                bookmarks,
                zone,
                now: start,
                // Used by interactive runs only (the cron file); never by `run_host`.
                schedule: crate::cron::CronSchedule::default(),
                rules,
                pools: Default::default(),
            },
            start,
            runs: runs.max(1),
            every,
            guests: a.guests,
            stops,
            keep_rows: a.keep_rows,
            timeline_every: a
                .timeline_every
                .unwrap_or_else(|| a.days.div_ceil(TIMELINE_LINES))
                .max(1),
        })
    }
}
