//! How big each read-only program call may be: the measured cost models of `inventory.lua`
//! and `snapinfo.lua`, the limits the calls run with ([`ReadLimits`], from the module
//! parameters under the host root), and the chunk sizes that keep a call within a quarter of
//! those limits and within the per-call snapshot budget. Also what counts as "hit a limit"
//! (the caller then splits the call and retries).
//!
//! Arithmetic only, apart from reading two module parameters: runs no program, knows nothing
//! of the cache or of what a program returns.

use crate::zfs::error::{FailureKind, ZfsError};
use crate::zfs::program::{
    DEFAULT_INSTR_LIMIT, DEFAULT_MEM_LIMIT, MAX_INSTR_LIMIT, MAX_MEM_LIMIT, ProgramOpts,
};
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

    /// The program options of a read-only call within these limits.
    pub(super) fn opts(&self) -> ProgramOpts {
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
    pub fn for_host(root: &Path, version: crate::zfs::version::ZfsVersion) -> ReadSetup {
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

/// The call hit the instruction, memory or output limit: splitting it may get through.
pub(super) fn is_limit(e: &ZfsError) -> bool {
    matches!(
        e.kind(),
        Some(
            FailureKind::InstructionLimit | FailureKind::MemoryLimit | FailureKind::OutputTooLarge
        )
    )
}
