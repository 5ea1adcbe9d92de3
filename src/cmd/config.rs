//! `pve-zfs-snap config check`: reads the policy file and the cluster's guests (`pve::snapcfg`),
//! checks one against the other (`clusterpolicy`) and prints each error with file:line, then
//! the policy every guest of the cluster gets and why.

use super::{fail, out};
use crate::cli::ConfigCheckArgs;
use crate::clusterpolicy::{self, CommandLine, InForce};
use crate::exit::{self, RunError};
use crate::policy::Policy;
use crate::pve::snapcfg;

/// Runs `config check`; returns the exit code (0 valid or no file, 2 errors).
pub fn check(args: &ConfigCheckArgs) -> i32 {
    let path = args
        .file
        .clone()
        .unwrap_or_else(|| snapcfg::policy_path(&args.root));
    let cli_keep = if args.keep.is_empty() {
        None
    } else {
        match Policy::parse(&args.keep) {
            Ok(p) => Some(p),
            Err(e) => return fail(&RunError::Usage(e.to_string())),
        }
    };
    let file = match snapcfg::load(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            eprintln!(
                "pve-zfs-snap: {}: NOT valid; a run refuses to start (exit 2)",
                path.display()
            );
            return exit::USAGE;
        }
    };
    let cluster = match snapcfg::cluster(&args.root) {
        Ok(c) => c,
        Err(e) => return fail(&RunError::Failed(anyhow::anyhow!(e))),
    };
    let mut errors = Vec::new();
    let mut text = String::new();
    match &file {
        None => text.push_str(&format!(
            "{}: no file: every guest gets the command line's keys; tag {} excludes a guest\n",
            path.display(),
            clusterpolicy::DEFAULT_NOSNAP_TAG
        )),
        Some(f) => {
            errors = clusterpolicy::check(f, &cluster);
            text.push_str(&format!(
                "{}: {} rule(s); defaults: {}; nosnap tag: {}\n",
                path.display(),
                f.rules.len(),
                f.default_keep
                    .as_ref()
                    .map_or("the command line's keys".to_string(), |(k, l)| format!(
                        "keep {k} (line {l})"
                    )),
                f.nosnap_tag.as_deref().unwrap_or("none")
            ));
        }
    }
    let placeholder = Policy::parse(&["f1".to_string()]).expect("valid");
    let rules = InForce {
        file,
        cli: CommandLine {
            keep: cli_keep.clone().unwrap_or(placeholder),
            bookmarks: None,
        },
    };
    text.push_str("policy per guest (every node):\n");
    for g in &cluster.guests {
        let (mut line, _) = rules.decide_guest(g);
        if cli_keep.is_none() {
            line = line.replace(
                "f1 (command line)",
                "the command line's keys (command line)",
            );
        }
        let title = clusterpolicy::guest_title(g.kind, g.vmid, g.name.as_deref());
        text.push_str(&format!("  {title} on {}: {line}\n", g.node));
    }
    out(&text);
    for e in &errors {
        eprintln!("{}:{}: {}", path.display(), e.line, e.message);
    }
    if errors.is_empty() {
        exit::OK
    } else {
        eprintln!(
            "pve-zfs-snap: {}: {} error(s) against the cluster's guests; a run warns about each \
             and fails the disks of a conflict",
            path.display(),
            errors.len()
        );
        exit::USAGE
    }
}
