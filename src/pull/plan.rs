//! What one pull sends for one guest disk, and why; and what the target's own retention may
//! destroy there.
//!
//! The rules (docs/PULL.md):
//!
//! * the **common point** is the target's newest snapshot whose **guid** is among the source's
//!   snapshots *or bookmarks* — never an older one when a newer exists (syncoid 2.2 chose an
//!   older common snapshot over a newer bookmark and its `recv -F` destroyed the target's
//!   history);
//! * from it: `-i <common>` to the oldest wanted source snapshot newer than it, then `-I` runs
//!   up to the newest (a bookmark can only start a `-i`); a run is split with `-i` hops where
//!   the source has snapshots between that are not wanted (by default only ours, `autosnap_…`,
//!   travel); with no target at all, the oldest wanted snapshot goes in full first;
//! * target snapshots newer than the common point are not on the source (by guid): the target
//!   **diverged** (an HA failover, a snapshot taken at the target). They are never destroyed or
//!   rolled back: the target is set aside under a clear name (`<target>-diverged-<time>`) and its
//!   history up to the common point comes back under the original name (clone + promote), so the
//!   pull continues on the source's line and nothing the target had is lost;
//! * no common point while the target has snapshots: refused, never overwritten;
//! * an interrupted receive (`receive_resume_token`) is resumed first.
//!
//! Pure: facts in, plan out. It never runs anything.

use crate::naming::{Dataset, SnapName, is_ours};
use crate::policy::{Counts, Entry, Verdict, retain};
use serde::Serialize;
use std::collections::BTreeSet;

/// Snapshot or bookmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PointKind {
    /// `ds@name`
    Snapshot,
    /// `ds#name`
    Bookmark,
}

/// One snapshot or bookmark, as `zfs list -p -o name,guid,createtxg,creation` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Point {
    /// Short name (after `@` or `#`).
    pub name: String,
    /// Snapshot or bookmark.
    pub kind: PointKind,
    /// The guid: the same snapshot has the same guid on every pool it was sent to, and its
    /// bookmarks carry it too.
    pub guid: u64,
    /// Order on its own dataset: higher is newer.
    pub createtxg: u64,
    /// Creation time, seconds since the epoch (kept by `zfs send`).
    pub creation: i64,
}

impl Point {
    /// The full name on `ds`: `ds@name` or `ds#name`.
    pub fn full(&self, ds: &Dataset) -> String {
        match self.kind {
            PointKind::Snapshot => format!("{ds}@{}", self.name),
            PointKind::Bookmark => format!("{ds}#{}", self.name),
        }
    }
}

/// What is known of one disk on the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The source dataset.
    pub dataset: Dataset,
    /// Its snapshots and bookmarks, any order.
    pub points: Vec<Point>,
    /// `encryption` is not `off`: sent raw (`-w`), the target never sees the key.
    pub encrypted: bool,
}

/// What is known of the disk's copy at the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The target dataset.
    pub dataset: Dataset,
    /// It exists.
    pub exists: bool,
    /// Its snapshots (kind `Snapshot`), any order.
    pub snapshots: Vec<Point>,
    /// `receive_resume_token`, when an interrupted `recv -s` left one.
    pub resume_token: Option<String>,
}

/// Which source snapshots travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Include {
    /// Only ours (`autosnap_<time>_<class>`), like `syncoid --include-snaps=autosnap`.
    Ours,
    /// Every snapshot (`--all-snapshots`), `__replicate_…__` and PVE's included.
    All,
}

impl Include {
    /// True when the snapshot named `name` travels.
    pub fn wants(self, name: &str) -> bool {
        match self {
            Include::Ours => is_ours(name),
            Include::All => true,
        }
    }
}

