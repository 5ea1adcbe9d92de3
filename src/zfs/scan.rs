//! Runs `lua/scan.lua`: finds guest disks (`vm-N-disk-M`, `subvol-N-disk-M`, under any
//! parent) below given roots, read-only, and returns per disk the newest snapshots whose names
//! have the shape of ours and its `label:nosnap` ([`DiskFacts`]; `check` decides what is
//! really ours and what the label means).
//!
//! One `zfs program -n` per root. A walk that hits a channel-program limit is split: the
//! root's direct children (one read-only `zfs list -d 1`) are scanned one by one, recursively.
//! Must not decide states: that is `check`'s job.

use super::error::{FailureKind, ZfsError};
use super::exec::{Exec, Tool};
use super::program::{self, ProgramOpts, SCAN};
use crate::monitor::{Candidate, DiskFacts, NosnapLabel};
use crate::naming::Dataset;
use serde_json::Value;
use std::collections::BTreeMap;

/// Candidates returned per disk: enough that a few look-alikes (`autosnap_2026-02-30_…`)
/// above the newest real one do not hide it.
pub const NEWEST_K: usize = 8;

/// What a scan cost.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScanStats {
    /// `zfs program -n` calls.
    pub programs: u64,
    /// Walks that hit a limit and were split by child.
    pub splits: u64,
}

/// Scans every root (a pool name or any dataset). Returns the disks found (each once, sorted
/// by name) and, per root that could not be read, a message naming it and what to do.
pub fn scan(
    exec: &dyn Exec,
    roots: &[Dataset],
    stats: &mut ScanStats,
) -> (Vec<DiskFacts>, Vec<String>) {
    let mut disks: BTreeMap<Dataset, DiskFacts> = BTreeMap::new();
    let mut errors = Vec::new();
    for root in roots {
        match scan_root(exec, root, stats) {
            Ok(Some(found)) => disks.extend(found.into_iter().map(|d| (d.dataset.clone(), d))),
            Ok(None) => errors.push(format!(
                "{root} does not exist: check the --dataset prefix (zfs list -o name)"
            )),
            Err(e) => errors.push(format!(
                "cannot scan {root}: {e} (is the pool healthy? zpool status {})",
                root.pool()
            )),
        }
    }
    (disks.into_values().collect(), errors)
}

/// One root; `None` when it does not exist.
pub fn scan_root(
    exec: &dyn Exec,
    root: &Dataset,
    stats: &mut ScanStats,
) -> Result<Option<Vec<DiskFacts>>, ZfsError> {
    stats.programs += 1;
    match run(exec, root, "all") {
        Err(e) if is_limit(&e) => {
            stats.splits += 1;
            let mut out = Vec::new();
            // The root itself (it may be a disk), then each child's subtree.
            stats.programs += 1;
            out.extend(run(exec, root, "self")?.unwrap_or_default());
            for child in children(exec, root)? {
                out.extend(scan_root(exec, &child, stats)?.unwrap_or_default());
            }
            Ok(Some(out))
        }
        other => other,
    }
}

fn is_limit(e: &ZfsError) -> bool {
    matches!(
        e.kind(),
        Some(
            FailureKind::InstructionLimit | FailureKind::MemoryLimit | FailureKind::OutputTooLarge
        )
    )
}

fn run(exec: &dyn Exec, root: &Dataset, mode: &str) -> Result<Option<Vec<DiskFacts>>, ZfsError> {
    let args = vec![root.to_string(), NEWEST_K.to_string(), mode.to_string()];
    let opts = ProgramOpts {
        read_only: true,
        ..ProgramOpts::default()
    };
    let ret = program::run(exec, root.pool(), &SCAN, &args, &opts)?;
    decode(&ret).map_err(|m| ZfsError::parse(Tool::Zfs, &args, m, &ret.to_string()))
}

/// Direct children of `root` (filesystems and volumes), read-only.
fn children(exec: &dyn Exec, root: &Dataset) -> Result<Vec<Dataset>, ZfsError> {
    let args: Vec<String> = [
        "list",
        "-H",
        "-o",
        "name",
        "-t",
        "filesystem,volume",
        "-d",
        "1",
        root.as_str(),
    ]
    .map(String::from)
    .to_vec();
    let out = exec.run(Tool::Zfs, &args, None)?;
    if out.code != 0 {
        return Err(ZfsError::failed(Tool::Zfs, &args, &out));
    }
    out.stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != root.as_str())
        .map(|l| Dataset::new(l).map_err(|e| ZfsError::parse(Tool::Zfs, &args, e.to_string(), l)))
        .collect()
}

