//! "Is this guest running here?", decided exactly as PVE does: QEMU by pidfile + `/proc/<pid>`
//! checks (`vm_running_locally`), LXC by the monitor's abstract socket in `/proc/net/unix`
//! (`list_active_containers`).
//!
//! Reads files under a root only; never writes, never spawns, never logs. The pure helpers
//! (`cmdline_matches`, `stat_state`, `active_containers`) take the file contents.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

/// A read that PVE would treat as "not running" only because the file is absent; any other
/// failure (permissions, I/O) means the state is unknown and is returned as this error.
#[derive(Debug)]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub source: io::Error,
}

/// The pidfile path QEMU is started with, as a string: `-pidfile` must equal it exactly.
pub fn qemu_pidfile_arg(vmid: u32) -> String {
    format!("/var/run/qemu-server/{vmid}.pid")
}

/// Whether VM `vmid` runs on the machine under `root`: pidfile (`<root>/run/qemu-server/` or
/// `<root>/var/run/qemu-server/`) holds digits only, `/proc/<pid>/cmdline` is a QEMU started
/// with exactly that `-pidfile`, and `/proc/<pid>/stat` is not a zombie.
pub fn qemu_running(root: &Path, vmid: u32) -> Result<bool, ReadError> {
    let name = format!("qemu-server/{vmid}.pid");
    let mut content = None;
    for dir in ["run", "var/run"] {
        let path = root.join(dir).join(&name);
        match read_optional(&path)? {
            Some(bytes) => {
                content = Some(bytes);
                break;
            }
            None => continue,
        }
    }
    let Some(content) = content else {
        return Ok(false);
    };
    let Some(pid) = parse_pidfile(&content) else {
        return Ok(false);
    };
    let proc_dir = root.join("proc").join(pid.to_string());
    let Some(cmdline) = read_optional(&proc_dir.join("cmdline"))? else {
        return Ok(false);
    };
    if !cmdline_matches(&cmdline, &qemu_pidfile_arg(vmid)) {
        return Ok(false);
    }
    let Some(stat) = read_optional(&proc_dir.join("stat"))? else {
        return Ok(false);
    };
    Ok(stat_state(&String::from_utf8_lossy(&stat)).is_some_and(|s| s != 'Z'))
}

/// Pidfile content `^\d+$` (one trailing newline allowed, as Perl's `$`), pid > 0.
pub fn parse_pidfile(content: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(content).ok()?;
    let s = s.strip_suffix('\n').unwrap_or(s);
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&p| p > 0)
}

/// PVE's `check_cmdline`: argv[0] matches `kvm$` or `(^|/)qemu-[^/]+$`, and the argument after
/// the first `-pidfile`/`--pidfile` equals `pidfile` exactly.
pub fn cmdline_matches(cmdline: &[u8], pidfile: &str) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let Some(argv0) = args.first().map(|a| String::from_utf8_lossy(a)) else {
        return false;
    };
    let leaf = argv0.rsplit('/').next().unwrap_or("");
    let is_qemu = argv0.ends_with("kvm") || (leaf.starts_with("qemu-") && leaf.len() > 5);
    if !is_qemu {
        return false;
    }
    for (i, arg) in args.iter().enumerate() {
        if *arg == b"-pidfile" || *arg == b"--pidfile" {
            return args.get(i + 1).is_some_and(|p| *p == pidfile.as_bytes());
        }
    }
    false
}

/// The process state from `/proc/<pid>/stat`: the first field after the last `)`.
pub fn stat_state(stat: &str) -> Option<char> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().next()?.chars().next()
}

/// VMIDs with an `@/var/lib/lxc/<vmid>/command` socket in a `/proc/net/unix` listing.
pub fn active_containers(proc_net_unix: &str) -> BTreeSet<u32> {
    proc_net_unix
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() != 8 || !fields[0].ends_with(':') {
                return None;
            }
            let vmid = fields[7]
                .strip_prefix("@/var/lib/lxc/")?
                .strip_suffix("/command")?;
            if vmid.is_empty() || !vmid.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            vmid.parse().ok()
        })
        .collect()
}

/// Reads `<root>/proc/net/unix` (must exist: without it container state is unknown).
pub fn read_proc_net_unix(root: &Path) -> Result<String, ReadError> {
    let path = root.join("proc/net/unix");
    std::fs::read(&path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|source| ReadError { path, source })
}

