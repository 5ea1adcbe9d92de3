//! `pve-zfs-snap uninstall`: removes the cron file an interactive run installed (never a file
//! the admin wrote), says what stays behind and how to remove it, and warns about a
//! pve-zfs-snap line in root's crontab. With `--destroy-snapshots` it lists everything of ours
//! on this node's guest disks (a dry run, changing nothing); with `--yes` as well it removes
//! the cron job and destroys them (`crate::removal`).

use super::cron::warn_legacy;
use super::{fail, hostname, out, spawner, zfs_timeout};
use crate::change::{Change, Outcome};
use crate::cli::UninstallArgs;
use crate::cron::{self, Removal};
use crate::exit::{OK as EXIT_OK, PARTIAL as EXIT_PARTIAL, RunError};
use crate::removal::{self, PoolResult};

/// What a plain `uninstall` leaves behind, and how to remove it.
pub(crate) const LEFT_BEHIND: &str = "left in place: the snapshots and bookmarks of ours \
(autosnap_<time>_<class>) and label:running on the guests' disks. To list them: pve-zfs-snap \
uninstall --destroy-snapshots (changes nothing); to destroy them: add --yes";

/// `pve-zfs-snap uninstall`; returns the exit code.
pub fn uninstall(args: &UninstallArgs) -> i32 {
    if args.destroy_snapshots && !args.yes {
        let code = destroy(args, true);
        warn_legacy("still runs", "to stop it");
        return code;
    }
    let mut code = remove_cron_file(args);
    if args.destroy_snapshots {
        code = code.max(destroy(args, false));
    } else {
        out(&format!("{LEFT_BEHIND}\n"));
    }
    warn_legacy("still runs", "to stop it");
    code
}

/// Removes the cron file when it is ours; says what it did.
fn remove_cron_file(args: &UninstallArgs) -> i32 {
    let path = args.host.root.join(cron::CRON_FILE);
    match cron::uninstall(&args.host.root) {
        Ok(Removal::Removed) => {
            out(&format!("removed {}\n", path.display()));
            EXIT_OK
        }
        Ok(Removal::Absent) => {
            out(&format!("{} not present\n", path.display()));
            EXIT_OK
        }
        Ok(Removal::Foreign) => {
            eprintln!(
                "pve-zfs-snap: kept {}: it was not written by pve-zfs-snap (its first line is \
                 not '{} …', or it was edited by hand); remove it yourself if it should not \
                 run any more",
                path.display(),
                cron::MARKER
            );
            EXIT_PARTIAL
        }
        Err(e) => {
            eprintln!("pve-zfs-snap: cannot remove {}: {e}", path.display());
            EXIT_PARTIAL
        }
    }
}

/// `--destroy-snapshots`: lists (`dry_run`) or destroys everything of ours; returns the exit
/// code.
fn destroy(args: &UninstallArgs, dry_run: bool) -> i32 {
    let now = match &args.now {
        Some(s) => match crate::duration::parse_instant("--now", s) {
            Ok(t) => t,
            Err(e) => return fail(&RunError::Usage(e)),
        },
        None => chrono::Utc::now(),
    };
    let timeout = match zfs_timeout(&args.host.tools) {
        Ok(t) => t,
        Err(e) => return fail(&RunError::Usage(e)),
    };
    let exec = match spawner(&args.host.tools, timeout) {
        Ok(x) => x,
        Err(e) => return fail(&RunError::Failed(e.into())),
    };
    let root = &args.host.root;
    let host = match crate::pve::discover(root, args.host.node.as_deref(), &hostname()) {
        Ok(h) => h,
        Err(e) if e.is_configuration() => return fail(&RunError::Usage(e.to_string())),
        Err(e) => return fail(&RunError::Failed(e.into())),
    };
    let results = match removal::remove_all(root, &host, &exec, now.timestamp(), dry_run) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let (text, errors) = render(&host.node, &results, dry_run);
    out(&text);
    for e in &errors {
        eprintln!("pve-zfs-snap: {e}");
    }
    if errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    }
}

/// The listing (dry run) or the outcome, and the failures (for stderr).
pub(crate) fn render(node: &str, results: &[PoolResult], dry_run: bool) -> (String, Vec<String>) {
    let mut s = String::new();
    let mut errors = Vec::new();
    let (mut snaps, mut bms, mut labels) = (0, 0, 0);
    if dry_run {
        s.push_str(&format!(
            "DRY RUN: nothing is changed. On {node}, uninstall --destroy-snapshots --yes would \
             remove the cron job and:\n"
        ));
    }
    for r in results {
        let (ns, nb) = r.removal.counts();
        snaps += ns;
        bms += nb;
        labels += r.removal.labels.len();
        if dry_run {
            s.push_str(&format!(
                "pool {}: destroy {ns} snapshot(s) and {nb} bookmark(s) of ours, remove \
                 label:running on {} dataset(s)\n",
                r.pool,
                r.removal.labels.len()
            ));
            for c in r.removal.groups.iter().flat_map(|g| &g.changes) {
                s.push_str(&format!("  {}\n", c.describe()));
            }
            for d in &r.removal.labels {
                s.push_str(&format!("  zfs inherit label:running {d}\n"));
            }
        } else {
            let (done, kept, failed) = r.tally();
            s.push_str(&format!(
                "pool {}: {done} of {} snapshot(s) and bookmark(s) destroyed, {kept} kept, \
                 {failed} failed; label:running removed on {} dataset(s)\n",
                r.pool,
                ns + nb,
                if r.errors.is_empty() {
                    r.removal.labels.len()
                } else {
                    0
                }
            ));
            let changes = r.removal.groups.iter().flat_map(|g| &g.changes);
            for (c, o) in changes.zip(r.outcomes.iter().flatten()) {
                match o {
                    Outcome::Ok => {}
                    Outcome::Kept(why) => errors.push(format!(
                        "kept {}: {why} (release the hold, destroy the clone or wait, then run \
                         again)",
                        target(c)
                    )),
                    other => errors.push(format!("{}: {other:?}", c.describe())),
                }
            }
        }
        errors.extend(r.errors.iter().map(|e| format!("pool {}: {e}", r.pool)));
    }
    if dry_run {
        s.push_str(&format!(
            "total: {snaps} snapshot(s), {bms} bookmark(s), {labels} label(s). Nothing else is \
             touched (replication, PVE, vzdump and your own snapshots, label:nosnap). To do \
             it: pve-zfs-snap uninstall --destroy-snapshots --yes\n"
        ));
    }
    (s, errors)
}

/// `dataset@name` or `dataset#name`.
fn target(c: &Change) -> String {
    match c {
        Change::Destroy { dataset, name } => format!("{dataset}@{name}"),
        Change::DestroyBookmark { dataset, name } => format!("{dataset}#{name}"),
        other => other.describe(),
    }
}
