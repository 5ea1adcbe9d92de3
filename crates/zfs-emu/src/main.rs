//! `zfs-emu`: a test stand-in for `zfs` and `zpool` over the in-process emulator
//! (the `zfs_emu` library). Not part of the installed package; `zfs-emu --help` documents it.
//!
//! Each invocation loads the JSON state from `ZFS_EMU_STATE` under an exclusive lock
//! (`<state>.lock`), runs one command, saves the state atomically (write + rename) and exits
//! with the command's code, so concurrent invocations behave like commands on one host.
//! `ZFS_EMU_FAULTS` injects faults ([`zfs_emu::faults`]); a bad spec exits 2. The process-level
//! ones are done here: `hang` sleeps before anything, a `kill-after` kill raises SIGKILL
//! once the state is saved.
#![allow(clippy::disallowed_methods)] // a stand-in for zfs: its environment is its input

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

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
                print!("{}", zfs_emu::cli::HELP);
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
            // A bad ZFS_EMU_FAULTS is a usage error: a test must not run without its fault.
            let usage = e.downcast_ref::<zfs_emu::faults::SpecError>().is_some();
            std::process::exit(if usage { 2 } else { 1 });
        }
    }
}

fn run(tool: &str, args: &[String]) -> anyhow::Result<i32> {
    let state: PathBuf = std::env::var_os("ZFS_EMU_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("zfs-emu-state.json"));
    let env = zfs_emu::state::EmuEnv::from_env()?;
    if let Some(secs) = env.faults.as_ref().and_then(|f| f.hang(tool, args)) {
        // `hang`: a zfs stuck in the kernel; it holds nothing (not even the state lock).
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }
    let mut stdin = String::new();
    let sub = args.first().map(String::as_str);
    let reads_stdin = match sub {
        Some("program") => args.iter().any(|a| a == "-"),
        // The stream, read whole before the state lock is taken (the sender, on the same
        // state file, holds the lock only until it has built its stream).
        Some("recv" | "receive") => !args.iter().any(|a| a == "-A"),
        _ => false,
    };
    if tool == "zfs" && reads_stdin {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes)?;
        stdin = String::from_utf8_lossy(&bytes).into_owned();
    }
    let ran = zfs_emu::state::run(&state, &env, tool, args, &stdin)?;
    if ran.killed {
        // `kill-after`: the state is saved; die as a SIGKILLed zfs does, printing nothing.
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        std::process::exit(zfs_emu::faults::EXIT_KILLED);
    }
    print!("{}", ran.stdout);
    eprint!("{}", ran.stderr);
    std::io::stdout().flush()?;
    Ok(ran.code)
}
