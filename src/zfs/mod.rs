//! The ZFS layer: the only code that spawns `zfs`/`zpool` (through [`exec::Exec`]), runs the
//! channel programs in `lua/`, and turns their output into typed results and errors.
//!
//! Nothing above this module builds a `zfs` command line. It must not decide policy: it reads
//! state ([`inventory`]) and applies given items ([`apply`]), nothing else.

pub mod apply;
pub mod cost;
pub mod error;
pub mod exec;
pub mod inventory;
pub mod program;
pub mod scan;
pub mod snapcache;
pub mod tool;
pub mod transfer;
pub mod version;

pub use error::{FailureKind, ZfsError};
pub use exec::{Exec, InProcess, Output, Spawn, Tool};
pub use program::{Program, ProgramOpts};
pub use version::ZfsVersion;

/// Health and capacity of every imported pool: `zpool list -H -p -o
/// name,health,size,allocated,free,capacity` (`check --pools`).
pub fn pool_facts(exec: &dyn Exec) -> Result<Vec<crate::monitor::PoolFacts>, ZfsError> {
    let args: Vec<String> = [
        "list",
        "-H",
        "-p",
        "-o",
        "name,health,size,allocated,free,capacity",
    ]
    .map(String::from)
    .to_vec();
    let out = exec.run(Tool::Zpool, &args, None)?;
    if out.code != 0 {
        return Err(ZfsError::failed(Tool::Zpool, &args, &out));
    }
    let mut pools = Vec::new();
    for line in out.stdout.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let num = |s: &str| s.trim_end_matches('%').parse::<u64>().ok();
        let parsed = match f[..] {
            [name, health, size, alloc, free, cap] => (|| {
                Some(crate::monitor::PoolFacts {
                    name: name.to_string(),
                    health: health.to_string(),
                    size: num(size)?,
                    allocated: num(alloc)?,
                    free: num(free)?,
                    capacity: num(cap)?,
                })
            })(),
            _ => None,
        };
        match parsed {
            Some(p) => pools.push(p),
            None => {
                return Err(ZfsError::failed(
                    Tool::Zpool,
                    &args,
                    &Output {
                        code: out.code,
                        stdout: String::new(),
                        stderr: format!("unexpected line: {line:?}"),
                    },
                ));
            }
        }
    }
    Ok(pools)
}

/// Pools known to the system (`zpool list -H -o name`).
pub fn list_pools(exec: &dyn Exec) -> Result<Vec<String>, ZfsError> {
    let args: Vec<String> = ["list", "-H", "-o", "name"].map(String::from).to_vec();
    let out = exec.run(Tool::Zpool, &args, None)?;
    if out.code != 0 {
        return Err(ZfsError::failed(Tool::Zpool, &args, &out));
    }
    Ok(out
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}