/// `Ok(None)` when the file does not exist (or the process is gone: `ESRCH`).
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, ReadError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || e.raw_os_error() == Some(nix::errno::Errno::ESRCH as i32) =>
        {
            Ok(None)
        }
        Err(source) => Err(ReadError {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PF: &str = "/var/run/qemu-server/100.pid";

    fn argv(args: &[&str]) -> Vec<u8> {
        let mut v = args.join("\0").into_bytes();
        v.push(0);
        v
    }

    #[test]
    fn cmdline_table() {
        let cases: &[(&[&str], bool)] = &[
            (
                &["/usr/bin/kvm", "-id", "100", "-pidfile", PF, "-daemonize"],
                true,
            ),
            (&["kvm", "--pidfile", PF], true),
            (&["/usr/bin/qemu-system-x86_64", "-pidfile", PF], true),
            (&["qemu-system-aarch64", "-pidfile", PF], true),
            (
                &["/usr/bin/kvm", "-pidfile", "/run/qemu-server/100.pid"],
                false,
            ),
            (
                &["/usr/bin/kvm", "-pidfile", "/var/run/qemu-server/1000.pid"],
                false,
            ),
            (&["/usr/bin/kvm", "-id", "100"], false),
            (&["/usr/bin/kvm", "-pidfile"], false),
            (&["/usr/sbin/sshd", "-pidfile", PF], false),
            (&["/usr/bin/qemu-/x", "-pidfile", PF], false),
            (&["/usr/bin/qemu-", "-pidfile", PF], false),
            (&["/usr/bin/kvm", "-pidfile", "/x", "-pidfile", PF], false),
            (&[""], false),
        ];
        for (args, want) in cases {
            assert_eq!(cmdline_matches(&argv(args), PF), *want, "{args:?}");
        }
        assert!(!cmdline_matches(b"", PF));
    }

    #[test]
    fn pidfile_table() {
        let cases: &[(&[u8], Option<u32>)] = &[
            (b"4242\n", Some(4242)),
            (b"4242", Some(4242)),
            (b"0\n", None),
            (b"", None),
            (b"\n", None),
            (b" 4242\n", None),
            (b"4242\n\n", None),
            (b"42a\n", None),
            (b"99999999999999\n", None),
        ];
        for (content, want) in cases {
            assert_eq!(parse_pidfile(content), *want, "{content:?}");
        }
    }

    #[test]
    fn stat_state_table() {
        let cases: &[(&str, Option<char>)] = &[
            ("4242 (kvm) S 1 4241 4241 0 -1", Some('S')),
            ("4242 (kvm) Z 1 4241", Some('Z')),
            ("77 (a) b) (c) R 1 2", Some('R')),
            ("77 (x)", None),
            ("garbage", None),
        ];
        for (stat, want) in cases {
            assert_eq!(stat_state(stat), *want, "{stat:?}");
        }
    }

    #[test]
    fn active_containers_table() {
        let text = "\
Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 23456 @/var/lib/lxc/200/command
0000000000000000: 00000002 00000000 00010000 0001 01 23457 /var/lib/lxc/201/command
0000000000000000: 00000002 00000000 00010000 0001 01 23458 @/var/lib/lxc/202/command/x
0000000000000000: 00000003 00000000 00000000 0001 03 23459
0000000000000000: 00000002 00000000 00010000 0001 01 23460 @/var/lib/lxc/abc/command
0000000000000000: 00000002 00000000 00010000 0001 01 23461 @/var/lib/lxc/1234/command
";
        let got: Vec<u32> = active_containers(text).into_iter().collect();
        assert_eq!(got, [200, 1234]);
    }

    #[test]
    fn qemu_running_reads_run_then_var_run() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |p: &str, c: &[u8]| {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, c).unwrap();
        };
        assert!(!qemu_running(root, 100).unwrap(), "no pidfile");
        write("var/run/qemu-server/100.pid", b"10\n");
        assert!(!qemu_running(root, 100).unwrap(), "no process");
        write("proc/10/cmdline", &argv(&["/usr/bin/kvm", "-pidfile", PF]));
        assert!(!qemu_running(root, 100).unwrap(), "no stat");
        write("proc/10/stat", b"10 (kvm) S 1");
        assert!(qemu_running(root, 100).unwrap());
        write("proc/10/stat", b"10 (kvm) Z 1");
        assert!(!qemu_running(root, 100).unwrap(), "zombie");
        write("proc/10/stat", b"10 (kvm) S 1");
        // `run/` wins over `var/run/` (same file in production).
        write("run/qemu-server/100.pid", b"11\n");
        assert!(
            !qemu_running(root, 100).unwrap(),
            "run/ pidfile points elsewhere"
        );
    }
}
