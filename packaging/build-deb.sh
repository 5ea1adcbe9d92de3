#!/usr/bin/env bash
# Builds the Debian package from a checkout: installs cargo-deb if missing, builds the release
# binary, writes the man page and completions from the clap definitions into target/assets/
# (examples/gen-assets.rs), runs cargo-deb, and prints the path of the .deb on stdout (last line).
#
#   packaging/build-deb.sh            # -> target/debian/pve-zfs-snap_<version>-1_amd64.deb
#
# Needs: rustup's cargo (rust-version in Cargo.toml), a C compiler (mlua builds Lua), dpkg-deb is
# not needed (cargo-deb writes the archive itself). Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

log() { printf 'build-deb: %s\n' "$*" >&2; }

# cargo-deb from crates.io (Debian's is too old), installed once per machine into ~/.cargo/bin.
# --debug: an unoptimised build of the tool costs 61 CPU-seconds instead of 128 for the release
# build (both measured with `time`, cargo install of cargo-deb 3.8.0 on an empty target dir) and
# writes a byte-identical .deb in the same ~5 s (its compressor is C code, built optimised).
if ! command -v cargo-deb >/dev/null; then
    log "installing cargo-deb (cargo install --locked --debug; about a minute, once)"
    cargo install cargo-deb --locked --debug >&2
fi

log "cargo build --release --locked --bin pve-zfs-snap"
cargo build --release --locked --bin pve-zfs-snap >&2

# Reproducible man page date: the last commit's time (falls back to now outside git).
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
    export SOURCE_DATE_EPOCH
fi

assets=target/assets
log "generating man page and completions into $assets/"
rm -rf "$assets"
cargo run --quiet --locked --example gen-assets -- "$assets" >&2

log "cargo deb"
# --no-build: the binary was built above (cargo-deb would otherwise build every [[bin]],
# including the test tool zfs-emu, which the asset list leaves out of the package anyway).
deb=$(cargo deb --no-build --locked 2>&2 | tail -n 1)
[ -f "$deb" ] || { log "cargo deb did not report a .deb (got: $deb)"; exit 1; }
log "built $deb"
echo "$deb"
