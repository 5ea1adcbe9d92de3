//! The plan: a pure function of (policy, now, host, inventory) to the label changes,
//! snapshots, bookmarks and destroys of one run, each with its reason.
//!
//! Pure: no I/O, no clock, no logging.
//!
//! Layout: this file holds the plan's types and reasons, the guest-level rules (templates,
//! locks, a dataset named twice, a missing dataset) and the `--dry-run` text; `dataset.rs` plans
//! one dataset in its phases (nosnap, label and new snapshot, its name, retention, the disk's
//! state); `replica.rs` plans the bookmarks of this node's replicas (datasets of guests whose
//! config is on another node: bookmarks only); `tests.rs` holds the planner's tests.
//!
//! Decisions (docs/ARCHITECTURE.md "Running state", plus what it leaves open):
//! * Only guests in `host` (config on this node) are looked at; a dataset is planned at most
//!   once per run even if two disks name it.
//! * Templates: skipped (note). `lock:` `backup`, `snapshot`, `snapshot-delete`, `suspending`,
//!   `suspended`: snapshots and label changes as usual, **no destroys** (note). Any other lock
//!   (`migrate`, `rollback`, `create`, `destroyed`, `clone`, `disk`, unknown values): the guest
//!   is left alone entirely (note).
//! * `label:nosnap=nosnap`: hands off entirely — no periodic or `_stopped` snapshot, no label
//!   write, no destroy (the original tool's bug #7 was writing labels and `_stopped` there).
//! * A label value that is empty or `-` counts as unset.
//! * Running here: label ≠ node → set it; then at most one snapshot named after the longest due
//!   class (plus its bookmark), then retention.
//! * Not running: label is this node or unset → one `_stopped` snapshot + label `stopped`, then
//!   retention; label `stopped` → retention only (the newest snapshot is never destroyed, so the
//!   `_stopped` marker survives); label names another node → nothing at all, not even destroys:
//!   the dataset belongs to wherever the guest runs.
//! * Expired snapshots that are held, busy (a running `zfs send`) or cloned
//!   ([`DatasetState::pins`], read by the run for the snapshots a first plan would destroy)
//!   are not planned for destroy but kept ([`GuestPlan::kept`], with why): the dry run says
//!   so, and the real run does not attempt them (`destroy.lua` still keeps and reports one
//!   held since the read).
//! * Name collisions (the repeated hour at a DST fall-back, a rerun in the same second): the
//!   name's seconds are moved forward until the name is free among our snapshots and bookmarks
//!   of the dataset (note); the format stays exactly ours (no sanoid `dst` suffix).
//! * Every destroy relies on the run's new snapshot of that dataset (if any) being created in
//!   the same program: the new one is counted as the newest.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use chrono::{DateTime, Utc};

use crate::change::Change;
use crate::clusterpolicy::{Decision, HostDecisions};
use crate::host::{Disk, Guest, GuestKind, Host};
#[cfg(test)]
use crate::naming::SnapKind; // for the tests' `use super::*`
use crate::naming::{Class, Dataset, SnapName};
use crate::policy::{BookmarkPolicy, DueWhy, Policy, Zone};
use crate::state::{DatasetState, Pin};
use crate::verdict::State;

/// Everything the planner decides from.
#[derive(Clone, Debug)]
pub struct PlanInput<'a> {
    /// Snapshot retention.
    pub policy: &'a Policy,
    /// Bookmark retention.
    pub bookmarks: &'a BookmarkPolicy,
    /// The run's one clock reading.
    pub now: DateTime<Utc>,
    /// Zone of names and calendar buckets.
    pub zone: Zone,
    /// This node and its guests.
    pub host: &'a Host,
    /// What the pools say about the guests' datasets.
    pub inventory: &'a BTreeMap<Dataset, DatasetState>,
    /// The policy of each disk (`clusterpolicy`); a disk without a decision gets `policy`
    /// and `bookmarks`.
    pub decisions: Option<&'a HostDecisions>,
}

/// The whole run's plan.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Plan {
    /// This node.
    pub node: String,
    /// One entry per guest of `host`, sorted by VMID.
    pub guests: Vec<GuestPlan>,
    /// Notes on the policy as a whole (the file's defaults overriding the command line).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_notes: Vec<String>,
    /// The bookmarks of this node's replicas ([`replica`]), after the guests' work; only
    /// replicas with something to do or say (absent from the JSON when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<replica::ReplicaPlan>,
    /// Stale bookmarks ([`stale`]) this run leaves in place, and why (absent from the JSON
    /// when none): a third site could still resume from them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_pending: Vec<stale::StalePending>,
}

