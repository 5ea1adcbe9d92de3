//! The per-node status file `/etc/pve/nodes/<node>/pve-zfs-snap.json` (pmxcfs): each run
//! writes its node's, `status --cluster` reads every node's.
//!
//! pmxcfs holds regular files only: no symlinks, no chmod (modes come from the path), and a
//! create with `O_TRUNC` is not atomic. So the file is written to a temporary file in the same
//! directory and renamed over the old one; nothing here sets a mode. Callers report a failure
//! to write and never let it block snapshots (pmxcfs is read-only without quorum). Never logs.

use crate::status::{NodeRow, NodeStatus};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// The file's name in `nodes/<node>/`.
pub const FILE: &str = "pve-zfs-snap.json";

/// `<root>/etc/pve/nodes/<node>/pve-zfs-snap.json`.
pub fn path(root: &Path, node: &str) -> PathBuf {
    root.join("etc/pve/nodes").join(node).join(FILE)
}

/// Writes `status` as the node's file: a temporary `.pve-zfs-snap.json.tmp.<pid>` in the
/// same directory, then a rename. Refuses (nothing written) when the file exists and is not
/// a regular file.
pub fn write(root: &Path, status: &NodeStatus) -> io::Result<()> {
    let target = path(root, &status.node);
    let dir = target.parent().expect("has a parent");
    match std::fs::symlink_metadata(&target) {
        Ok(m) if !m.is_file() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} exists and is not a regular file", target.display()),
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let tmp = dir.join(format!(".{FILE}.tmp.{}", std::process::id()));
    let mut bytes = serde_json::to_vec_pretty(status).map_err(io::Error::other)?;
    bytes.push(b'\n');
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &target)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io::Error::new(
            e.kind(),
            format!("cannot write {}: {e}", target.display()),
        ));
    }
    Ok(())
}

/// Every node's status (nodes from `<root>/etc/pve/nodes`, sorted): `Ok(None)` when the
/// node has no file, `Err` when it cannot be read or parsed.
pub fn read_all(root: &Path) -> Vec<NodeRow> {
    super::snapcfg::node_names(root)
        .into_iter()
        .map(|node| {
            let p = path(root, &node);
            let row = match std::fs::read(&p) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("cannot read {}: {e}", p.display())),
                Ok(b) => serde_json::from_slice::<NodeStatus>(&b)
                    .map(Some)
                    .map_err(|e| format!("cannot parse {}: {e}", p.display())),
            };
            (node, row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(node: &str) -> NodeStatus {
        NodeStatus {
            version: 1,
            node: node.into(),
            last_run: "2026-11-21T00:00:00Z".parse().unwrap(),
            exit_code: 0,
            snapshotted: 3,
            stopped: 1,
            excluded: 2,
            failed: 0,
            snapshots_created: 3,
            snapshots_destroyed: 1,
            failures: vec![],
            unprotected: vec![],
            policy_hash: "0123456789abcdef".into(),
            policy_file: true,
        }
    }

    #[test]
    fn writes_by_rename_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for n in ["pve1", "pve2", "pve3"] {
            std::fs::create_dir_all(root.join("etc/pve/nodes").join(n)).unwrap();
        }
        write(root, &status("pve1")).unwrap();
        write(root, &status("pve1")).unwrap();
        std::fs::write(path(root, "pve3"), "{").unwrap();
        let rows = read_all(root);
        assert_eq!(rows[0], ("pve1".to_string(), Ok(Some(status("pve1")))));
        assert_eq!(rows[1], ("pve2".to_string(), Ok(None)));
        assert!(rows[2].1.as_ref().unwrap_err().contains("cannot parse"));
        let left: Vec<_> = std::fs::read_dir(root.join("etc/pve/nodes/pve1"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [FILE], "no temporary file left behind");
    }

    #[test]
    fn refuses_a_symlink_and_fails_without_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/pve/nodes/pve1")).unwrap();
        std::os::unix::fs::symlink("/dev/null", path(root, "pve1")).unwrap();
        assert!(write(root, &status("pve1")).is_err());
        assert!(write(root, &status("pve2")).is_err(), "no nodes/pve2");
    }
}
