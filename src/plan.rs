//! The plan: a pure function of (policy, now, host, inventory) to the label changes,
//! snapshots, bookmarks and destroys of one run, each with its reason.
//!
//! Pure: no I/O, no clock, no logging.
//!
//! Decisions (DESIGN.md "Running state", plus what it leaves open):
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
//! * Snapshots with holds or clones are never planned for destroy (note): the destroy would
//!   fail and, the apply being all-or-nothing per guest, block the guest's new snapshots.
//! * Name collisions (the repeated hour at a DST fall-back, a rerun in the same second): the
//!   name's seconds are moved forward until the name is free among our snapshots and bookmarks
//!   of the dataset (note); the format stays exactly ours (no sanoid `dst` suffix).
//! * Every destroy relies on the run's new snapshot of that dataset (if any) being created in
//!   the same program: the new one is counted as the newest.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use chrono::{DateTime, Utc};

use crate::host::{Guest, GuestKind, Host};
use crate::naming::{Class, Dataset, ShortName, SnapKind, SnapName};
use crate::nosnap::{NosnapValue, nosnap_value};
use crate::policy::{self, BookmarkPolicy, DueWhy, Entry, Policy, Verdict, Zone};
use crate::state::DatasetState;
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
}

/// The whole run's plan.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Plan {
    /// This node.
    pub node: String,
    /// One entry per guest of `host`, sorted by VMID.
    pub guests: Vec<GuestPlan>,
}

/// What happens to one guest.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GuestPlan {
    /// VMID.
    pub vmid: u32,
    /// VM or container.
    pub kind: GuestKind,
    /// Running on this node.
    pub running: bool,
    /// In execution order per dataset: SetLabel, Snapshot, Bookmark, Destroy, DestroyBookmark.
    pub actions: Vec<Planned>,
    /// Why something was skipped or adjusted.
    pub notes: Vec<String>,
    /// Every disk of the guest and the state the plan leads it to (the protection contract).
    pub disks: Vec<DiskPlan>,
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
}

/// One action and why. Serializes as `{action, reason, why}` where `why` is the reason's
/// `Display` sentence.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    /// What to do.
    pub action: Action,
    /// Why.
    pub reason: Reason,
}

impl serde::Serialize for Planned {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Planned", 3)?;
        st.serialize_field("action", &self.action)?;
        st.serialize_field("reason", &self.reason)?;
        st.serialize_field("why", &self.reason.to_string())?;
        st.end()
    }
}

/// One change to a dataset.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Action {
    /// `label:running=<value>`.
    SetLabel {
        /// The dataset.
        dataset: Dataset,
        /// Node name or `stopped`.
        value: String,
    },
    /// `dataset@name`.
    Snapshot {
        /// The dataset.
        dataset: Dataset,
        /// The new snapshot's short name.
        name: SnapName,
    },
    /// `dataset#name` from the new snapshot `dataset@name`.
    Bookmark {
        /// The dataset.
        dataset: Dataset,
        /// Short name of snapshot and bookmark.
        name: SnapName,
    },
    /// Destroy `dataset@name`.
    Destroy {
        /// The dataset.
        dataset: Dataset,
        /// The expired snapshot.
        name: SnapName,
    },
    /// Destroy `dataset#name`.
    DestroyBookmark {
        /// The dataset.
        dataset: Dataset,
        /// The expired bookmark.
        name: SnapName,
    },
}

impl Action {
    /// The dataset acted on.
    pub fn dataset(&self) -> &Dataset {
        match self {
            Action::SetLabel { dataset, .. }
            | Action::Snapshot { dataset, .. }
            | Action::Bookmark { dataset, .. }
            | Action::Destroy { dataset, .. }
            | Action::DestroyBookmark { dataset, .. } => dataset,
        }
    }
}

/// Why an action is planned; `Display` is the human sentence.
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
    /// A snapshot kept by no class.
    Expired(Expiry),
    /// A bookmark kept by no class.
    ExpiredBookmark(Expiry),
}

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
            Reason::RunningHere { previous } => write!(
                f,
                "guest running here; label:running was {}",
                label_text(previous)
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
            Reason::Expired(e) => write!(f, "expired: {e}"),
            Reason::ExpiredBookmark(e) => write!(f, "bookmark expired: {e}"),
        }
    }
}

/// What a `lock:` value allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LockMode {
    Normal,
    NoDestroys,
    HandsOff,
}

