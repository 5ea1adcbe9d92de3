//! `pve-zfs-snap status`: discovery and a read-only inventory (through the run's snapshot
//! cache, never writing it), then the per-guest table or JSON.

use super::{fail, hostname, spawner, zfs_timeout};
use crate::cli::StatusArgs;
use crate::exit::{self, RunError};
use chrono::Utc;
use std::collections::BTreeMap;

/// `status --cluster`: every node's last run from its status file; reads no pool.
fn cluster(args: &StatusArgs) -> i32 {
    let now = match &args.now {
        Some(s) => match crate::duration::parse_instant("--now", s) {
            Ok(t) => t,
            Err(e) => return fail(&RunError::Usage(e)),
        },
        None => Utc::now(),
    };
    let rows = crate::pve::nodestatus::read_all(&args.host.root);
    if rows.is_empty() {
        let e = format!(
            "no nodes under {}: is /etc/pve mounted (pve-cluster running)?",
            args.host.root.join("etc/pve/nodes").display()
        );
        return fail(&RunError::Failed(anyhow::anyhow!(e)));
    }
    if args.json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(node, row)| match row {
                Ok(Some(s)) => serde_json::to_value(s).expect("status serializes"),
                Ok(None) => serde_json::json!({"node": node, "last_run": null}),
                Err(e) => serde_json::json!({"node": node, "error": e}),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).expect("serializes"));
    } else {
        print!("{}", crate::status::render_cluster(now, &rows));
    }
    exit::OK
}

/// The policy line of each guest of `host` (empty, with a line on stderr, when the policy
/// file is broken: `status` still shows the disks).
fn policies(args: &StatusArgs, host: &crate::host::Host) -> BTreeMap<u32, String> {
    let root = &args.host.root;
    let file = match crate::pve::snapcfg::load(&crate::pve::snapcfg::policy_path(root)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "pve-zfs-snap: {e}\npve-zfs-snap: the policy file is broken: runs refuse to start"
            );
            return BTreeMap::new();
        }
    };
    // The cron line's keys are not known here: guests no rule selects show as such.
    let placeholder = crate::policy::Policy::parse(&["f1".to_string()]).expect("valid");
    let rules = crate::clusterpolicy::InForce {
        file,
        cli: crate::clusterpolicy::CommandLine {
            keep: placeholder,
            bookmarks: None,
        },
    };
    let pools = crate::pve::snapcfg::read_pools(root);
    let mut out = rules.decide_host(host, &pools).guests;
    for line in out.values_mut() {
        *line = line.replace("f1 (command line)", "the cron line's keys (command line)");
    }
    out
}

/// Runs `status`; returns the exit code.
pub fn status(args: &StatusArgs) -> i32 {
    if args.cluster {
        return cluster(args);
    }
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
    let mut guests = crate::status::build(&host, &inventory);
    let mut policies = policies(args, &host);
    for g in &mut guests {
        g.policy = policies.remove(&g.vmid);
    }
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
