//! Monitoring evaluation for `pve-zfs-snap check` (the command itself is `cmd::check`): from per-disk facts (the newest snapshots
//! whose names look like ours, read by `zfs::scan`), the clock and the thresholds to one
//! record per disk with a state and a reason, and the three output formats (Nagios, JSON,
//! Prometheus text exposition). Works the same on the node running the guests, the replica
//! node and the backup site: it only looks at dataset and snapshot names.
//!
//! Pure: no I/O, no clock, no logging. The caller reads ZFS and the cron file.
//!
//! States, per disk (the newest snapshot *of ours* by createtxg; foreign snapshots, even
//! newer ones, are ignored, and `SnapName::parse` decides what is ours):
//! * `OK`: newest is at most `warn` seconds old;
//! * `STOPPED`: newest is a `_stopped` snapshot: the guest was stopped and legitimately gets no
//!   new snapshots, whatever its age;
//! * `WARN` / `CRIT`: older than `warn` / `crit` (strictly greater);
//! * `MISSING`: no snapshot of ours at all (critical);
//! * `UNKNOWN`: the facts do not allow a verdict (see [`evaluate`]);
//! * `EXCLUDED`: deliberately left out, whatever its snapshots: `label:nosnap` set (or
//!   inherited) to a value that excludes ([`crate::nosnap::nosnap_value`]), or at or below an
//!   `--exclude` prefix. Never alerts: counted and listed, with the reason.
//!
//! Every alerting record carries an `action`: what to do about it, in one short sentence
//! naming the guest. A `label:nosnap` value that is not understood is a `note` on the disk
//! (it does not exclude, as in the snapshot run).
//!
//! Clock skew: a newest snapshot dated more than [`SKEW_TOLERANCE`] seconds in the future is
//! never taken as fresh: `WARN`, or `CRIT` when it is more than `crit` seconds ahead, with
//! the reason "… in the future (clock skew?)". Within the tolerance it counts as age 0.

use crate::duration::{self, Style};
use crate::exit::nagios;
use crate::naming::{Dataset, SnapKind, SnapName};
use crate::nosnap::{NosnapValue, nosnap_value};
use std::fmt::Write as _;

pub mod pools;
pub use pools::{CapacityThresholds, PoolFacts, PoolRecord, evaluate_pools};

/// Seconds a snapshot may be dated in the future before it counts as clock skew: the same
/// tolerance as the run's "this instant" ([`crate::policy::SAME_INSTANT_SECS`]).
pub const SKEW_TOLERANCE: i64 = crate::policy::SAME_INSTANT_SECS;

/// Missed runs after which the derived thresholds warn / go critical.
pub const MISSED_RUNS_WARN: u64 = 2;
/// See [`MISSED_RUNS_WARN`].
pub const MISSED_RUNS_CRIT: u64 = 8;

/// Thresholds without an installed schedule: 45 minutes.
pub const DEFAULT_WARN: u64 = 45 * 60;
/// Thresholds without an installed schedule: 2 hours.
pub const DEFAULT_CRIT: u64 = 2 * 3600;

/// How many problem disks the Nagios line names before "and N more".
pub const NAGIOS_NAMED: usize = 5;

/// How many lines of Nagios long output (one per problem, exclusion or note) before
/// "and N more".
pub const NAGIOS_LONG_LINES: usize = 50;

/// Age thresholds in seconds, validated `warn <= crit`, with where they came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Thresholds {
    warn: u64,
    crit: u64,
    source: String,
}

impl Thresholds {
    /// `warn` and `crit` seconds; refused when `warn > crit` or either is 0.
    pub fn new(warn: u64, crit: u64, source: impl Into<String>) -> Result<Thresholds, String> {
        if warn == 0 || crit == 0 {
            return Err("thresholds must be greater than 0 (e.g. 45m, 2h)".into());
        }
        if warn > crit {
            return Err(format!(
                "the warning threshold ({}) is larger than the critical one ({})",
                human(warn as i64),
                human(crit as i64)
            ));
        }
        Ok(Thresholds {
            warn,
            crit,
            source: source.into(),
        })
    }

