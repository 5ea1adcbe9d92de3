//! What a simulation shows: the readable report (scenario, end state per disk, peaks,
//! programs and txgs, timeline) and the `--csv` text. Text only: writing and printing are
//! the caller's.

use std::fmt::Write as _;

use super::runs::Outcome;
use super::world::KindCounts;
use super::{DISKS_PER_GUEST, FIRST_VMID, NODE, POOL, Scenario};
use crate::duration::{self, Style};
use crate::naming::Class;
use crate::policy::Policy;

fn dur_text(secs: i64) -> String {
    duration::format(secs, Style::Exact)
}

fn human_age(secs: i64) -> String {
    duration::format(secs, Style::Age)
}

/// What each class of the policy keeps, as the policy counts (`f100 h24 d7`): a snapshot
/// counts in every managed class up to its own (an hourly-or-longer one is also one of the
/// frequent ones; `_stopped` counts as the shortest managed class), and a class keeps at most
/// its count. What the user asked for, next to [`counts_text`] (how the names read).
pub fn kept_per_class(c: &KindCounts, policy: &Policy) -> String {
    let keep = policy.keep();
    let lowest = keep.lowest_managed();
    let rank_or_longer = |class: Class| -> u64 {
        let named: u64 = Class::ALL[class.index()..]
            .iter()
            .filter(|k| keep.get(**k).is_some())
            .map(|k| c[k.index()])
            .sum();
        named + if Some(class) == lowest { c[6] } else { 0 }
    };
    keep.managed()
        .map(|(class, n)| {
            format!(
                "{}{}",
                class.letter(),
                rank_or_longer(class).min(u64::from(n))
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `f75 h24 d7 stopped1`: how the names read, the non-zero counts (managed classes always
/// shown).
fn counts_text(c: &KindCounts, policy: &Policy) -> String {
    let mut parts = Vec::new();
    for class in Class::ALL {
        let n = c[class.index()];
        if n > 0 || policy.keep().get(class).is_some() {
            parts.push(format!("{}{n}", class.letter()));
        }
    }
    if c[6] > 0 {
        parts.push(format!("stopped{}", c[6]));
    }
    parts.join(" ")
}

/// The readable report: scenario, end state per disk, peaks, programs and txgs, timeline.
pub fn render(sc: &Scenario, o: &Outcome, wall: std::time::Duration) -> String {
    let mut s = String::new();
    scenario_lines(&mut s, sc, o);
    end_state_lines(&mut s, sc, o);
    totals_lines(&mut s, o, wall);
    timeline_lines(&mut s, sc, o);
    s
}

/// What was simulated: runs, interval, span, policy, zone; the host and its stop windows.
fn scenario_lines(s: &mut String, sc: &Scenario, o: &Outcome) {
    let v = &sc.validated;
    // Only what happens within the simulated span is announced.
    let span = o.end - sc.start;
    let stops: Vec<String> = sc
        .stops
        .iter()
        .filter(|w| w.from <= span)
        .map(|w| {
            let ends = w.from + w.length;
            format!(
                "from {} after the start for {}{}",
                dur_text(w.from.num_seconds()),
                dur_text(w.length.num_seconds()),
                if ends > span { " (until the end)" } else { "" }
            )
        })
        .collect();
    let outside = sc.stops.len() - stops.len();
    let _ = writeln!(
        s,
        "simulated {} runs every {} from {} to {} ({}), policy {}, bookmarks {}, zone {}",
        o.runs,
        dur_text(sc.every.num_seconds()),
        sc.start.format("%Y-%m-%d %H:%M"),
        o.end.format("%Y-%m-%d %H:%M"),
        human_age((o.end - sc.start).num_seconds()),
        v.policy,
        match v.bookmarks.counts() {
            None => "off".to_string(),
            Some(c) if c.managed().next().is_none() => "none".into(),
            Some(c) => c.to_string(),
        },
        v.zone,
    );
    let _ = writeln!(
        s,
        "host: node {NODE}, {} guest(s) × {DISKS_PER_GUEST} zvols on {POOL}; guest {} stopped {}",
        sc.guests,
        FIRST_VMID + sc.guests - 1,
        if stops.is_empty() {
            "never".to_string()
        } else {
            stops.join(", ")
        }
    );
    if outside > 0 {
        let _ = writeln!(
            s,
            "  ({outside} --stop-at window(s) start after the simulated span: not simulated; \
             --days longer, or --stop-at within it)"
        );
    }
    if v.rules.file.is_some() {
        let host = super::world::host(sc.guests);
        let d = v.rules.decide_host(&host, &v.pools);
        s.push_str("policy file (per guest):\n");
        for (vmid, line) in &d.guests {
            let _ = writeln!(s, "  VM {vmid}: {line}");
        }
    }
}

/// Per disk at the end: snapshots per class, bookmarks, the oldest point to roll back to.
fn end_state_lines(s: &mut String, sc: &Scenario, o: &Outcome) {
    let end = o.end.timestamp();
    s.push_str(
        "\nat the end, per disk: kept = what each class of the policy keeps (a snapshot counts in \
         every class up to its own: an hourly one is also one of the frequent ones); names = how \
         the names of those snapshots read (each run names its one snapshot after the longest \
         class due); oldest = the oldest point to roll back to\n",
    );
    for d in &o.disks {
        let oldest = d.oldest.as_ref().map_or("none".to_string(), |(n, c)| {
            format!("{n} ({} ago)", human_age(end - c))
        });
        let bm = d.bookmarks.iter().sum::<u64>();
        let policy = &sc.validated.policy;
        let _ = writeln!(
            s,
            "  {:<26} kept {:<22} names {:<22} bookmarks {:<4} oldest {oldest}",
            d.dataset.as_str(),
            kept_per_class(&d.snapshots, policy),
            counts_text(&d.snapshots, policy),
            bm,
        );
    }
}

/// Peaks, totals, programs and txgs, failures, and the wall time.
fn totals_lines(s: &mut String, o: &Outcome, wall: std::time::Duration) {
    let _ = writeln!(
        s,
        "\npeak: {} snapshots on the pool ({}), {} bookmarks ({}), {} snapshots on one disk",
        o.peak_snapshots.0,
        o.peak_snapshots.1.format("%Y-%m-%d %H:%M"),
        o.peak_bookmarks.0,
        o.peak_bookmarks.1.format("%Y-%m-%d %H:%M"),
        o.peak_per_disk,
    );
    let _ = writeln!(
        s,
        "totals: {} snapshots created, {} destroyed; {} bookmarks created, {} destroyed; {} failed item(s)",
        o.created, o.destroyed, o.bookmarks_created, o.bookmarks_destroyed, o.failed
    );
    let _ = writeln!(
        s,
        "programs: {} channel programs ({} commands) for {} runs; the snapshots of {} runs used {} transaction group(s); \
         those left at the end come from {} runs in {} txg(s)",
        o.programs,
        o.commands,
        o.runs,
        o.runs_with_snapshots,
        o.snapshot_txgs,
        o.end_runs,
        o.end_txgs
    );
    for f in &o.failures {
        let _ = writeln!(s, "  failed: {f}");
    }
    let secs = wall.as_secs_f64();
    let _ = writeln!(
        s,
        "wall time {:.2}s ({:.0} runs/s)",
        secs,
        o.runs as f64 / secs.max(1e-9)
    );
}

/// The timeline: per row, the first and last guest's first disk and the pool's totals.
fn timeline_lines(s: &mut String, sc: &Scenario, o: &Outcome) {
    let policy = &sc.validated.policy;
    let _ = writeln!(
        s,
        "\ntimeline (end of every {} day(s) and of days a guest stopped or started; guests \
         running of {}; kept per class of the policy on vm-{}-disk-0{}; pool totals):",
        sc.timeline_every,
        sc.guests,
        FIRST_VMID,
        if sc.guests > 1 {
            format!(" | vm-{}-disk-0", FIRST_VMID + sc.guests - 1)
        } else {
            String::new()
        }
    );
    for r in &o.timeline {
        let oldest = r
            .first
            .oldest
            .as_ref()
            .map_or("-".to_string(), |(_, c)| human_age(r.at.timestamp() - c));
        let other = r.last.as_ref().map_or(String::new(), |l| {
            format!(" | {:<22}", kept_per_class(&l.snapshots, policy))
        });
        let _ = writeln!(
            s,
            "  day {:>4} {} {}/{} running: {:<22}{other} | {:>4} snaps {:>4} bms, oldest {oldest}",
            r.day,
            r.at.format("%Y-%m-%d"),
            r.running,
            sc.guests,
            kept_per_class(&r.first.snapshots, policy),
            r.pool_snapshots,
            r.pool_bookmarks,
        );
    }
}

/// The `--csv` text: a header and one row per run.
pub fn csv(o: &Outcome) -> String {
    let mut s = String::from(
        "time,running_guests,created,destroyed,bookmarks_created,bookmarks_destroyed,failed,txg,\
         frequently,hourly,daily,weekly,monthly,yearly,stopped,snapshots,bookmarks\n",
    );
    for r in &o.rows {
        let k = &r.pool_snapshots;
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.at.to_rfc3339(),
            r.running,
            r.created,
            r.destroyed,
            r.bookmarks_created,
            r.bookmarks_destroyed,
            r.failed,
            r.txg.map_or(String::new(), |t| t.to_string()),
            k[0],
            k[1],
            k[2],
            k[3],
            k[4],
            k[5],
            k[6],
            k.iter().sum::<u64>(),
            r.pool_bookmarks,
        );
    }
    s
}
