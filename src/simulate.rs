//! `simulate`: the real run ([`run::run_host`]: inventory, plan, apply with the real `lua/`
//! programs) repeated on a virtual clock against the in-process emulator, to show what a
//! policy keeps over months before it is installed on a node.
//!
//! Builds a synthetic host (N guests × 2 zvols `rpool/data/vm-<id>-disk-<n>`, the last guest
//! stopped during the `--stop-at` windows), steps the clock, and observes the emulated pool
//! after each run. Touches nothing outside its in-memory [`emu::World`]: no files, no
//! processes, no real clock (the caller measures wall time). Writing the CSV and printing
//! are the caller's.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, TimeDelta, Utc};

use crate::duration::{self, Style};
use crate::naming::{Class, Dataset, SnapKind, SnapName};
use crate::policy::Policy;
use crate::pve::{Disk, Guest, GuestKind, Host};
use crate::run::{self, PolicyOptions, Validated};
use crate::zfs::{self, Exec, InProcess};
use zfs_emu::{self as emu, World};

/// Node name of the synthetic host.
pub const NODE: &str = "pve1";
/// Pool of the synthetic host.
pub const POOL: &str = "rpool";
/// Disks per synthetic guest.
pub const DISKS_PER_GUEST: u32 = 2;
/// VMID of the first synthetic guest; the others follow.
pub const FIRST_VMID: u32 = 100;

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

    fn contains(&self, since_start: TimeDelta) -> bool {
        since_start >= self.from && since_start < self.from + self.length
    }
}

/// A duration of `option` ([`duration::parse`]) as a `TimeDelta`.
fn parse_delta(option: &str, s: &str) -> Result<TimeDelta, String> {
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
    /// Number of guests (each with [`DISKS_PER_GUEST`] disks).
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
        let (policy, bookmarks, zone) = run::validate_policy(&a.keep, &a.policy)?;
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

/// The synthetic host: guests `100, 101, …`, each with disks `scsi0`, `scsi1` on `local-zfs`.
pub fn host(guests: u32) -> Host {
    let guests = (0..guests)
        .map(|i| {
            let vmid = FIRST_VMID + i;
            Guest {
                vmid,
                kind: GuestKind::Qemu,
                running: true,
                template: false,
                lock: None,
                disks: (0..DISKS_PER_GUEST)
                    .map(|n| Disk {
                        key: format!("scsi{n}"),
                        storage: "local-zfs".into(),
                        dataset: Dataset::new(&format!("{POOL}/data/vm-{vmid}-disk-{n}"))
                            .expect("valid dataset name"),
                    })
                    .collect(),
                other_disks: vec![],
            }
        })
        .collect();
    Host {
        node: NODE.into(),
        guests,
        unreadable: vec![],
        warnings: vec![],
    }
}

/// An emulated host holding the pool and the zvols of `host`; reproducible (fixed seed).
pub fn world(host: &Host) -> Result<World, String> {
    let mut w = World::new(emu::Version::default());
    w.set_seed(1);
    let e = |what: &str, errno: i32| format!("emulator: cannot create {what}: errno {errno}");
    w.create_pool(POOL).map_err(|n| e(POOL, n))?;
    for d in host.guests.iter().flat_map(|g| &g.disks) {
        let name = d.dataset.as_str();
        w.create_dataset(name, Some(32 << 30), true)
            .map_err(|n| e(name, n))?;
    }
    Ok(w)
}

/// Counts per kind, indexed by [`kind_index`]: f h d w m y, then `_stopped`.
pub type KindCounts = [u64; 7];

/// Index of a kind in [`KindCounts`].
pub fn kind_index(k: SnapKind) -> usize {
    match k {
        SnapKind::Periodic(c) => c.index(),
        SnapKind::Stopped => 6,
    }
}

/// The end state of one disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskState {
    /// Guest.
    pub vmid: u32,
    /// The zvol.
    pub dataset: Dataset,
    /// Our snapshots per kind.
    pub snapshots: KindCounts,
    /// Our bookmarks per kind.
    pub bookmarks: KindCounts,
    /// The oldest snapshot of ours (the oldest point to roll back to) and its creation.
    pub oldest: Option<(SnapName, i64)>,
    /// The newest snapshot of ours and its creation.
    pub newest: Option<(SnapName, i64)>,
    /// Snapshots that are not ours (none unless something else made them).
    pub foreign: u64,
}

