//! Reads the state of a pool's guest datasets in two read-only programs:
//! `lua/inventory.lua` (labels, and the *names* of our snapshots and bookmarks) and
//! `lua/snapinfo.lua` (createtxg and creation of the snapshots the [`SnapCache`] does not know
//! yet: on a steady-state run, the one each dataset got last run). Reading a snapshot's
//! properties is what a run costs on a big pool (issue 9), so it is done once per snapshot.
//!
//! Each call is sized from a measured [`CostModel`] to a quarter of the limits it runs with
//! ([`ReadLimits`]), and a call that hits a limit anyway is split in two and retried
//! (read-only, so safe). Bookmarks take their facts from the snapshot of the same name (a
//! bookmark keeps its snapshot's createtxg) or the cache, and only otherwise from one
//! `zfs list -t bookmark` per pool.

use super::error::{FailureKind, ZfsError};
use super::exec::{Exec, Tool};
use super::program::{
    self, DEFAULT_INSTR_LIMIT, DEFAULT_MEM_LIMIT, INVENTORY, MAX_INSTR_LIMIT, MAX_MEM_LIMIT,
    ProgramOpts, SNAPINFO,
};
use super::snapcache::{DatasetCache, Facts, Listing, PoolCache, max_age};
use crate::inventory::{BookmarkInfo, DatasetState, PropSource, PropValue, SnapshotInfo};
use crate::naming::{Dataset, ShortName};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Cost model of one read-only program, measured on the emulator by `benches/programs.rs`
/// (`cargo bench --bench programs`): instructions and bytes of Lua memory per dataset and per
/// `autosnap_` snapshot it handles. Chunk sizes follow from it; see [`chunk_size`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostModel {
    /// Instructions per dataset, without its snapshots.
    pub instr_per_dataset: u64,
    /// Instructions per snapshot of ours.
    pub instr_per_snapshot: u64,
    /// Peak Lua memory per snapshot of ours, bytes (the returned text and its pieces).
    pub mem_per_snapshot: u64,
    /// Peak Lua memory per dataset, bytes.
    pub mem_per_dataset: u64,
}

/// `inventory.lua` (names only), measured by `zfs::cost` on 100 datasets × 150 snapshots
/// (122 instructions and 1,048 bytes per dataset, 18 instructions and 58 bytes per snapshot;
/// memory from the *peak* of a whole chunk: garbage not yet collected counts; on 20 × 30 the
/// fixed overhead makes it 2,516 bytes per dataset and 77 per snapshot) and rounded up. `zfs::cost`'s tests re-measure and fail if the shipped program outgrew
/// this.
pub const MEASURED: CostModel = CostModel {
    instr_per_dataset: 200,
    instr_per_snapshot: 40,
    mem_per_dataset: 3_000,
    mem_per_snapshot: 100,
};

/// `snapinfo.lua`, per snapshot read (two `get_prop`), measured like [`MEASURED`]: 35
/// instructions and 670 bytes per dataset, 42 instructions and 84 bytes per snapshot (on
/// 20 × 30: 1,973 and 125 bytes).
pub const MEASURED_SNAPINFO: CostModel = CostModel {
    instr_per_dataset: 100,
    instr_per_snapshot: 80,
    mem_per_dataset: 2_500,
    mem_per_snapshot: 150,
};

/// Fraction of each limit a chunk may use: a quarter, so a pool whose datasets hold four
/// times the snapshots assumed still fits, and the halving fallback is rarely needed.
pub const BUDGET_DIVISOR: u64 = 4;

/// Snapshots per dataset the first chunk is sized for (f100 h24 d7 w4 m12 y1 plus stopped
/// markers is ~150; twice that). Later chunks use the largest count actually seen.
pub const ASSUMED_SNAPSHOTS: u64 = 300;

/// Snapshots one read-only program may walk (`inventory.lua` lists every snapshot of its
/// datasets, ours and foreign) or read (`snapinfo.lua`). A read-only program holds the pool's
/// configuration lock for its whole run and the txg sync waits for it: on OpenZFS 2.3.2 in
/// the test VM, a program walking 18,000 snapshots left `txg_sync` "blocked for more than 120
/// seconds" (BENCHMARKS.md, issue 9). Bounding the work per call bounds that stall, at the
/// price of more `zfs` processes on very big pools.
pub const SNAPSHOTS_PER_CALL: u64 = 10_000;

/// Bytes of arguments one `snapinfo.lua` call may carry (Linux allows 2 MiB in all and
/// 128 KiB per argument; names joined by `/` for one dataset stay far below that).
pub const ARGV_BUDGET: usize = 512 * 1024;

/// The `-t`/`-m` limits the read-only programs run with.
///
/// A read-only (`-n`) program runs in open context and holds no transaction group, so its
/// limits only bound its own kernel memory and time. Using the module's maximum (not the
/// 10 M / 10 MiB default) lets one call cover a large node: at most three `zfs` processes per
/// pool and run (issue 9). Chunks still use only a quarter of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadLimits {
    /// Instruction limit (`-t`).
    pub instr: u64,
    /// Memory limit in bytes (`-m`).
    pub mem: u64,
}

impl ReadLimits {
    /// OpenZFS' defaults: what a program gets without `-t`/`-m`.
    pub const DEFAULT: ReadLimits = ReadLimits {
        instr: DEFAULT_INSTR_LIMIT,
        mem: DEFAULT_MEM_LIMIT,
    };

    /// OpenZFS' shipped maxima (the module parameters' defaults): what a node allows.
    pub const SHIPPED_MAX: ReadLimits = ReadLimits {
        instr: MAX_INSTR_LIMIT,
        mem: MAX_MEM_LIMIT,
    };

    /// The module's maxima `zfs_lua_max_instrlimit` / `zfs_lua_max_memlimit` read from
    /// `<root>/sys/module/zfs/parameters`, capped at OpenZFS' shipped maxima (an admin who
    /// raised them gets no bigger calls); [`ReadLimits::DEFAULT`] when they cannot be read.
    pub fn for_host(root: &Path) -> ReadLimits {
        let read = |name: &str| -> Option<u64> {
            std::fs::read_to_string(root.join("sys/module/zfs/parameters").join(name))
                .ok()?
                .trim()
                .parse()
                .ok()
        };
        match (read("zfs_lua_max_instrlimit"), read("zfs_lua_max_memlimit")) {
            (Some(i), Some(m)) => ReadLimits {
                instr: i.clamp(DEFAULT_INSTR_LIMIT, MAX_INSTR_LIMIT),
                mem: m.clamp(DEFAULT_MEM_LIMIT, MAX_MEM_LIMIT),
            },
            _ => ReadLimits::DEFAULT,
        }
    }

    fn opts(&self) -> ProgramOpts {
        ProgramOpts {
            read_only: true,
            instr_limit: (self.instr != DEFAULT_INSTR_LIMIT).then_some(self.instr),
            mem_limit: (self.mem != DEFAULT_MEM_LIMIT).then_some(self.mem),
        }
    }
}

/// How a host's pools are read: the limits of the read-only programs, and whether the module
/// has `snapshots_changed` (walks of unchanged datasets are skipped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadSetup {
    /// Limits of the read-only programs.
    pub limits: ReadLimits,
    /// OpenZFS >= 2.2: use `snapshots_changed`.
    pub snapshots_changed: bool,
}

impl ReadSetup {
    /// For the host under `root` running `version`.
    pub fn for_host(root: &Path, version: super::version::ZfsVersion) -> ReadSetup {
        ReadSetup {
            limits: ReadLimits::for_host(root),
            snapshots_changed: version.has_snapshots_changed(),
        }
    }
}

/// How many datasets one call may carry when each has `snapshots` to handle: within a
/// quarter of each limit, and within [`SNAPSHOTS_PER_CALL`].
pub fn chunk_size(model: &CostModel, limits: &ReadLimits, snapshots: u64) -> usize {
    let instr = model.instr_per_dataset + model.instr_per_snapshot * snapshots;
    let mem = model.mem_per_dataset + model.mem_per_snapshot * snapshots;
    let by_instr = limits.instr / BUDGET_DIVISOR / instr.max(1);
    let by_mem = limits.mem / BUDGET_DIVISOR / mem.max(1);
    let by_work = SNAPSHOTS_PER_CALL / snapshots.max(1);
    by_instr.min(by_mem).min(by_work).max(1) as usize
}

