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
//!
//! The pieces, one idea each: `budget.rs` sizes the calls, `list.rs` runs `inventory.lua`,
//! `facts.rs` runs `snapinfo.lua`, `join.rs` puts names and remembered facts together,
//! `cache.rs` decides from the [`SnapCache`] what to skip, read and remember,
//! `bookmarks.rs` resolves the bookmarks nothing else knows, and `pins.rs` reads which of the
//! snapshots a first plan would destroy are held, busy or cloned (`lua/pins.lua`). This module holds the entry point
//! [`read_pool`] (the order of those phases) and re-exports the public names.
//!
//! Reads only: every program runs read-only (`-n`), and the cache is refreshed in memory,
//! never saved here (the caller saves it after the run).
//!
//! [`SnapCache`]: super::snapcache::SnapCache

mod bookmarks;
mod budget;
mod cache;
mod facts;
mod join;
mod list;
mod pins;

pub use budget::{
    ARGV_BUDGET, ASSUMED_SNAPSHOTS, BUDGET_DIVISOR, CostModel, MEASURED, MEASURED_SNAPINFO,
    ReadLimits, ReadSetup, SNAPSHOTS_PER_CALL, chunk_size, inventory_chunk_size,
};
pub use facts::{InfoRead, Which, read_info};
pub use list::{Ask, Listed, call_inventory, list_pool};
pub use pins::{PinsRead, read_pins};

use super::error::ZfsError;
use super::exec::Exec;
use super::snapcache::PoolCache;
use crate::naming::Dataset;
use crate::state::DatasetState;
use std::collections::BTreeMap;

/// What an inventory pass cost: for reports and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct InventoryStats {
    /// `inventory.lua` calls made (including retries).
    pub programs: u64,
    /// `snapinfo.lua` calls made (including retries).
    pub info_programs: u64,
    /// `pins.lua` calls made (including retries).
    pub pin_programs: u64,
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

/// Reads the state of `datasets` (all on `pool`), using and refreshing `cache`.
///
/// The phases, in order: offer each dataset's cached listing (`cache::asks`); list the
/// pool ([`list_pool`]), walking again a skipped dataset the cache does not vouch for; read
/// the facts of the snapshots the cache does not know ([`read_info`]); join names and facts
/// into each dataset's state; forget what this run no longer looks at; resolve the bookmarks
/// nothing knows (when asked to); sort.
pub fn read_pool(
    exec: &dyn Exec,
    pool: &str,
    datasets: &[Dataset],
    opts: &ReadOptions,
    cache: &mut PoolCache,
    stats: &mut InventoryStats,
) -> Result<BTreeMap<Dataset, DatasetState>, ZfsError> {
    let limits = &opts.limits;
    let asks = cache::asks(datasets, opts, cache);
    let expected = cache::expected_snapshots(&asks, cache);
    let mut listed = list_pool(exec, pool, &asks, limits, expected, stats)?;
    cache::redo_unvouched_skips(exec, pool, &mut listed, cache, limits, stats)?;
    cache::settle_names(&mut listed, cache, stats);
    let (requests, joins) = cache::plan_reads(&listed, cache, opts.now, stats);
    let read = read_info(exec, pool, &requests, limits, stats)?;
    cache::remember_facts(read, cache, stats);
    let mut out = cache::assemble(listed, joins, cache);
    cache::forget_others(cache, datasets);
    if opts.with_bookmark_txgs {
        bookmarks::resolve(exec, &mut out, cache, stats)?;
    }
    for st in out.values_mut() {
        st.bookmarks
            .sort_by(|a, b| (a.createtxg, &a.name).cmp(&(b.createtxg, &b.name)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod emulated;
