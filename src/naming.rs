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

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

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
///
/// The time is kept as its fields (year 0000–9999, then month … second), not as a chrono
/// value: a run parses every name of every dataset, and building a calendar date is most of
/// what that costs; [`SnapName::time`] builds it on demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SnapName {
    /// Year, month, day, hour, minute, second (validated: a real proleptic Gregorian date,
    /// 00:00:00–23:59:59).
    ymd_hms: (u16, u8, u8, u8, u8, u8),
    kind: SnapKind,
}

/// Days in `month` (1–12) of `year` in the proleptic Gregorian calendar (chrono's and ZFS
/// userland's calendar; year 0 is a leap year).
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 0,
    }
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
        let (d, t) = (time.date(), time.time());
        Some(SnapName {
            ymd_hms: (
                d.year() as u16,
                d.month() as u8,
                d.day() as u8,
                t.hour() as u8,
                t.minute() as u8,
                // A leap second (chrono's 60th second as nanoseconds ≥ 1e9) is dropped with
                // the rest of the fraction.
                t.second() as u8,
            ),
            kind,
        })
    }

    /// Parses a short name; `None` for anything that is not exactly ours (see the module docs).
    pub fn parse(s: &str) -> Option<SnapName> {
        // "autosnap_" (9 bytes), "YYYY-MM-DD_HH:MM:SS" (19), '_', the suffix: checked as
        // bytes at fixed places (every byte looked at is ASCII, so the suffix starts on a
        // character boundary).
        let b = s.as_bytes();
        if b.len() < 30 || !b.starts_with(PREFIX.as_bytes()) || b[28] != b'_' {
            return None;
        }
        let kind = SnapKind::from_suffix(s.get(29..)?)?;
        let t: &[u8; 19] = b[9..28].try_into().ok()?;
        if t[4] != b'-' || t[7] != b'-' || t[10] != b'_' || t[13] != b':' || t[16] != b':' {
            return None;
        }
        // Every other byte a digit (a separator where a digit belongs fails here too).
        let digit = |i: usize| {
            let x = t[i].wrapping_sub(b'0');
            (x < 10).then_some(u32::from(x))
        };
        let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
        let year = two(0)? * 100 + two(2)?;
        let (month, day, h, m, sec) = (two(5)?, two(8)?, two(11)?, two(14)?, two(17)?);
        // A real date and a time of day; no leap second (ZFS names never have one).
        if day == 0 || day > days_in_month(year, month) || h > 23 || m > 59 || sec > 59 {
            return None;
        }
        Some(SnapName {
            ymd_hms: (
                year as u16,
                month as u8,
                day as u8,
                h as u8,
                m as u8,
                sec as u8,
            ),
            kind,
        })
    }

    /// The wall-clock time in the name (a label only; never use it for order or age).
    pub fn time(&self) -> NaiveDateTime {
        let (y, mo, d, h, mi, s) = self.ymd_hms;
        NaiveDate::from_ymd_opt(i32::from(y), u32::from(mo), u32::from(d))
            .and_then(|date| date.and_hms_opt(u32::from(h), u32::from(mi), u32::from(s)))
            .expect("validated when made")
    }

    /// Periodic class or stopped marker.
    pub fn kind(&self) -> SnapKind {
        self.kind
    }

    /// The same kind, `secs` seconds later in the name (used to step around a name collision).
    pub fn later_by(&self, secs: i64) -> Option<SnapName> {
        let t = self
            .time()
            .checked_add_signed(chrono::TimeDelta::try_seconds(secs)?)?;
        SnapName::new(t, self.kind)
    }
}

