//! What a pull did, per disk, and its renderings: the text summary (and `--dry-run`), JSON,
//! the Prometheus textfile, and the exit code (like the snapshot run: 0 all done, 1 some disk
//! failed or the source could not be read).
//!
//! Pure: values in, strings out. Never prints.

use super::plan::{Decision, DiskPlan, Step, recv_args, send_args};
use crate::exit;
use serde::Serialize;
use std::fmt::Write as _;

/// What happened to one disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiskOutcome {
    /// The plan (what and why).
    pub plan: DiskPlan,
    /// Transfers that completed.
    pub steps_done: usize,
    /// Snapshots that arrived.
    pub received: usize,
    /// Bytes of stream copied.
    pub bytes: u64,
    /// The diverged target was kept under this name (done).
    pub set_aside: Option<String>,
    /// Snapshots destroyed at the target by `--keep`.
    pub destroyed: Vec<String>,
    /// What failed (the disk is failed).
    pub error: Option<String>,
}

impl DiskOutcome {
    /// An outcome for `plan` before anything was done.
    pub fn new(plan: DiskPlan) -> DiskOutcome {
        DiskOutcome {
            plan,
            steps_done: 0,
            received: 0,
            bytes: 0,
            set_aside: None,
            destroyed: Vec::new(),
            error: None,
        }
    }

    /// Failed: an error, or a refused plan.
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.plan.decision == Decision::Refused
    }

    /// `ok`, `diverged`, `failed` or `nothing`: the state shown and exported.
    pub fn state(&self) -> &'static str {
        if self.failed() {
            "failed"
        } else if self.plan.decision == Decision::Diverged {
            "diverged"
        } else if self.plan.decision == Decision::NothingToSend {
            "nothing"
        } else {
            "ok"
        }
    }
}

/// One pull.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PullReport {
    /// When it started, seconds since the epoch.
    pub now: i64,
    /// Where from: `local` or `[user@]host`.
    pub from: String,
    /// A dry run: nothing was changed.
    pub dry_run: bool,
    /// Per disk, sorted by source.
    pub disks: Vec<DiskOutcome>,
    /// What stopped the whole pull or a part of it (an unreachable source, a listing that
    /// failed).
    pub errors: Vec<String>,
}

impl PullReport {
    /// `exit::OK` when every disk is fine and nothing else failed, else `exit::PARTIAL`. A
    /// diverged disk counts as not fine (issue 21): its target was set aside (or, in a dry
    /// run, would be), so C's newest copy was not simply extended and an admin must look.
    pub fn exit_code(&self) -> i32 {
        let diverged = self
            .disks
            .iter()
            .any(|d| d.plan.decision == Decision::Diverged);
        if self.errors.is_empty() && !diverged && !self.disks.iter().any(DiskOutcome::failed) {
            exit::OK
        } else {
            exit::PARTIAL
        }
    }

    /// Disks in `state`.
    pub fn count(&self, state: &str) -> usize {
        self.disks.iter().filter(|d| d.state() == state).count()
    }
}

fn step_line(p: &DiskPlan, s: &Step) -> String {
    format!(
        "zfs {} | zfs {}",
        send_args(s, &p.source, p.raw).join(" "),
        recv_args(&p.target).join(" ")
    )
}

