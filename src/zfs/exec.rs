//! How `zfs`/`zpool` command lines are executed: [`Spawn`] spawns the real executables (or the
//! `zfs-emu` stand-in that tests put first on `PATH`) with a timeout; other implementations
//! (the in-process emulator, [`InProcess`], for `simulate` and tests) run the very same argv.
//! Both count the commands they run, and both say how long a command line may be
//! ([`ArgLimits`]): the in-process one refuses what the kernel would refuse (`E2BIG`).
//!
//! It runs what it is given and decides nothing; it never prints and never reads the
//! environment: `PATH`, the environment's size and the timeout come from the caller (`cmd`).

use super::error::{E2BIG, ZfsError};
pub use super::tool::{Output, Tool};
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zfs_emu as emu;

/// How long a command line one exec can carry may be, on Linux (`fs/exec.c`,
/// `bprm_stack_limits`): the argument and environment strings (each with its NUL) and their
/// pointers together may use `RLIMIT_STACK / 4`, at least 128 KiB and at most 6 MiB (2 MiB
/// under the usual 8 MiB stack limit); one string at most `MAX_ARG_STRLEN`, 128 KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgLimits {
    /// Bytes for argv and envp together, strings with their NUL and pointers.
    pub total: usize,
    /// Largest single argument, with its NUL.
    pub per_arg: usize,
    /// Taken before any argument: the environment (strings and pointers, including the
    /// `LC_ALL` the runner adds) and the executable's path (the kernel copies it as the file
    /// name and as `argv[0]`).
    pub taken: usize,
}

impl ArgLimits {
    /// `MAX_ARG_STRLEN`: 32 pages.
    pub const MAX_ARG_STRLEN: usize = 32 * 4096;
    /// The floor of the total (`ARG_MAX`, 32 pages), whatever the stack limit.
    pub const MIN_TOTAL: usize = 32 * 4096;
    /// The ceiling of the total (`_STK_LIM / 4 * 3`), whatever the stack limit.
    pub const MAX_TOTAL: usize = 6 << 20;
    /// The stack limit of a default Linux process (`ulimit -s` 8192), bytes.
    pub const DEFAULT_STACK: u64 = 8 << 20;
    /// What an environment like cron's (or a login shell's) may take: strings and pointers.
    pub const TYPICAL_ENV: usize = 4096;

    /// The limits of a process whose stack limit is `stack` bytes (`None`: unlimited), with
    /// `env` bytes of environment (strings with NUL and pointers) and an executable path of
    /// `exe` bytes.
    pub fn linux(stack: Option<u64>, env: usize, exe: usize) -> ArgLimits {
        let quarter = stack.map_or(usize::MAX, |s| usize::try_from(s / 4).unwrap_or(usize::MAX));
        ArgLimits {
            total: quarter.clamp(Self::MIN_TOTAL, Self::MAX_TOTAL),
            per_arg: Self::MAX_ARG_STRLEN,
            taken: env + 2 * (exe + 1) + std::mem::size_of::<usize>() + Self::lc_all_cost(),
        }
    }

    /// What production runs with by default: an 8 MiB stack limit, a typical environment and
    /// `/usr/sbin/zfs`. The in-process runner uses it, so that `simulate` and the tests split
    /// exactly as a default node does.
    pub fn production_default() -> ArgLimits {
        ArgLimits::linux(
            Some(Self::DEFAULT_STACK),
            Self::TYPICAL_ENV,
            "/usr/sbin/zfs".len(),
        )
    }

    /// Bytes an environment of `(name, value)` lengths takes: strings, `=`, NUL, pointers.
    pub fn env_cost(vars: impl Iterator<Item = (usize, usize)>) -> usize {
        vars.map(|(k, v)| k + v + 2 + std::mem::size_of::<usize>())
            .sum()
    }

