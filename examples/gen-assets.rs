//! Packaging helper: writes the man page (section 8) and the bash and zsh completions of
//! `pve-zfs-snap` from its clap definitions ([`pve_zfs_snap::cli::Cli`]), so that they are never
//! written by hand a second time.
//!
//! `cargo run --example gen-assets -- <OUTDIR>` (what `packaging/build-deb.sh` does) writes
//! `<OUTDIR>/pve-zfs-snap.8`, one `<OUTDIR>/pve-zfs-snap-<command>.8` per subcommand (the main
//! page's COMMANDS section refers to them), `<OUTDIR>/pve-zfs-snap.bash` and
//! `<OUTDIR>/_pve-zfs-snap`.
//! It is an example, not a `[[bin]]`, so `clap_mangen`/`clap_complete` stay dev-dependencies
//! and out of the product; it runs only when the package is built, never on `cargo build`.
//! It must not touch anything outside `<OUTDIR>`.
#![allow(clippy::disallowed_methods)] // a program of its own: it reads its environment and clock

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::CommandFactory;
use clap_complete::Shell;
use pve_zfs_snap::cli::Cli;

/// Sections the clap definitions cannot express: where the tool writes, how it is scheduled.
/// Raw roff (`\-` is a minus sign, `\fB…\fR` bold).
const FILES_AND_SEE_ALSO: &str = r#".SH FILES
.TP
\fI/etc/cron.d/pve\-zfs\-snap\fR
Written by an interactive run (from a terminal, without \fB\-\-cron\fR) with the schedule
and retention keys of that run; scheduled runs never touch it. Removed on package purge
if it still carries the header line written by \fBpve\-zfs\-snap\fR.
.TP
\fI/lib/systemd/system/pve\-zfs\-snap.service\fR, \fIpve\-zfs\-snap.timer\fR
The alternative to cron: a timer every 15 minutes running
\fBpve\-zfs\-snap \-\-cron f100 h24 d7\fR. Shipped, not enabled. Enable it with
\fBsystemctl enable \-\-now pve\-zfs\-snap.timer\fR and change the retention keys with
\fBsystemctl edit pve\-zfs\-snap.service\fR. Use either the timer or the cron file, not both.
.SH SEE ALSO
\fBzfs\fR(8), \fBzfs\-program\fR(8), \fBzfs\-snapshot\fR(8), \fBzfs\-bookmark\fR(8),
\fBcron\fR(8), \fBsystemd.timer\fR(5)
"#;

#[allow(dead_code)] // also compiled into tests/packaging.rs, which calls `generate` only
fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out] = args.as_slice() else {
        bail!("usage: gen-assets <OUTDIR>");
    };
    generate(&PathBuf::from(out))
}

/// Writes every asset into `out` (created if needed).
pub fn generate(out: &Path) -> Result<()> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write(&out.join("pve-zfs-snap.8"), &man_page()?)?;
    let mut cli = Cli::command();
    cli.build();
    // Every subcommand gets its page, nested ones too (`config check`: the `config` page
    // refers to pve-zfs-snap-config-check(8)).
    let mut todo: Vec<(String, clap::Command)> = cli
        .get_subcommands()
        .map(|s| (format!("pve-zfs-snap-{}", s.get_name()), s.clone()))
        .collect();
    while let Some((name, sub)) = todo.pop() {
        todo.extend(
            sub.get_subcommands()
                .map(|s| (format!("{name}-{}", s.get_name()), s.clone())),
        );
        let mut page = Vec::new();
        // clap names are `&'static str` (no "string" feature): a few bytes per page, once.
        let static_name: &'static str = Box::leak(name.clone().into_boxed_str());
        clap_mangen::Man::new(sub.name(static_name))
            .section("8")
            .manual("System Administration")
            .date(man_date()?)
            .source(format!("pve-zfs-snap {}", env!("CARGO_PKG_VERSION")))
            .render(&mut page)?;
        write(&out.join(format!("{name}.8")), &page)?;
    }
    for (shell, file) in [
        (Shell::Bash, "pve-zfs-snap.bash"),
        (Shell::Zsh, "_pve-zfs-snap"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "pve-zfs-snap", &mut buf);
        write(&out.join(file), &buf)?;
    }
    Ok(())
}

/// The man page: clap_mangen's sections, the `after_help` text (the exit codes) under
/// EXIT STATUS instead of clap_mangen's generic EXTRA, then FILES and SEE ALSO.
fn man_page() -> Result<Vec<u8>> {
    let cmd = Cli::command();
    let has_after_help = cmd.get_after_help().is_some() || cmd.get_after_long_help().is_some();
    let has_subcommands = cmd.get_subcommands().next().is_some();
    let man = clap_mangen::Man::new(cmd)
        .section("8")
        .manual("System Administration")
        .date(man_date()?)
        .source(format!("pve-zfs-snap {}", env!("CARGO_PKG_VERSION")));
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    if has_subcommands {
        man.render_subcommands_section(&mut page)?;
    }
    if has_after_help {
        let mut extra = Vec::new();
        man.render_extra_section(&mut extra)?;
        let extra = String::from_utf8(extra)?;
        // Each rendered section starts with roff's apostrophe preamble, then `.SH EXTRA`.
        if !extra.contains("\n.SH EXTRA\n") {
            bail!("clap_mangen's EXTRA section changed shape: {extra:?}");
        }
        let extra = extra.replacen("\n.SH EXTRA\n", "\n.SH \"EXIT STATUS\"\n", 1);
        page.write_all(extra.as_bytes())?;
    }
    page.write_all(FILES_AND_SEE_ALSO.as_bytes())?;
    man.render_version_section(&mut page)?;
    Ok(page)
}

/// The page's date: `SOURCE_DATE_EPOCH` (reproducible builds; build-deb.sh sets it to the last
/// commit's time), else today, as `YYYY-MM-DD` in UTC.
fn man_date() -> Result<String> {
    let when = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(secs) => {
            let secs: i64 = secs
                .trim()
                .parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH={secs:?} is not a number"))?;
            chrono::DateTime::from_timestamp(secs, 0)
                .with_context(|| format!("SOURCE_DATE_EPOCH={secs} is out of range"))?
        }
        Err(_) => chrono::Utc::now(),
    };
    Ok(when.format("%Y-%m-%d").to_string())
}

fn write(path: &Path, content: &[u8]) -> Result<()> {
    fs::write(path, content).with_context(|| format!("writing {}", path.display()))
}