/// Reads one disk's state from the emulated pool.
pub fn disk_state(world: &World, vmid: u32, dataset: &Dataset) -> Option<DiskState> {
    let node = world.pool(dataset.as_str())?.ds(dataset.as_str())?;
    let mut st = DiskState {
        vmid,
        dataset: dataset.clone(),
        snapshots: [0; 7],
        bookmarks: [0; 7],
        oldest: None,
        newest: None,
        foreign: 0,
    };
    for (name, s) in &node.snapshots {
        let Some(n) = SnapName::parse(name) else {
            st.foreign += 1;
            continue;
        };
        st.snapshots[kind_index(n.kind())] += 1;
        if st.oldest.is_none_or(|(_, c)| s.creation < c) {
            st.oldest = Some((n, s.creation));
        }
        if st.newest.is_none_or(|(_, c)| s.creation >= c) {
            st.newest = Some((n, s.creation));
        }
    }
    for name in node.bookmarks.keys() {
        if let Some(n) = SnapName::parse(name) {
            st.bookmarks[kind_index(n.kind())] += 1;
        }
    }
    Some(st)
}

/// One line of the timeline: the state at the end of a day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineRow {
    /// Day number, 0 = the start's day.
    pub day: i64,
    /// The last run's time that day.
    pub at: DateTime<Utc>,
    /// Guests running at that run.
    pub running: u32,
    /// First disk of the first guest.
    pub first: DiskState,
    /// First disk of the last guest (the one that stops), when there are several guests.
    pub last: Option<DiskState>,
    /// Our snapshots and bookmarks on the whole pool.
    pub pool_snapshots: u64,
    /// Bookmarks on the whole pool.
    pub pool_bookmarks: u64,
}

/// One run, for `--csv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRow {
    /// The run's time.
    pub at: DateTime<Utc>,
    /// Guests running.
    pub running: u32,
    /// Snapshots created / destroyed, bookmarks created / destroyed, failed items.
    pub created: u64,
    /// Snapshots destroyed (or deferred).
    pub destroyed: u64,
    /// Bookmarks created.
    pub bookmarks_created: u64,
    /// Bookmarks destroyed.
    pub bookmarks_destroyed: u64,
    /// Failed items.
    pub failed: u64,
    /// The txg of the run's snapshots.
    pub txg: Option<u64>,
    /// Snapshots on the pool after the run, per kind.
    pub pool_snapshots: KindCounts,
    /// Bookmarks on the pool after the run.
    pub pool_bookmarks: u64,
}

/// What a simulation did and left.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Runs made.
    pub runs: u64,
    /// The last run's time.
    pub end: DateTime<Utc>,
    /// Commands run against the emulator (programs, `zfs version`, bookmark listings and
    /// destroys).
    pub commands: u64,
    /// Channel programs run (all real: inventory, snapinfo, apply).
    pub programs: u64,
    /// Runs that created at least one snapshot.
    pub runs_with_snapshots: u64,
    /// Distinct txgs the runs' snapshots were created in.
    pub snapshot_txgs: u64,
    /// Snapshots created, destroyed; bookmarks created, destroyed; over all runs.
    pub created: u64,
    /// Snapshots destroyed.
    pub destroyed: u64,
    /// Bookmarks created.
    pub bookmarks_created: u64,
    /// Bookmarks destroyed.
    pub bookmarks_destroyed: u64,
    /// Items that failed (should be 0), and the first few messages.
    pub failed: u64,
    /// Up to 5 failure messages.
    pub failures: Vec<String>,
    /// Most snapshots of ours on the pool after any run, and when.
    pub peak_snapshots: (u64, DateTime<Utc>),
    /// Most bookmarks on the pool after any run, and when.
    pub peak_bookmarks: (u64, DateTime<Utc>),
    /// Most snapshots on one disk after any run.
    pub peak_per_disk: u64,
    /// Every disk at the end, in guest and disk order.
    pub disks: Vec<DiskState>,
    /// One row per `timeline_every` days (and the last day).
    pub timeline: Vec<TimelineRow>,
    /// Per-run rows when asked for.
    pub rows: Vec<RunRow>,
    /// Distinct createtxgs among the snapshots left at the end.
    pub end_txgs: u64,
    /// Distinct creation times among the snapshots left at the end (one per run kept).
    pub end_runs: u64,
}

