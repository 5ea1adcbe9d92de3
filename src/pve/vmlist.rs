//! `/etc/pve/.vmlist`: pmxcfs' cluster-wide index of which node owns which guest.
//!
//! Pure: parses a string; no I/O, no logging.

use std::collections::BTreeMap;

/// One `ids` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmlistEntry {
    /// VMID.
    pub vmid: u32,
    /// Owning node.
    pub node: String,
    /// `qemu`, `lxc`, or a legacy type (`openvz`).
    pub kind: String,
}

/// Parsed `.vmlist`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vmlist {
    /// Global version.
    pub version: u64,
    /// Entries sorted by VMID (empty when the file has no `ids` key: zero guests).
    pub entries: Vec<VmlistEntry>,
}

#[derive(serde::Deserialize)]
struct Raw {
    version: u64,
    #[serde(default)]
    ids: Option<BTreeMap<String, RawEntry>>,
}

#[derive(serde::Deserialize)]
struct RawEntry {
    node: String,
    #[serde(rename = "type")]
    kind: String,
}

/// Parses the pmxcfs JSON. A document without the top-level `version` is rejected (it is not
/// what pmxcfs writes), so is any VMID outside `^[1-9][0-9]{2,8}$`.
pub fn parse(text: &str) -> Result<Vmlist, String> {
    let raw: Raw = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut entries = Vec::new();
    for (id, e) in raw.ids.unwrap_or_default() {
        let vmid = parse_vmid(&id).ok_or_else(|| format!("invalid VMID {id:?}"))?;
        if e.node.is_empty() {
            return Err(format!("VMID {vmid} has an empty node"));
        }
        entries.push(VmlistEntry {
            vmid,
            node: e.node,
            kind: e.kind,
        });
    }
    entries.sort_by_key(|e| e.vmid);
    Ok(Vmlist {
        version: raw.version,
        entries,
    })
}

/// PVE VMID: `^[1-9][0-9]{2,8}$`.
pub fn parse_vmid(s: &str) -> Option<u32> {
    let ok =
        (3..=9).contains(&s.len()) && !s.starts_with('0') && s.bytes().all(|c| c.is_ascii_digit());
    ok.then(|| s.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pmxcfs_layout() {
        let text = "{\n\"version\": 42,\n\"ids\": {\n\
            \"101\": { \"node\": \"pve2\", \"type\": \"lxc\", \"version\": 3 },\n\
            \"100\": { \"node\": \"pve1\", \"type\": \"qemu\", \"version\": 7 }}\n\n}\n";
        let v = parse(text).unwrap();
        assert_eq!(v.version, 42);
        let got: Vec<_> = v
            .entries
            .iter()
            .map(|e| (e.vmid, e.node.as_str(), e.kind.as_str()))
            .collect();
        assert_eq!(got, [(100, "pve1", "qemu"), (101, "pve2", "lxc")]);
    }

    #[test]
    fn zero_guests_has_no_ids_key() {
        let v = parse("{\n\"version\": 5\n\n}\n").unwrap();
        assert_eq!((v.version, v.entries.len()), (5, 0));
    }

    #[test]
    fn rejects_garbage() {
        for text in [
            "",
            "{}",
            "{\"ids\": {}}",
            "not json",
            "{\"version\": 1, \"ids\": {\"99\": {\"node\": \"a\", \"type\": \"qemu\"}}}",
            "{\"version\": 1, \"ids\": {\"0100\": {\"node\": \"a\", \"type\": \"qemu\"}}}",
            "{\"version\": 1, \"ids\": {\"100\": {\"type\": \"qemu\"}}}",
            "{\"version\": 1, \"ids\": {\"100\": {\"node\": \"\", \"type\": \"qemu\"}}}",
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn vmid_table() {
        let cases: &[(&str, Option<u32>)] = &[
            ("100", Some(100)),
            ("999999999", Some(999_999_999)),
            ("99", None),
            ("1000000000", None),
            ("0100", None),
            ("10a", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_vmid(s), *want, "{s:?}");
        }
    }
}
