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
