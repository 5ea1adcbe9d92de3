//! The run loop: the real run ([`run::run_host`]) repeated on the virtual clock against the
//! emulated pool, the last guest stopped during the stop windows, and what is observed after
//! each run (totals, peaks, per-run rows, the timeline) and at the end. No files, no real
//! clock (the caller measures wall time), no printing.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::Scenario;
use super::world::{self, DiskState, KindCounts, disk_state, pool_counts};
use crate::host::{Guest, Host};
use crate::report::Report;
use crate::run;
use crate::zfs::inventory::{ReadLimits, ReadSetup};
use crate::zfs::snapcache::SnapCache;
use crate::zfs::version::{self, ZfsVersion};
use crate::zfs::{Exec, InProcess};
use zfs_emu::World;

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

/// Failure messages kept in [`Outcome::failures`].
const FAILURES_KEPT: usize = 5;

impl Outcome {
    /// Nothing run yet, from `start`.
    fn new(start: DateTime<Utc>) -> Outcome {
        Outcome {
            runs: 0,
            end: start,
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
            peak_snapshots: (0, start),
            peak_bookmarks: (0, start),
            peak_per_disk: 0,
            disks: vec![],
            timeline: vec![],
            rows: vec![],
            end_txgs: 0,
            end_runs: 0,
        }
    }

    /// Adds the run at `now` that reported `report`.
    fn tally(&mut self, report: &Report, now: DateTime<Utc>) {
        let t = &report.totals;
        self.runs += 1;
        self.end = now;
        self.created += t.snapshots_created;
        self.destroyed += t.snapshots_destroyed;
        self.bookmarks_created += t.bookmarks_created;
        self.bookmarks_destroyed += t.bookmarks_destroyed;
        self.failed += t.failed;
        if t.failed > 0 && self.failures.len() < FAILURES_KEPT {
            let room = FAILURES_KEPT - self.failures.len();
            self.failures.extend(
                report
                    .failures()
                    .into_iter()
                    .take(room)
                    .map(|f| format!("{now}: {f}")),
            );
        }
        if t.snapshots_created > 0 {
            self.runs_with_snapshots += 1;
        }
    }

    /// Updates the peaks from the pool after the run at `now`; returns the pool's snapshots
    /// and bookmarks.
    fn observe(&mut self, world: &World, now: DateTime<Utc>) -> (u64, u64) {
        let (snaps, bms, most) = pool_counts(world);
        if snaps > self.peak_snapshots.0 {
            self.peak_snapshots = (snaps, now);
        }
        if bms > self.peak_bookmarks.0 {
            self.peak_bookmarks = (bms, now);
        }
        self.peak_per_disk = self.peak_per_disk.max(most);
        (snaps, bms)
    }

    /// The end state: every disk, and the txgs and creation times of what is left.
    fn end_state(&mut self, world: &World, host: &Host) {
        let mut end_txgs = BTreeSet::new();
        let mut end_times = BTreeSet::new();
        for g in &host.guests {
            for d in &g.disks {
                if let Some(s) = disk_state(world, g.vmid, &d.dataset) {
                    self.disks.push(s);
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
        self.end_txgs = end_txgs.len() as u64;
        self.end_runs = end_times.len() as u64;
    }
}

/// Runs the scenario: `scenario.runs` real runs, `scenario.every` apart.
pub fn simulate(sc: &Scenario) -> Result<Outcome, String> {
    simulate_with_progress(sc, &mut |_, _| {})
}

/// [`simulate`], calling `progress(runs done, runs in all)` at the end of each simulated day
/// (the caller shows it, or not).
pub fn simulate_with_progress(
    sc: &Scenario,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Outcome, String> {
    let mut host = world::host(sc.guests);
    let emulator = InProcess::new(world::world(&host)?);
    version::detect(&emulator).map_err(|e| e.to_string())?;
    // Kept across the simulated runs like the real cache file is across cron runs.
    let mut snap_cache = SnapCache::empty();
    let setup = ReadSetup {
        limits: ReadLimits::DEFAULT,
        // The same gate as a real run's, on the emulated module's version.
        snapshots_changed: ZfsVersion::from(emulator.world().version).has_snapshots_changed(),
    };
    let mut v = sc.validated.clone();
    let last = host.guests.len() - 1;
    let mut out = Outcome::new(sc.start);
    let mut txgs = BTreeSet::new();
    let mut changed_today = false;
    for i in 0..sc.runs {
        let since = sc.every * i as i32;
        let now = sc.start + since;
        v.now = now;
        let running = !sc.stops.iter().any(|w| w.contains(since));
        changed_today |= host.guests[last].running != running && i > 0;
        host.guests[last].running = running;
        emulator.world_mut().set_clock(now.timestamp());
        let (_plan, report) =
            run::run_host(&host, &[], &emulator, &v, false, &setup, &mut snap_cache);
        out.tally(&report, now);
        txgs.extend(report.pools.iter().filter_map(|p| p.txg));

        let world = emulator.world();
        let (snaps, bms) = out.observe(&world, now);
        let running = host.guests.iter().filter(|g| g.running).count() as u32;
        if sc.keep_rows {
            out.rows
                .push(run_row(&world, &host, &report, now, running, bms));
        }
        let day = since.num_days();
        let last_run = i + 1 == sc.runs;
        let end_of_day = (since + sc.every).num_days() != day || last_run;
        if end_of_day && (day % i64::from(sc.timeline_every) == 0 || changed_today || last_run) {
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
            progress(i + 1, sc.runs);
        }
    }
    out.snapshot_txgs = txgs.len() as u64;
    out.end_state(&emulator.world(), &host);
    out.commands = emulator.commands_run();
    out.programs = emulator.programs_run();
    Ok(out)
}

/// The `--csv` row of the run at `now` that reported `report`, `running` guests running,
/// with the pool's `bookmarks` after it.
fn run_row(
    world: &World,
    host: &Host,
    report: &Report,
    now: DateTime<Utc>,
    running: u32,
    bookmarks: u64,
) -> RunRow {
    let t = &report.totals;
    RunRow {
        at: now,
        running,
        created: t.snapshots_created,
        destroyed: t.snapshots_destroyed,
        bookmarks_created: t.bookmarks_created,
        bookmarks_destroyed: t.bookmarks_destroyed,
        failed: t.failed,
        txg: report.pools.iter().find_map(|p| p.txg),
        pool_snapshots: world::snapshots_per_kind(world, host),
        pool_bookmarks: bookmarks,
    }
}
