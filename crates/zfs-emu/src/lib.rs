//! In-process emulator of the OpenZFS channel-program API (`zfs program`) on an in-memory
//! pool model, checked against real kernels by the conformance suite (`tests/vm/conformance/`
//! of the workspace; see this crate's README.md).
//!
//! Used by tests, by the `zfs-emu` stand-in executable (`src/main.rs`) and by pve-zfs-snap's
//! `simulate`; never by a real run. It must not depend on pve-zfs-snap (the product depends on
//! it). It never prints or exits; only [`state`] (the state file, `ZFS_EMU_*`) and
//! `zfs program <pool> <file>` (reading the script) touch files or the environment.
//!
//! * [`model`]: pools, datasets, snapshots, bookmarks, holds, clones and the kernel's rules.
//! * `lint` (private): source pre-pass turning Lua 5.4 (mlua) into the channel-program Lua 5.2 int64
//!   dialect (float literals, octal, `/`, nesting limit, 5.4-only syntax).
//! * `lua` (private): the sandbox, the `zfs.*` API, limits and the return conversion.
//! * `json` (private): the output nvlist and its `-j` JSON form.
//! * [`cli`]: `zfs`/`zpool` command lines against a [`World`] (what `zfs-emu` runs).
//! * `sendrecv` (private): `zfs send`/`zfs recv` in the emulator's own stream format, with
//!   the kernel's rules for guids, `-F`, received properties and resumable receives.
//! * [`faults`]: fault injection (`ZFS_EMU_FAULTS`): ENOSPC, EIO, a vanishing pool, a killed,
//!   hung or failing `zfs`; off (one branch per call) unless a test sets it.
//!
//! Known deviations (also in the report): the space pre-check (ENOSPC) is modelled only
//! under an `enospc` fault ([`faults`]); otherwise pools never fill;
//! memory is Lua 5.4's accounting (no 8-byte header per allocation), and a script's
//! reused Lua state (one per script, release and thread, fresh globals per run) may give a
//! program up to ~3 KB more room than the fresh state it stands for (more only if the
//! collection before a run stops at the state's last settled figure while finalized objects
//! exactly make up for a shrink of its own structures: see `lua::settle`); instruction counts
//! are 5.4 VM instructions (the count granularity, 100, and the limits are the same);
//! oversized output gives ENOMEM (`Return value too large.`) rather than a smushed nvlist;
//! `written@`, `userquota@` and most native properties beyond the ones listed in
//! `lua` return defaults; literal constant folding (`-7/2` as -3) is not emulated.
//! The kernel-panic cases (empty snapshot name, inherit of a user property on a missing
//! dataset) end the program with exit code `EXIT_PANIC` (99) and an `EMULATOR:` message.

#![warn(unreachable_pub, unnameable_types)]

pub mod cli;
pub mod faults;
pub(crate) mod json;
pub(crate) mod lint;
mod lua;
pub mod model;
mod sendrecv;
pub mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use model::{DatasetNode, DsKind, NameKind, Pool, Stamp, errno, split_name};

/// Exit code of a program that would have panicked the kernel.
pub(crate) const EXIT_PANIC: i32 = 99;
/// Default and maximum instruction limits (`zfs_lua_max_instrlimit`).
pub(crate) const DEFAULT_INSTR_LIMIT: u64 = 10_000_000;
pub(crate) const MAX_INSTR_LIMIT: u64 = 100_000_000;
/// Default and maximum memory limits (`zfs_lua_max_memlimit`).
pub(crate) const DEFAULT_MEM_LIMIT: u64 = 10 * 1024 * 1024;
pub(crate) const MAX_MEM_LIMIT: u64 = 100 * 1024 * 1024;