/// One `zfs send | zfs recv`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Step {
    /// `zfs send -t <token> | zfs recv -s <target>`: finish an interrupted receive.
    Resume {
        /// The target's `receive_resume_token`.
        token: String,
    },
    /// `zfs send [-w] -p <src>@<to> | zfs recv -s -u <target>`: the first transfer.
    Full {
        /// The snapshot sent.
        to: String,
    },
    /// `zfs send [-w] -p -i|-I <from> <src>@<to> | zfs recv -s -u <target>`.
    Incremental {
        /// Where the stream starts: a snapshot or a bookmark of the source.
        from: Point,
        /// The newest snapshot sent.
        to: String,
        /// `-I` (every wanted snapshot between `from` and `to` too) rather than `-i`.
        intermediates: bool,
        /// How many snapshots arrive with it.
        snapshots: usize,
    },
}

/// The diverged target, kept under another name before the pull continues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SetAside {
    /// `<target>-diverged-<time>`: the target as it was, with the diverged snapshots.
    pub aside: Dataset,
    /// The common snapshot (a target snapshot name): the history up to it comes back to the
    /// target's name (`zfs clone <aside>@<common> <target>`, `zfs promote <target>`).
    pub common: String,
    /// The target's snapshots that are not on the source, oldest first: they stay on `aside`.
    pub diverged: Vec<String>,
}

/// What the pull does for one disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The target already has the source's newest wanted snapshot.
    UpToDate,
    /// Finish an interrupted receive first (then plan again).
    Resume,
    /// No target yet: full transfer, then incrementals.
    Full,
    /// Incrementals from the common point.
    Incremental,
    /// The target diverged: set it aside, then incrementals from the common point.
    Diverged,
    /// The source has no snapshot that travels: nothing to do.
    NothingToSend,
    /// Refused: sending would overwrite or destroy the target (the reason says what to do).
    Refused,
}

/// The plan for one disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiskPlan {
    /// Source dataset.
    pub source: Dataset,
    /// Target dataset.
    pub target: Dataset,
    /// What is done.
    pub decision: Decision,
    /// Why, in one sentence.
    pub reason: String,
    /// The common point on the source, if any.
    pub common: Option<Point>,
    /// The diverged target to keep, first.
    pub set_aside: Option<SetAside>,
    /// The transfers, in order.
    pub steps: Vec<Step>,
    /// Raw sends (`-w`): the source is encrypted.
    pub raw: bool,
    /// What deserves a look but does not stop the pull.
    pub warnings: Vec<String>,
}

/// `[A-Za-z]+-<digits>-disk-<digits>` with `vm` or `subvol`: a PVE guest disk (as `check`
/// and `lua/scan.lua` see them).
pub fn is_guest_disk(leaf: &str) -> bool {
    let rest = leaf
        .strip_prefix("vm-")
        .or_else(|| leaf.strip_prefix("subvol-"));
    let Some((id, disk)) = rest.and_then(|r| r.split_once("-disk-")) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(id) && digits(disk)
}

/// The target of `disk` (at or below `source_root`): `target_prefix` plus the path of `disk`
/// below `source_root` (`rpool/data/vm-100-disk-0` below `rpool/data` into `backup/pve1` is
/// `backup/pve1/vm-100-disk-0`). `None` when `disk` is not below the root or the name is too
/// long.
pub fn target_for(
    source_root: &Dataset,
    target_prefix: &Dataset,
    disk: &Dataset,
) -> Option<Dataset> {
    let rel = disk
        .as_str()
        .strip_prefix(source_root.as_str())?
        .strip_prefix('/')?;
    Dataset::new(&format!("{target_prefix}/{rel}")).ok()
}

/// The name a diverged target is kept under: `<target>-diverged-<stamp>` (a sibling, never a
/// guest-disk name, so `check` does not watch it).
pub fn aside_name(target: &Dataset, stamp: &str) -> Option<Dataset> {
    Dataset::new(&format!("{target}-diverged-{stamp}")).ok()
}

fn sorted(points: &[Point]) -> Vec<&Point> {
    let mut v: Vec<&Point> = points.iter().collect();
    v.sort_by(|a, b| {
        (a.createtxg, a.kind as u8, &a.name).cmp(&(b.createtxg, b.kind as u8, &b.name))
    });
    v
}

