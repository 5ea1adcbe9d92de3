//! The snapshot run's pipeline: validate, lock, discover, inventory each pool, plan, apply
//! each pool's plan in one program, then the bookmarks of the replicas (after every pool's
//! own work, never holding it back), report. The effects are passed in (the zfs runner, the
//! clock's reading, the hostname, the `TZ` value) so this reads top to bottom.
//!
//! Never prints, never reads the clock or the environment: `cmd::run` does, and prints the
//! report this returns. Keeping the snapshot cache exact after an apply is the cache's own
//! rule ([`snapcache::follow_apply`]).

use crate::change::Change;
use crate::clusterpolicy::{CommandLine, InForce};
use crate::cron::CronSchedule;
use crate::duration;
use crate::exit::RunError;
use crate::lock::{LockError, RunLock};
use crate::naming::{Dataset, ShortName, SnapName};
use crate::plan::{self, Plan, PlanInput};
use crate::policy::{BookmarkPolicy, Policy, Zone};
use crate::pve::{self, Host};
use crate::report::{PoolReport, Report, from_plan};
use crate::state::DatasetState;
use crate::zfs::apply;
use crate::zfs::inventory::ReadSetup;
use crate::zfs::snapcache::{self, PoolCache, SnapCache};
use crate::zfs::{self, Exec, inventory};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How snapshots are named and bucketed, and bookmark retention, as given (the snapshot run
/// and `simulate`): validated by [`validate_policy`].
#[derive(Debug, Clone, Default)]
pub struct PolicyOptions {
    /// `--timezone`: `utc`, `local` or an IANA name.
    pub timezone: String,
    /// `--bookmarks` keys (empty: the default).
    pub bookmarks: Vec<String>,
    /// `--no-bookmarks`.
    pub no_bookmarks: bool,
    /// The `TZ` environment variable, read at the edge (what `local` means).
    pub tz_env: Option<String>,
}

/// The snapshot run's options, as given.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Retention keys (`f100 h24 d7`).
    pub keep: Vec<String>,
    /// Zone and bookmarks.
    pub policy: PolicyOptions,
    /// `--schedule`, if given.
    pub schedule: Option<String>,
    /// `--now`, if given (else the clock).
    pub now: Option<String>,
    /// `--dry-run`: plan only, no lock, no change, no cache written.
    pub dry_run: bool,
    /// Host root (`/` in production).
    pub root: PathBuf,
    /// `--node`, if given.
    pub node: Option<String>,
}

/// The run error for a lock that could not be taken.
fn lock_error(e: LockError) -> RunError {
    match &e {
        LockError::Held(_) => RunError::Locked(e.to_string()),
        // `<root>/run` missing: a mistyped `--root`, nothing was made.
        LockError::Io(_, io) if io.kind() == std::io::ErrorKind::NotFound => {
            RunError::Usage(e.to_string())
        }
        LockError::Io(..) => RunError::Failed(anyhow::Error::new(e)),
    }
}

/// Everything validated from the command line, before anything is touched.
#[derive(Debug, Clone)]
pub struct Validated {
    /// Snapshot retention.
    pub policy: Policy,
    /// Bookmark retention (or disabled).
    pub bookmarks: BookmarkPolicy,
    /// Zone of names and buckets.
    pub zone: Zone,
    /// The run's clock, read once.
    pub now: DateTime<Utc>,
    /// Schedule for the cron job (`--schedule`, else the default), used only by interactive runs.
    pub schedule: CronSchedule,
    /// The policy in force per disk: the command line, and the cluster's policy file once
    /// [`execute`] has read it.
    pub rules: InForce,
    /// `user.cfg`'s resource pools (name → member VMIDs), for the file's `pool` selectors.
    pub pools: BTreeMap<String, Vec<u32>>,
}

