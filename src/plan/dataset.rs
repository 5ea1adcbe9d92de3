//! The plan of one existing dataset of a guest the run looks at, in its phases: whether
//! `label:nosnap` leaves it alone, what the label says about where the guest runs (the label
//! change and the one new snapshot), the free name of that snapshot and its bookmark,
//! retention (destroys of snapshots and bookmarks), and the protection state of the disk.
//! The rules are the module docs of [`crate::plan`].
//!
//! Pure: no I/O, no clock, no logging. Looks at this one dataset only: which guests and disks
//! are planned at all (templates, locks, a dataset named twice, a missing one) is decided by
//! the caller.

use chrono::DateTime;
use chrono::Utc;

use std::collections::BTreeMap;

use super::{
    Change, DiskPlan, Expiry, GuestPlan, KeptExpired, LockMode, PlanInput, Planned, Reason,
};
use crate::host::Guest;
use crate::naming::{Dataset, ShortName, SnapKind, SnapName};
use crate::nosnap::{NosnapValue, nosnap_value};
use crate::policy::{self, Entry, Verdict};
use crate::state::{DatasetState, Pin};
use crate::verdict::State;

/// How far the name's seconds may be moved to avoid a collision.
const MAX_NAME_STEPS: i64 = 60;

/// Our snapshots or bookmarks of one dataset: name, txg, creation.
pub(super) struct Ours {
    pub(super) name: SnapName,
    pub(super) entry: Entry,
}

/// The one new snapshot of the run: its kind and why it is taken.
type New = (SnapKind, Reason);

/// What the phases of one dataset's plan share.
struct Ctx<'a> {
    input: &'a PlanInput<'a>,
    ds: &'a Dataset,
    /// Our snapshots, in the inventory's order.
    snaps: Vec<Ours>,
    /// Our bookmarks, in the inventory's order.
    bms: Vec<Ours>,
    /// The snapshots a destroy cannot remove now ([`DatasetState::pins`]).
    pins: &'a BTreeMap<ShortName, Pin>,
}

/// Plans one existing dataset `st` of guest `g` (whose lock allows `mode`): its label change,
/// new snapshot and bookmark, and destroys go into `gp.changes` (in execution order), what
/// was skipped or adjusted into `gp.notes`, and the disk's protection state into `dp`.
pub(super) fn plan_dataset(
    input: &PlanInput,
    g: &Guest,
    mode: LockMode,
    st: &DatasetState,
    gp: &mut GuestPlan,
    dp: &mut DiskPlan,
) {
    let ds = &st.dataset;
    if nosnap_excludes(st, gp, dp) {
        return;
    }
    let label = running_label(st);
    let cx = Ctx {
        input,
        ds,
        snaps: ours(
            st.snapshots
                .iter()
                .map(|s| (&s.name, s.createtxg, s.creation)),
        ),
        bms: ours(
            st.bookmarks
                .iter()
                .map(|b| (&b.name, b.createtxg, b.creation)),
        ),
        pins: &st.pins,
    };
    dp.future = future_snapshots(input.now, &cx.snaps);

    let (labels, new) = match label_and_new(&cx, g.running, &label) {
        Ok(decided) => decided,
        Err(other) => {
            gp.notes.push(format!(
                "{ds}: label:running names {other}: guest runs there; left alone"
            ));
            dp.state = State::Excluded(format!(
                "not running here; label:running names {other}, where it ran last"
            ));
            return;
        }
    };

    dp.state = if g.running {
        State::Snapshotted
    } else {
        State::Stopped
    };
    let (creates, new_entry) = match new {
        Some(new) => create_new(&cx, new, gp, dp),
        None => (Vec::new(), None),
    };
    let new_bm = creates
        .iter()
        .any(|p| matches!(p.change, Change::Bookmark { .. }))
        .then_some(new_entry)
        .flatten();
    let destroys = destroys(&cx, mode, new_entry, new_bm, gp);
    let destroyed = destroys
        .iter()
        .filter(|p| matches!(p.change, Change::Destroy { .. }))
        .count();
    dp.kept = cx.snaps.len().saturating_sub(destroyed);
    // Execution order: SetLabel, Snapshot, Bookmark, Destroy (oldest first), DestroyBookmark.
    gp.changes.extend(labels);
    gp.changes.extend(creates);
    gp.changes.extend(destroys);
}

