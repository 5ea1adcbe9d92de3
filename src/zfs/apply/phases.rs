use super::tests::{full, sn};
use super::*;
use crate::zfs::cost::{build_pool, oldest_names, snapshot_groups};
use crate::zfs::exec::{ArgLimits, Tool};
use crate::zfs::exec::{InProcess, Output};
use crate::zfs::program::{APPLY, DESTROY};
use std::cell::Cell;
use zfs_emu::{Version, World};

fn ds(s: &str) -> Dataset {
    Dataset::new(s).unwrap()
}

type Hook<'a> =
    Box<dyn Fn(&InProcess, &[String], Option<&str>) -> Option<Result<Output, ZfsError>> + 'a>;

/// The emulator behind other argv limits (reported to the apply, and enforced like the
/// kernel does), with a hook that may answer a command instead of the emulator.
struct Rigged<'a> {
    x: &'a InProcess,
    reported: ArgLimits,
    kernel: ArgLimits,
    hook: Hook<'a>,
    hooked: Cell<u64>,
}

impl<'a> Rigged<'a> {
    fn new(x: &'a InProcess) -> Rigged<'a> {
        let p = ArgLimits::production_default();
        Rigged {
            x,
            reported: p,
            kernel: p,
            hook: Box::new(|_, _, _| None),
            hooked: Cell::new(0),
        }
    }
}

impl Exec for Rigged<'_> {
    fn run(&self, tool: Tool, args: &[String], stdin: Option<&str>) -> Result<Output, ZfsError> {
        if !self.kernel.admits(args) {
            return Err(ZfsError::Spawn {
                program: "/usr/sbin/zfs".into(),
                source: std::io::Error::from_raw_os_error(crate::zfs::error::E2BIG),
            });
        }
        if let Some(r) = (self.hook)(self.x, args, stdin) {
            self.hooked.set(self.hooked.get() + 1);
            return r;
        }
        self.x.run(tool, args, stdin)
    }
    fn commands_run(&self) -> u64 {
        self.x.commands_run() + self.hooked.get()
    }
    fn arg_limits(&self) -> ArgLimits {
        self.reported
    }
}

fn is_destroy_program(stdin: Option<&str>) -> bool {
    stdin == Some(DESTROY.source)
}

fn snapshot_names(x: &InProcess, d: &str) -> Vec<String> {
    let w = x.world();
    let node = w.pool(d).and_then(|p| p.ds(d)).expect("dataset");
    node.snapshots.keys().cloned().collect()
}

fn createtxg(x: &InProcess, d: &str, name: &str) -> u64 {
    let w = x.world();
    let node = w.pool(d).and_then(|p| p.ds(d)).expect("dataset");
    node.snapshots[name].createtxg
}

/// Per dataset: a new snapshot, its bookmark, and destroys of `oldest`.
fn cut(names: &[Dataset], oldest: &[String]) -> Vec<Group> {
    let mut groups = snapshot_groups(names, &sn("new").to_string());
    for (g, d) in groups.iter_mut().zip(names) {
        g.changes.extend(oldest.iter().map(|n| Change::Destroy {
            dataset: d.clone(),
            name: SnapName::parse(n).unwrap(),
        }));
    }
    groups
}

