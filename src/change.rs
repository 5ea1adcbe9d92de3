//! The run's one vocabulary of changes: what the plan decides ([`Change`], grouped per guest
//! in a [`Group`]), what `zfs::apply` executes, what the report shows, and what happened to
//! each ([`Outcome`]). Names are validated types ([`Dataset`], [`SnapName`]), so a change that
//! exists can be executed as it is.
//!
//! Pure data, no I/O: it must not import the plan, the report or any edge (they import it).

use crate::naming::{Dataset, SnapName};

/// The user property that records where a guest last ran (a node name or `stopped`).
pub const LABEL_RUNNING: &str = "label:running";

/// One change to a dataset. Within a guest's group, in execution order per dataset: label,
/// snapshot, bookmark, destroys, bookmark destroys. Serializes as `{op, dataset, …}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Set [`LABEL_RUNNING`] to `value`.
    SetLabel {
        /// The dataset.
        dataset: Dataset,
        /// Node name or `stopped`.
        value: String,
    },
    /// Create `dataset@name`.
    Snapshot {
        /// The dataset.
        dataset: Dataset,
        /// The new snapshot's short name.
        name: SnapName,
    },
    /// Create `dataset#name` from the new snapshot `dataset@name` (in the same program).
    Bookmark {
        /// The dataset.
        dataset: Dataset,
        /// Short name of snapshot and bookmark.
        name: SnapName,
    },
    /// Destroy `dataset@name`, best effort (held or cloned: kept and reported), after the
    /// snapshots.
    Destroy {
        /// The dataset.
        dataset: Dataset,
        /// The expired snapshot.
        name: SnapName,
    },
    /// Destroy `dataset#name` (with `zfs destroy`: no released OpenZFS can destroy a
    /// bookmark inside a channel program).
    DestroyBookmark {
        /// The dataset.
        dataset: Dataset,
        /// The expired bookmark.
        name: SnapName,
    },
}

impl Change {
    /// The dataset changed.
    pub fn dataset(&self) -> &Dataset {
        match self {
            Change::SetLabel { dataset, .. }
            | Change::Snapshot { dataset, .. }
            | Change::Bookmark { dataset, .. }
            | Change::Destroy { dataset, .. }
            | Change::DestroyBookmark { dataset, .. } => dataset,
        }
    }

    /// `snapshot rpool/data/vm-100-disk-0@autosnap_…` and the like (failure messages).
    pub fn describe(&self) -> String {
        match self {
            Change::SetLabel { dataset, value } => {
                format!("set {LABEL_RUNNING}={value} on {dataset}")
            }
            Change::Snapshot { dataset, name } => format!("snapshot {dataset}@{name}"),
            Change::Bookmark { dataset, name } => format!("bookmark {dataset}#{name}"),
            Change::Destroy { dataset, name } => format!("destroy {dataset}@{name}"),
            Change::DestroyBookmark { dataset, name } => {
                format!("destroy bookmark {dataset}#{name}")
            }
        }
    }
}

/// Changes that stand or fall together: one guest's changes on one pool, in execution order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Label for the apply program's report (the VMID).
    pub key: String,
    /// The changes.
    pub changes: Vec<Change>,
    /// The datasets of these changes on which the plan keeps at least one existing snapshot
    /// of ours that it does not destroy (the new one not counted): a destroy there never
    /// leaves the disk without a snapshot of ours, whatever becomes of the new one.
    pub keeps: Vec<Dataset>,
}

/// What happened to one change.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "error")]
pub enum Outcome {
    /// Done.
    Ok,
    /// Not destroyed: the snapshot is held (`held`), has clones (`cloned`) or is busy
    /// (`busy`: EBUSY without a user hold, a `zfs send` in progress such as a PVE
    /// replication), or is the disk's only snapshot of ours while its new one failed for
    /// lack of space (`zfs::apply`'s hold-back). Not a failure: a later run destroys it once
    /// the hold is released, the clone gone, the send finished or the new snapshot made.
    Kept(String),
    /// Not attempted: another change of the group failed its check, or (for a destroy) the
    /// group's labels or snapshots or its dataset's new snapshot did not all succeed.
    Dropped,
    /// This change's check failed (errno name); its whole group was dropped.
    CheckFailed(String),
    /// The change itself failed (errno name, stderr for a bookmark destroy, or why the
    /// program carrying it failed as a whole: its state is unknown until the next read).
    Failed(String),
}

impl Outcome {
    /// True for outcomes that count as a failure in the run's exit code.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Outcome::CheckFailed(_) | Outcome::Failed(_) | Outcome::Dropped
        )
    }

    /// The outcome of one change as `apply.lua`/`destroy.lua` report it (`ok`, `kept:held`,
    /// `dropped`, `check:EEXIST`, anything else a failure).
    pub fn parse(token: &str) -> Outcome {
        match token {
            "ok" => Outcome::Ok,
            t if t.starts_with("kept:") => Outcome::Kept(t["kept:".len()..].to_string()),
            "dropped" => Outcome::Dropped,
            t => match t.strip_prefix("check:") {
                Some(e) => Outcome::CheckFailed(e.to_string()),
                None => Outcome::Failed(t.to_string()),
            },
        }
    }
}
