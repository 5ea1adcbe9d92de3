//! The in-memory pool model behind the emulator: pools, filesystems and volumes, snapshots
//! (holds, clones, `defer_destroy`, user properties), bookmarks, and the operations that the
//! channel-program API and the CLI share, each returning an errno like the kernel would.
//!
//! Pure data and rules: no Lua, no I/O, no printing. Names are full ZFS names
//! (`pool/fs`, `pool/fs@snap`, `pool/fs#bm`); every dataset of a pool, the pool's root
//! filesystem included, lives in one flat map keyed by its full name.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Linux errno values the emulator returns (all of them, with the rest, are Lua globals:
/// [`GLOBALS`](errno::GLOBALS)).
pub(crate) mod errno {
    pub(crate) const ENOENT: i32 = 2;
    pub(crate) const EINTR: i32 = 4;
    pub(crate) const EIO: i32 = 5;
    pub(crate) const E2BIG: i32 = 7;
    pub(crate) const EAGAIN: i32 = 11;
    pub(crate) const ENOMEM: i32 = 12;
    pub(crate) const EBUSY: i32 = 16;
    pub(crate) const EEXIST: i32 = 17;
    pub(crate) const EXDEV: i32 = 18;
    pub(crate) const EINVAL: i32 = 22;
    pub(crate) const ENOSPC: i32 = 28;
    pub(crate) const ENAMETOOLONG: i32 = 36;
    pub(crate) const ECHRNG: i32 = 44;
    pub(crate) const ETIME: i32 = 62;
    /// Every errno global a channel program sees, with its Linux value.
    pub(crate) const GLOBALS: &[(&str, i32)] = &[
        ("EPERM", 1),
        ("ENOENT", 2),
        ("ESRCH", 3),
        ("EINTR", 4),
        ("EIO", 5),
        ("ENXIO", 6),
        ("E2BIG", 7),
        ("ENOEXEC", 8),
        ("EBADF", 9),
        ("ECHILD", 10),
        ("EAGAIN", 11),
        ("ENOMEM", 12),
        ("EACCES", 13),
        ("EFAULT", 14),
        ("ENOTBLK", 15),
        ("EBUSY", 16),
        ("EEXIST", 17),
        ("EXDEV", 18),
        ("ENODEV", 19),
        ("ENOTDIR", 20),
        ("EISDIR", 21),
        ("EINVAL", 22),
        ("ENFILE", 23),
        ("EMFILE", 24),
        ("ENOTTY", 25),
        ("ETXTBSY", 26),
        ("EFBIG", 27),
        ("ENOSPC", 28),
        ("ESPIPE", 29),
        ("EROFS", 30),
        ("EMLINK", 31),
        ("EPIPE", 32),
        ("EDOM", 33),
        ("ERANGE", 34),
        ("EDEADLK", 35),
        ("ENAMETOOLONG", 36),
        ("ENOLCK", 37),
        ("ECANCELED", 125),
        ("ENOTSUP", 95),
        ("EDQUOT", 122),
    ];
}
use errno::*;

/// Maximum length of a full dataset name (ZFS_MAX_DATASET_NAME_LEN is 256 with the NUL).
pub(crate) const MAX_NAME_LEN: usize = 255;

/// Kind of a head dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum DsKind {
    Filesystem,
    Volume,
}

/// A snapshot of a dataset.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnapNode {
    pub createtxg: u64,
    pub creation: i64,
    pub(crate) guid: u64,
    /// User properties set on the snapshot itself.
    #[serde(default)]
    pub(crate) user_props: BTreeMap<String, String>,
    /// User holds: tag → epoch seconds of the hold.
    #[serde(default)]
    pub(crate) holds: BTreeMap<String, i64>,
    /// Full names of the clones of this snapshot.
    #[serde(default)]
    pub(crate) clones: BTreeSet<String>,
    #[serde(default)]
    pub(crate) defer_destroy: bool,
}

/// A bookmark: carries the identity of the snapshot it was made from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BookmarkNode {
    pub(crate) createtxg: u64,
    pub(crate) creation: i64,
    pub(crate) guid: u64,
}

