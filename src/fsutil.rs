//! The one way this crate writes and reads the files it owns (the cron file, the metrics file,
//! the snapshot-facts cache, the run lock's directory), safely when run as root: only regular
//! files are replaced or read, only in directories owned by the effective uid that no one else
//! can write, with modes set explicitly whatever the umask, and never through a symlink where
//! this crate makes the directory. Every refusal is an `io::Error` naming the path and what is
//! wrong; nothing is replaced then. Effects only: no policy, no logging, no clock.

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// The effective uid: the owner every directory and file this crate trusts must have (root in
/// production; whoever runs the tests in tests).
pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn errno(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

fn refuse(kind: io::ErrorKind, msg: String) -> io::Error {
    io::Error::new(kind, msg)
}

/// What kind of file a mode is, in words for a message.
pub fn kind_name(mode: u32) -> &'static str {
    match SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFREG => "a regular file",
        SFlag::S_IFDIR => "a directory",
        SFlag::S_IFLNK => "a symlink",
        SFlag::S_IFIFO => "a FIFO",
        SFlag::S_IFCHR => "a character device",
        SFlag::S_IFBLK => "a block device",
        SFlag::S_IFSOCK => "a socket",
        _ => "not a regular file",
    }
}

fn is_kind(st: &FileStat, kind: SFlag) -> bool {
    (st.st_mode & SFlag::S_IFMT.bits()) == kind.bits()
}

/// Checks that `st` (of the directory `dir`) is one this crate may trust: owned by the
/// effective uid and not writable by group or others.
fn check_dir_stat(dir: &Path, st: &FileStat) -> io::Result<()> {
    if !is_kind(st, SFlag::S_IFDIR) {
        return Err(refuse(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is {}, not a directory",
                dir.display(),
                kind_name(st.st_mode)
            ),
        ));
    }
    if st.st_uid != euid() {
        return Err(refuse(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing to use {}: it is owned by uid {}, not {} (who runs this); \
                 make it owned by uid {} and not group/other-writable",
                dir.display(),
                st.st_uid,
                euid(),
                euid()
            ),
        ));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(refuse(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing to use {}: it is group/other-writable (mode {:04o}); `chmod go-w` it",
                dir.display(),
                st.st_mode & 0o7777
            ),
        ));
    }
    Ok(())
}

/// Opens the directory `dir` and checks it is safe to write in: owned by the effective uid,
/// not group/other-writable. With `follow` false, `dir` itself must not be a symlink.
pub fn open_safe_dir(dir: &Path, follow: bool) -> io::Result<OwnedFd> {
    let mut flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    if !follow {
        flags |= OFlag::O_NOFOLLOW;
    }
    let fd = match nix::fcntl::open(dir, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) | Err(Errno::ENOTDIR) if !follow && is_symlink(dir) => {
            return Err(refuse(
                io::ErrorKind::InvalidInput,
                format!(
                    "refusing to use {}: it is a symlink; remove it (the directory is made anew)",
                    dir.display()
                ),
            ));
        }
        Err(Errno::ENOTDIR) => {
            return Err(refuse(
                io::ErrorKind::InvalidInput,
                format!("refusing to use {}: it is not a directory", dir.display()),
            ));
        }
        Err(e) => {
            return Err(io::Error::new(
                errno(e).kind(),
                format!("cannot open directory {}: {e}", dir.display()),
            ));
        }
    };
    let st = nix::sys::stat::fstat(&fd).map_err(errno)?;
    check_dir_stat(dir, &st)?;
    Ok(fd)
}

fn is_symlink(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

/// Makes sure `dir` is a directory of this crate's: creates it with exactly `mode` (whatever
/// the umask) when missing — its parent must exist — and otherwise checks it is not a symlink,
/// is a directory owned by the effective uid, and (when `heal`) sets its mode back to `mode` if
/// group or others could write it (a directory of ours left 0777 by an older version under
/// umask 000), else refuses it when they can. Returns it opened.
pub fn ensure_private_dir(dir: &Path, mode: u32, heal: bool) -> io::Result<OwnedFd> {
    match nix::unistd::mkdir(dir, Mode::from_bits_truncate(mode)) {
        Ok(()) => {
            let fd = nix::fcntl::open(
                dir,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno)?;
            nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode)).map_err(errno)?;
            check_dir_stat(dir, &nix::sys::stat::fstat(&fd).map_err(errno)?)?;
            return Ok(fd);
        }
        Err(Errno::EEXIST) => {}
        Err(Errno::ENOENT) => {
            let parent = dir.parent().unwrap_or(Path::new("/"));
            return Err(refuse(
                io::ErrorKind::NotFound,
                format!(
                    "cannot create {}: {} does not exist",
                    dir.display(),
                    parent.display()
                ),
            ));
        }
        Err(e) => {
            return Err(io::Error::new(
                errno(e).kind(),
                format!("cannot create directory {}: {e}", dir.display()),
            ));
        }
    }
    if heal {
        // Open without following, check everything but the mode, then take the write bits
        // away through the descriptor (no race with a rename of the path).
        let fd = match nix::fcntl::open(
            dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(_) => return open_safe_dir(dir, false), // the precise refusal
        };
        let st = nix::sys::stat::fstat(&fd).map_err(errno)?;
        if is_kind(&st, SFlag::S_IFDIR) && st.st_uid == euid() && st.st_mode & 0o022 != 0 {
            nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode)).map_err(errno)?;
        }
    }
    open_safe_dir(dir, false)
}