    /// Derived from the schedule's interval: `n` missed runs means the newest snapshot is
    /// older than `(n + 1) × interval` (one interval is the normal gap between runs).
    pub fn from_interval(interval: u64, schedule: &str) -> Thresholds {
        let i = interval.max(1);
        Thresholds {
            warn: (MISSED_RUNS_WARN + 1) * i,
            crit: (MISSED_RUNS_CRIT + 1) * i,
            source: format!(
                "schedule '{schedule}' (every {}): {MISSED_RUNS_WARN} / {MISSED_RUNS_CRIT} missed runs",
                human(i as i64)
            ),
        }
    }

    /// 45m / 2h, when no schedule is installed.
    pub fn fallback() -> Thresholds {
        Thresholds {
            warn: DEFAULT_WARN,
            crit: DEFAULT_CRIT,
            source: "default (no installed schedule found)".into(),
        }
    }

    /// Warning threshold, seconds.
    pub fn warn(&self) -> u64 {
        self.warn
    }

    /// Critical threshold, seconds.
    pub fn crit(&self) -> u64 {
        self.crit
    }

    /// Where they came from (command line, schedule, default).
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// A short human form of a number of seconds: `45s`, `12m`, `3h02m`, `2d04h`.
pub fn human(secs: i64) -> String {
    duration::format(secs, Style::Compact)
}

/// A snapshot whose short name has the shape of ours (the scan's filter); not yet validated.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Candidate {
    /// Short name (after `@`).
    pub name: String,
    /// createtxg: the order.
    pub createtxg: u64,
    /// `creation`, seconds since the epoch: the age.
    pub creation: i64,
}

/// A disk's `label:nosnap`, as the scan read it (set on the disk or inherited).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NosnapLabel {
    /// The value (bytes that are not UTF-8 replaced by U+FFFD).
    pub value: String,
    /// Where it is set: the disk's own name, an ancestor's name, or `$recvd` (received).
    pub source: String,
}

/// What the scan found about one guest disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskFacts {
    /// The dataset (`…/vm-100-disk-0`, `…/subvol-200-disk-1`).
    pub dataset: Dataset,
    /// The newest candidates, any order; at most a few (the scan's `K`).
    pub newest: Vec<Candidate>,
    /// How many candidates the dataset has in all (≥ `newest.len()`).
    pub candidates: u64,
    /// `label:nosnap`, when set or inherited.
    pub nosnap: Option<NosnapLabel>,
}

/// A disk's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    /// Deliberately left out (`label:nosnap`, `--exclude`): never alerts.
    Excluded,
    /// Newest snapshot of ours is recent enough.
    Ok,
    /// Newest snapshot of ours is `_stopped`.
    Stopped,
    /// Older than the warning threshold, or dated in the future.
    Warn,
    /// The facts allow no verdict.
    Unknown,
    /// No snapshot of ours.
    Missing,
    /// Older than the critical threshold, or far in the future.
    Crit,
}

impl State {
    /// All states, in the order of the derived `Ord` (least severe first).
    pub const ALL: [State; 7] = [
        State::Excluded,
        State::Ok,
        State::Stopped,
        State::Warn,
        State::Unknown,
        State::Missing,
        State::Crit,
    ];

    /// The Nagios status this state contributes.
    pub fn nagios(self) -> Status {
        match self {
            State::Excluded | State::Ok | State::Stopped => Status::Ok,
            State::Warn => Status::Warning,
            State::Unknown => Status::Unknown,
            State::Missing | State::Crit => Status::Critical,
        }
    }

    /// Lowercase name (Prometheus label values).
    pub fn label(self) -> &'static str {
        match self {
            State::Excluded => "excluded",
            State::Ok => "ok",
            State::Stopped => "stopped",
            State::Warn => "warn",
            State::Unknown => "unknown",
            State::Missing => "missing",
            State::Crit => "crit",
        }
    }
}