/// Plans one disk. `stamp` names a set-aside target (`aside_name`).
pub fn plan(source: &Source, target: &Target, include: Include, stamp: &str) -> DiskPlan {
    let mut p = DiskPlan {
        source: source.dataset.clone(),
        target: target.dataset.clone(),
        decision: Decision::UpToDate,
        reason: String::new(),
        common: None,
        set_aside: None,
        steps: Vec::new(),
        raw: source.encrypted,
        warnings: Vec::new(),
    };
    if let Some(token) = &target.resume_token {
        p.decision = Decision::Resume;
        p.reason = "an interrupted receive left a resume token on the target: resuming it".into();
        p.steps.push(Step::Resume {
            token: token.clone(),
        });
        return p;
    }
    let src = sorted(&source.points);
    let src_snaps: Vec<&Point> = src
        .iter()
        .copied()
        .filter(|s| s.kind == PointKind::Snapshot)
        .collect();
    let wanted: Vec<&Point> = src_snaps
        .iter()
        .copied()
        .filter(|s| include.wants(&s.name))
        .collect();
    let tgt: Vec<&Point> = sorted(&target.snapshots)
        .into_iter()
        .filter(|s| s.kind == PointKind::Snapshot)
        .collect();

    if !target.exists || tgt.is_empty() {
        if target.exists {
            p.decision = Decision::Refused;
            p.reason = format!(
                "{} exists without snapshots: a full receive would overwrite it; rename or \
                 destroy it by hand",
                target.dataset
            );
            return p;
        }
        let Some(first) = wanted.first() else {
            p.decision = Decision::NothingToSend;
            p.reason = nothing_reason(include, src_snaps.len());
            return p;
        };
        p.decision = Decision::Full;
        p.reason = format!(
            "no {} yet: full transfer of the oldest snapshot that travels, {}",
            target.dataset, first.name
        );
        p.steps.push(Step::Full {
            to: first.name.clone(),
        });
        p.steps.extend(chain(first, &src_snaps, &wanted, include));
        return p;
    }

    // The newest target snapshot (by the target's own order) whose guid the source has; the
    // source's snapshot of that guid is preferred to its bookmark (it can start `-I`).
    let find = |snapshots_only: bool| {
        tgt.iter().rev().find_map(|t| {
            let same: Vec<&Point> = src.iter().copied().filter(|s| s.guid == t.guid).collect();
            same.iter()
                .find(|s| s.kind == PointKind::Snapshot)
                .or_else(|| same.first().filter(|_| !snapshots_only))
                .map(|s| (*t, *s))
        })
    };
    let mut found = find(false);
    // A target that diverged shows the source's line branched away from it: a bookmark on the
    // source may then sit on the discarded branch (a `recv -F` rollback, e.g. replication
    // after an HA failover, leaves the rolled-back snapshots' bookmarks behind, and ZFS sends
    // from any older bookmark of the dataset without checking it is an ancestor). A common
    // snapshot that still exists is always on the source's line: only such a base is used.
    let mut distrusted = None;
    if let Some((t, s)) = found
        && s.kind == PointKind::Bookmark
        && tgt.iter().any(|x| x.createtxg > t.createtxg)
    {
        distrusted = Some(s.name.clone());
        found = find(true);
    }
    if let Some(bm) = distrusted {
        p.warnings.push(format!(
            "{} diverged from the source: its bookmark {bm} is not trusted as the base (it may \
             be on a branch the source was rolled back from); the newest common snapshot is \
             used instead",
            target.dataset
        ));
    }
    let Some((t_common, s_common)) = found else {
        p.decision = Decision::Refused;
        p.reason = format!(
            "no snapshot of {} is on the source by guid (neither a snapshot nor a bookmark): \
             an incremental is impossible and a full receive would destroy the target's {} \
             snapshots; rename the target aside by hand to start over",
            target.dataset,
            tgt.len()
        );
        return p;
    };
    p.common = Some(s_common.clone());
    let diverged: Vec<String> = tgt
        .iter()
        .filter(|t| t.createtxg > t_common.createtxg)
        .map(|t| t.name.clone())
        .collect();
    let newer: Vec<&Point> = wanted
        .iter()
        .copied()
        .filter(|s| s.createtxg > s_common.createtxg)
        .collect();
    let from_what = match s_common.kind {
        PointKind::Snapshot => "snapshot",
        PointKind::Bookmark => "bookmark",
    };
    if newer.is_empty() {
        p.decision = Decision::UpToDate;
        p.reason = format!(
            "up to date: nothing that travels on the source is newer than the common {from_what} {}",
            s_common.name
        );
        if !diverged.is_empty() {
            p.warnings.push(format!(
                "{} has {} snapshot(s) newer than the common {from_what} {} that the source does \
                 not have ({}); kept",
                target.dataset,
                diverged.len(),
                s_common.name,
                diverged.join(", ")
            ));
        }
        return p;
    }
    if !diverged.is_empty() {
        let Some(aside) = aside_name(&target.dataset, stamp) else {
            p.decision = Decision::Refused;
            p.reason = format!(
                "{} diverged from the source but the set-aside name is too long",
                target.dataset
            );
            return p;
        };
        p.decision = Decision::Diverged;
        p.reason = format!(
            "DIVERGED: {} has {} snapshot(s) after {} that the source does not have (by guid); \
             they are kept on {aside} and the pull continues on the source's line from the \
             common {from_what}",
            target.dataset,
            diverged.len(),
            t_common.name
        );
        p.set_aside = Some(SetAside {
            aside,
            common: t_common.name.clone(),
            diverged,
        });
    } else {
        p.decision = Decision::Incremental;
        p.reason = format!(
            "incremental from the newest common {from_what} {} ({} snapshot(s) to send)",
            s_common.name,
            newer.len()
        );
    }
    p.steps = chain(s_common, &src_snaps, &wanted, include);
    p
}

