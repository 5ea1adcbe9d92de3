//! Validated names: datasets, and our snapshot and bookmark names.
//!
//! Pure: parsing and formatting only, never I/O, never logging.
//!
//! **Ours** means exactly sanoid's format `autosnap_<YYYY-MM-DD_HH:MM:SS>_<suffix>` with a
//! real calendar date and time and a suffix from `frequently hourly daily weekly monthly yearly
//! stopped` — nothing before, nothing after. Everything else is foreign and never destroyed:
//! `__replicate_*__`, `rep_*`, `syncoid_*`, `autosnap_..._hourly.x`, impossible dates such as
//! `2026-02-30`, leap seconds (`:60`), and sanoid's DST variant `autosnap_..._02:30:00dst_hourly`
//! (we never produce it; a DST name collision is resolved by moving the seconds forward, see
//! `plan`). A sanoid `dst` snapshot is therefore kept forever and must be removed by hand.
//!
//! The timestamp in a name is wall-clock time in the configured zone and is only a label:
//! order and age come from `createtxg`/`creation`, never from the name.

use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// A validated ZFS filesystem or volume name (`pool/child/...`), never a snapshot or bookmark.
///
/// Validation follows OpenZFS' rules for dataset names: components of
/// `[A-Za-z0-9_.:-]` (and space), separated by `/`, no empty component, no `@`/`#`/`%`,
/// and shorter than 256 bytes (ZFS_MAX_DATASET_NAME_LEN).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Dataset(String);

/// Why a string is not a valid [`Dataset`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatasetError {
    /// Empty input.
    #[error("empty dataset name")]
    Empty,
    /// 256 bytes or longer.
    #[error("dataset name '{0}' is 256 characters or longer")]
    TooLong(String),
    /// An empty path component (`a//b`, leading or trailing `/`).
    #[error("dataset name '{0}' has an empty component")]
    EmptyComponent(String),
    /// A character ZFS does not allow in dataset names.
    #[error("dataset name '{0}' contains the invalid character {1:?}")]
    BadChar(String, char),
    /// `.` or `..` as a component.
    #[error("dataset name '{0}' has a '.' or '..' component")]
    DotComponent(String),
}

impl Dataset {
    /// Validates `name` as a filesystem/volume name.
    pub fn new(name: &str) -> Result<Self, DatasetError> {
        if name.is_empty() {
            return Err(DatasetError::Empty);
        }
        if name.len() >= 256 {
            return Err(DatasetError::TooLong(name.to_string()));
        }
        for comp in name.split('/') {
            if comp.is_empty() {
                return Err(DatasetError::EmptyComponent(name.to_string()));
            }
            if comp == "." || comp == ".." {
                return Err(DatasetError::DotComponent(name.to_string()));
            }
            if let Some(c) = comp
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-' | ' ')))
            {
                return Err(DatasetError::BadChar(name.to_string(), c));
            }
        }
        Ok(Dataset(name.to_string()))
    }

    /// The full name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pool: the first component.
    pub fn pool(&self) -> &str {
        self.0.split('/').next().unwrap_or(&self.0)
    }

    /// The last component (`vm-100-disk-0` for `rpool/data/vm-100-disk-0`).
    pub fn leaf(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Dataset {
    type Err = DatasetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dataset::new(s)
    }
}

/// A retention class, ranked `Frequently < Hourly < Daily < Weekly < Monthly < Yearly`
/// (the derived `Ord` is the rank).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// `f`: every run.
    Frequently,
    /// `h`: once per hour.
    Hourly,
    /// `d`: once per calendar day.
    Daily,
    /// `w`: once per ISO week.
    Weekly,
    /// `m`: once per calendar month.
    Monthly,
    /// `y`: once per calendar year.
    Yearly,
}

impl Class {
    /// All classes, shortest first.
    pub const ALL: [Class; 6] = [
        Class::Frequently,
        Class::Hourly,
        Class::Daily,
        Class::Weekly,
        Class::Monthly,
        Class::Yearly,
    ];

    /// 0 for `Frequently` up to 5 for `Yearly`.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The policy key letter: `f h d w m y`.
    pub fn letter(self) -> char {
        match self {
            Class::Frequently => 'f',
            Class::Hourly => 'h',
            Class::Daily => 'd',
            Class::Weekly => 'w',
            Class::Monthly => 'm',
            Class::Yearly => 'y',
        }
    }

    /// The class for a policy key letter (lowercase only).
    pub fn from_letter(c: char) -> Option<Class> {
        Class::ALL.into_iter().find(|k| k.letter() == c)
    }