/// A filesystem or volume.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatasetNode {
    pub(crate) kind: DsKind,
    pub(crate) createtxg: u64,
    pub(crate) creation: i64,
    pub(crate) guid: u64,
    #[serde(default)]
    pub(crate) volsize: Option<u64>,
    /// The CLI mounted this filesystem when it made it (ZCP-made clones are not mounted);
    /// whether it is mounted now also depends on `mountpoint`/`canmount`, see
    /// [`Pool::is_mounted`]. Mounted filesystems refuse ZCP destroy/rollback with EBUSY.
    #[serde(default)]
    pub(crate) mounted: bool,
    #[serde(default)]
    pub(crate) user_props: BTreeMap<String, String>,
    /// Values that arrived with `zfs recv` (source `$recvd` / `received`).
    #[serde(default)]
    pub(crate) received_props: BTreeMap<String, String>,
    #[serde(default)]
    pub snapshots: BTreeMap<String, SnapNode>,
    #[serde(default)]
    pub bookmarks: BTreeMap<String, BookmarkNode>,
    /// `pool/fs@snap` this dataset was cloned from.
    #[serde(default)]
    pub(crate) origin: Option<String>,
    /// txg of the last snapshot taken (EAGAIN for a second one in the same txg).
    #[serde(default)]
    pub(crate) last_snap_txg: u64,
    /// Locally set native properties, only the ones in [`NATIVE_SETTABLE`].
    #[serde(default)]
    pub(crate) native_props: BTreeMap<String, String>,
    /// `snapshots_changed` (2.2+): epoch seconds of the last change of the snapshot list
    /// (`dsl_dir_snap_cmtime_update`: every snapshot create and every name removal, i.e.
    /// destroy, rename, promote's move out); 0 until the first one. Absent in old state files.
    #[serde(default)]
    pub snapshots_changed: i64,
    /// The dataset has received properties at least once (the kernel's `$hasrecvd`): the
    /// first property-carrying receive into an existing dataset clears its local properties,
    /// later ones replace only the received values.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) has_recvd: bool,
    /// An interrupted `zfs recv -s` into this dataset (`receive_resume_token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) resume: Option<ResumeState>,
}

/// What a partially received snapshot left on its target (`zfs recv -s`): enough to name it in
/// a `receive_resume_token` and to finish it from a `zfs send -t` stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ResumeState {
    /// Full name of the snapshot on the sending side (`toname`).
    pub(crate) toname: String,
    pub(crate) toguid: u64,
    /// Incremental source guid (`None`: a full stream).
    pub(crate) fromguid: Option<u64>,
    /// Stream bytes of this snapshot received so far.
    pub(crate) bytes: u64,
    /// The receive created the dataset (a full stream into a new dataset, which stays
    /// inconsistent until resumed or aborted with `zfs recv -A`).
    pub(crate) newfs: bool,
}

impl DatasetNode {
    /// Adds a snapshot to the snapshot list (`dsl_dataset_snapshot_sync_impl`).
    fn add_snapshot(&mut self, name: &str, sn: SnapNode, now: i64) {
        self.snapshots.insert(name.to_string(), sn);
        self.snapshots_changed = now;
    }

    /// Takes a snapshot name out of the list (`dsl_dataset_snap_remove`).
    fn remove_snapshot(&mut self, name: &str, now: i64) -> Option<SnapNode> {
        let sn = self.snapshots.remove(name)?;
        self.snapshots_changed = now;
        Some(sn)
    }
}

/// The native properties the emulator lets the CLI set (`zfs create -o`, `zfs set`).
pub(crate) const NATIVE_SETTABLE: &[&str] = &["compression", "mountpoint", "canmount", "readonly"];

/// Native properties whose value passes to descendants (`canmount` does not inherit).
const NATIVE_INHERITED: &[&str] = &["compression", "mountpoint", "readonly"];

/// Does the settable native property `prop` apply to a dataset of `kind`?
pub(crate) fn native_applies(prop: &str, kind: DsKind) -> bool {
    match prop {
        "compression" | "readonly" => true,
        "mountpoint" | "canmount" => kind == DsKind::Filesystem,
        _ => false,
    }
}

/// Is `value` acceptable for the settable native property `prop` (and `prop` settable on a
/// dataset of `kind`)?
pub(crate) fn valid_native_value(prop: &str, value: &str, kind: DsKind) -> bool {
    if !native_applies(prop, kind) {
        return false;
    }
    match prop {
        "readonly" => matches!(value, "on" | "off"),
        "compression" => {
            let level =
                |rest: &str, max: u32| rest.parse::<u32>().is_ok_and(|n| (1..=max).contains(&n));
            matches!(
                value,
                "on" | "off" | "lzjb" | "gzip" | "zle" | "lz4" | "zstd" | "zstd-fast"
            ) || value.strip_prefix("gzip-").is_some_and(|r| level(r, 9))
                || value.strip_prefix("zstd-").is_some_and(|r| level(r, 19))
        }
        "mountpoint" => matches!(value, "none" | "legacy") || value.starts_with('/'),
        "canmount" => matches!(value, "on" | "off" | "noauto"),
        _ => false,
    }
}

/// One pool: its datasets by full name (the pool's root filesystem has the pool's name).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Pool {
    pub datasets: BTreeMap<String, DatasetNode>,
}

/// What a full name designates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameKind<'a> {
    Dataset(&'a str),
    Snapshot(&'a str, &'a str),
    Bookmark(&'a str, &'a str),
}

