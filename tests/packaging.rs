//! Consistency of `packaging/` with the code: the maintainer scripts and systemd units repeat a
//! few facts the code owns (the cron file's header line, the CLI's syntax, the binary's path).
//! These tests read the packaging files as text; they never install or run anything.

use std::path::{Path, PathBuf};

use clap::Parser;
use pve_zfs_snap::cli::Cli;
use pve_zfs_snap::cron::{self, CronSchedule};

fn packaging(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value of `NAME='…'` in a shell script.
fn shell_var(script: &str, name: &str) -> String {
    let prefix = format!("{name}='");
    let line = script
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name}='…' line"));
    line.strip_suffix('\'').expect("single-quoted").to_string()
}

/// `Key=value` lines of a unit file (comments skipped).
fn unit_values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    let prefix = format!("{key}=");
    unit.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect()
}

#[test]
fn postrm_recognises_exactly_the_cron_files_we_write() {
    let header = shell_var(&packaging("debian/postrm"), "CRON_HEADER");
    assert!(header.starts_with("# ") && header.len() > 10, "{header:?}");
    // For several schedules and argument lists the rendered first line starts with the header…
    for (schedule, args) in [
        (cron::DEFAULT_SCHEDULE, vec!["f100", "h24", "d7"]),
        ("0 * * * *", vec!["h24", "--timezone", "Europe/Berlin"]),
    ] {
        let schedule = CronSchedule::parse(schedule).unwrap();
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let rendered =
            cron::render(&schedule, &PathBuf::from("/usr/sbin/pve-zfs-snap"), &args).unwrap();
        let first = rendered.lines().next().unwrap();
        assert!(first.starts_with(&header), "{first:?} vs {header:?}");
    }
    // …and typical hand-written or foreign first lines do not.
    for foreign in [
        "# pve-zfs-snap",
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "*/15 * * * * root /usr/sbin/pve-zfs-snap --cron f100",
        "# Written by hand after pve-zfs-snap: keep",
    ] {
        assert!(!foreign.starts_with(&header), "{foreign:?}");
    }
}

#[test]
fn service_runs_the_packaged_binary_with_a_valid_command_line() {
    let service = packaging("pve-zfs-snap.service");
    let exec = unit_values(&service, "ExecStart");
    assert_eq!(exec.len(), 1, "{exec:?}");
    let words: Vec<&str> = exec[0].split_whitespace().collect();
    assert_eq!(words[0], "/usr/sbin/pve-zfs-snap");
    let cli = Cli::try_parse_from(&words).expect("ExecStart parses");
    assert!(cli.run.cron, "the timer's run must be a --cron run");
    assert!(!cli.run.dry_run);
    assert_eq!(unit_values(&service, "Type"), ["oneshot"]);
    let path = unit_values(&service, "Environment");
    assert_eq!(path, ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]);
    assert!(
        !service.contains("[Install]"),
        "the service is started by the timer only"
    );
    // The binary path is where the package puts it.
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    assert!(manifest.contains(r#"["target/release/pve-zfs-snap", "usr/sbin/", "755"]"#));
}

#[test]
fn timer_matches_the_cron_default_and_is_installable() {
    let timer = packaging("pve-zfs-snap.timer");
    assert_eq!(unit_values(&timer, "OnCalendar"), ["*:0/15"]);
    // Same cadence as the cron file's default schedule.
    assert_eq!(cron::DEFAULT_SCHEDULE, "*/15 * * * *");
    assert_eq!(unit_values(&timer, "AccuracySec"), ["1s"]);
    assert_eq!(unit_values(&timer, "Persistent"), ["true"]);
    assert_eq!(unit_values(&timer, "WantedBy"), ["timers.target"]);
}

#[test]
fn the_package_never_ships_the_test_tool_or_a_cron_file() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let deb = manifest
        .split("[package.metadata.deb]")
        .nth(1)
        .expect("deb metadata");
    let deb = deb.split("\n[").next().unwrap();
    assert!(!deb.contains("zfs-emu"), "zfs-emu must not be packaged");
    assert!(
        !deb.contains("etc/cron.d"),
        "no cron file is installed by the package"
    );
    assert!(
        !deb.contains("systemd-units"),
        "units are shipped, not enabled"
    );
}

/// Runs `packaging/debian/postrm <action>` with `DPKG_ROOT=<root>` (so it touches only `root`
/// and never calls systemctl) and returns its stderr.
fn run_postrm(root: &Path, action: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/debian/postrm");
    let out = std::process::Command::new("sh")
        .arg(&script)
        .arg(action)
        .env("DPKG_ROOT", root)
        .output()
        .expect("sh runs");
    assert!(out.status.success(), "postrm {action}: {out:?}");
    String::from_utf8(out.stderr).unwrap()
}

/// (cron file content or none, timer link target or none, postrm action, cron file kept?,
/// timer link kept?)
type PostrmCase<'a> = (Option<&'a str>, Option<&'a str>, &'a str, bool, bool);

