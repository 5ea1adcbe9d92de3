//! What the read-only inventory program reports about guest datasets: the input of the planner.
//!
//! Pure data: produced by `zfs::inventory`, consumed by `plan`. No I/O here.

use std::collections::BTreeMap;

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
/// Holds and clones are not read with it: they are read only for the few snapshots a run
/// would destroy ([`DatasetState::pins`]).
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
    /// Those of our snapshots the run would destroy that a destroy cannot remove now, and
    /// why (`lua/pins.lua`, read after a first plan; empty until then and when none is).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub pins: BTreeMap<ShortName, Pin>,
}

/// Why a snapshot of ours cannot be destroyed now: the words `lua/destroy.lua` reports at
/// apply time (`kept:held`, …) and `lua/pins.lua` before the plan is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pin {
    /// A user hold (`zfs hold`) other than a running `zfs send`'s temporary one.
    Held,
    /// Only the temporary `.send-<pid>-<n>` holds of a running `zfs send`.
    Busy,
    /// Clones depend on it.
    Cloned,
}

impl Pin {
    /// `held`, `busy` or `cloned`: the word of `destroy.lua`'s `kept:<word>` and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Pin::Held => "held",
            Pin::Busy => "busy",
            Pin::Cloned => "cloned",
        }
    }

    /// The pin named `word` (`pins.lua`'s words), if any.
    pub fn parse(word: &str) -> Option<Pin> {
        match word {
            "held" => Some(Pin::Held),
            "busy" => Some(Pin::Busy),
            "cloned" => Some(Pin::Cloned),
            _ => None,
        }
    }

    /// What releases it, for the plan's sentence.
    pub fn until(self) -> &'static str {
        match self {
            Pin::Held => "a later run destroys it once the hold is released (zfs release)",
            Pin::Busy => "a later run destroys it once the zfs send using it ends",
            Pin::Cloned => "a later run destroys it once its clones are gone or promoted",
        }
    }
}

impl std::fmt::Display for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