fn lock_mode(lock: Option<&str>) -> LockMode {
    match lock {
        None => LockMode::Normal,
        Some("backup" | "snapshot" | "snapshot-delete" | "suspending" | "suspended") => {
            LockMode::NoDestroys
        }
        Some(_) => LockMode::HandsOff,
    }
}

/// How far the name's seconds may be moved to avoid a collision.
const MAX_NAME_STEPS: i64 = 60;

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
    }
}

fn plan_guest(input: &PlanInput, g: &Guest, seen: &mut BTreeMap<Dataset, String>) -> GuestPlan {
    let mut gp = GuestPlan {
        vmid: g.vmid,
        kind: g.kind,
        running: g.running,
        actions: Vec::new(),
        notes: Vec::new(),
        disks: Vec::new(),
    };
    for o in &g.other_disks {
        gp.disks.push(DiskPlan {
            key: o.key.clone(),
            dataset: None,
            state: if o.failed {
                State::Failed(o.reason.clone())
            } else {
                State::Excluded(o.reason.clone())
            },
            snapshot: None,
            future: None,
            nosnap_unknown: None,
        });
    }
    let exclude_all = |gp: &mut GuestPlan, why: &str| {
        for d in &g.disks {
            gp.disks.push(DiskPlan {
                key: d.key.clone(),
                dataset: Some(d.dataset.clone()),
                state: State::Excluded(why.to_string()),
                snapshot: None,
                future: None,
                nosnap_unknown: None,
            });
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
        let ds = &disk.dataset;
        let mut dp = DiskPlan {
            key: disk.key.clone(),
            dataset: Some(ds.clone()),
            state: State::Snapshotted,
            snapshot: None,
            future: None,
            nosnap_unknown: None,
        };
        if let Some(first) = seen.get(ds) {
            gp.notes
                .push(format!("{ds}: already planned for another disk; skipped"));
            dp.state = State::Excluded(format!("same dataset as {first}"));
        } else {
            seen.insert(
                ds.clone(),
                format!("{} {} {}", g.kind.label(), g.vmid, disk.key),
            );
            match input.inventory.get(ds) {
                Some(st) if st.exists => plan_dataset(input, g, mode, st, &mut gp, &mut dp),
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
        }
        gp.disks.push(dp);
    }
    gp
}

/// Our snapshots or bookmarks of one dataset: name, txg, creation.
struct Ours {
    name: SnapName,
    entry: Entry,
}

/// Our snapshots (or bookmarks) among `(short name, createtxg, creation)`: those whose name
/// reads as ours ([`ShortName::ours`], read when the name was listed), in the given order.
fn ours<'a>(items: impl ExactSizeIterator<Item = (&'a ShortName, u64, i64)>) -> Vec<Ours> {
    let mut out = Vec::with_capacity(items.len());
    out.extend(items.filter_map(|(name, createtxg, creation)| {
        let name = name.ours()?;
        Some(Ours {
            name,
            entry: Entry {
                kind: name.kind(),
                createtxg,
                creation,
            },
        })
    }));
    out
}

