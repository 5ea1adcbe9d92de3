//! Applies one pool's changes in two phases (docs/ARCHITECTURE.md, "Apply in two phases per pool"):
//! `lua/apply.lua` makes the label changes, snapshots and bookmarks in one sync program, one
//! transaction group; then `lua/destroy.lua` destroys snapshots in as many programs as the
//! argv and instruction/memory limits require, and bookmark destroys go through
//! `zfs destroy ds#bm` (no released OpenZFS can destroy a bookmark inside a channel program).
//! No destroy can block or fail a snapshot.
//!
//! Executes the plan's own [`Change`]s, grouped per guest ([`Group`]), and returns their
//! [`Outcome`]s in the same shape; it decides nothing but how to split the work and which
//! destroys the failure of a snapshot makes unsafe. Names are validated types, so nothing
//! that reaches `zfs` here can be empty or malformed. It never prints.
//!
//! Layout: this file holds the result, the cost model and [`apply_pool`], which runs the
//! phases in order; `budget.rs` sizes programs; `wire.rs` is the argv and result format of
//! the two programs; `phase1.rs` runs the snapshot programs; `phase2.rs` picks the destroys
//! that may run and runs them.

use super::error::{FailureKind, ZfsError};
use super::exec::Exec;
use crate::change::{Change, Group, Outcome};
use crate::naming::{Dataset, SnapName};

mod budget;
mod phase1;
mod phase2;
mod wire;

use wire::Chains;
pub use wire::{encode, encode_destroys};

/// The result of applying one pool's groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Per group, per change: what happened (same shape as the input).
    pub outcomes: Vec<Vec<Outcome>>,
    /// The createtxg of the snapshots made by the first phase-1 program that made any (all
    /// snapshots share it unless phase 1 had to be split: see `snapshot_txgs`).
    pub txg: Option<u64>,
    /// Processes spawned for this pool (programs plus one per bookmark destroy).
    pub commands: u64,
    /// Per watched dataset: its `snapshots_changed` before the first and after the last
    /// program that touched it (`None` when it does not exist, no program reported it, one
    /// failed, or someone else changed it between two of our programs).
    pub changed: Vec<Watched>,
    /// The snapshots made in the `txg` transaction group, with their creation, as the program
    /// read them right after making them: what the next inventory would otherwise read again.
    pub created: Vec<(Dataset, SnapName, i64)>,
    /// Phase-1 programs run (labels, snapshots, bookmarks): 1 unless the pool's phase 1 did
    /// not fit one program's argv or instruction/memory budget (thousands of disks).
    pub snapshot_programs: u64,
    /// The createtxg of each phase-1 program that made snapshots, in order.
    pub snapshot_txgs: Vec<u64>,
    /// Phase-2 programs run (`destroy.lua`), retries after an instruction or memory limit
    /// included (a command line the kernel refused is not counted).
    pub destroy_programs: u64,
    /// Programs (or bookmark destroys) that failed as a whole without failing the pool, one
    /// message each: their changes are reported `Failed`.
    pub program_errors: Vec<String>,
}

pub use super::snapcache::Watched;

/// What one item costs a sync program in instructions and peak Lua memory (bytes), from
/// `zfs::cost`'s measurements on the emulator, rounded up; its tests fail if a shipped program
/// outgrows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemCost {
    /// Lua instructions.
    pub instr: u64,
    /// Bytes of Lua memory.
    pub mem: u64,
}

/// `apply.lua`, per argv item (`K`, `C`, `G`, `P`, `S`, `B`), fixed overhead included:
/// measured 52 instructions and 225 bytes per item on 2,000 groups of a snapshot and its
/// bookmark (the argv strings themselves are most of the memory), 235 bytes on 500 groups,
/// 461 on 40 (`zfs::cost`). With this model 2,000 disks (`K`, and `G`, `P`, `S`, `B`, `C`
/// each: a first run, labels included) take 40% of `-t`/4 and 95% of `-m`/4: one program.
pub const APPLY_ITEM_COST: ItemCost = ItemCost {
    instr: 100,
    mem: 250,
};

/// `destroy.lua`, per argv token (a snapshot name, a `<dataset>@`, a watched dataset), fixed
/// overhead included: measured 55 instructions and 70 bytes per token on 200 datasets × 150
/// destroys, 91 bytes on 100 × 100, 259 on 10 × 30 (`zfs::cost`).
pub const DESTROY_ITEM_COST: ItemCost = ItemCost {
    instr: 80,
    mem: 120,
};

/// The share of `-t`/`-m` one sync program may plan to use: a quarter, as for the read-only
/// programs (the emulator's Lua 5.4 is not the kernel's 5.2 to the instruction).
pub const BUDGET_DIVISOR: u64 = super::inventory::BUDGET_DIVISOR;

/// Snapshot destroys one `destroy.lua` program may do. A sync program holds the pool's
/// transaction group while it runs and the instruction limit bounds only its Lua work, not
/// the kernel's work per destroy: bounding the count bounds how long one program stalls the
/// pool's txg sync (the read-only programs' [`super::inventory::SNAPSHOTS_PER_CALL`] has the
/// same reason).
pub const DESTROYS_PER_PROGRAM: usize = 10_000;