/// How many datasets one `inventory.lua` call may carry when a dataset holds up to `snapshots`.
/// The program stops walking once it has walked [`SNAPSHOTS_PER_CALL`] snapshots and answers
/// "ask again" for the datasets after that (a dataset is never cut in the middle), so a call
/// walks at most that budget plus one dataset: the chunk is bounded by every dataset's fixed
/// cost on top of that walk, within a quarter of each limit. (Sizing it by the walk budget
/// too, as [`chunk_size`] does for programs without one, made a cold run on 1,000 datasets of
/// 8 snapshots take 3 inventory calls where 1 does: BENCHMARKS.md, issue 9.)
pub fn inventory_chunk_size(model: &CostModel, limits: &ReadLimits, snapshots: u64) -> usize {
    let walk = SNAPSHOTS_PER_CALL.saturating_add(snapshots);
    let by = |limit: u64, per_snapshot: u64, per_dataset: u64| {
        (limit / BUDGET_DIVISOR).saturating_sub(per_snapshot.saturating_mul(walk))
            / per_dataset.max(1)
    };
    let by_instr = by(
        limits.instr,
        model.instr_per_snapshot,
        model.instr_per_dataset,
    );
    let by_mem = by(limits.mem, model.mem_per_snapshot, model.mem_per_dataset);
    by_instr.min(by_mem).max(1) as usize
}

/// What an inventory pass cost: for reports and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct InventoryStats {
    /// `inventory.lua` calls made (including retries).
    pub programs: u64,
    /// `snapinfo.lua` calls made (including retries).
    pub info_programs: u64,
    /// Calls that hit a limit and were split.
    pub splits: u64,
    /// `zfs list -t bookmark` calls made.
    pub bookmark_listings: u64,
    /// Snapshots whose properties were read (not known from the cache).
    pub snapshots_read: u64,
    /// Snapshots known from the cache.
    pub snapshots_cached: u64,
    /// Datasets whose walk was skipped: `snapshots_changed` still at the cached listing's.
    pub walks_skipped: u64,
}

/// What `inventory.lua` says about one dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    /// The dataset, with its labels; `snapshots` is empty here.
    pub state: DatasetState,
    /// Its guid (identity for the cache).
    pub guid: i64,
    /// Short names of its `autosnap_` snapshots.
    pub snapshots: Vec<ShortName>,
    /// Short names of its `autosnap_` bookmarks.
    pub bookmarks: Vec<ShortName>,
    /// Its `snapshots_changed`, when asked for (OpenZFS >= 2.2).
    pub changed: Option<i64>,
    /// It is a clone (reported with `changed` only): never skipped, no listing kept.
    pub clone: bool,
    /// The walk was skipped: `changed` equals the value offered, and `snapshots`,
    /// `bookmarks` and the foreign count are the caller's to fill in.
    pub unchanged: bool,
}

/// One dataset for `inventory.lua`: walk it (`None`, any OpenZFS), or also read its
/// `snapshots_changed` and skip the walk when it equals the value offered (`Some`; 0 never
/// matches; OpenZFS >= 2.2 only).
pub type Ask = (Dataset, Option<i64>);

/// How to read a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Also resolve bookmarks whose createtxg neither a snapshot nor the cache knows (one
    /// `zfs list -t bookmark` per pool, only when there are such bookmarks).
    pub with_bookmark_txgs: bool,
    /// Limits of the read-only programs.
    pub limits: ReadLimits,
    /// The run's clock (seconds since the epoch): decides how old a cache entry may be.
    pub now: i64,
    /// The module has `snapshots_changed` (OpenZFS >= 2.2): skip walking unchanged datasets.
    pub snapshots_changed: bool,
}

/// Facts read per dataset by `snapinfo.lua` (a dataset that vanished meanwhile has none).
pub type InfoRead = Vec<(Dataset, Vec<(ShortName, Facts)>)>;

/// Reads the state of `datasets` (all on `pool`), using and refreshing `cache`.
pub fn read_pool(
    exec: &dyn Exec,
    pool: &str,
    datasets: &[Dataset],
    opts: &ReadOptions,
    cache: &mut PoolCache,
    stats: &mut InventoryStats,
) -> Result<BTreeMap<Dataset, DatasetState>, ZfsError> {
    let (limits, now, with_bookmark_txgs) = (&opts.limits, opts.now, opts.with_bookmark_txgs);
    // Offer each dataset's cached listing (while fresh) so that its walk can be skipped.
    let asks: Vec<Ask> = datasets
        .iter()
        .map(|d| {
            let offer = cache
                .datasets
                .get(d.as_str())
                .filter(|c| c.fresh(now, max_age(d.as_str())))
                .and_then(|c| c.listing.as_ref())
                .map_or(0, |l| l.changed);
            (d.clone(), opts.snapshots_changed.then_some(offer))
        })
        .collect();
    // The first chunk is sized for the most snapshots a dataset to walk had last time, when
    // known (a dataset offered a listing is expected to skip its walk; if it does not,
    // inventory.lua's walk budget still bounds the call).
    let expected = asks
        .iter()
        .filter(|(_, offer)| offer.is_none_or(|o| o == 0))
        .map(|(d, _)| {
            cache
                .datasets
                .get(d.as_str())
                .map_or(ASSUMED_SNAPSHOTS, |c| c.snaps.len() as u64 + c.foreign + 1)
        })
        .max()
        .unwrap_or(1);
    let mut listed = list_pool(exec, pool, &asks, limits, expected, stats)?;
    // A skipped walk stands only for the dataset the listing was made for (same guid).
    let redo: Vec<usize> = (0..listed.len())
        .filter(|&i| {
            let l = &listed[i];
            l.unchanged
                && !cache
                    .datasets
                    .get(l.state.dataset.as_str())
                    .is_some_and(|c| c.guid == l.guid && c.listing.is_some())
        })
        .collect();
    if !redo.is_empty() {
        let again: Vec<Ask> = redo
            .iter()
            .map(|&i| (listed[i].state.dataset.clone(), Some(0)))
            .collect();
        let relisted = list_pool(exec, pool, &again, limits, ASSUMED_SNAPSHOTS, stats)?;
        for (i, l) in redo.into_iter().zip(relisted) {
            listed[i] = l;
        }
    }
    // A skipped walk's names are its cached listing's (already in order, and left there:
    // [`join_listed`] reads them from the entry); the walked ones are put in order, for the
    // passes below walk them side by side with the cache's ordered map.
    for l in listed.iter_mut() {
        if l.unchanged {
            l.state.foreign_snapshots = cache.datasets[l.state.dataset.as_str()].foreign;
            stats.walks_skipped += 1;
        } else {
            l.snapshots.sort_unstable();
            l.bookmarks.sort_unstable();
        }
    }
    // Which snapshots must be read: all of a dataset the cache does not vouch for, else the
    // names it does not know.
    let mut requests: Vec<(Dataset, Which)> = Vec::new();
    // Per listed dataset, its names joined with the facts already, when none was unknown
    // (nothing to read: the join after the reads would give the same).
    let mut joins: Vec<Option<Joined>> = (0..listed.len()).map(|_| None).collect();
    for (l, joined) in listed
        .iter()
        .zip(joins.iter_mut())
        .filter(|(l, _)| l.state.exists)
    {
        let name = l.state.dataset.to_string();
        let entry = cache.datasets.entry(name).or_default();
        // A walked listing is exact for the value it saw only if that value is older than
        // the run's clock: a change later in the same second would leave it equal.
        let listing = match l.changed {
            _ if l.unchanged => entry.listing.take(),
            Some(c) if c < now && !l.clone => Some(Listing {
                changed: c,
                snapshots: l.snapshots.iter().cloned().collect(),
                bookmarks: l.bookmarks.iter().cloned().collect(),
            }),
            _ => None,
        };
        if !entry.trusted(l.guid, now, max_age(l.state.dataset.as_str())) {
            *entry = DatasetCache {
                guid: l.guid,
                full_read_at: now,
                foreign: l.state.foreign_snapshots,
                snaps: BTreeMap::new(),
                listing,
            };
            let count = snapshot_count(l, entry);
            if count > 0 {
                requests.push((l.state.dataset.clone(), Which::All(count)));
            }
            continue;
        }
        entry.listing = listing;
        entry.foreign = l.state.foreign_snapshots;
        let count = snapshot_count(l, entry);
        let mut j = join_listed(l, entry);
        stats.snapshots_cached += (count - j.unread.len()) as u64;
        if j.unread.is_empty() {
            *joined = Some(j);
        } else {
            requests.push((
                l.state.dataset.clone(),
                Which::Names(std::mem::take(&mut j.unread)),
            ));
        }
    }
    let read = read_info(exec, pool, &requests, limits, stats)?;
    for (ds, facts) in read {
        let entry = cache.datasets.entry(ds.to_string()).or_default();
        stats.snapshots_read += facts.len() as u64;
        entry.snaps.extend(facts);
    }

    let mut out = BTreeMap::new();
    let wanted: BTreeSet<String> = datasets.iter().map(|d| d.to_string()).collect();
    for (l, joined) in listed.into_iter().zip(joins) {
        let state = if l.state.exists {
            let entry = cache
                .datasets
                .get_mut(l.state.dataset.as_str())
                .expect("entry made above");
            // Names that vanished (destroyed since, by us or anyone) are forgotten; a name
            // listed but not read (destroyed between the two programs) is left out.
            let joined = joined.unwrap_or_else(|| join_listed(&l, entry));
            let mut state = l.state;
            for gone in &joined.gone {
                entry.snaps.remove(gone);
            }
            state.snapshots = joined.snapshots;
            state
                .snapshots
                .sort_by(|a, b| (a.createtxg, &a.name).cmp(&(b.createtxg, &b.name)));
            state.bookmarks = joined.bookmarks;
            state
        } else {
            l.state
        };
        out.insert(state.dataset.clone(), state);
    }
    // Datasets this run does not look at (guests gone, migrated away) are forgotten.
    cache.datasets.retain(|d, _| wanted.contains(d));
    if with_bookmark_txgs {
        // Only the bookmarks the join left without facts can be filled in (the others took
        // theirs from the cache entry, which keeps them): remember which, per dataset.
        // (fill_bookmark_txgs itself lists nothing when there are none.)
        let unknown: Vec<(Dataset, Vec<usize>)> = out
            .iter()
            .filter_map(|(d, st)| {
                let at: Vec<usize> = (0..st.bookmarks.len())
                    .filter(|&i| st.bookmarks[i].createtxg == 0)
                    .collect();
                (!at.is_empty()).then(|| (d.clone(), at))
            })
            .collect();
        fill_bookmark_txgs(exec, &mut out, stats)?;
        for (d, at) in unknown {
            let st = &out[&d];
            if let Some(entry) = cache.datasets.get_mut(st.dataset.as_str()) {
                for b in at.iter().map(|&i| &st.bookmarks[i]) {
                    if b.createtxg != 0 {
                        entry
                            .snaps
                            .entry(b.name.clone())
                            .or_insert((b.createtxg, b.creation));
                    }
                }
            }
        }
    }
    for st in out.values_mut() {
        st.bookmarks
            .sort_by(|a, b| (a.createtxg, &a.name).cmp(&(b.createtxg, &b.name)));
    }
    Ok(out)
}

