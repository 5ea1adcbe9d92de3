//! Phase 2: the destroys, after phase 1 and never able to undo or block it. Picks the ones
//! that may run, runs the snapshot destroys in `destroy.lua` programs sized to the budgets
//! (halving a program the kernel or the limits refused), then each bookmark destroy with
//! `zfs destroy ds#bm`. Each is best effort.

use super::super::error::{FailureKind, ZfsError};
use super::super::exec::{ArgLimits, Exec, Tool};
use super::super::program::{self, DESTROY, ProgramOpts};
use super::budget::{Budget, Fill};
use super::wire::{changed_of, encode_destroys, result_tokens};
use super::{Apply, At, DESTROY_ITEM_COST, DESTROYS_PER_PROGRAM, Watched, failed_program};
use crate::change::{Change, Outcome};
use crate::naming::{Dataset, SnapName};
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::ops::Range;

/// Which destroys may run, as (snapshot destroys, bookmark destroys); the others are
/// dropped. None of a group whose labels or snapshots did not all succeed, none on a dataset
/// whose planned snapshot was not made (the plan counted on it being the newest) — except when
/// what failed was only for lack of space (ENOSPC, see [`short_of_space`]): then the destroys
/// are what frees the space, and they all run, except on a dataset where the plan keeps no
/// other snapshot of ours ([`Group::keeps`](crate::change::Group::keeps)): there the newest
/// destroy is held back ([`HELD_FOR_ENOSPC`]), since the snapshot that was to replace it was
/// not made and the disk must not lose its last one.
pub(super) fn select(a: &mut Apply) -> (Vec<At>, Vec<At>) {
    let ok = |o: &Option<Outcome>| o.as_ref() == Some(&Outcome::Ok);
    let short: Vec<bool> = a
        .groups
        .iter()
        .zip(&a.outcomes)
        .map(|(g, o)| short_of_space(g, o))
        .collect();
    let not_made: HashSet<&Dataset> = a
        .groups
        .iter()
        .zip(&a.outcomes)
        .flat_map(|(g, o)| g.changes.iter().zip(o))
        .filter_map(|(c, o)| match c {
            Change::Snapshot { dataset, .. } if !ok(o) => Some(dataset),
            _ => None,
        })
        .collect();
    let keeps: HashSet<&Dataset> = a.groups.iter().flat_map(|g| &g.keeps).collect();
    // Per dataset whose snapshot was not made for lack of space and where the plan keeps no
    // other snapshot of ours: its newest destroy, kept.
    let mut held_back: std::collections::HashMap<&Dataset, (&SnapName, At)> =
        std::collections::HashMap::new();
    for (gi, g) in a.groups.iter().enumerate() {
        if !short[gi] {
            continue;
        }
        for (k, c) in g.changes.iter().enumerate() {
            if let Change::Destroy { dataset, name } = c
                && not_made.contains(dataset)
                && !keeps.contains(dataset)
            {
                let e = held_back.entry(dataset).or_insert((name, (gi, k)));
                if name.to_string() > e.0.to_string() {
                    *e = (name, (gi, k));
                }
            }
        }
    }
    let held_back: HashSet<At> = held_back.into_values().map(|(_, at)| at).collect();
    let (mut snapshots, mut bookmarks, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
    let mut kept = Vec::new();
    for (gi, g) in a.groups.iter().enumerate() {
        let group_ok =
            g.changes.iter().zip(&a.outcomes[gi]).all(|(c, o)| {
                !matches!(c, Change::SetLabel { .. } | Change::Snapshot { .. }) || ok(o)
            });
        for (k, c) in g.changes.iter().enumerate() {
            let list = match c {
                Change::Destroy { .. } => &mut snapshots,
                Change::DestroyBookmark { .. } => &mut bookmarks,
                _ => continue,
            };
            let may = if short[gi] {
                if held_back.contains(&(gi, k)) {
                    kept.push((gi, k));
                    continue;
                }
                true
            } else {
                group_ok && !not_made.contains(c.dataset())
            };
            if may {
                list.push((gi, k));
            } else {
                dropped.push((gi, k));
            }
        }
    }
    for at in dropped {
        a.set(at, Outcome::Dropped);
    }
    for at in kept {
        a.set(at, Outcome::Kept(HELD_FOR_ENOSPC.into()));
    }
    (snapshots, bookmarks)
}

/// Why a destroy was held back by [`select`] (an [`Outcome::Kept`]: not a failure; a later
/// run that makes its snapshot destroys it).
pub const HELD_FOR_ENOSPC: &str = "the disk's only snapshot while the new one failed (ENOSPC)";

/// True when the group's labels and snapshots that did not succeed failed only for lack of
/// space: each is ENOSPC (at check or at sync) or dropped because another change of the group
/// was, and at least one is ENOSPC.
fn short_of_space(g: &crate::change::Group, outcomes: &[Option<Outcome>]) -> bool {
    let mut enospc = false;
    for (c, o) in g.changes.iter().zip(outcomes) {
        if !matches!(c, Change::SetLabel { .. } | Change::Snapshot { .. }) {
            continue;
        }
        match o {
            Some(Outcome::Ok) | Some(Outcome::Dropped) => {}
            Some(Outcome::CheckFailed(e) | Outcome::Failed(e)) if e == "ENOSPC" => enospc = true,
            _ => return false,
        }
    }
    enospc
}

/// Runs the snapshot destroys at `destroys`, in programs sized to the budgets. Returns true
/// when a program timed out (the pool may be hung: the rest are left not attempted).
pub(super) fn destroy_snapshots(a: &mut Apply, destroys: &[At]) -> bool {
    let named: Vec<(&Dataset, String)> = destroys
        .iter()
        .map(|&at| match a.change(at) {
            Change::Destroy { dataset, name } => (dataset, name.to_string()),
            _ => unreachable!("only snapshot destroys are selected"),
        })
        .collect();
    let watch: HashSet<&Dataset> = a.watch.iter().collect();
    let budget = Budget::new(a.exec, a.pool, DESTROY_ITEM_COST, DESTROYS_PER_PROGRAM);
    let mut queue: VecDeque<Range<usize>> = chunks(&named, &watch, &budget).into();
    while let Some(range) = queue.pop_front() {
        let part = &destroys[range.clone()];
        let snaps: Vec<(&Dataset, &str)> = named[range.clone()]
            .iter()
            .map(|(d, n)| (*d, n.as_str()))
            .collect();
        let mut w: Vec<Dataset> = Vec::new();
        for (d, _) in &snaps {
            if watch.contains(d) && !w.contains(d) {
                w.push((*d).clone());
            }
        }
        let argv = encode_destroys(&snaps, &w);
        a.applied.destroy_programs += 1;
        let result = program::run(a.exec, a.pool, &DESTROY, &argv, &ProgramOpts::default())
            .and_then(|ret| read(&argv, &ret, part.len(), &w));
        match result {
            Ok((results, changed)) => {
                for (&at, o) in part.iter().zip(results) {
                    a.set(at, o);
                }
                for (d, c) in changed {
                    a.chains.report(&d, c);
                }
            }
            // Nothing ran (too long), or the limits were hit (what ran stays done, and a
            // destroy of a snapshot already gone returns 0): halve and try again.
            Err(e) if part.len() > 1 && worth_halving(&e) => {
                if e.kind() == Some(FailureKind::ArgumentsTooLong) {
                    a.applied.destroy_programs -= 1; // it never started
                }
                let mid = range.start + part.len() / 2;
                queue.push_front(mid..range.end);
                queue.push_front(range.start..mid);
            }
            Err(e) => {
                let o = failed_program(&e);
                for &at in part {
                    a.set(at, o.clone());
                }
                for d in &w {
                    a.chains.broken(d);
                }
                a.applied.program_errors.push(e.to_string());
                if e.kind() == Some(FailureKind::TimedOut) {
                    return true;
                }
            }
        }
    }
    false
}

/// True for the failures a smaller program may not have: the command line was too long, or
/// a limit was hit.
fn worth_halving(e: &ZfsError) -> bool {
    matches!(
        e.kind(),
        Some(
            FailureKind::ArgumentsTooLong
                | FailureKind::InstructionLimit
                | FailureKind::MemoryLimit
                | FailureKind::OutputTooLarge
        )
    )
}

/// Consecutive ranges of `named` destroys, each within every budget: a destroy costs its
/// name, plus its `<dataset>@` token when it starts a run of its dataset in the chunk, plus a
/// watch entry the first time the chunk meets a watched dataset.
fn chunks(
    named: &[(&Dataset, String)],
    watch: &HashSet<&Dataset>,
    budget: &Budget,
) -> Vec<Range<usize>> {
    let mut chunks: Vec<Range<usize>> = Vec::new();
    let mut fill = Fill::default();
    let mut current: Option<&Dataset> = None;
    let mut chunk_watch: Vec<&Dataset> = Vec::new();
    for (n, (d, name)) in named.iter().enumerate() {
        let d: &Dataset = d;
        let cost = |current: Option<&Dataset>, chunk_watch: &[&Dataset]| {
            let starts = current != Some(d);
            let watched = watch.contains(d) && !chunk_watch.contains(&d);
            Fill {
                bytes: ArgLimits::arg_cost(name)
                    + if starts {
                        ArgLimits::arg_cost(d.as_str()) + 1
                    } else {
                        0
                    }
                    + if watched {
                        ArgLimits::arg_cost(d.as_str())
                    } else {
                        0
                    },
                items: 1 + u64::from(starts) + u64::from(watched),
                units: 1,
            }
        };
        if chunks.is_empty() || !fill.fits(budget, cost(current, &chunk_watch)) {
            chunks.push(n..n);
            current = None;
            chunk_watch.clear();
            fill = Fill {
                bytes: ArgLimits::arg_cost("@"),
                ..Fill::default()
            };
        }
        fill.add(cost(current, &chunk_watch));
        chunks.last_mut().expect("pushed").end = n + 1;
        if watch.contains(d) && !chunk_watch.contains(&d) {
            chunk_watch.push(d);
        }
        current = Some(d);
    }
    chunks
}

/// Reads what a `destroy.lua` program run with `argv` for `expected` snapshots returned.
fn read(
    argv: &[String],
    ret: &Value,
    expected: usize,
    watch: &[Dataset],
) -> Result<(Vec<Outcome>, Vec<Watched>), ZfsError> {
    let bad = |d: &str| ZfsError::parse(Tool::Zfs, argv, d.to_string(), &ret.to_string());
    let tokens = result_tokens(ret).ok_or_else(|| bad("no result string `r`"))?;
    if tokens.len() != expected {
        return Err(bad(&format!(
            "destroy.lua returned {} results for {expected} snapshots",
            tokens.len()
        )));
    }
    let changed = changed_of(ret, watch).map_err(|m| bad(&m))?;
    Ok((tokens, changed))
}

/// Runs the bookmark destroys at `bookmarks`, one `zfs destroy` each. Returns true when one
/// timed out (a hung pool: the rest are spared the same wait and left not attempted, that
/// one included).
pub(super) fn destroy_bookmarks(a: &mut Apply, bookmarks: &[At]) -> bool {
    for &at in bookmarks {
        let Change::DestroyBookmark { dataset, name } = a.change(at) else {
            unreachable!("only bookmark destroys are selected");
        };
        let o = match destroy_bookmark(a.exec, dataset, name) {
            Ok(o) => o,
            Err(e) => {
                a.applied.program_errors.push(e.to_string());
                if e.kind() == Some(FailureKind::TimedOut) {
                    return true;
                }
                failed_program(&e)
            }
        };
        a.set(at, o);
    }
    false
}

/// `zfs destroy dataset#name`. A bookmark that is already gone counts as done.
fn destroy_bookmark(
    exec: &dyn Exec,
    dataset: &Dataset,
    name: &SnapName,
) -> Result<Outcome, ZfsError> {
    let args = vec!["destroy".to_string(), format!("{dataset}#{name}")];
    let out = exec.run(Tool::Zfs, &args, None)?;
    Ok(if out.code == 0 || out.stderr.contains("does not exist") {
        Outcome::Ok
    } else {
        Outcome::Failed(out.stderr.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::sn;
    use super::*;
    use crate::change::Group;
    use crate::zfs::exec::Output;

    /// [`select`] decides from the outcomes alone: nothing may be spawned.
    struct NoProcess;
    impl Exec for NoProcess {
        fn run(&self, _: Tool, args: &[String], _: Option<&str>) -> Result<Output, ZfsError> {
            panic!("select spawned {args:?}")
        }
        fn commands_run(&self) -> u64 {
            0
        }
    }

    /// Issue 21: which destroys of a dataset run when its new snapshot failed, by what it
    /// failed with and whether the plan keeps another snapshot of ours there. A destroy held
    /// back says why and is not a failure.
    #[test]
    fn a_snapshot_short_of_space_holds_back_only_a_disks_last_snapshot() {
        let held = || Some(Outcome::Kept(HELD_FOR_ENOSPC.into()));
        let run = || None; // selected: phase 2 runs it
        #[allow(clippy::type_complexity)]
        let cases: [(&str, Outcome, &[&str], bool, Vec<Option<Outcome>>); 7] = [
            (
                "f2 steady state, full pool: the one expired snapshot is destroyed (another stays)",
                Outcome::CheckFailed("ENOSPC".into()),
                &["old1"],
                true,
                vec![run()],
            ),
            (
                "the same, ENOSPC at sync",
                Outcome::Failed("ENOSPC".into()),
                &["old1"],
                true,
                vec![run()],
            ),
            (
                "several expired, another stays: all destroyed",
                Outcome::CheckFailed("ENOSPC".into()),
                &["old1", "old2", "old"],
                true,
                vec![run(), run(), run()],
            ),
            (
                "f1: the only expired snapshot is the disk's last one: held back",
                Outcome::CheckFailed("ENOSPC".into()),
                &["old1"],
                false,
                vec![held()],
            ),
            (
                "every one expires: the newest held back, the older destroyed",
                Outcome::Failed("ENOSPC".into()),
                &["old1", "old2", "old"],
                false,
                vec![run(), run(), held()],
            ),
            (
                "another failure than ENOSPC: nothing destroyed, survivors or not",
                Outcome::CheckFailed("EIO".into()),
                &["old1", "old2"],
                true,
                vec![Some(Outcome::Dropped), Some(Outcome::Dropped)],
            ),
            (
                "snapshot made: every destroy runs",
                Outcome::Ok,
                &["old1", "old2"],
                false,
                vec![run(), run()],
            ),
        ];
        for (what, snap, destroys, keeps, want) in cases {
            let d = Dataset::new("tank/a").unwrap();
            let mut changes = vec![Change::Snapshot {
                dataset: d.clone(),
                name: sn("new"),
            }];
            changes.extend(destroys.iter().map(|t| Change::Destroy {
                dataset: d.clone(),
                name: sn(t),
            }));
            let groups = [Group {
                key: "100".into(),
                changes,
                keeps: if keeps { vec![d.clone()] } else { vec![] },
            }];
            let mut a = Apply::new(&NoProcess, "tank", &groups, &[]);
            a.set((0, 0), snap);
            let (selected, bookmarks) = select(&mut a);
            assert!(bookmarks.is_empty(), "{what}");
            for (k, w) in want.iter().enumerate() {
                let at = (0, k + 1);
                assert_eq!(&a.outcomes[0][k + 1], w, "{what}: {}", destroys[k]);
                assert_eq!(
                    selected.contains(&at),
                    w.is_none(),
                    "{what}: {}",
                    destroys[k]
                );
            }
        }
    }
}
