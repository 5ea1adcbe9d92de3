//! What a `label:nosnap` value means: the product-wide decision, in one place, shared by the
//! snapshot run and `check`.
//!
//! A value excludes the dataset when, trimmed and lowercased, it is `nosnap`, `1`, `yes`,
//! `on` or `true`. `0`, `no`, `off`, `false`, `-` and the empty string do not. Anything else
//! does not exclude either, but is [`NosnapValue::Unknown`]: callers mention it so that a typo
//! (`nosanp`) is seen instead of silently protecting (or not) the disk.
//!
//! Pure: no I/O, no logging.

/// The meaning of one `label:nosnap` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NosnapValue {
    /// The dataset is deliberately left out: no snapshots, never alerting.
    Excludes,
    /// An explicit "no" (or unset-looking): the dataset is protected as usual.
    Includes,
    /// Not understood: protected as usual, and worth a note naming the value.
    Unknown,
}

/// Classifies a `label:nosnap` value (see the module docs for the table).
pub fn nosnap_value(v: &str) -> NosnapValue {
    match v.trim().to_ascii_lowercase().as_str() {
        "nosnap" | "1" | "yes" | "on" | "true" => NosnapValue::Excludes,
        "0" | "no" | "off" | "false" | "-" | "" => NosnapValue::Includes,
        _ => NosnapValue::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nosnap_value_table() {
        use NosnapValue::*;
        let cases: &[(&str, NosnapValue)] = &[
            ("nosnap", Excludes),
            ("NOSNAP", Excludes),
            (" NoSnap\n", Excludes),
            ("1", Excludes),
            ("yes", Excludes),
            ("Yes", Excludes),
            ("on", Excludes),
            ("ON", Excludes),
            ("true", Excludes),
            ("\ttrue ", Excludes),
            ("0", Includes),
            ("no", Includes),
            ("NO", Includes),
            ("off", Includes),
            ("false", Includes),
            ("-", Includes),
            ("", Includes),
            ("   ", Includes),
            ("nosanp", Unknown),
            ("2", Unknown),
            ("y", Unknown),
            ("enabled", Unknown),
            ("no snap", Unknown),
            ("nosnap,", Unknown),
            ("\u{feff}nosnap", Unknown),
            ("nosnäp", Unknown),
        ];
        for (v, want) in cases {
            assert_eq!(nosnap_value(v), *want, "{v:?}");
        }
    }
}
