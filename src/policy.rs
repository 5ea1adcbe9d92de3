//! Retention policy: keys like `f100 h24 d7`, classes and their ranks, due and keep decisions.
//!
//! Pure: no I/O, no clock (now is a parameter), no logging.
//!
//! Decisions documented here (the plan relies on them):
//! * A class not given is **unmanaged**: never created, never destroyed, and invisible to the
//!   due and keep counting. A class with count 0 is managed but never created (`m0` removes
//!   all our monthlies, except the dataset's newest snapshot of ours).
//! * A policy whose counts are all 0 (`f0`, `h0 d0`) is rejected: it would only destroy,
//!   and a typo (`f0` for `f90`) must not wipe a pool. Bookmark policies may be all 0.
//! * Letters are lowercase only; counts are plain ASCII digits (`f+1`, `F5`, `f1.5` are
//!   rejected), at most `u32::MAX`.
//! * `_stopped` snapshots count as the lowest managed class, for due and for keep.
//! * Buckets are taken in the configured zone from the real instant (`creation`), never from
//!   the name: an hour bucket is one real hour (the repeated fall-back hour is two buckets,
//!   keyed by wall-clock hour *and* UTC offset), a day is one bucket whether it has 23, 24 or
//!   25 hours, weeks are ISO weeks.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, Timelike, Utc};

use crate::naming::{Class, SnapKind};

/// Why a policy (snapshot or bookmark) was rejected; `Display` is the one-line CLI message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// No keys at all.
    #[error("empty retention policy: give keys like f96 h48 d30")]
    Empty,
    /// No keys after `--bookmarks`.
    #[error("empty bookmark policy: give keys like h48 d14, or use --no-bookmarks")]
    EmptyBookmarks,
    /// Not `<letter><count>` at all (empty, starts with a digit or a space, ...).
    #[error(
        "invalid key '{0}': expected a class letter (f h d w m y) followed by a count, like h24"
    )]
    Malformed(String),
    /// A letter that is not a class.
    #[error("invalid key '{arg}': unknown class letter '{letter}' (use f h d w m y, lowercase)")]
    UnknownClass {
        /// The argument.
        arg: String,
        /// The letter.
        letter: char,
    },
    /// A letter without a count.
    #[error("invalid key '{0}': missing count after the class letter, like h24")]
    MissingCount(String),
    /// The count is not a non-negative whole number in plain digits.
    #[error("invalid key '{0}': the count must be a non-negative whole number")]
    BadCount(String),
    /// The count does not fit `u32`.
    #[error("invalid key '{0}': count too large (at most 4294967295)")]
    CountTooLarge(String),
    /// The same class twice.
    #[error("duplicate key '{arg}': class {class} is already given")]
    Duplicate {
        /// The second argument naming the class.
        arg: String,
        /// The class.
        class: Class,
    },
    /// Every count is 0: nothing would be created, only destroyed.
    #[error(
        "retention policy '{0}' keeps nothing and creates nothing; give at least one class a count above 0"
    )]
    AllZero(String),
    /// `f` in a bookmark policy.
    #[error("invalid bookmark key '{0}': frequent snapshots get no bookmarks (use h d w m y)")]
    BookmarkFrequent(String),
}

/// Keep counts per class; `None` = unmanaged. Validated: at least one class managed.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Counts([Option<u32>; 6]);

impl Counts {
    /// The count of `class`, `None` when unmanaged.
    pub fn get(&self, class: Class) -> Option<u32> {
        self.0[class.index()]
    }

    /// Managed classes and their counts, shortest first.
    pub fn managed(&self) -> impl Iterator<Item = (Class, u32)> + '_ {
        Class::ALL
            .into_iter()
            .filter_map(|c| self.get(c).map(|n| (c, n)))
    }

    /// The shortest managed class (what `_stopped` snapshots count as).
    pub fn lowest_managed(&self) -> Option<Class> {
        self.managed().next().map(|(c, _)| c)
    }

    /// The class a snapshot of `kind` counts as, `None` when it is of an unmanaged class
    /// (then it is never destroyed and never counted).
    pub fn effective_class(&self, kind: SnapKind) -> Option<Class> {
        match kind {
            SnapKind::Periodic(c) => self.get(c).map(|_| c),
            SnapKind::Stopped => self.lowest_managed(),
        }
    }

    fn parse(args: &[String], bookmarks: bool) -> Result<Counts, PolicyError> {
        let mut counts = Counts::default();
        for arg in args {
            let mut chars = arg.chars();
            let first = chars
                .next()
                .ok_or_else(|| PolicyError::Malformed(arg.clone()))?;
            let class = match Class::from_letter(first) {
                Some(c) => c,
                None if first.is_alphabetic() => {
                    return Err(PolicyError::UnknownClass {
                        arg: arg.clone(),
                        letter: first,
                    });
                }
                None => return Err(PolicyError::Malformed(arg.clone())),
            };
            let digits = chars.as_str();
            if digits.is_empty() {
                return Err(PolicyError::MissingCount(arg.clone()));
            }
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PolicyError::BadCount(arg.clone()));
            }
            let n: u32 = digits
                .parse()
                .map_err(|_| PolicyError::CountTooLarge(arg.clone()))?;
            if bookmarks && class == Class::Frequently {
                return Err(PolicyError::BookmarkFrequent(arg.clone()));
            }
            if counts.get(class).is_some() {
                return Err(PolicyError::Duplicate {
                    arg: arg.clone(),
                    class,
                });
            }
            counts.0[class.index()] = Some(n);
        }
        Ok(counts)
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for (c, n) in self.managed() {
            write!(f, "{sep}{}{n}", c.letter())?;
            sep = " ";
        }
        Ok(())
    }
}

