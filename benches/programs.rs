//! Benchmark (not a test): instruction counts, peak Lua memory and output size of the shipped
//! channel programs on the emulator for a large node (2,000 datasets × 150 snapshots), and the
//! chunk sizes and program counts the runner derives from them, under OpenZFS' default limits
//! and under the module maxima that read-only programs use on a node; and the two-phase
//! apply of a big retention cut (2,000 disks × 150 snapshots cut to `f4` in one run).
//! `cargo bench --bench programs` (everything) or `cargo bench --bench programs -- scale` (the
//! retention cut only).

use pve_zfs_snap::change::{Change, Outcome};
use pve_zfs_snap::naming::SnapName;
use pve_zfs_snap::zfs::apply::apply_pool;
use pve_zfs_snap::zfs::cost::{
    build_pool, measure_inventory_model, measure_snapinfo_model, oldest_names, run_apply,
    run_read_only, snapshot_groups,
};
use pve_zfs_snap::zfs::inventory::{
    ASSUMED_SNAPSHOTS, BUDGET_DIVISOR, CostModel, MEASURED, MEASURED_SNAPINFO, ReadLimits,
    chunk_size,
};
use pve_zfs_snap::zfs::program::{DEFAULT_INSTR_LIMIT, DEFAULT_MEM_LIMIT, INVENTORY, SNAPINFO};
use pve_zfs_snap::zfs::{Exec, InProcess};
use std::time::Instant;
use zfs_emu::ProgramOutcome;

const DATASETS: usize = 2_000;
const SNAPSHOTS: usize = 150;

fn pct(x: u64, limit: u64) -> String {
    format!("{:.1}%", 100.0 * x as f64 / limit as f64)
}

fn print_model(name: &str, m: &CostModel, shipped: &CostModel) {
    println!("{name} cost model measured on 100 datasets x 150 snapshots:");
    println!(
        "  per dataset : {:>6} instructions  {:>7} bytes",
        m.instr_per_dataset, m.mem_per_dataset
    );
    println!(
        "  per snapshot: {:>6} instructions  {:>7} bytes",
        m.instr_per_snapshot, m.mem_per_snapshot
    );
    println!("  shipped model: {shipped:?}");
}

/// One table row: a read-only program's cost against `limits`.
fn row(
    label: &str,
    name: &str,
    datasets: usize,
    out: &ProgramOutcome,
    limits: &ReadLimits,
    wall: f64,
) {
    let status = if out.exit_code == 0 {
        String::new()
    } else {
        format!(" FAILED: {}", out.stderr.lines().nth(1).unwrap_or(""))
    };
    println!(
        "| {label} | {name} | {datasets} | {} | {} | {} | {} | {} B | {wall:.2}s |{status}",
        out.instructions,
        pct(out.instructions, limits.instr),
        out.memory_peak,
        pct(out.memory_peak, limits.mem),
        out.stdout.len(),
    );
}

/// 2,000 disks × 150 snapshots of ours cut to `f4` in one run, through `apply_pool` on the
/// in-process emulator (production argv limits, default `-t`/`-m`): per disk a new snapshot,
/// its bookmark and 147 destroys (the 3 newest old ones and the new one stay).
fn scale_row() {
    let t = Instant::now();
    let (world, names) = build_pool(DATASETS, SNAPSHOTS, 0, 0);
    let built = t.elapsed().as_secs_f64();
    let oldest = oldest_names(SNAPSHOTS - 3);
    let mut groups = snapshot_groups(&names, "autosnap_2030-01-01_00:00:00_frequently");
    for (g, d) in groups.iter_mut().zip(&names) {
        g.changes.extend(oldest.iter().map(|n| Change::Destroy {
            dataset: d.clone(),
            name: SnapName::parse(n).expect("ours"),
        }));
    }
    let destroys = names.len() * oldest.len();
    let x = InProcess::new(world);
    let t = Instant::now();
    let applied = apply_pool(&x, "tank", &groups, &names).expect("apply");
    let wall = t.elapsed().as_secs_f64();
    let failed = applied
        .outcomes
        .iter()
        .flatten()
        .filter(|o| **o != Outcome::Ok)
        .count();
    let left: usize = {
        let w = x.world();
        names
            .iter()
            .map(|d| {
                w.pool("tank")
                    .and_then(|p| p.ds(d.as_str()))
                    .expect("ds")
                    .snapshots
                    .len()
            })
            .sum()
    };
    println!(
        "\nretention cut: {DATASETS} disks x {SNAPSHOTS} snapshots -> f4 (pool built in {built:.1}s)"
    );
    println!(
        "| disks | snapshots made | txgs of the snapshots | destroys | snapshot programs | destroy programs | zfs processes | items not ok | snapshots left per disk | wall |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {DATASETS} | {} | {} | {destroys} | {} | {} | {} | {failed} | {} | {wall:.2}s |",
        applied.created.len(),
        applied.snapshot_txgs.len(),
        applied.snapshot_programs,
        applied.destroy_programs,
        x.commands_run(),
        left as f64 / DATASETS as f64,
    );
}

