//! Runs `lua/apply.lua`: one pool's items (label changes, snapshots, bookmarks, destroys) in
//! one sync program, one transaction group, and bookmark destroys through `zfs destroy ds#bm`
//! afterwards (no released OpenZFS can destroy a bookmark inside a channel program).
//!
//! Executes what it is given; it decides nothing. Names are validated types, so nothing that
//! reaches `zfs` here can be empty or malformed.

use super::error::ZfsError;
use super::exec::{Exec, Tool};
use super::program::{self, APPLY, ProgramOpts};
use crate::naming::Dataset;
use serde_json::Value;

/// One change, in the order it must happen within its group.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Item {
    /// Set a user property.
    SetProp {
        /// Where.
        dataset: Dataset,
        /// User property name (contains `:`).
        property: String,
        /// Value.
        value: String,
    },
    /// Create `dataset@name`.
    Snapshot {
        /// Where.
        dataset: Dataset,
        /// Short snapshot name (validated by the caller's `SnapName`).
        name: String,
    },
    /// Create `dataset#name` from `dataset@name`.
    Bookmark {
        /// Where.
        dataset: Dataset,
        /// Short name, shared by the snapshot and the bookmark.
        name: String,
    },
    /// Destroy `dataset@name`, best effort (held or cloned → kept and reported).
    Destroy {
        /// Where.
        dataset: Dataset,
        /// Short snapshot name.
        name: String,
    },
    /// Destroy `dataset#name` (done with `zfs destroy` after the program).
    DestroyBookmark {
        /// Where.
        dataset: Dataset,
        /// Short bookmark name.
        name: String,
    },
}

impl Item {
    /// The dataset the item touches.
    pub fn dataset(&self) -> &Dataset {
        match self {
            Item::SetProp { dataset, .. }
            | Item::Snapshot { dataset, .. }
            | Item::Bookmark { dataset, .. }
            | Item::Destroy { dataset, .. }
            | Item::DestroyBookmark { dataset, .. } => dataset,
        }
    }
}

/// Items that stand or fall together: one guest's items on one pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Label for the report (the VMID).
    pub key: String,
    /// The items, in execution order.
    pub items: Vec<Item>,
}

/// What happened to one item.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "error")]
pub enum Outcome {
    /// Done.
    Ok,
    /// Not destroyed: the snapshot is held (`held`) or has clones (`cloned`). Not a failure:
    /// a later run destroys it once the hold is released or the clone gone.
    Kept(String),
    /// Not attempted: another item of the group failed its check.
    Dropped,
    /// This item's check failed (errno name); its whole group was dropped.
    CheckFailed(String),
    /// The change itself failed (errno name, or stderr for a bookmark destroy).
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