/// What happens to one guest.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GuestPlan {
    /// VMID.
    pub vmid: u32,
    /// VM or container.
    pub kind: GuestKind,
    /// The guest's `name:`/`hostname:` (for the dry run's text only).
    #[serde(skip)]
    pub name: Option<String>,
    /// A template: every disk excluded on purpose (for the dry run's text only; the JSON
    /// has the note and the disks' state).
    #[serde(skip)]
    pub template: bool,
    /// Running on this node.
    pub running: bool,
    /// The policy in force for its disks, and why (when decided by `clusterpolicy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// In execution order per dataset: SetLabel, Snapshot, Bookmark, Destroy, DestroyBookmark
    /// (serialized as `actions`).
    #[serde(rename = "actions")]
    pub changes: Vec<Planned>,
    /// Expired snapshots of ours not planned for destroy because a destroy cannot remove them
    /// now (held, busy, cloned); absent from the JSON when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<KeptExpired>,
    /// Why something was skipped or adjusted.
    pub notes: Vec<String>,
    /// Every disk of the guest and the state the plan leads it to (the protection contract).
    pub disks: Vec<DiskPlan>,
}

/// An expired snapshot of ours that the run keeps because a destroy cannot remove it now:
/// what the real run's report counts as "expired kept (held, cloned or busy)".
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct KeptExpired {
    /// The dataset.
    pub dataset: Dataset,
    /// The snapshot.
    pub name: SnapName,
    /// Why it cannot be destroyed now.
    pub pin: Pin,
    /// Where retention puts it (it would be destroyed otherwise).
    pub expiry: Expiry,
}

impl fmt::Display for KeptExpired {
    /// `expired: <expiry>; kept: held (a later run destroys it once …)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expired: {}; kept:{} ({})",
            self.expiry,
            self.pin,
            self.pin.until()
        )
    }
}

/// One disk of a guest and what the plan does for its protection.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DiskPlan {
    /// Config key (`scsi0`, `rootfs`, …).
    pub key: String,
    /// Its dataset, if it has one.
    pub dataset: Option<Dataset>,
    /// The state it is in once the planned snapshot (if any) is taken.
    #[serde(flatten)]
    pub state: State,
    /// The snapshot planned for it, whose outcome decides the state.
    pub snapshot: Option<SnapName>,
    /// Snapshots of ours on it dated after the run's clock (a clock that was once ahead):
    /// how many, and the latest.
    pub future: Option<(usize, SnapName)>,
    /// A `label:nosnap` value that is not understood (the disk is protected as usual).
    pub nosnap_unknown: Option<String>,
    /// Existing snapshots of ours on it that the plan keeps (does not destroy), the new one
    /// not counted: when none, a destroy may leave the disk without a snapshot of ours if the
    /// new one is not made (`zfs::apply` holds the newest back then).
    #[serde(skip)]
    pub kept: usize,
}

/// One change and why. Serializes as `{action, reason, why}` (`action`: the change) where
/// `why` is the reason's `Display` sentence.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    /// What to do.
    pub change: Change,
    /// Why.
    pub reason: Reason,
}

impl serde::Serialize for Planned {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Planned", 3)?;
        st.serialize_field("action", &self.change)?;
        st.serialize_field("reason", &self.reason)?;
        st.serialize_field("why", &self.reason.to_string())?;
        st.end()
    }
}

/// Why a change is planned; `Display` is the human sentence.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The guest runs here and the label said otherwise.
    RunningHere {
        /// The label before (None: unset).
        previous: Option<String>,
    },
    /// The guest is not running and the label was this node or unset.
    StoppedSinceLastRun {
        /// The label before (None: unset).
        previous: Option<String>,
    },
    /// The periodic snapshot of this run.
    Due {
        /// Its class.
        class: Class,
        /// Why due.
        why: DueWhy,
    },
    /// The bookmark of this run's new snapshot.
    BookmarkOfNew {
        /// The snapshot's class.
        class: Class,
    },
    /// The bookmark of a snapshot of ours on a replica (bookmarks do not travel with
    /// `zfs send -R`).
    BookmarkOfReplica {
        /// The snapshot's class.
        class: Class,
    },
    /// A snapshot kept by no class.
    Expired(Expiry),
    /// A bookmark kept by no class.
    ExpiredBookmark(Expiry),
    /// A bookmark of ours whose snapshot a rollback discarded ([`stale`]): a third site must
    /// never resume from it.
    StaleBookmark(stale::StaleWhy),
}

