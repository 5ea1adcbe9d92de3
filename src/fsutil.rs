//! Replacing a file atomically: the one way this crate writes files it owns (the cron file,
//! the metrics file, the snapshot-facts cache). Effects only; no policy, no logging.

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Replaces `path` with `bytes`: a temporary file named `<prefix>…` in the same directory
/// (which must exist), mode `mode`, fsync, rename over `path`, then fsync of the directory.
/// Readers see the old or the new content, never a part.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32, prefix: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(prefix).tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_with_mode_and_leaves_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, "old").unwrap();
        replace_file(&p, b"new", 0o600, ".t.").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        assert!(replace_file(&d.path().join("missing/f"), b"x", 0o644, ".t.").is_err());
    }
}