fn pool_counts(world: &World) -> (u64, u64, u64) {
    let Some(pool) = world.pools.get(POOL) else {
        return (0, 0, 0);
    };
    let (mut snaps, mut bms, mut most) = (0, 0, 0);
    for n in pool.datasets.values() {
        let s = n.snapshots.len() as u64;
        snaps += s;
        most = most.max(s);
        bms += n.bookmarks.len() as u64;
    }
    (snaps, bms, most)
}

/// Runs the scenario: `scenario.runs` real runs, `scenario.every` apart.
pub fn simulate(sc: &Scenario) -> Result<Outcome, String> {
    let mut host = host(sc.guests);
    let emulator = InProcess::new(world(&host)?);
    let exec = &emulator;
    zfs::version::detect(exec).map_err(|e| e.to_string())?;
    // Kept across the simulated runs like the real cache file is across cron runs.
    let mut snap_cache = crate::zfs::snapcache::SnapCache::empty();
    let mut v = sc.validated.clone();
    let last = host.guests.len() - 1;
    let mut out = Outcome {
        runs: 0,
        end: sc.start,
        commands: 0,
        programs: 0,
        runs_with_snapshots: 0,
        snapshot_txgs: 0,
        created: 0,
        destroyed: 0,
        bookmarks_created: 0,
        bookmarks_destroyed: 0,
        failed: 0,
        failures: vec![],
        peak_snapshots: (0, sc.start),
        peak_bookmarks: (0, sc.start),
        peak_per_disk: 0,
        disks: vec![],
        timeline: vec![],
        rows: vec![],
        end_txgs: 0,
        end_runs: 0,
    };
    let mut txgs = BTreeSet::new();
    let mut changed_today = false;
    let setup = crate::zfs::inventory::ReadSetup {
        limits: crate::zfs::inventory::ReadLimits::DEFAULT,
        // The same gate as a real run's, on the emulated module's version.
        snapshots_changed: crate::zfs::version::ZfsVersion::from(emulator.world().version)
            .has_snapshots_changed(),
    };
    for i in 0..sc.runs {
        let since = sc.every * i as i32;
        let now = sc.start + since;
        v.now = now;
        let running = !sc.stops.iter().any(|w| w.contains(since));
        let changed = host.guests[last].running != running;
        host.guests[last].running = running;
        changed_today |= changed && i > 0;
        emulator.world_mut().set_clock(now.timestamp());
        let (_plan, report) = run::run_host(&host, exec, &v, false, &setup, &mut snap_cache);

        let t = &report.totals;
        out.runs += 1;
        out.end = now;
        out.created += t.snapshots_created;
        out.destroyed += t.snapshots_destroyed;
        out.bookmarks_created += t.bookmarks_created;
        out.bookmarks_destroyed += t.bookmarks_destroyed;
        out.failed += t.failed;
        if t.failed > 0 && out.failures.len() < 5 {
            let room = 5 - out.failures.len();
            out.failures.extend(
                report
                    .failures()
                    .into_iter()
                    .take(room)
                    .map(|f| format!("{now}: {f}")),
            );
        }
        let txg = report.pools.iter().find_map(|p| p.txg);
        if t.snapshots_created > 0 {
            out.runs_with_snapshots += 1;
        }
        txgs.extend(report.pools.iter().filter_map(|p| p.txg));

        let world = emulator.world();
        let (snaps, bms, most) = pool_counts(&world);
        if snaps > out.peak_snapshots.0 {
            out.peak_snapshots = (snaps, now);
        }
        if bms > out.peak_bookmarks.0 {
            out.peak_bookmarks = (bms, now);
        }
        out.peak_per_disk = out.peak_per_disk.max(most);
        let running = host.guests.iter().filter(|g| g.running).count() as u32;
        if sc.keep_rows {
            let mut per_kind = [0; 7];
            for g in &host.guests {
                for d in &g.disks {
                    if let Some(s) = disk_state(&world, g.vmid, &d.dataset) {
                        for (a, b) in per_kind.iter_mut().zip(s.snapshots) {
                            *a += b;
                        }
                    }
                }
            }
            out.rows.push(RunRow {
                at: now,
                running,
                created: t.snapshots_created,
                destroyed: t.snapshots_destroyed,
                bookmarks_created: t.bookmarks_created,
                bookmarks_destroyed: t.bookmarks_destroyed,
                failed: t.failed,
                txg,
                pool_snapshots: per_kind,
                pool_bookmarks: bms,
            });
        }
        let day = since.num_days();
        let next_day = (since + sc.every).num_days();
        let last_run = i + 1 == sc.runs;
        let end_of_day = next_day != day || last_run;
        if end_of_day && (day % i64::from(sc.timeline_every) == 0 || changed_today || last_run) {
            changed_today = false;
            let state = |g: &Guest| disk_state(&world, g.vmid, &g.disks[0].dataset);
            if let Some(first) = state(&host.guests[0]) {
                out.timeline.push(TimelineRow {
                    day,
                    at: now,
                    running,
                    first,
                    last: (last > 0).then(|| state(&host.guests[last])).flatten(),
                    pool_snapshots: snaps,
                    pool_bookmarks: bms,
                });
            }
        }
        if end_of_day {
            changed_today = false;
        }
    }
    out.snapshot_txgs = txgs.len() as u64;
    let world = emulator.world();
    let mut end_txgs = BTreeSet::new();
    let mut end_times = BTreeSet::new();
    for g in &host.guests {
        for d in &g.disks {
            if let Some(s) = disk_state(&world, g.vmid, &d.dataset) {
                out.disks.push(s);
            }
            if let Some(n) = world
                .pool(d.dataset.as_str())
                .and_then(|p| p.ds(d.dataset.as_str()))
            {
                for s in n.snapshots.values() {
                    end_txgs.insert(s.createtxg);
                    end_times.insert(s.creation);
                }
            }
        }
    }
    out.end_txgs = end_txgs.len() as u64;
    out.end_runs = end_times.len() as u64;
    drop(world);
    out.commands = exec.commands_run();
    out.programs = emulator.programs_run();
    Ok(out)
}

