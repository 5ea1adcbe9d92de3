//! The `--dry-run` text: what a run would do, summary first, so that a node of 200 guests
//! reads in a screen: the counts per action and per disk state, every problem, one line per
//! guest, then every change and its reason for the guests asked for (`--guest`), for all
//! (`--detail`), or for all on a node of at most [`AUTO_DETAIL_MAX`] guests.
//!
//! Pure: text from the plan and the dry run's report; decides nothing (every word comes from
//! the planner's decisions and the report's disk states), prints nothing.

use std::fmt::Write as _;

use super::Report;
use crate::change::Change;
use crate::plan::{GuestPlan, Plan};
use crate::verdict::{self, State};

/// On a node of at most this many guests the dry run details every guest by default.
pub const AUTO_DETAIL_MAX: usize = 20;

/// Which guests the dry run details (every change and its reason).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Every guest on a node of at most [`AUTO_DETAIL_MAX`] guests, none on a larger one.
    Auto,
    /// Every guest (`--detail`).
    All,
    /// These VMIDs (`--guest`).
    Guests(Vec<u32>),
}

impl Detail {
    fn covers(&self, vmid: u32, guests: usize) -> bool {
        match self {
            Detail::Auto => guests <= AUTO_DETAIL_MAX,
            Detail::All => true,
            Detail::Guests(v) => v.contains(&vmid),
        }
    }
}

/// The whole `--dry-run` text (see the module docs).
pub fn render(plan: &Plan, report: &Report, detail: &Detail) -> String {
    let n = plan.guests.len();
    let mut out = String::from("DRY RUN: nothing is changed\n");
    counts(plan, report, &mut out);
    problems(report, &mut out);
    let detailed: Vec<&GuestPlan> = plan
        .guests
        .iter()
        .filter(|g| detail.covers(g.vmid, n))
        .collect();
    if detailed.len() < n {
        let _ = writeln!(out, "guests ({n}, one line each):");
        for g in &plan.guests {
            let _ = writeln!(out, "  {}", guest_line(g, report));
        }
    }
    if let Detail::Guests(asked) = detail {
        for vmid in asked
            .iter()
            .filter(|v| !plan.guests.iter().any(|g| g.vmid == **v))
        {
            let _ = writeln!(out, "! --guest {vmid}: no such guest on node {}", plan.node);
        }
    }
    if detailed.is_empty() {
        let _ = writeln!(
            out,
            "detail: add --guest <vmid>[,<vmid>] (or --detail for all {n}) for every change \
             and its reason"
        );
    } else {
        if detailed.len() < n {
            let _ = writeln!(
                out,
                "detail of {} guest(s) (every change and its reason):",
                detailed.len()
            );
        }
        for g in &detailed {
            g.render(&mut out);
        }
    }
    if detailed.len() == n {
        plan.render_replicas(&mut out);
    } else {
        replica_counts(plan, &mut out);
    }
    let disks = disk_lines(report, |vmid| detailed.iter().any(|g| g.vmid == vmid));
    if !disks.is_empty() {
        let _ = write!(out, "\ndisks:\n{disks}");
    }
    let _ = writeln!(out, "{}", report.summary());
    out
}

/// The counts: per action (the plan's), per disk state (the report's).
fn counts(plan: &Plan, report: &Report, out: &mut String) {
    let [labels, snaps, bms, destroys, bm_destroys] = plan.totals();
    let _ = writeln!(
        out,
        "node {}: {snaps} snapshot(s), {bms} bookmark(s), {destroys} snapshot destroy(s), \
         {bm_destroys} bookmark destroy(s), {labels} label change(s)",
        plan.node
    );
    let p = &report.protection;
    let _ = writeln!(
        out,
        "{} guest(s), {} disk(s): {} would be snapshotted, {} stopped (kept by their _stopped \
         snapshot), {} excluded on purpose, {} UNPROTECTED",
        plan.guests.len(),
        report.disks.len(),
        p.snapshotted,
        p.stopped,
        p.excluded,
        p.failed
    );
    for n in &plan.policy_notes {
        let _ = writeln!(out, "! {n}");
    }
}

/// Every disk left unprotected and every warning, whatever the detail.
fn problems(report: &Report, out: &mut String) {
    let failed: Vec<String> = report
        .disks
        .iter()
        .filter_map(|d| match &d.state {
            State::Failed(why) => Some(format!("  UNPROTECTED {}: {why}", disk_title(d))),
            _ => None,
        })
        .chain(report.warnings.iter().map(|w| format!("  warning: {w}")))
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "problems:\n{}", failed.join("\n"));
    }
}