/// Issue 16 item 3: 200 disks × 150 destroys is 30,000 destroys, about 2.3 MB of argv in
/// the old single program: more than Linux' 2 MiB, so exec failed with E2BIG and no
/// guest of the pool got a snapshot, run after run. Now: one program for the snapshots,
/// the destroys after it.
#[test]
fn a_retention_cut_beyond_the_argv_limit_snapshots_in_one_txg_and_destroys_all() {
    let (w, names) = build_pool(200, 151, 0, 0);
    let x = InProcess::new(w);
    let oldest = oldest_names(150);
    let groups = cut(&names, &oldest);
    let old_argv: usize = names.len()
        * oldest
            .iter()
            .map(|n| ArgLimits::arg_cost("D") + ArgLimits::arg_cost(&format!("{}@{n}", names[0])))
            .sum::<usize>();
    assert!(
        old_argv > ArgLimits::production_default().total,
        "the case must exceed the real limit: {old_argv} bytes"
    );
    let applied = apply_pool(&x, "tank", &groups, &[]).unwrap();
    for o in &applied.outcomes {
        assert!(o.iter().all(|o| *o == Outcome::Ok), "{o:?}");
    }
    assert_eq!(applied.snapshot_programs, 1);
    assert_eq!(applied.snapshot_txgs.len(), 1);
    // 30,000 destroys, at most DESTROYS_PER_PROGRAM each.
    assert_eq!(applied.destroy_programs, 3);
    assert_eq!(x.programs_run(), 4);
    let txg = applied.txg.unwrap();
    for d in &names {
        assert_eq!(
            createtxg(&x, d.as_str(), &sn("new").to_string()),
            txg,
            "{d}"
        );
        let left = snapshot_names(&x, d.as_str());
        assert_eq!(left.len(), 2, "{d}: {left:?}");
    }
    assert_eq!(applied.created.len(), names.len());
}

/// The design's promise: 2,000 disks (a first run: label, snapshot, bookmark each, all
/// watched) fit one phase-1 program under the production limits.
#[test]
fn two_thousand_disks_snapshot_in_one_program() {
    let (w, names) = build_pool(2_000, 0, 0, 0);
    let x = InProcess::new(w);
    let mut groups = snapshot_groups(&names, &sn("first").to_string());
    for (g, d) in groups.iter_mut().zip(&names) {
        g.changes.insert(
            0,
            Change::SetLabel {
                dataset: d.clone(),
                value: "pve2".into(),
            },
        );
    }
    let applied = apply_pool(&x, "tank", &groups, &names).unwrap();
    assert_eq!(
        (applied.snapshot_programs, applied.destroy_programs),
        (1, 0)
    );
    assert!(applied.outcomes.iter().flatten().all(|o| *o == Outcome::Ok));
    assert_eq!(applied.created.len(), 2_000);
    assert!(applied.changed.iter().all(|(_, c)| c.is_some()));
}

/// Items that fail in phase 2 never take the guest's new snapshot with them: a failed
/// destroy check, a destroy program that fails as a whole (on the old single program,
/// the whole pool failed: no snapshot at all), one that hangs until the timeout.
#[test]
fn failures_in_phase_two_keep_the_new_snapshots() {
    enum Fault {
        CheckFails,
        ProgramFails,
        ProgramHangs,
    }
    for (fault, want_destroy, want_bookmark_destroy, errors) in [
        (
            Fault::CheckFails,
            Outcome::Failed("EXDEV".into()),
            Outcome::Ok,
            0,
        ),
        (
            Fault::ProgramFails,
            Outcome::Failed("program failed (Other)".into()),
            Outcome::Ok,
            1,
        ),
        (
            Fault::ProgramHangs,
            Outcome::Failed("timed out".into()),
            Outcome::Failed("not attempted: zfs timed out".into()),
            1,
        ),
    ] {
        let mut w = World::new(Version::new(2, 3, 2));
        w.create_pool("tank").unwrap();
        w.create_pool("other").unwrap();
        w.create_dataset("tank/a", Some(1 << 20), false).unwrap();
        w.create_dataset("other/x", Some(1 << 20), false).unwrap();
        w.snapshot(&full("tank/a@old1")).unwrap();
        w.snapshot(&full("other/x@old1")).unwrap();
        w.bookmark(&full("tank/a@old1"), &full("tank/a#old1"))
            .unwrap();
        let x = InProcess::new(w);
        let mut rig = Rigged::new(&x);
        let victim = match fault {
            // Another pool's snapshot: zfs.check.destroy returns EXDEV.
            Fault::CheckFails => ds("other/x"),
            _ => ds("tank/a"),
        };
        rig.hook = Box::new(move |_, args, _| {
            // Whatever program carries the destroy of `old1` (the old single program
            // did, as "D tank/a@old1"; now destroy.lua, as "old1").
            let old1 = sn("old1").to_string();
            let carries = args
                .iter()
                .any(|a| *a == old1 || a.ends_with(&format!("@{old1}")));
            match fault {
                Fault::CheckFails => None,
                Fault::ProgramFails if carries => Some(Ok(Output {
                    code: 1,
                    stdout: String::new(),
                    stderr: "internal error: I/O error\n".into(),
                })),
                Fault::ProgramHangs if carries => {
                    Some(Err(ZfsError::timeout(Tool::Zfs, args, 600)))
                }
                _ => None,
            }
        });
        let groups = vec![Group {
            key: "100".into(),
            keeps: vec![],
            changes: vec![
                Change::Snapshot {
                    dataset: ds("tank/a"),
                    name: sn("new"),
                },
                Change::Destroy {
                    dataset: victim.clone(),
                    name: sn("old1"),
                },
                Change::DestroyBookmark {
                    dataset: ds("tank/a"),
                    name: sn("old1"),
                },
            ],
        }];
        let applied = apply_pool(&rig, "tank", &groups, &[]).unwrap();
        assert_eq!(
            applied.outcomes[0],
            [Outcome::Ok, want_destroy, want_bookmark_destroy],
            "{victim}"
        );
        assert!(snapshot_names(&x, "tank/a").contains(&sn("new").to_string()));
        assert!(snapshot_names(&x, victim.as_str()).contains(&sn("old1").to_string()));
        assert_eq!(
            applied.program_errors.len(),
            errors,
            "{:?}",
            applied.program_errors
        );
        assert!(applied.txg.is_some());
    }
}