/// Whether `label:nosnap` leaves the dataset alone entirely (no snapshot, no label write, no
/// destroy; noted, and the disk excluded). A value not understood is kept in `dp` (the disk
/// is protected as usual).
fn nosnap_excludes(st: &DatasetState, gp: &mut GuestPlan, dp: &mut DiskPlan) -> bool {
    let Some(v) = &st.nosnap else {
        return false;
    };
    match nosnap_value(v) {
        NosnapValue::Excludes => {
            let ds = &st.dataset;
            gp.notes.push(format!("{ds}: label:nosnap={v}: left alone"));
            dp.state = State::Excluded(format!("label:nosnap={v}"));
            return true;
        }
        NosnapValue::Includes => {}
        NosnapValue::Unknown => dp.nosnap_unknown = Some(v.clone()),
    }
    false
}

/// The `label:running` value, when set (empty or `-` counts as unset).
fn running_label(st: &DatasetState) -> Option<String> {
    st.running
        .as_ref()
        .map(|p| p.value.clone())
        .filter(|v| !v.is_empty() && v != "-")
}

/// Our snapshots dated after the run's clock (beyond the same-instant tolerance: a clock that
/// was once ahead): how many, and the latest.
fn future_snapshots(now: DateTime<Utc>, snaps: &[Ours]) -> Option<(usize, SnapName)> {
    let now_ts = now.timestamp();
    let future: Vec<&Ours> = snaps
        .iter()
        .filter(|o| o.entry.creation > now_ts + policy::SAME_INSTANT_SECS)
        .collect();
    future
        .iter()
        .max_by_key(|o| o.entry.creation)
        .map(|o| (future.len(), o.name))
}

/// What the label and the guest's running state decide: the label change (at most one) and
/// the one new snapshot, by [`running_here`] or [`not_running`]; `Err` with the node the label
/// names when the dataset is another node's.
fn label_and_new<'l>(
    cx: &Ctx,
    running: bool,
    label: &'l Option<String>,
) -> Result<(Vec<Planned>, Option<New>), &'l str> {
    if running {
        let (set, new) = running_here(cx, label);
        return Ok((set.into_iter().collect(), new));
    }
    Ok(match not_running(cx, label)? {
        Some((set, new)) => (vec![set], Some(new)),
        None => (vec![], None),
    })
}

/// The guest runs here: the label is set to this node when it says otherwise, and the new
/// snapshot is the one of the longest class due (none when nothing is due).
fn running_here(cx: &Ctx, label: &Option<String>) -> (Option<Planned>, Option<New>) {
    let (input, node) = (cx.input, &cx.input.host.node);
    let set = (label.as_deref() != Some(node.as_str())).then(|| Planned {
        change: Change::SetLabel {
            dataset: cx.ds.clone(),
            value: node.clone(),
        },
        reason: Reason::RunningHere {
            previous: label.clone(),
        },
    });
    let existing: Vec<Entry> = cx.snaps.iter().map(|o| o.entry).collect();
    let new = policy::due(input.policy.keep(), &input.zone, input.now, &existing).map(|d| {
        (
            SnapKind::Periodic(d.class),
            Reason::Due {
                class: d.class,
                why: d.why,
            },
        )
    });
    (set, new)
}

/// The guest is not running here. Label this node or unset: it stopped since the last run,
/// so the label becomes `stopped` and one `_stopped` snapshot is taken. Label `stopped`:
/// neither (retention only). Label another node: `Err` with that node (the dataset belongs to
/// wherever the guest runs: nothing at all, not even destroys).
fn not_running<'l>(cx: &Ctx, label: &'l Option<String>) -> Result<Option<(Planned, New)>, &'l str> {
    match label.as_deref() {
        None => {}
        Some(l) if l == cx.input.host.node => {}
        Some("stopped") => return Ok(None),
        Some(other) => return Err(other),
    }
    let reason = Reason::StoppedSinceLastRun {
        previous: label.clone(),
    };
    let set = Planned {
        change: Change::SetLabel {
            dataset: cx.ds.clone(),
            value: "stopped".into(),
        },
        reason: reason.clone(),
    };
    Ok(Some((set, (SnapKind::Stopped, reason))))
}