impl serde::Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The validated snapshot retention policy of a run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Policy {
    keep: Counts,
}

impl Policy {
    /// Parses the positional keys (`f96 h48 d30`). Rejects empty, malformed, duplicate and
    /// all-zero policies (see [`PolicyError`]).
    pub fn parse(args: &[String]) -> Result<Policy, PolicyError> {
        if args.is_empty() {
            return Err(PolicyError::Empty);
        }
        let keep = Counts::parse(args, false)?;
        if keep.managed().all(|(_, n)| n == 0) {
            return Err(PolicyError::AllZero(keep.to_string()));
        }
        Ok(Policy { keep })
    }

    /// The keep counts.
    pub fn keep(&self) -> &Counts {
        &self.keep
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.keep.fmt(f)
    }
}

/// The bookmark retention policy: disabled (`--no-bookmarks`: never create nor destroy), or
/// counts for hourly and longer classes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookmarkPolicy {
    /// Neither create nor destroy bookmarks.
    Disabled,
    /// Keep counts (never `Frequently`; may be all zero).
    Keep(Counts),
}

impl BookmarkPolicy {
    /// The default: the snapshot counts doubled, for hourly and longer classes.
    pub fn default_for(policy: &Policy) -> BookmarkPolicy {
        let mut c = Counts::default();
        for (class, n) in policy.keep().managed() {
            if class > Class::Frequently {
                c.0[class.index()] = Some(n.saturating_mul(2));
            }
        }
        BookmarkPolicy::Keep(c)
    }

    /// Parses `--bookmarks` keys (same syntax as the policy; `f` is rejected).
    pub fn parse(args: &[String]) -> Result<BookmarkPolicy, PolicyError> {
        if args.is_empty() {
            return Err(PolicyError::EmptyBookmarks);
        }
        Counts::parse(args, true).map(BookmarkPolicy::Keep)
    }

    /// The counts, `None` when disabled.
    pub fn counts(&self) -> Option<&Counts> {
        match self {
            BookmarkPolicy::Disabled => None,
            BookmarkPolicy::Keep(c) => Some(c),
        }
    }

    /// Whether a new snapshot of `class` gets a bookmark: hourly or longer, the bookmark's class
    /// is managed (so it will be rotated) and some class it counts for keeps at least one.
    pub fn creates_for(&self, class: Class) -> bool {
        let Some(c) = self.counts() else {
            return false;
        };
        class >= Class::Hourly
            && c.get(class).is_some()
            && c.managed().any(|(k, n)| k <= class && n > 0)
    }
}

/// The zone names and buckets are computed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    /// UTC (the default).
    Utc,
    /// A named zone (`--timezone local` resolved by the caller, or an IANA name).
    Tz(chrono_tz::Tz),
}

/// Why a `--timezone` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// Neither `utc`, `local` nor an IANA zone name.
    #[error("unknown time zone '{0}': use utc, local or an IANA name like Europe/Berlin")]
    Unknown(String),
    /// `local` given but the caller could not resolve the system zone.
    #[error("cannot determine the local time zone: {0}")]
    NoLocal(String),
}

/// A zone's view of one instant.
struct Wall {
    naive: NaiveDateTime,
    offset: i32,
}

impl Zone {
    /// Parses a `--timezone` value: `utc`/`UTC`, `local` (resolved through `resolve_local`,
    /// which the caller implements with `TZ`/`/etc/localtime`), or an IANA name.
    pub fn parse(
        name: &str,
        resolve_local: impl FnOnce() -> Result<chrono_tz::Tz, String>,
    ) -> Result<Zone, ZoneError> {
        if name.eq_ignore_ascii_case("utc") {
            return Ok(Zone::Utc);
        }
        if name == "local" {
            return resolve_local().map(Zone::Tz).map_err(ZoneError::NoLocal);
        }
        name.parse::<chrono_tz::Tz>()
            .map(Zone::Tz)
            .map_err(|_| ZoneError::Unknown(name.to_string()))
    }

    /// Wall-clock time of `t` in this zone (what goes into snapshot names).
    pub fn wall_clock(&self, t: DateTime<Utc>) -> NaiveDateTime {
        self.wall(t).naive
    }

