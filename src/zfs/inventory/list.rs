//! `inventory.lua`: a pool's datasets, their labels and the *names* of our snapshots and
//! bookmarks, in calls sized by [`super::budget`] and split when one hits a limit anyway, and
//! the decoding of what the program returns (shape documented in `lua/inventory.lua`).
//!
//! Reads names only: no snapshot property (that is [`super::facts`]), no cache (the caller
//! offers `snapshots_changed` values and decides what a skipped walk means).

use super::InventoryStats;
use super::budget::{MEASURED, ReadLimits, SNAPSHOTS_PER_CALL, inventory_chunk_size, is_limit};
use crate::naming::{Dataset, ShortName};
use crate::state::{DatasetState, PropSource, PropValue};
use crate::zfs::error::ZfsError;
use crate::zfs::exec::{Exec, Tool};
use crate::zfs::program::{self, INVENTORY};
use serde_json::Value;

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
pub(super) fn decode(ds: &Dataset, e: &Value) -> Result<Option<Listed>, String> {
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
            pins: Default::default(),
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
    decode_labels(ds, e, &mut l.state)?;
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
    l.snapshots = decode_names(e, "s")?;
    l.bookmarks = decode_names(e, "b")?;
    Ok(Some(l))
}

/// The labels of an existing dataset's entry: `label:running` with where it comes from
/// (`rs`: the dataset itself, `$recvd`, or the ancestor it is inherited from) and
/// `label:nosnap`, both hex-encoded by the program.
fn decode_labels(ds: &Dataset, e: &Value, state: &mut DatasetState) -> Result<(), String> {
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
    Ok(())
}

/// The short names in the newline-separated list under `key`.
fn decode_names(e: &Value, key: &str) -> Result<Vec<ShortName>, String> {
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
}

/// Decodes a label value `inventory.lua` hex-encoded (any bytes; invalid UTF-8 replaced).
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
