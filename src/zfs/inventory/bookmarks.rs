//! Bookmarks whose facts neither their snapshot nor the cache knows: channel programs cannot
//! read a bookmark's properties, so those get their createtxg and creation from one
//! `zfs list -t bookmark` per pool (and none when there are no such bookmarks), and the cache
//! remembers them for the next runs.
//!
//! Must not list anything when every bookmark's facts are known, and never guesses a fact: a
//! bookmark the listing does not name keeps createtxg 0.

use super::InventoryStats;
use crate::naming::Dataset;
use crate::state::DatasetState;
use crate::zfs::error::ZfsError;
use crate::zfs::exec::{Exec, Tool};
use crate::zfs::snapcache::PoolCache;
use std::collections::BTreeMap;

/// Fills in the bookmarks of `out` the join left without facts (createtxg 0) and remembers
/// what it learnt in `cache`. Only those can be filled in (the others took theirs from the
/// cache entry, which keeps them): which they are is noted per dataset before the listing.
pub(super) fn resolve(
    exec: &dyn Exec,
    out: &mut BTreeMap<Dataset, DatasetState>,
    cache: &mut PoolCache,
    stats: &mut InventoryStats,
) -> Result<(), ZfsError> {
    let unknown: Vec<(Dataset, Vec<usize>)> = out
        .iter()
        .filter_map(|(d, st)| {
            let at: Vec<usize> = (0..st.bookmarks.len())
                .filter(|&i| st.bookmarks[i].createtxg == 0)
                .collect();
            (!at.is_empty()).then(|| (d.clone(), at))
        })
        .collect();
    // (fill_bookmark_txgs itself lists nothing when there are none.)
    fill_bookmark_txgs(exec, out, stats)?;
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
    Ok(())
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