    fn parse(token: &str) -> Outcome {
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

/// The result of applying one pool's groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Per group, per item: what happened (same shape as the input).
    pub outcomes: Vec<Vec<Outcome>>,
    /// The createtxg of the snapshots made (all share it), if any were made.
    pub txg: Option<u64>,
    /// Processes spawned for this pool (the program plus one per bookmark destroy).
    pub commands: u64,
    /// Per watched dataset: its `snapshots_changed` before and after the program (`None`
    /// when it does not exist or the program did not run).
    pub changed: Vec<Watched>,
    /// The snapshots made, with their createtxg (`txg`) and creation, as the program read
    /// them right after making them: what the next inventory would otherwise read again.
    pub created: Vec<(Dataset, String, i64)>,
}

/// A watched dataset and its `snapshots_changed` before and after the program (`None` when it
/// does not exist).
pub type Watched = (Dataset, Option<(i64, i64)>);

/// The argv tokens `apply.lua` takes for `groups` (bookmark destroys are not part of it), with
/// `K` (report the creation of the snapshots made) and a `C` item per dataset of `watch` first
/// when the program has anything to do.
pub fn encode(groups: &[Group], watch: &[Dataset]) -> Vec<String> {
    let mut argv = Vec::new();
    for g in groups {
        let in_program: Vec<&Item> = g
            .items
            .iter()
            .filter(|i| !matches!(i, Item::DestroyBookmark { .. }))
            .collect();
        if in_program.is_empty() {
            continue;
        }
        argv.extend(["G".to_string(), g.key.clone()]);
        for item in in_program {
            match item {
                Item::SetProp {
                    dataset,
                    property,
                    value,
                } => {
                    argv.extend([
                        "P".into(),
                        dataset.to_string(),
                        property.clone(),
                        value.clone(),
                    ]);
                }
                Item::Snapshot { dataset, name } => {
                    argv.extend(["S".into(), format!("{dataset}@{name}")])
                }
                Item::Bookmark { dataset, name } => {
                    argv.extend([
                        "B".into(),
                        format!("{dataset}@{name}"),
                        format!("{dataset}#{name}"),
                    ]);
                }
                Item::Destroy { dataset, name } => {
                    argv.extend(["D".into(), format!("{dataset}@{name}")])
                }
                Item::DestroyBookmark { .. } => unreachable!("filtered above"),
            }
        }
    }
    if argv.is_empty() {
        return argv;
    }
    let mut out: Vec<String> = vec!["K".to_string()];
    out.extend(watch.iter().flat_map(|d| ["C".to_string(), d.to_string()]));
    out.extend(argv);
    out
}

/// Decodes `apply.lua`'s `c` string for `watch`.
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

/// Applies `groups` on `pool`: one sync program, then the bookmark destroys. The program also
/// reports `snapshots_changed` of the datasets in `watch` (OpenZFS >= 2.2 only: pass none on
/// older modules).
pub fn apply_pool(
    exec: &dyn Exec,
    pool: &str,
    groups: &[Group],
    watch: &[Dataset],
) -> Result<Applied, ZfsError> {
    let before = exec.commands_run();
    let argv = encode(groups, watch);
    let mut tokens: Vec<Outcome> = Vec::new();
    let mut txg = None;
    let mut changed = Vec::new();
    let mut created = Vec::new();
    if !argv.is_empty() {
        let ret = program::run(exec, pool, &APPLY, &argv, &ProgramOpts::default())?;
        let bad = |d: &str| ZfsError::parse(Tool::Zfs, &argv, d.to_string(), &ret.to_string());
        let r = ret
            .get("r")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no result string `r`"))?;
        tokens = r
            .split(' ')
            .filter(|t| !t.is_empty())
            .map(Outcome::parse)
            .collect();
        txg = ret.get("t").and_then(Value::as_u64);
        let made: Vec<(&Dataset, &String)> = groups
            .iter()
            .flat_map(|g| &g.items)
            .filter_map(|i| match i {
                Item::Snapshot { dataset, name } => Some((dataset, name)),
                _ => None,
            })
            .collect();
        let k = ret
            .get("k")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no creation string `k`"))?;
        let ks: Vec<&str> = k.split(' ').filter(|t| !t.is_empty()).collect();
        if ks.len() != made.len() {
            return Err(bad("creation entries do not match the snapshots"));
        }
        for ((d, n), c) in made.into_iter().zip(ks) {
            if c != "-" {
                let c = c.parse().map_err(|_| bad("bad creation entry"))?;
                created.push((d.clone(), n.clone(), c));
            }
        }
        if !watch.is_empty() {
            let c = ret
                .get("c")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("no snapshots_changed string `c`"))?;
            changed = decode_changed(c, watch).map_err(|m| bad(&m))?;
        }
    }
    let expected = groups
        .iter()
        .flat_map(|g| &g.items)
        .filter(|i| !matches!(i, Item::DestroyBookmark { .. }))
        .count();
    if tokens.len() != expected {
        return Err(ZfsError::parse(
            Tool::Zfs,
            &argv,
            format!(
                "apply.lua returned {} results for {expected} items",
                tokens.len()
            ),
            "",
        ));
    }
    let mut tokens = tokens.into_iter();
    let mut outcomes = Vec::with_capacity(groups.len());
    for g in groups {
        let mut per = Vec::with_capacity(g.items.len());
        let mut group_failed = false;
        for item in &g.items {
            let o = match item {
                // Bookmark destroys run after the program; filled in below.
                Item::DestroyBookmark { .. } => Outcome::Dropped,
                _ => tokens.next().expect("count checked above"),
            };
            if matches!(o, Outcome::CheckFailed(_) | Outcome::Dropped)
                && !matches!(item, Item::DestroyBookmark { .. })
            {
                group_failed = true;
            }
            per.push(o);
        }
        for (item, o) in g.items.iter().zip(per.iter_mut()) {
            if let Item::DestroyBookmark { dataset, name } = item {
                *o = if group_failed {
                    Outcome::Dropped
                } else {
                    destroy_bookmark(exec, dataset, name)?
                };
            }
        }
        outcomes.push(per);
    }
    Ok(Applied {
        outcomes,
        txg,
        commands: exec.commands_run() - before,
        changed,
        created,
    })
}

