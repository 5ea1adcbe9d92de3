//! The pull's edge: reads the source (this host's `zfs`, or `ssh -o BatchMode=yes [user@]host
//! zfs …`) and the target, and runs a planned transfer as `zfs send … | zfs recv …`: two
//! processes whose stream pve-zfs-snap copies itself (counting bytes, with an optional rate
//! limit), both killed at the transfer timeout.
//!
//! Arguments are argv vectors. `ssh` joins its remote command into one string for the remote
//! shell, so each remote argument is single-quoted here (names are validated `Dataset`s
//! anyway). It runs what it is given and decides nothing (`pull::plan` does); never prints.

use super::exec::{Exec, Output, Tool};
use crate::naming::Dataset;
use crate::pull::plan::{Point, PointKind};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the source's `zfs` runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// This host.
    Local,
    /// `ssh -o BatchMode=yes <dest> -- <remote_zfs> …`.
    Ssh {
        /// The `ssh` executable.
        ssh: PathBuf,
        /// `[user@]host`.
        dest: String,
        /// `zfs` on the remote host.
        remote_zfs: String,
    },
}

impl Origin {
    /// `local` or the destination, for reports.
    pub fn describe(&self) -> String {
        match self {
            Origin::Local => "local".into(),
            Origin::Ssh { dest, .. } => dest.clone(),
        }
    }
}

/// Quotes one argument for a POSIX shell (what `ssh` hands the remote command to).
pub fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// The source's and the target's `zfs`, and how transfers run.
pub struct Transfer<'a> {
    /// Runs this host's `zfs` (the target, and a local source).
    pub exec: &'a dyn Exec,
    /// This host's `zfs` executable, for the receiving (and a local sending) process.
    pub zfs: PathBuf,
    /// Where the source is.
    pub origin: Origin,
    /// Reading commands on the source are killed after this long.
    pub read_timeout: Duration,
    /// A transfer is killed after this long.
    pub transfer_timeout: Duration,
    /// Bytes per second, if limited.
    pub bwlimit: Option<u64>,
}

/// One disk's facts on one side: its snapshots and bookmarks, and a few properties.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Side {
    /// Filesystems and volumes below the root, with `encryption` and `receive_resume_token`
    /// (`-` when unset).
    pub datasets: BTreeMap<Dataset, (String, String)>,
    /// Snapshots and bookmarks per dataset.
    pub points: BTreeMap<Dataset, Vec<Point>>,
}

impl Transfer<'_> {
    fn source_command(&self, args: &[String]) -> Command {
        match &self.origin {
            Origin::Local => {
                let mut c = Command::new(&self.zfs);
                c.args(args);
                c
            }
            Origin::Ssh {
                ssh,
                dest,
                remote_zfs,
            } => {
                let mut c = Command::new(ssh);
                c.args(["-o", "BatchMode=yes", "--", dest])
                    .arg(shell_quote(remote_zfs))
                    .args(args.iter().map(|a| shell_quote(a)));
                c
            }
        }
    }

    /// Runs a reading `zfs` command on the source.
    pub fn source_read(&self, args: &[String]) -> Result<Output, String> {
        match self.origin {
            Origin::Local => self
                .exec
                .run(Tool::Zfs, args, None)
                .map_err(|e| e.to_string()),
            Origin::Ssh { .. } => {
                let mut c = self.source_command(args);
                c.env("LC_ALL", "C.UTF-8");
                run_with_timeout(c, self.read_timeout)
            }
        }
    }

    /// Reads one side below `root`: `None` when `root` does not exist.
    pub fn read_side(&self, root: &Dataset, source: bool) -> Result<Option<Side>, String> {
        let read = |args: &[&str]| -> Result<Output, String> {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            if source {
                self.source_read(&args)
            } else {
                self.exec
                    .run(Tool::Zfs, &args, None)
                    .map_err(|e| e.to_string())
            }
        };
        let where_ = if source {
            self.origin.describe()
        } else {
            "local".into()
        };
        let ds = read(&[
            "list",
            "-H",
            "-p",
            "-o",
            "name,encryption,receive_resume_token",
            "-t",
            "filesystem,volume",
            "-r",
            root.as_str(),
        ])?;
        if ds.code != 0 {
            if ds.stderr.contains("does not exist") {
                return Ok(None);
            }
            return Err(format!(
                "cannot list {root} ({where_}): exit {}: {}",
                ds.code,
                ds.stderr.trim()
            ));
        }
        let mut side = Side::default();
        for line in ds.stdout.lines().filter(|l| !l.is_empty()) {
            let f: Vec<&str> = line.split('\t').collect();
            let [name, enc, token] = f[..] else {
                return Err(format!("cannot read the listing of {root}: {line:?}"));
            };
            let name = Dataset::new(name).map_err(|e| e.to_string())?;
            side.datasets
                .insert(name, (enc.to_string(), token.to_string()));
        }
        let pts = read(&[
            "list",
            "-H",
            "-p",
            "-o",
            "name,guid,createtxg,creation",
            "-t",
            "snapshot,bookmark",
            "-r",
            root.as_str(),
        ])?;
        if pts.code != 0 {
            return Err(format!(
                "cannot list the snapshots below {root} ({where_}): exit {}: {}",
                pts.code,
                pts.stderr.trim()
            ));
        }
        for line in pts.stdout.lines().filter(|l| !l.is_empty()) {
            let (ds, p) = parse_point(line)
                .ok_or_else(|| format!("cannot read the snapshot listing of {root}: {line:?}"))?;
            side.points.entry(ds).or_default().push(p);
        }
        Ok(Some(side))
    }

    /// Runs a changing `zfs` command on the target.
    pub fn target_run(&self, args: &[&str]) -> Result<(), String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let out = self
            .exec
            .run(Tool::Zfs, &args, None)
            .map_err(|e| e.to_string())?;
        if out.code == 0 {
            Ok(())
        } else {
            Err(format!(
                "zfs {} failed: {}",
                args.join(" "),
                out.stderr.trim()
            ))
        }
    }

    /// `zfs send … | zfs recv …`; returns the bytes copied.
    pub fn pipe(&self, send: &[String], recv: &[String]) -> Result<u64, String> {
        let mut s = self.source_command(send);
        s.env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut r = Command::new(&self.zfs);
        r.args(recv)
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut sender = s
            .spawn()
            .map_err(|e| format!("cannot start the send: {e}"))?;
        let mut receiver = match r.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = sender.kill();
                let _ = sender.wait();
                return Err(format!("cannot start zfs recv: {e}"));
            }
        };
        let mut from = sender.stdout.take().expect("piped");
        let mut to = receiver.stdin.take().expect("piped");
        let limit = self.bwlimit;
        let pump = std::thread::spawn(move || -> u64 {
            let start = Instant::now();
            let mut buf = vec![0u8; 128 * 1024];
            let mut total = 0u64;
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                total += n as u64;
                if let Some(rate) = limit.filter(|r| *r > 0) {
                    let due = Duration::from_secs_f64(total as f64 / rate as f64);
                    if let Some(wait) = due.checked_sub(start.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
            }
            total
        });
        let send_err = drain(sender.stderr.take());
        let recv_err = drain(receiver.stderr.take());
        let deadline = Instant::now() + self.transfer_timeout;
        let (sc, rc) = match (wait(&mut sender, deadline), wait(&mut receiver, deadline)) {
            (Some(a), Some(b)) => (a, b),
            _ => {
                for c in [&mut sender, &mut receiver] {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return Err(format!(
                    "the transfer timed out after {} s and was killed (a resumable receive \
                     continues next time)",
                    self.transfer_timeout.as_secs()
                ));
            }
        };
        let bytes = pump.join().unwrap_or(0);
        let (se, re) = (
            send_err.join().unwrap_or_default(),
            recv_err.join().unwrap_or_default(),
        );
        if sc == 0 && rc == 0 {
            return Ok(bytes);
        }
        let mut msg = Vec::new();
        if sc != 0 {
            msg.push(format!("send exited {sc}: {}", se.trim()));
        }
        if rc != 0 {
            msg.push(format!("recv exited {rc}: {}", re.trim()));
        }
        Err(msg.join("; "))
    }
}

