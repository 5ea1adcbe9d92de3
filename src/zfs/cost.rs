//! Measures what the shipped programs cost (instructions, peak Lua memory, output size) on
//! the emulator, on pools shaped like a large PVE node. Used by `benches/programs.rs` to print
//! the figures and by the test that keeps [`super::inventory::MEASURED`] honest.
//!
//! The emulator runs Lua 5.4, the kernel a modified Lua 5.2: instruction counts agree in
//! magnitude, not to the instruction; the model keeps a 4× margin (`BUDGET_DIVISOR`).

use super::apply::{ItemCost, encode, encode_destroys};
use super::exec::ArgLimits;
use super::program::{APPLY, DESTROY, INVENTORY, SNAPINFO};
use crate::change::{Change, Group};
use crate::naming::{Dataset, SnapName};
use zfs_emu::{ProgramOutcome, ProgramRequest, Version, World};

/// A pool of `datasets` zvols, each with `ours` snapshots named like ours (one txg each, as
/// 15-minute runs make them), `foreign` other snapshots and `bookmarks` bookmarks of ours.
pub fn build_pool(
    datasets: usize,
    ours: usize,
    foreign: usize,
    bookmarks: usize,
) -> (World, Vec<Dataset>) {
    let mut w = World::new(Version::new(2, 3, 2));
    w.set_seed(1);
    w.create_pool("tank").expect("pool");
    w.create_dataset("tank/data", None, false).expect("parent");
    let names: Vec<Dataset> = (0..datasets)
        .map(|i| {
            Dataset::new(&format!("tank/data/vm-{}-disk-{}", 100 + i / 2, i % 2)).expect("valid")
        })
        .collect();
    for d in &names {
        w.create_dataset(d.as_str(), Some(1 << 30), false)
            .expect("zvol");
        w.set_user_prop(d.as_str(), "label:running", "pve1")
            .expect("label");
    }
    let t0: i64 = 1_790_000_000;
    for k in 0..ours.max(foreign) {
        w.set_clock(t0 + 900 * k as i64);
        let stamp = chrono::DateTime::from_timestamp(t0 + 900 * k as i64, 0)
            .expect("time")
            .format("%Y-%m-%d_%H:%M:%S");
        for d in &names {
            if k < ours {
                let snap = format!("{d}@autosnap_{stamp}_hourly");
                w.snapshot(&snap).expect("snapshot");
                if k < bookmarks {
                    w.bookmark(&snap, &format!("{d}#autosnap_{stamp}_hourly"))
                        .expect("bookmark");
                }
            }
            if k < foreign {
                w.snapshot(&format!(
                    "{d}@__replicate_{}-0_{}__",
                    d.leaf(),
                    t0 + k as i64
                ))
                .expect("foreign");
            }
        }
    }
    (w, names)
}

/// Runs `inventory.lua` over `datasets` read-only with the default limits.
pub fn run_inventory(w: &mut World, datasets: &[Dataset]) -> ProgramOutcome {
    run_read_only(
        w,
        INVENTORY.source,
        datasets.iter().map(|d| d.to_string()).collect(),
        None,
    )
}

/// Runs a read-only program with `argv`, under `limits` (`(instructions, bytes)`) or the
/// defaults.
pub fn run_read_only(
    w: &mut World,
    source: &str,
    argv: Vec<String>,
    limits: Option<(u64, u64)>,
) -> ProgramOutcome {
    let mut req = ProgramRequest::new("tank", source, &[]);
    req.argv = argv;
    req.sync = false;
    if let Some((i, m)) = limits {
        req.instr_limit = i;
        req.mem_limit = m;
    }
    w.run_program(&req)
}

/// Runs `snapinfo.lua` read-only with the default limits, reading every snapshot of ours of
/// `datasets` (`*`: a cold cache).
pub fn run_snapinfo(w: &mut World, datasets: &[Dataset]) -> ProgramOutcome {
    let argv = datasets
        .iter()
        .flat_map(|d| [d.to_string(), "*".to_string()])
        .collect();
    run_read_only(w, SNAPINFO.source, argv, None)
}

