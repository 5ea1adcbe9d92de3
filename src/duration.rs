//! Durations on the command line and in messages: one grammar for every option that takes a
//! duration (`check --warn/--crit`, `simulate --every/--stop-at`, `--zfs-timeout`), one
//! formatter with the three styles the outputs use, and the parsing of RFC 3339 instants
//! (`--now`, `simulate --start`).
//!
//! Grammar: one or more `<whole number><unit>`, unit `s`, `m`, `h`, `d` or `w` (`90s`, `15m`,
//! `1h30m`, `2d`, `1w`), at most 100 years. A bare number is refused with a hint naming the
//! option and an example (is `90` minutes or seconds?). Pure: no clock, no I/O, no printing.

use chrono::{DateTime, Utc};

/// Longest duration accepted: 100 years of 366 days.
pub const MAX_SECS: u64 = 100 * 366 * 86_400;

const UNITS: [(char, u64); 5] = [
    ('s', 1),
    ('m', 60),
    ('h', 3_600),
    ('d', 86_400),
    ('w', 7 * 86_400),
];

/// Parses a duration of `option` (named in the error, e.g. `--every`) into seconds.
pub fn parse(option: &str, s: &str) -> Result<u64, String> {
    parse_secs(s).map_err(|e| format!("{option}: {e}"))
}

/// [`parse`], except that a bare whole number is seconds: for options that took seconds before
/// they took durations (`--zfs-timeout 600`), so that existing command lines keep working.
pub fn parse_or_secs(option: &str, s: &str) -> Result<u64, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= MAX_SECS)
            .ok_or_else(|| format!("{option}: '{s}' is too long"));
    }
    parse(option, s)
}

/// The grammar without the option's name in errors; seconds.
pub fn parse_secs(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid duration '{s}': expected e.g. 90m, 2h, 1d or 1h30m");
    if s.is_empty() {
        return Err(bad());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{s}' has no unit: use {s}m or {s}s (units: s, m, h, d, w)"
        ));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = UNITS
            .iter()
            .find(|(u, _)| *u == c)
            .map(|(_, secs)| *secs)
            .ok_or_else(bad)?;
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("'{s}' is too long"))?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    if total > MAX_SECS {
        return Err(format!("'{s}' is too long"));
    }
    Ok(total)
}

/// How [`format`] writes a number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// The two largest units, the second zero-padded: `45s`, `12m`, `1m30s`, `3h02m`, `2d04h`
    /// (`check`'s messages and thresholds). Negative values keep their sign.
    Compact,
    /// Every non-zero unit down to seconds, spaced: `100d`, `3d 6h`, `1h 30m`, `0s`
    /// (`simulate`'s scenario line: exact, so the interval it ran can be read back).
    Exact,
    /// An age to read, to the minute: `45m`, `2h 15m`, `3d 4h`; negative is `0m`.
    Age,
}

/// Writes `secs` in `style`.
pub fn format(secs: i64, style: Style) -> String {
    match style {
        Style::Compact => compact(secs),
        Style::Exact => exact(secs),
        Style::Age => age(secs),
    }
}

fn compact(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let body = if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        if s.is_multiple_of(60) {
            format!("{}m", s / 60)
        } else {
            format!("{}m{:02}s", s / 60, s % 60)
        }
    } else if s < 86_400 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600)
    };
    format!("{sign}{body}")
}

fn exact(secs: i64) -> String {
    let parts: Vec<String> = [(86_400, 'd'), (3_600, 'h'), (60, 'm'), (1, 's')]
        .iter()
        .scan(secs.max(0), |rest, &(unit, c)| {
            let n = *rest / unit;
            *rest %= unit;
            Some((n > 0).then(|| format!("{n}{c}")))
        })
        .flatten()
        .collect();
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

fn age(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// Parses the RFC 3339 instant given to `option` (`--now`, `--start`).
pub fn parse_instant(option: &str, s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{option} '{s}' is not an RFC 3339 time: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar() {
        let ok: &[(&str, u64)] = &[
            ("90s", 90),
            ("15m", 900),
            ("90m", 5400),
            ("2h", 7200),
            ("1h30m", 5400),
            ("2d", 172_800),
            ("1w", 604_800),
            ("1w2d3h4m5s", 604_800 + 2 * 86_400 + 3 * 3600 + 4 * 60 + 5),
            ("0s", 0),
        ];
        for (s, want) in ok {
            assert_eq!(parse_secs(s), Ok(*want), "{s}");
        }
        for bad in [
            "",
            "h",
            "2x",
            "1.5h",
            "-1h",
            "2h3",
            "1 h",
            "15M",
            "99999999999999999999d",
            "36601w",
        ] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }

    /// A bare number is refused everywhere, with the option and the fix in the message.
    #[test]
    fn a_bare_number_is_refused_with_a_hint() {
        for (s, fix) in [("90", "use 90m or 90s"), ("0", "use 0m or 0s")] {
            let e = parse("--every", s).unwrap_err();
            assert!(
                e.starts_with("--every: ") && e.contains("no unit") && e.contains(fix),
                "{s}: {e}"
            );
        }
        // Except where a bare number always meant seconds.
        assert_eq!(parse_or_secs("--zfs-timeout", "600"), Ok(600));
        assert_eq!(parse_or_secs("--zfs-timeout", "10m"), Ok(600));
        assert!(parse_or_secs("--zfs-timeout", "1.5").is_err());
    }

    #[test]
    fn the_three_styles() {
        let cases: &[(i64, &str, &str, &str)] = &[
            (0, "0s", "0s", "0m"),
            (59, "59s", "59s", "0m"),
            (60, "1m", "1m", "1m"),
            (90, "1m30s", "1m 30s", "1m"),
            (3600, "1h00m", "1h", "1h 0m"),
            (5400, "1h30m", "1h 30m", "1h 30m"),
            (10_920, "3h02m", "3h 2m", "3h 2m"),
            (2 * 86_400 + 4 * 3600, "2d04h", "2d 4h", "2d 4h"),
            (-120, "-2m", "0s", "0m"),
        ];
        for (secs, compact, exact, age) in cases {
            assert_eq!(format(*secs, Style::Compact), *compact, "{secs}");
            assert_eq!(format(*secs, Style::Exact), *exact, "{secs}");
            assert_eq!(format(*secs, Style::Age), *age, "{secs}");
        }
    }

    #[test]
    fn instants() {
        assert_eq!(
            parse_instant("--now", "2026-01-01T00:00:00+01:00")
                .unwrap()
                .to_rfc3339(),
            "2025-12-31T23:00:00+00:00"
        );
        let e = parse_instant("--now", "yesterday").unwrap_err();
        assert!(
            e.starts_with("--now 'yesterday' is not an RFC 3339 time: "),
            "{e}"
        );
    }
}