/// The new snapshot under a free name (noted when moved), and its bookmark when the
/// bookmark policy makes one for its class; with the entry retention counts it as (the
/// newest of all). No free name: no snapshot, a note, and the disk `Failed`.
fn create_new(
    cx: &Ctx,
    (kind, reason): New,
    gp: &mut GuestPlan,
    dp: &mut DiskPlan,
) -> (Vec<Planned>, Option<Entry>) {
    let (input, ds) = (cx.input, cx.ds);
    let (name, first) = match free_name(input, kind, &cx.snaps, &cx.bms) {
        Ok(names) => names,
        Err(msg) => {
            gp.notes.push(format!("{ds}: {msg}; no snapshot this run"));
            dp.state = State::Failed(format!("no free snapshot name: {msg}"));
            return (Vec::new(), None);
        }
    };
    dp.snapshot = Some(name);
    if name != first {
        gp.notes.push(format!(
            "{ds}: {first} is taken (DST repeat or rerun); named {name}"
        ));
    }
    let mut creates = vec![Planned {
        change: Change::Snapshot {
            dataset: ds.clone(),
            name,
        },
        reason,
    }];
    if let SnapKind::Periodic(class) = kind
        && input.bookmarks.creates_for(class)
    {
        creates.push(Planned {
            change: Change::Bookmark {
                dataset: ds.clone(),
                name,
            },
            reason: Reason::BookmarkOfNew { class },
        });
    }
    let entry = Entry {
        kind,
        createtxg: u64::MAX,
        creation: input.now.timestamp(),
    };
    (creates, Some(entry))
}

/// Retention: the expired snapshots (counting `new` as the newest), then the expired
/// bookmarks when bookmarks are managed (counting `new_bm`), each oldest first. An expired
/// snapshot that is held, busy or cloned ([`Ctx::pins`]) is not planned for destroy but goes
/// into `gp.kept` with why (`destroy.lua` still checks at apply time, for a hold made since
/// the read). While the guest's lock allows no destroys, none is planned and a note says how
/// many were kept.
fn destroys(
    cx: &Ctx,
    mode: LockMode,
    new: Option<Entry>,
    new_bm: Option<Entry>,
    gp: &mut GuestPlan,
) -> Vec<Planned> {
    let (input, ds) = (cx.input, cx.ds);
    let mut destroys = Vec::new();
    let mut held_back = 0usize;
    for (o, e) in expired(input.policy.keep(), &cx.snaps, new) {
        if mode == LockMode::NoDestroys {
            held_back += 1;
        } else if let Some(pin) = cx.pins.get(o.name.to_string().as_str()) {
            gp.kept.push(KeptExpired {
                dataset: ds.clone(),
                name: o.name,
                pin: *pin,
                expiry: e,
            });
        } else {
            destroys.push(Planned {
                change: Change::Destroy {
                    dataset: ds.clone(),
                    name: o.name,
                },
                reason: Reason::Expired(e),
            });
        }
    }
    if let Some(counts) = input.bookmarks.counts() {
        for (o, e) in expired(counts, &cx.bms, new_bm) {
            if mode == LockMode::NoDestroys {
                held_back += 1;
            } else {
                destroys.push(Planned {
                    change: Change::DestroyBookmark {
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
    // Destroy (oldest first), then DestroyBookmark.
    destroys.sort_by_key(|p| matches!(p.change, Change::DestroyBookmark { .. }));
    destroys
}

/// Our snapshots (or bookmarks) among `(short name, createtxg, creation)`: those whose name
/// reads as ours ([`ShortName::ours`], read when the name was listed), in the given order.
pub(super) fn ours<'a>(
    items: impl ExactSizeIterator<Item = (&'a ShortName, u64, i64)>,
) -> Vec<Ours> {
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

/// Expired entries of `ours`, oldest first, counting `new` as the newest.
pub(super) fn expired<'o>(
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