/// Where the names of `l` are: for a skipped walk, the listing in its cache `entry` (put back
/// there by `read_pool` before any reader); `None` for a walk (its own, sorted).
fn cached_names<'a>(l: &Listed, entry: &'a DatasetCache) -> Option<&'a Listing> {
    l.unchanged.then(|| {
        entry
            .listing
            .as_ref()
            .expect("a skipped walk always has its listing (checked above)")
    })
}

/// How many snapshot names `l` has ([`cached_names`]).
fn snapshot_count(l: &Listed, entry: &DatasetCache) -> usize {
    cached_names(l, entry).map_or(l.snapshots.len(), |c| c.snapshots.len())
}

/// The names of `l` ([`cached_names`]) joined with the facts of its cache `entry`, each source
/// by its own instance of [`join`].
fn join_listed(l: &Listed, entry: &DatasetCache) -> Joined {
    match cached_names(l, entry) {
        Some(c) => join(c.snapshots.iter(), c.bookmarks.iter(), &entry.snaps),
        None => join(l.snapshots.iter(), l.bookmarks.iter(), &entry.snaps),
    }
}

/// Advances the sorted names (`current`, then `rest`) past those before `key`, handing each
/// to `skipped`; takes the name equal to `key`, if any. One comparison per name looked at.
fn seek<'a>(
    current: &mut Option<&'a ShortName>,
    rest: &mut impl Iterator<Item = &'a ShortName>,
    key: &ShortName,
    mut skipped: impl FnMut(&'a ShortName),
) -> Option<&'a ShortName> {
    while let Some(n) = *current {
        match n.cmp(key) {
            std::cmp::Ordering::Less => {
                skipped(n);
                *current = rest.next();
            }
            std::cmp::Ordering::Equal => {
                *current = rest.next();
                return Some(n);
            }
            std::cmp::Ordering::Greater => return None,
        }
    }
    None
}

/// A dataset's names joined with the remembered facts.
#[derive(Debug, Default, PartialEq)]
struct Joined {
    /// Snapshots with facts (a name without facts is left out).
    snapshots: Vec<SnapshotInfo>,
    /// Every bookmark (facts 0 when unknown).
    bookmarks: Vec<BookmarkInfo>,
    /// Remembered names that are neither a snapshot nor a bookmark any more.
    gone: Vec<ShortName>,
    /// Snapshot names without facts (to be read), in order.
    unread: Vec<ShortName>,
}

/// Joins sorted snapshot and bookmark names with `facts` in one ordered pass (no lookups: on
/// a steady-state run this is most of what the inventory costs the host).
fn join<'a>(
    snaps: impl IntoIterator<Item = &'a ShortName>,
    bms: impl IntoIterator<Item = &'a ShortName>,
    facts: &BTreeMap<ShortName, Facts>,
) -> Joined {
    let (mut s, mut b) = (snaps.into_iter(), bms.into_iter());
    let mut out = Joined {
        snapshots: Vec::with_capacity(s.size_hint().0),
        bookmarks: Vec::with_capacity(b.size_hint().0),
        gone: Vec::new(),
        unread: Vec::new(),
    };
    let unknown_bm = |n: &ShortName| BookmarkInfo {
        name: n.clone(),
        createtxg: 0,
        creation: 0,
    };
    let (mut cs, mut cb) = (s.next(), b.next());
    for (k, &(createtxg, creation)) in facts {
        let mut used = false;
        if let Some(n) = seek(&mut cs, &mut s, k, |n| out.unread.push(n.clone())) {
            out.snapshots.push(SnapshotInfo {
                name: n.clone(),
                createtxg,
                creation,
            });
            used = true;
        }
        if let Some(n) = seek(&mut cb, &mut b, k, |n| out.bookmarks.push(unknown_bm(n))) {
            out.bookmarks.push(BookmarkInfo {
                name: n.clone(),
                createtxg,
                creation,
            });
            used = true;
        }
        if !used {
            out.gone.push(k.clone());
        }
    }
    out.unread.extend(cs.into_iter().chain(s).cloned());
    out.bookmarks
        .extend(cb.into_iter().chain(b).map(unknown_bm));
    out
}

/// Which snapshots of a dataset `snapinfo.lua` reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Which {
    /// All `autosnap_` snapshots (about this many).
    All(usize),
    /// These short names.
    Names(Vec<ShortName>),
}

impl Which {
    fn count(&self) -> usize {
        match self {
            Which::All(n) => *n,
            Which::Names(v) => v.len(),
        }
    }

    fn arg(&self) -> String {
        match self {
            Which::All(_) => "*".into(),
            Which::Names(v) => v
                .iter()
                .map(ShortName::as_str)
                .collect::<Vec<_>>()
                .join("/"),
        }
    }
}

