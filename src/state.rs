//! What the read-only inventory program reports about guest datasets: the input of the planner.
//!
//! Pure data: produced by `zfs::inventory`, consumed by `plan`. No I/O here.

use crate::naming::{Dataset, ShortName};

/// Where the effective value of a user property comes from (`zfs.get_prop`'s source).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "from")]
pub enum PropSource {
    /// Set on the dataset itself.
    Local,
    /// Received with `zfs recv` (PVE replication sends it with `-p`).
    Received,
    /// Inherited from the named ancestor.
    Inherited(String),
}

/// A user property's effective value and its source.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PropValue {
    /// The value as stored.
    pub value: String,
    /// Where it comes from.
    pub source: PropSource,
}

/// One snapshot whose short name starts with `autosnap_` (the planner decides if it is ours).
/// Holds and clones are not read here: `apply.lua` checks them for the few snapshots a run
/// destroys and keeps (and reports) those that are held or cloned.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotInfo {
    /// Short name, the part after `@` (read as ours or not once, [`ShortName::ours`]).
    pub name: ShortName,
    /// Transaction group that created it: the only reliable order.
    pub createtxg: u64,
    /// Creation time, seconds since the epoch.
    pub creation: i64,
}

/// One bookmark whose short name starts with `autosnap_`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BookmarkInfo {
    /// Short name, the part after `#` (read as ours or not once).
    pub name: ShortName,
    /// Transaction group of the snapshot it was made from.
    pub createtxg: u64,
    /// Creation time of that snapshot, seconds since the epoch.
    pub creation: i64,
}

/// Everything the planner needs to know about one guest dataset.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DatasetState {
    /// The dataset.
    pub dataset: Dataset,
    /// False when the dataset does not exist on the pool (config names a disk that is gone).
    pub exists: bool,
    /// `label:running`, if set.
    pub running: Option<PropValue>,
    /// `label:nosnap`'s value, if set (what it means: [`crate::nosnap::nosnap_value`]).
    pub nosnap: Option<String>,
    /// Snapshots named `autosnap_*`, sorted by createtxg ascending (oldest first).
    pub snapshots: Vec<SnapshotInfo>,
    /// Bookmarks named `autosnap_*`, sorted by createtxg ascending.
    pub bookmarks: Vec<BookmarkInfo>,
    /// How many other snapshots the dataset has (never touched; reported only).
    pub foreign_snapshots: u64,
}