/// Where a change sits: (group, change) indexes into the groups.
type At = (usize, usize);

/// What the phases of one pool's apply share: the input, the outcomes so far (same shape as
/// the groups; `None` until decided), the `snapshots_changed` chains, and the result.
struct Apply<'a> {
    exec: &'a dyn Exec,
    pool: &'a str,
    groups: &'a [Group],
    watch: &'a [Dataset],
    outcomes: Vec<Vec<Option<Outcome>>>,
    chains: Chains,
    applied: Applied,
}

impl<'a> Apply<'a> {
    fn new(exec: &'a dyn Exec, pool: &'a str, groups: &'a [Group], watch: &'a [Dataset]) -> Self {
        Apply {
            exec,
            pool,
            groups,
            watch,
            outcomes: groups.iter().map(|g| vec![None; g.changes.len()]).collect(),
            chains: Chains::default(),
            applied: Applied {
                outcomes: Vec::new(),
                txg: None,
                commands: 0,
                changed: Vec::new(),
                created: Vec::new(),
                snapshot_programs: 0,
                snapshot_txgs: Vec::new(),
                destroy_programs: 0,
                program_errors: Vec::new(),
            },
        }
    }

    /// The change at `at`.
    fn change(&self, (gi, k): At) -> &'a Change {
        &self.groups[gi].changes[k]
    }

    fn set(&mut self, (gi, k): At, o: Outcome) {
        self.outcomes[gi][k] = Some(o);
    }

    /// The result: every change not reached is failed as not attempted (`hung`: because a
    /// program timed out), and the commands spawned since `before`.
    fn finish(self, before: u64, hung: bool) -> Applied {
        let mut applied = self.applied;
        let not_attempted = if hung {
            "not attempted: zfs timed out"
        } else {
            "not attempted"
        };
        applied.outcomes = self
            .outcomes
            .into_iter()
            .map(|per| {
                per.into_iter()
                    .map(|o| o.unwrap_or_else(|| Outcome::Failed(not_attempted.into())))
                    .collect()
            })
            .collect();
        applied.changed = if self.watch.is_empty() {
            Vec::new()
        } else {
            self.chains.finish(self.watch)
        };
        applied.commands = self.exec.commands_run() - before;
        applied
    }
}

/// Applies `groups` on `pool` in two phases (docs/ARCHITECTURE.md, "Apply in two phases per pool"):
///
/// 1. one `apply.lua` program with every label change, snapshot and bookmark (all-or-nothing
///    per group): one transaction group. Split by groups into as few programs as the argv
///    and instruction/memory budgets allow only when one cannot carry them
///    (`Applied::snapshot_programs`).
/// 2. the snapshot destroys, in as many `destroy.lua` programs as the budgets require, then
///    the bookmark destroys (`zfs destroy ds#bm`; no released OpenZFS can destroy a bookmark
///    in a channel program), each best effort. A destroy runs only if its group's label and
///    snapshot changes all succeeded and its dataset's planned snapshot was made: the plan
///    counted on the new snapshot being the newest. When they failed only with ENOSPC, the
///    destroys run (they free the space), except the newest of a dataset where the plan keeps
///    no other snapshot of ours ([`Group::keeps`]): that one is kept, so a disk never loses
///    its last snapshot. A failed destroy program reports its changes as failed; it never
///    undoes or blocks phase 1.
///
/// The programs also report `snapshots_changed` of the datasets in `watch` (OpenZFS >= 2.2
/// only: pass none on older modules). `Err` when phase 1 failed as a whole (every phase-1
/// program failed, or one timed out): the pool's state is then unknown.
pub fn apply_pool(
    exec: &dyn Exec,
    pool: &str,
    groups: &[Group],
    watch: &[Dataset],
) -> Result<Applied, ZfsError> {
    let before = exec.commands_run();
    let mut apply = Apply::new(exec, pool, groups, watch);
    phase1::run(&mut apply)?;
    let (snapshots, bookmarks) = phase2::select(&mut apply);
    // A timeout may mean a hung pool: the rest of the pool's destroys are not attempted.
    let hung = phase2::destroy_snapshots(&mut apply, &snapshots)
        || phase2::destroy_bookmarks(&mut apply, &bookmarks);
    Ok(apply.finish(before, hung))
}

/// Short text for a change of a program that failed as a whole.
fn failed_program(e: &ZfsError) -> Outcome {
    Outcome::Failed(match e.kind() {
        Some(FailureKind::TimedOut) => "timed out".to_string(),
        Some(k) => format!("program failed ({k:?})"),
        None => "program failed".to_string(),
    })
}

#[cfg(test)]
mod tests;

/// The shipped `apply.lua` on the emulator: every failure path of a pool's apply.
#[cfg(test)]
mod emulated;

/// The two phases at scale and under failure: argv limits, split programs, failing and hung
/// destroy programs, `snapshots_changed` across programs.
#[cfg(test)]
mod phases;
