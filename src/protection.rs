//! The protection contract (DESIGN.md "The protection contract"): after a run, every disk of
//! every guest whose config is on this node is in exactly one [`State`] — snapshotted, stopped,
//! excluded (a named, deliberate reason) or failed (a named reason). This module resolves the
//! plan's intent for each disk against what the apply did, and adds the guests and disks that
//! discovery could not use.
//!
//! Pure: values in, values out; never prints, logs or reads the clock.

use crate::change::Outcome;
use crate::naming::{Dataset, SnapName};
use crate::plan::{Action, Plan};
use crate::pve::Host;
use crate::report::PoolReport;
use std::collections::BTreeMap;

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
    /// The state's name as shown in tables and metrics.
    pub fn name(&self) -> &'static str {
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

/// Every disk of `host`'s guests with its state: the plan's intent, overridden by a pool that
/// failed as a whole or a new snapshot that failed (in `pools`; no outcomes in a dry run).
/// Guests whose config cannot be used come first as one `config` row each.
pub fn resolve(host: &Host, plan: &Plan, pools: &[PoolReport]) -> Vec<DiskStatus> {
    let pool_errors: BTreeMap<&str, &str> = pools
        .iter()
        .filter_map(|p| p.error.as_deref().map(|e| (p.pool.as_str(), e)))
        .collect();
    // The outcome of each new snapshot, by dataset.
    let mut snap_outcome = BTreeMap::new();
    for p in pools {
        for i in &p.items {
            if let Action::Snapshot { dataset, .. } = &i.action
                && let Some(o) = &i.outcome
            {
                snap_outcome.insert(dataset.clone(), o.clone());
            }
        }
    }
    let mut out: Vec<DiskStatus> = host
        .unreadable
        .iter()
        .map(|u| DiskStatus {
            vmid: u.vmid,
            guest: u.label().to_string(),
            key: "config".into(),
            dataset: None,
            state: State::Failed(u.reason.clone()),
            snapshot: None,
        })
        .collect();
    for g in &plan.guests {
        for d in &g.disks {
            let mut state = d.state.clone();
            let protecting = matches!(state, State::Snapshotted | State::Stopped);
            if let Some(ds) = &d.dataset
                && protecting
            {
                if let Some(e) = pool_errors.get(ds.pool()) {
                    state = State::Failed(format!("pool {}: {e}", ds.pool()));
                } else if d.snapshot.is_some()
                    && let Some(o) = snap_outcome.get(ds)
                    && o.is_failure()
                {
                    state = State::Failed(format!("snapshot not taken: {}", outcome_text(o)));
                }
            }
            out.push(DiskStatus {
                vmid: g.vmid,
                guest: g.kind.label().to_string(),
                key: d.key.clone(),
                dataset: d.dataset.clone(),
                state,
                snapshot: d.snapshot,
            });
        }
    }
    out.sort_by_key(|d| d.vmid);
    out
}

/// Why a new snapshot was not taken, in words.
fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Dropped => "another change of the guest failed its check".into(),
        Outcome::CheckFailed(e) => format!("check failed ({e})"),
        Outcome::Failed(e) => format!("failed ({e})"),
        Outcome::Ok => "ok".into(),
        Outcome::Kept(w) => format!("kept ({w})"),
    }
}

#[cfg(test)]
mod tests;