    /// sanoid's snapshot name suffix: `frequently hourly daily weekly monthly yearly`.
    pub fn suffix(self) -> &'static str {
        match self {
            Class::Frequently => "frequently",
            Class::Hourly => "hourly",
            Class::Daily => "daily",
            Class::Weekly => "weekly",
            Class::Monthly => "monthly",
            Class::Yearly => "yearly",
        }
    }

    /// The class for a name suffix.
    pub fn from_suffix(s: &str) -> Option<Class> {
        // The inverse of `suffix` (a match: names are parsed by the thousand per run).
        Some(match s {
            "frequently" => Class::Frequently,
            "hourly" => Class::Hourly,
            "daily" => Class::Daily,
            "weekly" => Class::Weekly,
            "monthly" => Class::Monthly,
            "yearly" => Class::Yearly,
            _ => return None,
        })
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.suffix())
    }
}

/// What one of our snapshots is: periodic of a class, or the marker of a guest that stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapKind {
    /// `_frequently` … `_yearly`.
    Periodic(Class),
    /// `_stopped`: taken once when the guest was found stopped.
    Stopped,
}

impl SnapKind {
    /// The name suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            SnapKind::Periodic(c) => c.suffix(),
            SnapKind::Stopped => "stopped",
        }
    }

    /// The kind for a name suffix.
    pub fn from_suffix(s: &str) -> Option<SnapKind> {
        if s == "stopped" {
            Some(SnapKind::Stopped)
        } else {
            Class::from_suffix(s).map(SnapKind::Periodic)
        }
    }
}

/// The short name (after `@` or `#`) of one of our snapshots or bookmarks:
/// `autosnap_<YYYY-MM-DD_HH:MM:SS>_<suffix>`, validated.
///
/// Holds a whole-second wall-clock time with a four-digit year (0000–9999), so `Display` and
/// [`SnapName::parse`] round-trip exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SnapName {
    time: NaiveDateTime,
    kind: SnapKind,
}

/// The prefix of all our names.
pub const PREFIX: &str = "autosnap_";

impl SnapName {
    /// A name for wall-clock `time` (sub-second part dropped) and `kind`; `None` when the year
    /// does not fit four digits.
    pub fn new(time: NaiveDateTime, kind: SnapKind) -> Option<SnapName> {
        if !(0..=9999).contains(&time.year()) {
            return None;
        }
        let time = time.with_nanosecond(0)?;
        Some(SnapName { time, kind })
    }

    /// Parses a short name; `None` for anything that is not exactly ours (see the module docs).
    pub fn parse(s: &str) -> Option<SnapName> {
        let rest = s.strip_prefix(PREFIX)?;
        // "YYYY-MM-DD_HH:MM:SS" is 19 ASCII bytes, then '_' and the suffix.
        let stamp = rest.get(..19)?;
        let suffix = rest.get(19..)?.strip_prefix('_')?;
        let kind = SnapKind::from_suffix(suffix)?;
        let b = stamp.as_bytes();
        if [(4, b'-'), (7, b'-'), (10, b'_'), (13, b':'), (16, b':')]
            .iter()
            .any(|&(i, sep)| b[i] != sep)
        {
            return None;
        }
        // Every other byte a digit (a separator where a digit belongs fails here too).
        let mut d = [0u32; 19];
        for i in [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18] {
            let x = b[i].wrapping_sub(b'0');
            if x >= 10 {
                return None;
            }
            d[i] = u32::from(x);
        }
        let two = |i: usize| d[i] * 10 + d[i + 1];
        let year = d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3];
        let date = NaiveDate::from_ymd_opt(year as i32, two(5), two(8))?;
        let (h, m, sec) = (two(11), two(14), two(17));
        if sec > 59 {
            return None; // chrono would accept 60 as a leap second; ZFS names never have it
        }
        let time = NaiveTime::from_hms_opt(h, m, sec)?;
        Some(SnapName {
            time: date.and_time(time),
            kind,
        })
    }

    /// The wall-clock time in the name (a label only; never use it for order or age).
    pub fn time(&self) -> NaiveDateTime {
        self.time
    }

    /// Periodic class or stopped marker.
    pub fn kind(&self) -> SnapKind {
        self.kind
    }

    /// The same kind, `secs` seconds later in the name (used to step around a name collision).
    pub fn later_by(&self, secs: i64) -> Option<SnapName> {
        let t = self
            .time
            .checked_add_signed(chrono::TimeDelta::try_seconds(secs)?)?;
        SnapName::new(t, self.kind)
    }
}