fn nothing_reason(include: Include, snapshots: usize) -> String {
    match include {
        Include::Ours => format!(
            "the source has no snapshot of ours (autosnap_…) to send ({snapshots} other snapshot(s))"
        ),
        Include::All => "the source has no snapshot to send".into(),
    }
}

/// The transfers from `from` (a source snapshot or bookmark) to the newest wanted snapshot:
/// `-i` to the first, then `-I` runs, hopping with `-i` over snapshots that do not travel.
fn chain(from: &Point, src_snaps: &[&Point], wanted: &[&Point], include: Include) -> Vec<Step> {
    let newer: Vec<&Point> = wanted
        .iter()
        .copied()
        .filter(|s| s.createtxg > from.createtxg)
        .collect();
    let mut steps = Vec::new();
    let Some(first) = newer.first() else {
        return steps;
    };
    steps.push(Step::Incremental {
        from: from.clone(),
        to: first.name.clone(),
        intermediates: false,
        snapshots: 1,
    });
    // Runs of wanted snapshots with no unwanted one between neighbours.
    let mut start = 0;
    for i in 1..=newer.len() {
        let clean = i < newer.len()
            && !src_snaps.iter().any(|s| {
                s.createtxg > newer[i - 1].createtxg
                    && s.createtxg < newer[i].createtxg
                    && !include.wants(&s.name)
            });
        if clean {
            continue;
        }
        // newer[start..i] is a clean run; newer[start] is already at the target (the first
        // step, or the `-i` hop that ended there).
        if i - 1 > start {
            steps.push(Step::Incremental {
                from: newer[start].clone(),
                to: newer[i - 1].name.clone(),
                intermediates: i - 1 - start > 1,
                snapshots: i - 1 - start,
            });
        }
        if i < newer.len() {
            steps.push(Step::Incremental {
                from: newer[i - 1].clone(),
                to: newer[i].name.clone(),
                intermediates: false,
                snapshots: 1,
            });
            start = i;
        }
    }
    steps
}

