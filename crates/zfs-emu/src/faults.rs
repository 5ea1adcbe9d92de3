//! Fault injection (`ZFS_EMU_FAULTS`): the failures a test cannot stage on a real pool on
//! demand, injected the way OpenZFS would produce them, so the product's handling of a full
//! pool, an I/O error, a pool that goes away, a killed or hung `zfs` can be tested end to end.
//!
//! This module parses and validates the spec and answers "what applies here"; the effects
//! are applied by the runtime (`lua`: ENOSPC, EIO, kill), by `World::run_cli`
//! (vanished pools, `fail-exec`) and by the `zfs-emu` executable (`hang`, the SIGKILL). It must
//! not print, sleep or read the environment, and nothing here runs when no fault is set: the
//! world holds `None` and every hook tests that first, so `simulate` pays one branch per call.
//!
//! Spec: faults separated by commas (never part of a ZFS name); names come last in a fault,
//! since a dataset name may hold `:`.
//!
//! | fault | effect (reference: `zfs-channel-programs.md` §3.1, `zcp_synctask.c`) |
//! |---|---|
//! | `enospc:<pool>` | the pool is full (below the normal slop): every `zfs.check.*` and `zfs.sync.*` snapshot, bookmark and clone in a program on it returns ENOSPC; set_prop, inherit, promote, rollback and rename_snapshot still have the half slop the kernel keeps for them, and destroy its own reserve |
//! | `enospc:<pool>:<size>` | `<size>` (bytes, or `K`/`M`/`G`) free above the normal slop: each check *and* sync call takes the kernel's estimate (snapshot 144 KiB, set_prop 96 KiB, bookmark 48 KiB, destroy 0, ...) from a per-program total, as `zcp_synctask_wrapper` does, and returns ENOSPC once it would exceed it |
//! | `enospc-sync:<pool>` | the checks all pass, the sync calls of snapshot/bookmark/clone then return ENOSPC: a pool whose free space is exactly what the program's checks take (the kernel charges checks and syncs alike), when the checks come first as in `lua/apply.lua` |
//! | `eio:<dataset>` | the dataset, its snapshots and bookmarks cannot be read: a hold (`get_prop`, `exists`, `list.*`) is fatal (`I/O error while accessing dataset 'x'`), `zfs.check.*` on it returns EIO, `zfs.sync.*` on it is fatal with that message (`zcp_sync_task`); changes made before stay |
//! | `vanish-after:<N>:<pool>` | from the N-th `zfs program` call on (1 = the first; counted in the state file while faults are set) the pool is gone for every command: `cannot open '<pool>': no such pool`; it is back once the fault is unset (as after `zpool import`) |
//! | `kill-after:<K>` | counting `zfs.sync.*` calls of sync programs (in the state file), the program making the K-th call is killed right after that call took effect (K = 0: the first sync program, before its first call): what it did stays, the process dies of SIGKILL with no output; fires once |
//! | `hang:<command>[:<secs>]` | the command sleeps `<secs>` (default 3600) before running, holding nothing |
//! | `busy:<snapshot>` | a `zfs send` of the snapshot is in progress (the kernel's long hold, which `zfs.list.holds` does not show): `zfs.check.destroy` and `zfs.sync.destroy` of it return EBUSY |
//! | `send-cut:[<N>:]<dataset>` | `zfs send` of a snapshot of the dataset dies midway, as on an I/O error or a broken pipe: the stream carries the first `N` snapshots (default 0) and half of the next one, then stops, and send exits 1 (`warning: cannot send '<snap>': Input/output error`); a `zfs recv -s` of it keeps the partial snapshot and a `receive_resume_token` |
//! | `recv-cut:[<N>:]<dataset>` | `zfs recv` into the dataset sees its stream end midway: the first `N` snapshots (default 0) are received, the next one is interrupted (the kernel's "incomplete stream", with a resume token under `-s`) |
//! | `dirty:<dataset>` | the dataset has been written since its most recent snapshot: an incremental `zfs recv` into it without `-F` fails with ETXTBSY (`destination … has been modified since most recent snapshot`) |
//! | `fail-exec:<command>` | the command fails at once with exit 1 and libzfs' "modules are not loaded" message, touching nothing |
//! | `pool-state:<HEALTH>:<pct>:<pool>` | `zpool list -o health,capacity,…` reports the pool as `<HEALTH>` (`DEGRADED`, `FAULTED`, …) and `<pct>` % full (of 100 GiB); nothing else changes (without it: `ONLINE`, 1 %) |
//!
//! `<command>`: `program` (any `zfs program`), `program-sync` (without `-n`), `program-n`
//! (with `-n`), `zpool` (any `zpool` command), `all`, or a `zfs` subcommand (`list`, `get`,
//! `version`, ...).
//!
//! About `kill-after`: a real kernel does not stop a sync program midway on a signal (a signal
//! while it waits for its txg cancels it before it starts; once running in syncing context it
//! completes), so K = 0 and a K at or past the program's last sync call are exactly the real
//! outcomes of a killed `zfs program`; a K in the middle stages a superset (the partial state a
//! fatal error midway leaves, with the missing output of a kill), which a correct caller
//! survives too.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The environment variable holding the spec.
pub(crate) const ENV: &str = "ZFS_EMU_FAULTS";
/// Exit status a shell shows for a process killed by SIGKILL (128 + 9).
pub const EXIT_KILLED: i32 = 137;
/// Default sleep of `hang:<command>`, in seconds.
pub(crate) const DEFAULT_HANG_SECS: u64 = 3600;
/// Room the kernel keeps beyond the normal slop for `ZFS_SPACE_CHECK_RESERVED` calls: half the
/// slop, whose minimum (`spa_min_slop`) is 128 MiB.
pub(crate) const RESERVED_ROOM: u64 = 64 << 20;
/// Room beyond the normal slop for destroy (`ZFS_SPACE_CHECK_DESTROY`, a quarter of the slop
/// held back instead of all of it).
pub(crate) const DESTROY_ROOM: u64 = 96 << 20;
/// What `fail-exec` prints: `libzfs_error_init(ENXIO)` on Linux.
pub(crate) const FAIL_EXEC_MESSAGE: &str =
    "The ZFS modules are not loaded.\nTry running 'modprobe zfs' as root to load them.\n";

