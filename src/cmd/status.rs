//! `pve-zfs-snap status`: discovery and a read-only inventory (through the run's snapshot
//! cache, never writing it), then the per-guest table or JSON.

use super::{fail, hostname, spawner, zfs_timeout};
use crate::cli::StatusArgs;
use crate::exit::{self, RunError};
use chrono::Utc;

/// Runs `status`; returns the exit code.
pub fn status(args: &StatusArgs) -> i32 {
    let timeout = match zfs_timeout(&args.host.tools) {
        Ok(t) => t,
        Err(e) => return fail(&RunError::Usage(e)),
    };
    let host = match crate::pve::discover(&args.host.root, args.host.node.as_deref(), &hostname()) {
        Ok(h) => h,
        Err(e) => return fail(&RunError::Failed(e.into())),
    };
    let exec = match spawner(&args.host.tools, timeout) {
        Ok(x) => x,
        Err(e) => return fail(&RunError::Failed(e.into())),
    };
    let version = match crate::zfs::version::detect_on(&exec, &args.host.root) {
        Ok(v) => v,
        Err(e) => return fail(&RunError::Failed(e.into())),
    };
    // Templates too; read-only: uses the run's cache of snapshot facts but never writes it.
    let pools = crate::run::datasets_by_pool(&host, true);
    let setup = crate::zfs::inventory::ReadSetup::for_host(&args.host.root, version);
    let mut cache = crate::zfs::snapcache::SnapCache::load(&args.host.root);
    let now = Utc::now().timestamp();
    let (inventory, errors) = crate::run::read_pools(&exec, &pools, &setup, now, false, &mut cache);
    let mut code = exit::OK;
    for (pool, e) in &errors {
        eprintln!("pve-zfs-snap: cannot read pool {pool}: {e}");
        code = exit::PARTIAL;
    }
    let guests = crate::status::build(&host, &inventory);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&guests).expect("status serializes")
        );
    } else {
        print!("{}", crate::status::render_table(&host.node, &guests));
    }
    code
}