/// Overall Nagios status. Derived `Ord` is "worse": `Ok < Warning < Unknown < Critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// 0.
    Ok,
    /// 1.
    Warning,
    /// 3.
    Unknown,
    /// 2.
    Critical,
}

impl Status {
    /// The plugin exit code.
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Ok => nagios::OK,
            Status::Warning => nagios::WARN,
            Status::Critical => nagios::CRIT,
            Status::Unknown => nagios::UNKNOWN,
        }
    }

    /// `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// Why a disk is excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum ExcludedBy {
    /// `label:nosnap` set (or inherited) to a value that excludes.
    #[serde(rename = "label:nosnap")]
    Label,
    /// At or below a `--exclude` prefix.
    #[serde(rename = "--exclude")]
    Option,
}

impl ExcludedBy {
    /// Prometheus label value: `label` or `option`.
    pub fn label(self) -> &'static str {
        match self {
            ExcludedBy::Label => "label",
            ExcludedBy::Option => "option",
        }
    }
}

/// The newest snapshot of ours.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Newest {
    /// Short name.
    pub name: String,
    /// Periodic class or stopped.
    pub kind: SnapKind,
    /// createtxg.
    pub createtxg: u64,
    /// creation, seconds since the epoch.
    pub creation: i64,
}

/// One disk's verdict.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Record {
    /// The dataset.
    pub dataset: Dataset,
    /// The guest, from the dataset's name.
    pub vmid: Option<u32>,
    /// The state.
    pub state: State,
    /// Why, in one sentence.
    pub reason: String,
    /// What to do about it: set exactly when the state alerts (WARN, CRIT, MISSING, UNKNOWN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// What excluded it, when EXCLUDED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded_by: Option<ExcludedBy>,
    /// Something worth fixing that does not change the state (a `label:nosnap` value that is
    /// not understood).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The newest snapshot of ours, if any.
    pub newest: Option<Newest>,
    /// `now - creation` of the newest (negative when dated in the future).
    pub age_seconds: Option<i64>,
    /// Snapshots of ours (exact unless more candidates exist than the scan returned, in
    /// which case candidates that could not be verified are counted).
    pub snapshots: u64,
}

/// The whole check: records worst first, plus what could not be read at all.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    /// The check's clock, seconds since the epoch.
    pub now: i64,
    /// Thresholds in force.
    pub thresholds: Thresholds,
    /// One per disk, worst first (state, then age, then name).
    pub records: Vec<Record>,
    /// Pools or prefixes that could not be read (each makes the result at least UNKNOWN).
    pub errors: Vec<String>,
    /// Pool health and capacity (`check --pools`; empty otherwise), worst first.
    pub pools: Vec<PoolRecord>,
    /// The capacity thresholds in force, with `--pools`.
    pub capacity: Option<CapacityThresholds>,
}

/// The VMID in a guest disk's leaf name (`vm-100-disk-0`, `subvol-200-disk-1`).
pub fn vmid_of(ds: &Dataset) -> Option<u32> {
    let leaf = ds.leaf();
    let rest = leaf
        .strip_prefix("vm-")
        .or_else(|| leaf.strip_prefix("subvol-"))?;
    let (id, disk) = rest.split_once("-disk-")?;
    if id.is_empty()
        || disk.is_empty()
        || !id.bytes().all(|b| b.is_ascii_digit())
        || !disk.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    id.parse().ok()
}

/// "VM 100" (`vm-100-disk-0`), "CT 200" (`subvol-200-disk-1`), else "the guest".
pub fn guest_of(ds: &Dataset) -> String {
    match vmid_of(ds) {
        Some(id) if ds.leaf().starts_with("subvol-") => format!("CT {id}"),
        Some(id) => format!("VM {id}"),
        None => "the guest".into(),
    }
}