fn plan_dataset(
    input: &PlanInput,
    g: &Guest,
    mode: LockMode,
    st: &DatasetState,
    gp: &mut GuestPlan,
    dp: &mut DiskPlan,
) {
    let ds = &st.dataset;
    let node = &input.host.node;
    if let Some(v) = &st.nosnap {
        match nosnap_value(v) {
            NosnapValue::Excludes => {
                gp.notes.push(format!("{ds}: label:nosnap={v}: left alone"));
                dp.state = State::Excluded(format!("label:nosnap={v}"));
                return;
            }
            NosnapValue::Includes => {}
            NosnapValue::Unknown => dp.nosnap_unknown = Some(v.clone()),
        }
    }
    let label: Option<String> = st
        .running
        .as_ref()
        .map(|p| p.value.clone())
        .filter(|v| !v.is_empty() && v != "-");

    let snaps = ours(
        st.snapshots
            .iter()
            .map(|s| (&s.name, s.createtxg, s.creation)),
    );
    let bms = ours(
        st.bookmarks
            .iter()
            .map(|b| (&b.name, b.createtxg, b.creation)),
    );
    let now_ts = input.now.timestamp();
    let future: Vec<&Ours> = snaps
        .iter()
        .filter(|o| o.entry.creation > now_ts + policy::SAME_INSTANT_SECS)
        .collect();
    dp.future = future
        .iter()
        .max_by_key(|o| o.entry.creation)
        .map(|o| (future.len(), o.name));

    let mut labels = Vec::new();
    // (kind, reason) of the one new snapshot
    let new: Option<(SnapKind, Reason)> = if g.running {
        if label.as_deref() != Some(node.as_str()) {
            labels.push(Planned {
                action: Action::SetLabel {
                    dataset: ds.clone(),
                    value: node.clone(),
                },
                reason: Reason::RunningHere {
                    previous: label.clone(),
                },
            });
        }
        let existing: Vec<Entry> = snaps.iter().map(|o| o.entry).collect();
        policy::due(input.policy.keep(), &input.zone, input.now, &existing).map(|d| {
            (
                SnapKind::Periodic(d.class),
                Reason::Due {
                    class: d.class,
                    why: d.why,
                },
            )
        })
    } else {
        match label.as_deref() {
            None => Some(()),
            Some(l) if l == node => Some(()),
            Some("stopped") => None,
            Some(other) => {
                gp.notes.push(format!(
                    "{ds}: label:running names {other}: guest runs there; left alone"
                ));
                dp.state = State::Excluded(format!(
                    "not running here; label:running names {other}, where it ran last"
                ));
                return;
            }
        }
        .map(|()| {
            let reason = Reason::StoppedSinceLastRun {
                previous: label.clone(),
            };
            labels.push(Planned {
                action: Action::SetLabel {
                    dataset: ds.clone(),
                    value: "stopped".into(),
                },
                reason: reason.clone(),
            });
            (SnapKind::Stopped, reason)
        })
    };

    dp.state = if g.running {
        State::Snapshotted
    } else {
        State::Stopped
    };
    let mut creates = Vec::new();
    let mut new_entry = None;
    if let Some((kind, reason)) = new {
        match free_name(input, kind, &snaps, &bms) {
            Ok((name, first)) => {
                dp.snapshot = Some(name);
                if name != first {
                    gp.notes.push(format!(
                        "{ds}: {first} is taken (DST repeat or rerun); named {name}"
                    ));
                }
                creates.push(Planned {
                    action: Action::Snapshot {
                        dataset: ds.clone(),
                        name,
                    },
                    reason,
                });
                if let SnapKind::Periodic(class) = kind
                    && input.bookmarks.creates_for(class)
                {
                    creates.push(Planned {
                        action: Action::Bookmark {
                            dataset: ds.clone(),
                            name,
                        },
                        reason: Reason::BookmarkOfNew { class },
                    });
                }
                new_entry = Some(Entry {
                    kind,
                    createtxg: u64::MAX,
                    creation: input.now.timestamp(),
                });
            }
            Err(msg) => {
                gp.notes.push(format!("{ds}: {msg}; no snapshot this run"));
                dp.state = State::Failed(format!("no free snapshot name: {msg}"));
            }
        }
    }

    let mut destroys = Vec::new();
    let mut held_back = 0usize;
    for (o, e) in expired(input.policy.keep(), &snaps, new_entry) {
        if mode == LockMode::NoDestroys {
            held_back += 1;
        } else {
            // Held or cloned snapshots are planned too: apply.lua keeps and reports them.
            destroys.push(Planned {
                action: Action::Destroy {
                    dataset: ds.clone(),
                    name: o.name,
                },
                reason: Reason::Expired(e),
            });
        }
    }
    if let Some(counts) = input.bookmarks.counts() {
        let new_bm = creates
            .iter()
            .any(|p| matches!(p.action, Action::Bookmark { .. }))
            .then_some(new_entry)
            .flatten();
        for (o, e) in expired(counts, &bms, new_bm) {
            if mode == LockMode::NoDestroys {
                held_back += 1;
            } else {
                destroys.push(Planned {
                    action: Action::DestroyBookmark {
                        dataset: ds.clone(),
                        name: o.name,
                    },
                    reason: Reason::ExpiredBookmark(e),
                });
            }
        }
    }
    if held_back > 0 {
        gp.notes.push(format!(
            "{ds}: {held_back} expired snapshot(s)/bookmark(s) kept while locked"
        ));
    }
    // Execution order: SetLabel, Snapshot, Bookmark, Destroy (oldest first), DestroyBookmark.
    destroys.sort_by_key(|p| matches!(p.action, Action::DestroyBookmark { .. }));
    gp.actions.extend(labels);
    gp.actions.extend(creates);
    gp.actions.extend(destroys);
}

