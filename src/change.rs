//! What happened to one change a run asked ZFS to make: the outcome the apply programs report,
//! the plan's report shows and the protection verdict reads. Pure data, no I/O.

/// What happened to one item.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "error")]
pub enum Outcome {
    /// Done.
    Ok,
    /// Not destroyed: the snapshot is held (`held`), has clones (`cloned`) or is busy
    /// (`busy`: EBUSY without a user hold, a `zfs send` in progress such as a PVE
    /// replication). Not a failure: a later run destroys it once the hold is released, the
    /// clone gone or the send finished.
    Kept(String),
    /// Not attempted: another item of the group failed its check, or (for a destroy) the
    /// group's labels or snapshots or its dataset's new snapshot did not all succeed.
    Dropped,
    /// This item's check failed (errno name); its whole group was dropped.
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

    /// The outcome of one item as `apply.lua`/`destroy.lua` report it (`ok`, `kept:held`,
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