/// Validates retention keys, bookmark retention and zone (the snapshot run and `simulate`).
pub fn validate_policy(
    keep: &[String],
    p: &PolicyOptions,
) -> Result<(Policy, BookmarkPolicy, Zone), String> {
    let policy = Policy::parse(keep).map_err(|e| e.to_string())?;
    let bookmarks = if p.no_bookmarks {
        BookmarkPolicy::Disabled
    } else if p.bookmarks.is_empty() {
        BookmarkPolicy::default_for(&policy)
    } else {
        BookmarkPolicy::parse(&p.bookmarks).map_err(|e| e.to_string())?
    };
    let zone =
        Zone::parse(&p.timezone, || local_zone(p.tz_env.as_deref())).map_err(|e| e.to_string())?;
    Ok((policy, bookmarks, zone))
}

/// The command line's part of the policy: its keys, and its bookmark retention when
/// `--bookmarks` or `--no-bookmarks` was given.
pub fn command_line(policy: &Policy, bookmarks: &BookmarkPolicy, p: &PolicyOptions) -> CommandLine {
    CommandLine {
        keep: policy.clone(),
        bookmarks: (p.no_bookmarks || !p.bookmarks.is_empty()).then(|| bookmarks.clone()),
    }
}

/// Reads the cluster's policy file and the resource pools into `v` (a broken file is a
/// usage error: nothing is touched); returns the findings against the cluster's guests
/// (warnings of the run: a tag no guest has, a rule selecting nothing, a conflict).
pub fn load_policy(root: &std::path::Path, v: &mut Validated) -> Result<Vec<String>, RunError> {
    let path = pve::snapcfg::policy_path(root);
    let file = pve::snapcfg::load(&path).map_err(|e| {
        RunError::Usage(format!(
            "the policy file is broken, nothing was done:\n{e}\n(check it with \
             `pve-zfs-snap config check`; remove the file to go back to the command line's keys)"
        ))
    })?;
    v.pools = pve::snapcfg::read_pools(root);
    let mut findings = Vec::new();
    if let Some(f) = &file {
        match pve::snapcfg::cluster(root) {
            Ok(cluster) => {
                for e in crate::clusterpolicy::check(f, &cluster) {
                    findings.push(format!("{}:{}: {}", path.display(), e.line, e.message));
                }
            }
            Err(e) => findings.push(format!(
                "cannot check {} against the cluster: {e}",
                path.display()
            )),
        }
    }
    v.rules.file = file;
    Ok(findings)
}

/// Validates the run's arguments. `clock` is read only when `--now` is not given.
pub fn validate(
    args: &RunOptions,
    clock: impl FnOnce() -> DateTime<Utc>,
) -> Result<Validated, RunError> {
    let usage = |e: &dyn std::fmt::Display| RunError::Usage(e.to_string());
    let (policy, bookmarks, zone) =
        validate_policy(&args.keep, &args.policy).map_err(RunError::Usage)?;
    let schedule = match &args.schedule {
        Some(expr) => CronSchedule::parse(expr).map_err(|e| usage(&e))?,
        None => CronSchedule::default(),
    };
    let now = match &args.now {
        Some(s) => duration::parse_instant("--now", s).map_err(RunError::Usage)?,
        None => clock(),
    };
    let rules = InForce::command_line(command_line(&policy, &bookmarks, &args.policy));
    Ok(Validated {
        policy,
        bookmarks,
        zone,
        now,
        schedule,
        rules,
        pools: BTreeMap::new(),
    })
}

/// The system's zone for `--timezone local`: `tz_env` (the `TZ` variable) if set, else what
/// /etc/localtime names.
pub fn local_zone(tz_env: Option<&str>) -> Result<chrono_tz::Tz, String> {
    let name = match tz_env {
        Some(tz) if !tz.is_empty() => tz.trim_start_matches(':').to_string(),
        _ => iana_time_zone::get_timezone().map_err(|e| e.to_string())?,
    };
    name.parse()
        .map_err(|_| format!("'{name}' is not a time zone name this build knows"))
}

