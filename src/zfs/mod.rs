//! The ZFS layer: the only code that spawns `zfs`/`zpool`, runs the channel programs in `lua/`
//! and turns their output into typed results and errors.
