//! The `/etc/cron.d/pve-zfs-snap` file: the schedule type, rendering the file, reading back a
//! file we wrote, installing/removing it atomically under a root, and spotting the original Go
//! tool's lines in root's user crontab.
//!
//! `render`, `parse_installed`, `legacy_crontab_lines` and [`CronSchedule`] are pure. `install`
//! and `uninstall` are the only effects: they touch exactly one file under `<root>/etc/cron.d/`,
//! never spawn (no `crontab`), never log. Cron runs (`--cron`) must never call them.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone};

/// Path of our cron file relative to the root.
pub const CRON_FILE: &str = "etc/cron.d/pve-zfs-snap";

/// The `PATH` line of the cron file (cron's default is only `/usr/bin:/bin`).
pub const CRON_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The first words of the first line of every file [`render`] writes: how a file of ours is
/// told from one an admin wrote by hand (which is never replaced or removed).
pub const MARKER: &str = "# Written by pve-zfs-snap:";

/// The schedule used when none is given.
pub const DEFAULT_SCHEDULE: &str = "*/15 * * * *";

/// A validated five-field cron expression (minute hour day-of-month month day-of-week), kept
/// with single spaces between the fields.
#[derive(Clone)]
pub struct CronSchedule {
    expr: String,
    schedule: cron_parser::Schedule,
}

/// Why a schedule was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron schedule {expr:?}: {reason}")]
pub struct ScheduleError {
    /// The input.
    pub expr: String,
    /// Why.
    pub reason: String,
}

impl CronSchedule {
    /// Validates a five-field expression. Six/seven-field forms (seconds, year), `@hourly`
    /// style shortcuts and anything `cron-parser` rejects are refused with a message.
    pub fn parse(expr: &str) -> Result<Self, ScheduleError> {
        let err = |reason: String| ScheduleError {
            expr: expr.to_string(),
            reason,
        };
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.first().is_some_and(|f| f.starts_with('@')) {
            return Err(err(
                "'@' shortcuts are not supported; write the five fields \
                 (minute hour day-of-month month day-of-week)"
                    .into(),
            ));
        }
        if fields.len() != 5 {
            return Err(err(format!(
                "{} fields; /etc/cron.d needs exactly 5 (minute hour day-of-month month \
                 day-of-week), without seconds or year",
                fields.len()
            )));
        }
        let canonical = fields.join(" ");
        let schedule = cron_parser::Schedule::parse(&canonical).map_err(|e| err(e.to_string()))?;
        Ok(CronSchedule {
            expr: canonical,
            schedule,
        })
    }

    /// The expression as written into the cron file.
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The time between the next two firings after `now` (in `now`'s time zone, which should
    /// be the zone cron runs in). For irregular schedules this is the gap at hand, not the
    /// largest one. Falls back to 366 days when no two firings can be computed (not expected:
    /// impossible schedules are rejected by [`CronSchedule::parse`]).
    pub fn interval_hint<Tz: TimeZone>(&self, now: &DateTime<Tz>) -> Duration {
        const FALLBACK: Duration = Duration::from_secs(366 * 86_400);
        let Some(first) = self.schedule.next_after(now) else {
            return FALLBACK;
        };
        let Some(second) = self.schedule.next_after(&first) else {
            return FALLBACK;
        };
        (second - first).to_std().unwrap_or(FALLBACK)
    }
}

impl Default for CronSchedule {
    fn default() -> Self {
        CronSchedule::parse(DEFAULT_SCHEDULE).expect("the default schedule is valid")
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
    }
}

impl Eq for CronSchedule {}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronSchedule").field(&self.expr).finish()
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

impl std::str::FromStr for CronSchedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CronSchedule::parse(s)
    }
}

/// Why a cron file cannot be rendered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The binary path is relative or not UTF-8.
    #[error("the binary path {0:?} must be absolute and valid UTF-8")]
    Binary(PathBuf),
    /// An argument (or the binary path) contains a control character (a newline would break
    /// the cron line) or a backslash (cron implementations differ in how they unescape `\\`).
    #[error("{0:?} contains a control character or a backslash and cannot be put on a cron line")]
    Unsafe(String),
}

