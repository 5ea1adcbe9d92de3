//! The README's commands, in order, as a new admin types them (issue 21: "the README's commands,
//! run in order on a fresh checkout, all work as written"). Every `pve-zfs-snap` command of the
//! README's code blocks (cron lines included) runs against the `cluster` fixture on the emulator
//! and must exit 0. Every other command must be one this test knows CI runs elsewhere (the
//! table `ELSEWHERE`), so a command added to the README is never silently left untested.
//!
//! What the test adds to a command, and only this: the test host's `--root`, `--node` and `--now`
//! where the command takes them; absolute paths given as option values are mapped under the test
//! root (as `--root` maps `/etc` and `/run`); `simulate` runs 2 virtual days instead of 400
//! (its full length is `simulate`'s own e2e tests); `--from <host>` goes through a stand-in
//! `ssh` that runs the remote command on the same emulated host (the real ssh pull is the VM
//! drill's). Files the README tells the admin to write (`draft.cfg`) are written from the
//! README's own example.

use crate::harness::{Env, PRODUCT, t};
use std::path::Path;

/// Commands of the README that are not `pve-zfs-snap`, and where CI runs them.
const ELSEWHERE: &[(&str, &str)] = &[
    ("git", "CI's own fresh clone"),
    ("packaging/build-deb.sh", "packaging/ci.sh (then lintian)"),
    (
        "apt",
        "packaging/install-check.sh: dpkg -i on the CI host and in the bookworm and trixie VM images",
    ),
    (
        "man",
        "packaging/install-check.sh (man -w, rendering, roff warnings)",
    ),
    (
        "cargo",
        "`cargo install --path .` builds what ./test.sh builds; not run here (it installs into the host)",
    ),
    ("./test.sh", ".ci/run runs it"),
    (
        "journalctl",
        "needs a systemd journal: the journal lines are tests/e2e/journal.rs's golden",
    ),
    (
        "ssh-copy-id",
        "needs a second host: the real ssh pull (--from) is the VM drill's",
    ),
];
/// Commands run here against the emulator, like `pve-zfs-snap`'s (`zfs create` of the pull's
/// target prefix).
const RUN_HERE: &[&str] = &["pve-zfs-snap", "zfs"];

/// One command of the README: its words and the README line it starts on.
#[derive(Debug)]
struct Cmd {
    line: usize,
    words: Vec<String>,
}

/// The commands of the README's code blocks (fenced, or indented by four spaces in lists), in
/// order: comments dropped, `;` separated commands split, backslash continuations joined, cron
/// lines (`m h dom mon dow user command`) reduced to their command. Blocks that are files (the
/// policy file example) have no command lines and give nothing.
fn readme_commands(text: &str) -> Vec<Cmd> {
    let mut out = Vec::new();
    let mut fenced = false;
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if raw.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let code = if fenced {
            Some(raw)
        } else {
            raw.strip_prefix("    ")
                .filter(|l| l.starts_with("pve-zfs-snap "))
        };
        let Some(code) = code else { continue };
        let (start, mut line) = match pending.take() {
            Some((s, acc)) => (s, format!("{acc} {}", code.trim())),
            None => (n, code.trim().to_string()),
        };
        if let Some(stripped) = line.strip_suffix('\\') {
            pending = Some((start, stripped.trim_end().to_string()));
            continue;
        }
        // A comment starts at a `#` that begins a word.
        if let Some(p) = line.find(" #") {
            line.truncate(p);
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        for part in line.split(';') {
            let words: Vec<String> = part.split_whitespace().map(str::to_string).collect();
            let Some(first) = words.first() else { continue };
            // A cron line: five schedule fields and a user before the command.
            let words = if first
                .chars()
                .all(|c| c.is_ascii_digit() || "*/,-".contains(c))
                && words.len() > 6
            {
                words[6..].to_vec()
            } else {
                words
            };
            // Environment lines of a cron file, and file contents (`key value`, `rule: x`).
            let first = words[0].as_str();
            if first.contains('=') && !first.starts_with('-') {
                continue;
            }
            if RUN_HERE.contains(&first) || ELSEWHERE.iter().any(|(c, _)| *c == first) {
                out.push(Cmd { line: start, words });
            } else if fenced && !looks_like_file_content(first) {
                panic!(
                    "README.md:{start}: `{}` is a command this test does not know: run it here \
                     or name where CI runs it (ELSEWHERE)",
                    words.join(" ")
                );
            }
        }
    }
    out
}

