//! How much one sync program may carry: the argv bytes `exec` admits, and a share of the
//! default instruction and memory limits at a measured cost per item. Sizes only; runs
//! nothing.

use super::super::exec::{ArgLimits, Exec};
use super::super::program::{DEFAULT_INSTR_LIMIT, DEFAULT_MEM_LIMIT, ProgramOpts, program_argv};
use super::{BUDGET_DIVISOR, ItemCost};

/// The budgets a program's tokens must fit in.
#[derive(Clone, Copy, Debug)]
pub(super) struct Budget {
    /// Bytes of argument tokens ([`ArgLimits::arg_cost`]).
    bytes: usize,
    /// Items at this cost.
    cost: ItemCost,
    /// Lua instructions.
    instr: u64,
    /// Bytes of Lua memory.
    mem: u64,
    /// Largest number of counted units (destroys), if bounded.
    units: usize,
}

impl Budget {
    /// Budgets for a program on `pool` with the default `-t`/`-m` and `exec`'s argv limits.
    pub(super) fn new(exec: &dyn Exec, pool: &str, cost: ItemCost, units: usize) -> Budget {
        let fixed: usize = program_argv(pool, &ProgramOpts::default(), &[])
            .iter()
            .map(|a| ArgLimits::arg_cost(a))
            .sum();
        Budget {
            bytes: exec.arg_limits().budget().saturating_sub(fixed),
            cost,
            instr: DEFAULT_INSTR_LIMIT / BUDGET_DIVISOR,
            mem: DEFAULT_MEM_LIMIT / BUDGET_DIVISOR,
            units,
        }
    }
}

/// What a chunk being filled uses so far.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Fill {
    /// Bytes of argument tokens.
    pub(super) bytes: usize,
    /// Items at the budget's cost.
    pub(super) items: u64,
    /// Counted units (destroys).
    pub(super) units: usize,
}

impl Fill {
    /// True when `more` (bytes, items, units) still fits `b` (an empty chunk takes anything:
    /// a single oversized piece is tried, and fails on its own).
    pub(super) fn fits(&self, b: &Budget, more: Fill) -> bool {
        if self.items == 0 && self.units == 0 {
            return true;
        }
        let items = self.items + more.items;
        self.bytes + more.bytes <= b.bytes
            && items * b.cost.instr <= b.instr
            && items * b.cost.mem <= b.mem
            && self.units + more.units <= b.units
    }

    pub(super) fn add(&mut self, more: Fill) {
        self.bytes += more.bytes;
        self.items += more.items;
        self.units += more.units;
    }
}

/// Bytes of `tokens` as argv strings.
pub(super) fn token_bytes(tokens: &[String]) -> usize {
    tokens.iter().map(|t| ArgLimits::arg_cost(t)).sum()
}
