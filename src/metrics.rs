//! `--metrics-file`: the snapshot run's own outcome as a Prometheus textfile (for
//! node_exporter's textfile collector): last run time, last success time, duration, success,
//! and what the run did. Rendering is pure ([`render`]); [`write`] and [`write_failed`] are the
//! edge: they read the previous file (so `last_success` survives failed runs) and replace the
//! file atomically (temporary file in the same directory, then rename).

use crate::monitor::gauge;
use crate::report::{Report, Totals};
use chrono::{DateTime, Utc};
use std::io;
use std::path::Path;
use std::time::Duration;

/// The metric that carries the last success time; read back from the previous file.
pub const LAST_SUCCESS: &str = "pve_zfs_snap_last_success_timestamp_seconds";

/// What one run amounts to, for the metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    /// When the run started, seconds since the epoch.
    pub now: i64,
    /// Everything was done (exit code 0).
    pub success: bool,
    /// What it did (all zero when it stopped before applying anything).
    pub totals: Totals,
}

/// The textfile. `last_success` is the previous file's value; replaced by `now` on success.
pub fn render(o: &RunOutcome, duration: Duration, last_success: Option<i64>) -> String {
    let mut out = String::new();
    let one = |v: String| vec![(String::new(), v)];
    let last_success = if o.success { Some(o.now) } else { last_success };
    gauge(
        &mut out,
        "pve_zfs_snap_last_run_timestamp_seconds",
        "When the last snapshot run started, seconds since the epoch.",
        &one(o.now.to_string()),
    );
    gauge(
        &mut out,
        LAST_SUCCESS,
        "When the last fully successful snapshot run started (0: never), seconds since the epoch.",
        &one(last_success.unwrap_or(0).to_string()),
    );
    gauge(
        &mut out,
        "pve_zfs_snap_last_run_success",
        "1 if the last snapshot run did everything, else 0.",
        &one(u8::from(o.success).to_string()),
    );
    gauge(
        &mut out,
        "pve_zfs_snap_last_run_duration_seconds",
        "How long the last snapshot run took.",
        &one(format!("{:.3}", duration.as_secs_f64())),
    );
    let t = &o.totals;
    gauge(
        &mut out,
        "pve_zfs_snap_last_run_snapshots",
        "Snapshots created and destroyed by the last run.",
        &[
            ("action=\"created\"".into(), t.snapshots_created.to_string()),
            (
                "action=\"destroyed\"".into(),
                t.snapshots_destroyed.to_string(),
            ),
        ],
    );
    gauge(
        &mut out,
        "pve_zfs_snap_last_run_bookmarks",
        "Bookmarks created and destroyed by the last run.",
        &[
            ("action=\"created\"".into(), t.bookmarks_created.to_string()),
            (
                "action=\"destroyed\"".into(),
                t.bookmarks_destroyed.to_string(),
            ),
        ],
    );
    gauge(
        &mut out,
        "pve_zfs_snap_last_run_replica_bookmarks",
        "Bookmarks created and destroyed by the last run on replicas (datasets of guests whose \
         config is on another node).",
        &[
            (
                "action=\"created\"".into(),
                t.replica_bookmarks_created.to_string(),
            ),
            (
                "action=\"destroyed\"".into(),
                t.replica_bookmarks_destroyed.to_string(),
            ),
        ],
    );
    gauge(
        &mut out,
        "pve_zfs_snap_last_run_stale_bookmarks_dropped",
        "Bookmarks of ours destroyed by the last run because a rollback (a replication with \
         recv -F after a failover, zfs rollback) had discarded their snapshots; included in the \
         bookmark counts above.",
        &one(t.stale_bookmarks_dropped.to_string()),
    );
    gauge(
        &mut out,
        "pve_zfs_snap_last_run_stale_bookmarks_pending",
        "Bookmarks of ours whose snapshots a rollback had discarded that the last run left in \
         place (label:nosnap, a guest lock forbidding destroys): a third site could still \
         resume from them.",
        &one(t.stale_bookmarks_pending.to_string()),
    );
    gauge(
        &mut out,
        "pve_zfs_snap_last_run_labels_set",
        "label:running changes made by the last run.",
        &one(t.labels_set.to_string()),
    );
    gauge(
        &mut out,
        "pve_zfs_snap_last_run_failures",
        "Items that failed in the last run (1 when the run failed as a whole).",
        &one(t.failed.to_string()),
    );
    let d = &t.disks;
    gauge(
        &mut out,
        "pve_zfs_snap_disks",
        "Disks of this node's guests by protection state after the last run (all 0 when it \
         failed before reading the guests: see pve_zfs_snap_last_run_success).",
        &[
            ("state=\"snapshotted\"".into(), d.snapshotted.to_string()),
            ("state=\"stopped\"".into(), d.stopped.to_string()),
            ("state=\"excluded\"".into(), d.excluded.to_string()),
            ("state=\"failed\"".into(), d.failed.to_string()),
        ],
    );
    gauge(
        &mut out,
        "pve_zfs_snap_unprotected_disks",
        "Disks that should have been protected by the last run and were not (alert when > 0).",
        &one(d.failed.to_string()),
    );
    gauge(
        &mut out,
        "pve_zfs_snap_future_snapshots",
        "Snapshots of ours dated after the last run's clock (a clock that was ahead).",
        &one(t.future_snapshots.to_string()),
    );
    out
}

/// The last success time in a previous file, if it holds a positive one.
pub fn previous_last_success(text: &str) -> Option<i64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(LAST_SUCCESS))
        .filter_map(|rest| rest.strip_prefix(' '))
        .find_map(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as i64)
        .filter(|v| *v > 0)
}