impl fmt::Display for SnapName {
    /// `autosnap_YYYY-MM-DD_HH:MM:SS_<suffix>`: what `format("%Y-%m-%d_%H:%M:%S")` prints for
    /// a year of 0000–9999 ([`SnapName::new`]), written digit by digit (names are formatted
    /// for every item of every run; chrono's formatter parses its pattern each time).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s) = self.ymd_hms;
        let mut stamp = *b"0000-00-00_00:00:00";
        let mut put = |at: usize, width: usize, mut n: u32| {
            for i in (at..at + width).rev() {
                stamp[i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 4, u32::from(y));
        put(5, 2, u32::from(mo));
        put(8, 2, u32::from(d));
        put(11, 2, u32::from(h));
        put(14, 2, u32::from(mi));
        put(17, 2, u32::from(s));
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

/// A snapshot's or bookmark's short name (after `@` or `#`) as ZFS lists it, read as one of
/// our names ([`SnapName::parse`]) once, where it enters the program: a run looks at every
/// name of every dataset, and a simulation carries the same names through thousands of runs.
///
/// Compares, orders and hashes as its text only (the reading is a function of the text), so
/// it can key ordered maps looked up by `&str`. Cloning shares the text (not atomically: a
/// run is single-threaded, and the names stay on the thread that listed them).
#[derive(Clone)]
pub struct ShortName {
    text: std::rc::Rc<str>,
    ours: Option<SnapName>,
}

impl ShortName {
    /// The name `text`, read as ours or not.
    pub fn new(text: &str) -> ShortName {
        ShortName {
            text: text.into(),
            ours: SnapName::parse(text),
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The name as one of ours; `None` when it is not exactly one of ours.
    pub fn ours(&self) -> Option<SnapName> {
        self.ours
    }
}

impl From<&str> for ShortName {
    fn from(text: &str) -> ShortName {
        ShortName::new(text)
    }
}

impl From<String> for ShortName {
    fn from(text: String) -> ShortName {
        ShortName::new(&text)
    }
}

impl From<SnapName> for ShortName {
    /// One of our names, already known (no parse).
    fn from(name: SnapName) -> ShortName {
        ShortName {
            text: name.to_string().into(),
            ours: Some(name),
        }
    }
}

impl PartialEq for ShortName {
    fn eq(&self, other: &ShortName) -> bool {
        self.text == other.text
    }
}

impl Eq for ShortName {}

impl PartialOrd for ShortName {
    fn partial_cmp(&self, other: &ShortName) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ShortName {
    fn cmp(&self, other: &ShortName) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl std::hash::Hash for ShortName {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}

impl std::borrow::Borrow<str> for ShortName {
    fn borrow(&self) -> &str {
        &self.text
    }
}

impl PartialEq<str> for ShortName {
    fn eq(&self, other: &str) -> bool {
        &*self.text == other
    }
}

impl PartialEq<&str> for ShortName {
    fn eq(&self, other: &&str) -> bool {
        &*self.text == *other
    }
}

impl PartialEq<String> for ShortName {
    fn eq(&self, other: &String) -> bool {
        *self.text == **other
    }
}

impl fmt::Display for ShortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for ShortName {
    /// As the text (the reading follows from it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text, f)
    }
}

impl serde::Serialize for ShortName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for ShortName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ShortName, D::Error> {
        Ok(ShortName::new(&String::deserialize(d)?))
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

    /// What `SnapName::parse` accepted when it built chrono values (before the fields
    /// representation): the date and the time through chrono's own validation.
    fn parse_by_chrono(s: &str) -> Option<NaiveDateTime> {
        let stamp = s.strip_prefix(PREFIX)?.get(..19)?;
        let b = stamp.as_bytes();
        let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
        if !digits.iter().all(|&i| b[i].is_ascii_digit()) || &stamp[4..5] != "-" {
            return None;
        }
        let n = |r: std::ops::Range<usize>| stamp[r].parse::<u32>().ok();
        let date = NaiveDate::from_ymd_opt(n(0..4)? as i32, n(5..7)?, n(8..10)?)?;
        let (h, m, sec) = (n(11..13)?, n(14..16)?, n(17..19)?);
        if sec > 59 {
            return None;
        }
        Some(date.and_time(chrono::NaiveTime::from_hms_opt(h, m, sec)?))
    }

    #[test]
    fn snapname_parse_validates_like_chrono() {
        // Every month and day number 0–32 of the years where the calendar's rules differ
        // (year 0, centuries, leap and common years, the last year), with times at and past
        // their bounds: the hand-written check accepts exactly what chrono's does, and the
        // time it keeps is chrono's.
        let years = [
            0, 1, 4, 100, 400, 1900, 1970, 2000, 2024, 2026, 2100, 2400, 9999,
        ];
        let times = [
            (0, 0, 0),
            (23, 59, 59),
            (24, 0, 0),
            (0, 60, 0),
            (0, 0, 60),
            (9, 5, 7),
            (99, 99, 99),
        ];
        let mut accepted = 0;
        for y in years {
            for mo in 0..=13 {
                for d in 0..=32 {
                    for (h, mi, sec) in times {
                        let s = format!(
                            "autosnap_{y:04}-{mo:02}-{d:02}_{h:02}:{mi:02}:{sec:02}_hourly"
                        );
                        let want = parse_by_chrono(&s);
                        let got = SnapName::parse(&s);
                        assert_eq!(got.map(|n| n.time()), want, "{s}");
                        if let Some(n) = got {
                            accepted += 1;
                            assert_eq!(n.to_string(), s, "round trip");
                            assert_eq!(SnapName::new(n.time(), n.kind()), Some(n), "{s}");
                        }
                    }
                }
            }
        }
        // 13 years × 365 or 366 days × 3 valid times (0, 4, 400, 2000, 2024, 2400 are leap).
        let leap = 6;
        assert_eq!(accepted, (13 * 365 + leap) * 3);
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
