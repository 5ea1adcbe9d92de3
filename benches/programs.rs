//! Benchmark (not a test): instruction counts, peak Lua memory and output size of the shipped
//! channel programs on the emulator for a large node (2,000 datasets × 150 snapshots), and the
//! inventory chunk size the runner derives from them. `cargo bench --bench programs`.

use pve_zfs_snap::zfs::cost::{
    build_pool, measure_inventory_model, oldest_names, run_apply, run_inventory,
};
use pve_zfs_snap::zfs::inventory::{ASSUMED_SNAPSHOTS, BUDGET_DIVISOR, MEASURED, chunk_size};
use pve_zfs_snap::zfs::program::{DEFAULT_INSTR_LIMIT, DEFAULT_MEM_LIMIT};
use std::time::Instant;

const DATASETS: usize = 2_000;
const SNAPSHOTS: usize = 150;

fn pct(x: u64, limit: u64) -> String {
    format!("{:.1}%", 100.0 * x as f64 / limit as f64)
}

fn main() {
    let t = Instant::now();
    let model = measure_inventory_model(100, 150);
    println!("inventory.lua cost model measured on 100 datasets x 150 snapshots:");
    println!(
        "  per dataset : {:>6} instructions  {:>7} bytes",
        model.instr_per_dataset, model.mem_per_dataset
    );
    println!(
        "  per snapshot: {:>6} instructions  {:>7} bytes",
        model.instr_per_snapshot, model.mem_per_snapshot
    );
    println!("  shipped MEASURED model: {MEASURED:?}");

    println!(
        "building a pool of {DATASETS} zvols x {SNAPSHOTS} snapshots of ours + 10 foreign + 150 bookmarks ..."
    );
    let (mut world, names) = build_pool(DATASETS, SNAPSHOTS, 10, SNAPSHOTS);
    println!("  built in {:.1}s", t.elapsed().as_secs_f64());

    let chunk = chunk_size(&MEASURED, ASSUMED_SNAPSHOTS);
    let chunk150 = chunk_size(&MEASURED, SNAPSHOTS as u64);
    println!(
        "derived chunk size: {chunk} datasets (sized for {ASSUMED_SNAPSHOTS} snapshots each, 1/{BUDGET_DIVISOR} of the default limits); \
         {chunk150} once 150/dataset is seen"
    );

    println!(
        "\n| program | datasets | instructions | % of -t default | peak memory | % of -m default | output | wall |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for size in [chunk, chunk150, DATASETS] {
        let slice = &names[..size.min(DATASETS)];
        let t = Instant::now();
        let out = run_inventory(&mut world, slice);
        let wall = t.elapsed();
        let status = if out.exit_code == 0 {
            String::new()
        } else {
            format!(" FAILED: {}", out.stderr.lines().nth(1).unwrap_or(""))
        };
        println!(
            "| inventory -n | {} | {} | {} | {} | {} | {} B | {:.2}s |{status}",
            slice.len(),
            out.instructions,
            pct(out.instructions, DEFAULT_INSTR_LIMIT),
            out.memory_peak,
            pct(out.memory_peak, DEFAULT_MEM_LIMIT),
            out.stdout.len(),
            wall.as_secs_f64()
        );
    }
    let oldest = oldest_names(2);
    let t = Instant::now();
    let (out, argv_bytes) = run_apply(&mut world, &names, 2, &oldest);
    println!(
        "| apply (snapshot+bookmark+2 destroys each) | {DATASETS} | {} | {} | {} | {} | {} B | {:.2}s |{}",
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
    let inv_programs = DATASETS.div_ceil(chunk150);
    println!(
        "inventory programs for {DATASETS} datasets at 150 snapshots: {inv_programs} (first chunk {chunk}, then {chunk150})"
    );
}