/// `<ds>@<name>` or `<ds>#<name>`, guid, createtxg, creation.
fn parse_point(line: &str) -> Option<(Dataset, Point)> {
    let f: Vec<&str> = line.split('\t').collect();
    let [full, guid, txg, creation] = f[..] else {
        return None;
    };
    let (kind, (ds, name)) = if let Some(x) = full.split_once('@') {
        (PointKind::Snapshot, x)
    } else {
        (PointKind::Bookmark, full.split_once('#')?)
    };
    Some((
        Dataset::new(ds).ok()?,
        Point {
            name: name.to_string(),
            kind,
            guid: guid.parse().ok()?,
            createtxg: txg.parse().ok()?,
            creation: creation.parse().ok()?,
        },
    ))
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut s);
        }
        String::from_utf8_lossy(&s).into_owned()
    })
}

/// The exit code (-1 for a signal), or `None` at the deadline.
fn wait(c: &mut Child, deadline: Instant) -> Option<i32> {
    loop {
        match c.try_wait() {
            Ok(Some(st)) => return Some(st.code().unwrap_or(-1)),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => return Some(-1),
        }
    }
}

/// Runs `c` to its end (stdout and stderr captured), killed after `timeout`.
fn run_with_timeout(mut c: Command, timeout: Duration) -> Result<Output, String> {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", c.get_program()))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    match wait(&mut child, Instant::now() + timeout) {
        Some(code) => Ok(Output {
            code,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        }),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!(
                "{:?} timed out after {} s",
                c.get_program(),
                timeout.as_secs()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_listing_lines() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        let (ds, p) = parse_point("tank/vm-1-disk-0#autosnap_x\t42\t7\t1700000000").unwrap();
        assert_eq!(
            (ds.as_str(), p.kind, p.guid, p.createtxg),
            ("tank/vm-1-disk-0", PointKind::Bookmark, 42, 7)
        );
        assert!(parse_point("tank/a@b\tx\t1\t2").is_none());
        assert!(parse_point("tank/a\t1\t1\t2").is_none());
    }

    /// The ssh command line: BatchMode, `--`, every remote argument quoted.
    #[test]
    fn ssh_command_line() {
        let x = crate::zfs::InProcess::new(zfs_emu::World::new(zfs_emu::Version::new(2, 3, 2)));
        let t = Transfer {
            exec: &x,
            zfs: "zfs".into(),
            origin: Origin::Ssh {
                ssh: "ssh".into(),
                dest: "root@pve1".into(),
                remote_zfs: "zfs".into(),
            },
            read_timeout: Duration::from_secs(1),
            transfer_timeout: Duration::from_secs(1),
            bwlimit: None,
        };
        let c = t.source_command(&["send".into(), "tank/a b@x".into()]);
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "-o",
                "BatchMode=yes",
                "--",
                "root@pve1",
                "'zfs'",
                "'send'",
                "'tank/a b@x'"
            ]
        );
    }
}
