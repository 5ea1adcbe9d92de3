//! In-process emulator of the OpenZFS channel-program API (`zfs program`) on an in-memory
//! pool model, faithful to `shared/reference/zfs-channel-programs.md`.
//!
//! Used by tests, by the `zfs-emu` stand-in executable and by `simulate`; never by a real run.