/// Splits `ds`, `ds@snap` or `ds#bm`. `@` wins over `#` like in ZFS (first delimiter).
pub(crate) fn split_name(name: &str) -> NameKind<'_> {
    match name.bytes().position(|b| b == b'@' || b == b'#') {
        Some(i) if name.as_bytes()[i] == b'@' => NameKind::Snapshot(&name[..i], &name[i + 1..]),
        Some(i) => NameKind::Bookmark(&name[..i], &name[i + 1..]),
        None => NameKind::Dataset(name),
    }
}

/// Pool part of a name: up to the first `/`, `@` or `#`.
pub(crate) fn pool_of(name: &str) -> &str {
    let end = name.find(['/', '@', '#']).unwrap_or(name.len());
    &name[..end]
}

/// One component of a dataset name: `[A-Za-z0-9_.: -]+`.
pub(crate) fn valid_component(c: &str) -> bool {
    !c.is_empty()
        && c.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_.: -".contains(ch))
}

/// A dataset path `pool/a/b` with valid components.
pub(crate) fn valid_dataset_name(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN && name.split('/').all(valid_component)
}

/// User property name: `[a-z0-9:._-]+` containing a `:`.
pub(crate) fn is_user_prop(prop: &str) -> bool {
    prop.contains(':')
        && prop
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ":._-".contains(c))
}

/// Parent of a dataset path (`None` for a pool root).
pub(crate) fn parent_of(ds: &str) -> Option<&str> {
    ds.rfind('/').map(|i| &ds[..i])
}

/// A property value with the dataset name it comes from (`$recvd` for received).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PropHit {
    pub(crate) value: String,
    pub(crate) setpoint: String,
    /// The value is a received one (on the dataset itself or an ancestor).
    pub(crate) received: bool,
    /// Found on the dataset itself (local or received), not inherited.
    pub(crate) on_self: bool,
}

impl Pool {
    /// Looks up a head dataset.
    pub fn ds(&self, name: &str) -> Option<&DatasetNode> {
        self.datasets.get(name)
    }

    /// Looks up a snapshot by full name.
    pub(crate) fn snap(&self, full: &str) -> Option<&SnapNode> {
        match split_name(full) {
            NameKind::Snapshot(ds, s) => self.datasets.get(ds)?.snapshots.get(s),
            _ => None,
        }
    }