/// An OpenZFS release, `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    /// A version from its parts.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }
    /// True when this release has everything of `major.minor`.
    pub(crate) fn at_least(self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl Default for Version {
    fn default() -> Self {
        Version::new(2, 3, 2)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for Version {
    type Err = String;
    /// Parses `2.1.11`, `2.2` (patch 0) or `zfs-2.1.11-1`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let core = s.trim().trim_start_matches("zfs-");
        let core = core.split('-').next().unwrap_or("");
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return Err(format!("invalid OpenZFS version '{s}'"));
        }
        let num = |i: usize| -> Result<u32, String> {
            parts.get(i).map_or(Ok(0), |p| {
                p.parse()
                    .map_err(|_| format!("invalid OpenZFS version '{s}'"))
            })
        };
        Ok(Version::new(num(0)?, num(1)?, num(2)?))
    }
}

/// Everything the emulated host holds: pools, the txg counter, the emulated version.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct World {
    pub version: Version,
    /// Last synced txg; the next change happens in `txg + 1`.
    pub(crate) txg: u64,
    pub pools: BTreeMap<String, Pool>,
    /// State of the guid generator.
    #[serde(default)]
    guid_state: u64,
    /// Fixed clock (epoch seconds); system time when unset. Not persisted.
    #[serde(skip)]
    clock: Option<i64>,
    /// Seed for the `zfs.list.*` shuffle; random when unset. Not persisted.
    #[serde(skip)]
    seed: Option<u64>,
    /// Programs run by this in-memory world (varies the shuffle between runs).
    #[serde(skip)]
    runs: u64,
    /// Injected faults ([`faults`]); none unless set. Not persisted.
    #[serde(skip)]
    faults: Option<std::sync::Arc<faults::Faults>>,
    /// What the faults count across invocations (kept in the state file, absent when zero).
    #[serde(default, skip_serializing_if = "faults::Counters::is_zero")]
    pub(crate) fault_counters: faults::Counters,
    /// Set by a program that `kill-after` killed; read by [`World::run_cli`].
    #[serde(skip)]
    killed: bool,
}

/// A `zfs program` invocation, after option parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramRequest {
    pub(crate) pool: String,
    pub(crate) script: String,
    pub argv: Vec<String>,
    /// `false` is `-n`.
    pub sync: bool,
    pub instr_limit: u64,
    pub mem_limit: u64,
}

impl ProgramRequest {
    /// A sync request with the default limits.
    pub fn new(pool: &str, script: &str, argv: &[&str]) -> ProgramRequest {
        ProgramRequest {
            pool: pool.to_string(),
            script: script.to_string(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            sync: true,
            instr_limit: DEFAULT_INSTR_LIMIT,
            mem_limit: DEFAULT_MEM_LIMIT,
        }
    }
}

/// What `zfs program -j` would have printed and returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramOutcome {
    pub exit_code: i32,
    /// Exactly as `zfs program -j` prints it (no trailing newline).
    pub stdout: String,
    pub stderr: String,
    /// Instructions counted (steps of 100).
    pub instructions: u64,
    /// Peak Lua memory use in bytes.
    pub memory_peak: u64,
    /// The errno of the ioctl (0, EINVAL, ECHRNG, ETIME, ENOSPC, ENOMEM), for tests.
    pub(crate) errno: i32,
    /// The output nvlist (for the non-JSON form).
    pub(crate) output: Vec<(Vec<u8>, json::Nv)>,
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish()
}