/// Expired entries of `ours`, oldest first, counting `new` as the newest.
fn expired<'o>(
    keep: &policy::Counts,
    ours: &'o [Ours],
    new: Option<Entry>,
) -> Vec<(&'o Ours, Expiry)> {
    let mut entries: Vec<Entry> = ours.iter().map(|o| o.entry).collect();
    entries.extend(new);
    let verdicts = policy::retain(keep, &entries);
    let mut out: Vec<(&Ours, Expiry)> = ours
        .iter()
        .zip(verdicts)
        .filter_map(|(o, v)| match v {
            Verdict::Expire {
                class,
                position,
                keep,
            } => Some((
                o,
                Expiry {
                    class,
                    position,
                    keep,
                    stopped: o.name.kind() == SnapKind::Stopped,
                },
            )),
            _ => None,
        })
        .collect();
    out.sort_by_key(|(o, _)| o.entry.createtxg);
    out
}

/// The name for a new snapshot at `now`, moved forward by whole seconds while it equals one of
/// our snapshots or bookmarks. Returns (name, the unmoved name).
fn free_name(
    input: &PlanInput,
    kind: SnapKind,
    snaps: &[Ours],
    bms: &[Ours],
) -> Result<(SnapName, SnapName), String> {
    let first = SnapName::new(input.zone.wall_clock(input.now), kind)
        .ok_or_else(|| format!("time {} cannot be named", input.now))?;
    // Names compare as values: `Display` is one-to-one (whole seconds, four-digit years), and
    // formatting every name of every dataset was most of a long simulation's planning time.
    // Usually the first name is free: one scan answers without hashing every name.
    if !snaps.iter().chain(bms).any(|o| o.name == first) {
        return Ok((first, first));
    }
    let taken: std::collections::HashSet<SnapName> =
        snaps.iter().chain(bms).map(|o| o.name).collect();
    (0..=MAX_NAME_STEPS)
        .filter_map(|s| first.later_by(s))
        .find(|n| !taken.contains(n))
        .map(|n| (n, first))
        .ok_or_else(|| format!("{first} and the next {MAX_NAME_STEPS} seconds are taken"))
}

impl Plan {
    /// Counts of (label changes, snapshots, bookmarks, destroys, bookmark destroys).
    pub fn totals(&self) -> [usize; 5] {
        let mut t = [0; 5];
        for a in self.guests.iter().flat_map(|g| &g.actions) {
            let i = match a.action {
                Action::SetLabel { .. } => 0,
                Action::Snapshot { .. } => 1,
                Action::Bookmark { .. } => 2,
                Action::Destroy { .. } => 3,
                Action::DestroyBookmark { .. } => 4,
            };
            t[i] += 1;
        }
        t
    }

    /// The `--dry-run` output: a summary line, then per guest what will be created and
    /// destroyed and why, and notes on what is skipped.
    pub fn render_text(&self) -> String {
        let [labels, snaps, bms, destroys, bm_destroys] = self.totals();
        let mut out = format!(
            "node {}: {snaps} snapshot(s), {bms} bookmark(s), {destroys} snapshot destroy(s), \
             {bm_destroys} bookmark destroy(s), {labels} label change(s)\n",
            self.node
        );
        for g in &self.guests {
            let kind = match g.kind {
                GuestKind::Qemu => "VM",
                GuestKind::Lxc => "CT",
            };
            let state = if g.running { "running" } else { "not running" };
            let _ = writeln!(out, "{kind} {} ({state})", g.vmid);
            for p in &g.actions {
                let line = match &p.action {
                    Action::SetLabel { dataset, value } => {
                        format!("~ label    {dataset} label:running={value}")
                    }
                    Action::Snapshot { dataset, name } => {
                        format!("+ snapshot {dataset}@{name}")
                    }
                    Action::Bookmark { dataset, name } => {
                        format!("+ bookmark {dataset}#{name}")
                    }
                    Action::Destroy { dataset, name } => {
                        format!("- destroy  {dataset}@{name}")
                    }
                    Action::DestroyBookmark { dataset, name } => {
                        format!("- destroy  {dataset}#{name}")
                    }
                };
                let _ = writeln!(out, "  {line}\n      {}", p.reason);
            }
            for n in &g.notes {
                let _ = writeln!(out, "  ! {n}");
            }
            if g.actions.is_empty() && g.notes.is_empty() {
                out.push_str("  nothing to do\n");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