    /// The limits of this process, spawning `exe` with an environment of `env` bytes (see
    /// [`ArgLimits::env_cost`]): its stack limit (`/proc/self/limits`). The floor of 128 KiB
    /// when the stack limit cannot be read.
    pub fn for_this_process(exe: &Path, env: usize) -> ArgLimits {
        let stack = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|t| stack_limit(&t));
        let exe = exe.as_os_str().len();
        match stack {
            Some(stack) => ArgLimits::linux(stack, env, exe),
            None => ArgLimits::linux(Some(4 * Self::MIN_TOTAL as u64), env, exe),
        }
    }

    fn lc_all_cost() -> usize {
        "LC_ALL=C.UTF-8".len() + 1 + std::mem::size_of::<usize>()
    }

    /// Bytes one argument costs: the string, its NUL and its pointer.
    pub fn arg_cost(arg: &str) -> usize {
        arg.len() + 1 + std::mem::size_of::<usize>()
    }

    /// True when the kernel would start `tool args…` (no safety margin: this is the kernel's
    /// own rule, for runners that emulate it).
    pub fn admits(&self, args: &[String]) -> bool {
        let used: usize = self.taken + args.iter().map(|a| Self::arg_cost(a)).sum::<usize>();
        used <= self.total && args.iter().all(|a| a.len() < self.per_arg)
    }

    /// Bytes the arguments of one command may use when planning command lines: the total less
    /// what is taken and a safety margin of 1/16 (at least 16 KiB) for what this model does not
    /// see (the auxiliary vector, alignment, a variable set between planning and exec).
    pub fn budget(&self) -> usize {
        let margin = (self.total / 16).max(16 * 1024);
        self.total.saturating_sub(self.taken).saturating_sub(margin)
    }
}

/// The soft `Max stack size` of a `/proc/<pid>/limits` text: `Some(None)` when unlimited,
/// `None` when it cannot be read.
fn stack_limit(limits: &str) -> Option<Option<u64>> {
    let line = limits.lines().find(|l| l.starts_with("Max stack size"))?;
    let soft = line["Max stack size".len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        Some(None)
    } else {
        soft.parse().ok().map(Some)
    }
}

/// Runs `zfs`/`zpool` command lines.
pub trait Exec {
    /// Runs `tool args…`, feeding `stdin` if given. A non-zero exit is an `Ok` output: the
    /// caller decides what it means. `Err` only when the command could not run at all.
    fn run(&self, tool: Tool, args: &[String], stdin: Option<&str>) -> Result<Output, ZfsError>;

    /// How many commands were run so far (processes spawned, for [`Spawn`]).
    fn commands_run(&self) -> u64;

    /// How long a command line may be. Callers that build long ones (the apply) split them
    /// to fit [`ArgLimits::budget`].
    fn arg_limits(&self) -> ArgLimits {
        ArgLimits::production_default()
    }
}

/// Spawns the real executables.
#[derive(Debug)]
pub struct Spawn {
    zfs: PathBuf,
    zpool: PathBuf,
    spawned: Cell<u64>,
    timeout_secs: u64,
    limits: ArgLimits,
}

/// Directories searched after `PATH`: cron's default `PATH=/usr/bin:/bin` lacks them.
pub const FALLBACK_DIRS: [&str; 2] = ["/usr/sbin", "/sbin"];

impl Spawn {
    /// Finds `zfs` and `zpool`: the explicit paths if given, else the first executable file
    /// of that name in `path_env` (a `PATH` value), then in [`FALLBACK_DIRS`]. `env_bytes`:
    /// what this process' environment takes of the command line ([`ArgLimits::env_cost`]);
    /// a command still running after `timeout_secs` (at least 1) is killed.
    pub fn locate(
        zfs: Option<&Path>,
        zpool: Option<&Path>,
        path_env: Option<&str>,
        env_bytes: usize,
        timeout_secs: u64,
    ) -> Result<Spawn, ZfsError> {
        let zfs = find_tool("zfs", zfs, path_env)?;
        let zpool = find_tool("zpool", zpool, path_env)?;
        let exe = if zfs.as_os_str().len() >= zpool.as_os_str().len() {
            &zfs
        } else {
            &zpool
        };
        let limits = ArgLimits::for_this_process(exe, env_bytes);
        Ok(Spawn {
            zfs,
            zpool,
            spawned: Cell::new(0),
            timeout_secs: timeout_secs.max(1),
            limits,
        })
    }

    /// The executable used for `tool`.
    pub fn path(&self, tool: Tool) -> &Path {
        match tool {
            Tool::Zfs => &self.zfs,
            Tool::Zpool => &self.zpool,
        }
    }
}