    fn wall(&self, t: DateTime<Utc>) -> Wall {
        match self {
            Zone::Utc => Wall {
                naive: t.naive_utc(),
                offset: 0,
            },
            Zone::Tz(tz) => {
                let l = t.with_timezone(tz);
                Wall {
                    naive: l.naive_local(),
                    offset: l.offset().fix().local_minus_utc(),
                }
            }
        }
    }

    /// The zone's abbreviation at `t` (`UTC`, `CET`, `CEST`): for labels only.
    fn abbrev(&self, t: DateTime<Utc>) -> String {
        match self {
            Zone::Utc => "UTC".into(),
            Zone::Tz(tz) => t.with_timezone(tz).format("%Z").to_string(),
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Utc => f.write_str("UTC"),
            Zone::Tz(tz) => f.write_str(tz.name()),
        }
    }
}

impl serde::Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum BucketKey {
    /// Wall-clock hour start and UTC offset: the repeated fall-back hour is two buckets.
    Hour(NaiveDateTime, i32),
    Day(NaiveDate),
    Week(i32, u32),
    Month(i32, u32),
    Year(i32),
}

impl BucketKey {
    /// The key of [`Bucket::of`], without its label.
    fn of(zone: &Zone, class: Class, t: DateTime<Utc>) -> Option<BucketKey> {
        let w = zone.wall(t);
        let d = w.naive.date();
        Some(match class {
            Class::Frequently => return None,
            Class::Hourly => BucketKey::Hour(d.and_hms_opt(w.naive.hour(), 0, 0)?, w.offset),
            Class::Daily => BucketKey::Day(d),
            Class::Weekly => {
                let iw = d.iso_week();
                BucketKey::Week(iw.year(), iw.week())
            }
            Class::Monthly => BucketKey::Month(d.year(), d.month()),
            Class::Yearly => BucketKey::Year(d.year()),
        })
    }
}

/// The calendar bucket of a class that an instant falls in (not for `Frequently`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    key: BucketKey,
    label: String,
}

impl Bucket {
    /// The bucket of `class` containing `t` in `zone`; `None` for `Frequently`.
    pub fn of(zone: &Zone, class: Class, t: DateTime<Utc>) -> Option<Bucket> {
        let key = BucketKey::of(zone, class, t)?;
        let label = match &key {
            BucketKey::Hour(start, _) => {
                format!("hour {} {}", start.format("%Y-%m-%d %H:00"), zone.abbrev(t))
            }
            BucketKey::Day(d) => format!("day {d} {zone}"),
            BucketKey::Week(y, w) => format!("ISO week {y}-W{w:02} {zone}"),
            BucketKey::Month(y, m) => format!("month {y}-{m:02} {zone}"),
            BucketKey::Year(y) => format!("year {y} {zone}"),
        };
        Some(Bucket { key, label })
    }

    /// Whether two buckets are the same (labels are descriptive only; tests).
    #[cfg(test)]
    pub(crate) fn same(&self, other: &Bucket) -> bool {
        self.key == other.key
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

/// One existing snapshot (or bookmark) of ours, as the decisions need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Periodic class or stopped marker, from the name.
    pub kind: SnapKind,
    /// Order: higher is newer.
    pub createtxg: u64,
    /// Creation, seconds since the epoch: the bucket it falls in.
    pub creation: i64,
}

/// Why a class is due.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DueWhy {
    /// `Frequently`: every run (unless this instant already has one).
    EveryRun,
    /// No snapshot of that rank or higher in the bucket (its label).
    NoneInBucket {
        /// e.g. `hour 2026-11-21 14:00 UTC`.
        bucket: String,
    },
}

/// The class the run's one snapshot of a dataset is named after, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    /// The longest due class.
    pub class: Class,
    /// Why it is due.
    pub why: DueWhy,
}

/// How far after the run's clock a snapshot's `creation` may be and still be "this instant"
/// (the sync of the txg that made it, a rerun at the same `--now`); later is a clock that was
/// ahead.
pub const SAME_INSTANT_SECS: i64 = 60;