/// How much room a full pool has (`enospc` faults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Space {
    /// `enospc:<pool>`: nothing above the normal slop.
    Full,
    /// `enospc:<pool>:<size>`: this many bytes above the normal slop.
    Free(u64),
    /// `enospc-sync:<pool>`: exactly what the program's checks take.
    AtSync,
}

/// Which command lines a `hang` or `fail-exec` fault applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Selector {
    /// Every `zfs program`.
    Program,
    /// `zfs program` without `-n`.
    ProgramSync,
    /// `zfs program -n`.
    ProgramN,
    /// Every `zpool` command.
    Zpool,
    /// Every command.
    All,
    /// `zfs <subcommand>`.
    Zfs(String),
}

/// One injected fault (see the module documentation for the exact behaviour).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// `enospc:<pool>[:<size>]`, `enospc-sync:<pool>`.
    Enospc { pool: String, space: Space },
    /// `eio:<dataset>`.
    Eio { dataset: String },
    /// `vanish-after:<N>:<pool>`.
    VanishAfter { after: u64, pool: String },
    /// `kill-after:<K>`.
    KillAfter { calls: u64 },
    /// `hang:<command>[:<secs>]`.
    Hang { on: Selector, secs: u64 },
    /// `fail-exec:<command>`.
    FailExec { on: Selector },
    /// `busy:<snapshot>`.
    Busy { snapshot: String },
    /// `send-cut:[<N>:]<dataset>`.
    SendCut { after: u64, dataset: String },
    /// `recv-cut:[<N>:]<dataset>`.
    RecvCut { after: u64, dataset: String },
    /// `dirty:<dataset>`.
    Dirty { dataset: String },
    /// `pool-state:<HEALTH>:<pct>:<pool>`.
    PoolState {
        health: String,
        capacity: u64,
        pool: String,
    },
}

/// A parsed `ZFS_EMU_FAULTS` value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    pub(crate) list: Vec<Fault>,
}

/// A malformed `ZFS_EMU_FAULTS` value: a usage error of the emulator (exit 2), so a test
/// can never run silently without the fault it asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError(pub String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ENV}: {}", self.0)
    }
}

impl std::error::Error for SpecError {}

/// Counters kept in the state file while faults are set (absent from it otherwise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Counters {
    /// `zfs program` invocations (`vanish-after`).
    #[serde(default)]
    pub(crate) programs: u64,
    /// `zfs.sync.*` calls made by sync programs (`kill-after`).
    #[serde(default)]
    pub(crate) sync_calls: u64,
    /// `kill-after` has fired.
    #[serde(default)]
    pub(crate) killed: bool,
}