/// Renders the cron file: a header comment, the `PATH=` line, and
/// `<schedule> root <binary> --cron <args…>`, each word shell-quoted only when needed and `%`
/// escaped for cron.
pub fn render(
    schedule: &CronSchedule,
    binary: &Path,
    args: &[String],
) -> Result<String, RenderError> {
    let bin = binary
        .to_str()
        .filter(|_| binary.is_absolute())
        .ok_or_else(|| RenderError::Binary(binary.to_path_buf()))?;
    let mut words = vec![cron_word(bin)?, "--cron".to_string()];
    for arg in args {
        words.push(cron_word(arg)?);
    }
    Ok(format!(
        "{MARKER} snapshots of the guests running on this node.\n\
         # To change the schedule or the arguments, run pve-zfs-snap by hand (from a terminal)\n\
         # with the new ones; it rewrites this file. To remove it: pve-zfs-snap uninstall\n\
         {CRON_PATH}\n\
         {schedule} root {}\n",
        words.join(" ")
    ))
}

/// One word for the command part of a cron line: shell-quoted when needed; a `%` (which cron
/// turns into a newline) is written outside the single quotes as `\%`, which cron turns back
/// into `%` before the shell sees it (`50%` → `'50'\%`).
fn cron_word(word: &str) -> Result<String, RenderError> {
    if word.chars().any(|c| c.is_control() || c == '\\') {
        return Err(RenderError::Unsafe(word.to_string()));
    }
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@+=:,./-".contains(c));
    if safe {
        return Ok(word.to_string());
    }
    if !word.contains('%') {
        return Ok(single_quote(word));
    }
    Ok(word
        .split('%')
        .map(|seg| {
            if seg.is_empty() {
                String::new()
            } else {
                single_quote(seg)
            }
        })
        .collect::<Vec<_>>()
        .join("\\%"))
}

/// `'…'` with each `'` written as `'\''`.
fn single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Reads back a file written by [`render`]: its schedule and the arguments after `--cron`.
/// `None` when the file does not have exactly one command line of that shape.
pub fn parse_installed(content: &str) -> Option<(CronSchedule, Vec<String>)> {
    let mut lines = content
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("PATH="));
    let line = lines.next()?;
    if lines.next().is_some() {
        return None;
    }
    let mut rest = line;
    let mut fields = Vec::new();
    for _ in 0..6 {
        let (field, tail) = rest.split_once(char::is_whitespace)?;
        fields.push(field);
        rest = tail.trim_start();
    }
    let schedule = CronSchedule::parse(&fields[..5].join(" ")).ok()?;
    if fields[5] != "root" {
        return None;
    }
    let words = shell_words(&cron_unescape(rest)?)?;
    let mut it = words.into_iter();
    let _binary = it.next()?;
    if it.next()? != "--cron" {
        return None;
    }
    Some((schedule, it.collect()))
}

