//! Phase 1: every label change, snapshot and bookmark of the pool in `apply.lua` programs
//! (all-or-nothing per group), as few as the budgets allow: one for any pool of up to
//! thousands of disks. Destroys never go here.

use super::super::error::{FailureKind, ZfsError};
use super::super::exec::{ArgLimits, Tool};
use super::super::program::{self, APPLY, ProgramOpts};
use super::budget::{Budget, Fill, token_bytes};
use super::wire::{changed_of, phase1_head, phase1_tokens, result_tokens};
use super::{APPLY_ITEM_COST, Apply, At, Watched, failed_program};
use crate::change::{Change, Group, Outcome};
use crate::naming::{Dataset, SnapName};
use serde_json::Value;
use std::collections::{HashSet, VecDeque};

/// Per group: its phase-1 tokens and the index of each change they carry.
type Encoded = (Vec<String>, Vec<usize>);

/// One phase-1 program's share: groups (by index) and the watched datasets they snapshot or
/// label.
struct Chunk {
    groups: Vec<usize>,
    watch: Vec<Dataset>,
}

/// Runs phase 1. `Err` when it failed as a whole: a program timed out, or every program
/// failed (the pool's state is then unknown).
pub(super) fn run(a: &mut Apply) -> Result<(), ZfsError> {
    let groups = a.groups;
    let encoded: Vec<Encoded> = groups.iter().map(phase1_tokens).collect();
    let watch: HashSet<&Dataset> = a.watch.iter().collect();
    let budget = Budget::new(a.exec, a.pool, APPLY_ITEM_COST, usize::MAX);
    let mut queue: VecDeque<Chunk> = chunks(groups, &encoded, &watch, &budget).into();
    let (mut ran, mut failed, mut first_err) = (0u64, 0u64, None);
    while let Some(chunk) = queue.pop_front() {
        let mut argv = phase1_head(&chunk.watch);
        for &gi in &chunk.groups {
            argv.extend(encoded[gi].0.iter().cloned());
        }
        a.applied.snapshot_programs += 1;
        let result = program::run(a.exec, a.pool, &APPLY, &argv, &ProgramOpts::default())
            .and_then(|ret| read(&argv, &ret, groups, &encoded, &chunk));
        match result {
            Ok(read) => {
                ran += 1;
                record(a, read);
            }
            // Nothing ran: split the chunk by groups and try again.
            Err(e) if e.kind() == Some(FailureKind::ArgumentsTooLong) && chunk.groups.len() > 1 => {
                a.applied.snapshot_programs -= 1;
                for part in halves(&chunk, groups, &watch) {
                    queue.push_front(part);
                }
            }
            Err(e) if e.kind() == Some(FailureKind::TimedOut) => return Err(e),
            Err(e) => {
                failed += 1;
                fail(a, &chunk, &encoded, &e);
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) if ran == 0 && failed > 0 => Err(e),
        _ => Ok(()),
    }
}

/// The watched datasets `g` labels or snapshots (their `before` can be read), in order.
fn watched_of(g: &Group, watch: &HashSet<&Dataset>) -> Vec<Dataset> {
    let mut out: Vec<Dataset> = Vec::new();
    for c in &g.changes {
        if matches!(c, Change::SetLabel { .. } | Change::Snapshot { .. })
            && watch.contains(c.dataset())
            && !out.contains(c.dataset())
        {
            out.push(c.dataset().clone());
        }
    }
    out
}

/// The groups with phase-1 changes, in order, packed into chunks that fit `budget`.
fn chunks(
    groups: &[Group],
    encoded: &[Encoded],
    watch: &HashSet<&Dataset>,
    budget: &Budget,
) -> Vec<Chunk> {
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut fill = Fill::default();
    for (gi, g) in groups.iter().enumerate() {
        let (tokens, at) = &encoded[gi];
        if at.is_empty() {
            continue;
        }
        let w = watched_of(g, watch);
        let more = Fill {
            bytes: token_bytes(tokens)
                + w.iter()
                    .map(|d| ArgLimits::arg_cost("C") + ArgLimits::arg_cost(d.as_str()))
                    .sum::<usize>(),
            items: (1 + at.len() + w.len()) as u64,
            units: 0,
        };
        match chunks.last_mut() {
            Some(c) if fill.fits(budget, more) => {
                c.groups.push(gi);
                for d in w {
                    if !c.watch.contains(&d) {
                        c.watch.push(d);
                    }
                }
            }
            _ => {
                chunks.push(Chunk {
                    groups: vec![gi],
                    watch: w,
                });
                fill = Fill {
                    bytes: ArgLimits::arg_cost("K"),
                    ..Fill::default()
                };
            }
        }
        fill.add(more);
    }
    chunks
}

/// `chunk` split by groups into two, each with the watched datasets of its own groups: the
/// second half first, so that pushing each to the front of the queue runs the first first.
fn halves(chunk: &Chunk, groups: &[Group], watch: &HashSet<&Dataset>) -> [Chunk; 2] {
    let (a, b) = chunk.groups.split_at(chunk.groups.len() / 2);
    [b, a].map(|part| Chunk {
        groups: part.to_vec(),
        watch: chunk
            .watch
            .iter()
            .filter(|d| {
                part.iter()
                    .any(|&gi| watched_of(&groups[gi], watch).contains(d))
            })
            .cloned()
            .collect(),
    })
}

/// What one phase-1 program did.
struct Read {
    outcomes: Vec<(At, Outcome)>,
    txg: Option<u64>,
    created: Vec<(Dataset, SnapName, i64)>,
    changed: Vec<Watched>,
}

/// Records what a program did: its outcomes, its txg (the first one's snapshots are the
/// `created` the cache can take), its `snapshots_changed`.
fn record(a: &mut Apply, read: Read) {
    for (at, o) in read.outcomes {
        a.set(at, o);
    }
    if let Some(t) = read.txg {
        a.applied.snapshot_txgs.push(t);
        if a.applied.txg.is_none() {
            a.applied.txg = Some(t);
            a.applied.created = read.created;
        }
    }
    for (d, c) in read.changed {
        a.chains.report(&d, c);
    }
}

/// A program that failed as a whole: every change it carried failed with it, and what it
/// watched is unknown.
fn fail(a: &mut Apply, chunk: &Chunk, encoded: &[Encoded], e: &ZfsError) {
    let o = failed_program(e);
    for &gi in &chunk.groups {
        for &k in &encoded[gi].1 {
            a.set((gi, k), o.clone());
        }
    }
    for d in &chunk.watch {
        a.chains.broken(d);
    }
    a.applied.program_errors.push(e.to_string());
}

/// Reads what the program run with `argv` for `chunk` returned (`ret`).
fn read(
    argv: &[String],
    ret: &Value,
    groups: &[Group],
    encoded: &[Encoded],
    chunk: &Chunk,
) -> Result<Read, ZfsError> {
    let bad = |d: &str| ZfsError::parse(Tool::Zfs, argv, d.to_string(), &ret.to_string());
    let tokens = result_tokens(ret).ok_or_else(|| bad("no result string `r`"))?;
    let expected: usize = chunk.groups.iter().map(|&gi| encoded[gi].1.len()).sum();
    if tokens.len() != expected {
        return Err(bad(&format!(
            "apply.lua returned {} results for {expected} items",
            tokens.len()
        )));
    }
    let mut tokens = tokens.into_iter();
    let mut outcomes = Vec::with_capacity(expected);
    let mut made: Vec<(&Dataset, &SnapName)> = Vec::new();
    for &gi in &chunk.groups {
        for &k in &encoded[gi].1 {
            if let Change::Snapshot { dataset, name } = &groups[gi].changes[k] {
                made.push((dataset, name));
            }
            outcomes.push(((gi, k), tokens.next().expect("count checked above")));
        }
    }
    let k = ret
        .get("k")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no creation string `k`"))?;
    let ks: Vec<&str> = k.split(' ').filter(|t| !t.is_empty()).collect();
    if ks.len() != made.len() {
        return Err(bad("creation entries do not match the snapshots"));
    }
    let mut created = Vec::new();
    for ((d, n), c) in made.into_iter().zip(ks) {
        if c != "-" {
            let c = c.parse().map_err(|_| bad("bad creation entry"))?;
            created.push((d.clone(), *n, c));
        }
    }
    Ok(Read {
        outcomes,
        txg: ret.get("t").and_then(Value::as_u64),
        created,
        changed: changed_of(ret, &chunk.watch).map_err(|m| bad(&m))?,
    })
}