impl Counters {
    /// True when nothing was counted (the state file then has no `faults` key).
    pub(crate) fn is_zero(&self) -> bool {
        *self == Counters::default()
    }
}

impl Faults {
    /// `pool-state` of `pool`: (health, capacity %), if set.
    pub(crate) fn pool_state(&self, pool: &str) -> Option<(&str, u64)> {
        self.list.iter().find_map(|f| match f {
            Fault::PoolState {
                health,
                capacity,
                pool: p,
            } if p == pool => Some((health.as_str(), *capacity)),
            _ => None,
        })
    }
}

/// `zfs` subcommands a selector may name.
const ZFS_COMMANDS: &[&str] = &[
    "program", "version", "create", "snapshot", "snap", "bookmark", "destroy", "set", "inherit",
    "get", "list", "hold", "release", "clone", "send", "recv", "receive",
];

fn valid_pool(p: &str) -> bool {
    super::model::valid_component(p) && !p.contains([' ', ':', '.', '/', '@', '#'])
}

fn valid_dataset(d: &str) -> bool {
    !d.contains(['@', '#']) && super::model::valid_dataset_name(d)
}

fn count(what: &str, s: &str) -> Result<u64, SpecError> {
    s.parse()
        .map_err(|_| SpecError(format!("{what} must be a whole number, not '{s}'")))
}

impl FromStr for Selector {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "program" => Selector::Program,
            "program-sync" => Selector::ProgramSync,
            "program-n" => Selector::ProgramN,
            "zpool" => Selector::Zpool,
            "all" => Selector::All,
            other if ZFS_COMMANDS.contains(&other) => Selector::Zfs(other.to_string()),
            other => {
                return Err(SpecError(format!(
                    "unknown command '{other}' (program, program-sync, program-n, zpool, all, \
                     or a zfs subcommand: {})",
                    ZFS_COMMANDS.join(", ")
                )));
            }
        })
    }
}

impl FromStr for Fault {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| SpecError(format!("'{s}' is not <fault>:<arguments>")))?;
        let bad = |why: &str| SpecError(format!("'{s}': {why}"));
        let fault = match kind {
            "enospc" => {
                let (pool, size) = match rest.split_once(':') {
                    Some((p, sz)) => (p, Some(sz)),
                    None => (rest, None),
                };
                let space = match size {
                    None => Space::Full,
                    Some(sz) => Space::Free(
                        super::cli::parse_size(sz)
                            .ok_or_else(|| bad("the free space must be bytes, or with K/M/G"))?,
                    ),
                };
                Fault::Enospc {
                    pool: pool.to_string(),
                    space,
                }
            }
            "enospc-sync" => Fault::Enospc {
                pool: rest.to_string(),
                space: Space::AtSync,
            },
            "eio" => {
                if !valid_dataset(rest) {
                    return Err(bad("name a filesystem or volume (pool/fs)"));
                }
                Fault::Eio {
                    dataset: rest.to_string(),
                }
            }
            "vanish-after" => {
                let (n, pool) = rest
                    .split_once(':')
                    .ok_or_else(|| bad("use vanish-after:<N>:<pool>"))?;
                let after = count("N", n)?;
                if after == 0 {
                    return Err(bad("N counts from 1 (the first zfs program call)"));
                }
                if !valid_pool(pool) {
                    return Err(bad("name a pool"));
                }
                Fault::VanishAfter {
                    after,
                    pool: pool.to_string(),
                }
            }
            "kill-after" => Fault::KillAfter {
                calls: count("K", rest)?,
            },
            "hang" => {
                let (on, secs) = match rest.split_once(':') {
                    Some((c, secs)) => (c, count("the seconds", secs)?),
                    None => (rest, DEFAULT_HANG_SECS),
                };
                Fault::Hang {
                    on: on.parse()?,
                    secs,
                }
            }
            "fail-exec" => Fault::FailExec { on: rest.parse()? },
            "busy" => match rest.split_once('@') {
                Some((ds, snap)) if valid_dataset(ds) && !snap.is_empty() => Fault::Busy {
                    snapshot: rest.to_string(),
                },
                _ => return Err(bad("name a snapshot (pool/fs@snap)")),
            },
            "send-cut" | "recv-cut" => {
                // A pool name never holds ':', so `<digits>:` in front is the count.
                let (after, dataset) = match rest.split_once(':') {
                    Some((n, ds)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                        (count("N", n)?, ds)
                    }
                    _ => (0, rest),
                };
                if !valid_dataset(dataset) {
                    return Err(bad("name a filesystem or volume (pool/fs)"));
                }
                let dataset = dataset.to_string();
                if kind == "send-cut" {
                    Fault::SendCut { after, dataset }
                } else {
                    Fault::RecvCut { after, dataset }
                }
            }
            "dirty" => {
                if !valid_dataset(rest) {
                    return Err(bad("name a filesystem or volume (pool/fs)"));
                }
                Fault::Dirty {
                    dataset: rest.to_string(),
                }
            }
            "pool-state" => {
                let mut parts = rest.splitn(3, ':');
                let (Some(health), Some(pct), Some(pool)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(bad("use pool-state:<HEALTH>:<pct>:<pool>"));
                };
                let capacity = count("the capacity", pct)?;
                if capacity > 100 || health.is_empty() || !valid_pool(pool) {
                    return Err(bad("use pool-state:<HEALTH>:<0-100>:<pool>"));
                }
                Fault::PoolState {
                    health: health.to_string(),
                    capacity,
                    pool: pool.to_string(),
                }
            }
            other => {
                return Err(SpecError(format!(
                    "unknown fault '{other}' (enospc, enospc-sync, eio, vanish-after, \
                     kill-after, hang, fail-exec, busy, send-cut, recv-cut, dirty, pool-state)"
                )));
            }
        };
        if let Fault::Enospc { pool, .. } = &fault
            && !valid_pool(pool)
        {
            return Err(bad(
                "ENOSPC is pool-wide (the kernel's space check): name a pool",
            ));
        }
        Ok(fault)
    }
}