/// splitmix64 step.
pub(crate) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl World {
    /// An empty host running OpenZFS `version`.
    pub fn new(version: Version) -> World {
        World {
            version,
            txg: 1,
            guid_state: random_u64(),
            ..World::default()
        }
    }

    /// Fixes the clock (`creation` of new objects, hold times).
    pub fn set_clock(&mut self, epoch_secs: i64) {
        self.clock = Some(epoch_secs);
    }

    /// Injects `faults` into every later command and program (`None`: none, the default).
    pub fn set_faults(&mut self, faults: Option<faults::Faults>) {
        self.faults = faults.map(std::sync::Arc::new);
    }

    /// The faults in force.
    pub(crate) fn faults(&self) -> Option<&faults::Faults> {
        self.faults.as_deref()
    }

    /// Runs one command line of `tool` (`zfs` or `zpool`) as [`cli`] does, with the
    /// command-level faults applied: `fail-exec` (exit 1, nothing touched), the `zfs program`
    /// count, pools gone under `vanish-after` (hidden for this command only), and a program
    /// killed by `kill-after` (exit [`faults::EXIT_KILLED`], no output; see
    /// [`World::was_killed`]). Without faults it is exactly `cli::zfs_main`/`zpool_main`.
    pub(crate) fn run_cli(
        &mut self,
        tool: &str,
        args: &[String],
        stdin: &str,
    ) -> (i32, String, String) {
        let Some(f) = self.faults.clone() else {
            return self.dispatch(tool, args, stdin);
        };
        self.killed = false;
        if f.fail_exec(tool, args) {
            return (1, String::new(), faults::FAIL_EXEC_MESSAGE.to_string());
        }
        if tool == "zfs" && args.first().is_some_and(|a| a == "program") {
            self.fault_counters.programs += 1;
        }
        let hidden: Vec<(String, Pool)> = f
            .vanished(self.fault_counters.programs)
            .filter_map(|p| self.pools.remove(p).map(|pool| (p.to_string(), pool)))
            .collect();
        let out = self.dispatch(tool, args, stdin);
        for (name, pool) in hidden {
            self.pools.entry(name).or_insert(pool);
        }
        if self.killed {
            return (faults::EXIT_KILLED, String::new(), String::new());
        }
        out
    }

    /// True when the last [`World::run_cli`] ran a program that `kill-after` killed: the
    /// process must now die of SIGKILL (after saving the state).
    pub(crate) fn was_killed(&self) -> bool {
        self.killed
    }

    fn dispatch(&mut self, tool: &str, args: &[String], stdin: &str) -> (i32, String, String) {
        match tool {
            "zfs" => cli::zfs_main(self, args, stdin),
            _ => cli::zpool_main(self, args),
        }
    }

    /// Makes the `zfs.list.*` shuffle reproducible.
    pub fn set_seed(&mut self, seed: u64) {
        self.seed = Some(seed);
    }

    /// Current time of the emulated host.
    pub fn now(&self) -> i64 {
        self.clock.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
    }

    /// A fresh guid.
    pub(crate) fn next_guid(&mut self) -> u64 {
        splitmix(&mut self.guid_state)
    }

    /// Seed for one program's shuffles.
    pub(crate) fn shuffle_seed(&mut self) -> u64 {
        self.runs += 1;
        match self.seed {
            Some(s) => s ^ self.runs.wrapping_mul(0x2545_F491_4F6C_DD1D),
            None => random_u64(),
        }
    }

    /// Starts a new txg for one CLI-level change and returns its stamp.
    fn stamp(&mut self) -> Stamp {
        self.txg += 1;
        Stamp {
            txg: self.txg,
            now: self.now(),
            guid: self.next_guid(),
        }
    }

    /// Runs a channel program (`zfs program` after option parsing, pool already named).
    pub fn run_program(&mut self, req: &ProgramRequest) -> ProgramOutcome {
        lua::run(self, req)
    }

    /// The pool of a name, if it exists.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.get(model::pool_of(name))
    }

    fn pool_mut(&mut self, name: &str) -> Result<&mut Pool, i32> {
        self.pools
            .get_mut(model::pool_of(name))
            .ok_or(errno::ENOENT)
    }

    /// `zpool create <pool>`: the pool and its root filesystem.
    pub fn create_pool(&mut self, name: &str) -> Result<(), i32> {
        if !model::valid_component(name) || name.contains([' ', ':', '.']) {
            return Err(errno::EINVAL);
        }
        if self.pools.contains_key(name) {
            return Err(errno::EEXIST);
        }
        let st = self.stamp();
        let mut pool = Pool::default();
        pool.datasets
            .insert(name.to_string(), new_node(DsKind::Filesystem, st, None));
        self.pools.insert(name.to_string(), pool);
        Ok(())
    }

    /// `zpool destroy <pool>`.
    pub(crate) fn destroy_pool(&mut self, name: &str) -> Result<(), i32> {
        self.pools.remove(name).map(|_| ()).ok_or(errno::ENOENT)
    }

    /// `zfs create [-p] [-V size] <name>`.
    pub fn create_dataset(
        &mut self,
        name: &str,
        volume: Option<u64>,
        parents: bool,
    ) -> Result<(), i32> {
        if !matches!(split_name(name), NameKind::Dataset(_)) || !model::valid_dataset_name(name) {
            return Err(errno::EINVAL);
        }
        let Some(parent) = model::parent_of(name) else {
            return Err(errno::EEXIST);
        };
        if self.pool(name).is_none() {
            return Err(errno::ENOENT);
        }
        if self
            .pool(name)
            .is_some_and(|p| p.datasets.contains_key(name))
        {
            return Err(errno::EEXIST);
        }
        let parent_exists = self
            .pool(name)
            .is_some_and(|p| p.datasets.contains_key(parent));
        if !parent_exists {
            if !parents {
                return Err(errno::ENOENT);
            }
            self.create_dataset(parent, None, true)?;
        }
        if self.pool(name).and_then(|p| p.ds(parent)).map(|n| n.kind) == Some(DsKind::Volume) {
            return Err(errno::EINVAL);
        }
        let st = self.stamp();
        let kind = if volume.is_some() {
            DsKind::Volume
        } else {
            DsKind::Filesystem
        };
        let node = new_node(kind, st, volume);
        self.pool_mut(name)?.datasets.insert(name.to_string(), node);
        Ok(())
    }

    /// `zfs snapshot fs@snap` (its own txg).
    pub fn snapshot(&mut self, full: &str) -> Result<(), i32> {
        let st = self.stamp();
        if let NameKind::Snapshot(_, s) = split_name(full)
            && !model::valid_component(s)
        {
            return Err(errno::EINVAL);
        }
        code(model::snapshot(self.pool_mut(full)?, full, st, false))
    }

    /// `zfs bookmark fs@snap fs#bm`.
    pub fn bookmark(&mut self, snap: &str, bm: &str) -> Result<(), i32> {
        let st = self.stamp();
        code(model::bookmark(self.pool_mut(snap)?, snap, bm, st, false))
    }

    /// `zfs destroy <name>` (non-recursive): snapshot, bookmark or filesystem/volume.
    pub fn destroy(&mut self, name: &str) -> Result<(), i32> {
        let now = self.stamp().now;
        let pool = self.pool_mut(name)?;
        match split_name(name) {
            NameKind::Snapshot(..) => {
                if pool.snap(name).is_none() {
                    return Err(errno::ENOENT);
                }
                code(model::destroy_snapshot(pool, name, false, now, false))
            }
            NameKind::Bookmark(ds, b) => {
                let node = pool.datasets.get_mut(ds).ok_or(errno::ENOENT)?;
                node.bookmarks.remove(b).map(|_| ()).ok_or(errno::ENOENT)
            }
            NameKind::Dataset(ds) => code(model::destroy_dataset(pool, ds, false, now, false)),
        }
    }

    /// `zfs hold <tag> <snap>`.
    pub fn hold(&mut self, tag: &str, snap: &str) -> Result<(), i32> {
        let now = self.stamp().now;
        code(model::hold(self.pool_mut(snap)?, tag, snap, now))
    }

    /// `zfs release <tag> <snap>`.
    pub fn release(&mut self, tag: &str, snap: &str) -> Result<(), i32> {
        let now = self.stamp().now;
        code(model::release(self.pool_mut(snap)?, tag, snap, now))
    }

    /// `zfs clone <snap> <fs>`.
    pub fn clone_snapshot(&mut self, snap: &str, fs: &str) -> Result<(), i32> {
        if model::pool_of(snap) != model::pool_of(fs) {
            return Err(errno::EXDEV);
        }
        let st = self.stamp();
        let pool = self.pool_mut(snap)?;
        code(model::clone(pool, snap, fs, st, false))?;
        if let Some(n) = pool.datasets.get_mut(fs) {
            n.mounted = n.kind == DsKind::Filesystem;
        }
        Ok(())
    }

    /// `zfs promote <clone>`.
    pub fn promote(&mut self, clone_fs: &str) -> Result<(), i32> {
        let now = self.stamp().now;
        code(model::promote(self.pool_mut(clone_fs)?, clone_fs, now, false).0)
    }

    /// `zfs set prop=value` for a user property.
    pub fn set_user_prop(&mut self, ds: &str, prop: &str, value: &str) -> Result<(), i32> {
        self.stamp();
        code(model::set_user_prop(
            self.pool_mut(ds)?,
            ds,
            prop,
            value,
            false,
        ))
    }

    /// `zfs set prop=value` for one of the native properties the emulator models
    /// ([`model::NATIVE_SETTABLE`]): EINVAL for another property or a bad value.
    pub(crate) fn set_native_prop(&mut self, ds: &str, prop: &str, value: &str) -> Result<(), i32> {
        let kind = self
            .pool(ds)
            .and_then(|p| p.ds(ds))
            .map(|n| n.kind)
            .ok_or(errno::ENOENT)?;
        if !model::valid_native_value(prop, value, kind) {
            return Err(errno::EINVAL);
        }
        self.stamp();
        let node = self.dataset_mut(ds)?;
        node.native_props
            .insert(prop.to_string(), value.to_string());
        Ok(())
    }

    /// The dataset `ds` (filesystem or volume) of its pool, or ENOENT.
    fn dataset_mut(&mut self, ds: &str) -> Result<&mut model::DatasetNode, i32> {
        self.pool_mut(ds)?.datasets.get_mut(ds).ok_or(errno::ENOENT)
    }

    /// A user property value as if it had arrived with `zfs recv` (source `received`).
    pub(crate) fn set_received_prop(
        &mut self,
        ds: &str,
        prop: &str,
        value: &str,
    ) -> Result<(), i32> {
        if !model::is_user_prop(prop) {
            return Err(errno::EINVAL);
        }
        self.stamp();
        let node = self.dataset_mut(ds)?;
        node.received_props
            .insert(prop.to_string(), value.to_string());
        node.has_recvd = true;
        Ok(())
    }

    /// `zfs inherit prop ds` for a user property.
    pub(crate) fn inherit_user_prop(&mut self, ds: &str, prop: &str) -> Result<(), i32> {
        self.stamp();
        code(model::inherit_user_prop(
            self.pool_mut(ds)?,
            ds,
            prop,
            false,
        ))
    }
}

