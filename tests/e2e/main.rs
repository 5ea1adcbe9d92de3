//! The one integration-test binary: runs the real `pve-zfs-snap` binary against fixture PVE
//! trees (`tests/fixtures/pve/`) with `zfs`/`zpool` symlinked to the emulator-backed `zfs-emu`.

mod harness;
mod run_main;