/// How the sentence of every [`Reason::StaleBookmark`] starts (reports count these items).
pub const STALE_BOOKMARK: &str = "stale bookmark";

/// Where an expired snapshot or bookmark stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Expiry {
    /// Its effective class.
    pub class: Class,
    /// 1-based position among ours of rank ≥ `class`, newest first.
    pub position: usize,
    /// How many that class keeps.
    pub keep: u32,
    /// A `_stopped` snapshot (counted as the lowest managed class).
    pub stopped: bool,
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} newest {}-or-longer",
            ordinal(self.position),
            self.class
        )?;
        if self.stopped {
            write!(f, " (stopped counts as {})", self.class)?;
        }
        let kept = match self.keep {
            0 => "none".to_string(),
            n => n.to_string(),
        };
        write!(f, ", {}{} keeps {kept}", self.class.letter(), self.keep)
    }
}

fn label_text(l: &Option<String>) -> &str {
    l.as_deref().unwrap_or("unset")
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::RunningHere { previous: None } => write!(
                f,
                "guest running here; no label:running yet (first run on this disk)"
            ),
            Reason::RunningHere { previous } => write!(
                f,
                "guest running here; label:running was {}",
                label_text(previous)
            ),
            Reason::StoppedSinceLastRun { previous: None } => write!(
                f,
                "guest not running and no label:running yet (first run on this disk): \
                 one _stopped snapshot records it"
            ),
            Reason::StoppedSinceLastRun { previous } => write!(
                f,
                "guest stopped since last run (label:running was {})",
                label_text(previous)
            ),
            Reason::Due {
                class,
                why: DueWhy::EveryRun,
            } => write!(f, "{class} due: taken on every run"),
            Reason::Due {
                class,
                why: DueWhy::NoneInBucket { bucket },
            } => write!(f, "{class} due: no {class}-or-longer snapshot in {bucket}"),
            Reason::BookmarkOfNew { class } => {
                write!(f, "bookmark of the new {class} snapshot")
            }
            Reason::BookmarkOfReplica { class } => write!(
                f,
                "bookmark of the {class} snapshot on a replica (bookmarks do not travel with \
                 replication)"
            ),
            Reason::Expired(e) => write!(f, "expired: {e}"),
            Reason::ExpiredBookmark(e) => write!(f, "bookmark expired: {e}"),
            Reason::StaleBookmark(stale::StaleWhy::Discarded { kept, vanished }) => write!(
                f,
                "{STALE_BOOKMARK}: a rollback discarded its snapshot (gone since the last run: {}; \
                 newest of ours still there: {}); a third site must not resume from it",
                vanished.join(", "),
                kept.as_deref().unwrap_or("none")
            ),
            Reason::StaleBookmark(stale::StaleWhy::Pending) => write!(
                f,
                "{STALE_BOOKMARK}: a rollback discarded its snapshot (found by an earlier run, \
                 not destroyed yet); a third site must not resume from it"
            ),
        }
    }
}

/// What a `lock:` value allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockMode {
    Normal,
    NoDestroys,
    HandsOff,
}

pub(crate) fn lock_mode(lock: Option<&str>) -> LockMode {
    match lock {
        None => LockMode::Normal,
        Some("backup" | "snapshot" | "snapshot-delete" | "suspending" | "suspended") => {
            LockMode::NoDestroys
        }
        Some(_) => LockMode::HandsOff,
    }
}

/// Plans one run. See the module docs for the rules.
pub fn plan(input: &PlanInput) -> Plan {
    let mut seen = BTreeMap::new();
    let mut guests: Vec<GuestPlan> = input
        .host
        .guests
        .iter()
        .map(|g| plan_guest(input, g, &mut seen))
        .collect();
    guests.sort_by_key(|g| g.vmid);
    Plan {
        node: input.host.node.clone(),
        guests,
        policy_notes: Vec::new(),
        replicas: Vec::new(),
        stale_pending: Vec::new(),
    }
}

