//! The synthetic node and its emulated pool: N guests × 2 zvols `rpool/data/vm-<id>-disk-<n>`
//! in an in-memory [`emu::World`], and what can be read off the pool after a run (a disk's
//! snapshots and bookmarks per kind, the pool's totals). Touches nothing outside the world.

use crate::host::{Disk, Guest, GuestKind, Host};
use crate::naming::{Dataset, SnapKind, SnapName};
use zfs_emu::{self as emu, World};

use super::{DISKS_PER_GUEST, FIRST_VMID, NODE, POOL};

/// The synthetic host: guests `100, 101, …`, each with disks `scsi0`, `scsi1` on `local-zfs`.
pub fn host(guests: u32) -> Host {
    let guests = (0..guests)
        .map(|i| {
            let vmid = FIRST_VMID + i;
            Guest {
                vmid,
                kind: GuestKind::Qemu,
                running: true,
                template: false,
                lock: None,
                name: None,
                tags: vec![],
                disks: (0..DISKS_PER_GUEST)
                    .map(|n| Disk {
                        key: format!("scsi{n}"),
                        storage: "local-zfs".into(),
                        dataset: Dataset::new(&format!("{POOL}/data/vm-{vmid}-disk-{n}"))
                            .expect("valid dataset name"),
                    })
                    .collect(),
                other_disks: vec![],
            }
        })
        .collect();
    Host {
        node: NODE.into(),
        guests,
        unreadable: vec![],
        warnings: vec![],
    }
}

/// An emulated host holding the pool and the zvols of `host`; reproducible (fixed seed).
pub fn world(host: &Host) -> Result<World, String> {
    let mut w = World::new(emu::Version::default());
    w.set_seed(1);
    let e = |what: &str, errno: i32| format!("emulator: cannot create {what}: errno {errno}");
    w.create_pool(POOL).map_err(|n| e(POOL, n))?;
    for d in host.guests.iter().flat_map(|g| &g.disks) {
        let name = d.dataset.as_str();
        w.create_dataset(name, Some(32 << 30), true)
            .map_err(|n| e(name, n))?;
    }
    Ok(w)
}

/// Counts per kind, indexed by [`kind_index`]: f h d w m y, then `_stopped`.
pub type KindCounts = [u64; 7];

/// Index of a kind in [`KindCounts`].
pub fn kind_index(k: SnapKind) -> usize {
    match k {
        SnapKind::Periodic(c) => c.index(),
        SnapKind::Stopped => 6,
    }
}

/// The end state of one disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskState {
    /// Guest.
    pub vmid: u32,
    /// The zvol.
    pub dataset: Dataset,
    /// Our snapshots per kind.
    pub snapshots: KindCounts,
    /// Our bookmarks per kind.
    pub bookmarks: KindCounts,
    /// The oldest snapshot of ours (the oldest point to roll back to) and its creation.
    pub oldest: Option<(SnapName, i64)>,
    /// The newest snapshot of ours and its creation.
    pub newest: Option<(SnapName, i64)>,
    /// Snapshots that are not ours (none unless something else made them).
    pub foreign: u64,
}

/// Reads one disk's state from the emulated pool.
pub fn disk_state(world: &World, vmid: u32, dataset: &Dataset) -> Option<DiskState> {
    let node = world.pool(dataset.as_str())?.ds(dataset.as_str())?;
    let mut st = DiskState {
        vmid,
        dataset: dataset.clone(),
        snapshots: [0; 7],
        bookmarks: [0; 7],
        oldest: None,
        newest: None,
        foreign: 0,
    };
    for (name, s) in &node.snapshots {
        let Some(n) = SnapName::parse(name) else {
            st.foreign += 1;
            continue;
        };
        st.snapshots[kind_index(n.kind())] += 1;
        if st.oldest.is_none_or(|(_, c)| s.creation < c) {
            st.oldest = Some((n, s.creation));
        }
        if st.newest.is_none_or(|(_, c)| s.creation >= c) {
            st.newest = Some((n, s.creation));
        }
    }
    for name in node.bookmarks.keys() {
        if let Some(n) = SnapName::parse(name) {
            st.bookmarks[kind_index(n.kind())] += 1;
        }
    }
    Some(st)
}

/// The pool's snapshots, bookmarks, and the most snapshots on one dataset.
pub(super) fn pool_counts(world: &World) -> (u64, u64, u64) {
    let Some(pool) = world.pools.get(POOL) else {
        return (0, 0, 0);
    };
    let (mut snaps, mut bms, mut most) = (0, 0, 0);
    for n in pool.datasets.values() {
        let s = n.snapshots.len() as u64;
        snaps += s;
        most = most.max(s);
        bms += n.bookmarks.len() as u64;
    }
    (snaps, bms, most)
}

/// Our snapshots on all disks of `host`, per kind.
pub(super) fn snapshots_per_kind(world: &World, host: &Host) -> KindCounts {
    let mut per_kind = [0; 7];
    for g in &host.guests {
        for d in &g.disks {
            if let Some(s) = disk_state(world, g.vmid, &d.dataset) {
                for (a, b) in per_kind.iter_mut().zip(s.snapshots) {
                    *a += b;
                }
            }
        }
    }
    per_kind
}