/// Writes the file for a run that produced a report.
pub fn write(path: &Path, report: &Report, duration: Duration) -> io::Result<()> {
    let outcome = RunOutcome {
        now: report.now.timestamp(),
        success: report.exit_code() == 0,
        totals: report.totals.clone(),
    };
    write_outcome(path, &outcome, duration)
}

/// Writes the file for a run that stopped before producing a report (host or ZFS unreadable).
pub fn write_failed(path: &Path, now: DateTime<Utc>, duration: Duration) -> io::Result<()> {
    let outcome = RunOutcome {
        now: now.timestamp(),
        success: false,
        totals: Totals {
            failed: 1,
            ..Totals::default()
        },
    };
    write_outcome(path, &outcome, duration)
}

/// Renders with the previous file's last success and replaces `path` atomically (mode 0644)
/// with [`crate::fsutil::replace_file`]: only a regular file, in a directory owned by the
/// effective uid and not group/other-writable; anything else (`/dev/null`, a FIFO, a symlink)
/// is refused with an error naming it, and left as it was.
pub fn write_outcome(path: &Path, o: &RunOutcome, duration: Duration) -> io::Result<()> {
    let previous = crate::fsutil::read_regular(path)?
        .and_then(|f| String::from_utf8(f.bytes).ok())
        .and_then(|t| previous_last_success(&t));
    let text = render(o, duration, previous);
    crate::fsutil::replace_file(path, text.as_bytes(), 0o644, ".pve-zfs-snap-metrics")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals() -> Totals {
        Totals {
            snapshots_created: 3,
            snapshots_destroyed: 2,
            snapshots_kept: 0,
            bookmarks_created: 1,
            bookmarks_destroyed: 0,
            replica_bookmarks_created: 4,
            replica_bookmarks_destroyed: 1,
            stale_bookmarks_dropped: 0,
            stale_bookmarks_pending: 0,
            labels_set: 1,
            failed: 0,
            disks: crate::verdict::Counts {
                snapshotted: 5,
                stopped: 2,
                excluded: 1,
                failed: 1,
            },
            future_snapshots: 0,
        }
    }

    #[test]
    fn golden_and_parses() {
        let o = RunOutcome {
            now: 1_800_000_000,
            success: true,
            totals: totals(),
        };
        let text = render(&o, Duration::from_millis(1234), Some(1_799_999_100));
        insta::assert_snapshot!(text);
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        assert_eq!(scrape.samples.len(), 20); // with the stale-bookmark gauges (issues 19, 21)
        let unprotected = scrape
            .samples
            .iter()
            .find(|s| s.metric == "pve_zfs_snap_unprotected_disks")
            .expect("the unprotected count is exported");
        assert_eq!(unprotected.value, prometheus_parse::Value::Gauge(1.0));
        crate::monitor::tests::assert_exposition_is_strict(&text);
        assert_eq!(previous_last_success(&text), Some(1_800_000_000));
    }

    #[test]
    fn last_success_survives_failed_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pve-zfs-snap.prom");
        let ok = RunOutcome {
            now: 1000,
            success: true,
            totals: totals(),
        };
        write_outcome(&path, &ok, Duration::from_secs(1)).unwrap();
        let failed = RunOutcome {
            now: 2000,
            success: false,
            totals: Totals {
                failed: 2,
                ..Totals::default()
            },
        };
        write_outcome(&path, &failed, Duration::from_secs(1)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(previous_last_success(&text), Some(1000), "{text}");
        assert!(text.contains("\npve_zfs_snap_last_run_timestamp_seconds 2000\n"));
        assert!(text.contains("\npve_zfs_snap_last_run_success 0\n"));
        assert!(text.contains("\npve_zfs_snap_last_run_failures 2\n"));
        write_failed(
            &path,
            DateTime::from_timestamp(3000, 0).unwrap(),
            Duration::ZERO,
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(previous_last_success(&text), Some(1000));
        // Never succeeded: 0; no temporary files left behind.
        let fresh = dir.path().join("fresh.prom");
        write_outcome(&fresh, &failed, Duration::ZERO).unwrap();
        assert!(
            std::fs::read_to_string(&fresh)
                .unwrap()
                .contains(&format!("\n{LAST_SUCCESS} 0\n"))
        );
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    /// The bug: `--metrics-file /dev/null` was renamed over (a FIFO stands in for the device:
    /// reading it first must not block either). Refused, named, left as it was.
    #[test]
    fn a_path_that_is_not_a_regular_file_is_refused_and_left_alone() {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("null");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
        let link = dir.path().join("link.prom");
        std::os::unix::fs::symlink(dir.path().join("elsewhere.prom"), &link).unwrap();
        let o = RunOutcome {
            now: 1000,
            success: true,
            totals: totals(),
        };
        for (p, kind) in [(&fifo, "a FIFO"), (&link, "a symlink")] {
            let ino = std::fs::symlink_metadata(p).unwrap().ino();
            let e = write_outcome(p, &o, Duration::ZERO)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&p.display().to_string()) && e.contains(kind),
                "{e}"
            );
            let m = std::fs::symlink_metadata(p).unwrap();
            assert_eq!(m.ino(), ino);
            assert!(m.file_type().is_fifo() || m.file_type().is_symlink());
        }
        assert!(!dir.path().join("elsewhere.prom").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn previous_last_success_table() {
        for (text, want) in [
            ("", None),
            ("pve_zfs_snap_last_success_timestamp_seconds 12\n", Some(12)),
            ("pve_zfs_snap_last_success_timestamp_seconds 0\n", None),
            ("pve_zfs_snap_last_success_timestamp_seconds_x 12\n", None),
            (
                "pve_zfs_snap_last_success_timestamp_seconds 1.2e3\n",
                Some(1200),
            ),
            ("garbage", None),
        ] {
            assert_eq!(previous_last_success(text), want, "{text:?}");
        }
    }
}
