//! The one integration-test binary: black-box runs of `pve-zfs-snap` against pools built with
//! the `zfs-emu` stand-in (symlinked as `zfs`/`zpool` first on PATH). Modules live in
//! `tests/e2e/` (a crate root looks for modules beside itself, hence the `#[path]`s).

#[path = "e2e/harness.rs"]
mod harness;

#[path = "e2e/check.rs"]
mod check;

#[path = "e2e/status.rs"]
mod status;
