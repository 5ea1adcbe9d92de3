//! `zfs-emu`: a test stand-in for `zfs` and `zpool` over the in-process emulator
//! (`pve_zfs_snap::emu`). Not part of the installed package; `zfs-emu --help` documents it.
//!
//! Each invocation loads the JSON state from `ZFS_EMU_STATE` under an exclusive lock
//! (`<state>.lock`), runs one command, saves the state atomically (write + rename) and exits
//! with the command's code, so concurrent invocations behave like commands on one host.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use pve_zfs_snap::emu;

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
                std::process::exit(if args.is_empty() || args[0].contains("help") {
                    0
                } else {
                    2
                });
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
    let state: PathBuf = std::env::var_os("ZFS_EMU_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("zfs-emu-state.json"));
    let env = emu::state::EmuEnv::from_env()?;
    let mut stdin = String::new();
    if tool == "zfs"
        && args.first().is_some_and(|a| a == "program")
        && args.iter().any(|a| a == "-")
    {
        std::io::stdin().read_to_string(&mut stdin)?;
    }
    let (code, out, err) = emu::state::run_with_state(&state, &env, tool, args, &stdin)?;
    print!("{out}");
    eprint!("{err}");
    std::io::stdout().flush()?;
    Ok(code)
}