#[test]
fn postrm_purge_removes_only_what_pve_zfs_snap_created() {
    let ours = cron::render(
        &CronSchedule::parse(cron::DEFAULT_SCHEDULE).unwrap(),
        Path::new("/usr/sbin/pve-zfs-snap"),
        &["f100".to_string()],
    )
    .unwrap();
    let foreign = "# my job\n0 * * * * root /usr/sbin/pve-zfs-snap --cron h24\n";
    let cases: [PostrmCase; 7] = [
        (Some(&ours), None, "purge", false, false),
        (Some(foreign), None, "purge", true, false),
        (Some(""), None, "purge", true, false),
        (Some(&ours), None, "remove", true, false),
        (
            None,
            Some("/lib/systemd/system/pve-zfs-snap.timer"),
            "purge",
            false,
            false,
        ),
        (
            None,
            Some("/lib/systemd/system/other.timer"),
            "purge",
            false,
            true,
        ),
        (
            None,
            Some("/lib/systemd/system/pve-zfs-snap.timer"),
            "remove",
            false,
            true,
        ),
    ];
    for (cron_content, link_target, action, cron_kept, link_kept) in cases {
        let root = tempfile::tempdir().unwrap();
        let cron_file = root.path().join("etc/cron.d/pve-zfs-snap");
        let link = root
            .path()
            .join("etc/systemd/system/timers.target.wants/pve-zfs-snap.timer");
        std::fs::create_dir_all(cron_file.parent().unwrap()).unwrap();
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        if let Some(content) = cron_content {
            std::fs::write(&cron_file, content).unwrap();
        }
        if let Some(target) = link_target {
            std::os::unix::fs::symlink(target, &link).unwrap();
        }
        let stderr = run_postrm(root.path(), action);
        let case = format!("{cron_content:?} {link_target:?} {action}: {stderr}");
        assert_eq!(
            cron_file.exists(),
            cron_content.is_some() && cron_kept,
            "{case}"
        );
        assert_eq!(
            link.symlink_metadata().is_ok(),
            link_target.is_some() && link_kept,
            "{case}"
        );
        let noted = stderr.contains("keeping");
        assert_eq!(
            noted,
            action == "purge" && cron_kept && cron_content.is_some(),
            "{case}"
        );
    }
}

#[test]
fn postrm_purge_keeps_a_symlink_at_the_cron_path() {
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join("elsewhere");
    std::fs::write(
        &target,
        "# Written by pve-zfs-snap: but reached through a link\n",
    )
    .unwrap();
    let cron_file = root.path().join("etc/cron.d/pve-zfs-snap");
    std::fs::create_dir_all(cron_file.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&target, &cron_file).unwrap();
    run_postrm(root.path(), "purge");
    assert!(cron_file.symlink_metadata().is_ok() && target.exists());
}

/// `cargo metadata --no-deps` of the workspace, as JSON.
fn workspace_metadata() -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {out:?}");
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// The workspace package called `name`.
fn package<'a>(meta: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package {name} in the workspace"))
}

/// Names of the targets of `package` whose kinds include `kind` (`bin`, `lib`, …).
fn targets(package: &serde_json::Value, kind: &str) -> Vec<String> {
    let mut names: Vec<String> = package["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == kind))
        })
        .map(|t| t["name"].as_str().expect("target name").to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn cargo_install_installs_only_the_product_binary() {
    // `cargo install --path .` installs every bin target of the root package: exactly one.
    let meta = workspace_metadata();
    let root = package(&meta, "pve-zfs-snap");
    assert_eq!(
        targets(root, "bin"),
        ["pve-zfs-snap"],
        "bin targets of the root package"
    );
    // The test tool lives in the emulator crate, which never depends on the product.
    let emu = package(&meta, "zfs-emu");
    assert_eq!(targets(emu, "bin"), ["zfs-emu"]);
    assert_eq!(targets(emu, "lib"), ["zfs_emu"]);
    let emu_deps: Vec<&str> = emu["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert!(
        !emu_deps.contains(&"pve-zfs-snap"),
        "the emulator must not depend on the product: {emu_deps:?}"
    );
    // The Debian package ships one binary, the product's.
    let binaries: Vec<&str> = root["metadata"]["deb"]["assets"]
        .as_array()
        .expect("deb assets")
        .iter()
        .filter_map(|a| a[0].as_str())
        .filter(|src| src.starts_with("target/"))
        .filter(|src| !src.starts_with("target/assets/"))
        .collect();
    assert_eq!(binaries, ["target/release/pve-zfs-snap"]);
}

/// The asset generator (`examples/gen-assets.rs`), compiled in to call its `generate`.
#[path = "../examples/gen-assets.rs"]
#[allow(dead_code)]
mod gen_assets;

/// Every man page a generated page refers to (`pve-zfs-snap-check(8)` in the main page's
/// COMMANDS section) is generated too, and the package ships every generated page.
#[test]
fn man_pages_referred_to_exist_and_are_shipped() {
    let dir = tempfile::tempdir().unwrap();
    gen_assets::generate(dir.path()).unwrap();
    let pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".8"))
        .collect();
    let mut referred = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        for (i, _) in text.match_indices("(8)") {
            let head = &text[..i];
            let start = head
                .rfind(|c: char| c.is_whitespace() || c == 'B')
                .map_or(0, |p| p + 1);
            let name = head[start..].replace("\\-", "-");
            if name.starts_with("pve-zfs-snap") {
                referred.push(name);
            }
        }
    }
    assert!(
        referred.iter().any(|n| n == "pve-zfs-snap-check"),
        "{referred:?}"
    );
    for name in &referred {
        assert!(
            pages.contains(&format!("{name}.8")),
            "{name}(8) is referred to but not generated: {pages:?}"
        );
    }
    let cargo =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    assert!(
        cargo.contains(r#"["target/assets/*.8", "usr/share/man/man8/", "644"]"#),
        "the .deb must ship every generated page"
    );
}