/// Default value of a settable native property ([`model::NATIVE_SETTABLE`]) of head
/// dataset `ds`: `compression` is `on` from OpenZFS 2.2 on and `off` before; `readonly` is `off`.
pub(crate) fn default_native(version: Version, ds: &str, prop: &str) -> Option<String> {
    Some(match prop {
        "compression" if version.at_least(2, 2) => "on".into(),
        "compression" => "off".into(),
        "mountpoint" => format!("/{ds}"),
        "canmount" => "on".into(),
        "readonly" => "off".into(),
        _ => return None,
    })
}

fn code(e: i32) -> Result<(), i32> {
    if e == 0 { Ok(()) } else { Err(e) }
}

fn new_node(kind: DsKind, st: Stamp, volsize: Option<u64>) -> DatasetNode {
    DatasetNode {
        kind,
        createtxg: st.txg,
        creation: st.now,
        guid: st.guid,
        volsize,
        mounted: kind == DsKind::Filesystem,
        user_props: BTreeMap::new(),
        received_props: BTreeMap::new(),
        snapshots: BTreeMap::new(),
        bookmarks: BTreeMap::new(),
        origin: None,
        last_snap_txg: 0,
        native_props: BTreeMap::new(),
        snapshots_changed: 0,
        has_recvd: false,
        resume: None,
    }
}

#[cfg(test)]
mod tests;
