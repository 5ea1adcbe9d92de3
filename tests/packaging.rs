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
