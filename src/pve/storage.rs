//! `/etc/pve/storage.cfg` (PVE `SectionConfig` format) and the mapping of a PVE volume id
//! (`local-zfs:vm-100-disk-0`) to the ZFS dataset behind it.
//!
//! Pure: parses strings, returns values or reasons; no I/O, no logging.

use crate::naming::Dataset;

/// One storage definition from `storage.cfg`, reduced to what discovery needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Storage {
    /// Storage id (`local-zfs`).
    pub id: String,
    /// Storage type, lower-cased (`zfspool`, `dir`, `lvmthin`, ...).
    pub kind: String,
    /// `pool` property (zfspool only), as written.
    pub pool: Option<String>,
    /// `nodes` property: where the storage exists; `None` means every node.
    pub nodes: Option<Vec<String>>,
    /// `disable` set (and not `0`).
    pub disabled: bool,
}

impl Storage {
    /// Whether the storage is usable on `node` (not disabled, and `node` in `nodes` if given).
    pub fn available_on(&self, node: &str) -> bool {
        !self.disabled
            && self
                .nodes
                .as_ref()
                .is_none_or(|nodes| nodes.iter().any(|n| n == node))
    }
}

/// A syntax error in `storage.cfg`, with its 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageSyntaxError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Parsed `storage.cfg`: storages in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageConfig {
    /// Storages in file order (duplicate ids: the last one wins, as in PVE).
    pub storages: Vec<Storage>,
}

impl StorageConfig {
    /// Parses the `SectionConfig` text: `type: id` header lines, property lines starting with
    /// whitespace (`key value`, a bare key means `1`), a section ends at the first empty line,
    /// `#` lines are comments.
    pub fn parse(text: &str) -> Result<Self, StorageSyntaxError> {
        let mut storages: Vec<Storage> = Vec::new();
        let mut in_section = false;
        for (idx, raw) in text.lines().enumerate() {
            let line_no = idx + 1;
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() {
                in_section = false;
                continue;
            }
            if line.trim_start().starts_with('#') {
                continue;
            }
            let err = |reason: String| StorageSyntaxError {
                line: line_no,
                reason,
            };
            if line.starts_with(|c: char| c.is_whitespace()) {
                if !in_section {
                    return Err(err(format!(
                        "property line outside of a storage section: {:?}",
                        line.trim()
                    )));
                }
                let body = line.trim();
                let (key, value) = match body.split_once(|c: char| c.is_whitespace()) {
                    Some((k, v)) => (k, v.trim()),
                    None => (body, "1"),
                };
                let current = storages
                    .last_mut()
                    .expect("in_section implies a storage was pushed");
                match key {
                    "pool" => current.pool = Some(value.to_string()),
                    "nodes" => {
                        current.nodes = Some(
                            value
                                .split([',', ';', ' '])
                                .map(str::trim)
                                .filter(|s| !s.is_empty())
                                .map(str::to_string)
                                .collect(),
                        )
                    }
                    "disable" => current.disabled = value != "0",
                    _ => {}
                }
                continue;
            }
            // Header `type: id`.
            let Some((kind, id)) = line.split_once(':') else {
                return Err(err(format!(
                    "expected a 'type: id' header, got {:?}",
                    line.trim()
                )));
            };
            let kind = kind.trim();
            let id = id.trim();
            if kind.is_empty() || kind.contains(char::is_whitespace) {
                return Err(err(format!("bad storage type in header {:?}", line.trim())));
            }
            if !is_storage_id(id) {
                return Err(err(format!("bad storage id {id:?} in header")));
            }
            storages.retain(|s| s.id != id);
            storages.push(Storage {
                id: id.to_string(),
                kind: kind.to_ascii_lowercase(),
                pool: None,
                nodes: None,
                disabled: false,
            });
            in_section = true;
        }
        Ok(StorageConfig { storages })
    }