    /// Direct children names of a head dataset.
    pub(crate) fn children(&self, ds: &str) -> Vec<String> {
        let prefix = format!("{ds}/");
        self.datasets
            .keys()
            .filter(|k| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
            .cloned()
            .collect()
    }

    /// Effective user property of a dataset or snapshot, with its setpoint, following ZFS's
    /// `dsl_prop_get_dd` rules: local before received on each level, `$recvd` only for a
    /// value received on the dataset itself.
    pub(crate) fn user_prop(&self, name: &str, prop: &str) -> Option<PropHit> {
        let (mut ds, snapshot) = match split_name(name) {
            NameKind::Snapshot(ds, s) => {
                let sn = self.datasets.get(ds)?.snapshots.get(s)?;
                if let Some(v) = sn.user_props.get(prop) {
                    return Some(PropHit {
                        value: v.clone(),
                        setpoint: name.to_string(),
                        received: false,
                        on_self: true,
                    });
                }
                (ds, true)
            }
            NameKind::Dataset(ds) => (ds, false),
            NameKind::Bookmark(..) => return None,
        };
        let mut first = true;
        loop {
            let node = self.datasets.get(ds)?;
            let inheriting = !first || snapshot;
            if let Some(v) = node.user_props.get(prop) {
                return Some(PropHit {
                    value: v.clone(),
                    setpoint: ds.to_string(),
                    received: false,
                    on_self: !inheriting,
                });
            }
            if let Some(v) = node.received_props.get(prop) {
                return Some(PropHit {
                    value: v.clone(),
                    setpoint: if inheriting {
                        ds.to_string()
                    } else {
                        "$recvd".to_string()
                    },
                    received: true,
                    on_self: !inheriting,
                });
            }
            first = false;
            ds = parent_of(ds)?;
        }
    }

    /// All user property names visible on a dataset or snapshot (own and inherited).
    pub(crate) fn user_prop_names(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut ds = match split_name(name) {
            NameKind::Snapshot(ds, s) => {
                if let Some(sn) = self.snap(name) {
                    out.extend(sn.user_props.keys().cloned());
                }
                let _ = s;
                ds
            }
            NameKind::Dataset(ds) => ds,
            NameKind::Bookmark(..) => return out,
        };
        loop {
            if let Some(node) = self.datasets.get(ds) {
                out.extend(node.user_props.keys().cloned());
                out.extend(node.received_props.keys().cloned());
            }
            match parent_of(ds) {
                Some(p) => ds = p,
                None => return out,
            }
        }
    }

    /// A locally set or inherited native property of a head dataset ([`NATIVE_SETTABLE`]):
    /// its value and the dataset it is set on; `None` = the default applies. An inherited
    /// `mountpoint` path gets the relative path of `ds` below the setpoint appended.
    pub(crate) fn native_prop(&self, ds: &str, prop: &str) -> Option<PropHit> {
        let mut at = ds;
        loop {
            let node = self.datasets.get(at)?;
            if let Some(v) = node.native_props.get(prop) {
                let mut value = v.clone();
                if prop == "mountpoint" && at != ds && value.starts_with('/') {
                    let rel = &ds[at.len() + 1..];
                    value = format!("{}/{rel}", value.trim_end_matches('/'));
                }
                return Some(PropHit {
                    value,
                    setpoint: at.to_string(),
                    received: false,
                    on_self: at == ds,
                });
            }
            if !NATIVE_INHERITED.contains(&prop) {
                return None;
            }
            at = parent_of(at)?;
        }
    }

    /// Is a head dataset mounted? Volumes never are; a filesystem is when it was mounted
    /// (the CLI mounts what it creates, ZCP does not) and its effective `mountpoint` is a
    /// path and `canmount` is not `off`.
    pub(crate) fn is_mounted(&self, ds: &str) -> bool {
        let Some(node) = self.datasets.get(ds) else {
            return false;
        };
        if node.kind != DsKind::Filesystem || !node.mounted {
            return false;
        }
        let mp = self.native_prop(ds, "mountpoint");
        let cm = self.native_prop(ds, "canmount");
        mp.is_none_or(|h| h.value != "none" && h.value != "legacy")
            && cm.is_none_or(|h| h.value != "off")
    }

    /// Does a dataset or snapshot exist (bookmarks never "exist" for ZCP)?
    pub(crate) fn exists(&self, name: &str) -> bool {
        match split_name(name) {
            NameKind::Dataset(ds) => self.datasets.contains_key(ds),
            NameKind::Snapshot(ds, s) => self
                .datasets
                .get(ds)
                .is_some_and(|d| d.snapshots.contains_key(s)),
            NameKind::Bookmark(..) => false,
        }
    }
}

/// Identity values for a new object: txg, creation time, guid.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp {
    pub(crate) txg: u64,
    pub(crate) now: i64,
    pub(crate) guid: u64,
}

/// Takes `ds@snap` (`dsl_dataset_snapshot_check` rules). `txg` is the txg this happens in.
pub(crate) fn snapshot(pool: &mut Pool, full: &str, st: Stamp, dry_run: bool) -> i32 {
    let (ds, s) = match split_name(full) {
        NameKind::Snapshot(ds, s) => (ds, s),
        _ => return EINVAL,
    };
    if full.len() > MAX_NAME_LEN {
        return ENAMETOOLONG;
    }
    let Some(node) = pool.datasets.get_mut(ds) else {
        return ENOENT;
    };
    if node.snapshots.contains_key(s) {
        return EEXIST;
    }
    if node.last_snap_txg == st.txg {
        return EAGAIN;
    }
    if !dry_run {
        node.last_snap_txg = st.txg;
        node.add_snapshot(
            s,
            SnapNode {
                createtxg: st.txg,
                creation: st.now,
                guid: st.guid,
                user_props: BTreeMap::new(),
                holds: BTreeMap::new(),
                clones: BTreeSet::new(),
                defer_destroy: false,
            },
            st.now,
        );
    }
    0
}

/// Destroys a snapshot as `zfs.sync.destroy` does: missing → 0, holds → EBUSY,
/// clones → EEXIST, `defer` turns those two into `defer_destroy`. `now`: the time of the
/// change (`snapshots_changed`).
pub(crate) fn destroy_snapshot(
    pool: &mut Pool,
    full: &str,
    defer: bool,
    now: i64,
    dry_run: bool,
) -> i32 {
    let NameKind::Snapshot(ds, s) = split_name(full) else {
        return EINVAL;
    };
    let Some(node) = pool.datasets.get_mut(ds) else {
        return 0;
    };
    let Some(sn) = node.snapshots.get_mut(s) else {
        return 0;
    };
    let busy = !sn.holds.is_empty() || !sn.clones.is_empty();
    if busy {
        if defer {
            if !dry_run {
                sn.defer_destroy = true;
            }
            return 0;
        }
        return if !sn.holds.is_empty() { EBUSY } else { EEXIST };
    }
    if !dry_run {
        node.remove_snapshot(s, now);
    }
    0
}