/// The longest due class for a dataset with our snapshots `existing` at `now`, or `None`.
///
/// Only classes with a count above 0 are ever due. A longer class is due when no snapshot of
/// effective rank ≥ it was created in the current bucket. `Frequently` is due unless a snapshot
/// of ours (managed) was created at or after `now` — i.e. this run already happened (a second
/// run with the same `now` plans nothing).
pub fn due(keep: &Counts, zone: &Zone, now: DateTime<Utc>, existing: &[Entry]) -> Option<Due> {
    let counted: Vec<(Class, i64)> = existing
        .iter()
        .filter_map(|e| keep.effective_class(e.kind).map(|c| (c, e.creation)))
        .collect();
    for class in Class::ALL.into_iter().rev() {
        if class == Class::Frequently || keep.get(class).unwrap_or(0) == 0 {
            continue;
        }
        let Some(current) = BucketKey::of(zone, class, now) else {
            continue;
        };
        // Keys only: the labels of the existing entries' buckets are never shown, and the
        // current one's only when due. Newest first (callers pass them oldest first): a
        // covering snapshot is usually among the last few.
        let covered = counted.iter().rev().any(|&(c, creation)| {
            c >= class
                && DateTime::from_timestamp(creation, 0)
                    .and_then(|t| BucketKey::of(zone, class, t))
                    .is_some_and(|k| k == current)
        });
        if !covered {
            let bucket = Bucket::of(zone, class, now).expect("its key was made above");
            return Some(Due {
                class,
                why: DueWhy::NoneInBucket {
                    bucket: bucket.to_string(),
                },
            });
        }
    }
    let f_wanted = keep.get(Class::Frequently).is_some_and(|n| n > 0);
    // This run's instant: from `now` to a few seconds after (a rerun at the same instant; the
    // txg that made a snapshot syncs a moment after the clock was read), never "at or after":
    // a snapshot dated further in the future by a clock that was once ahead must not stop
    // frequent snapshots until real time catches up (issue 16 item 4).
    let t = now.timestamp();
    let this_instant = counted
        .iter()
        .any(|&(_, creation)| (t..=t + SAME_INSTANT_SECS).contains(&creation));
    (f_wanted && !this_instant).then_some(Due {
        class: Class::Frequently,
        why: DueWhy::EveryRun,
    })
}

/// The retention decision for one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Of an unmanaged class: never destroyed, not counted.
    Unmanaged,
    /// Kept: `position`-th newest (1-based) of rank ≥ `class`, within that class's count.
    Keep {
        /// The longest class keeping it.
        class: Class,
        /// 1-based position among entries of rank ≥ `class`.
        position: usize,
    },
    /// Kept by no class, but the newest entry of ours: never destroyed.
    Newest,
    /// To be destroyed: `position`-th newest of rank ≥ its own (effective) `class`, which keeps
    /// `keep`.
    Expire {
        /// Its effective class.
        class: Class,
        /// 1-based position among entries of rank ≥ `class`.
        position: usize,
        /// That class's count.
        keep: u32,
    },
}

