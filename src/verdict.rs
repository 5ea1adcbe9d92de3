//! The words of the protection contract: the [`State`] each disk ends a run in (snapshotted,
//! stopped, excluded or failed, with the reason), a disk's row and the counts. The plan
//! states its intent in them, `protection` resolves them against what the apply did, the
//! report, the metrics and the status table show them.
//!
//! Pure data, no I/O.

use crate::naming::{Dataset, SnapName};

/// Where one disk stands after the run (or, in a dry run, after the plan).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum State {
    /// Running here: got this run's snapshot, or already had one for this run.
    Snapshotted,
    /// Not running: its `_stopped` snapshot was taken now or earlier.
    Stopped,
    /// Deliberately left out, and why (`label:nosnap`, template, lock, runs elsewhere, …).
    Excluded(String),
    /// Should be protected and is not, and why.
    Failed(String),
}

impl State {
    /// The state's name (tests).
    #[cfg(test)]
    pub(crate) fn name(&self) -> &'static str {
        match self {
            State::Snapshotted => "snapshotted",
            State::Stopped => "stopped",
            State::Excluded(_) => "excluded",
            State::Failed(_) => "failed",
        }
    }
}

/// One disk (or, for a guest whose config cannot be used, the guest) and its state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DiskStatus {
    /// Guest.
    pub vmid: u32,
    /// `VM`, `CT` (or the unknown type of an unusable guest).
    pub guest: String,
    /// Config key (`scsi0`, `rootfs`, …); `config` for a guest whose config cannot be used.
    pub key: String,
    /// The dataset, when the disk has one.
    pub dataset: Option<Dataset>,
    /// Its state.
    #[serde(flatten)]
    pub state: State,
    /// The snapshot this run made (or would make) for it.
    pub snapshot: Option<SnapName>,
}

/// How many disks ended in each state.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Snapshotted.
    pub snapshotted: u64,
    /// Stopped.
    pub stopped: u64,
    /// Excluded.
    pub excluded: u64,
    /// Failed: unprotected.
    pub failed: u64,
}

impl Counts {
    /// Counts `disks` by state.
    pub fn of(disks: &[DiskStatus]) -> Counts {
        let mut c = Counts::default();
        for d in disks {
            match d.state {
                State::Snapshotted => c.snapshotted += 1,
                State::Stopped => c.stopped += 1,
                State::Excluded(_) => c.excluded += 1,
                State::Failed(_) => c.failed += 1,
            }
        }
        c
    }

    /// Disks that are protected (snapshotted or stopped).
    pub fn protected(&self) -> u64 {
        self.snapshotted + self.stopped
    }
}