/// Makes the directory `dir` with exactly `mode` (whatever the umask) when missing (its
/// parent must exist); an existing one is left as it is, but must be a directory.
pub fn ensure_dir(dir: &Path, mode: u32) -> io::Result<()> {
    match nix::unistd::mkdir(dir, Mode::from_bits_truncate(mode)) {
        Ok(()) => {
            let fd = nix::fcntl::open(
                dir,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno)?;
            nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode)).map_err(errno)
        }
        Err(Errno::EEXIST) if dir.is_dir() => Ok(()),
        Err(e) => Err(io::Error::new(
            errno(e).kind(),
            format!("cannot create directory {}: {e}", dir.display()),
        )),
    }
}

/// A regular file read by [`read_regular`], with its owner and permission bits.
#[derive(Debug)]
pub struct Regular {
    /// Its content.
    pub bytes: Vec<u8>,
    /// Its owner.
    pub uid: u32,
    /// Its permission bits (`& 0o7777`).
    pub mode: u32,
}

/// Reads `path` if it is a regular file: `Ok(None)` when it does not exist, an error when it is
/// anything else (a symlink is not followed; a FIFO or a device is not opened for reading in a
/// way that could block).
pub fn read_regular(path: &Path) -> io::Result<Option<Regular>> {
    let fd = match nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) => return Err(not_regular(path, "a symlink")),
        Err(e) => {
            return Err(io::Error::new(
                errno(e).kind(),
                format!("cannot open {}: {e}", path.display()),
            ));
        }
    };
    let st = nix::sys::stat::fstat(&fd).map_err(errno)?;
    if !is_kind(&st, SFlag::S_IFREG) {
        return Err(not_regular(path, kind_name(st.st_mode)));
    }
    let mut bytes = Vec::with_capacity(st.st_size.max(0) as usize);
    File::from(fd).read_to_end(&mut bytes)?;
    Ok(Some(Regular {
        bytes,
        uid: st.st_uid,
        mode: st.st_mode & 0o7777,
    }))
}

fn not_regular(path: &Path, what: &str) -> io::Error {
    refuse(
        io::ErrorKind::InvalidInput,
        format!(
            "refusing to replace {}: it is {what}, not a regular file (nothing written; \
             remove it or choose another path)",
            path.display()
        ),
    )
}

/// Replaces `path` with `bytes` (see [`replace_file_in`]) in its directory, which must exist
/// and be safe ([`open_safe_dir`], following a symlink to it).
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32, prefix: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        refuse(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let dirfd = open_safe_dir(dir, true)?;
    replace_file_in(&dirfd, dir, Path::new(name), bytes, mode, prefix)
}