/// What cron does to a command before handing it to the shell (Vixie cron `do_command`):
/// `\` escapes the next character and `\%` collapses to `%` (some variants also collapse
/// `\\`; [`render`] never writes that, it refuses backslashes). `None` for an unescaped `%`
/// (cron would cut the command there; [`render`] never writes one).
fn cron_unescape(command: &str) -> Option<String> {
    let mut out = String::with_capacity(command.len());
    let mut escaped = false;
    for c in command.chars() {
        if escaped {
            if c == '%' {
                out.pop();
            }
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '%' {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

/// Splits what the shell gets into words, for the subset [`render`] writes: plain words,
/// single-quoted strings, backslash escapes, separated by spaces. `None` on anything else
/// (unterminated quote, `"`, `$`, redirections, ...).
fn shell_words(command: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        other => cur.push(other),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            c if c.is_ascii_alphanumeric() || "_@+=:,./-%".contains(c) => {
                in_word = true;
                cur.push(c);
            }
            _ => return None,
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

/// True when `content` is a file [`render`] wrote: its first line starts with [`MARKER`] and it
/// has exactly one command line of our shape ([`parse_installed`]). A file edited by hand
/// beyond that (a second line, a `MAILTO`, a redirection) is the admin's, not ours.
pub fn is_ours(content: &str) -> bool {
    content
        .lines()
        .next()
        .is_some_and(|l| l.starts_with(MARKER))
        && parse_installed(content).is_some()
}

/// What is at `<root>/etc/cron.d/pve-zfs-snap`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Installed {
    /// Nothing.
    Absent,
    /// A file of ours: its schedule and the arguments after `--cron`.
    Ours(CronSchedule, Vec<String>),
    /// Something we did not write (no marker, edited by hand, not UTF-8, not a regular file):
    /// never replaced, never removed.
    Foreign,
}

/// Reads `<root>/etc/cron.d/pve-zfs-snap` and tells whether it is ours.
pub fn read_installed(root: &Path) -> io::Result<Installed> {
    let path = root.join(CRON_FILE);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Installed::Absent),
        Err(e) => return Err(e),
        Ok(m) if !m.file_type().is_file() => return Ok(Installed::Foreign),
        Ok(_) => {}
    }
    Ok(match crate::fsutil::read_regular(&path)? {
        None => Installed::Absent,
        Some(f) => match std::str::from_utf8(&f.bytes) {
            Ok(text) if is_ours(text) => match parse_installed(text) {
                Some((schedule, args)) => Installed::Ours(schedule, args),
                None => Installed::Foreign,
            },
            _ => Installed::Foreign,
        },
    })
}

/// What [`install`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstallOutcome {
    /// A file we did not write is there ([`Installed::Foreign`]): it was left as it is.
    Foreign,
    /// The file did not exist.
    Created,
    /// The file existed with other content (or a wrong mode) and was replaced.
    Updated,
    /// The file already had this content and mode 0644; it was not touched.
    Unchanged,
}

/// Writes `<root>/etc/cron.d/pve-zfs-snap` atomically (temporary file in the same directory,
/// mode 0644, fsync, rename, directory fsync), only when content or mode differ, and only over
/// a file of ours ([`is_ours`]): a file the admin wrote is kept ([`InstallOutcome::Foreign`]).
/// The directory must exist (a missing `/etc/cron.d` means cron is not installed; it is not
/// created).
pub fn install(root: &Path, content: &str) -> io::Result<InstallOutcome> {
    let path = root.join(CRON_FILE);
    let dir = path.parent().expect("CRON_FILE has a parent");
    if !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} does not exist: is cron installed?", dir.display()),
        ));
    }
    if read_installed(root)? == Installed::Foreign {
        return Ok(InstallOutcome::Foreign);
    }
    // Only a regular file is read or replaced (a FIFO there must not hang the run).
    let outcome = match crate::fsutil::read_regular(&path)? {
        Some(existing) => {
            if existing.bytes == content.as_bytes() && existing.mode == 0o644 {
                return Ok(InstallOutcome::Unchanged);
            }
            InstallOutcome::Updated
        }
        None => InstallOutcome::Created,
    };
    // tempfile names start with '.', and cron ignores files with a dot in their name, so a
    // leftover temporary file is never run.
    crate::fsutil::replace_file(&path, content.as_bytes(), 0o644, ".pve-zfs-snap.")?;
    Ok(outcome)
}

/// What [`uninstall`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Our file was removed.
    Removed,
    /// There was no file.
    Absent,
    /// A file we did not write is there: it was kept.
    Foreign,
}

/// Removes `<root>/etc/cron.d/pve-zfs-snap` when it is ours ([`is_ours`]); a file the admin
/// wrote is never removed.
pub fn uninstall(root: &Path) -> io::Result<Removal> {
    match read_installed(root)? {
        Installed::Absent => return Ok(Removal::Absent),
        Installed::Foreign => return Ok(Removal::Foreign),
        Installed::Ours(..) => {}
    }
    match std::fs::remove_file(root.join(CRON_FILE)) {
        Ok(()) => Ok(Removal::Removed),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Removal::Absent),
        Err(e) => Err(e),
    }
}

