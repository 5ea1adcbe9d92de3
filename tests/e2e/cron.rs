//! End-to-end scenarios of the cron job (issue 5): an interactive run installs
//! `<root>/etc/cron.d/pve-zfs-snap`, cron runs never touch it, `uninstall` removes it, a line
//! of the original tool in root's crontab is reported. Always under `--root` (never the real
//! `/etc`); `crontab` is a stub in the test's `bin/` (never the real one).
//!
//! Interactivity: most tests set the binary's hidden `PVE_ZFS_SNAP_ASSUME_TTY=1`; one runs it
//! on a real pseudo-terminal with util-linux `script`.

use crate::harness::{Env, PRODUCT, t};
use chrono::{DateTime, Utc};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

const ASSUME_TTY: &str = "PVE_ZFS_SNAP_ASSUME_TTY";
const NO_CRONTAB: &str = "echo 'no crontab for root' >&2; exit 1";

/// `basic` with an empty `<root>/etc/cron.d` and a `crontab` stub that has no crontab.
fn env() -> Env {
    let env = Env::basic();
    std::fs::create_dir_all(env.root.join("etc/cron.d")).unwrap();
    stub_crontab(&env, NO_CRONTAB);
    env
}

/// `bin/crontab`: a shell script whose body answers `crontab -l`.
fn stub_crontab(env: &Env, body: &str) {
    let path = env.bin.join("crontab");
    std::fs::write(
        &path,
        format!("#!/bin/sh\n[ \"$1\" = -l ] || exit 9\n{body}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn cron_file(env: &Env) -> PathBuf {
    env.root.join("etc/cron.d/pve-zfs-snap")
}

fn output(o: Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The product run as if from a terminal (the hidden override).
fn run_tty(env: &Env, now: DateTime<Utc>, args: &[&str]) -> (i32, String, String) {
    output(
        env.product(now, args)
            .env(ASSUME_TTY, "1")
            .output()
            .unwrap(),
    )
}

fn uninstall(env: &Env) -> (i32, String, String) {
    output(
        env.cmd(PRODUCT)
            .arg("uninstall")
            .arg("--root")
            .arg(&env.root)
            .output()
            .unwrap(),
    )
}

/// The cron file, read independently of the product: (header comments, PATH value,
/// command lines split into words).
struct Parsed {
    comments: Vec<String>,
    path: String,
    commands: Vec<Vec<String>>,
}

fn parse(text: &str) -> Parsed {
    let mut p = Parsed {
        comments: vec![],
        path: String::new(),
        commands: vec![],
    };
    for line in text.lines() {
        if line.starts_with('#') {
            p.comments.push(line.to_string());
        } else if let Some(v) = line.strip_prefix("PATH=") {
            assert!(p.path.is_empty(), "two PATH lines:\n{text}");
            p.path = v.to_string();
        } else if !line.trim().is_empty() {
            p.commands
                .push(line.split_whitespace().map(str::to_string).collect());
        }
    }
    p
}

fn ours(env: &Env) -> usize {
    env.objects()
        .iter()
        .filter(|(n, _)| n.contains("@autosnap_"))
        .count()
}

fn set_old_mtime(path: &Path) -> SystemTime {
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    old
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn product_canonical() -> String {
    std::fs::canonicalize(PRODUCT)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn interactive_run_installs_then_keeps_then_replaces() {
    let env = env();
    let path = cron_file(&env);
    let root = env.root.to_str().unwrap().to_string();

    // First install: after the run (the snapshots exist), atomically, 0644.
    let (code, out, err) = run_tty(&env, t("2026-11-21T00:00:00Z"), &["f4", "h6"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(ours(&env) > 0, "the run itself happened");
    let text = std::fs::read_to_string(&path).unwrap();
    let p = parse(&text);
    let want: Vec<String> = [
        "*/15",
        "*",
        "*",
        "*",
        "*",
        "root",
        &product_canonical(),
        "--cron",
        "f4",
        "h6",
        "--root",
        &root,
        "--node",
        "pve1",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(p.commands, std::slice::from_ref(&want), "{text}");
    assert!(
        p.comments.iter().any(|c| c.contains("pve-zfs-snap"))
            && p.comments.iter().any(|c| c.contains("uninstall")),
        "header says what wrote it and how to remove it:\n{text}"
    );
    let dirs: Vec<&str> = p.path.split(':').collect();
    assert!(
        dirs.contains(&"/usr/sbin") && dirs.contains(&"/sbin"),
        "{}",
        p.path
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o644);
    assert_eq!(
        out.lines().last().unwrap(),
        format!("installed {}: {}", path.display(), want.join(" ")),
        "{out}"
    );
    assert!(!err.contains("not installing"), "{err}");

    // Same arguments again: the file is not rewritten (mtime kept).
    let old = set_old_mtime(&path);
    let (code, out, err) = run_tty(&env, t("2026-11-21T00:15:00Z"), &["f4", "h6"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    assert_eq!(mtime(&path), old);
    assert!(
        out.lines().last().unwrap().starts_with("unchanged "),
        "{out}"
    );

    // Changed arguments and schedule: replaced, still one command line, one line differs.
    let (code, out, err) = run_tty(
        &env,
        t("2026-11-21T00:30:00Z"),
        &["f4", "h12", "--schedule", "5,35  * * * *"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let new_text = std::fs::read_to_string(&path).unwrap();
    let q = parse(&new_text);
    assert_eq!(q.commands.len(), 1, "{new_text}");
    assert_eq!(q.commands[0][..5], ["5,35", "*", "*", "*", "*"]);
    assert_eq!(q.commands[0][8..10], ["f4", "h12"]);
    let differing = text
        .lines()
        .zip(new_text.lines())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differing, 1, "{text}\n{new_text}");
    assert_eq!(text.lines().count(), new_text.lines().count());
    assert_ne!(mtime(&path), old);
    // The notice, then the line it replaced.
    let notice: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("updated "))
        .collect();
    assert_eq!(notice.len(), 2, "{out}");
    assert!(
        notice[1].starts_with("  (it was: */15 * * * * root "),
        "{out}"
    );

    // No temporary file left in cron.d (cron would ignore it, but it would be litter).
    let names: Vec<_> = std::fs::read_dir(env.root.join("etc/cron.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["pve-zfs-snap"]);
}

#[test]
fn cron_runs_never_touch_the_file() {
    let env = env();
    let path = cron_file(&env);

    // A cron run, even on a terminal, with no file: none is created.
    let (code, out, err) = run_tty(&env, t("2026-11-21T00:00:00Z"), &["--cron", "f4"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!path.exists());
    assert!(out.is_empty() && err.is_empty(), "{out}\n{err}");

    // With a file from an interactive run: other arguments under --cron leave it alone.
    assert_eq!(run_tty(&env, t("2026-11-21T00:15:00Z"), &["f4"]).0, 0);
    let text = std::fs::read_to_string(&path).unwrap();
    let old = set_old_mtime(&path);
    let (code, out, err) = run_tty(&env, t("2026-11-21T00:30:00Z"), &["--cron", "f8", "h2"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    assert_eq!(mtime(&path), old);
}

#[test]
fn relative_invocation_writes_the_absolute_path() {
    let env = env();
    let product = Path::new(PRODUCT);
    let o = env
        .cmd("./pve-zfs-snap")
        .current_dir(product.parent().unwrap())
        .env(ASSUME_TTY, "1")
        .arg("--root")
        .arg(&env.root)
        .args(["--node", "pve1", "--now", "2026-11-21T00:00:00Z", "f4"])
        .output()
        .unwrap();
    let (code, out, err) = output(o);
    assert_eq!(code, 0, "{out}\n{err}");
    let p = parse(&std::fs::read_to_string(cron_file(&env)).unwrap());
    let binary = &p.commands[0][6];
    assert!(Path::new(binary).is_absolute(), "{binary}");
    assert_eq!(*binary, product_canonical());
}

#[test]
fn bad_schedule_changes_nothing() {
    let env = env();
    for bad in ["61 * * * *", "@hourly", "0 */15 * * * *", "0 0 30 2 *"] {
        let (code, out, err) = run_tty(&env, t("2026-11-21T00:00:00Z"), &["--schedule", bad, "f4"]);
        assert_eq!(code, 2, "{bad}: {out}\n{err}");
        assert!(err.contains("invalid cron schedule"), "{bad}: {err}");
        assert!(!cron_file(&env).exists(), "{bad}");
        assert_eq!(ours(&env), 0, "{bad}: no snapshot taken");
    }
}

#[test]
fn non_interactive_run_hints_and_installs_nothing() {
    let env = env();
    // Command::output gives the binary pipes, not a terminal.
    let (code, out, err) = env.run(t("2026-11-21T00:00:00Z"), &["f4"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(ours(&env) > 0);
    assert!(!cron_file(&env).exists());
    let hints: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("not installing the cron job"))
        .collect();
    assert_eq!(hints.len(), 1, "{err}");
    assert!(hints[0].contains("--cron") && hints[0].contains("--no-cron"));

    // --no-cron and --dry-run: no hint; neither installs even on a terminal.
    for args in [&["--no-cron", "f4"][..], &["--dry-run", "f4"][..]] {
        let (code, out, err) = env.run(t("2026-11-21T00:15:00Z"), args);
        assert_eq!(code, 0, "{args:?}: {out}\n{err}");
        assert!(!err.contains("not installing"), "{args:?}: {err}");
        let (code, out, err) = run_tty(&env, t("2026-11-21T00:30:00Z"), args);
        assert_eq!(code, 0, "{args:?}: {out}\n{err}");
        assert!(!cron_file(&env).exists(), "{args:?}");
    }
}

#[test]
fn real_terminal_installs() {
    if !Path::new("/usr/bin/script").exists() {
        eprintln!("skipped: util-linux script(1) is not installed");
        return;
    }
    let env = env();
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let command = [
        PRODUCT,
        "--root",
        env.root.to_str().unwrap(),
        "--node",
        "pve1",
        "--now",
        "2026-11-21T00:00:00Z",
        "f4",
    ]
    .map(quote)
    .join(" ");
    // script(1) runs the command on a new pseudo-terminal (stdin, stdout and stderr).
    let o = env
        .cmd("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove(ASSUME_TTY)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (code, out, err) = output(o);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!("installed {}:", cron_file(&env).display())),
        "{out}"
    );
    assert_eq!(
        parse(&std::fs::read_to_string(cron_file(&env)).unwrap())
            .commands
            .len(),
        1
    );
}

#[test]
fn uninstall_removes_the_file() {
    let env = env();
    assert_eq!(run_tty(&env, t("2026-11-21T00:00:00Z"), &["f4"]).0, 0);
    let path = cron_file(&env);
    assert!(path.exists());
    let (code, out, err) = uninstall(&env);
    assert_eq!(code, 0, "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("removed {}", path.display()));
    // It says what it leaves behind and how to remove it.
    assert!(
        lines[1].starts_with("left in place: the snapshots and bookmarks of ours")
            && lines[1].contains("uninstall --destroy-snapshots")
            && lines[1].contains("--yes"),
        "{out}"
    );
    assert!(err.is_empty(), "{err}");
    assert!(!path.exists());
    let (code, out, _) = uninstall(&env);
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().next().unwrap(),
        format!("{} not present", path.display())
    );
}

/// A cron file the admin wrote (no marker line) is never replaced by an interactive run nor
/// removed by `uninstall`; both say so.
#[test]
fn hand_written_cron_file_is_kept() {
    let env = env();
    let path = cron_file(&env);
    let mine =
        "MAILTO=ops@example.org\n*/5 * * * * root /usr/local/bin/pve-zfs-snap --cron f12 h24\n";
    std::fs::write(&path, mine).unwrap();
    let (code, out, err) = run_tty(&env, t("2026-11-21T00:00:00Z"), &["f4"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(ours(&env) > 0, "the run itself happened");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), mine);
    assert!(
        err.contains(&format!("kept {}", path.display()))
            && err.contains("not written by pve-zfs-snap")
            && err.contains("NOT installed"),
        "{err}"
    );
    assert!(
        !out.contains("installed") && !out.contains("updated"),
        "{out}"
    );

    let (code, out, err) = uninstall(&env);
    assert_eq!(code, 1, "{out}\n{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), mine);
    assert!(
        err.contains("kept") && err.contains("remove it yourself"),
        "{err}"
    );
}

/// A run without `--schedule` keeps the schedule installed earlier and says so; the line that
/// changed is shown with what it was.
#[test]
fn run_without_schedule_keeps_the_installed_one() {
    let env = env();
    let path = cron_file(&env);
    let (code, out, err) = run_tty(
        &env,
        t("2026-11-21T00:00:00Z"),
        &["--schedule", "0 * * * *", "f4"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let before = parse(&std::fs::read_to_string(&path).unwrap()).commands[0].join(" ");
    let (code, out, err) = run_tty(&env, t("2026-11-21T01:00:00Z"), &["f4", "h6"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let p = parse(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(p.commands[0][..5], ["0", "*", "*", "*", "*"]);
    assert_eq!(p.commands[0][8..10], ["f4", "h6"]);
    assert!(out.contains(&format!("(it was: {before})")), "{out}");
    assert!(
        out.contains("kept the installed schedule '0 * * * *'; give --schedule to change it"),
        "{out}"
    );
}

/// `uninstall --destroy-snapshots` is a dry run (changes nothing, lists everything); with
/// `--yes` it removes the cron job, every snapshot and bookmark of ours and the labels, and
/// nothing else: a user's snapshot, PVE's `@__base__`, a name that only looks like ours.
#[test]
fn uninstall_destroy_snapshots_removes_only_ours() {
    let mut env = env();
    assert_eq!(run_tty(&env, t("2026-11-21T00:00:00Z"), &["f4", "h2"]).0, 0);
    for now in ["2026-11-21T00:15:00Z", "2026-11-21T01:00:00Z"] {
        env.run_ok(t(now), &["--cron", "f4", "h2"]);
    }
    env.clock = t("2026-11-21T01:10:00Z").timestamp();
    let d = "rpool/data/vm-100-disk-0";
    for foreign in [
        "before-upgrade",
        "autosnap_manual",
        "autosnap_2026-11-21_00:00:00_hourly_x",
    ] {
        env.zfs(&["snapshot", &format!("{d}@{foreign}")]);
    }
    let held = format!("{d}@{}", env.snaps(d)[0]);
    env.zfs(&["hold", "keep", &held]);
    assert_eq!(env.label(d).0, "pve1");
    let before = env.objects();
    assert!(!env.bookmarks(d).is_empty());

    let uninstall = |args: &[&str]| {
        output(
            env.cmd(PRODUCT)
                .env(
                    "ZFS_EMU_NOW",
                    t("2026-11-21T01:20:00Z").timestamp().to_string(),
                )
                .arg("uninstall")
                .arg("--root")
                .arg(&env.root)
                .args(["--node", "pve1", "--now", "2026-11-21T01:20:00Z"])
                .args(args)
                .output()
                .unwrap(),
        )
    };
    // The dry run: nothing changes, not even the cron file.
    let (code, out, err) = uninstall(&["--destroy-snapshots"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(env.objects(), before);
    assert!(cron_file(&env).exists());
    assert!(out.starts_with("DRY RUN: nothing is changed"), "{out}");
    let ours_before = before
        .iter()
        .filter(|(n, _)| {
            let short = n.split(['@', '#']).nth(1).unwrap();
            short.starts_with("autosnap_20") && !short.ends_with("_x")
        })
        .count();
    let listed = out.lines().filter(|l| l.starts_with("  destroy ")).count();
    assert_eq!(listed, ours_before, "{out}");
    assert!(!out.contains("before-upgrade") && !out.contains("__base__") && !out.contains("_x"));
    assert!(
        out.contains(&format!("  zfs inherit label:running {d}")),
        "{out}"
    );
    // --yes without --destroy-snapshots is refused by the parser.
    assert_eq!(uninstall(&["--yes"]).0, 2);

    let (code, out, err) = uninstall(&["--destroy-snapshots", "--yes"]);
    assert_eq!(code, 1, "the held snapshot is kept: {out}\n{err}");
    assert!(!cron_file(&env).exists());
    assert!(err.contains(&format!("kept {held}")), "{err}");
    let left: Vec<String> = env.objects().into_iter().map(|(n, _)| n).collect();
    let mut want: Vec<String> = vec![
        held.clone(),
        format!("{d}@before-upgrade"),
        format!("{d}@autosnap_manual"),
        format!("{d}@autosnap_2026-11-21_00:00:00_hourly_x"),
        "rpool/data/base-900-disk-0@__base__".into(),
    ];
    want.sort();
    assert_eq!(left, want, "{out}\n{err}");
    for ds in crate::harness::RUNNING_DISKS {
        assert_eq!(env.label(ds).0, "-", "{ds}");
    }
}

#[test]
fn missing_cron_dir_is_an_error_after_the_run() {
    let env = env();
    std::fs::remove_dir(env.root.join("etc/cron.d")).unwrap();
    let (code, out, err) = run_tty(&env, t("2026-11-21T00:00:00Z"), &["f4"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(ours(&env) > 0, "the run itself happened");
    assert!(
        err.contains("cannot install the cron job") && err.contains("is cron installed"),
        "{err}"
    );
}

#[test]
fn legacy_crontab_line_is_reported() {
    let env = env();
    let legacy = "*/15 * * * * ./pve-zfs-snap f100 h48 d30";
    stub_crontab(
        &env,
        &format!(
            "echo '# m h dom mon dow command'\necho '0 3 * * * /usr/sbin/vzdump --all'\necho '{legacy}'"
        ),
    );
    let (code, out, err) = run_tty(&env, t("2026-11-21T00:00:00Z"), &["f4"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains(legacy) && warnings[0].contains("crontab -e"),
        "{err}"
    );
    // A cron run does not look (it never runs crontab).
    let (_, _, err) = run_tty(&env, t("2026-11-21T00:15:00Z"), &["--cron", "f4"]);
    assert!(!err.contains("warning"), "{err}");

    let (code, _, err) = uninstall(&env);
    assert_eq!(code, 0);
    assert!(err.contains(legacy) && err.contains("crontab -e"), "{err}");

    // No crontab at all, and no crontab program: nothing to report.
    stub_crontab(&env, NO_CRONTAB);
    assert!(uninstall(&env).2.is_empty());
    std::fs::remove_file(env.bin.join("crontab")).unwrap();
    let o = env
        .cmd(PRODUCT)
        .env("PATH", &env.bin)
        .arg("uninstall")
        .arg("--root")
        .arg(&env.root)
        .output()
        .unwrap();
    let (code, _, err) = output(o);
    assert_eq!(code, 0);
    assert!(err.is_empty(), "{err}");
}

/// The installed line works in cron's environment: `/bin/sh -c <command>`, environment
/// cleared to what cron sets, `PATH` from the file (cron's own default is `/usr/bin:/bin`).
///
/// On PVE `zfs` lives in `/usr/sbin` (merged /usr, PVE 8/9) or `/sbin` (PVE 7); this machine
/// has no `zfs` there and the test cannot write there. So every directory of the file's PATH
/// is relocated under a fake filesystem `<tmp>/fs`, the emulator is placed at
/// `<tmp>/fs/usr/sbin/zfs` (then at `<tmp>/fs/sbin/zfs` alone), and the line must find it
/// through that PATH: the product's own fallback (`/usr/sbin`, `/sbin`) is not under `<tmp>`,
/// so a PATH line without those directories fails (checked with `command -v` on cron's
/// default PATH relocated the same way). The emulator's `ZFS_EMU_*` variables are test
/// plumbing cron would not set.
#[test]
fn installed_line_finds_zfs_with_crons_environment() {
    let env = env();
    assert_eq!(run_tty(&env, t("2026-11-21T00:00:00Z"), &["f4"]).0, 0);
    let text = std::fs::read_to_string(cron_file(&env)).unwrap();
    let p = parse(&text);
    let line = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.starts_with("PATH=") && !l.trim().is_empty())
        .unwrap();
    // Cron's split: five time fields, the user, then the command (given to /bin/sh as is;
    // the line has no '%').
    let mut rest = line;
    for _ in 0..6 {
        rest = rest.trim_start().split_once(char::is_whitespace).unwrap().1;
    }
    let command = rest.trim();
    assert!(!command.contains('%'));

    let fs = env.dir.path().join("fs");
    let relocate = |path: &str| -> String {
        path.split(':')
            .map(|d| format!("{}{d}", fs.display()))
            .collect::<Vec<_>>()
            .join(":")
    };
    let home = env.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let sh = |path: &str, cmd: &str| -> (i32, String, String) {
        output(
            Command::new("/bin/sh")
                .args(["-c", cmd])
                .env_clear()
                .env("PATH", path)
                .env("SHELL", "/bin/sh")
                .env("HOME", &home)
                .env("LOGNAME", "root")
                .env("ZFS_EMU_STATE", &env.state)
                .env("ZFS_EMU_SEED", "7")
                .env("ZFS_EMU_NOW", Utc::now().timestamp().to_string())
                .current_dir(&home)
                .stdin(Stdio::null())
                .output()
                .unwrap(),
        )
    };

    for dir in ["usr/sbin", "sbin"] {
        // Snapshot names have one-second resolution and the cron line has no --now.
        std::thread::sleep(Duration::from_millis(1100));
        let _ = std::fs::remove_dir_all(&fs);
        let bin = fs.join(dir);
        std::fs::create_dir_all(&bin).unwrap();
        for name in ["zfs", "zpool"] {
            std::os::unix::fs::symlink(crate::harness::EMU, bin.join(name)).unwrap();
        }
        // Cron's default PATH would not find it; the file's PATH does.
        assert_ne!(
            sh(&relocate("/usr/bin:/bin"), "command -v zfs").0,
            0,
            "{dir}"
        );
        let (code, found, _) = sh(&relocate(&p.path), "command -v zfs");
        assert_eq!(code, 0, "{dir}");
        assert_eq!(found.trim(), bin.join("zfs").to_str().unwrap());

        let before = ours(&env);
        let (code, out, err) = sh(&relocate(&p.path), command);
        assert_eq!(code, 0, "{dir}: {command}\n{out}\n{err}");
        assert!(out.is_empty(), "a cron run is quiet: {out}");
        assert!(ours(&env) > before, "{dir}: the cron run took snapshots");
    }
    assert_eq!(std::fs::read_to_string(cron_file(&env)).unwrap(), text);
}
