//! The argv and result format of `apply.lua` and `destroy.lua` (their header comments are the
//! contract): encoding a group's changes as tokens, decoding the result and
//! `snapshots_changed` strings, and following `snapshots_changed` across programs. No
//! process is run here.

use super::Watched;
use crate::change::{Change, Group, LABEL_RUNNING, Outcome};
use crate::naming::Dataset;
use serde_json::Value;

/// The phase-1 tokens of one group's label, snapshot and bookmark changes (`G` first), with
/// the index of each such change in the group; empty when it has none.
pub(super) fn phase1_tokens(g: &Group) -> (Vec<String>, Vec<usize>) {
    let mut argv = Vec::new();
    let mut at = Vec::new();
    for (k, change) in g.changes.iter().enumerate() {
        match change {
            Change::SetLabel { dataset, value } => argv.extend([
                "P".into(),
                dataset.to_string(),
                LABEL_RUNNING.into(),
                value.clone(),
            ]),
            Change::Snapshot { dataset, name } => {
                argv.extend(["S".into(), format!("{dataset}@{name}")])
            }
            Change::Bookmark { dataset, name } => argv.extend([
                "B".into(),
                format!("{dataset}@{name}"),
                format!("{dataset}#{name}"),
            ]),
            Change::Destroy { .. } | Change::DestroyBookmark { .. } => continue,
        }
        at.push(k);
    }
    if !argv.is_empty() {
        argv.splice(0..0, ["G".to_string(), g.key.clone()]);
    }
    (argv, at)
}

/// The argv tokens `apply.lua` (phase 1) takes for the label, snapshot and bookmark changes
/// of `groups` (destroys never go there), with `K` (report the creation of the snapshots
/// made) and a `C` item per dataset of `watch` first when the program has anything to do.
pub fn encode(groups: &[Group], watch: &[Dataset]) -> Vec<String> {
    let argv: Vec<String> = groups.iter().flat_map(|g| phase1_tokens(g).0).collect();
    if argv.is_empty() {
        return argv;
    }
    let mut out = phase1_head(watch);
    out.extend(argv);
    out
}

/// The tokens a phase-1 program starts with: `K`, then `C <dataset>` per watched dataset.
pub(super) fn phase1_head(watch: &[Dataset]) -> Vec<String> {
    let mut out: Vec<String> = vec!["K".to_string()];
    out.extend(watch.iter().flat_map(|d| ["C".to_string(), d.to_string()]));
    out
}

/// The argv tokens `destroy.lua` takes to destroy `snapshots` (dataset and short name, in
/// order; consecutive ones of a dataset share its `<dataset>@` token), reporting the
/// `snapshots_changed` of `watch`.
pub fn encode_destroys(snapshots: &[(&Dataset, &str)], watch: &[Dataset]) -> Vec<String> {
    let mut out: Vec<String> = watch.iter().map(|d| d.to_string()).collect();
    out.push("@".into());
    let mut current: Option<&Dataset> = None;
    for (d, name) in snapshots {
        if current != Some(*d) {
            out.push(format!("{d}@"));
            current = Some(*d);
        }
        out.push(name.to_string());
    }
    out
}

/// The result tokens of a program's `r` string.
pub(super) fn result_tokens(ret: &Value) -> Option<Vec<Outcome>> {
    let r = ret.get("r")?.as_str()?;
    Some(
        r.split(' ')
            .filter(|t| !t.is_empty())
            .map(Outcome::parse)
            .collect(),
    )
}

/// The `snapshots_changed` a program reported for `watch` (its `c` string); nothing to read
/// when `watch` is empty. `Err` says what is wrong with it.
pub(super) fn changed_of(ret: &Value, watch: &[Dataset]) -> Result<Vec<Watched>, String> {
    if watch.is_empty() {
        return Ok(Vec::new());
    }
    let c = ret
        .get("c")
        .and_then(Value::as_str)
        .ok_or("no snapshots_changed string `c`")?;
    decode_changed(c, watch)
}

/// Decodes a program's `c` string for `watch`.
fn decode_changed(c: &str, watch: &[Dataset]) -> Result<Vec<Watched>, String> {
    let parts: Vec<&str> = c.split(' ').filter(|t| !t.is_empty()).collect();
    if parts.len() != watch.len() {
        return Err(format!(
            "{} snapshots_changed entries for {} datasets",
            parts.len(),
            watch.len()
        ));
    }
    watch
        .iter()
        .zip(parts)
        .map(|(d, p)| {
            if p == "-" {
                return Ok((d.clone(), None));
            }
            let (a, b) = p
                .split_once(':')
                .ok_or_else(|| format!("bad snapshots_changed entry {p:?}"))?;
            let n = |t: &str| {
                t.parse::<i64>()
                    .map_err(|_| format!("bad snapshots_changed entry {p:?}"))
            };
            Ok((d.clone(), Some((n(a)?, n(b)?))))
        })
        .collect()
}

/// The `snapshots_changed` of each watched dataset over a sequence of programs: before the
/// first that reported it, after the last; broken when a report is missing or does not
/// continue the previous one (someone else changed the list in between).
#[derive(Default)]
pub(super) struct Chains(std::collections::BTreeMap<Dataset, Option<(i64, i64)>>);

impl Chains {
    /// A program saw `seen` (before, after) for `d`.
    pub(super) fn report(&mut self, d: &Dataset, seen: Option<(i64, i64)>) {
        let next = match (self.0.get(d), seen) {
            (None, s) => s,
            (Some(Some((b0, a0))), Some((b, a))) if *a0 == b => Some((*b0, a)),
            _ => None,
        };
        self.0.insert(d.clone(), next);
    }

    /// A program that would have reported `d` failed.
    pub(super) fn broken(&mut self, d: &Dataset) {
        self.0.insert(d.clone(), None);
    }

    /// Per dataset of `watch`, from before the first program to after the last, if known.
    pub(super) fn finish(&self, watch: &[Dataset]) -> Vec<Watched> {
        watch
            .iter()
            .map(|d| (d.clone(), self.0.get(d).copied().flatten()))
            .collect()
    }
}