/// True when `ds` is `prefix` or below it (`rpool/data` covers `rpool/data/vm-1-disk-0`,
/// not `rpool/data2/…`).
pub fn at_or_below(ds: &Dataset, prefix: &Dataset) -> bool {
    ds.as_str()
        .strip_prefix(prefix.as_str())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A property value for a message: control characters escaped, at most 40 characters.
fn shown(v: &str) -> String {
    let escaped: String = v.escape_debug().collect();
    if escaped.chars().count() > 40 {
        format!("{}…", escaped.chars().take(40).collect::<String>())
    } else {
        escaped
    }
}

/// `label:nosnap=<v>`, with where it is set when not on the disk itself.
fn describe_label(l: &NosnapLabel, ds: &Dataset) -> String {
    let v = shown(&l.value);
    if l.source == ds.as_str() {
        format!("label:nosnap={v}")
    } else if l.source == "$recvd" {
        format!("label:nosnap={v} (received)")
    } else {
        format!("label:nosnap={v} (inherited from {})", l.source)
    }
}

/// Evaluates every disk; disks at or below one of `excludes` (or with an excluding
/// `label:nosnap`) are EXCLUDED. `errors` are carried into the report unchanged.
pub fn evaluate(
    disks: &[DiskFacts],
    errors: Vec<String>,
    now: i64,
    t: &Thresholds,
    excludes: &[Dataset],
) -> CheckReport {
    let mut records: Vec<Record> = disks
        .iter()
        .map(|d| exclude(d, evaluate_one(d, now, t), excludes))
        .collect();
    records.sort_by(|a, b| {
        b.state
            .cmp(&a.state)
            .then(b.age_seconds.cmp(&a.age_seconds))
            .then(a.dataset.cmp(&b.dataset))
    });
    CheckReport {
        now,
        thresholds: t.clone(),
        records,
        errors,
        pools: Vec::new(),
        capacity: None,
    }
}

/// Applies the exclusions (label first, then `--exclude`) and the label note to a record.
fn exclude(d: &DiskFacts, mut rec: Record, excludes: &[Dataset]) -> Record {
    let label = d.nosnap.as_ref().map(|l| (l, nosnap_value(&l.value)));
    if let Some((l, NosnapValue::Unknown)) = label {
        rec.note = Some(format!(
            "label:nosnap={} not understood: use nosnap",
            shown(&l.value)
        ));
    }
    let by = if let Some((l, NosnapValue::Excludes)) = label {
        Some((ExcludedBy::Label, describe_label(l, &d.dataset)))
    } else {
        excludes
            .iter()
            .find(|p| at_or_below(&d.dataset, p))
            .map(|p| (ExcludedBy::Option, format!("--exclude {p}")))
    };
    if let Some((by, reason)) = by {
        rec.state = State::Excluded;
        rec.reason = reason;
        rec.action = None;
        rec.excluded_by = Some(by);
    }
    rec
}

/// What to do about an alerting record (`None` when it does not alert).
fn action_for(rec: &Record) -> Option<String> {
    let guest = guest_of(&rec.dataset);
    let skewed = rec.age_seconds.is_some_and(|a| a < -SKEW_TOLERANCE);
    match rec.state {
        State::Excluded | State::Ok | State::Stopped => None,
        State::Warn | State::Crit if skewed => Some(format!(
            "fix the clock of the node that runs {guest} (timedatectl, NTP); \
             its next snapshot clears this"
        )),
        State::Warn | State::Crit => Some(format!(
            "is the pve-zfs-snap cron job / timer running on the node that runs {guest}? \
             (pve-zfs-snap status; journalctl -u pve-zfs-snap)"
        )),
        State::Missing => Some(format!(
            "run pve-zfs-snap on the node that runs {guest}, \
             or set label:nosnap=nosnap on the dataset to exclude it"
        )),
        State::Unknown => Some(format!(
            "rename or destroy these look-alikes (zfs list -t snapshot {}): \
             pve-zfs-snap did not make them",
            rec.dataset
        )),
    }
}

/// One disk: the newest candidate that is really ours decides.
fn evaluate_one(d: &DiskFacts, now: i64, t: &Thresholds) -> Record {
    let mut rec = evaluate_age(d, now, t);
    rec.action = action_for(&rec);
    rec
}

/// The state by age alone (no exclusion, no action).
fn evaluate_age(d: &DiskFacts, now: i64, t: &Thresholds) -> Record {
    let mut sorted: Vec<&Candidate> = d.newest.iter().collect();
    sorted.sort_by(|a, b| (b.createtxg, &b.name).cmp(&(a.createtxg, &a.name)));
    let foreign = sorted
        .iter()
        .filter(|c| SnapName::parse(&c.name).is_none())
        .count() as u64;
    let snapshots = d.candidates.saturating_sub(foreign);
    let newest = sorted
        .iter()
        .find_map(|c| SnapName::parse(&c.name).map(|n| (c, n)));
    let mut rec = Record {
        dataset: d.dataset.clone(),
        vmid: vmid_of(&d.dataset),
        state: State::Ok,
        reason: String::new(),
        action: None,
        excluded_by: None,
        note: None,
        newest: None,
        age_seconds: None,
        snapshots,
    };
    let Some((c, name)) = newest else {
        if d.candidates > d.newest.len() as u64 {
            rec.state = State::Unknown;
            rec.reason = format!(
                "the {} newest snapshots named like ours are not ours, and {} more were not read",
                d.newest.len(),
                d.candidates - d.newest.len() as u64
            );
        } else {
            rec.state = State::Missing;
            rec.snapshots = 0;
            rec.reason = "no snapshot of ours".into();
        }
        return rec;
    };
    let age = now.saturating_sub(c.creation);
    rec.age_seconds = Some(age);
    rec.newest = Some(Newest {
        name: c.name.clone(),
        kind: name.kind(),
        createtxg: c.createtxg,
        creation: c.creation,
    });
    let (state, reason) = if name.kind() == SnapKind::Stopped {
        (
            State::Stopped,
            format!(
                "newest {} (guest stopped, {} ago)",
                c.name,
                human(age.max(0))
            ),
        )
    } else if age < -SKEW_TOLERANCE {
        let ahead = age.unsigned_abs();
        (
            if ahead > t.crit {
                State::Crit
            } else {
                State::Warn
            },
            format!(
                "newest {} is {} s in the future (clock skew?)",
                c.name, ahead
            ),
        )
    } else {
        let a = age.max(0) as u64;
        let state = if a > t.crit {
            State::Crit
        } else if a > t.warn {
            State::Warn
        } else {
            State::Ok
        };
        (
            state,
            format!("newest {} is {} old", c.name, human(a as i64)),
        )
    };
    rec.state = state;
    rec.reason = reason;
    rec
}

impl CheckReport {
    /// Overall status: the worst record; UNKNOWN when anything could not be read (unless a
    /// record is CRITICAL) or when no disk was found at all.
    pub fn status(&self) -> Status {
        let worst = self
            .records
            .iter()
            .map(|r| r.state.nagios())
            .max()
            .unwrap_or(Status::Unknown)
            .max(
                self.pools
                    .iter()
                    .map(|p| p.state.nagios())
                    .max()
                    .unwrap_or(Status::Ok),
            );
        if self.errors.is_empty() {
            worst
        } else {
            worst.max(Status::Unknown)
        }
    }

    /// Nagios exit code.
    pub fn exit_code(&self) -> i32 {
        self.status().exit_code()
    }

    /// How many records have `state`.
    pub fn count(&self, state: State) -> usize {
        self.records.iter().filter(|r| r.state == state).count()
    }

    /// Largest age among disks that age (OK/WARN/CRIT), at least 0.
    pub fn max_age(&self) -> i64 {
        self.records
            .iter()
            .filter(|r| matches!(r.state, State::Ok | State::Warn | State::Crit))
            .filter_map(|r| r.age_seconds)
            .max()
            .unwrap_or(0)
            .max(0)
    }
}

/// The Nagios plugin output. First line (always one line): the status, the counts per
/// state, the worst problems named (the first one with what to do), and performance data.
/// Then the long output: one line per problem (with what to do), per excluded disk (with the
/// reason) and per note, worst first, at most [`NAGIOS_LONG_LINES`].
pub fn render_nagios(r: &CheckReport) -> String {
    let status = r.status();
    let mut text = format!("PVE-ZFS-SNAP {} - ", status.word());
    let counts: Vec<String> = State::ALL
        .iter()
        .rev()
        .filter(|s| r.count(**s) > 0)
        .map(|s| format!("{} {}", r.count(*s), s.label()))
        .collect();
    if r.records.is_empty() {
        text.push_str("no guest disks found");
    } else {
        let _ = write!(
            text,
            "{} disk{}: {}",
            r.records.len(),
            if r.records.len() == 1 { "" } else { "s" },
            counts.join(", ")
        );
    }
    if !r.pools.is_empty() {
        let bad = r.pools.iter().filter(|p| p.state != State::Ok).count();
        let _ = write!(
            text,
            "; {} pool{}: {}",
            r.pools.len(),
            if r.pools.len() == 1 { "" } else { "s" },
            if bad == 0 {
                "all ok".to_string()
            } else {
                format!("{bad} alerting")
            }
        );
    }
    let alerting = || r.records.iter().filter(|x| x.state.nagios() != Status::Ok);
    let alerting_pools = || r.pools.iter().filter(|p| p.state != State::Ok);
    let mut problems: Vec<String> = r.errors.iter().map(|e| one_line(e)).collect();
    problems.extend(alerting_pools().map(|p| format!("pool {}: {}", p.pool, p.reason)));
    problems.extend(alerting().enumerate().map(|(i, x)| match &x.action {
        Some(a) if i == 0 => format!("{}: {}: {a}", x.dataset, x.reason),
        _ => format!("{}: {}", x.dataset, x.reason),
    }));
    let named = problems.len().min(NAGIOS_NAMED);
    for p in &problems[..named] {
        let _ = write!(text, "; {p}");
    }
    if problems.len() > named {
        let _ = write!(text, "; and {} more", problems.len() - named);
    }
    if problems.is_empty() && r.records.iter().any(|x| x.state != State::Excluded) {
        let _ = write!(text, "; newest snapshot at most {} old", human(r.max_age()));
    }
    let _ = write!(
        text,
        " | max_age={}s;{};{};0 disks={}",
        r.max_age(),
        r.thresholds.warn,
        r.thresholds.crit,
        r.records.len()
    );
    for s in State::ALL {
        let _ = write!(text, " {}={}", s.label(), r.count(s));
    }
    if let Some(c) = &r.capacity {
        for p in &r.pools {
            let _ = write!(
                text,
                " pool_{}={}%;{};{};0;100",
                p.pool,
                p.capacity_percent,
                c.warn(),
                c.crit()
            );
        }
    }
    text.push('\n');

    let mut long: Vec<String> = r
        .errors
        .iter()
        .map(|e| format!("ERROR {}", one_line(e)))
        .collect();
    let line = |x: &Record| {
        let mut l = format!(
            "{} {}: {}",
            x.state.label().to_uppercase(),
            x.dataset,
            x.reason
        );
        if let Some(a) = &x.action {
            let _ = write!(l, ": {a}");
        }
        if let Some(n) = &x.note {
            let _ = write!(l, "; {n}");
        }
        l
    };
    long.extend(alerting_pools().map(|p| {
        let mut l = format!(
            "{} pool {}: {}",
            p.state.label().to_uppercase(),
            p.pool,
            p.reason
        );
        if let Some(a) = &p.action {
            let _ = write!(l, ": {a}");
        }
        l
    }));
    long.extend(alerting().map(line));
    long.extend(
        r.records
            .iter()
            .filter(|x| x.state == State::Excluded)
            .map(line),
    );
    long.extend(
        r.records
            .iter()
            .filter(|x| x.state.nagios() == Status::Ok && x.state != State::Excluded)
            .filter_map(|x| x.note.as_ref().map(|n| format!("NOTE {}: {n}", x.dataset))),
    );
    let shown = long.len().min(NAGIOS_LONG_LINES);
    for l in &long[..shown] {
        text.push_str(l);
        text.push('\n');
    }
    if long.len() > shown {
        let _ = writeln!(
            text,
            "and {} more (pve-zfs-snap check --format json lists every disk)",
            long.len() - shown
        );
    }
    text
}

/// A message on one line: line breaks become spaces (Nagios reads the first line only).
fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The JSON output: a list of per-disk records (worst first), then (with `--pools`) one
/// record per pool (`"pool"` instead of `"dataset"`).
pub fn render_json(r: &CheckReport) -> String {
    /// A disk's record or a pool's, serialized as it is.
    #[derive(serde::Serialize)]
    #[serde(untagged)]
    enum Entry<'a> {
        Disk(&'a Record),
        Pool(&'a PoolRecord),
    }
    let all: Vec<Entry> = r
        .records
        .iter()
        .map(Entry::Disk)
        .chain(r.pools.iter().map(Entry::Pool))
        .collect();
    let mut s = serde_json::to_string_pretty(&all).expect("records serialize");
    s.push('\n');
    s
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes `# HELP`/`# TYPE gauge` and the samples `(labels, value)` of one metric family.
pub(crate) fn gauge(out: &mut String, name: &str, help: &str, samples: &[(String, String)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// The Prometheus text exposition format (for node_exporter's textfile collector): overall
/// status, thresholds, counts per state, and per disk the age of the newest snapshot of
/// ours, its creation time, the state and the number of snapshots. Excluded disks are counted
/// (`pve_zfs_snap_excluded_datasets`) and have `state="excluded"`, but no age series. No
/// timestamps.
pub fn render_prometheus(r: &CheckReport) -> String {
    let mut out = String::new();
    let one = |v: String| vec![(String::new(), v)];
    gauge(
        &mut out,
        "pve_zfs_snap_check_status",
        "Overall check status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        &one(r.exit_code().to_string()),
    );
    gauge(
        &mut out,
        "pve_zfs_snap_check_timestamp_seconds",
        "When the check ran, seconds since the epoch.",
        &one(r.now.to_string()),
    );
    gauge(
        &mut out,
        "pve_zfs_snap_check_threshold_seconds",
        "Age thresholds in force.",
        &[
            ("level=\"warn\"".into(), r.thresholds.warn.to_string()),
            ("level=\"crit\"".into(), r.thresholds.crit.to_string()),
        ],
    );
    gauge(
        &mut out,
        "pve_zfs_snap_check_errors",
        "Pools or dataset prefixes that could not be read.",
        &one(r.errors.len().to_string()),
    );
    gauge(
        &mut out,
        "pve_zfs_snap_datasets",
        "Guest disks per state.",
        &State::ALL
            .iter()
            .map(|s| (format!("state=\"{}\"", s.label()), r.count(*s).to_string()))
            .collect::<Vec<_>>(),
    );
    gauge(
        &mut out,
        "pve_zfs_snap_excluded_datasets",
        "Guest disks deliberately left out (never alerting), by label:nosnap or by --exclude.",
        &[ExcludedBy::Label, ExcludedBy::Option]
            .iter()
            .map(|b| {
                let n = r
                    .records
                    .iter()
                    .filter(|x| x.excluded_by == Some(*b))
                    .count();
                (format!("by=\"{}\"", b.label()), n.to_string())
            })
            .collect::<Vec<_>>(),
    );
    let ds = |x: &Record| format!("dataset=\"{}\"", escape_label(x.dataset.as_str()));
    // Excluded disks have no age series: an age alert rule must not fire for them.
    let aged: Vec<&Record> = r
        .records
        .iter()
        .filter(|x| x.newest.is_some() && x.state != State::Excluded)
        .collect();
    gauge(
        &mut out,
        "pve_zfs_snap_newest_age_seconds",
        "Age of the newest snapshot of ours (negative: dated in the future).",
        &aged
            .iter()
            .map(|x| (ds(x), x.age_seconds.unwrap_or(0).to_string()))
            .collect::<Vec<_>>(),
    );
    gauge(
        &mut out,
        "pve_zfs_snap_newest_creation_timestamp_seconds",
        "Creation time of the newest snapshot of ours, seconds since the epoch.",
        &aged
            .iter()
            .map(|x| {
                (
                    ds(x),
                    x.newest.as_ref().map_or(0, |n| n.creation).to_string(),
                )
            })
            .collect::<Vec<_>>(),
    );
    gauge(
        &mut out,
        "pve_zfs_snap_dataset_state",
        "1 for the disk's current state (excluded, ok, stopped, warn, unknown, missing, crit).",
        &r.records
            .iter()
            .map(|x| {
                (
                    format!("{},state=\"{}\"", ds(x), x.state.label()),
                    "1".into(),
                )
            })
            .collect::<Vec<_>>(),
    );
    gauge(
        &mut out,
        "pve_zfs_snap_snapshots",
        "Snapshots of ours per disk.",
        &r.records
            .iter()
            .map(|x| (ds(x), x.snapshots.to_string()))
            .collect::<Vec<_>>(),
    );
    if let Some(c) = &r.capacity {
        render_pools_prometheus(&mut out, &r.pools, c);
    }
    out
}

/// The pool families of `check --pools --format prometheus`.
fn render_pools_prometheus(out: &mut String, pools: &[PoolRecord], c: &CapacityThresholds) {
    let pl = |p: &PoolRecord| format!("pool=\"{}\"", escape_label(&p.pool));
    let per = |f: &dyn Fn(&PoolRecord) -> String| -> Vec<(String, String)> {
        pools.iter().map(|p| (pl(p), f(p))).collect()
    };
    gauge(
        out,
        "pve_zfs_snap_pool_capacity_threshold_ratio",
        "Pool capacity thresholds in force (check --capacity-warn/--capacity-crit).",
        &[
            ("level=\"warn\"".into(), ratio(c.warn())),
            ("level=\"crit\"".into(), ratio(c.crit())),
        ],
    );
    gauge(
        out,
        "pve_zfs_snap_pool_state",
        "1 for the pool's current state (ok, warn, crit) from its health and capacity.",
        &pools
            .iter()
            .map(|p| {
                (
                    format!("{},state=\"{}\"", pl(p), p.state.label()),
                    "1".into(),
                )
            })
            .collect::<Vec<_>>(),
    );
    gauge(
        out,
        "pve_zfs_snap_pool_health",
        "1 with the pool's health as zpool list shows it (ONLINE, DEGRADED, FAULTED, ...).",
        &pools
            .iter()
            .map(|p| {
                (
                    format!("{},health=\"{}\"", pl(p), escape_label(&p.health)),
                    "1".into(),
                )
            })
            .collect::<Vec<_>>(),
    );
    gauge(
        out,
        "pve_zfs_snap_pool_capacity_ratio",
        "How full the pool is (zpool list capacity), 0 to 1.",
        &per(&|p| ratio(p.capacity_percent)),
    );
    gauge(
        out,
        "pve_zfs_snap_pool_size_bytes",
        "Pool size.",
        &per(&|p| p.size_bytes.to_string()),
    );
    gauge(
        out,
        "pve_zfs_snap_pool_free_bytes",
        "Pool free space.",
        &per(&|p| p.free_bytes.to_string()),
    );
}

/// A percentage as a 0–1 ratio with two decimals.
fn ratio(pct: u64) -> String {
    format!("{}.{:02}", pct / 100, pct % 100)
}

#[cfg(test)]
pub(crate) mod tests;