/// Lines of `crontab -l` output (root's user crontab) that run `pve-zfs-snap`, i.e. a command
/// word whose file name is exactly `pve-zfs-snap` (the original Go tool's
/// `*/15 * * * * ./pve-zfs-snap f100 …`). Comments, blank lines and environment lines are
/// ignored. Lines are returned trimmed.
pub fn legacy_crontab_lines(crontab_l_output: &str) -> Vec<String> {
    crontab_l_output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| {
            l.split(|c: char| c.is_whitespace() || ";&|()`'\"".contains(c))
                .filter(|w| !w.contains('='))
                .any(|w| w.rsplit('/').next() == Some("pve-zfs-snap"))
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use std::os::unix::fs::PermissionsExt;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn render_golden() {
        let out = render(
            &CronSchedule::default(),
            Path::new("/usr/local/sbin/pve-zfs-snap"),
            &args(&["f100", "h24", "d7", "--timezone", "Europe/Berlin"]),
        )
        .unwrap();
        insta::assert_snapshot!(out);
    }

    #[test]
    fn render_quotes_only_when_needed() {
        let sched = CronSchedule::parse("0  *  * * 1-5").unwrap();
        let out = render(
            &sched,
            Path::new("/opt/my tools/pve-zfs-snap"),
            &args(&["f4", "it's", "", "50%", "a$b", "%%'%"]),
        )
        .unwrap();
        let last = out.lines().last().unwrap();
        assert_eq!(
            last,
            r"0 * * * 1-5 root '/opt/my tools/pve-zfs-snap' --cron f4 'it'\''s' '' '50'\% 'a$b' \%\%''\'''\%"
        );
        assert_eq!(
            parse_installed(&out),
            Some((sched, args(&["f4", "it's", "", "50%", "a$b", "%%'%"])))
        );
    }

    #[test]
    fn render_rejects_bad_input() {
        let s = CronSchedule::default();
        assert!(matches!(
            render(&s, Path::new("pve-zfs-snap"), &[]),
            Err(RenderError::Binary(_))
        ));
        assert!(matches!(
            render(
                &s,
                Path::new("/usr/sbin/pve-zfs-snap"),
                &args(&["f1\n* * * * * root rm"])
            ),
            Err(RenderError::Unsafe(_))
        ));
        assert!(matches!(
            render(&s, Path::new("/usr/sbin/pve-zfs-snap"), &args(&["a\\b"])),
            Err(RenderError::Unsafe(_))
        ));
    }

    #[test]
    fn bad_schedules_table() {
        let cases: &[(&str, &str)] = &[
            ("", "0 fields"),
            ("* * * *", "4 fields"),
            ("0 */15 * * * *", "6 fields"),
            ("0 0 12 * * ? 2026", "7 fields"),
            ("@hourly", "'@' shortcuts"),
            ("60 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("*/0 * * * *", "step"),
            ("0 0 30 2 *", "never"),
            ("a b c d e", "invalid"),
            ("5-1 * * * *", "reversed"),
        ];
        for (expr, want) in cases {
            let err = CronSchedule::parse(expr).unwrap_err();
            assert!(
                err.to_string().contains(want),
                "{expr:?}: {err} (want {want:?})"
            );
        }
        for ok in [
            "*/15 * * * *",
            "0 3 * * 0",
            "5,35 8-18 * * 1-5",
            "0 0 1 1 *",
        ] {
            assert_eq!(CronSchedule::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn interval_hint_table() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 10, 7, 30).unwrap();
        let cases: &[(&str, u64)] = &[
            ("*/15 * * * *", 15 * 60),
            ("* * * * *", 60),
            ("0 * * * *", 3600),
            ("30 2 * * *", 86_400),
            // 10:07 now: next 17:00, then 09:00 next day.
            ("0 9,17 * * *", 16 * 3600),
            ("0 0 * * 1", 7 * 86_400),
        ];
        for (expr, secs) in cases {
            let hint = CronSchedule::parse(expr).unwrap().interval_hint(&now);
            assert_eq!(hint, Duration::from_secs(*secs), "{expr}");
        }
    }

    fn cron_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/cron.d")).unwrap();
        dir
    }

    #[test]
    fn install_create_unchanged_update_uninstall() {
        let dir = cron_dir();
        let root = dir.path();
        let path = root.join(CRON_FILE);
        let bin = Path::new("/usr/local/sbin/pve-zfs-snap");
        let first = render(&CronSchedule::default(), bin, &args(&["f100", "h24"])).unwrap();

        assert_eq!(install(root, &first).unwrap(), InstallOutcome::Created);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o644);

        // Same content: untouched, mtime kept (set an old mtime to make a rewrite visible).
        let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(install(root, &first).unwrap(), InstallOutcome::Unchanged);
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), old);

        // Changed args: exactly the command line differs.
        let second = render(&CronSchedule::default(), bin, &args(&["f100", "h48"])).unwrap();
        assert_eq!(install(root, &second).unwrap(), InstallOutcome::Updated);
        let now = std::fs::read_to_string(&path).unwrap();
        assert_eq!(now, second);
        let diff: Vec<_> = first
            .lines()
            .zip(now.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(diff.len(), 1, "{diff:?}");
        assert_ne!(std::fs::metadata(&path).unwrap().modified().unwrap(), old);

        // A wrong mode is repaired even with equal content.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(install(root, &second).unwrap(), InstallOutcome::Updated);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o644);

        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(root.join("etc/cron.d"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["pve-zfs-snap"]);

        assert_eq!(uninstall(root).unwrap(), Removal::Removed);
        assert!(!path.exists());
        assert_eq!(uninstall(root).unwrap(), Removal::Absent);
    }

    /// A file the admin wrote (no marker, or ours edited beyond our shape) is never replaced
    /// nor removed; ours is.
    #[test]
    fn foreign_files_are_kept() {
        let bin = Path::new("/usr/local/sbin/pve-zfs-snap");
        let ours = render(&CronSchedule::default(), bin, &args(&["f4"])).unwrap();
        let foreign = [
            "*/5 * * * * root /usr/local/bin/pve-zfs-snap --cron f4\n".to_string(),
            format!("MAILTO=admin@example.org\n{ours}"),
            format!("{ours}0 3 * * * root /usr/local/bin/pve-zfs-snap --cron d7\n"),
            ours.replace("--cron f4", "--cron f4 >/dev/null 2>&1"),
        ];
        for text in &foreign {
            assert!(!is_ours(text), "{text}");
            let dir = cron_dir();
            let root = dir.path();
            let path = root.join(CRON_FILE);
            std::fs::write(&path, text).unwrap();
            assert_eq!(read_installed(root).unwrap(), Installed::Foreign);
            assert_eq!(install(root, &ours).unwrap(), InstallOutcome::Foreign);
            assert_eq!(&std::fs::read_to_string(&path).unwrap(), text);
            assert_eq!(uninstall(root).unwrap(), Removal::Foreign);
            assert_eq!(&std::fs::read_to_string(&path).unwrap(), text);
        }
        // Not UTF-8, a directory, a symlink: not ours either.
        let dir = cron_dir();
        let path = dir.path().join(CRON_FILE);
        std::fs::write(&path, b"\xff\xfe").unwrap();
        assert_eq!(install(dir.path(), &ours).unwrap(), InstallOutcome::Foreign);
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/dev/null", &path).unwrap();
        assert_eq!(uninstall(dir.path()).unwrap(), Removal::Foreign);
        assert!(path.symlink_metadata().is_ok());

        assert!(is_ours(&ours));
        let dir = cron_dir();
        std::fs::write(dir.path().join(CRON_FILE), &ours).unwrap();
        assert_eq!(
            read_installed(dir.path()).unwrap(),
            Installed::Ours(CronSchedule::default(), args(&["f4"]))
        );
    }

    #[test]
    fn install_without_cron_dir_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let err = install(dir.path(), "x\n").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("is cron installed"), "{err}");
        assert!(!dir.path().join(CRON_FILE).exists());
    }

    #[test]
    fn parse_installed_table() {
        let good = "# c\nPATH=/bin\n*/5 * * * * root /usr/sbin/pve-zfs-snap --cron f12 'a b'\n";
        assert_eq!(
            parse_installed(good),
            Some((
                CronSchedule::parse("*/5 * * * *").unwrap(),
                args(&["f12", "a b"])
            ))
        );
        let bad = [
            "",
            "# only comments\n",
            "*/5 * * * * nobody /usr/sbin/pve-zfs-snap --cron f12\n",
            "*/5 * * * * root /usr/sbin/pve-zfs-snap f12\n",
            "*/5 * * * root /usr/sbin/pve-zfs-snap --cron f12\n",
            "*/5 * * * * root /usr/sbin/pve-zfs-snap --cron 'f12\n",
            "*/5 * * * * root /usr/sbin/pve-zfs-snap --cron f12 > /dev/null 2>&1 %x\n",
            "*/5 * * * * root /x --cron a\n*/5 * * * * root /x --cron b\n",
        ];
        for text in bad {
            assert_eq!(parse_installed(text), None, "{text:?}");
        }
    }

    #[test]
    fn legacy_detection_table() {
        let crontab = "\
# DO NOT EDIT THIS FILE - edit the master and reinstall.
# m h  dom mon dow   command
#*/15 * * * * ./pve-zfs-snap f100
*/15 * * * * ./pve-zfs-snap f100 h48 d30
0 * * * * cd /root && /root/pve-zfs-snap/pve-zfs-snap f4 >/dev/null 2>&1
30 2 * * * /usr/local/bin/pve-zfs-snapshot-report
0 3 * * * /usr/sbin/vzdump --all
PATH=/root/pve-zfs-snap:/usr/bin
   */5 * * * * pve-zfs-snap f1;true
";
        assert_eq!(
            legacy_crontab_lines(crontab),
            [
                "*/15 * * * * ./pve-zfs-snap f100 h48 d30",
                "0 * * * * cd /root && /root/pve-zfs-snap/pve-zfs-snap f4 >/dev/null 2>&1",
                "*/5 * * * * pve-zfs-snap f1;true",
            ]
        );
        assert!(legacy_crontab_lines("").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn render_parse_roundtrip(a in proptest::collection::vec("[ -\\[\\]-~]{0,12}", 0..6)) {
            let sched = CronSchedule::default();
            let out = render(&sched, Path::new("/usr/local/sbin/pve-zfs-snap"), &a).unwrap();
            proptest::prop_assert_eq!(out.lines().count(), 5);
            proptest::prop_assert_eq!(parse_installed(&out), Some((sched, a)));
        }
    }
}