/// Lines of a config-file example (`defaults`, `rule: x`, `keep f96`, …): not commands.
fn looks_like_file_content(first: &str) -> bool {
    first.ends_with(':')
        || [
            "defaults",
            "keep",
            "tag",
            "bookmarks",
            "pool",
            "exclude",
            "disk",
            "vmid",
            "node",
            "comment",
            "nosnap-tag",
        ]
        .contains(&first)
}

/// The README's policy-file example (the block after `# /etc/pve/pve-zfs-snap.cfg`).
fn example_policy(text: &str) -> String {
    let start = text
        .find("# /etc/pve/pve-zfs-snap.cfg\n")
        .expect("README has the policy example");
    let body = &text[start..];
    let end = body.find("```").expect("the example's block ends");
    body[..end]
        .lines()
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The `cluster` fixture with `basic`'s datasets, plus what the README's example policy names:
/// a `templates` pool (VM 900) and VM 105 with an `scsi2` disk, on pve2.
fn readme_cluster() -> Env {
    let env = Env::with_basic_datasets("cluster");
    env.zpool(&["create", "backup", "/dev/vdc"]);
    for d in ["rpool/data/vm-105-disk-0", "rpool/data/vm-105-disk-1"] {
        env.zfs(&["create", "-s", "-V", "1G", d]);
    }
    let pve = env.root.join("etc/pve");
    let vmlist = std::fs::read_to_string(pve.join(".vmlist"))
        .unwrap()
        .replace(
            "\"300\": {",
            "\"105\": { \"node\": \"pve2\", \"type\": \"qemu\", \"version\": 3 },\n\"300\": {",
        );
    std::fs::write(pve.join(".vmlist"), vmlist).unwrap();
    // The textfile directory of prometheus-node-exporter (its package creates it).
    std::fs::create_dir_all(env.root.join("var/lib/prometheus/node-exporter")).unwrap();
    let mut user = std::fs::read_to_string(pve.join("user.cfg")).unwrap();
    user.push_str("pool:templates:Templates:900::\n");
    std::fs::write(pve.join("user.cfg"), user).unwrap();
    std::fs::write(
        pve.join("nodes/pve2/qemu-server/105.conf"),
        "name: db01\ntags: database\nscsi0: local-zfs:vm-105-disk-0,size=32G\n\
         scsi2: local-zfs:vm-105-disk-1,size=8G\n",
    )
    .unwrap();
    // The stand-in ssh: `ssh -o BatchMode=yes -- <dest> <remote command>` runs the remote
    // command here, where `zfs` is the same emulator.
    let ssh = env.bin.join("ssh");
    std::fs::write(
        &ssh,
        "#!/bin/sh\n[ \"$1\" = -o ] && [ \"$2\" = BatchMode=yes ] && [ \"$3\" = -- ] || \
         { echo \"stand-in ssh: unexpected $*\" >&2; exit 255; }\nshift 4\nexec sh -c \"$*\"\n",
    )
    .unwrap();
    let mut p = std::fs::metadata(&ssh).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o755);
    std::fs::set_permissions(&ssh, p).unwrap();
    env
}

/// What the test adds to a `pve-zfs-snap` command (see the module docs).
fn harness_args(words: &[String], env: &Env, now: &str) -> Vec<String> {
    let root = env.root.display().to_string();
    let sub = words.get(1).map(String::as_str).unwrap_or("");
    let clock = ["--now".to_string(), t(now).to_rfc3339()];
    let mut extra: Vec<String> = Vec::new();
    match sub {
        "--version" | "--help" | "help" => {}
        "simulate" => extra.extend(["--days".into(), "2".into()]),
        "config" => extra.extend(["--root".into(), root]),
        "pull" => {
            extra.extend(["--root".into(), root]);
            extra.extend(clock);
        }
        "check" | "status" | "uninstall" => extra.extend(["--root".into(), root]),
        _ => {
            extra.extend(["--root".into(), root, "--node".into(), "pve1".into()]);
            extra.extend(clock);
        }
    }
    extra
}