/// `inventory.lua` over all `asks`, in chunks; the first sized for `expected` snapshots
/// per dataset, the next ones for the most seen so far (plus a quarter). Each call walks at
/// most about [`SNAPSHOTS_PER_CALL`] snapshots (the program's walk budget); datasets it had no
/// budget left for go first into the next call. The result is in the order of `asks`.
pub fn list_pool(
    exec: &dyn Exec,
    pool: &str,
    asks: &[Ask],
    limits: &ReadLimits,
    expected: u64,
    stats: &mut InventoryStats,
) -> Result<Vec<Listed>, ZfsError> {
    let mut out: Vec<Option<Listed>> = vec![None; asks.len()];
    let mut pending: Vec<usize> = (0..asks.len()).collect();
    let mut size = inventory_chunk_size(&MEASURED, limits, expected);
    let mut most_seen = 0u64;
    while !pending.is_empty() {
        let take = size.min(pending.len());
        let chunk: Vec<&Ask> = pending[..take].iter().map(|&i| &asks[i]).collect();
        stats.programs += 1;
        match call_inventory(exec, pool, &chunk, Some(SNAPSHOTS_PER_CALL), limits) {
            Ok(listed) => {
                let mut deferred = Vec::new();
                for (&i, l) in pending[..take].iter().zip(listed) {
                    match l {
                        Some(l) => {
                            if !l.unchanged {
                                most_seen = most_seen
                                    .max(l.snapshots.len() as u64 + l.state.foreign_snapshots);
                            }
                            out[i] = Some(l);
                        }
                        None => deferred.push(i),
                    }
                }
                if deferred.len() == take {
                    return Err(ZfsError::parse(
                        Tool::Zfs,
                        &[],
                        String::from("inventory.lua answered none of its datasets"),
                        "",
                    ));
                }
                deferred.extend_from_slice(&pending[take..]);
                pending = deferred;
                // From what was seen, with a quarter on top for datasets not seen yet (the
                // first guess must not stick; BENCHMARKS.md).
                size = inventory_chunk_size(&MEASURED, limits, most_seen + most_seen / 4 + 1);
            }
            Err(e) if take > 1 && is_limit(&e) => {
                stats.splits += 1;
                size = take / 2;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out
        .into_iter()
        .map(|l| l.expect("every dataset answered"))
        .collect())
}

/// `snapinfo.lua` for `requests`, in chunks bounded by the cost model and [`ARGV_BUDGET`].
/// Returns the facts read per dataset (a dataset that vanished meanwhile has none).
pub fn read_info(
    exec: &dyn Exec,
    pool: &str,
    requests: &[(Dataset, Which)],
    limits: &ReadLimits,
    stats: &mut InventoryStats,
) -> Result<InfoRead, ZfsError> {
    let m = &MEASURED_SNAPINFO;
    let (ib, mb) = (limits.instr / BUDGET_DIVISOR, limits.mem / BUDGET_DIVISOR);
    // Each request's two arguments, encoded once (the byte budget counts them too).
    let encoded: Vec<[String; 2]> = requests
        .iter()
        .map(|(d, w)| [d.to_string(), w.arg()])
        .collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut cap = usize::MAX; // lowered when a call hits a limit anyway
    while start < requests.len() {
        // Take requests while the call stays inside every budget (at least one).
        let (mut instr, mut mem, mut bytes, mut work, mut take) =
            (0u64, 0u64, 0usize, 0u64, 0usize);
        for ((_, which), [d, w]) in requests[start..].iter().zip(&encoded[start..]).take(cap) {
            let n = which.count() as u64;
            let i = m.instr_per_dataset + m.instr_per_snapshot * n;
            let k = m.mem_per_dataset + m.mem_per_snapshot * n;
            let b = d.len() + w.len() + 2;
            if take > 0
                && (instr + i > ib
                    || mem + k > mb
                    || bytes + b > ARGV_BUDGET
                    || work + n > SNAPSHOTS_PER_CALL)
            {
                break;
            }
            instr += i;
            mem += k;
            bytes += b;
            work += n;
            take += 1;
        }
        let chunk = &requests[start..start + take];
        let args: Vec<String> = encoded[start..start + take].concat();
        stats.info_programs += 1;
        match program::run(exec, pool, &SNAPINFO, &args, &limits.opts()) {
            Ok(ret) => {
                let bad =
                    |detail: String| ZfsError::parse(Tool::Zfs, &args, detail, &ret.to_string());
                let entries = program::lua_array(&ret, chunk.len()).map_err(bad)?;
                for ((ds, _), e) in chunk.iter().zip(entries) {
                    let e = e.ok_or_else(|| bad(format!("no entry for {ds}")))?;
                    let facts = decode_info(e).map_err(|m| bad(format!("{ds}: {m}")))?;
                    out.push((ds.clone(), facts));
                }
                start += take;
            }
            Err(e) if take > 1 && is_limit(&e) => {
                stats.splits += 1;
                cap = take / 2;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Decodes one `snapinfo.lua` entry.
fn decode_info(e: &Value) -> Result<Vec<(ShortName, Facts)>, String> {
    match e.get("x").and_then(Value::as_i64) {
        Some(0) => return Ok(vec![]),
        Some(1) => {}
        other => return Err(format!("bad existence flag {other:?}")),
    }
    let mut out = Vec::new();
    for line in e
        .get("s")
        .and_then(Value::as_str)
        .ok_or("missing snapshot list")?
        .lines()
    {
        let f: Vec<&str> = line.split(' ').collect();
        let [name, txg, creation] = f[..] else {
            return Err(format!("bad snapshot line {line:?}"));
        };
        let txg = txg
            .parse::<u64>()
            .map_err(|_| format!("bad createtxg in {line:?}"))?;
        let creation = creation
            .parse::<i64>()
            .map_err(|_| format!("bad creation in {line:?}"))?;
        out.push((ShortName::new(name), (txg, creation)));
    }
    Ok(out)
}

fn is_limit(e: &ZfsError) -> bool {
    matches!(
        e.kind(),
        Some(
            FailureKind::InstructionLimit | FailureKind::MemoryLimit | FailureKind::OutputTooLarge
        )
    )
}

/// One `inventory.lua` call over `chunk` (walk budget `budget` snapshots when given); `None`
/// for a dataset the program had no budget left for.
pub fn call_inventory(
    exec: &dyn Exec,
    pool: &str,
    chunk: &[&Ask],
    budget: Option<u64>,
    limits: &ReadLimits,
) -> Result<Vec<Option<Listed>>, ZfsError> {
    let mut args: Vec<String> = budget.map(|b| format!("-w{b}")).into_iter().collect();
    args.extend(chunk.iter().map(|(d, offer)| match offer {
        Some(c) => format!("{d}={c}"),
        None => d.to_string(),
    }));
    let ret = program::run(exec, pool, &INVENTORY, &args, &limits.opts())?;
    let bad = |detail: String| ZfsError::parse(Tool::Zfs, &args, detail, &ret.to_string());
    let entries = program::lua_array(&ret, chunk.len()).map_err(bad)?;
    chunk
        .iter()
        .zip(entries)
        .map(|((ds, offer), e)| {
            let e = e.ok_or_else(|| bad(format!("no entry for {ds}")))?;
            let l = decode(ds, e).map_err(|m| bad(format!("{ds}: {m}")))?;
            if let Some(l) = &l
                && l.state.exists
                && offer.is_some() != l.changed.is_some()
            {
                return Err(bad(format!(
                    "{ds}: snapshots_changed asked for but not given"
                )));
            }
            Ok(l)
        })
        .collect()
}

/// Decodes one dataset's entry (shape documented in `lua/inventory.lua`); `None` for a
/// dataset the program had no walk budget left for.
fn decode(ds: &Dataset, e: &Value) -> Result<Option<Listed>, String> {
    let exists = match e.get("x").and_then(Value::as_i64) {
        Some(0) => false,
        Some(1) => true,
        Some(2) => return Ok(None),
        other => return Err(format!("bad existence flag {other:?}")),
    };
    let mut l = Listed {
        state: DatasetState {
            dataset: ds.clone(),
            exists,
            running: None,
            nosnap: None,
            snapshots: vec![],
            bookmarks: vec![],
            foreign_snapshots: 0,
        },
        guid: 0,
        snapshots: vec![],
        bookmarks: vec![],
        changed: None,
        clone: false,
        unchanged: false,
    };
    if !exists {
        return Ok(Some(l));
    }
    let state = &mut l.state;
    if let Some(r) = e.get("r").and_then(Value::as_str) {
        let src = e
            .get("rs")
            .and_then(Value::as_str)
            .ok_or("label:running without a source")?;
        let source = if src == ds.as_str() {
            PropSource::Local
        } else if src == "$recvd" {
            PropSource::Received
        } else {
            PropSource::Inherited(src.to_string())
        };
        state.running = Some(PropValue {
            value: unhex(r)?,
            source,
        });
    }
    if let Some(n) = e.get("n").and_then(Value::as_str) {
        state.nosnap = Some(unhex(n)?);
    }
    l.guid = e.get("g").and_then(Value::as_i64).ok_or("missing guid")?;
    if let Some(c) = e.get("c") {
        l.changed = Some(c.as_i64().ok_or("bad snapshots_changed")?);
    }
    l.clone = e.get("o").and_then(Value::as_i64) == Some(1);
    if e.get("u").and_then(Value::as_i64) == Some(1) {
        if l.changed.is_none() || l.clone {
            return Err("walk skipped for a clone or without snapshots_changed".into());
        }
        l.unchanged = true;
        return Ok(Some(l));
    }
    l.state.foreign_snapshots = e
        .get("f")
        .and_then(Value::as_u64)
        .ok_or("missing foreign count")?;
    let names = |key: &str| -> Result<Vec<ShortName>, String> {
        let text = e
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("missing list {key:?}"))?;
        // A name with a space (ZFS allows it) is never ours and would not survive
        // snapinfo.lua's space-separated lines: left out like any foreign name.
        Ok(text
            .lines()
            .filter(|n| !n.is_empty() && !n.contains([' ', '/']))
            .map(ShortName::new)
            .collect())
    };
    l.snapshots = names("s")?;
    l.bookmarks = names("b")?;
    Ok(Some(l))
}

fn unhex(s: &str) -> Result<String, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd-length hex {s:?}"));
    }
    let bytes = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("bad hex {s:?}")))
        .collect::<Result<Vec<u8>, _>>()?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Channel programs cannot read a bookmark's properties (`get_prop` holds the name as a
/// dataset), so bookmarks whose snapshot is gone get their createtxg from one `zfs list`.
fn fill_bookmark_txgs(
    exec: &dyn Exec,
    states: &mut BTreeMap<Dataset, DatasetState>,
    stats: &mut InventoryStats,
) -> Result<(), ZfsError> {
    let wanted: Vec<String> = states
        .values()
        .filter(|s| s.bookmarks.iter().any(|b| b.createtxg == 0))
        .map(|s| s.dataset.to_string())
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let mut args: Vec<String> = [
        "list",
        "-H",
        "-p",
        "-t",
        "bookmark",
        "-o",
        "name,createtxg,creation",
        "-d",
        "1",
    ]
    .map(String::from)
    .to_vec();
    args.extend(wanted);
    stats.bookmark_listings += 1;
    let out = exec.run(Tool::Zfs, &args, None)?;
    if out.code != 0 {
        return Err(ZfsError::failed(Tool::Zfs, &args, &out));
    }
    for line in out.stdout.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [full, txg, creation] = f[..] else {
            return Err(ZfsError::parse(
                Tool::Zfs,
                &args,
                format!("bad line {line:?}"),
                &out.stdout,
            ));
        };
        let Some((ds, short)) = full.split_once('#') else {
            continue;
        };
        let Ok(ds) = Dataset::new(ds) else { continue };
        if let Some(b) = states
            .get_mut(&ds)
            .and_then(|s| s.bookmarks.iter_mut().find(|b| b.name == short))
        {
            let parse_err = || {
                ZfsError::parse(
                    Tool::Zfs,
                    &args,
                    format!("bad numbers in {line:?}"),
                    &out.stdout,
                )
            };
            b.createtxg = txg.parse().map_err(|_| parse_err())?;
            b.creation = creation.parse().map_err(|_| parse_err())?;
        }
    }
    // Sorting by the txgs filled in here is the caller's (`read_pool` sorts every dataset).
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ds(s: &str) -> Dataset {
        Dataset::new(s).unwrap()
    }

    #[test]
    fn join_and_missing_table() {
        let v = |x: &[&str]| x.iter().map(|&s| ShortName::new(s)).collect::<Vec<_>>();
        let facts: BTreeMap<ShortName, Facts> = [
            ("a", (1, 10)),
            ("b", (2, 20)),
            ("d", (4, 40)),
            ("f", (6, 60)),
        ]
        .into_iter()
        .map(|(k, f)| (ShortName::new(k), f))
        .collect();
        // (snapshots, bookmarks, snapshots with facts, bookmarks with txgs, gone, missing)
        #[allow(clippy::type_complexity)]
        let cases: [(&[&str], &[&str], &[&str], &[(&str, u64)], &[&str], &[&str]); 4] = [
            (
                &["a", "b", "c"],
                &["d", "e"],
                &["a", "b"],
                &[("d", 4), ("e", 0)],
                &["f"],
                &["c"],
            ),
            (&[], &[], &[], &[], &["a", "b", "d", "f"], &[]),
            (
                &["a", "b", "d", "f"],
                &["0", "a", "z"],
                &["a", "b", "d", "f"],
                &[("0", 0), ("a", 1), ("z", 0)],
                &[],
                &[],
            ),
            (
                &["c", "e"],
                &["b"],
                &[],
                &[("b", 2)],
                &["a", "d", "f"],
                &["c", "e"],
            ),
        ];
        for (sn, bm, want_s, want_b, gone, miss) in cases {
            let j = join(&v(sn), &v(bm), &facts);
            let got_s: Vec<&str> = j.snapshots.iter().map(|x| x.name.as_str()).collect();
            let got_b: Vec<(&str, u64)> = j
                .bookmarks
                .iter()
                .map(|x| (x.name.as_str(), x.createtxg))
                .collect();
            assert_eq!(got_s, want_s, "{sn:?} {bm:?}");
            assert_eq!(got_b, want_b, "{sn:?} {bm:?}");
            assert_eq!(j.gone, v(gone), "{sn:?} {bm:?}");
            assert!(
                j.snapshots
                    .iter()
                    .all(|x| facts[&x.name] == (x.createtxg, x.creation))
            );
            assert_eq!(j.unread, v(miss), "{sn:?}");
        }
    }

    #[test]
    fn decode_full_entry() {
        let e = json!({
            "x": 1, "r": "70766531", "rs": "$recvd", "n": "6e6f736e6170", "f": 3, "g": -42,
            "s": "autosnap_b\nautosnap_a\nautosnap_with space",
            "b": "autosnap_a\nautosnap_old"
        });
        let l = decode(&ds("tank/vm-1-disk-0"), &e).unwrap().unwrap();
        assert!(l.state.exists && l.state.nosnap.as_deref() == Some("nosnap"));
        assert_eq!(
            l.state.running,
            Some(PropValue {
                value: "pve1".into(),
                source: PropSource::Received
            })
        );
        assert_eq!((l.state.foreign_snapshots, l.guid), (3, -42));
        assert_eq!(
            l.snapshots,
            ["autosnap_b", "autosnap_a"],
            "a name with a space is not ours"
        );
        assert_eq!(l.bookmarks, ["autosnap_a", "autosnap_old"]);
    }

    #[test]
    fn decode_sources_and_missing() {
        let d = ds("tank/a");
        let local = decode(
            &d,
            &json!({"x":1,"r":"78","rs":"tank/a","f":0,"g":1,"s":"","b":""}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(local.state.running.unwrap().source, PropSource::Local);
        let inh = decode(
            &d,
            &json!({"x":1,"r":"78","rs":"tank","f":0,"g":1,"s":"","b":""}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            inh.state.running.unwrap().source,
            PropSource::Inherited("tank".into())
        );
        let gone = decode(&d, &json!({"x":0})).unwrap().unwrap();
        assert!(!gone.state.exists && gone.snapshots.is_empty());
        assert_eq!(decode(&d, &json!({"x":2})), Ok(None), "not read: ask again");
        let skipped = decode(&d, &json!({"x":1,"g":1,"c":77,"u":1}))
            .unwrap()
            .unwrap();
        assert!(skipped.unchanged && skipped.changed == Some(77));
        let walked = decode(&d, &json!({"x":1,"g":1,"c":77,"f":0,"s":"","b":""}))
            .unwrap()
            .unwrap();
        assert!(!walked.unchanged && walked.changed == Some(77));
        let clone = decode(&d, &json!({"x":1,"g":1,"c":77,"o":1,"f":0,"s":"","b":""}))
            .unwrap()
            .unwrap();
        assert!(clone.clone && !clone.unchanged);
        for bad in [
            json!({"x":1,"g":1,"c":77,"o":1,"u":1}),
            json!({"x": 3}),
            json!({"x":1,"g":1,"u":1}),
            json!({"x":1,"g":1,"c":"soon","f":0,"s":"","b":""}),
            json!({"x":1,"f":0,"s":"","b":""}),
            json!({"x":1,"r":"7","rs":"tank","f":0,"g":1,"s":"","b":""}),
            json!({"x":1,"f":0,"g":1,"b":""}),
        ] {
            assert!(decode(&d, &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decode_info_table() {
        let cases = [
            (json!({"x":0}), Ok(vec![])),
            (
                json!({"x":1,"s":"autosnap_a 10 100\nautosnap_b 11 101"}),
                Ok(vec![
                    (ShortName::new("autosnap_a"), (10, 100)),
                    (ShortName::new("autosnap_b"), (11, 101)),
                ]),
            ),
            (json!({"x":1,"s":""}), Ok(vec![])),
            (json!({"x":1,"s":"autosnap_a 10"}), Err(())),
            (json!({"x":1,"s":"autosnap_a x 1"}), Err(())),
            (json!({"x":1}), Err(())),
        ];
        for (e, want) in cases {
            assert_eq!(decode_info(&e).map_err(|_| ()), want, "{e}");
        }
    }

    /// The inventory's chunk: datasets' fixed cost on top of the walk its budget allows.
    #[test]
    fn inventory_chunk_size_counts_the_walk_budget_once() {
        let m = CostModel {
            instr_per_dataset: 1000,
            instr_per_snapshot: 100,
            mem_per_snapshot: 10,
            mem_per_dataset: 10,
        };
        // (largest dataset, datasets per call) at the default limits (10M instructions,
        // 10 MiB; a quarter each): instructions decide.
        for (snaps, want) in [
            // (2,500,000 - 100 × 10,000) / 1,000
            (0, 1500),
            // (2,500,000 - 100 × 15,000) / 1,000
            (5_000, 1000),
            // the walk alone is over the quarter: one dataset per call (a limit splits no further)
            (25_000, 1),
            (u64::MAX, 1),
        ] {
            assert_eq!(
                inventory_chunk_size(&m, &ReadLimits::DEFAULT, snaps),
                want,
                "{snaps}"
            );
        }
        // Memory decides when datasets are dear: (2,621,440 - 10 × 10,300) / 100,000.
        let dear = CostModel {
            instr_per_dataset: 1,
            mem_per_dataset: 100_000,
            ..m
        };
        assert_eq!(inventory_chunk_size(&dear, &ReadLimits::DEFAULT, 300), 25);
        // Unlike chunk_size, not divided by the walk budget: the program enforces it.
        assert!(
            inventory_chunk_size(&MEASURED, &ReadLimits::SHIPPED_MAX, ASSUMED_SNAPSHOTS)
                > 10 * chunk_size(&MEASURED, &ReadLimits::SHIPPED_MAX, ASSUMED_SNAPSHOTS)
        );
    }

    #[test]
    fn chunk_size_follows_the_model_and_the_limits() {
        let m = CostModel {
            instr_per_dataset: 1000,
            instr_per_snapshot: 100,
            mem_per_snapshot: 10,
            mem_per_dataset: 10,
        };
        // 10M / 4 / (1000 + 100*40) = 500, the snapshot budget 10,000 / 40 = 250: the budget.
        assert_eq!(chunk_size(&m, &ReadLimits::DEFAULT, 40), 250);
        // 10M / 4 / (1000 + 100*20) = 833, the budget 10,000 / 20 = 500: the budget.
        assert_eq!(chunk_size(&m, &ReadLimits::DEFAULT, 20), 500);
        // 10M / 4 / (1000 + 100*5) = 1,666 < 10,000 / 5 = 2,000: the instruction limit decides.
        assert_eq!(chunk_size(&m, &ReadLimits::DEFAULT, 5), 1666);
        let max = ReadLimits::SHIPPED_MAX;
        // The module maxima would allow 1,562; the per-call snapshot budget allows 66.
        assert_eq!(
            chunk_size(&m, &max, 150),
            (SNAPSHOTS_PER_CALL / 150) as usize
        );
        let tiny = CostModel {
            instr_per_dataset: 1,
            instr_per_snapshot: 1,
            mem_per_snapshot: 1,
            mem_per_dataset: 1,
        };
        // (snapshots per dataset, datasets per call): the budget decides for cheap programs.
        for (snaps, want) in [
            (0, SNAPSHOTS_PER_CALL),
            (1, SNAPSHOTS_PER_CALL),
            (100, SNAPSHOTS_PER_CALL / 100),
            (20_000, 1),
        ] {
            assert_eq!(chunk_size(&tiny, &max, snaps), want as usize, "{snaps}");
        }
        assert!(chunk_size(&m, &ReadLimits::DEFAULT, 1_000_000_000) >= 1);
        let memory_bound = CostModel {
            mem_per_snapshot: 10_000,
            ..m
        };
        assert_eq!(
            chunk_size(&memory_bound, &ReadLimits::DEFAULT, 100),
            (DEFAULT_MEM_LIMIT / 4 / (10 + 1_000_000)) as usize
        );
    }

    #[test]
    fn read_limits_come_from_the_module_parameters_capped() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(ReadLimits::for_host(root.path()), ReadLimits::DEFAULT);
        let dir = root.path().join("sys/module/zfs/parameters");
        std::fs::create_dir_all(&dir).unwrap();
        let set = |i: &str, m: &str| {
            std::fs::write(dir.join("zfs_lua_max_instrlimit"), i).unwrap();
            std::fs::write(dir.join("zfs_lua_max_memlimit"), m).unwrap();
            ReadLimits::for_host(root.path())
        };
        // (instr param, mem param, expected)
        let cases = [
            (
                "100000000\n",
                "104857600\n",
                (MAX_INSTR_LIMIT, MAX_MEM_LIMIT),
            ),
            ("50000000", "20971520", (50_000_000, 20_971_520)),
            (
                "999999999999",
                "999999999999",
                (MAX_INSTR_LIMIT, MAX_MEM_LIMIT),
            ),
            ("1000", "1000", (DEFAULT_INSTR_LIMIT, DEFAULT_MEM_LIMIT)),
            ("junk", "1000", (DEFAULT_INSTR_LIMIT, DEFAULT_MEM_LIMIT)),
        ];
        for (i, m, (wi, wm)) in cases {
            assert_eq!(set(i, m), ReadLimits { instr: wi, mem: wm }, "{i:?} {m:?}");
        }
        assert_eq!(ReadLimits::DEFAULT.opts().instr_limit, None);
        assert_eq!(
            set("100000000", "104857600").opts().mem_limit,
            Some(MAX_MEM_LIMIT)
        );
    }
}

/// Both programs on the emulator: what the cache saves, and that it never lies.
#[cfg(test)]
mod emulated {
    use super::*;
    use crate::zfs::exec::InProcess;
    use crate::zfs::snapcache::MAX_AGE_SECS;
    use zfs_emu::{Version, World};

    const NOW: i64 = 1_800_000_000;

    fn world(n: usize, snaps: usize) -> (InProcess, Vec<Dataset>) {
        world_at(n, snaps, None)
    }

    /// `n` datasets with `snaps` snapshots of ours and one foreign each, made at `clock` when
    /// given.
    fn world_at(n: usize, snaps: usize, clock: Option<i64>) -> (InProcess, Vec<Dataset>) {
        let mut w = World::new(Version::new(2, 3, 2));
        w.set_seed(5);
        if let Some(t) = clock {
            w.set_clock(t);
        }
        w.create_pool("tank").unwrap();
        let mut list = vec![];
        for d in 0..n {
            let name = format!("tank/vm-{}-disk-0", 100 + d);
            w.create_dataset(&name, Some(1 << 20), false).unwrap();
            for i in 0..snaps {
                w.snapshot(&format!("{name}@autosnap_{i:03}")).unwrap();
            }
            w.snapshot(&format!("{name}@foreign")).unwrap();
            list.push(Dataset::new(&name).unwrap());
        }
        (InProcess::new(w), list)
    }

    fn read(
        x: &InProcess,
        list: &[Dataset],
        cache: &mut PoolCache,
        now: i64,
    ) -> (BTreeMap<Dataset, DatasetState>, InventoryStats) {
        read_with(x, list, cache, now, false)
    }

    fn read_with(
        x: &InProcess,
        list: &[Dataset],
        cache: &mut PoolCache,
        now: i64,
        snapshots_changed: bool,
    ) -> (BTreeMap<Dataset, DatasetState>, InventoryStats) {
        let mut stats = InventoryStats::default();
        let opts = ReadOptions {
            with_bookmark_txgs: true,
            limits: ReadLimits::DEFAULT,
            now,
            snapshots_changed,
        };
        let out = read_pool(x, "tank", list, &opts, cache, &mut stats).unwrap();
        (out, stats)
    }

    #[test]
    fn label_values_of_any_length_and_byte_come_back_exactly() {
        // inventory.lua hex-encodes label values 64 bytes per string.format: values shorter
        // than, equal to and longer than one piece, and several pieces, with spaces, a
        // newline, '=' and UTF-8, come back as they were set.
        let values = [
            "pve1".to_string(),
            "x".to_string(),
            "a b\nc=d ü".to_string(),
            "y".repeat(63),
            "z".repeat(64),
            "w".repeat(65),
            "ü-".repeat(70),
        ];
        let (x, list) = world(values.len(), 1);
        for (d, v) in list.iter().zip(&values) {
            x.world_mut()
                .set_user_prop(d.as_str(), "label:running", v)
                .unwrap();
            x.world_mut()
                .set_user_prop(d.as_str(), "label:nosnap", v)
                .unwrap();
        }
        let (got, _) = read(&x, &list, &mut PoolCache::default(), NOW);
        for (d, v) in list.iter().zip(&values) {
            let st = &got[d];
            assert_eq!(
                st.running.as_ref().map(|p| p.value.as_str()),
                Some(v.as_str())
            );
            assert_eq!(
                st.running.as_ref().map(|p| &p.source),
                Some(&PropSource::Local)
            );
            assert_eq!(
                st.nosnap.as_deref(),
                Some(v.as_str()),
                "the value comes back as is"
            );
        }
        x.world_mut()
            .set_user_prop(list[0].as_str(), "label:nosnap", "nosnap")
            .unwrap();
        let (got, _) = read(&x, &list[..1], &mut PoolCache::default(), NOW);
        assert_eq!(got[&list[0]].nosnap.as_deref(), Some("nosnap"));
    }

    #[test]
    fn a_warm_cache_reads_only_new_snapshots_and_gives_the_same_answer() {
        let (x, list) = world(3, 20);
        let mut cache = PoolCache::default();
        let (cold, s) = read(&x, &list, &mut cache, NOW);
        assert_eq!((s.snapshots_read, s.snapshots_cached), (60, 0));
        assert_eq!((s.programs, s.info_programs), (1, 1));
        assert!(
            cold.values()
                .all(|st| st.snapshots.len() == 20 && st.foreign_snapshots == 1)
        );

        // Nothing changed: no snapinfo call at all.
        let (warm, s) = read(&x, &list, &mut cache, NOW + 900);
        assert_eq!(
            (s.snapshots_read, s.snapshots_cached, s.info_programs),
            (0, 60, 0)
        );
        assert_eq!(warm, cold);

        // One new snapshot, one destroyed: only the new one is read.
        x.world_mut()
            .snapshot("tank/vm-100-disk-0@autosnap_new")
            .unwrap();
        x.world_mut()
            .destroy("tank/vm-101-disk-0@autosnap_000")
            .unwrap();
        let (after, s) = read(&x, &list, &mut cache, NOW + 1800);
        assert_eq!((s.snapshots_read, s.info_programs), (1, 1));
        let mut fresh_cache = PoolCache::default();
        let (fresh, _) = read(&x, &list, &mut fresh_cache, NOW + 1800);
        assert_eq!(after, fresh, "cached answer equals a full read");
        assert!(
            !cache.datasets["tank/vm-101-disk-0"]
                .snaps
                .contains_key("autosnap_000")
        );
    }

    #[test]
    fn a_new_guid_an_old_entry_or_a_clock_going_back_reads_everything_again() {
        let (x, list) = world(2, 5);
        let mut cache = PoolCache::default();
        read(&x, &list, &mut cache, NOW);
        // Same names, but the dataset was destroyed and re-created: all must be read again.
        {
            let mut w = x.world_mut();
            for i in 0..5 {
                w.destroy(&format!("tank/vm-100-disk-0@autosnap_{i:03}"))
                    .unwrap();
            }
            w.destroy("tank/vm-100-disk-0@foreign").unwrap();
            w.destroy("tank/vm-100-disk-0").unwrap();
            w.create_dataset("tank/vm-100-disk-0", Some(1 << 20), false)
                .unwrap();
            for i in 0..5 {
                w.snapshot(&format!("tank/vm-100-disk-0@autosnap_{i:03}"))
                    .unwrap();
            }
        }
        let (st, s) = read(&x, &list, &mut cache, NOW + 900);
        assert_eq!(s.snapshots_read, 5, "vm-100 again, vm-101 from the cache");
        let mut fresh_cache = PoolCache::default();
        assert_eq!(st, read(&x, &list, &mut fresh_cache, NOW + 900).0);
        for now in [NOW + 900 + MAX_AGE_SECS, NOW - 60] {
            let mut c = cache.clone();
            let (_, s) = read(&x, &list, &mut c, now);
            assert_eq!(s.snapshots_read, 10, "at {now}");
        }
    }

    #[test]
    fn datasets_no_longer_asked_for_are_forgotten_and_missing_ones_reported() {
        let (x, list) = world(2, 2);
        let mut cache = PoolCache::default();
        read(&x, &list, &mut cache, NOW);
        let gone = Dataset::new("tank/vm-999-disk-0").unwrap();
        let (st, _) = read(&x, &[list[0].clone(), gone.clone()], &mut cache, NOW);
        assert!(!st[&gone].exists);
        assert_eq!(
            cache.datasets.keys().collect::<Vec<_>>(),
            ["tank/vm-100-disk-0"]
        );
    }

    #[test]
    fn bookmarks_take_their_facts_from_the_snapshot_or_the_cache() {
        let (x, list) = world(1, 3);
        x.world_mut()
            .bookmark(
                "tank/vm-100-disk-0@autosnap_000",
                "tank/vm-100-disk-0#autosnap_000",
            )
            .unwrap();
        let mut cache = PoolCache::default();
        let (st, _) = read(&x, &list, &mut cache, NOW);
        let snap_txg = st[&list[0]]
            .snapshots
            .iter()
            .find(|s| s.name == "autosnap_000")
            .unwrap()
            .createtxg;
        assert_eq!(st[&list[0]].bookmarks[0].createtxg, snap_txg);
        // The snapshot goes; the bookmark keeps its facts from the cache: no `zfs list`.
        x.world_mut()
            .destroy("tank/vm-100-disk-0@autosnap_000")
            .unwrap();
        let (st, s) = read(&x, &list, &mut cache, NOW + 900);
        assert_eq!(s.bookmark_listings, 0);
        assert_eq!(st[&list[0]].bookmarks[0].createtxg, snap_txg);
        // Without the cache, one `zfs list -t bookmark` gives the same.
        let (st2, s) = read(&x, &list, &mut PoolCache::default(), NOW + 900);
        assert_eq!(s.bookmark_listings, 1);
        assert_eq!(st2, st);
    }

    #[test]
    fn a_limit_hit_splits_the_snapinfo_call() {
        let (x, list) = world(4, 30);
        // The requests under-state their size (as a stale count would), so the first call
        // carries all four datasets and hits the instruction limit; halving gets through.
        let tight = ReadLimits {
            instr: 3_000,
            mem: DEFAULT_MEM_LIMIT,
        };
        let req: Vec<(Dataset, Which)> = list.iter().map(|d| (d.clone(), Which::All(0))).collect();
        let mut stats = InventoryStats::default();
        let got = read_info(&x, "tank", &req, &tight, &mut stats).unwrap();
        assert!(stats.splits >= 1, "{stats:?}");
        assert_eq!(got.iter().map(|(_, f)| f.len()).sum::<usize>(), 120);
        // A limit that even one dataset cannot fit in is an error, not a loop.
        let tiny = ReadLimits {
            instr: 300,
            mem: DEFAULT_MEM_LIMIT,
        };
        assert!(read_info(&x, "tank", &req, &tiny, &mut InventoryStats::default()).is_err());
    }

    /// The per-call snapshot budget: a cold read of more snapshots than
    /// [`SNAPSHOTS_PER_CALL`] takes several calls, each within the budget.
    #[test]
    fn snapinfo_calls_stay_within_the_snapshot_budget() {
        let per = (SNAPSHOTS_PER_CALL / 3 + 7) as usize;
        let (x, list) = world(4, per);
        let req: Vec<(Dataset, Which)> =
            list.iter().map(|d| (d.clone(), Which::All(per))).collect();
        let mut stats = InventoryStats::default();
        let got = read_info(&x, "tank", &req, &ReadLimits::SHIPPED_MAX, &mut stats).unwrap();
        // 4 × (budget/3 + 7) snapshots: two per call at most → 2 calls.
        assert_eq!((stats.info_programs, stats.splits), (2, 0));
        assert_eq!(got.iter().map(|(_, f)| f.len()).sum::<usize>(), 4 * per);
    }

    /// Chunk sizes follow what the pool really holds, not the first guess.
    #[test]
    fn later_inventory_chunks_are_sized_from_what_was_seen() {
        let (x, list) = world(400, 3);
        // Default limits, first chunk sized for 300 snapshots per dataset: 2.5 MiB - 10,300 ×
        // 100 B left for 3,000 B per dataset = 530 datasets, all of the 400: one call. Sized
        // for an assumed 30,000 per dataset (4.0 MB of walk: more than the quarter), the first
        // chunk is 1 dataset; then 4 seen (3 + 1 foreign) → 6 → the other 399 in one call.
        let asks: Vec<Ask> = list.iter().map(|d| (d.clone(), None)).collect();
        for (expected, calls) in [(ASSUMED_SNAPSHOTS, 1), (30_000, 2)] {
            let mut stats = InventoryStats::default();
            let got = list_pool(
                &x,
                "tank",
                &asks,
                &ReadLimits::DEFAULT,
                expected,
                &mut stats,
            )
            .unwrap();
            assert_eq!(got.len(), 400);
            assert_eq!(stats.programs, calls, "{expected}: {stats:?}");
            assert_eq!(stats.splits, 0, "{expected}: {stats:?}");
        }
    }

    /// A world whose history was made an hour before [`NOW`] (so the values of
    /// `snapshots_changed` are older than the run's clock).
    fn aged_world(n: usize, snaps: usize) -> (InProcess, Vec<Dataset>) {
        world_at(n, snaps, Some(NOW - 3600))
    }

    fn full_read(x: &InProcess, list: &[Dataset], now: i64) -> BTreeMap<Dataset, DatasetState> {
        read(x, list, &mut PoolCache::default(), now).0
    }

    #[test]
    fn unchanged_datasets_are_not_walked_and_changed_ones_are() {
        let (x, list) = aged_world(3, 20);
        let mut cache = PoolCache::default();
        let (cold, s) = read_with(&x, &list, &mut cache, NOW, true);
        assert_eq!(s.walks_skipped, 0);
        assert!(cache.datasets.values().all(|c| c.listing.is_some()));
        assert_eq!(cold, full_read(&x, &list, NOW));

        let (warm, s) = read_with(&x, &list, &mut cache, NOW + 900, true);
        assert_eq!((s.walks_skipped, s.programs, s.info_programs), (3, 1, 0));
        assert_eq!(warm, cold, "a skipped walk gives the same answer");

        // Someone else destroys one of ours and makes a foreign snapshot elsewhere: those
        // two datasets are walked again, the third is not.
        {
            let mut w = x.world_mut();
            w.set_clock(NOW + 1000);
            w.destroy("tank/vm-100-disk-0@autosnap_005").unwrap();
            w.snapshot("tank/vm-101-disk-0@someone").unwrap();
        }
        let (after, s) = read_with(&x, &list, &mut cache, NOW + 1800, true);
        assert_eq!(s.walks_skipped, 1);
        assert_eq!(after, full_read(&x, &list, NOW + 1800));
        assert_eq!(after[&list[0]].snapshots.len(), 19);
        assert_eq!(after[&list[1]].foreign_snapshots, 2);
    }

    #[test]
    fn a_listing_read_in_the_second_of_its_last_change_is_not_kept() {
        let (x, list) = aged_world(1, 3);
        x.world_mut().set_clock(NOW);
        x.world_mut()
            .snapshot("tank/vm-100-disk-0@autosnap_new")
            .unwrap();
        let mut cache = PoolCache::default();
        read_with(&x, &list, &mut cache, NOW, true);
        assert_eq!(cache.datasets["tank/vm-100-disk-0"].listing, None);
        // A change later in that same second would leave the value equal: the next run
        // walks again and sees it.
        x.world_mut()
            .destroy("tank/vm-100-disk-0@autosnap_000")
            .unwrap();
        let (st, s) = read_with(&x, &list, &mut cache, NOW + 900, true);
        assert_eq!(s.walks_skipped, 0);
        assert_eq!(st, full_read(&x, &list, NOW + 900));
        assert!(cache.datasets["tank/vm-100-disk-0"].listing.is_some());
    }

    #[test]
    fn a_skipped_walk_of_another_dataset_with_the_same_value_is_redone() {
        let (x, list) = aged_world(1, 3);
        let mut cache = PoolCache::default();
        read_with(&x, &list, &mut cache, NOW, true);
        // Destroyed and re-created with other snapshots in the same second as the last
        // change: the same snapshots_changed, another guid.
        {
            let mut w = x.world_mut();
            w.set_clock(NOW + 100);
            for s in ["autosnap_000", "autosnap_001", "autosnap_002", "foreign"] {
                w.destroy(&format!("tank/vm-100-disk-0@{s}")).unwrap();
            }
            w.destroy("tank/vm-100-disk-0").unwrap();
            w.set_clock(NOW - 3600);
            w.create_dataset("tank/vm-100-disk-0", Some(1 << 20), false)
                .unwrap();
            w.snapshot("tank/vm-100-disk-0@autosnap_other").unwrap();
        }
        let (st, s) = read_with(&x, &list, &mut cache, NOW + 900, true);
        assert_eq!((s.walks_skipped, s.programs), (0, 2), "{s:?}");
        assert_eq!(st, full_read(&x, &list, NOW + 900));
        assert_eq!(st[&list[0]].snapshots.len(), 1);
    }

    #[test]
    fn listings_older_than_a_day_or_from_the_future_are_walked_again() {
        let (x, list) = aged_world(2, 3);
        let mut cache = PoolCache::default();
        read_with(&x, &list, &mut cache, NOW, true);
        for now in [NOW + MAX_AGE_SECS, NOW - 60] {
            let mut c = cache.clone();
            let (_, s) = read_with(&x, &list, &mut c, now, true);
            assert_eq!(s.walks_skipped, 0, "at {now}");
        }
    }

    /// One call walks at most about [`SNAPSHOTS_PER_CALL`] snapshots even when every
    /// dataset turns out to need a walk; the rest go into the next call.
    #[test]
    fn the_walk_budget_defers_datasets_to_the_next_call() {
        let per = (SNAPSHOTS_PER_CALL / 3 + 7) as usize;
        let (x, list) = world(4, per);
        let asks: Vec<Ask> = list.iter().map(|d| (d.clone(), None)).collect();
        let mut stats = InventoryStats::default();
        let got = list_pool(&x, "tank", &asks, &ReadLimits::SHIPPED_MAX, 1, &mut stats).unwrap();
        assert_eq!((stats.programs, stats.splits), (2, 0), "{stats:?}");
        let names: Vec<&Dataset> = got.iter().map(|l| &l.state.dataset).collect();
        assert_eq!(names, list.iter().collect::<Vec<_>>(), "in the order asked");
        assert!(got.iter().all(|l| l.snapshots.len() == per));
    }

    /// A promote moves snapshots onto the clone without changing its snapshots_changed
    /// (kernel, conformance case 099): a clone is walked every time.
    #[test]
    fn a_clone_is_walked_every_time_so_a_promote_is_seen() {
        let (x, mut list) = aged_world(1, 3);
        {
            let mut w = x.world_mut();
            w.clone_snapshot("tank/vm-100-disk-0@autosnap_001", "tank/vm-101-disk-0")
                .unwrap();
            w.snapshot("tank/vm-101-disk-0@autosnap_on_clone").unwrap();
        }
        list.push(Dataset::new("tank/vm-101-disk-0").unwrap());
        let mut cache = PoolCache::default();
        read_with(&x, &list, &mut cache, NOW, true);
        assert!(cache.datasets["tank/vm-101-disk-0"].listing.is_none());
        let (_, s) = read_with(&x, &list, &mut cache, NOW + 900, true);
        assert_eq!(s.walks_skipped, 1, "only the origin's head is skipped");
        x.world_mut().promote("tank/vm-101-disk-0").unwrap();
        let (st, _) = read_with(&x, &list, &mut cache, NOW + 1800, true);
        assert_eq!(st, full_read(&x, &list, NOW + 1800));
        assert_eq!(
            st[&list[1]].snapshots.len(),
            3,
            "two moved over by the promote"
        );
    }
}