fn dur_text(secs: i64) -> String {
    duration::format(secs, Style::Exact)
}

fn human_age(secs: i64) -> String {
    duration::format(secs, Style::Age)
}

/// `f100 h24 d7 s1`: the non-zero counts (managed classes always shown).
fn counts_text(c: &KindCounts, policy: &Policy) -> String {
    let mut parts = Vec::new();
    for class in Class::ALL {
        let n = c[class.index()];
        if n > 0 || policy.keep().get(class).is_some() {
            parts.push(format!("{}{n}", class.letter()));
        }
    }
    if c[6] > 0 {
        parts.push(format!("stopped{}", c[6]));
    }
    parts.join(" ")
}

/// The readable report: scenario, end state per disk, peaks, programs and txgs, timeline.
pub fn render(sc: &Scenario, o: &Outcome, wall: std::time::Duration) -> String {
    let v = &sc.validated;
    let mut s = String::new();
    let stops: Vec<String> = sc
        .stops
        .iter()
        .map(|w| {
            format!(
                "from {} after the start for {}",
                dur_text(w.from.num_seconds()),
                dur_text(w.length.num_seconds())
            )
        })
        .collect();
    let _ = writeln!(
        s,
        "simulated {} runs every {} from {} to {} ({}), policy {}, bookmarks {}, zone {}",
        o.runs,
        dur_text(sc.every.num_seconds()),
        sc.start.format("%Y-%m-%d %H:%M"),
        o.end.format("%Y-%m-%d %H:%M"),
        human_age((o.end - sc.start).num_seconds()),
        v.policy,
        match v.bookmarks.counts() {
            None => "off".to_string(),
            Some(c) if c.managed().next().is_none() => "none".into(),
            Some(c) => c.to_string(),
        },
        v.zone,
    );
    let _ = writeln!(
        s,
        "host: node {NODE}, {} guest(s) × {DISKS_PER_GUEST} zvols on {POOL}; guest {} stopped {}",
        sc.guests,
        FIRST_VMID + sc.guests - 1,
        if stops.is_empty() {
            "never".to_string()
        } else {
            stops.join(", ")
        }
    );
    let end = o.end.timestamp();
    s.push_str(
        "\nat the end (snapshots of ours per class; oldest = the oldest point to roll back to):\n",
    );
    for d in &o.disks {
        let oldest = d.oldest.as_ref().map_or("none".to_string(), |(n, c)| {
            format!("{n} ({} ago)", human_age(end - c))
        });
        let bm = d.bookmarks.iter().sum::<u64>();
        let _ = writeln!(
            s,
            "  {:<28} {:<30} bookmarks {:<4} oldest {oldest}",
            d.dataset.as_str(),
            counts_text(&d.snapshots, &v.policy),
            bm,
        );
    }
    let _ = writeln!(
        s,
        "\npeak: {} snapshots on the pool ({}), {} bookmarks ({}), {} snapshots on one disk",
        o.peak_snapshots.0,
        o.peak_snapshots.1.format("%Y-%m-%d %H:%M"),
        o.peak_bookmarks.0,
        o.peak_bookmarks.1.format("%Y-%m-%d %H:%M"),
        o.peak_per_disk,
    );
    let _ = writeln!(
        s,
        "totals: {} snapshots created, {} destroyed; {} bookmarks created, {} destroyed; {} failed item(s)",
        o.created, o.destroyed, o.bookmarks_created, o.bookmarks_destroyed, o.failed
    );
    let _ = writeln!(
        s,
        "programs: {} channel programs ({} commands) for {} runs; the snapshots of {} runs used {} transaction group(s); \
         those left at the end come from {} runs in {} txg(s)",
        o.programs,
        o.commands,
        o.runs,
        o.runs_with_snapshots,
        o.snapshot_txgs,
        o.end_runs,
        o.end_txgs
    );
    for f in &o.failures {
        let _ = writeln!(s, "  failed: {f}");
    }
    let secs = wall.as_secs_f64();
    let _ = writeln!(
        s,
        "wall time {:.2}s ({:.0} runs/s)",
        secs,
        o.runs as f64 / secs.max(1e-9)
    );

    let _ = writeln!(
        s,
        "\ntimeline (end of every {} day(s) and of days a guest stopped or started; \
         vm-{}-disk-0{}; pool totals):",
        sc.timeline_every,
        FIRST_VMID,
        if sc.guests > 1 {
            format!(" | vm-{}-disk-0", FIRST_VMID + sc.guests - 1)
        } else {
            String::new()
        }
    );
    for r in &o.timeline {
        let oldest = r
            .first
            .oldest
            .as_ref()
            .map_or("-".to_string(), |(_, c)| human_age(r.at.timestamp() - c));
        let other = r.last.as_ref().map_or(String::new(), |l| {
            format!(" | {:<26}", counts_text(&l.snapshots, &v.policy))
        });
        let _ = writeln!(
            s,
            "  day {:>4} {} run {}/{}: {:<26}{other} | {:>4} snaps {:>4} bms, oldest {oldest}",
            r.day,
            r.at.format("%Y-%m-%d"),
            r.running,
            sc.guests,
            counts_text(&r.first.snapshots, &v.policy),
            r.pool_snapshots,
            r.pool_bookmarks,
        );
    }
    s
}

/// The `--csv` text: a header and one row per run.
pub fn csv(o: &Outcome) -> String {
    let mut s = String::from(
        "time,running_guests,created,destroyed,bookmarks_created,bookmarks_destroyed,failed,txg,\
         frequently,hourly,daily,weekly,monthly,yearly,stopped,snapshots,bookmarks\n",
    );
    for r in &o.rows {
        let k = &r.pool_snapshots;
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.at.to_rfc3339(),
            r.running,
            r.created,
            r.destroyed,
            r.bookmarks_created,
            r.bookmarks_destroyed,
            r.failed,
            r.txg.map_or(String::new(), |t| t.to_string()),
            k[0],
            k[1],
            k[2],
            k[3],
            k[4],
            k[5],
            k[6],
            k.iter().sum::<u64>(),
            r.pool_bookmarks,
        );
    }
    s
}

#[cfg(test)]
mod tests;