/// A hung phase 1 fails the pool (its state is unknown), with the timeout's message.
#[test]
fn a_hung_snapshot_program_fails_the_pool() {
    let (w, names) = build_pool(3, 2, 0, 0);
    let x = InProcess::new(w);
    let mut rig = Rigged::new(&x);
    rig.hook = Box::new(|_, args, stdin| {
        (stdin == Some(APPLY.source)).then(|| Err(ZfsError::timeout(Tool::Zfs, args, 600)))
    });
    let groups = cut(&names, &oldest_names(1));
    let e = apply_pool(&rig, "tank", &groups, &[]).unwrap_err();
    assert_eq!(e.kind(), Some(FailureKind::TimedOut));
    assert!(
        e.to_string()
            .contains("zfs program on tank timed out after 600 s"),
        "{e}"
    );
    // Nothing was destroyed after it.
    assert_eq!(x.programs_run(), 0);
}

/// Phase 1 is split by guests only when one program cannot carry it (a small argv
/// budget stands in for thousands of disks); each guest stays whole, every program is
/// counted, and `created` only lists the snapshots of the reported `txg`.
#[test]
fn phase_one_splits_by_groups_only_when_it_must() {
    let (w, names) = build_pool(40, 2, 0, 0);
    let x = InProcess::new(w);
    let mut rig = Rigged::new(&x);
    let small = ArgLimits {
        total: 20 * 1024,
        per_arg: ArgLimits::MAX_ARG_STRLEN,
        taken: 0,
    };
    rig.reported = small;
    rig.kernel = small;
    let groups = cut(&names, &oldest_names(1));
    let applied = apply_pool(&rig, "tank", &groups, &names).unwrap();
    assert!(applied.outcomes.iter().flatten().all(|o| *o == Outcome::Ok));
    assert!(
        applied.snapshot_programs >= 2,
        "{}",
        applied.snapshot_programs
    );
    assert_eq!(
        applied.snapshot_txgs.len() as u64,
        applied.snapshot_programs
    );
    let distinct: std::collections::BTreeSet<_> = applied.snapshot_txgs.iter().collect();
    assert_eq!(distinct.len(), applied.snapshot_txgs.len());
    let txg = applied.txg.unwrap();
    assert_eq!(txg, applied.snapshot_txgs[0]);
    assert!(!applied.created.is_empty() && applied.created.len() < names.len());
    for (d, n, _) in &applied.created {
        assert_eq!(createtxg(&x, d.as_str(), &n.to_string()), txg);
    }
    // Each guest's snapshot and bookmark stayed in one program: all made.
    for d in &names {
        assert!(snapshot_names(&x, d.as_str()).contains(&sn("new").to_string()));
    }
    assert!(
        applied.changed.iter().all(|(_, c)| c.is_some()),
        "{:?}",
        applied.changed
    );
}

