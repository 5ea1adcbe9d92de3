//! `pve-zfs-snap pull`: the third site's puller. Validates the options, takes the pull lock
//! (`<root>/run/pve-zfs-snap/pull.lock`, never the snapshot run's), reads the source and the
//! target (`zfs::transfer`), plans each guest disk (`pull::plan`), runs the plan unless
//! `--dry-run`, applies `--keep` at the target, and prints the report (`pull::report`) with
//! the exit code. The decisions are `pull::plan`'s; this file only sequences and prints.

use super::{fail, out, spawner, zfs_timeout};
use crate::cli::PullArgs;
use crate::duration;
use crate::exit::RunError;
use crate::lock::{LockError, RunLock};
use crate::naming::Dataset;
use crate::policy::{Counts, Policy};
use crate::pull::plan::{
    self, Decision, DiskPlan, Include, Source, Step, Target, newest_common, recv_args, retention,
    send_args,
};
use crate::pull::report::{self, DiskOutcome, PullReport};
use crate::zfs::Tool;
use crate::zfs::transfer::{Origin, Side, Transfer};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use std::time::Duration;

/// Options after validation.
struct Opts {
    source: Dataset,
    target: Dataset,
    keep: Option<Counts>,
    include: Include,
    bwlimit: Option<u64>,
    transfer_timeout: u64,
    zfs_timeout: u64,
    now: DateTime<Utc>,
}

/// Runs `pull`; returns the exit code.
pub fn pull(args: &PullArgs) -> i32 {
    let opts = match validate(args) {
        Ok(o) => o,
        Err(e) => return fail(&RunError::Usage(e)),
    };
    let _lock = match RunLock::acquire_named(&args.root, "pull.lock") {
        Ok(l) => l,
        Err(e @ LockError::Held(_)) => return fail(&RunError::Locked(e.to_string())),
        Err(e) => return fail(&RunError::Failed(e.into())),
    };
    let exec = match spawner(&args.tools, opts.zfs_timeout) {
        Ok(x) => x,
        Err(e) => return fail(&RunError::Failed(e.into())),
    };
    let origin = match &args.from {
        None => Origin::Local,
        Some(dest) => Origin::Ssh {
            ssh: args.ssh.clone(),
            dest: dest.clone(),
            remote_zfs: args.remote_zfs.clone(),
        },
    };
    let t = Transfer {
        exec: &exec,
        zfs: exec.path(Tool::Zfs).to_path_buf(),
        origin,
        read_timeout: Duration::from_secs(opts.zfs_timeout),
        transfer_timeout: Duration::from_secs(opts.transfer_timeout),
        bwlimit: opts.bwlimit,
    };
    let r = run(&t, &opts, args.dry_run);
    if args.json {
        out(&report::render_json(&r));
    } else {
        let text = report::render_text(&r, args.list);
        out(&text);
    }
    // Loud on stderr even when stdout goes to a file or JSON: what failed, what diverged.
    for d in &r.disks {
        if d.failed() {
            eprintln!(
                "pve-zfs-snap pull: FAILED {} -> {}: {}",
                d.plan.source,
                d.plan.target,
                d.error.as_deref().unwrap_or(&d.plan.reason)
            );
        } else if d.plan.decision == Decision::Diverged {
            eprintln!(
                "pve-zfs-snap pull: DIVERGED {} -> {}: {}",
                d.plan.source, d.plan.target, d.plan.reason
            );
        }
    }
    for e in &r.errors {
        eprintln!("pve-zfs-snap pull: FAILED: {e}");
    }
    // The monitoring depends on the file: a failure to write it is loud and exit 1.
    let mut code = r.exit_code();
    if let (Some(path), false) = (&args.metrics_file, args.dry_run) {
        let text = report::render_prometheus(&r);
        if let Err(e) =
            crate::fsutil::replace_file(path, text.as_bytes(), 0o644, ".pve-zfs-snap-pull")
        {
            eprintln!(
                "pve-zfs-snap pull: FAILED: cannot write the metrics file {}: {e}",
                path.display()
            );
            code = code.max(crate::exit::PARTIAL);
        }
    }
    code
}