/// Runs the snapshot job: lock (unless a dry run), discover, inventory, plan, apply.
pub fn execute(
    args: &RunOptions,
    v: &Validated,
    hostname: &str,
    exec: &dyn Exec,
) -> Result<(Plan, Report), RunError> {
    let root = &args.root;
    // The policy file first: a broken one stops the run before anything is touched.
    let mut v = v.clone();
    let findings = load_policy(root, &mut v)?;
    let v = &v;
    let _lock = if args.dry_run {
        None
    } else {
        Some(RunLock::acquire(root).map_err(lock_error)?)
    };

    let host = pve::discover(root, args.node.as_deref(), hostname).map_err(|e| {
        if e.is_configuration() {
            RunError::Usage(e.to_string())
        } else {
            RunError::Failed(e.into())
        }
    })?;
    let version = zfs::version::detect_on(exec, root).map_err(|e| RunError::Failed(e.into()))?;
    let setup = ReadSetup::for_host(root, version);
    let (mut cache, ignored) = SnapCache::load_checked(root);
    if let Some(why) = ignored {
        tracing::warn!("not using the snapshot cache ({why}); reading every snapshot again");
    }
    // Other nodes' guests' configs are read once: for the replicas' bookmarks (every run,
    // unless bookmarks are off) and for this node's own stale labels (after a placement change).
    let placement = if args.dry_run {
        None
    } else {
        crate::replica::placement_digest(root, &host.node)
            .filter(|digest| crate::replica::due(root, digest))
    };
    let replicas = if v.bookmarks.counts().is_some() || placement.is_some() {
        pve::replica_disks(root, &host.node)
    } else {
        Vec::new()
    };
    let mut out = run_host(&host, &replicas, exec, v, args.dry_run, &setup, &mut cache);
    out.1
        .warnings
        .extend(findings.into_iter().map(|f| format!("policy file: {f}")));
    // Only what this run looked at is kept: the cache cannot grow without bound.
    cache.retain(&read_by_pool(&host, &replicas, &v.bookmarks));
    if !args.dry_run
        && let Err(e) = cache.save(root)
    {
        // Only the next run's speed depends on it.
        tracing::warn!(
            "cannot write {}: {e}; the next run reads every snapshot again",
            SnapCache::path(root).display()
        );
    }
    // After the cache save (which makes the private cache directory the stamp goes to).
    // The one write to a replica: this node's own stale local label (crate::replica), looked
    // for once after each change of the guests' placement.
    if let Some(digest) = placement {
        let done = crate::replica::revert_stale_labels(exec, &host.node, &replicas);
        if done.failures.is_empty() {
            crate::replica::record(root, &digest);
        }
        out.1.notes.extend(done.notes);
        out.1.warnings.extend(done.failures);
    }
    // The cluster view: written once per run, after everything else; never blocks.
    if !args.dry_run {
        let status = crate::status::NodeStatus::from_report(
            &out.1,
            out.1.exit_code(),
            v.rules.hash(),
            v.rules.file.is_some(),
        );
        if let Err(e) = pve::nodestatus::write(root, &status) {
            out.1.status_file_error = Some(e.to_string());
        }
    }
    Ok(out)
}

/// The datasets of `host`'s guests, per pool (templates too when `templates`).
pub fn datasets_by_pool(host: &Host, templates: bool) -> BTreeMap<String, Vec<Dataset>> {
    let mut pools: BTreeMap<String, Vec<Dataset>> = BTreeMap::new();
    for d in host
        .guests
        .iter()
        .filter(|g| templates || !g.template)
        .flat_map(|g| &g.disks)
    {
        let list = pools.entry(d.dataset.pool().to_string()).or_default();
        if !list.contains(&d.dataset) {
            list.push(d.dataset.clone());
        }
    }
    pools
}

/// What a run reads, per pool: the datasets of `host`'s guests (templates left out), then
/// the replicas whose bookmarks it looks after ([`plan::replica::replica_targets`]: none when
/// bookmarks are off), read by the same programs so that they cost no process of their own.
pub fn read_by_pool(
    host: &Host,
    replicas: &[pve::ReplicaDisk],
    bookmarks: &BookmarkPolicy,
) -> BTreeMap<String, Vec<Dataset>> {
    let mut pools = datasets_by_pool(host, false);
    for r in plan::replica::replica_targets(bookmarks, host, replicas) {
        let list = pools.entry(r.dataset.pool().to_string()).or_default();
        if !list.contains(&r.dataset) {
            list.push(r.dataset.clone());
        }
    }
    pools
}