/// The text: per disk what and why (with `--dry-run`, the commands), then a summary line.
/// Loud lines (failed, diverged) start with `DIVERGED`/`FAILED` so they stand out in mail.
pub fn render_text(r: &PullReport, verbose: bool) -> String {
    let mut out = String::new();
    for d in &r.disks {
        let p = &d.plan;
        let show = verbose || r.dry_run || d.failed() || d.plan.decision == Decision::Diverged;
        if !show {
            continue;
        }
        let _ = writeln!(out, "{} -> {}: {}", p.source, p.target, p.reason);
        if let Some(a) = &p.set_aside {
            let _ = writeln!(
                out,
                "  {} the target as {} (diverged: {}), then clone {}@{} back to {} and promote it",
                if r.dry_run { "would keep" } else { "keeps" },
                a.aside,
                a.diverged.join(", "),
                a.aside,
                a.common,
                p.target
            );
        }
        if r.dry_run {
            for s in &p.steps {
                let _ = writeln!(out, "  would run: {}", step_line(p, s));
            }
        }
        for w in &p.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        for x in &d.destroyed {
            let _ = writeln!(
                out,
                "  {} {}@{x}",
                if r.dry_run {
                    "would destroy"
                } else {
                    "destroyed"
                },
                p.target
            );
        }
        if let Some(e) = &d.error {
            let _ = writeln!(out, "  FAILED: {e}");
        }
    }
    for e in &r.errors {
        let _ = writeln!(out, "FAILED: {e}");
    }
    let received: usize = r.disks.iter().map(|d| d.received).sum();
    let destroyed: usize = r.disks.iter().map(|d| d.destroyed.len()).sum();
    let _ = writeln!(
        out,
        "pull from {}{}: {} disk(s): {} ok, {} diverged (kept), {} failed, {} with nothing to \
         send; {} snapshot(s) received, {} destroyed by --keep",
        r.from,
        if r.dry_run { " (dry run)" } else { "" },
        r.disks.len(),
        r.count("ok"),
        r.count("diverged"),
        r.count("failed"),
        r.count("nothing"),
        received,
        destroyed
    );
    out
}

/// The report as JSON (one document).
pub fn render_json(r: &PullReport) -> String {
    let mut s =
        serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus textfile: the pull's time and success, and per disk its state (1 for the
/// current one), snapshots received, bytes and snapshots destroyed.
pub fn render_prometheus(r: &PullReport) -> String {
    let mut out = String::new();
    let g = |out: &mut String, name: &str, help: &str, samples: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (l, v) in samples {
            if l.is_empty() {
                let _ = writeln!(out, "{name} {v}");
            } else {
                let _ = writeln!(out, "{name}{{{l}}} {v}");
            }
        }
    };
    let one = |v: String| vec![(String::new(), v)];
    g(
        &mut out,
        "pve_zfs_snap_pull_last_run_timestamp_seconds",
        "When the last pull started, seconds since the epoch.",
        one(r.now.to_string()),
    );
    g(
        &mut out,
        "pve_zfs_snap_pull_last_run_success",
        "1 if the last pull did everything, else 0.",
        one(u8::from(r.exit_code() == exit::OK).to_string()),
    );
    g(
        &mut out,
        "pve_zfs_snap_pull_errors",
        "Errors of the last pull that are not one disk's (source unreachable, listing failed).",
        one(r.errors.len().to_string()),
    );
    let per = |f: &dyn Fn(&DiskOutcome) -> String| -> Vec<(String, String)> {
        r.disks
            .iter()
            .map(|d| {
                (
                    format!(
                        "source=\"{}\",target=\"{}\"",
                        label(d.plan.source.as_str()),
                        label(d.plan.target.as_str())
                    ),
                    f(d),
                )
            })
            .collect()
    };
    let states: Vec<(String, String)> = r
        .disks
        .iter()
        .flat_map(|d| {
            ["ok", "diverged", "failed", "nothing"].map(|s| {
                (
                    format!(
                        "source=\"{}\",target=\"{}\",state=\"{s}\"",
                        label(d.plan.source.as_str()),
                        label(d.plan.target.as_str())
                    ),
                    u8::from(d.state() == s).to_string(),
                )
            })
        })
        .collect();
    g(
        &mut out,
        "pve_zfs_snap_pull_disk_state",
        "Per disk: 1 for its state in the last pull (ok, diverged, failed, nothing).",
        states,
    );
    g(
        &mut out,
        "pve_zfs_snap_pull_disk_received_snapshots",
        "Per disk: snapshots received by the last pull.",
        per(&|d| d.received.to_string()),
    );
    g(
        &mut out,
        "pve_zfs_snap_pull_disk_bytes",
        "Per disk: stream bytes copied by the last pull.",
        per(&|d| d.bytes.to_string()),
    );
    g(
        &mut out,
        "pve_zfs_snap_pull_disk_destroyed_snapshots",
        "Per disk: snapshots destroyed at the target by --keep in the last pull.",
        per(&|d| d.destroyed.len().to_string()),
    );
    out
}
