//! Validated names: datasets, and (added by the policy work) our snapshot and bookmark names.
//!
//! Pure: parsing and formatting only, never I/O, never logging.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

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
