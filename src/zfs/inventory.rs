//! Runs `lua/inventory.lua` over a pool's guest datasets and decodes its answer into
//! [`DatasetState`]s. Chunks the dataset list so that each call stays well inside OpenZFS'
//! default instruction and memory limits, and halves a chunk that hits a limit anyway.

use super::error::{FailureKind, ZfsError};
use super::exec::{Exec, Tool};
use super::program::{self, DEFAULT_INSTR_LIMIT, DEFAULT_MEM_LIMIT, INVENTORY, ProgramOpts};
use crate::inventory::{BookmarkInfo, DatasetState, PropSource, PropValue, SnapshotInfo};
use crate::naming::Dataset;
use serde_json::Value;
use std::collections::BTreeMap;

/// Cost model of `inventory.lua`, measured on the emulator by `benches/programs.rs`
/// (`cargo bench --bench programs`): instructions and bytes of Lua memory per dataset and per
/// `autosnap_` snapshot. The chunk size follows from these and the limits; see [`chunk_size`].
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

/// The model measured by `cargo bench --bench programs` on 100 datasets × 150 snapshots, with
/// the emulator's `string.format` a native function like the kernel's: 116 instructions and
/// 1,053 bytes per dataset, 47 instructions and 84 bytes per snapshot; rounded up. Memory is
/// set from the *peak* of a whole chunk (82 datasets × 150 snapshots peaked at 1.87 MB, ~152
/// bytes per snapshot: garbage not yet collected counts too), not from the difference of two
/// runs, which under-states it. `zfs::cost`'s tests re-measure and fail if the shipped program
/// became more expensive than this says.
pub const MEASURED: CostModel = CostModel {
    instr_per_dataset: 200,
    instr_per_snapshot: 80,
    mem_per_dataset: 3_000,
    mem_per_snapshot: 200,
};

/// Fraction of each default limit a chunk may use: a quarter, so a pool whose datasets hold
/// four times the snapshots assumed still fits, and the halving fallback is rarely needed.
pub const BUDGET_DIVISOR: u64 = 4;

/// Snapshots per dataset the first chunk is sized for (f100 h24 d7 w4 m12 y1 plus stopped
/// markers is ~150; twice that). Later chunks use the largest count actually seen.
pub const ASSUMED_SNAPSHOTS: u64 = 300;

/// How many datasets one inventory call may carry when each has `snapshots` of ours.
pub fn chunk_size(model: &CostModel, snapshots: u64) -> usize {
    let instr = model.instr_per_dataset + model.instr_per_snapshot * snapshots;
    let mem = model.mem_per_dataset + model.mem_per_snapshot * snapshots;
    let by_instr = DEFAULT_INSTR_LIMIT / BUDGET_DIVISOR / instr.max(1);
    let by_mem = DEFAULT_MEM_LIMIT / BUDGET_DIVISOR / mem.max(1);
    by_instr.min(by_mem).max(1) as usize
}

/// What an inventory pass cost: for reports and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct InventoryStats {
    /// `zfs program -n` calls made (including retries).
    pub programs: u64,
    /// Calls that hit a limit and were split.
    pub splits: u64,
    /// `zfs list -t bookmark` calls made.
    pub bookmark_listings: u64,
}