/// Plans one guest: templates and guests under a lock that leaves them alone get every disk
/// excluded; otherwise each disk is planned ([`plan_disk`]), under what the lock allows.
fn plan_guest(input: &PlanInput, g: &Guest, seen: &mut BTreeMap<Dataset, String>) -> GuestPlan {
    let mut gp = GuestPlan {
        vmid: g.vmid,
        kind: g.kind,
        name: g.name.clone(),
        template: g.template,
        running: g.running,
        policy: input.decisions.and_then(|d| d.guests.get(&g.vmid).cloned()),
        changes: Vec::new(),
        kept: Vec::new(),
        notes: Vec::new(),
        disks: Vec::new(),
    };
    for o in &g.other_disks {
        let state = if o.failed {
            State::Failed(o.reason.clone())
        } else {
            State::Excluded(o.reason.clone())
        };
        gp.disks.push(disk_plan(o.key.clone(), None, state));
    }
    let exclude_all = |gp: &mut GuestPlan, why: &str| {
        for d in &g.disks {
            let state = State::Excluded(why.to_string());
            gp.disks
                .push(disk_plan(d.key.clone(), Some(d.dataset.clone()), state));
        }
    };
    if g.template {
        gp.notes.push("template: skipped".into());
        exclude_all(&mut gp, "template");
        return gp;
    }
    let mode = lock_mode(g.lock.as_deref());
    let lock = g.lock.as_deref().unwrap_or_default();
    match mode {
        LockMode::HandsOff => {
            gp.notes.push(format!("locked ({lock}): left alone"));
            exclude_all(&mut gp, &format!("guest locked ({lock})"));
            return gp;
        }
        LockMode::NoDestroys => gp
            .notes
            .push(format!("locked ({lock}): no destroys this run")),
        LockMode::Normal => {}
    }
    if g.disks.is_empty() {
        gp.notes.push("no disks on ZFS storages".into());
    }
    for disk in &g.disks {
        let dp = plan_disk(input, g, mode, disk, seen, &mut gp);
        gp.disks.push(dp);
    }
    gp
}

/// A disk's entry before anything is planned for it.
fn disk_plan(key: String, dataset: Option<Dataset>, state: State) -> DiskPlan {
    DiskPlan {
        key,
        dataset,
        state,
        snapshot: None,
        future: None,
        nosnap_unknown: None,
        kept: 0,
    }
}

/// Plans one ZFS disk of `g`: a dataset already planned in this run (two disks naming it) is
/// excluded, a missing one fails (with where to look), an existing one is planned by
/// [`dataset::plan_dataset`]. Notes and changes go into `gp`; the disk's entry is returned.
fn plan_disk(
    input: &PlanInput,
    g: &Guest,
    mode: LockMode,
    disk: &Disk,
    seen: &mut BTreeMap<Dataset, String>,
    gp: &mut GuestPlan,
) -> DiskPlan {
    let ds = &disk.dataset;
    let mut dp = disk_plan(disk.key.clone(), Some(ds.clone()), State::Snapshotted);
    if let Some(first) = seen.get(ds) {
        gp.notes
            .push(format!("{ds}: already planned for another disk; skipped"));
        dp.state = State::Excluded(format!("same dataset as {first}"));
        return dp;
    }
    seen.insert(
        ds.clone(),
        format!("{} {} {}", g.kind.label(), g.vmid, disk.key),
    );
    let decision = input
        .decisions
        .and_then(|d| d.disks.get(&(g.vmid, disk.key.clone())));
    let local;
    let input = match decision {
        Some(Decision::Exclude { why }) => {
            dp.state = State::Excluded(format!("policy: {why}"));
            return dp;
        }
        Some(Decision::Conflict { why }) => {
            gp.notes
                .push(format!("{ds} ({}): policy conflict; skipped", disk.key));
            dp.state = State::Failed(format!("policy: {why}"));
            return dp;
        }
        Some(Decision::Keep {
            policy, bookmarks, ..
        }) => {
            local = PlanInput {
                policy,
                bookmarks,
                ..input.clone()
            };
            &local
        }
        None => input,
    };
    match input.inventory.get(ds) {
        Some(st) if st.exists => dataset::plan_dataset(input, g, mode, st, gp, &mut dp),
        _ => {
            gp.notes.push(format!(
                "{ds} ({}): dataset does not exist; skipped",
                disk.key
            ));
            dp.state = State::Failed(format!(
                "dataset {ds} does not exist: check the 'pool' of storage {:?} in \
                 /etc/pve/storage.cfg and `zfs list {ds}`",
                disk.storage
            ));
        }
    }
    dp
}