    /// The storage with this id.
    pub fn get(&self, id: &str) -> Option<&Storage> {
        self.storages.iter().find(|s| s.id == id)
    }
}

/// PVE storage id: `^[a-z][a-z0-9\-_.]*[a-z0-9]$`, case-insensitive, at least 2 characters.
pub fn is_storage_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Splits a volume id `storeid:volname`; `None` when it is not one (paths, `none`, ...).
pub fn split_volume_id(volid: &str) -> Option<(&str, &str)> {
    let (store, name) = volid.split_once(':')?;
    (is_storage_id(store) && !name.is_empty()).then_some((store, name))
}

/// A zfspool volume name, parsed like `ZFSPoolPlugin::parse_volname`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZfsVolname {
    /// The dataset leaf (`vm-101-disk-0`), without a linked clone's `base-…/` prefix.
    pub name: String,
    /// The VMID the volume belongs to (from `name`).
    pub owner: u32,
    /// `subvol-`/`basevol-` (a filesystem) rather than a zvol.
    pub subvol: bool,
}

/// Parses `[(base|basevol)-<n>-<x>/](base|basevol|vm|subvol)-<vmid>-<x>`.
///
/// Unlike PVE's regex, the leaf may not contain `/` (it would name a nested dataset).
pub fn parse_zfs_volname(volname: &str) -> Result<ZfsVolname, String> {
    let (prefix, name) = match volname.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, volname),
    };
    if let Some(p) = prefix {
        match split_pve_name(p) {
            Some(("base" | "basevol", _)) => {}
            _ => {
                return Err(format!(
                    "volume name {volname:?}: prefix {p:?} is not a base image name"
                ));
            }
        }
    }
    if name.contains('/') {
        return Err(format!("volume name {volname:?} has more than one '/'"));
    }
    match split_pve_name(name) {
        Some((kind @ ("base" | "basevol" | "vm" | "subvol"), owner)) => Ok(ZfsVolname {
            name: name.to_string(),
            owner,
            subvol: matches!(kind, "subvol" | "basevol"),
        }),
        _ => Err(format!(
            "volume name {volname:?} is not a PVE zfspool name (vm-/subvol-/base-/basevol-<vmid>-…)"
        )),
    }
}

/// `<kind>-<digits>-<non-space rest>` → (kind, vmid).
fn split_pve_name(s: &str) -> Option<(&str, u32)> {
    let (kind, rest) = s.split_once('-')?;
    let (digits, tail) = rest.split_once('-')?;
    if digits.is_empty()
        || !digits.bytes().all(|c| c.is_ascii_digit())
        || tail.is_empty()
        || tail.contains(char::is_whitespace)
    {
        return None;
    }
    Some((kind, digits.parse().ok()?))
}

