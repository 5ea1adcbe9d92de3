//! `snapinfo.lua`: the facts (createtxg, creation) of the snapshots the cache does not know,
//! read once per snapshot, in calls bounded by the cost model, the per-call snapshot budget
//! and [`ARGV_BUDGET`], split when one hits a limit anyway.
//!
//! Reads what it is asked for and nothing else: which snapshots need reading, and what the
//! cache keeps of the answer, is the caller's ([`super::cache`]).

use super::InventoryStats;
use super::budget::{
    ARGV_BUDGET, BUDGET_DIVISOR, MEASURED_SNAPINFO, ReadLimits, SNAPSHOTS_PER_CALL, is_limit,
};
use crate::naming::{Dataset, ShortName};
use crate::zfs::error::ZfsError;
use crate::zfs::exec::{Exec, Tool};
use crate::zfs::program::{self, Program, SNAPINFO};
use crate::zfs::snapcache::Facts;
use serde_json::Value;

/// Facts read per dataset by `snapinfo.lua` (a dataset that vanished meanwhile has none).
pub type InfoRead = Vec<(Dataset, Vec<(ShortName, Facts)>)>;

/// Which snapshots of a dataset `snapinfo.lua` reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Which {
    /// All `autosnap_` snapshots (about this many).
    All(usize),
    /// These short names.
    Names(Vec<ShortName>),
}

impl Which {
    /// How many snapshots this asks for (about, for [`Which::All`]).
    fn count(&self) -> usize {
        match self {
            Which::All(n) => *n,
            Which::Names(v) => v.len(),
        }
    }

    /// The program argument: `*`, or the names joined by `/`.
    pub(super) fn arg(&self) -> String {
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

/// `snapinfo.lua` for `requests`, in chunks bounded by the cost model and [`ARGV_BUDGET`].
/// Returns the facts read per dataset (a dataset that vanished meanwhile has none).
pub fn read_info(
    exec: &dyn Exec,
    pool: &str,
    requests: &[(Dataset, Which)],
    limits: &ReadLimits,
    stats: &mut InventoryStats,
) -> Result<InfoRead, ZfsError> {
    let calls: fn(&mut InventoryStats) -> &mut u64 = |s| &mut s.info_programs;
    run_chunked(
        exec,
        pool,
        (&SNAPINFO, calls),
        requests,
        limits,
        stats,
        |e| decode_info(e).map(Some),
    )
}

/// Runs the read-only `prog` (`snapinfo.lua`, `pins.lua`: two arguments per dataset, the
/// dataset and its [`Which`]) over `requests` in chunks bounded by [`chunk_len`], halving a
/// chunk that hits a limit anyway. `decode` turns a dataset's entry into its result, `None`
/// when there is nothing to report; `calls` names the counter of `stats` `prog`'s calls go to.
pub(super) fn run_chunked<T>(
    exec: &dyn Exec,
    pool: &str,
    (prog, calls): (&Program, fn(&mut InventoryStats) -> &mut u64),
    requests: &[(Dataset, Which)],
    limits: &ReadLimits,
    stats: &mut InventoryStats,
    decode: impl Fn(&Value) -> Result<Option<T>, String>,
) -> Result<Vec<(Dataset, T)>, ZfsError> {
    // Each request's two arguments, encoded once (the byte budget counts them too).
    let encoded: Vec<[String; 2]> = requests
        .iter()
        .map(|(d, w)| [d.to_string(), w.arg()])
        .collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut cap = usize::MAX; // lowered when a call hits a limit anyway
    while start < requests.len() {
        let take = chunk_len(&requests[start..], &encoded[start..], cap, limits);
        let chunk = &requests[start..start + take];
        let args: Vec<String> = encoded[start..start + take].concat();
        *calls(stats) += 1;
        match program::run(exec, pool, prog, &args, &limits.opts()) {
            Ok(ret) => {
                let bad =
                    |detail: String| ZfsError::parse(Tool::Zfs, &args, detail, &ret.to_string());
                let entries = program::lua_array(&ret, chunk.len()).map_err(bad)?;
                for ((ds, _), e) in chunk.iter().zip(entries) {
                    let e = e.ok_or_else(|| bad(format!("no entry for {ds}")))?;
                    if let Some(v) = decode(e).map_err(|m| bad(format!("{ds}: {m}")))? {
                        out.push((ds.clone(), v));
                    }
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

/// How many of `requests` (with their `encoded` arguments, at most `cap`) the next call
/// takes: as many as keep it inside every budget (a quarter of each limit by
/// [`MEASURED_SNAPINFO`], [`ARGV_BUDGET`], [`SNAPSHOTS_PER_CALL`]), and at least one.
pub(super) fn chunk_len(
    requests: &[(Dataset, Which)],
    encoded: &[[String; 2]],
    cap: usize,
    limits: &ReadLimits,
) -> usize {
    let m = &MEASURED_SNAPINFO;
    let (ib, mb) = (limits.instr / BUDGET_DIVISOR, limits.mem / BUDGET_DIVISOR);
    let (mut instr, mut mem, mut bytes, mut work, mut take) = (0u64, 0u64, 0usize, 0u64, 0usize);
    for ((_, which), [d, w]) in requests.iter().zip(encoded).take(cap) {
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
    take
}

/// The lines of a per-dataset entry of `snapinfo.lua`/`pins.lua` (`{x = 0|1, <key> = text}`):
/// none when the dataset is gone (`x = 0`); `what` names the list in the error.
pub(super) fn entry_lines<'a>(e: &'a Value, key: &str, what: &str) -> Result<Vec<&'a str>, String> {
    match e.get("x").and_then(Value::as_i64) {
        Some(0) => Ok(vec![]),
        Some(1) => Ok(e
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("missing {what}"))?
            .lines()
            .collect()),
        other => Err(format!("bad existence flag {other:?}")),
    }
}

/// Decodes one `snapinfo.lua` entry.
pub(super) fn decode_info(e: &Value) -> Result<Vec<(ShortName, Facts)>, String> {
    let mut out = Vec::new();
    for line in entry_lines(e, "s", "snapshot list")? {
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