/// The states of all `pools`' datasets (read-only programs per `setup`, through `cache`), and
/// per pool that could not be read, why.
pub fn read_pools(
    exec: &dyn Exec,
    pools: &BTreeMap<String, Vec<Dataset>>,
    setup: &ReadSetup,
    now: i64,
    with_bookmark_txgs: bool,
    cache: &mut SnapCache,
) -> (
    BTreeMap<Dataset, DatasetState>,
    BTreeMap<String, zfs::ZfsError>,
) {
    let mut inventory: BTreeMap<Dataset, DatasetState> = BTreeMap::new();
    let mut pool_errors = BTreeMap::new();
    for (pool, datasets) in pools {
        let mut stats = inventory::InventoryStats::default();
        match inventory::read_pool(
            exec,
            pool,
            datasets,
            &inventory::ReadOptions {
                with_bookmark_txgs,
                limits: setup.limits,
                now,
                snapshots_changed: setup.snapshots_changed,
            },
            cache.pool_mut(pool),
            &mut stats,
        ) {
            Ok(states) => {
                tracing::debug!(
                    "{pool}: inventory {} + snapinfo {} program(s), {} walk(s) skipped, {} snapshot(s) read, {} from the cache, {} bookmark listing(s)",
                    stats.programs,
                    stats.info_programs,
                    stats.walks_skipped,
                    stats.snapshots_read,
                    stats.snapshots_cached,
                    stats.bookmark_listings
                );
                inventory.extend(states)
            }
            Err(e) => {
                pool_errors.insert(pool.clone(), e);
            }
        }
    }
    (inventory, pool_errors)
}