fn find_tool(
    name: &'static str,
    explicit: Option<&Path>,
    path_env: Option<&str>,
) -> Result<PathBuf, ZfsError> {
    if let Some(p) = explicit {
        return if is_executable(p) {
            Ok(p.to_path_buf())
        } else {
            Err(ZfsError::NotFound {
                name,
                searched: vec![p.to_path_buf()],
            })
        };
    }
    let dirs: Vec<PathBuf> = path_env
        .unwrap_or("")
        .split(':')
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .chain(FALLBACK_DIRS.iter().map(PathBuf::from))
        .collect();
    let mut searched = Vec::new();
    for dir in dirs {
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
        if !searched.contains(&dir) {
            searched.push(dir);
        }
    }
    Err(ZfsError::NotFound { name, searched })
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

impl Exec for Spawn {
    /// Spawns the command; kills it (SIGKILL) and fails with [`ZfsError::Timeout`] when it is
    /// still running after the timeout.
    fn run(&self, tool: Tool, args: &[String], stdin: Option<&str>) -> Result<Output, ZfsError> {
        let program = self.path(tool);
        let spawn_err = |source| ZfsError::Spawn {
            program: program.to_path_buf(),
            source,
        };
        let deadline = Instant::now() + Duration::from_secs(self.timeout_secs);
        let mut child = Command::new(program)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // `zfs program -j` decodes strings in the caller's locale; C.UTF-8 keeps JSON valid.
            .env("LC_ALL", "C.UTF-8")
            .spawn()
            .map_err(spawn_err)?;
        self.spawned.set(self.spawned.get() + 1);
        if let Some(input) = stdin {
            // Write on a thread: a large script and a large output must not deadlock the
            // pipes. A broken pipe only means the command did not read all of it; its exit
            // code says more.
            let mut pipe = child.stdin.take().expect("stdin is piped");
            let input = input.to_string();
            std::thread::spawn(move || pipe.write_all(input.as_bytes()));
        }
        // Each output pipe is read to its end on a thread; both ends arrive when the command
        // exits (or closes them). A command killed at the timeout leaves its readers to finish
        // on their own.
        let (tx, rx) = std::sync::mpsc::channel();
        let readers: [(bool, Box<dyn Read + Send>); 2] = [
            (
                true,
                Box::new(child.stdout.take().expect("stdout is piped")),
            ),
            (
                false,
                Box::new(child.stderr.take().expect("stderr is piped")),
            ),
        ];
        for (is_stdout, mut pipe) in readers {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                let _ = tx.send((is_stdout, buf));
            });
        }
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let timed_out = |child: &mut std::process::Child| {
            let _ = child.kill();
            let _ = child.wait();
            ZfsError::timeout(tool, args, self.timeout_secs)
        };
        for _ in 0..2 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((true, b)) => stdout = b,
                Ok((false, b)) => stderr = b,
                Err(_) => return Err(timed_out(&mut child)),
            }
        }
        // The pipes are closed: the command has exited, or is about to.
        let status = loop {
            match child.try_wait().map_err(spawn_err)? {
                Some(status) => break status,
                None if Instant::now() >= deadline => return Err(timed_out(&mut child)),
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        };
        Ok(to_output(std::process::Output {
            status,
            stdout,
            stderr,
        }))
    }

    fn commands_run(&self) -> u64 {
        self.spawned.get()
    }

    fn arg_limits(&self) -> ArgLimits {
        self.limits
    }
}

/// Runs every command line in-process against an emulated host ([`emu::World`]): the same
/// argv the [`Spawn`] runner would spawn goes through `emu::cli::zfs_main`/`zpool_main`, so the
/// product's parsing, the `lua/` text and the JSON path are exactly those of a real run.
/// For `simulate` and for tests; never used by a real run.
#[derive(Debug)]
pub struct InProcess {
    world: RefCell<emu::World>,
    commands: Cell<u64>,
    programs: Cell<u64>,
}

impl InProcess {
    /// A runner over `world`.
    pub fn new(world: emu::World) -> InProcess {
        InProcess {
            world: RefCell::new(world),
            commands: Cell::new(0),
            programs: Cell::new(0),
        }
    }

    /// The emulated host, to read.
    pub fn world(&self) -> Ref<'_, emu::World> {
        self.world.borrow()
    }

    /// The emulated host, to change between runs (clock, datasets, foreign snapshots).
    pub fn world_mut(&self) -> RefMut<'_, emu::World> {
        self.world.borrow_mut()
    }

    /// How many of the commands were `zfs program` (channel programs run).
    pub fn programs_run(&self) -> u64 {
        self.programs.get()
    }

    /// The emulated host, giving up the runner.
    pub fn into_world(self) -> emu::World {
        self.world.into_inner()
    }
}