/// Reads the state of `datasets` (all on `pool`). `with_bookmark_txgs` also lists the
/// bookmarks' createtxg (one `zfs list` call, only when any `autosnap_` bookmark exists).
pub fn read_pool(
    exec: &dyn Exec,
    pool: &str,
    datasets: &[Dataset],
    with_bookmark_txgs: bool,
    stats: &mut InventoryStats,
) -> Result<BTreeMap<Dataset, DatasetState>, ZfsError> {
    let mut out = BTreeMap::new();
    let mut rest = datasets;
    let mut size = chunk_size(&MEASURED, ASSUMED_SNAPSHOTS);
    while !rest.is_empty() {
        let take = size.min(rest.len());
        let chunk = &rest[..take];
        stats.programs += 1;
        match read_chunk(exec, pool, chunk) {
            Ok(states) => {
                let most = states
                    .iter()
                    .map(|s| s.snapshots.len() as u64)
                    .max()
                    .unwrap_or(0);
                out.extend(states.into_iter().map(|s| (s.dataset.clone(), s)));
                rest = &rest[take..];
                size = chunk_size(&MEASURED, most.max(ASSUMED_SNAPSHOTS));
            }
            Err(e) if take > 1 && is_limit(&e) => {
                stats.splits += 1;
                size = take / 2;
            }
            Err(e) => return Err(e),
        }
    }
    if with_bookmark_txgs {
        fill_bookmark_txgs(exec, &mut out, stats)?;
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

/// One `zfs program -n` call over `chunk`.
pub fn read_chunk(
    exec: &dyn Exec,
    pool: &str,
    chunk: &[Dataset],
) -> Result<Vec<DatasetState>, ZfsError> {
    let args: Vec<String> = chunk.iter().map(|d| d.to_string()).collect();
    let opts = ProgramOpts {
        read_only: true,
        ..ProgramOpts::default()
    };
    let ret = program::run(exec, pool, &INVENTORY, &args, &opts)?;
    let bad = |detail: String| ZfsError::parse(Tool::Zfs, &args, detail, &ret.to_string());
    let entries = program::lua_array(&ret, chunk.len()).map_err(bad)?;
    chunk
        .iter()
        .zip(entries)
        .map(|(ds, e)| {
            let e = e.ok_or_else(|| bad(format!("no entry for {ds}")))?;
            decode(ds, e).map_err(|m| bad(format!("{ds}: {m}")))
        })
        .collect()
}

/// Decodes one dataset's entry (shape documented in `lua/inventory.lua`).
fn decode(ds: &Dataset, e: &Value) -> Result<DatasetState, String> {
    let exists = match e.get("x").and_then(Value::as_i64) {
        Some(0) => false,
        Some(1) => true,
        other => return Err(format!("bad existence flag {other:?}")),
    };
    let mut state = DatasetState {
        dataset: ds.clone(),
        exists,
        running: None,
        nosnap: false,
        snapshots: vec![],
        bookmarks: vec![],
        foreign_snapshots: 0,
    };
    if !exists {
        return Ok(state);
    }
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
        state.nosnap = unhex(n)? == "nosnap";
    }
    state.foreign_snapshots = e
        .get("f")
        .and_then(Value::as_u64)
        .ok_or("missing foreign count")?;
    for line in e
        .get("s")
        .and_then(Value::as_str)
        .ok_or("missing snapshot list")?
        .lines()
    {
        let f: Vec<&str> = line.split(' ').collect();
        let [name, txg, creation, refs, clones] = f[..] else {
            return Err(format!("bad snapshot line {line:?}"));
        };
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| format!("bad number {s:?} in {line:?}"))
        };
        state.snapshots.push(SnapshotInfo {
            name: name.to_string(),
            createtxg: num(txg)?,
            creation: creation
                .parse()
                .map_err(|_| format!("bad creation in {line:?}"))?,
            userrefs: num(refs)?,
            clones: num(clones)?,
        });
    }
    state
        .snapshots
        .sort_by(|a, b| (a.createtxg, &a.name).cmp(&(b.createtxg, &b.name)));
    for name in e
        .get("b")
        .and_then(Value::as_str)
        .ok_or("missing bookmark list")?
        .lines()
    {
        // createtxg/creation: from the snapshot of the same name while it exists; otherwise
        // filled in by `fill_bookmark_txgs` (a bookmark's txg is its snapshot's).
        let snap = state.snapshots.iter().find(|s| s.name == name);
        state.bookmarks.push(BookmarkInfo {
            name: name.to_string(),
            createtxg: snap.map_or(0, |s| s.createtxg),
            creation: snap.map_or(0, |s| s.creation),
        });
    }
    Ok(state)
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
    for s in states.values_mut() {
        s.bookmarks
            .sort_by(|a, b| (a.createtxg, &a.name).cmp(&(b.createtxg, &b.name)));
    }
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
    fn decode_full_entry() {
        let e = json!({
            "x": 1, "r": "70766531", "rs": "$recvd", "n": "6e6f736e6170", "f": 3,
            "s": "autosnap_b 20 200 1 0\nautosnap_a 10 100 0 2",
            "b": "autosnap_a\nautosnap_old"
        });
        let s = decode(&ds("tank/vm-1-disk-0"), &e).unwrap();
        assert!(s.exists && s.nosnap);
        assert_eq!(
            s.running,
            Some(PropValue {
                value: "pve1".into(),
                source: PropSource::Received
            })
        );
        assert_eq!(s.foreign_snapshots, 3);
        assert_eq!(
            s.snapshots
                .iter()
                .map(|x| x.name.as_str())
                .collect::<Vec<_>>(),
            ["autosnap_a", "autosnap_b"]
        );
        assert_eq!((s.snapshots[0].clones, s.snapshots[1].userrefs), (2, 1));
        assert_eq!(
            (s.bookmarks[0].createtxg, s.bookmarks[1].createtxg),
            (10, 0)
        );
    }

    #[test]
    fn decode_sources_and_missing() {
        let d = ds("tank/a");
        let local = decode(
            &d,
            &json!({"x":1,"r":"78","rs":"tank/a","f":0,"s":"","b":""}),
        )
        .unwrap();
        assert_eq!(local.running.unwrap().source, PropSource::Local);
        let inh = decode(&d, &json!({"x":1,"r":"78","rs":"tank","f":0,"s":"","b":""})).unwrap();
        assert_eq!(
            inh.running.unwrap().source,
            PropSource::Inherited("tank".into())
        );
        let gone = decode(&d, &json!({"x":0})).unwrap();
        assert!(!gone.exists && gone.snapshots.is_empty());
        for bad in [
            json!({"x": 2}),
            json!({"x":1,"f":0,"s":"a b","b":""}),
            json!({"x":1,"r":"7","rs":"tank","f":0,"s":"","b":""}),
        ] {
            assert!(decode(&d, &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn chunk_size_follows_the_model() {
        let m = CostModel {
            instr_per_dataset: 1000,
            instr_per_snapshot: 100,
            mem_per_snapshot: 10,
            mem_per_dataset: 10,
        };
        // 10M / 4 / (1000 + 100*150) = 156
        assert_eq!(chunk_size(&m, 150), 156);
        assert!(chunk_size(&m, 1_000_000_000) >= 1);
        let memory_bound = CostModel {
            mem_per_snapshot: 10_000,
            ..m
        };
        assert_eq!(
            chunk_size(&memory_bound, 100),
            (DEFAULT_MEM_LIMIT / 4 / (10 + 1_000_000)) as usize
        );
    }
}