/// The per-host core of a run, after discovery: inventory each pool (read-only programs per
/// `setup`, through `cache`; the `replicas`' datasets in the same programs), plan, and (unless
/// `dry_run`) apply each pool's part in one program, keeping `cache`'s listings in step with
/// what the program did; then, after every pool's own work, the replicas' bookmarks
/// ([`plan::replica`]). Shared by the real run and `simulate`.
pub fn run_host(
    host: &Host,
    replicas: &[pve::ReplicaDisk],
    exec: &dyn Exec,
    v: &Validated,
    dry_run: bool,
    setup: &ReadSetup,
    cache: &mut SnapCache,
) -> (Plan, Report) {
    let pools = datasets_by_pool(host, false);
    let read = read_by_pool(host, replicas, &v.bookmarks);
    let previous = snapcache::previous_listings(cache, &read);
    let (inventory, mut pool_errors) = read_pools(
        exec,
        &read,
        setup,
        v.now.timestamp(),
        v.bookmarks.counts().is_some(),
        cache,
    );
    let (replica_errors, reread) =
        reread_without_replicas(exec, &pools, &read, setup, v, cache, &mut pool_errors);
    let mut inventory = inventory;
    inventory.extend(reread);
    // Bookmarks of ours that a rollback left behind (plan::stale): out of every other rule's
    // sight, destroyed after the pool's own work.
    let stale = snapcache::stale_bookmarks(cache, &previous, &inventory);
    plan::stale::withdraw(&mut inventory, &stale);

    let decisions = v.rules.decide_host(host, &v.pools);
    let plan_with = |inventory: &BTreeMap<Dataset, DatasetState>| {
        plan::plan(&PlanInput {
            decisions: Some(&decisions),
            policy: &v.policy,
            bookmarks: &v.bookmarks,
            now: v.now,
            zone: v.zone,
            host,
            inventory,
        })
    };
    let mut plan = plan_with(&inventory);
    // The dry run reads which snapshots this plan would destroy are held, busy or cloned, and
    // plans again with them known, so that it shows them kept and says why. A real run does
    // not: its snapshots never wait for a read that only serves destroys; `destroy.lua` checks
    // the same at apply time and reports the same snapshots as kept (held, cloned or busy).
    let (pinned, pin_notes) = if dry_run {
        read_pins(exec, &plan, setup, &mut inventory)
    } else {
        (false, Vec::new())
    };
    if pinned {
        plan = plan_with(&inventory);
    }
    plan.policy_notes.extend(v.rules.override_note());
    plan.replicas = plan::replica::plan_replicas(&v.bookmarks, host, replicas, &inventory);
    plan::stale::add_to_plan(&mut plan, host, &v.bookmarks, replicas, &inventory, &stale);
    let mut notes = notes(host, &plan);
    notes.extend(pin_notes);
    notes.extend(plan.policy_notes.iter().cloned());
    let mut warnings = warnings(host, &plan);

    let mut reports = pool_reports(&pools, pool_errors, &plan);

    if !dry_run {
        for report in reports
            .values_mut()
            .filter(|r| r.error.is_none() && !r.items.is_empty())
        {
            let pool_cache = cache.pool_mut(&report.pool);
            apply_to_report(exec, report, setup.snapshots_changed, pool_cache);
        }
    }
    // After every pool's own work: the replicas' bookmarks can fail alone, loudly.
    let mut replica_reports = replica_reports(&plan, replica_errors, &mut warnings);
    if !dry_run {
        // A pool whose own apply failed as a whole (it may be hung) is not tried again.
        for report in replica_reports.iter_mut().filter(|r| r.error.is_none()) {
            if reports
                .get(&report.pool)
                .is_some_and(|own| own.error.is_some())
            {
                report.error =
                    Some("not attempted: this node's own changes on the pool failed".into());
            }
        }
        for report in replica_reports
            .iter_mut()
            .filter(|r| r.error.is_none() && !r.items.is_empty())
        {
            let pool_cache = cache.pool_mut(&report.pool);
            apply_to_report(exec, report, setup.snapshots_changed, pool_cache);
            notes.extend(gone_since_the_read(report));
        }
    }
    let pools: Vec<PoolReport> = reports.into_values().collect();
    if !dry_run {
        let done: Vec<&PoolReport> = pools.iter().chain(&replica_reports).collect();
        snapcache::remember_seen(cache, &inventory, &done, &stale);
    }
    let disks = crate::protection::resolve(host, &plan, &pools);
    let report = Report {
        node: host.node.clone(),
        now: v.now,
        dry_run,
        pools,
        replicas: replica_reports,
        notes,
        warnings,
        future_snapshots: plan
            .guests
            .iter()
            .flat_map(|g| &g.disks)
            .filter_map(|d| d.future.map(|(n, _)| n as u64))
            .sum(),
        disks,
        protection: Default::default(),
        kept: plan.guests.iter().flat_map(|g| g.kept.clone()).collect(),
        status_file_error: None,
        stale_pending: plan.stale_pending.clone(),
        totals: Default::default(),
        policies: crate::report::policy_rows(host, &decisions),
    };
    (plan, report.finish())
}

/// Reads (`lua/pins.lua`, per pool) which of the snapshots `plan` would destroy are held,
/// busy or cloned, into the `inventory` states' `pins`. Returns whether any is, and a note
/// per pool whose read failed (its destroys are then checked only at apply time, where
/// `destroy.lua` keeps and reports the same snapshots).
fn read_pins(
    exec: &dyn Exec,
    plan: &Plan,
    setup: &ReadSetup,
    inventory: &mut BTreeMap<Dataset, DatasetState>,
) -> (bool, Vec<String>) {
    let mut by_pool: BTreeMap<&str, BTreeMap<&Dataset, Vec<SnapName>>> = BTreeMap::new();
    for p in plan.guests.iter().flat_map(|g| &g.changes) {
        if let Change::Destroy { dataset, name } = &p.change {
            by_pool
                .entry(dataset.pool())
                .or_default()
                .entry(dataset)
                .or_default()
                .push(*name);
        }
    }
    let (mut pinned, mut notes) = (false, Vec::new());
    for (pool, candidates) in by_pool {
        let candidates: Vec<(Dataset, Vec<SnapName>)> = candidates
            .into_iter()
            .map(|(d, n)| (d.clone(), n))
            .collect();
        let mut stats = inventory::InventoryStats::default();
        match inventory::read_pins(exec, pool, &candidates, &setup.limits, &mut stats) {
            Ok(read) => {
                for (ds, pins) in read {
                    if let Some(st) = inventory.get_mut(&ds) {
                        pinned = true;
                        st.pins.extend(pins);
                    }
                }
            }
            Err(e) => notes.push(format!(
                "{pool}: could not read the holds and clones of the snapshots to destroy \
                 ({e}); they are checked when destroyed"
            )),
        }
    }
    (pinned, notes)
}