impl Plan {
    /// Counts of (label changes, snapshots, bookmarks, destroys, bookmark destroys).
    pub fn totals(&self) -> [usize; 5] {
        let mut t = [0; 5];
        for a in self.guests.iter().flat_map(|g| &g.changes) {
            let i = match a.change {
                Change::SetLabel { .. } => 0,
                Change::Snapshot { .. } => 1,
                Change::Bookmark { .. } => 2,
                Change::Destroy { .. } => 3,
                Change::DestroyBookmark { .. } => 4,
            };
            t[i] += 1;
        }
        t
    }

    /// The whole plan as text: a summary line, then per guest what will be created and
    /// destroyed and why, and notes on what is skipped (the planner's tests; `--dry-run` is
    /// `report::dryrun`, built from the same [`GuestPlan::render`]).
    #[cfg(test)]
    pub fn render_text(&self) -> String {
        let [labels, snaps, bms, destroys, bm_destroys] = self.totals();
        let mut out = format!(
            "node {}: {snaps} snapshot(s), {bms} bookmark(s), {destroys} snapshot destroy(s), \
             {bm_destroys} bookmark destroy(s), {labels} label change(s)\n",
            self.node
        );
        for n in &self.policy_notes {
            let _ = writeln!(out, "! {n}");
        }
        for g in &self.guests {
            g.render(&mut out);
        }
        self.render_replicas(&mut out);
        out
    }

    /// The replicas' part of the `--dry-run` output (nothing when no replica has anything to
    /// do or say): a count line, then one line per change and note.
    pub fn render_replicas(&self, out: &mut String) {
        if self.replicas.is_empty() {
            return;
        }
        let changes = self.replicas.iter().flat_map(|r| &r.changes);
        let bms = changes
            .clone()
            .filter(|p| matches!(p.change, Change::Bookmark { .. }))
            .count();
        let bm_destroys = changes.count() - bms;
        let _ = writeln!(
            out,
            "replicas of guests on other nodes: {bms} bookmark(s), {bm_destroys} bookmark destroy(s)"
        );
        for r in &self.replicas {
            let head = format!("replica {} (guest {} on {})", r.dataset, r.vmid, r.owner);
            for p in &r.changes {
                let what = match &p.change {
                    Change::Bookmark { name, .. } => format!("bookmark {name}"),
                    Change::DestroyBookmark { name, .. } => format!("destroy bookmark {name}"),
                    other => other.describe(),
                };
                let _ = writeln!(out, "{head}: {what}\n      {}", p.reason);
            }
            for n in &r.notes {
                let _ = writeln!(out, "{head}: ! {n}");
            }
        }
    }
}

impl GuestPlan {
    /// The guest's block of the `--dry-run` text: a title line, each change with its reason,
    /// the notes (`!`), or what excludes it on purpose.
    pub fn render(&self, out: &mut String) {
        let g = self;
        let kind = match g.kind {
            GuestKind::Qemu => "VM",
            GuestKind::Lxc => "CT",
        };
        let state = if g.running { "running" } else { "not running" };
        let name = g.name.as_ref().map(|n| format!(" {n}")).unwrap_or_default();
        let _ = writeln!(out, "{kind} {}{name} ({state})", g.vmid);
        if let Some(p) = &g.policy {
            let _ = writeln!(out, "  policy {p}");
        }
        for p in &g.changes {
            let line = match &p.change {
                Change::SetLabel { dataset, value } => {
                    format!("~ label    {dataset} label:running={value}")
                }
                Change::Snapshot { dataset, name } => {
                    format!("+ snapshot {dataset}@{name}")
                }
                Change::Bookmark { dataset, name } => {
                    format!("+ bookmark {dataset}#{name}")
                }
                Change::Destroy { dataset, name } => {
                    format!("- destroy  {dataset}@{name}")
                }
                Change::DestroyBookmark { dataset, name } => {
                    format!("- destroy  {dataset}#{name}")
                }
            };
            let _ = writeln!(out, "  {line}\n      {}", p.reason);
        }
        for k in &g.kept {
            let _ = writeln!(
                out,
                "  = kept     {}@{} ({})\n      {k}",
                k.dataset, k.name, k.pin
            );
        }
        if g.template {
            // Intentional, named: not a warning.
            out.push_str("  excluded: template (PVE templates are never snapshotted)\n");
        } else {
            for n in &g.notes {
                let _ = writeln!(out, "  ! {n}");
            }
        }
        if g.changes.is_empty() && g.notes.is_empty() && g.kept.is_empty() {
            out.push_str("  nothing to do\n");
        }
    }
}

mod dataset;
pub mod replica;
pub mod stale;

#[cfg(test)]
mod tests;