impl FromStr for Faults {
    type Err = SpecError;
    /// Parses a comma-separated list; an empty or blank spec is an error (unset the variable
    /// instead), as is more than one `kill-after`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let list = s
            .split(',')
            .map(str::trim)
            .map(|f| {
                if f.is_empty() {
                    Err(SpecError(format!("empty fault in '{s}'")))
                } else {
                    f.parse().map_err(|e: SpecError| {
                        if e.0.contains(f) {
                            e
                        } else {
                            SpecError(format!("'{f}': {}", e.0))
                        }
                    })
                }
            })
            .collect::<Result<Vec<Fault>, _>>()?;
        let kills = list
            .iter()
            .filter(|f| matches!(f, Fault::KillAfter { .. }))
            .count();
        if kills > 1 {
            return Err(SpecError(format!("at most one kill-after in '{s}'")));
        }
        Ok(Faults { list })
    }
}

impl Selector {
    /// True when this selector names the command line `tool args…`.
    pub(crate) fn matches(&self, tool: &str, args: &[String]) -> bool {
        let sub = args.first().map_or("", String::as_str);
        match self {
            Selector::All => true,
            Selector::Zpool => tool == "zpool",
            _ if tool != "zfs" => false,
            Selector::Program => sub == "program",
            Selector::ProgramSync => sub == "program" && !is_dry(args),
            Selector::ProgramN => sub == "program" && is_dry(args),
            Selector::Zfs(s) => sub == s,
        }
    }
}

/// `-n` among the options of `zfs program`, read like `cli`'s getopt (GNU permutation: options
/// may follow the pool, up to `--`; `-t`/`-m` take a value, glued or next).
fn is_dry(args: &[String]) -> bool {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            return false;
        }
        if !a.starts_with('-') || a == "-" || a.starts_with("--") {
            continue;
        }
        for (j, c) in a[1..].char_indices() {
            match c {
                'n' => return true,
                't' | 'm' => {
                    if j + 2 == a.len() {
                        i += 1; // the value is the next argument
                    }
                    break;
                }
                _ => {}
            }
        }
    }
    false
}

impl Faults {
    /// Seconds `tool args…` must sleep before running (`hang`), if any.
    pub fn hang(&self, tool: &str, args: &[String]) -> Option<u64> {
        self.list.iter().find_map(|f| match f {
            Fault::Hang { on, secs } if on.matches(tool, args) => Some(*secs),
            _ => None,
        })
    }

    /// True when `tool args…` must fail at once (`fail-exec`).
    pub(crate) fn fail_exec(&self, tool: &str, args: &[String]) -> bool {
        self.list
            .iter()
            .any(|f| matches!(f, Fault::FailExec { on } if on.matches(tool, args)))
    }