/// Replicas never cost this node its own snapshots: a pool whose read failed with replicas in
/// it is read again without them (unless it timed out or is unavailable: that would fail
/// again). Takes the pools that could not be read for the replicas' sake out of
/// `pool_errors`, and returns, per pool, why its replicas could not be read (the pools with
/// no guest of this node included) and the states the second reads found.
fn reread_without_replicas(
    exec: &dyn Exec,
    pools: &BTreeMap<String, Vec<Dataset>>,
    read: &BTreeMap<String, Vec<Dataset>>,
    setup: &ReadSetup,
    v: &Validated,
    cache: &mut SnapCache,
    pool_errors: &mut BTreeMap<String, zfs::ZfsError>,
) -> (
    BTreeMap<String, zfs::ZfsError>,
    BTreeMap<Dataset, DatasetState>,
) {
    use crate::zfs::FailureKind;
    let mut replica_errors = BTreeMap::new();
    let mut again: BTreeMap<String, Vec<Dataset>> = BTreeMap::new();
    for pool in read.keys() {
        let Some(e) = pool_errors.get(pool) else {
            continue;
        };
        let own = pools.get(pool);
        if own.is_none_or(|own| own.len() == read[pool].len()) {
            // Only replicas there: their pool's error, not this node's own.
            if own.is_none() {
                replica_errors.insert(pool.clone(), pool_errors.remove(pool).expect("got"));
            }
            continue;
        }
        if !matches!(
            e.kind(),
            Some(FailureKind::TimedOut | FailureKind::PoolUnavailable)
        ) {
            again.insert(pool.clone(), own.expect("checked").clone());
        }
    }
    if again.is_empty() {
        return (replica_errors, BTreeMap::new());
    }
    let (states, errors) = read_pools(
        exec,
        &again,
        setup,
        v.now.timestamp(),
        v.bookmarks.counts().is_some(),
        cache,
    );
    for pool in again.keys() {
        if !errors.contains_key(pool) {
            let e = pool_errors.remove(pool).expect("failed the first time");
            replica_errors.insert(pool.clone(), e);
        }
    }
    for (pool, e) in errors {
        pool_errors.insert(pool, e);
    }
    (replica_errors, states)
}

/// One report per pool of the plan's replica changes (in the plan's order), with why a pool
/// could not be read for its replicas (`errors`). A pool that cannot be opened at all and
/// holds no guest of this node is most likely a storage this node does not have: a warning,
/// not a failure of the run.
fn replica_reports(
    plan: &Plan,
    mut errors: BTreeMap<String, zfs::ZfsError>,
    warnings: &mut Vec<String>,
) -> Vec<PoolReport> {
    let mut reports: BTreeMap<String, PoolReport> = BTreeMap::new();
    let empty = |pool: &str| PoolReport {
        pool: pool.to_string(),
        txg: None,
        error: None,
        program_errors: vec![],
        items: vec![],
        keeps: vec![],
    };
    for (pool, e) in std::mem::take(&mut errors) {
        if e.kind() == Some(zfs::FailureKind::PoolUnavailable) {
            warnings.push(format!(
                "replicas on pool {pool}: cannot read the pool ({e}); their bookmarks are not \
                 looked after"
            ));
            continue;
        }
        let mut r = empty(&pool);
        r.error = Some(format!("cannot read the pool: {e}"));
        reports.insert(pool, r);
    }
    for item in crate::report::from_replicas(plan) {
        let pool = item.change.dataset().pool().to_string();
        reports
            .entry(pool.clone())
            .or_insert_with(|| empty(&pool))
            .items
            .push(item);
    }
    reports.into_values().collect()
}

