//! `pve-zfs-snap uninstall`: removes the cron file an interactive run installed and warns
//! about a pve-zfs-snap line in root's crontab.

use super::cron::warn_legacy;
use crate::cli::UninstallArgs;
use crate::cron;
use crate::exit::{OK as EXIT_OK, PARTIAL as EXIT_PARTIAL};

/// `pve-zfs-snap uninstall`: removes the file, says so, reports a legacy crontab line.
pub fn uninstall(args: &UninstallArgs) -> i32 {
    let path = args.root.join(cron::CRON_FILE);
    let code = match cron::uninstall(&args.root) {
        Ok(true) => {
            println!("removed {}", path.display());
            EXIT_OK
        }
        Ok(false) => {
            println!("{} not present", path.display());
            EXIT_OK
        }
        Err(e) => {
            eprintln!("pve-zfs-snap: cannot remove {}: {e}", path.display());
            EXIT_PARTIAL
        }
    };
    warn_legacy("still runs", "to stop it");
    code
}
