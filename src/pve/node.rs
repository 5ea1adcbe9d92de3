//! The PVE node name: a single DNS label, the kernel hostname cut at the first `.`, as
//! `PVE::INotify::nodename()` and pmxcfs compute it; `/etc/pve/local` → `nodes/<name>` is the
//! cross-check.
//!
//! Pure: string handling only; no I/O, no logging.

use std::path::{Component, Path};

/// Validates a node name: `^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`, at most 63 characters.
pub fn validate_node_name(name: &str) -> Result<&str, String> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-');
    if ok {
        Ok(name)
    } else {
        Err(format!(
            "{name:?} is not a valid PVE node name (one DNS label: letters, digits, '-', at most 63)"
        ))
    }
}

/// The node name from the kernel hostname: everything before the first `.`, validated.
pub fn node_from_hostname(hostname: &str) -> Result<&str, String> {
    let short = hostname.split('.').next().unwrap_or("");
    validate_node_name(short).map_err(|e| format!("hostname {hostname:?}: {e}"))
}

/// The node name from the target of the `/etc/pve/local` symlink (`nodes/<name>`, or an
/// absolute `/etc/pve/nodes/<name>`).
pub fn node_from_local_link(target: &Path) -> Result<&str, String> {
    let comps: Vec<Component> = target.components().collect();
    let bad = || format!("link target {:?} is not 'nodes/<name>'", target);
    let [.., Component::Normal(parent), Component::Normal(name)] = comps.as_slice() else {
        return Err(bad());
    };
    if *parent != "nodes" {
        return Err(bad());
    }
    let name = name.to_str().ok_or_else(bad)?;
    validate_node_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_name_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("pve1", Some("pve1")),
            ("pve1.example.com", Some("pve1")),
            ("PVE-a1", Some("PVE-a1")),
            ("pve1.", Some("pve1")),
            ("", None),
            (".example.com", None),
            ("-pve", None),
            ("pve-", None),
            ("pve_1", None),
            ("pve 1", None),
        ];
        for (host, want) in cases {
            assert_eq!(node_from_hostname(host).ok(), *want, "{host:?}");
        }
        assert!(validate_node_name(&"a".repeat(63)).is_ok());
        assert!(validate_node_name(&"a".repeat(64)).is_err());
        assert!(validate_node_name("pve1.example.com").is_err());
    }

    #[test]
    fn local_link_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("nodes/pve1", Some("pve1")),
            ("/etc/pve/nodes/pve2", Some("pve2")),
            ("nodes/pve1/", Some("pve1")),
            ("pve1", None),
            ("other/pve1", None),
            ("nodes/pve_1", None),
            ("nodes/..", None),
        ];
        for (target, want) in cases {
            assert_eq!(
                node_from_local_link(Path::new(target)).ok(),
                *want,
                "{target:?}"
            );
        }
    }
}