fn main() {
    if std::env::args().any(|a| a == "scale") {
        scale_row();
        return;
    }
    let t = Instant::now();
    print_model(
        "inventory.lua",
        &measure_inventory_model(100, 150),
        &MEASURED,
    );
    print_model(
        "snapinfo.lua (*)",
        &measure_snapinfo_model(100, 150),
        &MEASURED_SNAPINFO,
    );

    println!(
        "building a pool of {DATASETS} zvols x {SNAPSHOTS} snapshots of ours + 10 foreign + 150 bookmarks ..."
    );
    let (mut world, names) = build_pool(DATASETS, SNAPSHOTS, 10, SNAPSHOTS);
    println!("  built in {:.1}s", t.elapsed().as_secs_f64());
    let newest = oldest_names(SNAPSHOTS).pop().expect("names");

    let max = ReadLimits::SHIPPED_MAX;
    println!(
        "\n| limits | program | datasets | instructions | % of -t | peak memory | % of -m | output | wall |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    // The snapshots_changed of every dataset, for the skipped-walk inventory (OpenZFS >= 2.2).
    let changed: Vec<String> = {
        let argv: Vec<String> = names.iter().map(|d| format!("{d}=0")).collect();
        let out = run_read_only(
            &mut world,
            INVENTORY.source,
            argv,
            Some((max.instr, max.mem)),
        );
        assert_eq!(out.exit_code, 0, "{}", out.stderr);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        (1..=names.len())
            .map(|i| v["return"][i.to_string()]["c"].to_string())
            .collect()
    };
    let mut counts = vec![];
    for (label, limits) in [("default", ReadLimits::DEFAULT), ("module max", max)] {
        let skip = chunk_size(&MEASURED, &limits, 1);
        let slice = &names[..skip.min(DATASETS)];
        let argv: Vec<String> = slice
            .iter()
            .zip(&changed)
            .map(|(d, c)| format!("{d}={c}"))
            .collect();
        let t = Instant::now();
        let out = run_read_only(
            &mut world,
            INVENTORY.source,
            argv,
            Some((limits.instr, limits.mem)),
        );
        assert!(
            out.exit_code == 0 && !out.stdout.contains("\"s\""),
            "every walk skipped"
        );
        row(
            label,
            "inventory.lua, unchanged (=<changed>: walk skipped)",
            slice.len(),
            &out,
            &limits,
            t.elapsed().as_secs_f64(),
        );
        let inv = chunk_size(&MEASURED, &limits, SNAPSHOTS as u64);
        let cold = chunk_size(&MEASURED_SNAPINFO, &limits, SNAPSHOTS as u64);
        let warm = chunk_size(&MEASURED_SNAPINFO, &limits, 1);
        let lim = (limits.instr, limits.mem);
        let runs: [(&str, &str, usize, bool); 3] = [
            ("inventory.lua", INVENTORY.source, inv, false),
            ("snapinfo.lua, cold (*)", SNAPINFO.source, cold, false),
            (
                "snapinfo.lua, warm (1 name each)",
                SNAPINFO.source,
                warm,
                true,
            ),
        ];
        for (name, source, size, one_name) in runs {
            let slice = &names[..size.min(DATASETS)];
            let argv: Vec<String> = if source == INVENTORY.source {
                slice.iter().map(|d| d.to_string()).collect()
            } else if one_name {
                slice
                    .iter()
                    .flat_map(|d| [d.to_string(), newest.clone()])
                    .collect()
            } else {
                slice
                    .iter()
                    .flat_map(|d| [d.to_string(), "*".to_string()])
                    .collect()
            };
            let t = Instant::now();
            let out = run_read_only(&mut world, source, argv, Some(lim));
            row(
                label,
                name,
                slice.len(),
                &out,
                &limits,
                t.elapsed().as_secs_f64(),
            );
        }
        counts.push((label, inv, cold, warm, skip));
    }
    let t = Instant::now();
    let (out, argv_bytes, _) = run_apply(&mut world, &names);
    println!(
        "| (sync) | apply (phase 1: snapshot+bookmark each, all watched) | {DATASETS} | {} | {} | {} | {} | {} B | {:.2}s |{}",
        out.instructions,
        pct(out.instructions, DEFAULT_INSTR_LIMIT),
        out.memory_peak,
        pct(out.memory_peak, DEFAULT_MEM_LIMIT),
        out.stdout.len(),
        t.elapsed().as_secs_f64(),
        if out.exit_code == 0 {
            String::new()
        } else {
            format!(" FAILED: {}", out.stderr)
        }
    );
    println!(
        "\napply argv: {argv_bytes} bytes for {DATASETS} datasets (Linux ARG_MAX is 2 MiB incl. environment; one argument max 128 KiB)"
    );
    println!(
        "\nzfs processes per pool and run for {DATASETS} datasets x {SNAPSHOTS} snapshots \
         (chunks sized to 1/{BUDGET_DIVISOR} of the limits; first inventory chunk sized for {ASSUMED_SNAPSHOTS}):"
    );
    println!(
        "| limits | inventory chunk (walk / skip) | snapinfo chunk cold / warm | cold run | steady state, OpenZFS 2.1 | steady state, OpenZFS >= 2.2 |"
    );
    println!("|---|---|---|---|---|---|");
    for (label, inv, cold, warm, skip) in counts {
        let n_inv = DATASETS.div_ceil(inv);
        let n_cold = DATASETS.div_ceil(cold);
        let n_skip = DATASETS.div_ceil(skip);
        println!(
            "| {label} | {inv} / {skip} | {cold} / {warm} | {} (inventory {n_inv} + snapinfo {n_cold} + apply 1) | {} (inventory {n_inv} + apply 1; snapinfo: none, apply returned the facts) | {} (inventory {n_skip} + apply 1; + snapinfo in runs with a dataset's periodic full read) |",
            n_inv + n_cold + 1,
            n_inv + 1,
            n_skip + 1
        );
    }
    scale_row();
}