fn validate(args: &PullArgs) -> Result<Opts, String> {
    let ds = |what: &str, s: &str| {
        Dataset::new(s.trim_end_matches('/')).map_err(|e| format!("{what}: {e}"))
    };
    if let Some(dest) = &args.from
        && (dest.is_empty() || dest.starts_with('-') || dest.contains(char::is_whitespace))
    {
        return Err(format!("--from: {dest:?} is not [user@]host"));
    }
    let keep = if args.keep.is_empty() {
        None
    } else {
        Some(
            Policy::parse(&args.keep)
                .map_err(|e| format!("--keep: {e}"))?
                .keep()
                .clone(),
        )
    };
    let bwlimit = args.bwlimit.as_deref().map(parse_rate).transpose()?;
    let transfer_timeout =
        match duration::parse_or_secs("--transfer-timeout", &args.transfer_timeout)? {
            0 => return Err("--transfer-timeout: at least 1s".into()),
            s => s,
        };
    let now = match &args.now {
        Some(s) => duration::parse_instant("--now", s)?,
        None => Utc::now(),
    };
    Ok(Opts {
        source: ds("SOURCE", &args.source)?,
        target: ds("TARGET_PREFIX", &args.target)?,
        keep,
        include: if args.all_snapshots {
            Include::All
        } else {
            Include::Ours
        },
        bwlimit,
        transfer_timeout,
        zfs_timeout: zfs_timeout(&args.tools)?,
        now,
    })
}

/// `20M` → bytes per second (K, M, G: powers of 1024).
fn parse_rate(s: &str) -> Result<u64, String> {
    let (num, mul) = match s.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        Some('G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    match num.parse::<u64>() {
        Ok(n) if n > 0 => n
            .checked_mul(mul)
            .ok_or_else(|| format!("--bwlimit: {s:?} is too large")),
        _ => Err(format!(
            "--bwlimit: {s:?} is not a rate such as 500K, 20M or 1G (bytes per second)"
        )),
    }
}

fn run(t: &Transfer<'_>, o: &Opts, dry_run: bool) -> PullReport {
    let mut r = PullReport {
        now: o.now.timestamp(),
        from: t.origin.describe(),
        dry_run,
        disks: Vec::new(),
        errors: Vec::new(),
    };
    let src = match t.read_side(&o.source, true) {
        Ok(Some(s)) => s,
        Ok(None) => {
            r.errors.push(format!(
                "{} does not exist on {}",
                o.source,
                t.origin.describe()
            ));
            return r;
        }
        Err(e) => {
            r.errors.push(format!(
                "cannot read the source: {e} (for --from: is `ssh -o BatchMode=yes <host> zfs list` \
                 working as this user?)"
            ));
            return r;
        }
    };
    let tgt = match t.read_side(&o.target, false) {
        Ok(Some(s)) => s,
        Ok(None) => {
            r.errors.push(format!(
                "the target prefix {} does not exist: create it (e.g. zfs create -o readonly=on {})",
                o.target, o.target
            ));
            return r;
        }
        Err(e) => {
            r.errors.push(format!("cannot read the target: {e}"));
            return r;
        }
    };
    let stamp = o.now.format("%Y%m%dT%H%M%SZ").to_string();
    for (disk, (enc, _)) in &src.datasets {
        if !plan::is_guest_disk(disk.leaf()) {
            continue;
        }
        let Some(target) = plan::target_for(&o.source, &o.target, disk) else {
            r.errors.push(format!(
                "{disk}: its target name below {} is too long",
                o.target
            ));
            continue;
        };
        let source = Source {
            dataset: disk.clone(),
            points: src.points.get(disk).cloned().unwrap_or_default(),
            encrypted: !matches!(enc.as_str(), "off" | "-" | ""),
        };
        let tg = target_facts(&tgt, &target);
        let p = plan::plan(&source, &tg, o.include, &stamp);
        let d = if dry_run {
            preview(p, &source, &tg, o)
        } else {
            execute(t, p, &source, o, &stamp)
        };
        r.disks.push(d);
    }
    r
}

fn target_facts(side: &Side, target: &Dataset) -> Target {
    let props = side.datasets.get(target);
    Target {
        dataset: target.clone(),
        exists: props.is_some(),
        snapshots: side.points.get(target).cloned().unwrap_or_default(),
        resume_token: props
            .map(|(_, tok)| tok.clone())
            .filter(|tok| !matches!(tok.as_str(), "-" | "")),
    }
}

/// A dry run: the plan, and what `--keep` would destroy on the target as it is now.
fn preview(p: DiskPlan, source: &Source, tg: &Target, o: &Opts) -> DiskOutcome {
    let mut d = DiskOutcome::new(p);
    if let Some(keep) = &o.keep {
        let protect = protected(source, tg, &d.plan);
        d.destroyed = retention(keep, &tg.snapshots, &protect)
            .into_iter()
            .filter(|e| e.destroy)
            .map(|e| e.name)
            .collect();
    }
    d
}