/// Destroys a filesystem or volume: ENOENT, EBUSY (mounted when `refuse_mounted`, or has
/// snapshots), EEXIST (has children). A clone releases its origin snapshot (at `now`, if that
/// ends a deferred destroy).
pub(crate) fn destroy_dataset(
    pool: &mut Pool,
    ds: &str,
    refuse_mounted: bool,
    now: i64,
    dry_run: bool,
) -> i32 {
    let Some(node) = pool.datasets.get(ds) else {
        return ENOENT;
    };
    if parent_of(ds).is_none() {
        return EBUSY; // the pool's root filesystem
    }
    // dsl_destroy_head_check order: long holds (mounted), snapshots, then children.
    if (refuse_mounted && pool.is_mounted(ds)) || !node.snapshots.is_empty() {
        return EBUSY;
    }
    if !pool.children(ds).is_empty() {
        return EEXIST;
    }
    if !dry_run {
        let origin = node.origin.clone();
        pool.datasets.remove(ds);
        if let Some(o) = origin {
            release_clone(pool, &o, ds, now);
        }
    }
    0
}

/// Removes `clone` from the clones of `origin`; a deferred, now free snapshot goes away.
fn release_clone(pool: &mut Pool, origin: &str, clone: &str, now: i64) {
    if let NameKind::Snapshot(ods, os) = split_name(origin)
        && let Some(onode) = pool.datasets.get_mut(ods)
        && let Some(sn) = onode.snapshots.get_mut(os)
    {
        sn.clones.remove(clone);
        if sn.defer_destroy && sn.clones.is_empty() && sn.holds.is_empty() {
            onode.remove_snapshot(os, now);
        }
    }
}

/// Creates `ds#bm` from `ds@snap` or another bookmark.
pub(crate) fn bookmark(pool: &mut Pool, src: &str, new: &str, st: Stamp, dry_run: bool) -> i32 {
    let NameKind::Bookmark(nds, nb) = split_name(new) else {
        return EINVAL;
    };
    if !valid_component(nb) || !valid_dataset_name(nds) || new.len() > MAX_NAME_LEN {
        return EINVAL;
    }
    let ident = match split_name(src) {
        NameKind::Snapshot(sds, ss) => {
            if !valid_component(ss) || !valid_dataset_name(sds) {
                return EINVAL;
            }
            match pool.snap(src) {
                Some(sn) => (sds, sn.createtxg, sn.creation, sn.guid),
                None => return ENOENT,
            }
        }
        NameKind::Bookmark(sds, sb) => match pool.ds(sds).and_then(|n| n.bookmarks.get(sb)) {
            Some(b) => (sds, b.createtxg, b.creation, b.guid),
            None => return ENOENT,
        },
        NameKind::Dataset(_) => return EINVAL,
    };
    let (sds, createtxg, creation, guid) = ident;
    let Some(target) = pool.datasets.get(nds) else {
        return ENOENT;
    };
    if target.bookmarks.contains_key(nb) {
        return EEXIST;
    }
    if sds != nds {
        return 1039; // ZFS_ERR_BOOKMARK_SOURCE_NOT_ANCESTOR (clones are not modelled here)
    }
    let _ = st;
    if !dry_run {
        let target = pool.datasets.get_mut(nds).expect("checked above");
        target.bookmarks.insert(
            nb.to_string(),
            BookmarkNode {
                createtxg,
                creation,
                guid,
            },
        );
    }
    0
}

/// Sets a user property on a dataset or snapshot (`zfs.sync.set_prop` rules).
pub(crate) fn set_user_prop(
    pool: &mut Pool,
    name: &str,
    prop: &str,
    value: &str,
    dry_run: bool,
) -> i32 {
    if !is_user_prop(prop) {
        return EINVAL;
    }
    if prop.len() > MAX_NAME_LEN {
        return ENAMETOOLONG;
    }
    if value.len() >= 8192 {
        return E2BIG;
    }
    let Some(slot) = local_user_props(pool, name) else {
        return ENOENT;
    };
    if !dry_run {
        slot.insert(prop.to_string(), value.to_string());
    }
    0
}

/// The locally set user properties of a dataset or snapshot (`None`: no such object, or a
/// bookmark, which has none).
fn local_user_props<'a>(
    pool: &'a mut Pool,
    name: &str,
) -> Option<&'a mut BTreeMap<String, String>> {
    match split_name(name) {
        NameKind::Dataset(ds) => pool.datasets.get_mut(ds).map(|n| &mut n.user_props),
        NameKind::Snapshot(ds, s) => pool
            .datasets
            .get_mut(ds)
            .and_then(|n| n.snapshots.get_mut(s))
            .map(|s| &mut s.user_props),
        NameKind::Bookmark(..) => None,
    }
}

/// Clears a local user property (received values stay).
pub(crate) fn inherit_user_prop(pool: &mut Pool, name: &str, prop: &str, dry_run: bool) -> i32 {
    let Some(slot) = local_user_props(pool, name) else {
        return ENOENT;
    };
    if !dry_run {
        slot.remove(prop);
    }
    0
}