/// Decodes the program's return value (shape documented in `lua/scan.lua`); candidates come
/// out newest first.
fn decode(v: &Value) -> Result<Option<Vec<DiskFacts>>, String> {
    match v.get("x").and_then(Value::as_i64) {
        Some(0) => return Ok(None),
        Some(1) => {}
        other => return Err(format!("bad existence flag {other:?}")),
    }
    let d = v.get("d").ok_or("missing disk list")?;
    let len = d.as_object().map_or(0, |o| o.len());
    let mut out = Vec::with_capacity(len);
    for e in program::lua_array(d, len)? {
        let e = e.ok_or("hole in the disk list")?;
        let name = e
            .get("n")
            .and_then(Value::as_str)
            .ok_or("disk without name")?;
        let dataset = Dataset::new(name).map_err(|e| e.to_string())?;
        let candidates = e
            .get("c")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("{name}: missing count"))?;
        let mut newest = Vec::new();
        for line in e
            .get("s")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{name}: missing list"))?
            .lines()
        {
            let f: Vec<&str> = line.split(' ').collect();
            let [short, txg, creation] = f[..] else {
                return Err(format!("{name}: bad line {line:?}"));
            };
            newest.push(Candidate {
                name: short.to_string(),
                createtxg: txg.parse().map_err(|_| format!("bad txg in {line:?}"))?,
                creation: creation
                    .parse()
                    .map_err(|_| format!("bad creation in {line:?}"))?,
            });
        }
        newest.sort_by(|a, b| (b.createtxg, &b.name).cmp(&(a.createtxg, &a.name)));
        if newest.len() as u64 > candidates {
            return Err(format!("{name}: more lines than candidates"));
        }
        let nosnap = match e.get("l") {
            None => None,
            Some(l) => Some(NosnapLabel {
                value: unhex(l.as_str().ok_or_else(|| format!("{name}: bad label"))?)?,
                source: e
                    .get("ls")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{name}: label:nosnap without a source"))?
                    .to_string(),
            }),
        };
        out.push(DiskFacts {
            dataset,
            newest,
            candidates,
            nosnap,
        });
    }
    Ok(Some(out))
}