/// A replica's snapshot destroyed between the read and its bookmark (PVE replication
/// mirrors the owner's destroys with `recv -F` at any time): not a failure, the owner expired
/// it. Such items leave the report for a note each.
fn gone_since_the_read(report: &mut PoolReport) -> Vec<String> {
    let mut notes = Vec::new();
    report.items.retain(|i| {
        let gone = matches!(i.change, Change::Bookmark { .. })
            && i.outcome == Some(crate::change::Outcome::Failed("ENOENT".into()));
        if gone {
            notes.push(format!(
                "replica of guest {}: {} not made: the snapshot is gone since the read \
                 (replication mirrored its destroy)",
                i.vmid,
                i.change.describe()
            ));
        }
        !gone
    });
    notes
}

/// One report per pool of `pools` (with why it could not be read, from `pool_errors`) and
/// per pool the plan changes, holding the plan's changes in order and no outcome yet.
fn pool_reports(
    pools: &BTreeMap<String, Vec<Dataset>>,
    pool_errors: BTreeMap<String, zfs::ZfsError>,
    plan: &Plan,
) -> BTreeMap<String, PoolReport> {
    let mut pool_errors: BTreeMap<String, String> = pool_errors
        .into_iter()
        .map(|(p, e)| (p, format!("cannot read the pool: {e}")))
        .collect();
    let empty = |pool: &str, error: Option<String>| PoolReport {
        pool: pool.to_string(),
        txg: None,
        error,
        program_errors: vec![],
        items: vec![],
        keeps: vec![],
    };
    let mut reports: BTreeMap<String, PoolReport> = pools
        .keys()
        .map(|p| (p.clone(), empty(p, pool_errors.remove(p))))
        .collect();
    for item in from_plan(plan) {
        let pool = item.change.dataset().pool();
        if !reports.contains_key(pool) {
            reports.insert(pool.to_string(), empty(pool, None));
        }
        reports.get_mut(pool).expect("inserted").items.push(item);
    }
    // Where a destroy cannot leave a disk without a snapshot of ours (`zfs::apply` needs it
    // when the new snapshot fails for lack of space).
    for d in plan.guests.iter().flat_map(|g| &g.disks) {
        if let Some(ds) = d.dataset.as_ref().filter(|_| d.kept > 0)
            && let Some(r) = reports.get_mut(ds.pool())
        {
            r.keeps.push(ds.clone());
        }
    }
    reports
}

/// Applies one pool's changes (already in the report, grouped per guest) and records their
/// outcomes there; keeps the cached listings of the datasets it changed exact (`watch`: the
/// module has `snapshots_changed`) or drops them.
fn apply_to_report(exec: &dyn Exec, report: &mut PoolReport, watch: bool, cache: &mut PoolCache) {
    let groups = report.groups();
    let touched = touched(report);
    let watched: Vec<Dataset> = touched
        .iter()
        .filter(|(d, snaps)| {
            watch
                && *snaps
                && cache
                    .datasets
                    .get(d.as_str())
                    .is_some_and(|c| c.listing.is_some())
        })
        .map(|(d, _)| d.clone())
        .collect();
    let applied = match apply::apply_pool(exec, &report.pool, &groups, &watched) {
        Ok(applied) => applied,
        // The program failed as a whole: its state is unknown until the next inventory.
        Err(e) => {
            report.error = Some(format!("applying the plan failed: {e}"));
            snapcache::follow_apply(cache, report, &touched, &[]);
            return;
        }
    };
    report.txg = applied.txg;
    report.program_errors = applied.program_errors;
    report.record(applied.outcomes);
    // Facts of the snapshots just made, read by the program itself: the next inventory need
    // not read them.
    if let Some(txg) = applied.txg {
        for (d, name, creation) in &applied.created {
            if let Some(entry) = cache.datasets.get_mut(d.as_str()) {
                entry.snaps.insert(ShortName::from(*name), (txg, *creation));
            }
        }
    }
    snapcache::follow_apply(cache, report, &touched, &applied.changed);
}