/// Retention over all our entries of one dataset (unmanaged ones included: they can be the
/// newest). Returns one verdict per entry, in input order. Order is by `createtxg`; on equal
/// txg the later entry in `entries` counts as newer.
pub fn retain(keep: &Counts, entries: &[Entry]) -> Vec<Verdict> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| {
        entries[b]
            .createtxg
            .cmp(&entries[a].createtxg)
            .then(b.cmp(&a))
    });
    // One pass, newest first: `pos[k]` counts the entries so far of effective rank ≥ class
    // `k`. An entry of class `c` takes the next position in every class up to its own; the
    // longest class whose count it is within keeps it (and is reported).
    let mut pos = [0usize; Class::ALL.len()];
    let newest = order.first().copied();
    let mut verdicts = vec![Verdict::Unmanaged; entries.len()];
    for &i in &order {
        let Some(own) = keep.effective_class(entries[i].kind) else {
            continue;
        };
        let mut kept = None;
        let mut own_pos = 0;
        for class in &Class::ALL[..=own.index()] {
            let p = &mut pos[class.index()];
            *p += 1;
            if *class == own {
                own_pos = *p;
            }
            if keep.get(*class).is_some_and(|n| *p <= n as usize) {
                kept = Some((*class, *p));
            }
        }
        verdicts[i] = match kept {
            Some((class, position)) => Verdict::Keep { class, position },
            None if Some(i) == newest => Verdict::Newest,
            None => Verdict::Expire {
                class: own,
                position: own_pos,
                keep: keep.get(own).unwrap_or(0),
            },
        };
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn args(s: &str) -> Vec<String> {
        s.split(' ')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn policy_parse_ok() {
        let p = Policy::parse(&args("d7 f96 h24")).unwrap();
        assert_eq!(p.to_string(), "f96 h24 d7");
        assert_eq!(p.keep().get(Class::Weekly), None);
        assert_eq!(p.keep().lowest_managed(), Some(Class::Frequently));
        let p = Policy::parse(&args("h24 m0 f007")).unwrap();
        assert_eq!(p.keep().get(Class::Monthly), Some(0));
        assert_eq!(p.keep().get(Class::Frequently), Some(7));
        assert_eq!(
            Policy::parse(&args("y4294967295"))
                .unwrap()
                .keep()
                .get(Class::Yearly),
            Some(u32::MAX)
        );
    }

    #[test]
    fn policy_parse_errors_table() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "empty retention policy: give keys like f96 h48 d30"),
            (
                &["x5"],
                "invalid key 'x5': unknown class letter 'x' (use f h d w m y, lowercase)",
            ),
            (
                &["F5"],
                "invalid key 'F5': unknown class letter 'F' (use f h d w m y, lowercase)",
            ),
            (
                &["f"],
                "invalid key 'f': missing count after the class letter, like h24",
            ),
            (
                &["f-1"],
                "invalid key 'f-1': the count must be a non-negative whole number",
            ),
            (
                &["f1.5"],
                "invalid key 'f1.5': the count must be a non-negative whole number",
            ),
            (
                &["f+1"],
                "invalid key 'f+1': the count must be a non-negative whole number",
            ),
            (
                &["f5 "],
                "invalid key 'f5 ': the count must be a non-negative whole number",
            ),
            (
                &["f96 h24"],
                "invalid key 'f96 h24': the count must be a non-negative whole number",
            ),
            (
                &["f٣"],
                "invalid key 'f٣': the count must be a non-negative whole number",
            ),
            (
                &[" f5"],
                "invalid key ' f5': expected a class letter (f h d w m y) followed by a count, like h24",
            ),
            (
                &["5"],
                "invalid key '5': expected a class letter (f h d w m y) followed by a count, like h24",
            ),
            (
                &["h24", ""],
                "invalid key '': expected a class letter (f h d w m y) followed by a count, like h24",
            ),
            (
                &["-f5"],
                "invalid key '-f5': expected a class letter (f h d w m y) followed by a count, like h24",
            ),
            (
                &["f5", "f6"],
                "duplicate key 'f6': class frequently is already given",
            ),
            (
                &["f99999999999999999999"],
                "invalid key 'f99999999999999999999': count too large (at most 4294967295)",
            ),
            (
                &["y4294967296"],
                "invalid key 'y4294967296': count too large (at most 4294967295)",
            ),
            (
                &["f0"],
                "retention policy 'f0' keeps nothing and creates nothing; give at least one class a count above 0",
            ),
            (
                &["m0", "h0"],
                "retention policy 'h0 m0' keeps nothing and creates nothing; give at least one class a count above 0",
            ),
        ];
        for (input, msg) in cases {
            let a: Vec<String> = input.iter().map(|s| s.to_string()).collect();
            let err = Policy::parse(&a).expect_err(&format!("{input:?} must be rejected"));
            assert_eq!(err.to_string(), *msg, "{input:?}");
        }
    }

    #[test]
    fn bookmark_policy() {
        let p = Policy::parse(&args("f96 h24 d7 m0")).unwrap();
        let b = BookmarkPolicy::default_for(&p);
        assert_eq!(b.counts().unwrap().to_string(), "h48 d14 m0");
        assert!(b.creates_for(Class::Hourly) && b.creates_for(Class::Daily));
        assert!(!b.creates_for(Class::Frequently));
        assert!(
            !b.creates_for(Class::Weekly),
            "unmanaged bookmark class: not created"
        );
        // m0 alone would be created and then never kept; but h48 keeps it
        assert!(b.creates_for(Class::Monthly));
        let b = BookmarkPolicy::parse(&args("d30 h0")).unwrap();
        assert!(!b.creates_for(Class::Hourly), "h0 keeps none");
        assert!(b.creates_for(Class::Daily));
        assert!(!BookmarkPolicy::Disabled.creates_for(Class::Daily));
        assert_eq!(
            BookmarkPolicy::parse(&args("h0"))
                .unwrap()
                .counts()
                .unwrap()
                .to_string(),
            "h0"
        );
        let errs: &[(&[&str], &str)] = &[
            (
                &[],
                "empty bookmark policy: give keys like h48 d14, or use --no-bookmarks",
            ),
            (
                &["f10"],
                "invalid bookmark key 'f10': frequent snapshots get no bookmarks (use h d w m y)",
            ),
            (
                &["h1", "h2"],
                "duplicate key 'h2': class hourly is already given",
            ),
            (
                &["q1"],
                "invalid key 'q1': unknown class letter 'q' (use f h d w m y, lowercase)",
            ),
        ];
        for (input, msg) in errs {
            let a: Vec<String> = input.iter().map(|s| s.to_string()).collect();
            assert_eq!(BookmarkPolicy::parse(&a).unwrap_err().to_string(), *msg);
        }
    }

    #[test]
    fn zone_parse() {
        let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(Zone::parse("utc", || Err("x".into())), Ok(Zone::Utc));
        assert_eq!(Zone::parse("UTC", || Err("x".into())), Ok(Zone::Utc));
        assert_eq!(Zone::parse("local", || Ok(berlin)), Ok(Zone::Tz(berlin)));
        assert_eq!(
            Zone::parse("Europe/Berlin", || Err("x".into())),
            Ok(Zone::Tz(berlin))
        );
        assert_eq!(
            Zone::parse("local", || Err("TZ unset".into()))
                .unwrap_err()
                .to_string(),
            "cannot determine the local time zone: TZ unset"
        );
        assert_eq!(
            Zone::parse("Mars/Base", || Err("x".into()))
                .unwrap_err()
                .to_string(),
            "unknown time zone 'Mars/Base': use utc, local or an IANA name like Europe/Berlin"
        );
    }

    fn utc(s: &str) -> DateTime<Utc> {
        Utc.from_utc_datetime(&NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap())
    }

    fn entry(kind: SnapKind, txg: u64, t: &str) -> Entry {
        Entry {
            kind,
            createtxg: txg,
            creation: utc(t).timestamp(),
        }
    }

    #[test]
    fn due_table_across_bucket_boundaries() {
        use Class::*;
        let all = Policy::parse(&args("f4 h4 d4 w4 m4 y4")).unwrap();
        let no_year = Policy::parse(&args("f4 h4 d4 w4")).unwrap();
        let hd = Policy::parse(&args("h4 d4")).unwrap();
        let no_week = Policy::parse(&args("f4 h4 d4 m4 y4")).unwrap();
        let h4f4 = Policy::parse(&args("f4 h4")).unwrap();
        let p = SnapKind::Periodic;
        // (policy, previous snapshot kind + creation, now, expected due class)
        type Case<'a> = (
            &'a Policy,
            Option<(SnapKind, &'a str)>,
            &'a str,
            Option<Class>,
        );
        let cases: &[Case] = &[
            (&all, None, "2026-11-21 14:10:00", Some(Yearly)),
            (&hd, None, "2026-11-21 14:10:00", Some(Daily)),
            (
                &all,
                Some((p(Frequently), "2026-11-21 14:59:59")),
                "2026-11-21 15:00:00",
                Some(Yearly),
            ),
            (
                &all,
                Some((p(Yearly), "2026-11-21 14:59:59")),
                "2026-11-21 15:00:00",
                Some(Hourly),
            ),
            (
                &all,
                Some((p(Yearly), "2026-11-21 14:00:00")),
                "2026-11-21 14:59:59",
                Some(Frequently),
            ),
            (
                &hd,
                Some((p(Hourly), "2026-11-21 14:00:00")),
                "2026-11-21 14:59:59",
                Some(Daily),
            ),
            (
                &hd,
                Some((p(Daily), "2026-11-21 14:00:00")),
                "2026-11-21 14:59:59",
                None,
            ),
            (
                &hd,
                Some((p(Daily), "2026-11-21 14:00:00")),
                "2026-11-21 15:00:00",
                Some(Hourly),
            ),
            (
                &hd,
                Some((p(Daily), "2026-11-21 23:59:59")),
                "2026-11-22 00:00:00",
                Some(Daily),
            ),
            // a daily serves hourly, a frequently does not
            (
                &hd,
                Some((p(Daily), "2026-11-21 14:00:00")),
                "2026-11-21 14:30:00",
                None,
            ),
            (
                &h4f4,
                Some((p(Frequently), "2026-11-21 14:00:00")),
                "2026-11-21 14:30:00",
                Some(Hourly),
            ),
            (
                &h4f4,
                Some((p(Hourly), "2026-11-21 14:00:00")),
                "2026-11-21 14:30:00",
                Some(Frequently),
            ),
            (
                &all,
                Some((p(Yearly), "2026-12-31 23:59:59")),
                "2027-01-01 00:00:00",
                Some(Yearly),
            ),
            // ISO week at year end: 2026-12-31 and 2027-01-01 are both 2026-W53
            (
                &no_year,
                Some((p(Weekly), "2026-12-31 23:30:00")),
                "2027-01-01 00:30:00",
                Some(Daily),
            ),
            (
                &no_year,
                Some((p(Weekly), "2027-01-03 23:59:59")),
                "2027-01-04 00:00:00",
                Some(Weekly),
            ),
            // 2024-12-30 (Mon) is 2025-W01: a new week, though still 2024
            (
                &no_year,
                Some((p(Weekly), "2024-12-29 12:00:00")),
                "2024-12-30 00:00:00",
                Some(Weekly),
            ),
            (
                &no_year,
                Some((p(Weekly), "2024-12-30 00:00:00")),
                "2025-01-01 00:00:00",
                Some(Daily),
            ),
            (
                &all,
                Some((p(Yearly), "2026-01-31 23:59:59")),
                "2026-02-01 00:00:00",
                Some(Monthly),
            ),
            // leap years: Feb 29 is a day of February, March 1 a new month
            (
                &no_week,
                Some((p(Yearly), "2028-02-28 23:00:00")),
                "2028-02-29 00:00:00",
                Some(Daily),
            ),
            (
                &no_week,
                Some((p(Yearly), "2028-02-29 23:59:59")),
                "2028-03-01 00:00:00",
                Some(Monthly),
            ),
            (
                &no_week,
                Some((p(Yearly), "2027-02-28 23:59:59")),
                "2027-03-01 00:00:00",
                Some(Monthly),
            ),
            (
                &no_week,
                Some((p(Yearly), "2026-04-30 12:00:00")),
                "2026-04-30 23:59:59",
                Some(Hourly),
            ),
            // stopped counts as the lowest managed class
            (
                &hd,
                Some((SnapKind::Stopped, "2026-11-21 14:05:00")),
                "2026-11-21 14:20:00",
                Some(Daily),
            ),
            (
                &Policy::parse(&args("h4")).unwrap(),
                Some((SnapKind::Stopped, "2026-11-21 14:05:00")),
                "2026-11-21 14:20:00",
                None,
            ),
            (
                &all,
                Some((SnapKind::Stopped, "2026-11-21 14:05:00")),
                "2026-11-21 14:20:00",
                Some(Yearly),
            ),
            (
                &Policy::parse(&args("f4 h4")).unwrap(),
                Some((SnapKind::Stopped, "2026-11-21 14:05:00")),
                "2026-11-21 14:20:00",
                Some(Hourly),
            ),
            // an unmanaged class does not count: sanoid's _daily does not serve h
            (
                &Policy::parse(&args("h4")).unwrap(),
                Some((p(Daily), "2026-11-21 14:00:00")),
                "2026-11-21 14:30:00",
                Some(Hourly),
            ),
            // same instant again: nothing due (idempotent rerun)
            (
                &Policy::parse(&args("f4")).unwrap(),
                Some((p(Frequently), "2026-11-21 14:30:00")),
                "2026-11-21 14:30:00",
                None,
            ),
            (
                &Policy::parse(&args("f4")).unwrap(),
                Some((p(Frequently), "2026-11-21 14:30:00")),
                "2026-11-21 14:30:01",
                Some(Frequently),
            ),
            // a snapshot dated a year ahead (one run with the clock ahead) never stops the
            // frequent ones (issue 16 item 4: was `creation >= now`)
            (
                &Policy::parse(&args("f96")).unwrap(),
                Some((p(Frequently), "2027-11-21 14:30:00")),
                "2026-11-21 14:45:00",
                Some(Frequently),
            ),
            // made by this run's instant a moment after the clock was read: a rerun takes none
            (
                &Policy::parse(&args("f96")).unwrap(),
                Some((p(Frequently), "2026-11-21 14:45:01")),
                "2026-11-21 14:45:00",
                None,
            ),
            (
                &Policy::parse(&args("f96")).unwrap(),
                Some((p(Frequently), "2026-11-21 14:47:00")),
                "2026-11-21 14:45:00",
                Some(Frequently),
            ),
            (
                &Policy::parse(&args("f96 h24")).unwrap(),
                Some((p(Hourly), "2027-11-21 14:00:00")),
                "2026-11-21 14:45:00",
                Some(Hourly),
            ),
            // count 0: never created
            (
                &Policy::parse(&args("f0 h4 m0")).unwrap(),
                Some((p(Hourly), "2026-11-21 14:00:00")),
                "2026-11-21 14:30:00",
                None,
            ),
        ];
        for (i, (pol, prev, now, want)) in cases.iter().enumerate() {
            let existing: Vec<Entry> = prev.iter().map(|(k, t)| entry(*k, 1, t)).collect();
            let got = due(pol.keep(), &Zone::Utc, utc(now), &existing).map(|d| d.class);
            assert_eq!(got, *want, "case {i}: {pol} prev {prev:?} now {now}");
        }
    }

    #[test]
    fn due_reason_names_the_bucket() {
        let p = Policy::parse(&args("h4")).unwrap();
        let d = due(p.keep(), &Zone::Utc, utc("2026-11-21 14:10:00"), &[]).unwrap();
        assert_eq!(
            d.why,
            DueWhy::NoneInBucket {
                bucket: "hour 2026-11-21 14:00 UTC".into()
            }
        );
        let berlin = Zone::Tz("Europe/Berlin".parse().unwrap());
        let b = Bucket::of(&berlin, Class::Hourly, utc("2026-10-25 00:30:00")).unwrap();
        assert_eq!(b.to_string(), "hour 2026-10-25 02:00 CEST");
        let b2 = Bucket::of(&berlin, Class::Hourly, utc("2026-10-25 01:30:00")).unwrap();
        assert_eq!(b2.to_string(), "hour 2026-10-25 02:00 CET");
        assert!(!b.same(&b2), "the repeated hour is a new bucket");
        let w = Bucket::of(&berlin, Class::Weekly, utc("2026-12-31 23:30:00")).unwrap();
        assert_eq!(w.to_string(), "ISO week 2026-W53 Europe/Berlin");
        // Berlin day differs from the UTC day near midnight
        let d = Bucket::of(&berlin, Class::Daily, utc("2026-11-21 23:30:00")).unwrap();
        assert_eq!(d.to_string(), "day 2026-11-22 Europe/Berlin");
    }

    /// `retain` as first written, one pass per class over all entries: the reference the
    /// one-pass version must agree with.
    fn retain_by_class_passes(keep: &Counts, entries: &[Entry]) -> Vec<Verdict> {
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|&a, &b| {
            entries[b]
                .createtxg
                .cmp(&entries[a].createtxg)
                .then(b.cmp(&a))
        });
        let eff: Vec<Option<Class>> = entries
            .iter()
            .map(|e| keep.effective_class(e.kind))
            .collect();
        let mut kept_by: Vec<Option<(Class, usize)>> = vec![None; entries.len()];
        let mut own_pos: Vec<usize> = vec![0; entries.len()];
        for class in Class::ALL {
            let mut pos = 0usize;
            for &i in &order {
                if eff[i].is_some_and(|c| c >= class) {
                    pos += 1;
                    if eff[i] == Some(class) {
                        own_pos[i] = pos;
                    }
                    if keep.get(class).is_some_and(|n| pos <= n as usize) {
                        kept_by[i] = Some((class, pos));
                    }
                }
            }
        }
        let newest = order.first().copied();
        (0..entries.len())
            .map(|i| match (eff[i], kept_by[i]) {
                (None, _) => Verdict::Unmanaged,
                (Some(_), Some((class, position))) => Verdict::Keep { class, position },
                (Some(_), None) if Some(i) == newest => Verdict::Newest,
                (Some(class), None) => Verdict::Expire {
                    class,
                    position: own_pos[i],
                    keep: keep.get(class).unwrap_or(0),
                },
            })
            .collect()
    }

    proptest::proptest! {
        /// Any policy, any mix of kinds (stopped markers included), txgs with ties, in any
        /// order: the one-pass retention gives every entry the verdict of the per-class one.
        #[test]
        fn retain_agrees_with_one_pass_per_class(
            counts in proptest::collection::vec(proptest::option::of(0u32..6), 6),
            items in proptest::collection::vec((0usize..7, 0u64..40), 0..60),
        ) {
            let mut keys: Vec<String> = Class::ALL
                .iter()
                .zip(&counts)
                .filter_map(|(c, n)| n.map(|n| format!("{}{n}", c.letter())))
                .collect();
            if keys.is_empty() {
                keys.push("f1".into());
            }
            // A policy keeping nothing at all is refused at parse time: not a case.
            let Ok(pol) = Policy::parse(&keys) else {
                return Ok(());
            };
            let entries: Vec<Entry> = items
                .iter()
                .map(|&(k, createtxg)| Entry {
                    kind: if k == 6 { SnapKind::Stopped } else { SnapKind::Periodic(Class::ALL[k]) },
                    createtxg,
                    creation: 0,
                })
                .collect();
            proptest::prop_assert_eq!(
                retain(pol.keep(), &entries),
                retain_by_class_passes(pol.keep(), &entries)
            );
        }
    }

    #[test]
    fn retain_table() {
        use Class::*;
        let p = SnapKind::Periodic;
        let pol = Policy::parse(&args("f2 h1 d2")).unwrap();
        // oldest first
        let kinds = [
            p(Daily),      // 1: 3rd newest daily-or-longer -> expire
            p(Daily),      // 2: 2nd daily -> keep d
            p(Hourly),     // 3: 3rd newest h-or-longer -> expire
            p(Daily),      // 4: newest daily -> keep d
            p(Monthly),    // 5: unmanaged
            p(Frequently), // 6: 3rd newest f-or-longer -> expire
            p(Hourly),     // 7: newest h-or-longer -> keep h (also 2nd f)
            p(Frequently), // 8: newest -> keep f
        ];
        let entries: Vec<Entry> = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| Entry {
                kind: *k,
                createtxg: 10 + i as u64,
                creation: 0,
            })
            .collect();
        let v = retain(pol.keep(), &entries);
        assert_eq!(
            v,
            vec![
                Verdict::Expire {
                    class: Daily,
                    position: 3,
                    keep: 2
                },
                Verdict::Keep {
                    class: Daily,
                    position: 2
                },
                Verdict::Expire {
                    class: Hourly,
                    position: 3,
                    keep: 1
                },
                Verdict::Keep {
                    class: Daily,
                    position: 1
                },
                Verdict::Unmanaged,
                Verdict::Expire {
                    class: Frequently,
                    position: 3,
                    keep: 2
                },
                Verdict::Keep {
                    class: Hourly,
                    position: 1
                },
                Verdict::Keep {
                    class: Frequently,
                    position: 1
                },
            ]
        );
        // newest protection: with m0 only managed... a stopped newest with f0
        let pol = Policy::parse(&args("f0 h1")).unwrap();
        let entries = [
            Entry {
                kind: p(Hourly),
                createtxg: 1,
                creation: 0,
            },
            Entry {
                kind: p(Hourly),
                createtxg: 2,
                creation: 0,
            },
            Entry {
                kind: SnapKind::Stopped,
                createtxg: 3,
                creation: 0,
            },
        ];
        assert_eq!(
            retain(pol.keep(), &entries),
            vec![
                Verdict::Expire {
                    class: Hourly,
                    position: 2,
                    keep: 1
                },
                Verdict::Keep {
                    class: Hourly,
                    position: 1
                },
                Verdict::Newest,
            ]
        );
        // input order does not matter, createtxg does
        let rev: Vec<Entry> = entries.iter().rev().copied().collect();
        assert_eq!(
            retain(pol.keep(), &rev)[2],
            Verdict::Expire {
                class: Hourly,
                position: 2,
                keep: 1
            }
        );
    }
}