/// Maps a zfspool volume name to its dataset: `<pool>/<leaf>`.
pub fn zfs_dataset(pool: &str, volname: &ZfsVolname) -> Result<Dataset, String> {
    let full = format!("{}/{}", pool.trim_end_matches('/'), volname.name);
    Dataset::new(&full).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
dir: local
\tpath /var/lib/vz
\tcontent iso,vztmpl,backup

# a comment
zfspool: local-zfs
\tpool rpool/data
\tsparse
\tcontent images,rootdir

zfspool: tank-vm
        pool tank/pve/vm
        nodes pve2,pve3
\tcontent images

zfspool: old
\tpool old
\tdisable
";

    #[test]
    fn parses_sample() {
        let cfg = StorageConfig::parse(SAMPLE).unwrap();
        let ids: Vec<_> = cfg.storages.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["local", "local-zfs", "tank-vm", "old"]);
        let z = cfg.get("local-zfs").unwrap();
        assert_eq!(
            (z.kind.as_str(), z.pool.as_deref()),
            ("zfspool", Some("rpool/data"))
        );
        assert!(z.available_on("pve1"));
        let t = cfg.get("tank-vm").unwrap();
        assert_eq!(t.pool.as_deref(), Some("tank/pve/vm"));
        assert!(!t.available_on("pve1"));
        assert!(t.available_on("pve3"));
        let o = cfg.get("old").unwrap();
        assert!(o.disabled && !o.available_on("pve1"));
        assert_eq!(cfg.get("local").unwrap().kind, "dir");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let cases: &[(&str, usize)] = &[
            ("\tpool x\n", 1),
            ("dir: local\n\tpath /x\n\n\tpool y\n", 4),
            ("zfspool local-zfs\n", 1),
            ("zfspool: 1bad\n", 1),
            ("dir: local\nzfspool x: y\n", 2),
        ];
        for (text, line) in cases {
            let err = StorageConfig::parse(text).unwrap_err();
            assert_eq!(err.line, *line, "{text:?}: {err:?}");
        }
    }

    #[test]
    fn volume_id_split_table() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            (
                "local-zfs:vm-100-disk-0",
                Some(("local-zfs", "vm-100-disk-0")),
            ),
            ("local:iso/debian.iso", Some(("local", "iso/debian.iso"))),
            ("none", None),
            ("/dev/disk/by-id/ata-X", None),
            ("l:vm-1-disk-0", None),
            ("local-zfs:", None),
            ("9zfs:vm-100-disk-0", None),
        ];
        for (volid, want) in cases {
            assert_eq!(split_volume_id(volid), *want, "{volid}");
        }
    }

    #[test]
    fn volname_to_dataset_table() {
        // (pool, volname, Ok(dataset, owner, subvol) | Err)
        type Want = Result<(&'static str, u32, bool), ()>;
        let cases: &[(&str, &str, Want)] = &[
            (
                "rpool/data",
                "vm-100-disk-0",
                Ok(("rpool/data/vm-100-disk-0", 100, false)),
            ),
            (
                "rpool/data",
                "base-100-disk-0/vm-101-disk-0",
                Ok(("rpool/data/vm-101-disk-0", 101, false)),
            ),
            (
                "tank/pve/ct",
                "subvol-200-disk-1",
                Ok(("tank/pve/ct/subvol-200-disk-1", 200, true)),
            ),
            (
                "rpool/data",
                "basevol-900-disk-0",
                Ok(("rpool/data/basevol-900-disk-0", 900, true)),
            ),
            (
                "rpool/data",
                "basevol-900-disk-0/subvol-901-disk-0",
                Ok(("rpool/data/subvol-901-disk-0", 901, true)),
            ),
            (
                "rpool/data/",
                "vm-100-disk-0",
                Ok(("rpool/data/vm-100-disk-0", 100, false)),
            ),
            (
                "rpool",
                "vm-100-cloudinit",
                Ok(("rpool/vm-100-cloudinit", 100, false)),
            ),
            ("rpool", "disk-0", Err(())),
            ("rpool", "vm-abc-disk-0", Err(())),
            ("rpool", "vm-100-", Err(())),
            ("rpool", "img-100-disk-0", Err(())),
            ("rpool", "vm-100-disk-0/vm-101-disk-0", Err(())),
            ("rpool", "base-100-disk-0/vm-101-a/b", Err(())),
            ("rpool", "vm-100-disk@0", Err(())),
        ];
        for (pool, volname, want) in cases {
            let got = parse_zfs_volname(volname)
                .and_then(|v| zfs_dataset(pool, &v).map(|d| (d.to_string(), v.owner, v.subvol)));
            match (got, want) {
                (Ok((ds, owner, sub)), Ok((wds, wowner, wsub))) => {
                    assert_eq!(
                        (ds.as_str(), owner, sub),
                        (*wds, *wowner, *wsub),
                        "{volname}"
                    )
                }
                (Err(_), Err(())) => {}
                (got, want) => panic!("{pool} {volname}: got {got:?}, want {want:?}"),
            }
        }
    }
}