/// The datasets whose names this pool's changes may change, in order: with whether a
/// snapshot is made or destroyed there (the program watches their `snapshots_changed` when
/// they have a listing worth keeping), or only bookmarks (which leave it alone).
fn touched(report: &PoolReport) -> Vec<(Dataset, bool)> {
    let mut touched: Vec<(Dataset, bool)> = Vec::new();
    for item in &report.items {
        let snaps = match item.change {
            Change::SetLabel { .. } => continue,
            Change::Snapshot { .. } | Change::Destroy { .. } => true,
            Change::Bookmark { .. } | Change::DestroyBookmark { .. } => false,
        };
        let d = item.change.dataset();
        match touched.iter_mut().find(|(t, _)| t == d) {
            Some((_, s)) => *s |= snaps,
            None => touched.push((d.clone(), snaps)),
        }
    }
    touched
}

fn notes(host: &Host, plan: &Plan) -> Vec<String> {
    let mut out: Vec<String> = host.warnings.clone();
    for g in &plan.guests {
        out.extend(g.notes.iter().map(|n| format!("guest {}: {n}", g.vmid)));
    }
    out
}

/// What the admin must hear about even when every disk is protected: config lines PVE
/// ignores too, snapshots of ours dated after the run's clock (a clock that was ahead), and
/// stale bookmarks left in place (a third site could still resume from them).
fn warnings(host: &Host, plan: &Plan) -> Vec<String> {
    let mut out: Vec<String> = host.warnings.clone();
    for s in &plan.stale_pending {
        out.push(format!(
            "{}#{}: stale bookmark (a rollback discarded its snapshot) NOT dropped: {}; a \
             third site must not resume from it (a later run drops it once allowed, or: zfs \
             destroy {}#{})",
            s.dataset, s.name, s.why, s.dataset, s.name
        ));
    }
    for g in &plan.guests {
        for d in &g.disks {
            if let (Some(ds), Some(v)) = (&d.dataset, &d.nosnap_unknown) {
                out.push(format!(
                    "{ds}: label:nosnap={v:?} is not understood; the disk is snapshotted as \
                     usual (to exclude it: zfs set label:nosnap=nosnap {ds})"
                ));
            }
            if let (Some(ds), Some((n, latest))) = (&d.dataset, &d.future) {
                out.push(format!(
                    "{ds}: {n} snapshot(s) of ours dated after this run's clock (latest \
                     {latest}): was the clock ahead? Check NTP/RTC; they expire as usual"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Outcome;
    use crate::naming::SnapName;
    use crate::report::ItemReport;

    /// A replica's snapshot that replication destroyed between the read and its bookmark is
    /// a note, not a failure; any other failure stays one.
    #[test]
    fn a_replica_snapshot_gone_since_the_read_is_a_note_not_a_failure() {
        let item = |name: &str, outcome: Outcome| ItemReport {
            vmid: 300,
            change: Change::Bookmark {
                dataset: Dataset::new("rpool/data/vm-300-disk-0").unwrap(),
                name: SnapName::parse(name).unwrap(),
            },
            reason: String::new(),
            outcome: Some(outcome),
        };
        let mut report = PoolReport {
            pool: "rpool".into(),
            txg: None,
            error: None,
            program_errors: vec![],
            items: vec![
                item(
                    "autosnap_2026-11-21_09:00:00_hourly",
                    Outcome::Failed("ENOENT".into()),
                ),
                item(
                    "autosnap_2026-11-21_10:00:00_hourly",
                    Outcome::Failed("ENOSPC".into()),
                ),
                item("autosnap_2026-11-21_11:00:00_hourly", Outcome::Ok),
            ],
            keeps: vec![],
        };
        let notes = gone_since_the_read(&mut report);
        assert_eq!(
            notes,
            [
                "replica of guest 300: bookmark rpool/data/vm-300-disk-0#autosnap_2026-11-21_09:00:00_hourly \
              not made: the snapshot is gone since the read (replication mirrored its destroy)"
            ]
        );
        let left: Vec<&Option<Outcome>> = report.items.iter().map(|i| &i.outcome).collect();
        assert_eq!(
            left,
            [&Some(Outcome::Failed("ENOSPC".into())), &Some(Outcome::Ok)]
        );
    }
}