fn protected(source: &Source, tg: &Target, p: &DiskPlan) -> BTreeSet<String> {
    newest_common(&source.points, &tg.snapshots)
        .into_iter()
        .chain(p.set_aside.as_ref().map(|a| a.common.clone()))
        .collect()
}

fn execute(t: &Transfer<'_>, p: DiskPlan, source: &Source, o: &Opts, stamp: &str) -> DiskOutcome {
    let mut p = p;
    let mut d;
    // A resume first, then plan again on what the target has now (once).
    if p.decision == Decision::Resume {
        let mut resumed = DiskOutcome::new(p.clone());
        let step = &p.steps[0];
        let res = t.pipe(&send_args(step, &p.source, p.raw), &recv_args(&p.target));
        let note = match res {
            Ok(b) => {
                resumed.bytes += b;
                None
            }
            Err(e) => {
                // The partial state is dropped so that the pull can go on from the common
                // point; nothing the target had is touched.
                let _ = t.target_run(&["recv", "-A", p.target.as_str()]);
                Some(format!(
                    "the interrupted receive could not be resumed ({e}); it was aborted"
                ))
            }
        };
        let tg = match reread(t, &p.target) {
            Ok(tg) => tg,
            Err(e) => {
                resumed.error = Some(e);
                return resumed;
            }
        };
        p = plan::plan(source, &tg, o.include, stamp);
        if p.decision == Decision::Resume {
            resumed.error = Some("the receive is still incomplete after resuming".into());
            return resumed;
        }
        p.warnings.extend(note);
        d = DiskOutcome::new(p.clone());
        d.bytes = resumed.bytes;
    } else {
        d = DiskOutcome::new(p.clone());
    }
    if p.decision == Decision::Refused {
        return d;
    }
    if let Some(a) = &p.set_aside {
        let (tg, aside) = (p.target.as_str(), a.aside.as_str());
        let origin = format!("{aside}@{}", a.common);
        let done = t
            .target_run(&["rename", tg, aside])
            .and_then(|()| t.target_run(&["clone", &origin, tg]))
            .and_then(|()| t.target_run(&["promote", tg]));
        if let Err(e) = done {
            d.error = Some(format!(
                "setting the diverged target aside failed: {e}; nothing was destroyed: the \
                 target as it was is {tg} or {aside}"
            ));
            return d;
        }
        d.set_aside = Some(a.aside.to_string());
    }
    for step in &p.steps {
        match t.pipe(&send_args(step, &p.source, p.raw), &recv_args(&p.target)) {
            Ok(b) => {
                d.bytes += b;
                d.steps_done += 1;
                d.received += match step {
                    Step::Full { .. } | Step::Resume { .. } => 1,
                    Step::Incremental { snapshots, .. } => *snapshots,
                };
            }
            Err(e) => {
                d.error = Some(format!(
                    "zfs {} | zfs {}: {e}",
                    send_args(step, &p.source, p.raw).join(" "),
                    recv_args(&p.target).join(" ")
                ));
                break;
            }
        }
    }
    if let Some(keep) = &o.keep {
        match reread(t, &p.target) {
            Ok(tg) if tg.exists => {
                let protect = protected(source, &tg, &p);
                for e in retention(keep, &tg.snapshots, &protect) {
                    if !e.destroy {
                        continue;
                    }
                    let full = format!("{}@{}", p.target, e.name);
                    match t.target_run(&["destroy", &full]) {
                        Ok(()) => d.destroyed.push(e.name),
                        Err(err) => p_warn(&mut d, format!("--keep: {err}")),
                    }
                }
            }
            Ok(_) => {}
            Err(e) => p_warn(&mut d, format!("--keep skipped: {e}")),
        }
    }
    d
}

fn p_warn(d: &mut DiskOutcome, w: String) {
    d.plan.warnings.push(w);
}

fn reread(t: &Transfer<'_>, target: &Dataset) -> Result<Target, String> {
    let side = t
        .read_side(target, false)
        .map_err(|e| format!("cannot read the target again: {e}"))?
        .unwrap_or_default();
    Ok(target_facts(&side, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("20M"), Ok(20 << 20));
        assert_eq!(parse_rate("500k"), Ok(500 << 10));
        assert_eq!(parse_rate("1000"), Ok(1000));
        for bad in ["", "0", "M", "1.5M", "-1", "99999999999999G"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