/// Renames `fs@old` to `fs@new` (missing `old` is a no-op) at `now` (a remove and an add).
pub(crate) fn rename_snapshot(
    pool: &mut Pool,
    fs: &str,
    old: &str,
    new: &str,
    now: i64,
    dry_run: bool,
) -> i32 {
    let Some(node) = pool.datasets.get_mut(fs) else {
        return ENOENT;
    };
    if fs.len() + 1 + new.len() > MAX_NAME_LEN {
        return ENAMETOOLONG;
    }
    if !node.snapshots.contains_key(old) {
        return 0;
    }
    if node.snapshots.contains_key(new) {
        return EEXIST;
    }
    if !dry_run {
        let sn = node.remove_snapshot(old, now).expect("checked");
        node.snapshots.insert(new.to_string(), sn);
    }
    0
}

/// Rolls `fs` back to its latest snapshot. Returns the errno and the target snapshot.
pub(crate) fn rollback(pool: &mut Pool, fs: &str, dry_run: bool) -> (i32, Option<String>) {
    let Some(node) = pool.datasets.get(fs) else {
        return (ENOENT, None);
    };
    if pool.is_mounted(fs) {
        return (EBUSY, None);
    }
    match node.snapshots.iter().max_by_key(|(_, s)| s.createtxg) {
        None => (EINVAL, None),
        Some((name, _)) => {
            let _ = dry_run;
            (0, Some(format!("{fs}@{name}")))
        }
    }
}

/// Creates `fs` as a clone of `snap`.
pub(crate) fn clone(pool: &mut Pool, snap: &str, fs: &str, st: Stamp, dry_run: bool) -> i32 {
    if !valid_dataset_name(fs) {
        return EINVAL;
    }
    if pool.snap(snap).is_none() {
        return ENOENT;
    }
    if pool.datasets.contains_key(fs) {
        return EEXIST;
    }
    let Some(parent) = parent_of(fs) else {
        return EINVAL;
    };
    if !pool.datasets.contains_key(parent) {
        return ENOENT;
    }
    let NameKind::Snapshot(sds, ss) = split_name(snap) else {
        return EINVAL;
    };
    let kind = pool.datasets[sds].kind;
    let volsize = pool.datasets[sds].volsize;
    if !dry_run {
        pool.datasets
            .get_mut(sds)
            .and_then(|n| n.snapshots.get_mut(ss))
            .expect("checked")
            .clones
            .insert(fs.to_string());
        pool.datasets.insert(
            fs.to_string(),
            DatasetNode {
                kind,
                createtxg: st.txg,
                creation: st.now,
                guid: st.guid,
                volsize,
                mounted: false,
                user_props: BTreeMap::new(),
                received_props: BTreeMap::new(),
                snapshots: BTreeMap::new(),
                bookmarks: BTreeMap::new(),
                origin: Some(snap.to_string()),
                last_snap_txg: 0,
                native_props: BTreeMap::new(),
                snapshots_changed: 0,
                has_recvd: false,
                resume: None,
            },
        );
    }
    0
}

/// Promotes a clone: the origin's snapshots (and bookmarks) up to the origin move to the clone. On a name
/// conflict returns EEXIST and the conflicting short names. `now` bumps `snapshots_changed`
/// of the origin's head only: the clone gets the names without `dsl_dir_snap_cmtime_update`
/// (`dsl_dataset_promote_sync`: `dsl_dataset_snap_remove` on one side, `zap_add` on the other).
pub(crate) fn promote(
    pool: &mut Pool,
    clone_fs: &str,
    now: i64,
    dry_run: bool,
) -> (i32, Vec<String>) {
    let Some(node) = pool.datasets.get(clone_fs) else {
        return (ENOENT, vec![]);
    };
    let Some(origin) = node.origin.clone() else {
        return (EINVAL, vec![]);
    };
    let NameKind::Snapshot(ods, os) = split_name(&origin) else {
        return (EINVAL, vec![]);
    };
    let Some(onode) = pool.datasets.get(ods) else {
        return (EINVAL, vec![]);
    };
    let Some(osnap) = onode.snapshots.get(os) else {
        return (EINVAL, vec![]);
    };
    let limit = osnap.createtxg;
    let moving: Vec<String> = onode
        .snapshots
        .iter()
        .filter(|(_, s)| s.createtxg <= limit)
        .map(|(n, _)| n.clone())
        .collect();
    let conflicts: Vec<String> = moving
        .iter()
        .filter(|n| node.snapshots.contains_key(*n))
        .cloned()
        .collect();
    if !conflicts.is_empty() {
        return (EEXIST, conflicts);
    }
    if !dry_run {
        let mut moved = BTreeMap::new();
        let onode = pool.datasets.get_mut(ods).expect("checked");
        for n in &moving {
            let mut sn = onode.remove_snapshot(n, now).expect("listed");
            if n == os {
                sn.clones.remove(clone_fs);
                sn.clones.insert(ods.to_string());
            }
            moved.insert(n.clone(), sn);
        }
        // Bookmarks up to the origin's txg move too (the kernel's promote does not check
        // bookmark name conflicts either).
        let bms: Vec<String> = onode
            .bookmarks
            .iter()
            .filter(|(_, b)| b.createtxg <= limit)
            .map(|(n, _)| n.clone())
            .collect();
        let moved_bms: Vec<(String, BookmarkNode)> = bms
            .into_iter()
            .filter_map(|n| onode.bookmarks.remove(&n).map(|b| (n, b)))
            .collect();
        onode.origin = Some(format!("{clone_fs}@{os}"));
        let cnode = pool.datasets.get_mut(clone_fs).expect("checked");
        cnode.origin = None;
        cnode.snapshots.extend(moved);
        cnode.bookmarks.extend(moved_bms);
    }
    (0, vec![])
}