fn disk_title(d: &verdict::DiskStatus) -> String {
    match &d.dataset {
        Some(ds) => format!("{} {} {} ({ds})", d.guest, d.vmid, d.key),
        None => format!("{} {} {}", d.guest, d.vmid, d.key),
    }
}

/// One guest in one line: title, its disks by state, its changes by kind, its notes.
fn guest_line(g: &GuestPlan, report: &Report) -> String {
    let kind = match g.kind {
        crate::host::GuestKind::Qemu => "VM",
        crate::host::GuestKind::Lxc => "CT",
    };
    let name = g.name.as_ref().map(|n| format!(" {n}")).unwrap_or_default();
    let title = format!(
        "{kind} {}{name} ({})",
        g.vmid,
        if g.running { "running" } else { "not running" }
    );
    if g.template {
        return format!("{title}: excluded: template");
    }
    let disks: Vec<verdict::DiskStatus> = report
        .disks
        .iter()
        .filter(|d| d.vmid == g.vmid)
        .cloned()
        .collect();
    let c = verdict::Counts::of(&disks);
    let states: Vec<String> = [
        (c.snapshotted, "snapshotted"),
        (c.stopped, "stopped"),
        (c.excluded, "excluded"),
        (c.failed, "UNPROTECTED"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, w)| format!("{n} {w}"))
    .collect();
    let mut kinds = [0usize; 5];
    for p in &g.changes {
        kinds[match p.change {
            Change::Snapshot { .. } => 0,
            Change::Bookmark { .. } => 1,
            Change::Destroy { .. } => 2,
            Change::DestroyBookmark { .. } => 3,
            Change::SetLabel { .. } => 4,
        }] += 1;
    }
    let mut changes: Vec<String> = kinds
        .iter()
        .zip(["+snapshot", "+bookmark", "-snapshot", "-bookmark", "~label"])
        .filter(|(n, _)| **n > 0)
        .map(|(n, w)| format!("{w} {n}"))
        .collect();
    if !g.kept.is_empty() {
        changes.push(format!(
            "={} expired kept (held, cloned or busy)",
            g.kept.len()
        ));
    }
    let mut line = format!(
        "{title}: {}; {}",
        if states.is_empty() {
            "no disks".to_string()
        } else {
            format!("disks {}", states.join(", "))
        },
        if changes.is_empty() {
            "nothing to do".to_string()
        } else {
            changes.join(" ")
        }
    );
    for n in &g.notes {
        let _ = write!(line, "; ! {n}");
    }
    line
}

/// The replicas' counts only (their changes belong to the full detail).
fn replica_counts(plan: &Plan, out: &mut String) {
    let changes: Vec<&Change> = plan
        .replicas
        .iter()
        .flat_map(|r| &r.changes)
        .map(|p| &p.change)
        .collect();
    if plan.replicas.is_empty() {
        return;
    }
    let bms = changes
        .iter()
        .filter(|c| matches!(c, Change::Bookmark { .. }))
        .count();
    let _ = writeln!(
        out,
        "replicas of guests on other nodes: {bms} bookmark(s), {} bookmark destroy(s) \
         (--detail lists them)",
        changes.len() - bms
    );
}

/// The disks of the detailed guests and their states, failed first (the failed ones of the
/// others are under "problems").
fn disk_lines(report: &Report, detailed: impl Fn(u32) -> bool) -> String {
    let mut out = String::new();
    let mut rows: Vec<&verdict::DiskStatus> =
        report.disks.iter().filter(|d| detailed(d.vmid)).collect();
    rows.sort_by_key(|d| !matches!(d.state, State::Failed(_)));
    for d in rows {
        let state = match &d.state {
            State::Failed(why) => format!("UNPROTECTED: {why}"),
            State::Excluded(why) => format!("excluded: {why}"),
            State::Snapshotted => match d.snapshot {
                Some(n) => format!("snapshotted: @{n}"),
                None => "snapshotted: already has this run's snapshot".into(),
            },
            State::Stopped => match d.snapshot {
                Some(n) => format!("stopped: @{n}"),
                None => "stopped: its _stopped snapshot is there".into(),
            },
        };
        let _ = writeln!(out, "  {}: {state}", disk_title(d));
    }
    out
}