/// Replaces the entry `name` of the open directory `dirfd` (`dir`, for messages) with
/// `bytes`: a new temporary file `<prefix><random>` made there with `O_EXCL`, mode `mode` set
/// explicitly (whatever the umask), written, fsynced, renamed over `name`, then the directory
/// fsynced. Readers see the old or the new content, never a part. Refuses (nothing written)
/// when `name` exists and is not a regular file: a symlink, a FIFO, a device, a directory.
pub fn replace_file_in(
    dirfd: &OwnedFd,
    dir: &Path,
    name: &Path,
    bytes: &[u8],
    mode: u32,
    prefix: &str,
) -> io::Result<()> {
    let path = dir.join(name);
    match nix::sys::stat::fstatat(dirfd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if is_kind(&st, SFlag::S_IFREG) => {}
        Ok(st) => return Err(not_regular(&path, kind_name(st.st_mode))),
        Err(Errno::ENOENT) => {}
        Err(e) => {
            return Err(io::Error::new(
                errno(e).kind(),
                format!("cannot look at {}: {e}", path.display()),
            ));
        }
    }
    let mode = Mode::from_bits_truncate(mode & 0o7777);
    let (tmp, fd) = create_temporary(dirfd, prefix, mode)?;
    let written = (|| {
        nix::sys::stat::fchmod(&fd, mode).map_err(errno)?;
        let mut f = File::from(fd);
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        nix::fcntl::renameat(dirfd, tmp.as_str(), dirfd, name).map_err(errno)
    })();
    if let Err(e) = written {
        let _ = nix::unistd::unlinkat(dirfd, tmp.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        return Err(io::Error::new(
            e.kind(),
            format!("cannot write {}: {e}", path.display()),
        ));
    }
    nix::unistd::fsync(dirfd.as_fd()).map_err(errno)?;
    Ok(())
}

/// A new file `<prefix><16 random hex digits>` in `dirfd`, made with `O_EXCL` (never an
/// existing entry, never through a symlink).
fn create_temporary(dirfd: &OwnedFd, prefix: &str, mode: Mode) -> io::Result<(String, OwnedFd)> {
    let random = std::collections::hash_map::RandomState::new();
    for attempt in 0u64..32 {
        let mut h = random.build_hasher();
        h.write_u64(attempt);
        let name = format!("{prefix}{:016x}", h.finish());
        match nix::fcntl::openat(
            dirfd,
            name.as_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            mode,
        ) {
            Ok(fd) => return Ok((name, fd)),
            Err(Errno::EEXIST) => continue,
            Err(e) => return Err(errno(e)),
        }
    }
    Err(errno(Errno::EEXIST))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// Sets the mode of `p` exactly.
    pub(crate) fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn replaces_with_mode_and_leaves_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, "old").unwrap();
        replace_file(&p, b"new", 0o600, ".t.").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(mode_of(&p), 0o600);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        assert!(replace_file(&d.path().join("missing/f"), b"x", 0o644, ".t.").is_err());
        // A new file gets the mode asked for, not what the umask leaves of it.
        let q = d.path().join("g");
        replace_file(&q, b"x", 0o644, ".t.").unwrap();
        assert_eq!(mode_of(&q), 0o644);
    }

    /// The bug: `--metrics-file /dev/null` was replaced by a regular file. Whatever is not a
    /// regular file is refused, with its path and kind named, and left as it was.
    #[test]
    fn what_is_not_a_regular_file_is_refused_and_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o644)).unwrap();
        let target = d.path().join("target");
        std::fs::write(&target, "precious").unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let dangling = d.path().join("dangling");
        std::os::unix::fs::symlink(d.path().join("nowhere"), &dangling).unwrap();
        let sub = d.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        // (path, kind named in the message)
        let cases = [
            (&fifo, "a FIFO"),
            (&link, "a symlink"),
            (&dangling, "a symlink"),
            (&sub, "a directory"),
        ];
        for (p, kind) in cases {
            let before = std::fs::symlink_metadata(p).unwrap();
            let e = replace_file(p, b"x", 0o644, ".t.").unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(&p.display().to_string()), "{msg}");
            assert!(msg.contains(kind), "{msg}");
            let after = std::fs::symlink_metadata(p).unwrap();
            assert_eq!(
                (before.ino(), before.mode()),
                (after.ino(), after.mode()),
                "{p:?} untouched"
            );
            if kind != "a directory" {
                assert!(read_regular(p).is_err(), "{p:?}: not read");
            }
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            5,
            "no temporary file left"
        );
        assert!(
            !dangling.exists() && !d.path().join("nowhere").exists(),
            "nothing made through the dangling symlink"
        );
    }

    #[test]
    fn unsafe_directories_are_refused() {
        let d = tempfile::tempdir().unwrap();
        // (directory mode, refused)
        for (mode, refused) in [
            (0o700, false),
            (0o755, false),
            (0o775, true),
            (0o757, true),
            (0o1777, true),
        ] {
            let dir = d.path().join(format!("d{mode:o}"));
            std::fs::create_dir(&dir).unwrap();
            chmod(&dir, mode);
            let p = dir.join("f");
            let got = replace_file(&p, b"x", 0o644, ".t.");
            assert_eq!(got.is_err(), refused, "{mode:o}: {got:?}");
            if let Err(e) = got {
                assert!(e.to_string().contains("group/other-writable"), "{e}");
                assert!(!p.exists());
            }
        }
        if euid() == 0 {
            let dir = d.path().join("foreign");
            std::fs::create_dir(&dir).unwrap();
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            let e = replace_file(&dir.join("f"), b"x", 0o644, ".t.").unwrap_err();
            assert!(e.to_string().contains("owned by uid 65534"), "{e}");
        }
    }

    #[test]
    fn private_dirs_are_made_with_their_mode_and_never_through_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("priv");
        ensure_private_dir(&dir, 0o700, false).unwrap();
        assert_eq!(mode_of(&dir), 0o700);
        ensure_private_dir(&dir, 0o700, false).unwrap();
        // Left writable by others: refused, or healed when asked to.
        chmod(&dir, 0o777);
        let e = ensure_private_dir(&dir, 0o700, false).unwrap_err();
        assert!(e.to_string().contains("group/other-writable"), "{e}");
        ensure_private_dir(&dir, 0o700, true).unwrap();
        assert_eq!(mode_of(&dir), 0o700);
        // A symlink in its place is refused, even to a good directory.
        let elsewhere = d.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        chmod(&elsewhere, 0o700);
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        for heal in [false, true] {
            let e = ensure_private_dir(&link, 0o700, heal).unwrap_err();
            assert!(e.to_string().contains("is a symlink"), "{e}");
        }
        // A missing parent is not created.
        let e = ensure_private_dir(&d.path().join("no/priv"), 0o700, false).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(!d.path().join("no").exists());
    }

    #[test]
    fn read_regular_table() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, "abc").unwrap();
        chmod(&f, 0o640);
        let r = read_regular(&f).unwrap().unwrap();
        assert_eq!(
            (r.bytes.as_slice(), r.uid, r.mode),
            (&b"abc"[..], euid(), 0o640)
        );
        assert!(read_regular(&d.path().join("none")).unwrap().is_none());
    }
}