    /// `send-cut`: how many whole snapshots a `zfs send` from `dataset` may emit.
    pub(crate) fn send_cut(&self, dataset: &str) -> Option<u64> {
        self.list.iter().find_map(|f| match f {
            Fault::SendCut { after, dataset: d } if d == dataset => Some(*after),
            _ => None,
        })
    }

    /// `recv-cut`: how many whole snapshots a `zfs recv` into `dataset` gets.
    pub(crate) fn recv_cut(&self, dataset: &str) -> Option<u64> {
        self.list.iter().find_map(|f| match f {
            Fault::RecvCut { after, dataset: d } if d == dataset => Some(*after),
            _ => None,
        })
    }

    /// `dirty`: the dataset was written since its latest snapshot.
    pub(crate) fn dirty(&self, dataset: &str) -> bool {
        self.list
            .iter()
            .any(|f| matches!(f, Fault::Dirty { dataset: d } if d == dataset))
    }

    /// Pools gone once `programs` `zfs program` calls were counted.
    pub(crate) fn vanished(&self, programs: u64) -> impl Iterator<Item = &str> {
        self.list.iter().filter_map(move |f| match f {
            Fault::VanishAfter { after, pool } if programs >= *after => Some(pool.as_str()),
            _ => None,
        })
    }

    /// What applies to one program on `pool` (`sync` = without `-n`), given the counters;
    /// `None` when nothing does.
    pub(crate) fn for_program(
        &self,
        pool: &str,
        sync: bool,
        n: &Counters,
    ) -> Option<ProgramFaults> {
        let mut pf = ProgramFaults::default();
        let in_pool = |name: &str| super::model::pool_of(name) == pool;
        for f in &self.list {
            match f {
                Fault::Enospc { pool: p, space } if p == pool => {
                    pf.space = Some(SpaceRun {
                        headroom: match space {
                            Space::Free(b) => *b,
                            Space::Full | Space::AtSync => 0,
                        },
                        at_sync: *space == Space::AtSync,
                        used: 0,
                    });
                }
                Fault::Eio { dataset } if in_pool(dataset) => pf.eio.push(dataset.clone()),
                Fault::Busy { snapshot } if in_pool(snapshot) => pf.busy.push(snapshot.clone()),
                Fault::KillAfter { calls } if sync && !n.killed => {
                    pf.kill_in = calls.checked_sub(n.sync_calls);
                }
                _ => {}
            }
        }
        (pf.space.is_some() || !pf.eio.is_empty() || !pf.busy.is_empty() || pf.kill_in.is_some())
            .then_some(pf)
    }
}

/// The space pre-check of one program (`zcp_synctask_wrapper`).
#[derive(Clone, Debug, Default)]
pub(crate) struct SpaceRun {
    /// Bytes above the normal slop.
    headroom: u64,
    /// `enospc-sync`: checks never fail and add what they take to the headroom.
    at_sync: bool,
    /// The program's running total (`zri_space_used`).
    used: u64,
}

/// The space class (`zfs_space_check_t`) and `blocks_modified` of a `zfs.sync`/`zfs.check`
/// function, from `zcp_synctask.c`.
fn space_class(fname: &str) -> (u64, u64) {
    match fname {
        "snapshot" | "clone" => (0, 3),
        "bookmark" => (0, 1),
        "set_prop" | "inherit" => (RESERVED_ROOM, 2),
        "promote" => (RESERVED_ROOM, 3),
        "rollback" | "rename_snapshot" => (RESERVED_ROOM, 1),
        _ => (DESTROY_ROOM, 0), // destroy
    }
}

/// Faults in force during one program ([`Faults::for_program`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct ProgramFaults {
    space: Option<SpaceRun>,
    /// Datasets of this pool under `eio`.
    eio: Vec<String>,
    /// Snapshots of this pool under `busy`.
    busy: Vec<String>,
    /// Sync calls this program may still make before it is killed.
    kill_in: Option<u64>,
    /// The program was killed.
    pub(crate) killed: bool,
}

impl ProgramFaults {
    /// True when `name` (a dataset, snapshot or bookmark) is under `eio`.
    pub(crate) fn eio(&self, name: &str) -> bool {
        if self.eio.is_empty() {
            return false;
        }
        let ds = name.split(['@', '#']).next().unwrap_or(name);
        self.eio.iter().any(|d| d == ds)
    }

