//! `zfs-emu`: a test stand-in for `zfs` and `zpool` over the in-process emulator
//! (`pve_zfs_snap::emu`). Not part of the installed package; `zfs-emu --help` documents it.
//!
//! Each invocation loads the JSON state from `ZFS_EMU_STATE` under an exclusive lock
//! (`<state>.lock`), runs one command, saves the state atomically (write + rename) and exits
//! with the command's code, so concurrent invocations behave like commands on one host.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use pve_zfs_snap::emu::{self, Version, World};

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let argv0 = args.remove(0);
    let name = Path::new(&argv0)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tool = if name == "zfs" || name == "zpool" {
        name
    } else {
        match args.first().map(String::as_str) {
            Some("zfs") | Some("zpool") => args.remove(0),
            _ => {
                print!("{}", emu::cli::HELP);
                std::process::exit(if args.is_empty() || args[0].contains("help") { 0 } else { 2 });
            }
        }
    };
    match run(&tool, &args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("zfs-emu: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run(tool: &str, args: &[String]) -> anyhow::Result<i32> {
    use anyhow::Context;
    let state: PathBuf = std::env::var_os("ZFS_EMU_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("zfs-emu-state.json"));
    let lock_path = {
        let mut p = state.clone().into_os_string();
        p.push(".lock");
        PathBuf::from(p)
    };
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open lock file {}", lock_path.display()))?;
    lock.lock().context("cannot lock the state")?;

    let env_version = match std::env::var("ZFS_EMU_VERSION") {
        Ok(v) => Some(v.parse::<Version>().map_err(anyhow::Error::msg)?),
        Err(_) => None,
    };
    let mut world = match std::fs::read(&state) {
        Ok(bytes) if !bytes.is_empty() => serde_json::from_slice::<World>(&bytes)
            .with_context(|| format!("cannot parse state {}", state.display()))?,
        Ok(_) => World::new(env_version.unwrap_or_default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            World::new(env_version.unwrap_or_default())
        }
        Err(e) => return Err(e).context(format!("cannot read {}", state.display())),
    };
    if let Some(v) = env_version {
        world.version = v;
    }
    if let Ok(now) = std::env::var("ZFS_EMU_NOW") {
        world.set_clock(now.trim().parse().context("ZFS_EMU_NOW must be epoch seconds")?);
    }
    if let Ok(seed) = std::env::var("ZFS_EMU_SEED") {
        world.set_seed(seed.trim().parse().context("ZFS_EMU_SEED must be an integer")?);
    }

    let needs_stdin = tool == "zfs" && args.first().is_some_and(|a| a == "program");
    let mut stdin = String::new();
    if needs_stdin && args.iter().any(|a| a == "-") {
        std::io::stdin().read_to_string(&mut stdin)?;
    }
    let (code, out, err) = if tool == "zfs" {
        emu::cli::zfs_main(&mut world, args, &stdin)
    } else {
        emu::cli::zpool_main(&mut world, args)
    };

    let dir = state.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).context("cannot write state")?;
    serde_json::to_writer(&mut tmp, &world)?;
    tmp.flush()?;
    tmp.persist(&state).context("cannot replace state")?;
    drop(lock);

    print!("{out}");
    eprint!("{err}");
    std::io::stdout().flush()?;
    Ok(code)
}