/// When the reported limits are wrong (the kernel refuses the command line: E2BIG,
/// nothing ran), each phase halves its programs until they start.
#[test]
fn e2big_despite_the_budget_halves_the_programs() {
    let (w, names) = build_pool(40, 3, 0, 0);
    let x = InProcess::new(w);
    let mut rig = Rigged::new(&x);
    rig.kernel = ArgLimits {
        total: 3 * 1024,
        per_arg: ArgLimits::MAX_ARG_STRLEN,
        taken: 0,
    };
    let groups = cut(&names, &oldest_names(2));
    let applied = apply_pool(&rig, "tank", &groups, &[]).unwrap();
    assert!(applied.outcomes.iter().flatten().all(|o| *o == Outcome::Ok));
    assert!(
        applied.snapshot_programs >= 2,
        "{}",
        applied.snapshot_programs
    );
    assert!(
        applied.destroy_programs >= 2,
        "{}",
        applied.destroy_programs
    );
    assert_eq!(
        x.programs_run(),
        applied.snapshot_programs + applied.destroy_programs,
        "refused command lines are not counted as programs"
    );
    for d in &names {
        assert_eq!(snapshot_names(&x, d.as_str()).len(), 2, "{d}");
    }
}

/// `snapshots_changed` of a dataset snapshotted in phase 1 and pruned in phase 2: from
/// before the first program to after the last, unless someone else changed the list in
/// between (then unknown: the cached listing must not be kept).
#[test]
fn snapshots_changed_spans_both_phases_or_is_unknown() {
    for foreign_in_between in [false, true] {
        let (w, names) = build_pool(2, 3, 0, 0);
        let x = InProcess::new(w);
        let start = x.world().now();
        let before_a = {
            let w = x.world();
            w.pool("tank/data")
                .unwrap()
                .ds(names[0].as_str())
                .unwrap()
                .snapshots_changed
        };
        x.world_mut().set_clock(start + 100);
        let mut rig = Rigged::new(&x);
        let first = names[0].clone();
        rig.hook = Box::new(move |x, _, stdin| {
            if foreign_in_between && is_destroy_program(stdin) {
                let mut w = x.world_mut();
                let now = w.now();
                w.set_clock(now + 50);
                w.snapshot(&format!("{first}@foreign")).unwrap();
                w.set_clock(now + 100);
            }
            None
        });
        let groups = cut(&names, &oldest_names(2));
        let applied = apply_pool(&rig, "tank", &groups, &names).unwrap();
        let after_a = {
            let w = x.world();
            w.pool("tank/data")
                .unwrap()
                .ds(names[0].as_str())
                .unwrap()
                .snapshots_changed
        };
        assert_eq!(applied.destroy_programs, 1);
        let want = if foreign_in_between {
            None
        } else {
            Some((before_a, after_a))
        };
        assert_eq!(
            applied.changed[0],
            (names[0].clone(), want),
            "{foreign_in_between}"
        );
        assert!(applied.changed[1].1.is_some());
    }
}

#[test]
fn chains_table() {
    let d = ds("t/a");
    // (reports, want): Some(seen) a program's report, None a failed program.
    type Seen = Option<(i64, i64)>;
    let cases: Vec<(Vec<Seen>, Seen)> = vec![
        (vec![], None),
        (vec![Some((1, 2))], Some((1, 2))),
        (vec![Some((1, 2)), Some((2, 3))], Some((1, 3))),
        (vec![Some((1, 2)), Some((2, 2)), Some((2, 5))], Some((1, 5))),
        // Changed by someone else between two programs.
        (vec![Some((1, 2)), Some((4, 5))], None),
        (vec![Some((1, 2)), None, Some((2, 3))], None),
        (vec![None, Some((2, 3))], None),
    ];
    for (reports, want) in cases {
        let mut c = Chains::default();
        for r in &reports {
            match r {
                Some(seen) => c.report(&d, Some(*seen)),
                None => c.broken(&d),
            }
        }
        assert_eq!(
            c.finish(std::slice::from_ref(&d)),
            [(d.clone(), want)],
            "{reports:?}"
        );
    }
}