#[test]
fn the_readmes_commands_work_as_written_in_order() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let cmds = readme_commands(&readme);
    let ours: Vec<&Cmd> = cmds
        .iter()
        .filter(|c| RUN_HERE.contains(&c.words[0].as_str()))
        .collect();
    assert!(
        ours.iter().filter(|c| c.words[0] == "pve-zfs-snap").count() >= 7,
        "README.md should show the quick start, config check, simulate and the pull: found {ours:?}"
    );
    let env = readme_cluster();
    let cwd = env.dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    std::fs::write(cwd.join("draft.cfg"), example_policy(&readme)).unwrap();
    let mut minute = 0;
    let mut report = String::new();
    let mut failed = 0;
    for c in &ours {
        // A quarter hour between commands: each run is a scheduled run's worth apart.
        let now = format!("2026-11-21T{:02}:{:02}:00Z", 10 + minute / 60, minute % 60);
        minute += 15;
        let program = if c.words[0] == "zfs" {
            env.bin.join("zfs").display().to_string()
        } else {
            PRODUCT.to_string()
        };
        let mut args: Vec<String> = c.words[1..]
            .iter()
            .map(|w| {
                if w.starts_with('/') {
                    format!("{}{w}", env.root.display())
                } else {
                    w.clone()
                }
            })
            .collect();
        if c.words[0] == "pve-zfs-snap" {
            args.extend(harness_args(&c.words, &env, &now));
        }
        let o = env
            .cmd(&program)
            .current_dir(&cwd)
            .env("ZFS_EMU_NOW", t(&now).timestamp().to_string())
            .args(&args)
            .output()
            .unwrap();
        let code = o.status.code().unwrap_or(-1);
        report.push_str(&format!(
            "README.md:{}: {} -> exit {code}\n",
            c.line,
            c.words.join(" ")
        ));
        if code != 0 {
            failed += 1;
            report.push_str(&format!(
                "{}{}\n",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    assert_eq!(failed, 0, "README commands that failed:\n{report}");
    // The pull at the end of the README really pulled: the third site has the guests' disks.
    let pulled = env.zfs(&["list", "-H", "-o", "name", "-r", "backup"]);
    assert!(
        pulled.contains("backup/pve1/vm-100-disk-0"),
        "the README's pull left no copy:\n{pulled}\n{report}"
    );
}

#[test]
fn every_readme_command_is_run_or_known() {
    // The parser itself: a made-up README with each kind of line.
    let text = "```sh\npve-zfs-snap --dry-run f1   # comment\napt install ./x.deb\n\
                pve-zfs-snap --version; man pve-zfs-snap\n```\n\n    pve-zfs-snap simulate h1      # x\n\
                ```\n# /etc/cron.d/x\nPATH=/usr/sbin\n0 */4 * * * root pve-zfs-snap pull --from a \\\n    r/d b/e\n```\n\
                ```\ndefaults\n\tkeep f1\nrule: x\n\ttag y\n```\n";
    let got: Vec<String> = readme_commands(text)
        .iter()
        .map(|c| format!("{}:{}", c.line, c.words.join(" ")))
        .collect();
    assert_eq!(
        got,
        [
            "2:pve-zfs-snap --dry-run f1",
            "3:apt install ./x.deb",
            "4:pve-zfs-snap --version",
            "4:man pve-zfs-snap",
            "7:pve-zfs-snap simulate h1",
            "11:pve-zfs-snap pull --from a r/d b/e",
        ]
    );
    let unknown = std::panic::catch_unwind(|| readme_commands("```sh\nrm -rf /tmp/x\n```\n"));
    assert!(unknown.is_err(), "an unknown command must fail the test");
}