/// `zfs destroy dataset#name`. A bookmark that is already gone counts as done.
fn destroy_bookmark(exec: &dyn Exec, dataset: &Dataset, name: &str) -> Result<Outcome, ZfsError> {
    let args = vec!["destroy".to_string(), format!("{dataset}#{name}")];
    let out = exec.run(Tool::Zfs, &args, None)?;
    Ok(if out.code == 0 || out.stderr.contains("does not exist") {
        Outcome::Ok
    } else {
        Outcome::Failed(out.stderr.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(s: &str) -> Dataset {
        Dataset::new(s).unwrap()
    }

    #[test]
    fn encode_groups() {
        let groups = vec![
            Group {
                key: "100".into(),
                items: vec![
                    Item::SetProp {
                        dataset: ds("t/a"),
                        property: "label:running".into(),
                        value: "pve1".into(),
                    },
                    Item::Snapshot {
                        dataset: ds("t/a"),
                        name: "s1".into(),
                    },
                    Item::Bookmark {
                        dataset: ds("t/a"),
                        name: "s1".into(),
                    },
                    Item::DestroyBookmark {
                        dataset: ds("t/a"),
                        name: "old".into(),
                    },
                    Item::Destroy {
                        dataset: ds("t/a"),
                        name: "s0".into(),
                    },
                ],
            },
            Group {
                key: "101".into(),
                items: vec![Item::DestroyBookmark {
                    dataset: ds("t/b"),
                    name: "x".into(),
                }],
            },
        ];
        assert_eq!(
            encode(&groups, &[]),
            [
                "K",
                "G",
                "100",
                "P",
                "t/a",
                "label:running",
                "pve1",
                "S",
                "t/a@s1",
                "B",
                "t/a@s1",
                "t/a#s1",
                "D",
                "t/a@s0"
            ]
        );
    }

    #[test]
    fn outcome_tokens() {
        let cases = [
            ("ok", Outcome::Ok),
            ("kept:held", Outcome::Kept("held".into())),
            ("kept:cloned", Outcome::Kept("cloned".into())),
            ("dropped", Outcome::Dropped),
            ("check:EEXIST", Outcome::CheckFailed("EEXIST".into())),
            ("EBUSY", Outcome::Failed("EBUSY".into())),
            ("1039", Outcome::Failed("1039".into())),
        ];
        for (t, want) in cases {
            assert_eq!(Outcome::parse(t), want);
        }
        assert!(!Outcome::Kept("held".into()).is_failure() && Outcome::Dropped.is_failure());
    }
}

/// The shipped `apply.lua` on the emulator: every failure path of a pool's apply.
#[cfg(test)]
mod emulated {
    use super::*;
    use crate::emu::{Version, World};
    use crate::zfs::exec::InProcess;

    fn ds(s: &str) -> Dataset {
        Dataset::new(s).unwrap()
    }

    fn world() -> InProcess {
        let mut w = World::new(Version::new(2, 3, 2));
        w.set_seed(3);
        w.create_pool("tank").unwrap();
        for d in ["tank/a", "tank/b", "tank/c"] {
            w.create_dataset(d, Some(1 << 20), false).unwrap();
            w.snapshot(&format!("{d}@old1")).unwrap();
            w.snapshot(&format!("{d}@old2")).unwrap();
        }
        InProcess::new(w)
    }

    fn exists(x: &InProcess, name: &str) -> bool {
        let out = x
            .run(
                Tool::Zfs,
                &[
                    "list".into(),
                    "-H".into(),
                    "-o".into(),
                    "name".into(),
                    "-t".into(),
                    "all".into(),
                    name.into(),
                ],
                None,
            )
            .unwrap();
        out.code == 0
    }

    fn snap(d: &str, n: &str) -> Item {
        Item::Snapshot {
            dataset: ds(d),
            name: n.into(),
        }
    }
    fn destroy(d: &str, n: &str) -> Item {
        Item::Destroy {
            dataset: ds(d),
            name: n.into(),
        }
    }

    #[test]
    fn a_snapshot_failing_at_sync_time_drops_its_guests_destroys() {
        // Both checks pass (nothing snapshotted yet when checks run); the second sync gets
        // EAGAIN (one snapshot per dataset per txg). Its group's destroy must not run: the plan
        // counted on the new snapshot being the newest.
        let x = world();
        let groups = vec![
            Group {
                key: "1".into(),
                items: vec![snap("tank/a", "n1")],
            },
            Group {
                key: "2".into(),
                items: vec![snap("tank/a", "n2"), destroy("tank/a", "old2")],
            },
        ];
        let applied = apply_pool(&x, "tank", &groups, &[]).unwrap();
        assert_eq!(applied.outcomes[0], [Outcome::Ok]);
        assert_eq!(
            applied.outcomes[1],
            [Outcome::Failed("EAGAIN".into()), Outcome::Dropped]
        );
        assert!(
            exists(&x, "tank/a@old2"),
            "the destroy ran although its snapshot failed"
        );
    }

    #[test]
    fn a_failed_check_drops_the_whole_group_and_only_it() {
        let x = world();
        let groups = vec![
            Group {
                key: "100".into(),
                items: vec![
                    Item::SetProp {
                        dataset: ds("tank/a"),
                        property: "label:running".into(),
                        value: "pve1".into(),
                    },
                    snap("tank/a", "new"),
                    snap("tank/b", "old1"), // exists: check EEXIST
                    destroy("tank/a", "old1"),
                ],
            },
            Group {
                key: "200".into(),
                items: vec![snap("tank/c", "new"), destroy("tank/c", "old1")],
            },
        ];
        let applied = apply_pool(&x, "tank", &groups, &[]).unwrap();
        assert_eq!(
            applied.outcomes[0],
            [
                Outcome::Dropped,
                Outcome::Dropped,
                Outcome::CheckFailed("EEXIST".into()),
                Outcome::Dropped
            ]
        );
        assert_eq!(applied.outcomes[1], [Outcome::Ok, Outcome::Ok]);
        assert!(
            !exists(&x, "tank/a@new") && exists(&x, "tank/a@old1"),
            "group 100 was not all-or-nothing"
        );
        assert!(exists(&x, "tank/c@new") && !exists(&x, "tank/c@old1"));
        assert!(applied.txg.is_some());
    }

    #[test]
    fn held_and_cloned_are_kept_missing_is_fine_and_bookmarks_go_through_zfs_destroy() {
        let x = world();
        x.world_mut().hold("keep", "tank/a@old1").unwrap();
        x.world_mut()
            .clone_snapshot("tank/b@old1", "tank/restore")
            .unwrap();
        x.world_mut()
            .bookmark("tank/c@old1", "tank/c#old1")
            .unwrap();
        let groups = vec![Group {
            key: "100".into(),
            items: vec![
                snap("tank/a", "n"),
                Item::Bookmark {
                    dataset: ds("tank/a"),
                    name: "n".into(),
                },
                destroy("tank/a", "old1"),
                destroy("tank/b", "old1"),
                destroy("tank/c", "gone"),
                Item::DestroyBookmark {
                    dataset: ds("tank/c"),
                    name: "old1".into(),
                },
                Item::DestroyBookmark {
                    dataset: ds("tank/c"),
                    name: "never-was".into(),
                },
            ],
        }];
        let applied = apply_pool(&x, "tank", &groups, &[]).unwrap();
        assert_eq!(
            applied.outcomes[0],
            [
                Outcome::Ok,
                Outcome::Ok,
                Outcome::Kept("held".into()),
                Outcome::Kept("cloned".into()),
                Outcome::Ok,
                Outcome::Ok,
                Outcome::Ok
            ]
        );
        assert!(exists(&x, "tank/a#n") && !exists(&x, "tank/c#old1"));
        assert!(exists(&x, "tank/a@old1"), "held: kept");
        assert!(exists(&x, "tank/b@old1"), "cloned: kept");
        x.world_mut().release("keep", "tank/a@old1").unwrap();
        assert!(
            exists(&x, "tank/a@old1"),
            "no deferred destroy: releasing the hold does not destroy it"
        );
        // One program plus two `zfs destroy` processes for the bookmarks.
        assert_eq!(applied.commands, 3);
    }

    #[test]
    fn all_snapshots_of_one_apply_share_one_txg() {
        let x = world();
        let groups: Vec<Group> = ["tank/a", "tank/b", "tank/c"]
            .iter()
            .map(|d| Group {
                key: d.to_string(),
                items: vec![snap(d, "same")],
            })
            .collect();
        let applied = apply_pool(&x, "tank", &groups, &[]).unwrap();
        let out = x
            .run(
                Tool::Zfs,
                &[
                    "list",
                    "-H",
                    "-p",
                    "-o",
                    "createtxg",
                    "-t",
                    "snapshot",
                    "tank/a@same",
                    "tank/b@same",
                    "tank/c@same",
                ]
                .map(String::from),
                None,
            )
            .unwrap();
        let txgs: std::collections::BTreeSet<&str> = out.stdout.lines().collect();
        assert_eq!(txgs.len(), 1, "{}", out.stdout);
        assert_eq!(applied.txg, Some(txgs.first().unwrap().parse().unwrap()));
    }
}