/// The retention decision for one snapshot at the target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Expiry {
    /// Short name.
    pub name: String,
    /// Destroy it (else kept, for `reason`).
    pub destroy: bool,
    /// Why.
    pub reason: String,
}

/// Retention at the target: `keep` applied to our snapshots (`autosnap_…`) of one target
/// dataset, with the snapshot run's rules (`policy::retain`), except that the snapshots named
/// in `protect` (the newest common snapshot with the source, the origin of a set-aside copy)
/// are never destroyed. Only our snapshots get an entry; others are never touched.
pub fn retention(keep: &Counts, snapshots: &[Point], protect: &BTreeSet<String>) -> Vec<Expiry> {
    let ours: Vec<(&Point, SnapName)> = snapshots
        .iter()
        .filter(|s| s.kind == PointKind::Snapshot)
        .filter_map(|s| SnapName::parse(&s.name).map(|n| (s, n)))
        .collect();
    let entries: Vec<Entry> = ours
        .iter()
        .map(|(s, n)| Entry {
            kind: n.kind(),
            createtxg: s.createtxg,
            creation: s.creation,
        })
        .collect();
    retain(keep, &entries)
        .into_iter()
        .zip(&ours)
        .map(|(v, (s, _))| {
            let (destroy, reason) = match v {
                Verdict::Unmanaged => (false, "class not managed by --keep".to_string()),
                Verdict::Keep { class, position } => (
                    false,
                    format!("kept: {position}. newest of {class} or longer"),
                ),
                Verdict::Newest => (false, "kept: the newest snapshot of ours".to_string()),
                Verdict::Expire { .. } if protect.contains(&s.name) => (
                    false,
                    "kept: the common snapshot with the source (or the origin of a set-aside copy)"
                        .to_string(),
                ),
                Verdict::Expire {
                    class,
                    position,
                    keep,
                } => (
                    true,
                    format!("expired: {position}. newest of {class} or longer, keeping {keep}"),
                ),
            };
            Expiry {
                name: s.name.clone(),
                destroy,
                reason,
            }
        })
        .collect()
}

/// The newest target snapshot whose guid the source has (snapshot or bookmark): the point the
/// next pull resumes from, never destroyed by retention.
pub fn newest_common(source: &[Point], target: &[Point]) -> Option<String> {
    let guids: BTreeSet<u64> = source.iter().map(|s| s.guid).collect();
    sorted(target)
        .into_iter()
        .rev()
        .find(|t| t.kind == PointKind::Snapshot && guids.contains(&t.guid))
        .map(|t| t.name.clone())
}

/// The `zfs` arguments of the sending side of `step` (without `zfs`).
pub fn send_args(step: &Step, source: &Dataset, raw: bool) -> Vec<String> {
    let mut a = vec!["send".to_string()];
    match step {
        Step::Resume { token } => {
            a.push("-t".into());
            a.push(token.clone());
            return a;
        }
        Step::Full { to } => {
            a.extend(flags(raw));
            a.push(format!("{source}@{to}"));
        }
        Step::Incremental {
            from,
            to,
            intermediates,
            ..
        } => {
            a.extend(flags(raw));
            a.push(if *intermediates { "-I" } else { "-i" }.into());
            a.push(from.full(source));
            a.push(format!("{source}@{to}"));
        }
    }
    a
}

fn flags(raw: bool) -> Vec<String> {
    let mut f = vec!["-p".to_string()];
    if raw {
        f.push("-w".into());
    }
    f
}

/// The `zfs` arguments of the receiving side (without `zfs`): resumable (`-s`), not mounted
/// (`-u`), never `-F` (a receive that would need a rollback fails instead of destroying).
pub fn recv_args(target: &Dataset) -> Vec<String> {
    ["recv", "-s", "-u"]
        .into_iter()
        .map(String::from)
        .chain([target.to_string()])
        .collect()
}
