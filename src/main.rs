//! `pve-zfs-snap`: thin entry point: parse the command line, set up logging, run the command
//! (`cmd::main`), exit with its code.

use clap::Parser;
use pve_zfs_snap::cli::Cli;

/// mimalloc instead of glibc's malloc: the same program, a faster allocator. `simulate` makes
/// and frees millions of small strings and Lua objects (glibc's malloc/free/consolidate were
/// ~21% of its time; BENCHMARKS.md "Simulator"); a snapshot run does not notice.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    pve_zfs_snap::cmd::init_logging(cli.verbose);
    std::process::exit(pve_zfs_snap::cmd::main(cli));
}
