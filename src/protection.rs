//! The protection contract: after a run, every disk of
//! every guest whose config is on this node is in exactly one [`State`] — snapshotted, stopped,
//! excluded (a named, deliberate reason) or failed (a named reason). This module resolves the
//! plan's intent for each disk against what the apply did, and adds the guests and disks that
//! discovery could not use.
//!
//! Pure: values in, values out; never prints, logs or reads the clock.

use crate::change::{Change, Outcome};
use crate::host::Host;
use crate::plan::Plan;
use crate::report::PoolReport;
use std::collections::BTreeMap;

pub use crate::verdict::{DiskStatus, State};

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
            if let Change::Snapshot { dataset, .. } = &i.change
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
        Outcome::CheckFailed(e) => format!("check failed ({})", crate::report::errno_text(e)),
        Outcome::Failed(e) => format!("failed ({})", crate::report::errno_text(e)),
        Outcome::Ok => "ok".into(),
        Outcome::Kept(w) => format!("kept ({w})"),
    }
}

#[cfg(test)]
mod tests;