impl Exec for InProcess {
    /// Runs the command on the emulator; a command line the kernel would refuse under the
    /// production defaults ([`ArgLimits::production_default`]) fails to start with `E2BIG`,
    /// as `execve` would.
    fn run(&self, tool: Tool, args: &[String], stdin: Option<&str>) -> Result<Output, ZfsError> {
        if !self.arg_limits().admits(args) {
            return Err(ZfsError::Spawn {
                program: PathBuf::from(format!("/usr/sbin/{}", tool.name())),
                source: std::io::Error::from_raw_os_error(E2BIG),
            });
        }
        self.commands.set(self.commands.get() + 1);
        let mut world = self.world.borrow_mut();
        let (code, stdout, stderr) = match tool {
            Tool::Zfs => {
                if args.first().is_some_and(|a| a == "program") {
                    self.programs.set(self.programs.get() + 1);
                }
                emu::cli::zfs_main(&mut world, args, stdin.unwrap_or(""))
            }
            Tool::Zpool => emu::cli::zpool_main(&mut world, args),
        };
        Ok(Output {
            code,
            stdout,
            stderr,
        })
    }

    fn commands_run(&self) -> u64 {
        self.commands.get()
    }
}

fn to_output(out: std::process::Output) -> Output {
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn make_exe(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, body).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn locate_prefers_explicit_then_path() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        make_exe(a.path(), "zfs", "#!/bin/sh\n");
        make_exe(a.path(), "zpool", "#!/bin/sh\n");
        let explicit = make_exe(b.path(), "myzfs", "#!/bin/sh\n");
        let path = format!("/nonexistent:{}", a.path().display());
        let cli = Spawn::locate(None, None, Some(&path), 0, 600).unwrap();
        assert_eq!(cli.path(Tool::Zfs), a.path().join("zfs"));
        let cli = Spawn::locate(Some(&explicit), None, Some(&path), 0, 600).unwrap();
        assert_eq!(cli.path(Tool::Zfs), explicit);
        assert_eq!(cli.path(Tool::Zpool), a.path().join("zpool"));
    }

    #[test]
    fn locate_skips_non_executables_and_reports_where_it_looked() {
        let a = tempfile::tempdir().unwrap();
        fs::write(a.path().join("zfs"), "not executable").unwrap();
        let path = a.path().display().to_string();
        match find_tool("zfs", None, Some(&path)) {
            // On a machine with ZFS installed the fallback dirs may hold a real one.
            Ok(found) => assert!(
                FALLBACK_DIRS.iter().any(|d| found.starts_with(d)),
                "{found:?}"
            ),
            Err(ZfsError::NotFound { searched, .. }) => {
                assert_eq!(searched[0], a.path());
                assert!(searched.contains(&PathBuf::from("/usr/sbin")));
                assert!(searched.contains(&PathBuf::from("/sbin")));
            }
            Err(e) => panic!("unexpected {e}"),
        }
        let missing = a.path().join("nope");
        assert!(matches!(
            find_tool("zfs", Some(&missing), None),
            Err(ZfsError::NotFound { .. })
        ));
    }

    #[test]
    fn run_feeds_stdin_and_captures_everything() {
        let d = tempfile::tempdir().unwrap();
        make_exe(
            d.path(),
            "zfs",
            "#!/bin/sh\necho \"args:$*\"\ncat\necho oops >&2\nexit 3\n",
        );
        make_exe(d.path(), "zpool", "#!/bin/sh\n");
        let cli = Spawn::locate(None, None, Some(&d.path().display().to_string()), 0, 600).unwrap();
        let big = "x".repeat(1 << 20);
        let out = cli
            .run(Tool::Zfs, &["a".into(), "-b".into()], Some(&big))
            .unwrap();
        assert_eq!(out.code, 3);
        assert!(out.stdout.starts_with("args:a -b\n"));
        assert_eq!(out.stdout.len(), "args:a -b\n".len() + big.len());
        assert_eq!(out.stderr, "oops\n");
        assert_eq!(cli.commands_run(), 1);
    }

    #[test]
    fn a_hung_command_is_killed_at_the_timeout_with_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        make_exe(d.path(), "zfs", "#!/bin/sh\nexec sleep 30\n");
        make_exe(d.path(), "zpool", "#!/bin/sh\nexit 0\n");
        let cli = Spawn::locate(None, None, Some(&d.path().display().to_string()), 0, 1).unwrap();
        let args: Vec<String> = ["program", "-j", "--", "rpool", "-", "K"]
            .map(String::from)
            .to_vec();
        let t = Instant::now();
        let e = cli.run(Tool::Zfs, &args, Some("return 1")).unwrap_err();
        let took = t.elapsed();
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(10),
            "{took:?}"
        );
        assert_eq!(e.kind(), Some(crate::zfs::FailureKind::TimedOut));
        assert_eq!(
            e.to_string(),
            "zfs program on rpool timed out after 1 s; the pool may be hung — check `zpool status`"
        );
        // A quick command under the same timeout is not affected.
        assert_eq!(cli.run(Tool::Zpool, &[], None).unwrap().code, 0);
        assert_eq!(cli.commands_run(), 2);
    }

    #[test]
    fn arg_limits_follow_the_kernel() {
        // (stack limit, total)
        let cases: [(Option<u64>, usize); 6] = [
            (Some(8 << 20), 2 << 20),
            (Some(1 << 20), 256 << 10),
            (Some(256 << 10), ArgLimits::MIN_TOTAL),
            (Some(64 << 20), ArgLimits::MAX_TOTAL),
            (None, ArgLimits::MAX_TOTAL),
            (Some(4 << 20), 1 << 20),
        ];
        for (stack, total) in cases {
            assert_eq!(ArgLimits::linux(stack, 0, 0).total, total, "{stack:?}");
        }
        let l = ArgLimits {
            total: 100,
            per_arg: 60,
            taken: 40,
        };
        // Each argument costs its bytes, a NUL and a pointer.
        assert_eq!(ArgLimits::arg_cost("abc"), 3 + 1 + 8);
        assert!(l.admits(&["a".repeat(51)]));
        assert!(!l.admits(&["a".repeat(52)]));
        let one = ArgLimits { per_arg: 10, ..l };
        assert!(one.admits(&["a".repeat(9)]));
        assert!(
            !one.admits(&["a".repeat(10)]),
            "one argument over MAX_ARG_STRLEN"
        );
        let p = ArgLimits::production_default();
        assert!(p.budget() < p.total - p.taken && p.budget() > (p.total - p.taken) * 9 / 10);
        let here = ArgLimits::for_this_process(Path::new("/usr/sbin/zfs"), ArgLimits::TYPICAL_ENV);
        assert!(here.total >= ArgLimits::MIN_TOTAL && here.taken > 0);
    }

    #[test]
    fn stack_limit_from_proc_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
                    Max cpu time              unlimited            unlimited            seconds\n\
                    Max stack size            8388608              unlimited            bytes\n";
        assert_eq!(stack_limit(text), Some(Some(8_388_608)));
        assert_eq!(
            stack_limit(
                "Max stack size            unlimited            unlimited            bytes"
            ),
            Some(None)
        );
        assert_eq!(stack_limit("Max cpu time  unlimited"), None);
    }

    #[test]
    fn in_process_refuses_what_the_kernel_would() {
        let x = InProcess::new(emu::World::new(emu::Version::new(2, 2, 0)));
        let huge: Vec<String> = (0..80_000)
            .map(|i| format!("tank/a@snapshot-{i:08}"))
            .collect();
        let e = x.run(Tool::Zfs, &huge, None).unwrap_err();
        assert_eq!(e.kind(), Some(crate::zfs::FailureKind::ArgumentsTooLong));
        assert_eq!(x.commands_run(), 0);
    }

    #[test]
    fn in_process_runs_the_emulator_and_counts() {
        let x = InProcess::new(emu::World::new(emu::Version::new(2, 2, 0)));
        let argv = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            x.run(Tool::Zpool, &argv("create tank"), None).unwrap().code,
            0
        );
        let v = x.run(Tool::Zfs, &argv("version"), None).unwrap();
        assert!(v.stdout.contains("zfs-kmod-2.2.0"), "{v:?}");
        let p = x
            .run(
                Tool::Zfs,
                &argv("program -j -- tank - a"),
                Some("args = ...; return args['argv'][1]"),
            )
            .unwrap();
        assert_eq!((p.code, p.stdout.as_str()), (0, r#"{"return":"a"}"#));
        let missing = x.run(Tool::Zfs, &argv("destroy tank/x#b"), None).unwrap();
        assert_ne!(missing.code, 0);
        assert!(!missing.stderr.is_empty());
        assert_eq!((x.commands_run(), x.programs_run()), (4, 1));
        assert!(x.world().pools.contains_key("tank"));
    }
}
