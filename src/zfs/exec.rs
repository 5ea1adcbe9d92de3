//! How `zfs`/`zpool` command lines are executed: [`Cli`] spawns the real executables (or the
//! `zfs-emu` stand-in that tests put first on `PATH`); other implementations (the in-process
//! emulator, [`InProcess`], for `simulate` and tests) run the very same argv. Both count the
//! commands they run.

use super::error::ZfsError;
use crate::emu;
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Which executable a command line is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `zfs`
    Zfs,
    /// `zpool`
    Zpool,
}

impl Tool {
    /// The executable's name.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Zfs => "zfs",
            Tool::Zpool => "zpool",
        }
    }
}

/// What a finished command printed and returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// Exit code; -1 when killed by a signal.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `zfs`/`zpool` command lines.
pub trait Exec {
    /// Runs `tool args…`, feeding `stdin` if given. A non-zero exit is an `Ok` output: the
    /// caller decides what it means. `Err` only when the command could not run at all.
    fn run(&self, tool: Tool, args: &[String], stdin: Option<&str>) -> Result<Output, ZfsError>;

    /// How many commands were run so far (processes spawned, for [`Cli`]).
    fn commands_run(&self) -> u64;
}

/// Spawns the real executables.
#[derive(Debug)]
pub struct Cli {
    zfs: PathBuf,
    zpool: PathBuf,
    spawned: Cell<u64>,
}

/// Directories searched after `PATH`: cron's default `PATH=/usr/bin:/bin` lacks them.
pub const FALLBACK_DIRS: [&str; 2] = ["/usr/sbin", "/sbin"];

impl Cli {
    /// Finds `zfs` and `zpool`: the explicit paths if given, else the first executable file
    /// of that name in `path_env` (a `PATH` value), then in [`FALLBACK_DIRS`].
    pub fn locate(
        zfs: Option<&Path>,
        zpool: Option<&Path>,
        path_env: Option<&str>,
    ) -> Result<Cli, ZfsError> {
        Ok(Cli {
            zfs: find_tool("zfs", zfs, path_env)?,
            zpool: find_tool("zpool", zpool, path_env)?,
            spawned: Cell::new(0),
        })
    }

    /// [`Cli::locate`] with the options given on the command line and this process' `PATH`.
    pub fn locate_from_env(tools: &crate::cli::ZfsArgs) -> Result<Cli, ZfsError> {
        let path = std::env::var("PATH").ok();
        Cli::locate(
            tools.zfs.as_deref(),
            tools.zpool.as_deref(),
            path.as_deref(),
        )
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

impl Exec for Cli {
    fn run(&self, tool: Tool, args: &[String], stdin: Option<&str>) -> Result<Output, ZfsError> {
        let program = self.path(tool);
        let spawn_err = |source| ZfsError::Spawn {
            program: program.to_path_buf(),
            source,
        };
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
            // Write on a thread: a large script and a large output must not deadlock the pipes.
            let mut pipe = child.stdin.take().expect("stdin is piped");
            let input = input.to_string();
            let writer = std::thread::spawn(move || pipe.write_all(input.as_bytes()));
            let out = child.wait_with_output().map_err(spawn_err)?;
            // A broken pipe only means the command did not read all of it; its exit code says more.
            let _ = writer.join();
            return Ok(to_output(out));
        }
        Ok(to_output(child.wait_with_output().map_err(spawn_err)?))
    }

    fn commands_run(&self) -> u64 {
        self.spawned.get()
    }
}

/// Runs every command line in-process against an emulated host ([`emu::World`]): the same
/// argv the [`Cli`] runner would spawn goes through `emu::cli::zfs_main`/`zpool_main`, so the
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
    fn run(&self, tool: Tool, args: &[String], stdin: Option<&str>) -> Result<Output, ZfsError> {
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
        let cli = Cli::locate(None, None, Some(&path)).unwrap();
        assert_eq!(cli.path(Tool::Zfs), a.path().join("zfs"));
        let cli = Cli::locate(Some(&explicit), None, Some(&path)).unwrap();
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
        let cli = Cli::locate(None, None, Some(&d.path().display().to_string())).unwrap();
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
