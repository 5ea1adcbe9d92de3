//! The `zfs-emu` state file: load under an exclusive lock, run one command, save
//! atomically. Kept in the library so the locking is unit-tested.
//!
//! The lock is `flock` on `<state>.lock` (`nix::fcntl::Flock`; std `File::lock` needs Rust 1.89, above the MSRV), held from load to save, so
//! concurrent invocations serialise like commands on one host. The state is written to a
//! temporary file in the same directory and renamed over the old one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{Version, World};

/// Per-invocation settings read from the environment by the executable.
#[derive(Clone, Debug, Default)]
pub struct EmuEnv {
    /// `ZFS_EMU_VERSION`: overrides the state's version.
    pub(crate) version: Option<Version>,
    /// `ZFS_EMU_NOW`: the clock for this invocation.
    pub(crate) now: Option<i64>,
    /// `ZFS_EMU_SEED`: the list shuffle seed.
    pub(crate) seed: Option<u64>,
    /// `ZFS_EMU_FAULTS`: injected faults, parsed once per invocation.
    pub faults: Option<super::faults::Faults>,
}

impl EmuEnv {
    /// Reads `ZFS_EMU_VERSION`, `ZFS_EMU_NOW`, `ZFS_EMU_SEED`, `ZFS_EMU_FAULTS` (a bad fault
    /// spec is a [`super::faults::SpecError`] inside the error).
    pub fn from_env() -> anyhow::Result<EmuEnv> {
        let get = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_string());
        Ok(EmuEnv {
            version: get("ZFS_EMU_VERSION")
                .map(|v| v.parse::<Version>().map_err(anyhow::Error::msg))
                .transpose()?,
            now: get("ZFS_EMU_NOW")
                .map(|v| v.parse().context("ZFS_EMU_NOW must be epoch seconds"))
                .transpose()?,
            seed: get("ZFS_EMU_SEED")
                .map(|v| v.parse().context("ZFS_EMU_SEED must be an integer"))
                .transpose()?,
            faults: std::env::var(super::faults::ENV)
                .ok()
                .map(|v| v.parse::<super::faults::Faults>())
                .transpose()?,
        })
    }
}

/// Runs `tool` (`zfs` or `zpool`) with `args` against the state file `state` (tests).
#[cfg(test)]
pub(crate) fn run_with_state(
    state: &Path,
    env: &EmuEnv,
    tool: &str,
    args: &[String],
    stdin: &str,
) -> anyhow::Result<(i32, String, String)> {
    let r = run(state, env, tool, args, stdin)?;
    Ok((r.code, r.stdout, r.stderr))
}

/// What one invocation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// A `kill-after` fault killed the program: the state is saved, and the process must
    /// now die of SIGKILL without printing anything.
    pub killed: bool,
}

/// Runs `tool` (`zfs` or `zpool`) with `args` against the state file `state`, also telling
/// whether the program was killed (`kill-after`).
pub fn run(
    state: &Path,
    env: &EmuEnv,
    tool: &str,
    args: &[String],
    stdin: &str,
) -> anyhow::Result<Ran> {
    let lock_path = {
        let mut p = state.as_os_str().to_owned();
        p.push(".lock");
        PathBuf::from(p)
    };
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open lock file {}", lock_path.display()))?;
    let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .context("cannot lock the state")?;
    let mut world = match std::fs::read(state) {
        Ok(bytes) if !bytes.is_empty() => serde_json::from_slice::<World>(&bytes)
            .with_context(|| format!("cannot parse state {}", state.display()))?,
        Ok(_) => World::new(env.version.unwrap_or_default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            World::new(env.version.unwrap_or_default())
        }
        Err(e) => return Err(e).context(format!("cannot read {}", state.display())),
    };
    if let Some(v) = env.version {
        world.version = v;
    }
    if let Some(now) = env.now {
        world.set_clock(now);
    }
    if let Some(seed) = env.seed {
        world.set_seed(seed);
    }
    world.set_faults(env.faults.clone());
    let (code, stdout, stderr) = world.run_cli(tool, args, stdin);
    let killed = world.was_killed();
    let dir = state
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).context("cannot write state")?;
    serde_json::to_writer(&mut tmp, &world)?;
    tmp.flush()?;
    tmp.persist(state).context("cannot replace state")?;
    drop(lock);
    Ok(Ran {
        code,
        stdout,
        stderr,
        killed,
    })
}