/// Adds a user hold.
pub(crate) fn hold(pool: &mut Pool, tag: &str, snap: &str, now: i64) -> i32 {
    let NameKind::Snapshot(ds, s) = split_name(snap) else {
        return EINVAL;
    };
    let Some(sn) = pool
        .datasets
        .get_mut(ds)
        .and_then(|n| n.snapshots.get_mut(s))
    else {
        return ENOENT;
    };
    if sn.holds.contains_key(tag) {
        return EEXIST;
    }
    sn.holds.insert(tag.to_string(), now);
    0
}

/// Releases a user hold; a deferred snapshot without holds or clones is destroyed (at `now`).
pub(crate) fn release(pool: &mut Pool, tag: &str, snap: &str, now: i64) -> i32 {
    let NameKind::Snapshot(ds, s) = split_name(snap) else {
        return EINVAL;
    };
    let Some(node) = pool.datasets.get_mut(ds) else {
        return ENOENT;
    };
    let Some(sn) = node.snapshots.get_mut(s) else {
        return ENOENT;
    };
    if sn.holds.remove(tag).is_none() {
        return ESRCH;
    }
    if sn.defer_destroy && sn.holds.is_empty() && sn.clones.is_empty() {
        node.remove_snapshot(s, now);
    }
    0
}