/// Phase-1 groups for `datasets`: per dataset a group with a new snapshot and its bookmark,
/// both named `name` (one of ours: panics otherwise).
pub fn snapshot_groups(datasets: &[Dataset], name: &str) -> Vec<Group> {
    let name = SnapName::parse(name).expect("a snapshot name of ours");
    datasets
        .iter()
        .map(|d| Group {
            key: d.leaf().to_string(),
            keeps: vec![],
            changes: vec![
                Change::Snapshot {
                    dataset: d.clone(),
                    name,
                },
                Change::Bookmark {
                    dataset: d.clone(),
                    name,
                },
            ],
        })
        .collect()
}

/// Runs `apply.lua` (phase 1) with, per dataset, a new snapshot and its bookmark, watching
/// every dataset; returns the outcome, the argv bytes and the argv items.
pub fn run_apply(w: &mut World, datasets: &[Dataset]) -> (ProgramOutcome, usize, u64) {
    let groups = snapshot_groups(datasets, "autosnap_2030-01-01_00:00:00_daily");
    let argv = encode(&groups, datasets);
    let bytes = argv.iter().map(|a| ArgLimits::arg_cost(a)).sum();
    // K, a C per dataset, and a G, an S and a B per group.
    let items = 1 + 4 * datasets.len() as u64;
    let mut req = ProgramRequest::new("tank", APPLY.source, &[]);
    req.argv = argv;
    (w.run_program(&req), bytes, items)
}

/// Runs `destroy.lua` destroying the `oldest` snapshots of every dataset, watching every
/// dataset; returns the outcome, the argv bytes and the argv tokens.
pub fn run_destroys(
    w: &mut World,
    datasets: &[Dataset],
    oldest: &[String],
) -> (ProgramOutcome, usize, u64) {
    let snaps: Vec<(&Dataset, &str)> = datasets
        .iter()
        .flat_map(|d| oldest.iter().map(move |n| (d, n.as_str())))
        .collect();
    let argv = encode_destroys(&snaps, datasets);
    let bytes = argv.iter().map(|a| ArgLimits::arg_cost(a)).sum();
    let items = argv.len() as u64;
    let mut req = ProgramRequest::new("tank", DESTROY.source, &[]);
    req.argv = argv;
    (w.run_program(&req), bytes, items)
}

/// Per-item cost of `apply.lua` (phase 1), measured on `n` datasets: the whole program's
/// instructions and peak memory divided by its items, fixed overhead included.
pub fn measure_apply_cost(n: usize) -> ItemCost {
    let (mut w, names) = build_pool(n, 1, 0, 0);
    let (out, _, items) = run_apply(&mut w, &names);
    assert_eq!(out.exit_code, 0, "{}", out.stderr);
    ItemCost {
        instr: out.instructions.div_ceil(items),
        mem: out.memory_peak.div_ceil(items),
    }
}

/// Per-token cost of `destroy.lua`, measured destroying `per` snapshots on each of `n`
/// datasets, fixed overhead included.
pub fn measure_destroy_cost(n: usize, per: usize) -> ItemCost {
    let (mut w, names) = build_pool(n, per + 1, 0, 0);
    let (out, _, items) = run_destroys(&mut w, &names, &oldest_names(per));
    assert_eq!(out.exit_code, 0, "{}", out.stderr);
    assert!(
        !out.stdout.contains("E"),
        "every destroy done: {}",
        out.stdout
    );
    ItemCost {
        instr: out.instructions.div_ceil(items),
        mem: out.memory_peak.div_ceil(items),
    }
}

/// Names of the oldest `n` snapshots of ours that `build_pool` makes.
pub fn oldest_names(n: usize) -> Vec<String> {
    let t0: i64 = 1_790_000_000;
    (0..n)
        .map(|k| {
            let stamp = chrono::DateTime::from_timestamp(t0 + 900 * k as i64, 0)
                .expect("time")
                .format("%Y-%m-%d_%H:%M:%S");
            format!("autosnap_{stamp}_hourly")
        })
        .collect()
}

/// Per-dataset and per-snapshot cost of `inventory.lua`, from two measured runs over `n`
/// datasets: one without snapshots and one with `snaps` snapshots of ours each.
pub fn measure_inventory_model(n: usize, snaps: usize) -> super::inventory::CostModel {
    measure_model(n, snaps, run_inventory)
}

/// The same for `snapinfo.lua` reading every snapshot (`*`).
pub fn measure_snapinfo_model(n: usize, snaps: usize) -> super::inventory::CostModel {
    measure_model(n, snaps, run_snapinfo)
}