impl fmt::Display for SnapName {
    /// `autosnap_YYYY-MM-DD_HH:MM:SS_<suffix>`: what `format("%Y-%m-%d_%H:%M:%S")` prints for
    /// a year of 0000–9999 ([`SnapName::new`]), written digit by digit (names are formatted
    /// for every item of every run; chrono's formatter parses its pattern each time).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (d, t) = (self.time.date(), self.time.time());
        let mut stamp = *b"0000-00-00_00:00:00";
        let mut put = |at: usize, width: usize, mut n: u32| {
            for i in (at..at + width).rev() {
                stamp[i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 4, d.year() as u32);
        put(5, 2, d.month());
        put(8, 2, d.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        put(17, 2, t.second());
        f.write_str(PREFIX)?;
        f.write_str(std::str::from_utf8(&stamp).expect("ASCII digits"))?;
        f.write_str("_")?;
        f.write_str(self.kind.suffix())
    }
}

/// Why a string is not one of our names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a snapshot name of ours (autosnap_YYYY-MM-DD_HH:MM:SS_<class>)")]
pub struct NotOurs(pub String);

impl std::str::FromStr for SnapName {
    type Err = NotOurs;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SnapName::parse(s).ok_or_else(|| NotOurs(s.to_string()))
    }
}

impl serde::Serialize for SnapName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// True when `short_name` (after `@`/`#`) is exactly one of ours.
pub fn is_ours(short_name: &str) -> bool {
    SnapName::parse(short_name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_letters_suffixes_rank() {
        let letters: String = Class::ALL.iter().map(|c| c.letter()).collect();
        assert_eq!(letters, "fhdwmy");
        for c in Class::ALL {
            assert_eq!(Class::from_letter(c.letter()), Some(c));
            assert_eq!(Class::from_suffix(c.suffix()), Some(c));
            assert_eq!(Class::ALL[c.index()], c);
        }
        assert!(Class::Frequently < Class::Hourly && Class::Monthly < Class::Yearly);
        assert_eq!(Class::from_letter('F'), None);
        assert_eq!(Class::from_suffix("Hourly"), None);
    }

    #[test]
    fn snapname_parse_table() {
        use Class::*;
        let ok: &[(&str, SnapKind)] = &[
            (
                "autosnap_2026-11-21_14:00:00_hourly",
                SnapKind::Periodic(Hourly),
            ),
            (
                "autosnap_2026-11-21_00:00:00_daily",
                SnapKind::Periodic(Daily),
            ),
            (
                "autosnap_2028-02-29_23:59:59_frequently",
                SnapKind::Periodic(Frequently),
            ),
            (
                "autosnap_2026-01-05_00:00:00_weekly",
                SnapKind::Periodic(Weekly),
            ),
            (
                "autosnap_2026-01-01_00:00:00_monthly",
                SnapKind::Periodic(Monthly),
            ),
            (
                "autosnap_2026-01-01_00:00:00_yearly",
                SnapKind::Periodic(Yearly),
            ),
            ("autosnap_2026-11-21_14:03:12_stopped", SnapKind::Stopped),
        ];
        for (s, kind) in ok {
            let n = SnapName::parse(s).unwrap_or_else(|| panic!("{s} should parse"));
            assert_eq!(n.kind(), *kind, "{s}");
            assert_eq!(n.to_string(), *s, "round trip");
            assert!(is_ours(s));
        }
        let foreign = [
            "autosnap_2026-11-21_14:00:00_hourly.x",
            "autosnap_2026-11-21_14:00:00_hourlyx",
            "autosnap_2026-11-21_14:00:00_",
            "autosnap_2026-11-21_14:00:00",
            "autosnap_2026-11-21_14:00:00__hourly",
            "xautosnap_2026-11-21_14:00:00_hourly",
            " autosnap_2026-11-21_14:00:00_hourly",
            "autosnap_2026-11-21_14:00:00_hourly ",
            "autosnap_2026-02-30_00:00:00_daily",
            "autosnap_2027-02-29_00:00:00_daily",
            "autosnap_2026-13-01_00:00:00_daily",
            "autosnap_2026-11-21_24:00:00_hourly",
            "autosnap_2026-11-21_14:60:00_hourly",
            "autosnap_2026-12-31_23:59:60_hourly",
            "autosnap_2026-11-21_14-00-00_hourly",
            "autosnap_2026-1-21_14:00:00_hourly",
            "autosnap_+026-11-21_14:00:00_hourly",
            "autosnap_2026-11-21_14:00:00_Hourly",
            "autosnap_2026-11-21_14:00:00_frequent",
            "autosnap_2026-11-21_14:00:00_minutely",
            "autosnap_2026-10-25_02:30:00dst_hourly",
            "autosnap_2026-11-21_14:00:00_frequently_stopped",
            "autosnap_２026-11-21_14:00:00_hourly",
            "syncoid_pve1_2026-11-21:14:00:00-GMT00:00",
            "__replicate_100-0_1718000000__",
            "rep_default_2026-11-21_14:00:00",
            "__base__",
            "vzdump",
            "autosnap_",
            "",
        ];
        for s in foreign {
            assert_eq!(SnapName::parse(s), None, "{s:?} must be foreign");
            assert!(s.parse::<SnapName>().is_err());
        }
        assert_eq!(
            "x".parse::<SnapName>().unwrap_err().to_string(),
            "'x' is not a snapshot name of ours (autosnap_YYYY-MM-DD_HH:MM:SS_<class>)"
        );
    }

    #[test]
    fn snapname_new_and_later() {
        let t = NaiveDate::from_ymd_opt(2026, 10, 25)
            .unwrap()
            .and_hms_milli_opt(2, 59, 59, 700)
            .unwrap();
        let n = SnapName::new(t, SnapKind::Periodic(Class::Hourly)).unwrap();
        assert_eq!(n.to_string(), "autosnap_2026-10-25_02:59:59_hourly");
        assert_eq!(
            n.later_by(1).unwrap().to_string(),
            "autosnap_2026-10-25_03:00:00_hourly"
        );
        let far = NaiveDate::from_ymd_opt(10000, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert_eq!(SnapName::new(far, SnapKind::Stopped), None);
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            "\"autosnap_2026-10-25_02:59:59_hourly\""
        );
    }

    #[test]
    fn snapname_display_is_chronos_format() {
        // The digit-by-digit Display against chrono's pattern, over the whole year range,
        // padded small values and a leap second (dropped by `new`).
        let kinds = [SnapKind::Periodic(Class::Daily), SnapKind::Stopped];
        let cases = [
            (0, 1, 1, 0, 0, 0, 0),
            (7, 2, 3, 4, 5, 6, 0),
            (999, 12, 31, 23, 59, 59, 0),
            (1970, 1, 1, 0, 0, 0, 0),
            (2024, 2, 29, 9, 8, 7, 999),
            (2026, 6, 30, 23, 59, 59, 1_500), // leap second
            (9999, 12, 31, 23, 59, 59, 0),
        ];
        for (i, (y, mo, d, h, mi, s, ms)) in cases.into_iter().enumerate() {
            let t = NaiveDate::from_ymd_opt(y, mo, d)
                .unwrap()
                .and_hms_milli_opt(h, mi, s, ms)
                .unwrap();
            let n = SnapName::new(t, kinds[i % 2]).unwrap();
            let want = format!(
                "autosnap_{}_{}",
                n.time().format("%Y-%m-%d_%H:%M:%S"),
                kinds[i % 2].suffix()
            );
            assert_eq!(n.to_string(), want);
            assert_eq!(SnapName::parse(&want), Some(n));
            assert!(!want.contains(":60"), "{want}");
        }
    }

    #[test]
    fn dataset_validation_table() {
        let cases: &[(&str, bool)] = &[
            ("rpool", true),
            ("rpool/data/vm-100-disk-0", true),
            ("tank/a b/c.d:e_f-g", true),
            ("", false),
            ("rpool/", false),
            ("/rpool", false),
            ("rpool//x", false),
            ("rpool/x@snap", false),
            ("rpool/x#bm", false),
            ("rpool/x%hidden", false),
            ("rpool/./x", false),
            ("rpool/../x", false),
            ("rpool/ü", false),
        ];
        for (name, ok) in cases {
            assert_eq!(Dataset::new(name).is_ok(), *ok, "{name:?}");
        }
        assert!(matches!(
            Dataset::new(&"a".repeat(256)),
            Err(DatasetError::TooLong(_))
        ));
        assert!(Dataset::new(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn pool_and_leaf() {
        let d = Dataset::new("rpool/data/vm-100-disk-0").unwrap();
        assert_eq!(d.pool(), "rpool");
        assert_eq!(d.leaf(), "vm-100-disk-0");
        let p = Dataset::new("tank").unwrap();
        assert_eq!((p.pool(), p.leaf()), ("tank", "tank"));
    }
}