    /// True when `fname` is a destroy of a snapshot under `busy` (EBUSY).
    pub(crate) fn busy(&self, fname: &str, name: &str) -> bool {
        fname == "destroy" && self.busy.iter().any(|s| s == name)
    }

    /// The space pre-check before `fname` runs: true when it must return ENOSPC.
    pub(crate) fn no_space(&self, fname: &str, sync: bool) -> bool {
        let Some(run) = &self.space else {
            return false;
        };
        if run.at_sync && !sync {
            return false;
        }
        let (room, blocks) = space_class(fname);
        let cost = (blocks << 14) * 3;
        run.used + cost > run.headroom + room
    }

    /// Charges a call of `fname` that returned 0.
    pub(crate) fn charge(&mut self, fname: &str, sync: bool) {
        if let Some(run) = &mut self.space {
            let cost = (space_class(fname).1 << 14) * 3;
            run.used += cost;
            if run.at_sync && !sync {
                run.headroom += cost;
            }
        }
    }

    /// Before a `zfs.sync.*` call: true when the program must die now (`kill-after:0`).
    pub(crate) fn kill_before_sync(&self) -> bool {
        self.kill_in == Some(0)
    }

    /// After a `zfs.sync.*` call: counts it; true when the program must die now.
    pub(crate) fn kill_after_sync(&mut self) -> bool {
        match &mut self.kill_in {
            Some(n) if *n > 0 => {
                *n -= 1;
                *n == 0
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn spec_parses_every_fault() {
        let cases: &[(&str, Fault)] = &[
            (
                "enospc:rpool",
                Fault::Enospc {
                    pool: "rpool".into(),
                    space: Space::Full,
                },
            ),
            (
                "enospc:rpool:300K",
                Fault::Enospc {
                    pool: "rpool".into(),
                    space: Space::Free(300 << 10),
                },
            ),
            (
                "enospc-sync:tank",
                Fault::Enospc {
                    pool: "tank".into(),
                    space: Space::AtSync,
                },
            ),
            (
                "eio:rpool/data/vm:1",
                Fault::Eio {
                    dataset: "rpool/data/vm:1".into(),
                },
            ),
            (
                "vanish-after:2:tank",
                Fault::VanishAfter {
                    after: 2,
                    pool: "tank".into(),
                },
            ),
            ("kill-after:0", Fault::KillAfter { calls: 0 }),
            (
                "hang:program",
                Fault::Hang {
                    on: Selector::Program,
                    secs: DEFAULT_HANG_SECS,
                },
            ),
            (
                "hang:list:5",
                Fault::Hang {
                    on: Selector::Zfs("list".into()),
                    secs: 5,
                },
            ),
            (
                "fail-exec:zpool",
                Fault::FailExec {
                    on: Selector::Zpool,
                },
            ),
            (
                "send-cut:tank/a",
                Fault::SendCut {
                    after: 0,
                    dataset: "tank/a".into(),
                },
            ),
            (
                "recv-cut:2:tank/vm:1",
                Fault::RecvCut {
                    after: 2,
                    dataset: "tank/vm:1".into(),
                },
            ),
            (
                "recv-cut:tank/x:3",
                Fault::RecvCut {
                    after: 0,
                    dataset: "tank/x:3".into(),
                },
            ),
            (
                "dirty:tank/a",
                Fault::Dirty {
                    dataset: "tank/a".into(),
                },
            ),
            (
                "hang:recv",
                Fault::Hang {
                    on: Selector::Zfs("recv".into()),
                    secs: DEFAULT_HANG_SECS,
                },
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(spec.parse::<Fault>().as_ref(), Ok(want), "{spec}");
        }
        let all: Faults = "enospc:rpool, eio:tank/a ,kill-after:3".parse().unwrap();
        assert_eq!(all.list.len(), 3);
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        let cases = [
            ("", "empty fault"),
            ("enospc:rpool,", "empty fault"),
            ("enospc", "is not <fault>:<arguments>"),
            ("enospc:rpool/data", "pool-wide"),
            ("enospc:rpool:lots", "free space"),
            ("enospc-sync:", "name a pool"),
            ("eio:rpool/a@s", "filesystem or volume"),
            ("eio:", "filesystem or volume"),
            ("vanish-after:tank", "vanish-after:<N>:<pool>"),
            ("vanish-after:0:tank", "counts from 1"),
            ("vanish-after:x:tank", "whole number"),
            ("vanish-after:1:tank/a", "name a pool"),
            ("kill-after:-1", "whole number"),
            ("kill-after:1,kill-after:2", "at most one"),
            ("hang:snapshots", "unknown command"),
            ("hang:program:soon", "whole number"),
            ("fail-exec:", "unknown command"),
            ("enospc-at-sync:rpool", "unknown fault"),
            ("send-cut:tank/a@s", "filesystem or volume"),
            ("recv-cut:2:", "filesystem or volume"),
            ("dirty:", "filesystem or volume"),
        ];
        for (spec, why) in cases {
            let e = spec.parse::<Faults>().expect_err(spec);
            assert!(e.to_string().contains(why), "{spec}: {e}");
            assert!(e.to_string().starts_with("ZFS_EMU_FAULTS: "), "{e}");
            let first = spec.split(',').next().unwrap();
            assert!(e.to_string().contains(first), "names the fault: {e}");
        }
    }

    #[test]
    fn selectors_match_their_command_lines() {
        let cases: &[(&str, &str, &str, bool)] = &[
            ("program", "zfs", "program -j -- rpool -", true),
            ("program", "zfs", "list -H", false),
            ("program", "zpool", "program", false),
            ("program-sync", "zfs", "program -j -- rpool -", true),
            ("program-sync", "zfs", "program -jn -- rpool -", false),
            ("program-sync", "zfs", "program -t 5 -- rpool - -n", true),
            ("program-sync", "zfs", "program -tn -- rpool -", true),
            ("program-n", "zfs", "program -j -n -t 5 -- rpool -", true),
            ("program-n", "zfs", "program -j -- rpool - -n", false),
            ("program-n", "zfs", "program -j -t 5 rpool - -n", true),
            ("program-n", "zfs", "program -t -n rpool -", false),
            ("list", "zfs", "list -H", true),
            ("list", "zpool", "list -H", false),
            ("zpool", "zpool", "list -H", true),
            ("all", "zpool", "list", true),
            ("all", "zfs", "version", true),
        ];
        for (sel, tool, line, want) in cases {
            let s: Selector = sel.parse().unwrap();
            assert_eq!(s.matches(tool, &sv(line)), *want, "{sel} vs {tool} {line}");
        }
    }

    #[test]
    fn space_run_follows_the_kernel_accounting() {
        let f: Faults = "enospc:rpool:300K".parse().unwrap();
        let mut pf = f.for_program("rpool", true, &Counters::default()).unwrap();
        // 144 KiB per snapshot, checks and syncs alike: two fit in 300 KiB, the third not.
        assert!(!pf.no_space("snapshot", false));
        pf.charge("snapshot", false);
        assert!(!pf.no_space("snapshot", true));
        pf.charge("snapshot", true);
        assert!(pf.no_space("snapshot", true));
        assert!(!pf.no_space("set_prop", true), "reserved room");
        assert!(!pf.no_space("destroy", true));
        // another pool: nothing applies
        assert!(f.for_program("tank", true, &Counters::default()).is_none());

        let f: Faults = "enospc-sync:rpool".parse().unwrap();
        let mut pf = f.for_program("rpool", true, &Counters::default()).unwrap();
        for _ in 0..3 {
            assert!(!pf.no_space("snapshot", false));
            pf.charge("snapshot", false);
        }
        assert!(pf.no_space("snapshot", true));
        assert!(pf.no_space("bookmark", true));
        assert!(!pf.no_space("set_prop", true));
    }

    #[test]
    fn kill_counts_sync_calls_across_programs_and_fires_once() {
        let f: Faults = "kill-after:3".parse().unwrap();
        let mut n = Counters {
            sync_calls: 1,
            ..Counters::default()
        };
        assert!(
            f.for_program("rpool", false, &n).is_none(),
            "-n programs never"
        );
        let mut pf = f.for_program("rpool", true, &n).unwrap();
        assert!(!pf.kill_before_sync());
        assert!(!pf.kill_after_sync());
        assert!(pf.kill_after_sync(), "the third call overall");
        n.killed = true;
        assert!(f.for_program("rpool", true, &n).is_none());
        let f: Faults = "kill-after:0".parse().unwrap();
        let pf = f.for_program("rpool", true, &Counters::default()).unwrap();
        assert!(pf.kill_before_sync());
    }
}