fn measure_model(
    n: usize,
    snaps: usize,
    run: fn(&mut World, &[Dataset]) -> ProgramOutcome,
) -> super::inventory::CostModel {
    let (mut empty, names) = build_pool(n, 0, 0, 0);
    let a = run(&mut empty, &names);
    let (mut full, names) = build_pool(n, snaps, 0, 0);
    let b = run(&mut full, &names);
    assert_eq!(
        (a.exit_code, b.exit_code),
        (0, 0),
        "{} {}",
        a.stderr,
        b.stderr
    );
    let per = |total: u64, count: usize| total.div_ceil(count as u64);
    super::inventory::CostModel {
        instr_per_dataset: per(a.instructions, n),
        instr_per_snapshot: per(b.instructions.saturating_sub(a.instructions), n * snaps),
        mem_per_dataset: per(a.memory_peak, n),
        mem_per_snapshot: per(b.memory_peak.saturating_sub(a.memory_peak), n * snaps),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::inventory::{CostModel, MEASURED, MEASURED_SNAPINFO, ReadLimits, chunk_size};

    fn bounded(m: CostModel, shipped: CostModel) {
        assert!(
            m.instr_per_dataset <= shipped.instr_per_dataset
                && m.instr_per_snapshot <= shipped.instr_per_snapshot
                && m.mem_per_snapshot <= shipped.mem_per_snapshot
                && m.mem_per_dataset <= shipped.mem_per_dataset,
            "measured {m:?} vs shipped {shipped:?}"
        );
    }

    /// The shipped models must not under-state what the shipped programs cost: if a program
    /// becomes more expensive, this fails until its model is re-measured.
    #[test]
    fn measured_models_bound_the_shipped_programs() {
        bounded(measure_inventory_model(20, 30), MEASURED);
        bounded(measure_snapinfo_model(20, 30), MEASURED_SNAPINFO);
    }

    /// A chunk sized by the model really fits in a quarter of the limits.
    #[test]
    fn a_model_sized_chunk_fits_well_inside_the_limits() {
        let snaps = 40;
        for (model, run) in [
            (
                MEASURED,
                run_inventory as fn(&mut World, &[Dataset]) -> ProgramOutcome,
            ),
            (MEASURED_SNAPINFO, run_snapinfo),
        ] {
            let size = chunk_size(&model, &ReadLimits::DEFAULT, snaps as u64).min(150);
            let (mut w, names) = build_pool(size, snaps, 5, 10);
            let out = run(&mut w, &names);
            assert_eq!(out.exit_code, 0, "{}", out.stderr);
            assert!(
                out.instructions * 4 <= crate::zfs::program::DEFAULT_INSTR_LIMIT,
                "{} instructions for {size} datasets",
                out.instructions
            );
            assert!(
                out.memory_peak * 4 <= crate::zfs::program::DEFAULT_MEM_LIMIT,
                "{} bytes peak for {size} datasets",
                out.memory_peak
            );
        }
    }

    /// The sync programs' item costs must not under-state what they cost: the apply splits
    /// its work by them.
    #[test]
    fn measured_item_costs_bound_the_sync_programs() {
        use crate::zfs::apply::{APPLY_ITEM_COST, DESTROY_ITEM_COST};
        for (what, m, shipped) in [
            ("apply.lua", measure_apply_cost(500), APPLY_ITEM_COST),
            (
                "destroy.lua",
                measure_destroy_cost(100, 100),
                DESTROY_ITEM_COST,
            ),
        ] {
            assert!(
                m.instr <= shipped.instr && m.mem <= shipped.mem,
                "{what}: measured {m:?} vs shipped {shipped:?}"
            );
        }
    }

    #[test]
    #[ignore = "prints the measured models: cargo test --release print_models -- --ignored --nocapture"]
    #[allow(clippy::print_stdout)]
    fn print_models() {
        println!("inventory {:?}", measure_inventory_model(100, 150));
        println!("snapinfo  {:?}", measure_snapinfo_model(100, 150));
        for n in [40, 500, 2_000] {
            println!("apply.lua on {n}: {:?}", measure_apply_cost(n));
        }
        for (n, per) in [(10, 30), (100, 100), (200, 150)] {
            println!(
                "destroy.lua on {n} x {per}: {:?}",
                measure_destroy_cost(n, per)
            );
        }
    }
}