const ESRCH: i32 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Pool {
        let mut p = Pool::default();
        for (name, txg) in [("tank", 1), ("tank/a", 2), ("tank/a/b", 3)] {
            p.datasets.insert(
                name.into(),
                DatasetNode {
                    kind: DsKind::Filesystem,
                    createtxg: txg,
                    creation: 100,
                    guid: txg,
                    volsize: None,
                    mounted: true,
                    user_props: BTreeMap::new(),
                    received_props: BTreeMap::new(),
                    snapshots: BTreeMap::new(),
                    bookmarks: BTreeMap::new(),
                    origin: None,
                    last_snap_txg: 0,
                    native_props: BTreeMap::new(),
                    snapshots_changed: 0,
                    has_recvd: false,
                    resume: None,
                },
            );
        }
        p
    }

    fn st(txg: u64) -> Stamp {
        Stamp {
            txg,
            now: 1000,
            guid: 77,
        }
    }

    #[test]
    fn names_split_like_zfs() {
        for (name, kind, pool) in [
            ("tank/a@s", NameKind::Snapshot("tank/a", "s"), "tank"),
            ("tank/a#b", NameKind::Bookmark("tank/a", "b"), "tank"),
            ("tank", NameKind::Dataset("tank"), "tank"),
            ("tank#x", NameKind::Bookmark("tank", "x"), "tank"),
        ] {
            assert_eq!(split_name(name), kind, "{name}");
            assert_eq!(pool_of(name), pool, "{name}");
        }
        assert!(is_user_prop("label:running"));
        assert!(!is_user_prop("Label:running"));
        assert!(!is_user_prop("mountpoint"));
    }

    #[test]
    fn snapshot_rules() {
        let mut p = pool();
        assert_eq!(snapshot(&mut p, "tank/a", st(5), false), EINVAL);
        assert_eq!(snapshot(&mut p, "tank/x@s", st(5), false), ENOENT);
        assert_eq!(snapshot(&mut p, "tank/a@s", st(5), false), 0);
        assert_eq!(snapshot(&mut p, "tank/a@s", st(6), false), EEXIST);
        assert_eq!(snapshot(&mut p, "tank/a@t", st(5), false), EAGAIN);
        assert_eq!(snapshot(&mut p, "tank/a/b@t", st(5), false), 0);
        let long = format!("tank/a@{}", "x".repeat(250));
        assert_eq!(snapshot(&mut p, &long, st(7), false), ENAMETOOLONG);
    }

    #[test]
    fn destroy_rules() {
        let mut p = pool();
        assert_eq!(
            destroy_dataset(&mut p, "tank/a", false, 1000, false),
            EEXIST
        );
        assert_eq!(
            destroy_dataset(&mut p, "tank/a/b", true, 1000, false),
            EBUSY,
            "mounted"
        );
        assert_eq!(
            destroy_snapshot(&mut p, "tank/a@nope", false, 1000, false),
            0
        );
        assert_eq!(
            destroy_snapshot(&mut p, "tank/zz@nope", false, 1000, false),
            0
        );
        snapshot(&mut p, "tank/a@s", st(5), false);
        assert_eq!(hold(&mut p, "keep", "tank/a@s", 9), 0);
        assert_eq!(
            destroy_snapshot(&mut p, "tank/a@s", false, 1000, false),
            EBUSY
        );
        assert_eq!(destroy_snapshot(&mut p, "tank/a@s", true, 1000, false), 0);
        assert!(p.snap("tank/a@s").unwrap().defer_destroy);
        assert_eq!(release(&mut p, "keep", "tank/a@s", 1000), 0);
        assert!(p.snap("tank/a@s").is_none(), "deferred destroy completes");
        snapshot(&mut p, "tank/a@c", st(6), false);
        assert_eq!(clone(&mut p, "tank/a@c", "tank/cl", st(7), false), 0);
        assert_eq!(
            destroy_snapshot(&mut p, "tank/a@c", false, 1000, false),
            EEXIST
        );
        assert_eq!(destroy_dataset(&mut p, "tank/a/b", false, 1000, false), 0);
        assert_eq!(destroy_dataset(&mut p, "tank/a", false, 1000, false), EBUSY);
        assert_eq!(
            destroy_dataset(&mut p, "tank/none", false, 1000, false),
            ENOENT
        );
    }

    #[test]
    fn prop_sources() {
        let mut p = pool();
        snapshot(&mut p, "tank/a/b@s", st(5), false);
        assert_eq!(p.user_prop("tank/a/b", "x:y"), None);
        set_user_prop(&mut p, "tank/a", "x:y", "v", false);
        let hit = p.user_prop("tank/a/b", "x:y").unwrap();
        assert_eq!((hit.value.as_str(), hit.setpoint.as_str()), ("v", "tank/a"));
        p.datasets
            .get_mut("tank/a/b")
            .unwrap()
            .received_props
            .insert("x:y".into(), "r".into());
        let hit = p.user_prop("tank/a/b", "x:y").unwrap();
        assert_eq!((hit.value.as_str(), hit.setpoint.as_str()), ("r", "$recvd"));
        let hit = p.user_prop("tank/a/b@s", "x:y").unwrap();
        assert_eq!(
            (hit.value.as_str(), hit.setpoint.as_str()),
            ("r", "tank/a/b")
        );
        set_user_prop(&mut p, "tank/a/b", "x:y", "l", false);
        assert_eq!(p.user_prop("tank/a/b", "x:y").unwrap().setpoint, "tank/a/b");
        set_user_prop(&mut p, "tank/a/b@s", "x:y", "s", false);
        assert_eq!(
            p.user_prop("tank/a/b@s", "x:y").unwrap().setpoint,
            "tank/a/b@s"
        );
        assert_eq!(
            set_user_prop(&mut p, "tank/a", "mountpoint", "/x", false),
            EINVAL
        );
        assert_eq!(set_user_prop(&mut p, "tank/q", "a:b", "x", false), ENOENT);
        assert_eq!(
            set_user_prop(&mut p, "tank/a", "a:b", &"x".repeat(8192), false),
            E2BIG
        );
    }

    #[test]
    fn bookmark_rules() {
        let mut p = pool();
        snapshot(&mut p, "tank/a@s", st(5), false);
        assert_eq!(bookmark(&mut p, "tank/a@s", "tank/a#s", st(6), false), 0);
        assert_eq!(
            bookmark(&mut p, "tank/a@s", "tank/a#s", st(6), false),
            EEXIST
        );
        assert_eq!(bookmark(&mut p, "tank/a#s", "tank/a#t", st(6), false), 0);
        assert_eq!(
            bookmark(&mut p, "tank/a@zz", "tank/a#u", st(6), false),
            ENOENT
        );
        assert_eq!(
            bookmark(&mut p, "tank/a@s", "tank/a#b@d", st(6), false),
            EINVAL
        );
        assert_eq!(p.ds("tank/a").unwrap().bookmarks["t"].createtxg, 5);
        assert!(!p.exists("tank/a#s"));
    }
}