/// Decodes the program's hex encoding of a property value; bytes that are not UTF-8 become
/// U+FFFD.
fn unhex(s: &str) -> Result<String, String> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return Err(format!("bad hex {s:?}"));
    }
    let bytes = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("bad hex {s:?}")))
        .collect::<Result<Vec<u8>, _>>()?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::exec::Output;
    use serde_json::json;
    use std::cell::{Cell, RefCell};
    use zfs_emu::{World, cli::zfs_main};

    /// Runs command lines on an in-process emulated host; can pretend a limit is lower.
    struct Emu {
        world: RefCell<World>,
        runs: Cell<u64>,
        instr_limit: Option<u64>,
    }
    impl Exec for Emu {
        fn run(&self, _: Tool, args: &[String], stdin: Option<&str>) -> Result<Output, ZfsError> {
            self.runs.set(self.runs.get() + 1);
            let mut args = args.to_vec();
            if let (Some(t), true) = (self.instr_limit, args[0] == "program") {
                args.splice(1..1, ["-t".to_string(), t.to_string()]);
            }
            let (code, stdout, stderr) =
                zfs_main(&mut self.world.borrow_mut(), &args, stdin.unwrap_or(""));
            Ok(Output {
                code,
                stdout,
                stderr,
            })
        }
        fn commands_run(&self) -> u64 {
            self.runs.get()
        }
    }

    fn zfs(w: &mut World, line: &str) {
        let args: Vec<String> = line.split(' ').map(String::from).collect();
        let (code, _, err) = zfs_main(w, &args, "");
        assert_eq!(code, 0, "zfs {line}: {err}");
    }

    fn world() -> World {
        let mut w = World::new(zfs_emu::Version::new(2, 3, 2));
        w.set_clock(1_800_000_000);
        w.create_pool("tank").unwrap();
        for ds in [
            "tank/data",
            "tank/data/vm-100-disk-0",
            "tank/data/subvol-200-disk-1",
            "tank/data/vm-100-state-x",
            "tank/backup/pve1/vm-300-disk-0",
        ] {
            zfs(&mut w, &format!("create -p {ds}"));
        }
        for (i, snap) in [
            "tank/data/vm-100-disk-0@autosnap_2027-01-15_08:00:00_hourly",
            "tank/data/vm-100-disk-0@autosnap_2027-01-15_08:15:00_frequently",
            "tank/data/vm-100-disk-0@autosnap_foo",
            "tank/data/vm-100-disk-0@__replicate_100-0_1__",
            "tank/data/vm-100-state-x@autosnap_2027-01-15_08:15:00_frequently",
        ]
        .iter()
        .enumerate()
        {
            w.set_clock(1_800_000_000 + i as i64 * 60);
            zfs(&mut w, &format!("snapshot {snap}"));
        }
        w
    }

    fn emu(w: World, instr_limit: Option<u64>) -> Emu {
        Emu {
            world: RefCell::new(w),
            runs: Cell::new(0),
            instr_limit,
        }
    }

    #[test]
    fn scans_an_emulated_pool() {
        let e = emu(world(), None);
        let mut stats = ScanStats::default();
        let (disks, errors) = scan(
            &e,
            &[
                Dataset::new("tank").unwrap(),
                Dataset::new("tank/nope").unwrap(),
            ],
            &mut stats,
        );
        assert_eq!(
            errors,
            ["tank/nope does not exist: check the --dataset prefix (zfs list -o name)"]
        );
        let names: Vec<&str> = disks.iter().map(|d| d.dataset.as_str()).collect();
        assert_eq!(
            names,
            [
                "tank/backup/pve1/vm-300-disk-0",
                "tank/data/subvol-200-disk-1",
                "tank/data/vm-100-disk-0"
            ]
        );
        let vm = &disks[2];
        assert_eq!(vm.candidates, 2, "autosnap_foo is not a candidate");
        let mut got: Vec<(&str, i64)> = vm
            .newest
            .iter()
            .map(|c| (c.name.as_str(), c.creation))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("autosnap_2027-01-15_08:00:00_hourly", 1_800_000_000),
                ("autosnap_2027-01-15_08:15:00_frequently", 1_800_000_060)
            ]
        );
        assert_eq!(
            stats,
            ScanStats {
                programs: 2,
                splits: 0
            }
        );
    }

    /// `label:nosnap` comes back per disk with its value (any bytes) and where it is set.
    #[test]
    fn reads_label_nosnap_and_its_source() {
        let mut w = world();
        zfs(&mut w, "create -p tank/data/vm-101-disk-0");
        zfs(&mut w, "create -p tank/recv/vm-102-disk-0");
        zfs(&mut w, "set label:nosnap=on tank/backup");
        zfs(&mut w, "set label:nosnap=nosanp tank/data/vm-100-disk-0");
        w.set_user_prop("tank/data/vm-101-disk-0", "label:nosnap", " Yes\n\u{e9}")
            .unwrap();
        zfs(
            &mut w,
            "set --received label:nosnap=nosnap tank/recv/vm-102-disk-0",
        );
        let e = emu(w, None);
        let (disks, errors) = scan(
            &e,
            &[Dataset::new("tank").unwrap()],
            &mut ScanStats::default(),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let got: Vec<(&str, Option<(&str, &str)>)> = disks
            .iter()
            .map(|d| {
                (
                    d.dataset.as_str(),
                    d.nosnap
                        .as_ref()
                        .map(|l| (l.value.as_str(), l.source.as_str())),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "tank/backup/pve1/vm-300-disk-0",
                    Some(("on", "tank/backup"))
                ),
                ("tank/data/subvol-200-disk-1", None),
                (
                    "tank/data/vm-100-disk-0",
                    Some(("nosanp", "tank/data/vm-100-disk-0"))
                ),
                (
                    "tank/data/vm-101-disk-0",
                    Some((" Yes\n\u{e9}", "tank/data/vm-101-disk-0"))
                ),
                ("tank/recv/vm-102-disk-0", Some(("nosnap", "$recvd"))),
            ]
        );
    }

    #[test]
    fn unhex_table() {
        for (s, want) in [
            ("", Ok(String::new())),
            ("6f6e", Ok("on".to_string())),
            ("ff41", Ok("\u{fffd}A".to_string())),
            ("6", Err(())),
            ("zz", Err(())),
            ("\u{e9}", Err(())),
        ] {
            assert_eq!(unhex(s).map_err(|_| ()), want, "{s:?}");
        }
    }

    #[test]
    fn keeps_only_the_k_newest_by_txg() {
        let mut w = world();
        for i in 0..(NEWEST_K + 4) {
            zfs(
                &mut w,
                &format!(
                    "snapshot tank/data/subvol-200-disk-1@autosnap_2027-01-16_00:00:{i:02}_frequently"
                ),
            );
        }
        let e = emu(w, None);
        let (disks, _) = scan(
            &e,
            &[Dataset::new("tank/data").unwrap()],
            &mut ScanStats::default(),
        );
        let ct = disks
            .iter()
            .find(|d| d.dataset.leaf() == "subvol-200-disk-1")
            .unwrap();
        assert_eq!(ct.candidates, NEWEST_K as u64 + 4);
        let mut secs: Vec<String> = ct
            .newest
            .iter()
            .map(|c| c.name[26..28].to_string())
            .collect();
        secs.sort();
        let want: Vec<String> = (4..NEWEST_K + 4).map(|i| format!("{i:02}")).collect();
        assert_eq!(secs, want);
    }

    /// A walk that hits the instruction limit is split by child and still finds everything.
    #[test]
    fn splits_on_the_instruction_limit() {
        let whole = {
            let e = emu(world(), None);
            scan(
                &e,
                &[Dataset::new("tank").unwrap()],
                &mut ScanStats::default(),
            )
            .0
        };
        // Find a limit that fails the whole walk but lets single subtrees through.
        let mut found = false;
        for limit in (100..20_000).step_by(100) {
            let e = emu(world(), Some(limit));
            let mut stats = ScanStats::default();
            let (disks, errors) = scan(&e, &[Dataset::new("tank").unwrap()], &mut stats);
            if stats.splits > 0 && errors.is_empty() {
                assert_eq!(disks, whole, "limit {limit}");
                found = true;
                break;
            }
        }
        assert!(found, "no limit between split and success");
        let e = emu(world(), Some(100));
        let (_, errors) = scan(
            &e,
            &[Dataset::new("tank").unwrap()],
            &mut ScanStats::default(),
        );
        assert!(errors[0].contains("cannot scan tank"), "{errors:?}");
    }

    #[test]
    fn decode_shapes() {
        assert_eq!(decode(&json!({"x": 0})), Ok(None));
        let got = decode(&json!({"x": 1, "d": {
            "1": {"n": "tank/vm-1-disk-0", "c": 3, "s": "autosnap_a 5 100\nautosnap_b 7 200"},
            "2": {"n": "tank/b/subvol-2-disk-0", "c": 0, "s": ""}
        }}))
        .unwrap()
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].candidates, 3);
        assert_eq!(got[0].newest[0].createtxg, 7, "newest first");
        assert!(got[1].newest.is_empty());
        // An empty Lua table prints as {}.
        assert_eq!(decode(&json!({"x": 1, "d": {}})), Ok(Some(vec![])));
        for bad in [
            json!({"x": 2}),
            json!({"x": 1}),
            json!({"x": 1, "d": {"1": {"n": "tank/a", "c": 0, "s": "x 1"}}}),
            json!({"x": 1, "d": {"1": {"n": "tank/a", "c": 0, "s": "x 1 2"}}}),
            json!({"x": 1, "d": {"2": {"n": "tank/a", "c": 0, "s": ""}}}),
            json!({"x": 1, "d": {"1": {"n": "tank/a", "c": 0, "s": "", "l": "6f"}}}),
            json!({"x": 1, "d": {"1": {"n": "tank/a", "c": 0, "s": "", "l": 1, "ls": "tank"}}}),
        ] {
            assert!(decode(&bad).is_err(), "{bad}");
        }
    }
}
